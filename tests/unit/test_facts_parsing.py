"""Fact sections and their parsers: quoting, which host carries what, and parsing of
recorded outputs."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from ihconform.errors import FactUnavailable
from ihconform.facts import db as fdb
from ihconform.facts.host import HOST_SECTIONS, parse_modes, split_sections
from ihconform.facts.sections import known_fact_names, sections_for
from ihconform.facts.web import WEB_SECTIONS, parse_nginx, parse_nginx_dump, servers
from ihconform.inventory import Database, Host
from ihconform.probes.host import pending_security_updates
from tests.fixtures.facts.factsfix import HERE, LAB, LAB_DBS


def test_every_section_is_valid_posix_sh() -> None:
    # dash is Debian's /bin/sh: the strictest POSIX shell the targets have
    sections = HOST_SECTIONS + WEB_SECTIONS + [s for d in LAB_DBS for s in fdb.database_sections(d, None)]
    for s in sections:
        res = subprocess.run(["dash", "-n", "-c", s.command], capture_output=True, text=True)
        assert res.returncode == 0, (s.name, res.stderr)


def test_database_sections_only_on_their_host_and_web_only_on_app_hosts() -> None:
    per_host = {h: {s.name for s in secs} for h, secs in sections_for(LAB).items()}
    assert {"db.pg-db01", "db.mariadb-db01"} <= per_host["db01"]
    assert not any(n.startswith("db.") for n in per_host["app01"] | per_host["bastion"])
    assert {"nginx", "tomcat"} <= per_host["app01"]
    assert not ({"nginx", "tomcat"} & (per_host["db01"] | per_host["bastion"]))


def test_only_needed_sections_are_gathered() -> None:
    secs = sections_for(LAB, {"sshd", "db"})
    assert {s.name for s in secs["db01"]} == {"sshd", "db.pg-db01", "db.mariadb-db01"}
    assert {s.name for s in secs["app01"]} == {"sshd"}
    with_audit = LAB.model_copy(update={"databases": (LAB_DBS[0].model_copy(
        update={"audit_table": "his.public.audit_log"}),)})
    assert {s.name for s in sections_for(with_audit, {"dbaudit"})["db01"]} == {"dbaudit.pg-db01"}
    assert "dbaudit" in known_fact_names() and "db" in known_fact_names()


def test_database_arguments_are_quoted() -> None:
    # a hostile socket path or OS account never escapes its argument
    evil = Database(id="pg9", host="db01", engine="postgresql", port=5432, socket="/tmp/x'; touch /tmp/pwned; '",
                    admin_user="postgres")
    cmd = fdb.database_sections(evil, None)[0].command
    argv = shlex.split(cmd.removeprefix("cd / && "))
    assert argv[:4] == ["runuser", "-u", "postgres", "--"]
    assert argv[argv.index("-h") + 1] == "/tmp/x'; touch /tmp/pwned; '"
    sql = [argv[i + 1] for i, a in enumerate(argv) if a == "-c"]
    assert sql[0] == "SELECT '## settings'" and sql[1].startswith("SELECT name, setting FROM pg_settings")
    my = Database(id="m9", host="db01", engine="mysql", port=3306, socket="/run/my sql/$(id).sock")
    assert "'/run/my sql/$(id).sock'" in fdb.database_sections(my, None)[0].command


def test_audit_table_names_are_identifiers_only() -> None:
    bad = LAB_DBS[0].model_copy(update={"audit_table": "his.public.audit; DROP TABLE x"})
    assert fdb.database_sections(bad, {"dbaudit"}) == []
    ok = LAB_DBS[1].model_copy(update={"audit_table": "his.audit_log"})
    (sec,) = fdb.database_sections(ok, {"dbaudit"})
    assert "`his`.`audit_log`" in sec.command and "SET SESSION TRANSACTION READ ONLY" in sec.command


def test_queries_are_read_only() -> None:
    for d in LAB_DBS:
        cmd = fdb.database_sections(d, None)[0].command
        assert "default_transaction_read_only=on" in cmd or "TRANSACTION READ ONLY" in cmd


def test_parse_postgresql_lab_output() -> None:
    f = fdb.parse_pg((HERE / "lab" / "db01" / "db.pg-db01.txt").read_text(), "pg")
    assert f.settings["ssl"] == "on" and f.settings["password_encryption"] == "scram-sha-256"
    assert all(r.type in ("local", "hostssl") for r in f.hba)
    assert not any(r.password == "MD5" for r in f.roles)
    assert "|" not in "".join(r.password for r in f.roles)  # schemes only, never hashes


def test_parse_mariadb_output_never_carries_hashes() -> None:
    raw = (HERE / "db" / "hardened" / "db.my1.txt").read_text()
    f = fdb.parse_my(raw, "my")
    assert {u.auth for u in f.users} <= {"EMPTY", "INVALID", "SET"}
    assert f.plugins["server_audit"] == "ACTIVE"


def test_missing_part_is_an_error() -> None:
    with pytest.raises(FactUnavailable, match="no 'settings' part"):
        fdb.parse_pg("psql: error: connection refused\n", "pg")


def test_modes_and_absent_files() -> None:
    present, absent = parse_modes((HERE / "host" / "debian12-vm" / "file_modes.txt").read_text().splitlines())
    assert present["/etc/shadow"].mode == 0o640 and present["/etc/shadow"].group == "shadow"
    assert "/boot/grub/grub.cfg" in absent


def test_split_sections() -> None:
    groups = split_sections((HERE / "lab" / "db01" / "auditd.txt").read_text())
    assert set(groups) >= {"status", "loaded", "files", "logfile"}
    assert any(line.endswith("-e 2") for line in groups["files"])


def test_nginx_includes_are_resolved_in_order() -> None:
    root = parse_nginx_dump((HERE / "web" / "nginx-hardened.txt").read_text().split("## dump\n", 1)[1])
    srvs = servers(root)
    assert [s.label for s in srvs] == ["app.example (18080) in /tmp/ihcweb/conf.d/app.conf",
                                        "app.example (18443) in /tmp/ihcweb/conf.d/app.conf"]
    assert srvs[1].settings["ssl_protocols"] == ["TLSv1.2", "TLSv1.3"]  # inherited from http{}
    assert srvs[1].ssl and not srvs[0].ssl


def test_nginx_running_master_and_version() -> None:
    f = parse_nginx((HERE / "web" / "nginx-lab-app01.txt").read_text(), "app01")
    assert f.running and f.version == (1, 22, 1)
    assert " -c " in f.master


def test_nginx_failed_test_is_an_error() -> None:
    with pytest.raises(FactUnavailable):
        parse_nginx("## master\nnone\n## version\nnginx version: nginx/1.22.1\n", "h")


def test_pending_security_updates_from_apt() -> None:
    text = (HERE / "host" / "debian12-vm" / "packages_upgradable.txt").read_text()
    manager, rc, pending = pending_security_updates(text)
    assert manager == "apt" and rc == 0
    security = [ln for ln in text.splitlines() if ln.startswith("Inst ") and "-security" in ln.lower()]
    assert len(pending) == len(security)


def test_apt_list_and_the_upgrade_simulation_find_the_same_security_updates() -> None:
    """``apt list --upgradable`` (the section's first choice, a third of the simulation's time)
    and ``apt-get -s upgrade`` (its fallback), captured on one Debian 12 machine at one moment
    (tests/fixtures/apt/), name the same pending security updates."""
    listed = pending_security_updates((HERE.parent / "apt" / "list.txt").read_text())
    simulated = pending_security_updates((HERE.parent / "apt" / "simulate.txt").read_text())
    assert listed[:2] == simulated[:2] == ("apt", 0)
    assert len(listed[2]) == 68 and sorted(listed[2]) == sorted(simulated[2])
    assert "apt-transport-https 2.6.2" in listed[2]
    assert not any(p.startswith("appstream ") for p in listed[2])  # oldstable, not -security


def test_host_objects_are_frozen_inventory() -> None:
    assert isinstance(LAB.host("db01"), Host)
