"""The SSH transport on paramiko, with strict host-key verification.

Why not paramiko's ``SSHClient``: its policies decide about a key after the fact and hide
the offered key. Here the transport is driven by hand: the server's key is compared with
the pinned key (inventory) or known_hosts *before* authenticating, and a mismatch raises
:class:`HostKeyError` carrying both fingerprints. Unknown keys are never accepted; pin them
with ``ihconform trust HOST``.

Speed: one TCP connection per host, reused for every command, with TCP_NODELAY set (paramiko
leaves Nagle on, which costs ~45 ms per round trip with delayed ACKs).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import select
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ihconform.errors import FactUnavailable, HostKeyError, TransportError
from ihconform.secrets import env_secret
from ihconform.transport.base import DEFAULT_CAP, CommandResult, Transport


@contextlib.contextmanager
def _absent(module: str) -> Iterator[None]:
    """``module`` cannot be imported inside the block (unless it already was); afterwards it can."""
    if module in sys.modules:
        yield
        return
    sys.modules[module] = None  # type: ignore[assignment]  # how the import system spells "not there"
    try:
        yield
    finally:
        if sys.modules.get(module) is None:
            del sys.modules[module]


# paramiko imports invoke, and with it asyncio and unittest.mock, for one feature: ssh_config's
# ``Match exec``, which ihconform never reads (no SSHConfig is parsed here). Without it paramiko
# loads in about 0.1 s less CPU, on every run that reaches a host over SSH (docs/performance.md §6,
# session 11). Import this module before paramiko (or netmiko) anywhere else.
with _absent("invoke"):
    import paramiko

if TYPE_CHECKING:
    from ihconform.inventory import Auth, Host, Inventory

STDERR_CAP = 65536
#: After the exit status, how long output may pause before EOF: longer means a background child
#: of the command holds the channel open, and the command's own output has ended.
EOF_GRACE_S = 2.0


class _Transport(paramiko.Transport):
    """paramiko's transport, its reader thread waking once a second when the connection is idle
    instead of ten times.

    Why: a run keeps every host's connection open until it ends, for the probes that measure on
    a host after its facts (bandwidth, exposure, IPMI). paramiko's reader polls its socket every
    0.1 s only to notice that the transport was closed: on 50 hosts, 500 wake-ups a second for
    the whole run, 0.2-0.3 s of the harness's CPU on a 50-host run (docs/performance.md §6,
    session 10). Data is read the moment it arrives whatever the poll; closing does not wait
    for it (``close()`` marks the packetizer closed and closes the socket at once; the daemon
    reader ends at its next wake-up); the banner and handshake time-outs are checked to the
    second, and ``start_client``/``auth`` keep their own.

    And it offers AES-GCM first, then paramiko's own list: with CTR and an HMAC, paramiko
    compares each packet's MAC in a Python loop over its bytes, 0.2 s of a 50-host run's
    harness CPU; GCM's tag is checked inside ``cryptography`` (docs/performance.md §6, session
    11). OpenSSH has offered GCM since 6.2 (2013: CentOS 7's 7.4 has it); a server without it
    gets paramiko's usual choice."""

    _active_check_timeout = 1.0
    _preferred_ciphers = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
                          *(c for c in paramiko.Transport._preferred_ciphers  # type: ignore[attr-defined]
                            if not c.endswith("-gcm@openssh.com")))


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style SHA256 fingerprint, as ``ssh-keygen -lf`` prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def parse_public_key(line: str) -> paramiko.PKey:
    """A key from ``"ssh-ed25519 AAAA... [comment]"``."""
    parts = line.split()
    if len(parts) < 2:
        raise ValueError("expected '<type> <base64>'")
    return paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1]))


def known_hosts_names(host: Host) -> list[str]:
    names = [host.address, host.id]
    if host.port != 22:
        names = [f"[{n}]:{host.port}" for n in names]
    return names


def expected_keys(host: Host, inventory: Inventory) -> list[paramiko.PKey]:
    """The keys this host may present: the pinned one, else the known_hosts entries."""
    if host.host_key:
        try:
            return [parse_public_key(host.host_key)]
        except (ValueError, paramiko.SSHException) as exc:
            raise TransportError(f"host {host.id}: pinned host_key unreadable: {exc}") from exc
    files = [inventory.defaults.known_hosts] if inventory.defaults.known_hosts else [
        Path("~/.ssh/known_hosts").expanduser()]
    keys: list[paramiko.PKey] = []
    for f in files:
        if f is None or not f.exists():
            continue
        hk = paramiko.HostKeys(str(f))
        for name in known_hosts_names(host):
            entry = hk.lookup(name)
            if entry:
                keys.extend(entry.values())
    return keys


