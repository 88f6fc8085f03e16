"""Apache httpd and Tomcat judged from the batch sections (facts/middleware.py).

``*.debian12-stock.txt`` are the real sections as this project's scripts printed them on a
Debian 12 machine with ``apache2`` and ``tomcat10`` just installed (tests/fixtures/facts/
middleware). They were captured when the scripts still fell back to the installed files with no
server running; the ``## master`` and ``## procs`` lines of the Apache one were then edited to
what ``apache2ctl start`` shows (a root master, www-data workers), since a stopped server is now
不适用. The hardened variants change exactly the lines an administrator would."""

from __future__ import annotations

from pathlib import Path

from ihconform.catalog import load_profile
from ihconform.check import Check
from ihconform.facts.collect import HostFacts, Section, SectionResult
from ihconform.facts.middleware import parse_apache, parse_tomcat_apps
from ihconform.inventory import TestObject as Obj
from ihconform.probes import middleware as mw
from ihconform.profile import ObjectType
from ihconform.results import Status
from tests.fixtures.facts.factsfix import LAB

HERE = Path(__file__).parents[1] / "fixtures" / "facts" / "middleware"
APACHE = (HERE / "apache.debian12-stock.txt").read_text()
TOMCAT = (HERE / "tomcat_apps.debian12-stock.txt").read_text()
FNS = {"mw.hardening": mw.test_hardening, "mw.tls": mw.test_tls, "mw.logging": mw.test_logging,
       "mw.run_user": mw.test_run_user}

HARDENING_CONF = """## file /etc/apache2/conf-enabled/zz-hardening.conf
ServerTokens Prod
ServerSignature Off
TraceEnable Off
<Directory /var/www/>
\tOptions FollowSymLinks
</Directory>
"""
TLS_SITE = """## file /etc/apache2/sites-enabled/000-default.conf
<VirtualHost 198.51.100.21:8443>
\tSSLEngine on
\tSSLProtocol -all +TLSv1.2 +TLSv1.3
\tDocumentRoot /var/www/html
\tErrorLog ${APACHE_LOG_DIR}/error.log
\tCustomLog ${APACHE_LOG_DIR}/access.log combined
</VirtualHost>
## file /etc/apache2/ports.conf
Listen 198.51.100.21:8443
"""


def with_files(dump: str, extra: str) -> str:
    """The dump with the files of ``extra`` replacing (or added to) its own."""
    head, *parts = dump.split("## file ")
    files = {p.partition("\n")[0]: p for p in parts}
    for p in extra.split("## file ")[1:]:
        files[p.partition("\n")[0]] = p
    return head + "".join("## file " + p for p in files.values())


def hardened_apache() -> str:
    """The stock dump with conf-enabled/zz-hardening.conf added, mod_ssl loaded and the site on TLS."""
    ssl = ("## file /etc/apache2/mods-enabled/ssl.load\n"
           "LoadModule ssl_module /usr/lib/apache2/modules/mod_ssl.so\n")
    return with_files(APACHE, ssl + HARDENING_CONF + TLS_SITE)


def hardened_tomcat() -> str:
    text = TOMCAT.replace("## webapps\nROOT\n", "## webapps\nhis\n")
    text = text.replace("/var/lib/tomcat10/webapps/ROOT/index.html\n", "")
    return text.replace("<Host name=\"localhost\"", "<Host name=\"localhost\"><Valve className=\"org.apache."
                        "catalina.valves.ErrorReportValve\" showServerInfo=\"false\" showReport=\"false\"/></Host>"
                        "<Host name=\"unused\"", 1)


def facts(apache: str, tomcat: str, weblogic: str = "") -> HostFacts:
    f = HostFacts(host_id="app01")
    for name, text in (("apache", apache), ("tomcat_apps", tomcat), ("weblogic", weblogic)):
        f.specs[name] = Section(name, "(recorded)")
        f.sections[name] = SectionResult(name, "(recorded)", 0, text.encode(), False, True)
    return f


