"""Error codes of ``message-failed`` callbacks, in words: whose fault, billed or not."""

from __future__ import annotations

import attrs

from .._error_codes import CODES

__all__ = ["ErrorCode", "describe_error", "error_code"]


@attrs.frozen(kw_only=True)
class ErrorCode:
    """One of Bandwidth's ``message-failed`` error codes.

    Attributes:
        code: the number, e.g. 4432.
        name: Bandwidth's short name, e.g. ``rejected-forbidden-country``.
        description: a few words a person can read.
        kind: ``"client"`` (4xxx: sending it again gives the same result), ``"server"``
            (5xxx: a service failure, a later retry may work) or ``"ambiguous"`` (9xxx).
        carrier: True when the carrier reported it rather than Bandwidth.
        billable: whether Bandwidth bills the failed message; None for a code not in the
            table.
    """

    code: int
    name: str
    description: str
    kind: str
    carrier: bool
    billable: bool | None


def _kind(code: int) -> str:
    return {4: "client", 5: "server", 9: "ambiguous"}.get(code // 1000, "unknown")


def error_code(code: int) -> ErrorCode:
    """The :class:`ErrorCode` for ``code``; one built from its digits when it is not known."""
    kind = _kind(code)
    carrier = (code // 100) % 10 in (6, 7)
    known = CODES.get(code)
    if known is not None:
        name, words, billable = known
        return ErrorCode(
            code=code,
            name=name,
            description=words,
            kind=kind,
            carrier=carrier,
            billable=billable,
        )
    words = {
        "client": "rejected (client error)",
        "server": "service failure",
        "ambiguous": "failed downstream, cause unclear",
    }.get(kind, "unknown error")
    return ErrorCode(
        code=code,
        name="unknown",
        description=words,
        kind=kind,
        carrier=carrier,
        billable=None,
    )


def describe_error(code: int | None) -> str:
    """An error code in words: ``"4432 messaging to this country forbidden (client, not
    billed)"``. An empty string for None."""
    if code is None:
        return ""
    info = error_code(code)
    billed = {True: ", billed", False: ", not billed", None: ""}[info.billable]
    return f"{code} {info.description} ({info.kind}{billed})"


# -- models ----------------------------------------------------------------------------------------
