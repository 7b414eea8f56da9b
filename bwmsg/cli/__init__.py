"""The ``bwmsg`` command. Thin: it parses options and calls the tools that do the work.

One module per command group: ``_run`` (``campaign run``), ``_worker`` (``campaign worker``),
``_inspect`` (``campaign status``, ``campaign export``, and what the dry run prints),
``_receipts`` (``campaign receipts``, ``campaign reconcile``), ``_report`` (``campaign
report``), ``_optouts`` (``opt-outs``),
``_send`` (``send``, ``segments``), ``_demo``, ``_simulator``; what they share is in
``_common`` (credentials, consoles, exit codes), ``_options`` (the sending options),
``_checks`` (what is checked before a send), ``_progress`` and ``_summary``.
This module only assembles them.
"""

from __future__ import annotations

import click

from ._demo import demo
from ._inspect import campaign_export, campaign_status
from ._optouts import opt_outs
from ._receipts import campaign_receipts, campaign_reconcile
from ._report import campaign_report
from ._run import campaign_run
from ._send import segments_command, send
from ._simulator import simulator
from ._worker import campaign_worker

__all__ = ["main"]


@click.group()
@click.version_option(package_name="bwmsg")
def main() -> None:
    """Send SMS and MMS through Bandwidth's Messaging V2 API, at volume."""


@click.group()
def campaign() -> None:
    """Send a recipient list with a durable journal; see its status; export it."""


def _assemble(group: click.Group, *commands: click.Command) -> None:
    """Add ``commands`` to ``group``; each is listed by its help's whole first line (click
    would cut it at 45 characters)."""
    for command in commands:
        if command.short_help is None and command.help:
            command.short_help = " ".join(command.help.strip().split("\n\n")[0].split())
        group.add_command(command)


_assemble(
    campaign,
    campaign_run,
    campaign_worker,
    campaign_status,
    campaign_export,
    campaign_receipts,
    campaign_reconcile,
    campaign_report,
)
_assemble(main, campaign, opt_outs, demo, send, segments_command, simulator)
