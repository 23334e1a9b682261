"""The epoch sampler: the default is a plain permutation; the identity cap, source balance and
fixed epoch length do what they say, reproducibly."""

from collections import Counter
from pathlib import Path

import numpy as np
import torch

from gennet.data.manifest import Sample
from gennet.data.sampling import EpochSampler, SamplingConfig


def _samples() -> list[Sample]:
    """Source ``town``: 4 people x 30 frames; ``cuhk``: 40 crops without identity; ``small``: 10
    people x 1 crop."""
    rows = [
        Sample(Path(f"t{p}_{f}"), p % 2, f"town_{p}", "", "town")
        for p in range(4)
        for f in range(30)
    ]
    rows += [Sample(Path(f"c{i}"), i % 2, "", "", "cuhk") for i in range(40)]
    rows += [Sample(Path(f"s{i}"), i % 2, f"small_{i}", "", "small") for i in range(10)]
    return rows


def _draw(cfg: SamplingConfig, seed: int = 0) -> np.ndarray:
    return EpochSampler.from_samples(_samples(), cfg).indices(torch.Generator().manual_seed(seed))


def test_default_is_the_plain_permutation_of_before() -> None:
    drawn = _draw(SamplingConfig(), seed=3)
    expected = torch.randperm(len(_samples()), generator=torch.Generator().manual_seed(3))
    assert np.array_equal(drawn, expected.numpy())


def test_identity_cap_keeps_at_most_n_crops_per_person_and_every_unnamed_crop() -> None:
    samples = _samples()
    drawn = _draw(SamplingConfig(identity_cap=5))
    assert len(drawn) == len(set(drawn.tolist())) == 4 * 5 + 40 + 10
    people = Counter(samples[i].identity for i in drawn)
    assert people[""] == 40 and all(people[f"town_{p}"] == 5 for p in range(4))


def test_identity_cap_is_reproducible_and_picks_other_frames_next_epoch() -> None:
    cfg = SamplingConfig(identity_cap=5)
    assert np.array_equal(_draw(cfg, 1), _draw(cfg, 1))
    sampler = EpochSampler.from_samples(_samples(), cfg)
    g = torch.Generator().manual_seed(1)
    assert set(sampler.indices(g).tolist()) != set(sampler.indices(g).tolist())


def test_source_power_zero_gives_every_source_the_same_share() -> None:
    samples = _samples()
    drawn = _draw(SamplingConfig(source_power=0.0, samples_per_epoch=3000))
    assert len(drawn) == 3000
    shares = Counter(samples[i].source for i in drawn)
    assert all(abs(shares[s] / 3000 - 1 / 3) < 0.05 for s in ("town", "cuhk", "small"))


def test_fixed_epoch_length_draws_without_repeats_when_the_pool_allows() -> None:
    drawn = _draw(SamplingConfig(samples_per_epoch=50))
    assert len(drawn) == 50 == len(set(drawn.tolist()))


def test_epoch_size_is_the_length_of_every_draw() -> None:
    for cfg in (
        SamplingConfig(),
        SamplingConfig(identity_cap=5),
        SamplingConfig(identity_cap=5, source_power=0.5),
        SamplingConfig(samples_per_epoch=64),
    ):
        sampler = EpochSampler.from_samples(_samples(), cfg)
        sizes = {len(sampler.indices(torch.Generator().manual_seed(s))) for s in range(3)}
        assert sizes == {sampler.epoch_size}, cfg
