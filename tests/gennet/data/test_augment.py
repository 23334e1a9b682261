"""Batch augmentation: shape, range, determinism, and the identity / flip special cases."""

import dataclasses

import torch

from gennet.data.augment import AugmentConfig, augment_batch, gaussian_blur, jpeg_roundtrip

NONE = AugmentConfig.disabled()


def _images(n: int = 4) -> torch.Tensor:
    return torch.randint(0, 256, (n, 32, 16, 3), dtype=torch.uint8, generator=_gen(7))


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_default_augmentation_keeps_shape_and_range() -> None:
    out = augment_batch(_images(), AugmentConfig(), _gen())
    assert out.shape == (4, 3, 32, 16) and out.dtype == torch.float32
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_same_seed_same_batch_and_different_seed_differs() -> None:
    images = _images()
    first = augment_batch(images, AugmentConfig(), _gen(1))
    assert torch.equal(first, augment_batch(images, AugmentConfig(), _gen(1)))
    assert not torch.equal(first, augment_batch(images, AugmentConfig(), _gen(2)))


def test_everything_off_is_the_identity() -> None:
    images = _images()
    expected = images.permute(0, 3, 1, 2).float() / 255
    torch.testing.assert_close(augment_batch(images, NONE, _gen()), expected, atol=1e-5, rtol=0)


def test_flip_mirrors_the_crop() -> None:
    images = _images()
    out = augment_batch(images, dataclasses.replace(NONE, flip=1.0), _gen())
    expected = images.permute(0, 3, 1, 2).float().flip(-1) / 255
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_random_erasing_paints_a_constant_block() -> None:
    images = torch.zeros(8, 32, 16, 3, dtype=torch.uint8)
    out = augment_batch(images, dataclasses.replace(NONE, erase=1.0), _gen())
    changed = (out != 0).any(dim=1)  # (N, H, W)
    assert changed.flatten(1).any(dim=1).all()  # every crop got a block
    assert changed.float().mean() < 0.5


CAMERA = dataclasses.replace(
    NONE, colour_cast=0.2, gamma=0.4, blur=0.5, noise=0.05, jpeg=0.5, jpeg_quality=(20, 40)
)


def _constant(value: int, n: int = 8) -> torch.Tensor:
    return torch.full((n, 32, 16, 3), value, dtype=torch.uint8)


def test_camera_style_keeps_shape_range_and_is_reproducible() -> None:
    images = _images(8)
    first = augment_batch(images, CAMERA, _gen(3))
    assert first.shape == (8, 3, 32, 16) and first.min() >= 0.0 and first.max() <= 1.0
    assert torch.equal(first, augment_batch(images, CAMERA, _gen(3)))
    assert not torch.equal(first, augment_batch(images, CAMERA, _gen(4)))


def test_camera_style_off_leaves_the_random_stream_alone() -> None:
    """A recipe without the camera transforms gets the very batches it got before they existed."""
    images, g = _images(), _gen(5)
    augment_batch(images, AugmentConfig(), g)
    after_default = torch.rand(4, generator=g)
    g = _gen(5)
    augment_batch(images, dataclasses.replace(AugmentConfig(), jpeg=0.0, noise=0.0), g)
    assert torch.equal(after_default, torch.rand(4, generator=g))


def test_colour_cast_scales_each_channel_within_its_range() -> None:
    out = augment_batch(_constant(128), dataclasses.replace(NONE, colour_cast=0.2), _gen())
    gains = out.mean(dim=(2, 3)) / (128 / 255)  # (N, 3), constant image: the gain itself
    assert gains.min() >= 0.8 - 1e-4 and gains.max() <= 1.2 + 1e-4
    assert (gains.max(dim=1).values - gains.min(dim=1).values > 0.01).all()  # a real cast


def test_gamma_keeps_the_order_of_intensities() -> None:
    ramp = torch.arange(0, 256, 8, dtype=torch.uint8).view(1, 32, 1, 1).expand(4, 32, 16, 3)
    out = augment_batch(ramp.contiguous(), dataclasses.replace(NONE, gamma=0.5), _gen())
    column = out[:, 0, :, 0]  # (N, 32), increasing in the input
    assert (column.diff(dim=1) > 0).all()
    mid = column[:, 16]  # (128 / 255) ** gamma with gamma in [e^-0.5, e^0.5]
    assert ((mid >= (128 / 255) ** 1.65) & (mid <= (128 / 255) ** 0.6)).all()
    assert mid.std() > 0  # one gamma per crop


def test_blur_smooths_noise_and_keeps_flat_regions() -> None:
    noise = torch.rand(2, 3, 32, 16, generator=_gen())
    blurred = gaussian_blur(noise, 1.0)
    assert blurred.shape == noise.shape and blurred.std() < 0.5 * noise.std()
    flat = torch.full((1, 3, 32, 16), 0.4)
    torch.testing.assert_close(gaussian_blur(flat, 1.5), flat)


def test_sensor_noise_is_bounded_by_its_strength() -> None:
    out = augment_batch(_constant(128, 16), dataclasses.replace(NONE, noise=0.05), _gen())
    per_crop_std = out.flatten(1).std(dim=1)
    assert per_crop_std.max() <= 0.06 and per_crop_std.max() > 0.01
    assert abs(out.mean().item() - 128 / 255) < 0.01


def test_jpeg_roundtrip_degrades_more_at_low_quality() -> None:
    image = torch.rand(3, 64, 32, generator=_gen())
    smooth = gaussian_blur(image[None], 2.0)[0]
    high, low = jpeg_roundtrip(smooth, 95), jpeg_roundtrip(smooth, 10)
    assert high.shape == smooth.shape
    assert (high - smooth).abs().mean() < (low - smooth).abs().mean()
    assert (high - smooth).abs().mean() < 0.02
