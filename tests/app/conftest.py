import pytest


@pytest.fixture
def anyio_backend() -> str:
    """The service runs on asyncio (uvicorn's loop); test only that backend."""
    return "asyncio"
