"""Phone numbers in logs: masked by default, in full only when asked; secrets in a command line
(option values and URL passwords).

bwmsg's log lines may name a recipient (``row 12 to +1919555**** failed``) but never show the
whole number unless full numbers were asked for, with :func:`log_full_numbers` or the
environment variable ``BWMSG_LOG_FULL_NUMBERS=1``. The journal, the results and the exports
keep full numbers: they are the user's data, not log output.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "Masked",
    "command_line",
    "hide_url_password",
    "log_full_numbers",
    "mask_number",
    "mask_numbers_in",
    "masked",
]

# Options whose value is a secret: never shown in a command line that is printed or stored.
_SECRET_OPTIONS = ("--password", "--client-secret")

# Digits hidden at the end of a number: the subscriber's line, without the country and area.
_HIDDEN = 4
# A phone-number-like run of digits in free text (an error description, say), not part of a
# longer word such as a message id.
_NUMBER = re.compile(r"(?<![\w+])\+?\d{7,15}(?!\w)")

_full: bool | None = None  # None: follow BWMSG_LOG_FULL_NUMBERS


def log_full_numbers(enabled: bool | None = True) -> None:
    """Show phone numbers in full in bwmsg's log lines (``False`` masks them again).

    ``None`` goes back to the default: masked, unless the environment variable
    ``BWMSG_LOG_FULL_NUMBERS`` is ``1``.
    """
    global _full
    _full = enabled


def _show_full() -> bool:
    if _full is not None:
        return _full
    return os.environ.get("BWMSG_LOG_FULL_NUMBERS", "").strip().lower() in ("1", "true", "yes")


def mask_number(number: str) -> str:
    """``+19195551212`` -> ``+1919555****``: the last four digits hidden (half of short ones).

    Several numbers joined by ``;`` (a group message) are masked one by one.
    """
    if ";" in number:
        return ";".join(mask_number(part) for part in number.split(";"))
    digits = sum(c.isdigit() for c in number)
    hide = min(_HIDDEN, max(1, digits // 2))
    out: list[str] = []
    for c in reversed(number):
        if hide and c.isdigit():
            out.append("*")
            hide -= 1
        else:
            out.append(c)
    return "".join(reversed(out))


def mask_numbers_in(text: str) -> str:
    """``text`` with every phone-number-like run of digits masked (unless full numbers are on)."""
    if _show_full():
        return text
    return _NUMBER.sub(lambda m: mask_number(m.group(0)), text)


class Masked:
    """A number that masks itself when a log line is formatted (so only if it is emitted)."""

    __slots__ = ("number",)

    def __init__(self, number: str) -> None:
        self.number = number

    def __str__(self) -> str:
        return self.number if _show_full() else mask_number(self.number)

    __repr__ = __str__


def masked(number: str) -> Masked:
    """Wrap ``number`` for a log call: ``logger.debug("to %s", masked(to))``."""
    return Masked(number)


# A URL's user and password (``postgresql://user:pass@host/db``, ``redis://:pass@host``), where
# an argument starts or after an option's ``=`` (``--journal=URL``). The password runs to the
# last ``@`` before the path, so that one holding an unescaped ``@`` is hidden whole.
_URL_PASSWORD = re.compile(r"(?i)(^|=)([a-z][a-z0-9+.-]*://[^:/?#@]*:)([^/?#]*)@")


def hide_url_password(arg: str) -> str:
    """``arg`` with the password of a URL in it (``scheme://user:pass@...``, alone or as an
    option's ``--name=URL``) replaced by ``...``."""
    return _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{m.group(2)}...@", arg, count=1)


def command_line(argv: Sequence[str] | None = None) -> str:
    """``argv`` (this process's by default) as a shell command line, ``bwmsg ...`` when it is
    the bwmsg command, with the values of ``--password`` and ``--client-secret`` hidden, and
    the password of any URL (a PostgreSQL journal's, a Redis server's)."""
    args = [hide_url_password(arg) for arg in (sys.argv if argv is None else argv)]
    for i, arg in enumerate(args):
        for name in _SECRET_OPTIONS:
            if arg == name and i + 1 < len(args):
                args[i + 1] = "..."
            elif arg.startswith(name + "="):
                args[i] = name + "=..."
    program = Path(args[0]).name if args else "python"
    return shlex.join(["bwmsg" if program in ("__main__.py", "bwmsg") else program, *args[1:]])
