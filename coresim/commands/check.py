"""`coresim check TOOL FILE...`: hold coresim against a reference tool's results."""

from __future__ import annotations

import argparse
import importlib

# tool name -> module in coresim/check/ with add_arguments(parser) and run(args) -> int
CHECKS = {
    "booksim": "coresim.check.booksim",
    "scalesim": "coresim.check.scalesim",
    "lava-lif": "coresim.check.lava_lif",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="tool", metavar="TOOL", required=True)
    for name, modname in CHECKS.items():
        module = importlib.import_module(modname)
        p = sub.add_parser(name, help=module.__doc__.splitlines()[0], description=module.__doc__)
        module.add_arguments(p)
        p.set_defaults(_check=module)


def run(args: argparse.Namespace) -> int:
    return args._check.run(args)
