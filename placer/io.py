"""Reading scenarios and plans from files, writing them atomically.

Every failure a user can cause becomes an :class:`~placer.errors.InputError` whose
one line names the file, the path inside it (``demand.tenants[2].lines[0].gpus``) and
what is wrong. Writes go to a temporary file in the target directory and are renamed
into place, so a reader never sees a half-written file.
"""

from __future__ import annotations

import json
import os
import re
import stat
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

MAX_FILE_BYTES = 1 << 30
# No scenario or plan needs more than a handful of levels; deeper documents are refused before
# anything recursive (pydantic, printing) sees them.
MAX_DEPTH = 64
# Elements after YAML aliases are expanded: refuses "billion laughs" documents, whose few
# shared nodes would expand to billions during validation.
MAX_ELEMENTS = 20_000_000


class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 core-schema scalars and no duplicate keys.

    YAML 1.1 (PyYAML's default) reads ``yes``/``no``/``on``/``off`` as booleans, ``1e7`` as a
    string and ``2027-01-01`` as a date; 1.2 reads them as the strings ``yes``..., the float
    1e7 and a string. Together with strict numbers in the schema, ``it_capacity_mw: yes`` is
    then refused rather than read as 1 MW. A repeated key is an error, not "last one wins"."""


_BOOL = "tag:yaml.org,2002:bool"
_FLOAT = "tag:yaml.org,2002:float"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL, _FLOAT, _TIMESTAMP)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Yaml12Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _construct_mapping(loader: _Yaml12Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # an unhashable key: construct_mapping below says so
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_Yaml12Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def _json_object(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _check_shape(data: Any, file: str) -> None:
    """Refuse documents nested deeper than MAX_DEPTH or expanding to more than MAX_ELEMENTS.

    Iterative, and memoised on node identity so shared (aliased) nodes are visited once:
    O(distinct nodes) time whatever the expanded size."""
    size: dict[int, int] = {}
    stack: list[tuple[Any, int, bool]] = [(data, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        if not isinstance(node, (dict, list)):
            continue
        if depth > MAX_DEPTH:
            raise InputError(f"nested more than {MAX_DEPTH} levels deep", file=file)
        children = list(node.values()) if isinstance(node, dict) else node
        if done:
            total = 1 + sum(size.get(id(c), 1) for c in children)
            if total > MAX_ELEMENTS:
                raise InputError(f"expands to more than {MAX_ELEMENTS:,} elements (YAML aliases?)", file=file)
            size[id(node)] = total
        elif id(node) not in size:
            stack.append((node, depth, True))
            stack.extend((c, depth + 1, False) for c in children if isinstance(c, (dict, list)) and id(c) not in size)


def check_regular_file(path: str | Path) -> None:
    """Refuse a path that is missing or not a regular file (a FIFO would block a reader
    forever), for readers outside this module (the MATPOWER importer). stat() never blocks."""
    file = str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InputError("no such file", file=file) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=file) from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError("is a directory, not a file", file=file)
    if not stat.S_ISREG(info.st_mode):
        raise InputError("is not a regular file (a pipe, device or socket); give a file path", file=file)


def _read_regular_file(path: str | Path) -> str:
    """The text of a regular file. FIFOs, devices, sockets and directories are refused without
    blocking: the file is opened non-blocking and checked with fstat before any read."""
    file = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError("no such file", file=file) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a file", file=file) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=file) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise InputError("is a directory, not a file", file=file)
        if not stat.S_ISREG(info.st_mode):
            raise InputError("is not a regular file (a pipe, device or socket); give a file path", file=file)
        if info.st_size > MAX_FILE_BYTES:
            raise InputError(f"is {info.st_size:,} bytes; files over {MAX_FILE_BYTES:,} bytes are refused", file=file)
        with os.fdopen(fd, "rb", closefd=True) as fh:
            fd = -1
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=file) from None
    finally:
        if fd >= 0:
            os.close(fd)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"cannot read: not UTF-8 text (byte {exc.start})", file=file) from None


def read_document(path: str | Path) -> Any:
    """Parse a YAML or JSON file into Python data (``.json``: JSON; anything else: YAML 1.2).

    Raises :class:`InputError` for a missing, unreadable or non-regular file, a syntax
    error, a duplicate key, or a document nested too deeply. O(file size)."""
    file = str(path)
    text = _read_regular_file(path)
    try:
        if Path(path).suffix.lower() == ".json":
            data = json.loads(text, object_pairs_hook=_json_object)
        else:
            data = yaml.load(text, Loader=_Yaml12Loader)  # noqa: S506 (a SafeLoader subclass)
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", file=file) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"invalid YAML{where}: {problem}", file=file) from None
    except ValueError as exc:  # a duplicate JSON key (object_pairs_hook), or a number too long to convert
        syntax = "JSON" if Path(path).suffix.lower() == ".json" else "YAML"
        reason = "a number with more than 4,300 digits" if "integer string conversion" in str(exc) else str(exc)
        raise InputError(f"invalid {syntax}: {reason}", file=file) from None
    except RecursionError:
        raise InputError(f"nested more than {MAX_DEPTH} levels deep", file=file) from None
    _check_shape(data, file)
    return data


def format_location(loc: tuple[Any, ...], data: Any = None) -> str:
    """``('topology', 'nodes', 3, 'site', 'pue')`` -> ``topology.nodes[3].pue``.

    pydantic puts a tagged union's branch name (``site``) after the list index; it is dropped
    unless the input at that point really has a field of that name (a plan's ``assignments[0].site``)."""
    out = ""
    node = data
    for i, part in enumerate(loc):
        field_here = isinstance(node, dict) and part in node
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _UNION_TAGS and i > 0 and isinstance(loc[i - 1], int) and not field_here:
            continue  # pydantic's tagged-union branch name, not a field
        elif str(part).startswith("function-"):
            continue
        else:
            out += ("." if out else "") + str(part)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
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
            ident = str(node["id"])
            label = f" (id '{ident if len(ident) <= 60 else ident[:40] + '...'}')"
    return label


def validation_error_to_input_error(exc: ValidationError, data: Any, file: str) -> InputError:
    err = exc.errors(include_url=False)[0]
    loc = tuple(err.get("loc", ()))
    where = format_location(loc, data) or None
    msg = err.get("msg", "invalid value")
    # Errors raised inside our model validators carry their own location prefix.
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if (
        err.get("type") not in ("missing", "extra_forbidden")
        and "input" in err
        and not isinstance(err["input"], (dict, list))
    ):
        got = repr(err["input"])
        msg += f" (got {got if len(got) <= 80 else got[:60] + '...' + f' ({len(got):,} characters)'})"
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


def check_output_path(path: str | Path) -> Path:
    """The path a command will write, checked before any work: not empty, not a directory,
    in a directory that exists. Raises :class:`InputError` naming ``-o``. O(1)."""
    if str(path).strip() in ("", "."):
        raise InputError("the output path (-o) is empty; give a file name")
    target = Path(path)
    if target.is_dir() or str(path).endswith(os.sep):
        raise InputError("is a directory; give -o a file name (e.g. inside it)", file=str(path))
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise InputError("output directory does not exist", file=str(path))
    return target


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` (UTF-8) via a temporary file and an atomic rename.

    The file gets mode 0666 minus the umask, as any tool creating a file would (mkstemp
    alone would leave it 0600)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and an atomic rename (see
    :func:`atomic_write_text`). Raises :class:`InputError` naming the file when it cannot."""
    target = check_output_path(path)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", file=str(path)) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise InputError(f"cannot write: {exc.strerror or exc}", file=str(path)) from None
        raise


def dump_model(model: BaseModel, path: str | Path) -> None:
    """Write a pydantic model as JSON (``.json``) or YAML (anything else), atomically."""
    data = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    if Path(path).suffix.lower() == ".json":
        text = json.dumps(data, indent=2) + "\n"
    else:
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)
    atomic_write_text(path, text)
