"""The dry run: every invalid row counted, one rendered sample, duplicate recipients; and the
helpers it and `--text-file` rest on (read_text_template, recipient_key)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from bwmsg._privacy import log_full_numbers
from bwmsg.campaign import DryRunReport, InputError, Template, dry_run
from bwmsg.campaign._input import read_text_template, recipient_key
from bwmsg.cli._inspect import print_dry_run
from tests.cli_helpers import write_rows

FROM = "+19195550000"
TEXT = "Hi {name}, doors open at 7"
TEMPLATE = Template(text=TEXT, from_=FROM)
REASON_LINE = re.compile(r"^  row \d+: ", re.MULTILINE)


@pytest.fixture(autouse=True)
def masked_numbers() -> Iterator[None]:
    """Numbers masked in printed reports whatever the environment says."""
    log_full_numbers(False)
    yield
    log_full_numbers(None)


def printed(report: DryRunReport) -> str:
    """What print_dry_run prints for ``report`` (no terminal, 80 columns)."""
    buffer = io.StringIO()
    print_dry_run(Console(file=buffer, width=80, highlight=False), report)
    return buffer.getvalue()


def dry_run_command(recipients: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``python -m bwmsg campaign run RECIPIENTS --from ... --text ... --dry-run``."""
    drop = ("BW_", "BWMSG_", "COLUMNS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    args = ["campaign", "run", str(recipients), "--from", FROM, "--text", TEXT, "--dry-run"]
    return subprocess.run(
        [sys.executable, "-m", "bwmsg", *args, *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# -- read_text_template -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"Hi {name}", "Hi {name}"),
        (b"Hi {name}\n", "Hi {name}"),
        (b"Hi {name}\r\n", "Hi {name}"),
        (b"Hi {name}\n\n", "Hi {name}\n"),
        (b"Hi {name}\r\n\r\n", "Hi {name}\r\n"),
        (b"\xef\xbb\xbfHi {name}\n", "Hi {name}"),
        (b"  Hi\r\n{name}  \t\n", "  Hi\r\n{name}  \t"),
        (b"Hi {name}\r", "Hi {name}\r"),
        (b"\n", ""),
        (b"", ""),
        ("Zoë 😀\n".encode(), "Zoë 😀"),
    ],
)
def test_text_template_drops_a_bom_and_one_final_newline(
    tmp_path: Path, data: bytes, text: str
) -> None:
    """A BOM and exactly one final \\n or \\r\\n go; every other character stays."""
    path = tmp_path / "message.txt"
    path.write_bytes(data)
    assert read_text_template(path) == text


def test_text_template_not_utf8_is_an_input_error(tmp_path: Path) -> None:
    """A file that is not UTF-8 raises InputError naming it and saying to save it as UTF-8."""
    path = tmp_path / "latin1.txt"
    path.write_bytes("Café {name}\n".encode("latin-1"))
    with pytest.raises(InputError, match="save it as UTF-8") as caught:
        read_text_template(path)
    assert str(path) in str(caught.value)


def test_text_template_missing_is_an_input_error(tmp_path: Path) -> None:
    """A file that cannot be read raises InputError naming it."""
    path = tmp_path / "nowhere.txt"
    with pytest.raises(InputError, match=r"nowhere\.txt"):
        read_text_template(path)


# -- recipient_key ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("to", "key"),
    [
        ("+19195551001", "+19195551001"),
        (" +19195551001 ", "+19195551001"),
        ("+2;+1", "+1;+2"),
        ("+1; +2", "+1;+2"),
        ("+2;;+1;", "+1;+2"),
        ("+1;+2;+1", "+1;+2"),
        ("", ""),
        (" ; ", ""),
    ],
)
def test_recipient_key(to: str, key: str) -> None:
    """Numbers stripped, empties and repeats dropped, sorted, joined with ';'."""
    assert recipient_key(to) == key


def test_recipient_key_same_recipients_in_any_order() -> None:
    """The same group written differently has one key; a different group another."""
    assert recipient_key("+1; +2") == recipient_key("+2;+1") == recipient_key("+2;+1;+2")
    assert recipient_key("+1;+2") != recipient_key("+1;+3")


# -- the report ---------------------------------------------------------------------------------


def test_every_invalid_row_is_counted(tmp_path: Path) -> None:
    """invalid_count counts every invalid row; invalid keeps the first 50 reasons."""
    rows = [["555-0000", f"P{i}"] for i in range(120)] + [["+19195551001", "Ann"]]
    report = dry_run(write_rows(tmp_path / "r.csv", rows), TEMPLATE)
    assert (report.rows, report.messages, report.invalid_count) == (121, 1, 120)
    assert [row for row, _ in report.invalid] == list(range(1, 51))
    assert report.ok


