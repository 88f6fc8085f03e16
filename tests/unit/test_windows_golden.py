"""Golden verdicts of the Windows controls on the recorded batch answers (issue 17): Server 2016,
2019 and 2022 in zh-CN and en-US, stock and hardened, plus 2012 R2 without WMF 5.1. The
expected verdict per control per recording is tests/fixtures/windows/expected.yaml; the
recordings' shapes and sources are in tests/fixtures/windows/SOURCES.md."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ihconform.catalog import load_profile
from ihconform.check import Check
from ihconform.errors import FactUnavailable
from ihconform.facts.contract import HostFacts
from ihconform.facts.host import HostView
from ihconform.facts.neutral import (
    ADAPTERS,
    IdleTimeout,
    LockoutPolicy,
    PasswordPolicy,
    RemoteLogging,
    TimeSource,
    neutral,
)
from ihconform.facts.windows import load_recording
from ihconform.inventory import Host, Institution, Inventory, SystemUnderTest
from ihconform.inventory import TestObject as Obj
from ihconform.profile import ObjectType, Parameter
from ihconform.registry import probe_function
from ihconform.results import Status

from ..conftest import FIXTURES, ROOT

WIN = FIXTURES / "windows"
RECORDINGS = sorted((WIN / "recordings").glob("*.json"))
EXPECTED: dict[str, dict[str, str]] = yaml.safe_load((WIN / "expected.yaml").read_text(encoding="utf-8"))
PROFILE = load_profile(str(ROOT / "src" / "ihconform" / "profiles" / "mlps-l3.yaml"))
HOST = Host(id="his-db", address="198.51.100.30", platform="windows")
INV = Inventory(institution=Institution(name="x"), system=SystemUnderTest(name="y"), hosts=(HOST,))
WIN_CONTROLS = [c for c in PROFILE.controls if (c.probe or "").startswith("windows.")]


def judge(control_id: str, facts: HostFacts, **parameters: object) -> Status:
    """The control's probe on the facts, with the plugin's outcome mapping (FactUnavailable -> 检查错误);
    ``parameters`` tailored as a site profile would (provenance "unit test")."""
    control = PROFILE.control(control_id)
    if parameters:
        params = {**control.parameters, **{k: Parameter(value=v, provenance="unit test")  # type: ignore[arg-type]
                                          for k, v in parameters.items()}}
        control = control.model_copy(update={"parameters": params})
    check = Check(control, Obj(ObjectType.HOST_OS_WINDOWS, HOST.id, HOST.id, HOST), INV)
    try:
        probe_function(str(control.probe))(check, facts)
    except FactUnavailable:
        return Status.ERROR
    assert check.verdict is not None
    return check.verdict.status


def test_every_recording_and_every_windows_control_has_an_expectation() -> None:
    assert {p.stem for p in RECORDINGS} == set(EXPECTED)
    versions = {p.stem.split("-")[0] for p in RECORDINGS}
    assert {"ws2016", "ws2019", "ws2022"} <= versions
    for v in ("ws2016", "ws2019", "ws2022"):  # each version in both languages, stock and hardened
        assert {f"{v}-{lang}-{kind}" for lang in ("zh-CN", "en-US") for kind in ("stock", "hardened")} <= set(EXPECTED)
    ids = {c.id for c in WIN_CONTROLS}
    assert len(ids) == 11
    for name, row in EXPECTED.items():
        assert set(row) == ids, name


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.stem)
def test_recorded_verdicts(path: Path) -> None:
    facts = load_recording(path, HOST.id)
    assert not facts.error, facts.error
    got = {c.id: judge(c.id, facts).value for c in WIN_CONTROLS}
    assert got == EXPECTED[path.stem]


@pytest.mark.parametrize("path", [p for p in RECORDINGS if p.stem.endswith("-hardened")], ids=lambda p: p.stem)
def test_hardened_neutral_facts(path: Path) -> None:
    """What the neutral probes will judge on a hardened host (the adapters, via neutral())."""
    facts = load_recording(path, HOST.id)
    pw = neutral(PasswordPolicy, "windows", facts)
    assert (pw.enforced, pw.min_length, pw.min_classes, pw.history, pw.max_age_days) == (True, 8, 3, 5, 90)
    lock = neutral(LockoutPolicy, "windows", facts)
    assert (lock.threshold, lock.unlock_s) == (5, 1800) and lock.mechanism
    idle = neutral(IdleTimeout, "windows", facts)
    assert {c.name: c.seconds for c in idle.channels} == {"RDP MaxIdleTime (Group Policy)": 600,
                                                         "console InactivityTimeoutSecs": 600}
    assert neutral(RemoteLogging, "windows", facts).targets == ("198.51.100.20:5985",)
    ts = neutral(TimeSource, "windows", facts)
    assert ts.servers == ("198.51.100.10", "198.51.100.11") and ts.synchronised is True


@pytest.mark.parametrize("path", [p for p in RECORDINGS if p.stem.endswith("-stock")], ids=lambda p: p.stem)
def test_stock_neutral_facts(path: Path) -> None:
    """Stock Windows: complexity on but no minimum length, no lockout, RDP never idles out, no
    forwarding, and the clock on its CMOS (time.windows.com unreachable from a hospital LAN)."""
    facts = load_recording(path, HOST.id)
    pw = neutral(PasswordPolicy, "windows", facts)
    assert (pw.enforced, pw.min_length, pw.history, pw.max_age_days) == (True, 0, 0, 42)
    lock = neutral(LockoutPolicy, "windows", facts)
    assert lock.mechanism == "" and lock.threshold is None
    idle = neutral(IdleTimeout, "windows", facts)
    assert all(c.seconds is None for c in idle.channels) and idle.channels[0].name == "RDP MaxIdleTime"
    logging = neutral(RemoteLogging, "windows", facts)
    assert logging.targets == () and logging.running is None
    ts = neutral(TimeSource, "windows", facts)
    assert ts.servers == ("time.windows.com",) and ts.synchronised is False


def test_without_wmf51_the_account_controls_say_why() -> None:
    """2012 R2 with PowerShell 4.0: Get-LocalUser is missing, so the account controls are 检查错误
    with PowerShell's own words, and the rest is still judged."""
    facts = load_recording(WIN / "recordings" / "ws2012r2-zh-CN-stock.json", HOST.id)
    with pytest.raises(FactUnavailable, match="Get-LocalUser"):
        facts.raw("users")
    assert judge("L3-CES1-21.win", facts) is Status.FAIL  # out of support since 2023-10-10


