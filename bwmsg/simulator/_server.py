"""The simulator itself: an aiohttp.web application that plays Bandwidth's send endpoint.

It also plays the OAuth2 token endpoint (client credentials grant), so that a Sender using
``client_id``/``client_secret`` can be tested against it.

Why this module is over 500 lines: it is the one class whose settings can change while it
runs (faults, rate, callbacks, tokens), with its lifecycle and the three endpoints' handlers,
kept thin; their rules live beside it (``_validate``, ``_list``, ``_records``, ``_wire``,
``_callbacks``). The token endpoint's state is in ``_tokens``, the media endpoints are
``_media``, inbound messages' events ``_inbound``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import itertools
import math
import random
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from aiohttp import web

from .._lifecycle import Lifecycle, StartStop, warn_if_open
from .._serve import serve
from ._callbacks import CallbackPoster, Callbacks
from ._faults import Faults
from ._inbound import INBOUND_PATH, add_inbound_route, inbound_event
from ._list import list_filter, list_items
from ._media import MAX_MEDIA_BYTES, MediaStore, MediaUpload
from ._records import AcceptedMessage, AccountQueue, TokenRequest
from ._segments import segment_count
from ._tokens import Tokens, check_token_failures
from ._validate import validate
from ._wire import (
    BASIC_CHALLENGE,
    BEARER_CHALLENGE,
    JSON,
    RATE_LIMITED,
    SERVER_ERRORS,
    UNAUTHORIZED,
    UNSUPPORTED,
    basic_pair,
    dumps,
    error_body,
    loads,
    timestamp,
)

__all__ = ["AcceptedMessage", "Simulator", "TokenRequest"]


def _check_positive(name: str, value: float | None) -> None:
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a number > 0 or None, got {value!r}")


class Simulator(StartStop):
    """A local stand-in for Bandwidth's Messaging V2 send endpoint.

    An async context manager that serves ``POST /api/v2/users/{accountId}/messages`` (and the
    legacy ``/v2/users/{userId}/messages``) on a real socket::

        async with Simulator(faults=Faults(rate_limited=0.1)) as sim:
            async with Sender("9900000", sim.username, sim.password,
                              application_id="app", base_url=sim.base_url) as sender:
                ...
            assert len(sim.accepted) == ...

    It checks the credentials (401), the content type and that the body is JSON (415),
    validates the body like the service (400 ``request-validation`` with ``fieldErrors``;
    unknown keys are refused) by rules of its own, written from Bandwidth's description and
    not taken from the client (see ``_validate.py``), throttles by segments when ``rate`` is
    set (429 ``max-message-queue-size-exceeded``), injects :class:`Faults`, and answers 202 with a
    Message whose ``id``, ``time``, ``owner``, ``direction`` and ``segmentCount`` are
    computed. Any account id works.

    The messages endpoints take HTTP Basic auth (``username``/``password``) or an OAuth2
    bearer token issued by its own token endpoint, ``POST /api/v1/oauth2/token`` (see
    :attr:`token_url`), which plays the client credentials grant::

        async with Simulator(token_lifetime=0.5) as sim:
            async with Sender("9900000", client_id=sim.client_id,
                              client_secret=sim.client_secret, token_url=sim.token_url,
                              application_id="app", base_url=sim.base_url) as sender:
                ...
            assert len(sim.token_requests) == ...

    The token endpoint wants a form-encoded body ``grant_type=client_credentials`` and the
    client id and secret as HTTP Basic auth. It answers 200 ``{"access_token", "token_type":
    "Bearer", "expires_in"}``; 401 ``invalid_client`` to missing or wrong client
    credentials; 400 ``invalid_request`` to a body that is not a form or has no
    ``grant_type``; 400 ``unsupported_grant_type`` to any other grant. A bearer token that
    expired, was revoked (:meth:`revoke_tokens`) or was never issued is answered 401
    ``unauthorized``, as bad Basic credentials are. :class:`Faults` apply to the messages
    endpoints only; the token endpoint fails on request through :attr:`token_failures`.

    Args:
        username: the Basic auth user name it accepts.
        password: the Basic auth password it accepts.
        client_id: the OAuth2 client id its token endpoint accepts.
        client_secret: the OAuth2 client secret its token endpoint accepts.
        token_lifetime: seconds an issued token lives (may be fractional, > 0); announced as
            ``expires_in``. Assignable while it runs: applies to tokens issued from then on.
        token_failures: statuses (429 or 5xx) to answer the next token requests with, one
            each, in order, before issuing tokens again; see :attr:`token_failures`.
        faults: the :class:`Faults` to inject; change them while it runs with
            ``sim.faults = Faults(...)``.
        seed: seeds the random draws (faults, latency, callbacks) so that the same sequence
            of requests meets the same faults. None: unpredictable.
        host: the address to listen on.
        port: the port; 0 picks a free one (see :attr:`base_url`).
        rate: the account's limit in segments per second (a group message is charged once per
            recipient); None (the default) does not throttle.
        queue_size: segments the account's queue holds before sends are refused with 429;
            defaults to one second's worth of ``rate``.
        callbacks: :class:`Callbacks` to post delivery events to an application's URL, or
            None; may be changed while it runs.
        list_rate: requests per second the list endpoint (``GET .../messages``) allows before
            answering 429 with ``Retry-After``, as Bandwidth's does; None: no limit.

    ``GET /api/v2/users/{accountId}/messages`` lists the accepted messages, one item per
    recipient, with the filters ``messageId``, ``sourceTn``, ``destinationTn`` (full numbers,
    a comma-separated list, or a partial number of 5 or more characters), ``messageStatus``,
    ``messageDirection``, ``messageType``, ``errorCode``, ``fromDateTime`` and
    ``toDateTime``, pages of ``limit`` items (100 by default) and ``pageToken`` from the
    previous page's ``pageInfo.nextPageToken``. A message's status is ``DELIVERED`` or
    ``FAILED`` (with its ``errorCode``) once its callbacks decided it, else ``SENT``.

    ``PUT``, ``GET`` and ``DELETE /api/v2/users/{accountId}/media/{mediaId}`` (and under
    ``/v2``) keep media files in memory, with the same credentials as the messages
    endpoints: PUT (the file's ``Content-Type``, at most 3.5 MB) answers 204, GET the same
    bytes with that content type, DELETE 204; an absent file is 404. Every upload is in
    :attr:`uploads`, what is stored now in :attr:`media`. :meth:`inbound` posts a
    ``message-received`` callback, as if someone had texted one of the account's numbers;
    ``POST /simulator/inbound`` (the simulator's own path, with its credentials; see
    :attr:`inbound_url`) does the same from another process.
    """

    def __init__(
        self,
        *,
        username: str = "user",
        password: str = "pass",
        faults: Faults = Faults(),  # noqa: B008 - frozen, so sharing is safe
        seed: int | str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        rate: float | None = None,
        queue_size: float | None = None,
        callbacks: Callbacks | None = None,
        client_id: str = "client",
        client_secret: str = "secret",
        token_lifetime: float = 3600.0,
        token_failures: Iterable[int] = (),
        list_rate: float | None = None,
    ) -> None:
        if not isinstance(username, str) or not isinstance(password, str):
            raise ValueError("username and password must be strings")
        if not isinstance(client_id, str) or not isinstance(client_secret, str):
            raise ValueError("client_id and client_secret must be strings")
        if ":" in client_id:
            raise ValueError("client_id cannot contain ':' (it is sent as HTTP Basic auth)")
        _check_positive("rate", rate)
        _check_positive("queue_size", queue_size)
        _check_positive("token_lifetime", token_lifetime)
        _check_positive("list_rate", list_rate)
        self.list_rate = list_rate
        """Requests per second the list endpoint allows (None: no limit); assignable."""
        self._list_next = 0.0
        self.username = username
        self.password = password
        self.client_id = client_id
        """The OAuth2 client id the token endpoint accepts."""
        self.client_secret = client_secret
        """The OAuth2 client secret the token endpoint accepts."""
        self._tokens = Tokens(token_lifetime, token_failures)
        self._media = MediaStore()
        self.token_requests: list[TokenRequest] = []
        """Every request to the token endpoint, in order, with how it was answered."""
        self.seed = seed
        self.host = host
        self.port = port
        self.accepted: list[AcceptedMessage] = []
        """Every accepted message, in order, each with its request body."""
        self.counts: Counter[str] = Counter()
        """How requests were answered: ``"202"``, ``"400"``, ``"429"`` ... by status, and
        ``"drop_before_accept"``, ``"drop_after_accept"``, ``"slow"``, ``"throttled"`` by
        fault."""
        self._expected_auth = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode(
            "ascii"
        )
        self._rng = random.Random(seed)
        self._callback_rng = random.Random(None if seed is None else f"{seed}/callbacks")
        self._ids = itertools.count(1)
        self.faults = faults
        self._rate = rate
        self._queue_size = queue_size
        self._throttle = self._make_throttle()
        self._callbacks = callbacks
        self._poster: CallbackPoster | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self._state = Lifecycle.UNOPENED

    def __del__(self) -> None:
        warn_if_open(
            self, getattr(self, "_state", Lifecycle.CLOSED), "use `async with Simulator()`"
        )

    def __repr__(self) -> str:
        where = self.base_url if self._state is Lifecycle.OPEN else self._state.value
        return f"<Simulator {where} accepted={len(self.accepted)} faults={self._faults!r}>"

    # -- settings that may change while running ----------------------------------------------------

    @property
    def faults(self) -> Faults:
        """The faults injected from now on (assign a new :class:`Faults` to change them)."""
        return self._faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        if not isinstance(faults, Faults):
            raise TypeError(f"faults must be a Faults, got {type(faults).__name__}")
        self._faults = faults
        self._thresholds = faults.thresholds()
        self._faulty = faults.any

    @property
    def rate(self) -> float | None:
        """The account throttle in segments per second, or None (assignable)."""
        return self._rate

    @rate.setter
    def rate(self, rate: float | None) -> None:
        _check_positive("rate", rate)
        self._rate = rate
        self._throttle = self._make_throttle()

    @property
    def queue_size(self) -> float | None:
        """Segments the account queue holds; None for one second's worth of rate (assignable)."""
        return self._queue_size

    @queue_size.setter
    def queue_size(self, size: float | None) -> None:
        _check_positive("queue_size", size)
        self._queue_size = size
        self._throttle = self._make_throttle()

    @property
    def token_lifetime(self) -> float:
        """Seconds a token lives; assign to change it for tokens issued from then on."""
        return self._tokens.lifetime

    @token_lifetime.setter
    def token_lifetime(self, seconds: float) -> None:
        _check_positive("token_lifetime", seconds)
        self._tokens.lifetime = float(seconds)

    @property
    def token_failures(self) -> list[int]:
        """Statuses (429 or 5xx) to answer the next token requests with, consumed in order.

        ``sim.token_failures = [503, 502]`` makes the next two token requests fail (with an
        OAuth2 ``temporarily_unavailable`` or ``server_error`` body) and the third succeed.
        """
        return self._tokens.failures

    @token_failures.setter
    def token_failures(self, statuses: Iterable[int]) -> None:
        self._tokens.failures = check_token_failures(statuses)

    def revoke_tokens(self) -> int:
        """Invalidate every token issued so far; requests bearing one are answered 401.

        Returns how many live tokens were revoked. Tokens issued afterwards work as usual.
        """
        return self._tokens.revoke()

    def _make_throttle(self) -> AccountQueue | None:
        if self._rate is None:
            return None
        size = self._queue_size if self._queue_size is not None else max(1.0, self._rate)
        return AccountQueue(self._rate, size)

    @property
    def callbacks(self) -> Callbacks | None:
        """Where delivery callbacks go, or None (assignable)."""
        return self._callbacks

    @callbacks.setter
    def callbacks(self, callbacks: Callbacks | None) -> None:
        if callbacks is not None and not isinstance(callbacks, Callbacks):
            raise TypeError(
                f"callbacks must be a Callbacks or None, got {type(callbacks).__name__}"
            )
        self._callbacks = callbacks

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The API root to give ``Sender(base_url=...)``: ``http://host:port/api/v2``."""
        if self._state is not Lifecycle.OPEN:
            raise RuntimeError("the simulator is not running: use it as `async with Simulator()`")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/api/v2"

    @property
    def token_url(self) -> str:
        """The OAuth2 token endpoint to give ``Sender(token_url=...)``.

        ``http://host:port/api/v1/oauth2/token``, the path of Bandwidth's own.
        """
        return self.base_url[: -len("/api/v2")] + "/api/v1/oauth2/token"

    @property
    def legacy_base_url(self) -> str:
        """The legacy API root (``http://host:port/v2``), served the same way."""
        return self.base_url[: -len("/api/v2")] + "/v2"

    def make_app(self) -> web.Application:
        """The aiohttp application (for embedding it elsewhere; ``async with`` does it all)."""
        # A media upload may be 3.5 MB; a little more is read so that it is refused in words.
        app = web.Application(client_max_size=MAX_MEDIA_BYTES + 1024 * 1024)
        app.router.add_post("/api/v2/users/{account_id}/messages", self._handle)
        app.router.add_post("/v2/users/{account_id}/messages", self._handle)
        app.router.add_post("/api/v1/oauth2/token", self._handle_token)
        app.router.add_get("/api/v2/users/{account_id}/messages", self._handle_list)
        app.router.add_get("/v2/users/{account_id}/messages", self._handle_list)
        self._media.add_routes(app, self._unauthorized)
        add_inbound_route(app, self._unauthorized, self._post_inbound)
        return app

    async def start(self) -> None:
        """Start serving (``async with`` calls it)."""
        if self._state is not Lifecycle.UNOPENED:
            raise RuntimeError(f"a Simulator starts once; this one is {self._state.value}")
        self._stopping = asyncio.Event()
        self._poster = CallbackPoster(self._callback_rng, lambda: self._callbacks)
        self._runner, self.port = await serve(self.make_app(), self.host, self.port, backlog=1024)
        self._state = Lifecycle.OPEN

    async def stop(self) -> None:
        """Stop serving and cancel the callback tasks. Safe to call more than once."""
        if self._state is not Lifecycle.OPEN:
            self._state = Lifecycle.CLOSED
            return
        self._state = Lifecycle.CLOSED
        assert self._stopping is not None
        self._stopping.set()  # ends slow answers now
        if self._runner is not None:
            await self._runner.cleanup()
        if self._poster is not None:
            await self._poster.stop()

    # -- what tests look at ------------------------------------------------------------------------

    @property
    def accepted_count(self) -> int:
        """How many messages were accepted."""
        return len(self.accepted)

    def duplicates(self) -> dict[tuple[tuple[str, ...], str | None, str | None], int]:
        """Messages accepted more than once, by ``(to, text, tag)``, with their counts."""
        counts = Counter(record.key for record in self.accepted)
        return {key: n for key, n in counts.items() if n > 1}

    def observed_rate(self, window: float | None = None) -> float:
        """Accepted messages per second: over the whole run, or over the last ``window`` seconds.

        The whole run spans from the first to the last acceptance; 0.0 with fewer than two.
        """
        records = self.accepted
        if window is not None:
            since = time.monotonic() - window
            return sum(1 for r in records if r.received >= since) / window
        if len(records) < 2:
            return 0.0
        span = records[-1].received - records[0].received
        return (len(records) - 1) / span if span > 0 else float("inf")

    @property
    def delivered_callbacks(self) -> list[list[dict[str, Any]]]:
        """Callback posts the receiver acknowledged (2xx), in the order they were acknowledged."""
        return self._poster.delivered if self._poster is not None else []

    @property
    def abandoned_callbacks(self) -> list[list[dict[str, Any]]]:
        """Callback posts given up (after ``Callbacks.max_attempts`` failures, or once
        ``Callbacks.retry_for`` seconds had passed)."""
        return self._poster.abandoned if self._poster is not None else []

    @property
    def decided_outcomes(self) -> dict[str, dict[str, int | None]]:
        """What the callbacks decided, by message id then recipient: None for delivered, the
        error code for failed."""
        return self._poster.decided if self._poster is not None else {}

    @property
    def uploads(self) -> tuple[MediaUpload, ...]:
        """Every media upload accepted (PUT answered 204), in order: a file uploaded twice
        is here twice. Each :class:`MediaUpload` has its account, media id, content type and
        bytes."""
        return tuple(self._media.uploads)

    @property
    def media(self) -> Mapping[tuple[str, str], MediaUpload]:
        """The media files stored now, by ``(account_id, media_id)`` (a read-only view)."""
        return self._media.files

    async def inbound(
        self,
        *,
        from_: str,
        to: str,
        text: str | None = None,
        media: Sequence[str] = (),
        application_id: str = "simulator-app",
        carrier_name: str | None = None,
    ) -> dict[str, Any]:
        """Play a message someone sent to one of the account's numbers: post a
        ``message-received`` callback (Bandwidth's inbound shape, as a one-event array) to
        the :attr:`callbacks` URL, with the same Basic auth and retries as delivery callbacks.

        Waits until the receiver took it (answered 2xx) or it was given up; which one is in
        :attr:`delivered_callbacks` / :attr:`abandoned_callbacks`. For instance, to drive a
        STOP flow: ``await sim.inbound(from_="+19195551212", to="+19195550000", text="STOP")``.

        Args:
            from_: who sent it (the number a STOP opts out).
            to: the account's number that received it.
            text: the text (an inbound message has text, media, or both).
            media: media URLs.
            application_id: the messaging application of the number ``to``.
            carrier_name: the sender's carrier, sent as ``carrierName`` when given.

        Returns:
            The event posted (inside its array), as JSON.

        Raises:
            RuntimeError: the simulator is not running or has no :attr:`callbacks`.
            ValueError: an argument that cannot make an inbound message.
        """
        event = inbound_event(
            from_=from_,
            to=to,
            text=text,
            media=media,
            application_id=application_id,
            carrier_name=carrier_name,
        )
        if self._poster is None or self._state is not Lifecycle.OPEN:
            raise RuntimeError("the simulator is not running: use it as `async with Simulator()`")
        await self._poster.post([event])
        return event

    @property
    def inbound_url(self) -> str:
        """The simulator's own endpoint that plays an inbound message:
        ``http://host:port/simulator/inbound``. POST it a JSON body ``{"from", "to", "text",
        "media"}`` (with the simulator's credentials) and it posts that ``message-received``
        callback, as :meth:`inbound` does; it answers 202 with the event once queued."""
        return self.base_url[: -len("/api/v2")] + INBOUND_PATH

    def _post_inbound(self, event: dict[str, Any]) -> bool:
        if self._poster is None or self._callbacks is None:
            return False
        self._poster.post([event])
        return True

    async def callbacks_done(self) -> None:
        """Wait until every callback queued so far was posted (or given up)."""
        if self._poster is not None:
            await self._poster.join()

    def reset(self) -> None:
        """Forget the accepted messages, the counts, the token requests, the callback log and
        the media files with their uploads.

        Issued tokens stay valid (see :meth:`revoke_tokens`).
        """
        self.accepted.clear()
        self._media.clear()
        self.counts.clear()
        self.token_requests.clear()
        if self._poster is not None:
            self._poster.delivered.clear()
            self._poster.abandoned.clear()

    # -- the endpoint ------------------------------------------------------------------------------

    def _authorized(self, header: str | None) -> bool:
        if header == self._expected_auth:
            return True
        if header is None:
            return False
        scheme, _, token = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer":
            return self._tokens.valid(token.strip())
        if scheme != "basic":
            return False
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return decoded == f"{self.username}:{self.password}"

    def _answer(
        self, status: int, body: bytes, headers: dict[str, str] | None = None
    ) -> web.Response:
        self.counts[str(status)] += 1
        return web.Response(status=status, body=body, content_type=JSON, headers=headers)

    def _rate_limited(self) -> web.Response:
        after = self._faults.retry_after
        headers = None if after is None else {"Retry-After": f"{after:g}"}
        return self._answer(429, RATE_LIMITED, headers)

    def _drop(self, request: web.Request, fault: str) -> web.Response:
        self.counts[fault] += 1
        transport = request.transport
        if transport is not None:
            transport.abort()
        # Nothing reaches the client: the transport is gone. aiohttp drops this answer.
        return web.Response(status=204)

    async def _handle(self, request: web.Request) -> web.Response:
        """``POST .../messages``: auth, a fault maybe, the body's checks, then accept."""
        raw = await request.read()
        refused = self._unauthorized(request.headers.get("Authorization"))
        if refused is not None:
            return refused
        fault = ""
        if self._faulty:
            answer, fault = await self._draw_fault(request)
            if answer is not None:
                return answer
        body = self._body(request, raw)
        if isinstance(body, web.Response):
            return body
        message = self._message(body)
        throttle = self._throttle
        recipients = len(message["to"])
        if throttle is not None and not throttle.admit(message["segmentCount"] * recipients):
            self.counts["throttled"] += 1
            return self._rate_limited()
        self._keep(request, message, body, raw)
        if fault == "drop_after_accept":
            return self._drop(request, fault)
        if fault == "slow":
            self.counts["slow"] += 1
            await self._slow_wait(self._faults.slow_delay)
        return self._answer(202, dumps(message))

    def _unauthorized(self, header: str | None) -> web.Response | None:
        """A 401 (with the challenge the client's scheme calls for), or None."""
        if self._authorized(header):
            return None
        bearer = header is not None and header.partition(" ")[0].lower() == "bearer"
        return self._answer(401, UNAUTHORIZED, BEARER_CHALLENGE if bearer else BASIC_CHALLENGE)

    async def _draw_fault(self, request: web.Request) -> tuple[web.Response | None, str]:
        """The latency, then at most one fault: an answer that ends the request now, or the
        fault that comes after accepting (``drop_after_accept``, ``slow``), or none."""
        faults = self._faults
        draw = self._rng.random()
        latency = faults.draw_latency(self._rng)
        if latency > 0:
            await asyncio.sleep(latency)
        t = self._thresholds
        if draw >= t[4]:
            return None, ""
        if draw < t[0]:
            return self._drop(request, "drop_before_accept"), ""
        if draw < t[1]:
            return self._rate_limited(), ""
        if draw < t[2]:
            status = self._rng.choice(faults.server_error_statuses)
            body = SERVER_ERRORS.get(status) or error_body(
                "server-error", f"Simulated server error {status}."
            )
            return self._answer(status, body), ""
        fault = "drop_after_accept" if draw < t[3] else "slow"
        if fault == "slow" and not faults.slow_accepts:
            await self._slow_wait(faults.slow_delay)
            self.counts["slow"] += 1
            return self._answer(503, SERVER_ERRORS[503]), ""
        return None, fault

    def _body(self, request: web.Request, raw: bytes) -> dict[str, Any] | web.Response:
        """The request's JSON body when it is one the service accepts; else the 415 or 400."""
        if request.content_type != JSON:
            return self._answer(415, UNSUPPORTED)
        try:
            body = loads(raw)
        except ValueError:
            return self._answer(415, UNSUPPORTED)
        errors = validate(body)
        if not errors:
            return cast("dict[str, Any]", body)
        refusal = {
            "type": "request-validation",
            "description": "Your request could not be accepted.",
            "fieldErrors": [
                {"fieldName": e.field_name, "description": e.description} for e in errors
            ],
        }
        return self._answer(400, dumps(refusal))

    def _message(self, body: dict[str, Any]) -> dict[str, Any]:
        """The message the service makes of a valid body (its 202 answer)."""
        to = [body["to"]] if isinstance(body["to"], str) else body["to"]
        media = body.get("media")
        text = body.get("text") or ""
        sender = body["from"]
        message: dict[str, Any] = {
            "id": f"{int(time.time() * 1000)}sim{next(self._ids):013d}",
            "owner": sender,
            "applicationId": body["applicationId"],
            "time": timestamp(),
            "segmentCount": 1 if media else segment_count(text),
            "direction": "out",
            "to": to,
            "from": sender,
            "text": text,
        }
        if media:
            message["media"] = media
        if body.get("tag") is not None:
            message["tag"] = body["tag"]
        message["priority"] = body.get("priority") or "default"
        if body.get("expiration") is not None:
            message["expiration"] = body["expiration"]
        return message

    def _keep(
        self, request: web.Request, message: dict[str, Any], body: dict[str, Any], raw: bytes
    ) -> None:
        """Keep an accepted message, and queue its callbacks."""
        self.accepted.append(
            AcceptedMessage(
                message=message,
                request=body,
                raw=raw,
                account_id=request.match_info["account_id"],
                received=time.monotonic(),
            )
        )
        if self._callbacks is not None and self._poster is not None:
            self._poster.submit(message)

    async def _slow_wait(self, seconds: float) -> None:
        assert self._stopping is not None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    # -- the list endpoint ------------------------------------------------------------------------

    async def _handle_list(self, request: web.Request) -> web.Response:
        if not self._authorized(request.headers.get("Authorization")):
            return self._answer(401, UNAUTHORIZED, BASIC_CHALLENGE)
        if self.list_rate is not None:
            now = time.monotonic()
            if now < self._list_next:
                self.counts["list_429"] += 1
                wait = self._list_next - now
                return self._answer(
                    429,
                    error_body(
                        "rate_limit_exceeded",
                        "Rate limit exceeded. Wait for Retry-After time before sending another "
                        "request.",
                    ),
                    {"Retry-After": f"{max(wait, 0.001):.3f}"},
                )
            self._list_next = now + 1.0 / self.list_rate
        self.counts["list"] += 1
        query = request.query
        try:
            match = list_filter(query)
            limit = int(query.get("limit", "100"))
            offset = int(query.get("pageToken", "0") or "0")
            if not 1 <= limit <= 10_000 or offset < 0:
                raise ValueError("limit must be 1 to 10000")
        except ValueError as exc:
            return self._answer(400, error_body("request-validation", str(exc)))
        found = [item for item in list_items(self.accepted, self.decided_outcomes) if match(item)]
        page = found[offset : offset + limit]
        page_info: dict[str, Any] = {}
        if offset + limit < len(found):
            token = str(offset + limit)
            page_info["nextPageToken"] = token
            page_info["nextPage"] = str(request.url.update_query({"pageToken": token}))
        if offset > 0:
            token = str(max(0, offset - limit))
            page_info["prevPageToken"] = token
            page_info["prevPage"] = str(request.url.update_query({"pageToken": token}))
        body = {"totalCount": len(found), "pageInfo": page_info, "messages": page}
        return self._answer(200, dumps(body))

    # -- the OAuth2 token endpoint -----------------------------------------------------------------

    async def _handle_token(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization")
        content_type = request.content_type
        form: dict[str, str] = {}
        if content_type == "application/x-www-form-urlencoded":
            form = {key: str(value) for key, value in (await request.post()).items()}
        else:
            await request.read()
        client_id, client_secret = basic_pair(header)
        status, error, description, token = self._tokens.answer(
            (self.client_id, self.client_secret), (client_id, client_secret), content_type, form
        )
        self.token_requests.append(
            TokenRequest(
                status=status,
                error=error,
                client_id=client_id,
                authorization=header,
                content_type=content_type,
                form=form,
                received=time.monotonic(),
                access_token=token,
            )
        )
        # RFC 6749 5.1: token answers, good or bad, must not be cached.
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        if token is not None:
            lifetime = self._tokens.lifetime
            expires_in: float = int(lifetime) if lifetime.is_integer() else lifetime
            body = {"access_token": token, "token_type": "Bearer", "expires_in": expires_in}
            return web.Response(status=200, body=dumps(body), content_type=JSON, headers=headers)
        if status == 401:
            headers.update(BASIC_CHALLENGE)
        payload = dumps({"error": error, "error_description": description})
        return web.Response(status=status, body=payload, content_type=JSON, headers=headers)
