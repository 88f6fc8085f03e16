"""The shipped control catalog (``src/ihconform/profiles/*.yaml``) is complete and consistent.

These tests read the catalog as data: they load every built-in profile, check the ids, the
probes and their parameters, the coverage of the clauses each profile promises, and that the
requirement text of the Chongqing and NHC controls is quoted verbatim from the regulation.
"""

from __future__ import annotations

import inspect
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from ihconform.catalog import DEFAULT_PROFILE, builtin_profiles, load_profile
from ihconform.data.mlps_units import mlps_l3_units
from ihconform.errors import ConfigError
from ihconform.profile import Control, Method, ObjectType, Profile
from ihconform.registry import PROBES, probe_function

SHIPPED = ("cq-ih-basic-2023", "nhc-ih-supervision-2022", "mlps-l3", "annual-normative-test", "mlps-l3-management",
           "mlps-l3-cloud", "cryptography-l3")

#: The parameters each probe reads from its control (docs/catalog.md, "Probes and parameters"),
#: with the type of value it expects.
PROBE_PARAMS: dict[str, dict[str, type]] = {
    # network devices (issue 15)
    "device.mgmt_protocols": {"weak_communities": list, "allow_snmp_v2c": bool, "telnet_ports": list,
                              "http_ports": list},
    "device.mgmt_acl": {},
    "device.admin_auth": {"auth_modes": list},
    "device.monitoring": {},
    "device.default_deny": {"roles": list, "hooks": list},
    "device.rule_set": {"roles": list},
    "device.five_tuple": {"roles": list},
    "device.stateful": {"roles": list, "stateful_platforms": list},
    "device.security_profiles": {"roles": list, "profile": str, "platforms": list},
    "device.audit": {"roles": list},
    "device.log_host": {"roles": list, "min_targets": int},
    "device.zones": {"roles": list, "min_zones": int},
    "device.redundancy": {"roles": list},
    "servers.count": {"min_servers": int},
    "servers.role_separation": {},
    "servers.app_redundancy": {"min_app_nodes": int},
    "host.identities": {},
    # Windows Server hosts (docs/windows.md)
    "windows.accounts": {"max_days": int},
    "windows.default_accounts": {"default_names": list},
    "windows.audit_policy": {"subcategories": list},
    "windows.event_logs": {"min_bytes": list},
    "windows.rdp": {"min_security_layer": int, "min_encryption_level": int},
    "windows.services": {"forbidden_services": list},
    "windows.updates": {"max_hotfix_age_days": int, "support_ends": list},
    "windows.anti_malware": {"max_signature_age_days": int, "third_party_services": list},
    "windows.mssql_logins": {},
    "windows.mssql_sa": {"default_logins": list},
    "windows.mssql_audit": {"login_audit_level": int},
    "power.dual_supply": {"rule": str, "server_roles": list, "min_healthy_psus": int, "min_ups_feeds": int,
                          "accepted_documents": list, "bad_status_flags": list, "min_battery_charge": int,
                          "min_runtime_s": int},
    "power.redfish": {"min_healthy_psus": int},
    "power.ups": {"bad_status_flags": list, "min_battery_charge": int, "min_runtime_s": int},
    "mlps.assessment": {"required_documents": list, "dated_documents": list, "required_level": int,
                        "max_age_months": int, "report_documents": list, "accepted_conclusions": list},
    "host.password_quality": {"min_length": int, "min_classes": int, "history": int},
    "host.password_ageing": {"max_days": int, "min_days": int, "warn_days": int},
    "host.login_lockout": {"max_attempts": int, "min_unlock_s": int},
    "host.idle_timeout": {"shell_tmout_max_s": int, "sshd_client_alive_interval_max_s": int,
                          "sshd_client_alive_count_max": int},
    "host.remote_admin": {"cleartext_ports": list, "weak_ciphers": list, "weak_macs": list, "weak_kex": list,
                          "legacy_algorithms": list, "shared_cleartext_ports": list,
                          "remote_shell_processes": list,
                          "max_auth_tries": int},
    "host.default_accounts": {"default_accounts": list, "permit_root_login_allowed": list},
    "host.log_retention": {"min_days": int, "system_logs": list, "central_log_roles": list},
    "host.password_hash": {"allowed_schemes": list, "allowed_encrypt_methods": list},
    "host.high_risk_ports": {"ports": list, "role_allowed_ports": list},
    "host.mfa": {"min_auth_methods": int, "otp_pam_modules": list, "bastion_addresses": list},
    "host.sudoers": {"admin_groups": list, "admin_users": list},
    "host.file_permissions": {"max_modes": list, "allowed_owners": list, "allowed_groups": list},
    "host.mac": {"accepted": list},
    "host.audit": {"daemon_processes": list, "min_rules": int, "required_watches": list},
    "host.audit_protection": {"max_log_mode": str, "forbidden_actions": list, "require_immutable": bool},
    "host.time_sync": {"daemons": list},
    "host.log_forwarding": {"forwarder_processes": list},
    "host.mgmt_access": {"accept_listen_address": bool},
    "host.intrusion_detection": {"hids_processes": list, "accept_aide": bool},
    "host.anti_malware": {"av_processes": list, "max_signature_age_days": int},
    "host.security_updates": {"max_pending": int, "max_cache_age_days": int, "support_ends": list},
    "host.backups": {"job_patterns": list, "agent_processes": list, "backup_paths": list, "max_age_h": int},
    "host.minimal_services": {"forbidden_processes": list},
    "db.accounts": {"passwordless_roles": list, "os_auth_plugins": list},
    "db.password_encryption": {"allowed_pg_methods": list, "allowed_mysql_plugins": list, "os_auth_plugins": list,
                               "stock_defaults": list},
    "db.idle_lockout": {"max_idle_s": int, "max_attempts": int, "lockout_libraries": list, "lockout_plugins": list},
    "db.tls": {"weak_tls_versions": list, "allow_loopback_plain": bool},
    "db.hba": {"forbidden_methods": list, "allowed_any_host_users": list},
    "db.audit": {"min_log_statement": str, "audit_plugins": list},
    "mw.hardening": {"default_apps": list},
    "mw.tls": {"weak_tls_versions": list},
    "mw.logging": {"null_targets": list},
    "mw.run_user": {"forbidden_users": list},
    "db.superusers": {"allowed_superusers": list, "system_accounts": list, "os_auth_plugins": list,
                      "engine_administrators": list},
    "db.backup": {"job_patterns": list, "agent_processes": list, "backup_paths": list, "max_age_h": int},
    "db.app_audit_retention": {"min_days": int},
    "db.offsite_realtime": {"remote_archive_patterns": list},
    "web.hardening": {"stub_status_allowed_sources": list},
    "web.tls_config": {"weak_protocols": list, "weak_cipher_tokens": list, "require_https_redirect": bool},
    "web.logging": {"null_targets": list},
    "web.worker_user": {"forbidden_users": list},
    # network probes (docs/network.md)
    "tls.protocols": {"allowed_protocols": list},
    "tls.cipher_suites": {"weak_patterns": list, "legacy_patterns": list},
    "tls.certificate": {"min_rsa_bits": int, "min_ec_bits": int, "min_days_left": int},
    "tls.hsts": {"min_max_age": int},
    "tls.mozilla": {"mozilla_profile": str},
    "tls.gm": {"declared_only": bool, "timeout_s": int},
    "tls.database": {"timeout_s": int},
    "exposure.open_ports": {"ports": str, "allowed_tcp": list, "bastion_allowed_tcp": list, "high_risk_ports": list,
                            "db_admin_ports": list},
    "uplink.bandwidth": {"min_mbps": int, "seconds": int, "max_seconds": int, "directions": list,
                         "uncertainty_iperf3": float, "uncertainty_http": float, "uncertainty_speedtest": float},
    "uplink.path": {},
    "uplink.distinct_isps": {"min_uplinks": int, "seconds": int, "max_seconds": int, "min_link_share": float},
    "av.system": {"timeout_s": int, "sip_ok_codes": list},
    "av.independence": {"min_systems": int, "timeout_s": int, "sip_ok_codes": list},
    "platform.dedicated_line": {"timeout_s": int},
    "clinical.interface": {"timeout_s": int, "require_tls": bool},
}
#: Site-specific lists whose catalog default is empty (docs/probes.md): the site fills them by tailoring.
EMPTY_BY_DEFAULT = {("host.mfa", "bastion_addresses"), ("host.backups", "backup_paths"),
                    ("db.backup", "backup_paths"), ("db.hba", "allowed_any_host_users"),
                    ("host.security_updates", "support_ends"), ("windows.updates", "support_ends")}
