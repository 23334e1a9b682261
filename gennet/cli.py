"""The ``gennet`` command line: train, loso, evaluate, calibrate, info, export, predict, serve."""

import argparse
import sys
from collections.abc import Sequence

from gennet.commands import calibrate, evaluate, export, info, loso, predict, serve, train
from gennet.errors import GenNetError

COMMANDS = (train, loso, evaluate, calibrate, info, export, predict, serve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gennet", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except GenNetError as exc:
        print(f"gennet {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