def _open_socket(address: str, port: int, timeout: float) -> socket.socket:
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except OSError as exc:
        raise TransportError(f"cannot connect to {address}:{port}: {exc.strerror or exc}") from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _load_keys(auth: Auth) -> list[paramiko.PKey]:
    keys: list[paramiko.PKey] = []
    if auth.key_file is not None:
        try:
            passphrase = (env_secret(auth.key_passphrase_env, f"key {auth.key_file} passphrase")
                          if auth.key_passphrase_env else None)
        except FactUnavailable as exc:
            raise TransportError(str(exc)) from None
        try:
            # bytes: paramiko needs them (its stubs say str; a str raises "password must be bytes")
            secret = passphrase.encode() if passphrase else None
            keys.append(paramiko.PKey.from_path(auth.key_file, secret))  # type: ignore[arg-type]
        except (OSError, paramiko.SSHException) as exc:
            raise TransportError(f"cannot load key {auth.key_file}: {exc}") from exc
    if auth.agent:
        keys.extend(paramiko.Agent().get_keys())
    return keys


@dataclass
class SshTransport(Transport):
    transport: paramiko.Transport | None = None
    jump: SshTransport | None = None
    user: str = ""
    timeout: float = 10.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def connect(cls, host: Host, inventory: Inventory, *, _depth: int = 0) -> SshTransport:
        if _depth > 3:
            raise TransportError(f"host {host.id}: jump host chain longer than 3")
        d = inventory.defaults
        user = host.user or d.user
        if not user:
            raise TransportError(f"host {host.id}: no user given (hosts[].user or defaults.user)")
        auth = host.auth or d.auth
        timeout = host.timeout_s or d.timeout_s
        port = host.port if host.port != 22 else d.port if d.port != 22 else 22
        jump: SshTransport | None = None
        if host.jump:
            jump = cls.connect(inventory.host(host.jump), inventory, _depth=_depth + 1)
            try:
                assert jump.transport is not None
                sock: socket.socket | paramiko.Channel = jump.transport.open_channel(
                    "direct-tcpip", (host.address, port), ("127.0.0.1", 0), timeout=timeout)
            except (paramiko.SSHException, OSError) as exc:
                jump.close()
                raise TransportError(f"jump {host.jump} -> {host.address}:{port}: {exc}") from exc
        else:
            sock = _open_socket(host.address, port, timeout)
        t = _Transport(sock)
        t.banner_timeout = timeout
        t.auth_timeout = timeout
        try:
            t.start_client(timeout=timeout)
            offered = t.get_remote_server_key()
            cls._verify_host_key(host, inventory, offered)
            cls._authenticate(t, host, user, auth)
        except BaseException:
            t.close()
            if jump:
                jump.close()
            raise
        out = cls(host_id=host.id, transport=t, jump=jump, user=user, timeout=timeout)
        out.identity = {"host_key": f"{offered.get_name()} {fingerprint(offered)}",
                        "address": f"{host.address}:{port}", "user": user}
        return out

    @staticmethod
    def _verify_host_key(host: Host, inventory: Inventory, offered: paramiko.PKey) -> None:
        expected = expected_keys(host, inventory)
        got = f"{offered.get_name()} {fingerprint(offered)}"
        if not expected:
            raise HostKeyError(host.id, f"host {host.id} ({host.address}): unknown host key {got}; "
                               f"verify it and pin it with `ihconform trust {host.id}`", offered=got)
        if any(k.get_name() == offered.get_name() and k.asbytes() == offered.asbytes() for k in expected):
            return
        want = ", ".join(f"{k.get_name()} {fingerprint(k)}" for k in expected)
        raise HostKeyError(host.id, f"host {host.id} ({host.address}): HOST KEY CHANGED: offered {got}, "
                           f"expected {want}; no facts gathered", offered=got, expected=want)

    @staticmethod
    def _authenticate(t: paramiko.Transport, host: Host, user: str, auth: Auth | None) -> None:
        if auth is None:
            raise TransportError(f"host {host.id}: no auth given (key_file, agent or password_env)")
        errors: list[str] = []
        for key in _load_keys(auth):
            try:
                t.auth_publickey(user, key)
                if t.is_authenticated():
                    return
            except paramiko.AuthenticationException as exc:
                errors.append(f"key {fingerprint(key)}: {exc}")
            except paramiko.SSHException as exc:
                raise TransportError(f"host {host.id}: {exc}") from exc
        if auth.password_env:
            try:
                password = env_secret(auth.password_env, "password")
            except FactUnavailable as exc:
                errors.append(str(exc))
            else:
                try:
                    t.auth_password(user, password)
                    if t.is_authenticated():
                        return
                except paramiko.AuthenticationException as exc:
                    errors.append(f"password: {exc}")
        raise TransportError(f"host {host.id}: authentication as {user!r} failed: "
                             + ("; ".join(errors) or "no credentials"))

    @property
    def is_root(self) -> bool:
        return self.user == "root"

    def run(self, command: str, *, stdin: bytes | None = None, timeout: float = 60.0,
            cap: int = DEFAULT_CAP) -> CommandResult:
        if self.transport is None or not self.transport.is_active():
            raise TransportError(f"connection to {self.host_id} is closed")
        self.round_trips += 1
        start = time.monotonic()
        try:
            chan = self.transport.open_session(timeout=self.timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TransportError(f"{self.host_id}: cannot open a channel: {exc}") from exc
        try:
            chan.settimeout(1.0)
            chan.exec_command(command)
            deadline = start + timeout
            _send_input(chan, stdin, deadline)
            out, err = bytearray(), bytearray()
            truncated = False
            quiet_since = 0.0  # after the exit status: when output last came while it had not ended
            while True:
                if time.monotonic() > deadline:
                    raise TransportError(f"{self.host_id}: command timed out after {timeout:.0f} s")
                progressed = False
                if chan.recv_ready():
                    data = chan.recv(65536)
                    progressed = True
                    if len(out) < cap:
                        out += data[: cap - len(out)]
                    if len(out) >= cap and data:
                        truncated = True
                if chan.recv_stderr_ready():
                    data = chan.recv_stderr(65536)
                    progressed = True
                    if len(err) < STDERR_CAP:
                        err += data[: STDERR_CAP - len(err)]
                buffered = chan.recv_ready() or chan.recv_stderr_ready()
                # sshd sends the exit status when the remote shell exits, which can be before it
                # has sent what is still in the shell's output pipe (seen: 69 of 400 outputs of
                # 200 kB cut short): the output is complete only at the channel's EOF.
                if chan.eof_received and not buffered and chan.exit_status_ready():
                    break
                if chan.closed and not buffered:
                    break
                if chan.exit_status_ready() and not chan.eof_received:
                    if progressed or not quiet_since:
                        quiet_since = time.monotonic()
                    elif time.monotonic() - quiet_since > EOF_GRACE_S and not buffered:
                        break  # a background child of the command holds the output open
                if not progressed:
                    if not self.transport.is_active():
                        raise TransportError(f"{self.host_id}: connection lost during command")
                    _await(chan)
            # No exit status: the connection dropped (paramiko closes the channels before it
            # marks the transport inactive, so is_active() may still say True here) or the
            # remote shell was killed by a signal. Either way the output is cut short.
            code = chan.recv_exit_status() if chan.exit_status_ready() else -1
            if code == -1:
                raise TransportError(f"{self.host_id}: connection lost during command "
                                     "(the command ended without an exit status)")
        except (TimeoutError, paramiko.SSHException, OSError, EOFError) as exc:
            raise TransportError(f"{self.host_id}: {exc}") from exc
        finally:
            chan.close()
        return CommandResult(command=command, exit_code=code, stdout=bytes(out), stderr=bytes(err),
                             truncated=truncated, duration_s=time.monotonic() - start)

    @property
    def is_open(self) -> bool:
        return self.transport is not None and self.transport.is_active()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        if self.jump is not None:
            self.jump.close()


#: How long a waiting command sleeps at most between its checks (deadline, grace, connection).
WAIT_TICK_S = 0.1


def _await(chan: paramiko.Channel) -> None:
    """Sleep until the channel has something to read (output, stderr, EOF) or a tick passed.

    Why not a short poll: sixteen hosts waiting many seconds for their batch, each woken every
    5 ms, cost the harness more CPU than judging them (and held the GIL from the probes). The
    channel's pipe (``fileno``) becomes readable on output and at EOF, so a command answers at
    once; after EOF only the exit status is awaited, on its own event."""
    if chan.eof_received or chan.closed:
        chan.status_event.wait(WAIT_TICK_S)
    else:
        select.select([chan], [], [], WAIT_TICK_S)


def _send_input(chan: paramiko.Channel, stdin: bytes | None, deadline: float) -> None:
    """Send a command's standard input, then its end. A command may end without reading all of
    it (``exit 3`` given 3 MB): the server then closes the channel while the input is still
    being sent, and paramiko raises "Socket is closed". That is a local pipe's EPIPE, which
    ``subprocess`` ignores too: the command's output and exit status are still to be read, and
    the read loop reports a connection that really dropped (no exit status) as such.

    Input beyond the channel's window waits for the command to read it, one channel time-out
    (a second) at a time until the command's own deadline: on a loaded host, a command that
    never reads its input may take longer than a second to exit, and the wait for window
    space timed out before its exit status came (seen once in a CI-like run of
    tests/integration/test_ssh_transport.py)."""
    data, sent = stdin or b"", 0
    try:
        while sent < len(data):
            try:
                sent += chan.send(data[sent:sent + 65536])
            except TimeoutError:  # the window is full: the command has not read what it was sent
                if chan.closed or chan.eof_received or chan.exit_status_ready():
                    return  # it ended without reading the rest
                if time.monotonic() > deadline:
                    raise
        chan.shutdown_write()
    except OSError:
        if not (chan.closed or chan.eof_received or chan.exit_status_ready()):
            raise


def scan_host_key(address: str, port: int = 22, timeout: float = 10.0) -> paramiko.PKey:
    """Fetch the key a server offers, without authenticating (for ``ihconform trust``)."""
    sock = _open_socket(address, port, timeout)
    t = _Transport(sock)
    try:
        t.start_client(timeout=timeout)
        return t.get_remote_server_key()
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise TransportError(f"{address}:{port}: {exc}") from exc
    finally:
        t.close()