#: Where a shipped control deliberately differs from the probe's default (tests/fixtures/profiles/host-l3.yaml),
#: and why: -e 2 is the process protection L3-CES1-15 asks for, optional for L3-CES1-14.
NOT_DEFAULT = {("L3-CES1-15", "require_immutable"): True}
DEFAULTS_PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "profiles" / "host-l3.yaml"
#: The network probes' parameters with their defaults and provenance (docs/network.md).
NETWORK_PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "profiles" / "network.yaml"
#: Generic judges of evidence-based controls; an attest/manual control may name one of these or none.
EVIDENCE_JUDGES = {Method.ATTEST: "attest.document", Method.MANUAL: "manual.judgement"}
#: Planned probe domains an ``auto-planned`` control may name (docs/catalog.md).
PLANNED_DOMAINS = {"app", "cloud", "tls", "uplink", "av", "power", "host", "db", "exposure", "platform", "clinical",
                   "network"}

SEEDS = Path(__file__).resolve().parents[2].parent / "shared" / "seeds"
SEED_FILES = {
    "cq-ih-rules-2023": "004_df5197671d5decea.txt",  # 渝卫发〔2023〕69号
    "nhc-ih-supervision-2022": "000_b424ceccb6567086.txt",  # 国卫办医发〔2022〕2号
}


def _own_controls(profile_id: str) -> list[dict[str, Any]]:
    """The controls written in one profile file (not those it includes)."""
    data = yaml.safe_load(builtin_profiles()[profile_id].read_text(encoding="utf-8"))
    return list(data.get("controls") or [])


def _header(profile_id: str) -> dict[str, Any]:
    header: dict[str, Any] = yaml.safe_load(builtin_profiles()[profile_id].read_text(encoding="utf-8"))["profile"]
    return header


@pytest.fixture(scope="module")
def profiles() -> dict[str, Profile]:
    return {pid: load_profile(pid) for pid in SHIPPED}


@pytest.fixture(scope="module")
def default(profiles: dict[str, Profile]) -> Profile:
    return profiles["annual-normative-test"]


def _by_item(profile: Profile) -> dict[str, list[Control]]:
    out: dict[str, list[Control]] = {}
    for c in profile.controls:
        out.setdefault(c.source.item, []).append(c)
    return out


# ---- 1. loading ---------------------------------------------------------------------------------

def test_the_shipped_profiles_are_exactly_the_documented_ones() -> None:
    assert set(builtin_profiles()) == set(SHIPPED)


@pytest.mark.parametrize("profile_id", SHIPPED)
def test_every_shipped_profile_loads(profile_id: str) -> None:
    p = load_profile(profile_id)
    assert p.id == profile_id
    assert p.controls, f"{profile_id} resolves to no controls"


# ---- 2. ids -------------------------------------------------------------------------------------

def test_control_ids_are_unique_across_all_shipped_profiles() -> None:
    ids = [c["id"] for pid in SHIPPED for c in _own_controls(pid)]
    dupes = sorted(i for i, n in Counter(ids).items() if n > 1)
    assert not dupes, f"control ids defined more than once: {dupes}"


@pytest.mark.parametrize(("profile_id", "prefix"), [("cq-ih-basic-2023", "CQ-"),
                                                      ("nhc-ih-supervision-2022", "NHC-"),
                                                      ("mlps-l3", "L3-"), ("mlps-l3-management", "L3-"),
                                                      ("mlps-l3-cloud", "L3-"),
                                                      ("cryptography-l3", "L3-GM-")])
def test_control_ids_carry_their_profile_prefix(profile_id: str, prefix: str) -> None:
    wrong = [c["id"] for c in _own_controls(profile_id) if not c["id"].startswith(prefix)]
    assert not wrong, f"{profile_id}: ids without {prefix!r}: {wrong}"


# ---- 3. the default -----------------------------------------------------------------------------

def test_the_default_profile_includes_the_three(profiles: dict[str, Profile], default: Profile) -> None:
    assert DEFAULT_PROFILE == "annual-normative-test"
    assert list(_header(DEFAULT_PROFILE)["includes"]) == ["cq-ih-basic-2023", "nhc-ih-supervision-2022", "mlps-l3"]
    want = {c.id for pid in SHIPPED[:3] for c in profiles[pid].controls}
    assert {c.id for c in default.controls} == want
    assert not default.excluded


def test_the_default_profile_carries_the_scoring_block(default: Profile) -> None:
    s = default.scoring
    assert {k.value: v for k, v in s.weights.items()} == {"关键": 3.0, "重要": 2.0, "一般": 1.0}
    assert s.partial_credit == 0.5
    assert s.grades == {"优": 90.0, "良": 80.0, "中": 70.0}
    assert s.method.value == "mlps-2021" and s.attention_coefficient == 0.5 and s.pass_threshold == 70
    assert "docs/scoring.md" in s.provenance
    assert _header(DEFAULT_PROFILE).get("scoring") is not None
    for pid in SHIPPED[:3]:
        assert _header(pid).get("scoring") is None, f"{pid}: scoring belongs to the default only"


