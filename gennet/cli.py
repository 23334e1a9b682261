"""The ``gennet`` command line: train, loso, evaluate, calibrate, info, export, predict, and the
commands other packages plug in (``serve``, from the service)."""

import argparse
import importlib
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from gennet.errors import GenNetError

COMMANDS = ("train", "loso", "evaluate", "calibrate", "info", "export", "predict")
# Commands of other packages: a module with ``add_parser(subparsers)`` under this entry point group
# (the service's ``serve``: pyproject.toml), so that this package never imports theirs.
PLUGIN_GROUP = "gennet.commands"
# The extra a command needs beyond the base install (which serves on the CPU only); default: train.
EXTRA_OF = {"export": "torch", "predict": "torch", "info": "torch"}


class Unavailable:
    """A command whose module needs a package that is not installed: it says which, in one line."""

    def __init__(self, name: str, missing: str) -> None:
        self.name, self.missing = name, missing

    def add_parser(self, subparsers: Any) -> None:
        extra = EXTRA_OF.get(self.name, "train")
        parser = subparsers.add_parser(
            self.name,
            help=f"(needs: pip install 'gennet[{extra}]')",
            add_help=False,
            prefix_chars="\0",  # every argument, flags included, lands in "rest"
        )
        parser.add_argument("rest", nargs="*")
        parser.set_defaults(handler=self.run)

    def run(self, args: argparse.Namespace) -> int:
        extra = EXTRA_OF.get(self.name, "train")
        raise GenNetError(
            f"needs the {self.missing!r} package, which is not installed "
            f"(pip install 'gennet[{extra}]')"
        )


def load_command(name: str, module: str | None = None) -> ModuleType | Unavailable:
    try:
        return importlib.import_module(module or f"gennet.commands.{name}")
    except ModuleNotFoundError as exc:
        own = {"gennet", (module or "gennet").partition(".")[0]}
        if not exc.name or exc.name.partition(".")[0] in own:
            raise
        return Unavailable(name, exc.name.partition(".")[0])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gennet", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        load_command(name).add_parser(subparsers)
    for plugin in sorted(entry_points(group=PLUGIN_GROUP), key=lambda ep: ep.name):
        load_command(plugin.name, plugin.value).add_parser(subparsers)
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
