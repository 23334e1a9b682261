#!/usr/bin/env bash
# The architecture comparison, the leave-one-source-out (unseen camera) run and a small recipe sweep,
# on a CUDA machine. Every run is the shipped recipe (params.yaml) with the device, the architecture,
# the left-out source or one recipe field changed, on a shorter schedule (MAX_EPOCHS).
# Results: OUT/<run>/{history.csv,metrics.json,report.json}; runs are skipped once BUDGET_S is spent.
# Usage: scripts/gpu_experiments.sh DATA_DIR OUT_DIR
set -u
data=$1
out=$2
epochs=${MAX_EPOCHS:-8}
budget=${BUDGET_S:-480}
python=${PYTHON:-python3}
export TQDM_DISABLE=1
mkdir -p "$out"

run() {
    local name=$1
    shift
    if ((SECONDS > budget)); then
        echo "$name: skipped (budget spent)"
        return
    fi
    local started=$SECONDS
    timeout "${STAGE_TIMEOUT:-100}" "$python" -m gennet.cli train --params params.yaml \
        --device "${DEVICE:-cuda}" --data "$data" --out "$out/$name" --max-epochs "$epochs" ${INIT_FROM:+--init-from "$INIT_FROM"} "$@" \
        >"$out/$name.log" 2>&1
    echo "$name: exit $? in $((SECONDS - started)) s"
    rm -f "$out/$name/checkpoint.pt" "$out/$name/history.json"
}

run gennet --arch gennet
run loso_grid --arch gennet --exclude-source GRID
run gennet_v2 --arch gennet_v2
run ibn_resnet18_a --arch ibn_resnet18_a --scratch
run rmnet --arch rmnet --scratch
run gennet_lr3e-4 --arch gennet --set optimizer_lr=3e-4
run gennet_weighted_bce --arch gennet --set loss=weighted_bce --set label_smoothing=0
run gennet_16ep --arch gennet --max-epochs 16

# One summary file: every run's metadata (recipe, metrics) and per-epoch history.
"$python" - "$out" <<'PY'
import csv, json, sys
from pathlib import Path
out = Path(sys.argv[1])
summary = {}
for run in sorted(p for p in out.iterdir() if p.is_dir()):
    report = run / "report.json"
    history = run / "history.csv"
    summary[run.name] = {
        "report": json.loads(report.read_text()) if report.exists() else None,
        "history": list(csv.DictReader(history.open())) if history.exists() else [],
    }
(out / "summary.json").write_text(json.dumps(summary, indent=1))
PY
