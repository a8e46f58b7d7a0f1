"""Reading scenarios and plans from files, writing them atomically.

Every failure a user can cause becomes an :class:`~placer.errors.InputError` whose
one line names the file, the path inside it (``demand.tenants[2].lines[0].gpus``) and
what is wrong. Writes go to a temporary file in the target directory and are renamed
into place, so a reader never sees a half-written file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from placer.errors import InputError
from placer.plan import Plan
from placer.scenario import Scenario

M = TypeVar("M", bound=BaseModel)

# Discriminator tags pydantic inserts into error locations for tagged unions.
_UNION_TAGS = {"site", "substation", "plant", "metro", "feed", "line", "fiber"}


def read_document(path: str | Path) -> Any:
    """Parse a YAML or JSON file into Python data."""
    p = Path(path)
    if not p.exists():
        raise InputError("no such file", file=str(path))
    if p.is_dir():
        raise InputError("is a directory, not a file", file=str(path))
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", file=str(path)) from None
    try:
        if p.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", file=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"invalid YAML{where}: {problem}", file=str(path)) from None


def format_location(loc: tuple[Any, ...]) -> str:
    """``('topology', 'nodes', 3, 'site', 'pue')`` -> ``topology.nodes[3].pue``."""
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _UNION_TAGS and i > 0 and isinstance(loc[i - 1], int):
            continue  # pydantic's tagged-union branch name, not a field
        elif part in ("function-after", "function-before") or str(part).startswith("function-"):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


def _describe(data: Any, loc: tuple[Any, ...]) -> str:
    """Add the id of the list element an error sits in, for readability."""
    node, label = data, ""
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(part, int) and isinstance(node, dict) and "id" in node:
            label = f" (id '{node['id']}')"
    return label


def validation_error_to_input_error(exc: ValidationError, data: Any, file: str) -> InputError:
    err = exc.errors(include_url=False)[0]
    loc = tuple(err.get("loc", ()))
    where = format_location(loc) or None
    msg = err.get("msg", "invalid value")
    # Errors raised inside our model validators carry their own location prefix.
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if err.get("type") not in ("missing", "extra_forbidden") and "input" in err and not isinstance(
        err["input"], (dict, list)
    ):
        msg += f" (got {err['input']!r})"
    msg += _describe(data, loc)
    more = len(exc.errors()) - 1
    if more:
        msg += f" (and {more} more error{'s' if more > 1 else ''})"
    return InputError(msg, file=file, where=where)


def parse_model(model: type[M], data: Any, file: str) -> M:
    if not isinstance(data, dict):
        raise InputError(f"expected a mapping at the top level, got {type(data).__name__}", file=file)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error_to_input_error(exc, data, file) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (YAML or JSON)."""
    return parse_model(Scenario, read_document(path), str(path))


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file (JSON)."""
    return parse_model(Plan, read_document(path), str(path))


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and an atomic rename."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise InputError("output directory does not exist", file=str(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def dump_model(model: BaseModel, path: str | Path) -> None:
    """Write a pydantic model as JSON (``.json``) or YAML (anything else), atomically."""
    data = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    if Path(path).suffix.lower() == ".json":
        text = json.dumps(data, indent=2) + "\n"
    else:
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)
    atomic_write_text(path, text)
