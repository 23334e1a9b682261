"""A block of work under a request's deadline."""

import asyncio
import time
from types import TracebackType

from app.errors import DeadlineExceededError


class within:
    """``async with within(deadline):`` runs the block until ``deadline`` (time.monotonic());
    past it: 504 deadline_exceeded. A class, not an async generator: it runs on every request."""

    __slots__ = ("_timeout",)

    def __init__(self, deadline: float) -> None:
        self._timeout = asyncio.timeout(deadline - time.monotonic())

    async def __aenter__(self) -> None:
        await self._timeout.__aenter__()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self._timeout.__aexit__(kind, exc, tb)
        except TimeoutError:
            raise DeadlineExceededError() from None
