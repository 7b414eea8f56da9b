"""The simulator's media endpoints: ``PUT``, ``GET`` and ``DELETE
/users/{accountId}/media/{mediaId}``, kept in memory.

An MMS campaign uploads its picture once and sends its URL; tests need to see the same bytes
come back and to count uploads. The rules are the service's, written from ``bandwidth.yml``
(``paths./users/{accountId}/media/{mediaId}``) and Bandwidth's documentation, and import
nothing from the client:

- [spec] ``mediaId`` is a path parameter, any string (its example holds slashes:
  ``14762070468292kw2fuqty55yp2b2/0/bw.png``); a file uploaded under a name that exists is
  overwritten; PUT answers 204, GET 200 with the bytes (``getMediaResponse``), DELETE 204;
  errors carry ``messagingRequestError`` (``{type, description}``), among them 401, 404 and
  415 (``messagingInvalidMediaTypeError``).
- [spec] PUT carries the file's media type in ``Content-Type`` (``parameters.contentType``);
  GET answers with it.
- [docs] one file is at most 3.5 MB (bandwidth.com support, "What types of limits apply to
  MMS Messages?"); a larger one is answered 400.

Not modelled: the 48-hour lifetime, ``Cache-Control``, and the listing ``GET .../media``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType

import attrs
from aiohttp import web

from ._wire import JSON, error_body

__all__ = ["MAX_MEDIA_BYTES", "MediaStore", "MediaUpload"]

MAX_MEDIA_BYTES = 3_500_000  # [docs] 3.5 MB per file
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*")

Refusal = Callable[[str | None], "web.Response | None"]
"""The simulator's auth check: the 401 to answer an ``Authorization`` header with, or None."""


@attrs.frozen(kw_only=True)
class MediaUpload:
    """One file the simulator's media endpoint accepted (answered 204 to its PUT).

    Attributes:
        account_id: the account id from the path.
        media_id: the media id from the path (it may hold ``/``).
        content_type: the ``Content-Type`` it was uploaded with, as sent.
        data: the file's bytes (hidden from repr).
        received: ``time.monotonic()`` when it was accepted.
    """

    account_id: str
    media_id: str
    content_type: str
    data: bytes = attrs.field(repr=False)
    received: float

    @property
    def size(self) -> int:
        """The file's length in bytes."""
        return len(self.data)


class MediaStore:
    """The files uploaded so far, by account and media id, and the log of every upload."""

    def __init__(self) -> None:
        self._files: dict[tuple[str, str], MediaUpload] = {}
        self.uploads: list[MediaUpload] = []
        """Every upload accepted, in order (a replaced file's too)."""

    @property
    def files(self) -> Mapping[tuple[str, str], MediaUpload]:
        """What is stored now, by ``(account_id, media_id)`` (a read-only view)."""
        return MappingProxyType(self._files)

    def clear(self) -> None:
        """Forget every file and the upload log."""
        self._files.clear()
        self.uploads.clear()

    def add_routes(self, app: web.Application, refusal: Refusal) -> None:
        """Serve the media endpoints on ``app`` (current and legacy paths); ``refusal``
        checks each request's credentials."""
        handlers = _Handlers(self, refusal)
        for root in ("/api/v2", "/v2"):
            path = root + "/users/{account_id}/media/{media_id:.+}"
            app.router.add_put(path, handlers.put)
            app.router.add_get(path, handlers.get)
            app.router.add_delete(path, handlers.delete)

    def keep(self, account_id: str, media_id: str, content_type: str, data: bytes) -> None:
        """Store a file, replacing one of the same name, and log the upload."""
        upload = MediaUpload(
            account_id=account_id,
            media_id=media_id,
            content_type=content_type,
            data=data,
            received=time.monotonic(),
        )
        self._files[(account_id, media_id)] = upload
        self.uploads.append(upload)

    def find(self, account_id: str, media_id: str) -> MediaUpload | None:
        """The file stored under that name, or None."""
        return self._files.get((account_id, media_id))

    def remove(self, account_id: str, media_id: str) -> bool:
        """Delete a file; False when there was none."""
        return self._files.pop((account_id, media_id), None) is not None


def _error(status: int, type_: str, description: str) -> web.Response:
    return web.Response(status=status, body=error_body(type_, description), content_type=JSON)


def _not_found(media_id: str) -> web.Response:
    return _error(404, "not-found", f"Media {media_id} not found.")


def _where(request: web.Request) -> tuple[str, str]:
    return request.match_info["account_id"], request.match_info["media_id"]


class _Handlers:
    """The three handlers, over one store."""

    def __init__(self, store: MediaStore, refusal: Refusal) -> None:
        self.store = store
        self.refusal = refusal

    async def put(self, request: web.Request) -> web.Response:
        data = await request.read()
        refused = self.refusal(request.headers.get("Authorization"))
        if refused is not None:
            return refused
        content_type = request.headers.get("Content-Type", "")
        if not _MEDIA_TYPE.fullmatch(content_type.partition(";")[0].strip()):
            return _error(
                415, "unsupported-media-type", "Content-Type must be the file's media type."
            )
        if len(data) > MAX_MEDIA_BYTES:
            return _error(
                400,
                "request-validation",
                f"Media file is {len(data)} bytes; the limit is {MAX_MEDIA_BYTES} bytes.",
            )
        account_id, media_id = _where(request)
        self.store.keep(account_id, media_id, content_type, data)
        return web.Response(status=204)

    async def get(self, request: web.Request) -> web.Response:
        refused = self.refusal(request.headers.get("Authorization"))
        if refused is not None:
            return refused
        account_id, media_id = _where(request)
        found = self.store.find(account_id, media_id)
        if found is None:
            return _not_found(media_id)
        return web.Response(
            status=200, body=found.data, headers={"Content-Type": found.content_type}
        )

    async def delete(self, request: web.Request) -> web.Response:
        refused = self.refusal(request.headers.get("Authorization"))
        if refused is not None:
            return refused
        account_id, media_id = _where(request)
        if not self.store.remove(account_id, media_id):
            return _not_found(media_id)
        return web.Response(status=204)
