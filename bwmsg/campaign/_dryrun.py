"""The dry run: render every row and count what a campaign would send and cost."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import attrs

from .._segments import non_gsm_characters, segments
from ._input import RenderError, Template, fingerprint, read_rows
from ._runner import default_tag

__all__ = ["DryRunReport", "dry_run"]


@attrs.frozen(kw_only=True)
class DryRunReport:
    """What a campaign would send and cost, computed without sending anything.

    Attributes:
        rows: rows in the input.
        messages: rows that would become a message.
        invalid: (row, reason) of rows that would not, the first 50.
        invalid_count: how many rows would not.
        segments: segments that would be billed, by encoding (``GSM-7``, ``UCS-2``, ``MMS``),
            counted per recipient.
        ucs2_rows: rows whose text is UCS-2.
        ucs2_characters: the characters that force UCS-2, with how many rows each appears in.
    """

    rows: int
    messages: int
    invalid: list[tuple[int, str]]
    invalid_count: int
    segments: dict[str, int]
    ucs2_rows: int
    ucs2_characters: list[tuple[str, int]]

    @property
    def total_segments(self) -> int:
        """All segments, every encoding."""
        return sum(self.segments.values())


def dry_run(recipients: str | Path, template: Template) -> DryRunReport:
    """Render every row and count what the campaign would cost, sending nothing."""
    path = Path(recipients)
    campaign_id = fingerprint(path, **template.settings())[:12]
    rows = messages = invalid_count = ucs2_rows = 0
    invalid: list[tuple[int, str]] = []
    by_encoding: Counter[str] = Counter()
    forcing: Counter[str] = Counter()
    for row, columns in read_rows(path):
        rows += 1
        try:
            if isinstance(columns, RenderError):
                raise columns
            request = template.render(columns, default_tag(campaign_id, row))
        except RenderError as exc:
            invalid_count += 1
            if len(invalid) < 50:
                invalid.append((row, str(exc)))
            continue
        messages += 1
        if request.media:
            by_encoding["MMS"] += len(request.to)
            continue
        info = segments(request.text or "")
        by_encoding[info.encoding] += info.segments * len(request.to)
        if info.encoding == "UCS-2":
            ucs2_rows += 1
            forcing.update(non_gsm_characters(request.text or ""))
    return DryRunReport(
        rows=rows,
        messages=messages,
        invalid=invalid,
        invalid_count=invalid_count,
        segments=dict(by_encoding),
        ucs2_rows=ucs2_rows,
        ucs2_characters=forcing.most_common(),
    )
