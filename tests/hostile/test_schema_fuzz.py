"""Property-based API testing: schemathesis against the app's own OpenAPI schema.

Every operation gets a bounded number of generated requests (valid and invalid parameters, bodies
and headers); every default check must pass (no 5xx, status and content type documented, response
matches its schema, invalid input refused, missing or wrong credentials refused when a key is set)
except ``positive_data_acceptance``: a schema cannot say "a decodable image", so a schema-valid
body of random bytes is rightly refused with 400. Once without and once with an API key.
"""

from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.support.fakes import FakePredictor, fake_app
from tests.support.prometheus import metric_value

KEY = "fuzz-key"
EXAMPLES = settings(
    max_examples=20,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the repository
    suppress_health_check=list(HealthCheck),
)
OPEN_MODEL, KEYED_MODEL = FakePredictor(), FakePredictor()
OPEN_APP = fake_app(OPEN_MODEL)
KEYED_APP = fake_app(KEYED_MODEL, api_key=KEY)


def load(app: FastAPI) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_dict(app.openapi())
    schema.app = app  # requests go to the app in-process (its lifespan runs once)
    return schema


open_schema = load(OPEN_APP)
keyed_schema = load(KEYED_APP).include(tag_regex="predict|model")


@pytest.fixture(scope="module", autouse=True)
def _stop_apps() -> Iterator[None]:
    yield
    shutdown_lifespans()


@open_schema.parametrize()
@EXAMPLES
def test_open_api_conforms(case: schemathesis.Case) -> None:
    case.call_and_validate(excluded_checks=[positive_data_acceptance])


@keyed_schema.parametrize()
@EXAMPLES
def test_keyed_api_conforms(case: schemathesis.Case) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {KEY}"}, excluded_checks=[positive_data_acceptance]
    )


def test_the_fuzzing_reached_the_model_and_the_key_check() -> None:
    """Runs after the two above: generated requests were predicted, and refused without a key."""
    assert len(OPEN_MODEL.calls) > 2 * 4 and len(KEYED_MODEL.calls) > 2 * 4  # beyond warm-up
    metrics = KEYED_APP.state.service.metrics.render().decode()
    assert metric_value(metrics, "gennet_rejections_total", reason="unauthorized") > 0
