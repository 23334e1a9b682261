"""docker-compose files, Prometheus and Grafana provisioning: they parse, and everything they point
at (build files, mounted files, scrape targets, provisioned paths) exists and matches."""

import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.deploy import (
    COMPOSE_FILES,
    DASHBOARD,
    ROOT,
    default_setting,
    read_dashboard,
    read_yaml,
)

COMPOSE = ROOT / "docker-compose.yml"


def services(path: Path = COMPOSE) -> dict[str, Any]:
    return read_yaml(path)["services"]


def interpolate(value: str) -> str:
    """Compose's ${VAR:-default}, with nothing set in the environment."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def binds(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host path, container path) of the service's bind mounts (named volumes left out)."""
    pairs = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            pairs.append((interpolate(volume["source"]), volume["target"]))
        elif volume.startswith("."):
            source, target = volume.split(":")[:2]
            pairs.append((source, target))
    return pairs


def container_path_on_host(service: dict[str, Any], container_path: str, base: Path) -> Path:
    for source, target in binds(service):
        if container_path == target or container_path.startswith(target + "/"):
            return base / source / Path(container_path).relative_to(target)
    raise AssertionError(f"{container_path} is not mounted")


@pytest.mark.parametrize("path", COMPOSE_FILES)
def test_build_files_and_mounted_files_exist(path: str) -> None:
    compose = ROOT / path
    for name, service in services(compose).items():
        if "build" in service:
            context = compose.parent / service["build"]["context"]
            assert (context / service["build"].get("dockerfile", "Dockerfile")).is_file(), name
        for source, _ in binds(service):
            host = (compose.parent / source).resolve()
            if host.is_relative_to(ROOT):  # data outside the repository is optional
                assert host.exists(), f"{path}: {name} mounts {source}, which does not exist"


@pytest.mark.parametrize("path", COMPOSE_FILES)
def test_published_ports_are_loopback_only(path: str) -> None:
    for name, service in services(ROOT / path).items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


@pytest.mark.parametrize("path", COMPOSE_FILES)
def test_service_containers_are_locked_down_and_drain(path: str) -> None:
    port = default_setting("port")
    for name, service in services(ROOT / path).items():
        if not service.get("image", "").startswith("gennet:"):
            continue
        assert service["read_only"] and "/tmp" in service["tmpfs"], name
        assert service["cap_drop"] == ["ALL"], name
        grace = int(service["stop_grace_period"].rstrip("s"))
        assert grace > default_setting("request_timeout_ms") / 1000, name
        for mapping in service.get("ports", []):
            assert mapping.endswith(f":{port}"), f"{name}: the container listens on {port}"


def test_gpu_profile_reserves_an_nvidia_gpu() -> None:
    gpu = services()["gennet-gpu"]
    assert gpu["profiles"] == ["gpu"] and gpu["build"]["dockerfile"] == "Dockerfile.gpu"
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert gpu["environment"]["GENNET_DEVICE"] == "cuda"
    assert "profiles" not in services()["gennet"], "the CPU service runs by default"


def test_loadtest_profile_runs_the_locustfile_against_the_service() -> None:
    locust = services()["locust"]
    assert locust["profiles"] == ["loadtest"]
    command = [interpolate(part) for part in locust["command"]]
    locustfile = command[command.index("-f") + 1]
    assert container_path_on_host(locust, locustfile, ROOT) == ROOT / "locustfile.py"
    assert "--headless" in command
    assert f"--host=http://gennet:{default_setting('port')}" in command
    assert locust["depends_on"]["gennet"]["condition"] == "service_healthy"


def prometheus() -> dict[str, Any]:
    return read_yaml(ROOT / "deploy/prometheus/prometheus.yml")


def test_prometheus_scrapes_every_service_replica_on_metrics() -> None:
    jobs = {job["job_name"]: job for job in prometheus()["scrape_configs"]}
    for name in ("gennet", "gennet-gpu"):
        (discovery,) = jobs[name]["dns_sd_configs"]
        assert discovery["names"] == [name] and name in services()
        assert discovery["port"] == default_setting("port")
        assert jobs[name]["metrics_path"] == "/metrics"


def test_prometheus_rule_files_are_mounted() -> None:
    service = services()["prometheus"]
    config = container_path_on_host(service, "/etc/prometheus/prometheus.yml", ROOT)
    assert config == ROOT / "deploy/prometheus/prometheus.yml"
    for rule_file in prometheus()["rule_files"]:
        assert container_path_on_host(service, rule_file, ROOT).is_file(), rule_file


def test_grafana_provisions_the_datasource_and_dashboard_the_panels_use() -> None:
    grafana = services()["grafana"]
    provisioning = container_path_on_host(grafana, "/etc/grafana/provisioning", ROOT)
    (datasource,) = read_yaml(provisioning / "datasources/prometheus.yml")["datasources"]
    assert datasource["url"] == "http://prometheus:9090" and "prometheus" in services()
    (provider,) = read_yaml(provisioning / "dashboards/gennet.yml")["providers"]
    folder = container_path_on_host(grafana, provider["options"]["path"], ROOT)
    assert DASHBOARD.parent == folder
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert container_path_on_host(grafana, home, ROOT) == DASHBOARD
    uids = {t["datasource"]["uid"] for p in read_dashboard()["panels"] for t in p["targets"]}
    assert uids == {datasource["uid"]}
