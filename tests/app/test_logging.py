"""The service's log (``app.logging``) in JSON: the request ID on each line, gennet's records too."""

import json
import logging

import pytest

from tests.support.fakes import FakePredictor, client_for, fake_app

pytestmark = pytest.mark.anyio


async def test_json_log_lines_carry_the_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    app = fake_app(FakePredictor(), log_json=True, log_level="INFO")
    async with client_for(app) as client:
        await client.get("/health/live", headers={"X-Request-ID": "trace-42"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    access = [line for line in lines if line["logger"] == "app.access"]
    assert access[-1]["request_id"] == "trace-42"
    assert (access[-1]["path"], access[-1]["status"]) == ("/health/live", 200)


async def test_json_logs_cover_the_library_too(capsys: pytest.CaptureFixture[str]) -> None:
    """gennet's own records (a stale ONNX graph re-exported at start-up, say) are JSON too."""
    fake_app(FakePredictor(), log_json=True, log_level="INFO")
    logging.getLogger("gennet.export").warning("graph re-exported")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1  # JSON only, never also a plain line from Python's last resort
    assert json.loads(lines[0])["logger"] == "gennet.export"
