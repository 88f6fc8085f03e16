"""Host probes on recorded outputs: the lab's hardened hosts, this kind of machine as shipped,
and single-section changes of those outputs for the cases neither shows."""

from __future__ import annotations

import pytest

from ihconform.errors import FactUnavailable
from ihconform.facts.collect import HostFacts
from ihconform.facts.host import HostView
from ihconform.probes import host as hp
from ihconform.results import Status
from tests.fixtures.facts.factsfix import HERE, LAB, host_check, load_dir, text, with_text

PASS, FAIL, PARTIAL = Status.PASS, Status.FAIL, Status.PARTIAL


@pytest.fixture(scope="module")
def db01() -> HostFacts:
    return load_dir(HERE / "lab" / "db01", "db01")


@pytest.fixture(scope="module")
def bastion() -> HostFacts:
    return load_dir(HERE / "lab" / "bastion", "bastion")


@pytest.fixture(scope="module")
def vm() -> HostFacts:
    return load_dir(HERE / "host" / "debian12-vm", "vm")


def judge(probe_fn, probe_id: str, facts: HostFacts, **overrides: object):  # type: ignore[no-untyped-def]
    check = host_check(probe_id, facts.host_id, **overrides)
    probe_fn(check, HostView(facts))
    assert check.verdict is not None
    return check.verdict


def add_process(facts: HostFacts, line: str) -> HostFacts:
    return with_text(facts, "processes", text(facts, "processes") + line + "\n")


# ---- host.mfa ---------------------------------------------------------------------------


def test_mfa_host_reachable_only_from_the_bastion(db01: HostFacts) -> None:
    # Given db01's sshd "AllowUsers ihprobe@198.51.100.1", the inventory's bastion address
    v = judge(hp.test_mfa, "host.mfa", db01)
    assert v.status is PASS
    # the firewall allows SSH from the whole LAN, so only AllowUsers makes it bastion-only
    assert v.observed["met_by"] == ["bastion-only (AllowUsers)"]


def test_mfa_the_bastion_is_judged_as_the_bastion(bastion: HostFacts) -> None:
    # issue 20 point 7: the jump host is not failed for not being behind a jump host; its own
    # SSH is key-only in every context (its administrators' 2FA: L3-CES1-04.bastion)
    v = judge(hp.test_mfa, "host.mfa", bastion)
    assert v.status is PASS, v.reason
    assert v.observed["judged_as"] == "bastion"
    assert v.observed["met_by"] == ["bastion itself (key-only SSH; second factor: L3-CES1-04.bastion)"]


def test_mfa_a_bastion_taking_passwords_is_single_factor(bastion: HostFacts) -> None:
    sshd = text(bastion, "sshd").replace("passwordauthentication no", "passwordauthentication yes")
    assert sshd != text(bastion, "sshd")
    v = judge(hp.test_mfa, "host.mfa", with_text(bastion, "sshd", sshd))
    assert v.status is FAIL
    assert "no second factor" in v.reason and "global (sshd -T): PasswordAuthentication yes" in v.reason


def test_mfa_chained_authentication_methods(bastion: HostFacts) -> None:
    sshd = text(bastion, "sshd").replace("authenticationmethods any",
                                         "authenticationmethods publickey,keyboard-interactive")
    assert sshd != text(bastion, "sshd")
    v = judge(hp.test_mfa, "host.mfa", with_text(bastion, "sshd", sshd))
    assert v.status is PASS and "AuthenticationMethods" in v.observed["met_by"]


def test_mfa_a_declared_bastion_address_that_does_not_match_fails(db01: HostFacts) -> None:
    inv = LAB.model_copy(update={"hosts": tuple(h for h in LAB.hosts if h.id != "bastion")})
    check = host_check("host.mfa", "db01", inventory=inv, bastion_addresses=["192.0.2.99"])
    hp.test_mfa(check, HostView(db01))
    assert check.verdict is not None and check.verdict.status is FAIL


def test_mfa_sshd_not_readable_is_an_error(vm: HostFacts) -> None:
    # this machine: sshd -T exits 255 (no /run/sshd); never a pass
    with pytest.raises(FactUnavailable, match="exited 255"):
        judge(hp.test_mfa, "host.mfa", vm)


# ---- host.sudoers -----------------------------------------------------------------------


def test_sudoers_lab_requires_passwords(db01: HostFacts) -> None:
    assert judge(hp.test_sudoers, "host.sudoers", db01).status is PASS


