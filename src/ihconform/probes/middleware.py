"""Middleware controls on the web tier: Apache httpd and what Tomcat deploys.

The nginx and Tomcat ``server.xml`` parts (shutdown port, AJP secret, TLS connectors,
AccessLogValve, the Tomcat process user) are judged by :mod:`ihconform.probes.web`; this module
adds what those do not read: Apache httpd's configuration (banner, listings, status pages, TRACE,
TLS, logs, run user) and Tomcat's deployed default/sample applications, manager access, error-page
server information and DefaultServlet listings. Facts: :mod:`ihconform.facts.middleware`.
A host with neither Apache nor a Tomcat base is 不适用.
"""

from __future__ import annotations

import ipaddress

from ihconform.check import Check
from ihconform.facts.collect import HostFacts
from ihconform.facts.middleware import (
    ApacheConfig,
    ApacheDirective,
    TomcatBase,
    WeblogicDomain,
    parse_apache,
    parse_tomcat_apps,
    parse_weblogic,
)
from ihconform.registry import probe

#: Apache's own defaults where a directive is absent (Apache 2.4 core documentation).
APACHE_DEFAULTS = {"servertokens": "Full", "serversignature": "Off", "traceenable": "On", "errorlog": "logs/error_log"}
_ALL_TLS = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")


def _load(check: Check, host_facts: HostFacts) -> tuple[ApacheConfig, list[TomcatBase]] | None:
    apache = parse_apache(host_facts.text("apache"), host_facts.host_id)
    tomcats = parse_tomcat_apps(host_facts.text("tomcat_apps"), host_facts.host_id)
    if not apache.present and not tomcats and not _weblogic(host_facts):
        check.not_applicable("no Apache httpd, Tomcat or WebLogic on this host / 本机无 Apache、Tomcat 或 WebLogic")
        return None
    return apache, tomcats


def _weblogic(host_facts: HostFacts) -> list[WeblogicDomain]:
    return parse_weblogic(host_facts.text("weblogic"), host_facts.host_id)


def _apache_or_weblogic(check: Check, host_facts: HostFacts) -> tuple[ApacheConfig, list[WeblogicDomain]] | None:
    apache = parse_apache(host_facts.text("apache"), host_facts.host_id)
    domains = _weblogic(host_facts)
    if not apache.present and not domains:
        check.not_applicable("no Apache httpd or WebLogic on this host / 本机无 Apache 或 WebLogic")
        return None
    return apache, domains


def _last_per_context(directives: list[ApacheDirective]) -> dict[tuple[str, ...], ApacheDirective]:
    out: dict[tuple[str, ...], ApacheDirective] = {}
    for d in directives:
        out[d.context] = d
    return out


def _indexes_on(d: ApacheDirective) -> bool:
    return any(a.lower() in ("indexes", "+indexes", "all") for a in d.args)


def _public_handlers(a: ApacheConfig) -> list[str]:
    """server-status / server-info handlers with no ``Require`` other than ``all granted``."""
    out = []
    for d in a.find("SetHandler"):
        if not d.args or d.args[0].lower() not in ("server-status", "server-info"):
            continue
        requires = [r for r in a.find("Require") if r.context == d.context]
        if not requires or any(" ".join(r.args).lower() == "all granted" for r in requires):
            out.append(f"{d.args[0]} in {'/'.join(d.context) or 'server'} ({d.file})")
    return out


