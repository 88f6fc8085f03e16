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
from ihconform.profile import Control, Method, Profile
from ihconform.registry import PROBES, probe_function

SHIPPED = ("cq-ih-basic-2023", "nhc-ih-supervision-2022", "mlps-l3", "annual-normative-test")

#: The parameters each probe reads from its control (docs/catalog.md, "Probes and parameters"),
#: with the type of value it expects.
PROBE_PARAMS: dict[str, dict[str, type]] = {
    "servers.count": {"min_servers": int},
    "servers.role_separation": {},
    "servers.app_redundancy": {"min_app_nodes": int},
    "host.identities": {},
    "power.dual_supply": {"rule": str, "server_roles": list, "min_healthy_psus": int, "min_ups_feeds": int,
                          "accepted_documents": list, "bad_status_flags": list, "min_battery_charge": int,
                          "min_runtime_s": int},
    "power.redfish": {"min_healthy_psus": int},
    "power.ups": {"bad_status_flags": list, "min_battery_charge": int, "min_runtime_s": int},
    "mlps.assessment": {"required_documents": list, "dated_documents": list, "required_level": int,
                        "max_age_months": int},
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
    "host.log_retention": {"min_days": int, "system_logs": list},
    "host.password_hash": {"allowed_schemes": list, "allowed_encrypt_methods": list},
    "host.high_risk_ports": {"ports": list},
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
    "host.security_updates": {"max_pending": int},
    "host.backups": {"job_patterns": list, "backup_paths": list, "max_age_h": int},
    "host.minimal_services": {"forbidden_processes": list},
    "db.accounts": {"passwordless_roles": list, "os_auth_plugins": list},
    "db.password_encryption": {"allowed_pg_methods": list, "allowed_mysql_plugins": list, "os_auth_plugins": list},
    "db.idle_lockout": {"max_idle_s": int, "max_attempts": int, "lockout_libraries": list, "lockout_plugins": list},
    "db.tls": {"weak_tls_versions": list, "allow_loopback_plain": bool},
    "db.hba": {"forbidden_methods": list, "allowed_any_host_users": list},
    "db.audit": {"min_log_statement": str, "audit_plugins": list},
    "db.superusers": {"allowed_superusers": list},
    "db.backup": {"job_patterns": list, "backup_paths": list, "max_age_h": int},
    "db.app_audit_retention": {"min_days": int},
    "web.hardening": {"stub_status_allowed_sources": list},
    "web.tls_config": {"weak_protocols": list, "weak_cipher_tokens": list, "require_https_redirect": bool},
    "web.logging": {"null_targets": list},
    "web.worker_user": {"forbidden_users": list},
    # network probes (docs/network.md)
    "tls.protocols": {"allowed_protocols": list},
    "tls.cipher_suites": {"weak_patterns": list},
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
    "uplink.distinct_isps": {"min_uplinks": int},
    "av.system": {"timeout_s": int, "sip_ok_codes": list},
    "av.independence": {"min_systems": int, "timeout_s": int, "sip_ok_codes": list},
    "platform.dedicated_line": {"timeout_s": int},
    "clinical.interface": {"timeout_s": int, "require_tls": bool},
}
#: Site-specific lists whose catalog default is empty (docs/probes.md): the site fills them by tailoring.
EMPTY_BY_DEFAULT = {("host.mfa", "bastion_addresses"), ("host.backups", "backup_paths"),
                    ("db.backup", "backup_paths"), ("db.hba", "allowed_any_host_users")}
