"""Training-only layers that perturb per-channel feature statistics (mean, std), for domain
generalisation: MixStyle (Zhou et al., "Domain Generalization with MixStyle", ICLR 2021) mixes them
between random pairs of crops in a batch; DSU (Li et al., "Uncertainty Modeling for
Out-of-Distribution Generalization", ICLR 2022) resamples them from a Gaussian whose spread is
their variance over the batch.

Early-layer feature statistics carry a camera's "style" (colour, contrast, sensor), so mixing
or resampling them during training synthesises new styles and pushes the
network to rely on what does not change across cameras. At evaluation it is the identity, so it
has no parameters, no cost and no effect on the exported graph.
"""

import torch
from torch import Tensor, nn


class MixStyle(nn.Module):
    """With probability ``p`` per batch, replace each crop's channel mean and std by a
    Beta(alpha, alpha) mix of its own and those of another crop of the batch."""

    def __init__(self, p: float = 0.5, alpha: float = 0.1, eps: float = 1e-6) -> None:
        super().__init__()
        self.p, self.eps = p, eps
        self.beta = torch.distributions.Beta(alpha, alpha)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or x.size(0) < 2 or torch.rand(()).item() >= self.p:
            return x
        mean = x.mean(dim=(2, 3), keepdim=True).detach()
        std = (x.var(dim=(2, 3), keepdim=True) + self.eps).sqrt().detach()
        weight = self.beta.sample((x.size(0), 1, 1, 1)).to(x.device, x.dtype)
        other = torch.randperm(x.size(0), device=x.device)
        mixed_mean = weight * mean + (1 - weight) * mean[other]
        mixed_std = weight * std + (1 - weight) * std[other]
        return (x - mean) / std * mixed_std + mixed_mean


class DSU(nn.Module):
    """With probability ``p`` per batch, replace each crop's channel mean and std by a draw from a
    Gaussian centred on them, with the standard deviation of that statistic over the batch."""

    def __init__(self, p: float = 0.5, eps: float = 1e-6) -> None:
        super().__init__()
        self.p, self.eps = p, eps

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or x.size(0) < 2 or torch.rand(()).item() >= self.p:
            return x
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = (x.var(dim=(2, 3), keepdim=True) + self.eps).sqrt()
        mean_spread = (mean.var(dim=0, keepdim=True) + self.eps).sqrt()
        std_spread = (std.var(dim=0, keepdim=True) + self.eps).sqrt()
        new_mean = mean + torch.randn_like(mean) * mean_spread
        new_std = std + torch.randn_like(std) * std_spread
        return (x - mean) / std * new_std + new_mean
