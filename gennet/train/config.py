"""The training recipe: every knob in one pydantic model, loadable from ``params.yaml``'s train
section (plus its top-level ``data``); unknown keys and ill-typed values are refused."""

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gennet.data.augment import AugmentConfig
from gennet.data.sampling import SamplingConfig
from gennet.errors import ConfigError
from gennet.preprocess import DEFAULT_INPUT_SIZE
from gennet.train.schedule import LRSchedule


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    data: Path  # a folder with manifest.csv; no default: the CLI or params.yaml names it
    out: Path = Path("runs/gennet")
    arch: str = "gennet"
    arch_kwargs: dict[str, Any] = Field(default_factory=dict)
    init_from: Path | None = None
    input_size: tuple[int, int] = DEFAULT_INPUT_SIZE
    exclude_sources: tuple[str, ...] = ()
    loss: str = "bce"
    label_smoothing: float = Field(default=0.1, ge=0.0, lt=1.0)
    optimizer_lr: float = Field(default=1e-3, gt=0.0)
    # the rate of the tensors loaded from init_from, as a share of optimizer_lr (1: no difference)
    pretrained_lr_factor: float = Field(default=1.0, gt=0.0, le=1.0)
    weight_decay: float = Field(default=0.05, ge=0.0)
    batch_size: int = Field(default=64, ge=1)
    min_epochs: int = Field(default=4, ge=1)
    max_epochs: int = Field(default=12, ge=1)
    patience: int = Field(default=3, ge=1)
    lr_schedule: LRSchedule = "plateau"
    lr_min_factor: float = Field(default=0.01, ge=0.0, le=1.0)  # cosine: the final rate / peak
    plateau_factor: float = Field(default=0.3, gt=0.0, le=1.0)
    plateau_patience: int = Field(default=1, ge=0)
    warmup_steps: int = Field(default=200, ge=0)
    ema_decay: float = Field(default=0.998, ge=0.0, lt=1.0)
    seed: int = 0
    threads: int = Field(default=0, ge=0)
    device: str = "cpu"
    max_steps: int = Field(default=0, ge=0)  # > 0 stops early (tests, smoke runs, LOSO folds)
    # after the main run: this many epochs from its checkpoint at the rate tail_lr
    tail_epochs: int = Field(default=0, ge=0)
    tail_lr: float = Field(default=3e-4, gt=0.0)
    final_tta: bool = True  # also report val/test with flip TTA (LOSO folds skip it)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Validate a recipe; a bad one is a one-line :class:`ConfigError` naming the fields."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'recipe'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ConfigError(f"invalid training recipe: {problems}") from None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
