"""A campaign report as one self-contained HTML file: the figures of :mod:`._report` drawn by
plotly (the ``bwmsg[report]`` extra, imported only here and only when a report is made).

The file needs no network to open: plotly.js is inlined once in the head, every chart is a
``<div>`` drawn by it, and nothing else is loaded (no CDN, no web fonts: system fonts only).
Every text that came from the journal (ids, paths, error texts, which servers wrote) is
escaped with :func:`html.escape`, in the tables and in the charts' labels (plotly reads a few
HTML tags in labels); plotly escapes ``<`` and ``/`` in the JSON it embeds.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .._errors import BwmsgError
from ._journal import RowState
from ._report import MAX_ATTEMPTS_SHOWN, Histogram, ReportFigures, Timeline

__all__ = ["ReportUnavailable", "check_plotly", "render_report", "write_report"]

_INSTALL = "pip install 'bwmsg[report]'"
_COLOURS = {
    "sent": "#2ca02c",
    "delivered": "#2ca02c",
    "failed": "#d62728",
    "unknown": "#ff7f0e",
    "suppressed": "#9467bd",
    "pending": "#7f7f7f",
    "sending": "#1f77b4",
}
_CONFIG = {"displaylogo": False, "responsive": True}
_LABEL_LENGTH = 70  # characters of an error's words shown on a chart (the table has them all)
_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       margin: 2em auto; max-width: 1200px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.8em; text-align: left;
         vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.chart { height: 420px; }
p.note { color: #555; }
"""


class ReportUnavailable(BwmsgError, RuntimeError):
    """A report cannot be drawn here: plotly (the ``bwmsg[report]`` extra) is not installed."""


def _plotly() -> Any:
    """plotly's ``graph_objects`` and ``offline`` modules; :class:`ReportUnavailable` without it."""
    try:
        import plotly.graph_objects as go
        import plotly.offline as offline
    except ImportError:
        raise ReportUnavailable(f"a report needs plotly: {_INSTALL}") from None
    return go, offline


def check_plotly() -> None:
    """Raise :class:`ReportUnavailable` (naming the extra to install) when plotly is missing."""
    _plotly()


def write_report(figures: ReportFigures, path: Path) -> None:
    """Write the report of ``figures`` to ``path`` (UTF-8), replacing what was there."""
    path.write_text(render_report(figures), encoding="utf-8")


def render_report(figures: ReportFigures) -> str:
    """The report of ``figures``: one HTML document that opens with no network.

    Args:
        figures: what :func:`bwmsg.campaign._report.read_report` read from a journal.
    """
    go, offline = _plotly()
    name = html.escape(figures.campaign or "?")
    charts = "\n".join(
        _section(
            title,
            figure.to_html(
                full_html=False,
                include_plotlyjs=False,
                div_id=div,
                config=_CONFIG,
                default_height="420px",
            ),
        )
        for div, title, figure in _figures(go, figures)
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>Campaign {name}: report</title>\n<style>{_STYLE}</style>\n"
        f'<script type="text/javascript">{offline.get_plotlyjs()}</script>\n</head>\n<body>\n'
        f"<h1>Campaign {name}</h1>\n"
        f'<p class="note">Report made {_utc(time.time())} UTC from {html.escape(figures.where)}. '
        "Times are UTC.</p>\n"
        f"<h2>Summary</h2>\n{_summary_table(figures)}\n{charts}\n"
        f"<h2>Send errors (failed and unknown rows)</h2>\n{_errors_table(figures)}\n"
        f"<h2>Delivery failures by error code</h2>\n{_receipt_codes_table(figures)}\n"
        "</body>\n</html>\n"
    )


def _section(title: str, chart: str) -> str:
    return f"<section>\n<h2>{html.escape(title)}</h2>\n{chart}\n</section>"


def _figures(go: Any, figures: ReportFigures) -> Iterable[tuple[str, str, Any]]:
    """(div id, heading, plotly figure) of every chart, in the order shown."""
    yield "chart-sends", "Sends over time", _sends(go, figures.sends)
    yield "chart-outcomes", "Outcomes", _outcomes(go, figures)
    yield "chart-retries", "Retries", _retries(go, figures)
    yield (
        "chart-durations",
        "Send duration (HTTP latency, as the journal knows it)",
        _durations(go, figures.durations),
    )
    yield "chart-receipts", "Delivery receipts over time", _receipts(go, figures.receipts_over_time)
    yield "chart-receipt-codes", "Delivery failures in words", _receipt_codes(go, figures)


# -- charts ----------------------------------------------------------------------------------------


