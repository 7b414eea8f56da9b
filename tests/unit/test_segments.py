"""segments(): GSM-7 / UCS-2 detection and segment counts."""

from __future__ import annotations

import pytest

from bwmsg import SegmentInfo, segments


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", SegmentInfo("GSM-7", 1, 0)),
        ("hello", SegmentInfo("GSM-7", 1, 5)),
        ("a" * 160, SegmentInfo("GSM-7", 1, 160)),
        ("a" * 161, SegmentInfo("GSM-7", 2, 161)),
        ("a" * 306, SegmentInfo("GSM-7", 2, 306)),
        ("a" * 307, SegmentInfo("GSM-7", 3, 307)),
        ("€" * 80, SegmentInfo("GSM-7", 1, 160)),
        ("€" * 81, SegmentInfo("GSM-7", 2, 162)),
        ("a" * 159 + "[", SegmentInfo("GSM-7", 2, 161)),
        ("é" * 160, SegmentInfo("GSM-7", 1, 160)),
        ("ç" * 70, SegmentInfo("UCS-2", 1, 70)),
        ("ç" * 71, SegmentInfo("UCS-2", 2, 71)),
        ("ç" * 134, SegmentInfo("UCS-2", 2, 134)),
        ("ç" * 135, SegmentInfo("UCS-2", 3, 135)),
        ("😀" * 35, SegmentInfo("UCS-2", 1, 70)),
        ("😀" * 36, SegmentInfo("UCS-2", 2, 72)),
        ("`", SegmentInfo("UCS-2", 1, 1)),
    ],
)
def test_counts(text: str, expected: SegmentInfo) -> None:
    """Known texts give the encoding, segments and characters carriers count."""
    assert segments(text) == expected


@pytest.mark.parametrize(
    ("text", "characters"),
    [
        # 306 septets would fill two segments exactly, but 152 + 2 > 153 moves the euro on.
        ("a" * 152 + "€" + "a" * 152, 306),
        ("ç" * 66 + "😀" + "ç" * 66, 134),  # 134 units = 2 x 67, but 66 + 2 > 67
    ],
    ids=["escape-pair", "surrogate-pair"],
)
def test_a_pair_is_not_split_across_segments(text: str, characters: int) -> None:
    """A two-septet character (GSM-7) or an emoji (UCS-2) that would straddle a segment's
    boundary (153 septets, 67 units) starts a new segment."""
    info = segments(text)
    assert info.characters == characters
    assert info.segments == 3


def test_every_extension_character_counts_double() -> None:
    """Each of the GSM-7 extension table counts two septets."""
    for ch in "\f^{}\\[~]|€":
        assert segments(ch) == SegmentInfo("GSM-7", 1, 2), repr(ch)


def test_newlines_are_gsm() -> None:
    """Line feed and carriage return are in the GSM-7 basic set."""
    assert segments("a\r\nb").encoding == "GSM-7"
