"""Campaigns: send a recipient list with a durable journal, resume without double sends.

::

    from bwmsg import Sender
    from bwmsg.campaign import Template, run_campaign

    async with Sender.from_env() as sender:
        summary = await run_campaign(
            sender, "recipients.csv", "run.db",
            Template(text="Hi {name}, doors open at 7", from_="+19195550000"),
        )
    print(summary.sent, summary.failed, summary.unknown)

Several workers share a campaign on PostgreSQL: ``--journal postgresql://user@host/db``
(see ``docs/fleet.md``), :func:`run_worker` joins from another process or machine.

From a shell: ``bwmsg campaign run recipients.csv --from +19195550000 --text "Hi {name}"
--journal run.db``; ``bwmsg campaign status run.db``; ``bwmsg campaign export run.db``.

Delivery receipts update the journal through :meth:`Journal.apply_receipt` (``bwmsg campaign
run ... --receipts HOST:PORT`` or ``bwmsg campaign receipts run.db --listen HOST:PORT``), and
:func:`reconcile` settles ``unknown`` rows by looking them up (``bwmsg campaign reconcile``).
"""

from ._dryrun import DryRunReport, dry_run
from ._feeds import default_tag
from ._input import InputError, RenderError, Template, read_rows
from ._journal import (
    CampaignJournal,
    ClaimRules,
    JournalMismatch,
    LeaseLost,
    ReceiptResult,
    RowState,
    RowUpdate,
    UnknownCampaign,
)
from ._lock import JournalBusy
from ._open import open_journal
from ._preflight import PreflightError
from ._preflight import check as preflight
from ._reconcile import ReconcileSummary, reconcile
from ._runner import run_campaign, run_worker
from ._sqlite import Journal
from ._summaries import CampaignProgress, CampaignSummary
from ._urls import JournalUrlError

__all__ = [
    "CampaignJournal",
    "CampaignProgress",
    "CampaignSummary",
    "ClaimRules",
    "DryRunReport",
    "InputError",
    "Journal",
    "JournalBusy",
    "JournalMismatch",
    "JournalUrlError",
    "LeaseLost",
    "PreflightError",
    "ReceiptResult",
    "ReconcileSummary",
    "RenderError",
    "RowState",
    "RowUpdate",
    "Template",
    "UnknownCampaign",
    "default_tag",
    "dry_run",
    "open_journal",
    "preflight",
    "read_rows",
    "reconcile",
    "run_campaign",
    "run_worker",
]
