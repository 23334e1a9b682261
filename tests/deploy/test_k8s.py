"""deploy/k8s: every manifest validates against the Kubernetes schemas (offline), the probes ask the
app's real health routes on its port, draining fits the grace period, and the pieces refer to each
other by the right names."""

from typing import Any

import kubernetes_validate
import pytest

from tests.support.deploy import (
    K8S_DIR,
    ROOT,
    app_get_routes,
    default_setting,
    dockerfile_instructions,
    final_stage,
    k8s_doc,
    k8s_docs,
    read_yaml_docs,
)

# The oldest schema bundled with kubernetes-validate that the manifests must still fit, and the newest.
K8S_VERSIONS = ("1.27.0", kubernetes_validate.latest_version())


def pod_spec() -> dict[str, Any]:
    return k8s_doc("Deployment")["spec"]["template"]["spec"]


def container() -> dict[str, Any]:
    (only,) = pod_spec()["containers"]
    return only


def container_port(name: str) -> int:
    (port,) = [p["containerPort"] for p in container()["ports"] if p["name"] == name]
    return port


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("path", sorted(p.name for p in K8S_DIR.glob("*.yaml")))
def test_manifest_validates_strictly(path: str, version: str) -> None:
    docs = read_yaml_docs(K8S_DIR / path)
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_strict_validation_rejects_a_misspelt_field() -> None:
    deployment = k8s_doc("Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[-1], strict=True)


def test_probes_ask_the_app_health_routes_on_its_port() -> None:
    probes = {
        kind: container()[kind]["httpGet"]
        for kind in ("startupProbe", "readinessProbe", "livenessProbe")
    }
    assert probes["startupProbe"]["path"] == probes["readinessProbe"]["path"] == "/health/ready"
    assert probes["livenessProbe"]["path"] == "/health/live"
    assert {p["path"] for p in probes.values()} <= app_get_routes()
    for probe in probes.values():
        assert container_port(probe["port"]) == default_setting("port")


def test_liveness_does_not_fail_under_load() -> None:
    """Kubernetes guidance: liveness must not restart a busy pod, so it is lenient."""
    live = container()["livenessProbe"]
    assert live["timeoutSeconds"] >= 5
    assert live["periodSeconds"] * live["failureThreshold"] >= 60
    startup = container()["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60, "room to load and warm up"


def config() -> dict[str, str]:
    return k8s_doc("ConfigMap")["data"]


def test_draining_fits_the_termination_grace_period() -> None:
    command = container()["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop = int(command[1])
    timeout_s = int(config()["GENNET_REQUEST_TIMEOUT_MS"]) / 1000
    grace = pod_spec()["terminationGracePeriodSeconds"]
    assert pre_stop >= 5, "endpoints need a few seconds to drop the pod"
    assert grace >= pre_stop + timeout_s + 10


def test_pod_runs_as_the_image_user_with_a_read_only_root() -> None:
    user = next(
        args
        for name, args in final_stage(dockerfile_instructions(ROOT / "Dockerfile"))
        if name == "USER"
    )
    security = pod_spec()["securityContext"]
    assert security["runAsNonRoot"] is True
    assert f"{security['runAsUser']}:{security['runAsGroup']}" == user
    assert container()["securityContext"]["readOnlyRootFilesystem"] is True
    assert container()["securityContext"]["allowPrivilegeEscalation"] is False
    (tmp,) = [m for m in container()["volumeMounts"] if m["mountPath"] == "/tmp"]
    (volume,) = [v for v in pod_spec()["volumes"] if v["name"] == tmp["name"]]
    assert "emptyDir" in volume, "uploads spool to /tmp"
    assert pod_spec()["automountServiceAccountToken"] is False


def test_threads_match_the_cpu_limit() -> None:
    """ONNX Runtime would otherwise size its thread pool by the node's cores, not the limit."""
    resources = container()["resources"]
    assert resources["requests"]["cpu"] == resources["limits"]["cpu"] == config()["GENNET_THREADS"]


def names_of(kind: str) -> set[str]:
    return {doc["metadata"]["name"] for doc in k8s_docs() if doc["kind"] == kind}


def test_objects_refer_to_each_other() -> None:
    labels = k8s_doc("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert k8s_doc("Deployment")["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = k8s_doc("Service")["spec"]
    assert service["selector"].items() <= labels.items()
    assert {container_port(p["targetPort"]) for p in service["ports"]} == {default_setting("port")}
    assert (
        k8s_doc("PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= labels.items()
    )
    target = k8s_doc("HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == (
        "Deployment",
        k8s_doc("Deployment")["metadata"]["name"],
    )
    (config_ref,) = [
        e["configMapRef"]["name"] for e in container()["envFrom"] if "configMapRef" in e
    ]
    assert config_ref in names_of("ConfigMap")
    (secret,) = [e["secretRef"] for e in container()["envFrom"] if "secretRef" in e]
    assert secret["optional"] is True, "the API key is optional"


def test_the_image_command_is_not_overridden() -> None:
    """The pod runs the image's CMD: the same `gennet serve` as the Makefile."""
    assert "command" not in container() and "args" not in container()
