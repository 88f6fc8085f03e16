"""Host verdicts on stock, non-hardened systems that an assessor accepts (issue 13 §6), judged
by the shipped controls of profiles/mlps-l3.yaml on recorded facts (fixtures/facts/stock-host,
fixtures/facts/host/debian12-vm)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ihconform.catalog import load_profile
from ihconform.check import Check, Verdict
from ihconform.facts.collect import HostFacts
from ihconform.facts.host import HostView
from ihconform.inventory import Host, Institution, Inventory, SystemUnderTest
from ihconform.inventory import TestObject as Obj
from ihconform.probes import host as hp
from ihconform.profile import ObjectType
from ihconform.results import Status
from tests.fixtures.facts.factsfix import HERE, load_dir, with_text

PROFILE = load_profile(str(Path(__file__).resolve().parents[2] / "src" / "ihconform" / "profiles" / "mlps-l3.yaml"))
STOCK = HERE / "stock-host"
VM = Host(id="vm", address="127.0.0.1", connection="local")
LOGSRV = Host(id="logsrv", address="198.51.100.5", roles=("log",))


def inventory(*extra: Host) -> Inventory:
    return Inventory(institution=Institution(name="x"), system=SystemUnderTest(name="y"), hosts=(VM, *extra))


def judge(fn, control_id: str, facts: HostFacts, inv: Inventory | None = None) -> Verdict:  # type: ignore[no-untyped-def]
    inv = inv or inventory()
    check = Check(PROFILE.control(control_id), Obj(ObjectType.HOST_OS, "vm", "vm", VM), inv)
    fn(check, HostView(facts))
    assert check.verdict is not None
    return check.verdict


@pytest.fixture(scope="module")
def vm() -> HostFacts:
    return load_dir(HERE / "host" / "debian12-vm", "vm")


@pytest.fixture
def stock_logs(vm: HostFacts) -> HostFacts:
    """Debian 12 stock logrotate (rsyslog: rotate 4 weekly = 28 days)."""
    return with_text(vm, "logrotate", (STOCK / "logrotate-debian12.txt").read_text())


def test_stock_logrotate_alone_is_short(stock_logs: HostFacts) -> None:
    v = judge(hp.test_log_retention, "L3-SMC1-10.retention", stock_logs)
    assert v.status is Status.FAIL and v.observed["retention_days"]["/var/log/syslog"] == 28


def test_forwarding_to_the_declared_log_host_is_not_a_fail(stock_logs: HostFacts) -> None:
    """28 local days, logs sent to the inventory's central log host: the retention is the
    central store's (declared), so 未检查 here with that said, never 不符合 nor 符合."""
    text = (STOCK / "syslog-forward.txt").read_text().replace("logsrv.hospital.example", "198.51.100.5")
    facts = with_text(stock_logs, "syslog_conf", text)
    v = judge(hp.test_log_retention, "L3-SMC1-10.retention", facts, inventory(LOGSRV))
    assert v.status is Status.NOT_CHECKED
    assert v.observed["central_log_hosts"] == ["logsrv"] and "集中日志服务器 logsrv" in v.reason
    # also reached by the host id / name the configuration uses
    named = Host(id="logsrv.hospital.example", address="198.51.100.5", roles=("log",))
    facts = with_text(stock_logs, "syslog_conf", (STOCK / "syslog-forward.txt").read_text())
    assert judge(hp.test_log_retention, "L3-CES1-14.retention", facts, inventory(named)).status is Status.NOT_CHECKED


def test_forwarding_to_an_undeclared_host_changes_nothing(stock_logs: HostFacts) -> None:
    facts = with_text(stock_logs, "syslog_conf", (STOCK / "syslog-forward.txt").read_text())
    v = judge(hp.test_log_retention, "L3-SMC1-10.retention", facts, inventory(LOGSRV))  # sent elsewhere
    assert v.status is Status.FAIL
    not_log = Host(id="logsrv.hospital.example", address="198.51.100.5", roles=("app",))
    assert judge(hp.test_log_retention, "L3-SMC1-10.retention", facts, inventory(not_log)).status is Status.FAIL


