"""Credentials: HTTP Basic, or OAuth2 client credentials with a cached, shared token."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from typing import Any, TypeVar

from ._errors import AuthenticationError, BwmsgError, TransportError
from ._retry import Attempts, RetryPolicy, retry
from ._transport import AnswerTimeout, Client, ConnectError, ExchangeError

__all__ = ["BasicCredentials", "ClientCredentials", "Credentials", "SignedAttempts"]

_T = TypeVar("_T")

# RFC 6750 section 2.1, b64token: what a bearer token may be made of.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")

# A token is renewed this long before it expires (or at half its life, if that is shorter).
REFRESH_MARGIN = 60.0


def basic_header(username: str, password: str) -> str:
    """The value of an ``Authorization`` header for HTTP Basic auth."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


class Credentials:
    """How a Sender authenticates its requests."""

    kind = "none"
    static_headers: dict[str, str] | None = None
    """Headers that never change (Basic auth), so callers can skip the await."""

    async def headers(self, client: Client) -> dict[str, str]:
        """Request headers carrying the credentials (shared: never mutate them); ``client``
        makes the requests this may need (for a token)."""
        raise NotImplementedError

    def renew_after_401(self, used: dict[str, str]) -> bool:
        """After a 401 on a request sent with ``used``: True when renewing may help."""
        return False


class BasicCredentials(Credentials):
    """HTTP Basic auth: the same header on every request."""

    kind = "basic"

    def __init__(self, username: str, password: str, base: dict[str, str]) -> None:
        self._headers = {**base, "Authorization": basic_header(username, password)}
        self.static_headers = self._headers

    async def headers(self, client: Client) -> dict[str, str]:
        return self._headers


class ClientCredentials(Credentials):
    """OAuth2 client credentials: one bearer token shared by every request, renewed on time.

    However many requests are waiting, at most one token request runs; the others wait for
    it. A token endpoint that refuses the client makes every later call fail at once with the
    same :class:`~bwmsg.AuthenticationError` rather than asking again for each message.
    """

    kind = "oauth2"

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        token_url: str,
        base: dict[str, str],
        retry: RetryPolicy,
    ) -> None:
        self._token_url = token_url
        self._basic = basic_header(client_id, client_secret)
        self._base = base
        self._retry = retry
        self._lock = asyncio.Lock()
        self._headers: dict[str, str] | None = None
        self._renew_at = 0.0
        self._refused: AuthenticationError | None = None
        self.token_requests = 0

    async def headers(self, client: Client) -> dict[str, str]:
        loop = asyncio.get_running_loop()
        current = self._headers
        if current is not None and loop.time() < self._renew_at:
            return current
        async with self._lock:
            # Someone else may have renewed it while this call waited for the lock.
            if self._headers is not None and loop.time() < self._renew_at:
                return self._headers
            if self._refused is not None:
                raise self._refused
            token, lifetime = await self._fetch(client)
            margin = min(REFRESH_MARGIN, lifetime / 2)
            self._renew_at = loop.time() + lifetime - margin
            self._headers = {**self._base, "Authorization": f"Bearer {token}"}
            return self._headers

    def renew_after_401(self, used: dict[str, str]) -> bool:
        if self._headers is used:
            self._headers = None  # the next caller fetches a new token
        return True

    async def _fetch(self, client: Client) -> tuple[str, float]:
        outcome = await retry(self._retry, _TokenAttempts(self, client))
        if isinstance(outcome, BwmsgError):
            raise outcome
        return outcome

    async def _request(self, client: Client) -> tuple[str, float]:
        self.token_requests += 1
        try:
            answer = await client.request(
                "POST",
                self._token_url,
                headers={
                    "Authorization": self._basic,
                    "Accept": "application/json",
                    "Content-Type": "application/x-www-form-urlencoded",
                },
                body=b"grant_type=client_credentials",
            )
        except ConnectError as exc:  # nothing was sent (the proxy's reason is sanitised)
            error = TransportError(
                f"could not get an OAuth2 token from {self._token_url}: {exc}",
                retryable=exc.retryable,
            )
            raise error from exc.__cause__ or exc
        except (ExchangeError, AnswerTimeout) as exc:
            cause = exc.__cause__ or exc
            error = TransportError(
                f"could not get an OAuth2 token from {self._token_url}: {type(cause).__name__}"
            )
            raise error from cause
        status = answer.status
        payload = answer.body
        if payload is None:
            raise TransportError(
                f"could not get an OAuth2 token from {self._token_url}: the answer was cut off"
            )
        data: Any
        try:
            data = json.loads(payload) if payload.strip() else None
        except ValueError:
            data = None
        if status != 200:
            raise _token_error(status, data, payload)
        if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
            raise AuthenticationError(
                status,
                type="invalid-token-response",
                description=f"the token endpoint {self._token_url} answered 200 without an "
                "access_token",
            )
        if not _B64TOKEN.fullmatch(data["access_token"]):
            # RFC 6750's token characters only: anything else cannot go in a header safely.
            raise AuthenticationError(
                status,
                type="invalid-token-response",
                description=f"the token endpoint {self._token_url} answered 200 with an "
                "access_token that cannot be sent in a header",
            )
        lifetime = data.get("expires_in", 3600)
        if isinstance(lifetime, bool) or not isinstance(lifetime, (int, float)) or lifetime <= 0:
            lifetime = 3600
        return data["access_token"], float(lifetime)


