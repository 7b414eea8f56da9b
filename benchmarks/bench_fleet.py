"""Campaign workers on PostgreSQL: 1, 2 and 4 `run_worker` processes vs the SQLite campaign and
bare `send_many`, in the same run.

Every contender sends the same N rows to the same reference server (nginx when it can be had),
each process with concurrency 64 and pinned to CPU 0, as bench_campaign's are:

- "bare send_many": the rows rendered from the CSV file, sent, results consumed (the file
  and the requests are bench_campaign's);
- "SQLite campaign": ``run_campaign`` with a new journal file (loading included, as in
  bench_campaign);
- "PostgreSQL, k workers": the campaign loaded beforehand into a fresh database (a real
  PostgreSQL started in a temporary directory, as tests/postgres_server.py does; the load is
  timed apart), then k processes started together, each ``run_worker`` on it, until no row is
  left. Rows per second in total is N over the time from the first start to the last end; per
  worker, the rows each sent over its own time.

The contenders run in turns, one of each per round; the table gives the median round and the
spread (lowest–highest) over the rounds. The machine is shared and small (2 CPUs: the client
processes share CPU 0, nginx has CPU 1, PostgreSQL takes what it finds), so more workers cannot
add CPU here: the figures show what the shared journal costs, not how a fleet of machines scales.

Usage: ``.venv/bin/python benchmarks/bench_fleet.py [--quick] [--n N] [--repeat R]``.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.postgres_server

from _common import as_child, base_parser, machine_block, table, wait_quiet, write_section
from _server import ReferenceServer, reference_sender
from bench_campaign import FROM, TEXT, rendered, write_recipients

CONCURRENCY = 64
WORKERS = (1, 2, 4)


# -- the children ------------------------------------------------------------------------------


async def _child(mode: str, spec: dict[str, Any]) -> dict[str, Any]:
    """One contender's process: get ready, say so, wait for ``go`` on stdin, send, report."""
    from bwmsg.campaign import Template, run_campaign, run_worker

    template = Template(text=TEXT, from_=FROM)
    sender = reference_sender(spec["base_url"], CONCURRENCY)
    async with sender:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        t0, c0 = time.time(), time.process_time()
        if mode == "bare":
            ok = 0
            async for result in sender.send_many(rendered(spec["csv"], template)):
                ok += result.ok
        elif mode == "sqlite":
            ok = (await run_campaign(sender, spec["csv"], spec["journal"], template)).sent
        else:
            ok = (await run_worker(sender, spec["journal"], campaign=spec["campaign"])).sent
        t1, cpu = time.time(), time.process_time() - c0
    return {"ok": ok, "t0": t0, "t1": t1, "cpu": cpu}


def run_together(mode: str, spec: dict[str, Any], k: int) -> list[dict[str, Any]]:
    """``k`` children of ``mode`` started at once (each warmed up first); their figures."""
    wait_quiet()
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--child", mode, json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(k)
    ]
    for proc in procs:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit(f"{mode} did not start:\n{proc.communicate()[1][-3000:]}")
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=1800)
        if proc.returncode != 0:
            raise SystemExit(f"{mode} failed:\n{err[-3000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


async def _load(url: str, recipients: Path, name: str) -> tuple[str, float]:
    """The campaign's rows (rendered, as run_campaign stores them) in the database: its id and
    the seconds the load took."""
    from bwmsg._convert import request_to_dict
    from bwmsg.campaign import Template, default_tag, open_journal, read_rows
    from bwmsg.campaign._input import recipient_key
    from bwmsg.campaign._journal import LoadedRow

    template = Template(text=TEXT, from_=FROM)
    t0 = time.perf_counter()
    async with open_journal(url, exclusive=True) as db:
        await db.bind(name * 64, input=str(recipients), campaign=name)

        def rows() -> Any:
            for row, columns in read_rows(recipients):
                assert isinstance(columns, dict)
                request = template.render(columns, default_tag(name, row))
                yield LoadedRow(row, recipient_key(columns["to"]), request=request_to_dict(request))

        await db.add_rows(rows())
    return name, time.perf_counter() - t0


# -- the parent --------------------------------------------------------------------------------


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}–{max(values):,.0f})"


