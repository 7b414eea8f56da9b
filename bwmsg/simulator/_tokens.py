"""The OAuth2 token endpoint's state: the tokens issued (each with its expiry), the failures to
inject, and the answer to one client-credentials request (RFC 6749 4.4 and 5.2)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable

__all__ = ["Tokens", "check_token_failures"]

TokenAnswer = tuple[int, str | None, str | None, str | None]
_FORM = "application/x-www-form-urlencoded"
_ONLY_CLIENT_CREDENTIALS = "Only the client_credentials grant is supported."


def check_token_failures(statuses: Iterable[int]) -> list[int]:
    """``statuses`` as a list when each is 429 or a 5xx; ValueError naming the setting else."""
    failures = list(statuses)
    for status in failures:
        if isinstance(status, bool) or not isinstance(status, int):
            raise ValueError(f"token_failures must be HTTP statuses, got {status!r}")
        if status != 429 and not 500 <= status <= 599:
            raise ValueError(f"token_failures must be 429 or 5xx statuses, got {status!r}")
    return failures


class Tokens:
    """Bearer tokens the simulator issued, and what its token endpoint answers next."""

    def __init__(self, lifetime: float, failures: Iterable[int]) -> None:
        self.lifetime = float(lifetime)
        self.failures = check_token_failures(failures)
        self._live: dict[str, float] = {}  # token -> expiry (time.monotonic())

    def valid(self, token: str) -> bool:
        """Whether ``token`` was issued, is not expired and was not revoked."""
        expiry = self._live.get(token)
        return expiry is not None and time.monotonic() < expiry

    def revoke(self) -> int:
        """Forget every token issued so far; how many were still live."""
        now = time.monotonic()
        live = sum(1 for expiry in self._live.values() if expiry > now)
        self._live.clear()
        return live

    def answer(
        self,
        expected: tuple[str, str],
        given: tuple[str | None, str | None],
        content_type: str,
        form: dict[str, str],
    ) -> TokenAnswer:
        """(status, OAuth2 error, its description, the token issued) for one request with the
        client credentials ``given`` (from its Basic auth) against those ``expected``."""
        if self.failures:
            status = self.failures.pop(0)
            error = "temporarily_unavailable" if status in (429, 503) else "server_error"
            return status, error, f"Simulated token endpoint failure {status}.", None
        if given != expected:
            return 401, "invalid_client", "Client authentication failed.", None
        if content_type != _FORM:
            return (
                400,
                "invalid_request",
                "The body must be application/x-www-form-urlencoded.",
                None,
            )
        grant = form.get("grant_type")
        if not grant:
            return 400, "invalid_request", "grant_type is required.", None
        if grant != "client_credentials":
            return (
                400,
                "unsupported_grant_type",
                "Only the client_credentials grant is supported.",
                None,
            )
        return 200, None, None, self._issue()

    def _issue(self) -> str:
        now = time.monotonic()
        if len(self._live) >= 64:  # forget expired tokens, so that long runs stay small
            self._live = {t: expiry for t, expiry in self._live.items() if expiry > now}
        token = secrets.token_urlsafe(32)
        self._live[token] = now + self.lifetime
        return token
