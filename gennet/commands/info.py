"""``gennet info``: what a checkpoint is (metadata, parameters, GFLOPs), or the model zoo."""

import argparse
from pathlib import Path
from typing import Any

from gennet.checkpoint import default_checkpoint_path, load_checkpoint
from gennet.commands.common import to_json
from gennet.models import create_model, list_models
from gennet.models.complexity import count_gflops, count_parameters

ZOO_INPUT_SIZE = (256, 128)


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("info", help="show a checkpoint's metadata or the model zoo")
    parser.add_argument("path", nargs="?", type=Path, help="checkpoint (default: the shipped one)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--models", action="store_true", help="list the registered architectures")
    parser.set_defaults(handler=run)


def checkpoint_info(path: Path) -> dict[str, Any]:
    """The checkpoint's metadata plus its path, parameter count and GFLOPs per crop."""
    model, meta = load_checkpoint(path)
    return {
        "path": str(path),
        **meta.model_dump(mode="json"),
        "params": count_parameters(model),
        "gflops": round(count_gflops(model, meta.input_size), 4),
    }


def zoo_info() -> list[dict[str, Any]]:
    """Every registered architecture with default arguments, measured at 256x128."""
    rows = []
    for name in list_models():
        model = create_model(name)
        rows.append(
            {
                "arch": name,
                "params": count_parameters(model),
                "gflops": round(count_gflops(model, ZOO_INPUT_SIZE), 4),
                "input_size": list(ZOO_INPUT_SIZE),
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
        f"size         {info['params']:,} parameters, {info['gflops']:.3f} GFLOPs per crop",
        f"weights      sha256 {info['weights_sha256']}",
    ]
    if info["data"]:
        lines.append(f"data         {info['data'].get('dataset', '?')}")
    splits = {k: v for k, v in info["metrics"].items() if isinstance(v, dict)}
    if splits:
        lines.append("metrics")
        lines += [_metric_line(name, metrics) for name, metrics in splits.items()]
    return "\n".join(lines)


def format_zoo(rows: list[dict[str, Any]]) -> str:
    height, width = ZOO_INPUT_SIZE
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
