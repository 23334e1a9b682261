"""Stop work for a client that went away, so it does not cost a batch slot."""

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.types import Receive

from app.errors import ClientDisconnectedError

T = TypeVar("T")


async def _cancel_on_disconnect(receive: Receive, work: asyncio.Future[T]) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    work.cancel()


async def while_connected(receive: Receive, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable``; if the client disconnects first, cancel it and raise.

    Call only once the request body has been read: it listens on ``receive`` for the disconnect.
    One watcher task per request; a future (a batcher's, or a gather of them) is awaited as it
    is, with no task around it. Cancelling it drops its crops before they are decoded.
    """
    work = asyncio.ensure_future(awaitable)
    watcher = asyncio.ensure_future(_cancel_on_disconnect(receive, work))
    try:
        return await work
    except asyncio.CancelledError:
        if watcher.done() and not watcher.cancelled():  # the client went away, not a shutdown
            raise ClientDisconnectedError() from None
        raise
    finally:
        watcher.cancel()
