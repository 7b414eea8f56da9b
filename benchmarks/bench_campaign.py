"""Campaign throughput: `run_campaign` (CSV in, SQLite journal) vs bare `send_many`.

Both send the same N recipients against the same reference server, each in a fresh process
pinned to CPU 0: "bare send_many" builds from the same CSV file the same ``MessageRequest``
per row as the campaign (the same text, the same kind of tag: ``bwmsg:<12-character id>:<row>``)
and consumes the results; "campaign" is ``bwmsg.campaign.run_campaign`` with a new journal
(every row journalled as pending, claimed as sending shortly before it goes — never more than
2 × concurrency + 10 rows at once —, its outcome written after). The difference is the journal.
The two run in turns, one pair per round; the table gives each contender's best round, and the
verdict the ratio of the best rounds with the spread of the per-round ratios (the machine is
shared and noisy).
Target: the campaign keeps at least 0.9 of bare send_many's messages per second.

Usage: ``.venv/bin/python benchmarks/bench_campaign.py [--quick] [--n N] [--repeat R]``.
"""

from __future__ import annotations

import csv
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import as_child, base_parser, machine_block, run_child, table, write_section
from _server import ReferenceServer, reference_sender

TARGET = 0.9
TEXT = "Hi {name}, your code is {code}"
FROM = "+19195550000"


def write_recipients(path: Path, n: int) -> None:
    """The recipients file of ``n`` rows (to, name, code) that every contender sends."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["to", "name", "code"])
        for i in range(n):
            writer.writerow([f"+1919{i:07d}", f"Person {i}", f"{i * 7919 % 1_000_000:06d}"])


def rendered(path: str, template: Any) -> Iterator[Any]:
    """Bare send_many's requests: the ones the campaign sends for the rows of ``path``, tags
    included (an id as long as a campaign's)."""
    from bwmsg.campaign import default_tag, read_rows

    for row, columns in read_rows(path):
        assert isinstance(columns, dict)
        yield template.render(columns, default_tag("0123456789ab", row))


async def _child(mode: str, spec: dict[str, Any]) -> dict[str, Any]:
    from bwmsg.campaign import Template, run_campaign

    template = Template(text=TEXT, from_=FROM)
    sender = reference_sender(spec["base_url"], spec["concurrency"])
    async with sender:
        t0, c0 = time.perf_counter(), time.process_time()
        if mode == "bare":
            ok = 0
            async for result in sender.send_many(rendered(spec["csv"], template)):
                ok += result.ok
        else:
            summary = await run_campaign(sender, spec["csv"], spec["journal"], template)
            ok = summary.sent
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"ok": ok, "wall": wall, "cpu": cpu, "maxrss_kb": maxrss}


def main() -> None:
    if as_child(_child):
        return
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=None, help="recipients (default 20,000)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=None, help="runs of each (default 3)")
    args = parser.parse_args()
    n = args.n or (5_000 if args.quick else 20_000)
    repeat = args.repeat or (1 if args.quick else 3)

    runs: dict[str, list[dict[str, Any]]] = {"bare": [], "campaign": []}
    with (
        tempfile.TemporaryDirectory(prefix="bwbench-campaign-") as tmp,
        ReferenceServer(args.server) as server,
    ):
        recipients = Path(tmp) / "recipients.csv"
        write_recipients(recipients, n)
        print(f"server: {server.describe()}; N = {n:,}, concurrency {args.concurrency}")
        for k in range(repeat):
            for mode in ("bare", "campaign"):
                spec = {
                    "base_url": server.base_url,
                    "csv": str(recipients),
                    "journal": str(Path(tmp) / f"journal-{k}.db"),
                    "concurrency": args.concurrency,
                }
                result = run_child(spec, command=(__file__, "--child", mode))
                if result["ok"] != n:
                    raise SystemExit(f"{mode}: only {result['ok']} of {n} sent")
                runs[mode].append(result)
                print(f"  {mode}: {n / result['wall']:,.0f} msg/s", flush=True)
        description = server.describe()

    best = {mode: max(rs, key=lambda r: n / r["wall"]) for mode, rs in runs.items()}
    rows = []
    for mode, label in (
        ("bare", "bare send_many (CSV rows rendered)"),
        ("campaign", "run_campaign with a new journal"),
    ):
        r = best[mode]
        rows.append(
            [
                label,
                f"{n / r['wall']:,.0f}",
                f"{r['cpu'] / n * 1e6:.1f}",
                f"{r['maxrss_kb'] / 1024:.0f}",
                f"{(n / r['wall']) / (n / best['bare']['wall']):.2f}",
            ]
        )
    tab = table(["contender", "msg/s", "µs CPU/msg", "peak RSS MB", "× bare"], rows)
    ratio = best["bare"]["wall"] / best["campaign"]["wall"]
    rounds = sorted(
        b["wall"] / c["wall"] for b, c in zip(runs["bare"], runs["campaign"], strict=True)
    )
    cpu = best["bare"]["cpu"] / best["campaign"]["cpu"]
    verdict = (
        f"the campaign keeps {ratio:.2f} of bare send_many's messages per second, best round "
        f"against best round (target ≥ {TARGET}: {'met' if ratio >= TARGET else 'NOT met'}); "
        f"round by round {rounds[0]:.2f}–{rounds[-1]:.2f}, median "
        f"{rounds[len(rounds) // 2]:.2f}; CPU per message of the best rounds: {cpu:.2f} × bare"
    )
    print(f"\n{tab}\n\n{verdict}")
    if not args.no_write:
        body = (
            f"{machine_block(description)}\n\nN = {n:,} recipients from one CSV file, "
            f"concurrency {args.concurrency}; each row the best of {repeat} run(s), the two "
            "contenders interleaved, each in a fresh process. The campaign's time includes "
            "fingerprinting the file and journalling every row as pending before sending.\n\n"
            f"{tab}\n\n- {verdict}"
        )
        write_section("campaign", "5. Campaign throughput vs bare send_many", body)


if __name__ == "__main__":
    main()
