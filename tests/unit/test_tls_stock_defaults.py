"""tls.cipher_suites against the stock defaults an assessor accepts: ``openssl s_server`` on
loopback offering exactly nginx's default ``ssl_ciphers HIGH:!aNULL:!MD5`` (nginx docs,
ngx_http_ssl_module "ssl_ciphers", default value) with TLS 1.2 + 1.3, judged by the shipped
control L3-CES1-27.ciphers. CBC and static-RSA suites are a finding (部分符合), never 不符合;
a 3DES/RC4-class suite still decides the control alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from ihconform.catalog import load_profile
from ihconform.check import Check
from ihconform.inventory import Institution, Inventory, SystemUnderTest, TlsEndpoint
from ihconform.inventory import TestObject as Obj
from ihconform.net import tls_scan
from ihconform.probes import tls as tp
from ihconform.profile import ObjectType
from ihconform.results import Status
from ihconform.runcache import EvidenceSink, RunCache
from tests.unit.test_net_tls import needs_tools, pki, s_server  # noqa: F401 - pytest fixtures

PROFILE = Path(__file__).resolve().parents[2] / "src" / "ihconform" / "profiles" / "mlps-l3.yaml"
NGINX_DEFAULT = "HIGH:!aNULL:!MD5"


def _judge(port: int, ca: Path, tmp_path: Path, control_id: str = "L3-CES1-27.ciphers") -> Check:
    control = load_profile(str(PROFILE)).control(control_id)
    ep = TlsEndpoint(id="web", host="localhost", address="127.0.0.1", port=port, ca_file=ca)
    inv = Inventory(institution=Institution(name="x"), system=SystemUnderTest(name="y"), tls_endpoints=(ep,))
    check = Check(control, Obj(ObjectType.TLS_ENDPOINT, ep.id, ep.id, ep), inv)
    cache = RunCache(parallel=1)
    try:
        tp.test_cipher_suites(check, cache, EvidenceSink(tmp_path))
    finally:
        cache.close()
    return check


@needs_tools
def test_nginx_default_ciphers_are_a_finding_not_a_fail(  # type: ignore[no-untyped-def]
        s_server, pki: dict[str, Path], tmp_path: Path) -> None:  # noqa: F811
    port = s_server("-cipher", NGINX_DEFAULT, "-no_tls1", "-no_tls1_1")
    check = _judge(port, pki["ca"], tmp_path)
    v = check.verdict
    assert v is not None and v.status is Status.PARTIAL, v
    assert v.observed["weak"] == []
    assert any("_CBC_" in s for s in v.observed["legacy"])


@needs_tools
def test_a_null_suite_decides_alone(s_server, pki: dict[str, Path], tmp_path: Path) -> None:  # type: ignore[no-untyped-def] # noqa: F811
    port = s_server("-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-NULL-SHA:@SECLEVEL=0", "-no_tls1_3")
    run = tls_scan.run_sslyze(tls_scan.Target("localhost", port, "127.0.0.1", pki["ca"]))
    if not any("_NULL_" in s.name for s in tls_scan.parse_scan(run.data).suites):
        pytest.skip("this OpenSSL build has no NULL suites")
    v = _judge(port, pki["ca"], tmp_path).verdict
    assert v is not None and v.status is Status.FAIL
    assert any("_NULL_" in s for s in v.observed["weak"])


@needs_tools
def test_aead_only_passes(s_server, pki: dict[str, Path], tmp_path: Path) -> None:  # type: ignore[no-untyped-def] # noqa: F811
    port = s_server("-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305", "-no_tls1",
                    "-no_tls1_1")
    v = _judge(port, pki["ca"], tmp_path).verdict
    assert v is not None and v.status is Status.PASS


def test_database_tls_honours_the_declared_setting(tmp_path: Path) -> None:
    """A database the inventory declares ``tls_required: false`` (local clients only) is 不适用
    for the network TLS check, as for db.tls; nothing is sent to its port."""
    from ihconform.inventory import Database, Host

    db = Database(id="pg1", host="db01", engine="postgresql", port=5432, tls_required=False)
    inv = Inventory(institution=Institution(name="x"), system=SystemUnderTest(name="y"),
                    hosts=(Host(id="db01", address="198.51.100.10"),), databases=(db,))
    check = Check(load_profile(str(PROFILE)).control("L3-CES1-27.dbtls"), Obj(ObjectType.DATABASE, "pg1", "pg1", db),
                  inv)
    tp.test_database(check, EvidenceSink(tmp_path))
    assert check.verdict is not None and check.verdict.status is Status.NOT_APPLICABLE
    assert "tls_required: false" in check.verdict.reason
