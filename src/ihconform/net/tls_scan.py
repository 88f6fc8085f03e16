"""TLS scans with sslyze run as a separate program, and the facts ihconform judges from them.

Why a subprocess: sslyze is AGPL-3.0 and ihconform is Apache-2.0 (docs/decisions.md), so this
module never imports sslyze. It runs ``python -m sslyze --json_out=FILE ...`` with the
interpreter of this process (where the ``tls`` extra installs it), keeps the JSON and the
console text verbatim as evidence, and reads the JSON as plain data. Every verdict (allowed
protocol versions, weak suites, key size, expiry window, hostname, HSTS) is computed here from
that data, with thresholds passed in by the probe from the profile.

The Mozilla configuration check is the one judgement taken from sslyze: its console output for
``--mozilla_config intermediate`` (or ``modern``/``old``) lists each non-compliance, and
:func:`parse_mozilla` reads those lines. We chose parsing over re-implementing Mozilla's rules
because sslyze ships the versioned Mozilla profile (5.7) the check is defined against; the
console lines are kept as evidence next to the parse.
"""

from __future__ import annotations

import datetime as _dt
import importlib.util
import ipaddress
import json
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ihconform.errors import FactUnavailable

#: sslyze's JSON keys for each protocol version, in order of age.
PROTOCOL_KEYS: dict[str, str] = {
    "SSL_2_0": "ssl_2_0_cipher_suites",
    "SSL_3_0": "ssl_3_0_cipher_suites",
    "TLS_1_0": "tls_1_0_cipher_suites",
    "TLS_1_1": "tls_1_1_cipher_suites",
    "TLS_1_2": "tls_1_2_cipher_suites",
    "TLS_1_3": "tls_1_3_cipher_suites",
}
#: The scan commands ihconform needs (``--mozilla_config`` adds the ones its check needs).
SCAN_OPTIONS = ("--certinfo", "--sslv2", "--sslv3", "--tlsv1", "--tlsv1_1", "--tlsv1_2", "--tlsv1_3",
                "--elliptic_curves", "--http_headers")
CUSTOM_CA_STORE = "Supplied CA file"


@dataclass(frozen=True)
class Target:
    """Where to scan: ``host`` is the name sent as SNI and matched against the certificate;
    ``address`` (optional) is where to connect, so no DNS is needed."""

    host: str
    port: int = 443
    address: str = ""
    ca_file: Path | None = None

    @property
    def spec(self) -> str:
        """sslyze's target syntax: ``host:port{ip}``."""
        return f"{self.host}:{self.port}" + (f"{{{self.address}}}" if self.address else "")


@dataclass(frozen=True)
class SslyzeRun:
    """One sslyze run, kept verbatim: the argv, its JSON document, its console text."""

    argv: tuple[str, ...]
    json_text: str
    console: str
    seconds: float

    @property
    def data(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.json_text)
        return doc


def sslyze_argv(target: Target, json_path: Path, mozilla: str = "intermediate",
                python: str = sys.executable) -> list[str]:
    """The command line of one scan (exposed so the benchmark and the docs show the same)."""
    if mozilla not in ("modern", "intermediate", "old", "disable"):
        raise ValueError(f"mozilla profile must be modern, intermediate, old or disable, not {mozilla!r}")
    argv = [python, "-m", "sslyze", f"--json_out={json_path}", *SCAN_OPTIONS, f"--mozilla_config={mozilla}"]
    if target.ca_file is not None:
        argv.append(f"--certinfo_ca_file={target.ca_file}")
    argv.append(target.spec)
    return argv


def sslyze_available() -> bool:
    """Whether the ``tls`` extra is installed (located, not imported: see the module doc)."""
    return importlib.util.find_spec("sslyze") is not None


def run_sslyze(target: Target, *, mozilla: str = "intermediate", timeout: float = 180.0) -> SslyzeRun:
    """Run one scan. Raises FactUnavailable if sslyze is missing, times out or writes no JSON."""
    if not sslyze_available():
        raise FactUnavailable("sslyze is not installed; install the tls extra: pip install 'ihconform[tls]'")
    with tempfile.TemporaryDirectory(prefix="ihc-sslyze-") as tmp:
        out = Path(tmp) / "scan.json"
        argv = sslyze_argv(target, out, mozilla)
        t0 = time.monotonic()
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise FactUnavailable(f"sslyze scan of {target.spec} timed out after {timeout:.0f} s") from exc
        seconds = time.monotonic() - t0
        if not out.exists():
            raise FactUnavailable(f"sslyze wrote no JSON for {target.spec} (exit {proc.returncode}): "
                                  f"{(proc.stderr or proc.stdout).strip()[-500:]}")
        return SslyzeRun(tuple(argv), out.read_text(encoding="utf-8"), proc.stdout + proc.stderr,
                         round(seconds, 3))


@dataclass(frozen=True)
class Suite:
    protocol: str
    name: str  # IANA name, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    key_size: int
    anonymous: bool


