"""The service as a real process: `gennet serve` and `uvicorn`, real crops, SIGTERM, bad start."""

import asyncio
import json
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.answers import JPEG
from tests.support.server import SLOW_TORCH, run, service_env, serving

pytestmark = pytest.mark.slow


def gauge(metrics: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", metrics, re.MULTILINE)
    assert match, name
    return float(match.group(1))


def test_uvicorn_serves_crops(
    checkpoint_path: Path, onnx_path: Path, crops: list[bytes], tmp_path: Path
) -> None:
    env = service_env(checkpoint_path)
    args = ["-m", "uvicorn", "--factory", "app.main:create_app", "--port", env["GENNET_PORT"]]
    with serving(args, env, tmp_path / "log"):
        base = f"http://127.0.0.1:{env['GENNET_PORT']}"
        with httpx.Client(base_url=base, timeout=30) as client:
            single = client.post("/predict?tta=true", content=crops[0], headers=JPEG)
            files = [("files", (f"{i}.jpg", c)) for i, c in enumerate(crops[:4])]
            batch = client.post("/predict/batch", files=files)
            metrics = client.get("/metrics").text
    assert single.status_code == 200 and single.json()["tta"] is True
    assert single.headers["x-request-id"]
    assert [r["index"] for r in batch.json()["results"]] == [0, 1, 2, 3]
    assert 'gennet_requests_total{route="/predict",status="200"} 1.0' in metrics
    assert 'gennet_predictions_total{label="' in metrics
    assert 'runtime="onnx"' in metrics
    assert gauge(metrics, "gennet_ready") == 1


async def _probe_readiness(base: str, proc: subprocess.Popen) -> list[int | str]:
    """GET /health/ready on a new connection every 10 ms until the process exits."""
    seen: list[int | str] = []
    fresh = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, timeout=2, limits=fresh) as client:
        while proc.poll() is None:
            try:
                seen.append((await client.get("/health/ready")).status_code)
            except httpx.TransportError:
                seen.append("refused")
            await asyncio.sleep(0.01)
    return seen


async def _post_all(
    base: str, crops: list[bytes], proc: subprocess.Popen, log: Path
) -> tuple[list[httpx.Response], list[int | str], float]:
    """Send every crop at once, SIGTERM the server once all are accepted, collect answers,
    readiness probes from the signal on, and the seconds from the signal to the exit."""
    limits = httpx.Limits(max_connections=len(crops) + 1)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        tasks = [
            asyncio.create_task(client.post("/predict?tta=true", content=c, headers=JPEG))
            for c in crops
        ]
        stop = time.monotonic() + 30
        while True:  # accepted = answered already or in flight in the server
            in_flight = gauge((await client.get("/metrics")).text, "gennet_in_flight_requests")
            answered = sum(task.done() for task in tasks)
            if answered + in_flight - 1 >= len(crops):
                break
            assert time.monotonic() < stop, log.read_text()
            await asyncio.sleep(0.005)
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        assert answered < len(crops), "no request was in flight at SIGTERM"
        probes = asyncio.create_task(_probe_readiness(base, proc))
        answers = list(await asyncio.gather(*tasks))
        readiness = await probes
        return answers, readiness, time.monotonic() - signalled


def test_sigterm_under_load_loses_no_accepted_request(
    checkpoint_path: Path, crops: list[bytes], tmp_path: Path
) -> None:
    env = service_env(checkpoint_path, **SLOW_TORCH)
    log = tmp_path / "log"
    crops = crops * 2
    with serving(["-m", "gennet.cli", "serve"], env, log) as proc:
        base = f"http://127.0.0.1:{env['GENNET_PORT']}"
        answers, readiness, drained_s = asyncio.run(_post_all(base, crops, proc, log))
        assert proc.wait(timeout=60) == 0, log.read_text()
    assert [r.status_code for r in answers] == [200] * len(crops)  # zero lost
    assert all("server" not in r.headers for r in answers)
    # Not ready from the signal on: 503 while draining, then refused once the listener closes.
    assert readiness and 200 not in readiness, readiness
    assert drained_s < 30  # terminationGracePeriodSeconds in deploy/k8s


