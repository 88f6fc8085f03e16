"""Root file systems of real Debian releases for lab hosts, built with debootstrap and cached.

Why: every other lab host shares this machine's Debian 12 binaries under an /etc overlay, so
only one OpenSSH, one PAM and one sudo were ever judged. A release host runs inside its own
root: the release's own sshd, PAM, sudo, auditd, rsyslog, dash and package database, with the
release's stock configuration. What a stock host of each release is judged to be is then a
fact about that release (docs/platforms.md), not about this machine.

A root is built once per (release, package list) into the cache folder, outside the
repository, and reused by every later ``lab up --release``. Building goes to ``NAME.partial``
and is renamed into place only when debootstrap finished, so an interrupted build is never
mistaken for a root. The stamp file records what was asked for; a changed package list
builds anew.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ihconform.lab.proc import LabError, run

#: The cache of built roots (``IHC_ROOT_CACHE`` overrides; CI and developers on one machine share it).
CACHE = Path(os.environ.get("IHC_ROOT_CACHE", "/var/cache/ihconform/roots"))
MIRROR = os.environ.get("IHC_DEBIAN_MIRROR", "http://deb.debian.org/debian")

#: A stock server as the release's installer leaves it with "SSH server" ticked, plus sudo (how an
#: administrator's account gets root) and the tools every probe batch reads (ps, ss). Nothing a
#: hardening guide adds (pwquality, auditd, a syslog daemon: bookworm and trixie log to the
#: journal only) is here: a stock root is what the verdicts of docs/platforms.md are about.
#: (cron is left out too: under debootstrap's minbase it pulls systemd in an order dpkg refuses.)
STOCK_PACKAGES = ("openssh-server", "sudo", "procps", "iproute2")


@dataclass(frozen=True)
class Release:
    name: str  # debootstrap suite
    version: str  # Debian version number
    openssh: str  # the OpenSSH upstream version the release ships (docs/platforms.md)
    pam: str


RELEASES: dict[str, Release] = {r.name: r for r in (
    Release("bullseye", "11", "8.4", "1.4"),
    Release("bookworm", "12", "9.2", "1.5"),
    Release("trixie", "13", "10.0", "1.7"),
)}


def check_release(name: str) -> Release:
    try:
        return RELEASES[name]
    except KeyError:
        raise ValueError(f"unknown release {name!r}; known: {', '.join(RELEASES)}") from None


def _stamp(release: Release, packages: tuple[str, ...]) -> dict[str, str]:
    return {"suite": release.name, "mirror": MIRROR, "variant": "minbase", "sources": "installer",
            "packages": ",".join(sorted(packages)),
            "digest": hashlib.sha256(f"{release.name}|{','.join(sorted(packages))}".encode()).hexdigest()[:16]}


#: How old a root's package lists may be before ``ensure`` refreshes them: a stock host judged
#: on week-old lists would show the pending updates of a week ago (and the stale-cache rule
#: would rightly refuse to count them).
MAX_LIST_AGE_S = 86400.0


def sources_list(release: Release) -> str:
    """The sources the Debian installer writes: the release, its security suite and updates
    (debootstrap writes the release alone, which would hide every security update)."""
    mirror = MIRROR.rstrip("/")
    security = mirror.rsplit("/", 1)[0] + "/debian-security" if mirror.endswith("/debian") else mirror
    return (f"deb {mirror}/ {release.name} main\n"
            f"deb {security} {release.name}-security main\n"
            f"deb {mirror}/ {release.name}-updates main\n")


def _lists_age(root: Path) -> float:
    lists = [p for p in (root / "var/lib/apt/lists").glob("*_InRelease")]
    return time.time() - max((p.stat().st_mtime for p in lists), default=0.0)


def refresh_lists(root: Path, release: Release) -> None:
    """Write the installer's sources and fetch the package lists inside the root (network needed)."""
    (root / "etc/apt/sources.list").write_text(sources_list(release))
    res = run(["chroot", root, "apt-get", "update", "-qq"], check=False, timeout=300)
    if res.returncode != 0:
        raise LabError(f"apt-get update in the {release.name} root failed: {(res.stderr or res.stdout).strip()[-800:]}")


def root_path(name: str, cache: Path = CACHE) -> Path:
    return cache / name


def cached(name: str, packages: tuple[str, ...] = STOCK_PACKAGES, cache: Path = CACHE) -> bool:
    """Whether a complete root for this release and package list is in the cache."""
    stamp = root_path(name, cache) / ".ihconform-root.json"
    try:
        return bool(json.loads(stamp.read_text()) == _stamp(check_release(name), packages))
    except (OSError, ValueError):
        return False


def ensure(name: str, packages: tuple[str, ...] = STOCK_PACKAGES, cache: Path = CACHE) -> tuple[Path, float]:
    """The root of ``name`` (built now if the cache lacks it); returns it and the build's seconds
    (0.0 when it came from the cache)."""
    release = check_release(name)
    final = root_path(name, cache)
    if cached(name, packages, cache):
        if _lists_age(final) > MAX_LIST_AGE_S:
            refresh_lists(final, release)
        return final, 0.0
    if shutil.which("debootstrap") is None:
        raise LabError("debootstrap is not installed (apt-get install debootstrap; bootstrap.sh does it)")
    cache.mkdir(parents=True, exist_ok=True)
    partial = cache / f"{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    t0 = time.monotonic()
    res = run(["debootstrap", "--variant=minbase", f"--include={','.join(packages)}", release.name,
               partial, MIRROR], check=False, timeout=900)
    if res.returncode != 0:
        log = partial / "debootstrap" / "debootstrap.log"
        tail = log.read_text(errors="replace")[-1500:] if log.exists() else res.stderr[-1500:]
        shutil.rmtree(partial, ignore_errors=True)
        raise LabError(f"debootstrap {release.name} failed (exit {res.returncode}): {tail.strip()}")
    refresh_lists(partial, release)
    (partial / ".ihconform-root.json").write_text(json.dumps(_stamp(release, packages)))
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    return final, round(time.monotonic() - t0, 1)
