"""libfaketime (Debian's package) for the tests that need another wall-clock time: the
environment that makes a subprocess (``python -m bwmsg ...``) see ``at`` as now, its clock then
running on from there.

``FAKETIME_DONT_FAKE_MONOTONIC=1`` is NOT set, although it would keep the monotonic clock real:
with it, libfaketime 0.9.10 turns Python 3.11's ``time.sleep`` (``clock_nanosleep`` on
``CLOCK_MONOTONIC`` with ``TIMER_ABSTIME``) into ``EINVAL`` (libfaketime issue 426). Without it
the monotonic clock is shifted too, which no timer minds: durations stay true.

A missing library skips the test with the reason on a developer's machine; with
``BWMSG_REQUIRE_SERVERS=1`` (``.ci/run`` sets it and installs faketime) it fails instead.
"""

from __future__ import annotations

import glob
import os
from datetime import datetime, timezone

from tests.nginx_server import require

__all__ = ["faked_env", "libfaketime"]


def libfaketime() -> str:
    """The path of libfaketime.so.1 (or a skip / failure saying how to get it)."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        require("libfaketime", "apt-get install faketime (Debian's package)")
    return found[0]


def faked_env(at: datetime, base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) plus what makes ``at`` (aware) now."""
    stamp = at.astimezone(timezone.utc).strftime("@%Y-%m-%d %H:%M:%S")
    env = dict(os.environ if base is None else base)
    env.update(LD_PRELOAD=libfaketime(), FAKETIME=stamp, TZ="UTC")
    return env
