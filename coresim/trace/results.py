"""Reading a sweep's results.csv (written by coresim.sweep)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from coresim.errors import SpecError
from coresim.spec.load import read_text


def read_results(csv_path: str | Path) -> list[dict[str, str]]:
    """Rows of a results.csv (a trailing partial line from a killed sweep is ignored)."""
    path = Path(csv_path)
    if not path.exists():
        return []
    text = read_text(path, "CSV text")
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    try:
        return list(csv.DictReader(io.StringIO(text)))
    except csv.Error as exc:
        raise SpecError(str(path), None, f"malformed CSV: {exc}") from None
