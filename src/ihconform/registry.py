"""The explicit registry of probes: probe id -> "module:function".

A profile's ``auto`` control names its probe by id. The registry is the one list of what
exists; ``tests/unit/test_registry.py`` imports every entry, checks that the function
carries the same id, and that every probe named by a shipped profile is here. Users add
their own probes with ``ihconform run --probes DIR``: functions decorated with
:func:`probe` in those files extend the registry for that run.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])

PROBES: dict[str, str] = {
    # generic judges for controls that are not probed on the network
    "attest.document": "ihconform.probes.evidence:test_attested",
    "manual.judgement": "ihconform.probes.evidence:test_manual",
    "mlps.assessment": "ihconform.probes.evidence:test_mlps_assessment",
    # 附录1 四(一), 等保 8.1.1.9 power: Redfish, NUT, and readings combined with documents
    "power.redfish": "ihconform.probes.power:test_redfish",
    "power.ups": "ihconform.probes.power:test_ups",
    "power.ipmi": "ihconform.probes.power:test_ipmi",
    "power.dual_supply": "ihconform.probes.power:test_dual_supply",
    # 附录1 四(一) servers and roles (site-wide)
    "servers.count": "ihconform.probes.servers:test_server_count",
    "servers.role_separation": "ihconform.probes.servers:test_role_separation",
    "servers.app_redundancy": "ihconform.probes.servers:test_app_redundancy",
    # level-3 host controls
    "host.identities": "ihconform.probes.host:test_identities",
    "host.password_quality": "ihconform.probes.host:test_password_quality",
    "host.password_ageing": "ihconform.probes.host:test_password_ageing",
    "host.login_lockout": "ihconform.probes.host:test_login_lockout",
    "host.idle_timeout": "ihconform.probes.host:test_idle_timeout",
    "host.remote_admin": "ihconform.probes.host:test_remote_admin",
    "host.default_accounts": "ihconform.probes.host:test_default_accounts",
    "host.log_retention": "ihconform.probes.host:test_log_retention",
    "host.password_hash": "ihconform.probes.host:test_password_hash",
    "host.high_risk_ports": "ihconform.probes.host:test_high_risk_ports",
    "host.mfa": "ihconform.probes.host:test_mfa",
    "host.sudoers": "ihconform.probes.host:test_sudoers",
    "host.file_permissions": "ihconform.probes.host:test_file_permissions",
    "host.mac": "ihconform.probes.host:test_mac",
    "host.audit": "ihconform.probes.host:test_audit",
    "host.audit_protection": "ihconform.probes.host:test_audit_protection",
    "host.time_sync": "ihconform.probes.host:test_time_sync",
    "host.log_forwarding": "ihconform.probes.host:test_log_forwarding",
    "host.mgmt_access": "ihconform.probes.host:test_mgmt_access",
    "host.intrusion_detection": "ihconform.probes.host:test_intrusion_detection",
    "host.anti_malware": "ihconform.probes.host:test_anti_malware",
    "host.security_updates": "ihconform.probes.host:test_security_updates",
    "host.backups": "ihconform.probes.host:test_backups",
    "host.minimal_services": "ihconform.probes.host:test_minimal_services",
    # Windows Server hosts (facts/windows.py; the neutral controls are judged by the host. probes)
    "windows.accounts": "ihconform.probes.windows:test_accounts",
    "windows.default_accounts": "ihconform.probes.windows:test_default_accounts",
    "windows.audit_policy": "ihconform.probes.windows:test_audit_policy",
    "windows.event_logs": "ihconform.probes.windows:test_event_logs",
    "windows.rdp": "ihconform.probes.windows:test_rdp",
    "windows.services": "ihconform.probes.windows:test_services",
    "windows.updates": "ihconform.probes.windows:test_updates",
    "windows.anti_malware": "ihconform.probes.windows:test_anti_malware",
    "windows.mssql_logins": "ihconform.probes.windows:test_mssql_logins",
    "windows.mssql_sa": "ihconform.probes.windows:test_mssql_sa",
    "windows.mssql_audit": "ihconform.probes.windows:test_mssql_audit",
    # databases (PostgreSQL, MySQL/MariaDB; 达梦/金仓 report 未检查 until their builders land)
    "db.accounts": "ihconform.probes.db:test_accounts",
    "db.password_encryption": "ihconform.probes.db:test_password_encryption",
    "db.idle_lockout": "ihconform.probes.db:test_idle_lockout",
    "db.tls": "ihconform.probes.db:test_tls",
    "db.hba": "ihconform.probes.db:test_hba",
    "db.audit": "ihconform.probes.db:test_audit",
    "db.superusers": "ihconform.probes.db:test_superusers",
    "db.backup": "ihconform.probes.db:test_backup",
    "db.app_audit_retention": "ihconform.probes.db:test_app_audit_retention",
    "db.offsite_realtime": "ihconform.probes.db:test_offsite_realtime",
    # web servers (nginx; Tomcat best effort)
    "web.hardening": "ihconform.probes.web:test_hardening",
    "web.tls_config": "ihconform.probes.web:test_tls_config",
    "web.logging": "ihconform.probes.web:test_logging",
    "web.worker_user": "ihconform.probes.web:test_worker_user",
    "mw.hardening": "ihconform.probes.middleware:test_hardening",
    "mw.tls": "ihconform.probes.middleware:test_tls",
    "mw.logging": "ihconform.probes.middleware:test_logging",
    "mw.run_user": "ihconform.probes.middleware:test_run_user",
    # network probes (issue 5): TLS and 国密, exposure, uplinks, AV, platform line, clinical
    "tls.protocols": "ihconform.probes.tls:test_protocols",
    "tls.cipher_suites": "ihconform.probes.tls:test_cipher_suites",
    "tls.certificate": "ihconform.probes.tls:test_certificate",
    "tls.hsts": "ihconform.probes.tls:test_hsts",
    "tls.mozilla": "ihconform.probes.tls:test_mozilla",
    "tls.gm": "ihconform.probes.tls:test_gm",
    "tls.database": "ihconform.probes.tls:test_database",
    "exposure.open_ports": "ihconform.probes.exposure:test_open_ports",
    "uplink.bandwidth": "ihconform.probes.uplink:test_bandwidth",
    "uplink.path": "ihconform.probes.uplink:test_path",
    "uplink.distinct_isps": "ihconform.probes.uplink:test_distinct_isps",
    "av.system": "ihconform.probes.av:test_system",
    "av.independence": "ihconform.probes.av:test_independence",
    "platform.dedicated_line": "ihconform.probes.platform:test_dedicated_line",
    "clinical.interface": "ihconform.probes.clinical:test_interface",
    # network and security devices (issue 15): online over netmiko or from exported configurations
    "device.mgmt_protocols": "ihconform.probes.devices:test_mgmt_protocols",
    "device.mgmt_acl": "ihconform.probes.devices:test_mgmt_acl",
    "device.admin_auth": "ihconform.probes.devices:test_admin_auth",
    "device.monitoring": "ihconform.probes.devices:test_monitoring",
    "device.default_deny": "ihconform.probes.devices:test_default_deny",
    "device.rule_set": "ihconform.probes.devices:test_rule_set",
    "device.five_tuple": "ihconform.probes.devices:test_five_tuple",
    "device.stateful": "ihconform.probes.devices:test_stateful",
    "device.security_profiles": "ihconform.probes.devices:test_security_profiles",
    "device.audit": "ihconform.probes.devices:test_audit",
    "device.log_host": "ihconform.probes.devices:test_log_host",
    "device.zones": "ihconform.probes.devices:test_zones",
    "device.redundancy": "ihconform.probes.devices:test_redundancy",
}

#: Attributes set on a probe function by :func:`probe`.
PROBE_ATTR = "ihc_probe"
FACTS_ATTR = "ihc_facts"
PARTS_ATTR = "ihc_parts"


def probe(probe_id: str, facts: tuple[str, ...] | None = None,
          parts: tuple[str, ...] | None = None) -> Callable[[F], F]:
    """Mark a pytest test function as the probe ``probe_id``.

    ``facts`` names the host fact sections it reads, so a run gathers only what its planned
    probes need (``None``: every section, the safe default for users' own probes).
    ``parts`` names the fixed sub-checks a multi-part probe can give to ``judge_parts``, also
    those it gives only when a component is present (nginx parts on a Tomcat-only host): a
    profile may mark any of them decisive (``Control.decisive``).

    >>> @probe("host.password_ageing", facts=("passwd", "shadow", "login_defs"))
    ... def test_password_ageing(check, host): ...
    """

    def mark(fn: F) -> F:
        setattr(fn, PROBE_ATTR, probe_id)
        setattr(fn, FACTS_ATTR, facts)
        setattr(fn, PARTS_ATTR, parts)
        return fn

    return mark


def facts_needed(probe_ids: Iterable[str]) -> set[str] | None:
    """Union of the fact sections the given probes read; None means all sections."""
    needed: set[str] = set()
    for pid in probe_ids:
        if pid not in PROBES:
            return None  # a user's probe: gather everything
        facts = getattr(probe_function(pid), FACTS_ATTR, None)
        if facts is None:
            return None
        needed.update(facts)
    return needed


def declared_parts(probe_id: str | None) -> frozenset[str] | None:
    """The sub-check names a built-in probe declares (``probe(parts=...)``); None when it
    declares none or is not a built-in probe."""
    if probe_id is None or probe_id not in PROBES:
        return None
    parts = getattr(probe_function(probe_id), PARTS_ATTR, None)
    return frozenset(parts) if parts is not None else None


def probe_function(probe_id: str) -> Callable[..., object]:
    """Import the registered function for ``probe_id`` (KeyError if unknown)."""
    module, _, name = PROBES[probe_id].partition(":")
    fn = getattr(importlib.import_module(module), name)
    if getattr(fn, PROBE_ATTR, None) != probe_id:
        raise LookupError(f"{PROBES[probe_id]} is not decorated with @probe({probe_id!r})")
    return fn  # type: ignore[no-any-return]


def builtin_probe_files(probe_ids: Collection[str] | None = None) -> list[Path]:
    """The module files that hold the built-in probes, for the pytest session to collect: all of
    them, or those holding ``probe_ids`` (a run's plan: a module none of whose probes judges
    anything in the run is neither imported nor collected; ids that are not built in are
    ignored, a user's probes come from their own files)."""
    files: dict[str, Path] = {}
    for probe_id, target in PROBES.items():
        if probe_ids is not None and probe_id not in probe_ids:
            continue
        module = target.partition(":")[0]
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise LookupError(f"probe module {module} not found")
        files[module] = Path(spec.origin)
    return sorted(files.values())


def user_probe_ids(paths: list[Path]) -> set[str]:
    """Probe ids declared in user probe files (scanned as text, not imported, for validate)."""
    import re

    found: set[str] = set()
    pat = re.compile(r"@(?:\w+\.)?probe\(\s*['\"]([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+)['\"]\s*[,)]")
    for p in paths:
        files = sorted(p.rglob("*.py")) if p.is_dir() else [p]
        for f in files:
            found.update(pat.findall(f.read_text(encoding="utf-8", errors="replace")))
    return found

