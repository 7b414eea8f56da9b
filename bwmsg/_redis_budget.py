"""A rate limit and a 429 pause kept in Redis, shared by every Sender that uses one name.

Why: replicas of a service (pods, gunicorn workers) or workers of a campaign, each with its own
local throttle, send N times the account's rate together and each pauses alone after a 429.
Kept in one Redis, the budget and the pause are the same for all of them, on any machine.

How: one round trip per acquisition, a Lua script (loaded once, then run by its SHA) that makes
the whole step atomically on the Redis server and takes the time from the server's own clock
(``TIME``), so that the machines' clocks never disagree about the budget:

- the pause: while the name's pause key holds an end still ahead, the script answers how long
  is left and charges nothing (the caller waits, then asks again);
- the budget, by GCRA (the generic cell rate algorithm: a token bucket kept as one number, the
  lane's *theoretical arrival time*). With ``T = 1/rate`` seconds per segment, a request of
  ``cost`` segments moves it to ``max(tat, now) + cost·T`` and may go once that is no more than
  ``burst·T`` ahead of now. The cost is always booked, even when the request must wait (a
  reservation, as the local bucket makes one), and the script answers the wait.

Keys, hash-tagged by the name so that one script's keys share a slot on a Redis Cluster, in
microseconds of the server's clock, each expiring a second after it stops mattering::

    bwmsg:{name}:pause            the end of the pause after a 429
    bwmsg:{name}:rate             the theoretical arrival time of the one lane
    bwmsg:{name}:rate:<from>      ... of each ``from`` number's lane (``per_sender``)

Failures: an error reaching or asking Redis is a :class:`~bwmsg.TransportError` naming Redis and
its host:port (never the password): the request is not made, and the Sender's retry policy
decides. redis-py tries again only once, after a connection error (a pooled connection that
died while idle, as after a restart), never after a timeout. Connecting and each answer have a
timeout (2 s; ``?socket_timeout=`` and ``?socket_connect_timeout=`` in the URL win), so a Redis
that hangs cannot hang a send. Each Sender keeps at most 16 connections (``?max_connections=``),
waited for (2 s at most) when all are busy. redis-py (the ``redis`` extra) is imported only
when a Redis URL is used.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import re
from collections.abc import Sequence
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from ._errors import TransportError
from ._printable import printable

__all__ = ["INSTALL_HINT", "RedisBudget", "check_name", "check_url", "redacted"]

INSTALL_HINT = "pip install 'bwmsg[redis]'"
URL_FORM = (
    "redis://[[user]:password@]host[:port][/db], rediss://... (TLS) "
    "or unix://[[user]:password@]/path/to/redis.sock[?db=N]"
)
TIMEOUT = 2.0  # seconds to connect, and to wait for each answer (the URL's options win)
CONNECTIONS = 16  # per Sender, at most (the URL's ?max_connections= wins)
_CLOSE_WAIT = 1.0  # seconds aclose gives the writes still under way (a pause others must see)
_NAME = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_SECRET_QUERY = frozenset({"password"})

logger = logging.getLogger("bwmsg")

# KEYS[1] the lane's theoretical arrival time, KEYS[2] the pause's end (µs, server clock).
# ARGV: cost (segments), µs per segment, burst (segments). Answers {charged, µs to wait}.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local paused = tonumber(redis.call('GET', KEYS[2]))
if paused and paused > now then
    return {0, math.ceil(paused - now)}
end
local interval = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then
    tat = now
end
tat = tat + tonumber(ARGV[1]) * interval
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
return {1, math.max(0, math.ceil(tat - tonumber(ARGV[3]) * interval - now))}
"""

# KEYS[1] the lane; ARGV: cost, µs per segment. Gives back a reservation that was not used.
_REFUND = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat then
    return 0
end
tat = tat - tonumber(ARGV[1]) * tonumber(ARGV[2])
if tat <= now then
    redis.call('DEL', KEYS[1])
    return 1
