"""TLS scan: sslyze run as a program against local openssl s_server instances (loopback only),
its JSON read as data, and ihconform's own verdict helpers."""

from __future__ import annotations

import datetime as _dt
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ihconform.errors import FactUnavailable
from ihconform.net import tls_scan

SRC = Path(__file__).resolve().parents[2] / "src" / "ihconform"
WEAK = ["_NULL_", "_anon_", "_EXPORT", "_RC4_", "_DES_", "3DES", "_IDEA_", "_MD5$", "_CBC_", "^TLS_RSA_WITH_"]
needs_tools = pytest.mark.skipif(shutil.which("openssl") is None or not tls_scan.sslyze_available(),
                                 reason="needs the openssl program and the tls extra (sslyze)")


def test_ihconform_never_imports_sslyze() -> None:
    """docs/decisions.md: sslyze (AGPL) is only ever run as a separate program."""
    pat = re.compile(r"^\s*(import sslyze|from sslyze)", re.MULTILINE)
    offenders = [str(p) for p in SRC.rglob("*.py") if pat.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pki")
    now = _dt.datetime.now(_dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("Test CA")).issuer_name(_name("Test CA"))
          .public_key(ca_key.public_key()).serial_number(1).not_valid_before(now - _dt.timedelta(days=1))
          .not_valid_after(now + _dt.timedelta(days=365))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    leaf = (x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(2).not_valid_before(now - _dt.timedelta(days=1))
            .not_valid_after(now + _dt.timedelta(days=20))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                         x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    (d / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (d / "tls.crt").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (d / "tls.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    return {"ca": d / "ca.crt", "cert": d / "tls.crt", "key": d / "tls.key"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def s_server(pki: dict[str, Path]) -> Iterator[object]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(*extra: str) -> int:
        port = _free_port()
        p = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(pki["cert"]),
                              "-key", str(pki["key"]), "-www", "-quiet", *extra],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return port
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("openssl s_server did not start")

    yield start
    for p in procs:
        p.terminate()
        p.wait(5)


@needs_tools
def test_modern_server_scan_and_verdict_helpers(s_server, pki: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    port = s_server("-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305", "-no_tls1",
                    "-no_tls1_1")
    run = tls_scan.run_sslyze(tls_scan.Target("localhost", port, "127.0.0.1", pki["ca"]))
    assert "sslyze" in run.argv and run.json_text.startswith("{")
    scan = tls_scan.parse_scan(run.data)
    assert scan.offered == ["TLS_1_2", "TLS_1_3"]
    assert tls_scan.weak_suites(scan, WEAK) == []
    cert = scan.certificate
    assert cert is not None and cert.custom_ca and tls_scan.path_valid(cert)
    assert tls_scan.hostname_matches("localhost", cert) and tls_scan.hostname_matches("127.0.0.1", cert)
    assert not tls_scan.hostname_matches("other.example", cert)
    assert 18 < tls_scan.days_left(cert) < 21  # a 30-day window would flag it
    assert tls_scan.key_strong_enough(cert, 2048, 256) and not tls_scan.key_strong_enough(cert, 2048, 384)
    assert scan.hsts_max_age is None  # s_server -www sends no HSTS header
    moz = tls_scan.parse_mozilla(run.console)
    assert moz.profile == "intermediate" and isinstance(moz.compliant, bool)


@needs_tools
def test_weak_server_is_seen_weak(s_server, pki: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    port = s_server("-cipher", "DEFAULT:@SECLEVEL=0", "-no_tls1_3")
    run = tls_scan.run_sslyze(tls_scan.Target("localhost", port, "127.0.0.1", pki["ca"]))
    scan = tls_scan.parse_scan(run.data)
    assert "TLS_1_3" not in scan.offered and {"TLS_1_0", "TLS_1_1"} <= set(scan.offered)
    weak = tls_scan.weak_suites(scan, WEAK)
    assert any("_CBC_" in w for w in weak)
    moz = tls_scan.parse_mozilla(run.console)
    assert not moz.compliant and any("tls_versions" in i or "ciphers" in i for i in moz.issues)


@needs_tools
def test_unreachable_endpoint_is_an_error() -> None:
    port = _free_port()
    run = tls_scan.run_sslyze(tls_scan.Target("localhost", port, "127.0.0.1"), timeout=60)
    with pytest.raises(FactUnavailable, match="not reachable"):
        tls_scan.parse_scan(run.data)


def test_missing_sslyze_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tls_scan, "sslyze_available", lambda: False)
    with pytest.raises(FactUnavailable, match=r"ihconform\[tls\]"):
        tls_scan.run_sslyze(tls_scan.Target("localhost", 1))


def test_argv_quotes_nothing_and_names_the_target() -> None:
    argv = tls_scan.sslyze_argv(tls_scan.Target("app01.lab", 443, "198.51.100.20", Path("/x/ca.crt")),
                                Path("/tmp/o.json"), "modern", python="py")
    assert argv[:3] == ["py", "-m", "sslyze"] and argv[-1] == "app01.lab:443{198.51.100.20}"
    assert "--mozilla_config=modern" in argv and "--certinfo_ca_file=/x/ca.crt" in argv
    with pytest.raises(ValueError):
        tls_scan.sslyze_argv(tls_scan.Target("h"), Path("o"), "lenient")


COMPLIANT = """
 COMPLIANCE AGAINST TLS CONFIGURATION
 ------------------------------------

    Checking results against Mozilla's "intermediate" configuration. See https://ssl-config.mozilla.org/ for more.

    app01.lab:443: OK - Compliant.
"""
FAILED = """
 COMPLIANCE AGAINST TLS CONFIGURATION
 ------------------------------------

    Checking results against Mozilla's "intermediate" configuration. See https://ssl-config.mozilla.org/ for more.

    app01.lab:443: FAILED - Not compliant.
        * tls_versions: TLS versions {'TLSv1', 'TLSv1.1'} are supported, but should be rejected.
        * ciphers: Cipher suites {'TLS_RSA_WITH_AES_128_CBC_SHA'} are supported, but should be rejected.
"""


def test_parse_mozilla_sections() -> None:
    ok = tls_scan.parse_mozilla("...\n" + COMPLIANT)
    assert ok.compliant and ok.issues == ()
    bad = tls_scan.parse_mozilla(FAILED)
    assert not bad.compliant and len(bad.issues) == 2 and bad.issues[0].startswith("tls_versions:")
    with pytest.raises(FactUnavailable, match="did not run"):
        tls_scan.parse_mozilla(" COMPLIANCE AGAINST TLS CONFIGURATION\n    Disabled; use --mozilla_config\n")
    with pytest.raises(FactUnavailable):
        tls_scan.parse_mozilla("no section here")


def _cert(**kw: object) -> tls_scan.Certificate:
    base: dict[str, object] = dict(
        subject="CN=x", issuer="CN=ca", not_before=_dt.datetime(2026, 1, 1, tzinfo=_dt.UTC),
        not_after=_dt.datetime(2027, 1, 1, tzinfo=_dt.UTC), key_algorithm="RSAPublicKey", key_size=2048,
        curve=None, dns_names=("*.example.org", "example.org"), ip_addresses=(), trusted_by=(),
        validation_errors={}, custom_ca=False, chain_in_order=True)
    base.update(kw)
    return tls_scan.Certificate(**base)  # type: ignore[arg-type]


def test_hostname_wildcards_cover_one_label_only() -> None:
    c = _cert()
    assert tls_scan.hostname_matches("www.example.org", c)
    assert tls_scan.hostname_matches("EXAMPLE.org.", c)
    assert not tls_scan.hostname_matches("a.b.example.org", c)
    assert not tls_scan.hostname_matches("198.51.100.20", c)


def test_key_sizes_and_trust_rules() -> None:
    assert not tls_scan.key_strong_enough(_cert(key_size=1024), 2048, 256)
    assert tls_scan.key_strong_enough(_cert(key_algorithm="Ed25519PublicKey", key_size=256), 2048, 256)
    assert not tls_scan.path_valid(_cert(custom_ca=True, trusted_by=("Mozilla",)))
    assert tls_scan.path_valid(_cert(custom_ca=True, trusted_by=(tls_scan.CUSTOM_CA_STORE,)))
    assert tls_scan.path_valid(_cert(trusted_by=("Mozilla",)))
    assert tls_scan.days_left(_cert(), _dt.datetime(2026, 12, 2, tzinfo=_dt.UTC)) == 30


def test_partial_scans_are_refused() -> None:
    doc = {"server_scan_results": [{
        "server_location": {"hostname": "h", "port": 443, "ip_address": "198.51.100.20"},
        "connectivity_status": "COMPLETED",
        "scan_result": {k: {"status": "ERROR", "error_reason": "CONNECTIVITY_ISSUE", "result": None}
                        for k in tls_scan.PROTOCOL_KEYS.values()}}]}
    with pytest.raises(FactUnavailable, match="could not enumerate protocols"):
        tls_scan.parse_scan(doc)
