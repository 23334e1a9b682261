"""A server under test as a subprocess: start (optionally pinned to cores), wait, inspect, stop.

The benchmarks' server-process helper, imported as ``service`` (the tests have their own,
``tests/support/server.py``, and import nothing of ``bench/``).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parent.parent
READY_PATH = "/health/ready"


@dataclass
class Server:
    proc: subprocess.Popen
    log: Path
    startup_s: float

    @property
    def pid(self) -> int:
        return self.proc.pid


def pinned(cmd: list[str], cores: str | None) -> list[str]:
    """``cmd`` under ``taskset -c cores`` (unchanged when ``cores`` is None or taskset is missing)."""
    if cores is None or shutil.which("taskset") is None:
        return cmd
    return ["taskset", "-c", cores, *cmd]


def pin_self(core: int | None) -> None:
    """Pin this process (the load generator) to one core, where the OS and the machine allow it."""
    if core is not None and hasattr(os, "sched_setaffinity") and core < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {core})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def uvicorn_cmd(app: str, port: int) -> list[str]:
    """uvicorn serving the ASGI ``app`` import string from the repository root."""
    flags = {"--app-dir": str(REPO), "--host": "127.0.0.1", "--port": str(port)}
    return [sys.executable, "-m", "uvicorn", app, *flat(flags), "--no-access-log"]


def server_cmd(app: str, port: int) -> list[str]:
    """``gennet serve`` (the product's own launcher) or uvicorn serving an ASGI import string."""
    if app == "gennet serve":
        gennet = Path(sys.executable).with_name("gennet")
        return [str(gennet), "serve", "--host", "127.0.0.1", "--port", str(port)]
    return uvicorn_cmd(app, port)


def flat(flags: dict[str, object]) -> list[str]:
    """``{"--a": "1"}`` -> ``["--a", "1"]``."""
    return [str(part) for pair in flags.items() for part in pair]


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def log_tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def start(
    cmd: list[str], env: dict[str, str], ready: Callable[[], bool], timeout: float = 120
) -> Server:
    """Start ``cmd`` with ``env`` added; return once ``ready()`` holds (time to it = start-up)."""
    log = Path(tempfile.mkstemp(prefix="gennet-bench-", suffix=".log")[1])
    begin = time.perf_counter()
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, **env}, stdout=sink, stderr=sink)
    server = Server(proc, log, 0.0)
    while not ready():
        if proc.poll() is not None or time.perf_counter() - begin > timeout:
            stop(server)
            raise RuntimeError(f"server did not get ready: {' '.join(cmd)}\n{log_tail(log)}")
        time.sleep(0.01)
    server.startup_s = time.perf_counter() - begin
    return server


def stop(server: Server, grace: float = 30) -> int:
    """SIGTERM, then SIGKILL after ``grace`` seconds; the exit code."""
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(grace)
        except subprocess.TimeoutExpired:
            server.proc.kill()
    return server.proc.wait()


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` from /proc (Linux), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def metric_value(text: str, name: str, **labels: str) -> float:
    """The value of the sample ``name{labels}`` in Prometheus text (0.0 when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def metric_total(base_url: str, name: str) -> float | None:
    """The sum of every sample of metric ``name`` at ``/metrics`` (None without /metrics)."""
    try:
        with urllib.request.urlopen(base_url + "/metrics", timeout=5) as response:
            text = response.read().decode()
    except urllib.error.URLError:
        return None
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


def _cpu_s(stat_path: Path) -> float:
    """User + system CPU seconds from a /proc ``stat`` file (fields 14 and 15)."""
    stat = stat_path.read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after the command name: field 3 onwards
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_s(pid: int) -> tuple[float, float]:
    """CPU seconds so far of ``pid``'s main thread (a uvicorn server's event loop) and of all its
    other threads together (batch worker, decode, model; threads that ended included), from /proc."""
    main = _cpu_s(Path(f"/proc/{pid}/task/{pid}/stat"))
    return main, _cpu_s(Path(f"/proc/{pid}/stat")) - main


class RssSampler(threading.Thread):
    """Samples a process's RSS every ``interval`` seconds until stopped; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak = rss_mb(pid)
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.interval):
            self.peak = max(self.peak, rss_mb(self.pid))

    def stop(self) -> float:
        self.halt.set()
        self.join()
        return self.peak
