"""Architecture registry: ``@register_model`` builders and ``create_model(name, **kwargs)``."""

from collections.abc import Callable

from torch import nn

from gennet.errors import UnknownModelError

ModelBuilder = Callable[..., nn.Module]
_REGISTRY: dict[str, ModelBuilder] = {}


def register_model(fn: ModelBuilder) -> ModelBuilder:
    """Register ``fn`` under its own name; a second registration of a name is a bug."""
    name = fn.__name__
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is already registered")
    _REGISTRY[name] = fn
    return fn


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def create_model(name: str, **kwargs: object) -> nn.Module:
    """Build the architecture registered as ``name`` with its constructor arguments."""
    try:
        builder = _REGISTRY[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown architecture {name!r}; known: {', '.join(list_models())}"
        ) from None
    return builder(**kwargs)