def test_forward_targets_are_read_from_each_syntax(vm: HostFacts) -> None:
    conf = ('*.* @@(o)[2001:db8::5]:514\n'
            'action(type="omfwd" target="198.51.100.6" port="514" protocol="tcp")\n'
            'destination d_net { network("198.51.100.7" port(514)); };\n'
            '*.* @198.51.100.8\n## journal-upload\nURL=https://198.51.100.9:19532\n')
    facts = with_text(vm, "syslog_conf", conf)
    assert hp.log_forward_targets(HostView(facts)) == ["198.51.100.6", "198.51.100.7", "198.51.100.8",
                                                        "198.51.100.9", "2001:db8::5"]


PG_TIMER = "/etc/systemd/system/pg-backup.service:ExecStart=/usr/bin/pg_dumpall -f /backup/all.sql\n"
#: ``systemctl list-timers --all --no-legend`` rows (systemd 252, Debian 12): scheduled / not started.
SCHEDULED = ("Fri 2026-12-04 02:15:00 UTC 15h left Thu 2026-12-03 02:15:00 UTC 8h ago "
             "pg-backup.timer pg-backup.service\n")
INACTIVE = ("-                           -         -                           -       "
            "pg-backup.timer pg-backup.service\n")


def _crontabs(vm: HostFacts, timers: str, list_timers: str | None) -> HostFacts:
    text = (vm.sections["crontabs"].output.decode().replace("## timers\n", "## timers\n" + timers)
            + (f"## list-timers\n{list_timers}" if list_timers is not None else ""))
    return with_text(vm, "crontabs", text)


def test_a_systemd_timer_backup_counts(vm: HostFacts) -> None:
    """No cron line; a timer's service runs pg_dumpall. Without systemd as PID 1 (the lab,
    a container) the unit files are the evidence; with it, only a scheduled timer counts."""
    assert judge(hp.test_backups, "L3-CES1-29.host", vm).status is Status.FAIL
    v = judge(hp.test_backups, "L3-CES1-29.host", _crontabs(vm, PG_TIMER, None))
    assert v.status is Status.PASS and v.observed["jobs"][0].startswith("/etc/systemd/system/pg-backup.service")
    assert judge(hp.test_backups, "L3-CES1-29.host", _crontabs(vm, PG_TIMER, SCHEDULED)).status is Status.PASS
    assert judge(hp.test_backups, "L3-CES1-29.host", _crontabs(vm, PG_TIMER, INACTIVE)).status is Status.FAIL
    assert judge(hp.test_backups, "L3-CES1-29.host", _crontabs(vm, PG_TIMER, "")).status is Status.FAIL


def test_a_backup_agent_process_counts(vm: HostFacts) -> None:
    """IBM Storage Protect's scheduler daemon: jobs are scheduled on the backup server."""
    procs = vm.sections["processes"].output.decode() + "  999 root     dsmcad          /usr/bin/dsmcad\n"
    v = judge(hp.test_backups, "L3-CES1-29.host", with_text(vm, "processes", procs))
    assert v.status is Status.PASS and v.observed["jobs"] == ["agent process dsmcad"]


