"""``gennet info``: what a checkpoint or ONNX graph is (metadata, parameters, GFLOPs, the graph
that serves it), or the model zoo."""

import argparse
from pathlib import Path
from typing import Any

from gennet.checkpoint import CheckpointMeta, default_checkpoint_path, load_checkpoint, peek_meta
from gennet.commands.common import to_json
from gennet.errors import CheckpointError
from gennet.export import META_KEY, SHA_KEY, graph_meta, onnx_weights_sha256
from gennet.preprocess import DEFAULT_INPUT_SIZE
from gennet.runtimes import installed


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("info", help="show a checkpoint's metadata or the model zoo")
    parser.add_argument(
        "path", nargs="?", type=Path, help="checkpoint or ONNX graph (default: the shipped one)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--models", action="store_true", help="list the registered architectures")
    parser.set_defaults(handler=run)


def graph_status(graph: Path, weights_sha256: str) -> str:
    """Whether ``graph`` can serve the checkpoint whose weights digest is ``weights_sha256``."""
    if not graph.is_file():
        return "missing (the onnx runtime re-exports it at start-up; needs torch)"
    try:
        digest = onnx_weights_sha256(graph)
    except CheckpointError:
        return "unreadable"
    if digest != weights_sha256:
        return "stale: exported from other weights (re-export it: gennet export)"
    try:
        graph_meta(graph)
    except CheckpointError:
        return f"fresh, but without {META_KEY} (an older export): re-export it to serve it alone"
    return f"fresh: carries this checkpoint's {SHA_KEY} and {META_KEY}"


def checkpoint_info(path: Path) -> dict[str, Any]:
    """The checkpoint's metadata plus its path, parameter count, GFLOPs per crop and ONNX graph.

    An ONNX graph is described by the metadata stored in it (no torch needed); parameters and
    GFLOPs are then those of the architecture it names.
    """
    model: Any = None
    if path.suffix == ".onnx":
        meta = graph_meta(path)
        graph = {"path": str(path), "status": f"servable alone: carries {META_KEY}"}
    else:
        if installed("torch"):
            model, meta = load_checkpoint(path)
        else:  # a serving install: the metadata, weights unchecked, no sizes
            meta = peek_meta(path)
        onnx = path.with_suffix(".onnx")
        graph = {"path": str(onnx), "status": graph_status(onnx, meta.weights_sha256)}
    return {"path": str(path), **meta.model_dump(mode="json"), **_size(model, meta), "onnx": graph}


def _size(model: Any, meta: CheckpointMeta) -> dict[str, Any]:
    """Parameters and GFLOPs per crop (of the named architecture when ``model`` is None)."""
    try:
        from gennet.models import create_model
        from gennet.models.complexity import count_gflops, count_parameters
    except ImportError:  # serving install, without torch
        return {"params": None, "gflops": None}
    model = model if model is not None else create_model(meta.arch, **meta.arch_kwargs)
    return {
        "params": count_parameters(model),
        "gflops": round(count_gflops(model, meta.input_size), 4),
    }


def list_models() -> list[str]:
    from gennet.models import list_models as registered

    return registered()


def zoo_info() -> list[dict[str, Any]]:
    """Every registered architecture with default arguments, measured at 256x128."""
    from gennet.models import create_model
    from gennet.models.complexity import count_gflops, count_parameters

    rows = []
    for name in list_models():
        model = create_model(name)
        rows.append(
            {
                "arch": name,
                "params": count_parameters(model),
                "gflops": round(count_gflops(model, DEFAULT_INPUT_SIZE), 4),
                "input_size": list(DEFAULT_INPUT_SIZE),
            }
        )
    return rows


def _metric_line(name: str, metrics: dict[str, Any]) -> str:
    figures = [
        f"{label} {metrics[key]:.4f}"
        for key, label in (("macro_f1", "macro-F1"), ("accuracy", "accuracy"), ("auc", "AUC"))
        if isinstance(metrics.get(key), int | float)
    ]
    return f"  {name:<10} " + ", ".join(figures)


def format_checkpoint(info: dict[str, Any]) -> str:
    height, width = info["input_size"]
    lines = [
        f"checkpoint   {info['path']}",
        f"model        {info['name']} {info['version']} (arch {info['arch']}, "
        f"kwargs {info['arch_kwargs'] or '{}'})",
        f"format       version {info['format_version']}, created {info['created_at']}",
        f"input        3x{height}x{width}, mean {info['mean']}, std {info['std']}",
        f"classes      {', '.join(info['class_names'])}; threshold {info['threshold']:.2f} "
        "(P(male) at or above it is male)",
        _size_line(info),
        f"weights      sha256 {info['weights_sha256']}",
        f"onnx         {info['onnx']['path']}: {info['onnx']['status']}",
    ]
    if info["data"]:
        lines.append(f"data         {info['data'].get('dataset', '?')}")
    splits = {k: v for k, v in info["metrics"].items() if isinstance(v, dict)}
    if splits:
        lines.append("metrics")
        lines += [_metric_line(name, metrics) for name, metrics in splits.items()]
    return "\n".join(lines)


def _size_line(info: dict[str, Any]) -> str:
    if info["params"] is None:
        return "size         unknown (install the torch extra to count parameters and GFLOPs)"
    return f"size         {info['params']:,} parameters, {info['gflops']:.3f} GFLOPs per crop"


def format_zoo(rows: list[dict[str, Any]]) -> str:
    height, width = DEFAULT_INPUT_SIZE
    lines = [f"{'arch':<18}{'params':>12}{f'GFLOPs @ {height}x{width}':>20}"]
    lines += [f"{r['arch']:<18}{r['params']:>12,}{r['gflops']:>20.3f}" for r in rows]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.models:
        rows = zoo_info()
        print(to_json(rows) if args.json else format_zoo(rows))
        return 0
    info = checkpoint_info(args.path or default_checkpoint_path())
    print(to_json(info) if args.json else format_checkpoint(info))
    return 0
