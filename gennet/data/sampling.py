"""Which training crops an epoch visits: all of them in a random order (the default), or a
identity- and source-balanced draw.

PETA's TownCentre gives ~30 near-identical frames of each person and CUHK one image per person, so
a plain epoch mostly repeats a few dozen TownCentre people. ``identity_cap`` keeps at most that many
random crops per person each epoch (rows without an identity count as people of their own);
``source_power`` < 1 flattens the mix of sub-sets (each sub-set's share of the draw goes as its
size to that power; 0 gives every sub-set the same share); ``samples_per_epoch`` fixes the epoch
length, which also makes epochs cheaper and validation more frequent.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from gennet.data.manifest import Sample


class SamplingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    identity_cap: int = Field(default=0, ge=0)  # 0: no cap
    source_power: float = Field(
        default=1.0, ge=0.0, le=1.0
    )  # 1: sub-sets in their natural proportion
    samples_per_epoch: int = Field(default=0, ge=0)  # 0: the whole (capped) pool

    @property
    def active(self) -> bool:
        return bool(self.identity_cap or self.samples_per_epoch) or self.source_power != 1.0


@dataclass
class EpochSampler:
    """Draws each epoch's crop indices from a CPU ``torch.Generator`` (reproducible per seed)."""

    groups: np.ndarray  # person index of each crop
    sources: np.ndarray  # sub-set index of each crop
    cfg: SamplingConfig

    @classmethod
    def from_samples(cls, samples: Sequence[Sample], cfg: SamplingConfig) -> "EpochSampler":
        people = [s.identity or f"#row{i}" for i, s in enumerate(samples)]
        _, groups = np.unique(people, return_inverse=True)
        _, sources = np.unique([s.source for s in samples], return_inverse=True)
        return cls(groups, sources, cfg)

    @property
    def epoch_size(self) -> int:
        """How many crops :meth:`indices` returns each epoch."""
        if self.cfg.samples_per_epoch:
            return self.cfg.samples_per_epoch
        if not self.cfg.identity_cap:
            return len(self.groups)
        return int(np.minimum(np.bincount(self.groups), self.cfg.identity_cap).sum())

    def _capped_pool(self, g: torch.Generator) -> np.ndarray:
        """Indices of at most ``identity_cap`` random crops of each person."""
        n = len(self.groups)
        if not self.cfg.identity_cap:
            return np.arange(n)
        priority = torch.rand(n, generator=g, dtype=torch.float64).numpy()
        order = np.lexsort((priority, self.groups))  # by person, then at random
        sorted_groups = self.groups[order]
        first = np.searchsorted(sorted_groups, sorted_groups, side="left")
        rank = np.arange(n) - first
        return np.sort(order[rank < self.cfg.identity_cap])

    def indices(self, g: torch.Generator) -> np.ndarray:
        """This epoch's crop indices, in the order to visit them."""
        if not self.cfg.active:
            return torch.randperm(len(self.groups), generator=g).numpy()
        pool = self._capped_pool(g)
        counts = np.bincount(self.sources[pool])
        weights = counts[self.sources[pool]].astype(np.float64) ** (self.cfg.source_power - 1)
        size = self.cfg.samples_per_epoch or len(pool)
        drawn = torch.multinomial(
            torch.from_numpy(weights), size, replacement=size > len(pool), generator=g
        )
        return pool[drawn.numpy()]
