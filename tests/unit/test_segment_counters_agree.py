"""The client's segment counter and the simulator's (written apart, from the same rules) agree
on generated texts: plain ASCII (counted by length alone), the GSM alphabet with its extension
table, and any Unicode."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from bwmsg import segments
from bwmsg.simulator._segments import segment_count

GSM_ASCII = string.ascii_letters + string.digits + " \n\r!\"#$%&'()*+,-./:;<=>?@_"
TRICKY = "`^{}\\[~]|€\f\t\x00£¥èÇΔ\U0001f600é’"


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.text(alphabet=GSM_ASCII, max_size=500),
        st.text(alphabet=GSM_ASCII + TRICKY, max_size=400),
        st.text(max_size=200),
    )
)
def test_client_and_simulator_count_alike(text: str) -> None:
    assert segments(text).segments == segment_count(text)


def test_plain_ascii_boundaries() -> None:
    """160 plain characters are one segment, 161 two, 306 two, 307 three; a backtick or an
    extension character leaves the plain count."""
    for length, expected in ((0, 1), (160, 1), (161, 2), (306, 2), (307, 3)):
        assert segments("a" * length).segments == expected == segment_count("a" * length)
    assert segments("`").encoding == "UCS-2"
    assert segments("a" * 159 + "^").segments == 2
    assert segments("a" * 159 + "\t").encoding == "UCS-2"
