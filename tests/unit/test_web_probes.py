"""Web-server probes on real ``nginx -T`` output: a hardened and a weak configuration, the
Debian default, and the lab's app01; Tomcat's server.xml best effort."""

from __future__ import annotations

import pytest

from ihconform.facts.collect import HostFacts
from ihconform.facts.host import HostView
from ihconform.probes import web as wp
from ihconform.results import Status
from tests.fixtures.facts.factsfix import HERE, load_dir, web_check, with_text

PASS, FAIL, PARTIAL, NA = Status.PASS, Status.FAIL, Status.PARTIAL, Status.NOT_APPLICABLE
WEB = HERE / "web"

#: The server.xml Tomcat 9 ships (comments removed): default shutdown port and command.
TOMCAT_DEFAULT = """## file /etc/tomcat9/server.xml
<?xml version="1.0" encoding="UTF-8"?>
<Server port="8005" shutdown="SHUTDOWN">
  <Listener className="org.apache.catalina.startup.VersionLoggerListener" />
  <Service name="Catalina">
    <Connector port="8080" protocol="HTTP/1.1" connectionTimeout="20000" redirectPort="8443" />
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" unpackWARs="true" autoDeploy="true">
        <Valve className="org.apache.catalina.valves.AccessLogValve" directory="logs"
               prefix="localhost_access_log" suffix=".txt" pattern="%h %l %u %t &quot;%r&quot; %s %b" />
      </Host>
    </Engine>
  </Service>
</Server>
"""


@pytest.fixture(scope="module")
def app01() -> HostFacts:
    return load_dir(HERE / "lab" / "app01", "app01")


def nginx(app01: HostFacts, fixture: str, tomcat: str = "") -> HostFacts:
    facts = with_text(app01, "nginx", (WEB / fixture).read_text())
    return with_text(facts, "tomcat", tomcat)


def judge(fn, probe_id: str, facts: HostFacts, **overrides: object):  # type: ignore[no-untyped-def]
    check = web_check(probe_id, facts.host_id, **overrides)
    if fn is wp.test_worker_user:
        fn(check, facts, HostView(facts))
    else:
        fn(check, facts)
    assert check.verdict is not None
    return check.verdict


PROBES = [(wp.test_hardening, "web.hardening"), (wp.test_tls_config, "web.tls_config"),
          (wp.test_logging, "web.logging"), (wp.test_worker_user, "web.worker_user")]


@pytest.mark.parametrize(("fn", "pid"), PROBES)
def test_lab_app01_passes(app01: HostFacts, fn, pid: str) -> None:  # type: ignore[no-untyped-def]
    v = judge(fn, pid, app01)
    assert v.status is PASS, v


@pytest.mark.parametrize(("fn", "pid"), PROBES)
def test_hardened_configuration_passes(app01: HostFacts, fn, pid: str) -> None:  # type: ignore[no-untyped-def]
    assert judge(fn, pid, nginx(app01, "nginx-hardened.txt")).status is PASS


def test_weak_configuration(app01: HostFacts) -> None:
    facts = nginx(app01, "nginx-weak.txt")
    v = judge(wp.test_hardening, "web.hardening", facts)
    assert v.status is FAIL
    assert v.observed["autoindex_on"] == ["/tmp/ihcweb/weak.d/app.conf"]
    assert v.observed["public_stub_status"] == ["app.example (18080) in /tmp/ihcweb/weak.d/app.conf location /status"]
    v = judge(wp.test_tls_config, "web.tls_config", facts)
    assert v.status is PARTIAL and v.reason == "unmet: nginx protocols, nginx ciphers, HTTP redirected to HTTPS"
    assert list(v.observed["weak_protocols"].values()) == [["TLSv1", "TLSv1.1"]]
    assert list(v.observed["weak_ciphers"].values()) == [["DES-CBC3-SHA", "RC4-SHA"]]
    assert v.observed["plain_http_without_redirect"] == ["app.example (18080) in /tmp/ihcweb/weak.d/app.conf"]
    v = judge(wp.test_logging, "web.logging", facts)
    assert v.status is PARTIAL and v.observed["access_log_off"] == ["/tmp/ihcweb/weak.conf: access_log off"]
    # the configured user is root; the workers in app01's process table still run as www-data
    v = judge(wp.test_worker_user, "web.worker_user", facts)
    assert v.status is PARTIAL and v.observed == {"nginx_user": "root", "nginx_worker_users": ["www-data"]}


def test_debian_default_configuration(app01: HostFacts) -> None:
    facts = nginx(app01, "nginx-debian-default.txt")
    v = judge(wp.test_hardening, "web.hardening", facts)
    assert v.status is PARTIAL and v.reason == "unmet: nginx server_tokens off"  # commented out by default
    v = judge(wp.test_tls_config, "web.tls_config", facts)
    assert v.status is FAIL and v.observed["tls_servers"] == []  # port 80 only, no redirect
    assert judge(wp.test_logging, "web.logging", facts).status is PASS
    assert judge(wp.test_worker_user, "web.worker_user", facts).status is PASS  # www-data


def test_cbc_as_a_parameter(app01: HostFacts) -> None:
    facts = nginx(app01, "nginx-hardened.txt")
    # hardened: AEAD suites only, so adding CBC to the weak list changes nothing
    assert judge(wp.test_tls_config, "web.tls_config", facts,
                 weak_cipher_tokens=["RC4", "3DES", "NULL", "EXPORT", "CBC"]).status is PASS
    weak = wp.weak_ciphers("HIGH:!aNULL:!MD5", ["CBC"])
    assert weak and all("GCM" not in c and "CHACHA" not in c for c in weak)


def test_no_nginx_and_no_tomcat_is_not_applicable(app01: HostFacts) -> None:
    facts = with_text(with_text(app01, "nginx", "## absent\n"), "tomcat", "")
    for fn, pid in PROBES:
        assert judge(fn, pid, facts).status is NA


def test_tomcat_default_server_xml(app01: HostFacts) -> None:
    facts = with_text(with_text(app01, "nginx", "## absent\n"), "tomcat", TOMCAT_DEFAULT)
    v = judge(wp.test_hardening, "web.hardening", facts)
    assert v.status is PARTIAL and "shutdown port" in v.reason
    assert judge(wp.test_logging, "web.logging", facts).status is PASS
