"""The collector contract: how every platform's facts are gathered, one shape for all.

Why one contract: a Linux host, a Windows host, a network device, a database instance and an
offline recording are different to reach, but the same to judge. Each is collected **once per
run, in one round trip where the platform allows**, into named sections. Each section ends in
one explicit :class:`SectionStatus`, and a probe reads only a ``complete`` one: a cut listing,
a failed command or a section the platform does not have becomes 检查错误 (or 不适用 where the
probe says the component is absent), never a fact. The transcript of what was sent and the
digests of what came back are the evidence.

A platform plugs in by one :class:`Collector` (what to send, how to split what comes back)
registered in :data:`COLLECTORS`. Where a control is the same on every platform (password
policy, lockout, idle time-out, remote logging, time source), one probe judges the
platform-neutral facts of :mod:`ihconform.facts.neutral`, which each platform's adapter
derives from its own sections.

The same ``script`` is what ``ihconform collect-script`` prints and what the online path sends;
the same ``parse`` reads a live answer and an offline recording, so an offline run on a
recording gives the results an online run on the same answer would.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from ihconform.errors import FactUnavailable
from ihconform.transport.base import Transport

#: exit code a section carries when the command timed out (``timeout`` prints 124)
EXIT_TIMEOUT = 124
#: exit code of a section whose end marker never came (the answer or recording stopped inside it)
EXIT_UNKNOWN = -1


@dataclass(frozen=True)
class Section:
    """One command of the batch. ``ok_codes``: exit codes that still mean "fact gathered"."""

    name: str
    command: str
    root: bool = False
    timeout: int = 10
    cap: int = 1024 * 1024
    ok_codes: tuple[int, ...] = (0,)
    background: bool = False  # slow and independent: overlap it with the sections after it


@dataclass(frozen=True)
class SectionResult:
    name: str
    command: str
    exit_code: int
    output: bytes
    truncated: bool
    root: bool
    duration_ms: int | None = None  # 10 ms resolution; None where the target has no /proc/uptime

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.output).hexdigest()

    @property
    def text(self) -> str:
        return self.output.decode("utf-8", "replace")


#: Lines that state why a command failed, as the tools word them (psql, mysql, runuser, sudo, sh).
_CAUSE = re.compile(r"^\s*(psql:|mysql:|mariadb:|ERROR\b|FATAL\b|runuser:|sudo:|su:|sh:|bash:|.*\berror\b)",
                    re.IGNORECASE)


def failure_cause(output: str) -> str:
    """The server's or tool's own message from a failed command's output, for the head of a
    检查错误 reason: the first line that reads as an error (``psql: error: … FATAL: password
    authentication failed``, ``ERROR 1045 (28000): Access denied …``), else the last line."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    cause = next((ln for ln in lines if _CAUSE.match(ln)), lines[-1] if lines else "no output")
    return cause[:300]


def _short(command: str, limit: int = 80) -> str:
    """A command cut for a message; the whole one is in the host's transcript evidence."""
    one = " ".join(command.split())
    return one if len(one) <= limit else one[:limit] + "…"


@dataclass
class HostFacts:
    """What was gathered from one host, with the transcript of how."""

    host_id: str
    sections: dict[str, SectionResult] = field(default_factory=dict)
    specs: dict[str, Section] = field(default_factory=dict)
    identity: dict[str, str] = field(default_factory=dict)
    round_trips: int = 0
    duration_s: float = 0.0
    error: str = ""  # set when the host could not be reached or dropped mid-run

    def raw(self, name: str) -> SectionResult:
        """The section's result, or FactUnavailable explaining why it is missing."""
        if self.error:
            raise FactUnavailable(f"host {self.host_id}: {self.error}")
        res = self.sections.get(name)
        spec = self.specs.get(name)
        status = section_status(spec, res)
        if status is SectionStatus.ABSENT or res is None or spec is None:
            raise FactUnavailable(f"host {self.host_id}: fact {name!r} was not gathered")
        if status is SectionStatus.FAILED and res.exit_code == EXIT_TIMEOUT:
            raise FactUnavailable(f"host {self.host_id}: {name} timed out after {spec.timeout} s "
                                  f"(command `{_short(spec.command)}`)")
        if status is SectionStatus.FAILED:
            raise FactUnavailable(f"host {self.host_id}: {failure_cause(res.text)} "
                                  f"({name} exited {res.exit_code}; command `{_short(spec.command)}`)")
        if status is SectionStatus.CUT and res.exit_code == EXIT_UNKNOWN:
            raise FactUnavailable(f"host {self.host_id}: {name} output ended before the section's end marker "
                                  f"(the answer was cut off); an incomplete listing is not judged "
                                  f"(command `{_short(spec.command)}`)")
        if status is SectionStatus.CUT:  # a flooded `ps` lists no forbidden service: a cut listing passes nothing
            raise FactUnavailable(f"host {self.host_id}: {name} output exceeded the {spec.cap} byte cap and was cut "
                                  f"off; an incomplete listing is not judged (command `{_short(spec.command)}`)")
        return res

    def status(self, name: str) -> SectionStatus:
        """The section's status (the transcript records it per section)."""
        return section_status(self.specs.get(name), self.sections.get(name))

    def text(self, name: str) -> str:
        return self.raw(name).text

    def lines(self, name: str) -> list[str]:
        return [ln for ln in self.text(name).splitlines() if ln.strip()]

    def transcript(self) -> dict[str, Any]:
        """The evidence record: every command sent, its exit code and output digest."""
        return {
            "host": self.host_id,
            "identity": self.identity,
            "round_trips": self.round_trips,
            "duration_s": round(self.duration_s, 3),
            "error": self.error,
            "commands": [
                {"section": r.name, "command": r.command, "as_root": r.root, "exit_code": r.exit_code,
                 "bytes": len(r.output), "truncated": r.truncated, "sha256": r.sha256,
                 "status": self.status(r.name).value,
                 "duration_ms": r.duration_ms}
                for r in self.sections.values()
            ] + [  # asked for, never answered: listed, so the record shows what is missing
                {"section": s.name, "command": s.command, "as_root": s.root, "exit_code": None, "bytes": 0,
                 "truncated": False, "sha256": None, "status": SectionStatus.ABSENT.value, "duration_ms": None}
                for s in self.specs.values() if s.name not in self.sections
            ],
        }



