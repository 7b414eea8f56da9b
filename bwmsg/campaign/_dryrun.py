"""The dry run: render every row and count what a campaign would send and cost."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import attrs

from .._models import MessageRequest
from .._segments import SegmentInfo, non_gsm_characters, segments
from ._feeds import default_tag
from ._input import RenderError, Template, fingerprint, read_rows, recipient_key
from ._quiet import NEVER, QuietHours, held_until

__all__ = ["DryRunReport", "dry_run"]

_INVALID_KEPT = 50  # (row, reason) pairs a report keeps; every invalid row is still counted
_DUPLICATES_KEPT = 20  # (row, earlier row) pairs a report keeps; every duplicate is counted


@attrs.frozen(kw_only=True)
class DryRunReport:
    """What a campaign would send and cost, computed without sending anything.

    Attributes:
        rows: rows in the input.
        messages: rows that would become a message (duplicates included: without
            ``--dedupe`` they are sent).
        invalid: (row, reason) of rows that would not, the first 50.
        invalid_count: how many rows would not.
        segments: segments that would be billed, by encoding (``GSM-7``, ``UCS-2``, ``MMS``),
            counted per recipient.
        ucs2_rows: rows whose text is UCS-2.
        ucs2_characters: the characters that force UCS-2, with how many rows each appears in.
        sample: the request of the first row that would become a message (the templates
            filled in), or None when no row would.
        sample_row: that row's number, or None.
        sample_segments: the segments of ``sample``'s text, or None when there is no sample
            or it is an MMS (media: billed as one MMS per recipient).
        duplicates: rows that would become a message whose recipients an earlier such row
            already has (the same numbers, in any order: ``"+1;+2"`` repeats ``"+2;+1"``).
        duplicate_examples: (row, earlier row) of those, the first 20.
        converted_numbers: national numbers written in E.164 (``default_country``).
        segments_saved: segments ``smart_encoding`` saves, counted per recipient.
        held: with quiet hours, rows that would be held at the time given (``now``).
        held_never: of those, rows no moment allows (no known time zone for a number, or
            zones with no common window): a run never sends them.
        opens: when the first held row (of those that can go) would be sent, or None.
    """

    rows: int
    messages: int
    invalid: list[tuple[int, str]]
    invalid_count: int
    segments: dict[str, int]
    ucs2_rows: int
    ucs2_characters: list[tuple[str, int]]
    sample: MessageRequest | None = None
    sample_row: int | None = None
    sample_segments: SegmentInfo | None = None
    duplicates: int = 0
    duplicate_examples: list[tuple[int, int]] = attrs.field(factory=list)
    converted_numbers: int = 0
    segments_saved: int = 0
    held: int = 0
    held_never: int = 0
    opens: datetime | None = None

    @property
    def total_segments(self) -> int:
        """All segments, every encoding."""
        return sum(self.segments.values())

    @property
    def ok(self) -> bool:
        """True when at least one row would become a message (False for an empty input)."""
        return self.messages > 0


@attrs.define
class _Tally:
    """The counts as rows are read; memory stays bounded however many rows there are."""

    rows: int = 0
    messages: int = 0
    invalid: list[tuple[int, str]] = attrs.field(factory=list)
    invalid_count: int = 0
    by_encoding: Counter[str] = attrs.field(factory=Counter)
    ucs2_rows: int = 0
    forcing: Counter[str] = attrs.field(factory=Counter)
    sample: MessageRequest | None = None
    sample_row: int | None = None
    sample_segments: SegmentInfo | None = None
    # An 8-byte digest of each recipient key, not the key: about 115 bytes a valid row (60 MB
    # at 500,000) however long its recipient list. Two different keys share a digest with a
    # chance of about n²/2⁶⁵ (10⁻⁸ at 500,000 rows); the journal, which --dedupe follows,
    # compares the keys themselves.
    first_row_of: dict[bytes, int] = attrs.field(factory=dict)
    duplicates: int = 0
    duplicate_examples: list[tuple[int, int]] = attrs.field(factory=list)
    converted_numbers: int = 0
    segments_saved: int = 0
    held: int = 0
    held_never: int = 0
    opens: datetime | None = None

    def add_invalid(self, row: int, reason: str) -> None:
        self.rows += 1
        self.invalid_count += 1
        if len(self.invalid) < _INVALID_KEPT:
            self.invalid.append((row, reason))

    def add_message(self, row: int, request: MessageRequest) -> None:
        self.rows += 1
        self.messages += 1
        info = self._count_segments(request)
        if self.sample is None:
            self.sample, self.sample_row, self.sample_segments = request, row, info
        self._check_duplicate(row, request)

    def _count_segments(self, request: MessageRequest) -> SegmentInfo | None:
        if request.media:
            self.by_encoding["MMS"] += len(request.to)
            return None
        info = segments(request.text or "")
        self.by_encoding[info.encoding] += info.segments * len(request.to)
        if info.encoding == "UCS-2":
            self.ucs2_rows += 1
            self.forcing.update(non_gsm_characters(request.text or ""))
        return info

    def _check_duplicate(self, row: int, request: MessageRequest) -> None:
        key = recipient_key(";".join(request.to)).encode()
        digest = hashlib.blake2b(key, digest_size=8).digest()
        earlier = self.first_row_of.setdefault(digest, row)
        if earlier != row:
            self.duplicates += 1
            if len(self.duplicate_examples) < _DUPLICATES_KEPT:
                self.duplicate_examples.append((row, earlier))

    def report(self) -> DryRunReport:
        counts = {name: getattr(self, name) for name in _COUNTED_AS_REPORTED}
        return DryRunReport(
            segments=dict(self.by_encoding), ucs2_characters=self.forcing.most_common(), **counts
        )

    def check_quiet(self, request: MessageRequest, quiet: QuietHours, now: datetime) -> None:
        until = held_until(request.to, quiet, now)
        if until is None:
            return
        self.held += 1
        if until == NEVER:
            self.held_never += 1
        elif self.opens is None or until < self.opens:
            self.opens = until


# The report's fields a tally keeps as they are reported (it counts the other two in Counters).
_COUNTED_AS_REPORTED = tuple(
    field.name
    for field in attrs.fields(DryRunReport)
    if field.name not in ("segments", "ucs2_characters")
)


def dry_run(
    recipients: str | Path,
    template: Template,
    *,
    quiet: QuietHours | None = None,
    now: datetime | None = None,
) -> DryRunReport:
    """Render every row and count what the campaign would cost, sending nothing.

    Args:
        recipients: the recipient file (CSV with a header row, or JSON Lines).
        template: how each row becomes a message.
        quiet: quiet hours: count the rows they would hold at ``now``.
        now: when the run would start (aware; default: now).

    Every row is read once and none is kept: memory grows by about 115 bytes a valid row (an
    8-byte digest of its recipients, for the duplicate check), whatever its size. Raises
    :class:`~bwmsg.campaign.InputError` when the file as a whole cannot be read.
    """
    path = Path(recipients)
    campaign_id = fingerprint(path, **template.settings())[:12]
    plain = attrs.evolve(template, smart_encoding=False) if template.smart_encoding else None
    tally = _Tally()
    for row, columns in read_rows(path):
        try:
            if isinstance(columns, RenderError):
                raise columns
            request = template.render(columns, default_tag(campaign_id, row))
        except RenderError as exc:
            tally.add_invalid(row, str(exc))
            continue
        tally.add_message(row, request)
        if quiet is not None:
            tally.check_quiet(request, quiet, now or datetime.now(timezone.utc))
        if template.default_country is not None:
            given = [n.strip() for n in columns.get("to", "").split(";") if n.strip()]
            tally.converted_numbers += sum(a != b for a, b in zip(given, request.to, strict=True))
        if plain is not None and request.text:
            unchanged = plain.render(columns, request.tag).text or ""
            saved = segments(unchanged).segments - segments(request.text).segments
            tally.segments_saved += saved * len(request.to)
    return tally.report()
