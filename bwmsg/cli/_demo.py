"""``bwmsg demo``: a sample campaign against the embedded simulator, no account needed."""

from __future__ import annotations

import contextlib
import csv
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path

import click

from .. import _loop
from .._retry import RetryPolicy
from .._sender import Sender
from ..campaign import CampaignSummary, Template, run_campaign
from ._common import console
from ._progress import Display
from ._summary import print_summary

__all__ = ["demo"]

_FIRST = ["Ann", "Bob", "Chloé", "Dmitri", "Eve", "Fatima", "Gus", "Hana", "Iñigo", "Jo"]


def _demo_rows(n: int, rng: random.Random) -> Iterator[dict[str, str]]:
    for i in range(n):
        name = rng.choice(_FIRST)
        if i % 97 == 5:
            name += " 🎉"  # forces UCS-2 for this row
        number = f"+1919{i:07d}" if i % 500 != 499 else f"919-555-{i:04d}"  # a few invalid
        yield {"to": number, "name": name, "code": f"{rng.randrange(10**6):06d}"}


@click.command("demo")
@click.option("--rows", default=3000, show_default=True, help="Sample recipients to generate.")
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the sample CSV and journal in this directory.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def demo(rows: int, keep: Path | None, quiet: bool) -> None:
    """Run a sample campaign against the built-in simulator: no account needed."""
    from ..simulator import Faults, Simulator

    out = console()
    with contextlib.ExitStack() as stack:
        where = keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bwmsg-")))
        where.mkdir(parents=True, exist_ok=True)
        recipients = where / "recipients.csv"
        journal = where / "demo.db"
        if journal.exists():
            journal.unlink()
        with recipients.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["to", "name", "code"])
            writer.writeheader()
            writer.writerows(_demo_rows(rows, random.Random(1)))
        template = Template(text="Hi {name}, your code is {code}", from_="+19195550000")
        faults = Faults(
            rate_limited=0.05,
            server_error=0.02,
            drop_after_accept=0.002,
            latency=0.005,
            latency_distribution="exponential",
        )
        out.print(
            f"[bold]bwmsg demo[/bold]: {rows:,} recipients"
            f"{f' ({recipients})' if keep else ''}, a local Bandwidth "
            "simulator with faults (5 % 429, 2 % 5xx, 0.2 % connections dropped after "
            "accepting), retries with backoff."
        )

        async def go() -> CampaignSummary:
            async with Simulator(faults=faults, seed=1) as sim:
                sender = Sender(
                    "9900000",
                    sim.username,
                    sim.password,
                    application_id="demo-app",
                    base_url=sim.base_url,
                    concurrency=50,
                    retry=RetryPolicy(base_delay=0.05, max_delay=1.0),
                )
                async with sender:
                    with Display(quiet) as display:
                        summary = await run_campaign(
                            sender, recipients, journal, template, progress=display
                        )
                out.print(f"The simulator accepted {len(sim.accepted):,} messages.")
                return summary

        summary = _loop.run(go())
        print_summary(out, summary, journal if keep else None)
        if keep:
            out.print(
                f"Look closer: bwmsg campaign status {journal}; "
                f"bwmsg campaign export {journal} -o results.csv"
            )
        else:
            out.print("The sample files are gone; bwmsg demo --keep DIR keeps them to look at.")