def test_firewalld_default_zone_is_a_default_deny_firewall(vm: HostFacts) -> None:
    """firewalld keeps ``policy accept`` and rejects at the end of its input chain: the stock
    public zone is a default-deny firewall, not "no firewall". With SSH limited by a rich rule
    to the administrators' network, host.mgmt_access passes on the firewall; with the stock
    ``ssh`` service (open to all) it does not."""
    from ihconform.facts.host import input_default_deny

    stock = (STOCK / "firewalld-public.txt").read_text()
    assert input_default_deny(stock)
    tail = "\t}\n\n\tchain filter_IN_public_pre"
    accept_zone = stock.replace("\t\treject with icmpx admin-prohibited\n" + tail, "\t\taccept\n" + tail)
    assert not input_default_deny(accept_zone)  # zone target ACCEPT
    assert not input_default_deny("## nft\n## iptables\n")  # no firewall at all
    # policy drop, but an any-any accept first (or in a chain it jumps to): nothing is refused
    drop = "## nft\ntable inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n"
    assert input_default_deny(drop + "\t\tiif \"lo\" accept\n\t\ttcp dport 22 accept\n\t}\n}\n")
    assert not input_default_deny(drop + "\t\tcounter packets 12 bytes 900 accept\n\t\ttcp dport 22 accept\n\t}\n}\n")
    assert not input_default_deny(drop + "\t\tjump allow\n\t}\n\tchain allow {\n\t\taccept\n\t}\n}\n")
    assert input_default_deny(drop + "\t\tjump allow\n\t}\n\tchain allow {\n\t\tip saddr 10.0.0.0/8 accept\n\t}\n}\n")
    assert not input_default_deny("## nft\n## iptables\n*filter\n:INPUT DROP [0:0]\n-A INPUT -j ACCEPT\n"
                                  "-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n")
    assert input_default_deny("## nft\n## iptables\n*filter\n:INPUT ACCEPT [0:0]\n"
                              "-A INPUT -p tcp --dport 22 -j ACCEPT\n"
                              "-A INPUT -j REJECT --reject-with icmp-host-prohibited\nCOMMIT\n")
    rich = stock.replace("\t\ttcp dport 22 ct state { new, untracked } accept\n",
                         "\t\tip saddr 198.51.100.0/25 tcp dport 22 ct state { new, untracked } accept\n")
    # the lab's db01 sshd with its own address limits taken out: only the firewall can limit
    db01 = load_dir(HERE / "lab" / "db01", "db01")
    sshd = "\n".join(ln for ln in db01.sections["sshd"].output.decode().splitlines()
                     if not ln.startswith(("allowusers", "listenaddress"))) + "\nlistenaddress 0.0.0.0:22\n"
    open_sshd = with_text(db01, "sshd", sshd)
    v = judge(hp.test_mgmt_access, "L3-CES1-19", with_text(open_sshd, "firewall", rich))
    assert v.status is Status.PASS and v.observed["met_by"] == ["firewall source on SSH port"]
    assert judge(hp.test_mgmt_access, "L3-CES1-19", with_text(open_sshd, "firewall", stock)).status is Status.FAIL
    # the same restricted rule behind an any-any accept in the zone's allow chain restricts nothing
    behind_any = rich.replace("\t\tip saddr 198.51.100.0/25 tcp dport 22",
                              "\t\tcounter accept\n\t\tip saddr 198.51.100.0/25 tcp dport 22")
    assert behind_any != rich and not input_default_deny(behind_any)
    assert judge(hp.test_mgmt_access, "L3-CES1-19", with_text(open_sshd, "firewall", behind_any)).status is Status.FAIL


def test_syslog_514_on_the_declared_log_host_is_not_a_high_risk_port(vm: HostFacts) -> None:
    """rsyslog receiving on udp/514 (imudp) is the central log host's job, not rsh."""
    listen = "udp   UNCONN 0      0            0.0.0.0:514        0.0.0.0:*    users:((\"rsyslogd\",pid=411,fd=6))\n"
    facts = with_text(vm, "listen", listen)
    assert judge(hp.test_high_risk_ports, "L3-CES1-18", facts).status is Status.FAIL  # an ordinary host
    log_host = Host(id="vm", address="127.0.0.1", connection="local", roles=("log",))
    check = Check(PROFILE.control("L3-CES1-18"), Obj(ObjectType.HOST_OS, "vm", "vm", log_host), inventory())
    hp.test_high_risk_ports(check, HostView(facts))
    assert check.verdict is not None and check.verdict.status is Status.PASS
    assert check.verdict.observed["allowed_for_role"] == [514]
