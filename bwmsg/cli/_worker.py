"""``bwmsg campaign worker``: one more process sending a campaign on a PostgreSQL journal.

Thin: the work is :func:`bwmsg.campaign.run_worker`; the options are ``campaign run``'s.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from ..campaign._urls import is_database_url
from ._checks import check_settings
from ._common import (
    JournalArg,
    campaign_option,
    console,
    credential_options,
    hide_url_passwords,
    pop_credentials,
)
from ._options import RUN_OPTIONS, sending_options, sending_sender
from ._run import run_guarded, run_journal

__all__ = ["campaign_worker"]


@click.command("worker")
@click.option(
    "--journal",
    required=True,
    type=JournalArg(),
    metavar="URL",
    help="The campaign's PostgreSQL journal, postgresql://user:pass@host:port/db.",
)
@campaign_option
@sending_options
@credential_options
def campaign_worker(**kwargs: Any) -> None:
    """Join a campaign on a PostgreSQL journal and send its rows beside the other workers.

    Each worker claims batches of pending rows under a lease it keeps renewing (--lease); no
    row is sent by two workers. A worker that dies keeps its rows until its lease runs out:
    then those it was sending become unknown and the others go back to pending. Exits 0 when
    no row is left to send.

    \b
    Examples:
      bwmsg campaign run list.csv --journal postgresql://bw@db/bwmsg --from +19195550000 \\
          --text 'Hi {name}' --rate 50 --redis redis://cache:6379
      bwmsg campaign worker --journal postgresql://bw@db/bwmsg --rate 50 \\
          --redis redis://cache:6379

    Exit status as for campaign run.
    """
    creds = pop_credentials(kwargs)
    journal = kwargs["journal"]
    if not is_database_url(journal):
        raise click.BadParameter(
            f"{journal} is a SQLite journal, which one process runs (campaign run); several "
            "workers need a PostgreSQL one: --journal postgresql://user:pass@host:port/db",
            param_hint="--journal",
        )
    check_settings(creds, kwargs["concurrency"])
    sender = sending_sender(creds, kwargs)
    options = {name: kwargs[name] for name in RUN_OPTIONS}
    hide_url_passwords(sys.argv)
    go = run_journal(
        sender,
        journal,
        options,
        kwargs["quiet"],
        console(),
        campaign=kwargs["campaign"],
        metrics=kwargs["metrics"],
    )
    sys.exit(run_guarded(go))
