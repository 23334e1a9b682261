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

import pytest
from deploy_contract import (
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
from packaging.requirements import Requirement


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
    """Same program, sub-command and flags as `make serve`; bound to all interfaces, app port."""
    cmd = json.loads(instruction(path, "CMD"))
    serve = shlex.split(makefile_recipe("serve").strip())
    assert Path(serve[0]).name == cmd[0] == "gennet"
    assert serve[1] == cmd[1] == "serve"
    assert serve[2::2] == cmd[2::2] == ["--host", "--port"]
    port = str(default_setting("port"))
    assert cmd[3::2] == ["0.0.0.0", port]
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
    readme = ROOT / "README.md"
    if not readme.is_file():
        pytest.skip("README.md is not written yet")
    assert "make serve" in readme.read_text()


@pytest.mark.parametrize("path", SERVICE_DOCKERFILES)
def test_healthcheck_asks_the_readiness_route(path: str) -> None:
    check = instruction(path, "HEALTHCHECK")
    url = re.search(r"http://127\.0\.0\.1:(\d+)(/[\w/]+)", check)
    assert url, check
    assert url.group(1) == str(default_setting("port"))
    assert url.group(2) == "/health/ready"
    assert url.group(2) in app_get_routes()
    assert json.loads(check.split("CMD", 1)[1])[0] == "python", "slim images have no curl"


@pytest.mark.parametrize("path", SERVICE_DOCKERFILES)
def test_runs_as_non_root_and_stops_on_sigterm(path: str) -> None:
    user, _, group = instruction(path, "USER").partition(":")
    assert user.isdigit() and int(user) > 0 and group.isdigit() and int(group) > 0
    assert instruction(path, "STOPSIGNAL") == "SIGTERM"


@pytest.mark.parametrize("path", SERVICE_DOCKERFILES)
def test_model_is_baked_in_where_model_path_points(path: str) -> None:
    copies = [
        args for inst, args in final_stage(dockerfile_instructions(ROOT / path)) if inst == "COPY"
    ]
    model_copy = next(c.split() for c in copies if "model_store/gennet.pt" in c)
    target = model_copy[-1]
    env = instruction(path, "ENV")
    assert f"GENNET_MODEL_PATH={target}gennet.pt" in env
    assert "model_store/gennet.onnx" in model_copy, "the ONNX graph sits beside the checkpoint"


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


def pyproject_requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {Requirement(r).name: Requirement(r) for r in project["dependencies"]}


def test_serving_requirements_are_the_project_pins_less_matplotlib() -> None:
    lines = (ROOT / "deploy/docker/requirements-serve.txt").read_text().splitlines()
    serving = [Requirement(line) for line in lines if line and not line.startswith("#")]
    project = pyproject_requirements()
    for requirement in serving:
        assert str(requirement) == str(project[requirement.name]), requirement
    assert set(project) - {r.name for r in serving} == {"torch", "matplotlib"}


@pytest.mark.parametrize("path", SERVICE_DOCKERFILES)
def test_torch_is_the_project_pin_from_the_right_index(path: str) -> None:
    text = (ROOT / path).read_text()
    pin = str(pyproject_requirements()["torch"])
    installs = re.findall(r"pip install --no-cache-dir (torch\S*) --index-url (\S+)", text)
    assert [p for p, _ in installs] == [pin]
    expected_index = "https://download.pytorch.org/whl/cpu" if path == "Dockerfile" else "${"
    assert installs[0][1].strip('"').startswith(expected_index)
    assert "--no-deps /src" in text, "the project itself must not pull training-only packages"
