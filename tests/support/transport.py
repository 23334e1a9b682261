"""An asyncio transport that records what a protocol writes, for driving uvicorn's protocol and the
service's own writers without a socket."""

import asyncio
from collections.abc import Mapping


class RecordingTransport(asyncio.Transport):
    """Keeps every write (``writes``; ``written``: all of them joined) and whether it was closed;
    ``get_extra_info`` answers from ``extra``."""

    def __init__(self, extra: Mapping[str, object] | None = None) -> None:
        super().__init__(dict(extra or {}))
        self.writes: list[bytes] = []
        self.closed = False

    @property
    def written(self) -> bytes:
        return b"".join(self.writes)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...
