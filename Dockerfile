# syntax=docker/dockerfile:1
# GenNet CPU image: ONNX Runtime serves the shipped model; the CPU-only torch wheel is there because
# the checkpoint (its metadata: input size, mean/std, threshold) is read with torch.load.
# Build: make docker  (docker build -t gennet:cpu .)   Run: docs/deployment.md
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
# torch from the CPU-only index: the default PyPI wheel pulls in about 3 GB of CUDA libraries.
RUN python -m venv /opt/venv \
    && pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY deploy/docker/requirements-serve.txt /tmp/requirements-serve.txt
RUN pip install --no-cache-dir -r /tmp/requirements-serve.txt
COPY pyproject.toml README.md /src/
COPY gennet /src/gennet
COPY app /src/app
# The project without its training-only dependencies; then drop what serving never loads from
# torch (C++ headers, CMake files, test binaries: about 180 MB).
ARG TORCH_DIR="/opt/venv/lib/python3.*/site-packages/torch"
RUN pip install --no-cache-dir --no-deps /src \
    && rm -rf ${TORCH_DIR}/include ${TORCH_DIR}/share/cmake ${TORCH_DIR}/test \
       ${TORCH_DIR}/bin/test_* ${TORCH_DIR}/bin/*Test ${TORCH_DIR}/bin/protoc*

FROM ${PYTHON_IMAGE} AS runtime
# Configuration is by environment only (GENNET_*, see the README); these are the image's defaults.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GENNET_MODEL_PATH=/app/model_store/gennet.pt \
    GENNET_ONNX_CACHE_DIR=/tmp/gennet-onnx \
    GENNET_LOG_JSON=true
RUN groupadd --system --gid 10001 gennet \
    && useradd --system --no-log-init --uid 10001 --gid gennet --home-dir /nonexistent \
       --shell /usr/sbin/nologin gennet
COPY --from=builder /opt/venv /opt/venv
# Baked-in model, owned by root and read-only (0444, whatever the modes in the build context);
# mount another model_store/ read-only over /app/model_store to serve a different model.
COPY --chmod=0444 model_store/gennet.pt model_store/gennet.onnx /app/model_store/
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# On SIGTERM the service drains: it stops taking new work, finishes what it accepted, then exits.
# Give it a grace period longer than GENNET_REQUEST_TIMEOUT_MS (docker stop -t 30, compose
# stop_grace_period, Kubernetes terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=2)"]
CMD ["gennet", "serve", "--host", "0.0.0.0", "--port", "8000"]
