"""SSH hosts: a network namespace plus UTS, mount, IPC and PID namespaces, own /etc and sshd.

Why a PID namespace per host: the role-separation checks look at ``ps`` on a host, so app01
must not see db01's postgres. Why an /etc overlay: hardening fixtures and remediations write
to /etc, and that must never reach the real machine. Why a private /run, /tmp, /var/log and
/home: sshd, PAM (faillock, motd), sudo and login records write there, and those writes must
stay in the runtime folder too.

Pidfiles written inside a PID namespace hold namespace-local PIDs, so nothing here signals a
daemon by its pidfile from outside; the tear-down kills the host's PID 1, which ends the whole
PID namespace.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from ihconform.lab import baseline, network, plan
from ihconform.lab.proc import LabError, host_exec, run, start_daemon, wait_for

# PID 1 of a host. Arguments, never interpolated: runtime dir, host dir, hostname.
INIT_SCRIPT = r"""#!/bin/sh
# ihconform lab: PID 1 of one host. Sets up the host's private mounts, then reaps orphans.
set -eu
R="$1"; D="$2"; H="$3"; shift 3
# "$@": folders under /tmp, /home or /var/log that the host must still see (the venv and the
# source tree when the project itself lives there, e.g. a CI clone in /tmp).
cd "$R"
hostname "$H"
mount -t tmpfs -o mode=0755,nosuid,nodev "ih-run-$H" /run
if [ ! -d "$R" ]; then mkdir -p "$R"; mount --no-canonicalize --bind . "$R"; fi
mkdir -p /run/sshd /run/sudo /run/lock
chmod 0711 /run/sudo
mount -t overlay "ih-etc-$H" -o "lowerdir=/etc,upperdir=$D/etc-upper,workdir=$D/etc-work" /etc
mount --bind "$D/etc-ssh" /etc/ssh
n=0
for k in "$@"; do mkdir -p "$D/keep/$n"; mount --bind "$k" "$D/keep/$n"; n=$((n+1)); done
mount --bind "$D/var-log" /var/log
mount --bind "$D/tmp" /tmp
mount --bind "$D/home" /home
n=0
for k in "$@"; do mkdir -p "$k"; mount --bind "$D/keep/$n" "$k"; n=$((n+1)); done
for f in .bashrc .profile; do
  if [ -f "/root/$f" ] && [ -f "$D/roothome/$f" ]; then mount --bind "$D/roothome/$f" "/root/$f"; fi
done
touch "$D/ready"
exec bash -c 'while :; do sleep 86400 & wait $!; done'
"""

SKEL_BASHRC = ("# ihconform lab: root's .bashrc inside a lab host\n"
               "[ -z \"$PS1\" ] && return\nPS1='\\h:\\w\\$ '\n")
SKEL_PROFILE = "# ihconform lab\nif [ -n \"$BASH_VERSION\" ] && [ -f ~/.bashrc ]; then . ~/.bashrc; fi\n"


@dataclass(frozen=True)
class HostKeys:
    served: str  # public key line sshd presents
    pinned: str  # public key line written to the inventory (differs for hostkey-changed)


#: Folders each host gets a private copy of; the lab's own code must stay visible through them.
PRIVATE_DIRS = (Path("/tmp"), Path("/home"), Path("/var/log"))  # noqa: S108 - names the folders, writes none


def kept_paths() -> list[str]:
    """Top folders of the Python install and the ihconform sources that lie under a folder the
    hosts make private: the lab's services run that Python and that code inside the hosts."""
    import sys

    import ihconform

    keep: set[str] = set()
    for p in (Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent,
              Path(ihconform.__file__).resolve().parents[1]):
        for private in PRIVATE_DIRS:
            if private in p.parents:
                keep.add(str(private / p.relative_to(private).parts[0]))
    return sorted(keep)


def host_dir(runtime: Path, host_id: str) -> Path:
    return runtime / "hosts" / host_id


def keygen(path: Path, comment: str) -> str:
    """An ed25519 key pair at ``path``; returns the public key line without comment."""
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path])
    return " ".join(Path(f"{path}.pub").read_text().split()[:2])


def _write_etc(upper: Path, files: list[baseline.EtcFile]) -> None:
    for f in files:
        p = upper / f.path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f.content)
        os.chown(p, f.uid, f.gid)
        os.chmod(p, f.mode)