@probe("mw.hardening", facts=("apache", "tomcat_apps", "weblogic"))
def test_hardening(check: Check, host_facts: HostFacts) -> None:
    """No information disclosure and nothing installed that is not needed (L3-CES1-17/18):
    Apache ``ServerTokens Prod``, ``ServerSignature Off``, ``TraceEnable Off``, no directory
    listing, no status/info page open to all; Tomcat without its default or sample applications
    (``default_apps``, the stock ROOT welcome page), the manager behind an address valve, error
    pages without the server version, DefaultServlet listings off."""
    default_apps = {str(a) for a in check.list_param("default_apps")}
    loaded = _load(check, host_facts)
    if loaded is None:
        return
    apache, tomcats = loaded
    parts: dict[str, bool] = {}
    observed: dict[str, object] = {}
    if apache.present:
        tokens = apache.global_value("ServerTokens", APACHE_DEFAULTS["servertokens"])
        last = _last_per_context(apache.find("ServerSignature"))  # per server/vhost/dir, the last one counts
        signature = [f"{' '.join(d.args)} ({d.file})" for d in last.values() if d.args and d.args[0].lower() != "off"]
        trace = apache.global_value("TraceEnable", APACHE_DEFAULTS["traceenable"])
        options = _last_per_context(apache.find("Options"))
        listing = ([f"{'/'.join(c) or 'server'} ({d.file})" for c, d in options.items() if _indexes_on(d)]
                   if "autoindex_module" in apache.modules else [])
        public = _public_handlers(apache)
        parts |= {"Apache ServerTokens Prod": tokens.lower() in ("prod", "productonly"),
                  "Apache ServerSignature Off": not signature, "Apache TraceEnable Off": trace.lower() == "off",
                  "Apache no directory listing": not listing, "Apache status/info pages not public": not public}
        observed["apache"] = {"ServerTokens": tokens, "ServerSignature_on": signature, "TraceEnable": trace,
                              "directory_listing": listing, "public_status_pages": public}
    for t in tomcats:
        found = sorted(t.app_names & default_apps)
        parts[f"Tomcat {t.base}: no default or sample applications"] = not found and not t.stock_root_page
        if t.app_names & {"manager", "host-manager"}:
            parts[f"Tomcat {t.base}: manager restricted by address"] = bool(t.manager_restriction)
        valves = t.server.valves if t.server else []
        hidden = any(v.get("className", "").endswith("ErrorReportValve") and (
            v.get("showServerInfo", "true") == "false" or v.get("showReport", "true") == "false") for v in valves)
        parts[f"Tomcat {t.base}: error pages without server version"] = hidden
        parts[f"Tomcat {t.base}: directory listings off"] = t.listings.lower() != "true"
        observed[f"tomcat {t.base}"] = {"default_apps": found, "stock_root_page": t.stock_root_page,
                                        "applications": sorted(t.app_names),
                                        "manager_restriction": list(t.manager_restriction),
                                        "error_report_valve_hides_server_info": hidden,
                                        "listings": t.listings or "(default false)"}
    for dom in _weblogic(host_facts):
        parts[f"WebLogic {dom.home}: production mode"] = dom.production_mode
        parts[f"WebLogic {dom.home}: administration console disabled"] = not dom.console_enabled
        observed[f"weblogic {dom.home}"] = {"production_mode": dom.production_mode,
                                            "console_enabled": dom.console_enabled}
    check.judge_parts(parts, observed=observed,
                      expected={"Apache": "ServerTokens Prod, ServerSignature Off, TraceEnable Off, no Indexes, "
                                          "status/info local only",
                                "Tomcat": f"none of {sorted(default_apps)}, no stock ROOT page, ErrorReportValve "
                                          "showServerInfo=false, listings false"})


def _port(spec: str) -> str:
    return spec.rsplit(":", 1)[-1].strip("[]") if ":" in spec else spec


def _loopback(addr: str) -> bool:
    host = addr.rsplit(":", 1)[0].strip("[]") if ":" in addr and not addr.isdigit() else ""
    if not host or host == "*":
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def enabled_protocols(directives: list[ApacheDirective]) -> set[str]:
    """The protocol set the last ``SSLProtocol`` leaves (``all`` with +/- adjustments)."""
    if not directives:
        return {"TLSv1.2", "TLSv1.3"}  # mod_ssl 2.4.x default on a build without SSLv3/TLS<1.2 at seclevel 2
    out: set[str] = set()
    for tok in directives[-1].args:
        sign, name = (tok[0], tok[1:]) if tok[0] in "+-" else ("", tok)
        names = set(_ALL_TLS) if name.lower() == "all" else {n for n in _ALL_TLS if n.lower() == name.lower()}
        if sign == "-":
            out -= names
        else:
            out |= names
    return out


@probe("mw.tls", facts=("apache", "weblogic"), parts=("Apache TLS on",))
def test_tls(check: Check, host_facts: HostFacts) -> None:
    """Sessions encrypted (L3-CES1-27). Apache: a TLS virtual host, no old protocol version, no
    plaintext listener beyond loopback unless it only redirects to HTTPS. WebLogic (config.xml):
    every server's SSL port on and its plaintext listen port disabled."""
    weak = {str(v) for v in check.list_param("weak_tls_versions")}
    loaded = _apache_or_weblogic(check, host_facts)
    if loaded is None:
        return
    apache, domains = loaded
    parts: dict[str, bool] = {}
    observed: dict[str, object] = {}
    for dom in domains:
        for srv in dom.servers:
            parts[f"WebLogic {srv.name}: SSL on, plaintext port off"] = srv.ssl_enabled and not srv.listen_port_enabled
            observed[f"weblogic {srv.name}"] = {"ssl_enabled": srv.ssl_enabled,
                                                "listen_port_enabled": srv.listen_port_enabled}
    if apache.present:
        _apache_tls(apache, weak, parts, observed)
    check.judge_parts(parts, observed=observed,
                      expected={"protocols": f"none of {sorted(weak)}", "plaintext": "loopback or redirect only"})


