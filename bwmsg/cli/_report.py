"""``bwmsg campaign report``: a campaign's journal drawn as one self-contained HTML file.

Thin: the figures come from :mod:`bwmsg.campaign._report`, the HTML from
:mod:`bwmsg.campaign._report_html`.
"""

from __future__ import annotations

from pathlib import Path

import click

from .. import _loop
from ..campaign._report import ReportFigures, read_report
from ..campaign._report_html import ReportUnavailable, check_plotly, write_report
from ._common import JournalArg, campaign_option, opened

__all__ = ["campaign_report"]


async def _read(journal: Path | str, campaign: str | None) -> ReportFigures:
    async with opened(journal, campaign) as db:
        return await read_report(db)


@click.command("report")
@click.argument("journal", type=JournalArg(exists=True))
@campaign_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    required=True,
    help="The HTML file to write (replaced if it exists), e.g. -o report.html.",
)
def campaign_report(journal: Path | str, campaign: str | None, output: Path) -> None:
    """Charts of a campaign's JOURNAL (a SQLite file or a PostgreSQL URL) in one HTML file.

    Sends per second, outcomes, retries, send durations, delivery receipts over time and their
    error codes in words, and the summary figures. The file opens with no network (plotly.js
    is inside it). Needs the report extra: pip install 'bwmsg[report]'.
    """
    try:
        check_plotly()  # before reading a journal of 500,000 rows for nothing
    except ReportUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    if not output.parent.is_dir():
        raise click.BadParameter(
            f"cannot write {output}: its directory {output.parent} does not exist (create it, "
            "or choose another)",
            param_hint="--output",
        )
    figures = _loop.run(_read(journal, campaign))
    try:
        write_report(figures, output)
    except OSError as exc:
        raise click.BadParameter(
            f"cannot write {output}: {exc.strerror or exc}", param_hint="--output"
        ) from None
    click.echo(f"report written to {output}")
