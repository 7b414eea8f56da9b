"""OpenTelemetry spans: one CLIENT span per send attempt on every transport (the Sender's pool,
a session given, a session of its own for trace_configs), the HTTP client attributes, nothing
personal, and no span machinery at all without a tracer provider."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util._once import Once
from yarl import URL

from bwmsg import MessageRequest, RetryPolicy, Sender
from bwmsg._tracing import attempt_spans
from tests.senders import sender_for
from tests.servers import Drop, Hang, Reply, Scripted, free_port

TO, FROM, TEXT, TAG = "+19195551234", "+19195550000", "secret text 42", "tag-of-person"
TRANSPORTS = ["pool", "session", "trace_configs"]


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """A TracerProvider exporting to memory, set as the global one for the test only."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    saved = (trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE)
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace.set_tracer_provider(provider)
    try:
        yield memory
    finally:
        trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE = saved
        provider.shutdown()


def message(i: int = 0) -> MessageRequest:
    return MessageRequest(to=TO, from_=FROM, text=f"{TEXT} {i}", tag=TAG)


@asynccontextmanager
async def traced_sender(base_url: str, transport: str, **options: Any) -> AsyncIterator[Sender]:
    """A Sender on ``transport``: its own pool, a session given, or trace_configs."""
    session = aiohttp.ClientSession() if transport == "session" else None
    if transport == "trace_configs":
        options["trace_configs"] = [aiohttp.TraceConfig()]
    try:
        async with sender_for(base_url, session=session, **options) as sender:
            yield sender
    finally:
        if session is not None:
            await session.close()


