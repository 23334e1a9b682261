"""Combining runs (gennet.evaluate.ensemble): the sigmoid of the mean logit."""

import numpy as np
import pytest

from gennet.evaluate.ensemble import mean_probability, to_logit


def test_the_ensemble_is_the_sigmoid_of_the_mean_logit() -> None:
    probs = np.array([0.1, 0.5, 0.8], dtype=np.float32)
    assert np.allclose(mean_probability([to_logit(probs)] * 3), probs, atol=1e-6)
    # logit(0.2) and logit(0.8) average to 0; logit(0.9) = ln 9 and logit(0.5) = 0 to ln 3
    pair = [to_logit(np.array([0.2, 0.9])), to_logit(np.array([0.8, 0.5]))]
    assert mean_probability(pair) == pytest.approx([0.5, 0.75], rel=1e-6)
    assert np.isfinite(to_logit(np.array([0.0, 1.0]))).all()  # clipped, not infinite
