"""Stop work for a client that went away, so it does not cost a batch slot.

Under ``gennet serve`` the HTTP protocol itself reports a lost connection (``app.http.server``): it
calls the hooks a request put in its scope under ``ON_DISCONNECT``. That costs nothing per request,
where listening for ``http.disconnect`` on ``receive`` (the ASGI way, for any other server) needs a
watcher task per request, created, woken and cancelled on the event loop of every answer. A
request whose connection is already gone finds no hooks, listens on ``receive`` and is told at once.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from starlette.types import Receive, Scope

from app.errors import ClientDisconnectedError

T = TypeVar("T")

ON_DISCONNECT = "gennet.on_disconnect"  # scope key: a list of callables, set by app.http.server


async def _cancel_on_disconnect(receive: Receive, work: asyncio.Future[T]) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    work.cancel()


async def while_connected(scope: Scope, receive: Receive, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable``; if the client disconnects first, cancel it and raise.

    Call only once the request body has been read: without the protocol's hooks it listens on
    ``receive`` for the disconnect. A future (a batcher's, or a gather of them) is awaited as it
    is, with no task around it. Cancelling it drops its crops before they are decoded.
    """
    work = asyncio.ensure_future(awaitable)
    hooks: list[Callable[[], None]] | None = scope.get(ON_DISCONNECT)
    if hooks is None:
        watcher = asyncio.ensure_future(_cancel_on_disconnect(receive, work))
        try:
            return await _disconnect_as_error(
                work, lambda: watcher.done() and not watcher.cancelled()
            )
        finally:
            watcher.cancel()
    gone = False

    def cancel() -> None:
        nonlocal gone
        gone = True
        work.cancel()

    hooks.append(cancel)
    try:
        return await _disconnect_as_error(work, lambda: gone)
    finally:
        hooks.remove(cancel)


async def _disconnect_as_error(work: asyncio.Future[T], client_gone: Callable[[], bool]) -> T:
    """``work``'s result; its cancellation becomes 499 ``client_disconnected`` when the client
    went away (else it is a shutdown, and propagates)."""
    try:
        return await work
    except asyncio.CancelledError:
        if client_gone():
            raise ClientDisconnectedError() from None
        raise
