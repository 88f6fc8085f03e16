"""The recorded transport: a host judged on a recording of its answer, not reached live.

A recording is a folder of ``<section>.txt`` files and ``exit_codes.json`` (what
``tests/fixtures/facts/record.py`` writes from a live host, and what the release recordings
of tests/fixtures/releases/ are rendered into). Asked to run the fact batch, this transport
answers as the host's shell would have: each section the script asks for and the recording
holds, between the script's own nonce markers, with its recorded exit code. The collector's
``parse`` then reads it like any live answer, so a recorded run goes through the same
contract (section status, transcript, probes) as an online one.

What the recording does not hold stays out of the answer: that section is ABSENT and every
probe reading it reports 检查错误 ("not gathered"), never a fact. Any other command (a probe
that wants to run more on the host) fails with a TransportError: nothing is invented.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ihconform.errors import TransportError
from ihconform.transport.base import DEFAULT_CAP, CommandResult, Transport

if TYPE_CHECKING:
    from ihconform.inventory import Host, Inventory

#: the marker assignment that opens every batch script (facts/collect.py build_script)
_MARKER = re.compile(r"^IHC_M=(\S+)$", re.M)
#: one section call of the script: ``ihc_sec|ihc_bg <name> <timeout> <command> <cap>``
_CALL = re.compile(r"^ihc_(?:sec|bg) ('[^']*'|[^\s']+) ", re.M)


@dataclass
class RecordedTransport(Transport):
    folder: Path = field(default=Path())

    @classmethod
    def connect(cls, host: Host, inventory: Inventory) -> RecordedTransport:
        folder = host.offline
        if folder is None:
            raise TransportError(f"host {host.id}: connection recorded needs an offline: folder")
        if not (folder / "exit_codes.json").is_file():
            raise TransportError(f"host {host.id}: {folder} is no recording (no exit_codes.json)")
        t = cls(host_id=host.id, folder=folder)
        t.identity = {"transport": "recorded", "recording": str(folder)}
        return t

    @property
    def is_root(self) -> bool:
        """The recording holds the root sections as the host's root part returned them."""
        return True

    def _codes(self) -> dict[str, int]:
        try:
            raw = json.loads((self.folder / "exit_codes.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TransportError(f"host {self.host_id}: cannot read {self.folder}/exit_codes.json: {exc}") from exc
        if not isinstance(raw, dict):
            raise TransportError(f"host {self.host_id}: {self.folder}/exit_codes.json is not a mapping")
        return {str(k): int(v) for k, v in raw.items()}

    def run(self, command: str, *, stdin: bytes | None = None, timeout: float = 60.0,
            cap: int = DEFAULT_CAP) -> CommandResult:
        self.round_trips += 1
        m = _MARKER.search(command)
        if m is None:
            raise TransportError(f"host {self.host_id} is a recording ({self.folder}): it answers the fact "
                                 "batch only, not other commands")
        marker = shlex.split(m.group(1))[0].encode()
        codes = self._codes()
        out = bytearray()
        for token in _CALL.findall(command):
            name = shlex.split(token)[0]
            path = self.folder / f"{name}.txt"
            if name not in codes or not path.is_file() or path.parent != self.folder:
                continue  # not recorded: the section is ABSENT, its probes 检查错误
            out += b"\n" + marker + b" B " + name.encode() + b"\n" + path.read_bytes()
            out += b"\n" + marker + b" E " + name.encode() + b" " + str(codes[name]).encode() + b"\n"
        data = bytes(out)
        return CommandResult(command=command, exit_code=0, stdout=data[:cap], stderr=b"",
                             truncated=len(data) > cap)
