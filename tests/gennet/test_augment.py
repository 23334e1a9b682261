"""Batch augmentation: shape, range, determinism, and the identity / flip special cases."""

import dataclasses

import torch

from gennet.data.augment import AugmentConfig, augment_batch

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
