"""Command-line entry point. Each subcommand lives in coresim/commands/<name>.py (dashes become underscores)
with `add_arguments(parser)` and `run(args) -> int`; this module only dispatches and maps errors to exit codes."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading

from coresim.errors import BufferDeadlock, SimulationError, SpecError, Stopped

COMMANDS = {
    "run": "simulate a workload mapped onto a chip",
    "compare": "run one workload under several mappings / allocations / schedules and compare them",
    "calibrate-cutoff": "calibrate Top-K early-exit thresholds on a workload's training data",
    "validate": "check a chip spec and a workload (and that the workload fits)",
    "info": "describe a chip spec",
    "noc": "synthetic-traffic NoC simulation (BookSim2-style)",
    "mac": "MAC-array timing of one GEMM or conv layer (SCALE-Sim-style)",
    "check": "compare coresim against reference tools' results",
    "sweep": "run a grid of configurations (local processes or a dask cluster), resumably",
    "plot": "plot a trace (utilisation, mesh, links, latency, timeline) or a sweep's results",
    "report": "write a self-contained HTML report of a trace (or of a sweep's results.csv)",
    "export": "export a trace to Perfetto/Chrome JSON, VCD or CSV, or a workload to NIR",
    "gen": "generate a workload (random: a sparse recurrent population at a given firing rate)",
    "train": "learn a workload's weights on the chip by node perturbation (np, anp, danp) or BPTT (reference)",
}


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error on one line (exit 2) instead of the usage block and the error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} -h\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; command modules are imported only for `only` (all listed, one loaded: fast start-up)."""
    parser = Parser(prog="coresim", description="Cycle-accurate simulator of many-core neuromorphic chips.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is mapped and simulated")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == only:
            module = importlib.import_module(f"coresim.commands.{name.replace('-', '_')}")
            module.add_arguments(p)
            p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    only = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only if only in COMMANDS else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="coresim: %(message)s")
    previous = _stop_on_signals()
    try:
        code = int(args._module.run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return 1
    except SpecError as exc:
        print(f"coresim: error: {exc}", file=sys.stderr)
        return 2
    except BufferDeadlock as exc:
        print(f"coresim: error: {exc}", file=sys.stderr)
        return 2
    except SimulationError as exc:
        print(f"coresim: simulation error: {exc}", file=sys.stderr)
        return 1
    except MemoryError as exc:  # sizes the specs allow, too large for this machine
        print(f"coresim: error: out of memory: the chip or workload is too large for this machine "
              f"({str(exc) or 'allocation failed'})", file=sys.stderr)
        return 2
    except Stopped as exc:
        print(f"coresim: stopped by {signal.Signals(exc.signum).name}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("coresim: interrupted", file=sys.stderr)
        return 130
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _stop_on_signals() -> dict:
    """SIGTERM and SIGHUP raise `Stopped` in the main thread (once; a second is ignored while it unwinds), so a
    command stops what it started as on Ctrl-C; a signal already ignored (nohup) stays ignored. Returns the
    handlers to restore."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def stop(signum, frame):
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)
        raise Stopped(signum)

    return {s: signal.signal(s, stop) for s in STOP_SIGNALS if signal.getsignal(s) is not signal.SIG_IGN}


def _quiet_stdout() -> None:
    """The reader of stdout went away (`coresim run --json | head`): send what is left to /dev/null so the
    interpreter's final flush does not fail again (python docs, "Note on SIGPIPE")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a file (captured in tests)
        pass


if __name__ == "__main__":
    sys.exit(main())
