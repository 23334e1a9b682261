"""A weight average ("model soup") of checkpoints of one architecture, against each of them and
against their ensemble, on PETA val and test.

Runs of one recipe that differ only by floating-point noise (another machine, another Pillow
release) end in the same basin, so the mean of their weights is itself a model of the same cost;
its batch-norm statistics are re-estimated on train crops (without augmentation), as the means of
two models' statistics are not the statistics of the mean model. Each model's threshold is its
val equal-recall point, the trainer's rule. The ensemble (sigmoid of the mean logit) costs one
forward pass per checkpoint: it is the reference the soup tries to match at the cost of one.

Run from the repository root with the project's venv (gennet installed editable):

    .venv/bin/python scripts/soup.py model_store/gennet.pt OTHER.pt --out runs/soup.pt \
        --json reports/soup.json
"""

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gennet.checkpoint import load_checkpoint, save_checkpoint
from gennet.data.cache import decode_samples
from gennet.data.manifest import read_manifest, select
from gennet.evaluate.ensemble import mean_probability, to_logit
from gennet.evaluate.metrics import classification_metrics, equal_recall_threshold
from gennet.inference import TorchPredictor, predict_images
from gennet.models import create_model
from gennet.preprocess import PreprocessSpec, normalise

SPLITS = ("val", "test")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkpoints", type=Path, nargs="+", help="two or more, one architecture")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/peta"))
    parser.add_argument("--bn-crops", type=int, default=4096, help="train crops for BN statistics")
    parser.add_argument("--out", type=Path, required=True, help="the soup's checkpoint")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser.parse_args()


def mean_state(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The mean of every floating-point tensor; integer buffers (BN step counts) of the first."""
    return {
        key: torch.stack([s[key] for s in states]).mean(0) if value.is_floating_point() else value
        for key, value in states[0].items()
    }


@torch.no_grad()
def reestimate_bn(model: torch.nn.Module, images: np.ndarray, spec: PreprocessSpec) -> None:
    """Batch-norm running statistics as the cumulative mean over ``images`` (train mode, no
    weight update); dropout and MixStyle stay at evaluation behaviour, which is why this is not
    torch's ``swa_utils.update_bn`` (it puts the whole model in training mode)."""
    model.eval()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average
        norm.train()
    for start in range(0, len(images), 64):
        batch = normalise(np.asarray(images[start : start + 64]), spec)
        model(torch.from_numpy(batch))
    model.eval()


def figures(targets: dict[str, np.ndarray], probs: dict[str, np.ndarray]) -> dict[str, Any]:
    threshold = equal_recall_threshold(targets["val"], probs["val"])
    out: dict[str, Any] = {"threshold": threshold}
    for split in SPLITS:
        metrics = classification_metrics(targets[split], probs[split], threshold)
        out[split] = {"macro_f1": round(metrics["macro_f1"], 4), "auc": round(metrics["auc"], 4)}
    return out


def main() -> None:
    args = parse_args()
    loaded = [load_checkpoint(path) for path in args.checkpoints]
    meta = loaded[0][1]
    spec = meta.preprocess_spec
    samples = read_manifest(args.data)
    split_samples = {split: select(samples, split) for split in SPLITS}
    images = {split: decode_samples(rows, spec) for split, rows in split_samples.items()}
    targets = {split: np.array([s.target for s in rows]) for split, rows in split_samples.items()}

    def probs_of(model: torch.nn.Module) -> dict[str, np.ndarray]:
        predictor = TorchPredictor(model.eval(), "cpu")
        return {split: predict_images(predictor, images[split], spec) for split in SPLITS}

    each = [probs_of(model) for model, _ in loaded]
    report: dict[str, Any] = {
        str(path): figures(targets, probs)
        for path, probs in zip(args.checkpoints, each, strict=True)
    }
    ensemble = {s: mean_probability([to_logit(probs[s]) for probs in each]) for s in SPLITS}
    report["ensemble"] = figures(targets, ensemble)

    soup = create_model(meta.arch, **meta.arch_kwargs).eval()
    soup.load_state_dict(mean_state([model.state_dict() for model, _ in loaded]))
    report["soup, averaged BN statistics"] = figures(targets, probs_of(soup))
    train = select(samples, "train")
    order = np.random.default_rng(0).permutation(len(train))[: args.bn_crops]
    reestimate_bn(soup, decode_samples(train, spec)[np.sort(order)], spec)
    report["soup"] = figures(targets, probs_of(soup))

    soup_meta = meta.model_copy(
        update={
            "threshold": report["soup"]["threshold"],
            "metrics": {
                "val": report["soup"]["val"],
                "test": report["soup"]["test"],
                "params": meta.metrics["params"],
                "gflops": meta.metrics["gflops"],
            },
            "recipe": {**meta.recipe, "soup_of": [m.weights_sha256 for _, m in loaded]},
        }
    )
    save_checkpoint(args.out, soup, soup_meta)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
