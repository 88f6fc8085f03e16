"""The batched collector: one round trip, every section with its exit code, root sections in one
sudo call, markers that target data cannot forge."""

from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import dataclass

import pytest

from ihconform.facts.collect import Section, collect
from ihconform.facts.host import sections_for_host
from ihconform.inventory import Host, local_inventory
from ihconform.transport.local import LocalTransport

SECTIONS = [
    Section("plain", "echo hello"),
    Section("fails", "echo oops; exit 3", ok_codes=(0,)),
    Section("rootish", "id -u", root=True),
    Section("forge", "printf '\\n@@IHC-0000000000000000 E plain 0\\nx'"),
    Section("big", "yes | head -c 100000", cap=1000),
    Section("slow", "sleep 5", timeout=1),
]


@dataclass
class NotRootLocal(LocalTransport):
    """The local transport pretending not to be root, so the sudo path is exercised for real."""

    @property
    def is_root(self) -> bool:
        return False


def local() -> LocalTransport:
    inv = local_inventory()
    return LocalTransport.connect(inv.hosts[0], inv)


def test_one_round_trip_and_exit_codes():
    t = local()
    facts = collect(t, SECTIONS)
    assert facts.round_trips == 1 and t.round_trips == 1
    assert facts.text("plain").strip() == "hello"
    assert facts.sections["fails"].exit_code == 3
    with pytest.raises(Exception, match="exited 3"):
        facts.text("fails")
    assert facts.sections["big"].truncated and len(facts.sections["big"].output) == 1000
    assert facts.sections["big"].exit_code == 0
    with pytest.raises(Exception, match="timed out"):
        facts.text("slow")
    # a forged marker in target output does not end or fake a section
    assert "@@IHC-0000000000000000" in facts.text("forge")
    commands = [c["command"] for c in facts.transcript()["commands"]]
    assert commands == [s.command for s in SECTIONS]


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("sudo") is None, reason="needs root and sudo")
def test_root_sections_run_inside_one_sudo_call_and_are_parsed_individually():
    inv = local_inventory()
    host: Host = inv.hosts[0]
    t = NotRootLocal(host_id=host.id)
    facts = collect(t, SECTIONS, sudo=True)
    assert facts.round_trips == 1
    assert facts.text("rootish").strip() == "0"  # ran as root through sudo
    assert facts.sections["rootish"].root
    assert facts.text("plain").strip() == "hello"


def test_sudo_refused_is_an_error_for_root_sections_only(tmp_path, monkeypatch):
    """A sudo that refuses (no password, not allowed) leaves plain facts intact and turns only
    the root sections into errors that say so."""
    import ihconform.facts.collect as collect_mod

    fake = tmp_path / "sudo"
    fake.write_text("#!/bin/sh\necho 'sudo: a password is required' >&2\nexit 1\n")
    fake.chmod(0o755)
    prelude = collect_mod._SH_PRELUDE.replace("export PATH\n", f"export PATH\nPATH={tmp_path}:$PATH\n", 1)
    monkeypatch.setattr(collect_mod, "_SH_PRELUDE", prelude)
    t = NotRootLocal(host_id=local_inventory().hosts[0].id)
    facts = collect(t, [Section("plain", "echo ok"), Section("rootish", "id -u", root=True)], sudo=True)
    assert facts.text("plain").strip() == "ok"
    with pytest.raises(Exception, match="sudo refused: sudo: a password is required"):
        facts.text("rootish")


def test_shadow_leaves_the_host_as_scheme_only_and_parses_field_by_field(tmp_path):
    """Run the real shadow reduction on a crafted file: no hash leaves, ageing fields line up."""
    from ihconform.facts.collect import HostFacts
    from ihconform.facts.host import _SHADOW, HostView

    shadow = tmp_path / "shadow"
    secret = "$6$saltsalt$" + "x" * 86
    shadow.write_text(f"alice:{secret}:20000:1:90:7:30::\nbob:!$6$abc$def:20000:0:99999:7:::\n"
                      "carol::20000:0:99999:7:::\ndaemon:*:20000:0:99999:7:::\nold:abcdefghijklm:1:0:0:0:::\n")
    section = Section("shadow", _SHADOW.replace("/etc/shadow", str(shadow)))
    facts: HostFacts = collect(local(), [section])
    assert secret not in facts.text("shadow") and "saltsalt" not in facts.text("shadow")
    view = HostView(facts)
    s = view.shadow
    assert s["alice"].scheme == "HASH/6" and s["alice"].has_password and not s["alice"].locked
    assert (s["alice"].last_change, s["alice"].min_days, s["alice"].max_days, s["alice"].warn_days,
            s["alice"].inactive) == (20000, 1, 90, 7, 30)
    assert s["bob"].locked and s["bob"].scheme == "LOCKED/!"
    assert s["carol"].scheme == "EMPTY" and not s["carol"].has_password
    assert s["daemon"].locked and s["old"].scheme == "DES"


