"""The collector contract on the real posix collector: every section ends complete, cut, failed
or absent, the transcript records which, and only a complete section is read; the Linux
adapters derive the neutral facts from those sections, and the ported probes judge them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ihconform.catalog import load_profile
from ihconform.check import Check
from ihconform.errors import FactUnavailable
from ihconform.facts.collect import POSIX_SHELL, HostFacts, Section
from ihconform.facts.contract import SectionStatus, collector_for
from ihconform.facts.db import db_facts
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
from ihconform.inventory import TestObject as ObjectUnderTest
from ihconform.inventory import local_inventory
from ihconform.probes import host as hp
from ihconform.profile import ObjectType
from ihconform.results import Status
from ihconform.transport.local import LocalTransport
from tests.fixtures.facts.factsfix import HERE, LAB, LAB_DBS, load_dir, text, with_text

SECTIONS = [
    Section("whole", "echo hello"),
    Section("flooded", "yes | head -c 100000", cap=1000),
    Section("broken", "echo 'cat: /etc/nothing: No such file or directory'; exit 3"),
    Section("stuck", "sleep 5", timeout=1),
    Section("later", "echo after"),
]


PROFILE = load_profile("mlps-l3")


def host_check(probe_id: str, host_id: str) -> Check:
    """The shipped mlps-l3 control judged by ``probe_id`` on a lab host."""
    control = next(c for c in PROFILE.controls if c.probe == probe_id)
    h = LAB.host(host_id)
    return Check(control, ObjectUnderTest(ObjectType.HOST_OS, h.id, h.id, h), LAB)


def local() -> LocalTransport:
    inv = local_inventory()
    return LocalTransport.connect(inv.hosts[0], inv)


def statuses(facts: HostFacts) -> dict[str, str]:
    return {c["section"]: c["status"] for c in facts.transcript()["commands"]}


def test_each_section_status_is_in_the_transcript_and_only_complete_is_read() -> None:
    facts = collector_for("linux").collect(local(), SECTIONS, timeout=60)
    assert statuses(facts) == {"whole": "complete", "flooded": "cut", "broken": "failed", "stuck": "failed",
                               "later": "complete"}
    assert facts.text("whole") == "hello\n" and facts.text("later") == "after\n"
    with pytest.raises(FactUnavailable, match="byte cap"):
        facts.text("flooded")
    with pytest.raises(FactUnavailable, match=r"No such file or directory.*broken exited 3"):
        facts.text("broken")
    with pytest.raises(FactUnavailable, match="timed out after 1 s"):
        facts.text("stuck")


def test_an_answer_that_stops_inside_a_section_cuts_it_and_loses_the_rest() -> None:
    """The same script's real output, cut inside a section (a dropped stream, a truncated
    recording): that section is cut, the ones after it absent, and the transcript lists both."""
    nonce = "feedc0de" * 2
    script = POSIX_SHELL.script(SECTIONS[:1] + SECTIONS[4:], nonce)
    whole = local().run(script, timeout=30).stdout
    stop = whole.index(b"hello") + 3  # "hel": inside the first section
    specs = {s.name: s for s in SECTIONS[:1] + SECTIONS[4:]}
    facts = HostFacts(host_id="local", specs=specs,
                      sections=POSIX_SHELL.parse(whole[:stop], nonce, list(specs.values())))
    assert statuses(facts) == {"whole": "cut", "later": "absent"}
    assert facts.status("whole") is SectionStatus.CUT and facts.sections["whole"].output == b"hel"
    with pytest.raises(FactUnavailable, match="ended before the section's end marker"):
        facts.text("whole")
    with pytest.raises(FactUnavailable, match="'later' was not gathered"):
        facts.text("later")
    absent = next(c for c in facts.transcript()["commands"] if c["section"] == "later")
    assert absent["command"] == "echo after" and absent["exit_code"] is None and absent["sha256"] is None
    # the uncut answer parses whole
    full = POSIX_SHELL.parse(whole, nonce, list(specs.values()))
    assert {n: r.text for n, r in full.items()} == {"whole": "hello\n", "later": "after\n"}


@pytest.fixture(scope="module")
def db01() -> HostFacts:
    return load_dir(HERE / "lab" / "db01", "db01")


def cut(facts: HostFacts, name: str) -> HostFacts:
    out = with_text(facts, name, text(facts, name))
    out.sections[name] = replace(out.sections[name], truncated=True)
    return out


def test_the_linux_adapters_read_the_lab_host(db01: HostFacts) -> None:
    pw = neutral(PasswordPolicy, "linux", db01)
    assert (pw.enforced, pw.min_length, pw.min_classes, pw.history) == (True, 12, 4, 5)
    lock = neutral(LockoutPolicy, "linux", db01)
    assert (lock.mechanism, lock.threshold, lock.unlock_s, lock.defaults) == ("pam_faillock", 5, 600, ())
    idle = neutral(IdleTimeout, "linux", db01)
    shell = [c for c in idle.channels if c.kind == "shell"]
    assert [(c.name, c.seconds, c.locked) for c in shell] == [("shell TMOUT", 600, True)]
    keepalive = [c for c in idle.channels if c.kind == "keepalive"]
    # one channel per sshd connection context: the global one and each evaluated context
    assert len(keepalive) == 1 + len(HostView(db01).sshd_contexts.contexts) and len(keepalive) > 1
    assert {(c.interval_s, c.count, c.seconds) for c in keepalive} == {(300, 2, 600)}
    logs = neutral(RemoteLogging, "linux", db01)
    assert logs.targets == ("198.51.100.1",) and logs.rules == ("rsyslog TCP (@@): *.* @@198.51.100.1:514",)
    assert logs.programs is not None and "sshd" in logs.programs
    time = neutral(TimeSource, "linux", db01)
    assert time.servers == ("198.51.100.1",) and time.synchronised is None


def test_pam_faillock_defaults_are_named(db01: HostFacts) -> None:
    facts = with_text(with_text(db01, "pam", "/etc/pam.d/common-auth:auth required pam_faillock.so preauth\n"),
                      "faillock_conf", "")
    lock = neutral(LockoutPolicy, "linux", facts)
    assert (lock.threshold, lock.unlock_s) == (3, 600)
    assert [d.split()[0] for d in lock.defaults] == ["deny=3", "unlock_time=600"]
    never = with_text(facts, "faillock_conf", "unlock_time = never\n")
    assert neutral(LockoutPolicy, "linux", never).unlock_s == 0  # faillock.conf(5): 0 means never


@pytest.mark.parametrize(("stack", "minlen"), [("password requisite pam_pwquality.so retry=3", 8),
                                               ("password requisite pam_cracklib.so retry=3", 9),
                                               ("password requisite pam_pwquality.so minlen=6", 6),
                                               ("password required pam_unix.so sha512", None)])
def test_an_unset_minlen_is_the_module_default_named(db01: HostFacts, stack: str, minlen: int | None) -> None:
    """A stock RHEL stack loads pam_pwquality with no minlen anywhere: that is libpwquality's
    default 8, not 0 (a false unmet "minlen >= 8" part); no module, no length."""
    facts = with_text(with_text(db01, "pam", f"/etc/pam.d/system-auth:{stack}\n"), "pwquality", "")
    pw = neutral(PasswordPolicy, "linux", facts)
    assert pw.min_length == minlen
    assert bool(pw.defaults) == (minlen is not None and "minlen" not in stack)


@pytest.mark.parametrize(("kind", "section"), [(PasswordPolicy, "pwquality"), (LockoutPolicy, "pam"),
                                               (IdleTimeout, "profile_tmout"), (RemoteLogging, "syslog_conf"),
                                               (TimeSource, "time_sync")])
def test_a_cut_section_never_reaches_the_neutral_facts(db01: HostFacts, kind: type, section: str) -> None:
    neutral(kind, "linux", db01)
    with pytest.raises(FactUnavailable, match=f"{section} output exceeded"):
        neutral(kind, "linux", cut(db01, section))


@pytest.mark.parametrize(("fn", "probe_id", "section"), [
    (hp.test_password_quality, "host.password_quality", "pam"),
    (hp.test_login_lockout, "host.login_lockout", "faillock_conf"),
    (hp.test_idle_timeout, "host.idle_timeout", "sshd"),
    (hp.test_log_forwarding, "host.log_forwarding", "processes"),
    (hp.test_time_sync, "host.time_sync", "processes"),
])
def test_a_ported_probe_on_a_cut_section_is_an_error_not_a_verdict(db01: HostFacts, fn, probe_id: str,  # type: ignore[no-untyped-def]
                                                                   section: str) -> None:
    check = host_check(probe_id, "db01")
    with pytest.raises(FactUnavailable, match=section):
        fn(check, HostView(cut(db01, section)))
    assert check.verdict is None  # the plugin records 检查错误 with the message


def test_a_platform_without_an_adapter_is_an_error_naming_it(db01: HostFacts,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(ADAPTERS, "linux")
    check = host_check("host.login_lockout", "db01")
    hp.test_login_lockout(check, HostView(db01))
    assert check.verdict is not None and check.verdict.status is Status.ERROR
    assert "platform 'linux' has no adapter for LockoutPolicy" in check.verdict.reason


def test_a_database_instance_is_read_only_from_its_complete_section() -> None:
    """A database instance's sections ride its host's batch (``db.<id>``): a cut one is never parsed."""
    db = LAB_DBS[0]
    facts = load_dir(HERE / "lab" / "db01", "db01")
    name = f"db.{db.id}"
    assert facts.status(name) is SectionStatus.COMPLETE and db_facts(facts, db).is_pg
    flooded = cut(facts, name)
    assert statuses(flooded)[name] == "cut"
    with pytest.raises(FactUnavailable, match=f"{name} output exceeded"):
        db_facts(flooded, db)