# ---- 4. probes and parameters -------------------------------------------------------------------

def test_the_documented_probes_are_registered() -> None:
    """Every probe the catalog documents exists. The registry may hold more: probes land before controls use them."""
    missing = (set(PROBE_PARAMS) | set(EVIDENCE_JUDGES.values())) - set(PROBES)
    assert not missing, f"probes documented here but not registered: {sorted(missing)}"


def test_every_control_is_probed_or_is_evidence(default: Profile) -> None:
    for c in default.controls:
        if c.method is Method.AUTO:
            assert c.probe in PROBES, f"{c.id}: auto control names unregistered probe {c.probe!r}"
            assert c.probe in PROBE_PARAMS, f"{c.id}: document the parameters of {c.probe} in PROBE_PARAMS"
        else:
            assert c.probe in (None, EVIDENCE_JUDGES[c.method]), f"{c.id}: {c.method} control names {c.probe!r}"
            assert c.evidence, f"{c.id}: an {c.method} control must say which evidence is expected"


def test_every_auto_control_has_exactly_the_parameters_its_probe_reads(default: Profile) -> None:
    for c in (c for c in default.controls if c.method is Method.AUTO):
        assert c.probe is not None
        want = PROBE_PARAMS[c.probe]
        assert set(c.parameters) == set(want), f"{c.id} ({c.probe}): {sorted(c.parameters)} != {sorted(want)}"
        for name, kind in want.items():
            value = c.parameters[name].value
            assert isinstance(value, kind) and (kind is bool or not isinstance(value, bool)), \
                f"{c.id}.{name}: {value!r} is not {kind}"
            if isinstance(value, list):
                assert value or (c.probe, name) in EMPTY_BY_DEFAULT, f"{c.id}.{name} is empty"
                assert len({type(v) for v in value}) <= 1, f"{c.id}.{name} mixes types: {value!r}"


def test_the_probes_read_no_parameter_the_catalog_lacks(default: Profile) -> None:
    """Cross-check the documented list against the probe code: every ``param("x")`` a probe reads."""
    pat = re.compile(r"param\(\s*[\"']([a-z_0-9]+)[\"']")
    for pid, want in PROBE_PARAMS.items():
        read = set(pat.findall(inspect.getsource(probe_function(pid))))
        assert read <= set(want), f"{pid} reads {sorted(read - set(want))}, not documented in PROBE_PARAMS"
        assert any(c.probe == pid for c in default.controls), f"no shipped control uses probe {pid}"


def test_auto_controls_use_the_probes_default_parameters(default: Profile) -> None:
    """The shipped controls carry the defaults of docs/probes.md, which the integration profile
    host-l3.yaml holds; a deliberate difference is listed in NOT_DEFAULT with its reason."""
    defaults: dict[str, dict[str, Any]] = {}
    for c in yaml.safe_load(DEFAULTS_PROFILE.read_text(encoding="utf-8"))["controls"]:
        defaults[c["probe"]] = {k: v["value"] for k, v in (c.get("parameters") or {}).items()}
    for c in (c for c in default.controls if c.method is Method.AUTO and c.probe in defaults):
        for name, p in c.parameters.items():
            want = NOT_DEFAULT.get((c.id, name), defaults[c.probe][name])
            assert p.value == want, f"{c.id}.{name} ({c.probe}): {p.value!r}, docs/probes.md default {want!r}"


def test_network_controls_use_the_network_profiles_values(default: Profile) -> None:
    """The shipped network controls carry the values of the network test profile (docs/network.md), except
    where a catalog parameter is the document's own threshold (the same value, quoted from the clause)."""
    defaults: dict[str, dict[str, Any]] = {}
    for c in yaml.safe_load(NETWORK_PROFILE.read_text(encoding="utf-8"))["controls"]:
        defaults[c["probe"]] = {k: v["value"] for k, v in (c.get("parameters") or {}).items()}
    seen = set()
    for c in (c for c in default.controls if c.method is Method.AUTO and c.probe in defaults):
        seen.add(c.probe)
        assert set(c.parameters) == set(defaults[c.probe]), f"{c.id} ({c.probe})"
        for name, p in c.parameters.items():
            assert p.value == defaults[c.probe][name], f"{c.id}.{name} ({c.probe}): {p.value!r}, " \
                                                      f"docs/network.md {defaults[c.probe][name]!r}"
    assert seen == set(defaults), f"network probes no shipped control uses: {sorted(set(defaults) - seen)}"


def test_every_parameter_states_its_provenance(default: Profile) -> None:
    for c in default.controls:
        for name, p in c.parameters.items():
            assert len(p.provenance) >= 8, f"{c.id}.{name}: provenance too thin: {p.provenance!r}"


def test_auto_planned_controls_are_attestations_naming_one_domain(default: Profile) -> None:
    planned = [c for c in default.controls if "auto-planned" in c.tags]
    assert planned
    for c in planned:
        assert c.method is Method.ATTEST, f"{c.id}: auto-planned controls stay attest until their probe exists"
        domains = [t.split(":", 1)[1] for t in c.tags if t.startswith("planned:")]
        assert len(domains) == 1 and domains[0] in PLANNED_DOMAINS, f"{c.id}: planned domain tags {domains}"
    for c in default.controls:
        if any(t.startswith("planned:") for t in c.tags):
            assert "auto-planned" in c.tags, f"{c.id}: planned:* without auto-planned"


def test_the_docs_list_every_auto_planned_control(default: Profile) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "catalog.md").read_text(encoding="utf-8")
    waiting = doc.split("(`auto-planned`)", 1)[1]
    listed = set(re.findall(r"^\| `([^`]+)` \|", waiting, flags=re.M))
    planned = {c.id for c in default.controls if "auto-planned" in c.tags}
    assert listed == planned, (f"docs/catalog.md §9 is out of date: missing {sorted(planned - listed)}, "
                               f"stale {sorted(listed - planned)}")


@pytest.mark.parametrize(("control_id", "applies_to"), [
    ("CQ-A1-4.3-a", "uplink"), ("CQ-A1-4.3-b", "site"), ("CQ-A1-4.2-a", "site"), ("CQ-A1-4.2-b", "av-system"),
    ("CQ-A1-4.1-c", "site"), ("CQ-19-d", "platform-link"), ("CQ-A1-4.4-c", "clinical-interface"),
    ("L3-CNS1-06", "tls-endpoint"), ("L3-CES1-29", "database"),
])
def test_planned_controls_apply_to_the_object_their_probe_will_judge(default: Profile, control_id: str,
                                                                     applies_to: str) -> None:
    assert [t.value for t in default.control(control_id).applies_to] == [applies_to]


# ---- 5. MLPS level-3 unit ids -------------------------------------------------------------------

