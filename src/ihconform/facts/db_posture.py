"""The engine-neutral security posture of a database instance, derived from each engine's own views.

Why: Oracle's ``dba_profiles``, SQL Server's ``sys.sql_logins``, DM's ``V$DM_INI`` and
KingbaseES's ``passwordcheck.*`` answer the same 8.1.4 questions in different words. Each engine
module reduces its complete result sets to this one model; the database probes judge the model
against the profile's thresholds. A value the engine does not expose is ``None`` with the reason
in ``unreadable``, so the probe can say 未检查/检查错误 instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DbAccount:
    name: str
    can_login: bool  # open and not locked/disabled
    has_password: bool | None  # None: the engine does not say (e.g. OS/Windows authentication)
    default_password: bool = False  # still the vendor's documented default password
    superuser: bool = False  # DBA role / sysadmin / SYSDBA
    policy_enforced: bool | None = None  # the account is under the engine's password policy


@dataclass(frozen=True)
class DbPosture:
    engine: str
    version: str
    accounts: tuple[DbAccount, ...]
    #: password complexity enforced by the engine (verify function, passwordcheck, PWD_POLICY bits)
    complexity: bool | None
    min_length: int | None
    #: consecutive failed logins before the account locks; None/0: no limit
    max_failed_logins: int | None
    #: idle session time-out in seconds; None: none set (unlimited) or not an engine feature
    idle_timeout_s: int | None
    idle_supported: bool
    audit_on: bool
    audit_detail: dict[str, object]
    #: TLS/network encryption required for every remote session; None: not readable here
    tls_required: bool | None
    tls_detail: dict[str, object]
    #: privilege settings that defeat least privilege (xp_cmdshell on, O7_DICTIONARY_ACCESSIBILITY)
    privilege_findings: tuple[str, ...] = ()
    #: accounts whose stored hash is a weak scheme; None: not readable for this engine
    weak_hash_accounts: tuple[str, ...] | None = None
    unreadable: dict[str, str] = field(default_factory=dict)  # fact -> why it is not read

    @property
    def superusers(self) -> tuple[str, ...]:
        return tuple(sorted(a.name for a in self.accounts if a.superuser and a.can_login))
