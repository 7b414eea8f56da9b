"""What the simulator keeps: accepted messages, token requests, and the account's queue."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import attrs

__all__ = ["AcceptedMessage", "AccountQueue", "TokenRequest"]


@attrs.frozen(kw_only=True)
class AcceptedMessage:
    """One message the simulator accepted (answered, or was to answer, 202).

    Attributes:
        message: the Message body answered (``id``, ``time``, ``segmentCount`` ...), as JSON.
        request: the request body as decoded JSON.
        raw: the request body exactly as received.
        account_id: the account id from the path.
        received: ``time.monotonic()`` when it was accepted.
    """

    message: dict[str, Any]
    request: dict[str, Any]
    raw: bytes
    account_id: str
    received: float

    @property
    def id(self) -> str:
        """The message id given to it."""
        return str(self.message["id"])

    @property
    def to(self) -> tuple[str, ...]:
        """The recipients, as a tuple."""
        return tuple(self.message["to"])

    @property
    def text(self) -> str | None:
        """The text as sent (None when absent)."""
        text = self.request.get("text")
        return text if isinstance(text, str) else None

    @property
    def tag(self) -> str | None:
        """The tag as sent (None when absent)."""
        tag = self.request.get("tag")
        return tag if isinstance(tag, str) else None

    @property
    def key(self) -> tuple[tuple[str, ...], str | None, str | None]:
        """``(to, text, tag)``: what two copies of one message have in common."""
        return (self.to, self.text, self.tag)


@attrs.frozen(kw_only=True)
class TokenRequest:
    """One request the simulator's OAuth2 token endpoint answered.

    Attributes:
        status: the status answered (200 when a token was issued).
        error: the OAuth2 ``error`` answered (``"invalid_client"`` ...), None on success.
        client_id: the client id from the Basic auth header, None when there was none.
        authorization: the ``Authorization`` header exactly as received (hidden from repr:
            it carries the client secret).
        content_type: the request's content type.
        form: the form fields as received (empty when the body was not a form).
        received: ``time.monotonic()`` when it arrived.
        access_token: the token issued (hidden from repr), None when refused.
    """

    status: int
    error: str | None
    client_id: str | None
    authorization: str | None = attrs.field(repr=False)
    content_type: str
    form: dict[str, str]
    received: float
    access_token: str | None = attrs.field(default=None, repr=False)


class AccountQueue:
    """Bandwidth's account throttle: a queue drained at ``rate`` segments per second.

    A message is admitted when its segments fit in the queue's room (an empty queue takes any
    one message, however large); otherwise the send is refused with 429.
    """

    __slots__ = ("capacity", "clock", "last", "level", "rate")

    def __init__(
        self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.capacity = capacity
        self.clock = clock
        self.level = 0.0
        self.last = clock()

    def admit(self, cost: float) -> bool:
        now = self.clock()
        level = self.level - (now - self.last) * self.rate
        if level < 0.0:
            level = 0.0
        self.last = now
        if level > 0.0 and level + cost > self.capacity:
            self.level = level
            return False
        self.level = level + cost
        return True
