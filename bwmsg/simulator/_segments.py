"""``segmentCount`` as the simulated service computes it, kept apart from the client's counter.

The simulator has its own counter (rather than calling :func:`bwmsg.segments`) so that its
answer checks the client's arithmetic instead of repeating it: a test comparing the two
compares two implementations. The rules, from Bandwidth's messaging docs ("Segment Counts":
160 for GSM-7, 70 for UCS-2, MMS always 1) and 3GPP TS 23.038 / 23.040:

- GSM-7 when every character is in the GSM 03.38 default alphabet or its extension table (an
  extension character is sent as ESC + code: two septets); 160 septets fit one segment, and
  once split each part holds 153 (the user data header takes the rest).
- Otherwise UCS-2, counted in UTF-16 code units (a character outside the BMP takes two): 70 in
  one segment, 67 per part once split.
- A two-unit character is never cut between two parts, so split texts are packed greedily.
"""

from __future__ import annotations

__all__ = ["segment_count"]

# GSM 03.38 default alphabet, by code 0x00-0x7F (0x1B, the escape, is not a character).
_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# Its extension table: form feed, ^ { } \ [ ~ ] | and the euro sign.
_EXTENSION = frozenset("\f^{}\\[~]|€")
_GSM = _BASIC | _EXTENSION

_GSM_ONE, _GSM_PART = 160, 153
_UCS_ONE, _UCS_PART = 70, 67


def segment_count(text: str) -> int:
    """How many segments ``text`` takes as an SMS (at least 1)."""
    if set(text) <= _GSM:
        if _EXTENSION.isdisjoint(text):
            return _split(len(text), _GSM_ONE, _GSM_PART)
        return _pack([2 if c in _EXTENSION else 1 for c in text], _GSM_ONE, _GSM_PART)
    if max(text) <= "\uffff":  # no character outside the BMP
        return _split(len(text), _UCS_ONE, _UCS_PART)
    return _pack([2 if c > "\uffff" else 1 for c in text], _UCS_ONE, _UCS_PART)


def _split(units: int, one: int, part: int) -> int:
    return 1 if units <= one else -(-units // part)


def _pack(weights: list[int], one: int, part: int) -> int:
    if sum(weights) <= one:
        return 1
    parts, used = 1, 0
    for weight in weights:
        if used + weight > part:
            parts, used = parts + 1, 0
        used += weight
    return parts
