"""YAML loading, `--set` overrides, canonical JSON and the config hash."""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from coresim.spec.base import Spec, SpecError

S = TypeVar("S", bound=Spec)

# An override: (dotted path, value) or (dotted path, value, flag) where `flag` names the command-line option it
# came from (`--set chip.noc.router.vcs`, `--vcs`); an error in an overridden value then names the flag.
Override = tuple
_TAGS = ("conv2d", "linear", "pool", "flatten", "add")  # discriminator tags pydantic inserts in layer paths


def read_text(path: str | Path, kind: str = "text") -> str:
    """A UTF-8 text file's contents; a missing, unreadable or binary file is a SpecError naming it."""
    try:
        return Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        raise SpecError(str(path), None, f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise SpecError(str(path), None, f"not a {kind} file (byte {exc.start} is not UTF-8: binary data?)") \
            from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; any problem becomes a SpecError naming the file."""
    path = Path(path)
    text = read_text(path, "YAML text")
    try:
        data = yaml.safe_load(text)
    except ValueError as exc:  # a malformed date (2001-13-45) is not a YAMLError
        raise SpecError(str(path), None, f"malformed YAML: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(str(path), where, f"malformed YAML: {problem}") from None
    if not isinstance(data, dict):
        raise SpecError(str(path), None, "expected a mapping at the top level")
    return data


def _parts(loc: tuple) -> list:
    """An error location without the discriminator tags pydantic inserts after a layer's index."""
    out: list = []
    for part in loc:
        if not (part in _TAGS and out and isinstance(out[-1], int)):
            out.append(part)
    return out


def _loc(loc: tuple) -> str:
    out = ""
    for part in _parts(loc):
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def _first_error(errors: list[dict]) -> tuple[tuple, str]:
    """Location and message of the error to report. A required field missing beside an unknown key is most
    likely a typo: report the unknown key and the field it probably meant."""
    err = errors[0]
    if err["type"] == "missing":
        parent = err["loc"][:-1]
        unknown = [e["loc"][-1] for e in errors if e["type"] == "extra_forbidden" and e["loc"][:-1] == parent]
        missing = [str(e["loc"][-1]) for e in errors if e["type"] == "missing" and e["loc"][:-1] == parent]
        for key in unknown:
            close = difflib.get_close_matches(str(key), missing, n=1, cutoff=0.6)
            if close:
                return (*parent, key), f"unknown field (did you mean {close[0]}?)"
        if unknown:
            return (*parent, unknown[0]), f"unknown field (and required field {missing[0]} is missing)"
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    elif err["type"] == "missing":
        msg = "required field is missing"
    elif "input" in err and err["type"] not in ("value_error",) and not isinstance(err["input"], dict):
        msg += f" (got {_short(err['input'])})"
    return err["loc"], msg.removeprefix("Value error, ")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _blame(loc: tuple, msg: str, overrides: Sequence[Override]) -> tuple[str, str] | None:
    """(flag, path) of the flagged override the error is about: the last one at or above the error's location,
    else (a check across fields, such as a packet's flit count) the last one below it whose key the message
    names."""
    parts = [str(p) for p in _parts(loc)]
    flagged = [(path.split("."), path, flag[0]) for path, _value, *flag in reversed(list(overrides)) if flag]
    for keys, path, flag in flagged:
        if parts[:len(keys)] == keys:
            return flag, path
    words = set(re.findall(r"\w+", msg))
    for keys, path, flag in flagged:
        if keys[:len(parts)] == parts and keys[-1] in words:
            return flag, path
    return None


def validate(model: type[S], data: dict[str, Any], file: str | None = None,
             overrides: Sequence[Override] = ()) -> S:
    """Validate `data` against `model`; the first error becomes a one-line SpecError. An error in a value a
    flagged override set names the flag (`--set chip.noc.router.vcs`) instead of the file."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        loc, msg = _first_error(exc.errors())
        field = _loc(loc) or None
        blame = _blame(loc, msg, overrides)
        if blame is not None:
            flag, path = blame
            other = [str(p) for p in _parts(loc)] != path.split(".")
            raise SpecError(None, f"{flag} ({field or 'top level'})" if other else flag, msg) from None
        raise SpecError(file, field, msg) from None


def parse_value(text: str) -> Any:
    """`--set` values are YAML scalars: 4 -> int, 0.5 -> float, xy -> str, [1,2] -> list."""
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, ValueError):  # ValueError: a malformed date such as 2001-13-45
        return text


def apply_overrides(data: dict[str, Any], overrides: Sequence[Override], file: str | None) -> dict:
    """Apply dotted-path overrides (`noc.router.vcs`, `layers.0.kernel`) to a copy of `data`."""
    data = copy.deepcopy(data)
    for path, value, *flag in overrides:
        where = (None, flag[0]) if flag else (file, path)
        node: Any = data
        parts = path.split(".")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise SpecError(*where, f"no list element {part!r}")
                key: Any = int(part)
            elif isinstance(node, dict):
                key = part
            else:
                raise SpecError(*where, f"{'.'.join(parts[:i])} is not a mapping")
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
