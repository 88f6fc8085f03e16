"""FRR as it really answers (issue 15): a configuration is loaded into real FRR daemons (zebra,
vrrpd) in a private network, mount and PID namespace, and ``vtysh -c 'show running-config'`` (what
the collector sends through the vtysh login shell) is parsed and judged. Needs root and FRR
(Debian ``frr``; bootstrap.sh installs it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ihconform.facts.devices_config import complete, parse_config
from ihconform.facts.neutral import IdleTimeout, RemoteLogging, neutral
from ihconform.inventory import NetworkDevice
from tests.unit.test_device_configs import FIXTURES

FRR = Path("/usr/lib/frr")
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not (FRR / "zebra").exists() or shutil.which("vtysh") is None
                                or shutil.which("unshare") is None, reason="needs root and FRR (Debian frr)")

#: runs inside the private namespaces: /run and /etc/frr are private, the daemons die with the PID namespace
_SCRIPT = r"""set -e
hostname core1
mount -t tmpfs tmpfs /run
mkdir -p /run/frr && chown frr:frr /run/frr
mount --bind "$1" /etc/frr
ip link set lo up
/usr/lib/frr/zebra -d -f /etc/frr/frr.conf -u frr -g frr 2>/dev/null
/usr/lib/frr/vrrpd -d -f /etc/frr/frr.conf -u frr -g frr 2>/dev/null
i=0; while [ ! -S /run/frr/vrrpd.vty ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
vtysh -c "show running-config"
"""


def _frr_listing(conf: Path, tmp: Path) -> str:
    etc = tmp / "etc-frr"
    etc.mkdir()
    shutil.copy(conf, etc / "frr.conf")
    (etc / "vtysh.conf").write_text("")
    (etc / "daemons").write_text("zebra=yes\nvrrpd=yes\n")
    shutil.chown(etc, "frr", "frr")
    for f in etc.iterdir():
        shutil.chown(f, "frr", "frr")
    cmd = ["unshare", "--net", "--mount", "--uts", "--pid", "--fork", "--mount-proc", "sh", "-c", _SCRIPT, "sh",
           str(etc)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
    return proc.stdout


def test_real_frr_listing_parses_and_is_judged(tmp_path: Path) -> None:
    listing = _frr_listing(FIXTURES / "frr-core.conf", tmp_path)
    assert "frr version" in listing and complete("frr", listing)
    c = parse_config("frr", listing)
    assert c.hostname == "core1"
    # VRRP as FRR gives it back: the redundancy control reads it
    assert any("vrrp 10 ip 198.51.100.4" in line for line in c.vrrp), c.vrrp
    assert [(v.name, v.idle_s, v.acl) for v in c.vtys] == [("line vty", 300, "MGMT")]
    path = tmp_path / "core1.conf"
    path.write_text(listing)
    from ihconform.facts.devices import offline_facts

    facts = offline_facts(NetworkDevice(id="core1", platform="frr", roles=("core",), config_file=path))
    assert [ch.seconds for ch in neutral(IdleTimeout, "frr", facts).channels] == [300]
    # `log syslog` is the router host's own syslog: no remote target in FRR's configuration
    assert neutral(RemoteLogging, "frr", facts).targets == ()
