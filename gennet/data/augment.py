"""Batch augmentation for person crops, on uint8 images already at the input size.

Everything runs on whole batches in torch (no per-image Python except random erasing), so it costs
little next to the model on a 2-core CPU. The choices target the research release's failure on new
cameras: colour and contrast jitter and grayscale (camera colour response), a small random affine
(detector box jitter), down-and-up resampling (tiny, blurry far-away crops), horizontal flip, and
random erasing (occlusion; the release's run-time masking).
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class AugmentConfig:
    flip: float = 0.5
    max_translate: float = 0.06
    scale_range: tuple[float, float] = (0.9, 1.1)
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    grayscale: float = 0.1
    low_resolution: float = 0.3
    erase: float = 0.5
    erase_area: tuple[float, float] = (0.02, 0.25)

    @classmethod
    def disabled(cls) -> "AugmentConfig":
        """Every transform off: the batch comes out as the input, only rescaled to [0, 1]."""
        return cls(
            flip=0.0,
            max_translate=0.0,
            scale_range=(1.0, 1.0),
            brightness=0.0,
            contrast=0.0,
            saturation=0.0,
            grayscale=0.0,
            low_resolution=0.0,
            erase=0.0,
        )


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> Tensor:
    return torch.rand(n, generator=generator) * (high - low) + low


def _affine(x: Tensor, cfg: AugmentConfig, g: torch.Generator) -> Tensor:
    n = x.shape[0]
    scale = _uniform(n, *cfg.scale_range, g)
    flip = torch.where(torch.rand(n, generator=g) < cfg.flip, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = flip / scale
    theta[:, 1, 1] = 1.0 / scale
    theta[:, 0, 2] = _uniform(n, -cfg.max_translate, cfg.max_translate, g) * 2
    theta[:, 1, 2] = _uniform(n, -cfg.max_translate, cfg.max_translate, g) * 2
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _colour(x: Tensor, cfg: AugmentConfig, g: torch.Generator) -> Tensor:
    n = x.shape[0]
    shape = (n, 1, 1, 1)
    brightness = _uniform(n, 1 - cfg.brightness, 1 + cfg.brightness, g).view(shape)
    contrast = _uniform(n, 1 - cfg.contrast, 1 + cfg.contrast, g).view(shape)
    saturation = _uniform(n, 1 - cfg.saturation, 1 + cfg.saturation, g).view(shape)
    saturation = torch.where(torch.rand(shape, generator=g) < cfg.grayscale, 0.0, saturation)
    x = x * brightness.to(x.device)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast.to(x.device) + mean
    gray = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).expand_as(x)
    return (gray + (x - gray) * saturation.to(x.device)).clamp(0, 1)


def _low_resolution(x: Tensor, cfg: AugmentConfig, g: torch.Generator) -> Tensor:
    if torch.rand(1, generator=g).item() >= cfg.low_resolution:
        return x
    factor = _uniform(1, 0.25, 0.6, g).item()
    size = x.shape[-2:]
    small = F.interpolate(x, scale_factor=factor, mode="bilinear", antialias=True)
    return F.interpolate(small, size=size, mode="bilinear", align_corners=False)


def _erase(x: Tensor, cfg: AugmentConfig, g: torch.Generator) -> Tensor:
    _, _, height, width = x.shape
    for i in torch.nonzero(torch.rand(x.shape[0], generator=g) < cfg.erase).flatten().tolist():
        area = _uniform(1, *cfg.erase_area, g).item() * height * width
        aspect = math.exp(_uniform(1, math.log(0.3), math.log(3.3), g).item())
        h = min(height, round(math.sqrt(area * aspect)))
        w = min(width, round(math.sqrt(area / aspect)))
        top = int(torch.randint(0, height - h + 1, (1,), generator=g))
        left = int(torch.randint(0, width - w + 1, (1,), generator=g))
        x[i, :, top : top + h, left : left + w] = torch.rand(3, 1, 1, generator=g).to(x.device)
    return x


def augment_batch(
    images: Tensor, cfg: AugmentConfig, generator: torch.Generator, device: str = "cpu"
) -> Tensor:
    """uint8 (N, H, W, 3) -> augmented float (N, 3, H, W) in [0, 1] on ``device`` (not yet
    normalised). Random parameters come from the CPU ``generator`` whatever the device, so a run
    is reproducible for a given seed."""
    x = images.to(device).permute(0, 3, 1, 2).float().div_(255.0)
    x = _affine(x, cfg, generator)
    x = _colour(x, cfg, generator)
    x = _low_resolution(x, cfg, generator)
    return _erase(x, cfg, generator)
