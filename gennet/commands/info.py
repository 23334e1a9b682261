"""``gennet info``: what a checkpoint or ONNX graph is (metadata, parameters, GFLOPs, its graphs
of each precision and the one that would be served), or the model zoo."""

import argparse
import json
from pathlib import Path
from typing import Any

from gennet.checkpoint import CheckpointMeta, default_checkpoint_path, load_checkpoint, peek_meta
from gennet.commands.common import to_json
from gennet.inference import DEFAULT_TTA, DEFAULT_TTA_MARGIN
from gennet.preprocess import DEFAULT_INPUT_SIZE
from gennet.runtimes import (
    AUTO_PRECISION,
    DEFAULT_PRECISION,
    ModelFiles,
    choose_precision,
    default_precision,
    get_backend,
    installed,
    known_precisions,
)
from gennet.runtimes.base import DEFAULT_ONNX_CACHE_DIR
from gennet.runtimes.onnx_graphs import (
    CALIBRATION_KEY,
    GATE_KEY,
    META_KEY,
    SHA_KEY,
    cached_graph,
    default_graph,
    export_command,
    graph_meta,
    graph_precision,
    graph_problem,
    read_props,
)


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("info", help="show a checkpoint's metadata or the model zoo")
    parser.add_argument(
        "path", nargs="?", type=Path, help="checkpoint or ONNX graph (default: the shipped one)"
    )
    parser.add_argument(
        "--precision",
        choices=(AUTO_PRECISION, *known_precisions()),
        default=default_precision(),
        help="the precision whose graph to show as served (default: GENNET_PRECISION or auto: "
        "int8 when its graph is there and fresh, else fp32, as the service chooses)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--models", action="store_true", help="list the registered architectures")
    parser.set_defaults(handler=run)


def graph_status(graph: Path, weights_sha256: str, precision: str) -> str:
    """Whether ``graph`` can serve the checkpoint whose weights digest is ``weights_sha256``."""
    problem = graph_problem(graph, weights_sha256, precision)
    if problem == "missing" and precision == DEFAULT_PRECISION:
        return "missing (the graph runtimes re-export it at start-up; needs torch)"
    if problem is not None:
        return f"{problem} (make it: {export_command(precision)})"
    props = read_props(graph)
    if precision != DEFAULT_PRECISION:
        return f"fresh: {quantised_from(props)}"
    if META_KEY not in props:
        return f"fresh, but without {META_KEY} (an older export): re-export it to serve it alone"
    return f"fresh: carries this checkpoint's {SHA_KEY} and {META_KEY}"


def quantised_from(props: dict[str, str]) -> str:
    """How an INT8 graph was calibrated and admitted, from its metadata."""
    calibration, gate = json.loads(props[CALIBRATION_KEY]), json.loads(props[GATE_KEY])
    kept = calibration.get("fp32_convs", 0)  # absent: quantised before convolutions were kept
    return (
        f"quantised from these weights on {calibration['count']} {calibration['split']} crops "
        f"(seed {calibration['seed']}){f', first {kept} convolutions FP32' if kept else ''}; "
        f"{gate['split']} macro-F1 {gate['fp32']['macro_f1']:.4f} "
        f"-> {gate['int8']['macro_f1']:.4f}, AUC {gate['fp32']['auc']:.4f} -> "
        f"{gate['int8']['auc']:.4f}"
    )


def served_graph(checkpoint: Path, weights_sha256: str, precision: str) -> dict[str, Any]:
    """The graph the onnx runtime would serve at ``precision``, as it chooses it."""
    graph = default_graph(checkpoint, precision)
    problem = graph_problem(graph, weights_sha256, precision)
    if problem is None:
        return {"precision": precision, "graph": str(graph), "note": None}
    if precision == DEFAULT_PRECISION:
        cached = cached_graph(DEFAULT_ONNX_CACHE_DIR, weights_sha256)
        return {"precision": precision, "graph": str(cached), "note": f"{graph} is {problem}"}
    note = f"cannot start: {graph} is {problem} (make it: {export_command(precision)})"
    return {"precision": precision, "graph": None, "note": note}


def graph_info(path: Path, precision: str) -> tuple[CheckpointMeta, dict[str, Any]]:
    """A graph served alone: its metadata, precision and whether ``precision`` is its own."""
    meta = graph_meta(path)
    own = graph_precision(read_props(path))
    graphs = {own: {"path": str(path), "status": f"servable alone: carries {META_KEY}"}}
    note = None if own == precision else f"cannot start: an {own} graph, not {precision}"
    served = {"precision": precision, "graph": str(path) if note is None else None, "note": note}
    return meta, {"graphs": graphs, "served": served}


def checkpoint_info(path: Path, precision: str = DEFAULT_PRECISION) -> dict[str, Any]:
    """The checkpoint's metadata plus its path, parameter count, GFLOPs per crop, its graph of
    each precision and the graph served at ``precision``.

    An ONNX graph is described by the metadata stored in it (no torch needed); parameters and
    GFLOPs are then those of the architecture it names.
    """
    model: Any = None
    if path.suffix == ".onnx":
        meta, graphs = graph_info(path, precision)
    else:
        if installed("torch"):
            model, meta = load_checkpoint(path)
        else:  # a serving install: the metadata, weights unchecked, no sizes
            meta = peek_meta(path)
        graphs = {
            "graphs": {
                p: {"path": str(graph), "status": graph_status(graph, meta.weights_sha256, p)}
                for p in get_backend("onnx").precisions
                for graph in [default_graph(path, p)]
            },
            "served": served_graph(path, meta.weights_sha256, precision),
        }
    return {"path": str(path), **meta.model_dump(mode="json"), **_size(model, meta), **graphs}


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
        *_graph_lines(info),
    ]
    if info["data"]:
        lines.append(f"data         {info['data'].get('dataset', '?')}")
    splits = {k: v for k, v in info["metrics"].items() if isinstance(v, dict)}
    if splits:
        lines.append("metrics")
        lines += [_metric_line(name, metrics) for name, metrics in splits.items()]
    return "\n".join(lines)


def _graph_lines(info: dict[str, Any]) -> list[str]:
    graphs = [f"{p} {g['path']}: {g['status']}" for p, g in info["graphs"].items()]
    served = info["served"]
    where = served["graph"] or "nothing"
    note = f" ({served['note']})" if served["note"] else ""
    return [
        *(f"{'graphs' if i == 0 else '':<13}{line}" for i, line in enumerate(graphs)),
        f"served       {served['precision']} (GENNET_PRECISION): {where}{note}",
        f"tta          {_tta()} by default (GENNET_TTA, GENNET_TTA_MARGIN; ?tta= per request)",
    ]


def _tta() -> str:
    if not DEFAULT_TTA:
        return "none"
    return f"flip, for crops within {DEFAULT_TTA_MARGIN:g} of the threshold"


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
    path = args.path or default_checkpoint_path()
    precision = choose_precision(args.precision, "onnx", ModelFiles(path))
    info = checkpoint_info(path, precision)
    print(to_json(info) if args.json else format_checkpoint(info))
    return 0