class SignedAttempts(Attempts[_T]):
    """The attempts of a request to ``client`` that carries ``credentials``' headers (listing,
    media): subclasses say what one attempt is, taking its headers from :meth:`headers`."""

    __slots__ = ("auth", "client")

    def __init__(self, client: Client, credentials: Credentials) -> None:
        super().__init__(credentials)
        self.auth = credentials
        self.client = client

    async def headers(self) -> dict[str, str]:
        """The headers this attempt carries, noted as the ones used (for the 401 rule)."""
        headers = await self.auth.headers(self.client)
        self.used = headers
        return headers


class _TokenAttempts(Attempts["tuple[str, float]"]):
    """The attempts of one token request, as the retry loop drives them."""

    __slots__ = ("client", "owner")

    def __init__(self, owner: ClientCredentials, client: Client) -> None:
        super().__init__()
        self.owner = owner
        self.client = client

    async def once(self) -> tuple[str, float] | BwmsgError:
        try:
            return await self.owner._request(self.client)
        except (AuthenticationError, TransportError) as error:
            return error

    def delay(self, policy: RetryPolicy, error: BwmsgError) -> float | None:
        if isinstance(error, AuthenticationError):
            if 500 <= error.status <= 599 or error.status == 429:  # the endpoint is unwell
                return policy.next_delay(TransportError("token endpoint unavailable"), self.budget)
            self.owner._refused = error  # refused: every later call fails at once with it
            return None
        # A refused certificate or proxy stays refused (its error is not retryable).
        return policy.next_delay(error, self.budget)


def _token_error(status: int, data: Any, payload: bytes) -> AuthenticationError:
    # OAuth2 error bodies: {"error": "invalid_client", "error_description": "..."}.
    kind = description = None
    if isinstance(data, dict):
        kind = data.get("error") or data.get("type")
        description = data.get("error_description") or data.get("description")
    words = {
        "invalid_client": "the client id or secret was refused (check BW_CLIENT_ID and "
        "BW_CLIENT_SECRET)",
        "unauthorized_client": "this client may not use the client-credentials grant",
        "invalid_grant": "the grant was refused",
    }
    if not description and isinstance(kind, str):
        description = words.get(kind)
    if not description:
        description = "the token endpoint refused to issue a token"
    return AuthenticationError(
        status,
        type=str(kind) if kind else "oauth2-token",
        description=f"OAuth2 token request failed: {description}",
        body=payload.decode("utf-8", errors="replace")[:2000],
    )
