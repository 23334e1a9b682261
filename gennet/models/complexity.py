"""Parameter and FLOP counts of a model at its input size."""

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_gflops(model: nn.Module, input_size: tuple[int, int]) -> float:
    """FLOPs of one forward pass on one 3xHxW crop (a multiply-add counts as 2), in billions."""
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros(1, 3, *input_size, device=next(model.parameters()).device))
    model.train(was_training)
    return counter.get_total_flops() / 1e9
