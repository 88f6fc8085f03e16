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

import re
import secrets
import shlex
import time
from collections.abc import Sequence

from ihconform.errors import TransportError
from ihconform.facts.contract import EXIT_UNKNOWN
from ihconform.facts.contract import HostFacts as HostFacts  # re-exported: the posix collector's callers
from ihconform.facts.contract import Section as Section
from ihconform.facts.contract import SectionResult as SectionResult
from ihconform.facts.contract import failure_cause as failure_cause
from ihconform.transport.base import Transport

_SH_PRELUDE = r"""LC_ALL=C; LANG=C; export LC_ALL LANG
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; export PATH
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


#: The batch's answer leaves the host in 64 KiB blocks, not as each section writes it.
#:
#: Why: sshd sends what is in the pipe when it reads it, so a batch whose sections write a few
#: lines each came as about 75 SSH packets per host, and paramiko handles each packet in Python
#: (decrypt, dispatch, the channel's buffer, a pipe to wake the reader): on 50 hosts 0.5 s of the
#: harness's CPU, against 0.15 s with the answer in blocks (docs/performance.md §6, session 11).
#: Nothing is lost by holding it back: the collector reads the answer only when the command has
#: ended (a time-out or a dropped connection discards it whole, as before), and ``dd`` writes
#: what it holds when the batch ends. POSIX ``dd`` reblocks when ``ibs`` and ``obs`` differ
#: (coreutils, busybox); where it is missing or does not start, ``cat`` passes the answer on.
_SH_COALESCE = "ihc_batch | { dd ibs=4096 obs=65536 2>/dev/null || cat; }\n"


def build_script(sections: Sequence[Section], nonce: str, use_sudo: bool, sudo_password: bool) -> str:
    """The shell script for ``sections``. Root sections run inside one sudo call if needed."""
    plain = [s for s in sections if not s.root or not use_sudo]
    priv = [s for s in sections if s.root and use_sudo]

    def line(fn: str, s: Section) -> str:
        return f"{fn} {shlex.quote(s.name)} {s.timeout} {shlex.quote(s.command)} {s.cap}\n"

    def body(items: Sequence[Section]) -> str:
        return "".join(line("ihc_bg" if s.background else "ihc_sec", s) for s in items)

    def collect_bg(items: Sequence[Section]) -> str:
        names = [shlex.quote(s.name) for s in items if s.background]
        return f"ihc_bgout {' '.join(names)}\n" if names else ""

    # fd 4 is where sections write: the batch's own standard output (the pipe to the coalescer)
    script = f"IHC_M={shlex.quote('@@IHC-' + nonce)}\n" + _SH_PRELUDE + "ihc_batch() {\nexec 4>&1\n" + body(plain)
    if priv:
        inner = (f"IHC_M={shlex.quote('@@IHC-' + nonce)}\n" + _SH_PRELUDE + "exec 4>&1\n" + body(priv)
                 + collect_bg(priv))
        sudo = "sudo -S -p '' " if sudo_password else "sudo -n "
        # The sudo call is bracketed by its own marker kinds (S/T, not B/E): the sections it runs
        # inside print B/E markers of their own, which the parser must see individually.
        script += (f"printf '\\n%s S sudo\\n' \"$IHC_M\"\n"
                   f"{sudo}sh -c {shlex.quote(inner)} 2>&1\n"
                   f"printf '\\n%s T sudo %s\\n' \"$IHC_M\" \"$?\"\n")
    return script + collect_bg(plain) + "}\n" + _SH_COALESCE


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
    # a section that began but whose end marker never came (the answer stopped inside it): CUT
    begun = re.compile(rb"\n" + marker + rb" B (\S+)\n(.*?)(?=\n" + marker + rb" |\Z)", re.S)
    for m in begun.finditer(b"\n" + output):
        name = m.group(1).decode("ascii", "replace")
        if name in sections and name not in out:
            spec = sections[name]
            out[name] = SectionResult(name=name, command=spec.command, exit_code=EXIT_UNKNOWN, output=m.group(2),
                                      truncated=True, root=spec.root)
    return out


def collect(transport: Transport, sections: Sequence[Section], *, sudo: bool = False,
            sudo_password: str | None = None, overall_timeout: float = 120.0) -> HostFacts:
    """Run every section on the host in one round trip. Transport failures are recorded in
    ``HostFacts.error`` (so every probe on this host reports 检查错误), not raised."""
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


class PosixShell:
    """The Linux/Unix collector of the contract (:mod:`ihconform.facts.contract`): one POSIX
    ``sh`` script per host, root sections in one sudo call."""

    platform = "linux"

    def script(self, sections: Sequence[Section], nonce: str, *, sudo: bool = False,
               sudo_password: bool = False) -> str:
        return build_script(sections, nonce, sudo, sudo_password)

    def parse(self, output: bytes, nonce: str, sections: Sequence[Section]) -> dict[str, SectionResult]:
        return parse_output(output, nonce, {s.name: s for s in sections})

    def collect(self, transport: Transport, sections: Sequence[Section], *, timeout: float,
                sudo: bool = False, sudo_password: str | None = None) -> HostFacts:
        return collect(transport, sections, sudo=sudo, sudo_password=sudo_password, overall_timeout=timeout)


POSIX_SHELL = PosixShell()
