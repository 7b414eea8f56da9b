"""The Sender: its lifecycle, ``send`` and one request's attempts (the hooks the retry loop
of bwmsg._retry calls), and the public faces of ``send_many`` (its machinery: bwmsg._many) and
``list_messages`` (bwmsg._listing). What an answer means is bwmsg._outcomes; the wire is
bwmsg._transport; the settings are bwmsg._config.

Over 500 lines (about 850, 200 of them docstrings) for a reason: what is left is
one class whose methods share the state of one open Sender (its credentials, gate, transport
and counters) on the hot path; splitting it further would pass that state across modules or
add a call per message.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Coroutine,
    Iterable,
    Sequence,
)
from types import TracebackType
from typing import TYPE_CHECKING, Any

from . import _convert, _media, _transport
from ._auth import BasicCredentials, ClientCredentials, Credentials
from ._config import (
    DEFAULT_BASE_URL,
    DEFAULT_TOKEN_URL,
    SenderConfig,
    from_environment,
    sender_config,
)
from ._errors import (
    AmbiguousSendError,
    BwmsgError,
    FieldError,
    RateLimitedError,
    RequestValidationError,
    StoppedError,
)
from ._lifecycle import Lifecycle, warn_if_open
from ._limit import Limit
from ._listing import DateTime, MessageSummary
from ._listing import list_messages as _list_messages
from ._many import Many, Slot, uncancel
from ._models import Message, MessageRequest, Outcome, SendResult
from ._outcomes import (
    answer_outcome,
    attempt_result,
    failure_outcome,
    message_from_request,
    short,
)
from ._retry import Attempts, RetryPolicy, retry
from ._stats import Observer, Observers, SenderStats, Stats
from ._throttle import RateLimit, open_gate
from ._tracing import AttemptSpans, attempt_spans
from ._transport import (
    AnswerTimeout,
    ConnectError,
    ExchangeError,
    SessionTransport,
    Settings,
    Transport,
)

if TYPE_CHECKING:
    import aiohttp

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_TOKEN_URL", "Sender", "observer_of", "watch"]

logger = logging.getLogger("bwmsg")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("bwmsg")
    except Exception:  # not installed (run from a checkout)
        return "0"


class Sender:
    """Sends messages through Bandwidth's Messaging V2 API.

    Messages go out over the Sender's own HTTP/1.1 keep-alive pool (at most ``concurrency``
    connections), unless ``session`` or ``trace_configs`` is given; OAuth2 tokens and
    :meth:`list_messages` go through aiohttp.

    Use it as an async context manager, or call :meth:`aclose` when done::

        async with Sender(account_id, username, password, application_id=app_id) as sender:
            message = await sender.send(MessageRequest(to="+19195551212", from_=..., text="hi"))

    Args:
        account_id: the Bandwidth account id.
        username: API user name for HTTP Basic auth (with ``password``).
        password: API password. Never shown by ``repr`` or logs.
        client_id: OAuth2 client id (with ``client_secret``), instead of username/password.
        client_secret: OAuth2 client secret.
        token_url: where OAuth2 tokens are obtained.
        application_id: used for every request that carries none.
        base_url: the API root, ``https://messaging.bandwidth.com/api/v2`` by default (the
            legacy ``https://api.catapult.inetwork.com/v2`` works too, and so does a simulator's).
        concurrency: the most requests in flight at once (also the connection pool's size).
        rate: a :class:`~bwmsg.RateLimit` to stay under, or None for no client-side throttle.
        retry: the :class:`~bwmsg.RetryPolicy`.
        timeout: seconds one attempt may take; the first half of it may go to connecting.
        session: an ``aiohttp.ClientSession`` to send through instead of the Sender's own
            HTTP pool (for your own connector settings). The Sender leaves it open when it
            closes, and changes nothing about it: only an explicit ``proxy`` is applied to its
            requests, the rest is the session's own ``trust_env``.
        trace_configs: ``aiohttp.TraceConfig`` objects (OpenTelemetry's aiohttp
            instrumentation, say): the Sender then sends through an aiohttp session of its own
            that carries them, instead of its HTTP pool. Not allowed with ``session``.
        ssl: TLS settings: True (the default) verifies certificates against the system's
            trust store; an ``ssl.SSLContext`` uses yours (a private CA, client certificates).
            False turns verification off and is meant only for a local test server.
        proxy: an HTTP proxy for every request (messages, tokens, listing):
            ``http://[user:pass@]host:port``. An ``https://`` API is reached through it with
            ``CONNECT``; the credentials are never shown by ``repr``, logs or errors.
        trust_env: without ``proxy``, take the proxy from ``HTTPS_PROXY``, ``HTTP_PROXY`` or
            ``ALL_PROXY`` unless ``NO_PROXY`` names the host (either case; read when the
            Sender is made, as :func:`urllib.request.getproxies` does). False: connect directly.

    Raises:
        ValueError: for missing or contradictory settings, naming the setting.
    """

    def __init__(
        self,
        account_id: str,
        username: str | None = None,
        password: str | None = None,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        token_url: str = DEFAULT_TOKEN_URL,
        application_id: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        concurrency: int = 50,
        rate: RateLimit | None = None,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, so sharing is safe
        timeout: float = 30.0,
        session: aiohttp.ClientSession | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
        ssl: ssl_module.SSLContext | bool = True,
        proxy: str | None = None,
        trust_env: bool = True,
    ) -> None:
        config = sender_config(
            account_id,
            username,
            password,
            client_id=client_id,
            client_secret=client_secret,
            token_url=token_url,
            application_id=application_id,
            base_url=base_url,
            concurrency=concurrency,
            rate=rate,
            retry=retry,
            timeout=timeout,
            session=session,
            trace_configs=trace_configs,
            ssl=ssl,
            proxy=proxy,
            trust_env=trust_env,
        )
        self._config = config
        self._settings = _settings_of(config)
        self._proxy = self._settings.proxy_for(config.root)
        token = config.token
        self._proxied = self._proxy is not None or (
            token is not None and self._settings.proxy_for(token) is not None
        )
        self.account_id = account_id
        self.username = config.username
        self.client_id = config.client_id
        self.application_id = application_id
        self.base_url = str(config.root)
        self.token_url = token_url
        self.concurrency = concurrency
        self.rate = rate
        self.retry = retry
        self._session = session
        self._state = Lifecycle.UNOPENED
        self._url = config.messages_url
        self._credentials = _credentials_of(config)
        self._gate = open_gate(rate, account_id)
        self._inflight: Limit | None = None
        self._runs: set[asyncio.Task[Any]] = set()
        self._trace_configs = list(config.trace_configs) if config.trace_configs else None
        # Set when the Sender opens (see _transport/__init__.py): what sends the messages
        # (bwmsg's pool, or aiohttp for a session given or trace_configs), and the aiohttp
        # transport that tokens and listing use.
        self._transport: Transport[Any, Any] | None = None
        self._web: SessionTransport | None = None
        self._head: Any = None
        self._head_for: dict[str, str] | None = None
        self._stats = Stats()
        # Who watches (bwmsg.metrics) and what traces (bwmsg._tracing): None costs one check
        # per attempt. The spans are chosen when the Sender opens.
        self._watch: Observer | None = None
        self._spans: AttemptSpans | None = None

    @classmethod
    def from_env(cls, **overrides: Any) -> Sender:
        """Build a Sender from ``BW_*`` environment variables; keyword arguments win.

        Reads ``BW_ACCOUNT_ID``, ``BW_USERNAME``, ``BW_PASSWORD``, ``BW_CLIENT_ID``,
        ``BW_CLIENT_SECRET``, ``BW_MESSAGING_APPLICATION_ID``, ``BW_MESSAGING_BASE_URL`` and
        ``BW_OAUTH_TOKEN_URL`` (empty values count as unset). Any other :class:`Sender`
        argument may be passed too.
        """
        kwargs = from_environment(overrides)
        return cls(**kwargs)

    def __del__(self) -> None:
        state = getattr(self, "_state", Lifecycle.CLOSED)  # __init__ may have failed early
        warn_if_open(self, state, "use `async with Sender(...)`, or await aclose()")

    def __repr__(self) -> str:
        who = (
            f"username={self.username!r}"
            if self.client_id is None
            else f"client_id={self.client_id!r}"
        )
        via = f" proxy={self._proxy.where!r}" if self._proxy is not None else ""
        return (
            f"<Sender account_id={self.account_id!r} auth={self._credentials.kind} {who} "
            f"base_url={self.base_url!r}{via} concurrency={self.concurrency} "
            f"state={self._state.value}>"
        )

    # -- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> Sender:
        self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` has been called."""
        return self._state is Lifecycle.CLOSED

    @property
    def timeout(self) -> float:
        """Seconds one attempt may take; every transport reads it at each request."""
        return self._settings.timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        self._settings.timeout = float(value)

    def _open(self) -> SessionTransport:
        if self._state is Lifecycle.CLOSED:
            raise RuntimeError("this Sender is closed; create a new one")
        if self._web is None:
            # No default headers when a proxy is used: aiohttp sends a session's default
            # headers to the proxy too, their Authorization as Proxy-Authorization (the API's
            # password); each request then carries its own.
            defaults = None if self._proxied else self._credentials.static_headers
            web = SessionTransport(
                self._url,
                self._settings,
                session=self._session,
                trace_configs=self._trace_configs,
                concurrency=self.concurrency,
                headers=defaults,
            )
            self._transport = _transport.send_transport(self._url, self._settings, web)
            self._web = web
            self._inflight = Limit(self.concurrency)
            self._spans = attempt_spans(self._url, self.account_id, _version)
            self._state = Lifecycle.OPEN
        return self._web

    async def aclose(self) -> None:
        """Close the Sender and the session it owns. Safe to call more than once.

        A :meth:`send_many` still running is stopped.
        """
        if self._state is Lifecycle.CLOSED:
            return
        self._state = Lifecycle.CLOSED
        for task in list(self._runs):
            task.cancel()
        if self._runs:
            await asyncio.gather(*self._runs, return_exceptions=True)
        if self._transport is not None:
            await self._transport.aclose()
        if self._web is not None:
            await self._web.aclose()  # closes only a session of its own
        await self._gate.aclose()

    def stats(self) -> SenderStats:
        """Counters of this Sender so far: outcomes, attempts, retries, in flight, rate, latency.

        Cheap enough to call every second from a progress display.
        """
        try:
            now = asyncio.get_running_loop().time()
        except RuntimeError:
            now = 0.0
        return self._stats.snapshot(now)

    # -- one message -----------------------------------------------------------------------------

    async def send(self, request: MessageRequest) -> Message:
        """Send one message, retrying as :attr:`retry` allows.

        Returns:
            Bandwidth's answer.

        Raises:
            RequestValidationError: the request has no application id and the Sender none.
            ApiError: a subclass for the final error status (the message was not sent).
            TransportError: the request never reached the server (not sent).
            AmbiguousSendError: the message may have been sent.
        """
        result = await self._dispatch(request, 0)
        if result.message is not None:
            return result.message
        assert result.error is not None
        raise result.error

    async def _dispatch(
        self, request: MessageRequest, index: int, slot: Slot | None = None
    ) -> SendResult:
        """Send one request with retries; never raises for the message's own failure.

        With a ``slot`` (send_many's workers), ``slot.written`` says while the request may be
        on the wire, and a stop of its run ends the request with a result instead of raising.
        """
        if not isinstance(request, MessageRequest):
            raise TypeError(
                f"expected a MessageRequest at index {index}, got {type(request).__name__}"
            )
        self._open()
        loop = asyncio.get_running_loop()
        if request.application_id is None and self.application_id is None:
            return self._invalid(request, index)
        tries = _Tries(self, request, index, slot, loop)
        try:
            outcome = await retry(self.retry, tries)
        except asyncio.CancelledError:
            if slot is None or not slot.run.stopping:
                raise
            uncancel()
            return self._stopped(tries, slot.written)
        if not isinstance(outcome, BwmsgError):
            return self._sent(tries, outcome, loop.time())
        if tries.stop:
            return self._stopped(tries, False)
        return self._failed(tries, outcome)

    def _once(self, tries: _Tries) -> Coroutine[Any, Any, Message | BwmsgError | None]:
        """One attempt of a send, as the retry loop makes it: straight to the exchange when
        nothing is to be waited for or told (the gate open, the credentials' headers at hand,
        no observer, the run going on), else through :meth:`_waited`. A coroutine handed back,
        not awaited here: one frame less for every message."""
        loop = tries.loop
        headers = self._credentials.static_headers
        slot = tries.slot
        if (
            headers is None
            or self._watch is not None
            or (slot is not None and slot.run.stopping)
            or not self._gate.open_at(loop.time())
        ):
            return self._waited(tries)
        tries.attempt += 1
        tries.used = headers
        return self._attempt(tries, headers, slot, loop)

    async def _waited(self, tries: _Tries) -> Message | BwmsgError | None:
        """One attempt that may wait: the gate, the credentials, then the exchange."""
        slot = tries.slot
        if slot is not None and slot.run.stopping:  # stopped between two attempts
            tries.stop = True
            return StoppedError("send_many was stopped")
        tries.attempt += 1
        tries.used = None
        loop = tries.loop
        gate, watch = self._gate, self._watch
        began = loop.time()
        if not gate.open_at(began):
            try:
                await gate.wait(tries.request)
            except BwmsgError as exc:  # the gate cannot say (its store is out of reach)
                return exc
        if watch is not None:
            watch.waited(loop.time() - began)
        headers = self._credentials.static_headers
        if headers is None:
            assert self._web is not None  # opened by _dispatch
            try:
                headers = await self._credentials.headers(self._web)
            except BwmsgError as exc:  # no token could be had (its own retries spent): not made
                tries.attempt -= 1
                tries.final = True
                return exc
        tries.used = headers
        return await self._attempt(tries, headers, slot, loop)

    async def _attempt(
        self,
        tries: _Tries,
        headers: dict[str, str],
        slot: Slot | None,
        loop: asyncio.AbstractEventLoop,
    ) -> Message | BwmsgError | None:
        """One attempt through the transport: what its answer or failure means (counted,
        told to the observer, traced)."""
        stats = self._stats
        inflight = self._inflight
        transport = self._transport
        assert inflight is not None
        assert transport is not None
        stats.attempts += 1
        if tries.attempt > 1:
            stats.retries += 1
        if not inflight.try_acquire():
            await inflight.acquire()
        stats.in_flight += 1
        spans = self._spans
        span = None if spans is None else spans.start(tries.attempt)
        sent_at = loop.time()
        deadline = sent_at + self._settings.timeout
        outcome: Message | BwmsgError | None
        status: int | None = None
        timed_out = False
        try:
            # Serialised once a slot is free, not before: a request waiting for its turn holds
            # no body (orjson's output keeps a 4 KiB buffer), so many waiting sends stay cheap.
            body = tries.body or self._body(tries)
            if headers is not self._head_for:
                self._head = transport.prepare(headers)
                self._head_for = headers
            link = await transport.connection(deadline)
            tries.made += 1
            if slot is not None:
                slot.written = True
            answer = await transport.exchange(link, self._head, body, deadline)
            status = answer.status
            outcome = answer_outcome(answer)
        except (ConnectError, ExchangeError, AnswerTimeout) as exc:
            outcome = failure_outcome(exc, self.base_url, self.timeout)
            timed_out = isinstance(exc, AnswerTimeout)
        except BaseException:  # cancelled (send_many's stop, the Sender closing)
            if spans is not None and span is not None:
                spans.cancelled(span)
            raise
        finally:
            stats.in_flight -= 1
            inflight.release()
        if slot is not None:
            slot.written = False  # answered (or failed): nothing on the wire now
        seconds = loop.time() - sent_at
        stats.latency(seconds)
        watch = self._watch
        if watch is not None:
            watch.attempted(attempt_result(outcome), seconds)
        if spans is not None and span is not None:
            spans.end(span, outcome, status, timed_out)
        return outcome

    def _body(self, tries: _Tries) -> bytes:
        body = _convert.dumps(_convert.request_to_dict(tries.request, self.application_id))
        tries.body = body
        return body

    def _invalid(self, request: MessageRequest, index: int) -> SendResult:
        """The result of a request without an application id (none on the Sender either)."""
        invalid = RequestValidationError(
            [
                FieldError(
                    field_name="applicationId",
                    description="required: set it on the request or pass "
                    "application_id= to the Sender (BW_MESSAGING_APPLICATION_ID)",
                )
            ]
        )
        self._stats.failed += 1
        self._stats.finished(asyncio.get_running_loop().time())
        return SendResult(index=index, request=request, outcome=Outcome.FAILED, error=invalid)

    def _sent(self, tries: _Tries, message: Message | None, now: float) -> SendResult:
        self._stats.sent += 1
        self._stats.finished(now)
        return SendResult(
            index=tries.index,
            request=tries.request,
            outcome=Outcome.SENT,
            message=message or message_from_request(tries.request, self.application_id),
            attempts=tries.attempt,
            elapsed=now - tries.started,
        )

    def _noted(self, tries: _Tries, error: BwmsgError, delay: float | None) -> None:
        """Remember a failed attempt, log it, and after a 429 pause the whole Sender."""
        tries.last = error
        if isinstance(error, AmbiguousSendError):
            tries.ambiguous = error
        logger.debug(
            "send attempt %d failed: %s; %s",
            tries.attempt,
            short(error),
            "giving up" if delay is None else f"retrying in {delay:.3f}s",
        )
        if isinstance(error, RateLimitedError):
            self._gate.pause(delay if delay is not None else self.retry.backoff(tries.budget))

    def _failed(self, tries: _Tries, error: BwmsgError) -> SendResult:
        """The result of a request whose last attempt failed and will not be retried."""
        ambiguous = tries.ambiguous
        if ambiguous is not None and error is not ambiguous:
            final = AmbiguousSendError(
                f"the message may have been sent: attempt {tries.attempt} failed with "
                f"{short(error)}, after an earlier attempt that may have been "
                f"accepted ({short(ambiguous)})"
            )
            final.__cause__ = error
            error = final
        return self._ended(tries, error, ambiguous is not None, tries.attempt)

    def _stopped(self, tries: _Tries, written: bool) -> SendResult:
        """The result of a request that send_many's stop ended before it finished."""
        error: BwmsgError
        last = tries.last
        if written:
            error = AmbiguousSendError(
                "send_many was stopped while waiting for the answer: the message may have been sent"
            )
        elif tries.ambiguous is not None:
            error = tries.ambiguous
        else:
            made = tries.made
            after = f" (after {made} failed attempt(s), the last: {short(last)})" if last else ""
            error = StoppedError(f"send_many was stopped before this request was sent{after}")
            if last is not None:
                error.__cause__ = last
        return self._ended(tries, error, not isinstance(error, StoppedError), tries.made)

    def _ended(self, tries: _Tries, error: BwmsgError, unknown: bool, attempts: int) -> SendResult:
        """A request's result without a message: counted, as UNKNOWN or FAILED."""
        if unknown:
            self._stats.unknown += 1
        else:
            self._stats.failed += 1
        now = asyncio.get_running_loop().time()
        self._stats.finished(now)
        return SendResult(
            index=tries.index,
            request=tries.request,
            outcome=Outcome.UNKNOWN if unknown else Outcome.FAILED,
            error=error,
            attempts=attempts,
            elapsed=now - tries.started,
        )

    # -- many messages ---------------------------------------------------------------------------

    def send_many(
        self,
        requests: Iterable[MessageRequest] | AsyncIterable[MessageRequest],
        *,
        ordered: bool = False,
        stop: asyncio.Event | None = None,
        grace: float | asyncio.Event | None = None,
    ) -> AsyncGenerator[SendResult, None]:
        """Send every request, yielding one :class:`~bwmsg.SendResult` per request.

        The input (any iterable or async iterable) is consumed lazily: at most
        ``concurrency`` requests are in flight and at most ``2 * concurrency`` taken from the
        input and not yet yielded, so memory does not grow with the input's length. One
        message's failure never raises: it is a result. An exception raised by the input
        itself ends the iteration after the results of the requests already taken.

        Args:
            requests: the requests.
            ordered: yield results in input order (finished results that wait for an earlier
                one are buffered, within the same bound); otherwise as they finish.
            stop: set it to stop cleanly. No more requests are taken from the input. A
                request not yet written to a connection (waiting for the throttle, a slot, a
                token, a retry's delay or a connection) ends at once as ``FAILED`` with a
                :class:`~bwmsg.StoppedError`: certainly not sent (``UNKNOWN`` instead when an
                earlier attempt of it may have been accepted). Requests already written get
                ``grace``; those still unanswered after it end ``UNKNOWN``. Every request
                taken from the input gets its result, and then the iteration ends normally.
            grace: after ``stop``, how long written requests may take to be answered:
                seconds, or an ``asyncio.Event`` whose setting ends it; None (the default)
                waits for every answer (each bounded by the Sender's ``timeout``).

        Returns:
            An async generator: ``await results.aclose()`` (or ``contextlib.aclosing``) stops
            it early and cancels its requests in flight.
        """
        many = Many(self._dispatch, requests, self.concurrency, stop, grace)
        return many.results(ordered, self._open, self._runs)

    # -- looking messages up ---------------------------------------------------------------------

    def list_messages(
        self,
        *,
        message_id: str | None = None,
        source_tn: str | None = None,
        destination_tn: str | None = None,
        message_status: str | None = None,
        message_direction: str | None = None,
        message_type: str | None = None,
        error_code: int | None = None,
        carrier_name: str | None = None,
        campaign_id: str | None = None,
        from_date_time: DateTime | None = None,
        to_date_time: DateTime | None = None,
        sort: str | None = None,
        page_size: int | None = None,
        **more: Any,
    ) -> AsyncIterator[MessageSummary]:
        """Look messages up (``GET /users/{accountId}/messages``), every page of the answer.

        An async iterator of :class:`~bwmsg.MessageSummary`; pages are fetched as it is
        consumed, following ``pageInfo``. The endpoint's own limit (3,500 requests per
        5 minutes) is kept by a throttle shared by every listing of this Sender, and a 429 is
        waited out as its ``Retry-After`` says. Other failures are retried as :attr:`retry`
        allows (timeouts too: a GET changes nothing) and then raised.

        Args:
            message_id: one message id.
            source_tn: the sending number (a comma-separated list of up to 10, or a partial
                number of at least 5 characters).
            destination_tn: the recipient, likewise.
            message_status: ``RECEIVED``, ``QUEUED``, ``SENDING``, ``SENT``, ``FAILED``,
                ``DELIVERED``, ``ACCEPTED`` or ``UNDELIVERED``.
            message_direction: ``INBOUND`` or ``OUTBOUND``.
            message_type: ``sms``, ``mms`` or ``rcs``.
            error_code: the message's error code.
            carrier_name: e.g. ``Verizon``.
            campaign_id: the 10DLC campaign id.
            from_date_time: the start of the range (receive time); an aware datetime or an
                ISO-8601 string. Bandwidth searches at most 14 days.
            to_date_time: the end of the range.
            sort: field and direction, e.g. ``receiveTime:asc``.
            page_size: messages per page (Bandwidth's ``limit``, 100 by default).
            more: any other query parameter of the endpoint, in snake_case
                (``from_segment_count=2``).
        """
        filters: dict[str, Any] = {
            "message_id": message_id,
            "source_tn": source_tn,
            "destination_tn": destination_tn,
            "message_status": message_status,
            "message_direction": message_direction,
            "message_type": message_type,
            "error_code": error_code,
            "carrier_name": carrier_name,
            "campaign_id": campaign_id,
            "from_date_time": from_date_time,
            "to_date_time": to_date_time,
            "sort": sort,
            **more,
        }
        return _list_messages(
            self, filters, page_size, web=self._open, credentials=self._credentials
        )

    # -- media -----------------------------------------------------------------------------------

    async def upload_media(
        self, media_id: str, data: bytes | bytearray | memoryview, content_type: str
    ) -> str:
        """Upload a file to Bandwidth's media store (``PUT /users/{accountId}/media/{mediaId}``)
        and return its URL, to put in ``MessageRequest(media=[url])``.

        A file uploaded again under the same ``media_id`` replaces the earlier one; Bandwidth
        keeps media 48 hours. Failures are retried as :attr:`retry` allows, timeouts and
        dropped connections too (a PUT done twice leaves the same file); a 401 with an OAuth2
        token renews the token once.

        Args:
            media_id: the file's name: segments of letters, digits, ``.``, ``_``, ``-`` and
                ``~`` separated by single ``/`` (``campaign-7/photo.jpg``), no ``.`` or
                ``..`` segment, no leading or trailing ``/``, at most 512 characters.
            data: the file's bytes, at most 3,500,000 (Bandwidth's MMS limit).
            content_type: its media type, such as ``image/jpeg``.

        Returns:
            ``{base_url}/users/{accountId}/media/{mediaId}``.

        Raises:
            ValueError: a ``media_id``, ``content_type`` or ``data`` that breaks these rules
                (nothing was sent).
            TypeError: ``data`` is not bytes, bytearray or memoryview.
            ApiError: a subclass for the final error status (the file was not stored).
            TransportError: the request never reached the server.
            AmbiguousSendError: every attempt failed, the last after the request was sent:
                the file may have been stored.
        """
        return await _media.upload_media(
            self, media_id, data, content_type, web=self._open, credentials=self._credentials
        )

    async def delete_media(self, media_id: str) -> None:
        """Delete a file from Bandwidth's media store (``DELETE
        /users/{accountId}/media/{mediaId}``).

        Retried as :meth:`upload_media` is. A 404 after an earlier attempt that got no answer
        counts as done (that attempt deleted it).

        Args:
            media_id: the name it was uploaded under (the rules of :meth:`upload_media`).

        Raises:
            ValueError: ``media_id`` breaks the rules (nothing was sent).
            NotFoundError: there is no such file.
            ApiError: a subclass for any other final error status.
            TransportError: the request never reached the server.
            AmbiguousSendError: every attempt failed, the last after the request was sent.
        """
        await _media.delete_media(self, media_id, web=self._open, credentials=self._credentials)


def watch(sender: Sender, observer: Observer) -> Stats:
    """Make ``observer`` hear of ``sender``'s attempts, waits at its gate and the campaign runs
    on it (once, however often it is given); returns the Sender's counters, for a metrics
    collector to read at scrape time."""
    current = sender._watch
    if current is None:
        sender._watch = observer
    elif current is not observer:
        known = current.observers if isinstance(current, Observers) else (current,)
        if not any(o is observer for o in known):
            sender._watch = Observers(*known, observer)
    return sender._stats


def observer_of(sender: Sender) -> Observer | None:
    """What watches ``sender`` (see :func:`watch`), or None: a campaign run tells it of its
    journal writes and rows."""
    return sender._watch


class _Tries(Attempts["Message | None"]):
    """One request's attempts so far, as the retry loop drives them (see bwmsg._retry)."""

    __slots__ = (
        "ambiguous",
        "attempt",
        "body",
        "final",
        "index",
        "last",
        "loop",
        "made",
        "request",
        "sender",
        "slot",
        "started",
        "stop",
    )

    def __init__(
        self,
        sender: Sender,
        request: MessageRequest,
        index: int,
        slot: Slot | None,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(sender._credentials)
        self.sender = sender
        self.request = request
        self.index = index
        self.slot = slot
        self.loop = loop
        self.started = loop.time()
        self.body: bytes | None = None  # serialised at the first attempt
        self.attempt = 0  # attempts begun, a renewed token's retry included
        self.ambiguous: AmbiguousSendError | None = None  # the last attempt that may have sent
        self.last: BwmsgError | None = None
        self.made = 0  # attempts written to a connection
        self.final = False  # the last error is not to be retried (no token could be had)
        self.stop = False  # send_many's run stopped between two attempts

    def once(self) -> Coroutine[Any, Any, Message | BwmsgError | None]:
        return self.sender._once(self)  # the attempt's coroutine itself: no frame between

    def delay(self, policy: RetryPolicy, error: BwmsgError) -> float | None:
        if self.final or self.stop:
            return None
        return policy.next_delay(error, self.budget)

    def failed(self, error: BwmsgError, delay: float | None) -> None:
        if not self.stop:
            self.sender._noted(self, error, delay)

    def renews(self, error: BwmsgError) -> bool:
        renewed = super().renews(error)
        if renewed:
            logger.debug("send attempt %d: 401 with a token, renewing it", self.attempt)
        return renewed


def _settings_of(config: SenderConfig) -> Settings:
    """The connection settings every transport reads. The proxy of each endpoint is chosen
    now (NO_PROXY may exempt one host, not another). A session given by the user gets only an
    explicit one: its own trust_env decides the rest."""
    token = config.token
    return Settings(
        timeout=config.timeout,
        ssl=config.ssl,
        proxy=config.proxy,
        trust_env=config.trust_env and config.session is None,
        origins=[config.root] if token is None else [config.root, token],
    )


def _credentials_of(config: SenderConfig) -> Credentials:
    """The Sender's credentials, with the headers every request carries."""
    base = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": f"bwmsg/{_version()}",
    }
    if config.client_id is not None and config.client_secret is not None:
        return ClientCredentials(
            config.client_id, config.client_secret, config.token_url, base, config.retry
        )
    assert config.username is not None
    assert config.password is not None
    return BasicCredentials(config.username, config.password, base)
