"""Backups as a host shows them: scheduled jobs that run a backup tool, running backup
agents, and the age of the newest file in the conventional backup directories. Observers
only (the tool and agent names and the age limit are the profile's); host.backups and
db.backups judge them."""

from __future__ import annotations

import re

from ihconform.errors import FactUnavailable
from ihconform.facts.host import BACKUP_DIRS, HostView


def backup_jobs(host: HostView, patterns: list[str]) -> list[str]:
    """Scheduled jobs (crontab lines, timer ExecStart) that run one of the backup tools. A
    timer-started service counts only if ``systemctl list-timers`` schedules it, when that
    list exists (systemd as PID 1); otherwise its unit files are the evidence."""
    if not patterns:
        return []
    tool = re.compile(rf"(^|[\s/=])(?:{'|'.join(re.escape(p) for p in patterns)})(\s|$|;|\")")
    scheduled = host.scheduled_timer_services
    out = set()
    for path, line in host.cron_lines:
        if path.endswith(".service") and scheduled is not None and path.rsplit("/", 1)[-1] not in scheduled:
            continue  # a timer unit on disk that is not enabled runs nothing
        if tool.search(line):
            out.add(f"{path}: {line[:160]}")
    return sorted(out)


def backup_agents(host: HostView, names: list[str]) -> list[str]:
    """Backup agents running on the host (enterprise backup software schedules its jobs on
    its own server, so no crontab or timer shows them): ``agent_processes`` of the profile."""
    return [f"agent process {n}" for n in host.running(names)]


def backup_ages_h(host: HostView, paths: list[str]) -> dict[str, float | None]:
    """Hours since the newest file under each of ``paths`` (None: empty or missing)."""
    unknown = [p for p in paths if p not in BACKUP_DIRS]
    if unknown:
        raise FactUnavailable(f"backup_paths {unknown} are not among the gathered backup directories "
                              f"({', '.join(BACKUP_DIRS)})")
    newest: dict[str, float | None] = {}
    for line in host.facts.lines("backup_files"):
        f = line.split(None, 3)
        if len(f) >= 3 and f[0] == "DIR":
            newest[f[1]] = float(f[2]) if f[2] != "EMPTY" else None
    out: dict[str, float | None] = {}
    for p in paths:
        ts = newest.get(p)
        out[p] = round((host.now - ts) / 3600, 1) if ts is not None else None
    return out