def test_sudoers_nopasswd_all_for_an_application_account_fails(db01: HostFacts) -> None:
    bad = text(db01, "sudoers") + "/etc/sudoers.d/deploy:deploy ALL=(ALL) NOPASSWD: ALL\n"
    v = judge(hp.test_sudoers, "host.sudoers", with_text(db01, "sudoers", bad))
    assert v.status is FAIL and "deploy" in v.reason


def test_sudoers_nopasswd_for_an_admin_group_is_allowed(db01: HostFacts) -> None:
    ok = text(db01, "sudoers") + "/etc/sudoers.d/admins:%wheel ALL=(ALL) NOPASSWD: ALL\n"
    assert judge(hp.test_sudoers, "host.sudoers", with_text(db01, "sudoers", ok)).status is PASS


def test_sudoers_user_alias_is_expanded(db01: HostFacts) -> None:
    bad = text(db01, "sudoers") + ("/etc/sudoers.d/ops:User_Alias OPS = alice, bob\n"
                                   "/etc/sudoers.d/ops:OPS ALL=(root) NOPASSWD: ALL\n")
    v = judge(hp.test_sudoers, "host.sudoers", with_text(db01, "sudoers", bad))
    assert v.status is FAIL
    assert [b.split()[0] for b in v.observed["nopasswd_all_non_admin"]] == ["alice", "bob"]


# ---- host.file_permissions --------------------------------------------------------------


def test_file_permissions_lab_pass(db01: HostFacts) -> None:
    v = judge(hp.test_file_permissions, "host.file_permissions", db01)
    assert v.status is PASS, v
    assert "/boot/grub/grub.cfg" in v.observed["absent"]


def test_file_permissions_debian_sshd_config_644_fails(vm: HostFacts) -> None:
    v = judge(hp.test_file_permissions, "host.file_permissions", vm)
    assert v.status is FAIL
    assert v.observed["too_open"] == {"/etc/ssh/sshd_config": "mode 644 > 600"}


def test_file_permissions_unknown_path_is_not_gathered(vm: HostFacts) -> None:
    with pytest.raises(FactUnavailable, match="/etc/motd"):
        judge(hp.test_file_permissions, "host.file_permissions", vm, max_modes=["/etc/motd:644"])


# ---- host.mac ---------------------------------------------------------------------------


def test_mac_none_in_the_lab_kernel(db01: HostFacts) -> None:
    v = judge(hp.test_mac, "host.mac", db01)
    assert v.status is FAIL and "none" in v.reason


def test_mac_selinux_enforcing(db01: HostFacts) -> None:
    mac = "lsm=capability,yama,selinux\nselinux=Enforcing\nselinux_config=enforcing\napparmor=\nkysec=\n"
    assert judge(hp.test_mac, "host.mac", with_text(db01, "mac", mac)).status is PASS


def test_mac_selinux_permissive_fails(db01: HostFacts) -> None:
    mac = "lsm=capability,yama,selinux\nselinux=Permissive\nselinux_config=permissive\napparmor=\nkysec=\n"
    assert judge(hp.test_mac, "host.mac", with_text(db01, "mac", mac)).status is FAIL


# ---- host.audit / audit_protection ------------------------------------------------------


def test_audit_rules_present_but_no_daemon_in_the_lab(db01: HostFacts) -> None:
    # rule files present, no auditd, no auditctl: the daemon not running decides alone
    v = judge(hp.test_audit, "host.audit", db01)
    assert v.status is FAIL
    assert v.observed["rules_in_files"] >= 10
    assert "not running" in v.reason and "auditctl: not found" in v.reason


def kernel_audit_text(facts: HostFacts, status: str, loaded: str) -> HostFacts:
    """db01's auditd section with ``auditctl -s`` / ``-l`` output in place of "not found"."""
    files = text(facts, "auditd").split("## files", 1)[1]
    return with_text(facts, "auditd", f"## status\n{status}## loaded\n{loaded}## files{files}")


#: ``auditctl -l`` as it prints db01's rule file once loaded.
LOADED = "".join(f"{r}\n" for r in (
    "-w /etc/passwd -p wa -k identity", "-w /etc/group -p wa -k identity", "-w /etc/shadow -p wa -k identity",
    "-w /etc/sudoers -p wa -k scope", "-a always,exit -F arch=b64 -S execve -F euid=0 -F key=rootcmd"))
