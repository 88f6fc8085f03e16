"""YAML loading that remembers where every value came from, and validation against models.

Why not ``yaml.safe_load`` plus pydantic: ``safe_load`` silently keeps the last of two
duplicate keys, forgets line numbers, and expands aliases without limit (a "billion laughs"
bomb takes the machine down). Here the document is composed into nodes, walked once with
a budget, and every path ``("hosts", 2, "port")`` is mapped to its line, so a pydantic
error can name file, line and field.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from ihconform import yamlcache
from ihconform.errors import ConfigError, Location

PathKey = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)

#: Nodes one document may expand to. A hand-written inventory of 500 hosts stays far below.
MAX_NODES = 200_000
#: Largest input file read, in bytes.
MAX_BYTES = 8 * 1024 * 1024
#: Longest scalar (key or value), in characters. The longest legitimate values (an attestation's
#: statement, a PEM public key) are a few KiB; a multi-megabyte hostname is an attack or an
#: accident that would otherwise flow into every report and transcript.
MAX_SCALAR_CHARS = 256 * 1024


@dataclass(frozen=True)
class SourceDoc:
    """A loaded YAML document: the plain data and the line of every path in it."""

    path: Path
    data: Any
    marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def location(self, key: PathKey) -> Location:
        """Where ``key`` (or its nearest ancestor that exists) was written."""
        probe = tuple(key)
        while probe:
            if probe in self.marks:
                line, col = self.marks[probe]
                return Location(self.path, line, col)
            probe = probe[:-1]
        line, col = self.marks.get((), (1, 1))
        return Location(self.path, line, col)


_STANDARD_TAGS = {f"tag:yaml.org,2002:{t}" for t in
                  ("map", "seq", "str", "int", "float", "bool", "null", "timestamp", "merge", "binary")}


#: Deepest nesting accepted (the walker's limit; the scanner's for flow collections).
MAX_DEPTH = 64


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses deep flow nesting while scanning. PyYAML's scanner keeps a possible
    simple key per open ``[``/``{`` and revisits them all at every token, so 100 000 ``[`` (a
    200 KB file) cost over 7 s before any depth check could run."""

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        if self.flow_level >= MAX_DEPTH:
            raise yaml.scanner.ScannerError(None, None, f"nesting deeper than {MAX_DEPTH} levels; refused",
                                            self.get_mark())
        super().fetch_flow_collection_start(TokenClass)


