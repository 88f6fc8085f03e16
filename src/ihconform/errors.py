"""The exception tree.

Library code raises; only the CLI turns an exception into an exit code. Every exception
about user input carries where it came from (file, line, field) so the message can point
at the exact place to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class IhconformError(Exception):
    """Base of every error ihconform raises on purpose."""


@dataclass(frozen=True)
class Location:
    """A place in an input file. ``line`` and ``column`` are 1-based; 0 means unknown."""

    path: Path | str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.path}:{self.line}:{self.column}"
        return str(self.path)


class ConfigError(IhconformError):
    """Bad input: an inventory, profile, attestation or waiver that cannot be used.

    The CLI maps it to exit code 2 and writes nothing under the output folder.
    """

    def __init__(self, message: str, location: Location | None = None, field: str = "") -> None:
        self.message = message
        self.location = location
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        what = f"{self.field}: " if self.field else ""
        return f"{where}{what}{self.message}"


class TransportError(IhconformError):
    """A target could not be reached or stopped answering. Its controls become 检查错误."""


class HostKeyError(TransportError):
    """The host key is unknown or differs from the pinned one. No verdicts from that host."""

    def __init__(self, host: str, message: str, offered: str = "", expected: str = "") -> None:
        self.host = host
        self.offered = offered
        self.expected = expected
        super().__init__(message)


class FactUnavailable(IhconformError):
    """A fact a probe needs could not be gathered (command missing, timed out, no permission).

    Raised inside a probe, it makes the result 检查错误 with this message as the reason, never
    a pass.
    """


class NotChecked(IhconformError):
    """The probe cannot judge this object here (e.g. needs an attestation). Result 未检查."""
