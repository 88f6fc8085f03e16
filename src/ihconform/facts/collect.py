"""Batched fact collection: every fact of a host in one round trip.

The collector sends a single POSIX ``sh`` script. Each section runs one read-only command
under ``timeout`` with its output capped by ``head -c``; its exit code is carried out on a
spare file descriptor. Sections that need root are grouped into one ``sudo`` call, so a
sudo password (from the environment) is sent once, on stdin, never stored.

Markers carry a per-run random nonce, so a file on the target that happens to contain a
marker line cannot forge a section. The parsed result keeps, per section, the command,
exit code, byte count, SHA-256 of the output and how long it ran (``duration_ms``, read from
``/proc/uptime`` by the shell itself, no extra process): the host's transcript (an evidence
file), which shows where a slow host spends its time.

A ``background`` section (the pending-updates count: about a second of CPU in the package
manager) starts at its place in the batch and runs while the sections after it do, the sudo
part included; its output is kept in a private temporary folder on the target and printed at
the end. The batch lists it after the process list, so the process list never shows it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import shlex
from dataclasses import dataclass, field
from typing import Any

from ihconform.errors import FactUnavailable, TransportError
from ihconform.transport.base import Transport


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
        if res is None or spec is None:
            raise FactUnavailable(f"host {self.host_id}: fact {name!r} was not gathered")
        if res.exit_code == 124:
            raise FactUnavailable(f"host {self.host_id}: {name} timed out after {spec.timeout} s "
                                  f"(command `{_short(spec.command)}`)")
        if res.exit_code not in spec.ok_codes:
            raise FactUnavailable(f"host {self.host_id}: {failure_cause(res.text)} "
                                  f"({name} exited {res.exit_code}; command `{_short(spec.command)}`)")
        if res.truncated:  # a flooded `ps` lists no forbidden service: an incomplete listing passes nothing
            raise FactUnavailable(f"host {self.host_id}: {name} output exceeded the {spec.cap} byte cap and was cut "
                                  f"off; an incomplete listing is not judged (command `{_short(spec.command)}`)")
        return res

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
                 "duration_ms": r.duration_ms}
                for r in self.sections.values()
            ],
        }


_SH_PRELUDE = r"""LC_ALL=C; LANG=C; export LC_ALL LANG
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; export PATH
exec 4>&1
if command -v timeout >/dev/null 2>&1; then IHC_T=1; else IHC_T=; fi
ihc_run() { if [ -n "$IHC_T" ]; then timeout -k 2 "$1" sh -c "$2"; else sh -c "$2"; fi; }
ihc_cs() { c=; if read -r u _ 2>/dev/null </proc/uptime; then c=${u%.*}${u#*.}; fi; }
ihc_sec() {
  printf '\n%s B %s\n' "$IHC_M" "$1"
  ihc_cs; c0=$c
  rc=$( { { ihc_run "$2" "$3" 2>&1 </dev/null 3>&- 4>&-; printf %s $? >&3; } | head -c "$4" >&4; } 3>&1 )
  ihc_cs; ms=; if [ -n "$c0" ] && [ -n "$c" ]; then ms=$(( (c - c0) * 10 )); fi
  printf '\n%s E %s %s %s\n' "$IHC_M" "$1" "$rc" "$ms"
}
IHC_D=
ihc_bg() {
  [ -n "$IHC_D" ] || IHC_D=$(mktemp -d 2>/dev/null) || IHC_D=
  if [ -n "$IHC_D" ]; then ihc_sec "$@" >"$IHC_D/$1" 4>&1 & else ihc_sec "$@"; fi
}
ihc_bgout() {
  [ -n "$IHC_D" ] || return 0
  wait; for f in "$@"; do cat "$IHC_D/$f" 2>/dev/null; done; rm -rf "$IHC_D"
}
"""


def build_script(sections: list[Section], nonce: str, use_sudo: bool, sudo_password: bool) -> str:
    """The shell script for ``sections``. Root sections run inside one sudo call if needed."""
    plain = [s for s in sections if not s.root or not use_sudo]
    priv = [s for s in sections if s.root and use_sudo]

    def line(fn: str, s: Section) -> str:
        return f"{fn} {shlex.quote(s.name)} {s.timeout} {shlex.quote(s.command)} {s.cap}\n"

    def body(items: list[Section]) -> str:
        return "".join(line("ihc_bg" if s.background else "ihc_sec", s) for s in items)

    def collect_bg(items: list[Section]) -> str:
        names = [shlex.quote(s.name) for s in items if s.background]
        return f"ihc_bgout {' '.join(names)}\n" if names else ""

    script = f"IHC_M={shlex.quote('@@IHC-' + nonce)}\n" + _SH_PRELUDE + body(plain)
    if priv:
        inner = (f"IHC_M={shlex.quote('@@IHC-' + nonce)}\n" + _SH_PRELUDE + body(priv)
                 + collect_bg(priv))
        sudo = "sudo -S -p '' " if sudo_password else "sudo -n "
        # The sudo call is bracketed by its own marker kinds (S/T, not B/E): the sections it runs
        # inside print B/E markers of their own, which the parser must see individually.
        script += (f"printf '\\n%s S sudo\\n' \"$IHC_M\"\n"
                   f"{sudo}sh -c {shlex.quote(inner)} 2>&1\n"
                   f"printf '\\n%s T sudo %s\\n' \"$IHC_M\" \"$?\"\n")
    return script + collect_bg(plain)


def parse_output(output: bytes, nonce: str, sections: dict[str, Section]) -> dict[str, SectionResult]:
    """Split the script's output into sections by the nonce markers."""
    marker = re.escape(f"@@IHC-{nonce}".encode())
    pat = re.compile(rb"\n" + marker + rb" B (\S+)\n(.*?)\n" + marker + rb" E \1 (\d*)(?: (\d*))?\n", re.S)
    out: dict[str, SectionResult] = {}
    for m in pat.finditer(b"\n" + output):
        name = m.group(1).decode("ascii", "replace")
        if name not in sections:
            continue
        spec = sections[name]
        body = m.group(2)
        code = int(m.group(3)) if m.group(3) else -1
        if code == 141 and len(body) >= spec.cap:  # SIGPIPE from head -c: output was capped
            code = 0
        out[name] = SectionResult(name=name, command=spec.command, exit_code=code, output=body,
                                  truncated=len(body) >= spec.cap, root=spec.root,
                                  duration_ms=int(m.group(4)) if m.group(4) else None)
    return out


def collect(transport: Transport, sections: list[Section], *, sudo: bool = False,
            sudo_password: str | None = None, overall_timeout: float = 120.0) -> HostFacts:
    """Run every section on the host in one round trip. Transport failures are recorded in
    ``HostFacts.error`` (so every probe on this host reports 检查错误), not raised."""
    import time

    facts = HostFacts(host_id=transport.host_id, specs={s.name: s for s in sections},
                      identity=dict(transport.identity))
    nonce = secrets.token_hex(8)
    use_sudo = sudo and not transport.is_root
    password = sudo_password if use_sudo else None
    script = build_script(sections, nonce, use_sudo, password is not None)
    start = time.monotonic()
    before = transport.round_trips
    try:
        res = transport.run(script, stdin=(password + "\n").encode() if password else None,
                            timeout=overall_timeout, cap=64 * 1024 * 1024)
    except TransportError as exc:
        facts.error = str(exc)
        return facts
    finally:
        facts.duration_s = time.monotonic() - start
        facts.round_trips = transport.round_trips - before
    parsed = parse_output(res.stdout, nonce, facts.specs)
    facts.sections = {s.name: parsed[s.name] for s in sections if s.name in parsed}  # batch order
    missing = [s.name for s in sections if s.name not in facts.sections]
    if use_sudo and any(s.root for s in sections) and all(
            n in missing for n in (s.name for s in sections if s.root)):
        why = res.text.split(f"@@IHC-{nonce} S sudo", 1)[-1].strip().splitlines()[:1]
        for s in sections:
            if s.root and s.name in missing:
                facts.sections[s.name] = SectionResult(
                    name=s.name, command=s.command, exit_code=-2,
                    output=f"sudo refused: {why[0][:200] if why else 'no output'}".encode(),
                    truncated=False, root=True)
    return facts