#: Where a shipped control deliberately differs from the probe's default (tests/fixtures/profiles/host-l3.yaml),
#: and why: -e 2 is the process protection L3-CES1-15 asks for, optional for L3-CES1-14.
NOT_DEFAULT = {("L3-CES1-15", "require_immutable"): True}
DEFAULTS_PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "profiles" / "host-l3.yaml"
#: The network probes' parameters with their defaults and provenance (docs/network.md).
NETWORK_PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "profiles" / "network.yaml"
#: Generic judges of evidence-based controls; an attest/manual control may name one of these or none.
EVIDENCE_JUDGES = {Method.ATTEST: "attest.document", Method.MANUAL: "manual.judgement"}
#: Planned probe domains an ``auto-planned`` control may name (docs/catalog.md).
PLANNED_DOMAINS = {"tls", "uplink", "av", "power", "host", "db", "exposure", "platform", "clinical", "network"}

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
                                                      ("mlps-l3", "L3-")])
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
    assert "[K]" in s.provenance
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
    ids = [f"L3-CNS1-{i:02d}" for i in range(1, 9)]
    ids += [f"L3-ABS1-{i:02d}" for i in range(1, 21)]
    ids += [f"L3-CES1-{i:02d}" for i in range(1, 36) if i != 16]
    ids += [f"L3-SMC1-{i:02d}" for i in range(1, 13)]
    ids += [f"L3-PES1-{i:02d}" for i in range(1, 23)]
    return ids


def test_every_level3_technical_unit_is_present(profiles: dict[str, Profile]) -> None:
    items = _by_item(profiles["mlps-l3"])
    missing = [u for u in _unit_ids() if u not in items]
    assert not missing, f"unit ids without a control: {missing}"
    assert "L3-CES1-16" not in items, "GB/T 28448-2019 has no L3-CES1-16"
    assert len(_unit_ids()) == 96  # 22 + 8 + 20 + 34 + 12


def test_each_unit_has_its_plain_control_and_sub_controls_share_its_clause(profiles: dict[str, Profile]) -> None:
    for item, controls in _by_item(profiles["mlps-l3"]).items():
        if not item.startswith("L3-") or item.startswith("L3-M"):
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
    ("L3-CES1-29", "db.backup"), ("L3-CES1-29.host", "host.backups"), ("L3-CES1-30", "db.backup"),
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
PROBE_OBJECTS = {"host": "host-os", "db": "database", "web": "web-server"}
#: The object type each network probe judges (docs/network.md, "Probes for the catalog").
NETWORK_OBJECTS = {"tls.database": "database", "exposure.open_ports": "host-os", "uplink.bandwidth": "uplink",
                   "uplink.path": "uplink", "uplink.distinct_isps": "site", "av.system": "av-system",
                   "av.independence": "site", "platform.dedicated_line": "platform-link",
                   "clinical.interface": "clinical-interface"}


def test_host_database_and_web_probes_judge_their_own_objects(default: Profile) -> None:
    for c in default.controls:
        family = (c.probe or "").split(".", 1)[0]
        if c.method is Method.AUTO and family in PROBE_OBJECTS:
            assert [t.value for t in c.applies_to] == [PROBE_OBJECTS[family]], f"{c.id} ({c.probe}): {c.applies_to}"


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


def test_every_management_control_point_is_covered(profiles: dict[str, Profile]) -> None:
    points = {c.source.clause for c in profiles["mlps-l3"].controls if c.id.startswith("L3-M-")}
    want = {f"8.1.6.{i}" for i in range(1, 5)} | {f"8.1.7.{i}" for i in range(1, 6)} | \
           {f"8.1.8.{i}" for i in range(1, 5)} | {f"8.1.9.{i}" for i in range(1, 11)} | \
           {f"8.1.10.{i}" for i in range(1, 15)}
    assert points == want
    probed = {"L3-PES1-19", "L3-PES1-20"}  # UPS and server power supplies are read live (power.ups/redfish)
    assert all(c.method is Method.ATTEST for c in profiles["mlps-l3"].controls
               if c.id.startswith(("L3-M-", "L3-PES1")) and c.id not in probed)


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
                          "附录1 四(六)", "附录1 五", "第十八条", "第十九条", "第二十八条"]),
    ("nhc-ih-supervision-2022", ["第十九条", "第二十五条", "第二十七条", "第二十八条", "第三十三条"]),
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
