"""Run-wide shared work: network measurements computed once per run, started early, and the
evidence files they leave.

Host facts have their own store (one batch per host). Everything else a probe measures over the
network (a TLS scan of an endpoint, a bandwidth series on an uplink, a Redfish walk) goes through
:class:`RunCache`: the first probe to ask computes it, later ones wait for the same result, and a
probe module may start its work at collection time (``ihc_prefetch(plan, cache)``) so network
probes run concurrently with host fact gathering. A failure is cached too: every control that
depends on a failed scan reports the same 检查错误 with the same reason.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from ihconform.results import EvidenceRef

T = TypeVar("T")


class RunCache:
    def __init__(self, parallel: int = 8) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="ihc-net")
        self._futures: dict[str, Future[Any]] = {}
        self._lock = threading.Lock()

    def start(self, key: str, compute: Callable[[], T]) -> Future[T]:
        """Begin computing ``key`` in the background unless it is already under way."""
        with self._lock:
            fut = self._futures.get(key)
            if fut is None:
                fut = self._pool.submit(compute)
                self._futures[key] = fut
            return fut

    def get(self, key: str, compute: Callable[[], T]) -> T:
        """The result for ``key``, computing it once per run; re-raises a cached failure."""
        result: T = self.start(key, compute).result()
        return result

    def close(self, wait: bool = True) -> None:
        """Drop work not yet started; wait for work under way unless the run was interrupted
        (a Ctrl-C from a terminal stops the scanners' own processes too)."""
        self._pool.shutdown(wait=wait, cancel_futures=True)


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class EvidenceSink:
    """Writes raw evidence into the run folder while the run goes on; returns digests."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.refs: dict[str, EvidenceRef] = {}
        self._lock = threading.Lock()

    def write(self, parts: tuple[str, ...], data: bytes | str | Any, kind: str) -> EvidenceRef:
        """Write ``data`` (bytes, text, or JSON-able) under ``evidence/<parts...>``."""
        safe = [(_SAFE.sub("_", p).strip("._") or "_")[:80] for p in parts]
        rel = Path("evidence", *safe)
        if isinstance(data, bytes):
            blob = data
        elif isinstance(data, str):
            blob = data.encode("utf-8")
        else:
            blob = (json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n").encode("utf-8")
        path = self.root / rel
        with self._lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(blob)
            ref = EvidenceRef(path=str(rel), sha256=hashlib.sha256(blob).hexdigest(), kind=kind)
            self.refs[str(rel)] = ref
        return ref
