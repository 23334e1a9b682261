#!/usr/bin/env bash
# On a CUDA machine, in one go: the GPU tests (pytest marker `gpu`), the GPU benchmark
# (bench/gpu_bench.py) and, when the web stack is importable, the service end to end on the GPU.
#
# Usage: bench/gpu.sh   (from any folder)
# Environment:
#   PYTHON             interpreter (default: python3)
#   OUT                results folder (default: bench/results/gpu)
#   PYTHONPATH         extra site folders, e.g. wheels carried to a machine without pydantic/fastapi
#   GENNET_MODEL_PATH  checkpoint (default: model_store/gennet.pt; random weights when absent)
#   PETA               PETA folder for the end-to-end run (default: ../shared/data/peta)
# Steps whose packages are missing are skipped with a message; the exit code is non-zero when a
# step that ran failed.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
OUT=${OUT:-bench/results/gpu}
CHECKPOINT=${GENNET_MODEL_PATH:-model_store/gennet.pt}
PETA=${PETA:-../shared/data/peta}
export OUT PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$OUT"
status=0

has() { "$PYTHON" -c "import $1" 2>/dev/null; }

"$PYTHON" -c 'import torch; assert torch.cuda.is_available(), "no CUDA device"
print("torch", torch.__version__, "on", torch.cuda.get_device_name())' || exit 1

echo "== GPU tests (pytest -m gpu)"
mapfile -t files < <(grep -rlE 'mark\.gpu' tests --include='*.py')
if ! has "pytest, pydantic"; then
    echo "skipped: pytest or pydantic is not importable (tests/conftest.py needs pydantic)"
elif [ ${#files[@]} -eq 0 ]; then
    echo "skipped: no test module is marked gpu"
else
    "$PYTHON" -m pytest -m gpu -q -p no:cacheprovider "${files[@]}" 2>&1 | tee "$OUT/gpu_tests.log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
fi

echo "== GPU benchmark"
"$PYTHON" bench/gpu_bench.py --checkpoint "$CHECKPOINT" --json "$OUT/gpu_bench.json" \
    | tee "$OUT/gpu_bench.md"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

echo "== service end to end on the GPU"
if ! has "fastapi, uvicorn, pydantic_settings, multipart, aiohttp"; then
    echo "skipped: fastapi, uvicorn, pydantic-settings, python-multipart or aiohttp is missing"
elif [ ! -f "$CHECKPOINT" ] || [ ! -f "$PETA/manifest.csv" ]; then
    echo "skipped: needs the checkpoint $CHECKPOINT and PETA crops at $PETA"
else
    "$PYTHON" bench/serve.py --device cuda --checkpoint "$CHECKPOINT" --data "$PETA" \
        --clients 1,32,64 --duration "${DURATION:-10}" --json "$OUT/serve-cuda.json" | tee "$OUT/serve-cuda.md"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
fi
exit $status
