"""YAML loading, `--set` overrides, canonical JSON and the config hash."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from coresim.spec.base import Spec, SpecError

S = TypeVar("S", bound=Spec)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; any problem becomes a SpecError naming the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError(str(path), None, f"cannot read: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(str(path), where, f"malformed YAML: {problem}") from None
    if not isinstance(data, dict):
        raise SpecError(str(path), None, "expected a mapping at the top level")
    return data


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("conv2d", "linear", "pool", "flatten", "add") and out.endswith("]"):
            continue  # discriminator tag inserted by pydantic
        else:
            out += ("." if out else "") + str(part)
    return out


def validate(model: type[S], data: dict[str, Any], file: str | None = None) -> S:
    """Validate `data` against `model`; the first error becomes a one-line SpecError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = _loc(err["loc"]) or None
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif "input" in err and err["type"] not in ("value_error",) and not isinstance(err["input"], dict):
            msg += f" (got {err['input']!r})"
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        raise SpecError(file, field, msg) from None


def parse_value(text: str) -> Any:
    """`--set` values are YAML scalars: 4 -> int, 0.5 -> float, xy -> str, [1,2] -> list."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(data: dict[str, Any], overrides: list[tuple[str, Any]], file: str | None) -> dict:
    """Apply dotted-path overrides (`noc.router.vcs`, `layers.0.kernel`) to a plain dict copy."""
    data = json.loads(json.dumps(data))
    for path, value in overrides:
        node: Any = data
        parts = path.split(".")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise SpecError(file, path, f"no list element {part!r}")
                key: Any = int(part)
            elif isinstance(node, dict):
                key = part
            else:
                raise SpecError(file, path, f"{'.'.join(parts[:i])} is not a mapping")
            if last:
                node[key] = value
            else:
                if isinstance(node, dict) and key not in node:
                    node[key] = {}
                node = node[key]
    return data


def canonical_json(obj: Any) -> str:
    if isinstance(obj, Spec):
        obj = obj.model_dump(mode="json")
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def sha256_of(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()
