"""The Dockerfiles, checked without a Docker engine: hadolint, the serve command, the health check,
the user, the build context and the packages they install."""

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from tests.support.deploy import (
    COMPOSE_FILES,
    DOCKERFILES,
    ROOT,
    SERVICE_DOCKERFILES,
    app_get_routes,
    default_setting,
    dockerfile_instructions,
    final_stage,
    k8s_doc,
    read_yaml,
)


def tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    assert path, f"{name} is missing: install the dev extra (make test does)"
    return path


def instruction(path: str, name: str) -> str:
    """The arguments of the last ``name`` instruction of the image's final stage."""
    found = [
        args for inst, args in final_stage(dockerfile_instructions(ROOT / path)) if inst == name
    ]
    assert found, f"{path} has no {name} in its final stage"
    return found[-1]


def makefile_recipe(target: str) -> str:
    text = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", text, flags=re.MULTILINE)
    assert match, f"Makefile has no {target} target"
    return match.group(1)


def makefile_default(variable: str) -> str:
    match = re.search(rf"^{variable} \?= (\S+)", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, f"Makefile sets no default for {variable}"
    return match.group(1)


@pytest.mark.parametrize("path", DOCKERFILES)
def test_hadolint_passes(path: str) -> None:
    result = subprocess.run(
        [tool("hadolint"), "--no-color", path], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", SERVICE_DOCKERFILES)
def test_cmd_is_the_makefile_serve_command(path: str) -> None:
    """Same program and sub-command as `make serve`, on all interfaces; the port is GENNET_PORT
    (the app's default), so that `-e GENNET_PORT=...` moves the server and its health check."""
    cmd = json.loads(instruction(path, "CMD"))
    serve = shlex.split(makefile_recipe("serve").strip())
    assert Path(serve[0]).name == cmd[0] == "gennet"
    assert serve[1] == cmd[1] == "serve"
    assert serve[2::2] == ["--host", "--port"]
    assert cmd[2:] == ["--host", "0.0.0.0"]
    port = str(default_setting("port"))
    assert f"GENNET_PORT={port}" in instruction(path, "ENV")
    assert makefile_default("PORT") == port == instruction(path, "EXPOSE")


def test_makefile_builds_the_images_compose_and_kubernetes_run() -> None:
    built = {}
    for target, dockerfile in (("docker", "Dockerfile"), ("docker-gpu", "Dockerfile.gpu")):
        recipe = makefile_recipe(target).replace("$(IMAGE)", makefile_default("IMAGE"))
        assert f"-f {dockerfile} " in recipe
        built[dockerfile] = shlex.split(recipe)[shlex.split(recipe).index("-t") + 1]
    for path in COMPOSE_FILES:
        for name, service in read_yaml(ROOT / path)["services"].items():
            if service.get("build", {}).get("dockerfile") in built:
                assert service["image"] == built[service["build"]["dockerfile"]], name
    (container,) = k8s_doc("Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["image"] == built["Dockerfile"]


def test_readme_starts_the_service_with_make_serve() -> None:
    assert "make serve" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("path", SERVICE_DOCKERFILES)
def test_healthcheck_asks_the_readiness_route(path: str) -> None:
    check = instruction(path, "HEALTHCHECK")
    url = re.search(r"http://127\.0\.0\.1:%s(/[\w/]+)", check)
    assert url, check
    port = re.search(r"os\.environ\.get\('GENNET_PORT', '(\d+)'\)", check)
    assert port, "the port served is GENNET_PORT: the check must ask that one"
    assert port.group(1) == str(default_setting("port"))
    assert url.group(1) == "/health/ready"
    assert url.group(1) in app_get_routes()
    assert json.loads(check.split("CMD", 1)[1])[0] == "python", "slim images have no curl"


@pytest.mark.parametrize("path", SERVICE_DOCKERFILES)
def test_runs_as_non_root_and_stops_on_sigterm(path: str) -> None:
    user, _, group = instruction(path, "USER").partition(":")
    assert user.isdigit() and int(user) > 0 and group.isdigit() and int(group) > 0
    assert instruction(path, "STOPSIGNAL") == "SIGTERM"


@pytest.mark.parametrize(
    ("path", "model"), [("Dockerfile", "gennet.int8.onnx"), ("Dockerfile.gpu", "gennet.pt")]
)
def test_model_is_baked_in_where_model_path_points(path: str, model: str) -> None:
    """The CPU image serves the INT8 graph alone (no torch), the GPU image the checkpoint."""
    copies = [
        args for inst, args in final_stage(dockerfile_instructions(ROOT / path)) if inst == "COPY"
    ]
    model_copy = next(c.split() for c in copies if f"model_store/{model}" in c)
    target = model_copy[-1]
    env = instruction(path, "ENV")
    assert f"GENNET_MODEL_PATH={target}{model}" in env


def dockerignore_allows(path: str) -> bool:
    """Docker's last-match-wins rule over the allow-list in .dockerignore."""
    allowed = True
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        matches = fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/")
        if matches:
            allowed = negate
    return allowed


@pytest.mark.parametrize("path", SERVICE_DOCKERFILES)
def test_copied_files_exist_and_are_in_the_build_context(path: str) -> None:
    for inst, args in dockerfile_instructions(ROOT / path):
        if inst != "COPY" or args.startswith("--from"):
            continue
        for source in [arg for arg in args.split()[:-1] if not arg.startswith("--")]:  # flags
            assert dockerignore_allows(source), f"{source} is excluded by .dockerignore"
            # The shipped model is produced by training (make train, make export).
            if not source.startswith("model_store/"):
                assert (ROOT / source).exists(), f"{path} copies {source}, which does not exist"
    assert not dockerignore_allows(".venv") and not dockerignore_allows("runs")


def pyproject() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project


def pip_installs(path: str) -> list[str]:
    """The arguments of every `pip install` in the Dockerfile."""
    text = re.sub(r"\\\n", " ", (ROOT / path).read_text())
    return [m.strip() for m in re.findall(r"pip install ([^&\n]+)", text)]


def test_the_cpu_image_is_the_base_install_without_torch() -> None:
    """The CPU image installs the project with its base dependencies only: no torch."""
    assert pip_installs("Dockerfile") == ["/src"]
    base = {Requirement(r).name for r in pyproject()["dependencies"]}
    assert not base & {"torch", "onnx", "onnxscript", "matplotlib"}


def test_the_gpu_image_adds_the_torch_pin_from_its_index() -> None:
    extras = pyproject()["optional-dependencies"]
    (pin,) = [r for r in extras["torch"] if Requirement(r).name == "torch"]
    installs = pip_installs("Dockerfile.gpu")
    assert installs == [f'{pin} --index-url "${{TORCH_INDEX_URL}}"', "/src"], installs


@pytest.mark.parametrize("path", SERVICE_DOCKERFILES)
def test_builds_behind_a_mirror_without_edits(path: str) -> None:
    """Base image and package indexes are build arguments, the CA a secret mount, no registry
    directive (a `# syntax=` line makes BuildKit pull a frontend image)."""
    text = (ROOT / path).read_text()
    assert not re.search(r"^#\s*syntax=", text, flags=re.MULTILINE)
    froms = [args for inst, args in dockerfile_instructions(ROOT / path) if inst == "FROM"]
    assert all(f.startswith("${") for f in froms), froms
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_TRUSTED_HOST"):
        assert f"ARG {name}" in text
    runs = [args for inst, args in dockerfile_instructions(ROOT / path) if inst == "RUN"]
    for run in runs:
        if "pip install" in run:
            assert "--mount=type=secret,id=ca" in run and "/run/secrets/ca" in run
    assert not re.search(r"^(COPY|ADD) .*\.(pem|crt)\b", text, flags=re.MULTILINE), "CA in a layer"
