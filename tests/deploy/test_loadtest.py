"""locustfile.py: its answer checks catch wrong answers, and a short headless run against a real
`gennet serve` ends with zero failures and a clean SIGTERM exit.

The server is started the way the CPU image starts it: `gennet serve` with the packages the image
leaves out (pyproject's extras that the base install lacks: torch, onnx, matplotlib, ...) made
unimportable, so a serving-path import of one of them fails here instead of in the container.
"""

import csv
import importlib.metadata
import os
import signal
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.support.deploy import ROOT
from tests.support.server import free_port, wait_ready

SERVE_LIKE_THE_IMAGE = r"""
import importlib.abc, sys

class NotInImage(importlib.abc.MetaPathFinder):
    blocked = set(sys.argv[1].split(","))

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (not in the Docker image)", name=name)
        return None

sys.meta_path.insert(0, NotInImage())
from gennet.cli import main
sys.exit(main(["serve", "--host", "127.0.0.1", "--port", sys.argv[2]]))
"""

CHECKS = r"""
import io
import locustfile as lf
from PIL import Image

assert all(c.name.startswith("generated-") for c in lf.CROPS), "empty folder: generated crops"
for crop in lf.CROPS:
    width, height = Image.open(io.BytesIO(crop.data)).size
    assert crop.content_type == "image/jpeg" and height >= 2 * width

good = {"label": "male", "score": 0.7, "probabilities": {"male": 0.7, "female": 0.3}, "tta": False}
assert lf.prediction_error(good, tta=False) is None
assert lf.prediction_error(good, tta=True), "tta flag"
assert lf.prediction_error({**good, "label": "cat"}, tta=False), "label"
assert lf.prediction_error({**good, "score": 0.3}, tta=False), "score of another label"
assert lf.prediction_error({**good, "probabilities": {"male": 0.7}}, tta=False), "probabilities"
assert lf.prediction_error(None, tta=False), "not JSON"
batch = {"results": [{**good, "index": 0}, {**good, "index": 1}], "tta": False}
assert lf.batch_error(batch, count=2) is None
assert lf.batch_error(batch, count=3), "count"
assert lf.batch_error({"results": batch["results"][::-1]}, count=2), "order"
print("checks passed")
"""

TASK_NAMES = {"/predict", "/predict (raw body)", "/predict?tta=true", "/predict/batch"}


def test_locustfile_checks_catch_wrong_answers(tmp_path: Path) -> None:
    env = {**os.environ, "LOADTEST_IMAGES_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", CHECKS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "checks passed" in result.stdout, result.stderr[-2000:]


def modules_left_out_of_the_image() -> list[str]:
    """Modules of the `torch` and `train` extras that are not in the base install."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = [Requirement(r) for r in extras["torch"] + extras["train"]]
    left_out = {r.name for r in wanted if r.name != project["name"]}
    left_out -= {Requirement(r).name for r in project["dependencies"]}
    assert "torch" in left_out
    modules = importlib.metadata.packages_distributions()
    return sorted(m for m, dists in modules.items() if left_out & set(dists))


@pytest.fixture
def server(
    checkpoint_path: Path, onnx_path: Path, tmp_path: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`gennet serve` on a free loopback port, serving the test checkpoint and its ONNX export."""
    assert onnx_path == checkpoint_path.with_suffix(".onnx"), "found beside it, as in the image"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENNET_")}
    env |= {
        "GENNET_MODEL_PATH": str(checkpoint_path),
        "GENNET_ONNX_CACHE_DIR": str(tmp_path / "onnx"),
        "GENNET_THREADS": "1",
        "GENNET_DECODE_WORKERS": "1",
        "GENNET_LOG_LEVEL": "INFO",
    }
    port = free_port()
    blocked = ",".join(modules_left_out_of_the_image())
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE_LIKE_THE_IMAGE, blocked, str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_ready(process, port, tmp_path / "server.log")
        yield f"http://127.0.0.1:{port}", process
    except AssertionError:
        raise AssertionError((tmp_path / "server.log").read_text()[-3000:]) from None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


def read_stats(prefix: Path) -> dict[str, tuple[int, int]]:
    """Request name -> (requests, failures) from locust's CSV report."""
    with open(f"{prefix}_stats.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    return {row["Name"]: (int(row["Request Count"]), int(row["Failure Count"])) for row in rows}


@pytest.mark.slow
def test_headless_locust_run_has_no_failures(
    server: tuple[str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    url, process = server
    prefix = tmp_path / "locust"
    command = [
        *(sys.executable, "-m", "locust", "-f", "locustfile.py", "--headless"),
        *("-u", "4", "-r", "4", "-t", "5s", "--host", url, "--only-summary"),
        *("--exit-code-on-error", "1", "--csv", str(prefix), "--loglevel", "WARNING"),
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=90)
    failures = Path(f"{prefix}_failures.csv")
    detail = result.stderr[-2000:] + (failures.read_text() if failures.is_file() else "")
    stats = read_stats(prefix)
    assert result.returncode == 0, detail
    assert stats["Aggregated"][0] > 0 and stats["Aggregated"][1] == 0, detail
    assert stats.keys() >= TASK_NAMES, f"every task ran: {sorted(stats)}"

    # Graceful stop: drained within the grace period. uvicorn re-raises the signal once shut down,
    # so the status is -SIGTERM here and 0 as a container's PID 1 (which ignores it).
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in (tmp_path / "server.log").read_text()
