"""The two kinds of failure a user sees: bad input (exit 2) and a failed simulation (exit 1)."""

from __future__ import annotations


class SpecError(ValueError):
    """Bad input: names the file, the field (dotted path) and the reason in one line."""

    def __init__(self, file: str | None, field: str | None, reason: str):
        self.file, self.field, self.reason = file, field, reason
        where = ": ".join(str(x) for x in (file, field) if x)
        super().__init__(f"{where}: {reason}" if where else reason)


class SimulationError(RuntimeError):
    """The simulation itself failed (deadlock, internal inconsistency)."""
