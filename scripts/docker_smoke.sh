#!/usr/bin/env bash
# make docker-smoke: build the CPU image from a locally made Debian base and check it for real.
#
#   1. base image: debootstrap bookworm (python3, python3-venv) -> docker import (no registry);
#   2. the CPU image (Dockerfile) on that base, BuildKit, the CA bundle as a secret;
#   3. runs it as uid 10001, read-only root, no capabilities, --network host on a free loopback port;
#   4. waits for its HEALTHCHECK to say healthy (cold start = docker run -> /health/ready 200);
#   5. checks its answers on real crops at its defaults against the library run the same way (the
#      INT8 graph through ONNX Runtime, flip TTA): same labels, P(male) within 1e-4;
#   6. with PROMETHEUS=1: Prometheus from Debian's package (deploy/prometheus/Dockerfile) checks
#      the compose configuration and alert rules (promtool) and scrapes the container;
#   7. docker stop: exit code 0 and the drain logged; prints image size and cold start.
#
# Not in CI. Needs root (debootstrap), a Docker engine whose client speaks BuildKit (DOCKER=...),
# the project's venv with the torch extra (make test installs it) and ../shared/data/peta.
# Environment: DOCKER, IMAGE, BASE_IMAGE, REBUILD_BASE=1, BASE_DIR, DEBIAN_MIRROR, CA_BUNDLE,
# CROPS, N_CROPS, PYTHON; PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS, PIP_TRUSTED_HOST and
# HTTP(S)_PROXY are passed to the build when set.
set -euo pipefail
cd "$(dirname "$0")/.."

DOCKER=${DOCKER:-docker}
IMAGE=${IMAGE:-gennet:cpu}
BASE_IMAGE=${BASE_IMAGE:-gennet-base:bookworm}
BASE_DIR=${BASE_DIR:-/var/tmp/gennet-base}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
CROPS=${CROPS:-../shared/data/peta}
N_CROPS=${N_CROPS:-12}
PYTHON=${PYTHON:-.venv/bin/python}
NAME=gennet-smoke-$$
export DOCKER_BUILDKIT=1