def _layout(
    fig: Any, title: str, x: str, y: str, *, empty: str | None = None, note: str | None = None
) -> Any:
    """Title (and a smaller ``note`` under it), axes, the common look; ``empty``: a chart with
    nothing to draw, saying why in its middle."""
    heading = _label(title) + (f"<br><sup>{_label(note)}</sup>" if note else "")
    fig.update_layout(
        title={"text": heading},
        xaxis_title=x,
        yaxis_title=y,
        template="plotly_white",
        margin={"l": 70, "r": 30, "t": 80, "b": 60},
        legend={"orientation": "h", "y": -0.2, "traceorder": "normal"},
    )
    if empty is not None:
        fig.add_annotation(
            text=_label(empty), showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5
        )
        fig.update_xaxes(showticklabels=False)
        fig.update_yaxes(showticklabels=False)
    return fig


def _over_time(go: Any, timeline: Timeline, keys: Sequence[str]) -> Any:
    """Stacked bars of ``keys`` per second, each covering its bucket from its start."""
    when = [_utc(start) for start in timeline.starts]
    width = timeline.width * 1000 * 0.95  # a date axis counts bar widths in milliseconds
    bars = [
        go.Bar(
            x=when,
            y=timeline.per_second(key),
            name=key,
            marker_color=_COLOURS[key],
            width=width,
            offset=0,
        )
        for key in keys
    ]
    fig = go.Figure(bars)
    fig.update_layout(barmode="stack")
    if timeline.starts:  # plotly's autorange would centre the bars on their starts
        end = timeline.starts[-1] + timeline.width
        fig.update_xaxes(range=[when[0], _utc(end)])
    return fig


def _bucket(timeline: Timeline) -> str:
    return "1 s" if timeline.width == 1 else f"{timeline.width:,.0f} s"


def _sends(go: Any, sends: Timeline) -> Any:
    keys = ("sent", "failed", "unknown")
    fig = _over_time(go, sends, keys)
    title = (
        f"Rows tried per second, by outcome, at the time each outcome was written "
        f"(buckets of {_bucket(sends)})"
    )
    empty = None if sends.total else "no row was tried"
    return _layout(fig, title, "time (UTC)", "rows per second", empty=empty)


def _outcomes(go: Any, figures: ReportFigures) -> Any:
    states = [state.value for state in RowState]
    counts = [figures.states.get(state, 0) for state in states]
    fig = go.Figure(
        go.Bar(
            x=states,
            y=counts,
            text=[f"{n:,}" for n in counts],
            textposition="outside",
            marker_color=[_COLOURS[state] for state in states],
        )
    )
    title = f"Rows by state ({figures.rows:,} rows)"
    return _layout(fig, title, "state", "rows", empty=None if figures.rows else "no rows")


def _retries(go: Any, figures: ReportFigures) -> Any:
    found = figures.attempts
    most = max((attempts for attempts, _ in found), default=0)
    shown = list(range(most + 1))
    labels = [f"{n}+" if n == MAX_ATTEMPTS_SHOWN else str(n) for n in shown]
    bars = []
    for state in (s.value for s in RowState):
        counts = [found.get((n, state), 0) for n in shown]
        if any(counts):
            bars.append(go.Bar(x=labels, y=counts, name=state, marker_color=_COLOURS[state]))
    fig = go.Figure(bars)
    fig.update_layout(barmode="stack", xaxis_type="category")
    title = "HTTP attempts per row, by final state (more than 1: retried)"
    return _layout(fig, title, "attempts", "rows", empty=None if bars else "no rows")


def _durations(go: Any, durations: Histogram | None) -> Any:
    note = (
        "From a row taken to send to its outcome written: retries, throttle waits and the wait "
        "for the journal's next write included (the journal keeps no per-attempt HTTP latency)"
    )
    if durations is None:
        why = "this journal's rows do not say when they were taken (sending_at)"
        return _layout(go.Figure(), "Send duration per row", "seconds", "rows", empty=why)
    used = [i for i, n in enumerate(durations.counts) if n]
    first, last = (used[0], used[-1]) if used else (0, -1)
    edges = durations.edges
    labels = [f"{_seconds(edges[i])}–{_seconds(edges[i + 1])}" for i in range(first, last + 1)]
    fig = go.Figure(go.Bar(x=labels, y=durations.counts[first : last + 1], marker_color="#1f77b4"))
    fig.update_layout(xaxis_type="category", bargap=0.05)
    quantiles = ", ".join(
        f"p{int(q * 100)} ≤ {_seconds(v)}"
        for q in (0.5, 0.9, 0.99)
        if (v := durations.quantile(q)) is not None
    )
    title = f"Send duration per row{': ' + quantiles if quantiles else ''}"
    empty = None if used else "no row was timed"
    return _layout(fig, title, "seconds", "rows", empty=empty, note=note)


