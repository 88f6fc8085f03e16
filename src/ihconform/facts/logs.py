"""What a Linux host's logging configuration says: where logs are forwarded, how long
logrotate keeps them. Parsers only (the thresholds and verdicts are the probes'); they read
the ``syslog_conf`` and ``logrotate`` sections as the daemons load them (see ``_SYSLOG`` in
:mod:`ihconform.facts.host`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ihconform.facts.host import HostView, kv, split_sections

_PERIOD_DAYS = {"daily": 1, "weekly": 7, "monthly": 30, "yearly": 365}


def logrotate_retention(text: str, logs: list[str]) -> dict[str, int | None]:
    """Days each of ``logs`` is kept by logrotate: ``rotate`` x period (or ``maxage``).
    Returns None for a log no stanza covers. Globals apply where a stanza does not override."""
    glob_rotate, glob_period, glob_maxage = None, 7, None
    stanzas: list[tuple[list[str], dict[str, int]]] = []
    depth, current_files, current = 0, [], {}  # type: ignore[var-annotated]
    pending: list[str] = []  # Debian lists a stanza's files on lines of their own before "{"
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("## "):
            continue
        if line.endswith("{"):
            current_files = pending + line[:-1].split()
            pending = []
            current, depth = {}, 1
            continue
        if not depth and line.startswith(("/", '"')):
            pending.extend(w.strip('"') for w in line.split())
            continue
        if line == "}":
            if depth:
                stanzas.append((current_files, current))
            depth = 0
            continue
        words = line.split()
        target = current if depth else None
        if words[0] == "rotate" and len(words) > 1 and words[1].isdigit():
            if target is not None:
                target["rotate"] = int(words[1])
            else:
                glob_rotate = int(words[1])
        elif words[0] in _PERIOD_DAYS:
            if target is not None:
                target["period"] = _PERIOD_DAYS[words[0]]
            else:
                glob_period = _PERIOD_DAYS[words[0]]
        elif words[0] == "maxage" and len(words) > 1 and words[1].isdigit():
            if target is not None:
                target["maxage"] = int(words[1])
            else:
                glob_maxage = int(words[1])
    out: dict[str, int | None] = {}
    for log in logs:
        days: int | None = None
        for files, st in stanzas:
            if log in files:
                rotate = st.get("rotate", glob_rotate)
                period = st.get("period", glob_period)
                days = rotate * period if rotate is not None else None
                maxage = st.get("maxage", glob_maxage)
                if days is not None and maxage is not None:
                    days = min(days, maxage)
        out[log] = days
    return out


#: A line that forwards logs, and what kind of rule it is.
FWD_PATTERNS = (
    (re.compile(r"^[^#]*\s@@\(?[^\s:]*\)?[\w.\-\[\]:]+"), "rsyslog TCP (@@)"),
    (re.compile(r"^[^#]*\s@(?!@)[\w.\-\[\]:]+"), "rsyslog UDP (@)"),
    (re.compile(r"type\s*=\s*\"omfwd\"", re.I), "rsyslog omfwd"),
    (re.compile(r"type\s*=\s*\"omrelp\"", re.I), "rsyslog RELP"),
    (re.compile(r"^\s*destination\s+\S+\s*\{\s*(network|tcp|udp|syslog)\s*\(", re.I), "syslog-ng network"),
)

#: Where a forwarding line sends to: rsyslog ``@@host:port`` / ``@host``, ``target="host"``,
#: syslog-ng ``network("host"``/``tcp(``/``udp(``/``syslog(``, a journal-upload URL.
FWD_TARGETS = (
    re.compile(r"\s@@?(?:\([^)]*\))?\[?([\w.\-:]+?)\]?(?::\d+)?(?:;|\s|$)"),
    re.compile(r"target\s*=\s*\"([^\"]+)\"", re.I),
    re.compile(r"(?:network|tcp|udp|syslog)\s*\(\s*\"?([\w.\-:]+)", re.I),
)


@dataclass(frozen=True)
class ForwardRule:
    """One configuration line that sends logs away (``file`` "" where the output had no file header)."""

    kind: str
    file: str
    line: str
    target: str | None  # the destination host, where the line names it

    def describe(self) -> str:
        where = f" ({self.file})" if self.file else ""
        return f"{self.kind}{where}: {self.line.strip()[:120]}"


def forward_rules(syslog_conf: str) -> list[ForwardRule]:
    """Every forwarding line of the files rsyslog and syslog-ng load (the ``syslog_conf``
    section: one ``## rsyslog <file>`` / ``## syslog-ng <file>`` group per loaded file)."""
    out: list[ForwardRule] = []
    for name, lines in split_sections(syslog_conf).items():
        if name and not name.startswith(("rsyslog ", "syslog-ng ")):
            continue
        file = name.split(None, 1)[1] if name else ""
        for line in lines:
            kind = next((k for pat, k in FWD_PATTERNS if pat.search(" " + line)), None)
            if kind is None:
                continue
            target = next((m.group(1) for pat in FWD_TARGETS for m in [pat.search(" " + line)] if m), None)
            out.append(ForwardRule(kind, file, line, target))
    return out


def journal_upload_url(syslog_conf: str) -> str:
    """systemd-journal-upload's ``URL=`` ("" when it is not configured)."""
    return kv("\n".join(split_sections(syslog_conf).get("journal-upload", [])), sep="=").get("URL", "")


def url_host(url: str) -> str:
    return re.sub(r"^\w+://|[:/].*$", "", url)


def log_forward_targets(host: HostView) -> list[str]:
    """Remote destinations the host's syslog / journald configuration sends logs to."""
    text = host.facts.text("syslog_conf")
    out = [r.target for r in forward_rules(text) if r.target]
    url = journal_upload_url(text)
    if url:
        out.append(url_host(url))
    return sorted(set(out))
