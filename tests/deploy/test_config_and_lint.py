"""Settings named by the deployment files exist in the app; yamllint and the nginx example."""

import re
import subprocess
import sys

from tests.support.deploy import (
    COMPOSE_FILES,
    ROOT,
    SERVICE_DOCKERFILES,
    YAML_PATHS,
    default_setting,
    dockerfile_instructions,
    k8s_doc,
    read_yaml,
    settings_fields,
)


def env_names_set_by_deployment_files() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in SERVICE_DOCKERFILES:
        for name, args in dockerfile_instructions(ROOT / path):
            if name == "ENV":
                found[path] = found.get(path, set()) | set(re.findall(r"\b(GENNET_\w+)=", args))
    for path in COMPOSE_FILES:
        for service in read_yaml(ROOT / path)["services"].values():
            names = {n for n in service.get("environment", {}) if n.startswith("GENNET_")}
            found[path] = found.get(path, set()) | names
    found["deploy/k8s"] = set(k8s_doc("ConfigMap")["data"])
    return found


def test_every_gennet_variable_set_is_a_service_setting() -> None:
    known = set(settings_fields())
    found = env_names_set_by_deployment_files()
    assert all(found.values()), found
    for path, names in found.items():
        assert names <= known, f"{path} sets unknown settings {names - known}"


def test_yamllint_passes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "yamllint", "--strict", "-c", ".yamllint", *YAML_PATHS],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


NGINX = ROOT / "deploy/nginx/nginx.conf"


def directive(name: str) -> str:
    values = re.findall(rf"^\s*{name}\s+([^;{{\n]+);", NGINX.read_text(), flags=re.MULTILINE)
    assert len(values) == 1, f"{name}: {values}"
    return values[0]


def megabytes(value: str) -> float:
    return float(value.rstrip("m")) * 1024 * 1024


def test_nginx_balances_the_compose_replicas_on_the_service_port() -> None:
    compose = read_yaml(ROOT / "deploy/nginx/docker-compose.yml")["services"]
    host, port = directive("server").split()[0].split(":")
    assert host in compose and int(port) == default_setting("port")
    assert compose[host]["deploy"]["replicas"] > 1
    assert directive("proxy_pass") == "http://gennet"
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in compose["nginx"]["volumes"]


def test_nginx_lets_the_service_answer_limits_itself() -> None:
    """Its own limits sit above the service's, so clients see the service's JSON errors."""
    assert megabytes(directive("client_max_body_size")) > default_setting("max_upload_bytes")
    read_timeout_s = float(directive("proxy_read_timeout").rstrip("s"))
    assert read_timeout_s > default_setting("request_timeout_ms") / 1000
    assert re.search(r"location = /metrics \{\s*return 404;", NGINX.read_text())
