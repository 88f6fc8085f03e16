"""netmiko end to end against real FRR (issue 15): real zebra and vrrpd run in private namespaces,
and an SSH server on loopback gives real ``vtysh`` as the login shell, as a router host would.
The FRR collector (netmiko's IOS driver: prompt, ``terminal length 0``) reads ``show
running-config`` whole, and the configuration is judged. Needs root and FRR (Debian frr)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ihconform.facts.contract import SectionStatus
from ihconform.facts.devices import gather_device
from ihconform.inventory import Auth, Institution, Inventory, NetworkDevice, SystemUnderTest
from ihconform.probes import devices as dp
from tests.fixtures.devices.scripted import ProgramDevice
from tests.unit.test_device_configs import FIXTURES

pytest.importorskip("netmiko")
FRR = Path("/usr/lib/frr")
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not (FRR / "zebra").exists() or shutil.which("vtysh") is None
                                or shutil.which("nsenter") is None, reason="needs root and FRR (Debian frr)")

_SETUP = r"""set -e
hostname core1
mount -t tmpfs tmpfs /run
mkdir -p /run/frr && chown frr:frr /run/frr
mount --bind "$1" /etc/frr
ip link set lo up
/usr/lib/frr/zebra -d -f /etc/frr/frr.conf -u frr -g frr 2>/dev/null
/usr/lib/frr/vrrpd -d -f /etc/frr/frr.conf -u frr -g frr 2>/dev/null
exec sleep 600
"""


@pytest.fixture
def frr_pid(tmp_path: Path) -> Iterator[int]:
    """PID 1 of a private FRR router (its namespaces are entered with nsenter); all of it ends
    with the fixture (``--kill-child``: the PID namespace dies with its first process)."""
    etc = tmp_path / "etc-frr"
    etc.mkdir()
    shutil.copy(FIXTURES / "frr-core.conf", etc / "frr.conf")
    (etc / "vtysh.conf").write_text("")
    (etc / "daemons").write_text("zebra=yes\nvrrpd=yes\n")
    for p in (etc, *etc.iterdir()):
        shutil.chown(p, "frr", "frr")
    outer = subprocess.Popen(["unshare", "--net", "--mount", "--uts", "--pid", "--fork", "--kill-child",
                              "--mount-proc", "sh", "-c", _SETUP, "sh", str(etc)])
    try:
        pid = 0
        for _ in range(100):
            kids = Path(f"/proc/{outer.pid}/task/{outer.pid}/children").read_text().split()
            if kids:
                pid = int(kids[0])
                probe = subprocess.run(["nsenter", "-t", str(pid), "-m", "test", "-S", "/run/frr/vrrpd.vty"],
                                       check=False)
                if probe.returncode == 0:
                    break
            time.sleep(0.1)
        assert pid, "the FRR namespace did not start"
        yield pid
    finally:
        outer.kill()  # --kill-child: its PID 1 gets SIGKILL, and the whole PID namespace with it
        outer.wait(timeout=10)


def test_netmiko_reads_real_vtysh(frr_pid: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IHC_DEV_PASSWORD", "lab-only-secret")
    sd = ProgramDevice("frr", "", argv=("nsenter", "-t", str(frr_pid), "-n", "-m", "-u", "vtysh")).start()
    try:
        dev = NetworkDevice(id="core1", platform="frr", address="127.0.0.1", port=sd.port, user=sd.user,
                            auth=Auth(password_env="IHC_DEV_PASSWORD"), host_key=sd.host_key, roles=("core",),
                            timeout_s=10)
        inv = Inventory(institution=Institution(name="t"), system=SystemUnderTest(name="t"), network_devices=(dev,))
        facts = gather_device(dev, inv)
    finally:
        sd.stop()
    assert not facts.error, facts.error
    assert facts.status("config") is SectionStatus.COMPLETE, facts.transcript()
    assert "terminal length 0" in sd.received and "show running-config" in sd.received
    text = facts.text("config")
    assert text.splitlines()[-1].strip() == "end" and "core1#" not in text
    c = dp.DeviceView(dev, facts).config
    assert c.hostname == "core1"
    assert any("vrrp 10 ip 198.51.100.4" in line for line in c.vrrp)