def judge(probe_id: str, f: HostFacts) -> Check:
    control = next(c for c in load_profile("mlps-l3").controls if c.probe == probe_id)
    h = LAB.host("app01")
    check = Check(control, Obj(ObjectType.WEB_SERVER, "app01:web", "app01", h), LAB)
    FNS[probe_id](check, f)
    assert check.verdict is not None
    return check


def test_stock_debian_apache_and_tomcat_are_read_as_installed() -> None:
    a = parse_apache(APACHE, "vm")
    assert a.present and a.root == "/etc/apache2" and "autoindex_module" in a.modules
    assert a.global_value("ServerTokens", "Full") == "OS" and a.global_value("User", "") == "www-data"
    assert a.worker_users == ["www-data"]
    assert [d.context for d in a.find("Options") if "Indexes" in d.args] == [("directory /var/www/",)]
    (t,) = parse_tomcat_apps(TOMCAT, "vm")
    assert t.base == "/var/lib/tomcat10" and t.apps == ("ROOT",) and t.stock_root_page
    assert t.server is not None and t.server.shutdown_port == "-1"


def test_stock_fails_what_debian_leaves_open() -> None:
    f = facts(APACHE, TOMCAT)
    v = judge("mw.hardening", f).verdict
    assert v is not None and v.status is Status.PARTIAL
    unmet = set(v.reason.removeprefix("unmet: ").split(", "))
    assert unmet == {"Apache ServerTokens Prod", "Apache ServerSignature Off", "Apache no directory listing",
                     "Tomcat /var/lib/tomcat10: no default or sample applications",
                     "Tomcat /var/lib/tomcat10: error pages without server version"}
    v = judge("mw.tls", f).verdict
    assert v is not None and v.status is Status.FAIL and v.observed["plaintext_listeners"] == ["80"]
    # what Debian already does right is not failed: logs on, workers as www-data, status local only
    for pid in ("mw.logging", "mw.run_user"):
        v = judge(pid, f).verdict
        assert v is not None
        assert v.status is Status.PASS, (pid, v.reason)


def test_hardened_passes() -> None:
    f = facts(hardened_apache(), hardened_tomcat())
    for pid in FNS:
        v = judge(pid, f).verdict
        assert v is not None
        assert v.status is Status.PASS, (pid, v.reason, v.observed)


def test_old_protocols_and_public_status_fail() -> None:
    text = hardened_apache().replace("SSLProtocol -all +TLSv1.2 +TLSv1.3", "SSLProtocol all -SSLv3")
    text = text.replace("\tRequire local\n", "\tRequire all granted\n")
    v = judge("mw.tls", facts(text, TOMCAT)).verdict
    assert v is not None and v.status is Status.PARTIAL and v.observed["protocols"] == [
        "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
    v = judge("mw.hardening", facts(text, hardened_tomcat())).verdict
    assert v is not None and v.reason == "unmet: Apache status/info pages not public"


def test_nothing_installed_is_not_applicable() -> None:
    f = facts("## absent\n", "")
    for pid in FNS:
        v = judge(pid, f).verdict
        assert v is not None and v.status is Status.NOT_APPLICABLE


def test_weblogic_from_config_xml() -> None:
    """WebLogic, configuration only (config.xml composed from the MBean reference: an absent
    element is the MBean default, so the stock domain is development mode, console on, plain
    port on, no SSL; run as root)."""
    for variant, want in (("stock", Status.FAIL), ("hardened", Status.PASS)):
        wl = (HERE / f"weblogic.{variant}.txt").read_text()
        f = facts("## absent\n", "", wl)
        got = {pid: judge(pid, f).verdict for pid in FNS}
        assert all(v is not None for v in got.values())
        statuses = {pid: v.status for pid, v in got.items() if v is not None}
        # HTTP access logging is on by default (WebServerLogMBean LoggingEnabled): stock passes it
        assert statuses == {"mw.hardening": want, "mw.tls": want, "mw.run_user": want, "mw.logging": Status.PASS}
