"""The lab's network devices (issue 15, "what must be shown" 1): ``lab up --devices`` builds two
FRR core routers (vtysh as the probe's login shell, real zebra, vrrpd and snmpd) and an nftables
firewall pair (real forward chains, snmpd, rsyslogd); ``ihconform run`` on devices-inventory.yaml
reaches them over SSH through netmiko, looks at what answers on their management addresses, and
judges 12 L3-ABS1/CNS1/SMC1 units; each device variant flips its control to 不符合 and leaves the
others as they were. Variants on disjoint (control, device) pairs share a bring-up (as
test_network_lab.py's DEFECT_VARIANTS do): five bring-ups in all, about 25 s each."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.integration.conftest import LabManager

pytest.importorskip("netmiko")
if not Path("/usr/lib/frr/zebra").exists() or not Path("/usr/sbin/snmpd").exists() \
        or not Path("/usr/sbin/rsyslogd").exists():
    pytest.skip("needs FRR, snmpd and rsyslog (Debian frr, snmpd, rsyslog; bootstrap.sh install)",
                allow_module_level=True)

CONTROLS = ("L3-ABS1-05.device", "L3-ABS1-06.device", "L3-ABS1-07.device", "L3-ABS1-08.device",
            "L3-ABS1-16.device", "L3-ABS1-18.device", "L3-CNS1-03.device", "L3-CNS1-05.devices",
            "L3-SMC1-07.device", "L3-SMC1-08.device", "L3-SMC1-09.device", "L3-SMC1-10")
#: the GB/T 28448 units the lab devices are judged on live
LIVE_UNITS = {"L3-ABS1-05", "L3-ABS1-06", "L3-ABS1-07", "L3-ABS1-08", "L3-ABS1-16", "L3-ABS1-18",
              "L3-CNS1-03", "L3-CNS1-05", "L3-SMC1-07", "L3-SMC1-08", "L3-SMC1-09", "L3-SMC1-10"}


def _run(inventory: Path, out: Path) -> dict[tuple[str, str], dict[str, Any]]:
    args = [sys.executable, "-m", "ihconform.cli", "run", "-q", "-i", str(inventory), "-p", "mlps-l3",
            "--formats", "json", "-o", str(out)]
    for c in CONTROLS:
        args += ["--only", c]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    found = list(out.rglob("results.json"))
    assert found, proc.stdout + proc.stderr
    # `--only` selects by prefix: L3-SMC1-10 also brings its site/host-os siblings, not judged here
    return {(r["control_id"], r["object_id"]): r for r in json.loads(found[0].read_text())["results"]
            if r["control_id"] in CONTROLS}


def _judged(res: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], str]:
    return {k: r["status"] for k, r in res.items() if r["status"] != "not_applicable"}


@pytest.fixture(scope="module")
def conforming(lab_manager: LabManager, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], str]:
    info = lab_manager.ensure((), devices=True)
    assert info.devices_inventory is not None
    return _judged(_run(info.devices_inventory, tmp_path_factory.mktemp("conforming")))


#: an answering SNMPv3 agent shows a Linux-based device can be polled, not that a platform polls
#: it: 未检查 in the conforming lab, 不符合 only when no agent answers (probes/devices.py)
READINESS_ONLY = "L3-SMC1-09.device"


def test_conforming_devices_pass_every_device_unit(conforming: dict[tuple[str, str], str]) -> None:
    assert conforming, "no device verdict"
    judged = {k: v for k, v in conforming.items() if k[0] != READINESS_ONLY}
    assert set(judged.values()) == {"pass"}, {k: v for k, v in judged.items() if v != "pass"}
    assert {v for k, v in conforming.items() if k[0] == READINESS_ONLY} == {"not_checked"}
    # the routers and both firewalls were reached and judged live
    assert {o for _, o in conforming} == {"core1", "core2", "fw1", "fw2", "site"}
    units = {c.split(".")[0] for c, _ in conforming}
    assert units == LIVE_UNITS and len(units) >= 12
    # the management plane: every device judged on what answers on its address (SMC1-08) and
    # looked at for its SNMPv3 agent (SMC1-09); the routers' vty ACL (SMC1-07); the firewalls'
    # forwarding (SMC1-10, ABS1-18)
    assert {o for c, o in conforming if c == "L3-SMC1-08.device"} == {"core1", "core2", "fw1", "fw2"}
    assert {o for c, o in conforming if c == "L3-SMC1-09.device"} == {"core1", "core2", "fw1", "fw2"}
    assert {o for c, o in conforming if c == "L3-SMC1-07.device"} == {"core1", "core2"}
    assert {o for c, o in conforming if c in ("L3-SMC1-10", "L3-ABS1-18.device")} == {"fw1", "fw2"}


@pytest.mark.parametrize(("variants", "flipped"), [
    # one bring-up, the routers' management plane: four variants on disjoint (control, device) pairs
    (("core-telnet", "core-snmp-public", "core-no-snmp", "core-vty-open"), {
        # core-telnet: zebra 2601 and vrrpd 2619 answer over telnet (decisive: cleartext credentials)
        ("L3-SMC1-08.device", "core1"): "fail",
        # core-snmp-public: the agent answers the community public (decisive: a default password)
        ("L3-SMC1-08.device", "core2"): "fail",
        ("L3-SMC1-09.device", "core1"): "fail",  # core-no-snmp: no SNMPv3 agent answers
        ("L3-SMC1-07.device", "core2"): "fail",  # core-vty-open: line vty without access-class
    }),
    # one bring-up, fw1's boundary: one variant per control (each measured alone too, docs/devices.md)
    (("fw-policy-accept", "fw-stateless", "fw-no-log", "fw-shadowed", "fw-broad-rule", "fw-no-remote-log"), {
        ("L3-ABS1-05.device", "fw1"): "fail",  # fw-policy-accept
        ("L3-ABS1-08.device", "fw1"): "fail",  # fw-stateless
        ("L3-ABS1-16.device", "fw1"): "fail",  # fw-no-log
        ("L3-ABS1-06.device", "fw1"): "partial",  # fw-shadowed: one redundant rule among the minimal set
        ("L3-ABS1-07.device", "fw1"): "fail",  # fw-broad-rule: a zone permit with no destination or port
        # fw-no-remote-log: the firewall's records leave it for no log server — the boundary unit
        # (ABS1-18) and the central-collection unit (SMC1-10) read the same forwarding
        ("L3-ABS1-18.device", "fw1"): "fail", ("L3-SMC1-10", "fw1"): "fail",
    }),
    # an accept-everything rule is a full-pass policy: the default no longer denies (ABS1-05, as
    # T/ISEAA 001-2020 8.1.3.2 a) words the high-risk case), the rule set is not minimal (ABS1-06)
    # and the rule names no destination or port (ABS1-07)
    (("fw-any-any",), {("L3-ABS1-05.device", "fw1"): "fail", ("L3-ABS1-06.device", "fw1"): "fail",
                       ("L3-ABS1-07.device", "fw1"): "fail"}),
], ids=["core-management", "fw1-boundary", "fw-any-any"])
def test_each_variant_flips_its_control_and_only_it(variants: tuple[str, ...], flipped: dict[tuple[str, str], str],
                                                    conforming: dict[tuple[str, str], str],
                                                    lab_manager: LabManager, tmp_path: Path) -> None:
    info = lab_manager.ensure(variants, devices=True)
    assert info.devices_inventory is not None
    got = _judged(_run(info.devices_inventory, tmp_path))
    changed = {k for k in conforming if got.get(k) != conforming[k]}
    assert changed == set(flipped), {k: got.get(k) for k in changed | set(flipped)}
    assert {k: got[k] for k in flipped} == flipped


def test_a_single_core_router_is_not_redundant(lab_manager: LabManager, tmp_path: Path) -> None:
    info = lab_manager.ensure(("single-core",), devices=True)
    assert info.devices_inventory is not None
    res = _run(info.devices_inventory, tmp_path)
    red = res[("L3-CNS1-05.devices", "site")]
    assert red["status"] == "fail" and "core: one device (core1)" in red["reason"]
    assert ("L3-CNS1-03.device", "core2") not in res  # core2 is not built, not declared
    others = {k: r["status"] for k, r in res.items()
              if k[0] not in ("L3-CNS1-05.devices", READINESS_ONLY) and r["status"] != "not_applicable"}
    assert set(others.values()) == {"pass"}, others
