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

import attrs
from yarl import URL

from . import _convert
from ._auth import Credentials, SignedAttempts
from ._errors import (
    AmbiguousSendError,
    ApiError,
    BwmsgError,
    TransportError,
    api_error_from_response,
)
from ._retry import RetryPolicy, parse_retry_after, retry
from ._transport import Answer, AnswerTimeout, Client, ConnectError, ExchangeError

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
    web: Callable[[], Client],
    credentials: Credentials,
) -> AsyncIterator[MessageSummary]:
    """Every message matching ``filters``, following ``pageInfo`` to the last page.

    ``web`` gives the Sender's client for requests (opening the Sender), ``credentials`` its
    credentials.
    """
    client = web()
    pacer = _pacers.get(sender)
    if pacer is None:
        pacer = _pacers[sender] = _Pacer(LIST_RATE, _BURST)
    url = URL(sender.base_url) / "users" / sender.account_id / "messages"
    params = build_params(filters)
    if page_size is not None:
        params["limit"] = str(page_size)
    seen_tokens: set[str] = set()
    while True:
        attempts = _PageAttempts(sender, client, credentials, pacer, url, params)
        data = await retry(sender.retry, attempts)
        if isinstance(data, BwmsgError):
            raise data
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


class _PageAttempts(SignedAttempts[Any]):
    """The attempts of one page's GET, as the retry loop drives them."""

    __slots__ = ("pacer", "params", "sender", "url")

    def __init__(
        self,
        sender: Sender,
        client: Client,
        credentials: Credentials,
        pacer: _Pacer,
        url: URL,
        params: dict[str, str],
    ) -> None:
        super().__init__(client, credentials)
        self.sender = sender
        self.pacer = pacer
        self.url = url
        self.params = params

    async def once(self) -> Any:
        await self.pacer.acquire()
        headers = await self.headers()
        return await _attempt(self.sender, self.client, self.url, self.params, headers)

    def delay(self, policy: RetryPolicy, error: BwmsgError) -> float | None:
        attempt = self.budget
        if isinstance(error, ApiError) and error.status == 429:
            # The list endpoint's own limit: always wait as told, within max_attempts.
            wait = error.retry_after
            if wait is None:
                wait = policy.backoff(attempt) or 1.0
            self.pacer.pause(wait)
            return 0.0 if attempt < policy.max_attempts else None
        if isinstance(error, AmbiguousSendError):
            # A GET changes nothing: retrying it is always safe.
            return policy.backoff(attempt) if attempt < policy.max_attempts else None
        return policy.next_delay(error, attempt)


async def _attempt(
    sender: Sender,
    client: Client,
    url: URL,
    params: dict[str, str],
    headers: dict[str, str],
) -> Any:
    get_headers = {k: v for k, v in headers.items() if k != "Content-Type"}
    error: BwmsgError
    try:
        answer = await client.request("GET", url, headers=get_headers, params=params)
    except ConnectError as exc:  # nothing reached the API; a refused certificate stays refused
        error = TransportError(
            f"could not list messages at {sender.base_url}: {exc}", retryable=exc.retryable
        )
        error.__cause__ = exc.__cause__ or exc
        return error
    except (ExchangeError, AnswerTimeout) as exc:
        cause = exc.__cause__ or exc
        error = AmbiguousSendError(f"listing messages failed: {type(cause).__name__}: {cause}")
        error.__cause__ = cause
        return error
    return _read(answer)


def _read(answer: Answer) -> Any:
    """The answer's JSON, or the error it stands for."""
    status = answer.status
    payload = answer.body
    if payload is None:
        return AmbiguousSendError("listing messages failed: the answer's body was cut off")
    if 200 <= status < 300:
        try:
            return _convert.loads(payload)
        except (ValueError, RecursionError):
            return ApiError(status, type="unreadable", description="not JSON")
    return api_error_from_response(
        status,
        payload,
        reason=answer.reason,
        retry_after=parse_retry_after(answer.headers.get("retry-after")),
    )
