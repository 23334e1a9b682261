"""The style layers (gennet.models.mixstyle): MixStyle and DSU change statistics in training only,
and a GenNet with one computes the same graph as without in evaluation."""

import pytest
import torch

from gennet.models import create_model
from gennet.models.mixstyle import DSU, MixStyle


def test_mixstyle_mixes_statistics_in_training_only() -> None:
    torch.manual_seed(0)
    mix = MixStyle(p=1.0, alpha=0.1)
    x = torch.randn(8, 4, 6, 5) * torch.arange(1, 9).view(8, 1, 1, 1)  # a scale per crop
    mixed = mix.train()(x)
    assert mixed.shape == x.shape
    assert not torch.allclose(mixed.std(dim=(2, 3)), x.std(dim=(2, 3)))  # styles moved
    assert torch.equal(mix.eval()(x), x)


def test_dsu_resamples_statistics_by_their_spread_over_the_batch_in_training_only() -> None:
    torch.manual_seed(0)
    dsu = DSU(p=1.0).train()
    x = torch.randn(8, 4, 6, 5) * torch.arange(1, 9).view(8, 1, 1, 1)  # a scale per crop
    moved = dsu(x)
    assert moved.shape == x.shape
    assert not torch.allclose(moved.std(dim=(2, 3)), x.std(dim=(2, 3)), rtol=0.05)
    one_style = torch.randn(1, 4, 6, 5).expand(8, -1, -1, -1)  # no spread: (almost) nothing moves
    assert torch.allclose(dsu(one_style), one_style, atol=0.01)
    assert torch.equal(dsu.eval()(x), x)


@pytest.mark.parametrize("switch", ["mixstyle", "dsu"])
def test_gennet_with_a_style_layer_exports_the_same_graph_as_without(switch: str) -> None:
    torch.manual_seed(0)
    plain = create_model("gennet").eval()
    styled = create_model("gennet", **{switch: 0.5})
    styled.load_state_dict(plain.state_dict())  # no parameters of its own
    x = torch.randn(2, 3, 256, 128)
    assert torch.equal(styled.eval()(x), plain(x))