def prepare(runtime: Path, host: plan.HostSpec, variants: tuple[str, ...], probe: baseline.Probe,
            shadow_gid: int, have_pwquality: bool) -> HostKeys:
    """Write the host's directories, /etc upper, sshd config and keys. No process yet."""
    d = host_dir(runtime, host.id)
    for sub in ("etc-upper", "etc-work", "etc-ssh", "var-log", "tmp", "home", "roothome"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(d / "tmp", 0o1777)  # noqa: S103  (it is the host's /tmp)
    os.chmod(d / "var-log", 0o755)  # noqa: S103  (it is the host's /var/log)
    (d / "var-log" / "audit").mkdir(mode=0o700, exist_ok=True)
    (d / "roothome" / ".bashrc").write_text(SKEL_BASHRC)
    (d / "roothome" / ".profile").write_text(SKEL_PROFILE)
    files = baseline.etc_files(host, variants, probe, Path("/etc"), uuid.uuid4().hex, shadow_gid,
                               have_pwquality)
    _write_etc(d / "etc-upper", files)
    # /etc/ssh: a per-host directory bind-mounted over the real one (hides the real host keys).
    ssh = d / "etc-ssh"
    key = ssh / "ssh_host_ed25519_key"
    served = keygen(key, f"root@{host.id}")
    pinned = served
    if host.id == "app01" and "hostkey-changed" in variants:
        pinned = keygen(d / "old_ssh_host_ed25519_key", f"root@{host.id}")
    if Path("/etc/ssh/moduli").exists():
        shutil.copyfile("/etc/ssh/moduli", ssh / "moduli")
    (ssh / "sshd_config").write_text(baseline.sshd_config(host, d, variants))
    os.chmod(ssh / "sshd_config", 0o600)
    # The probe's home lives in the runtime folder, bind-mounted over /home inside the host.
    home = d / "home" / plan.PROBE_USER
    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    (home / ".ssh" / "authorized_keys").write_text(probe.key_line + "\n")
    (home / ".bashrc").write_text("# ihconform probe\n")
    for p in (home, home / ".ssh", home / ".ssh" / "authorized_keys", home / ".bashrc"):
        os.chown(p, probe.uid, probe.gid)
    os.chmod(home, 0o700)
    os.chmod(home / ".ssh", 0o700)
    os.chmod(home / ".ssh" / "authorized_keys", 0o600)
    return HostKeys(served=served, pinned=pinned)


def find_init(ns: str) -> int | None:
    """Host PID of the PID namespace's PID 1 among the processes of network namespace ``ns``."""
    res = run(["ip", "netns", "pids", ns], check=False)
    for tok in res.stdout.split():
        try:
            status = Path(f"/proc/{tok}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("NSpid:"):
                ids = line.split()[1:]
                if len(ids) >= 2 and ids[-1] == "1":
                    return int(tok)
    return None


def start(runtime: Path, host: plan.HostSpec) -> int:
    """Plug the host into the LAN (the outside vantage: its links are built with the WAN), load
    its firewall, start its PID 1 and sshd. Returns PID 1."""
    d = host_dir(runtime, host.id)
    if not host.outside:
        network.plug_lan(host.ns, host.switch_port, [f"{host.address}/{plan.LAN_PREFIX}"])
    run(["ip", "netns", "exec", host.ns, "nft", "-f", d / "etc-upper" / "nftables.conf"])
    script = runtime / "lab-init.sh"
    start_daemon(["setsid", "-f", "ip", "netns", "exec", host.ns, "unshare", "--uts", "--ipc", "--mount",
                  "--pid", "--fork", "--mount-proc", "--propagation", "private",
                  "sh", script, runtime, d, host.id, *kept_paths()], d / "init.log")
    wait_for(f"{host.id} init", lambda: (d / "ready").exists(), 10)
    init: int | None = None

    def found() -> bool:
        nonlocal init
        init = find_init(host.ns)
        return init is not None

    wait_for(f"{host.id} PID 1", found, 5)
    assert init is not None
    (d / "init.pid").write_text(f"{init}\n")
    res = run(host_exec(init, ["/usr/sbin/sshd", "-f", "/etc/ssh/sshd_config", "-E", "/var/log/sshd.log"]),
              check=False)
    if res.returncode != 0:
        log = (d / "var-log" / "sshd.log")
        raise LabError(f"sshd on {host.id} failed: {res.stderr.strip()} "
                       f"{log.read_text()[-800:] if log.exists() else ''}")
    return init


def init_pid(runtime: Path, host_id: str) -> int:
    """The recorded PID 1 of a running host."""
    try:
        return int((host_dir(runtime, host_id) / "init.pid").read_text())
    except (OSError, ValueError) as exc:
        raise LabError(f"host {host_id} is not running (no init.pid)") from exc