def _unit_ids() -> list[str]:
    """The technical units, from the shipped list (src/ihconform/data/mlps_l3_units.yaml)."""
    return list(mlps_l3_units().ids("technical"))


def test_every_level3_technical_unit_is_present(profiles: dict[str, Profile]) -> None:
    items = _by_item(profiles["mlps-l3"])
    missing = [u for u in _unit_ids() if u not in items]
    assert not missing, f"unit ids without a control: {missing}"
    assert "L3-CES1-16" not in items, "GB/T 28448-2019 has no L3-CES1-16"
    assert len(_unit_ids()) == 96  # 22 + 8 + 20 + 34 + 12


def test_each_unit_has_its_plain_control_and_sub_controls_share_its_clause(profiles: dict[str, Profile]) -> None:
    for item, controls in _by_item(profiles["mlps-l3"]).items():
        if not item.startswith(("L3-PES1", "L3-CNS1", "L3-ABS1", "L3-CES1", "L3-SMC1")):
            continue
        ids = {c.id for c in controls}
        assert item in ids, f"{item}: no control with the unit id itself"
        cited = {(c.source.clause, c.source.text) for c in controls}
        assert len(cited) == 1, f"{item}: sub-controls cite different text"
        assert all(i == item or i.startswith(item + ".") for i in ids), f"{item}: odd sub-control ids {ids}"


@pytest.mark.parametrize(("unit", "probe"), [
    ("L3-CES1-01", "host.identities"), ("L3-CES1-01.pwq", "host.password_quality"),
    ("L3-CES1-01.age", "host.password_ageing"), ("L3-CES1-02", "host.login_lockout"),
    ("L3-CES1-02.idle", "host.idle_timeout"), ("L3-CES1-03", "host.remote_admin"),
    ("L3-CES1-06", "host.default_accounts"), ("L3-CES1-14.retention", "host.log_retention"),
    ("L3-SMC1-10.retention", "host.log_retention"), ("L3-CES1-18", "host.high_risk_ports"),
    ("L3-CES1-28", "host.password_hash"), ("L3-CES1-31", "servers.app_redundancy"),
    ("L3-CES1-04", "host.mfa"), ("L3-CES1-08", "host.sudoers"), ("L3-CES1-10", "host.file_permissions"),
    ("L3-CES1-11", "host.mac"), ("L3-CES1-12", "host.audit"), ("L3-CES1-13", "host.time_sync"),
    ("L3-CES1-14", "host.audit_protection"), ("L3-CES1-14.forward", "host.log_forwarding"),
    ("L3-CES1-15", "host.audit_protection"), ("L3-CES1-18.services", "host.minimal_services"),
    ("L3-CES1-19", "host.mgmt_access"), ("L3-CES1-21", "host.security_updates"),
    ("L3-CES1-22", "host.intrusion_detection"), ("L3-CES1-23", "host.anti_malware"),
    ("L3-CES1-29", "db.backup"), ("L3-CES1-29.host", "host.backups"), ("L3-CES1-30", "db.offsite_realtime"),
    ("L3-SMC1-10", "host.log_forwarding"),
    ("L3-CES1-01.db", "db.accounts"), ("L3-CES1-02.db", "db.idle_lockout"), ("L3-CES1-03.db", "db.tls"),
    ("L3-CES1-03.web", "web.tls_config"), ("L3-CES1-08.db", "db.superusers"), ("L3-CES1-08.web", "web.worker_user"),
    ("L3-CES1-12.db", "db.audit"), ("L3-CES1-12.web", "web.logging"), ("L3-CES1-18.web", "web.hardening"),
    ("L3-CES1-19.db", "db.hba"), ("L3-CES1-27.db", "db.tls"), ("L3-CES1-27.web", "web.tls_config"),
    ("L3-CES1-28.db", "db.password_encryption"),
    ("L3-CNS1-02", "uplink.bandwidth"), ("L3-CNS1-05.lines", "uplink.distinct_isps"),
    ("L3-CNS1-06", "tls.certificate"), ("L3-CNS1-07", "tls.protocols"), ("L3-CNS1-07.ciphers", "tls.cipher_suites"),
    ("L3-CNS1-07.hsts", "tls.hsts"), ("L3-CNS1-07.mozilla", "tls.mozilla"), ("L3-CES1-25", "tls.cipher_suites"),
    ("L3-CES1-27", "tls.protocols"), ("L3-CES1-27.ciphers", "tls.cipher_suites"),
    ("L3-CES1-27.dbtls", "tls.database"), ("L3-GM-8.2", "tls.gm"),
    ("L3-ABS1-01.external", "exposure.open_ports"), ("L3-CES1-18.external", "exposure.open_ports"),
])
def test_level3_probe_mapping(profiles: dict[str, Profile], unit: str, probe: str) -> None:
    c = profiles["mlps-l3"].control(unit)
    assert c.method is Method.AUTO and c.probe == probe


#: The object type each probe family judges (docs/probes.md).
PROBE_OBJECTS = {"host": "host-os", "db": "database", "web": "web-server", "windows": "host-os-windows"}
#: The object type each network probe judges (docs/network.md, "Probes for the catalog").
NETWORK_OBJECTS = {"tls.database": "database", "exposure.open_ports": "host-os", "uplink.bandwidth": "uplink",
                   "uplink.path": "uplink", "uplink.distinct_isps": "site", "av.system": "av-system",
                   "av.independence": "site", "platform.dedicated_line": "platform-link",
                   "clinical.interface": "clinical-interface"}


#: Host probes that judge the platform-neutral facts (facts/neutral.py): Linux and Windows hosts.
NEUTRAL_HOST_PROBES = {"host.password_quality", "host.login_lockout", "host.idle_timeout", "host.time_sync",
                       "host.log_forwarding"}


def test_host_database_and_web_probes_judge_their_own_objects(default: Profile) -> None:
    for c in default.controls:
        family = (c.probe or "").split(".", 1)[0]
        if c.method is Method.AUTO and family in PROBE_OBJECTS:
            got = [t.value for t in c.applies_to]
            if c.probe in NEUTRAL_HOST_PROBES:  # one probe on the neutral facts: hosts of every platform, and
                # the network devices of the 安全计算环境 items (GB/T 28448 names them among its objects)
                assert got[:2] == [PROBE_OBJECTS[family], "host-os-windows"] and set(got[2:]) <= {"network-device"}, \
                    f"{c.id} ({c.probe}): {c.applies_to}"
            else:
                assert got == [PROBE_OBJECTS[family]], f"{c.id} ({c.probe}): {c.applies_to}"


def test_network_probes_judge_their_own_objects(default: Profile) -> None:
    for c in default.controls:
        if c.method is not Method.AUTO or c.probe is None:
            continue
        want = NETWORK_OBJECTS.get(c.probe) or ("tls-endpoint" if c.probe.startswith("tls.") else None)
        if want:
            assert [t.value for t in c.applies_to] == [want], f"{c.id} ({c.probe}): {c.applies_to}"


