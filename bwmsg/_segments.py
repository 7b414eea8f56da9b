"""How many SMS segments a text takes, counted the way carriers (and Bandwidth) count them."""

from __future__ import annotations

import re

import attrs

__all__ = [
    "GSM7",
    "UCS2",
    "SegmentInfo",
    "gsm_lookalikes",
    "measure",
    "non_gsm_characters",
    "segments",
]

GSM7 = "GSM-7"
UCS2 = "UCS-2"

# GSM 03.38 default alphabet (the escape character 0x1B itself is not text) ...
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# ... and its extension table, each character sent as escape + code: two septets.
_GSM_EXTENSION = frozenset("\f^{}\\[~]|€")
_GSM_ALL = _GSM_BASIC | _GSM_EXTENSION
# Any character of an ASCII text that is not one septet of the basic alphabet: a backtick, a
# control character but LF and CR, or an extension character. A text with none (most texts)
# is counted by its length alone, four times as fast as by its set of characters.
_NOT_PLAIN_ASCII = re.compile(r"[^\n\r !\"#$%&'()*+,\-./0-9:;<=>?@A-Z_a-z]")

_GSM_SINGLE, _GSM_PART = 160, 153
_UCS_SINGLE, _UCS_PART = 70, 67


@attrs.frozen
class SegmentInfo:
    """The result of :func:`segments`.

    Attributes:
        encoding: ``"GSM-7"`` or ``"UCS-2"``.
        segments: how many segments the text is split into (at least 1).
        characters: the length as the encoding counts it (septets for GSM-7, UTF-16 code
            units for UCS-2).
    """

    encoding: str
    segments: int
    characters: int


def _pack(weights: list[int], per_segment: int) -> int:
    # A two-unit character (GSM escape pair, UTF-16 surrogate pair) is never split across two
    # segments, so a long text is packed greedily rather than divided.
    count, used = 1, 0
    for weight in weights:
        if used + weight > per_segment:
            count += 1
            used = 0
        used += weight
    return count


def segments(text: str) -> SegmentInfo:
    """Count the segments ``text`` takes as an SMS.

    GSM-7 when every character is in the GSM 03.38 alphabet (extension-table characters such
    as ``€ [ ] { }`` count twice): 160 characters fit one segment, 153 each once split.
    Otherwise UCS-2 (characters outside the Basic Multilingual Plane, such as most emoji, count
    twice): 70 in one segment, 67 each once split. An empty text is one segment.
    """
    return SegmentInfo(*measure(text))


def measure(text: str) -> tuple[str, int, int]:
    """:func:`segments` as a tuple (encoding, segments, characters), for a caller that counts
    every row of a campaign and keeps no :class:`SegmentInfo`."""
    if text.isascii() and not _NOT_PLAIN_ASCII.search(text):
        length = len(text)
        return GSM7, 1 if length <= _GSM_SINGLE else -(-length // _GSM_PART), length
    chars = set(text)
    if chars <= _GSM_ALL:
        extended = chars & _GSM_EXTENSION
        length = len(text) + sum(text.count(c) for c in extended)
        if length <= _GSM_SINGLE:
            return GSM7, 1, length
        if not extended:
            return GSM7, -(-length // _GSM_PART), length
        weights = [2 if c in _GSM_EXTENSION else 1 for c in text]
        return GSM7, _pack(weights, _GSM_PART), length
    astral = sum(1 for c in chars if ord(c) > 0xFFFF)
    if not astral:
        length = len(text)
        if length <= _UCS_SINGLE:
            return UCS2, 1, length
        return UCS2, -(-length // _UCS_PART), length
    weights = [2 if ord(c) > 0xFFFF else 1 for c in text]
    length = sum(weights)
    if length <= _UCS_SINGLE:
        return UCS2, 1, length
    return UCS2, _pack(weights, _UCS_PART), length


def non_gsm_characters(text: str) -> set[str]:
    """The characters of ``text`` outside the GSM-7 alphabet: those that force UCS-2."""
    return set(text) - _GSM_ALL


# Typographic characters word processors put in (curly quotes, dashes, ellipses, odd spaces)
# that force a whole text into UCS-2 -- 70 characters a segment instead of 160 -- and their
# GSM-7 look-alikes, as carriers' "smart encoding" replaces them.
_LOOKALIKES = str.maketrans(
    {
        "\u2018": "'",  # ‘
        "\u2019": "'",  # ’
        "\u201a": "'",  # ‚
        "\u201b": "'",  # ‛
        "\u2032": "'",  # ′
        "\u201c": '"',  # “
        "\u201d": '"',  # ”
        "\u201e": '"',  # „
        "\u201f": '"',  # ‟
        "\u2033": '"',  # ″
        "\u00ab": '"',  # «
        "\u00bb": '"',  # »
        "\u2010": "-",  # ‐
        "\u2011": "-",  # non-breaking hyphen
        "\u2012": "-",  # ‒
        "\u2013": "-",  # –
        "\u2014": "-",  # —
        "\u2015": "-",  # ―
        "\u2212": "-",  # −
        "\u2026": "...",  # …
        "\u00a0": " ",  # no-break space
        "\u2002": " ",
        "\u2003": " ",
        "\u2009": " ",  # thin space
        "\u202f": " ",  # narrow no-break space
        "\u200b": "",  # zero-width space
        "\u2022": "-",  # •
    }
)


def gsm_lookalikes(text: str) -> str:
    """``text`` with typographic quotes, dashes, ellipses and odd spaces replaced by their
    GSM-7 look-alikes (``’`` → ``'``, ``—`` → ``-``, ``…`` → ``...``); other characters stay."""
    return text.translate(_LOOKALIKES)
