"""Forward shapes, parameter and FLOP counts of every architecture (the style layers:
``test_mixstyle.py``)."""

import pytest
import torch
from torch import nn

from gennet.models import create_model
from gennet.models.complexity import count_gflops, count_parameters

INPUT_SIZE = (256, 128)
# Small batches; the heavy architectures get one or two crops to keep the suite fast.
BATCH = {"gennet": 3, "gennet_v2": 1, "rmnet": 2, "ibn_resnet18_a": 2}


@pytest.fixture(scope="module")
def models() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {name: create_model(name).eval() for name in BATCH}


@pytest.mark.parametrize("name", sorted(BATCH))
def test_forward_gives_one_finite_logit_per_crop(models: dict[str, nn.Module], name: str) -> None:
    batch = BATCH[name]
    with torch.no_grad():
        out = models[name](torch.randn(batch, 3, *INPUT_SIZE))
    assert out.shape == (batch,)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_gennet_trains_and_accepts_other_input_sizes() -> None:
    model = create_model("gennet", stripes=4).train()
    out = model(torch.randn(2, 3, 128, 64))
    out.sum().backward()
    fc = model.get_submodule("head.fc")
    assert out.shape == (2,)
    assert isinstance(fc, nn.Linear) and fc.in_features == 1280 * 4
    assert fc.weight.grad is not None


@pytest.mark.parametrize("name", sorted(BATCH))
def test_parameters_and_gflops_are_positive(models: dict[str, nn.Module], name: str) -> None:
    model = models[name]
    assert count_parameters(model) > 10_000
    assert count_gflops(model, INPUT_SIZE) > 0.01
    assert not model.training  # counting restores the mode


def test_gennet_stays_within_the_flop_budget(models: dict[str, nn.Module]) -> None:
    gennet = count_gflops(models["gennet"], INPUT_SIZE)
    assert gennet <= 0.5
    # gennet_v2 trades ~4x the FLOPs (no input pool) for full-resolution detail, same weights.
    assert count_gflops(models["gennet_v2"], INPUT_SIZE) == pytest.approx(4 * gennet, rel=0.1)
    assert count_parameters(models["gennet_v2"]) == count_parameters(models["gennet"])


def test_count_gflops_restores_training_mode() -> None:
    model = create_model("rmnet", width=0.5).train()
    count_gflops(model, (64, 32))
    assert model.training
