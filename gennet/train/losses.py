"""Losses for the single-logit male/female classifier."""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class WeightedSigmoidCE(nn.Module):
    """Weighted sigmoid cross-entropy of Jia et al. 2020 ("Rethinking of Pedestrian Attribute
    Recognition: Realistic Datasets with Efficient Method", the "Strong Baseline").

    With ``p`` the positive (male) ratio in the training set, positives weigh ``exp(1 - p)`` and
    negatives ``exp(p)``, so the rarer class counts more.
    """

    def __init__(self, positive_ratio: float, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.positive_weight = math.exp(1.0 - positive_ratio)
        self.negative_weight = math.exp(positive_ratio)
        self.label_smoothing = label_smoothing

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        weights = torch.where(targets > 0.5, self.positive_weight, self.negative_weight)
        smoothed = targets * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        return F.binary_cross_entropy_with_logits(logits, smoothed, weight=weights)


class SmoothedBCE(nn.Module):
    """BCEWithLogits with optional label smoothing towards 0.5."""

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        smoothed = targets * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        return F.binary_cross_entropy_with_logits(logits, smoothed)


def build_loss(name: str, positive_ratio: float, label_smoothing: float) -> nn.Module:
    if name == "bce":
        return SmoothedBCE(label_smoothing)
    if name == "weighted_bce":
        return WeightedSigmoidCE(positive_ratio, label_smoothing)
    raise ValueError(f"unknown loss {name!r}; use bce or weighted_bce")
