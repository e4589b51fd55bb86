"""Command-line entry point. Each subcommand lives in coresim/commands/<name>.py with
`add_arguments(parser)` and `run(args) -> int`; this module only dispatches and maps errors to exit codes."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from coresim.errors import SimulationError, SpecError

COMMANDS = {
    "run": "simulate a workload mapped onto a chip",
    "validate": "check a chip spec and a workload (and that the workload fits)",
    "info": "describe a chip spec",
    "noc": "synthetic-traffic NoC simulation (BookSim2-style)",
    "mac": "MAC-array timing of one GEMM or conv layer (SCALE-Sim-style)",
    "check": "compare coresim against reference tools' results",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coresim", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is mapped and simulated")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"coresim.commands.{name}")
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="coresim: %(message)s")
    try:
        return int(args._module.run(args) or 0)
    except SpecError as exc:
        print(f"coresim: error: {exc}", file=sys.stderr)
        return 2
    except SimulationError as exc:
        print(f"coresim: simulation error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("coresim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
