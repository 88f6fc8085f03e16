"""One read-only CLI session to a network device, through netmiko.

Why netmiko (MIT): it knows each vendor's prompt and how to turn paging off (``screen-length 0
temporary`` on Huawei VRP, ``screen-length disable`` on H3C Comware, ``terminal length 0`` on
Cisco IOS and Ruijie), so one session per device runs every command and reads every page.

Read-only by construction: :func:`assert_read_only` refuses any command that is not a
``display``/``show`` listing (or ``nft list``), before anything is sent; a test runs it over every
platform's command list. The device's host key is checked against the pinned key or known_hosts
(paramiko's RejectPolicy): an unknown or changed key ends the session before authenticating.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ihconform.errors import TransportError
from ihconform.inventory import Inventory, NetworkDevice
from ihconform.secrets import env_secret
from ihconform.transport.base import DEFAULT_CAP, CommandResult, Transport

#: inventory platform -> netmiko device_type (FRR's vtysh speaks the IOS dialect)
NETMIKO_TYPE: dict[str, str] = {
    "huawei_vrp": "huawei_vrp", "huawei_usg": "huawei", "hp_comware": "hp_comware", "ruijie_os": "ruijie_os",
    "cisco_ios": "cisco_ios", "hillstone_stoneos": "hillstone_stoneos", "frr": "cisco_ios",
    "linux_nftables": "linux",
}

_READ_ONLY = re.compile(r"^(display|show|nft list|nft -a list|sudo -n nft list)\s+[\w .:/-]+$")
#: words that change a device, refused even inside a listing command
_WRITE_WORDS = re.compile(r"\b(system-view|configure|conf t|undo|no|delete|reset|reboot|save|write|commit|"
                          r"copy|erase|format|flush|add|insert|replace|destroy|clear)\b")


#: the exact shell commands a Linux-based device (nftables) may also be asked: they read files and
#: the process table, nothing else (the syslog forwarding of its audit records, and its forwarder)
READ_ONLY_SHELL: frozenset[str] = frozenset({
    "grep -rsHv '^[[:space:]]*#' /etc/rsyslog.conf /etc/rsyslog.d",
    "ps -eo comm=",
})


def assert_read_only(command: str) -> None:
    """Raise ValueError unless ``command`` is a plain ``display``/``show``/``nft list`` listing
    (or one of the exact file and process reads of ``READ_ONLY_SHELL``)."""
    if command in READ_ONLY_SHELL:
        return
    if not _READ_ONLY.match(command) or _WRITE_WORDS.search(command):
        raise ValueError(f"not a read-only listing command: {command!r}")


@dataclass
class DeviceTransport(Transport):
    """A netmiko session seen as the contract's transport: ``run`` sends one CLI command."""

    conn: Any = None  # netmiko BaseConnection
    platform: str = ""

    @classmethod
    def connect(cls, host: Any, inventory: Inventory) -> Transport:  # pragma: no cover - hosts use ssh.py
        raise TypeError("devices are opened with open_device(device, inventory)")

    @property
    def is_root(self) -> bool:
        return False

    def run(self, command: str, *, stdin: bytes | None = None, timeout: float = 60.0,
            cap: int = DEFAULT_CAP) -> CommandResult:
        """Send one listing command and read until the device's prompt comes back. A device that
        closes the session first raises TransportError at once (with how much it had sent), so a
        drop mid-output is never waited out nor taken for a whole listing."""
        assert_read_only(command)
        conn, t0 = self.conn, time.monotonic()
        chan = conn.remote_conn
        prompt = re.compile(rf"(?:^|\n)[<\[]?{re.escape(conn.base_prompt)}[^\n]{{0,40}}[>\]#$]\s*$")
        conn.write_channel(command + conn.RETURN)
        buf = ""
        while True:
            piece = conn.read_channel()
            if piece:
                buf += piece
                if len(buf) > cap + 4096:
                    break
                if prompt.search(buf[-400:]):
                    break
                continue
            if chan.closed or not chan.get_transport().is_active():
                raise TransportError(f"device {self.host_id}: the device closed the session during `{command}` "
                                     f"after {len(buf)} bytes of output")
            if time.monotonic() - t0 > timeout:
                raise TransportError(f"device {self.host_id}: `{command}` gave no prompt within {timeout:g} s "
                                     f"({len(buf)} bytes read)")
            time.sleep(0.05)
        self.round_trips += 1
        lines = buf.replace("\r\n", "\n").replace("\r", "").split("\n")
        if lines and lines[0].strip() == command:
            lines = lines[1:]  # the terminal's echo of the command
        if lines and prompt.search("\n" + lines[-1]):
            lines = lines[:-1]  # the prompt that ended the listing
        data = "\n".join(lines).encode("utf-8", "replace")
        return CommandResult(command, 0, data[:cap], b"", len(data) > cap, time.monotonic() - t0)

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):  # the session is going away anyway
                self.conn.disconnect()
            self.conn = None