STATUS_ON = ("enabled 2\nfailure 1\npid 999\nrate_limit 0\nbacklog_limit 8192\nlost 0\nbacklog 0\n"
             "backlog_wait_time 60000\nbacklog_wait_time_actual 0\n")


def test_audit_with_auditd_running(db01: HostFacts) -> None:
    facts = add_process(kernel_audit_text(db01, STATUS_ON, LOADED), "  999 root     auditd          /sbin/auditd")
    v = judge(hp.test_audit, "host.audit", facts)
    assert v.status is PASS, v
    assert v.observed["kernel"]["rules_loaded"] == 5


def test_audit_daemon_running_but_kernel_audit_off_fails(db01: HostFacts) -> None:
    status = STATUS_ON.replace("enabled 2", "enabled 0")
    facts = add_process(kernel_audit_text(db01, status, LOADED), "  999 root     auditd          /sbin/auditd")
    v = judge(hp.test_audit, "host.audit", facts)
    # the test profile marks nothing decisive: partial here; the shipped profile's mark makes it
    # 不符合 (test_decisive_host_parts.py)
    assert v.status is PARTIAL and v.reason == "unmet: kernel audit enabled"


def test_audit_rules_in_files_but_none_loaded_is_partial(db01: HostFacts) -> None:
    facts = add_process(kernel_audit_text(db01, STATUS_ON, "No rules\n"), "  999 root     auditd          /sbin/auditd")
    v = judge(hp.test_audit, "host.audit", facts)
    assert v.status is PARTIAL and "audit rules loaded" in v.reason and "key files watched" in v.reason


def test_audit_daemon_running_kernel_unreadable_is_an_error(db01: HostFacts) -> None:
    facts = add_process(kernel_audit_text(db01, "You must be root to run this program.\n",
                                          "You must be root to run this program.\n"),
                        "  999 root     auditd          /sbin/auditd")
    with pytest.raises(FactUnavailable, match="must be root"):
        judge(hp.test_audit, "host.audit", facts)


def test_audit_nothing_on_this_machine(vm: HostFacts) -> None:
    assert judge(hp.test_audit, "host.audit", vm).status is FAIL


def test_audit_protection_lab_conf_but_no_log(db01: HostFacts) -> None:
    v = judge(hp.test_audit_protection, "host.audit_protection", db01)
    assert v.status is PARTIAL and v.observed["log"] == "absent"
    assert v.observed["immutable"] is True  # "-e 2" in ih-lab.rules


def test_audit_protection_with_a_protected_log(db01: HostFacts) -> None:
    groups = text(db01, "auditd").replace("ABSENT /var/log/audit/audit.log", "/var/log/audit/audit.log 600 root root")
    v = judge(hp.test_audit_protection, "host.audit_protection", with_text(db01, "auditd", groups),
              require_immutable=True)
    assert v.status is PASS, v


def test_audit_protection_ignore_action_fails(db01: HostFacts) -> None:
    groups = text(db01, "auditd").replace("ABSENT /var/log/audit/audit.log", "/var/log/audit/audit.log 644 root root")
    conf = text(db01, "auditd_conf").replace("max_log_file_action = keep_logs", "max_log_file_action = ignore")
    facts = with_text(with_text(db01, "auditd", groups), "auditd_conf", conf)
    v = judge(hp.test_audit_protection, "host.audit_protection", facts)
    assert v.status is PARTIAL
    assert "max_log_file_action not discarding" in v.reason and "audit log mode" in v.reason


# ---- time, logs -------------------------------------------------------------------------


def test_time_sync_configured_not_running_in_the_lab(db01: HostFacts) -> None:
    v = judge(hp.test_time_sync, "host.time_sync", db01)
    assert v.status is PARTIAL and v.observed["servers"] == ["198.51.100.1"]


def test_time_sync_chronyd_running(db01: HostFacts) -> None:
    facts = add_process(db01, "  998 _chrony  chronyd         /usr/sbin/chronyd -F 1")
    assert judge(hp.test_time_sync, "host.time_sync", facts).status is PASS


def test_time_sync_nothing_on_this_machine(vm: HostFacts) -> None:
    assert judge(hp.test_time_sync, "host.time_sync", vm).status is FAIL


