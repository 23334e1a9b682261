"""``/metrics`` exposes every name of the service contract."""

import pytest

from tests.support.answers import form
from tests.support.fakes import FakePredictor, client_for, fake_app
from tests.support.prometheus import metric_value

pytestmark = pytest.mark.anyio


async def test_metrics_exposes_every_contract_name(crops: list[bytes]) -> None:
    async with client_for(fake_app(FakePredictor())) as client:
        await client.post("/predict", files=form(crops[0]))
        response = await client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in (
        "gennet_requests_total",
        "gennet_request_duration_seconds_bucket",
        "gennet_queue_wait_seconds_bucket",
        "gennet_inference_duration_seconds_bucket",
        "gennet_decode_duration_seconds_bucket",
        "gennet_batch_size_bucket",
        "gennet_queue_depth",
        "gennet_in_flight_requests",
        "gennet_predictions_total",
        "gennet_prediction_score_bucket",
        "gennet_rejections_total",
        "gennet_inference_errors_total",
        "gennet_model_info",
        "gennet_ready",
    ):
        assert f"\n{name}" in text, name
    assert metric_value(text, "gennet_requests_total", route="/predict", status="200") == 1
    assert metric_value(text, "gennet_ready") == 1
    assert 'runtime="fake"' in text
