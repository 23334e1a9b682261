"""The model zoo. Importing this package registers every architecture family."""

from gennet.models import gennet, ibn_resnet, rmnet  # noqa: F401  (registration side effect)
from gennet.models.registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]
