"""What every protocol's inference request goes through: the one request path.

An :class:`Adapter` knows its protocol only: how to read and parse a request into crops and
:class:`~app.pipeline.job.Options` (``parse``), and how to render the outcomes as its answer
(``render``); its errors are rendered by ``app.http.handlers`` in its shape. :func:`serve` does the
rest, the same for every protocol: admit (before the upload is read), parse, classify under the
deadline while the client is connected, render.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from fastapi.responses import Response
from starlette.types import Receive, Scope

from app.http.disconnect import while_connected
from app.http.gate import arrival
from app.pipeline.crops import Payload
from app.pipeline.job import Options, Outcome
from app.pipeline.service import Service

M = TypeVar("M")


@dataclass(frozen=True, slots=True)
class Parsed(Generic[M]):
    """A request as the pipeline takes it, plus what its protocol needs to answer."""

    crops: Sequence[Payload]
    options: Options
    message: M  # the protocol's own view of the request (ids, requested outputs, ...)


class Adapter(Protocol[M]):
    """One protocol's edge of the pipeline."""

    fail_fast: bool  # answer with the first crop's error (and drop the others)

    async def parse(
        self, service: Service, scope: Scope, receive: Receive, deadline: float
    ) -> Parsed[M]: ...

    def render(
        self, service: Service, parsed: Parsed[M], outcomes: list[Outcome], arrived: float
    ) -> Response: ...


async def serve(adapter: Adapter[M], service: Service, scope: Scope, receive: Receive) -> Response:
    """Answer one inference request: admit, parse, classify, render."""
    arrived = arrival(scope)
    deadline = service.admit(arrived)  # full or not ready: refused before the upload is read
    parsed = await adapter.parse(service, scope, receive, deadline)
    work = service.classify(parsed.crops, parsed.options, deadline, fail_fast=adapter.fail_fast)
    outcomes = await while_connected(scope, receive, work)
    return adapter.render(service, parsed, outcomes, arrived)
