"""Before and after: send_many's CPU per message at two git revisions, in the same run.

A refactoring must not cost speed. This checks out ``--before`` (and ``--after``, default the
working tree) into temporary worktrees and runs the throughput benchmark's ``bwmsg`` contender
from each, interleaved with the raw aiohttp ceiling, each in a fresh process pinned to the
client CPU against the same reference server (see ``_server.py``). Reported per revision: the
median CPU µs per message, its ratio to the ceiling measured in the same round, and the spread
over the rounds; then after / before.

CPU time on a shared machine swings by ±20 % from round to round, enough to flip the verdict
between two runs. ``--instructions`` counts instead what callgrind counts (valgrind, Debian's
package): each revision's child at ``--small`` and ``--large`` messages, the difference over
the extra messages being the cost of one with start-up and imports cancelled out. That
figure moves by about 1 % between runs.

Usage: ``.venv/bin/python benchmarks/bench_revisions.py --before REV [--after REV]
[--n 20000] [--concurrency 64] [--rounds 5] [--instructions [--small 2000] [--large 6000]]``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import base_parser, callgrind, machine_block, run_child, table, write_section
from _server import ReferenceServer

ROOT = Path(__file__).resolve().parent.parent


def _worktree(rev: str, into: Path) -> Path:
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(into), rev], check=True
    )
    return into


@contextlib.contextmanager
def _importing(tree: Path | None) -> Iterator[None]:
    """Children started meanwhile import bwmsg from ``tree`` (None: the working tree)."""
    before = os.environ.get("PYTHONPATH")
    if tree is not None:
        os.environ["PYTHONPATH"] = str(tree)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


def _run(tree: Path | None, spec: dict[str, Any]) -> dict[str, Any]:
    """One child importing bwmsg from ``tree`` (None: the working tree)."""
    with _importing(tree):
        return run_child(spec)


def _spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the revision before (e.g. a commit)")
    parser.add_argument("--after", default=None, help="the revision after (default: this tree)")
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions (callgrind) instead"
    )
    parser.add_argument("--small", type=int, default=2000, help="--instructions: small run")
    parser.add_argument("--large", type=int, default=6000, help="--instructions: large run")
    args = parser.parse_args()
    if args.instructions and shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install -y valgrind")
    with tempfile.TemporaryDirectory() as tmp:
        trees: dict[str, Path | None] = {args.before: _worktree(args.before, Path(tmp) / "a")}
        trees[args.after or "working tree"] = (
            _worktree(args.after, Path(tmp) / "b") if args.after else None
        )
        try:
            body = (_count if args.instructions else _measure)(args, trees)
        finally:
            for tree in trees.values():
                if tree is not None:
                    subprocess.run(
                        ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                        check=False,
                    )
    print(body)
    if args.no_write:
        return
    if args.instructions:
        write_section(
            "revisions-instructions",
            "Before and after a change: send_many's instructions per message",
            body,
        )
    else:
        write_section("revisions", "Before and after a change: send_many's CPU per message", body)


def _measure(args: Any, trees: dict[str, Path | None]) -> str:
    cpu: dict[str, list[float]] = {name: [] for name in trees}
    ratio: dict[str, list[float]] = {name: [] for name in trees}
    with ReferenceServer(args.server) as server:
        base = {
            "url": server.messages_url,
            "base_url": server.base_url,
            "n": args.n,
            "concurrency": args.concurrency,
            "loop": "asyncio",
        }
        for rnd in range(args.rounds):
            ceiling = _run(None, {**base, "contender": "raw"})["cpu"]
            for name, tree in trees.items():
                r = _run(tree, {**base, "contender": "bwmsg"})
                if r["ok"] != args.n:
                    raise SystemExit(f"{name}: only {r['ok']} of {args.n} accepted")
                cpu[name].append(r["cpu"] / args.n * 1e6)
                ratio[name].append(r["cpu"] / ceiling)
                print(f"  round {rnd + 1} {name}: {cpu[name][-1]:.1f} us CPU/msg", flush=True)
        described = server.describe()
    rows = [
        [
            name,
            f"{statistics.median(cpu[name]):.1f}",
            _spread(cpu[name]),
            f"{statistics.median(ratio[name]):.2f}",
            _spread(ratio[name]),
        ]
        for name in trees
    ]
    first, last = list(trees)
    change = statistics.median(cpu[last]) / statistics.median(cpu[first])
    per_round = [b / a for a, b in zip(cpu[first], cpu[last], strict=True)]
    tab = table(
        ["revision", "µs CPU/msg (median)", "spread", "× ceiling CPU (median)", "spread"], rows
    )
    body = (
        f"N = {args.n:,}, concurrency {args.concurrency}, {args.rounds} rounds; each round runs "
        f"the raw aiohttp ceiling, then each revision, in fresh processes; server: {described}."
        f"\n\n{tab}\n\n{last} / {first}: {change:.2f} × the CPU per message (per round "
        f"{_spread(per_round)}).\n\n{machine_block()}"
    )
    return body


def _count(args: Any, trees: dict[str, Path | None]) -> str:
    extra = args.large - args.small
    per_message: dict[str, float] = {}
    with ReferenceServer(args.server) as server, tempfile.TemporaryDirectory() as tmp:
        base = {
            "url": server.messages_url,
            "base_url": server.base_url,
            "concurrency": args.concurrency,
            "loop": "asyncio",
            "contender": "bwmsg",
        }
        for name, tree in trees.items():
            with _importing(tree):
                small, large = (
                    callgrind({**base, "n": n}, Path(tmp) / f"{name}-{n}.out")
                    for n in (args.small, args.large)
                )
            per_message[name] = (large - small) / extra
            print(f"  {name}: {per_message[name]:,.0f} instructions/msg", flush=True)
        described = server.describe()
    first, last = list(trees)
    tab = table(
        ["revision", "instructions per message"],
        [[name, f"{value:,.0f}"] for name, value in per_message.items()],
    )
    return (
        f"Instructions counted by callgrind, each revision's child at {args.small:,} and "
        f"{args.large:,} messages; per message = the difference / {extra:,}. Concurrency "
        f"{args.concurrency}, one process, against the server: {described}.\n\n{tab}\n\n"
        f"{last} / {first}: {per_message[last] / per_message[first]:.3f} × the instructions "
        f"per message.\n\n{machine_block()}"
    )


if __name__ == "__main__":
    main()
