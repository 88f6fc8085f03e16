"""TLS on every exposed service (L3-CNS1-06/07, L3-CES1-27) and 国密 suites (GB/T 39786).

One sslyze scan per endpoint and run (run cache, started at collection by
:func:`ihc_prefetch`), shared by every TLS control; each control attaches the verbatim JSON
and console output and records its own verdict from ihconform's reading of it
(:mod:`ihconform.net.tls_scan`). The 国密 probe and the database probe speak the wire
protocol themselves (:mod:`ihconform.net.tlcp`, :mod:`ihconform.net.dbtls`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ihconform.check import Check
from ihconform.errors import FactUnavailable
from ihconform.inventory import Database, TlsEndpoint
from ihconform.net import dbtls, tlcp, tls_scan
from ihconform.plan import RunPlan
from ihconform.registry import probe
from ihconform.runcache import EvidenceSink, RunCache

SSLYZE_PROBES = ("tls.protocols", "tls.cipher_suites", "tls.certificate", "tls.hsts", "tls.mozilla")


def _endpoint(check: Check) -> TlsEndpoint:
    ref = check.obj.ref
    if not isinstance(ref, TlsEndpoint):
        raise FactUnavailable(f"{check.obj.id} is not a TLS endpoint")
    return ref


def _target(ep: TlsEndpoint) -> tls_scan.Target:
    return tls_scan.Target(host=ep.host, port=ep.port, address=ep.address, ca_file=ep.ca_file)


def _key(ep: TlsEndpoint, mozilla: str) -> str:
    return f"tls.sslyze:{ep.id}:{mozilla}"


def _mozilla_profile(check: Check) -> str:
    return str(check.param("mozilla_profile")) if "mozilla_profile" in check.control.parameters \
        else "intermediate"


def _scanner(ep: TlsEndpoint, mozilla: str) -> Callable[[], tls_scan.SslyzeRun]:
    return lambda: tls_scan.run_sslyze(_target(ep), mozilla=mozilla)


def ihc_prefetch(plan: RunPlan, cache: RunCache) -> None:
    """Start every endpoint's sslyze scan now, concurrently with host fact gathering."""
    for pid in SSLYZE_PROBES:
        for pair in plan.by_probe.get(pid, []):
            ep = pair.obj.ref
            if isinstance(ep, TlsEndpoint):
                moz = str(pair.control.parameters["mozilla_profile"].value) \
                    if "mozilla_profile" in pair.control.parameters else "intermediate"
                cache.start(_key(ep, moz), _scanner(ep, moz))


def _scan(check: Check, run_cache: RunCache, evidence: EvidenceSink,
          mozilla: str = "intermediate") -> tuple[tls_scan.SslyzeRun, tls_scan.TlsScan]:
    ep = _endpoint(check)
    run = run_cache.get(_key(ep, mozilla), _scanner(ep, mozilla))
    check.attach(evidence.write(("tls", ep.id, f"sslyze-{mozilla}.json"), run.json_text, kind="tls-scan"))
    check.attach(evidence.write(("tls", ep.id, f"sslyze-{mozilla}.txt"),
                                "$ " + " ".join(run.argv) + "\n\n" + run.console, kind="tls-scan-console"))
    return run, tls_scan.parse_scan(run.data)


@probe("tls.protocols", facts=())
def test_protocols(check: Check, run_cache: RunCache, evidence: EvidenceSink) -> None:
    allowed = [str(p) for p in check.list_param("allowed_protocols")]
    _, scan = _scan(check, run_cache, evidence)
    bad = [p for p in scan.offered if p not in allowed]
    ok = bool(scan.offered) and not bad
    check.judge(ok, observed={"offered": scan.offered}, expected={"only": allowed},
                reason=(f"不应启用的协议版本 / protocol versions that must be off: {', '.join(bad)}" if bad else
                        "没有可用的 TLS 协议版本 / no TLS version accepted" if not scan.offered else
                        f"仅启用 / only {', '.join(scan.offered)}"))


#: The probe's names of its two sub-checks; the profile marks the first decisive.
WEAK_PART = "no weak suite"
LEGACY_PART = "no legacy suite"


