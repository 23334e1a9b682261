"""The decision rule (gennet.decision): ties, class names, one threshold per crop, and the metrics
that follow it."""

import numpy as np
import pytest

from gennet.decision import decide, decide_many, decide_with_probability, probabilities
from gennet.evaluate.metrics import classification_metrics


def test_decide_ties_are_positive_and_class_names_are_honoured() -> None:
    assert decide(0.5, 0.5) == "male"
    assert decide(0.4999, 0.5) == "female"
    assert decide(0.3, 0.25, ("yes", "no")) == "yes"
    assert decide(0.2, 0.25, ("yes", "no")) == "no"
    assert decide_with_probability(0.2, 0.5) == ("female", pytest.approx(0.8))
    assert decide_with_probability(0.9, 0.95) == ("female", pytest.approx(0.1))
    assert probabilities(0.7) == {"male": 0.7, "female": pytest.approx(0.3)}


def test_decide_many_takes_one_threshold_per_crop() -> None:
    probs = np.array([0.3, 0.3, 0.8, 0.5])
    assert decide_many(probs, 0.5).tolist() == ["female", "female", "male", "male"]
    per_crop = np.array([0.2, 0.4, 0.9, 0.5])
    assert decide_many(probs, per_crop).tolist() == ["male", "female", "female", "male"]
    one_by_one = [decide(p, t) for p, t in zip(probs, per_crop, strict=True)]
    assert one_by_one == decide_many(probs, per_crop).tolist()


def test_metrics_follow_the_decision_rule_with_per_crop_thresholds() -> None:
    targets = np.array([1, 1, 0, 0])
    probs = np.array([0.3, 0.6, 0.4, 0.2])
    # one global threshold gets one crop wrong; per-crop thresholds fix it
    assert classification_metrics(targets, probs, 0.5)["accuracy"] == 0.75
    assert classification_metrics(targets, probs, np.array([0.25, 0.5, 0.5, 0.5]))["accuracy"] == 1
