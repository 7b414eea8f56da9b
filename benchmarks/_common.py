"""Shared pieces of the benchmark scripts: machine facts, child runs, tables, RESULTS.md."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import re
import resource
import shlex
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _server import ReferenceServer

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
CHILD = HERE / "_child.py"
CLIENT_CPU = 0
SERVER_CPU = 1


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a small run (seconds, not minutes)")
    parser.add_argument(
        "--server",
        choices=("auto", "nginx", "python"),
        default="auto",
        help="reference server: nginx (installed if missing) or the fallback Python server",
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print the table only; leave RESULTS.md alone"
    )
    return parser


def command_line() -> str:
    exe = os.path.relpath(sys.executable, Path.cwd())
    script = os.path.relpath(sys.argv[0], Path.cwd())
    return shlex.join([exe, script, *sys.argv[1:]])


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def machine() -> dict[str, str]:
    pkgs = ["bwmsg", "aiohttp", "attrs", "cattrs", "orjson", "uvloop", "bandwidth-sdk"]
    versions = ", ".join(f"{p} {v}" for p in pkgs if (v := _version(p)))
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "cpu": f"{os.cpu_count()} x {_cpu_model()}",
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": versions,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all CPUs, all processes) since boot."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(x) for x in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_quiet(threshold: float = 0.15, max_wait: float = 30.0, sample: float = 0.5) -> float:
    """Wait (up to ``max_wait`` s) until the machine uses less than ``threshold`` of one CPU.

    Other work on a two-CPU machine (tests, builds) skews a benchmark; between runs nothing
    of ours is running, so any load then is someone else's. Returns the last load seen.
    """
    deadline = time.monotonic() + max_wait
    while True:
        b0 = busy_seconds()
        time.sleep(sample)
        load = (busy_seconds() - b0) / sample
        if load < threshold or time.monotonic() >= deadline:
            return load


def run_child(
    spec: dict[str, Any],
    timeout: float = 1800,
    command: Sequence[str] = (str(CHILD),),
    wrapper: Sequence[str] = (),
) -> dict[str, Any]:
    """Run one contender in a fresh interpreter pinned to the client CPU; return its figures.

    ``command``: the script and its arguments before the JSON spec; by default ``_child.py``,
    else a script's own contender (``(__file__, "--child", ...)``, see :func:`as_child`).
    ``wrapper``: what runs the interpreter (``("valgrind", "--tool=callgrind", ...)``).
    ``others_cpu`` in the answer is the CPU time the rest of the machine (the server included)
    used meanwhile: the caller subtracts the server's to see whether anything else was running.
    """
    spec = {"cpu": CLIENT_CPU, **spec}
    wait_quiet()
    busy0, mine0 = busy_seconds(), children_cpu()
    started = time.perf_counter()
    proc = subprocess.run(
        [*wrapper, sys.executable, *command, json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        what = spec.get("contender", spec.get("mode", command[-1]))
        raise RuntimeError(f"contender {what} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["outer_wall"] = time.perf_counter() - started
    result["others_cpu"] = max(0.0, busy_seconds() - busy0 - (children_cpu() - mine0))
    return result


def callgrind(spec: dict[str, Any], out: Path, command: Sequence[str] = (str(CHILD),)) -> int:
    """The instructions callgrind counted for one contender that :func:`run_child` runs under
    valgrind (its profile written to ``out``, which the caller may read further)."""
    run_child(
        spec,
        command=command,
        wrapper=("valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"),
    )
    for line in out.read_text().splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise SystemExit(f"callgrind wrote no totals to {out}")


def run_against(
    server: ReferenceServer,
    label: str,
    spec: dict[str, Any],
    timeout: float = 1800,
    command: Sequence[str] = (str(CHILD),),
) -> dict[str, Any]:
    """:func:`run_child` against the reference ``server`` (its URLs added to ``spec``), checked:
    every one of the ``n`` messages accepted, else SystemExit naming ``label``. The figures
    gain ``rate`` (msg/s), ``server_busy`` (the server's CPU over the client's wall time) and
    ``other_load`` (the CPU the rest of the machine used meanwhile, in CPUs)."""
    n = spec["n"]
    cpu0 = server.cpu_seconds()
    spec = {"url": server.messages_url, "base_url": server.base_url, **spec}
    r = run_child(spec, timeout, command)
    if r["ok"] != n:
        raise SystemExit(f"{label}: only {r['ok']} of {n} messages were accepted")
    server_cpu = server.cpu_seconds() - cpu0
    r["rate"] = n / r["wall"]
    r["server_busy"] = server_cpu / r["wall"]
    r["other_load"] = max(0.0, r["others_cpu"] - server_cpu) / r["outer_wall"]
    return r


def as_child(contender: Callable[..., Awaitable[dict[str, Any]]]) -> bool:
    """Be one of the script's own contenders when started as ``script --child [ARG ...]
    '<json spec>'``: pinned to the client CPU, print ``contender(*args, spec)`` as one JSON
    line and return True; return False (nothing done) in the parent."""
    if len(sys.argv) < 3 or sys.argv[1] != "--child":
        return False
    *args, spec = sys.argv[2:]
    os.sched_setaffinity(0, {CLIENT_CPU})
    print(json.dumps(asyncio.run(contender(*args, json.loads(spec)))))
    return True


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A GitHub-flavoured Markdown table (also readable on a terminal)."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]
    align = align or "l" + "r" * (len(headers) - 1)

    def line(values: Sequence[str]) -> str:
        out = []
        for v, w, a in zip(values, widths, align, strict=False):
            out.append(v.ljust(w) if a == "l" else v.rjust(w))
        return "| " + " | ".join(out) + " |"

    rule = (
        "|"
        + "|".join(
            ("-" * (w + 1) + ":" if a == "r" else ":" + "-" * (w + 1))
            for w, a in zip(widths, align, strict=False)
        )
        + "|"
    )
    return "\n".join([line(headers), rule, *(line(r) for r in cells)])


def machine_block(server_description: str | None = None) -> str:
    m = machine()
    lines = [
        f"- Date: {m['date']}",
        f"- Command: `{command_line()}`",
        f"- Machine: {m['cpu']}, {m['memory']} RAM, {m['os']}",
        f"- Python: {m['python']}; {m['packages']}",
    ]
    if server_description:
        lines.append(f"- Server: {server_description}")
        lines.append(f"- Client: each contender in a fresh process pinned to CPU {CLIENT_CPU}")
    return "\n".join(lines)


_PREAMBLE = """# bwmsg benchmark results