@probe("tls.cipher_suites", facts=(), parts=(WEAK_PART, LEGACY_PART))
def test_cipher_suites(check: Check, run_cache: RunCache, evidence: EvidenceSink) -> None:
    """No weak suite (``weak_patterns``: NULL, anonymous, EXPORT, RC4, DES/3DES …) and, as a
    finding only, no legacy suite (``legacy_patterns``: CBC, static-RSA key exchange). The
    split is the assessors' practice: nginx's stock ``HIGH:!aNULL:!MD5`` on OpenSSL 1.1/3
    offers CBC and TLS_RSA_WITH_* suites under TLS 1.2, which are accepted (部分符合 at most),
    while a truly weak suite decides the control alone (``decisive`` in the profile)."""
    patterns = [str(p) for p in check.list_param("weak_patterns")]
    legacy_patterns = [str(p) for p in check.list_param("legacy_patterns")]
    _, scan = _scan(check, run_cache, evidence)
    weak = tls_scan.weak_suites(scan, patterns)
    legacy = [s for s in tls_scan.weak_suites(scan, legacy_patterns) if s not in weak]
    why = []
    if weak:
        why.append(f"{len(weak)} 个弱密码套件 / weak suites accepted: {', '.join(weak[:8])}"
                   + (" ..." if len(weak) > 8 else ""))
    if legacy:
        why.append(f"{len(legacy)} 个遗留套件（CBC/RSA 密钥交换，可接受但建议关闭） / legacy suites accepted: "
                   + ", ".join(legacy[:6]) + (" ..." if len(legacy) > 6 else ""))
    check.judge_parts({WEAK_PART: not weak, LEGACY_PART: not legacy},
                      observed={"weak": weak, "legacy": legacy,
                                "accepted": [f"{s.protocol}:{s.name}" for s in scan.suites]},
                      expected={"no suite matching": patterns, "finding only": legacy_patterns},
                      reason="; ".join(why) or
                      f"{len(scan.suites)} 个套件均非弱套件 / no weak suite among {len(scan.suites)}")


@probe("tls.certificate", facts=(), parts=("path_validation", "hostname_match", "expiry_window", "key_size"))
def test_certificate(check: Check, run_cache: RunCache, evidence: EvidenceSink) -> None:
    min_rsa, min_ec = check.int_param("min_rsa_bits"), check.int_param("min_ec_bits")
    min_days = check.float_param("min_days_left")
    ep = _endpoint(check)
    _, scan = _scan(check, run_cache, evidence)
    cert = scan.certificate
    if cert is None:
        raise FactUnavailable(f"no certificate information from {scan.target}: {scan.errors.get('certificate_info')}")
    left = tls_scan.days_left(cert)
    parts = {
        "path_validation": tls_scan.path_valid(cert),
        "hostname_match": tls_scan.hostname_matches(ep.host, cert),
        "expiry_window": left >= min_days,
        "key_size": tls_scan.key_strong_enough(cert, min_rsa, min_ec),
    }
    observed = {"subject": cert.subject, "issuer": cert.issuer, "not_after": cert.not_after.isoformat(),
                "days_left": round(left, 1), "key": f"{cert.key_algorithm} {cert.key_size}",
                "san_dns": list(cert.dns_names), "san_ip": list(cert.ip_addresses),
                "trusted_by": list(cert.trusted_by),
                "validation_errors": cert.validation_errors if not parts["path_validation"] else {}}
    why = []
    if not parts["path_validation"]:
        store = tls_scan.CUSTOM_CA_STORE if cert.custom_ca else "any public trust store"
        error = cert.validation_errors.get(store, "not trusted")
        why.append(f"证书链校验失败 / path validation failed ({store}: {error})")
    if not parts["hostname_match"]:
        why.append(f"证书不含主机名 / {ep.host} not in the certificate's SAN")
    if not parts["expiry_window"]:
        why.append("证书已过期 / expired" if left < 0 else f"证书 {left:.0f} 天后过期 / expires in {left:.0f} days")
    if not parts["key_size"]:
        why.append(f"密钥过短 / key too small: {cert.key_algorithm} {cert.key_size}")
    expected = {"path_validation": "trusted", "hostname": ep.host, "days_left": f">= {min_days:g}",
                "rsa_bits": f">= {min_rsa}", "ec_bits": f">= {min_ec}"}
    reason = "; ".join(why) or f"证书有效 / certificate valid for {ep.host}, {left:.0f} days left"
    if not (parts["path_validation"] and parts["hostname_match"]) or left < 0:
        # an untrusted, misnamed or expired certificate authenticates nothing: no partial credit
        check.judge(False, observed=observed, expected=expected, reason=reason)
        return
    check.judge_parts(parts, observed=observed, expected=expected, reason=reason)


