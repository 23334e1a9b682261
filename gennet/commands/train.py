"""``gennet train``: train a checkpoint from ``params.yaml`` (the DVC recipe) and/or flags."""

import argparse
import logging
import shutil
from pathlib import Path
from typing import Any

import yaml

from gennet.errors import ConfigError
from gennet.train.config import TrainConfig


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("train", help="train a model on a manifest folder")
    add_recipe_arguments(parser)
    parser.add_argument(
        "--exclude-source", action="append", default=None, help="leave a sub-set out"
    )
    parser.add_argument("--copy-to", type=Path, help="also copy the checkpoint here")
    parser.set_defaults(handler=run)


def add_recipe_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that build a :class:`TrainConfig` (shared with ``gennet loso``)."""
    parser.add_argument("--params", type=Path, help="YAML with a `train:` section (and `data:`)")
    parser.add_argument("--data", type=Path, help="data folder with manifest.csv")
    parser.add_argument("--out", type=Path, help="run folder (checkpoint, history, metrics)")
    parser.add_argument("--arch", help="architecture name (see `gennet info --models`)")
    parser.add_argument("--init-from", type=Path, help="state dict to load partially first")
    parser.add_argument("--scratch", action="store_true", help="ignore init_from: random init")
    parser.add_argument("--max-epochs", type=int)
    parser.add_argument("--max-steps", type=int, help="stop after this many steps (smoke runs)")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--device", help="cpu or cuda (default: cpu)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one recipe field, value parsed as YAML (e.g. --set optimizer_lr=3e-4, "
        "--set augment.jpeg=0.3, --set sampling.identity_cap=8)",
    )


def recipe_from_args(args: argparse.Namespace) -> TrainConfig:
    """params.yaml, then the flags, then each ``--set`` in order."""
    values: dict[str, Any] = {}
    if args.params is not None:
        params = yaml.safe_load(args.params.read_text()) or {}
        values.update(params.get("train", {}))
        if "data" in params:
            values["data"] = params["data"]
    overrides = {
        "data": args.data,
        "out": args.out,
        "arch": args.arch,
        "init_from": args.init_from,
        "exclude_sources": getattr(args, "exclude_source", None),
        "max_epochs": args.max_epochs,
        "max_steps": args.max_steps,
        "batch_size": args.batch_size,
        "device": args.device,
    }
    if args.arch and args.arch != values.get("arch"):
        values["arch_kwargs"] = {}  # the recipe's kwargs belong to its own architecture
    values.update({k: v for k, v in overrides.items() if v is not None})
    for item in args.set:
        key, _, value = item.partition("=")
        _set_dotted(values, key.strip(), _parse_value(value))
    if args.scratch:
        values["init_from"] = None
    return TrainConfig.from_dict(values)


def _set_dotted(values: dict[str, Any], key: str, value: Any) -> None:
    """``augment.jpeg`` sets ``values["augment"]["jpeg"]`` (a copy: the YAML is not changed)."""
    head, _, rest = key.partition(".")
    if not rest:
        values[head] = value
        return
    inner = values.get(head) or {}
    if not isinstance(inner, dict):
        raise ConfigError(f"--set {key}: {head} is not a section")
    values[head] = dict(inner)
    _set_dotted(values[head], rest, value)


def _parse_value(text: str) -> Any:
    """YAML value, with numbers such as ``3e-4`` (a string in YAML 1.1) read as floats."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def run(args: argparse.Namespace) -> int:
    from gennet.train.trainer import train

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    path, meta = train(recipe_from_args(args))
    test = meta.metrics["test"]
    print(
        f"wrote {path}: val macro-F1 {meta.metrics['val']['macro_f1']:.4f}, "
        f"test macro-F1 {test['macro_f1']:.4f}, threshold {meta.threshold:.2f}"
    )
    if args.copy_to is not None:
        args.copy_to.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, args.copy_to)
        print(f"copied to {args.copy_to}")
    return 0