def attempt_spans_of(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    found = [s for s in exporter.get_finished_spans() if s.name.startswith("POST ")]
    return sorted(found, key=lambda s: s.start_time or 0)


def assert_nothing_personal(spans: list[ReadableSpan]) -> None:
    for span in spans:
        seen = " ".join(
            [span.name, str(span.status.description), *map(str, (span.attributes or {}).items())]
        )
        for secret in (TO, TO[1:], FROM, TEXT, TAG):
            assert secret not in seen, (secret, seen)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_one_span_per_attempt_with_http_attributes(
    server: Scripted, exporter: InMemorySpanExporter, transport: str
) -> None:
    """A 500 then a 202: two CLIENT spans, the first an error with its status, the second
    with the message id; method, server, port, URL and the attempt number on both."""
    server.then(Reply(500, {"type": "x", "description": f"bad {TO}"}))
    async with traced_sender(server.base_url, transport) as sender:
        sent = await sender.send(message())
    first, second = attempt_spans_of(exporter)
    url = URL(server.base_url)
    for span, attempt in ((first, 1), (second, 2)):
        attributes = dict(span.attributes or {})
        assert span.kind is SpanKind.CLIENT
        assert span.name == "POST /api/v2/users/{accountId}/messages"
        assert attributes["http.request.method"] == "POST"
        assert attributes["server.address"] == "127.0.0.1"
        assert attributes["server.port"] == url.port
        assert attributes["url.full"] == f"{server.base_url}/users/acct/messages"
        assert attributes["bwmsg.attempt"] == attempt
    assert first.attributes is not None
    assert second.attributes is not None
    assert first.attributes["http.response.status_code"] == 500
    assert first.attributes["error.type"] == "500"
    assert first.status.status_code is StatusCode.ERROR
    assert "http.request.resend_count" not in first.attributes
    assert second.attributes["http.response.status_code"] == 202
    assert second.attributes["bwmsg.message_id"] == sent.id
    assert second.attributes["http.request.resend_count"] == 1
    assert "error.type" not in second.attributes
    assert second.status.status_code is StatusCode.UNSET
    assert_nothing_personal([first, second])


@pytest.mark.parametrize("transport", ["pool", "session"])
async def test_send_many_spans_match_the_attempts(
    server: Scripted, exporter: InMemorySpanExporter, transport: str
) -> None:
    """Through send_many, with 429s, 5xx and a dropped connection retried: as many spans as
    attempts, each ended, none carrying a number, text or tag."""
    server.then(
        Reply(429, {"type": "max-message-queue-size-exceeded", "description": "full"}),
        Reply(503, {"type": "x", "description": "y"}),
        Drop(),
        Reply(502, {"type": "x", "description": "y"}),
    )
    retry = RetryPolicy(base_delay=0, retry_ambiguous=True)
    async with traced_sender(server.base_url, transport, retry=retry, concurrency=4) as sender:
        results = [r async for r in sender.send_many(message(i) for i in range(12))]
        attempts = sender.stats().attempts
    assert all(r.ok for r in results)
    spans = attempt_spans_of(exporter)
    assert len(spans) == attempts == 16
    errors = [s for s in spans if s.status.status_code is StatusCode.ERROR]
    assert sorted(str((s.attributes or {})["error.type"]) for s in errors) == [
        "429",
        "502",
        "503",
        "bwmsg.AmbiguousSendError",
    ]
    ids = {(s.attributes or {}).get("bwmsg.message_id") for s in spans} - {None}
    assert ids == {r.message.id for r in results if r.message is not None}
    assert_nothing_personal(spans)


async def test_refused_connection_has_no_status(exporter: InMemorySpanExporter) -> None:
    """An attempt that never connected: error.type names the bwmsg error, no status code."""
    base = f"http://127.0.0.1:{free_port()}/api/v2"
    async with sender_for(base, retry=RetryPolicy(max_attempts=2, base_delay=0)) as sender:
        [result] = [r async for r in sender.send_many([message()])]
    assert not result.ok
    spans = attempt_spans_of(exporter)
    assert [(s.attributes or {})["error.type"] for s in spans] == ["bwmsg.TransportError"] * 2
    assert all("http.response.status_code" not in (s.attributes or {}) for s in spans)


async def test_timeout_is_named(server: Scripted, exporter: InMemorySpanExporter) -> None:
    """No answer within the timeout: error.type is ``timeout``."""
    server.then(Hang())
    async with sender_for(server.base_url, timeout=0.3) as sender:
        [result] = [r async for r in sender.send_many([message()])]
    assert result.outcome.value == "unknown"
    [span] = attempt_spans_of(exporter)
    assert (span.attributes or {})["error.type"] == "timeout"


async def test_attempts_are_children_of_the_callers_span(
    server: Scripted, exporter: InMemorySpanExporter
) -> None:
    """A span the caller has open is the parent of the attempts' spans."""
    tracer = trace.get_tracer("test")
    async with sender_for(server.base_url) as sender:
        with tracer.start_as_current_span("job") as job:
            await sender.send(message())
    [span] = attempt_spans_of(exporter)
    assert span.parent is not None
    assert span.parent.span_id == job.get_span_context().span_id


def test_no_spans_without_a_provider() -> None:
    """With no tracer provider set (the API's proxy), the Sender gets no span machinery."""
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert attempt_spans(URL("http://127.0.0.1/api/v2/users/a/messages"), "a", lambda: "0") is None


def test_no_spans_without_opentelemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without opentelemetry-api installed, the Sender gets no span machinery either."""
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", None)
    assert attempt_spans(URL("http://127.0.0.1/api/v2/users/a/messages"), "a", lambda: "0") is None


def test_url_full_drops_credentials_and_query(exporter: InMemorySpanExporter) -> None:
    """url.full never carries a user, password or query of the base URL."""
    spans = attempt_spans(
        URL("http://u:secret@127.0.0.1:8080/api/v2/users/a/messages?x=1"), "a", lambda: "0"
    )
    assert spans is not None
    spans.end(spans.start(1), None, 202, False)
    [span] = attempt_spans_of(exporter)
    assert (span.attributes or {})["url.full"] == "http://127.0.0.1:8080/api/v2/users/a/messages"
