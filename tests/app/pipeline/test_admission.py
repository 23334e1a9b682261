"""Admission (``app.pipeline.admission``): the one capacity formula, images refused at once past
it, and the budget of body bytes that large bodies share."""

import pytest

from app.errors import QueueFullError
from app.pipeline.admission import Admission, Capacity
from app.settings import Settings


def test_full_queue_refuses_at_once() -> None:
    """The one capacity formula: the images in the service are bounded by max_queue +
    max_batch_size; one more is refused at once, and room comes back as images leave."""
    settings = Settings(max_queue=2, max_batch_size=1)
    admission = Admission(Capacity.from_settings(settings))
    assert admission.capacity == Capacity(images=3, requests=3, window=1, body_bytes=64 << 20)
    for _ in range(3):
        admission.take_image()
    assert not admission.room_for_image()
    with pytest.raises(QueueFullError):
        admission.take_image()
    admission.release_image()
    admission.take_image()
    assert admission.images == 3
    explicit = Capacity.from_settings(
        Settings(max_queue=2, max_batch_size=1, max_concurrent_requests=7)
    )
    assert explicit.requests == 7


def test_large_bodies_share_a_byte_budget_small_ones_always_pass() -> None:
    mib = 1 << 20
    admission = Admission(Capacity(images=8, requests=8, window=4, body_bytes=4 * mib))
    admission.take_body_bytes(3 * mib, 3 * mib)
    assert not admission.room_for_body(2 * mib)  # a large body waits for room: 503
    assert admission.room_for_body(10_000)  # an ordinary crop never does
    admission.take_body_bytes(10_000, 10_000)
    assert admission.room_for_body(100 * mib)  # over the whole budget: the body limit's 413
    with pytest.raises(QueueFullError):  # a chunked body counted as it arrives
        admission.take_body_bytes(mib, 2 * mib)
    admission.release_body_bytes(3 * mib)
    assert admission.room_for_body(2 * mib)