@pytest.mark.parametrize(("control_id", "probe", "companion"), [
    ("CQ-A1-4.2-a", "av.independence", "CQ-A1-4.2-d"), ("CQ-A1-4.2-c", "av.system", "CQ-A1-4.2-b"),
    ("CQ-A1-4.3-a", "uplink.bandwidth", None), ("CQ-A1-4.3-b", "uplink.distinct_isps", "CQ-A1-4.3-d"),
    ("CQ-A1-4.3-c", "uplink.path", None), ("CQ-19-d", "platform.dedicated_line", "CQ-19-f"),
    ("CQ-A1-4.4-i", "clinical.interface", "CQ-A1-4.4-c"),
])
def test_hospital_network_controls_are_probed_with_attested_companions(default: Profile, control_id: str, probe: str,
                                                                       companion: str | None) -> None:
    """附录1 四(二)(三)(四) and 第十九条: what a network probe sees is auto; what it cannot see (the city video
    platform, hardware, contracts, which interface is HIS/LIS/PACS) stays attested on the same clause."""
    c = default.control(control_id)
    assert c.method is Method.AUTO and c.probe == probe
    if companion:
        a = default.control(companion)
        assert a.method is Method.ATTEST and a.source.clause == c.source.clause


#: GB/T 22239-2019 8.1.6–8.1.10: the 安全控制点 of each 安全类 and how many level-3 测评项 each has
#: (the level-comparison table of the standard; docs/catalog.md §3). 7 + 14 + 12 + 34 + 48 = 115.
MANAGEMENT_POINTS: dict[str, tuple[str, tuple[int, ...]]] = {
    "8.1.6": ("PSS1", (1, 3, 2, 1)),
    "8.1.7": ("ORS1", (3, 2, 3, 3, 3)),
    "8.1.8": ("HRS1", (3, 2, 3, 4)),
    "8.1.9": ("CMS1", (4, 3, 3, 7, 3, 3, 2, 3, 3, 3)),
    "8.1.10": ("MMS1", (3, 3, 2, 4, 2, 10, 2, 2, 2, 3, 3, 4, 4, 4)),
}


def _management_ids() -> list[str]:
    return list(mlps_l3_units().ids("management"))


def test_every_management_item_is_its_own_control_under_its_control_point(profiles: dict[str, Profile]) -> None:
    p = profiles["mlps-l3"]
    mgmt = [c for c in p.controls if c.source.clause.startswith(tuple(f"{k}." for k in MANAGEMENT_POINTS))]
    assert [c.id for c in mgmt] == _management_ids()  # one control per 测评项, in clause order
    assert len(mgmt) == 115
    assert not [c.id for c in p.controls if c.id.startswith("L3-M-")], "the one-per-控制点 controls are gone"
    for c in mgmt:
        assert c.source.item == c.id
        assert c.method in (Method.ATTEST, Method.MANUAL) and c.evidence
        point_clause = c.control_point.split(" ")[0]
        assert c.source.clause.split(" ")[0] == point_clause, c.id
        assert c.legacy_ids == (f"L3-M-{point_clause}",), c.id  # the control point it was part of
        assert "[K]" in c.provenance  # the unit codes are unverified, and say so
        assert any(t.startswith("evidence:") for t in c.tags)
    for section, (_code, counts) in MANAGEMENT_POINTS.items():
        for i, n in enumerate(counts, start=1):
            items = [c for c in mgmt if c.control_point.startswith(f"{section}.{i} ")]
            assert len(items) == n, f"{section}.{i}: {len(items)} items, want {n}"
    probed = {"L3-PES1-19", "L3-PES1-20"}  # UPS and server power supplies are read live (power.ups/redfish)
    assert all(c.method is Method.ATTEST for c in p.controls if c.id.startswith("L3-PES1") and c.id not in probed)


def test_severity_follows_the_research_notes(profiles: dict[str, Profile]) -> None:
    p = profiles["mlps-l3"]
    tagged = {"L3-CES1-01": "重要", "L3-CES1-02": "重要", "L3-CES1-03": "关键", "L3-CES1-04": "关键",
              "L3-CES1-06": "重要", "L3-CES1-08": "重要", "L3-CES1-12": "重要", "L3-CES1-14": "重要",
              "L3-CES1-18": "重要", "L3-CES1-19": "重要", "L3-CES1-21": "关键", "L3-CES1-27": "关键",
              "L3-CES1-28": "关键", "L3-CES1-29": "重要", "L3-CES1-30": "重要", "L3-CES1-31": "重要",
              "L3-SMC1-10": "重要"}
    for c in p.controls:
        assert c.severity.value == tagged.get(c.source.item, "一般"), f"{c.id}: severity {c.severity.value}"


def test_high_risk_candidates_are_flagged(profiles: dict[str, Profile]) -> None:
    p = profiles["mlps-l3"]
    for cid in ("L3-CNS1-04", "L3-CNS1-05", "L3-CNS1-07", "L3-ABS1-01", "L3-ABS1-05", "L3-ABS1-10",
                "L3-CES1-01", "L3-CES1-01.pwq", "L3-CES1-03", "L3-CES1-04", "L3-CES1-06", "L3-CES1-18",
                "L3-CES1-21", "L3-CES1-27", "L3-CES1-28", "L3-CES1-28.data", "L3-CES1-29", "L3-CES1-30",
                "L3-CES1-31", "L3-CES1-31.db", "L3-SMC1-10", "L3-SMC1-10.retention", "L3-SMC1-12",
                "L3-CES1-04.bastion", "L3-CES1-18.services", "L3-CES1-21.scan", "L3-CES1-30.offsite",
                "L3-SMC1-10.central", "L3-CES1-01.db", "L3-CES1-03.db", "L3-CES1-03.web", "L3-CES1-27.db",
                "L3-CES1-27.web", "L3-CES1-28.db", "L3-CNS1-05.lines", "L3-CNS1-07.ciphers", "L3-CNS1-07.links",
                "L3-ABS1-01.external", "L3-CES1-18.external", "L3-CES1-27.ciphers", "L3-CES1-27.dbtls",
                "L3-CES1-27.links"):
        assert p.control(cid).high_risk, f"{cid} is a high-risk candidate (notes §9)"