def _known_hosts(device: NetworkDevice, inventory: Inventory) -> tuple[Path, Path | None]:
    """The host-key file paramiko checks: the pinned key written to a private temporary file,
    else the inventory's known_hosts, else ~/.ssh/known_hosts. (path, temporary file to remove)."""
    if device.host_key:
        name = device.address if device.port == 22 else f"[{device.address}]:{device.port}"
        fd, tmp = tempfile.mkstemp(prefix="ihc-devkey-")
        with os.fdopen(fd, "w") as f:
            f.write(f"{name} {device.host_key.strip()}\n")
        return Path(tmp), Path(tmp)
    kh = inventory.defaults.known_hosts or Path("~/.ssh/known_hosts").expanduser()
    return kh, None


def open_device(device: NetworkDevice, inventory: Inventory) -> DeviceTransport:
    """Log in to ``device`` (host key verified first), paging turned off by netmiko's per-platform
    session preparation. Raises TransportError with the device's or library's own message."""
    from ihconform.transport.ssh import fingerprint  # noqa: I001 -- first: paramiko without invoke
    from netmiko import ConnectHandler

    auth = device.auth or inventory.defaults.auth
    kwargs: dict[str, Any] = {
        "device_type": NETMIKO_TYPE[device.platform], "host": device.address, "port": device.port,
        "username": device.user or inventory.defaults.user, "conn_timeout": device.timeout_s,
        "auth_timeout": device.timeout_s, "banner_timeout": device.timeout_s, "fast_cli": False,
        "ssh_strict": True, "system_host_keys": False, "alt_host_keys": True,
        "use_keys": False, "allow_agent": False,
    }
    if auth is not None:
        if auth.password_env:
            kwargs["password"] = env_secret(auth.password_env, f"device {device.id}")
        if auth.key_file:
            kwargs["use_keys"], kwargs["key_file"] = True, str(auth.key_file)
            if auth.key_passphrase_env:
                kwargs["passphrase"] = env_secret(auth.key_passphrase_env, f"device {device.id}")
        kwargs["allow_agent"] = auth.agent
    kh, tmp = _known_hosts(device, inventory)
    kwargs["alt_key_file"] = str(kh)
    try:
        conn = ConnectHandler(**kwargs)
    except Exception as exc:  # netmiko wraps auth, timeout and host-key failures in its own classes
        raise TransportError(f"device {device.id}: {type(exc).__name__}: {str(exc).strip()[:300]}") from exc
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    t = DeviceTransport(host_id=device.id, conn=conn, platform=device.platform)
    channel: Any = conn.remote_conn
    key = channel.get_transport().get_remote_server_key() if channel is not None else None
    if key is not None:
        t.identity = {"host_key": f"{key.get_name()} {fingerprint(key)}", "platform": device.platform}
    return t