def main() -> None:
    if as_child(_child):
        return
    from tests.postgres_server import postgres

    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=None, help="rows (default 20,000)")
    parser.add_argument("--repeat", type=int, default=None, help="rounds (default 3)")
    args = parser.parse_args()
    n = args.n or (5_000 if args.quick else 20_000)
    repeat = args.repeat or (1 if args.quick else 3)
    contenders = ["bare", "sqlite", *(f"pg{k}" for k in WORKERS)]
    totals: dict[str, list[float]] = {c: [] for c in contenders}
    each: dict[str, list[float]] = {c: [] for c in contenders}
    cpu: dict[str, list[float]] = {c: [] for c in contenders}
    loads: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="bwbench-fleet-") as tmp,
        ReferenceServer(args.server) as server,
        postgres() as pg,
    ):
        recipients = Path(tmp) / "recipients.csv"
        write_recipients(recipients, n)
        print(f"server: {server.describe()}; N = {n:,}, concurrency {CONCURRENCY} a process")
        for r in range(repeat):
            for contender in contenders:
                spec: dict[str, Any] = {"base_url": server.base_url, "csv": str(recipients)}
                k = 1
                if contender == "sqlite":
                    spec["journal"] = str(Path(tmp) / f"journal-{r}.db")
                elif contender.startswith("pg"):
                    k = int(contender[2:])
                    spec["journal"] = pg.url(pg.create_database())
                    spec["campaign"], took = asyncio.run(
                        _load(spec["journal"], recipients, f"c{r}{k}")
                    )
                    loads.append(took)
                mode = "worker" if contender.startswith("pg") else contender
                results = run_together(mode, spec, k)
                sent = sum(x["ok"] for x in results)
                if sent != n:
                    raise SystemExit(f"{contender}: {sent} of {n} sent")
                wall = max(x["t1"] for x in results) - min(x["t0"] for x in results)
                totals[contender].append(n / wall)
                each[contender].extend(x["ok"] / (x["t1"] - x["t0"]) for x in results)
                cpu[contender].append(sum(x["cpu"] for x in results) / n * 1e6)
                print(f"  round {r + 1} {contender}: {n / wall:,.0f} rows/s", flush=True)
        description = server.describe()

    labels = {
        "bare": "bare send_many (1 process)",
        "sqlite": "SQLite campaign (1 process)",
        **{f"pg{k}": f"PostgreSQL, {k} worker{'s' if k > 1 else ''}" for k in WORKERS},
    }
    bare = statistics.median(totals["bare"])
    rows = [
        [
            labels[c],
            spread(totals[c]),
            spread(each[c]),
            f"{statistics.median(cpu[c]):.0f}",
            f"{statistics.median(totals[c]) / bare:.2f}",
        ]
        for c in contenders
    ]
    tab = table(["contender", "rows/s in total", "rows/s per worker", "µs CPU/row", "× bare"], rows)
    pg1, pg4 = statistics.median(totals["pg1"]), statistics.median(totals["pg4"])
    sqlite = statistics.median(totals["sqlite"])
    verdict = (
        f"one PostgreSQL worker keeps {pg1 / bare:.2f} of bare send_many's rows per second and "
        f"{pg1 / sqlite:.2f} of the SQLite campaign's; 4 workers on this one client CPU reach "
        f"{pg4 / pg1:.2f} × one worker in total. Loading {n:,} rows into PostgreSQL (rendered, "
        f"COPY) took {statistics.median(loads):.2f} s (median), outside these times."
    )
    print(f"\n{tab}\n\n- {verdict}")
    if not args.no_write:
        body = (
            f"{machine_block(description)}\n- PostgreSQL: {pg.bindir.parent.name} (Debian "
            "package), started in a temporary directory (fsync off, as in the tests), on the "
            "same machine, unpinned\n\n"
            f"N = {n:,} rows from one CSV file; concurrency {CONCURRENCY} in each process; "
            f"{repeat} round(s), the contenders in turns. Each cell: the median round (lowest–"
            "highest). The machine has 2 CPUs and is shared with other work: every client "
            "process is on CPU 0, so 2 and 4 workers split one CPU between them (their total "
            "shows the cost of the shared journal; on several machines each worker has its own "
            "CPU). Compare the ratios, not the absolute figures.\n\n"
            f"{tab}\n\n- {verdict}"
        )
        write_section("fleet", "9. Campaign workers on PostgreSQL", body)


if __name__ == "__main__":
    main()