def test_every_high_risk_flag_names_its_case_and_compensating_factors(profiles: dict[str, Profile]) -> None:
    """High-risk is a candidate keyed to the T/ISEAA 001-2020 判例 it comes from (or, for a basic-
    standard precondition, to the clause); 等保 判例 carry the 补偿因素 that would lower them."""
    for pid, p in profiles.items():
        for c in p.controls:
            case = c.high_risk_case
            if not c.high_risk:
                assert case is None, f"{pid}/{c.id}: a case on a control that is not high-risk"
                continue
            assert case is not None, f"{pid}/{c.id}: high_risk without high_risk_case"
            assert case.id == c.source.clause, f"{pid}/{c.id}: the case is filed under the control's clause"
            if c.source.document == "gbt-22239-2019":
                assert case.guide == "T/ISEAA 001-2020" and case.compensating, f"{pid}/{c.id}"
            elif c.source.document == "gbt-39786-2021":  # 密评: its own quantitative rules and 缓解措施
                assert case.guide == "商用密码应用安全性评估量化评估规则" and case.compensating, f"{pid}/{c.id}"
            else:
                assert case.guide != "T/ISEAA 001-2020" and not case.compensating, f"{pid}/{c.id}"


# ---- 6. documents -------------------------------------------------------------------------------

def test_every_cited_document_is_declared(profiles: dict[str, Profile]) -> None:
    for pid, p in profiles.items():
        for c in p.controls:
            assert c.source.document in p.documents, f"{pid}/{c.id} cites undeclared {c.source.document}"


def test_each_profile_declares_its_own_documents() -> None:
    for pid in SHIPPED[:3]:
        declared = {d["id"] for d in _header(pid).get("documents") or []}
        cited = {c["source"]["document"] for c in _own_controls(pid)}
        assert cited <= declared, f"{pid} cites {sorted(cited - declared)} without declaring them"


# ---- 7. clause coverage -------------------------------------------------------------------------

@pytest.mark.parametrize(("profile_id", "clauses"), [
    ("cq-ih-basic-2023", ["附录1 四(一)", "附录1 四(二)", "附录1 四(三)", "附录1 四(四)", "附录1 四(五)",
                          "附录1 四(六)", "附录1 五", "第十二条", "第十四条", "第十八条", "第十九条", "第二十七条",
                          "第二十八条", "第三十二条"]),
    ("nhc-ih-supervision-2022", ["第十二条", "第十三条", "第十四条", "第十七条", "第十九条", "第二十二条", "第二十五条",
                                 "第二十七条", "第二十八条", "第三十三条"]),
])
def test_profiles_cover_their_clauses(profiles: dict[str, Profile], profile_id: str, clauses: list[str]) -> None:
    have = {c.source.clause for c in profiles[profile_id].controls}
    missing = [k for k in clauses if k not in have]
    assert not missing, f"{profile_id} lacks {missing}"


@pytest.mark.parametrize(("control_id", "probe"), [
    ("CQ-A1-4.4-a", "db.audit"), ("CQ-A1-4.4-b", "db.app_audit_retention"), ("CQ-33-a", "db.app_audit_retention"),
    ("NHC-25-a", "db.app_audit_retention"),
])
def test_hospital_audit_trail_controls_are_probed_on_databases(default: Profile, control_id: str, probe: str) -> None:
    """附录1 四(四), 实施细则第三十三条 and 监管细则第二十五条: the audit trail is read in each database; what
    the probe cannot see (access policy and grants, system stability, every step recorded) stays attested."""
    c = default.control(control_id)
    assert c.method is Method.AUTO and c.probe == probe
    assert [t.value for t in c.applies_to] == ["database"]
    for companion, item in (("CQ-A1-4.4-g", "数据访问控制策略与授权"), ("CQ-A1-4.4-h", "系统稳定"),
                            ("CQ-33-d", "全程留痕（各环节）"), ("NHC-25-d", "全程留痕（各环节）")):
        assert default.control(companion).method is Method.ATTEST and default.control(companion).source.item == item


def test_the_chongqing_items_are_separately_judgeable(profiles: dict[str, Profile]) -> None:
    p = profiles["cq-ih-basic-2023"]
    per_clause = Counter(c.source.clause for c in p.controls)
    assert per_clause["附录1 四(一)"] >= 3  # servers, DB/app separation, power
    assert per_clause["附录1 四(二)"] >= 2  # AV count, city platform
    assert per_clause["附录1 四(三)"] >= 2  # bandwidth, ISPs
    assert per_clause["附录1 四(五)"] == 5  # five remote functions
    items = {c.source.item for c in p.controls if c.source.clause == "附录1 五"}
    for rule in ("医疗机构依法执业自查制度", "互联网医院信息安全制度", "人员培训考核制度", "在线处方管理制度"):
        assert rule in items
    for plan in ("停电", "断网", "设备故障", "网络信息安全"):
        assert f"{plan}应急预案" in items
    assert p.control("CQ-A1-4.1-a").param("min_servers") == 2
    assert p.control("CQ-A1-4.3-a").param("min_mbps") == 10
    assert p.control("CQ-A1-4.3-b").param("min_uplinks") == 2
    assert p.control("CQ-A1-4.2-a").param("min_systems") == 2


@pytest.mark.parametrize(("control_id", "years"), [("CQ-28-a", 15), ("CQ-28-b", 3), ("NHC-19-b", 15), ("NHC-19-c", 3)])
def test_retention_thresholds_are_parameters(default: Profile, control_id: str, years: int) -> None:
    c = default.control(control_id)
    assert c.param("min_years") == years and c.parameters["min_years"].unit == "年"


# ---- 8. verbatim quotes -------------------------------------------------------------------------

def _squash(s: str) -> str:
    return re.sub(r"\s+", "", s)


@pytest.mark.parametrize("document", sorted(SEED_FILES))
def test_quoted_text_occurs_in_the_regulation(default: Profile, document: str) -> None:
    seed = SEEDS / SEED_FILES[document]
    if not seed.is_file():
        pytest.skip(f"regulation text not available at {seed} (the shared seeds folder is outside the repo)")
    body = _squash(seed.read_text(encoding="utf-8"))
    quoted = [c for c in default.controls if c.source.document == document]
    assert quoted
    wrong = [c.id for c in quoted if _squash(c.source.text) not in body]
    assert not wrong, f"source.text not found verbatim in {seed.name}: {wrong}"


# ---- presentation -------------------------------------------------------------------------------

def test_every_control_is_presentable(default: Profile) -> None:
    for c in default.controls:
        assert c.area, f"{c.id}: no report area"
        assert c.remediation is not None, f"{c.id}: no remediation"
        assert re.search(r"[\u4e00-\u9fff]", c.title.zh), f"{c.id}: Chinese title missing"
        assert not re.search(r"[\u4e00-\u9fff]", c.title.en), f"{c.id}: English title has Chinese"
        assert c.source.item, f"{c.id}: no source.item"


