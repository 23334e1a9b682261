"""Start the service as a real process on a free loopback port, and wait for it to be ready."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
READY_PATH = "/health/ready"
READY_TIMEOUT_S = 180
# PyTorch eager on one CPU thread: a real runtime slow enough to keep requests in flight.
SLOW_TORCH = {
    "GENNET_RUNTIME": "torch",
    "GENNET_DEVICE": "cpu",
    "GENNET_REQUEST_TIMEOUT_MS": "60000",
}


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env(checkpoint: Path, **extra: str) -> dict[str, str]:
    """Settings of a test service on a free port; ``extra`` overrides them."""
    return {
        "GENNET_MODEL_PATH": str(checkpoint),
        "GENNET_PORT": str(free_port()),
        "GENNET_MAX_BATCH_SIZE": "4",
        "GENNET_THREADS": "1",
        "GENNET_LOG_LEVEL": "WARNING",
        **extra,
    }


def run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a command that is expected to exit by itself (e.g. a failed start)."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@contextmanager
def serving(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """Start ``python <args>`` and yield it once /health/ready answers 200; kill it on exit."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=out
        )
    try:
        wait_ready(proc, env["GENNET_PORT"], log)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def wait_ready(proc: subprocess.Popen, port: str | int, log: Path) -> None:
    """Return once ``/health/ready`` on ``port`` answers 200; fail with ``log`` if ``proc`` exits
    or after ``READY_TIMEOUT_S``."""
    stop = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < stop:
        assert proc.poll() is None, f"server exited early:\n{log.read_text()}"
        try:
            if httpx.get(f"http://127.0.0.1:{port}{READY_PATH}", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"server not ready after {READY_TIMEOUT_S} s:\n{log.read_text()}")