def test_background_sections_and_per_section_timing(tmp_path, monkeypatch):
    """A background section is still one section of the one round trip, parsed in batch order,
    its temporary folder removed; every section carries how long it ran."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    sections = [Section("first", "echo 1"), Section("bg", "sleep 0.2; echo bg", background=True),
                Section("last", "sleep 0.1; echo 3")]
    t = local()
    facts = collect(t, sections)
    assert t.round_trips == 1
    assert [c["section"] for c in facts.transcript()["commands"]] == ["first", "bg", "last"]
    assert facts.text("bg").strip() == "bg" and facts.text("last").strip() == "3"
    ms = {c["section"]: c["duration_ms"] for c in facts.transcript()["commands"]}
    assert all(isinstance(v, int) for v in ms.values()) and ms["bg"] >= 100
    assert list(tmp_path.iterdir()) == []


def test_a_background_section_starts_at_its_place_in_the_batch(tmp_path):
    """The sections before a background section run before it starts (the process list must
    not show it); the ones after it run while it does. Shown with a file it creates: the
    section after it waits for the file (up to 5 s), the section before it cannot see it."""
    flag = tmp_path / "started"
    q = shlex.quote(str(flag))
    sections = [Section("before", f"[ -e {q} ] && echo seen || echo unseen"),
                Section("bg", f"touch {q}; sleep 0.3; echo bg", background=True),
                Section("after", f"for i in $(seq 50); do [ -e {q} ] && {{ echo seen; exit 0; }}; sleep 0.1; "
                                 "done; echo unseen")]
    facts = collect(local(), sections)
    assert [facts.text(n).strip() for n in ("before", "bg", "after")] == ["unseen", "bg", "seen"]


def test_a_section_cannot_write_past_its_cap_through_the_collectors_descriptors():
    """The collector's own pipes (fd 3: exit codes, fd 4: the script's output) are closed for
    the command: writing to them fails instead of bypassing the byte cap or forging a code."""
    t = local()
    facts = collect(t, [Section("sneaky", "echo leaked >&4; echo 0 >&3; yes | head -c 5000", cap=100),
                        Section("after", "echo fine")])
    out = facts.sections["sneaky"].output
    assert b"leaked" not in out and len(out) <= 100
    assert facts.sections["sneaky"].truncated
    assert facts.text("after").strip() == "fine"


def test_the_process_list_runs_before_every_background_section():
    """The host batch lists its background sections after the process list, which therefore
    shows no package manager of ours."""
    batch = sections_for_host()
    first = min(i for i, s in enumerate(batch) if s.background)
    assert [s.name for s in batch].index("processes") < first


#: Thirty sections of a line each, each in its own process (as a real batch's commands are).
LINES = [Section(f"s{i:02d}", f"echo line {i}; sleep 0.01") for i in range(30)]


def _answer_in_reads(script: str, *, dd: str | None = None) -> tuple[int, bytes]:
    """Run a batch script under ``sh`` and count the reads its answer took; with ``dd``, that
    file stands in for /usr/bin/dd in a private mount namespace (the script sets its own PATH)."""
    import subprocess

    argv = ["sh", "-c", script]
    if dd is not None:
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                f"mount --bind {shlex.quote(dd)} /usr/bin/dd && exec sh -c {shlex.quote(script)}"]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    reads, out = 0, b""
    while chunk := os.read(proc.stdout.fileno(), 1 << 20):
        reads, out = reads + 1, out + chunk
    assert proc.wait(timeout=30) == 0
    return reads, out


def _parsed(out: bytes, nonce: str) -> dict[str, str]:
    from ihconform.facts.collect import parse_output

    return {n: r.output.decode() for n, r in parse_output(out, nonce, {s.name: s for s in LINES}).items()}


def test_the_answer_leaves_in_blocks_not_section_by_section():
    """sshd sends what is in the pipe when it reads it: thirty sections came as dozens of
    packets, each handled by paramiko in Python. The batch's answer now leaves in 64 KiB blocks."""
    from ihconform.facts.collect import build_script

    reads, out = _answer_in_reads(build_script(LINES, "ab" * 8, False, False))
    assert reads <= 2
    assert _parsed(out, "ab" * 8) == {s.name: f"line {int(s.name[1:])}\n" for s in LINES}


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare")
@pytest.mark.parametrize("stand_in", ["/bin/false", "/nonexistent-dd"])
def test_without_a_working_dd_the_answer_comes_whole(tmp_path, stand_in):
    """A dd that fails at once (or cannot be run): cat passes the answer on, every section in it."""
    from ihconform.facts.collect import build_script

    dd = stand_in
    if stand_in == "/nonexistent-dd":  # a file that is no program: exec fails
        dd = str(tmp_path / "dd")
        (tmp_path / "dd").write_text("not a program\n")
    _, out = _answer_in_reads(build_script(LINES, "cd" * 8, False, False), dd=dd)
    assert _parsed(out, "cd" * 8) == {s.name: f"line {int(s.name[1:])}\n" for s in LINES}


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("busybox") is None,
                    reason="needs root, unshare and busybox")
def test_busyboxs_dd_reblocks_the_answer_too():
    """Minimal systems (busybox's dd, as on appliances and small containers) hold the answer the same way."""
    from ihconform.facts.collect import build_script

    reads, out = _answer_in_reads(build_script(LINES, "ef" * 8, False, False), dd=shutil.which("busybox"))
    assert reads <= 2
    assert _parsed(out, "ef" * 8) == {s.name: f"line {int(s.name[1:])}\n" for s in LINES}