class SectionStatus(StrEnum):
    """How a section ended. Only ``complete`` is ever read as a fact."""

    COMPLETE = "complete"  # the whole output, and the command said it succeeded
    CUT = "cut"  # output reached its cap, or the stream ended before the section's end marker
    FAILED = "failed"  # the command failed or timed out; its output says why
    ABSENT = "absent"  # the section was not in the answer at all (not sent, or lost before it began)


def section_status(spec: Section | None, result: SectionResult | None) -> SectionStatus:
    """The status of one section, from what was asked (``spec``) and what came back."""
    if spec is None or result is None:
        return SectionStatus.ABSENT
    if result.truncated and result.exit_code == EXIT_UNKNOWN:  # begun, never ended: no exit code to judge
        return SectionStatus.CUT
    if result.exit_code == EXIT_TIMEOUT or result.exit_code not in spec.ok_codes:
        return SectionStatus.FAILED
    if result.truncated:
        return SectionStatus.CUT
    return SectionStatus.COMPLETE


class Collector(Protocol):
    """One platform's way to gather an object's sections in one round trip.

    ``script`` is the whole request (a shell script, a PowerShell script, a list of device CLI
    commands, a batch of SQL queries) built from the sections with a per-run ``nonce`` in its
    markers, so target data can never forge a section boundary. ``parse`` splits an answer,
    live or recorded, back into sections; a section it cannot find is simply missing (ABSENT),
    one whose end it cannot find is CUT. ``collect`` sends the script over the transport and
    returns the object's facts; ``sudo``/``sudo_password`` are the host's elevation, used by the
    platforms that elevate per command (POSIX sudo) and ignored by those whose session carries
    its own rights (Windows, devices). A transport failure is recorded in ``HostFacts.error``, never
    raised, so every probe on that object reports 检查错误 and the run goes on.
    """

    platform: str

    def script(self, sections: Sequence[Section], nonce: str) -> str: ...

    def parse(self, output: bytes, nonce: str, sections: Sequence[Section]) -> dict[str, SectionResult]: ...

    def collect(self, transport: Transport, sections: Sequence[Section], *, timeout: float,
                sudo: bool = False, sudo_password: str | None = None) -> HostFacts: ...


#: platform -> "module:attribute" of its Collector instance. ``tests/unit/test_registry.py``
#: loads every entry. Platforms are added here, and nowhere else.
COLLECTORS: dict[str, str] = {
    "linux": "ihconform.facts.collect:POSIX_SHELL",
    "windows": "ihconform.facts.windows:POWERSHELL_BATCH",
    # network devices (issue 15): one netmiko session, or an exported configuration
    **{p: f"ihconform.facts.devices:{p.upper()}" for p in (
        "huawei_vrp", "huawei_usg", "hp_comware", "cisco_ios", "ruijie_os", "hillstone_stoneos", "frr",
        "linux_nftables")},
}


def collector_for(platform: str) -> Collector:
    """The registered collector of ``platform``; KeyError names the known platforms."""
    try:
        target = COLLECTORS[platform]
    except KeyError:
        raise KeyError(f"no collector for platform {platform!r}; known: {', '.join(sorted(COLLECTORS))}") from None
    module, _, attr = target.partition(":")
    found: Collector = getattr(importlib.import_module(module), attr)
    return found
