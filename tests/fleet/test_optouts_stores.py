"""The opt-out store on both engines (a SQLite file, a real PostgreSQL started by the test), and
``bwmsg opt-outs`` on a PostgreSQL URL."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bwmsg.campaign._optout_store import open_opt_outs
from bwmsg.campaign._optouts import OptOutStore
from tests.cli_helpers import bwmsg_run
from tests.postgres_server import PASSWORD, pg_server, pg_url  # noqa: F401 - fixtures


@pytest.fixture(params=["sqlite", "postgresql"])
async def spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "opt-outs.db")
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
async def store(spec: str) -> AsyncIterator[OptOutStore]:
    opened = await open_opt_outs(spec)
    yield opened
    await opened.aclose()


async def test_add_check_remove(store: OptOutStore) -> None:
    assert await store.add(["+19195551212", "+19195551213", "+19195551212"]) == 2
    assert await store.add(["+19195551213"], source="inbound STOP") == 0
    assert await store.opted_out(["+19195551212", "+19195550000"]) == {"+19195551212"}
    assert await store.count() == 2
    assert [n for n, _, _ in await store.entries()] == ["+19195551212", "+19195551213"]
    assert await store.remove(["+19195551212"]) == 1
    assert await store.opted_out(["+19195551212"]) == set()


async def test_two_openers_share_the_store(spec: str) -> None:
    """A listener and a run, each with its own connection, see the same opt-outs."""
    first, second = await open_opt_outs(spec), await open_opt_outs(spec)
    try:
        await first.add(["+19195551212"], source="inbound STOP")
        assert await second.opted_out(["+19195551212"]) == {"+19195551212"}
    finally:
        await first.aclose()
        await second.aclose()


async def test_an_unreachable_database_is_named_without_its_password() -> None:
    url = f"postgresql://bwmsg:{PASSWORD}@127.0.0.1:1/nothing"
    with pytest.raises(ValueError, match=r"cannot use .* at 127\.0\.0\.1:1") as info:
        await open_opt_outs(url)
    assert PASSWORD not in str(info.value)


async def test_the_command_on_a_url(pg_url: str) -> None:  # noqa: F811 - the fixture
    env = {k: v for k, v in os.environ.items() if k != "BWMSG_OPT_OUTS"}
    code, out = await bwmsg_run(env, "opt-outs", "add", "+19195551212", "--store", pg_url)
    assert code == 0, out
    code, out = await bwmsg_run({**env, "BWMSG_OPT_OUTS": pg_url}, "opt-outs", "list")
    assert code == 0, out
    assert "+19195551212\t" in out
    assert PASSWORD not in out
