"""Recipient lists (CSV with a header row, or JSON Lines) and the templates rendered from them.

A CSV file's delimiter is the one of ``,`` ``;`` and tab its header line has most of (European
spreadsheets write ``;``), a comma when it has none. Header names are trimmed; ``to`` and
``from`` are found whatever their case (``To``, ``FROM``), and a template's ``{name}`` fills
from a ``Name`` column when no column is named exactly ``name``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import string
from collections.abc import Generator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from .._errors import BwmsgError, RequestValidationError
from .._models import MessageRequest
from .._segments import gsm_lookalikes
from ._numbers import check_country, to_e164

__all__ = [
    "InputError",
    "RenderError",
    "Template",
    "fingerprint",
    "is_jsonl",
    "read_recipients",
    "read_rows",
    "read_text_template",
    "recipient_key",
]

_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonlines")


class InputError(BwmsgError, ValueError):
    """The recipient file cannot be read at all (not a row-level problem)."""


class RenderError(BwmsgError, ValueError):
    """One row cannot become a message; the reason is the message text."""


def is_jsonl(path: Path) -> bool:
    """Whether ``path`` is read as JSON Lines (by its suffix) rather than CSV."""
    return path.suffix.lower() in _JSONL_SUFFIXES


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return ";".join(_cell(v) for v in value)
    return json.dumps(value) if isinstance(value, dict) else str(value)


def read_rows(path: str | Path) -> Generator[tuple[int, dict[str, str] | RenderError], None, None]:
    """Yield ``(row_number, columns)`` for each recipient row, lazily; numbers start at 1.

    CSV files need a header row; ``.jsonl`` / ``.ndjson`` files hold one JSON object a line.
    A row that cannot be read (bad JSON, not an object) is yielded as a :class:`RenderError`
    so that it is recorded as failed and the run goes on. Raises :class:`InputError` when
    the file as a whole is unusable (missing, no ``to`` column, not UTF-8).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"recipient file not found: {path}")
    if is_jsonl(path):
        yield from _read_jsonl(path)
    else:
        yield from _read_csv(path)


_DELIMITERS = (",", ";", "\t")
_SPECIAL = ("to", "from")  # the columns bwmsg itself reads, found whatever their case


def _delimiter(header: str) -> str:
    """The delimiter a header line uses most of (quoted names aside); a comma when none."""
    unquoted = "".join(header.split('"')[::2])
    counts = [(unquoted.count(d), -i, d) for i, d in enumerate(_DELIMITERS)]
    best = max(counts)
    return best[2] if best[0] else ","


def _names(fields: list[str]) -> list[str]:
    names = [f.strip() for f in fields]
    exact = set(names)
    return [n.lower() if n.lower() in _SPECIAL and n.lower() not in exact else n for n in names]


def _csv_records(path: Path) -> Iterator[tuple[int, list[str] | csv.Error]]:
    """The header's names as ``(0, names)``, then ``(number, cells)`` for every row, numbered
    as ``csv.DictReader`` numbers them (blank lines skipped); a row the csv module cannot read
    comes as ``(number, its csv.Error)``. Raises :class:`InputError` for the whole file."""
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        try:
            delimiter = _delimiter(handle.readline())
            handle.seek(0)  # the decoder starts again: a BOM is dropped again
        except UnicodeDecodeError as exc:
            raise InputError(f"{path} is not UTF-8 text ({exc.reason}): save it as UTF-8") from exc
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            fields = next(reader, [])
        except UnicodeDecodeError as exc:
            raise InputError(f"{path} is not UTF-8 text ({exc.reason}): save it as UTF-8") from exc
        except csv.Error as exc:
            raise InputError(f"{path}: the header row cannot be read: {exc}") from exc
        if not fields:
            raise InputError(f"{path} is empty: it needs a header row with a 'to' column")
        names = _names(fields)
        if "to" not in names:
            raise InputError(
                f"{path} has no 'to' column (its columns: {', '.join(names)}); the header row "
                "must name one"
            )
        yield 0, names
        number = 0
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{path} is not UTF-8 text after row {number} ({exc.reason}): save it as UTF-8"
                ) from exc
            except csv.Error as exc:
                number += 1
                yield number, exc
                continue
            if record:  # a blank line is no row
                number += 1
                yield number, record