def test_log_forwarding(db01: HostFacts, vm: HostFacts) -> None:
    v = judge(hp.test_log_forwarding, "host.log_forwarding", db01)
    assert v.status is PARTIAL and v.observed["forwarding"][0].startswith("rsyslog TCP (@@)")
    running = add_process(db01, "  997 root     rsyslogd        /usr/sbin/rsyslogd -n -iNONE")
    assert judge(hp.test_log_forwarding, "host.log_forwarding", running).status is PASS
    assert judge(hp.test_log_forwarding, "host.log_forwarding", vm).status is FAIL


def test_log_forwarding_journal_upload(vm: HostFacts) -> None:
    conf = text(vm, "syslog_conf") + "[Upload]\nURL=https://198.51.100.1:19532\n"
    facts = add_process(with_text(vm, "syslog_conf", conf),
                        "  996 systemd-journal-upload systemd-journal /lib/systemd/systemd-journal-upload")
    v = judge(hp.test_log_forwarding, "host.log_forwarding", facts)
    assert v.status is PASS and v.observed["forwarding"] == ["journald upload: https://198.51.100.1:19532"]


# ---- management access ------------------------------------------------------------------


def test_mgmt_access_lab(db01: HostFacts, bastion: HostFacts) -> None:
    v = judge(hp.test_mgmt_access, "host.mgmt_access", db01)
    assert v.status is PASS
    assert set(v.observed["met_by"]) == {"AllowUsers user@address", "firewall source on SSH port"}
    # db01's ListenAddress is its only routable address (eth0): it restricts nothing (issue 20)
    assert v.observed["ListenAddress (judged)"] == (
        "not a restriction: sshd listens on every interface the host has a routable address on")
    assert judge(hp.test_mgmt_access, "host.mgmt_access", bastion).status is PASS


def _listen_only(db01: HostFacts, vm: HostFacts) -> HostFacts:
    """db01 with sshd restricted by nothing but ``ListenAddress 198.51.100.10`` (no AllowUsers,
    the VM's open firewall): what a stock release host with a listen-address drop-in is."""
    sshd = "\n".join(ln for ln in text(db01, "sshd").splitlines() if not ln.startswith("allowusers"))
    return with_text(with_text(db01, "sshd", sshd + "\n"), "firewall", text(vm, "firewall"))


def test_listen_address_on_the_only_interface_restricts_nothing(db01: HostFacts, vm: HostFacts) -> None:
    # issue 20 (the release hosts' false pass): binding sshd to the one address the host has
    # leaves every client that reaches the host able to reach sshd
    v = judge(hp.test_mgmt_access, "host.mgmt_access", _listen_only(db01, vm))
    assert v.status is FAIL, v
    assert "restricts nothing" in v.reason and v.observed["ListenAddress"] == ["198.51.100.10:22"]


def test_listen_address_on_one_of_two_networks_restricts(db01: HostFacts, vm: HostFacts) -> None:
    two_nics = text(db01, "ip_addr") + (
        "3: eth1    inet 203.0.113.10/24 scope global eth1\\       valid_lft forever preferred_lft forever\n")
    v = judge(hp.test_mgmt_access, "host.mgmt_access", with_text(_listen_only(db01, vm), "ip_addr", two_nics))
    assert v.status is PASS and v.observed["met_by"] == ["ListenAddress"], v
    assert v.observed["ListenAddress (judged)"] == "sshd not on eth1 (203.0.113.10)"


def test_listen_address_leaving_out_the_other_family_of_one_nic_restricts_nothing(db01: HostFacts,
                                                                                  vm: HostFacts) -> None:
    # eth0 also has a global IPv6 address sshd does not bind: every client on that network still
    # reaches sshd over IPv4, so this is no restriction of the management terminals
    dual = text(db01, "ip_addr") + (
        "2: eth0    inet6 2001:db8::10/64 scope global \\       valid_lft forever preferred_lft forever\n")
    v = judge(hp.test_mgmt_access, "host.mgmt_access", with_text(_listen_only(db01, vm), "ip_addr", dual))
    assert v.status is FAIL and "restricts nothing" in v.reason, v


def test_listen_address_with_unreadable_addresses_is_an_error_not_a_pass(db01: HostFacts, vm: HostFacts) -> None:
    # ifconfig output (the section's fallback) is not read: 检查错误 (FactUnavailable), never 符合
    with pytest.raises(FactUnavailable, match="ip -o addr"):
        judge(hp.test_mgmt_access, "host.mgmt_access",
              with_text(_listen_only(db01, vm), "ip_addr", "eth0: flags=4163<UP>  mtu 1500\n"))


