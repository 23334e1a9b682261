"""How close to its threshold a crop must be for flip TTA's second look (``GENNET_TTA_MARGIN``).

The served graph (``--precision``, default INT8) scores every val crop once and mirrored. For each
margin of ``--margins``, the crops within it of the checkpoint's threshold take the mean of both
passes, the others their single pass, as the service answers them: the share of crops mirrored
(what the second look costs), val macro-F1 and ROC AUC, and the decisions that differ from
mirroring every crop. ``gennet.inference.DEFAULT_TTA_MARGIN`` is the smallest margin with no such
difference. Val only: the margin is chosen here (``http_accuracy.py`` reports test as served).
"""

import argparse
from pathlib import Path

import numpy as np
from crops import PETA_ROOT, REPO
from stats import markdown_table, write_json

from gennet.data.cache import decode_samples
from gennet.data.manifest import read_manifest, select
from gennet.evaluate.metrics import classification_metrics
from gennet.inference import OnnxPredictor, needs_mirror, predict_images
from gennet.runtimes.onnx_graphs import default_graph, graph_meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", type=Path, default=REPO / "model_store" / "gennet.pt")
    parser.add_argument("--data", type=Path, default=PETA_ROOT, help="PETA folder")
    parser.add_argument("--precision", default="int8", help="graph scored: fp32 or int8")
    parser.add_argument("--margins", default="0,0.05,0.1,0.15,0.2,0.25,0.3,0.4,0.5,1")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    graph = default_graph(args.checkpoint, args.precision)
    meta = graph_meta(graph)
    spec, threshold = meta.preprocess_spec, meta.threshold
    rows = select(read_manifest(args.data, check_files=False), "val")
    images, targets = decode_samples(rows, spec), np.array([r.target for r in rows])
    predictor = OnnxPredictor(graph)
    single = predict_images(predictor, images, spec, batch_size=64)
    flipped = np.ascontiguousarray(images[:, :, ::-1])  # (N, H, W, 3): W is axis 2
    mirrored = predict_images(predictor, flipped, spec, batch_size=64)
    every = (single + mirrored) / 2
    result: dict = {"graph": graph.name, "n_val": len(rows), "threshold": threshold, "margins": {}}
    for margin in (float(m) for m in args.margins.split(",")):
        near = np.array([needs_mirror(float(p), threshold, margin) for p in single])
        served = np.where(near, every, single)
        metrics = classification_metrics(targets, served, threshold)
        result["margins"][f"{margin:g}"] = {
            "mirrored_share": float(near.mean()),
            "macro_f1": float(metrics["macro_f1"]),
            "auc": float(metrics["auc"]),
            "decisions_unlike_every_crop": int(
                np.sum((served >= threshold) != (every >= threshold))
            ),
        }
    table = [
        [
            m,
            f"{v['mirrored_share']:.2f}",
            f"{v['macro_f1']:.4f} / {v['auc']:.4f}",
            v["decisions_unlike_every_crop"],
        ]
        for m, v in result["margins"].items()
    ]
    header = ["margin", "share mirrored", "val F1 / AUC", "decisions unlike full TTA"]
    print(markdown_table(header, table))
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
