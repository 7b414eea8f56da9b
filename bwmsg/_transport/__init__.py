"""How bytes reach Bandwidth: the Transport seam (see ``_base.py``)."""

from __future__ import annotations

from ._base import (
    KEEPALIVE,
    Answer,
    AnswerTimeout,
    ConnectError,
    ExchangeError,
    Settings,
    Transport,
)

__all__ = [
    "KEEPALIVE",
    "Answer",
    "AnswerTimeout",
    "ConnectError",
    "ExchangeError",
    "Settings",
    "Transport",
]