def test_a_sites_own_end_of_support_row_decides_the_build_and_none_is_not_checked(tmp_path: Path) -> None:
    """A paid ESU contract for 2012 R2 is a site row (``support_ends``) matched before the shipped
    table; a build in neither is 未检查, never judged as supported (as host.security_updates)."""
    facts = load_recording(WIN / "recordings" / "ws2012r2-zh-CN-stock.json", HOST.id)
    # the support part is met; the recording's newest update is still too old: 部分符合, not 不符合
    assert judge("L3-CES1-21.win", facts, support_ends=["windows-server 9600 2099-10-13"]) is Status.PARTIAL
    text = (WIN / "recordings" / "ws2022-en-US-hardened.json").read_text(encoding="utf-8")
    unknown = tmp_path / "unknown.json"
    unknown.write_text(text.replace('"BuildNumber":"20348"', '"BuildNumber":"99999"'), encoding="utf-8")
    facts = load_recording(unknown, HOST.id)
    assert judge("L3-CES1-21.win", facts) is Status.NOT_CHECKED
    assert judge("L3-CES1-21.win", facts, support_ends=["windows-server 99999 2099-01-01"]) is Status.PASS


def test_no_sql_server_is_not_applicable(tmp_path: Path) -> None:
    """A host without SQL Server: the SQL Server controls are 不适用, not 符合."""
    text = (WIN / "recordings" / "ws2022-en-US-hardened.json").read_text(encoding="utf-8")
    lines = [ln if '"name":"mssql"' not in ln else
             '{"n":"rec0000000000001","name":"mssql","status":"complete","ms":5,"error":null,"data":[]},'
             for ln in text.split("\n")]
    p = tmp_path / "nosql.json"
    p.write_text("\n".join(lines), encoding="utf-8")
    facts = load_recording(p, HOST.id)
    assert judge("L3-CES1-01.mssql", facts) is Status.NOT_APPLICABLE
    assert judge("L3-CES1-06.mssql", facts) is Status.NOT_APPLICABLE
    assert judge("L3-CES1-12.mssql", facts) is Status.NOT_APPLICABLE


def test_a_stopped_w32time_is_no_running_time_service(tmp_path: Path) -> None:
    """TimeSource.service names W32Time only while it runs: a probe that takes the platform's
    built-in service as the running daemon cannot count a stopped one."""
    text = (WIN / "recordings" / "ws2019-en-US-hardened.json").read_text(encoding="utf-8")
    p = tmp_path / "stopped.json"
    p.write_text(text.replace('"Name":"W32Time","DisplayName":"Windows Time","State":"Running"',
                              '"Name":"W32Time","DisplayName":"Windows Time","State":"Stopped"'), encoding="utf-8")
    ts = neutral(TimeSource, "windows", load_recording(p, HOST.id))
    assert ts.service == "" and ts.synchronised is False and ts.servers


#: The controls judged by one probe on the neutral facts, on a Windows host (their verdicts on a
#: trial merge with the ported probes). Stock Windows: complexity on but no length or history
#: (部分符合), no lockout, RDP never idles out, nothing forwarded; W32Time runs with a server set
#: but the clock follows the local CMOS clock (w32tm "Source: Local CMOS Clock"), so the time
#: source is configured and not followed (部分符合, not 符合).
NEUTRAL_STOCK = {"L3-CES1-01.pwq": "partial", "L3-CES1-02": "fail", "L3-CES1-02.idle": "fail",
                 "L3-CES1-13": "partial", "L3-CES1-14.forward": "fail", "L3-SMC1-10": "fail"}


@pytest.mark.skipif("linux" not in ADAPTERS,
                    reason="the host.* probes do not judge the neutral facts yet (h-contract's port registers "
                           "the linux adapters); until then they are 检查错误 on Windows hosts")
@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.stem)
def test_neutral_controls_on_windows(path: Path) -> None:
    facts = load_recording(path, HOST.id)
    got: dict[str, str] = {}
    for cid in NEUTRAL_STOCK:
        control = PROFILE.control(cid)
        assert ObjectType.HOST_OS_WINDOWS in control.applies_to
        check = Check(control, Obj(ObjectType.HOST_OS_WINDOWS, HOST.id, HOST.id, HOST), INV)
        probe_function(str(control.probe))(check, HostView(facts))
        assert check.verdict is not None
        got[cid] = check.verdict.status.value
    want = {c: "pass" for c in NEUTRAL_STOCK} if path.stem.endswith("-hardened") else NEUTRAL_STOCK
    assert got == want
