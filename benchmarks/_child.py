"""One benchmark contender, run in a fresh interpreter: ``_child.py '<json spec>'``.

The spec names the contender, the server URL, N, the concurrency, the event loop and the CPU to
pin to. The child warms up (opening its connections), then measures N sends: wall time, CPU
time (user + system, all threads) and RSS, and prints one JSON line. Started by the benchmark
scripts through ``_common.run_child``; not meant to be run by hand.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import ACCOUNT_ID, APPLICATION_ID, PASSWORD, USERNAME, reference_sender

FROM = "+19195550000"
AUTH = "Basic dXNlcjpwYXNz"  # user:pass


def to_number(i: int) -> str:
    return f"+1919555{i % 10000:04d}"


def text_for(i: int) -> str:
    return f"Hello {i}, your appointment is confirmed for tomorrow at 10:00. Reply STOP to opt out."


def vm_rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- raw aiohttp --------------------------------------------------------------------------------


async def _raw(spec: dict[str, Any], encode: str) -> Callable[[int], Coroutine[Any, Any, int]]:
    import aiohttp

    url = spec["url"]
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=spec["concurrency"]),
        headers={
            "Authorization": AUTH,
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
    )
    fixed = json.dumps(
        {"to": [to_number(0)], "from": FROM, "text": text_for(0), "applicationId": APPLICATION_ID},
        separators=(",", ":"),
    ).encode()
    if encode == "orjson":
        import orjson

        dumps, loads = orjson.dumps, orjson.loads
    else:

        def dumps(obj: Any) -> bytes:
            return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()

        loads = json.loads

    async def run(n: int) -> int:
        it = iter(range(n))
        ok = 0

        async def worker() -> None:
            nonlocal ok
            for i in it:
                if encode == "none":
                    async with session.post(url, data=fixed) as response:
                        await response.read()
                        ok += response.status == 202
                else:
                    body = dumps(
                        {
                            "to": [to_number(i)],
                            "from": FROM,
                            "text": text_for(i),
                            "applicationId": APPLICATION_ID,
                        }
                    )
                    async with session.post(url, data=body) as response:
                        data = loads(await response.read())
                        ok += response.status == 202 and bool(data["id"])

        await asyncio.gather(*(worker() for _ in range(spec["concurrency"])))
        return ok

    run.close = session.close  # type: ignore[attr-defined]
    return run


# -- bwmsg ----------------------------------------------------------------------------------------


def _requests(n: int) -> Iterator[Any]:
    from bwmsg import MessageRequest

    for i in range(n):
        yield MessageRequest(to=to_number(i), from_=FROM, text=text_for(i))


async def _bwmsg(spec: dict[str, Any], mode: str) -> Callable[[int], Coroutine[Any, Any, int]]:
    import aiohttp

    from bwmsg import MessageRequest

    session = None
    if mode == "aiohttp":
        # The Sender sending through an aiohttp session of the user's instead of its own pool.
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=spec["concurrency"]))
    sender = reference_sender(spec["base_url"], spec["concurrency"], session=session)
    await sender.__aenter__()

    async def run(n: int) -> int:
        if mode == "gather":
            # The naive way: every request and every coroutine exists at once.
            messages = await asyncio.gather(
                *(
                    sender.send(MessageRequest(to=to_number(i), from_=FROM, text=text_for(i)))
                    for i in range(n)
                )
            )
            return sum(1 for m in messages if m.id)
        ok = 0
        async for result in sender.send_many(_requests(n)):
            ok += result.ok
        return ok

    async def close() -> None:
        await sender.aclose()
        if session is not None:
            await session.close()

    run.close = close  # type: ignore[attr-defined]
    return run


# -- bandwidth-sdk (synchronous, threads) -------------------------------------------------------


def _sdk(spec: dict[str, Any]) -> Callable[[int], int]:
    import threading

    import bandwidth
    from bandwidth.api.messages_api import MessagesApi
    from bandwidth.models.message_request import MessageRequest

    threads = spec["concurrency"]
    config = bandwidth.Configuration(
        host=spec["base_url"],  # the SDK appends /users/{accountId}/messages
        username=USERNAME,
        password=PASSWORD,
        ignore_operation_servers=True,  # else create_message uses its fixed Bandwidth host
    )
    config.connection_pool_maxsize = threads  # default: 5 x CPUs, which would queue threads
    api = MessagesApi(bandwidth.ApiClient(config))

    def run(n: int) -> int:
        it = iter(range(n))
        counts = [0] * threads

        def worker(k: int) -> None:
            for i in it:
                request = MessageRequest(
                    application_id=APPLICATION_ID,
                    to=[to_number(i)],
                    var_from=FROM,
                    text=text_for(i),
                )
                message = api.create_message(ACCOUNT_ID, request)
                counts[k] += bool(message.id)

        pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        return sum(counts)

    return run


# -- throttle -------------------------------------------------------------------------------------


def _throttle_requests(n: int | None) -> Iterator[Any]:
    from bwmsg import MessageRequest

    long_gsm = "Your parcel is on its way. " * 8  # 216 GSM-7 characters: 2 segments
    ucs2 = "Votre colis arrive demain — merci d’avoir commandé chez nous ✓ " * 2  # UCS-2: 2
    group = [to_number(k) for k in range(3)]
    i = 0
    while n is None or i < n:
        kind = i % 20
        if kind < 10:
            req = MessageRequest(to=to_number(i), from_=FROM, text=text_for(i))  # 1
        elif kind < 13:
            req = MessageRequest(to=to_number(i), from_=FROM, text=long_gsm)  # 2
        elif kind < 15:
            req = MessageRequest(to=to_number(i), from_=FROM, text=ucs2)  # 2
        elif kind < 18:
            req = MessageRequest(to=group, from_=FROM, text=text_for(i))  # 3 (group of 3)
        else:
            req = MessageRequest(
                to=group[:2], from_=FROM, text=long_gsm, media=["https://example.com/a.jpg"]
            )  # MMS to 2: 2
        yield req
        i += 1


async def _throttle(spec: dict[str, Any]) -> dict[str, Any]:
    """Send through a throttled Sender for spec['seconds']; record when each body was written."""
    from bwmsg import RateLimit, segments
    from bwmsg._transport import default_factory, use_factory

    stamps: list[tuple[float, int]] = []
    loop = asyncio.get_running_loop()
    recording = False

    class Timed:
        """The Sender's own transport, noting when each request is written: its exchange
        writes before it first suspends, so the time just before it is the time of the write."""

        def __init__(self, inner: Any) -> None:
            self.prepare = inner.prepare
            self.connection = inner.connection
            self.aclose = inner.aclose
            self.inner = inner

        async def exchange(self, link: Any, head: Any, body: bytes, deadline: float) -> Any:
            if recording:
                message = json.loads(body)
                per = 1 if message.get("media") else segments(message.get("text") or "").segments
                stamps.append((loop.time(), per * len(message["to"])))
            return await self.inner.exchange(link, head, body, deadline)

    def factory(url: Any, settings: Any, web: Any) -> Any:
        return Timed(default_factory(url, settings, web))

    rate = RateLimit(spec["rate"], burst=spec["burst"])
    seconds = spec["seconds"]
    permits: list[tuple[float, int]] = []
    # The Sender sends through its default transport, wrapped (the seam's hook).
    with use_factory(factory):
        async with reference_sender(spec["base_url"], spec["concurrency"], rate=rate) as sender:
            # Open the pool's connections first (a steady campaign has them open), then let the
            # bucket fill up again before measuring.
            async for _ in sender.send_many(_requests(spec["concurrency"])):
                pass
            await asyncio.sleep(rate.capacity / rate.segments_per_second + 0.05)
            # Benchmark-only instrumentation of a private attribute: when the gate (the 429
            # pause, then the throttle) lets each request go. Skipped if the Sender is built
            # differently.
            gate = getattr(sender, "_gate", None)
            if gate is not None and hasattr(gate, "wait"):
                wait = gate.wait

                async def timed_wait(request: Any) -> None:
                    await wait(request)
                    per = 1 if request.media else segments(request.text or "").segments
                    permits.append((loop.time(), per * len(request.to)))

                gate.wait = timed_wait
            recording = True
            started = loop.time()
            sent = failed = 0
            stream = sender.send_many(_throttle_requests(None))
            async for result in stream:
                sent += result.ok
                failed += not result.ok
                if loop.time() - started >= seconds:
                    break
            await stream.aclose()  # type: ignore[attr-defined]
    return {"stamps": stamps, "permits": permits, "sent": sent, "failed": failed}


# -- main -----------------------------------------------------------------------------------------


def main() -> None:
    spec = json.loads(sys.argv[1])
    os.sched_setaffinity(0, {spec["cpu"]})
    contender = spec["contender"]
    n, warm = spec.get("n", 0), spec.get("warmup", 2 * spec.get("concurrency", 1))

    if contender == "sdk":
        run_sync = _sdk(spec)
        run_sync(warm)
        rss0, cpu0, t0 = vm_rss_kb(), cpu_now(), time.perf_counter()
        ok = run_sync(n)
        wall, cpu = time.perf_counter() - t0, cpu_now() - cpu0
        extra: dict[str, Any] = {}
    else:

        async def main_async() -> tuple[int, float, float, int, dict[str, Any]]:
            if contender == "throttle":
                rss0, cpu0, t0 = vm_rss_kb(), cpu_now(), time.perf_counter()
                out = await _throttle(spec)
                return out["sent"], time.perf_counter() - t0, cpu_now() - cpu0, rss0, out
            if contender.startswith("raw"):
                run = await _raw(spec, contender.partition("-")[2] or "none")
            else:
                modes = {"bwmsg-gather": "gather", "bwmsg-aiohttp": "aiohttp"}
                run = await _bwmsg(spec, modes.get(contender, "many"))
            await run(warm)
            rss0, cpu0, t0 = vm_rss_kb(), cpu_now(), time.perf_counter()
            ok = await run(n)
            wall, cpu = time.perf_counter() - t0, cpu_now() - cpu0
            await run.close()  # type: ignore[attr-defined]
            return ok, wall, cpu, rss0, {}

        if spec.get("loop") == "uvloop":
            import uvloop

            ok, wall, cpu, rss0, extra = uvloop.run(main_async())
        else:
            ok, wall, cpu, rss0, extra = asyncio.run(main_async())

    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "ok": ok,
                "n": n,
                "wall": wall,
                "cpu": cpu,
                "rss_before_kb": rss0,
                "maxrss_kb": maxrss,
                **extra,
            }
        )
    )


if __name__ == "__main__":
    main()