def test_a_profile_is_parsed_once_per_content_and_never_served_stale(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import ihconform.catalog as catalog

    src = Path(__file__).parent.parent / "fixtures" / "profiles" / "mini.yaml"
    copy = tmp_path / "mini.yaml"
    copy.write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    parsed: list[Path] = []
    real = catalog.load_yaml
    monkeypatch.setattr(catalog, "load_yaml", lambda p, t, **kw: parsed.append(p) or real(p, t, **kw))
    first = load_profile(copy)
    again = load_profile(copy)
    assert again == first and parsed == [copy.resolve()]  # the second load reuses the parse
    title = first.controls[0].title.zh
    copy.write_text(copy.read_text(encoding="utf-8").replace(title, title + "（已改）", 1), encoding="utf-8")
    changed = load_profile(copy)
    assert changed.controls[0].title.zh == title + "（已改）"  # a changed file is parsed anew
    assert len(parsed) == 2 and changed.digests != first.digests


def test_a_site_can_mark_a_management_item_not_applicable(tmp_path: Path) -> None:
    """Tailoring works per 测评项: one item of 8.1.9.4 excluded, its siblings still judged."""
    site = tmp_path / "site.yaml"
    site.write_text(
        "profile:\n  id: site\n  title: {zh: 某医院, en: A hospital}\n  version: '1'\n"
        "  includes: [annual-normative-test]\n"
        "  exclude:\n    - {control: L3-CMS1-11, reason: '无自行软件开发，系统由厂商交付'}\n", encoding="utf-8")
    p = load_profile(site)
    assert p.excluded == {"L3-CMS1-11": "无自行软件开发，系统由厂商交付"}
    assert p.control("L3-CMS1-11").control_point == "8.1.9.4 自行软件开发"
    siblings = [c.id for c in p.controls if c.control_point == "8.1.9.4 自行软件开发"]
    assert len(siblings) == 7 and "L3-CMS1-12" in siblings and "L3-CMS1-12" not in p.excluded


# ---- the cloud extension (mlps-l3-cloud) ---------------------------------------------------------

def _cloud_ids() -> list[str]:
    """The cloud-extension units, from the shipped list (src/ihconform/data/mlps_l3_units.yaml)."""
    return list(mlps_l3_units().ids("cloud"))


def _inventory(tmp_path: Path, hosting: dict[str, Any] | None) -> Path:
    system: dict[str, Any] = {"name": "互联网医院信息系统"}
    if hosting is not None:
        system["hosting"] = hosting
    inv = {"institution": {"name": "示例医院"}, "system": system,
           "hosts": [{"id": "app01", "address": "198.51.100.21", "roles": ["app"]}]}
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(inv, allow_unicode=True), encoding="utf-8")
    return path


CLOUD = {"kind": "cloud", "provider": "某云计算有限公司", "platform": "重庆市卫生健康云", "platform_mlps_level": 3}


@pytest.mark.parametrize(("hosting", "pulled_in"), [(CLOUD, True), ({"kind": "on-premises"}, False),
                                                    ({"kind": "idc"}, False), (None, False)])
def test_a_cloud_hosted_inventory_pulls_in_the_cloud_extension(tmp_path: Path, hosting: dict[str, Any] | None,
                                                                pulled_in: bool) -> None:
    from ihconform.catalog import hosting_kind
    from ihconform.inventory import load_inventory

    inv = load_inventory(_inventory(tmp_path, hosting))
    p = load_profile(DEFAULT_PROFILE, hosting=hosting_kind(inv))
    cloud = [c.id for c in p.controls if c.source.item in set(_cloud_ids())]
    assert bool(cloud) is pulled_in
    if pulled_in:
        assert any(s.endswith("mlps-l3-cloud.yaml") for s in p.sources)
        # every cloud unit is there (exactly one control each: tests/unit/test_catalog_units.py)
        assert {c.source.item for c in p.controls} >= set(_cloud_ids())
    else:
        assert not any(s.endswith("mlps-l3-cloud.yaml") for s in p.sources)


def test_validate_counts_the_cloud_extension_only_for_a_cloud(tmp_path: Path) -> None:
    import subprocess
    import sys

    def count(hosting: dict[str, Any] | None, where: Path) -> tuple[int, str]:
        where.mkdir()
        proc = subprocess.run([sys.executable, "-m", "ihconform.cli", "validate", "-i",
                               str(_inventory(where, hosting))], capture_output=True, text=True, check=True)
        got = re.search(r"annual-normative-test \S+: (\d+) controls", proc.stdout)
        assert got, proc.stdout
        return int(got.group(1)), proc.stdout

    on_cloud, _ = count(CLOUD, tmp_path / "cloud")
    on_prem, _ = count({"kind": "on-premises"}, tmp_path / "prem")
    undeclared, out = count(None, tmp_path / "none")
    assert on_cloud == on_prem + len(load_profile("mlps-l3-cloud").controls)
    assert undeclared == on_prem and "system.hosting" in out  # says the extension was left out


def test_a_cloud_declaration_names_provider_and_platform_level(tmp_path: Path) -> None:
    from ihconform.errors import ConfigError
    from ihconform.inventory import load_inventory

    with pytest.raises(ConfigError, match="provider and platform_mlps_level"):
        load_inventory(_inventory(tmp_path, {"kind": "cloud", "provider": "某云"}))


def test_the_cloud_extension_is_tenant_side_with_the_provider_part_attested() -> None:
    p = load_profile("mlps-l3-cloud")
    for c in p.controls:
        assert c.control_point and c.provenance and c.source.document == "gbt-22239-2019"
        resp = [t for t in c.tags if t.startswith("cloud:")]
        assert len(resp) == 1 and resp[0] in ("cloud:tenant", "cloud:provider", "cloud:shared"), c.id
        if c.method is Method.ATTEST:
            assert c.evidence, c.id
    # what cannot be probed is attested: the provider's own 等保 level and the contract on data location
    assert "备案证明" in p.control("L3-CMS2-01").evidence and p.control("L3-CMS2-01").param("min_platform_level") == 3
    assert "数据存储地域" in p.control("L3-CES2-10").evidence
    # the tenant's own hosts' logs are probed like L3-SMC1-10
    smc1 = load_profile("mlps-l3").control("L3-SMC1-10")
    smc2 = p.control("L3-SMC2-03")
    assert smc2.probe == smc1.probe == "host.log_forwarding"
    assert smc2.param("forwarder_processes") == smc1.param("forwarder_processes")
    planned = {c.id for c in p.controls if "planned:cloud" in c.tags}
    assert planned == {"L3-CNS2-02", "L3-ABS2-01", "L3-ABS2-02", "L3-ABS2-07", "L3-CES2-03", "L3-CES2-09"}


#: 监管细则 第十二、十三、十四、十七、二十二条 and 实施细则 第十二、十四、二十七、三十二条 (issue 19): each
#: a control quoting its text (checked against the seeds by test_quoted_text_occurs_in_the_regulation).
ARTICLE_CONTROLS = {
    "NHC-12-a": "第十二条", "NHC-13-a": "第十三条", "NHC-13-b": "第十三条", "NHC-14-a": "第十四条",
    "NHC-14-b": "第十四条", "NHC-17-a": "第十七条", "NHC-22-a": "第二十二条", "NHC-22-b": "第二十二条",
    "CQ-12-a": "第十二条", "CQ-14-a": "第十四条", "CQ-27-a": "第二十七条", "CQ-27-b": "第二十七条",
    "CQ-27-c": "第二十七条", "CQ-32-a": "第三十二条",
}


