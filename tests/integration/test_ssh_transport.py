"""The SSH transport and the batched collector against a real OpenSSH sshd.

A throwaway ``sshd`` listens on 127.0.0.1 (a free high port) with its own host key, config
and authorized_keys in a temporary folder, in a private mount namespace whose
``/etc/pam.d/sshd`` is a minimal stack bind-mounted from that folder (the real /etc is not
touched; the bind exists only inside the namespace). It is killed at the end.

Shown here: strict host-key verification (unknown key refused, changed key refused with
both fingerprints, pinned and known_hosts keys accepted), TCP_NODELAY, one connection for
many commands, output cap and timeout, a hanging command, the batched collector's sections
and transcript, a closed connection reported as an error for every fact, and a planted sudo
password that appears nowhere in the transcript or the facts.

Needs root (to run sshd and log in as root and postgres); skipped with one message otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from ihconform.errors import FactUnavailable, HostKeyError, TransportError
from ihconform.facts.collect import Section, collect
from ihconform.facts.host import HostView
from ihconform.facts.store import FactStore
from ihconform.inventory import Auth, Defaults, Host, Institution, Inventory, Sudo, SystemUnderTest
from ihconform.transport.ssh import EOF_GRACE_S, SshTransport, fingerprint, parse_public_key

SSHD = "/usr/sbin/sshd"
PAM_SSHD = "auth required pam_deny.so\naccount required pam_unix.so\nsession required pam_permit.so\n" \
           "password required pam_deny.so\n"
SECRET = "Planted-sudo-S3cret-7f3a9c"  # the sudo password the tests plant


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root: runs its own sshd and logs in as root and postgres"
    for tool in (SSHD, "ssh-keygen", "unshare", "sudo"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        return "needs the postgres account (a non-root login with a shell)"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


@dataclass(frozen=True)
class Sshd:
    port: int
    folder: Path
    host_key: str  # "ssh-ed25519 AAAA..." of the running sshd
    other_key: str  # a different key, for the changed-key case
    client_key: Path


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ihc-test", "-f", str(path)], check=True)
    return " ".join(path.with_suffix(".pub").read_text().split()[:2])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def sshd() -> Iterator[Sshd]:
    with _running_sshd() as s:
        yield s


@contextlib.contextmanager
def _running_sshd(*config: str) -> Iterator[Sshd]:
    """A throwaway sshd (see the module's docstring), with ``config`` lines added to its own."""
    folder = Path(tempfile.mkdtemp(prefix="ihc-sshd-"))
    os.chmod(folder, 0o755)
    try:
        host_key = _keygen(folder / "host_ed25519")
        other_key = _keygen(folder / "other_ed25519")
        _keygen(folder / "client_ed25519")
        auth = folder / "authorized_keys"
        auth.write_text((folder / "client_ed25519.pub").read_text())
        os.chmod(auth, 0o644)
        (folder / "pam-sshd").write_text(PAM_SSHD)
        port = _free_port()
        cfg = folder / "sshd_config"
        cfg.write_text("\n".join([
            f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {folder / 'host_ed25519'}",
            f"PidFile {folder / 'sshd.pid'}", f"AuthorizedKeysFile {auth}", "StrictModes no",
            "PermitRootLogin prohibit-password", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "UsePAM yes", "AllowUsers root postgres", "MaxSessions 50", "PrintMotd no", "PrintLastLog no",
            "LogLevel ERROR", *config, "",
        ]))
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
        script = (f"mount --bind {folder / 'pam-sshd'} /etc/pam.d/sshd && "
                  f"exec {SSHD} -f {cfg} -D -e")
        proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        err = proc.stderr.read().decode() if proc.stderr else ""
                        raise RuntimeError(f"sshd did not start: {err}")
                    time.sleep(0.05)
            yield Sshd(port, folder, host_key, other_key, folder / "client_ed25519")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _inventory(s: Sshd, *, user: str = "root", host_key: str | None = None, known_hosts: Path | None = None,
               sudo: Sudo | None = None) -> Inventory:
    host = Host(id="t1", address="127.0.0.1", port=s.port, user=user, auth=Auth(key_file=s.client_key),
                host_key=s.host_key if host_key is None else host_key, sudo=sudo or Sudo(), timeout_s=5)
    return Inventory(institution=Institution(name="t"), system=SystemUnderTest(name="t"), hosts=(host,),
                     defaults=Defaults(known_hosts=known_hosts))


def _connect(inv: Inventory) -> SshTransport:
    return SshTransport.connect(inv.hosts[0], inv)


# ---- host keys ----------------------------------------------------------------------------


def test_unknown_host_key_is_refused(sshd: Sshd) -> None:
    empty = sshd.folder / "known_hosts_empty"
    empty.write_text("")
    with pytest.raises(HostKeyError) as err:
        _connect(_inventory(sshd, host_key="", known_hosts=empty))
    offered = fingerprint(parse_public_key(sshd.host_key))
    assert "unknown host key" in str(err.value) and offered in str(err.value)
    assert "ihconform trust t1" in str(err.value)


def test_changed_host_key_is_refused_with_both_fingerprints(sshd: Sshd) -> None:
    with pytest.raises(HostKeyError) as err:
        _connect(_inventory(sshd, host_key=sshd.other_key))
    msg = str(err.value)
    assert "HOST KEY CHANGED" in msg
    assert fingerprint(parse_public_key(sshd.host_key)) in msg  # offered
    assert fingerprint(parse_public_key(sshd.other_key)) in msg  # expected


def test_changed_key_gathers_nothing(sshd: Sshd) -> None:
    inv = _inventory(sshd, host_key=sshd.other_key)
    store = FactStore(inv, {"t1": [Section("uname", "uname -s")]})
    try:
        store.start({"t1"})
        facts = store.get("t1")
    finally:
        store.close()
    assert "HOST KEY CHANGED" in facts.error and not facts.sections
    assert facts.identity["host_key_offered"] and facts.identity["host_key_expected"]
    with pytest.raises(FactUnavailable, match="HOST KEY CHANGED"):
        _ = HostView(facts).accounts  # every fact of that host is 检查错误


def test_known_hosts_entry_is_accepted(sshd: Sshd) -> None:
    kh = sshd.folder / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{sshd.port} {sshd.host_key}\n")
    t = _connect(_inventory(sshd, host_key="", known_hosts=kh))
    try:
        assert t.run("echo ok").text == "ok\n"
    finally:
        t.close()


# ---- one connection, nodelay, caps, timeouts ----------------------------------------------


def test_pinned_key_one_connection_nodelay(sshd: Sshd) -> None:
    t = _connect(_inventory(sshd))
    try:
        assert t.transport is not None
        sock = t.transport.sock
        assert isinstance(sock, socket.socket)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        clients = {t.run("echo $SSH_CLIENT").text.split()[1] for _ in range(20)}
        assert clients == {str(sock.getsockname()[1])}  # every command over the same TCP connection
        assert t.round_trips == 20
        assert t.identity["host_key"].endswith(fingerprint(parse_public_key(sshd.host_key)))
    finally:
        t.close()


def test_aes_gcm_is_chosen_where_the_server_offers_it(sshd: Sshd) -> None:
    """GCM first (its tag is checked in ``cryptography``, not by paramiko's per-byte Python
    loop): OpenSSH's default list offers it, so that is what a stock server gets."""
    t = _connect(_inventory(sshd))
    try:
        assert t.transport is not None
        assert (t.transport.local_cipher, t.transport.remote_cipher) == ("aes128-gcm@openssh.com",) * 2
        assert t.run("echo gcm").text.strip() == "gcm"
    finally:
        t.close()


def test_a_server_without_gcm_still_gets_a_connection() -> None:
    """A server that offers only CTR (a hardened list of an older standard) gets paramiko's usual
    CTR with an HMAC, and every command's output arrives whole."""
    with _running_sshd("Ciphers aes256-ctr", "MACs hmac-sha2-256") as s:
        t = _connect(_inventory(s))
        try:
            assert t.transport is not None
            assert (t.transport.local_cipher, t.transport.local_mac) == ("aes256-ctr", "hmac-sha2-256")
            out = t.run("head -c 300000 /dev/zero | tr '\\0' x").stdout
            assert out == b"x" * 300000
        finally:
            t.close()


def test_output_cap(sshd: Sshd) -> None:
    t = _connect(_inventory(sshd))
    try:
        res = t.run("head -c 200000 /dev/zero; echo done >&2", cap=1000)
        assert res.truncated and len(res.stdout) == 1000 and res.exit_code == 0
    finally:
        t.close()


def test_hanging_command_times_out_and_the_next_works(sshd: Sshd) -> None:
    t = _connect(_inventory(sshd))
    try:
        start = time.monotonic()
        with pytest.raises(TransportError, match="timed out"):
            t.run("sleep 4", timeout=1)
        assert time.monotonic() - start < 3
        assert t.run("echo still here").text == "still here\n"
    finally:
        t.close()


def test_output_sent_after_the_exit_status_is_kept(sshd: Sshd) -> None:
    """sshd may send the exit status before the rest of the shell's output pipe; reading stops
    at EOF, not at the exit status. Eight connections at once, 25 commands each: before the fix,
    about one output in six (in the lab) ended short of its last line."""
    cmd = "head -c 200000 /dev/zero | tr '\\0' a; echo; echo END"

    def many(_: int) -> list[int]:
        t = _connect(_inventory(sshd))
        try:
            return [len(r.stdout) for r in (t.run(cmd, timeout=30) for _ in range(25))
                    if not r.stdout.endswith(b"\nEND\n")]
        finally:
            t.close()

    with ThreadPoolExecutor(8) as pool:
        short = [n for lens in pool.map(many, range(8)) for n in lens]
    assert not short, f"{len(short)} of 200 outputs cut short: {short[:10]}"


def test_background_child_holding_the_output_does_not_hold_the_command(sshd: Sshd) -> None:
    """A command that leaves a child with its stdout open has ended at its exit status; after
    EOF_GRACE_S without output the run returns what it has, it does not wait for the child."""
    t = _connect(_inventory(sshd))
    try:
        start = time.monotonic()
        res = t.run("(sleep 20 &); echo started", timeout=15)
        took = time.monotonic() - start
        assert res.exit_code == 0 and res.text == "started\n"
        assert took < EOF_GRACE_S + 2, took  # not the 20 s of the child, nor the 15 s time-out
    finally:
        t.close()


def test_a_command_that_ends_without_reading_its_input_keeps_its_exit_status(sshd: Sshd) -> None:
    """The server closes the channel while 3 MB of input are still being sent: paramiko then
    says "Socket is closed". Like a local pipe's EPIPE, that is the command's business: its
    exit status and output still count, and the connection carries the next command."""
    t = _connect(_inventory(sshd))
    try:
        for _ in range(5):
            res = t.run("echo early; exit 3", stdin=b"x" * 3_000_000, timeout=10)
            assert (res.exit_code, res.text) == (3, "early\n")
        assert t.run("wc -c", stdin=b"y" * 100_000).text.strip() == "100000"
    finally:
        t.close()


def test_input_waits_for_a_command_slower_than_the_channel_time_out(sshd: Sshd) -> None:
    """The input fills the channel's window at once and the command exits without reading it
    only after 1.5 s, longer than the channel's one-second time-out (as on a loaded host): the
    send waits, and the exit status and output count."""
    t = _connect(_inventory(sshd))
    try:
        res = t.run("sleep 1.5; echo late; exit 4", stdin=b"x" * 3_000_000, timeout=10)
        assert (res.exit_code, res.text) == (4, "late\n")
        assert t.run("head -c 5", stdin=b"z" * 3_000_000, timeout=10).text == "zzzzz"
    finally:
        t.close()


def test_a_dropped_connection_is_opened_again_for_a_later_probe(sshd: Sshd) -> None:
    """A probe may need a host minutes after its facts (bandwidth on the uplink host, the
    platform line), and a firewall may have dropped the idle connection by then: the store
    opens it again, host key verified, instead of failing the probe on a dead socket."""
    inv = _inventory(sshd)
    store = FactStore(inv, {"t1": [Section("uname", "uname -s")]})
    try:
        assert store.get("t1").text("uname").strip() == "Linux"
        first = store.transport("t1")
        assert first is not None and first.is_open
        assert isinstance(first, SshTransport) and first.transport is not None
        first.transport.sock.shutdown(socket.SHUT_RDWR)  # the network drops it
        deadline = time.monotonic() + 5
        while first.is_open and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not first.is_open
        again = store.transport("t1")
        assert again is not None and again is not first and again.is_open
        assert again.run("echo back").text == "back\n"
        assert again.identity["host_key"] == first.identity["host_key"]
    finally:
        store.close()


def test_a_dropped_connection_to_a_changed_key_is_not_reopened(sshd: Sshd) -> None:
    inv = _inventory(sshd)
    store = FactStore(inv, {"t1": [Section("uname", "uname -s")]})
    try:
        store.get("t1")
        first = store.transport("t1")
        assert isinstance(first, SshTransport) and first.transport is not None
        first.transport.close()
        store.inventory = _inventory(sshd, host_key=sshd.other_key)  # the server's key "changed"
        with pytest.raises(HostKeyError, match="HOST KEY CHANGED"):
            store.transport("t1")
    finally:
        store.close()


def test_closed_connection_is_an_error_for_every_fact(sshd: Sshd) -> None:
    t = _connect(_inventory(sshd))
    t.close()
    facts = collect(t, [Section("uname", "uname -s"), Section("id", "id -u")])
    assert "closed" in facts.error
    with pytest.raises(FactUnavailable):
        facts.text("uname")


# ---- the batched collector ----------------------------------------------------------------


SECTIONS = [
    Section("uname", "uname -s"),
    Section("fails", "echo half; exit 3", ok_codes=(0,)),
    Section("slow", "sleep 3", timeout=1),
    Section("big", "head -c 50000 /dev/zero", cap=100),
    Section("rootish", "id -u", root=True),
    Section("shadow_scheme", "awk -F: '$1==\"root\"{print substr($2,1,1)}' /etc/shadow", root=True),
]


def test_collector_returns_every_section_with_exit_codes(sshd: Sshd) -> None:
    t = _connect(_inventory(sshd))
    try:
        facts = collect(t, SECTIONS)
    finally:
        t.close()
    assert facts.round_trips == 1 and not facts.error
    assert set(facts.sections) == {s.name for s in SECTIONS}
    assert facts.text("uname").strip() == "Linux"
    assert facts.sections["fails"].exit_code == 3
    with pytest.raises(FactUnavailable, match="exited 3"):
        facts.text("fails")
    assert facts.sections["slow"].exit_code == 124
    with pytest.raises(FactUnavailable, match="timed out"):
        facts.text("slow")
    assert facts.sections["big"].truncated and len(facts.sections["big"].output) == 100
    assert facts.text("rootish").strip() == "0"
    transcript = facts.transcript()
    assert [c["section"] for c in transcript["commands"]] == [s.name for s in SECTIONS]
    assert all(c["command"] and len(c["sha256"]) == 64 for c in transcript["commands"])


def test_planted_sudo_password_appears_nowhere(sshd: Sshd, monkeypatch: pytest.MonkeyPatch) -> None:
    """As postgres (not root) with sudo enabled: the password travels on stdin to sudo only.
    postgres may not sudo here, so root sections are refused (检查错误); plain ones gathered."""
    monkeypatch.setenv("IHC_TEST_SUDO_PW", SECRET)
    inv = _inventory(sshd, user="postgres", sudo=Sudo(enabled=True, password_env="IHC_TEST_SUDO_PW"))
    sections = [*SECTIONS, Section("env", "env"), Section("procs", "ps -eo args=")]
    store = FactStore(inv, {"t1": sections})
    try:
        store.start({"t1"})
        facts = store.get("t1")
    finally:
        store.close()
    assert not facts.error
    assert facts.text("uname").strip() == "Linux"
    for name in ("rootish", "shadow_scheme"):
        with pytest.raises(FactUnavailable, match="sudo"):
            facts.text(name)
    everything = json.dumps(facts.transcript()) + "".join(r.text for r in facts.sections.values())
    assert SECRET not in everything
    assert facts.transcript()["identity"]["user"] == "postgres"

