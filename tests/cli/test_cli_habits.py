"""What the command prints for people and scripts: whole summaries, examples, JSON, text as
it is (a real subprocess each time)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from bwmsg.cli import main
from bwmsg.simulator import Simulator
from tests.cli_helpers import bwmsg_run, env_for, write_csv


async def test_help_lists_every_summary_whole() -> None:
    async with Simulator() as sim:
        _, top = await bwmsg_run(env_for(sim), "--help")
        _, campaign = await bwmsg_run(env_for(sim), "campaign", "--help")
        _, run = await bwmsg_run(env_for(sim), "campaign", "run", "--help")
    flat = " ".join(top.split())
    assert "Send a recipient list with a durable journal; see its status; export it." in flat
    assert "no account needed." in flat
    commands = " ".join(campaign.split("Commands:")[1].split())
    # Each command's summary whole, not cut at click's 45 characters.
    assert (
        "reconcile Look up every `unknown` row of JOURNAL at Bandwidth and settle it." in commands
    )
    assert (
        "run Send one message per row of RECIPIENTS (CSV with a header, or JSON Lines)." in commands
    )
    assert "worker Join a campaign on a PostgreSQL journal and send its rows beside the" in commands
    assert "Examples:" in run
    assert "Required, but for --dry-run" in " ".join(run.split())


async def test_status_json_is_one_object_for_scripts(tmp_path: Path) -> None:
    recipients = write_csv(tmp_path / "r.csv", 3)
    journal = tmp_path / "j.db"
    async with Simulator() as sim:
        args: list[str | Path] = ["campaign", "run", recipients, "--journal", journal]
        code, _ = await bwmsg_run(env_for(sim), *args, "--from", "+19195550000", "--text", "hi")
        assert code == 0
        code, output = await bwmsg_run(env_for(sim), "campaign", "status", journal, "--json")
    assert code == 0
    status = json.loads(output)
    assert status["rows"]["sent"] == 3
    assert status["segments_sent"] == 3
    assert [run["result"] for run in status["runs"]] == ["finished"]
    assert status["receipts"]["awaiting"] == 3


async def test_send_prints_text_as_it_is_and_segments_names_its_units() -> None:
    async with Simulator() as sim:
        code, output = await bwmsg_run(
            env_for(sim), "send", "--to", "+19195550001", "--from", "+19195550000", "--text", "😀"
        )
        assert code == 0, output
        assert '"text": "😀"' in output
        _, gsm = await bwmsg_run(env_for(sim), "segments", "hi [x]")
        _, ucs = await bwmsg_run(env_for(sim), "segments", "😀")
    assert "length:     8 septets" in gsm
    assert "length:     2 UTF-16 units" in ucs


async def test_the_demo_names_no_file_it_deleted() -> None:
    async with Simulator() as sim:
        code, output = await bwmsg_run(env_for(sim), "demo", "--rows", "40", "-q")
    assert code == 0, output
    assert "bwmsg-" not in output  # its temporary directory
    assert "--keep" in output


async def test_env_file_gives_the_settings_and_the_environment_wins(tmp_path: Path) -> None:
    async with Simulator() as sim:
        settings = env_for(sim)
        env_file = tmp_path / "bw.env"
        env_file.write_text(
            "".join(f"{k}={v}\n" for k, v in settings.items() if k.startswith("BW_")),
            encoding="utf-8",
        )
        bare = {k: v for k, v in settings.items() if not k.startswith("BW_")}
        send: list[str | Path] = ["send", "--env-file", env_file, "--to", "+19195550001"]
        send += ["--from", "+19195550000"]
        code, output = await bwmsg_run(bare, *send, "--text", "hi")
        assert code == 0, output
        assert len(sim.accepted) == 1
        code, output = await bwmsg_run({**bare, "BW_PASSWORD": "wrong"}, *send, "--text", "hi")
        assert code != 0
        assert "401" in output
        assert len(sim.accepted) == 1


def _commands(group: click.Group, prefix: str = "bwmsg") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name, command in group.commands.items():
        found.append((f"{prefix} {name}", command))
        if isinstance(command, click.Group):
            found += _commands(command, f"{prefix} {name}")
    return found


def test_every_command_and_option_is_described() -> None:
    """Each command has a help text, and each of its options a help line."""
    for name, command in _commands(main):
        assert (command.help or "").strip(), f"{name} has no help"
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert (param.help or "").strip(), f"{name} {param.opts[0]} has no help"