def test_the_formerly_unmapped_articles_are_attested_with_their_evidence(default: Profile) -> None:
    for cid, clause in ARTICLE_CONTROLS.items():
        c = default.control(cid)
        assert c.source.clause == clause and c.method is Method.ATTEST and c.evidence, cid
    # where an application-level check has a network path, the probe is planned and the evidence says so
    app = {c.id for c in default.controls if "planned:app" in c.tags}
    assert app == {"NHC-13-a", "NHC-17-a", "NHC-22-a", "CQ-27-a", "CQ-32-a"}
    for cid in ("NHC-14-a", "NHC-22-b", "CQ-12-a"):
        assert "planned:platform" in default.control(cid).tags
        assert default.control(cid).applies_to == (ObjectType.PLATFORM_LINK,)


# ---- 密评 (cryptography-l3) ---------------------------------------------------------------------

#: GB/T 39786-2021: 通用要求 (5) and the level-3 chapter (8.1–8.8), items per section ([K], docs/catalog.md).
GM_ITEMS = {"5": 3, "8.1": 3, "8.2": 5, "8.3": 6, "8.4": 8, "8.5": 6, "8.6": 5, "8.7": 5, "8.8": 3}


def test_the_cryptography_profile_lists_its_items_and_reuses_the_tls_gm_probe() -> None:
    p = load_profile("cryptography-l3")
    want = [f"L3-GM-{sec}-{chr(ord('a') + i)}" for sec, n in GM_ITEMS.items() for i in range(n)]
    assert [c.id for c in p.controls] == want and len(want) == 44
    probed = {c.id: c for c in p.controls if c.method is Method.AUTO}
    assert set(probed) == {"L3-GM-8.2-a", "L3-GM-8.2-b", "L3-GM-8.2-c"}
    gm = load_profile("mlps-l3").control("L3-GM-8.2")  # the probe and thresholds the 等保 profile uses
    for c in probed.values():
        assert c.probe == gm.probe == "tls.gm" and c.applies_to == gm.applies_to
        assert {k: v.value for k, v in c.parameters.items()} == {k: v.value for k, v in gm.parameters.items()}
    for c in p.controls:
        assert "[K]" in c.provenance and any(t.startswith("strength:") for t in c.tags)
        assert c.method is Method.AUTO or c.evidence


def test_the_cryptography_assessment_has_its_own_conclusion_outside_the_mlps_score(default: Profile) -> None:
    from ihconform.results import ObjectResult, Status
    from ihconform.scoring import compute_score

    assert "cryptography-l3" not in _header(DEFAULT_PROFILE)["includes"]
    assert not [c.id for c in default.controls if c.source.document == "gbt-39786-2021" and c.id != "L3-GM-8.2"]
    p = load_profile("cryptography-l3")
    assert p.scoring.lowest_grade == "不符合" and set(p.scoring.grades) == {"符合", "基本符合"}

    def score(fail: set[str]) -> str:
        def st(c: Control) -> Status:
            return Status.FAIL if c.id in fail else Status.PASS

        results = [ObjectResult(control_id=c.id, object_id="site", object_type="site", status=st(c),
                                status_zh=st(c).zh) for c in p.controls]
        return compute_score(p.controls, results, p.scoring).grade

    assert score(set()) == "符合"
    assert score({"L3-GM-8.5-a"}) == "基本符合"
    assert score({"L3-GM-8.2-c"}) == "不符合"  # a high-risk failure gates the conclusion
    assert score({c.id for c in p.controls if c.severity.value == "重要"}) == "不符合"


def test_tailoring_written_for_a_former_control_point_applies_to_its_items(tmp_path: Path) -> None:
    """A site profile from before the split (docs once showed ``exclude: L3-M-8.1.9.4``) still loads:
    the exclusion or override applies to every item of that 控制点, and says so."""
    site = tmp_path / "site.yaml"
    site.write_text(
        "profile:\n  id: site\n  title: {zh: 某医院, en: A hospital}\n  version: '1'\n"
        "  includes: [annual-normative-test]\n"
        "  overrides:\n    - {control: L3-M-8.1.10.14, severity: 重要, provenance: '外包运维范围大'}\n"
        "  exclude:\n    - {control: L3-M-8.1.9.4, reason: '无自行软件开发'}\n", encoding="utf-8")
    p = load_profile(site)
    dev = [c.id for c in p.controls if c.control_point == "8.1.9.4 自行软件开发"]
    assert sorted(p.excluded) == sorted(dev) and len(dev) == 7
    assert all("L3-M-8.1.9.4" in p.excluded[i] and "无自行软件开发" in p.excluded[i] for i in dev)
    ops = [c for c in p.controls if c.control_point == "8.1.10.14 外包运维管理"]
    assert len(ops) == 4 and all(c.severity.value == "重要" for c in ops)
    site.write_text(site.read_text(encoding="utf-8").replace("L3-M-8.1.9.4", "L3-M-8.1.99"), encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape("exclusion of unknown control 'L3-M-8.1.99'")):
        load_profile(site)  # an id that never existed is still an error


def test_a_tailored_end_of_support_row_is_checked_when_the_profile_loads(tmp_path: Path) -> None:
    """``support_ends`` rows (host.security_updates) have a form of their own: a malformed one
    stops the load with its file, line and index, not a 检查错误 at run time; well-formed rows
    keep the override's provenance, which the probe quotes as the row's source."""
    site = tmp_path / "site.yaml"
    site.write_text(
        "profile:\n  id: site\n  title: {zh: 某医院, en: A hospital}\n  version: '1'\n"
        "  includes: [annual-normative-test]\n"
        "  overrides:\n    - control: L3-CES1-21\n      parameters:\n        support_ends:\n"
        "          - 'kylin V10 2030-12-31'\n          - 'uos 20 2030-13-01'\n"
        "      provenance: '麒麟软件服务合同 KY-2026-001'\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_profile(site)
    assert err.value.field == "profile.overrides[0].parameters.support_ends[1]"
    assert err.value.location is not None and err.value.location.line == 11
    assert "'uos 20 2030-13-01' is not '<os-release ID> <version> <YYYY-MM-DD>'" in str(err.value)
    site.write_text(site.read_text(encoding="utf-8").replace("2030-13-01", "2030-12-01"), encoding="utf-8")
    param = load_profile(site).control("L3-CES1-21").parameters["support_ends"]
    assert param.value == ["kylin V10 2030-12-31", "uos 20 2030-12-01"]
    assert param.provenance.startswith("麒麟软件服务合同 KY-2026-001 (tailored")
