"""``gennet.inference.needs_mirror``: which TTA crops get the second, mirrored look."""

import itertools

import pytest

from gennet.inference import DEFAULT_TTA_MARGIN, needs_mirror

# Probabilities over [0, 1] and thresholds over (0, 1), the ends included where they can be.
PROBS = [0.0, 1e-6, 0.1, 0.25, 0.5, 0.5 + 1e-6, 0.75, 0.999, 1.0]
THRESHOLDS = [1e-6, 0.001, 0.1, 0.3, 0.5, 0.7, 0.999, 1 - 1e-6]


@pytest.mark.parametrize("prob", PROBS)
@pytest.mark.parametrize("margin", [0.0, 0.25, 1.0])
def test_without_a_threshold_a_crop_is_never_mirrored(prob: float, margin: float) -> None:
    assert needs_mirror(prob, None, margin) is False


@pytest.mark.parametrize(
    ("prob", "threshold"),
    [(0.5, 0.5), (0.6, 0.5), (0.4, 0.5), (0.5 + 0.249, 0.5), (0.5 - 0.249, 0.5), (0.9, 0.8)],
)
def test_strictly_inside_the_margin_is_mirrored(prob: float, threshold: float) -> None:
    assert needs_mirror(prob, threshold, 0.25) is True


@pytest.mark.parametrize(
    ("prob", "threshold"),
    [
        (0.75, 0.5),  # exactly at the margin, above (0.25 is exact in binary)
        (0.25, 0.5),  # exactly at the margin, below
        (0.76, 0.5),
        (0.2, 0.5),
        (1.0, 0.5),
        (0.0, 0.5),
        (0.9, 0.1),
    ],
)
def test_at_or_beyond_the_margin_is_not_mirrored(prob: float, threshold: float) -> None:
    assert needs_mirror(prob, threshold, 0.25) is False


def test_margin_zero_never_mirrors_and_margin_one_always_does() -> None:
    pairs = list(itertools.product(PROBS, THRESHOLDS))
    assert not any(needs_mirror(p, t, 0.0) for p, t in pairs)
    assert not needs_mirror(0.5, 0.5, 0.0)  # not even a crop right on its threshold
    assert all(needs_mirror(p, t, 1.0) for p, t in pairs)


def test_the_default_margin_mirrors_only_near_the_threshold() -> None:
    assert 0 < DEFAULT_TTA_MARGIN < 1
    assert needs_mirror(0.5 + DEFAULT_TTA_MARGIN / 2, 0.5, DEFAULT_TTA_MARGIN)
    assert not needs_mirror(0.5 + DEFAULT_TTA_MARGIN, 0.5, DEFAULT_TTA_MARGIN)
