"""Event-loop CPU per ``POST /predict`` through the real ASGI app, without sockets or HTTP parsing.

The app is the product's (``app.main.create_app``, default settings, the shipped model), called
in-process the way uvicorn calls it, by ``--clients`` concurrent callers, each with a multipart
crop from PETA. It reports the event-loop thread's CPU time per request (``time.thread_time``:
the batch worker's decode and model do not count), so a change to the ASGI path (middleware,
upload parsing, hand-off, answer) shows in microseconds, far below the VM's noise in req/s.
``--profile`` adds the event loop's cProfile (which inflates Python-heavy code about 2.5x).
Pin it to one core (``taskset -c 1``), as the servers are.
"""

import argparse
import asyncio
import cProfile
import pstats
import time
from pathlib import Path

import uvloop
from asgi_scope import post_scope
from crops import PETA_ROOT, load_crops, payloads
from starlette.types import ASGIApp, Message, Scope

from app.http.disconnect import ON_DISCONNECT
from app.http.gate import ARRIVED, BODY_COMPLETE
from app.main import create_app
from app.settings import Settings

_NEVER = asyncio.Event()  # the client never leaves


def scope_for(headers: dict[str, str], body: bytes, plain: bool) -> Scope:
    """The scope ``gennet serve``'s protocol builds for a whole multipart POST /predict, or with
    ``plain`` the one any ASGI server builds (no arrival stamp, body flag or disconnect hooks)."""
    scope = post_scope(headers, body)
    if not plain:
        scope |= {ARRIVED: time.monotonic(), BODY_COMPLETE: True, ON_DISCONNECT: []}
    return scope


async def one_request(app: ASGIApp, headers: dict[str, str], body: bytes, plain: bool) -> None:
    messages = iter([{"type": "http.request", "body": body, "more_body": False}])
    status: list[int] = []

    async def receive() -> Message:
        for message in messages:
            return message
        await _NEVER.wait()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope_for(headers, body, plain), receive, send)
    if status != [200]:
        raise RuntimeError(f"POST /predict answered {status}")


async def drive(args: argparse.Namespace) -> None:
    app = create_app(Settings(log_level="WARNING", threads=1))
    items = payloads(load_crops(args.data, args.crops), form=True)

    async def caller(offset: int, count: int) -> None:
        for i in range(count):
            body, headers = items[(offset + i) % len(items)]
            await one_request(app, headers, body, args.plain_asgi)

    async def burst(count: int) -> None:
        await asyncio.gather(*(caller(c * count, count) for c in range(args.clients)))

    async with app.router.lifespan_context(app):
        await burst(args.warmup)
        profile = cProfile.Profile() if args.profile else None
        cpu, wall = time.thread_time(), time.perf_counter()
        if profile:
            profile.enable()
        await burst(args.requests)
        if profile:
            profile.disable()
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    total = args.clients * args.requests
    print(
        f"{total} requests, {args.clients} callers: event-loop CPU {cpu / total * 1e6:.1f} us "
        f"per request ({total / wall:.0f} req/s in-process, model included)"
    )
    if profile:
        pstats.Stats(profile).sort_stats(args.sort).print_stats(args.profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=64, help="concurrent callers")
    parser.add_argument("--requests", type=int, default=40, help="requests per caller")
    parser.add_argument("--warmup", type=int, default=10, help="requests per caller first")
    parser.add_argument("--crops", type=int, default=256)
    parser.add_argument("--data", type=Path, default=PETA_ROOT, help="PETA folder (real crops)")
    parser.add_argument(
        "--plain-asgi", action="store_true", help="scopes as any ASGI server builds them"
    )
    parser.add_argument("--profile", type=int, default=0, help="print the top N of cProfile")
    parser.add_argument("--sort", default="tottime", help="cProfile order: tottime, cumulative")
    uvloop.run(drive(parser.parse_args()))


if __name__ == "__main__":
    main()
