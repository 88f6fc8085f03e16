"""What every service starter needs: the runtime folder, variants, hosts' PID 1s and the CA.

Also the service registry: each started (or deliberately absent) service is recorded with the
sockets that prove it is up, so ``status`` can tell without knowing how it was started.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from ihconform.lab.pki import LabCa


@dataclass(frozen=True)
class Service:
    name: str
    kind: str
    ns: str
    sockets: tuple[tuple[str, int], ...]  # (tcp|udp, port) that must be listening
    enabled: bool = True
    note: str = ""


@dataclass
class LabContext:
    runtime: Path
    variants: tuple[str, ...]
    ca: LabCa
    inits: dict[str, int] = field(default_factory=dict)
    services: list[Service] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def dir(self, *parts: str) -> Path:
        """A directory under the runtime folder (created)."""
        p = self.runtime.joinpath(*parts)
        p.mkdir(parents=True, exist_ok=True)
        return p

    def add(self, service: Service) -> None:
        with self._lock:
            self.services.append(service)

    def has(self, variant: str) -> bool:
        return variant in self.variants