Written by the scripts in `benchmarks/` (see `benchmarks/README.md`); each script replaces its
own section. Figures depend on the machine: compare rows of one section, not across machines.
"""


def write_section(name: str, title: str, body: str) -> None:
    """Replace (or append) the section ``name`` of RESULTS.md."""
    text = RESULTS.read_text() if RESULTS.exists() else _PREAMBLE
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    section = f"{begin}\n## {title}\n\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    order = [
        "throughput",
        "revisions",
        "revisions-instructions",
        "peer",
        "memory",
        "throttle",
        "shared_throttle",
    ]
    RESULTS.write_text(_reorder(text, order))
    print(f"\nwrote section '{name}' of {os.path.relpath(RESULTS)}")


def publish(
    args: argparse.Namespace, name: str, title: str, *paragraphs: str, server: str | None = None
) -> None:
    """Write the section ``name`` of RESULTS.md: the machine (and the ``server``) first, then the
    ``paragraphs``; nothing when the run was given ``--no-write``."""
    if args.no_write:
        return
    write_section(name, title, "\n\n".join([machine_block(server), *paragraphs]))


def _reorder(text: str, order: list[str]) -> str:
    sections = {
        m.group(2): m.group(1)
        for m in re.finditer(r"(<!-- BEGIN ([\w-]+) -->.*?<!-- END \2 -->)", text, re.S)
    }
    head = re.split(r"<!-- BEGIN [\w-]+ -->", text, maxsplit=1)[0].rstrip()
    names = sorted(sections, key=lambda n: order.index(n) if n in order else len(order))
    return head + "\n\n" + "\n\n".join(sections[n] for n in names) + "\n"


def mb(kb: float) -> str:
    return f"{kb / 1024:.0f}"
