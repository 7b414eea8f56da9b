"""The `bwmsg simulator` command."""

from __future__ import annotations

import asyncio
import json
import re

import aiohttp
import attrs
from click.testing import CliRunner

from bwmsg.cli import main
from bwmsg.simulator import Faults
from tests.cli_helpers import simulator_command


def test_bad_faults_option_is_a_usage_error() -> None:
    """A --faults value that does not parse is refused with exit status 2 and the reason."""
    result = CliRunner().invoke(main, ["simulator", "--faults", "typo=1"])
    assert result.exit_code == 2
    assert "bad fault" in result.output


def test_group_lists_simulator() -> None:
    """`bwmsg --help` lists the simulator subcommand."""
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "simulator" in result.output


async def test_runs_prints_url_and_credentials_and_stops_on_ctrl_c() -> None:
    """It prints the base URL and credentials, serves requests, and exits cleanly on SIGINT."""
    options = ("--username", "alice", "--password", "s3cret", "--faults", "latency=0.001")
    async with simulator_command(*options, "--seed", "1") as stdout:
        first = (await asyncio.wait_for(stdout.readline(), 20)).decode()
        match = re.search(r"(http://127\.0\.0\.1:\d+/api/v2)", first)
        assert match, first
        rest = b"".join([await stdout.readline() for _ in range(2)]).decode()
        assert "username=alice password=s3cret" in rest
        body = {"to": ["+19195551212"], "from": "+19195550000", "text": "hi", "applicationId": "a"}
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{match.group(1)}/users/1/messages",
                data=json.dumps(body),
                headers={
                    "Authorization": aiohttp.encode_basic_auth("alice", "s3cret"),
                    "Content-Type": "application/json",
                },
            ) as response,
        ):
            assert response.status == 202


def test_simulator_help_lists_every_fault() -> None:
    """--faults' help names every field of Faults, each with its meaning."""
    result = CliRunner().invoke(main, ["simulator", "--help"], terminal_width=100)
    assert result.exit_code == 0
    listed = result.output.split("Faults (--faults NAME=VALUE,...):")[1]
    for field in attrs.fields(Faults):
        assert f"  {field.name} " in listed, field.name


def test_callback_credentials_need_a_callback_url() -> None:

    result = CliRunner().invoke(main, ["simulator", "--callback-username", "u", "--port", "0"])
    assert result.exit_code == 2
    assert "--callback-url" in result.output
