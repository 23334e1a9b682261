"""Async HTTP load generator (aiohttp, one session, keep-alive), closed or open loop.

Closed loop: N workers, each posting back to back for a duration (throughput at a concurrency).
Open loop: arrivals at a fixed rate (Poisson or evenly spaced) regardless of answers, with a cap on
requests in flight; latency counts from the scheduled arrival, so a late generator shows up in the
figures instead of hiding (coordinated omission). ``--self-test`` measures the generator's own
ceiling against a trivial server on another core: it must be far above what the service does.
"""

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import aiohttp
import service
from aio import run
from crops import PETA_ROOT, load_crops, payloads
from stats import markdown_table, percentiles_ms, verdict

Payload = tuple[bytes, dict[str, str]]
SELF_TEST_TARGET = 4000  # req/s at 32 clients on one core (issue 3: aiohttp reached over 4,000)


class Sample(NamedTuple):
    latency: float  # seconds from (scheduled) start to the full answer
    status: int  # HTTP status; 0 when the client gave up (timeout, connection error)
    retry_after: bool


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    wall_s: float = 0.0
    cpu_s: float = 0.0  # the generator's CPU time: near wall_s means it was the bottleneck
    not_sent: int = 0  # open loop: arrivals dropped because max in-flight was reached
    max_lag_ms: float = 0.0  # open loop: the latest the generator sent an arrival

    def summary(self) -> dict:
        ok = [s.latency for s in self.samples if s.status == 200]
        rejected = [s for s in self.samples if s.status == 503]
        statuses = Counter(s.status for s in self.samples)
        with_retry_after = sum(s.retry_after for s in rejected)
        return {
            "requests": len(self.samples),
            "ok": len(ok),
            "ok_per_s": len(ok) / self.wall_s if self.wall_s else 0.0,
            "status": {str(code): n for code, n in sorted(statuses.items())},
            "ok_ms": percentiles_ms(ok),
            "rejected_ms": percentiles_ms([s.latency for s in rejected]),
            "retry_after_share": with_retry_after / len(rejected) if rejected else None,
            "client_cpu": self.cpu_s / self.wall_s if self.wall_s else 0.0,
            "not_sent": self.not_sent,
            "max_lag_ms": self.max_lag_ms,
        }


def new_session(connections: int, timeout_s: float) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        auto_decompress=False,
        skip_auto_headers=("User-Agent",),
    )


async def post(session: aiohttp.ClientSession, url: str, payload: Payload, start: float) -> Sample:
    """One request; latency counts from ``start`` (perf_counter seconds)."""
    body, headers = payload
    try:
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            return Sample(
                time.perf_counter() - start, response.status, "Retry-After" in response.headers
            )
    except (aiohttp.ClientError, TimeoutError):
        return Sample(time.perf_counter() - start, 0, False)


async def _worker(
    session: aiohttp.ClientSession,
    url: str,
    items: list[Payload],
    offset: int,
    end: float,
    out: list[Sample],
) -> None:
    i = offset
    while (now := time.perf_counter()) < end:
        out.append(await post(session, url, items[i % len(items)], now))
        i += 1


