"""The architecture registry: names, duplicate refusal, unknown names."""

import pytest
from torch import nn

from gennet.errors import UnknownModelError
from gennet.models import create_model, list_models, register_model, registry

ARCHS = {"gennet", "gennet_v2", "rmnet", "ibn_resnet18_a"}


def test_every_architecture_is_registered() -> None:
    assert set(list_models()) >= ARCHS
    assert list_models() == sorted(list_models())


def test_duplicate_registration_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    original = registry._REGISTRY["gennet"]

    def gennet() -> nn.Module:
        return nn.Identity()

    with pytest.raises(ValueError, match="already registered"):
        register_model(gennet)
    assert registry._REGISTRY["gennet"] is original


def test_new_name_registers_and_builds_with_kwargs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @register_model
    def tiny_test_model(width: int = 3) -> nn.Module:
        return nn.Linear(width, 1)

    assert "tiny_test_model" in list_models()
    assert create_model("tiny_test_model", width=5).in_features == 5


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownModelError) as info:
        create_model("resnet9000")
    message = str(info.value)
    assert "resnet9000" in message
    assert all(name in message for name in ARCHS)
    assert "\n" not in message


def test_bad_constructor_argument_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        create_model("rmnet", no_such_argument=1)
