"""README.md's code blocks, run as written against the simulator, so that the README cannot
drift from the code. Programs run in a subprocess with only the environment the README tells
the reader to set (the simulator's port is the one change: a free port instead of 8080)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shlex
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bwmsg.simulator import Callbacks, Simulator

README = Path(__file__).resolve().parents[2] / "README.md"
BIN = Path(sys.executable).parent
ONE = "import asyncio\nfrom bwmsg import MessageRequest, Sender\n"
MANY = "import asyncio\nfrom bwmsg import MessageRequest, Outcome"
PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8  # the Media example's photo.jpg
_BLOCK = re.compile(r"(?ms)^```(\w*)\n(.*?)^```")
# Blocks no test runs, and why (each must still be listed here, so a new block is noticed).
NOT_RUN = {
    "python3 -m pip install -e . && bwmsg demo": "installs: .ci/run does exactly this",
    "python3 -m pip install -e '.[test]' && python3 -m pytest": "this suite itself",
    "export BW_ACCOUNT_ID=9900000 BW_USERNAME=api-user": "the real service's placeholders",
    "bwmsg simulator --port 8080": "serves until Ctrl-C: the tests start a Simulator",
    'Sender(account_id, "api-user", "api-password")': "two fragments: compiled, not run",
}


def blocks(language: str) -> list[str]:
    return [m.group(2) for m in _BLOCK.finditer(README.read_text()) if m.group(1) == language]


def block_starting(language: str, start: str) -> str:
    found = [b for b in blocks(language) if b.startswith(start)]
    assert len(found) == 1, f"one {language} block starting {start!r} in README.md"
    return found[0]


def shell_lines(block: str) -> list[str]:
    """The commands of a ``sh`` block: continuations joined, comments dropped."""
    joined = block.replace("\\\n", " ")
    return [line.split("  #")[0].strip() for line in joined.splitlines() if line.strip()]


def simulator_env(port: int) -> dict[str, str]:
    """This process's environment with no BW_* in it, plus the README's simulator exports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BW_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    block = block_starting("sh", "export BW_ACCOUNT_ID=9900000 BW_USERNAME=user")
    for line in shell_lines(block):
        words = shlex.split(line)
        assert words[0] == "export", line
        for word in words[1:]:
            name, _, value = word.partition("=")
            env[name] = value.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    return env


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(port=0) as simulator:
        yield simulator


def port_of(sim: Simulator) -> int:
    port = re.search(r":(\d+)/", sim.base_url)
    assert port is not None
    return int(port.group(1))