async def closed_loop(
    url: str, items: list[Payload], clients: int, duration: float, timeout_s: float = 30.0
) -> Run:
    """``clients`` workers posting back to back for ``duration`` seconds."""
    result = Run()
    starts = [i * len(items) // clients for i in range(clients)]  # each on different crops
    async with new_session(clients, timeout_s) as session:
        cpu, begin = time.process_time(), time.perf_counter()
        end = begin + duration
        await asyncio.gather(
            *(_worker(session, url, items, i, end, result.samples) for i in starts)
        )
        result.wall_s, result.cpu_s = time.perf_counter() - begin, time.process_time() - cpu
    return result


async def _record(
    session: aiohttp.ClientSession, url: str, payload: Payload, start: float, out: list[Sample]
) -> None:
    out.append(await post(session, url, payload, start))


def arrivals(rate: float, duration: float, poisson: bool, seed: int = 0) -> list[float]:
    """Arrival offsets in seconds: exponential gaps (Poisson process) or evenly spaced."""
    rng = random.Random(seed)
    times, t = [], 0.0
    while t < duration:
        times.append(t)
        t += rng.expovariate(rate) if poisson else 1.0 / rate
    return times


async def open_loop(
    url: str,
    items: list[Payload],
    rate: float,
    duration: float,
    max_in_flight: int,
    poisson: bool = True,
    timeout_s: float = 30.0,
) -> Run:
    """Requests at ``rate`` per second for ``duration`` s, at most ``max_in_flight`` at a time."""
    result, tasks = Run(), set()
    async with new_session(max_in_flight, timeout_s) as session:
        cpu, begin = time.process_time(), time.perf_counter()
        for i, offset in enumerate(arrivals(rate, duration, poisson)):
            delay = begin + offset - time.perf_counter()
            await asyncio.sleep(max(delay, 0.0))
            result.max_lag_ms = max(result.max_lag_ms, -delay * 1000.0)
            if len(tasks) >= max_in_flight:
                result.not_sent += 1
                continue
            payload = items[i % len(items)]
            task = asyncio.create_task(
                _record(session, url, payload, begin + offset, result.samples)
            )
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        result.wall_s, result.cpu_s = time.perf_counter() - begin, time.process_time() - cpu
    return result


def print_run(title: str, summary: dict) -> None:
    ok, rej = summary["ok_ms"], summary["rejected_ms"]
    cells = {
        "run": title,
        "requests": summary["requests"],
        "ok/s": summary["ok_per_s"],
        "ok p50 ms": ok["p50"],
        "ok p99 ms": ok["p99"],
        "statuses": json.dumps(summary["status"]),
        "503 p50 ms": rej["p50"],
        "503 p99 ms": rej["p99"],
        "client CPU": summary["client_cpu"],
        "max lag ms": summary["max_lag_ms"],
        "not sent": summary["not_sent"],
    }
    print(markdown_table(list(cells), [list(cells.values())]))


def self_test(clients: int, duration: float, body_bytes: int) -> dict:
    """The generator on core 1 against the trivial server on core 0 (when taskset exists)."""
    port = service.free_port()
    cmd = [sys.executable, str(Path(__file__).with_name("trivial_server.py")), "--port", str(port)]
    server = service.start(service.pinned(cmd, "0"), {}, lambda: service.port_open(port))
    try:
        service.pin_self(1)
        items = [(b"\0" * body_bytes, {"Content-Type": "image/jpeg"})]
        url = f"http://127.0.0.1:{port}/predict"
        run(closed_loop(url, items, clients, 1.0))  # warm-up: connections, caches
        return run(closed_loop(url, items, clients, duration)).summary()
    finally:
        service.stop(server)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--self-test", action="store_true", help="measure the generator itself")
    parser.add_argument("--url", default="http://127.0.0.1:8000/predict")
    parser.add_argument("--clients", type=int, default=32, help="closed loop: concurrent clients")
    parser.add_argument("--rate", type=float, help="open loop: arrivals per second")
    parser.add_argument(
        "--fixed-interval", action="store_true", help="open loop: even spacing, not Poisson"
    )
    parser.add_argument("--max-in-flight", type=int, default=1024, help="open loop: cap")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds")
    parser.add_argument("--timeout", type=float, default=30.0, help="client timeout per request, s")
    parser.add_argument("--data", type=Path, default=PETA_ROOT, help="PETA folder (real crops)")
    parser.add_argument("--crops", type=int, default=256)
    parser.add_argument(
        "--body-bytes", type=int, default=6500, help="self-test body (a typical crop)"
    )
    parser.add_argument("--pin", type=int, help="pin the generator to this core")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    return parser.parse_args()


def print_self_test(summary: dict) -> None:
    rate, cpu = summary["ok_per_s"], summary["client_cpu"]
    print(f"\ngenerator: {rate:.0f} req/s using {cpu:.0%} of its core", end="")
    print(f" (~{rate / cpu:.0f} req/s per CPU-second)" if cpu else "")
    print(
        f"{verdict(rate >= SELF_TEST_TARGET)}: >= {SELF_TEST_TARGET} req/s at {summary['clients']} clients"
    )


def drive_url(args: argparse.Namespace) -> dict:
    """Closed loop at ``--clients``, or open loop when ``--rate`` is given, against ``--url``."""
    service.pin_self(args.pin)
    items = payloads(load_crops(args.data, args.crops))
    if args.rate:
        title = f"open loop {args.rate:g}/s"
        poisson = not args.fixed_interval
        coro = open_loop(
            args.url, items, args.rate, args.duration, args.max_in_flight, poisson, args.timeout
        )
    else:
        title = f"closed loop {args.clients} clients"
        coro = closed_loop(args.url, items, args.clients, args.duration, args.timeout)
    summary = run(coro).summary()
    print_run(title, summary)
    return summary


def main() -> None:
    args = parse_args()
    if args.self_test:
        summary = self_test(args.clients, args.duration, args.body_bytes) | {
            "clients": args.clients
        }
        print_run(f"self-test, {args.clients} clients", summary)
        print_self_test(summary)
    else:
        summary = drive_url(args)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
