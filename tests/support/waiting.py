"""Waiting on the event loop for what another task or thread does."""

import asyncio
import time
from collections.abc import Callable


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Return once ``condition()`` holds; fail the test after ``timeout`` seconds."""
    stop = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < stop, "condition never held"
        await asyncio.sleep(0.005)
