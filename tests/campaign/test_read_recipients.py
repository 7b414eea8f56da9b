"""read_recipients: the journal's quick first pass numbers rows exactly as read_rows does."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bwmsg.campaign import read_rows
from bwmsg.campaign._input import read_recipients

CELLS = st.text(alphabet=st.sampled_from('ab,;"\n\r +1'), max_size=12)


def both(path: Path) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    slow = [(n, c.get("to", "") if isinstance(c, dict) else "") for n, c in read_rows(path)]
    return list(read_recipients(path)), slow


@settings(max_examples=300, deadline=None)
@given(
    body=st.lists(CELLS, max_size=20).map("\n".join),
    header=st.sampled_from(["to,name", "name, to ", "to"]),
)
def test_csv_rows_numbered_as_read_rows_numbers_them(body: str, header: str) -> None:
    """Blank lines, short and long rows, quoted newlines and bad quoting: the same numbers."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.csv"
        path.write_text(f"{header}\n{body}", encoding="utf-8")
        fast, slow = both(path)
    assert fast == slow


def test_jsonl_rows_numbered_as_read_rows_numbers_them(tmp_path: Path) -> None:
    """JSON Lines: blank lines skipped, bad lines numbered, lists joined."""
    path = tmp_path / "r.jsonl"
    path.write_text('{"to": "+1"}\n\nnot json\n[1]\n{"to": ["+2", "+3"]}\n', encoding="utf-8")
    fast, slow = both(path)
    assert fast == slow == [(1, "+1"), (2, ""), (3, ""), (4, "+2;+3")]
