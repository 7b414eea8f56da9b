"""What ``campaign run`` (and ``campaign worker``) check before anything is sent: the input
against the template, the settings that would fail every send, the open-file limit, and the
local ``--media`` files (uploaded once the Sender is open)."""

from __future__ import annotations

import os
import resource
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from yarl import URL

from .._errors import BwmsgError
from .._sender import DEFAULT_BASE_URL, Sender
from ..campaign import InputError, PreflightError, Template, preflight
from ..campaign._media_files import LocalMedia, local_media

__all__ = ["check_input", "check_settings", "media_files", "raise_file_limit", "upload"]


def check_input(recipients: Path, template: Template) -> None:
    """Template columns and sending numbers against the input, before anything else."""
    try:
        preflight(recipients, template)
    except PreflightError as exc:
        raise click.UsageError(str(exc)) from None
    except InputError as exc:
        raise click.ClickException(str(exc)) from None


def check_settings(creds: dict[str, Any], concurrency: int) -> None:
    """What would fail every send, checked before the journal is touched."""
    if not (creds["application_id"] or os.environ.get("BW_MESSAGING_APPLICATION_ID", "").strip()):
        raise click.UsageError(
            "no application id: give --application-id ID or set BW_MESSAGING_APPLICATION_ID "
            "(the id of your Bandwidth messaging application)"
        )
    base_url = creds["base_url"] or os.environ.get("BW_MESSAGING_BASE_URL", "").strip()
    if base_url:
        where = "--base-url" if creds["base_url"] else "BW_MESSAGING_BASE_URL"
        path = URL(base_url).path.rstrip("/")
        if not path.endswith("/v2"):
            raise click.UsageError(
                f"{where} {base_url} does not end in /api/v2: it must be the API root, such as "
                f"{DEFAULT_BASE_URL} (did you mean {base_url.rstrip('/')}/api/v2?)"
            )
    raise_file_limit(concurrency)


def raise_file_limit(concurrency: int) -> None:
    """Make room for ``concurrency`` connections (plus the journal, the listener ...)."""
    needed = concurrency + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise click.UsageError(
            f"--concurrency {concurrency} needs about {needed} open files, but this process "
            f"may open at most {hard} (ulimit -Hn): lower --concurrency to at most "
            f"{max(1, hard - 64)} or raise the limit"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def media_files(kwargs: dict[str, Any], creds: dict[str, Any]) -> list[LocalMedia]:
    """The local files among ``--media``, checked; each value naming one is replaced in
    ``kwargs`` by the URL the file will have once uploaded."""
    try:
        found = local_media(kwargs["media"])
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--media") from None
    if not any(found):
        return []
    env = os.environ
    base = creds["base_url"] or env.get("BW_MESSAGING_BASE_URL", "").strip() or DEFAULT_BASE_URL
    account = creds["account_id"] or env.get("BW_ACCOUNT_ID", "").strip() or "ACCOUNT"
    kwargs["media"] = tuple(
        given if file is None else file.url(base.rstrip("/"), account)
        for given, file in zip(kwargs["media"], found, strict=True)
    )
    return [file for file in found if file is not None]


async def upload(sender: Sender, uploads: Sequence[LocalMedia], out: Console) -> None:
    """Each local ``--media`` file into Bandwidth's media store, once for this run."""
    for file in uploads:
        try:
            await sender.upload_media(file.media_id, file.path.read_bytes(), file.content_type)
        except (BwmsgError, OSError) as exc:
            raise click.ClickException(
                f"--media {file.path}: the upload failed, nothing was sent: {exc}"
            ) from None
        out.print(
            f"uploaded {escape(file.path.name)} ({file.size:,} bytes, {file.content_type}) "
            "for this run",
            soft_wrap=True,
        )