def test_mgmt_access_open_to_everyone_fails(db01: HostFacts, vm: HostFacts) -> None:
    sshd = "\n".join(ln for ln in text(db01, "sshd").splitlines()
                     if not ln.startswith(("allowusers", "listenaddress"))) + "\nlistenaddress 0.0.0.0:22\n"
    facts = with_text(with_text(db01, "sshd", sshd), "firewall", text(vm, "firewall"))
    v = judge(hp.test_mgmt_access, "host.mgmt_access", facts)
    assert v.status is FAIL, v


# ---- HIDS, AV, updates, backups, services -----------------------------------------------


def test_intrusion_detection_absent(db01: HostFacts) -> None:
    assert judge(hp.test_intrusion_detection, "host.intrusion_detection", db01).status is FAIL


def test_intrusion_detection_aide_initialised_and_scheduled(db01: HostFacts) -> None:
    files = "1795000000 /usr/bin/aide\n1795000000 /etc/aide/aide.conf\n1795000000 /var/lib/aide/aide.db\n"
    job = "/etc/cron.d/aide:30 3 * * * root /usr/bin/aide --check\n"
    cron = text(db01, "crontabs").replace("## timers", job + "## timers")
    facts = with_text(with_text(db01, "hids_files", files), "crontabs", cron)
    assert judge(hp.test_intrusion_detection, "host.intrusion_detection", facts).status is PASS
    # not initialised: no database
    no_db = with_text(facts, "hids_files", "1795000000 /usr/bin/aide\n")
    assert judge(hp.test_intrusion_detection, "host.intrusion_detection", no_db).status is FAIL


def test_intrusion_detection_agent_process(db01: HostFacts) -> None:
    facts = add_process(db01, "  995 root     wazuh-agentd    /var/ossec/bin/wazuh-agentd")
    assert judge(hp.test_intrusion_detection, "host.intrusion_detection", facts).status is PASS


def test_anti_malware(db01: HostFacts) -> None:
    assert judge(hp.test_anti_malware, "host.anti_malware", db01).status is FAIL
    now = int(text(db01, "now").strip())
    running = add_process(db01, "  994 clamav   clamd           /usr/sbin/clamd --foreground=true")
    fresh = with_text(running, "av_signatures", f"{now - 86400} /var/lib/clamav/daily.cld\n")
    assert judge(hp.test_anti_malware, "host.anti_malware", fresh).status is PASS
    stale = with_text(running, "av_signatures", f"{now - 30 * 86400} /var/lib/clamav/daily.cld\n")
    v = judge(hp.test_anti_malware, "host.anti_malware", stale)
    assert v.status is PARTIAL and v.observed["clamav_signature_age_days"] == 30.0


UPDATES = HERE / "updates"


def _fresh(out: str, now: int) -> str:
    """``out`` as if the package cache had been refreshed an hour before ``now``."""
    return out.replace("## rc ", f"## cache {now - 3600}\n## rc ", 1)


def test_security_updates_counted_from_the_security_pocket(vm: HostFacts) -> None:
    v = judge(hp.test_security_updates, "host.security_updates", vm)
    assert v.status is FAIL
    manager, rc, pending = hp.pending_security_updates(text(vm, "packages_upgradable"))
    assert (manager, rc) == ("apt", 0)
    inst = [ln for ln in text(vm, "packages_upgradable").splitlines() if ln.startswith("Inst ")]
    assert 0 < len(pending) <= len(inst)
    assert v.observed["pending_security"] == len(pending)
    now = int(text(vm, "now"))
    fresh = with_text(vm, "packages_upgradable", _fresh(text(vm, "packages_upgradable"), now))
    v = judge(hp.test_security_updates, "host.security_updates", fresh, max_pending=len(pending))
    assert v.status is PASS and v.observed["end_of_support"] == "2028-06-30"  # Debian 12 LTS


def test_security_updates_errors_are_not_passes(vm: HostFacts) -> None:
    broken = with_text(vm, "packages_upgradable", "## manager apt\n## rc 100\n")
    with pytest.raises(FactUnavailable, match="exit 100"):
        judge(hp.test_security_updates, "host.security_updates", broken)
    v = judge(hp.test_security_updates, "host.security_updates",
              with_text(vm, "packages_upgradable", "## manager none\n"))
    assert v.status is Status.NOT_CHECKED and "包管理器" in v.reason


