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

from ihconform.lab import baseline, network, plan, roots
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

# PID 1 of a release host (lab/roots.py). Arguments: runtime dir, host dir, hostname, release root.
# The host's root is an overlay of the cached release root, so the release's own sshd, PAM, sudo
# and shell run (sshd is started chrooted into it), and nothing written reaches the cache.
RELEASE_INIT_SCRIPT = r"""#!/bin/sh
# ihconform lab: PID 1 of one release host. Mounts its root, then reaps orphans.
set -eu
R="$1"; D="$2"; H="$3"; ROOT="$4"
cd "$R"
hostname "$H"
F="$D/rootfs"
mount -t overlay "ih-root-$H" -o "lowerdir=$ROOT,upperdir=$D/root-upper,workdir=$D/root-work" "$F"
mount -t proc proc "$F/proc"
mount -t sysfs sysfs "$F/sys"
mount --rbind /dev "$F/dev"
mount -t tmpfs -o mode=0755,nosuid,nodev "ih-run-$H" "$F/run"
mkdir -p "$F/run/sshd" "$F/run/sudo" "$F/run/lock"
chmod 0711 "$F/run/sudo"
mount -t tmpfs -o mode=1777,nosuid,nodev "ih-tmp-$H" "$F/tmp"
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


def _append(upper: Path, root: Path, rel: str, lines: list[str], mode: int, gid: int = 0) -> None:
    """The release root's own file with ``lines`` added, written into the host's upper layer."""
    text = (root / rel).read_text()
    p = upper / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text + ("" if text.endswith("\n") else "\n") + "".join(f"{ln}\n" for ln in lines))
    os.chown(p, 0, gid)
    os.chmod(p, mode)


def prepare_release(runtime: Path, host: plan.HostSpec, probe: baseline.Probe, root: Path) -> HostKeys:
    """A stock host of a release: the release's own configuration untouched, except what a server
    needs to be reached at all: its name, an SSH host key and listen address (a drop-in), and the
    probe account (a member of the stock ``sudo`` group, as an administrator's account is)."""
    d = host_dir(runtime, host.id)
    for sub in ("root-upper", "root-work", "rootfs"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    upper = d / "root-upper"
    etc = upper / "etc"
    (etc / "ssh" / "sshd_config.d").mkdir(parents=True, exist_ok=True)
    (etc / "hostname").write_text(f"{host.id}\n")
    (etc / "machine-id").write_text(uuid.uuid4().hex + "\n")
    (etc / "hosts").write_text(f"127.0.0.1 localhost\n{host.address} {host.fqdn} {host.id}\n")
    groups = [ln for ln in (root / "etc/group").read_text().splitlines() if ln.startswith("sudo:")]
    sudo_line = groups[0] + ("," if not groups[0].endswith(":") else "") + plan.PROBE_USER if groups else ""
    user = plan.PROBE_USER
    _append(upper, root, "etc/passwd", [f"{user}:x:{probe.uid}:{probe.gid}::/home/{user}:/bin/bash"], 0o644)
    shadow_gid = next((int(ln.split(":")[2]) for ln in (root / "etc/group").read_text().splitlines()
                       if ln.startswith("shadow:")), 0)
    _append(upper, root, "etc/shadow", [f"{plan.PROBE_USER}:{probe.password_hash}:{probe.days}:0:99999:7:::"],
            0o640, shadow_gid)
    group = [ln for ln in (root / "etc/group").read_text().splitlines() if not ln.startswith("sudo:")]
    (etc / "group").write_text("\n".join([*group, *([sudo_line] if sudo_line else []),
                                          f"{plan.PROBE_USER}:x:{probe.gid}:"]) + "\n")
    key = etc / "ssh" / "ssh_host_ed25519_key"
    served = keygen(key, f"root@{host.id}")
    (etc / "ssh" / "sshd_config.d" / "ihlab.conf").write_text(
        "# ihconform lab: where this release host listens and its key; everything else is stock\n"
        f"ListenAddress {host.address}\nHostKey /etc/ssh/ssh_host_ed25519_key\n")
    home = upper / "home" / plan.PROBE_USER
    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    (home / ".ssh" / "authorized_keys").write_text(probe.key_line + "\n")
    for p in (home, home / ".ssh", home / ".ssh" / "authorized_keys"):
        os.chown(p, probe.uid, probe.gid)
    os.chmod(home / ".ssh", 0o700)
    os.chmod(home / ".ssh" / "authorized_keys", 0o600)
    return HostKeys(served=served, pinned=served)


def prepare(runtime: Path, host: plan.HostSpec, variants: tuple[str, ...], probe: baseline.Probe,
            shadow_gid: int, have_pwquality: bool) -> HostKeys:
    """Write the host's directories, /etc upper, sshd config and keys. No process yet."""
    if host.release:
        return prepare_release(runtime, host, probe, roots.root_path(host.release))
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
    if host.release:  # stock: no firewall ruleset, the release's own init script
        script = runtime / "lab-release-init.sh"
        tail: list[str | Path] = [roots.root_path(host.release)]
    else:
        run(["ip", "netns", "exec", host.ns, "nft", "-f", d / "etc-upper" / "nftables.conf"])
        script = runtime / "lab-init.sh"
        tail = list(kept_paths())
    start_daemon(["setsid", "-f", "ip", "netns", "exec", host.ns, "unshare", "--uts", "--ipc", "--mount",
                  "--pid", "--fork", "--mount-proc", "--propagation", "private",
                  "sh", script, runtime, d, host.id, *tail], d / "init.log")
    wait_for(f"{host.id} init", lambda: (d / "ready").exists(), 10)
    init: int | None = None

    def found() -> bool:
        nonlocal init
        init = find_init(host.ns)
        return init is not None

    wait_for(f"{host.id} PID 1", found, 5)
    assert init is not None
    (d / "init.pid").write_text(f"{init}\n")
    sshd: list[str | Path] = ["/usr/sbin/sshd", "-f", "/etc/ssh/sshd_config", "-E", "/var/log/sshd.log"]
    res = run(host_exec(init, ["chroot", d / "rootfs", *sshd] if host.release else sshd), check=False)
    if res.returncode != 0:
        log = d / ("root-upper/var/log" if host.release else "var-log") / "sshd.log"
        raise LabError(f"sshd on {host.id} failed: {res.stderr.strip()} "
                       f"{log.read_text()[-800:] if log.exists() else ''}")
    return init


def init_pid(runtime: Path, host_id: str) -> int:
    """The recorded PID 1 of a running host."""
    try:
        return int((host_dir(runtime, host_id) / "init.pid").read_text())
    except (OSError, ValueError) as exc:
        raise LabError(f"host {host_id} is not running (no init.pid)") from exc
