"""``GET /users/{accountId}/messages``: look messages up, page by page, within its rate limit.

The list endpoint has a rate limit of its own (3,500 requests per 5 minutes per source IP)
and, unlike the send endpoint, answers 429 with ``Retry-After``. A GET changes nothing, so a
timeout or a dropped connection is always safe to retry.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeAlias

import aiohttp
import attrs
from yarl import URL

from . import _convert
from ._auth import Credentials
from ._errors import (
    AmbiguousSendError,
    ApiError,
    AuthenticationError,
    BwmsgError,
    TransportError,
    api_error_from_response,
)
from ._retry import parse_retry_after
from ._transport._proxy import refusal

if TYPE_CHECKING:
    from ._sender import Sender

__all__ = ["LIST_RATE", "DateTime", "MessageSummary", "list_messages"]

DateTime: TypeAlias = "datetime | str"

LIST_RATE = 3500 / 300  # requests per second: Bandwidth's 3,500 per 5 minutes
_BURST = 20.0


@attrs.frozen(kw_only=True)
class MessageSummary:
    """One message as the list endpoint describes it (``listMessageItem``).

    Every field may be None: the answer is read leniently. Status, direction and type are
    kept as the strings sent (``"DELIVERED"``, ``"OUTBOUND"``, ``"sms"`` ...).
    """

    message_id: str | None = None
    account_id: str | None = None
    source_tn: str | None = None
    destination_tn: str | None = None
    message_status: str | None = None
    message_direction: str | None = None
    message_type: str | None = None
    segment_count: int | None = None
    error_code: int | None = None
    receive_time: datetime | None = None
    carrier_name: str | None = None
    message_size: int | None = None
    message_length: int | None = None
    attachment_count: int | None = None
    recipient_count: int | None = None
    campaign_class: str | None = None
    campaign_id: str | None = None
    bw_latency: int | None = None
    carrier_latency: int | None = None
    calling_number_country_a3: str | None = None
    called_number_country_a3: str | None = None
    product: str | None = None
    location: str | None = None


_FIELDS = {_convert.camel(a.name): a for a in attrs.fields(attrs.resolve_types(MessageSummary))}


def summary_from_json(data: Any) -> MessageSummary:
    """Read a :class:`MessageSummary`, keeping every field that reads (never raises)."""
    if not isinstance(data, Mapping):
        return MessageSummary()
    values: dict[str, Any] = {}
    for key, attribute in _FIELDS.items():
        value = data.get(key)
        if value is None:
            continue
        try:
            values[attribute.name] = _convert.converter.structure(value, attribute.type)  # type: ignore[arg-type]
        except Exception:  # a malformed field reads as absent
            continue
    return MessageSummary(**values)


class _Pacer:
    """A token bucket for the list endpoint, shared by every listing of one Sender."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.last: float | None = None
        self.paused_until = 0.0
        self.lock = asyncio.Lock()

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        async with self.lock:
            while True:
                now = loop.time()
                if self.last is not None:
                    self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
                self.last = now
                wait = self.paused_until - now
                if wait <= 0 and self.tokens >= 1:
                    self.tokens -= 1
                    return
                wait = max(wait, (1 - self.tokens) / self.rate)
                await asyncio.sleep(wait)

    def pause(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        self.paused_until = max(self.paused_until, loop.time() + seconds)


_pacers: weakref.WeakKeyDictionary[Sender, _Pacer] = weakref.WeakKeyDictionary()


def _date(value: datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    stamp = value.astimezone(timezone.utc).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def build_params(filters: Mapping[str, Any]) -> dict[str, str]:
    """Query parameters from snake_case filters; None values are left out."""
    params: dict[str, str] = {}
    for name, value in filters.items():
        if value is None:
            continue
        if isinstance(value, datetime):
            value = _date(value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        params[_convert.camel(name)] = str(value)
    return params


async def list_messages(
    sender: Sender,
    filters: Mapping[str, Any],
    page_size: int | None,
    *,
    session: Callable[[], aiohttp.ClientSession],
    credentials: Credentials,
    options: Mapping[str, Any],
) -> AsyncIterator[MessageSummary]:
    """Every message matching ``filters``, following ``pageInfo`` to the last page.

    ``session`` gives the Sender's session (opening the Sender), ``credentials`` its
    credentials; ``options`` go to every aiohttp request (timeout, ssl, proxy).
    """
    client = session()
    pacer = _pacers.get(sender)
    if pacer is None:
        pacer = _pacers[sender] = _Pacer(LIST_RATE, _BURST)
    url = URL(sender.base_url) / "users" / sender.account_id / "messages"
    params = build_params(filters)
    if page_size is not None:
        params["limit"] = str(page_size)
    seen_tokens: set[str] = set()
    while True:
        data = await _get(sender, client, credentials, pacer, url, params, options)
        items = data.get("messages") if isinstance(data, dict) else None
        if not isinstance(items, list):
            items = []
        for item in items:
            yield summary_from_json(item)
        page = data.get("pageInfo") if isinstance(data, dict) else None
        token = _next_token(page)
        if not items or token is None or token in seen_tokens:
            return
        seen_tokens.add(token)
        params = {**params, "pageToken": token}


def _next_token(page: Any) -> str | None:
    if not isinstance(page, dict):
        return None
    token = page.get("nextPageToken")
    if isinstance(token, str) and token:
        return token
    link = page.get("nextPage")
    if isinstance(link, str) and link:
        query = URL(link).query
        for key in ("pageToken", "nextPage"):
            value = query.get(key)
            if value:
                return value
    return None


async def _get(
    sender: Sender,
    session: aiohttp.ClientSession,
    credentials: Credentials,
    pacer: _Pacer,
    url: URL,
    params: dict[str, str],
    options: Mapping[str, Any],
) -> Any:
    policy = sender.retry
    attempt = 0
    renewed = False
    while True:
        attempt += 1
        await pacer.acquire()
        headers = await credentials.headers(session)
        outcome = await _attempt(sender, session, url, params, headers, options)
        if not isinstance(outcome, BwmsgError):
            return outcome
        if (
            isinstance(outcome, AuthenticationError)
            and not renewed
            and credentials.renew_after_401(headers)
        ):
            renewed = True
            attempt -= 1
            continue
        delay: float | None
        if isinstance(outcome, ApiError) and outcome.status == 429:
            # The list endpoint's own limit: always wait as told, within max_attempts.
            wait = outcome.retry_after
            if wait is None:
                wait = policy.backoff(attempt) or 1.0
            pacer.pause(wait)
            delay = 0.0 if attempt < policy.max_attempts else None
        elif isinstance(outcome, AmbiguousSendError):
            # A GET changes nothing: retrying it is always safe.
            delay = policy.backoff(attempt) if attempt < policy.max_attempts else None
        else:
            delay = policy.next_delay(outcome, attempt)
        if delay is None:
            raise outcome
        if delay > 0:
            await asyncio.sleep(delay)


async def _attempt(
    sender: Sender,
    session: aiohttp.ClientSession,
    url: URL,
    params: dict[str, str],
    headers: dict[str, str],
    options: Mapping[str, Any],
) -> Any:
    get_headers = {k: v for k, v in headers.items() if k != "Content-Type"}
    try:
        async with session.get(
            url,
            params=params,
            headers=get_headers,
            raise_for_status=False,
            allow_redirects=False,
            **options,
        ) as response:
            status = response.status
            payload = await response.read()
            if 200 <= status < 300:
                try:
                    return _convert.loads(payload)
                except (ValueError, RecursionError):
                    return ApiError(status, type="unreadable", description="not JSON")
            return api_error_from_response(
                status,
                payload,
                reason=response.reason,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
    except aiohttp.ClientHttpProxyError as exc:  # CONNECT refused: nothing reached the API
        refused = refusal(exc)
        error: BwmsgError = TransportError(
            f"could not list messages at {sender.base_url}: {refused}", retryable=refused.retryable
        )
        error.__cause__ = refused  # aiohttp's own text carries the proxy's reason unsanitised
        return error
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
        error = TransportError(f"could not connect to {sender.base_url}: {exc}")
        error.__cause__ = exc
        return error
    except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
        error = AmbiguousSendError(f"listing messages failed: {type(exc).__name__}: {exc}")
        error.__cause__ = exc
        return error