async def run(env: dict[str, str], cwd: Path, *command: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def run_each(env: dict[str, str], cwd: Path, commands: list[str]) -> list[str]:
    """Run each shell command in turn (bash -c): each exits 0 with no traceback. Their outputs."""
    outputs = []
    for command in commands:
        code, output = await run(env, cwd, "bash", "-c", command)
        assert code == 0, f"{command}\n{output}"
        assert "Traceback" not in output
        outputs.append(output)
    return outputs


def test_every_block_is_run_or_listed() -> None:
    """A block no test runs must be named in NOT_RUN with the reason."""
    run_here = (
        "export BW_ACCOUNT_ID=9900000 BW_USERNAME=user",
        "export BW_MESSAGING",
        "import asyncio",
        "to,name,code",
        "bwmsg campaign run recipients.csv --from +19195550000 \\",
        "bwmsg opt-outs add +19195551002",
        'bwmsg campaign run recipients.csv --from +19195550000 --text "Hi {name}" \\',
        "from aiohttp import web",
        "import pytest",
        "error: the journal",  # text: output shown, not run
    )
    for match in _BLOCK.finditer(README.read_text()):
        language, body = match.group(1), match.group(2)
        if not language:
            continue  # diagrams and sample output
        known = run_here + tuple(NOT_RUN)
        assert body.startswith(known), f"README block not run by a test: {body[:60]!r}"


def test_fragments_compile() -> None:
    compile(block_starting("python", "Sender(account_id"), "README.md", "exec")


async def test_send_one_message(sim: Simulator, tmp_path: Path) -> None:
    program = tmp_path / "send_one.py"
    program.write_text(block_starting("python", ONE))
    code, output = await run(simulator_env(port_of(sim)), tmp_path, sys.executable, str(program))
    assert code == 0, output
    [message] = sim.accepted
    assert output.split() == [message.id, "1"]


async def test_send_many(sim: Simulator, tmp_path: Path) -> None:
    (tmp_path / "numbers.txt").write_text("+19195551001\n+19195551002\nnot-a-number\n")
    program = tmp_path / "send_many.py"
    program.write_text(block_starting("python", MANY))
    code, output = await run(simulator_env(port_of(sim)), tmp_path, sys.executable, str(program))
    assert code == 0, output
    assert len(sim.accepted) == 2
    assert output.count(" sent ") == 2
    assert "skipped not-a-number" in output


def media_block() -> str:
    """The one python block of the README's "## Media" section."""
    section = README.read_text().split("\n## Media\n", 1)[1].split("\n## ", 1)[0]
    [block] = [m.group(2) for m in _BLOCK.finditer(section) if m.group(1) == "python"]
    return block


async def test_readme_media_block_runs(sim: Simulator, tmp_path: Path) -> None:
    """The README's Media example, run as written with the README's simulator settings,
    uploads once, sends the MMS with its URL and deletes the file."""
    (tmp_path / "photo.jpg").write_bytes(PHOTO)
    program = tmp_path / "send_mms.py"
    program.write_text(media_block())
    code, output = await run(simulator_env(port_of(sim)), tmp_path, sys.executable, str(program))
    assert code == 0, output
    url = f"{sim.base_url}/users/9900000/media/spring/photo.jpg"
    [message] = sim.accepted
    assert output.split() == [url, message.id, "1"]
    assert message.request["media"] == [url]
    assert [(u.media_id, u.data) for u in sim.uploads] == [("spring/photo.jpg", PHOTO)]
    assert sim.media == {}  # deleted at the end


async def test_campaign_commands(sim: Simulator, tmp_path: Path) -> None:
    (tmp_path / "recipients.csv").write_text(block_starting("csv", "to,name,code"))
    env = simulator_env(port_of(sim))
    start = "bwmsg campaign run recipients.csv --from +19195550000 \\\n"
    commands = shell_lines(block_starting("sh", start))
    assert len(commands) == 4
    outputs = await run_each(env, tmp_path, commands)
    assert "Dry run: nothing was sent" in outputs[0]
    assert sorted(m.to for m in sim.accepted) == [
        ("+19195551001",),
        ("+19195551002",),
        ("+19195551003", "+19195551004"),
    ]
    assert (tmp_path / "results.csv").read_text().count("\n") == 4


async def test_compliance_commands(sim: Simulator, tmp_path: Path) -> None:
    """The opt-out example: the opted-out number (José's row) is never texted."""
    (tmp_path / "recipients.csv").write_text(block_starting("csv", "to,name,code"))
    env = simulator_env(port_of(sim))
    commands = shell_lines(block_starting("sh", "bwmsg opt-outs add +19195551002"))
    assert len(commands) == 4
    outputs = await run_each(env, tmp_path, commands)
    assert outputs[1].startswith("+19195551002\t")
    texted = sorted(n for m in sim.accepted for n in m.to)
    assert texted == ["+19195551001", "+19195551003", "+19195551004"]
    assert "suppressed" in outputs[3]


async def test_pytest_example(tmp_path: Path) -> None:
    """The plugin's example passes as written, with asyncio_mode = auto as the README says."""
    (tmp_path / "test_example.py").write_text(block_starting("python", "import pytest"))
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BW_", "PYTEST_"))}
    code, output = await run(
        env, tmp_path, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"
    )
    assert code == 0, output
    assert "2 passed" in output


async def test_callback_receiver(tmp_path: Path, unused_tcp_port: int) -> None:
    """The receiver example serves, checks Basic auth and prints a failed message's code."""
    source = block_starting("python", "from aiohttp import web")
    assert "port=8081" in source
    program = tmp_path / "receiver.py"
    program.write_text(source.replace("port=8081", f"port={unused_tcp_port}"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BW_")}
    env["PYTHONUNBUFFERED"] = "1"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(program),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{unused_tcp_port}/callbacks"
    event = [
        {
            "type": "message-failed",
            "time": "2026-12-01T10:00:00Z",
            "to": "+19195551212",
            "errorCode": 4432,
            "description": "forbidden",
            "message": {
                "id": "m-1",
                "owner": "+19195550000",
                "applicationId": "app",
                "time": "2026-12-01T10:00:00Z",
                "segmentCount": 1,
                "direction": "out",
                "to": ["+19195551212"],
                "from": "+19195550000",
                "tag": "bwmsg:c:1",
            },
        }
    ]
    auth = "Basic " + base64.b64encode(b"cb-user:cb-pass").decode()
    try:
        assert proc.stdout is not None
        output = b""
        while b"Running on" not in output:  # aiohttp's run_app says when it listens
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert line, output.decode()
            output += line
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=json.dumps(event)) as response:
                assert response.status == 401  # no credentials
            headers = {"Authorization": auth}
            async with session.post(url, data=json.dumps(event), headers=headers) as response:
                assert response.status == 200
        while b"m-1" not in output:
            line = await asyncio.wait_for(proc.stdout.readline(), 10)
            assert line, output.decode()
            output += line
        assert b"m-1 bwmsg:c:1 4432" in output
    finally:
        proc.kill()
        await proc.wait()


async def test_receipts_commands(tmp_path: Path, unused_tcp_port: int) -> None:
    """The receipts block, with the simulator started as the README says (its callbacks to
    the listener's port; a free port stands for 8081, 127.0.0.1 for 0.0.0.0)."""
    (tmp_path / "recipients.csv").write_text(block_starting("csv", "to,name,code"))
    port = unused_tcp_port
    block = block_starting("sh", 'bwmsg campaign run recipients.csv --from +19195550000 --text "Hi')
    commands = [c.replace("0.0.0.0:8081", f"127.0.0.1:{port}") for c in shell_lines(block)]
    assert len(commands) == 4
    callbacks = Callbacks(url=f"http://127.0.0.1:{port}/callbacks")
    async with Simulator(port=0, callbacks=callbacks) as sim:
        env = simulator_env(port_of(sim))
        outputs = await run_each(env, tmp_path, commands)
        assert sim.abandoned_callbacks == []
    assert "receipts: delivered 3, failed 0, awaiting receipt 0" in outputs[2]  # 3 rows
