"""The training recipe: every knob in one dataclass, loadable from ``params.yaml``'s train section."""

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from gennet.data.augment import AugmentConfig


@dataclass
class TrainConfig:
    data: Path = Path("../shared/data/peta")
    out: Path = Path("runs/gennet")
    arch: str = "gennet"
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    init_from: Path | None = None
    input_size: tuple[int, int] = (256, 128)
    exclude_sources: tuple[str, ...] = ()
    loss: str = "bce"
    label_smoothing: float = 0.1
    optimizer_lr: float = 1e-3
    weight_decay: float = 0.05
    batch_size: int = 64
    min_epochs: int = 4
    max_epochs: int = 12
    patience: int = 3
    plateau_factor: float = 0.3
    plateau_patience: int = 1
    warmup_steps: int = 200
    ema_decay: float = 0.998
    seed: int = 0
    threads: int = 0
    device: str = "cpu"
    max_steps: int = 0  # > 0 stops early (tests, smoke runs)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown training parameter(s): {', '.join(sorted(unknown))}")
        values = dict(values)
        for key in ("data", "out", "init_from"):
            if values.get(key) is not None:
                values[key] = Path(values[key])
        for key in ("input_size", "exclude_sources"):
            if key in values:
                values[key] = tuple(values[key])
        if "augment" in values:
            values["augment"] = AugmentConfig(**values["augment"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("data", "out", "init_from"):
            out[key] = str(out[key]) if out[key] is not None else None
        return out