@dataclass(frozen=True)
class Certificate:
    """The leaf certificate as served with SNI, and how its path validated."""

    subject: str
    issuer: str
    not_before: _dt.datetime
    not_after: _dt.datetime
    key_algorithm: str  # RSAPublicKey, ECPublicKey, ...
    key_size: int
    curve: str | None
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    trusted_by: tuple[str, ...]  # trust store names whose path validation succeeded
    validation_errors: dict[str, str]
    custom_ca: bool  # whether a CA file was supplied (then only that store counts)
    chain_in_order: bool | None


@dataclass(frozen=True)
class TlsScan:
    """What one sslyze scan says, as data (no verdicts)."""

    target: str
    protocols: dict[str, bool]
    suites: tuple[Suite, ...]
    certificate: Certificate | None
    hsts_max_age: int | None
    hsts_error: str | None
    curves: tuple[str, ...]
    errors: dict[str, str] = field(default_factory=dict)  # scan command -> why it did not complete

    @property
    def offered(self) -> list[str]:
        return [p for p, on in self.protocols.items() if on]


def _time(value: str) -> _dt.datetime:
    return _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def parse_scan(doc: dict[str, Any]) -> TlsScan:
    """Read sslyze's JSON (6.x schema). Raises FactUnavailable when the server could not be
    reached or a protocol scan did not complete, since verdicts on partial data would mislead."""
    results = doc.get("server_scan_results") or []
    if len(results) != 1:
        raise FactUnavailable(f"sslyze JSON holds {len(results)} server results, expected 1")
    res = results[0]
    loc = res.get("server_location") or {}
    target = f"{loc.get('hostname')}:{loc.get('port')}" + (f" ({loc['ip_address']})" if loc.get("ip_address") else "")
    if res.get("connectivity_status") != "COMPLETED":
        trace = (res.get("connectivity_error_trace") or "").strip().splitlines()
        raise FactUnavailable(f"TLS endpoint {target} not reachable: "
                              f"{trace[-1] if trace else res.get('connectivity_status')}")
    sr: dict[str, Any] = res.get("scan_result") or {}
    errors: dict[str, str] = {}
    protocols: dict[str, bool] = {}
    suites: list[Suite] = []
    for proto, key in PROTOCOL_KEYS.items():
        attempt = sr.get(key) or {}
        if attempt.get("status") != "COMPLETED" or attempt.get("result") is None:
            errors[key] = str(attempt.get("error_reason") or attempt.get("status") or "missing")
            continue
        result = attempt["result"]
        accepted = result.get("accepted_cipher_suites") or []
        protocols[proto] = bool(result.get("is_tls_version_supported")) or bool(accepted)
        for a in accepted:
            cs = a["cipher_suite"]
            suites.append(Suite(proto, cs["name"], int(cs.get("key_size") or 0), bool(cs.get("is_anonymous"))))
    if errors:
        raise FactUnavailable(f"sslyze could not enumerate protocols on {target}: "
                              + "; ".join(f"{k}: {v}" for k, v in errors.items()))
    cert = _certificate(sr.get("certificate_info") or {}, errors)
    hsts_age: int | None = None
    hsts_error: str | None = None
    hh = sr.get("http_headers") or {}
    if hh.get("status") == "COMPLETED" and hh.get("result") is not None:
        if hh["result"].get("http_error_trace"):
            hsts_error = str(hh["result"]["http_error_trace"]).strip().splitlines()[-1]
        sts = hh["result"].get("strict_transport_security_header")
        if sts is not None:
            hsts_age = int(sts.get("max_age") or 0)
    else:
        hsts_error = str(hh.get("error_reason") or hh.get("status") or "http_headers not scanned")
    curves: tuple[str, ...] = ()
    ec = sr.get("elliptic_curves") or {}
    if ec.get("status") == "COMPLETED" and ec.get("result"):
        curves = tuple(c["name"] for c in ec["result"].get("supported_curves") or ())
    return TlsScan(target, protocols, tuple(suites), cert, hsts_age, hsts_error, curves, errors)


def _certificate(attempt: dict[str, Any], errors: dict[str, str]) -> Certificate | None:
    if attempt.get("status") != "COMPLETED" or not attempt.get("result"):
        errors["certificate_info"] = str(attempt.get("error_reason") or attempt.get("status") or "missing")
        return None
    deployments = attempt["result"].get("certificate_deployments") or []
    if not deployments:
        errors["certificate_info"] = "no certificate received"
        return None
    dep = deployments[0]
    leaf = dep["received_certificate_chain"][0]
    san = leaf.get("subject_alternative_name") or {}
    pk = leaf.get("public_key") or {}
    trusted, verrors, custom = [], {}, False
    for pv in dep.get("path_validation_results") or ():
        name = pv["trust_store"]["name"]
        custom = custom or name == CUSTOM_CA_STORE
        if pv.get("was_validation_successful"):
            trusted.append(name)
        else:
            verrors[name] = str(pv.get("validation_error") or "failed")
    return Certificate(
        subject=leaf["subject"]["rfc4514_string"], issuer=leaf["issuer"]["rfc4514_string"],
        not_before=_time(leaf["not_valid_before"]), not_after=_time(leaf["not_valid_after"]),
        key_algorithm=str(pk.get("algorithm") or ""), key_size=int(pk.get("key_size") or 0),
        curve=pk.get("ec_curve_name"), dns_names=tuple(san.get("dns_names") or ()),
        ip_addresses=tuple(san.get("ip_addresses") or ()), trusted_by=tuple(trusted),
        validation_errors=verrors, custom_ca=custom, chain_in_order=dep.get("received_chain_has_valid_order"),
    )


