"""Text from outside (a server's answer, a CSV cell) made safe to print, log or raise.

A terminal obeys control characters: an escape sequence can clear the screen or retitle the
window, a carriage return or line feed can forge a log line, and bidirectional overrides can
make text read differently from what it is. :func:`printable` shows each such character as
its escape (``\\x1b``, ``\\n``, ``\\u202e``): seen, never obeyed.
"""

from __future__ import annotations

import unicodedata

__all__ = ["printable"]

_ASCII_SAFE = frozenset(chr(c) for c in range(0x20, 0x7F))


# Bidirectional controls: they reorder what follows on the line (other format characters,
# such as the zero-width joiner inside emoji, are harmless and kept).
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _shown(char: str, keep_newlines: bool) -> str:
    if char in _ASCII_SAFE or (char == "\n" and keep_newlines):
        return char
    if char in _BIDI or unicodedata.category(char) in ("Cc", "Zl", "Zp"):
        return repr(char)[1:-1]
    return char


def printable(text: str, limit: int | None = None, *, keep_newlines: bool = False) -> str:
    """``text`` with control, format and line-separator characters written as escapes, cut to
    ``limit`` characters (then ending in ``...``) when it is longer."""
    if text.isascii() and text.isprintable():
        shown = text
    else:
        shown = "".join(_shown(char, keep_newlines) for char in text)
    if limit is not None and len(shown) > limit:
        return shown[: max(0, limit - 3)] + "..."
    return shown
