"""What the deployment files must agree on: the service contract, and readers for the files."""

import json
import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import generate_latest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = (
    "Dockerfile",
    "Dockerfile.gpu",
    "deploy/locust/Dockerfile",
    "deploy/prometheus/Dockerfile",
)
SERVICE_DOCKERFILES = ("Dockerfile", "Dockerfile.gpu")
COMPOSE_FILES = ("docker-compose.yml", "deploy/nginx/docker-compose.yml")
YAML_PATHS = ("docker-compose.yml", "deploy", ".yamllint")
K8S_DIR = ROOT / "deploy" / "k8s"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "gennet.json"

# The shared service contract (notes/CONTEXT.md): metric name -> Prometheus type.
CONTRACT_METRICS = {
    "gennet_requests_total": "counter",
    "gennet_request_duration_seconds": "histogram",
    "gennet_queue_wait_seconds": "histogram",
    "gennet_inference_duration_seconds": "histogram",
    "gennet_decode_duration_seconds": "histogram",
    "gennet_batch_size": "histogram",
    "gennet_queue_depth": "gauge",
    "gennet_in_flight_requests": "gauge",
    "gennet_predictions_total": "counter",
    "gennet_prediction_score": "histogram",
    "gennet_rejections_total": "counter",
    "gennet_inference_errors_total": "counter",
    "gennet_model_info": "gauge",
    "gennet_ready": "gauge",
}
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")


def series(metrics: dict[str, str]) -> set[str]:
    """The series names a query may use: histograms only through their _bucket/_sum/_count."""
    names = set()
    for name, kind in metrics.items():
        names |= {name + s for s in HISTOGRAM_SERIES} if kind == "histogram" else {name}
    return names


def exported_metrics() -> dict[str, str]:
    """Name -> type of every metric the service's metrics module really exports."""
    from app.metrics import Metrics

    text = generate_latest(Metrics().registry).decode()
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.MULTILINE))


def metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\bgennet_[a-z0-9_]+", expr))


def settings_fields() -> dict[str, Any]:
    """GENNET_<NAME> -> pydantic field of every service setting."""
    from app.settings import Settings

    return {f"GENNET_{name.upper()}": field for name, field in Settings.model_fields.items()}


def app_get_routes() -> set[str]:
    """Paths the app answers to GET (from its OpenAPI schema, which lists /metrics too)."""
    from app.main import create_app

    paths = create_app().openapi()["paths"]
    return {path for path, operations in paths.items() if "get" in operations}


def default_setting(name: str) -> Any:
    return settings_fields()[f"GENNET_{name.upper()}"].default


def read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def read_yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def k8s_docs() -> list[dict[str, Any]]:
    return [doc for path in sorted(K8S_DIR.glob("*.yaml")) for doc in read_yaml_docs(path)]


def k8s_doc(kind: str) -> dict[str, Any]:
    (doc,) = [d for d in k8s_docs() if d["kind"] == kind]
    return doc


def read_dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: comment lines dropped, then continuation lines joined."""
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
    pairs = []
    for line in re.sub(r"\\\n", " ", "\n".join(lines)).splitlines():
        if line.strip():
            instruction, _, args = line.strip().partition(" ")
            pairs.append((instruction.upper(), args.strip()))
    return pairs


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]
