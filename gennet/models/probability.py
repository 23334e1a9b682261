"""A logit model wrapped to return probabilities: what the predictors run and the ONNX graph holds."""

import torch
from torch import nn


class ProbabilityModel(nn.Module):
    """Wraps a logit model so that it returns probabilities (what the ONNX graph exports)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.model(x))