def _http(sock: socket.socket, head: str, body: bytes = b"") -> None:
    sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)


def _recv(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    assert chunk, "the server closed the connection"
    return chunk


Answer = tuple[int, dict[str, str], bytes]


def _answers(sock: socket.socket, count: int) -> list[Answer]:
    """``count`` HTTP/1.1 responses with Content-Length bodies, read off ``sock`` in order."""
    answers: list[Answer] = []
    data = b""
    while len(answers) < count:
        while b"\r\n\r\n" not in data:
            data += _recv(sock)
        head, data = data.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
        length = int(headers["content-length"])
        while len(data) < length:
            data += _recv(sock)
        answers.append((int(status_line.split()[1]), headers, data[:length]))
        data = data[length:]
    return answers


def _answer(sock: socket.socket) -> Answer:
    """One HTTP/1.1 response with a Content-Length body, read off ``sock``."""
    return _answers(sock, 1)[0]


def test_gennet_serve_refuses_excess_before_the_app_and_keeps_the_connection(
    checkpoint_path: Path, crops: list[bytes], tmp_path: Path
) -> None:
    env = service_env(checkpoint_path, GENNET_MAX_CONCURRENT_REQUESTS="1")
    port = int(env["GENNET_PORT"])
    crop = crops[0]
    with serving(["-m", "gennet.cli", "serve"], env, tmp_path / "log"):
        holder = socket.create_connection(("127.0.0.1", port), timeout=10)
        other = socket.create_connection(("127.0.0.1", port), timeout=10)
        post = "POST /predict HTTP/1.1\nHost: t\nContent-Type: image/jpeg\n"
        # The only slot: a request whose body is still on its way.
        _http(holder, post + f"Content-Length: {len(crop)}\n", crop[:10])
        base = f"http://127.0.0.1:{port}"
        stop = time.monotonic() + 30
        while gauge(httpx.get(base + "/metrics").text, "gennet_in_flight_requests") < 2:
            assert time.monotonic() < stop
            time.sleep(0.01)
        refusals = []
        for request_id in ("first-refused", "second-refused"):  # one keep-alive connection
            _http(other, post + f"X-Request-ID: {request_id}\nContent-Length: {len(crop)}\n", crop)
            refusals.append(_answer(other))
        v2 = b'{"inputs": []}'  # refused before it is parsed, in the protocol's error shape
        _http(
            other,
            f"POST /v2/models/gennet/infer HTTP/1.1\nHost: t\nContent-Length: {len(v2)}\n",
            v2,
        )
        v2_refusal = _answer(other)
        holder.sendall(crop[10:])  # the held request completes and frees the slot
        held = _answer(holder)
        _http(other, post + f"Content-Length: {len(crop)}\n", crop)
        after = _answer(other)
        metrics = httpx.get(base + "/metrics").text
        holder.close()
        other.close()
    for (status, headers, body), request_id in zip(
        refusals, ("first-refused", "second-refused"), strict=True
    ):
        assert status == 503
        assert json.loads(body) == {
            "error": {"code": "queue_full", "message": "the server is overloaded; retry later"}
        }
        assert headers["retry-after"] == "1"
        assert headers["x-request-id"] == request_id
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["content-type"] == "application/json"
    assert v2_refusal[0] == 503 and v2_refusal[1]["retry-after"] == "1"
    assert json.loads(v2_refusal[2]) == {"error": "the server is overloaded; retry later"}
    assert held[0] == 200 and json.loads(held[2])["label"] in ("male", "female")
    assert after[0] == 200  # the refused bodies were discarded, the connection kept
    assert 'gennet_rejections_total{reason="queue_full"} 3.0' in metrics
    assert 'gennet_requests_total{route="other",status="503"} 3.0' in metrics


def test_gennet_serve_answers_504_to_a_body_that_stops_arriving(
    checkpoint_path: Path, crops: list[bytes], tmp_path: Path
) -> None:
    """The protocol marks complete bodies so the route skips the deadline guard; a body still on
    its way must keep it."""
    env = service_env(checkpoint_path, GENNET_REQUEST_TIMEOUT_MS="300")
    crop = crops[0]
    with serving(["-m", "gennet.cli", "serve"], env, tmp_path / "log"):
        with socket.create_connection(("127.0.0.1", int(env["GENNET_PORT"])), timeout=10) as sock:
            head = "POST /predict HTTP/1.1\nHost: t\nContent-Type: image/jpeg\n"
            _http(sock, head + f"Content-Length: {len(crop)}\n", crop[:10])  # never the rest
            status, _, body = _answer(sock)
        fresh = httpx.post(
            f"http://127.0.0.1:{env['GENNET_PORT']}/predict",
            content=crop,
            headers={"Content-Type": "image/jpeg"},
        )
    assert status == 504 and json.loads(body)["error"]["code"] == "deadline_exceeded"
    assert fresh.status_code == 200


def test_gennet_serve_answers_100_continue_pipelined_and_head_requests_without_holding_them(
    checkpoint_path: Path, crops: list[bytes], tmp_path: Path
) -> None:
    """Each answer's head waits for its body (``app.http.server.HeadWithBody``); a 100 Continue the
    client waits for before sending its body, and the head of a bodiless answer, must not, and a
    pipelined request still gets its answer after the first one's."""
    env = service_env(checkpoint_path)
    crop = crops[0]
    address = ("127.0.0.1", int(env["GENNET_PORT"]))
    with (
        serving(["-m", "gennet.cli", "serve"], env, tmp_path / "log"),
        socket.create_connection(address, timeout=10) as sock,
    ):
        head = "POST /predict HTTP/1.1\nHost: t\nContent-Type: image/jpeg\n"
        _http(sock, head + f"Expect: 100-continue\nContent-Length: {len(crop)}\n")
        interim = _recv(sock)  # before any body byte is sent
        sock.sendall(crop)
        status, headers, body = _answer(sock)
        # Pipelined: the second request waits for the first answer, then gets a writer of its own.
        post = head + f"Content-Length: {len(crop)}\n"
        pipelined = post.replace("\n", "\r\n").encode() + b"\r\n" + crop
        sock.sendall(pipelined + b"GET /health/live HTTP/1.1\r\nHost: t\r\n\r\n")
        first, second = _answers(sock, 2)
        _http(sock, "HEAD /health/live HTTP/1.1\nHost: t\n")
        bodiless = b""
        while b"\r\n\r\n" not in bodiless:
            bodiless += _recv(sock)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert status == 200 and json.loads(body)["label"] in ("male", "female")
    assert headers["content-length"] == str(len(body))
    assert first[0] == 200 and json.loads(first[2])["label"] in ("male", "female")
    assert second[0] == 200 and "label" not in json.loads(second[2])
    assert bodiless.startswith(b"HTTP/1.1 ") and bodiless.endswith(b"\r\n\r\n")


def test_corrupt_checkpoint_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "gennet.pt"
    bad.write_bytes(b"\x00garbage")
    env = service_env(bad)
    cli = run(["-m", "gennet.cli", "serve"], env)
    assert cli.returncode != 0
    lines = cli.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"gennet serve: error: {bad}: not a readable checkpoint")
    server = run(
        ["-m", "uvicorn", "--factory", "app.main:create_app", "--port", env["GENNET_PORT"]], env
    )
    assert server.returncode != 0
    assert "Traceback" not in server.stderr
    assert f"startup failed: {bad}: not a readable checkpoint" in server.stderr
