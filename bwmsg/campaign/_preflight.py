"""What a campaign checks before its first send: mistakes that would fail every row.

A template naming a column the input lacks, or rows with no sending number and no
``--from``, would make every row ``failed`` — and bind the journal to the broken settings.
:func:`check` finds them from the header (CSV) or the first rows (JSON Lines) instead.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from .._errors import BwmsgError
from ._input import Template, is_jsonl, read_rows

__all__ = ["PreflightError", "check"]

# JSON Lines rows may differ in their keys: a column is missing when none of these has it.
_JSONL_ROWS = 100


class PreflightError(BwmsgError, ValueError):
    """The campaign would fail every row; the message says what to fix."""


def _header(path: Path) -> list[str]:
    """The input's columns: a CSV's header, or the keys of the first JSON Lines rows."""
    seen: list[str] = []
    for _, columns in itertools.islice(read_rows(path), _JSONL_ROWS):
        if isinstance(columns, dict):
            seen.extend(name for name in columns if name not in seen)
            if not is_jsonl(path):
                break  # a CSV row has every column of the header
    return seen


def check(path: str | Path, template: Template) -> None:
    """Raise :class:`PreflightError` naming every problem found; the file is read only in
    part. Raises :class:`~bwmsg.campaign.InputError` when the file cannot be read at all."""
    path = Path(path)
    have = _header(path)
    if not have:
        return  # no readable row: every row is reported on its own
    problems = []
    folded = {name.casefold() for name in have}
    missing = [name for name in template.columns() if name.casefold() not in folded]
    if missing:
        listed = ", ".join("{" + name + "}" for name in missing)
        problems.append(
            f"the template uses {listed} but {path.name} has no such column (its columns: "
            f"{', '.join(have)}): fix the template or the header"
        )
    if template.from_ is None and "from" not in have:
        problems.append(f"no sending number: give --from NUMBER ({path.name} has no 'from' column)")
    if problems:
        raise PreflightError("; ".join(problems))
