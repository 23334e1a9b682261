"""Batch augmentation for person crops, on uint8 images already at the input size.

Everything runs on whole batches in torch (no per-image Python except random erasing), so it costs
little next to the model on a 2-core CPU. The choices target the research release's failure on new
cameras: colour and contrast jitter and grayscale (camera colour response), a small random affine
(detector box jitter), down-and-up resampling (tiny, blurry far-away crops), horizontal flip, and
random erasing (occlusion; the release's run-time masking).

The camera-style transforms (white-balance cast, gamma, blur, sensor noise, JPEG re-compression)
imitate what differs between two cameras that film the same person; each is off at 0 and then
draws nothing from the generator, so a recipe without them keeps its random stream.
"""

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
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
    # camera style
    colour_cast: float = 0.0  # per-channel gain in [1 - c, 1 + c] (white balance)
    gamma: float = 0.0  # gamma in [exp(-g), exp(g)]
    blur: float = 0.0  # share of crops blurred (Gaussian, sigma in blur_sigma)
    blur_sigma: tuple[float, float] = (0.5, 1.5)
    noise: float = 0.0  # sensor noise: Gaussian, std up to this (pixel range 0..1)
    jpeg: float = 0.0  # share of crops re-compressed as JPEG at a quality in jpeg_quality
    jpeg_quality: tuple[int, int] = (20, 70)

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


def _white_balance_gamma(x: Tensor, cfg: AugmentConfig, g: torch.Generator) -> Tensor:
    n = x.shape[0]
    if cfg.colour_cast > 0:
        gains = _uniform(n * 3, 1 - cfg.colour_cast, 1 + cfg.colour_cast, g).view(n, 3, 1, 1)
        x = (x * gains.to(x.device)).clamp(0, 1)
    if cfg.gamma > 0:
        gamma = _uniform(n, -cfg.gamma, cfg.gamma, g).exp().view(n, 1, 1, 1)
        x = x.clamp_min(1e-6).pow(gamma.to(x.device))
    return x


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of an (N, C, H, W) batch, borders replicated."""
    radius = max(1, math.ceil(2 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-(taps**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(x, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def _chosen(n: int, share: float, g: torch.Generator) -> Tensor:
    """Indices of the crops (each with probability ``share``) a transform applies to."""
    return torch.nonzero(torch.rand(n, generator=g) < share).flatten()


def _blur(x: Tensor, cfg: AugmentConfig, g: torch.Generator) -> Tensor:
    if cfg.blur <= 0:
        return x
    chosen = _chosen(x.shape[0], cfg.blur, g).to(x.device)
    sigma = _uniform(1, *cfg.blur_sigma, g).item()
    if len(chosen):
        x[chosen] = gaussian_blur(x[chosen], sigma)
    return x


def _noise(x: Tensor, cfg: AugmentConfig, g: torch.Generator) -> Tensor:
    if cfg.noise <= 0:
        return x
    std = _uniform(x.shape[0], 0.0, cfg.noise, g).view(-1, 1, 1, 1)
    noise = torch.randn(x.shape, generator=g) * std
    return (x + noise.to(x.device)).clamp(0, 1)


def jpeg_roundtrip(image: Tensor, quality: int) -> Tensor:
    """One (3, H, W) crop in [0, 1] encoded as JPEG at ``quality`` and decoded again."""
    pixels = (image.permute(1, 2, 0) * 255).round().byte().cpu().numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="JPEG", quality=quality)
    decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    return torch.from_numpy(decoded.copy()).permute(2, 0, 1).float().div(255).to(image.device)


def _jpeg(x: Tensor, cfg: AugmentConfig, g: torch.Generator) -> Tensor:
    if cfg.jpeg <= 0:
        return x
    low, high = cfg.jpeg_quality
    for i in _chosen(x.shape[0], cfg.jpeg, g).tolist():
        x[i] = jpeg_roundtrip(x[i], int(torch.randint(low, high + 1, (1,), generator=g)))
    return x


def _erase(x: Tensor, cfg: AugmentConfig, g: torch.Generator) -> Tensor:
    _, _, height, width = x.shape
    for i in _chosen(x.shape[0], cfg.erase, g).tolist():
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
    x = _white_balance_gamma(x, cfg, generator)
    x = _blur(x, cfg, generator)
    x = _low_resolution(x, cfg, generator)
    x = _noise(x, cfg, generator)
    x = _jpeg(x, cfg, generator)
    return _erase(x, cfg, generator)
