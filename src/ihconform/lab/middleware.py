"""Apache httpd and Tomcat on the app hosts (variant ``middleware``): app01 hardened, app02 stock.

Why copies of the installed Debian configuration (``/etc/apache2``, ``/etc/tomcat10``) under the
runtime folder, started with ``APACHE_CONFDIR`` and ``CATALINA_BASE``: the stock server is the
package's own files, changed only where the lab must (the listening port, since nginx holds
80/443 and the lab application 8080), and the real /etc and /var/lib are never written. The
hardened server is the same copy with the changes an administrator makes (``ServerTokens Prod``,
``ServerSignature Off``, no ``Indexes``, TLS 1.2+ only on its one listener; Tomcat without its
welcome page, an ErrorReportValve hiding the version). Both Tomcats run as ``tomcat`` and both
Apaches' workers as ``www-data``, as Debian runs them: "running as root" and "access log" pass on
stock Debian too, and the integration test says so.

Needs the Debian packages ``apache2`` and ``tomcat10`` (bootstrap.sh DEB_LAB) and a Java runtime.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from ihconform.lab import plan
from ihconform.lab.context import LabContext, Service
from ihconform.lab.proc import LabError, detach, host_exec, run, start_daemon

APACHE_PORT = {"app01": 8443, "app02": 8081}
TOMCAT_PORT = 8180
TOMCAT_HOME = Path("/usr/share/tomcat10")
HOSTS = ("app01", "app02")

HARDENING_CONF = """# ihconform lab: hardened Apache (variant middleware, app01)
ServerTokens Prod
ServerSignature Off
TraceEnable Off
<Directory /var/www/>
\tOptions FollowSymLinks
\tAllowOverride None
\tRequire all granted
</Directory>
"""


def hardened(host_id: str) -> bool:
    return host_id == "app01"


def _enable(confdir: Path, kind: str, name: str) -> None:
    """``a2enmod``/``a2enconf`` on the copy: a relative symlink in ``<kind>-enabled``."""
    link = confdir / f"{kind}-enabled" / name
    if not link.exists():
        link.symlink_to(Path("..") / f"{kind}-available" / name)


def apache_site(host: plan.HostSpec, cert: tuple[Path, Path] | None) -> str:
    port = APACHE_PORT[host.id]
    if cert is None:  # Debian's 000-default.conf, on the lab's port
        return (f"<VirtualHost *:{port}>\n\tServerAdmin webmaster@localhost\n\tDocumentRoot /var/www/html\n"
                "\tErrorLog ${APACHE_LOG_DIR}/error.log\n\tCustomLog ${APACHE_LOG_DIR}/access.log combined\n"
                "</VirtualHost>\n")
    return (f"<VirtualHost {host.address}:{port}>\n\tServerName {host.fqdn}\n\tDocumentRoot /var/www/html\n"
            f"\tSSLEngine on\n\tSSLCertificateFile {cert[0]}\n\tSSLCertificateKeyFile {cert[1]}\n"
            "\tSSLProtocol -all +TLSv1.2 +TLSv1.3\n\tSSLHonorCipherOrder off\n"
            "\tErrorLog ${APACHE_LOG_DIR}/error.log\n\tCustomLog ${APACHE_LOG_DIR}/access.log combined\n"
            "</VirtualHost>\n")


def start_apache(ctx: LabContext, host_id: str) -> None:
    host = plan.HOST_BY_ID[host_id]
    confdir = ctx.runtime / "hosts" / host_id / "apache2"
    if confdir.exists():
        shutil.rmtree(confdir)
    shutil.copytree("/etc/apache2", confdir, symlinks=True)
    port = APACHE_PORT[host_id]
    if hardened(host_id):
        c = ctx.ca.issue(f"{host_id}-apache", [host.fqdn, host.id], [host.address])
        (confdir / "ports.conf").write_text(f"Listen {host.address}:{port}\n")
        (confdir / "conf-available" / "zz-ihconform-hardening.conf").write_text(HARDENING_CONF)
        _enable(confdir, "conf", "zz-ihconform-hardening.conf")
        for mod in ("ssl.load", "ssl.conf", "socache_shmcb.load"):
            _enable(confdir, "mods", mod)
        site = apache_site(host, (c.cert, c.key))
    else:
        (confdir / "ports.conf").write_text(f"Listen {port}\n")
        site = apache_site(host, None)
    (confdir / "sites-available" / "000-default.conf").write_text(site)
    logs = ctx.runtime / "hosts" / host_id / "var-log" / "apache2"
    logs.mkdir(parents=True, exist_ok=True)
    run(host_exec(ctx.inits[host_id], ["env", f"APACHE_CONFDIR={confdir}", "apache2ctl", "start"]))


def tomcat_server_xml(stock: str, host: plan.HostSpec) -> str:
    """Debian's server.xml on the lab's port and address; hardened: an ErrorReportValve that
    hides the version in error pages."""
    text = stock.replace('port="8080"', f'port="{TOMCAT_PORT}" address="{host.address}"', 1)
    if hardened(host.id):
        text, n = re.subn(r"(<Host [^>]*>)", r'\1\n        <Valve className="org.apache.catalina.valves.'
                          r'ErrorReportValve" showReport="false" showServerInfo="false"/>', text, count=1)
        if n != 1:
            raise LabError("Tomcat server.xml: no <Host> element to harden")
    return text


def start_tomcat(ctx: LabContext, host_id: str) -> None:
    host = plan.HOST_BY_ID[host_id]
    base = ctx.runtime / "hosts" / host_id / "tomcat"
    if base.exists():
        shutil.rmtree(base)
    shutil.copytree("/etc/tomcat10", base / "conf", symlinks=False)
    (base / "conf" / "server.xml").write_text(tomcat_server_xml((base / "conf" / "server.xml").read_text(), host))
    for sub in ("logs", "temp", "work", "webapps"):
        (base / sub).mkdir(exist_ok=True)
    if hardened(host_id):
        app = base / "webapps" / "his"
        app.mkdir()
        (app / "index.html").write_text("<!DOCTYPE html><html><body><p>HIS (ihconform lab)</p></body></html>\n")
    else:
        shutil.copytree("/var/lib/tomcat10/webapps/ROOT", base / "webapps" / "ROOT")
    shutil.chown(base, "tomcat", "tomcat")
    for root, dirs, files in os.walk(base):
        for n in dirs + files:
            shutil.chown(Path(root) / n, "tomcat", "tomcat")
    argv = ["runuser", "-u", "tomcat", "--", "env", f"CATALINA_HOME={TOMCAT_HOME}", f"CATALINA_BASE={base}",
            f"CATALINA_TMPDIR={base / 'temp'}", "JAVA_OPTS=-Xmx128m -Xss512k -XX:TieredStopAtLevel=1 "
            "-Djava.awt.headless=true", f"{TOMCAT_HOME}/bin/catalina.sh", "run"]
    start_daemon(host_exec(ctx.inits[host_id], detach(argv)), base / "logs" / "lab-start.log")


def start(ctx: LabContext, host_id: str) -> None:
    start_apache(ctx, host_id)
    start_tomcat(ctx, host_id)


def register(ctx: LabContext) -> None:
    if not ctx.has("middleware"):
        return
    for hid in HOSTS:
        ns = plan.HOST_BY_ID[hid].ns
        ctx.add(Service(f"apache-{hid}", "web", ns, (("tcp", APACHE_PORT[hid]),),
                        note="hardened" if hardened(hid) else "Debian stock"))
        ctx.add(Service(f"tomcat-{hid}", "app", ns, (("tcp", TOMCAT_PORT),),
                        note="hardened" if hardened(hid) else "Debian stock"))
