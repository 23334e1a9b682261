"""Partial loading of a compatible state dict (``--init-from``) for transfer learning."""

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from gennet.errors import CheckpointError


@dataclass
class TransferReport:
    loaded: list[str] = field(default_factory=list)
    shape_mismatch: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"loaded {len(self.loaded)} tensors; {len(self.missing)} left at their initialisation; "
            f"{len(self.shape_mismatch)} skipped for shape; {len(self.unexpected)} not in the model"
        )


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot read a state dict ({type(exc).__name__})") from None
    if isinstance(payload, dict) and "state_dict" in payload:
        payload = payload["state_dict"]
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path}: does not hold a state dict")
    return {k.removeprefix("module.").removeprefix("_orig_mod."): v for k, v in payload.items()}


def load_partial(model: nn.Module, path: Path) -> TransferReport:
    """Copy every tensor of ``path`` whose name and shape match into ``model``."""
    source = _read_state_dict(path)
    target = model.state_dict()
    report = TransferReport()
    for key, tensor in source.items():
        if key not in target:
            report.unexpected.append(key)
        elif target[key].shape != tensor.shape:
            report.shape_mismatch.append(key)
        else:
            target[key] = tensor
            report.loaded.append(key)
    report.missing = [k for k in target if k not in source]
    model.load_state_dict(target)
    return report
