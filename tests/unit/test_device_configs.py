"""Device controls judged offline on a hardened and an unhardened configuration per vendor
(issue 15, "what must be shown" 2). The verdict of every device control on every fixture is
held in tests/golden/devices.json; regenerate it after a deliberate change with
``IHC_UPDATE_GOLDEN=1 pytest tests/unit/test_device_configs.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ihconform.catalog import load_profile
from ihconform.check import Check
from ihconform.errors import FactUnavailable
from ihconform.facts.contract import HostFacts
from ihconform.facts.devices import offline_facts
from ihconform.facts.host import HostView
from ihconform.facts.neutral import IdleTimeout, LockoutPolicy, PasswordPolicy, RemoteLogging, TimeSource, neutral
from ihconform.inventory import Institution, Inventory, NetworkDevice, SystemUnderTest
from ihconform.inventory import TestObject as Obj  # not "Test*": pytest would try to collect it
from ihconform.probes import devices as dp
from ihconform.profile import Control, ObjectType
from ihconform.registry import probe_function
from ihconform.results import Status

HERE = Path(__file__).resolve().parents[1]
FIXTURES = HERE / "fixtures" / "devices"
GOLDEN = HERE / "golden" / "devices.json"
PROFILE = load_profile("mlps-l3")
DEVICE_CONTROLS: list[Control] = [c for c in PROFILE.controls
                                  if c.probe and c.probe.startswith("device.") and c.probe != "device.redundancy"]
#: fixture -> the roles it is declared with (a firewall platform as a firewall, the rest as border + core)
ROLES = {"huawei_usg": ("firewall", "border"), "linux_nftables": ("firewall",),
         "hillstone_stoneos": ("firewall", "border")}


#: StoneOS keeps session state whatever its policy says; the unhardened fixture cannot break it
STATEFUL_BY_CONSTRUCTION = {("hillstone_stoneos-unhardened", "L3-ABS1-08.device")}


def _fixtures() -> list[Path]:
    return sorted(p for p in FIXTURES.iterdir() if p.suffix in (".cfg", ".nft"))


def _device(path: Path) -> NetworkDevice:
    platform = path.stem.rsplit("-", 1)[0]
    return NetworkDevice(id=path.stem, platform=platform, config_file=path,  # type: ignore[arg-type]
                         roles=ROLES.get(platform, ("border", "core")))


def _inventory(*devices: NetworkDevice) -> Inventory:
    return Inventory(institution=Institution(name="t"), system=SystemUnderTest(name="t"), network_devices=devices)


def judge(control: Control, dev: NetworkDevice) -> Check:
    check = Check(control, Obj(ObjectType.NETWORK_DEVICE, dev.id, dev.id, dev), _inventory(dev))
    fn = getattr(dp, f"test_{control.probe.split('.', 1)[1]}")  # type: ignore[union-attr]
    try:
        fn(check, dp.DeviceView(dev, offline_facts(dev)))
    except FactUnavailable as exc:
        check.error(str(exc))
    assert check.verdict is not None, (control.id, dev.id)
    return check


def verdicts() -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for path in _fixtures():
        dev = _device(path)
        out[path.stem] = {c.id: judge(c, dev).verdict.status.value for c in DEVICE_CONTROLS}  # type: ignore[union-attr]
    return out


def test_golden_verdicts_per_vendor_configuration() -> None:
    got = verdicts()
    if os.environ.get("IHC_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(got, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
    assert got == json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("path", _fixtures(), ids=lambda p: p.stem)
def test_hardened_passes_and_unhardened_fails_every_applicable_control(path: Path) -> None:
    """The hardened configuration passes every control that applies to it; the unhardened one
    passes none of the controls it is written to break (it may pass none at all)."""
    dev = _device(path)
    for c in DEVICE_CONTROLS:
        v = judge(c, dev).verdict
        assert v is not None
        if v.status in (Status.NOT_APPLICABLE, Status.NOT_CHECKED):
            continue
        if path.stem.endswith("-hardened"):
            assert v.status is Status.PASS, (c.id, v.reason, v.observed)
        elif (path.stem, c.id) in STATEFUL_BY_CONSTRUCTION:
            assert v.status is Status.PASS
        else:
            assert v.status in (Status.FAIL, Status.PARTIAL, Status.ERROR), (c.id, v.reason, v.observed)


def test_verdicts_quote_the_configuration_lines() -> None:
    dev = _device(FIXTURES / "cisco_ios-unhardened.cfg")
    mgmt = next(c for c in DEVICE_CONTROLS if c.probe == "device.mgmt_protocols")
    v = judge(mgmt, dev).verdict
    assert v is not None and v.status in (Status.PARTIAL, Status.FAIL)
    assert "ip http server" in v.observed["lines"]  # type: ignore[union-attr]
    assert "snmp-server community public RO" in v.observed["lines"]  # type: ignore[union-attr]
    rules = judge(next(c for c in DEVICE_CONTROLS if c.probe == "device.rule_set"), dev).verdict
    assert rules is not None and rules.observed["any_any_permit"] == ["permit ip any any"]
    # the permit after "permit ip any any" is dead: listed with the rule that shadows it
    assert rules.observed["shadowed"] == [{"rule": "permit tcp any host 198.51.100.20 eq 443",
                                           "shadowed_by": "permit ip any any"}]


def test_a_cut_listing_is_an_error_never_a_pass(tmp_path: Path) -> None:
    """A configuration that stops before its last line (``return``) is never judged."""
    whole = (FIXTURES / "huawei_vrp-hardened.cfg").read_text()
    cut = tmp_path / "huawei_vrp-hardened.cfg"
    cut.write_text(whole[: len(whole) // 2])
    dev = _device(cut)
    for c in DEVICE_CONTROLS:
        v = judge(c, dev).verdict
        assert v is not None and v.status in (Status.ERROR, Status.NOT_APPLICABLE, Status.NOT_CHECKED), c.id
        if v.status is Status.ERROR:
            assert "cut off" in v.reason


def test_neutral_adapters_read_the_device_configuration() -> None:
    vrp = offline_facts(_device(FIXTURES / "huawei_vrp-hardened.cfg"))
    assert neutral(RemoteLogging, "huawei_vrp", vrp).targets == ("198.51.100.50",)
    assert neutral(TimeSource, "huawei_vrp", vrp).servers == ("198.51.100.60",)
    lock = neutral(LockoutPolicy, "huawei_vrp", vrp)
    assert (lock.threshold, lock.unlock_s) == (5, 600)
    idle = neutral(IdleTimeout, "huawei_vrp", vrp)
    assert [(ch.name, ch.seconds) for ch in idle.channels] == [("user-interface con 0", 300),
                                                               ("user-interface vty 0 4", 300)]
    h3c = offline_facts(_device(FIXTURES / "hp_comware-hardened.cfg"))
    pw = neutral(PasswordPolicy, "hp_comware", h3c)
    assert (pw.enforced, pw.min_length, pw.min_classes, pw.history, pw.max_age_days) == (True, 10, 4, 5, 90)
    weak = offline_facts(_device(FIXTURES / "hp_comware-unhardened.cfg"))
    assert not neutral(PasswordPolicy, "hp_comware", weak).enforced
    assert [ch.seconds for ch in neutral(IdleTimeout, "hp_comware", weak).channels] == [None]  # idle-timeout 0 0
    ios = offline_facts(_device(FIXTURES / "cisco_ios-hardened.cfg"))
    assert neutral(LockoutPolicy, "cisco_ios", ios).mechanism == "login block-for"
    assert neutral(PasswordPolicy, "cisco_ios", ios).min_length == 10
    with pytest.raises(LookupError):  # an nftables firewall's logins are a Linux host's
        neutral(PasswordPolicy, "linux_nftables", offline_facts(_device(FIXTURES / "linux_nftables-hardened.nft")))


def test_redundancy_counts_devices_per_key_role(tmp_path: Path) -> None:
    from ihconform.runcache import RunCache

    control = next(c for c in PROFILE.controls if c.probe == "device.redundancy")
    one = NetworkDevice(id="r1", platform="cisco_ios", roles=("border",),
                        config_file=FIXTURES / "cisco_ios-unhardened.cfg")
    vrrp = NetworkDevice(id="c1", platform="huawei_vrp", roles=("core",),
                         config_file=FIXTURES / "huawei_vrp-hardened.cfg")
    irf = NetworkDevice(id="c2", platform="hp_comware", roles=("core",),
                        config_file=FIXTURES / "hp_comware-hardened.cfg")
    # one device with VRRP and no declared peer is one device; an IRF stack is two
    for devs, status in (((one,), Status.FAIL), ((vrrp,), Status.FAIL), ((irf,), Status.PASS),
                         ((one, one.model_copy(update={"id": "r2"})), Status.PASS)):
        inv = _inventory(*devs)
        check = Check(control, Obj(ObjectType.SITE, "site", "site"), inv)
        dp.test_redundancy(check, inv, RunCache(1), None)  # type: ignore[arg-type]
        assert check.verdict is not None and check.verdict.status is status, (devs, check.verdict)


#: The 安全计算环境 items judged on platform-neutral facts apply to network devices too (GB/T
#: 28448 lists 网络设备、安全设备 among their objects): one probe per control, the device's
#: adapter reading its configuration. L3-CES1-01.pwq is not among them yet: the vendors' default
#: complexity rules (applied when a configuration states none) are not researched, and judging
#: their absence as 0 would be a false fail.
NEUTRAL_CONTROLS = ("L3-CES1-02", "L3-CES1-02.idle", "L3-CES1-13", "L3-CES1-14.forward",
                    "L3-SMC1-10")


@pytest.mark.parametrize("path", [p for p in _fixtures() if p.stem.startswith(("huawei_vrp", "hp_comware",
                                                                                "cisco_ios", "ruijie_os"))],
                         ids=lambda p: p.stem)
def test_the_neutral_host_controls_judge_a_device(path: Path) -> None:
    dev = _device(path)
    got = {}
    for cid in NEUTRAL_CONTROLS:
        control = PROFILE.control(cid)
        assert ObjectType.NETWORK_DEVICE in control.applies_to
        check = Check(control, Obj(ObjectType.NETWORK_DEVICE, dev.id, dev.id, dev), _inventory(dev))
        probe_function(str(control.probe))(check, HostView(offline_facts(dev)))
        assert check.verdict is not None
        got[cid] = check.verdict.status
    if path.stem.endswith("-hardened"):
        assert set(got.values()) == {Status.PASS}, got
    else:  # the unhardened configurations keep no lockout, no remote log host, no time server
        assert Status.PASS not in {got["L3-CES1-02"], got["L3-CES1-14.forward"], got["L3-CES1-13"]}, got
        assert Status.ERROR not in got.values(), got


def test_a_linux_based_device_leaves_the_neutral_controls_to_its_host() -> None:
    dev = NetworkDevice(id="frr1", platform="frr", config_file=FIXTURES / "frr-core.conf", roles=("core",))
    for cid in NEUTRAL_CONTROLS:
        control = PROFILE.control(cid)
        check = Check(control, Obj(ObjectType.NETWORK_DEVICE, dev.id, dev.id, dev), _inventory(dev))
        probe_function(str(control.probe))(check, HostView(offline_facts(dev)))
        assert check.verdict is not None and check.verdict.status is Status.NOT_APPLICABLE, (cid, check.verdict)


@pytest.mark.parametrize(("engine", "status"), [("80001f8880c0ffee", Status.NOT_CHECKED), (None, Status.FAIL)])
def test_an_answering_snmp_agent_is_readiness_not_monitoring(engine: str | None, status: Status,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """L3-SMC1-09 on a Linux-based device reached online: an SNMPv3 agent answering shows the
    device can be polled, not that a platform polls it, so it is 未检查 with the engine ID
    observed, never 符合; no agent at all is 不符合 (nothing to monitor the device by)."""
    monkeypatch.setattr(dp, "snmp_v3_evidence", lambda device, cache, sink: (engine, "", ()))
    dev = NetworkDevice(id="core1", platform="frr", address="198.51.100.61", roles=("core",))
    control = PROFILE.control("L3-SMC1-09.device")
    check = Check(control, Obj(ObjectType.NETWORK_DEVICE, dev.id, dev.id, dev), _inventory(dev))
    dp.test_monitoring(check, dp.DeviceView(dev, HostFacts(host_id=dev.id)))
    assert check.verdict is not None and check.verdict.status is status
    assert check.verdict.observed["snmpv3_engine_id"] == engine
    assert check.verdict.reason