def test_sample_is_the_first_valid_row_rendered(tmp_path: Path) -> None:
    """The sample is the first valid row's request, templates filled in, with its segments."""
    rows = [["bad", "X"], ["+19195551001", "Ann"], ["+19195551002", "Bob"]]
    report = dry_run(write_rows(tmp_path / "r.csv", rows), TEMPLATE)
    assert report.sample_row == 2
    assert report.sample is not None
    assert report.sample.text == "Hi Ann, doors open at 7"
    assert report.sample.to == ("+19195551001",)
    assert report.sample.from_ == FROM
    assert report.sample_segments is not None
    assert (report.sample_segments.encoding, report.sample_segments.segments) == ("GSM-7", 1)


def test_mms_sample_has_no_segments(tmp_path: Path) -> None:
    """An MMS sample has no SMS segments: it is billed as MMS."""
    template = Template(media=("https://example.com/{name}.png",), from_=FROM)
    report = dry_run(write_rows(tmp_path / "r.csv", [["+19195551001", "ann"]]), template)
    assert report.sample is not None
    assert report.sample.media == ("https://example.com/ann.png",)
    assert report.sample_segments is None
    assert report.segments == {"MMS": 1}


def test_duplicates_are_found_in_any_order(tmp_path: Path) -> None:
    """A row repeats an earlier valid row's recipients, a group written in another order too."""
    rows = [
        ["+19195551001", "A"],  # 1
        ["+19195551002;+19195551003", "B"],  # 2
        ["bad", "C"],  # 3: invalid, not counted
        ["+19195551003; +19195551002", "D"],  # 4 repeats 2
        ["+19195551001", "E"],  # 5 repeats 1
        ["+19195551002", "F"],  # 6: a member of a group alone is not a repeat
        ["+19195551001", "G"],  # 7 repeats 1
    ]
    report = dry_run(write_rows(tmp_path / "r.csv", rows), TEMPLATE)
    assert report.duplicates == 3
    assert report.duplicate_examples == [(4, 2), (5, 1), (7, 1)]
    assert report.messages == 6  # duplicates are still messages (without --dedupe)


def test_invalid_rows_are_not_duplicates(tmp_path: Path) -> None:
    """Rows that would not be sent neither repeat nor are repeated."""
    rows = [["bad", "A"], ["bad", "B"], ["+19195551001", ""], ["+19195551001", "C"]]
    template = Template(text="{name}", from_=FROM)  # row 3 renders an empty text: invalid
    report = dry_run(write_rows(tmp_path / "r.csv", rows), template)
    assert report.invalid_count == 3
    assert (report.duplicates, report.duplicate_examples) == (0, [])


def test_duplicate_examples_are_capped_and_counted(tmp_path: Path) -> None:
    """Every duplicate is counted; the first 20 are kept as examples."""
    rows = [["+19195551001", f"P{i}"] for i in range(30)]
    report = dry_run(write_rows(tmp_path / "r.csv", rows), TEMPLATE)
    assert report.duplicates == 29
    assert report.duplicate_examples == [(row, 1) for row in range(2, 22)]


@pytest.mark.parametrize("rows", [[], [["bad", "A"], ["555-0000", "B"]]])
def test_not_ok_when_no_row_would_be_sent(tmp_path: Path, rows: list[list[str]]) -> None:
    """ok is False for an input with no rows or only invalid ones; there is no sample."""
    report = dry_run(write_rows(tmp_path / "r.csv", rows), TEMPLATE)
    assert not report.ok
    assert (report.sample, report.sample_row, report.sample_segments) == (None, None, None)


# -- the printout -------------------------------------------------------------------------------


def test_print_shows_20_reasons_then_how_many_more(tmp_path: Path) -> None:
    """20 reasons, then '... and N more invalid rows' for the rest."""
    rows = [["555-0000", f"P{i}"] for i in range(75)] + [["+19195551001", "Ann"]]
    output = printed(dry_run(write_rows(tmp_path / "r.csv", rows), TEMPLATE))
    assert len(REASON_LINE.findall(output)) == 20
    assert "75 invalid rows (not sent):" in output
    assert "  ... and 55 more invalid rows\n" in output
    assert "No row would be sent" not in output


def test_print_no_more_line_when_every_reason_is_shown(tmp_path: Path) -> None:
    """With 20 invalid rows or fewer, each is shown and no '... and' line follows."""
    rows = [["555-0000", "A"], ["+19195551001", "Ann"]]
    output = printed(dry_run(write_rows(tmp_path / "r.csv", rows), TEMPLATE))
    assert "1 invalid row (not sent):" in output
    assert "  row 1: " in output
    assert "more invalid" not in output