def _receipts(go: Any, receipts: Timeline) -> Any:
    fig = _over_time(go, receipts, ("delivered", "failed"))
    title = f"Delivery receipts per second, by result (buckets of {_bucket(receipts)})"
    empty = None if receipts.total else "no delivery receipt was recorded"
    return _layout(fig, title, "time of the receipt (UTC)", "receipts per second", empty=empty)


def _receipt_codes(go: Any, figures: ReportFigures) -> Any:
    found = figures.receipt_failures
    labels = [
        _short(words or (str(code) if code is not None else "no error code"))
        for code, words, _ in found
    ]
    fig = go.Figure(
        go.Bar(
            x=[n for _, _, n in found],
            y=labels,
            orientation="h",
            marker_color=_COLOURS["failed"],
        )
    )
    fig.update_layout(yaxis={"autorange": "reversed", "automargin": True})
    failed = figures.receipts.get("failed", 0)
    title = f"Failed delivery receipts by error code ({failed:,} rows; most frequent first)"
    return _layout(fig, title, "rows", "", empty=None if found else "no delivery failed")


# -- tables ----------------------------------------------------------------------------------------


def _table(head: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "\n".join("<tr>" + "".join(_cell(value) for value in row) + "</tr>" for row in rows)
    return f"<table>\n<tr>{cells}</tr>\n{body}\n</table>"


def _cell(value: object) -> str:
    if isinstance(value, int):
        return f'<td class="n">{value:,}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def _summary_table(figures: ReportFigures) -> str:
    states = figures.states
    rows: list[tuple[str, object]] = [
        ("campaign", figures.campaign or "?"),
        ("input", figures.input or "?"),
        ("journal", figures.where),
        ("rows", figures.rows),
        *((f"rows {state.value}", states.get(state.value, 0)) for state in RowState),
        ("failed rows a rerun would try again", figures.retryable),
        ("segments sent", figures.segments),
        *((f"receipts {key}", n) for key, n in figures.receipts.items()),
        ("runs", figures.runs),
        ("first run started", _utc(figures.started) if figures.started else "-"),
        ("last run ended", _utc(figures.ended) if figures.ended else "-"),
        ("time running", f"{figures.busy:,.{1 if figures.busy >= 10 else 2}f} s"),
        ("sent per second while running", f"{figures.rate:,.1f}"),
    ]
    if figures.durations is not None:
        for q in (0.5, 0.9, 0.99):
            value = figures.durations.quantile(q)
            shown = f"≤ {_seconds(value)}" if value is not None else "-"
            rows.append((f"send duration p{int(q * 100)}", shown))
    return _table(("", ""), rows)


def _errors_table(figures: ReportFigures) -> str:
    if not figures.errors:
        return '<p class="note">No failed or unknown row.</p>'
    return _table(
        ("rows", "state", "HTTP status", "error"),
        (
            (n, state, "" if status is None else str(status), error)
            for state, status, error, n in figures.errors
        ),
    )


def _receipt_codes_table(figures: ReportFigures) -> str:
    if not figures.receipt_failures:
        return '<p class="note">No failed delivery receipt.</p>'
    return _table(
        ("rows", "code", "in words"),
        (
            (n, "" if code is None else str(code), words)
            for code, words, n in figures.receipt_failures
        ),
    )


# -- formatting ------------------------------------------------------------------------------------


def _utc(stamp: float) -> str:
    """A moment as UTC ``YYYY-MM-DD HH:MM:SS.mmm`` (what plotly's date axes read)."""
    whole = int(stamp // 1)
    millis = round((stamp - whole) * 1000)
    if millis == 1000:
        whole, millis = whole + 1, 0
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(whole)) + f".{millis:03d}"


def _seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.3g} ms"
    return f"{value:.3g} s"


def _label(text: str) -> str:
    """``text`` for a plotly label: ``<``, ``>`` and ``&`` escaped (plotly reads a few tags and
    shows these entities as the characters; ``&quot;`` it would show as it is)."""
    return html.escape(text, quote=False)


def _short(text: str) -> str:
    one_line = " ".join(text.split())
    if len(one_line) <= _LABEL_LENGTH:
        return _label(one_line)
    return _label(one_line[: _LABEL_LENGTH - 1]) + "…"
