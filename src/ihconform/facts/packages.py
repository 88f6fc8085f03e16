"""What a host's package manager says about pending security updates (the
``packages_upgradable`` section: ``## manager``, ``## cache``, ``## rc`` headers and the
manager's own listing). Parsers only; host.security_updates judges them."""

from __future__ import annotations

import re

from ihconform.facts.host import split_sections

#: ``apt list --upgradable``: ``openssl/bookworm-security,bookworm 3.0.15 amd64 [upgradable from: 3.0.11]``
APT_LIST = re.compile(r"^(?P<name>[^\s/]+)/(?P<origin>\S+) (?P<version>\S+) \S+ \[upgradable from: ")
#: ``apt-get -s upgrade`` (fallback): ``Inst openssl [3.0.11] (3.0.15 Debian-Security:12/bookworm-security [amd64])``
APT_SIMULATE = re.compile(r"^Inst (?P<name>\S+) (?:\[[^\]]*\] )?\((?P<version>\S+) (?P<origin>.*)\)")


def pending_security_updates(text: str) -> tuple[str, int | None, list[str]]:
    """(package manager, its exit code, pending security updates) from ``packages_upgradable``."""
    manager, rc, pending = "", None, []
    for line in text.splitlines():
        if line.startswith("## manager "):
            manager = line.split()[-1]
        elif line.startswith("## rc "):
            rc = int(line.split()[-1]) if line.split()[-1].isdigit() else None
    body = [ln for ln in split_sections(text).get(f"rc {rc}", [])] if rc is not None else []
    for line in body:
        if manager == "apt":
            m = APT_LIST.match(line) or APT_SIMULATE.match(line)
            if m and "-security" in m["origin"].lower():
                pending.append(f"{m['name']} {m['version']}")
        elif manager in ("dnf", "yum"):
            f = line.split()
            if len(f) >= 3 and re.search(r"(?i)sec|RHSA|ALSA|RLSA|ELSA|openEuler-SA", f[0] + f[1]):
                pending.append(f"{f[2]} ({f[0]} {f[1]})")
    return manager, rc, pending


def package_cache_mtime(text: str) -> float | None:
    """The ``## cache <epoch>`` line of ``packages_upgradable``: when the package lists (apt)
    or repository metadata (dnf/yum) were last downloaded. None: no cache file at all, or
    output from a collector that did not report it."""
    for line in text.splitlines():
        if line.startswith("## cache"):
            value = line[len("## cache"):].strip()
            try:
                return float(value) if value else None
            except ValueError:
                return None
    return None
