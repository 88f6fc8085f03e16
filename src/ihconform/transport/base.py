"""What every transport offers: run one command, with a timeout and an output cap."""

from __future__ import annotations

import shlex
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ihconform.inventory import Host, Inventory

#: Bytes of stdout kept from one command; the rest is dropped and the result marked truncated.
DEFAULT_CAP = 16 * 1024 * 1024


@dataclass(frozen=True)
class CommandResult:
    command: str
    exit_code: int
    stdout: bytes
    stderr: bytes
    truncated: bool = False
    duration_s: float = 0.0

    @property
    def text(self) -> str:
        """stdout as text; invalid UTF-8 is replaced, never raised."""
        return self.stdout.decode("utf-8", "replace")


def quote_command(template: str, *args: object) -> str:
    """Build a shell command with every argument quoted: ``quote_command("cat -- %s", path)``.

    The one way to put a value into a remote command; f-strings are never used for it.
    """
    return template % tuple(shlex.quote(str(a)) for a in args)


@dataclass
class Transport(ABC):
    """A connection to one host. One instance per host, reused for the whole run."""

    host_id: str
    round_trips: int = field(default=0, init=False)
    identity: dict[str, str] = field(default_factory=dict, init=False)  # e.g. host key fingerprint

    @classmethod
    @abstractmethod
    def connect(cls, host: Host, inventory: Inventory) -> Transport:
        """Open the connection (verify the host key first, for SSH)."""

    @abstractmethod
    def run(self, command: str, *, stdin: bytes | None = None, timeout: float = 60.0,
            cap: int = DEFAULT_CAP) -> CommandResult:
        """Run ``command`` as the host's login shell runs it (``sh -c`` on POSIX; ``cmd.exe /c``
        under Windows' OpenSSH server, so the Windows collector sends a ``powershell`` command
        line and its script on ``stdin``). Raises TransportError on a
        timeout or a lost connection; a non-zero exit is a result, not an error."""

    @property
    @abstractmethod
    def is_root(self) -> bool:
        """Whether commands already run as root (so sudo is not needed)."""

    @property
    def is_open(self) -> bool:
        """Whether the connection can still carry a command (an SSH server or a firewall on the
        way may have dropped an idle one)."""
        return True

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the connection."""