def test_a_stale_or_absent_cache_is_not_a_pass(vm: HostFacts) -> None:
    """0 pending from a cache 30 days old, or from no cache at all: 未检查 with the age."""
    now = int(text(vm, "now"))
    stale = f"## manager apt\n## cache {now - 30 * 86400}\n## rc 0\n"
    v = judge(hp.test_security_updates, "host.security_updates", with_text(vm, "packages_upgradable", stale))
    assert v.status is Status.NOT_CHECKED and v.observed["package_cache_age_days"] == 30.0
    assert "30.0 天" in v.reason
    never = "## manager apt\n## cache \n## rc 0\n"
    v = judge(hp.test_security_updates, "host.security_updates", with_text(vm, "packages_upgradable", never))
    assert v.status is Status.NOT_CHECKED and v.observed["package_cache_age_days"] is None
    fresh = f"## manager apt\n## cache {now - 86400}\n## rc 0\n"
    assert judge(hp.test_security_updates, "host.security_updates",
                 with_text(vm, "packages_upgradable", fresh)).status is PASS


def test_security_updates_dnf_format(vm: HostFacts) -> None:
    rocky = with_text(vm, "os_release", (UPDATES / "os-release-rocky9.txt").read_text())
    v = judge(hp.test_security_updates, "host.security_updates",
              with_text(rocky, "packages_upgradable", (UPDATES / "dnf-security.txt").read_text()))
    assert v.status is FAIL and v.observed["pending_security"] == 3
    assert v.observed["packages"][0] == "platform-python-3.6.8-2.el8_0.x86_64 (RHSA-2019:0997 Important/Sec.)"
    v = judge(hp.test_security_updates, "host.security_updates",
              with_text(rocky, "packages_upgradable", (UPDATES / "dnf-none.txt").read_text()))
    assert v.status is PASS and v.observed["package_cache_age_days"] == 0.6
    assert v.observed["end_of_support"] == "2032-05-31"


def test_an_end_of_life_os_fails_whatever_the_cache_says(vm: HostFacts) -> None:
    """CentOS 7 (maintenance ended 2024-06-30): 不符合 with the source, even with 0 pending."""
    c7 = with_text(vm, "os_release", (UPDATES / "os-release-centos7.txt").read_text())
    c7 = with_text(c7, "packages_upgradable", "## manager yum\n## cache 1795300000\n## rc 0\n")
    v = judge(hp.test_security_updates, "host.security_updates", c7)
    assert v.status is FAIL and v.observed["end_of_support"] == "2024-06-30"
    assert "CentOS Linux 7" in v.reason and "wiki.centos.org" in v.reason


def test_backups(db01: HostFacts) -> None:
    assert judge(hp.test_backups, "host.backups", db01).status is FAIL
    cron = text(db01, "crontabs").replace(
        "## timers", "/etc/cron.d/pgbackup:15 2 * * * postgres pg_basebackup -D /backup/base -Ft -z\n## timers")
    with_job = with_text(db01, "crontabs", cron)
    assert judge(hp.test_backups, "host.backups", with_job).status is PASS
    now = int(text(db01, "now").strip())
    fresh = with_text(with_job, "backup_files", f"DIR /backup {now - 3600}.0 /backup/base/base.tar.gz\n")
    assert judge(hp.test_backups, "host.backups", fresh, backup_paths=["/backup"]).status is PASS
    stale = with_text(with_job, "backup_files", f"DIR /backup {now - 72 * 3600}.0 /backup/base/base.tar.gz\n")
    v = judge(hp.test_backups, "host.backups", stale, backup_paths=["/backup"])
    assert v.status is PARTIAL and v.observed["newest_backup_age_h"] == {"/backup": 72.0}
    with pytest.raises(FactUnavailable, match="/mnt/nas"):
        judge(hp.test_backups, "host.backups", with_job, backup_paths=["/mnt/nas"])


def test_minimal_services(db01: HostFacts) -> None:
    assert judge(hp.test_minimal_services, "host.minimal_services", db01).status is PASS
    v = judge(hp.test_minimal_services, "host.minimal_services",
              add_process(db01, "  993 _rpc     rpcbind         /sbin/rpcbind -f -w"))
    assert v.status is FAIL and v.observed["running"] == ["rpcbind"]


def test_process_name_is_not_matched_in_arguments(db01: HostFacts) -> None:
    # a shell whose arguments mention vsftpd is not vsftpd
    facts = add_process(db01, "  992 root     sh              /bin/sh -c grep vsftpd /etc/services")
    assert judge(hp.test_minimal_services, "host.minimal_services", facts).status is PASS
