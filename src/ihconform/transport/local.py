"""The local transport: the embedded default audits this machine without SSH.

It runs the very same fact-collection script as the SSH transport, through ``sh -c``.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ihconform.errors import TransportError
from ihconform.transport.base import DEFAULT_CAP, CommandResult, Transport

if TYPE_CHECKING:
    from ihconform.inventory import Host, Inventory


@dataclass
class LocalTransport(Transport):
    @classmethod
    def connect(cls, host: Host, inventory: Inventory) -> LocalTransport:
        t = cls(host_id=host.id)
        t.identity = {"transport": "local"}
        return t

    @property
    def is_root(self) -> bool:
        return os.geteuid() == 0

    def run(self, command: str, *, stdin: bytes | None = None, timeout: float = 60.0,
            cap: int = DEFAULT_CAP) -> CommandResult:
        self.round_trips += 1
        start = time.monotonic()
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "LC_ALL": "C", "LANG": "C"}
        try:
            proc = subprocess.run(["/bin/sh", "-c", command], input=stdin or b"", capture_output=True,
                                  timeout=timeout, env=env, check=False)
        except subprocess.TimeoutExpired as exc:
            raise TransportError(f"command timed out after {timeout:.0f} s on {self.host_id}") from exc
        except OSError as exc:
            raise TransportError(f"cannot run /bin/sh: {exc}") from exc
        out = proc.stdout
        return CommandResult(command=command, exit_code=proc.returncode, stdout=out[:cap],
                             stderr=proc.stderr[:65536], truncated=len(out) > cap,
                             duration_s=time.monotonic() - start)
