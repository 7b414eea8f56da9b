"""``PUT`` / ``DELETE /users/{accountId}/media/{mediaId}``: Bandwidth's media store, for MMS.

An MMS names its pictures by URL, and those must be reachable by Bandwidth. Its media
endpoints keep a file (at most 3.5 MB; kept 48 hours) under a name of the caller's choosing,
at ``{base_url}/users/{accountId}/media/{mediaId}``: that URL goes in
``MessageRequest(media=...)``.

Why the checks are strict: ``mediaId`` becomes part of the request's path, and
``content_type`` a header. A media id may hold ``/`` (Bandwidth's own example is
``14762070468292kw2fuqty55yp2b2/0/bw.png``) but nothing that could climb out of the media
path (``..``, an empty segment, a percent escape) or be encoded differently by the way;
a content type is one ``type/subtype`` (with parameters) and nothing that could end the header.
Both are refused with a ``ValueError`` before any request is made, as is a file over the limit.

PUT and DELETE are idempotent (a PUT with the same name overwrites, a DELETE of what is gone
changes nothing), so unlike a send, an attempt that may have reached the server is retried as
a failure that certainly did not: within the Sender's ``RetryPolicy.max_attempts``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from yarl import URL

from ._auth import Credentials, SignedAttempts
from ._errors import (
    AmbiguousSendError,
    BwmsgError,
    NotFoundError,
    TransportError,
    api_error_from_response,
)
from ._printable import printable
from ._retry import RetryPolicy, parse_retry_after, retry
from ._transport import Answer, AnswerTimeout, Client, ConnectError, ExchangeError

if TYPE_CHECKING:
    from ._sender import Sender

__all__ = [
    "MAX_MEDIA_BYTES",
    "MAX_MEDIA_ID",
    "check_content_type",
    "check_media_id",
    "delete_media",
    "media_url",
    "upload_media",
]

MAX_MEDIA_BYTES = 3_500_000
"""Bandwidth's limit on one MMS media file: 3.5 MB."""

MAX_MEDIA_ID = 512
"""The longest media id accepted (characters); far above any real file name."""

MAX_CONTENT_TYPE = 255

# A path segment: RFC 3986's unreserved characters, which no client or server re-encodes.
_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+", re.ASCII)
# RFC 6838 restricted names for type and subtype; RFC 9110 parameters (token or quoted string,
# printable ASCII only: no CR, LF or other control character can end the header).
_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_TOKEN = r"[A-Za-z0-9!#$%&'*+.^_`|~-]+"
_QUOTED = r'"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"'
_CONTENT_TYPE = re.compile(
    rf"{_NAME}/{_NAME}(?:[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|{_QUOTED}))*", re.ASCII
)

_MEDIA_ID_RULE = (
    "segments of letters, digits, '.', '_', '-' and '~' separated by single '/', "
    f"no '.' or '..' segment, no leading or trailing '/', 1 to {MAX_MEDIA_ID} characters"
)


def _shown(value: object) -> str:
    return printable(repr(value), 80)


def check_media_id(media_id: str) -> str:
    """``media_id`` when it may be put in the media path as it is.

    Raises:
        ValueError: naming ``media_id`` and the rule.
    """
    if not isinstance(media_id, str):
        raise ValueError(f"media_id must be a string, got {type(media_id).__name__}")
    if not 1 <= len(media_id) <= MAX_MEDIA_ID:
        raise ValueError(f"media_id has {len(media_id)} characters: allowed are {_MEDIA_ID_RULE}")
    for segment in media_id.split("/"):
        if not _SEGMENT.fullmatch(segment) or segment in (".", ".."):
            raise ValueError(f"media_id {_shown(media_id)} is not allowed: {_MEDIA_ID_RULE}")
    return media_id


def check_content_type(content_type: str) -> str:
    """``content_type`` when it is one media type (``image/png``, ``text/plain;
    charset=utf-8``) that can be sent as a header as it is.

    Raises:
        ValueError: naming ``content_type``.
    """
    if (
        not isinstance(content_type, str)
        or len(content_type) > MAX_CONTENT_TYPE
        or not _CONTENT_TYPE.fullmatch(content_type)
    ):
        raise ValueError(
            f"content_type {_shown(content_type)} is not a media type: expected type/subtype "
            "(such as image/jpeg), optionally with ;name=value parameters, in printable ASCII"
        )
    return content_type


