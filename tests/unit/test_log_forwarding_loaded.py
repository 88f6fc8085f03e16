"""Log forwarding judged from the files the daemon loads: the real ``syslog_conf`` command run
on a folder tree shaped like /etc, then the real probe on its output."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ihconform.facts.host import _SYSLOG, HostView
from ihconform.probes import host as hp
from ihconform.results import Status
from tests.fixtures.facts.factsfix import HERE, host_check, load_dir, text, with_text

RSYSLOG_RUNNING = "  997 root     rsyslogd        /usr/sbin/rsyslogd -n -iNONE\n"


def gathered(root: Path) -> str:
    """The section's output with /etc moved under ``root`` (the command itself, unchanged otherwise)."""
    cmd = _SYSLOG.replace("/etc/", f"{root}/etc/")
    return subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=30, check=True).stdout


def judge(tmp_path: Path, main: str) -> tuple[Status, dict[str, object]]:
    etc = tmp_path / "etc"
    (etc / "rsyslog.d").mkdir(parents=True, exist_ok=True)
    (etc / "rsyslog.conf").write_text(main.replace("/etc/", f"{tmp_path}/etc/"))
    (etc / "rsyslog.d" / "50-fwd.conf").write_text("# to the log host\n*.* @@198.51.100.1:514\n")
    db01 = load_dir(HERE / "lab" / "db01", "db01")
    facts = with_text(with_text(db01, "syslog_conf", gathered(tmp_path)), "processes",
                      text(db01, "processes") + RSYSLOG_RUNNING)
    check = host_check("host.log_forwarding", "db01")
    hp.test_log_forwarding(check, HostView(facts))
    assert check.verdict is not None
    return check.verdict.status, check.verdict.observed


def test_forwarding_in_an_included_file_counts(tmp_path: Path) -> None:
    status, observed = judge(tmp_path, 'module(load="imuxsock")\n$IncludeConfig /etc/rsyslog.d/*.conf\n')
    assert status is Status.PASS
    fwd = f"{tmp_path}/etc/rsyslog.d/50-fwd.conf"
    assert observed["forwarding"] == [f"rsyslog TCP (@@) ({fwd}): *.* @@198.51.100.1:514"]


def test_include_statement_form_counts(tmp_path: Path) -> None:
    status, _ = judge(tmp_path, 'include(file="/etc/rsyslog.d/*.conf" mode="optional")\n')
    assert status is Status.PASS


def test_a_forwarding_file_nothing_includes_forwards_nothing(tmp_path: Path) -> None:
    # the old reading (cat of every rsyslog.d file) credited this; rsyslogd never reads it
    status, observed = judge(tmp_path, 'module(load="imuxsock")\n*.* /var/log/syslog\n')
    # rsyslogd runs, but its loaded configuration names no remote target: it forwards nothing
    assert status is Status.FAIL and observed["forwarding"] == [] and observed["running"] == []
    assert observed["config_files_loaded"] == [f"{tmp_path}/etc/rsyslog.conf"]
