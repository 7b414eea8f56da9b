"""Opt-outs: the keyword rule, number checks, the SQLite store and reading numbers from files."""

from __future__ import annotations

from pathlib import Path

import pytest

from bwmsg.campaign._optouts import Keyword, SqliteOptOuts, check_number, keyword_of, read_numbers


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop",
        " Stop ",
        "STOP.",
        "stop!!",
        "¡Stop!",
        "StopAll",
        "UNSUBSCRIBE",
        "cancel",
        "End",
        "quit",
        "REVOKE",
        "opt out",
        "OPT   OUT",
        "Opt Out.",
        "\tSTOP\n",
        '"stop"',
    ],
)
def test_opt_out_keywords(text: str) -> None:
    assert keyword_of(text) is Keyword.OPT_OUT


@pytest.mark.parametrize("text", ["START", "start", " Unstop! "])
def test_opt_in_keywords(text: str) -> None:
    assert keyword_of(text) is Keyword.OPT_IN


@pytest.mark.parametrize(
    "text",
    [
        "stop by later",
        "please stop",
        "STOP STOP",
        "stopp",
        "OPTOUT",
        "opt-out",
        "don't stop",
        "started",
        "",
        None,
        "...",
        "yes",
    ],
)
def test_not_keywords(text: str | None) -> None:
    assert keyword_of(text) is None


def test_check_number() -> None:
    assert check_number("+1 (919) 555-1212") == "+19195551212"
    with pytest.raises(ValueError, match=r"'9195551212' is not a phone number in E\.164 form"):
        check_number("9195551212")
    with pytest.raises(ValueError, match=r"E\.164"):
        check_number("+0123")


async def test_sqlite_store_add_remove_list(tmp_path: Path) -> None:
    store = SqliteOptOuts(tmp_path / "opt-outs.db")
    try:
        assert await store.add(["+19195551212", "+19195551213"]) == 2
        assert await store.add(["+19195551212"], source="inbound STOP") == 0  # already there
        assert await store.count() == 2
        found = await store.opted_out(["+19195551212", "+19195550000"])
        assert found == {"+19195551212"}
        entries = await store.entries()
        assert [(n, s) for n, _, s in entries] == [
            ("+19195551212", "manual"),
            ("+19195551213", "manual"),
        ]
        assert await store.remove(["+19195551212", "+19195559999"]) == 1
        assert await store.opted_out(["+19195551212"]) == set()
    finally:
        await store.aclose()


async def test_two_processes_share_one_file(tmp_path: Path) -> None:
    """A listener adding a STOP and a run checking rows see the same file."""
    path = tmp_path / "opt-outs.db"
    listener, runner = SqliteOptOuts(path), SqliteOptOuts(path)
    try:
        await listener.add(["+19195551212"], source="inbound STOP")
        assert await runner.opted_out(["+19195551212"]) == {"+19195551212"}
    finally:
        await listener.aclose()
        await runner.aclose()


async def test_many_numbers_at_once(tmp_path: Path) -> None:
    store = SqliteOptOuts(tmp_path / "o.db")
    try:
        numbers = [f"+1919555{i:04d}" for i in range(2000)]
        assert await store.add(numbers[::2]) == 1000
        assert await store.opted_out(numbers) == set(numbers[::2])
    finally:
        await store.aclose()


def test_a_store_that_is_not_a_database(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("this is not sqlite\n" * 100)
    with pytest.raises(ValueError, match=r"cannot use .*notes\.txt as an opt-out store"):
        SqliteOptOuts(bad)


def test_read_numbers_plain_and_csv(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("+19195551212\n\n+1 919 555 1213\n")
    assert list(read_numbers(plain)) == ["+19195551212", "+19195551213"]
    table = tmp_path / "t.csv"
    table.write_text("name,Phone\nAda,+19195551212\nBob,\n")
    assert list(read_numbers(table)) == ["+19195551212"]


def test_read_numbers_errors_name_the_line_and_the_fix(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("+19195551212\nnot a number\n")
    with pytest.raises(ValueError, match=r"plain\.txt, line 2: 'not a number' is not"):
        list(read_numbers(plain))
    table = tmp_path / "t.csv"
    table.write_text("name,city\nAda,Paris\n")
    with pytest.raises(ValueError, match="name one number, phone, to or from"):
        list(read_numbers(table))
