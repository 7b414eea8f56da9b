"""OpenTelemetry spans: one CLIENT span per send attempt, whichever transport carries it.

The Sender opens the span around the attempt (where its own pool and an aiohttp session meet),
so the fast path is traced too. ``opentelemetry-api`` is imported lazily, and only when the
Sender opens: without it, or without a tracer provider set by then (the API's proxy provider
would hand out non-recording spans), :func:`attempt_spans` is None and an attempt costs one
attribute check.

The attributes are the semantic conventions' for HTTP client spans (``http.request.method``,
``server.address``, ``server.port``, ``url.full``, ``url.template``,
``http.response.status_code``, ``error.type``, ``http.request.resend_count``) plus
``bwmsg.attempt`` and, when accepted, ``bwmsg.message_id``. Nothing personal: no number, text
or tag; ``url.full`` has the account id in its path and never credentials or a query; no
server text either (an error's description may quote a number).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from yarl import URL

from ._errors import AmbiguousSendError, ApiError, BwmsgError
from ._models import Message

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

__all__ = ["AttemptSpans", "attempt_spans"]


class AttemptSpans:
    """Starts and ends the spans of one Sender's attempts (its URL's attributes made once)."""

    __slots__ = ("_client", "_error", "_name", "_static", "_tracer")

    def __init__(self, tracer: Tracer, url: URL, account_id: str) -> None:
        from opentelemetry.trace import SpanKind, StatusCode

        self._tracer = tracer
        self._client = SpanKind.CLIENT
        self._error = StatusCode.ERROR
        full = url.with_user(None).with_password(None).with_query(None).with_fragment(None)
        template = full.path.replace(f"/users/{account_id}/", "/users/{accountId}/")
        self._name = f"POST {template}"
        self._static: dict[str, Any] = {
            "http.request.method": "POST",
            "server.address": full.host or "",
            "server.port": full.port or (443 if full.scheme == "https" else 80),
            "url.full": str(full),
            "url.scheme": full.scheme,
            "url.template": template,
            "network.protocol.version": "1.1",
        }

    def start(self, attempt: int) -> Span:
        """The span of attempt number ``attempt`` (1-based), started now as a child of the
        caller's current span."""
        attributes = dict(self._static)
        attributes["bwmsg.attempt"] = attempt
        if attempt > 1:
            attributes["http.request.resend_count"] = attempt - 1
        return self._tracer.start_span(self._name, kind=self._client, attributes=attributes)

    def end(
        self,
        span: Span,
        outcome: Message | BwmsgError | None,
        status: int | None,
        timed_out: bool,
    ) -> None:
        """End ``span`` with what the attempt came to: the answer's ``status`` (None when none
        came) and its meaning ``outcome``; ``timed_out`` when no answer came in time."""
        if status is not None:
            span.set_attribute("http.response.status_code", status)
        if isinstance(outcome, BwmsgError):
            kind = error_type(outcome, timed_out)
            span.set_attribute("error.type", kind)
            span.set_status(self._error, kind if status is None else f"HTTP {status}")
        elif isinstance(outcome, Message) and outcome.id:
            span.set_attribute("bwmsg.message_id", outcome.id)
        span.end()

    def cancelled(self, span: Span) -> None:
        """End the span of an attempt that was cancelled (a stop, the Sender closing)."""
        span.set_attribute("error.type", "cancelled")
        span.set_status(self._error, "cancelled")
        span.end()


def error_type(error: BwmsgError, timed_out: bool) -> str:
    """``error.type`` of a failed attempt: the status as a string for an error answer,
    ``timeout`` for none in time, else the bwmsg error's class (low cardinality)."""
    if isinstance(error, ApiError):
        return str(error.status)
    if timed_out and isinstance(error, AmbiguousSendError):
        return "timeout"
    return f"bwmsg.{type(error).__name__}"


def attempt_spans(url: URL, account_id: str, version: Callable[[], str]) -> AttemptSpans | None:
    """The spans for a Sender posting to ``url``, or None when nothing would record them
    (opentelemetry-api is not installed, or no tracer provider is set); ``version`` gives
    bwmsg's version, asked only when there is a provider."""
    try:
        trace = importlib.import_module("opentelemetry.trace")
    except ImportError:  # looked up again at the next Sender's opening: cheap next to it
        return None
    provider = trace.get_tracer_provider()
    if isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
        return None
    return AttemptSpans(provider.get_tracer("bwmsg", version()), url, account_id)
