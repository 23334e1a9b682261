"""``gennet loso``: leave-one-source-out folds of a recipe, per fold and their mean."""

import argparse
import logging
from pathlib import Path
from typing import Any

from gennet.commands.train import add_recipe_arguments, recipe_from_args
from gennet.train.loso import DEFAULT_HOLDOUTS, comparison_table, read_summary, run_loso

DEFAULT_OUT = Path("runs/loso")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "loso", help="leave-one-source-out: train without each sub-set, score on all of it"
    )
    add_recipe_arguments(parser)
    parser.add_argument(
        "--holdout",
        action="append",
        default=None,
        metavar="SOURCE",
        help=f"a sub-set to hold out (repeatable; default: {', '.join(DEFAULT_HOLDOUTS)})",
    )
    parser.add_argument(
        "--retrain", action="store_true", help="train folds whose checkpoint already exists"
    )
    parser.add_argument(
        "--compare",
        nargs="+",
        type=Path,
        metavar="LOSO_DIR",
        help="train nothing: print these finished runs (their loso.json) side by side",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.compare:
        runs = {path.name: read_summary(path) for path in args.compare}
        print(comparison_table(runs), end="")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args.out = args.out or DEFAULT_OUT
    cfg = recipe_from_args(args)
    summary = run_loso(cfg, args.holdout or DEFAULT_HOLDOUTS, args.retrain)
    print((cfg.out / "loso.md").read_text(), end="")
    print(f"wrote {cfg.out / 'loso.json'} (mean macro-F1 {summary['mean']['macro_f1']:.4f})")
    return 0