def _apache_tls(apache: ApacheConfig, weak: set[str], parts: dict[str, bool], observed: dict[str, object]) -> None:
    tls_hosts = sorted({c for d in apache.find("SSLEngine") if d.args and d.args[0].lower() == "on"
                        for c in d.context if c.startswith("virtualhost")})
    tls_ports = {_port(c.split(" ", 1)[1]) for c in tls_hosts if " " in c}
    protocols = enabled_protocols([d for d in apache.find("SSLProtocol")])
    redirecting = {_port(c.split(" ", 1)[1]) for d in apache.directives if d.name in ("redirect", "rewriterule")
                   and any("https://" in a for a in d.args) for c in d.context if c.startswith("virtualhost ")}
    plain = []
    for d in apache.find("Listen"):
        if not d.args:
            continue
        addr = d.args[0]
        port = _port(addr)
        if port in tls_ports or (len(d.args) > 1 and d.args[1].lower() == "https") or _loopback(addr):
            continue
        if port not in redirecting:
            plain.append(addr)
    parts |= {"Apache TLS on": bool(tls_hosts), "Apache no plaintext listener beyond loopback": not plain}
    if tls_hosts:
        parts["Apache no old TLS versions"] = not (protocols & weak)
    observed |= {"tls_virtual_hosts": tls_hosts, "protocols": sorted(protocols) if tls_hosts else None,
                 "plaintext_listeners": plain}


@probe("mw.logging", facts=("apache", "weblogic"))
def test_logging(check: Check, host_facts: HostFacts) -> None:
    """Access and errors recorded (L3-CES1-12): Apache a CustomLog/TransferLog and an ErrorLog
    not sent to a null device; WebLogic every server's HTTP access log on."""
    null_targets = {str(t) for t in check.list_param("null_targets")}
    loaded = _apache_or_weblogic(check, host_facts)
    if loaded is None:
        return
    apache, domains = loaded
    parts: dict[str, bool] = {}
    observed: dict[str, object] = {}
    if apache.present:
        access = [d for d in apache.find("CustomLog") + apache.find("TransferLog") if d.args]
        kept = sorted({d.args[0] for d in access if d.args[0] not in null_targets})
        error = apache.global_value("ErrorLog", APACHE_DEFAULTS["errorlog"])
        parts |= {"Apache access log": bool(kept), "Apache error log": error not in null_targets}
        observed |= {"access_logs": kept, "error_log": error}
    for dom in domains:
        for srv in dom.servers:
            parts[f"WebLogic {srv.name}: HTTP access log"] = srv.access_log
    check.judge_parts(parts, observed=observed, expected={"logs": f"present, not {sorted(null_targets)}"})


@probe("mw.run_user", facts=("apache", "weblogic"))
def test_run_user(check: Check, host_facts: HostFacts) -> None:
    """Least privilege (L3-CES1-08): Apache's ``User`` and its running workers are not root
    (the master alone starts as root to bind ports, as Apache is designed); WebLogic servers
    not run as root."""
    forbidden = {str(u) for u in check.list_param("forbidden_users")}
    loaded = _apache_or_weblogic(check, host_facts)
    if loaded is None:
        return
    apache, domains = loaded
    parts: dict[str, bool] = {}
    observed: dict[str, object] = {}
    if apache.present:
        user = apache.global_value("User", "daemon")
        parts["Apache User directive"] = user not in forbidden
        workers = apache.worker_users
        if workers:
            parts["Apache workers running as"] = not (set(workers) & forbidden)
        observed |= {"User": user, "worker_users": workers}
    for dom in domains:
        parts[f"WebLogic {dom.home}: server process user"] = dom.run_user not in forbidden
        observed[f"weblogic {dom.home}"] = dom.run_user
    check.judge_parts(parts, observed=observed, expected={"users": f"not {sorted(forbidden)}"})