@probe("tls.hsts", facts=())
def test_hsts(check: Check, run_cache: RunCache, evidence: EvidenceSink) -> None:
    min_age = check.int_param("min_max_age")
    _, scan = _scan(check, run_cache, evidence)
    if scan.hsts_max_age is None and scan.hsts_error:
        raise FactUnavailable(f"could not read HTTP headers from {scan.target}: {scan.hsts_error}")
    age = scan.hsts_max_age
    check.judge(age is not None and age >= min_age, observed={"max_age": age}, expected=f"max-age >= {min_age}",
                reason=("未返回 HSTS 头 / no Strict-Transport-Security header" if age is None else
                        f"HSTS max-age={age}"))


@probe("tls.mozilla", facts=())
def test_mozilla(check: Check, run_cache: RunCache, evidence: EvidenceSink) -> None:
    profile = str(check.param("mozilla_profile"))
    run, _ = _scan(check, run_cache, evidence, mozilla=profile)
    moz = tls_scan.parse_mozilla(run.console)
    check.judge(moz.compliant, observed={"profile": moz.profile, "issues": list(moz.issues)},
                expected=f"Mozilla {profile} compliant",
                reason=("; ".join(moz.issues) if moz.issues else
                        f"符合 Mozilla {moz.profile} 配置 / compliant with Mozilla {moz.profile}"))


@probe("tls.gm", facts=())
def test_gm(check: Check, evidence: EvidenceSink) -> None:
    """国密: TLCP and RFC 8998 suites offered (GB/T 39786 网络和通信 a/c)."""
    ep = _endpoint(check)
    if check.param("declared_only") is True and not ep.gm:
        check.not_applicable(f"{ep.id} is not declared as a 国密 endpoint (gm: false)")
        return
    timeout = check.float_param("timeout_s")
    rep = tlcp.probe_gm(ep.address or ep.host, ep.port, ep.host, timeout=timeout)
    data = dataclasses.asdict(rep) | {"offered": rep.offered}
    check.attach(evidence.write(("tls", ep.id, "gm-handshakes.json"), data, kind="gm-handshake"))
    check.judge(bool(rep.offered), observed={"offered": rep.offered, "certificates": rep.certificates},
                expected="at least one SM suite (TLCP 0xE011/E013/E051/E053 or RFC 8998 0x00C6/C7)",
                reason=(f"提供国密套件 / offers {', '.join(rep.offered)}" if rep.offered else
                        "未提供国密套件 / no SM suite offered: " +
                        "; ".join(f"{a['protocol']} {a['suite']}: {a['answer']}" for a in rep.attempts)))


@probe("tls.database", facts=(), parts=("tls_offered", "plaintext_refused"))
def test_database(check: Check, evidence: EvidenceSink) -> None:
    """Network-side TLS of a database port (the host-side settings are ``db.tls``)."""
    db = check.obj.ref
    if not isinstance(db, Database):
        raise FactUnavailable(f"{check.obj.id} is not a database")
    if db.engine not in ("postgresql", "mysql", "mariadb"):
        check.not_checked(f"no network TLS check for {db.engine} yet")
        return
    if not db.tls_required:
        # The inventory's declaration (no remote clients) is what db.tls honours too: judging
        # the port's TLS here would fail a database that only serves its own host.
        check.not_applicable(f"inventory declares tls_required: false for {db.id} (no remote clients)")
        return
    address = check.inventory.host(db.host).address
    res = dbtls.database_tls(db.engine, address, db.port, check.float_param("timeout_s"))
    check.attach(evidence.write(("tls", db.id, "db-tls.json"), dataclasses.asdict(res), kind="db-tls"))
    observed = {"tls_offered": res.tls_offered, "plaintext_refused": res.plaintext_refused, "detail": res.detail}
    parts = {"tls_offered": res.tls_offered}
    if res.plaintext_refused is not None:
        parts["plaintext_refused"] = res.plaintext_refused
    check.judge_parts(parts, observed=observed, expected="TLS offered; plaintext refused (when declared required)",
                      reason=res.detail + ("" if res.plaintext_refused is not None else
                                           "; plaintext refusal is read from inside the host (db.tls)"))
