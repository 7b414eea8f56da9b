"""Local files given to ``campaign run --media``: checked before anything is sent, uploaded to
Bandwidth's media store once per run, and sent by their URL.

A file's media id is ``bwmsg/<first 16 hex digits of its SHA-256>/<its name>``: the same file
gets the same id, so a rerun uploads it again under the same name (replacing it: Bandwidth
keeps media 48 hours) and the messages, and the journal's fingerprint, stay the same.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Iterable
from pathlib import Path

import attrs

from .._media import MAX_MEDIA_BYTES, check_content_type, media_url

__all__ = ["LocalMedia", "local_media"]

_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@attrs.frozen
class LocalMedia:
    """A local file to upload, with the id it goes under and its content type."""

    path: Path
    media_id: str
    content_type: str
    size: int

    def url(self, base_url: str, account_id: str) -> str:
        """The URL a message names it by, for the Sender of ``account_id`` at ``base_url``."""
        return str(media_url(base_url, account_id, self.media_id))


def _is_url_or_template(value: str) -> bool:
    return value.startswith(("http://", "https://")) or "{" in value


def local_media(values: Iterable[str]) -> list[LocalMedia | None]:
    """For each ``--media`` value: the local file it names, or None for a URL (or a URL
    template).

    Raises:
        ValueError: naming ``--media``: a value that is neither a URL nor a readable file, a
            file over Bandwidth's 3.5 MB, or one whose content type cannot be told.
    """
    found: list[LocalMedia | None] = []
    for value in values:
        if _is_url_or_template(value):
            found.append(None)
            continue
        path = Path(value).expanduser()
        if not path.is_file():
            raise ValueError(
                f"--media {value}: not an http(s) URL and no such file (give a URL Bandwidth "
                "can fetch, or the path of a file to upload)"
            )
        found.append(_checked(path, value))
    return found


def _checked(path: Path, value: str) -> LocalMedia:
    data = path.read_bytes()
    if len(data) > MAX_MEDIA_BYTES:
        raise ValueError(
            f"--media {value}: {len(data):,} bytes, over Bandwidth's limit of "
            f"{MAX_MEDIA_BYTES:,} bytes a file: make it smaller"
        )
    if not data:
        raise ValueError(f"--media {value}: the file is empty")
    guessed, _ = mimetypes.guess_type(path.name)
    if guessed is None:
        raise ValueError(
            f"--media {value}: cannot tell its content type from its name: give it an "
            "extension such as .jpg, .png, .gif, .mp4 or .pdf"
        )
    content_type = check_content_type(guessed)
    digest = hashlib.sha256(data).hexdigest()[:16]
    name = _NAME_UNSAFE.sub("-", path.name).strip(".-") or "file"
    return LocalMedia(path, f"bwmsg/{digest}/{name}", content_type, len(data))