def _read_csv(path: Path) -> Iterator[tuple[int, dict[str, str] | RenderError]]:
    records = _csv_records(path)
    _, names = next(records)
    assert isinstance(names, list)
    width = len(names)
    for number, cells in records:
        if isinstance(cells, csv.Error):
            yield number, RenderError(f"unreadable CSV row: {cells}")
        elif len(cells) > width:
            yield (
                number,
                RenderError(f"the row has {len(cells) - width} more cells than the header"),
            )
        elif len(cells) < width:
            yield (
                number,
                RenderError(f"the row has {width - len(cells)} fewer cells than the header"),
            )
        else:
            yield number, dict(zip(names, cells, strict=True))


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, str] | RenderError]]:
    with path.open("rb") as handle:
        number = 0
        for raw in handle:
            if not raw.strip():
                continue
            number += 1
            try:
                data = json.loads(raw)
            except ValueError as exc:
                yield number, RenderError(f"not valid JSON: {exc}")
                continue
            if not isinstance(data, dict):
                yield number, RenderError("a JSON Lines row must be an object")
                continue
            yield number, {str(k): _cell(v) for k, v in data.items()}


def fingerprint(path: str | Path, **settings: Any) -> str:
    """A digest of the recipient file's bytes and the settings that shape each message."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _fields(template: str) -> list[str]:
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name]
    except ValueError as exc:
        raise ValueError(f"the template {template!r} is not valid: {exc}") from exc


def _str_tuple(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


class _Row(dict[str, str]):
    def __missing__(self, key: str) -> str:
        folded = key.casefold()
        for name, value in self.items():  # {name} from a "Name" column
            if name.casefold() == folded:
                return value
        raise RenderError(f"the template uses {{{key}}} but the row has no '{key}' column")


def _country(value: str | None) -> str | None:
    return None if value is None else check_country(value)


def _national_hint(recipients: list[str]) -> str:
    national = [n for n in recipients if not n.startswith("+") and any(c.isdigit() for c in n)]
    if not national:
        return ""
    return " (a national number? give --default-country, such as US, to write it in E.164)"


@attrs.frozen(kw_only=True)
class Template:
    """How each row becomes a message: ``{column}`` placeholders in text, media and tag.

    Args:
        text: the text template (``"Hi {name}"``), or None for media only.
        media: media URL templates.
        tag: the tag template; when None, :meth:`render` is given the default tag.
        from_: the sending number for rows without a ``from`` column.
        application_id: the application id for every message (or the Sender's).
        default_country: numbers without a leading ``+`` are read as this country's (ISO
            3166 code such as ``"US"``) and written in E.164 (needs ``bwmsg[phone]``).
        smart_encoding: replace typographic quotes, dashes and ellipses in the text by their
            GSM-7 look-alikes (see :func:`bwmsg._segments.gsm_lookalikes`), so that a text
            pasted from a word processor is not sent as UCS-2.
    """

    text: str | None = None
    media: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    tag: str | None = None
    from_: str | None = None
    application_id: str | None = None
    default_country: str | None = attrs.field(default=None, converter=_country)
    smart_encoding: bool = False

    def __attrs_post_init__(self) -> None:
        for part in (self.text, self.tag, *self.media):
            if part is not None:
                _fields(part)  # raises ValueError for a broken template, before any row
        if not self.text and not self.media:
            raise ValueError("a campaign needs a text template, media, or both")

    def columns(self) -> list[str]:
        """The columns the templates name (``{name}``, ``{name.title}`` -> ``name``), in order."""
        names: list[str] = []
        for part in (self.text, self.tag, *self.media):
            for field in _fields(part) if part is not None else ():
                name = field.split(".", 1)[0].split("[", 1)[0]
                if name not in names:
                    names.append(name)
        return names

    def settings(self) -> dict[str, Any]:
        """What identifies the template, for the journal's fingerprint. Options left at
        their defaults are not named, so that journals made before they existed still match."""
        settings = attrs.asdict(self)
        for name in ("default_country", "smart_encoding"):
            if not settings[name]:
                del settings[name]
        return settings

    def render(self, columns: Mapping[str, str], default_tag: str | None = None) -> MessageRequest:
        """The request for one row. Raises :class:`RenderError` with the reason."""
        row = _Row(columns)
        try:
            text = self.text.format_map(row) if self.text is not None else None
            media = tuple(m.format_map(row) for m in self.media)
            tag = self.tag.format_map(row) if self.tag is not None else default_tag
        except RenderError:
            raise
        except (ValueError, IndexError, AttributeError, KeyError) as exc:
            raise RenderError(f"the template cannot be filled from this row: {exc}") from exc
        recipients = [n.strip() for n in columns.get("to", "").split(";") if n.strip()]
        if self.default_country is not None:
            recipients = [to_e164(n, self.default_country) for n in recipients]
        if text is not None and self.smart_encoding:
            text = gsm_lookalikes(text)
        sender = (columns.get("from") or "").strip() or self.from_
        if sender is None:
            raise RenderError("no sending number: the row has no 'from' and --from was not given")
        try:
            return MessageRequest(
                to=recipients,
                from_=sender,
                text=text,
                media=media,
                tag=tag,
                application_id=self.application_id,
            )
        except RequestValidationError as exc:
            reasons = "; ".join(str(fe) for fe in exc.field_errors)
            hint = _national_hint(recipients) if self.default_country is None else ""
            raise RenderError(f"invalid message: {reasons}{hint}") from exc


def read_recipients(path: str | Path) -> Iterator[tuple[int, str]]:
    """``(row_number, to)`` of every row, numbered exactly as :func:`read_rows` numbers them.

    Several times cheaper than :func:`read_rows` for a CSV file (no dict per row): the journal
    reads every row this way once, before sending. A row :func:`read_rows` reports as a
    :class:`RenderError` has ``""`` as its ``to``.
    """
    path = Path(path)
    if is_jsonl(path) or not path.is_file():  # read_rows says what is wrong with the file
        for number, columns in read_rows(path):
            yield number, columns.get("to", "") if isinstance(columns, dict) else ""
        return
    records = _csv_records(path)
    _, names = next(records)
    assert isinstance(names, list)
    column, width = names.index("to"), len(names)
    for number, cells in records:
        yield number, cells[column] if isinstance(cells, list) and len(cells) == width else ""


def read_text_template(path: str | Path) -> str:
    r"""The text template in ``path`` (``--text-file``), exactly as written but for two things.

    The file is read as UTF-8; a UTF-8 byte order mark at its start and exactly one final line
    break (``\n`` or ``\r\n``, an editor's, not the message's) are dropped. Nothing else
    changes: other whitespace and line breaks (``\r\n`` included) stay, so a file that ends in
    two line breaks gives a template ending in one.

    Raises :class:`InputError` naming the file when it cannot be read or is not UTF-8.
    """
    path = Path(path)
    try:
        data = path.read_bytes()  # bytes, not text mode: line breaks are kept as they are
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text ({exc.reason}): save it as UTF-8") from exc
    for ending in ("\r\n", "\n"):
        if text.endswith(ending):
            return text[: -len(ending)]
    return text


def recipient_key(to: str) -> str:
    """What identifies a row's recipients when looking for duplicates: ``to`` normalised.

    ``to`` is split on ``;``; each number is stripped, empty ones dropped, repeats removed, and
    the rest sorted and joined with ``;``. So ``"+1; +2"``, ``"+2;+1;"`` and ``"+1;+2;+1"`` are
    the same recipients (``"+1;+2"``), and ``""`` has the key ``""``.
    """
    if ";" not in to:  # one number: most rows, on the journal's first pass
        return to.strip()
    return ";".join(sorted({number.strip() for number in to.split(";")} - {""}))