def _payload(data: bytes | bytearray | memoryview) -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, bytearray or memoryview, not {type(data).__name__}")
    size = data.nbytes if isinstance(data, memoryview) else len(data)
    if size > MAX_MEDIA_BYTES:
        raise ValueError(
            f"data is {size:,} bytes: over Bandwidth's MMS media limit of "
            f"{MAX_MEDIA_BYTES:,} bytes (3.5 MB)"
        )
    if size == 0:
        raise ValueError("data is empty: there is nothing to upload")
    return data if isinstance(data, bytes) else bytes(data)


def media_url(base_url: str, account_id: str, media_id: str) -> URL:
    """Where the media ``media_id`` lives (checked with :func:`check_media_id`)."""
    return URL(base_url) / "users" / account_id / "media" / check_media_id(media_id)


async def upload_media(
    sender: Sender,
    media_id: str,
    data: bytes | bytearray | memoryview,
    content_type: str,
    *,
    web: Callable[[], Client],
    credentials: Credentials,
) -> str:
    """PUT ``data`` as ``media_id``; its URL. See ``Sender.upload_media``."""
    url = media_url(sender.base_url, sender.account_id, media_id)
    check_content_type(content_type)
    body = _payload(data)
    attempts = _MediaAttempts(web(), credentials, "PUT", url, media_id, body, content_type)
    outcome = await retry(sender.retry, attempts)
    if isinstance(outcome, BwmsgError):
        raise outcome
    return str(url)


async def delete_media(
    sender: Sender,
    media_id: str,
    *,
    web: Callable[[], Client],
    credentials: Credentials,
) -> None:
    """DELETE ``media_id``. See ``Sender.delete_media``."""
    url = media_url(sender.base_url, sender.account_id, media_id)
    attempts = _MediaAttempts(web(), credentials, "DELETE", url, media_id)
    outcome = await retry(sender.retry, attempts)
    if isinstance(outcome, NotFoundError) and attempts.ambiguous:
        return  # an earlier attempt that got no answer deleted it
    if isinstance(outcome, BwmsgError):
        raise outcome


class _MediaAttempts(SignedAttempts[None]):
    """The attempts of one media request (PUT or DELETE), as the retry loop drives them."""

    __slots__ = ("ambiguous", "body", "content_type", "media_id", "method", "url")

    def __init__(
        self,
        client: Client,
        credentials: Credentials,
        method: str,
        url: URL,
        media_id: str,
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> None:
        super().__init__(client, credentials)
        self.method = method
        self.url = url
        self.media_id = media_id
        self.body = body
        self.content_type = content_type
        self.ambiguous = False
        """Whether an attempt failed after its request may have been read."""

    @property
    def doing(self) -> str:
        """What the request does, in words, for error messages."""
        verb = "uploading" if self.method == "PUT" else "deleting"
        return f"{verb} media {self.media_id!r}"

    async def once(self) -> BwmsgError | None:
        sent = {k: v for k, v in (await self.headers()).items() if k != "Content-Type"}
        if self.content_type is not None:
            sent["Content-Type"] = self.content_type
        try:
            answer = await self.client.request(self.method, self.url, headers=sent, body=self.body)
        except ConnectError as exc:  # nothing reached the API
            error: BwmsgError = TransportError(
                f"{self.doing} failed: could not connect: {exc}", retryable=exc.retryable
            )
            error.__cause__ = exc.__cause__ or exc
            return error
        except (ExchangeError, AnswerTimeout) as exc:
            cause = exc.__cause__ or exc
            error = AmbiguousSendError(
                f"{self.doing} failed after the request was sent ({type(cause).__name__}): "
                "it may have been done"
            )
            error.__cause__ = cause
            return error
        return self._read(answer)

    def _read(self, answer: Answer) -> BwmsgError | None:
        if 200 <= answer.status < 300:
            return None
        error = api_error_from_response(
            answer.status,
            answer.body or b"",
            reason=answer.reason,
            retry_after=parse_retry_after(answer.headers.get("retry-after")),
        )
        # The server's words are already printable in the message (ApiError renders them so);
        # the message is prefixed with what was being done.
        error.args = (f"{self.doing}: {error}",)
        return error

    def delay(self, policy: RetryPolicy, error: BwmsgError) -> float | None:
        if isinstance(error, AmbiguousSendError):
            # PUT and DELETE are idempotent: trying again cannot do anything twice.
            self.ambiguous = True
            return policy.backoff(self.budget) if self.budget < policy.max_attempts else None
        return policy.next_delay(error, self.budget)
