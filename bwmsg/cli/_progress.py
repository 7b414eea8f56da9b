"""A campaign's progress as it runs: a bar on a terminal, a plain line otherwise."""

from __future__ import annotations

import time

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..campaign import CampaignProgress
from ._common import console

__all__ = ["Display"]


class Display:
    """A progress bar on a terminal, a plain line every few seconds otherwise, or nothing."""

    def __init__(self, quiet: bool, interval: float = 2.0) -> None:
        self.console = console(stderr=True)
        self.quiet = quiet
        self.interval = interval
        self._last = 0.0
        self._finished = False
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> Display:
        if not self.quiet and self.console.is_terminal:
            self._progress = Progress(
                TextColumn("[bold]sending"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[counts]}"),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("send", total=None, counts="", rate="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)

    def __call__(self, p: CampaignProgress) -> None:
        counts = f"sent {p.sent:,}  failed {p.failed:,}  unknown {p.unknown:,}"
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task,
                total=p.total,
                completed=p.done,
                counts=counts,
                rate=f"{p.rate:,.0f} msg/s",
            )
            return
        if self.quiet:
            return
        now = time.monotonic()
        if now - self._last < self.interval and (p.done < p.total or self._finished):
            return
        self._finished = p.done >= p.total
        self._last = now
        left = p.total - p.done
        eta = f"{left / p.rate:,.0f}s" if p.rate > 0 else "?"
        self.console.print(f"{p.done:,}/{p.total:,} rows  {counts}  {p.rate:,.0f} msg/s  ETA {eta}")
