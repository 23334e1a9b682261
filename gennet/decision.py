"""The decision rule, in one place: P(positive class) and a threshold -> a label.

A checkpoint's model outputs the probability of ``class_names[0]`` (the positive class, ``male``).
A crop gets the positive label when that probability is at or above the threshold (a tie is
positive), else ``class_names[1]``. The service, the CLI, evaluation and calibration all decide
through these functions, so they cannot disagree, whichever threshold (global or per camera) applies.
"""

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

CLASS_NAMES: tuple[str, str] = ("male", "female")


def is_positive(prob_positive: ArrayLike, threshold: ArrayLike) -> np.ndarray:
    """Element-wise ``prob >= threshold``; either side may be a scalar or an array (broadcast)."""
    return np.greater_equal(prob_positive, threshold)


def decide(prob_male: float, threshold: float, class_names: Sequence[str] = CLASS_NAMES) -> str:
    """The label of one crop: ``class_names[0]`` when ``prob_male >= threshold``, else ``[1]``.

    ``is_positive``'s comparison on two Python floats, without its numpy call: the service decides
    twice per request on its event loop, where the call would cost ten times the comparison.
    """
    return class_names[0] if float(prob_male) >= float(threshold) else class_names[1]


def probabilities(prob_male: float, class_names: Sequence[str] = CLASS_NAMES) -> dict[str, float]:
    """The probability of each class, positive first."""
    return {class_names[0]: prob_male, class_names[1]: 1.0 - prob_male}


def decide_with_probability(
    prob_male: float, threshold: float, class_names: Sequence[str] = CLASS_NAMES
) -> tuple[str, float]:
    """The label of one crop and the probability of that label."""
    label = decide(prob_male, threshold, class_names)
    return label, probabilities(prob_male, class_names)[label]


def decide_many(
    prob_male: ArrayLike, threshold: ArrayLike, class_names: Sequence[str] = CLASS_NAMES
) -> np.ndarray:
    """Labels (a string array) of many crops; ``threshold`` may be one value or one per crop."""
    return np.where(is_positive(prob_male, threshold), class_names[0], class_names[1])
