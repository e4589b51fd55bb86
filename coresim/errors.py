"""The two kinds of failure a user sees: bad input (exit 2) and a failed simulation (exit 1)."""

from __future__ import annotations


class SpecError(ValueError):
    """Bad input: names the file, the field (dotted path) and the reason in one line."""

    def __init__(self, file: str | None, field: str | None, reason: str):
        self.file, self.field, self.reason = file, field, reason
        where = ": ".join(str(x) for x in (file, field) if x)
        text = f"{where}: {reason}" if where else reason
        # one line, whatever a file's keys or values hold: control characters are shown escaped
        super().__init__("".join(c if c.isprintable() else repr(c)[1:-1] for c in text))


class SimulationError(RuntimeError):
    """The simulation itself failed (deadlock, internal inconsistency)."""


class BufferDeadlock(SimulationError):
    """The chip's finite buffers deadlock on this workload (a spec the workload cannot run on: exit 2)."""


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: unwinds like Ctrl-C (KeyboardInterrupt), so `finally` blocks stop workers and
    remove temporary files; the command exits with 128 + the signal number."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
