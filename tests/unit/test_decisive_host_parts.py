"""Accounts as the system sees them, and the decisive host sub-checks of the shipped profile.

Each case changes one section of the conforming lab's recorded db01 facts, and judges with the
control as mlps-l3.yaml ships it (decisive marks included): one decisive failure alone is
不符合, never 部分符合.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ihconform import inventory as inv
from ihconform.catalog import load_profile
from ihconform.check import Check, Verdict
from ihconform.facts.collect import HostFacts
from ihconform.facts.host import HostView, PasswordState
from ihconform.probes import host as hp
from ihconform.results import Status
from tests.fixtures.facts.factsfix import HERE, LAB, load_dir, text, with_text

SHIPPED = load_profile(str(Path(hp.__file__).resolve().parents[1] / "profiles" / "mlps-l3.yaml"))
PASS, FAIL, PARTIAL = Status.PASS, Status.FAIL, Status.PARTIAL


@pytest.fixture(scope="module")
def db01() -> HostFacts:
    return load_dir(HERE / "lab" / "db01", "db01")


def shipped(probe_fn: Callable[[Check, HostView], None], probe_id: str, facts: HostFacts) -> Verdict:
    control = next(c for c in SHIPPED.controls if c.probe == probe_id)
    h = LAB.host(facts.host_id)
    check = Check(control, inv.TestObject(inv.ObjectType.HOST_OS, h.id, h.id, h), LAB)
    probe_fn(check, HostView(facts))
    assert check.verdict is not None
    return check.verdict


def edit(facts: HostFacts, section: str, old: str, new: str) -> HostFacts:
    before = text(facts, section)
    assert old in before, (section, old)
    return with_text(facts, section, before.replace(old, new))


def games_with(facts: HostFacts, shell: str, scheme: str, expire: str = "") -> HostFacts:
    facts = edit(facts, "passwd", "games:x:5:60:games:/usr/games:/usr/sbin/nologin",
                 f"games:x:5:60:games:/usr/games:{shell}")
    return edit(facts, "shadow", "games:LOCKED/*:20228:0:99999:7::", f"games:{scheme}:20228:0:99999:7::{expire}")


# ---- the conforming lab: every decisive part met ----------------------------------------


@pytest.mark.parametrize(("fn", "pid"), [(hp.test_identities, "host.identities"),
                                         (hp.test_default_accounts, "host.default_accounts")])
def test_conforming_lab_accounts_pass(db01: HostFacts, fn: Callable[[Check, HostView], None], pid: str) -> None:
    assert shipped(fn, pid, db01).status is PASS


# ---- accounts as the system sees them ---------------------------------------------------


def test_empty_hash_on_a_default_account_with_a_login_shell_is_usable_and_decisive(db01: HostFacts) -> None:
    # Before: "usable_default_accounts []" (no hash read like a "!" lock), a false pass
    facts = games_with(db01, "/bin/bash", "EMPTY")
    state = HostView(facts).account_states["games"]
    assert state.password is PasswordState.NONE and state.login_shell and state.can_log_in
    d = shipped(hp.test_default_accounts, "host.default_accounts", facts)
    assert d.status is PARTIAL and d.observed["usable_default_accounts"] == ["games"]
    assert d.observed["usable_how"] == {"games": "/bin/bash, password none"}
    i = shipped(hp.test_identities, "host.identities", facts)
    assert i.status is FAIL, i  # unique names and UIDs met: the empty password decides alone
    assert "decisive: no empty passwords (T/ISEAA 001-2020" in i.reason
    assert i.observed["empty_password_login_shell"] == ["games"]


@pytest.mark.parametrize("scheme", ["LOCKED/!", "LOCKED/*"])
def test_locked_default_account_with_a_login_shell_is_not_usable(db01: HostFacts, scheme: str) -> None:
    facts = games_with(db01, "/bin/bash", scheme)
    assert HostView(facts).account_states["games"].password is PasswordState.LOCKED
    assert shipped(hp.test_default_accounts, "host.default_accounts", facts).status is PASS


def test_default_account_with_a_password_and_a_login_shell_is_usable(db01: HostFacts) -> None:
    d = shipped(hp.test_default_accounts, "host.default_accounts", games_with(db01, "/bin/sh", "HASH/6"))
    assert d.status is PARTIAL and d.observed["usable_default_accounts"] == ["games"]


def test_an_expired_account_is_disabled_whatever_its_hash(db01: HostFacts) -> None:
    today = HostView(db01).now // 86400
    expired = games_with(db01, "/bin/bash", "EMPTY", expire=str(today - 1))
    assert HostView(expired).account_states["games"].password is PasswordState.EXPIRED
    assert shipped(hp.test_default_accounts, "host.default_accounts", expired).status is PASS
    assert shipped(hp.test_identities, "host.identities", expired).status is PASS
    # expiring tomorrow: still usable today (shadow-utils: disabled once today >= expire)
    later = games_with(db01, "/bin/bash", "EMPTY", expire=str(today + 1))
    assert HostView(later).account_states["games"].password is PasswordState.NONE
    assert shipped(hp.test_identities, "host.identities", later).status is FAIL


def test_a_shell_not_in_etc_shells_is_no_login_shell(db01: HostFacts) -> None:
    facts = games_with(db01, "/usr/local/bin/fish", "HASH/6")  # not in the host's /etc/shells
    assert not HostView(facts).account_states["games"].login_shell
    assert shipped(hp.test_default_accounts, "host.default_accounts", facts).status is PASS
    listed = with_text(facts, "shells", text(facts, "shells") + "/usr/local/bin/fish\n")
    assert shipped(hp.test_default_accounts, "host.default_accounts", listed).status is PARTIAL


def test_no_etc_shells_falls_back_to_the_shell_name_and_says_so(db01: HostFacts) -> None:
    facts = with_text(games_with(db01, "/usr/local/bin/fish", "HASH/6"), "shells", "ABSENT /etc/shells\n")
    d = shipped(hp.test_default_accounts, "host.default_accounts", facts)
    assert d.status is PARTIAL and d.observed["usable_default_accounts"] == ["games"]
    assert d.observed["login_shells_from"].startswith("no /etc/shells on the host")


def test_password_ageing_judges_only_accounts_that_log_in_with_a_password(db01: HostFacts) -> None:
    # games given a password and a login shell, with Debian's 99999 maximum: now in scope
    d = shipped(hp.test_password_ageing, "host.password_ageing", games_with(db01, "/bin/bash", "HASH/6"))
    assert "games" in d.observed["accounts_out_of_policy"]
    # the same account, locked: out of scope
    d = shipped(hp.test_password_ageing, "host.password_ageing", games_with(db01, "/bin/bash", "LOCKED/!"))
    assert "games" not in d.observed["accounts_out_of_policy"]


# ---- decisive single failures -----------------------------------------------------------


def test_a_second_uid0_account_alone_is_fail(db01: HostFacts) -> None:
    facts = with_text(db01, "passwd", text(db01, "passwd") + "toor:x:0:0:toor:/root:/bin/bash\n")
    d = shipped(hp.test_default_accounts, "host.default_accounts", facts)
    assert d.status is FAIL, d
    assert d.observed["uid0_besides_root"] == ["toor"] and "decisive: only root has UID 0" in d.reason


def test_tmout_zero_alone_is_fail(db01: HostFacts) -> None:
    assert shipped(hp.test_idle_timeout, "host.idle_timeout", db01).status is PASS
    d = shipped(hp.test_idle_timeout, "host.idle_timeout",
                edit(db01, "profile_tmout", "ih-tmout.sh:TMOUT=600", "ih-tmout.sh:TMOUT=0"))
    assert d.status is FAIL and "decisive: shell idle timeout on" in d.reason
    # a TMOUT above the limit is not decisive: partial
    d = shipped(hp.test_idle_timeout, "host.idle_timeout",
                edit(db01, "profile_tmout", "ih-tmout.sh:TMOUT=600", "ih-tmout.sh:TMOUT=1800"))
    assert d.status is PARTIAL


STATUS = ("enabled {e}\nfailure 1\npid {pid}\nrate_limit 0\nbacklog_limit 8192\nlost 0\nbacklog 0\n"
          "backlog_wait_time 60000\n")
LOADED = ("-w /etc/passwd -p wa -k identity\n-w /etc/group -p wa -k identity\n-w /etc/shadow -p wa -k identity\n"
          "-w /etc/sudoers -p wa -k scope\n")


def audit_state(facts: HostFacts, enabled: int, pid: int, loaded: str = LOADED) -> HostFacts:
    files = text(facts, "auditd").split("## files", 1)[1]
    return with_text(facts, "auditd", f"## status\n{STATUS.format(e=enabled, pid=pid)}## loaded\n{loaded}"
                                      f"## files{files}")


def auditd(facts: HostFacts) -> HostFacts:
    return with_text(facts, "processes", text(facts, "processes") + "  999 root     auditd          /sbin/auditd\n")


def test_audit_all_met_by_the_kernel_word(db01: HostFacts) -> None:
    assert shipped(hp.test_audit, "host.audit", auditd(audit_state(db01, 1, 999))).status is PASS


def test_auditd_not_running_alone_is_fail(db01: HostFacts) -> None:
    # kernel audit on with rules loaded, but no daemon receives the records (pid 0, no process)
    d = shipped(hp.test_audit, "host.audit", audit_state(db01, 1, 0))
    assert d.status is FAIL and "decisive: audit daemon running" in d.reason


def test_kernel_audit_disabled_alone_is_fail(db01: HostFacts) -> None:
    d = shipped(hp.test_audit, "host.audit", auditd(audit_state(db01, 0, 999)))
    assert d.status is FAIL and "decisive: kernel audit enabled" in d.reason


def test_no_rules_loaded_is_not_decisive(db01: HostFacts) -> None:
    d = shipped(hp.test_audit, "host.audit", auditd(audit_state(db01, 1, 999, loaded="No rules\n")))
    assert d.status is PARTIAL


def test_immutable_rules_read_from_the_kernel(db01: HostFacts) -> None:
    log = edit(db01, "auditd", "ABSENT /var/log/audit/audit.log", "/var/log/audit/audit.log 600 root root")
    locked = shipped(hp.test_audit_protection, "host.audit_protection", audit_state(log, 2, 999))
    assert locked.observed["immutable"] is True and locked.observed["immutable_from"] == "auditctl -s"
    # "-e 2" in the rule files, but the kernel says enabled 1: not locked
    unlocked = shipped(hp.test_audit_protection, "host.audit_protection", audit_state(log, 1, 999))
    assert unlocked.observed["immutable"] is False