say() { printf '\n== %s\n' "$*"; }
fail() { printf 'docker-smoke: FAILED: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

build_base() {
    if [[ "${REBUILD_BASE:-0}" != 1 ]] && "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        say "base image $BASE_IMAGE exists (REBUILD_BASE=1 rebuilds it)"
        return
    fi
    command -v debootstrap >/dev/null || fail "debootstrap is missing (apt-get install debootstrap)"
    local rootfs=$BASE_DIR/rootfs
    if [[ "${REBUILD_BASE:-0}" != 1 && -x "$rootfs/usr/bin/python3" ]]; then
        say "reusing $rootfs (REBUILD_BASE=1 runs debootstrap again)"
    else
        say "debootstrap bookworm into $rootfs"
        rm -rf "$rootfs" && mkdir -p "$BASE_DIR"
        debootstrap --variant=minbase --include=python3,python3-venv bookworm "$rootfs" "$DEBIAN_MIRROR"
    fi
    # What a container never uses: package caches and lists, documentation, translations.
    rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
        "$rootfs"/usr/share/locale/*
    say "docker import -> $BASE_IMAGE"
    tar -C "$rootfs" -c . | "$DOCKER" import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["python3"]' - "$BASE_IMAGE"
}

build_image() {
    local args=(--network host --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$IMAGE" -f Dockerfile)
    [[ -s "$CA_BUNDLE" ]] && args+=(--secret "id=ca,src=$CA_BUNDLE")
    local name
    for name in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_FIND_LINKS PIP_TRUSTED_HOST \
                HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
        [[ -n "${!name:-}" ]] && args+=(--build-arg "$name=${!name}")
    done
    say "docker build ${args[*]} ."
    local start
    start=$(now)
    "$DOCKER" build "${args[@]}" .
    BUILD_S=$(since "$start")
}

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cleanup() { "$DOCKER" rm -f "$NAME" "$NAME-prometheus" >/dev/null 2>&1 || true; }
trap cleanup EXIT

run_container() {
    PORT=$(free_port)
    URL=http://127.0.0.1:$PORT
    say "docker run $IMAGE as 10001, read-only, --network host on $URL"
    START=$(now)
    # The command is the image's with the bind address narrowed to loopback (host network).
    "$DOCKER" run -d --name "$NAME" --network host --user 10001:10001 --read-only \
        --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
        -e GENNET_PORT="$PORT" --health-interval 2s \
        "$IMAGE" gennet serve --host 127.0.0.1 >/dev/null
    local deadline=$((SECONDS + 120))
    until "$PYTHON" -c "import urllib.request as u; u.urlopen('$URL/health/ready', timeout=1)" 2>/dev/null; do
        [[ "$("$DOCKER" inspect -f '{{.State.Running}}' "$NAME")" == true ]] || {
            "$DOCKER" logs "$NAME" | tail -20; fail "the container exited"; }
        ((SECONDS < deadline)) || fail "not ready within 120 s"
        sleep 0.1
    done
    COLD_S=$(since "$START")
    until [[ "$("$DOCKER" inspect -f '{{.State.Health.Status}}' "$NAME")" == healthy ]]; do
        ((SECONDS < deadline)) || fail "HEALTHCHECK never said healthy"
        sleep 0.5
    done
    HEALTHY_S=$(since "$START")
    say "ready after ${COLD_S} s, HEALTHCHECK healthy after ${HEALTHY_S} s"
    "$DOCKER" logs "$NAME" 2>&1 | grep -E '"(serving|ready in) ' || true
}

check_container() {
    say "user, read-only root, no torch"
    [[ "$("$DOCKER" exec "$NAME" id -u)" == 10001 ]] || fail "not running as uid 10001"
    if "$DOCKER" exec "$NAME" sh -c 'touch /app/x' 2>/dev/null; then fail "root file system is writable"; fi
    "$DOCKER" exec "$NAME" python -c 'import importlib.util as u, sys; sys.exit(u.find_spec("torch") is not None)' \
        || fail "torch is installed in the CPU image"
    echo "uid 10001, read-only /, torch absent"
}

check_answers() {
    say "answers on $N_CROPS real crops from $CROPS against the library (the image's defaults: INT8 graph, flip TTA)"
    "$PYTHON" - "$URL" "$CROPS" "$N_CROPS" <<'EOF'
import csv, json, sys, urllib.request, uuid
from pathlib import Path

from gennet.decision import decide
from gennet.inference import DEFAULT_TTA, DEFAULT_TTA_MARGIN, OnnxPredictor, needs_mirror, predict_images
from gennet.preprocess import decode_to_array
from gennet.runtimes.onnx_graphs import graph_meta

url, root, n = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
rows = [r for r in csv.DictReader(open(root / "manifest.csv")) if r["split"] == "test"]
by_source = {}
for row in rows:
    by_source.setdefault((row["source"], row["label"]), row)  # one per source and label
paths = [root / r["path"] for r in list(by_source.values())[:n]]
graph = Path("model_store/gennet.int8.onnx")  # what the image serves (GENNET_MODEL_PATH)
meta = graph_meta(graph)
spec = meta.preprocess_spec
predictor = OnnxPredictor(graph, threads=1)
worst = 0.0
for path in paths:
    image = decode_to_array(path.read_bytes(), spec)[None]
    expected = float(predict_images(predictor, image, spec)[0])
    if DEFAULT_TTA and needs_mirror(expected, meta.threshold, DEFAULT_TTA_MARGIN):  # the second look
        expected = float(predict_images(predictor, image, spec, tta=True)[0])
    label = decide(expected, meta.threshold, meta.class_names)
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"{url}/predict", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    answer = json.load(urllib.request.urlopen(request, timeout=10))
    difference = abs(answer["probabilities"]["male"] - expected)
    worst = max(worst, difference)
    print(f"  {path.parent.name}/{path.name}: {answer['label']} {answer['probabilities']['male']:.5f} "
          f"(library: {label} {expected:.5f})")
    assert answer["tta"] is DEFAULT_TTA and answer["label"] == label and difference < 1e-4, (answer, expected)
print(f"{len(paths)} crops: same labels, max |P(male) difference| {worst:.1e}")
EOF
}

check_prometheus() {
    local image=gennet-prometheus:debian
    say "Prometheus from Debian's package: $image"
    "$DOCKER" build --network host --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$image" deploy/prometheus
    "$DOCKER" run --rm -v "$PWD/deploy/prometheus:/etc/prometheus:ro" --entrypoint promtool \
        "$image" check config /etc/prometheus/prometheus.yml
    # The compose file finds replicas by DNS; here one container on the host network, so a static
    # target, with the same alert rules.
    local config prom_port uid
    config=$(mktemp -d)
    prom_port=$(free_port)
    uid=$("$DOCKER" run --rm --entrypoint id "$image" -u)
    cp deploy/prometheus/alerts.yml "$config/alerts.yml"
    printf '%s\n' 'global: {scrape_interval: 1s, evaluation_interval: 1s}' \
        'rule_files: [/etc/prometheus/alerts.yml]' \
        "scrape_configs: [{job_name: gennet, static_configs: [{targets: ['127.0.0.1:$PORT']}]}]" \
        > "$config/prometheus.yml"
    chmod -R a+rX "$config"
    "$DOCKER" run -d --name "$NAME-prometheus" --network host --read-only \
        --tmpfs "/prometheus:uid=$uid" -v "$config:/etc/prometheus:ro" "$image" \
        --config.file=/etc/prometheus/prometheus.yml --storage.tsdb.path=/prometheus \
        --web.listen-address="127.0.0.1:$prom_port" >/dev/null
    "$PYTHON" - "http://127.0.0.1:$prom_port" <<'PY'
import json, sys, time, urllib.parse, urllib.request
base = sys.argv[1]
deadline = time.monotonic() + 60
while True:
    try:
        query = urllib.parse.quote('gennet_ready{job="gennet"}')
        result = json.load(urllib.request.urlopen(f"{base}/api/v1/query?query={query}", timeout=2))
        values = [r["value"][1] for r in result["data"]["result"]]
        rules = json.load(urllib.request.urlopen(f"{base}/api/v1/rules", timeout=2))
        count = sum(len(g["rules"]) for g in rules["data"]["groups"])
        if values == ["1"] and count:
            print(f"Prometheus scrapes the container: gennet_ready = 1, {count} alert rules loaded")
            break
    except OSError:
        pass
    assert time.monotonic() < deadline, "Prometheus did not scrape gennet_ready = 1 within 60 s"
    time.sleep(1)
PY
    "$DOCKER" rm -f "$NAME-prometheus" >/dev/null
    rm -rf "$config"
}

stop_container() {
    say "docker stop: drain"
    local start
    start=$(now)
    "$DOCKER" stop -t 30 "$NAME" >/dev/null
    STOP_S=$(since "$start")
    local code
    code=$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$NAME")
    "$DOCKER" logs "$NAME" 2>&1 | tail -3
    [[ "$code" == 0 ]] || fail "exit code $code after docker stop"
    # Not `grep -q`: it exits at the first match, `docker logs` then dies of SIGPIPE, and
    # pipefail reports the pipeline as failed although the line is there.
    "$DOCKER" logs "$NAME" 2>&1 | grep '"drained"' >/dev/null || fail "no 'drained' line in the log"
    echo "exit code 0 after ${STOP_S} s, drained"
}

build_base
build_image
run_container
check_container
check_answers
if [[ "${PROMETHEUS:-0}" == 1 ]]; then check_prometheus; fi
stop_container
SIZE=$("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE")
BASE_SIZE=$("$DOCKER" image inspect -f '{{.Size}}' "$BASE_IMAGE")
say "docker-smoke passed"
printf 'image %s: %d MB (base %s: %d MB); build %.0f s; cold start to ready %.2f s\n' \
    "$IMAGE" $((SIZE / 1000000)) "$BASE_IMAGE" $((BASE_SIZE / 1000000)) "$BUILD_S" "$COLD_S"