def test_print_sample_masks_numbers(tmp_path: Path) -> None:
    """The sample shows the rendered text and its segments, with numbers masked."""
    rows = [["+19195551001;+19195551002", "Ann"]]
    output = printed(dry_run(write_rows(tmp_path / "r.csv", rows), TEMPLATE))
    assert "Row 1 would be sent from +1919555**** to +1919555****;+1919555****:" in output
    assert "  1 segment, GSM-7, 23 characters\n" in output
    assert "  | Hi Ann, doors open at 7\n" in output
    assert "+19195551001" not in output
    assert FROM not in output


def test_print_sample_text_is_shown_as_it_is(tmp_path: Path) -> None:
    """Markup, emoji codes and line breaks print literally; control characters are escaped."""
    name = "[bold]Ann[/bold] :smile:\x1b[2J\tline\nnext"
    output = printed(dry_run(write_rows(tmp_path / "r.csv", [["+19195551001", name]]), TEMPLATE))
    assert "  | Hi [bold]Ann[/bold] :smile:\\x1b[2J\\tline\n  | next, doors open at 7\n" in output
    assert "\x1b" not in output


def test_print_reason_with_brackets(tmp_path: Path) -> None:
    """A reason quoting a cell like '[/b]' prints as it is (it is not markup)."""
    output = printed(dry_run(write_rows(tmp_path / "r.csv", [["[/b]", "A"]]), TEMPLATE))
    assert "  row 1: invalid message: to: recipient 0 '[/b]' is not" in output


def test_print_duplicates_with_the_hint(tmp_path: Path) -> None:
    """Duplicates: a count, 'row N repeats row M' lines, and the --dedupe hint."""
    rows = [["+19195551001", f"P{i}"] for i in range(13)]
    output = printed(dry_run(write_rows(tmp_path / "r.csv", rows), TEMPLATE))
    assert (
        "12 rows with the same recipients as an earlier row (rerun with --dedupe to skip them):"
        in output
    )
    assert "  row 2 repeats row 1\n" in output
    assert "  row 11 repeats row 1\n" in output
    assert "row 12 repeats" not in output
    assert "  ... and 2 more\n" in output


@pytest.mark.parametrize(
    ("rows", "line"),
    [
        ([], "No row would be sent: the input has no rows."),
        ([["bad", "A"]], "No row would be sent: fix the rows above."),
    ],
)
def test_print_says_when_no_row_would_be_sent(
    tmp_path: Path, rows: list[list[str]], line: str
) -> None:
    """A report that is not ok ends with a line saying no row would be sent."""
    output = printed(dry_run(write_rows(tmp_path / "r.csv", rows), TEMPLATE))
    assert output.rstrip().endswith(line)


# -- the command --------------------------------------------------------------------------------


def test_command_on_100000_rows_mostly_invalid(tmp_path: Path) -> None:
    """99,990 invalid rows of 100,000: 20 reasons, the rest counted, a sample, duplicates."""
    valid = {
        5: "+19195551001",
        10_000: "+19195551002;+19195551003",
        20_000: "+19195551003; +19195551002",
        30_000: "+19195551001",
        **{n: f"+1919555200{n // 10_000}" for n in range(40_000, 100_000, 10_000)},
    }
    assert len(valid) == 10
    rows = [[valid.get(n, "555-0000"), f"Person {n}"] for n in range(1, 100_001)]
    result = dry_run_command(write_rows(tmp_path / "r.csv", rows))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "99,990 invalid rows (not sent):" in output
    assert len(REASON_LINE.findall(output)) == 20
    assert "  ... and 99,970 more invalid rows\n" in output
    assert "Row 5 would be sent from +1919555**** to +1919555****:\n" in output
    assert "  | Hi Person 5, doors open at 7\n" in output
    assert "2 rows with the same recipients as an earlier row" in output
    assert "rerun with --dedupe to skip them" in output
    assert "  row 20000 repeats row 10000\n  row 30000 repeats row 5\n" in output
    assert "+19195551001" not in output  # masked
    assert "No row would be sent" not in output


def test_command_all_invalid_says_so(tmp_path: Path) -> None:
    """When every row is invalid the command says that no row would be sent."""
    rows = [["555-0000", f"Person {n}"] for n in range(30)]
    result = dry_run_command(write_rows(tmp_path / "r.csv", rows))
    assert "No row would be sent: fix the rows above." in result.stdout, result.stderr
    assert "  ... and 10 more invalid rows" in result.stdout


def test_command_all_invalid_exits_non_zero(tmp_path: Path) -> None:
    """When no row would become a message, `campaign run --dry-run` exits non-zero."""
    rows = [["555-0000", f"Person {n}"] for n in range(30)]
    result = dry_run_command(write_rows(tmp_path / "r.csv", rows))
    assert result.returncode != 0, result.stdout + result.stderr