end
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
return 1
"""

# KEYS[1] the pause's end; ARGV: µs from now. Lengthens the pause, never shortens it.
_PAUSE = """
local t = redis.call('TIME')
local ends = tonumber(t[1]) * 1000000 + tonumber(t[2]) + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]))
if current and current >= ends then
    return 0
end
redis.call('SET', KEYS[1], string.format('%.0f', ends), 'PX', math.ceil(ARGV[1] / 1000) + 1000)
return 1
"""


def library() -> ModuleType:
    """``redis.asyncio`` (redis-py), or a ValueError saying how to install it."""
    try:
        return importlib.import_module("redis.asyncio")
    except ImportError:
        raise ValueError(
            f"RateLimit.redis_url needs redis-py, which is not installed: {INSTALL_HINT}"
        ) from None


def _password(url: str) -> str | None:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    return parts.password or query.get("password") or None


def redacted(url: str) -> str:
    """``url`` with its password (in the user part or the query) shown as ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<a URL that cannot be read>"
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":***"
    netloc = f"{userinfo}{at}{hostport}"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = parts.query
    if any(key in _SECRET_QUERY for key, _ in pairs):
        query = urlencode([(k, "***" if k in _SECRET_QUERY else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _problem(url: str) -> str | None:
    """What is wrong with a Redis URL, or None."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "unix":
        return None if parts.path not in ("", "/") else "no socket path"
    if scheme not in ("redis", "rediss"):
        return f"scheme {parts.scheme!r} is not redis, rediss or unix"
    if not parts.hostname:
        return "no host"
    if parts.port is not None and parts.port == 0:  # .port refuses a port that is not 0-65535
        return "port 0"
    if parts.path not in ("", "/") and not parts.path[1:].isdigit():
        return f"database {parts.path[1:]!r} is not a number"
    return None


def check_url(url: object) -> None:
    """A ValueError naming ``RateLimit.redis_url`` and the form, unless ``url`` is a Redis URL."""
    if not isinstance(url, str):
        raise ValueError(
            f"RateLimit.redis_url must be a string ({URL_FORM}), got {type(url).__name__}"
        )
    try:
        problem = _problem(url) if "://" in url else "no scheme"
    except ValueError as exc:  # a port that is not a number, a bracket left open
        problem = str(exc)
    if problem is not None:
        raise ValueError(
            f"RateLimit.redis_url must be {URL_FORM}, got {printable(redacted(url), 200)!r} "
            f"({problem})"
        )


def check_name(name: object) -> None:
    """A ValueError naming ``RateLimit.name`` unless it can name a budget (in Redis keys)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        shown = printable(repr(name), 100)
        raise ValueError(
            f"RateLimit.name must be 1 to 128 letters, digits, '.', '_', ':' or '-', got {shown}"
        )


def where(url: str) -> str:
    """The host:port (or socket path) a Redis URL points at, for messages."""
    parts = urlsplit(url)
    if parts.scheme.lower() == "unix":
        return f"unix:{parts.path}"
    host = parts.hostname or "localhost"
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{parts.port or 6379}"


class RedisBudget:
    """The budget and the pause of one name in Redis, for one Sender (one client of its own).

    The client is made on first use, in the running loop, and closed by :meth:`aclose`.

    Args:
        url: the Redis URL (already checked).
        name: the shared name (already checked); it makes the keys.
        rate: segments per second.
        burst: the most segments that may go at once after a quiet spell.
    """

    def __init__(self, url: str, name: str, rate: float, burst: float) -> None:
        self._url = url
        self._where = where(url)
        secret = _password(url)
        self._secrets = {secret, unquote(secret)} - {""} if secret else set()
        self._prefix = f"bwmsg:{{{name}}}:"
        self._interval = 1e6 / rate  # µs per segment
        self._burst = burst
        self._client: Any = None
        self._pool: Any = None
        self._scripts: dict[str, Any] = {}
        self._errors: tuple[type[BaseException], ...] = ()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def key(self, lane: str | None) -> str:
        """The key of a lane's theoretical arrival time (None: the one lane)."""
        return f"{self._prefix}rate" if lane is None else f"{self._prefix}rate:{lane}"

    @property
    def pause_key(self) -> str:
        """The key of the pause's end."""
        return f"{self._prefix}pause"

    def __repr__(self) -> str:
        return f"RedisBudget({redacted(self._url)!r}, keys={self._prefix}*)"

    async def acquire(self, lane: str | None, cost: int) -> tuple[bool, float]:
        """One step: ``(True, seconds)`` when ``cost`` was booked and may go after ``seconds``;
        ``(False, seconds)`` when a pause has ``seconds`` left (nothing booked).

        Raises:
            TransportError: Redis cannot be reached or failed (naming it, never the password).
        """
        if self._closed:
            raise TransportError(f"the shared rate limit in Redis at {self._where} is closed")
        answer = await self._run("acquire", [self.key(lane), self.pause_key], [cost])
        charged, micros = answer
        return bool(charged), int(micros) / 1e6

    def refund(self, lane: str | None, cost: int) -> None:
        """Give back, soon, a booking that was not used (its wait was cancelled)."""
        self._later("refund", [self.key(lane)], [cost], "a cancelled reservation not given back")

    def pause(self, seconds: float) -> None:
        """Hold every Sender of the name back for ``seconds`` from now (written soon)."""
        micros = max(1, round(seconds * 1e6))
        self._later("pause", [self.pause_key], [micros], "the pause after a 429 not shared")

    async def aclose(self) -> None:
        """Finish the writes under way (a second at most), then close the client."""
        self._closed = True
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=_CLOSE_WAIT)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        client, self._client = self._client, None
        if client is not None:
            await (getattr(client, "aclose", None) or client.close)()  # redis-py < 5.0.1: close
            await self._pool.disconnect()

    # -- the client and its calls ----------------------------------------------------------------

    def _connect(self) -> None:
        client = library()
        retry = importlib.import_module("redis.asyncio.retry")
        backoff = importlib.import_module("redis.backoff")
        errors = importlib.import_module("redis.exceptions")
        self._errors = (errors.RedisError, OSError, asyncio.TimeoutError)
        # One more try after a connection error only (a pooled connection that died while
        # idle, as after a restart); never after a timeout, which would double the hang.
        once = retry.Retry(backoff.NoBackoff(), 1, supported_errors=(errors.ConnectionError,))
        # A few connections, waited for when all are busy (a round trip is short), rather than
        # one per waiting request: replicas x concurrency connections would crowd Redis.
        self._pool = client.BlockingConnectionPool.from_url(
            self._url,
            max_connections=CONNECTIONS,
            timeout=TIMEOUT,
            socket_timeout=TIMEOUT,
            socket_connect_timeout=TIMEOUT,
            retry=once,
        )
        self._client = client.Redis(connection_pool=self._pool)
        for name, source in (("acquire", _ACQUIRE), ("refund", _REFUND), ("pause", _PAUSE)):
            self._scripts[name] = self._client.register_script(source)

    async def _run(self, script: str, keys: list[str], args: Sequence[float]) -> Any:
        if self._client is None:
            self._connect()
        try:
            return await self._scripts[script](keys=keys, args=[*args, self._interval, self._burst])
        except self._errors as exc:
            raise self._failure(exc) from exc

    def _failure(self, exc: BaseException) -> TransportError:
        detail = str(exc) or "no answer in time"
        for secret in self._secrets:
            detail = detail.replace(secret, "***")
        return TransportError(
            f"Redis at {self._where} failed, so the rate limit shared there cannot be kept "
            f"and the request was not made: {type(exc).__name__}: {printable(detail, 300)}"
        )

    def _later(self, script: str, keys: list[str], args: Sequence[float], lost: str) -> None:
        if self._closed:
            return
        task = asyncio.get_running_loop().create_task(self._quietly(script, keys, args, lost))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _quietly(
        self, script: str, keys: list[str], args: Sequence[float], lost: str
    ) -> None:
        try:
            await self._run(script, keys, args)
        except TransportError as exc:
            logger.warning("%s: %s", lost, exc)
