"""``bwmsg opt-outs``: add, remove, list and import on a SQLite store, as an operator types them."""

from __future__ import annotations

import os
from pathlib import Path

from tests.cli_helpers import bwmsg_run


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "BWMSG_OPT_OUTS"}


async def test_add_list_remove(tmp_path: Path) -> None:
    store = str(tmp_path / "opt-outs.db")
    code, out = await bwmsg_run(
        env(), "opt-outs", "add", "+19195551212", "+1 919 555 1213", "--store", store
    )
    assert code == 0, out
    assert "opted out 2 number(s)" in out
    code, out = await bwmsg_run(env(), "opt-outs", "add", "+19195551212", "--store", store)
    assert code == 0, out
    assert "opted out 0 number(s); 1 already were" in out, out
    code, out = await bwmsg_run(env(), "opt-outs", "list", "--store", store)
    assert code == 0, out
    lines = [line.split("\t") for line in out.splitlines() if "\t" in line]
    assert [(n, s) for n, _, s in lines] == [("+19195551212", "manual"), ("+19195551213", "manual")]
    assert "2 opted-out number(s)" in out
    code, out = await bwmsg_run(
        env(), "opt-outs", "remove", "+19195551212", "+19195550000", "--store", store
    )
    assert code == 0, out
    assert "removed 1 opt-out(s); 1 were not opted out" in out, out


async def test_the_store_from_the_environment(tmp_path: Path) -> None:
    store = str(tmp_path / "o.db")
    code, out = await bwmsg_run(
        {**env(), "BWMSG_OPT_OUTS": store}, "opt-outs", "add", "+19195551212"
    )
    assert code == 0, out
    code, out = await bwmsg_run({**env(), "BWMSG_OPT_OUTS": store}, "opt-outs", "list")
    assert "+19195551212" in out


async def test_import_a_csv(tmp_path: Path) -> None:
    store = str(tmp_path / "o.db")
    table = tmp_path / "stops.csv"
    table.write_text("name,phone\nAda,+19195551212\nBob,+19195551213\nCy,+19195551212\n")
    code, out = await bwmsg_run(env(), "opt-outs", "import", str(table), "--store", store)
    assert code == 0, out
    assert "imported 3 number(s)" in out
    assert "2 new opt-out(s)" in out


async def test_errors_name_the_value_and_the_fix(tmp_path: Path) -> None:
    store = str(tmp_path / "o.db")
    code, out = await bwmsg_run(env(), "opt-outs", "add", "9195551212", "--store", store)
    assert code == 2
    assert "'9195551212' is not a phone number in E.164 form" in out
    code, out = await bwmsg_run(env(), "opt-outs", "list")
    assert code == 2
    assert "--store" in out
    bad = tmp_path / "bad.txt"
    bad.write_text("+19195551212\nfoo\n")
    code, out = await bwmsg_run(env(), "opt-outs", "import", str(bad), "--store", store)
    assert code == 1
    assert "line 2: 'foo' is not a phone number" in out
    assert "Traceback" not in out
    notes = tmp_path / "notes.db"
    notes.write_text("not a database\n" * 50)
    code, out = await bwmsg_run(env(), "opt-outs", "list", "--store", str(notes))
    assert code == 1
    assert "cannot use" in out
    assert "Traceback" not in out
