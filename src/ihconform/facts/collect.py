"""Batched fact collection: every fact of a host in one round trip.

The collector sends a single POSIX ``sh`` script. Each section runs one read-only command
under ``timeout`` with its output capped by ``head -c``; its exit code is carried out on a
spare file descriptor. Sections that need root are grouped into one ``sudo`` call, so a
sudo password (from the environment) is sent once, on stdin, never stored.

Markers carry a per-run random nonce, so a file on the target that happens to contain a
marker line cannot forge a section. The parsed result keeps, per section, the command,
exit code, byte count and SHA-256 of the output: the host's transcript (an evidence file).
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


@dataclass(frozen=True)
class SectionResult:
    name: str
    command: str
    exit_code: int
    output: bytes
    truncated: bool
    root: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.output).hexdigest()

    @property
    def text(self) -> str:
        return self.output.decode("utf-8", "replace")


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
            raise FactUnavailable(f"host {self.host_id}: `{spec.command}` timed out after {spec.timeout} s")
        if res.exit_code not in spec.ok_codes:
            tail = res.text.strip().splitlines()[-1:] or [""]
            raise FactUnavailable(
                f"host {self.host_id}: `{spec.command}` exited {res.exit_code}: {tail[0][:200]}")
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
                 "bytes": len(r.output), "truncated": r.truncated, "sha256": r.sha256}
                for r in self.sections.values()
            ],
        }


_SH_PRELUDE = r"""LC_ALL=C; LANG=C; export LC_ALL LANG
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; export PATH
exec 4>&1
if command -v timeout >/dev/null 2>&1; then IHC_T=1; else IHC_T=; fi
ihc_run() { if [ -n "$IHC_T" ]; then timeout -k 2 "$1" sh -c "$2"; else sh -c "$2"; fi; }
ihc_sec() {
  printf '\n%s B %s\n' "$IHC_M" "$1"
  rc=$( { { ihc_run "$2" "$3" 2>&1 </dev/null; printf %s $? >&3; } | head -c "$4" >&4; } 3>&1 )
  printf '\n%s E %s %s\n' "$IHC_M" "$1" "$rc"
}
"""


def build_script(sections: list[Section], nonce: str, use_sudo: bool, sudo_password: bool) -> str:
    """The shell script for ``sections``. Root sections run inside one sudo call if needed."""
    plain = [s for s in sections if not s.root or not use_sudo]
    priv = [s for s in sections if s.root and use_sudo]

    def body(items: list[Section]) -> str:
        return "".join(
            f"ihc_sec {shlex.quote(s.name)} {s.timeout} {shlex.quote(s.command)} {s.cap}\n" for s in items)

    script = f"IHC_M={shlex.quote('@@IHC-' + nonce)}\n" + _SH_PRELUDE + body(plain)
    if priv:
        inner = f"IHC_M={shlex.quote('@@IHC-' + nonce)}\n" + _SH_PRELUDE + body(priv)
        sudo = "sudo -S -p '' " if sudo_password else "sudo -n "
        # The sudo call is bracketed by its own marker kinds (S/T, not B/E): the sections it runs
        # inside print B/E markers of their own, which the parser must see individually.
        script += (f"printf '\\n%s S sudo\\n' \"$IHC_M\"\n"
                   f"{sudo}sh -c {shlex.quote(inner)} 2>&1\n"
                   f"printf '\\n%s T sudo %s\\n' \"$IHC_M\" \"$?\"\n")
    return script


def parse_output(output: bytes, nonce: str, sections: dict[str, Section]) -> dict[str, SectionResult]:
    """Split the script's output into sections by the nonce markers."""
    marker = re.escape(f"@@IHC-{nonce}".encode())
    pat = re.compile(rb"\n" + marker + rb" B (\S+)\n(.*?)\n" + marker + rb" E \1 (\d*)\n", re.S)
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
                                  truncated=len(body) >= spec.cap, root=spec.root)
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
    facts.sections = parse_output(res.stdout, nonce, facts.specs)
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
