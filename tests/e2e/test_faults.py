"""Faults of the real process: bad checkpoints at start-up; clients that leave; what it logs.

Start-up: a corrupt, truncated or wrong-architecture checkpoint, or a missing path, stops
`gennet serve` with a non-zero exit and one line naming the file, never a traceback.
Running: clients that disconnect mid-upload or while queued are counted and logged quietly (no
ERROR, no traceback), JSON logs are JSON on every line (uvicorn's included), carry the request ID
and never an image's bytes; SIGTERM then ends it with exit 0.
"""

import json
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from gennet.checkpoint import CheckpointMeta, save_checkpoint
from gennet.models import create_model
from tests.support.answers import JPEG
from tests.support.server import SLOW_TORCH, run, service_env, serving

pytestmark = pytest.mark.slow

MARKER = b"GENNET-E2E-MARKER-5d1c"


def bad_checkpoint(kind: str, good: Path, folder: Path) -> Path:
    path = folder / f"{kind}.pt"
    if kind == "corrupt":
        path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 8)
    elif kind == "truncated":
        path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif kind == "wrong-architecture":  # rmnet weights, metadata saying gennet
        save_checkpoint(path, create_model("rmnet"), CheckpointMeta(arch="gennet"))
    return path  # "missing": never written


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("corrupt", "not a readable checkpoint"),
        ("truncated", "not a readable checkpoint"),
        ("wrong-architecture", "weights do not fit architecture 'gennet': Error(s) in loading"),
        ("missing", "checkpoint file not found"),
    ],
)
def test_bad_checkpoint_stops_start_up_with_one_line(
    kind: str, reason: str, checkpoint_path: Path, tmp_path: Path
) -> None:
    path = bad_checkpoint(kind, checkpoint_path, tmp_path)
    cli = run(["-m", "gennet.cli", "serve"], service_env(path))
    naming = [line for line in cli.stderr.splitlines() if str(path) in line]
    assert cli.returncode != 0
    assert len(naming) == 1 and reason in naming[0], cli.stderr
    assert "Traceback" not in cli.stderr


def test_uvicorn_start_up_with_wrong_architecture_fails_in_one_line(
    checkpoint_path: Path, tmp_path: Path
) -> None:
    path = bad_checkpoint("wrong-architecture", checkpoint_path, tmp_path)
    env = service_env(path)
    server = run(
        ["-m", "uvicorn", "--factory", "app.main:create_app", "--port", env["GENNET_PORT"]], env
    )
    assert server.returncode != 0
    failed = [line for line in server.stderr.splitlines() if "startup failed:" in line]
    assert len(failed) == 1 and f"{path}: weights do not fit" in failed[0]
    assert "Traceback" not in server.stderr


def leave_early(port: int, body: bytes, *, send_all: bool, linger: float) -> None:
    """Send a POST /predict (all of its body or half), wait ``linger`` seconds, hang up."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        head = "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
        sock.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode())
        sock.sendall(body if send_all else body[: len(body) // 2])
        time.sleep(linger)


def marked_png() -> bytes:
    from io import BytesIO

    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", MARKER.decode())
    out = BytesIO()
    Image.new("RGB", (32, 64), (90, 120, 150)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def test_disconnects_are_quiet_and_json_logs_hold_no_image_bytes(
    checkpoint_path: Path, crops: list[bytes], tmp_path: Path
) -> None:
    # One crop per batch on the slow runtime: enough to keep a queue.
    env = service_env(
        checkpoint_path,
        **SLOW_TORCH,
        GENNET_MAX_BATCH_SIZE="1",
        GENNET_LOG_JSON="true",
        GENNET_LOG_LEVEL="INFO",
    )
    port, log = int(env["GENNET_PORT"]), tmp_path / "log"
    with serving(["-m", "gennet.cli", "serve"], env, log) as proc:
        base = f"http://127.0.0.1:{port}"
        busy = [
            threading.Thread(
                target=httpx.post,
                args=(base + "/predict",),
                kwargs={"content": c, "headers": JPEG, "timeout": 60},
            )
            for c in crops
        ]
        for thread in busy:
            thread.start()
        leave_early(port, crops[0], send_all=True, linger=0.05)  # queued, then gone
        leave_early(port, crops[1], send_all=False, linger=0.05)  # gone mid-upload
        for thread in busy:
            thread.join()
        with httpx.Client(base_url=base, timeout=30) as client:
            marked = client.post(
                "/predict", content=marked_png(), headers={"Content-Type": "image/png"}
            )
            junk = client.post(
                "/predict", content=MARKER * 50, headers={"X-Request-ID": "e2e-1", **JPEG}
            )
            metrics = client.get("/metrics").text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    assert (marked.status_code, junk.status_code) == (200, 400)
    assert 'gennet_rejections_total{reason="client_disconnected"} 2.0' in metrics
    text = log.read_text()
    records = [json.loads(line) for line in text.splitlines() if line.strip()]  # all JSON
    assert MARKER.decode() not in text and "Traceback" not in text
    assert not [r for r in records if r["level"] in ("ERROR", "CRITICAL")], text
    access = [r for r in records if r["logger"] == "app.access"]
    assert [r["status"] for r in access if r["path"] == "/predict"].count(499) == 2
    assert {"e2e-1"} <= {r["request_id"] for r in access}
    assert all(len(r["request_id"]) >= 5 for r in access)
    assert any(r["logger"].startswith("uvicorn") for r in records)  # uvicorn's lines too
