"""One request's crops through the pipeline, whatever protocol it came in.

A protocol adapter turns its request into crops (encoded bytes or preprocessed arrays) and
:class:`Options`; the job submits them to the batcher, at most ``window`` at a time so that one
request cannot fill the service's room, takes the decision for each crop once
(:class:`Decision`), and resolves one future with every crop's outcome, in order: a
:class:`Decision`, or the crop's own error. ``fail_fast`` jobs (a protocol that answers a request
with its first error) end at the first error and drop their other crops.

It is callbacks on futures, not a task: a one-crop request costs no task and no gather.
"""

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.errors import InferenceFailedError
from app.pipeline.crops import Payload, Share


@dataclass(frozen=True, slots=True)
class Options:
    """What a request asks of every crop in it."""

    tta: bool = False
    camera: str | None = None  # None: not said


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one crop, decided once."""

    prob_male: float
    label: str
    score: float  # the probability of ``label``
    threshold: float  # the threshold applied (the camera's, else the default)


Outcome = Decision | Exception
Submit = Callable[[Payload, bool, float, str | None, Share], asyncio.Future[float]]
Decide = Callable[[float, str | None], Decision]


class Job:
    """Runs ``crops`` through ``submit``; :attr:`future` gets their outcomes."""

    __slots__ = (
        "_crops",
        "_deadline",
        "_decide",
        "_fail_fast",
        "_next",
        "_options",
        "_outcomes",
        "_pending",
        "_share",
        "_submit",
        "_window",
        "future",
    )

    def __init__(
        self,
        crops: Sequence[Payload],
        options: Options,
        deadline: float,
        *,
        submit: Submit,
        decide: Decide,
        share: Share,
        window: int,
        fail_fast: bool,
    ) -> None:
        self._crops = crops
        self._options = options
        self._deadline = deadline
        self._submit = submit
        self._decide = decide
        self._share = share
        self._window = window
        self._fail_fast = fail_fast
        self._outcomes: list[Outcome | None] = [None] * len(crops)
        self._pending: dict[asyncio.Future[float], int] = {}
        self._next = 0
        self.future: asyncio.Future[list[Outcome]] = asyncio.get_running_loop().create_future()
        self.future.add_done_callback(self._ended)
        self._fill()

    def _fill(self) -> None:
        """Submit crops until ``window`` are in the service; resolve once all are answered."""
        while self._next < len(self._crops) and len(self._pending) < self._window:
            index = self._next
            self._next += 1
            try:
                crop = self._submit(
                    self._crops[index],
                    self._options.tta,
                    self._deadline,
                    self._options.camera,
                    self._share,
                )
            except Exception as exc:  # refused at admission (full, late): this crop's outcome
                self._record(index, exc)
                if self.future.done():
                    return
                continue
            self._pending[crop] = index
            crop.add_done_callback(self._answered)
        if not self._pending and self._next == len(self._crops) and not self.future.done():
            self.future.set_result(self._outcomes)  # type: ignore[arg-type]  # all filled

    def _answered(self, crop: asyncio.Future[float]) -> None:
        index = self._pending.pop(crop, None)
        if index is None or self.future.done():  # dropped with its job
            return
        if crop.cancelled():  # by nobody but the job itself: end it alike
            self.future.cancel()
            return
        outcome: Outcome
        if (error := crop.exception()) is not None:
            outcome = error if isinstance(error, Exception) else InferenceFailedError()
        else:
            outcome = self._decide(crop.result(), self._options.camera)
        self._record(index, outcome)
        if not self.future.done():
            self._fill()

    def _record(self, index: int, outcome: Outcome) -> None:
        self._outcomes[index] = outcome
        if isinstance(outcome, Exception) and self._fail_fast and not self.future.done():
            self.future.set_exception(outcome)

    def _ended(self, future: asyncio.Future[list[Outcome]]) -> None:
        """Done, failed fast or cancelled (client gone): drop the crops still in the service."""
        for crop in list(self._pending):
            crop.cancel()
