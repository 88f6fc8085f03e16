"""The walked form of the package's own YAML files (the built-in profiles), kept between runs.

Why: reading the built-in profile (libyaml's composer, then :mod:`ihconform.yamlio`'s walk that
records the line of every value) is about 0.15 s of every run's CPU, the same each time for
the same bytes: a tenth of a 50-host run's harness, a seventh of the embedded default's wall
time (docs/performance.md §6, session 11).

What is kept: the walked data and its line marks, nothing else. They are plain values (dict,
list, str, int, float, bool, None, date, datetime), so the model validation still runs on every
load and a change to the models can never be served from here. An entry is keyed by the SHA-256
of the file's text, of the walker's own source (``yamlio.py``) and of PyYAML's version: a changed
file or a changed loader is walked again and its entry replaced, never served stale. It is read
back with an unpickler that builds nothing but those values, so a planted cache file cannot run
code (tests/unit/test_yamlcache.py plants one).

Where: ``$XDG_CACHE_HOME/ihconform`` or ``~/.cache/ihconform``, one file per packaged YAML file
of each installation; an entry not used for 30 days goes when another is written.
A cache that cannot be read or written is a cache miss, never an error: the file itself is the
source. ``IHCONFORM_NO_CACHE=1`` turns the cache off.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import gc
import hashlib
import io
import os
import pickle
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

#: Bumped when what an entry holds changes shape.
FORMAT = 1
_WALKER = Path(__file__).with_name("yamlio.py")
_PLAIN = {("datetime", "date"): _dt.date, ("datetime", "datetime"): _dt.datetime,
          ("datetime", "timezone"): _dt.timezone, ("datetime", "timedelta"): _dt.timedelta}


class _PlainUnpickler(pickle.Unpickler):
    """Builds plain values only: any other class in the stream is refused, not imported."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _PLAIN[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"{module}.{name} is not a plain value") from None


def _folder() -> Path | None:
    if os.environ.get("IHCONFORM_NO_CACHE") == "1":
        return None
    base = os.environ.get("XDG_CACHE_HOME")
    try:
        root = Path(base) if base else Path.home() / ".cache"
    except RuntimeError:  # no home directory to be found
        return None
    return root / "ihconform" / "yaml"


@functools.cache
def _loader_digest(walker: Path) -> str:
    """What the walked form depends on besides the text: the entry format, PyYAML's version and
    the walker's source, read once per process (every packaged file is looked up with it)."""
    h = hashlib.sha256(f"{FORMAT}\0{yaml.__version__}\0".encode())
    try:
        h.update(walker.read_bytes())
    except OSError:
        return ""  # a loader whose source cannot be read is never matched
    return h.hexdigest()


def _key(text: str) -> str:
    loader = _loader_digest(_WALKER)
    return hashlib.sha256(f"{loader}\0{text}".encode()).hexdigest() if loader else ""


def _entry(path: Path) -> Path | None:
    folder = _folder()
    return None if folder is None else folder / (hashlib.sha256(str(path).encode()).hexdigest()[:32] + ".pickle")


def get(path: Path, text: str) -> tuple[Any, dict[tuple[str | int, ...], tuple[int, int]]] | None:
    """The walked data and marks of ``path`` if an entry for exactly this ``text`` is kept."""
    entry, key = _entry(path), _key(text)
    if entry is None or not key:
        return None
    collecting = gc.isenabled()
    gc.disable()  # tens of thousands of new containers: else the collector walks them again and again
    try:
        got = _PlainUnpickler(io.BytesIO(entry.read_bytes())).load()
    except (OSError, EOFError, ValueError, TypeError, AttributeError, IndexError, pickle.UnpicklingError):
        return None  # none kept, or unreadable: the file is walked again and the entry replaced
    finally:
        if collecting:
            gc.enable()
    if not (isinstance(got, tuple) and len(got) == 3 and got[0] == key and isinstance(got[2], dict)):
        return None
    with contextlib.suppress(OSError):  # in use: not pruned (a read-only cache just ages)
        os.utime(entry)
    return got[1], got[2]


def put(path: Path, text: str, data: Any, marks: dict[tuple[str | int, ...], tuple[int, int]]) -> None:
    """Keep the walked form of ``path``'s ``text`` (written whole or not at all)."""
    entry, key = _entry(path), _key(text)
    if entry is None or not key:
        return
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump((key, data, marks), f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, entry)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _prune(entry.parent, keep=entry)
    except OSError:
        return  # a read-only or full disk: the next run walks the file again


#: An entry neither written nor read for this long is removed when another is written: there is
#: one file per packaged file per installation, so installations that are gone (old virtualenvs,
#: CI clones) would otherwise leave theirs behind for good.
PRUNE_AFTER_S = 30 * 86400


def _prune(folder: Path, keep: Path) -> None:
    now = time.time()
    for old in folder.glob("*.pickle"):
        try:
            if old != keep and now - old.stat().st_mtime > PRUNE_AFTER_S:
                old.unlink()
        except OSError:
            continue  # gone already, or not ours to remove: the next write tries again
