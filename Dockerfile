# GenNet CPU image: ONNX Runtime serves the shipped ONNX graph, which carries the checkpoint's
# metadata; no torch. Build: make docker (BuildKit). Run and build arguments: docs/deployment.md.
# Behind a mirror or proxy, without editing this file:
#   --build-arg BASE_IMAGE=<a Debian bookworm image with python3 and python3-venv>
#   --build-arg PIP_INDEX_URL=... / PIP_EXTRA_INDEX_URL=... / PIP_FIND_LINKS=... / PIP_TRUSTED_HOST=...
#   --build-arg HTTPS_PROXY=... (Docker passes the *_PROXY build args to RUN, never into the image)
#   --secret id=ca,src=/path/to/ca-bundle.pem (a CA bundle for pip, mounted, never in a layer)
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS builder
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_TRUSTED_HOST
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md /src/
COPY gennet /src/gennet
COPY app /src/app
# The base install is what serving on the CPU needs (pyproject's [project].dependencies). pip's
# cache is a build cache mount and the CA bundle a secret mount: neither ends up in a layer.
RUN --mount=type=secret,id=ca --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && python3 -m venv /opt/venv \
    && pip install /src \
    && pip uninstall --yes pip setuptools

FROM ${BASE_IMAGE} AS runtime
# Configuration is by environment only (GENNET_*, see the README); these are the image's defaults.
# GENNET_PORT is the port served and the one the health check asks: change it with -e alone.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GENNET_MODEL_PATH=/app/model_store/gennet.int8.onnx \
    GENNET_ONNX_CACHE_DIR=/tmp/gennet-onnx \
    GENNET_LOG_JSON=true \
    GENNET_PORT=8000
RUN groupadd --system --gid 10001 gennet \
    && useradd --system --no-log-init --uid 10001 --gid gennet --home-dir /nonexistent \
       --shell /usr/sbin/nologin gennet
COPY --from=builder /opt/venv /opt/venv
# Baked-in graphs, owned by root and read-only (0444, whatever the modes in the build context): the
# INT8 one served (GENNET_MODEL_PATH), the FP32 one for GENNET_MODEL_PATH=.../gennet.onnx; mount
# another model_store/ read-only over /app/model_store to serve a different model.
COPY --chmod=0444 model_store/gennet.onnx model_store/gennet.int8.onnx /app/model_store/
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# On SIGTERM the service drains: it stops taking new work, finishes what it accepted, then exits.
# Give it a grace period longer than GENNET_REQUEST_TIMEOUT_MS (docker stop -t 30, compose
# stop_grace_period, Kubernetes terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/ready' % os.environ.get('GENNET_PORT', '8000'), timeout=2)"]
CMD ["gennet", "serve", "--host", "0.0.0.0"]