# ---- verdict helpers (pure; thresholds come from the caller) ----------------------------------


def weak_suites(scan: TlsScan, patterns: list[str]) -> list[str]:
    """Accepted suites whose IANA name matches one of ``patterns`` (regular expressions), or
    that are anonymous; as ``PROTOCOL:NAME``. The profile holds the patterns."""
    regs = [re.compile(p) for p in patterns]
    return [f"{s.protocol}:{s.name}" for s in scan.suites
            if s.anonymous or any(r.search(s.name) for r in regs)]


def is_weak_name(name: str, patterns: list[str]) -> bool:
    """The same rule applied to one IANA suite name (used to compare with testssl.sh)."""
    return any(re.search(p, name) for p in patterns)


def hostname_matches(host: str, cert: Certificate) -> bool:
    """RFC 6125 matching against the SAN only (a CN is not consulted): exact DNS name, a
    single left-most ``*`` label, or an IP address in the SAN's IP entries."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        return any(ipaddress.ip_address(a) == ip for a in cert.ip_addresses)
    h = host.lower().rstrip(".")
    for name in cert.dns_names:
        n = name.lower().rstrip(".")
        if n == h:
            return True
        if n.startswith("*.") and "." in h and h.split(".", 1)[1] == n[2:] and h.split(".", 1)[0]:
            return True
    return False


def path_valid(cert: Certificate) -> bool:
    """The chain validated (including sslyze's hostname check in path validation). With a CA
    file supplied, that store decides; otherwise any of the public trust stores."""
    if cert.custom_ca:
        return CUSTOM_CA_STORE in cert.trusted_by
    return bool(cert.trusted_by)


def days_left(cert: Certificate, now: _dt.datetime | None = None) -> float:
    now = now or _dt.datetime.now(_dt.UTC)
    return (cert.not_after - now).total_seconds() / 86400


def key_strong_enough(cert: Certificate, min_rsa_bits: int, min_ec_bits: int) -> bool:
    if cert.key_algorithm.startswith("RSA") or cert.key_algorithm.startswith("DSA"):
        return cert.key_size >= min_rsa_bits
    if cert.key_algorithm.startswith("EC"):
        return cert.key_size >= min_ec_bits
    return cert.key_algorithm.startswith("Ed")  # Ed25519/Ed448: fixed, strong sizes


@dataclass(frozen=True)
class MozillaCheck:
    profile: str
    compliant: bool
    issues: tuple[str, ...]
    lines: tuple[str, ...]  # the console lines it was read from (evidence)


_MOZ_HEAD = re.compile(r"Checking results against Mozilla's \"(\w+)\" configuration")
_MOZ_RES = re.compile(r"^\s*(\S+:\d+): (OK|FAILED|ERROR) - (.*)$")


def parse_mozilla(console: str) -> MozillaCheck:
    """Read the ``COMPLIANCE AGAINST TLS CONFIGURATION`` section of sslyze's console output."""
    _, sep, section = console.partition("COMPLIANCE AGAINST TLS CONFIGURATION")
    if not sep:
        raise FactUnavailable("sslyze printed no Mozilla compliance section")
    head = _MOZ_HEAD.search(section)
    if head is None:
        raise FactUnavailable("sslyze's Mozilla compliance check did not run: "
                              + " ".join(section.split())[:200])
    lines = [ln.rstrip() for ln in section.splitlines() if ln.strip() and not set(ln.strip()) <= {"-"}]
    verdict: str | None = None
    issues: list[str] = []
    detail = ""
    for ln in lines:
        m = _MOZ_RES.match(ln)
        if m:
            verdict, detail = m.group(2), m.group(3)
        elif verdict == "FAILED" and ln.strip().startswith("* "):
            issues.append(ln.strip()[2:])
    if verdict is None:
        raise FactUnavailable("no Mozilla compliance result in sslyze's output")
    if verdict == "ERROR":
        raise FactUnavailable(f"sslyze's Mozilla check failed: {detail}")
    return MozillaCheck(head.group(1), verdict == "OK", tuple(issues), tuple(lines))


def scan_summary(scan: TlsScan) -> dict[str, Any]:
    """A compact, JSON-able view for ``observed`` in results."""
    c = scan.certificate
    return {
        "target": scan.target,
        "protocols": scan.offered,
        "suites": {p: [s.name for s in scan.suites if s.protocol == p] for p in scan.offered},
        "certificate": None if c is None else {
            "subject": c.subject, "issuer": c.issuer, "not_after": c.not_after.isoformat(),
            "key": f"{c.key_algorithm} {c.key_size}", "dns_names": list(c.dns_names),
            "ip_addresses": list(c.ip_addresses), "trusted_by": list(c.trusted_by)},
        "hsts_max_age": scan.hsts_max_age,
    }
