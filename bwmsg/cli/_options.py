"""The options ``campaign run`` and ``campaign worker`` share, their checks as click
callbacks, and the Sender they describe."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from .._retry import RetryPolicy
from .._sender import Sender
from ..campaign._numbers import check_country
from ..campaign._quiet import parse_quiet_hours, zones_of
from ._common import listen_address, rate_limit, sender_from, shown, stacked

__all__ = [
    "RUN_OPTIONS",
    "country",
    "quiet_hours",
    "sending_options",
    "sending_sender",
    "start_at",
]


def country(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--default-country``: a country code the phone rules know."""
    try:
        return None if value is None else check_country(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _positive_rate(ctx: click.Context, param: click.Parameter, value: float | None) -> Any:
    if value is not None and not value > 0:
        raise click.BadParameter(
            f"must be more than 0 segments per second, got {value:g} (leave --rate out for no "
            "client-side limit)"
        )
    return value


def quiet_hours(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """``--quiet-hours``: the hours, with the time-zone data at hand."""
    if value is None:
        return None
    try:
        hours = parse_quiet_hours(value)
        zones_of("+12125550100")  # the time-zone data is there (bwmsg[phone])
    except (ValueError, RuntimeError) as exc:
        raise click.BadParameter(str(exc)) from None
    return hours


def start_at(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """``--start-at``: an ISO 8601 time with a UTC offset."""
    if value is None:
        return None
    text = value.strip()
    try:
        when = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        when = None
    if when is None or when.utcoffset() is None:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time with a UTC offset: write it like "
            "2026-12-02T09:00:00-05:00 or 2026-12-02T14:00:00Z"
        )
    return when


def _metrics_address(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    address = listen_address(ctx, param, value)
    if address is not None:
        try:
            import prometheus_client  # noqa: F401 - only whether it is installed
        except ImportError:
            raise click.BadParameter(
                "serving metrics needs prometheus-client: pip install 'bwmsg[metrics]'"
            ) from None
    return address


# The options of how fast and how hard: (flag, type, default, help).
_PACE = (
    ("--concurrency", click.IntRange(min=1), 50, "Requests in flight at once."),
    ("--max-attempts", click.IntRange(min=1), 5, "Attempts per message, the first included."),
    (
        "--retry-delay",
        click.FloatRange(min=0),
        0.5,
        "First backoff in seconds (doubles per attempt, with jitter).",
    ),
    (
        "--timeout",
        click.FloatRange(min=0, min_open=True),
        30.0,
        "Seconds one attempt may take before its message counts as unknown.",
    ),
    (
        "--grace",
        click.FloatRange(min=0),
        10.0,
        "On Ctrl-C/SIGTERM, seconds requests in flight may take to be answered.",
    ),
    (
        "--max-consecutive-failures",
        click.IntRange(min=0),
        50,
        "Stop after this many sends in a row failed (0: never); untried rows stay pending.",
    ),
)


def sending_options(func: Any) -> Any:
    """The options ``campaign run`` and ``campaign worker`` share: how fast, how many at once,
    retries, the stop's grace, and which rows besides pending are sent."""
    options = [
        click.option(
            "--rate",
            type=float,
            default=None,
            callback=_positive_rate,
            help="Client-side limit, segments per second (> 0).",
        ),
        *(shown(*row) for row in _PACE),
        click.option(
            "--resend-unknown",
            is_flag=True,
            help="Send rows whose outcome is unknown again (they may be texted twice).",
        ),
        click.option(
            "--retry-failed",
            is_flag=True,
            help="Send again rows that failed with a 4xx answer (once you fixed the cause).",
        ),
        click.option(
            "--redis",
            envvar="BWMSG_REDIS_URL",
            default=None,
            metavar="URL",
            help="Share --rate through Redis with every sender of the account (redis://host:port)"
            " [BWMSG_REDIS_URL; needs bwmsg[redis]].",
        ),
        shown(
            "--lease",
            click.FloatRange(min=1),
            30.0,
            "PostgreSQL journal: seconds a worker's claim on its rows lasts unless renewed "
            "(renewed every third of it); a dead worker's rows come back after it.",
        ),
        click.option(
            "--opt-outs",
            envvar="BWMSG_OPT_OUTS",
            default=None,
            metavar="PATH|URL",
            help="Never text the numbers in this opt-out store (bwmsg opt-outs ...): their rows "
            "end suppressed [BWMSG_OPT_OUTS].",
        ),
        click.option(
            "--metrics",
            metavar="HOST:PORT",
            default=None,
            callback=_metrics_address,
            help="Serve Prometheus metrics at http://HOST:PORT/metrics while running (port 0: "
            "any free one, printed) [needs bwmsg[metrics]].",
        ),
        click.option("--quiet", "-q", is_flag=True, help="No progress output."),
    ]
    return stacked(options, func)


# The options of run_campaign (and run_worker) the command passes on as they are.
RUN_OPTIONS = (
    "opt_outs",
    "resend_unknown",
    "retry_failed",
    "max_consecutive_failures",
    "grace",
    "lease",
)


def sending_sender(creds: dict[str, Any], kwargs: dict[str, Any]) -> Sender:
    """The Sender the sending options describe (a usage error for a wrong one)."""
    rate = rate_limit(kwargs["rate"], kwargs["redis"])
    try:
        retry = RetryPolicy(max_attempts=kwargs["max_attempts"], base_delay=kwargs["retry_delay"])
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    return sender_from(
        creds,
        concurrency=kwargs["concurrency"],
        rate=rate,
        retry=retry,
        timeout=kwargs["timeout"],
    )
