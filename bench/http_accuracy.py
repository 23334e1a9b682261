"""What the service answers, measured over HTTP: macro-F1 and ROC AUC of a PETA split, posted
crop by crop to a real ``gennet serve`` under each configuration.

Every crop of the split goes through ``POST /predict/batch`` (64 files a request) exactly as a
client sends it; the figures come from the answers (P(male), and the label decided by the service
at the threshold it applied), so they cover decoding, batching, the runtime, the precision and TTA
as served. Configurations as in ``configs.py`` (``--config "int8+tta:GENNET_PRECISION=int8,
GENNET_TTA=true"``); an empty configuration is the service's defaults. Run from the repository root:
``python bench/http_accuracy.py --config defaults: --split test``.
"""

import argparse
import json
import urllib.request
from pathlib import Path

import aiohttp
import numpy as np
import service
import target
from aio import run
from configs import configs
from crops import REPO, content_type
from serve import SERVICE_APP

from gennet.data.manifest import read_manifest, select
from gennet.evaluate.metrics import classification_metrics

FILES_PER_REQUEST = 64


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    target.add_arguments(parser)
    parser.add_argument("--config", action="append", required=True, metavar="NAME:KEY=VALUE,...")
    parser.add_argument("--split", default="test")
    parser.add_argument("--json", type=Path, default=REPO / "reports/http_accuracy.json")
    return target.finish(parser.parse_args())


async def post_all(base: str, crops: list[bytes]) -> list[dict]:
    """Each crop's answer, in order."""
    answers: list[dict] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        for start in range(0, len(crops), FILES_PER_REQUEST):
            form = aiohttp.FormData()
            for i, data in enumerate(crops[start : start + FILES_PER_REQUEST]):
                form.add_field("files", data, filename=f"{i}", content_type=content_type(data))
            async with session.post(base + "/predict/batch", data=form) as response:
                body = await response.json()
                assert response.status == 200, body
            for result in body["results"]:
                assert "error" not in result, result
                answers.append(result | {"threshold": body["threshold"], "tta": body["tta"]})
    return answers


def figures(targets: np.ndarray, answers: list[dict]) -> dict:
    prob_male = np.array([a["probabilities"]["male"] for a in answers])
    said_male = np.array([a["label"] == "male" for a in answers])
    threshold = answers[0]["threshold"]
    metrics = classification_metrics(targets, prob_male, threshold)
    assert (said_male == (prob_male >= threshold)).all()  # the service decided as evaluation does
    return {
        "n": metrics["n"],
        "macro_f1": metrics["macro_f1"],
        "auc": metrics["auc"],
        "accuracy": metrics["accuracy"],
        "recall": metrics["recall"],
        "threshold": threshold,
        "tta": answers[0]["tta"],
    }


def main() -> None:
    args = parse_args()
    rows = select(read_manifest(args.data, check_files=False), args.split)
    crops = [row.path.read_bytes() for row in rows]
    targets = np.array([row.target for row in rows])
    results = {}
    for name, env in configs(args.config).items():
        server_env = target.server_env(args) | {"GENNET_LOG_LEVEL": "WARNING"} | env
        server, base = target.start(SERVICE_APP, server_env, args)
        try:
            answers = run(post_all(base, crops))
            with urllib.request.urlopen(base + "/health", timeout=10) as response:
                health = json.loads(response.read())
        finally:
            service.stop(server)
        results[name] = {"env": env, "precision": health["precision"], **figures(targets, answers)}
        r = results[name]
        print(
            f"{name}: {args.split} n={r['n']} macro-F1 {r['macro_f1']:.4f} AUC {r['auc']:.4f} "
            f"({r['precision']}, tta {r['tta']}, threshold {r['threshold']})"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"split": args.split, "configs": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