class _Walker:
    def __init__(self, path: Path, loader: yaml.SafeLoader) -> None:
        self.path = path
        self.loader = loader
        self.marks: dict[PathKey, tuple[int, int]] = {}
        self.budget = MAX_NODES
        self._merge_memo: dict[int, int] = {}

    def merged_size(self, node: yaml.MappingNode) -> int:
        """Entries ``node`` has once its ``<<`` merge keys are flattened, counted without building
        them. PyYAML's flatten_mapping copies every merged mapping into each mapping that merges
        it, so nested merges of aliases (``&b2 {<<: [&b1 {...}, *b1, *b1]}``) grow as 3^depth before
        the node budget sees a single node: 14 levels took 5 s and 100 MiB, 20 levels the machine."""
        memo = self._merge_memo
        if id(node) in memo:
            return memo[id(node)]
        memo[id(node)] = MAX_NODES + 1  # a mapping that merges itself (through an alias) is refused
        total = 0
        for knode, vnode in node.value:
            if knode.tag == "tag:yaml.org,2002:merge":
                subs = vnode.value if isinstance(vnode, yaml.SequenceNode) else [vnode]
                total += sum(self.merged_size(sub) for sub in subs if isinstance(sub, yaml.MappingNode))
            else:
                total += 1
            if total > MAX_NODES:
                break
        memo[id(node)] = total
        return total

    def where(self, node: yaml.Node) -> Location:
        return Location(self.path, node.start_mark.line + 1, node.start_mark.column + 1)

    def walk(self, node: yaml.Node, key: PathKey, depth: int = 0) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise ConfigError(
                f"document expands to more than {MAX_NODES} nodes (alias bomb?); refused",
                self.where(node),
            )
        if depth > MAX_DEPTH:
            raise ConfigError(f"nesting deeper than {MAX_DEPTH} levels; refused", self.where(node))
        self.marks.setdefault(key, (node.start_mark.line + 1, node.start_mark.column + 1))
        if node.tag not in _STANDARD_TAGS:
            raise ConfigError(f"unsupported YAML tag {node.tag!r}", self.where(node))
        if isinstance(node, yaml.MappingNode):
            if self.merged_size(node) > MAX_NODES:  # before flattening, which would build it all
                raise ConfigError(f"merge keys expand to more than {MAX_NODES} entries (alias bomb?); refused",
                                  self.where(node))
            self.loader.flatten_mapping(node)  # resolves "<<" merge keys
            out: dict[str, Any] = {}
            for knode, vnode in node.value:
                if not isinstance(knode, yaml.ScalarNode):
                    raise ConfigError("mapping keys must be plain scalars", self.where(knode))
                if len(knode.value) > MAX_SCALAR_CHARS:
                    raise ConfigError(f"key is longer than {MAX_SCALAR_CHARS} characters; refused", self.where(knode))
                try:  # a date-shaped key such as 2026-13-45 resolves to a timestamp that is no date
                    k = self.loader.construct_object(knode)
                except (ValueError, OverflowError) as exc:
                    raise ConfigError(f"cannot read key {knode.value!r}: {exc}; quote it",
                                      self.where(knode)) from exc
                if isinstance(k, bool) or k is None:
                    raise ConfigError(
                        f"key {knode.value!r} is read as {k!r}; quote it", self.where(knode)
                    )
                k = str(k)
                if k in out:
                    first = self.marks.get((*key, k), (0, 0))[0]
                    raise ConfigError(
                        f"duplicate key {k!r} (first defined on line {first})",
                        self.where(knode),
                        field=_dotted((*key, k)),
                    )
                self.marks[(*key, k)] = (knode.start_mark.line + 1, knode.start_mark.column + 1)
                out[k] = self.walk(vnode, (*key, k), depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.walk(item, (*key, i), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.ScalarNode):
            if len(node.value) > MAX_SCALAR_CHARS:
                raise ConfigError(f"value is longer than {MAX_SCALAR_CHARS} characters; refused", self.where(node))
            try:
                value = self.loader.construct_object(node, deep=True)
            except yaml.constructor.ConstructorError as exc:
                raise ConfigError(f"cannot read value: {exc.problem}", self.where(node)) from exc
            except (ValueError, OverflowError) as exc:  # a timestamp-shaped '2026-13-45': no such date
                raise ConfigError(f"cannot read value {node.value!r}: {exc}", self.where(node)) from exc
            if isinstance(value, _dt.datetime | _dt.date | str | int | float | bool) or value is None:
                return value
            raise ConfigError(f"unsupported value type {type(value).__name__}", self.where(node))
        raise ConfigError("unsupported YAML node", self.where(node))  # pragma: no cover


def _dotted(key: PathKey) -> str:
    out = ""
    for part in key:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def read_text(path: Path) -> str:
    """Read a UTF-8 input file, with errors that name it."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ConfigError("file not found", Location(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", Location(path)) from None
    if not path.is_file():
        raise ConfigError("not a regular file", Location(path))
    if size > MAX_BYTES:
        raise ConfigError(f"file is larger than {MAX_BYTES} bytes; refused", Location(path))
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not valid UTF-8 (byte {exc.start})", Location(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", Location(path)) from None


class _PackagedLoader(getattr(yaml, "CSafeLoader", _Loader)):  # type: ignore[misc]
    """libyaml's composer, for the files shipped inside the package only (the built-in profiles).

    They are ours, not input: the scanner limits of ``_Loader`` guard against hostile files, and
    the pure-Python composer is the costly part of every run (0.85 s of the 0.9 s it takes to read
    the default profile). Nodes, marks and the walk over them are the same, so the data and every
    file:line come out identical (tests/unit/test_yamlio.py compares them)."""


def load_yaml(path: Path, text: str | None = None, *, packaged: bool = False) -> SourceDoc:
    """Load one YAML document with line marks; raise ConfigError with file and line on any fault.

    ``packaged`` is for files shipped inside the package (see ``_PackagedLoader``); their walked
    form is kept between runs (:mod:`ihconform.yamlcache`). Every input a user gives goes through
    the hardened pure-Python loader, every time."""
    if text is None:
        text = read_text(path)
    if packaged:
        kept = yamlcache.get(path, text)
        if kept is not None:
            return SourceDoc(path=path, data=kept[0], marks=kept[1])
    loader: yaml.SafeLoader | None = None
    try:
        loader = (_PackagedLoader if packaged else _Loader)(text)  # the reader rejects control characters
        node = loader.get_single_node()
        if node is None:
            raise ConfigError("file is empty", Location(path, 1, 1))
        walker = _Walker(path, loader)
        data = walker.walk(node, ())
        if packaged:
            yamlcache.put(path, text, data, walker.marks)
        return SourceDoc(path=path, data=data, marks=walker.marks)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path)
        raise ConfigError(f"YAML syntax error: {exc.problem or exc.context}", loc) from None
    except yaml.reader.ReaderError as exc:  # control characters, bad encoding
        raise ConfigError(f"unacceptable character {exc.character!r} at offset {exc.position}",
                          Location(path)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error: {exc}", Location(path)) from None
    except RecursionError:
        raise ConfigError("document nests too deeply; refused", Location(path)) from None
    finally:
        if loader is not None:
            loader.dispose()


def validate(doc: SourceDoc, model: type[M], data: Any = None, base: PathKey = ()) -> M:
    """Validate ``data`` (default: the whole document) against ``model``.

    The first error becomes a ConfigError naming file, line and dotted field path.
    """
    payload = doc.data if data is None else data
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc: PathKey = (*base, *(p for p in err["loc"] if isinstance(p, str | int)))
        msg = str(err["msg"])
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not part of the format; check spelling)"
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif "input" in err and not isinstance(err["input"], Mapping | list):
            msg = f"{msg} (got {err['input']!r})"
        raise ConfigError(msg, doc.location(loc), field=_dotted(loc)) from None
