"""Campaign cost in instructions: `run_campaign` vs bare `send_many`, counted by callgrind.

Wall-clock ratios on a shared machine swing by ±30 % from round to round; an instruction count
does not. Each contender runs (the same child as ``bench_campaign.py``: the same CSV, the same
nginx) under ``valgrind --tool=callgrind`` at two sizes; the difference between the sizes,
divided by the extra rows, is the cost of one row with start-up and imports cancelled out.
The breakdown attributes the campaign's extra instructions to SQLite, the interpreter and
libc. Needs valgrind (Debian's package); takes about 2 minutes.

Usage: ``.venv/bin/python benchmarks/bench_campaign_instructions.py [--small N] [--large N]``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import base_parser, callgrind, machine_block, table, write_section
from _server import ReferenceServer
from bench_campaign import write_recipients

HERE = Path(__file__).resolve().parent


def _libraries(out_file: Path) -> Counter[str]:
    """Instructions by shared object, from callgrind_annotate's per-function list."""
    listing = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", "--threshold=100", str(out_file)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found: Counter[str] = Counter()
    for line in listing.splitlines():
        match = re.match(r"\s*([\d,]+) \([^)]*\)\s+.*\[([^\]]+)\]\s*$", line)
        if match:
            found[Path(match.group(2)).name] += int(match.group(1).replace(",", ""))
    return found


def _count(mode: str, spec: dict[str, object], out_file: Path) -> tuple[int, Counter[str]]:
    total = callgrind(spec, out_file, (str(HERE / "bench_campaign.py"), "--child", mode))
    return total, _libraries(out_file)


def _group(name: str) -> str:
    if name.startswith("libsqlite3"):
        return "SQLite"
    if name.startswith("libpython"):
        return "the interpreter (Python code)"
    if name.startswith("libc."):
        return "libc (memory, system calls)"
    return "other"


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=2000, help="rows of the small run")
    parser.add_argument("--large", type=int, default=6000, help="rows of the large run")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install -y valgrind")
    counts: dict[tuple[str, int], tuple[int, Counter[str]]] = {}
    with tempfile.TemporaryDirectory() as tmp, ReferenceServer(args.server) as server:
        for n in (args.small, args.large):
            recipients = Path(tmp) / f"r{n}.csv"
            write_recipients(recipients, n)
            for mode in ("bare", "campaign"):
                spec = {
                    "base_url": server.base_url,
                    "csv": str(recipients),
                    "journal": str(Path(tmp) / f"j-{mode}-{n}.db"),
                    "concurrency": 64,
                }
                counts[(mode, n)] = _count(mode, spec, Path(tmp) / "callgrind.out")
                print(f"  {mode}, {n:,} rows: {counts[(mode, n)][0]:,} instructions", flush=True)
        description = server.describe()
    extra = args.large - args.small
    per_row = {
        m: (counts[(m, args.large)][0] - counts[(m, args.small)][0]) / extra
        for m in ("bare", "campaign")
    }
    groups: Counter[str] = Counter()
    for mode, sign in (("campaign", 1), ("bare", -1)):
        for size, weight in ((args.large, 1), (args.small, -1)):
            for name, value in counts[(mode, size)][1].items():
                groups[_group(name)] += sign * weight * value
    rows = [
        ["bare send_many (CSV rows rendered)", f"{per_row['bare']:,.0f}", "1.00"],
        [
            "run_campaign with a new journal",
            f"{per_row['campaign']:,.0f}",
            f"{per_row['bare'] / per_row['campaign']:.2f}",
        ],
    ]
    tab = table(["contender", "instructions per row", "throughput if CPU-bound (× bare)"], rows)
    split = table(
        ["where the campaign's extra instructions go", "per row"],
        [[g, f"{v / extra:,.0f}"] for g, v in groups.most_common()],
    )
    print(f"\n{tab}\n\n{split}")
    if not args.no_write:
        body = (
            f"{machine_block(description)}\n\nInstructions counted by callgrind, each contender "
            f"run at {args.small:,} and {args.large:,} rows; per row = the difference / "
            f"{extra:,} (start-up cancels out). Concurrency 64, one process, against nginx.\n\n"
            f"{tab}\n\n{split}"
        )
        write_section(
            "campaign-instructions", "5b. Campaign vs bare send_many, in instructions", body
        )


if __name__ == "__main__":
    main()
