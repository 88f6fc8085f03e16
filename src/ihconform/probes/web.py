"""Web-server controls (the L3-CES1 items applied to nginx, and Tomcat where present).

Judged from the effective configuration of the running nginx (``nginx -T`` of the master's
own ``-c`` file) and, best effort, Tomcat's server.xml. A host object of role app/web with
neither installed gets 不适用: its web tier runs elsewhere or on another product.
"""

from __future__ import annotations

import ssl

from ihconform.check import Check
from ihconform.errors import FactUnavailable
from ihconform.facts.collect import HostFacts
from ihconform.facts.host import HostView
from ihconform.facts.web import (
    Directive,
    NginxFacts,
    Server,
    TomcatServer,
    parse_nginx,
    parse_tomcat,
    redirects_to_https,
    servers,
)
from ihconform.registry import probe

#: nginx's compiled-in defaults the judgements fall back on when a directive is absent.
NGINX_DEFAULT_CIPHERS = "HIGH:!aNULL:!MD5"


def _default_protocols(version: tuple[int, int, int] | None) -> list[str]:
    """ssl_protocols default: TLSv1.2 TLSv1.3 from nginx 1.23.4, TLSv1 TLSv1.1 TLSv1.2 before."""
    if version is not None and version >= (1, 23, 4):
        return ["TLSv1.2", "TLSv1.3"]
    return ["TLSv1", "TLSv1.1", "TLSv1.2"]


def _load(host_facts: HostFacts) -> tuple[NginxFacts, list[TomcatServer]]:
    nginx = parse_nginx(host_facts.text("nginx"), host_facts.host_id)
    tomcat = parse_tomcat(host_facts.text("tomcat"), host_facts.host_id)
    return nginx, tomcat


def _absent(check: Check, nginx: NginxFacts, tomcat: list[TomcatServer]) -> bool:
    if not nginx.present and not tomcat:
        check.not_applicable("no nginx and no Tomcat server.xml on this host / 本机无 nginx 或 Tomcat")
        return True
    return False


def _everywhere(root: Directive, name: str) -> list[Directive]:
    return [d for d in root.walk() if d.name == name and d.children is None]


@probe("web.hardening", facts=("nginx", "tomcat"),
       parts=("nginx server_tokens off", "nginx autoindex off", "nginx stub_status not public"))
def test_hardening(check: Check, host_facts: HostFacts) -> None:
    """No information disclosure (L3-CES1-18): nginx ``server_tokens off``, ``autoindex off``,
    no ``stub_status`` reachable by everyone; Tomcat shutdown port disabled or its command
    changed, AJP only with a secret."""
    status_sources = {str(a) for a in check.list_param("stub_status_allowed_sources")}
    nginx, tomcat = _load(host_facts)
    if _absent(check, nginx, tomcat):
        return
    parts: dict[str, bool] = {}
    observed: dict[str, object] = {}
    if nginx.present and nginx.root is not None:
        srvs = servers(nginx.root)
        tokens_on = [s.label for s in srvs if s.settings.get("server_tokens", ["on"])[0] != "off"]
        tokens_on += [f"location in {d.file}" for d in _everywhere(nginx.root, "server_tokens")
                      if d.args and d.args[0] != "off"]
        autoindex = [f"{d.file}" for d in _everywhere(nginx.root, "autoindex") if d.args and d.args[0] == "on"]
        public_status = []
        for srv in srvs:
            for loc in [b for b in srv.block.walk() if b.name == "location" and b.children is not None]:
                if not loc.find("stub_status"):
                    continue
                denies_all = any(d.args == ["all"] for d in loc.find("deny"))
                allows = [a for d in loc.find("allow") for a in d.args]
                if not srv.local_only and not (denies_all and set(allows) <= status_sources):
                    public_status.append(f"{srv.label} location {' '.join(loc.args)}")
        parts |= {"nginx server_tokens off": not tokens_on, "nginx autoindex off": not autoindex,
                  "nginx stub_status not public": not public_status}
        observed |= {"server_tokens_not_off": tokens_on, "autoindex_on": autoindex,
                     "public_stub_status": public_status}
    for t in tomcat:
        default_shutdown = t.shutdown_port != "-1" and t.shutdown_command == "SHUTDOWN"
        ajp_open = [c.get("port", "?") for c in t.connectors if c.get("protocol", "").upper().startswith("AJP")
                    and c.get("secretRequired", "true") == "false"]
        parts[f"Tomcat {t.file}: shutdown port"] = not default_shutdown
        parts[f"Tomcat {t.file}: AJP secret"] = not ajp_open
        observed[f"tomcat {t.file}"] = {"shutdown_port": t.shutdown_port, "default_shutdown_command":
                                        t.shutdown_command == "SHUTDOWN", "ajp_without_secret": ajp_open}
    check.judge_parts(parts, observed=observed,
                      expected={"server_tokens": "off", "autoindex": "off",
                                "stub_status": f"deny all, allow only {sorted(status_sources)}"})


def _expand_ciphers(spec: str) -> list[dict[str, object]]:
    """The suites an OpenSSL cipher string selects, expanded by the tester's OpenSSL (an
    approximation of the target's: a suite compiled out here is judged by name only)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.set_ciphers(spec)
    except ssl.SSLError:
        return []
    return [dict(c) for c in ctx.get_ciphers() if c.get("protocol") != "TLSv1.3"]


def weak_ciphers(spec: str, tokens: list[str]) -> list[str]:
    """Weak parts of a cipher string: positive elements naming a weak token, and (for
    ``CBC`` in ``tokens``) non-AEAD suites the string selects."""
    found = []
    for elem in spec.replace(",", ":").replace(" ", ":").split(":"):
        if elem and elem[0] not in "!-+" and any(t.upper() in elem.upper() for t in tokens if t.upper() != "CBC"):
            found.append(elem)
    if any(t.upper() == "CBC" for t in tokens):
        found += [str(c["name"]) for c in _expand_ciphers(spec) if not c.get("aead")]
    return sorted(set(found))


def _tls_servers(srvs: list[Server]) -> list[Server]:
    return [s for s in srvs if s.ssl]


@probe("web.tls_config", facts=("nginx", "tomcat"),
       parts=("nginx serves TLS", "nginx protocols", "nginx ciphers", "HTTP redirected to HTTPS"))
def test_tls_config(check: Check, host_facts: HostFacts) -> None:
    """Transport encryption configured strongly (L3-CES1-03/27, L3-CNS1-08): no SSLv3/TLS 1.0/
    TLS 1.1, no weak cipher suites, plain HTTP redirected to HTTPS."""
    weak_protocols = {str(p) for p in check.list_param("weak_protocols")}
    weak_tokens = [str(t) for t in check.list_param("weak_cipher_tokens")]
    need_redirect = bool(check.param("require_https_redirect"))
    nginx, tomcat = _load(host_facts)
    if _absent(check, nginx, tomcat):
        return
    parts: dict[str, bool] = {}
    observed: dict[str, object] = {}
    if nginx.present and nginx.root is not None:
        srvs = servers(nginx.root)
        tls = _tls_servers(srvs)
        bad_proto, bad_ciphers = {}, {}
        for s in tls:
            protos = s.settings.get("ssl_protocols") or _default_protocols(nginx.version)
            if weak := sorted(set(protos) & weak_protocols):
                bad_proto[s.label] = weak
            spec = " ".join(s.settings.get("ssl_ciphers", [NGINX_DEFAULT_CIPHERS]))
            if weak_c := weak_ciphers(spec, weak_tokens):
                bad_ciphers[s.label] = weak_c[:20]
        plain = [s for s in srvs if not s.ssl and not s.local_only]
        no_redirect = [s.label for s in plain if not redirects_to_https(s)]
        parts["nginx serves TLS"] = bool(tls)
        parts["nginx protocols"] = bool(tls) and not bad_proto
        parts["nginx ciphers"] = bool(tls) and not bad_ciphers
        if need_redirect:
            parts["HTTP redirected to HTTPS"] = not no_redirect
        observed |= {"tls_servers": [s.label for s in tls], "weak_protocols": bad_proto,
                     "weak_ciphers": bad_ciphers, "plain_http_without_redirect": no_redirect}
    for t in tomcat:
        for c in t.connectors:
            if c.get("SSLEnabled", "false").lower() != "true":
                continue
            protos = [p.strip() for p in (c.get("protocols") or c.get("sslEnabledProtocols")
                                          or c.get("sslProtocol", "")).replace("+", ",").split(",") if p.strip()]
            weak = sorted(set(protos) & weak_protocols)
            parts[f"Tomcat {t.file}:{c.get('port', '?')} protocols"] = bool(protos) and not weak
            observed[f"tomcat {t.file}:{c.get('port', '?')}"] = {"protocols": protos or "(default)"}
    if not parts:
        raise FactUnavailable("no nginx server block and no Tomcat TLS connector to judge")
    check.judge_parts(parts, observed=observed,
                      expected={"protocols": f"none of {sorted(weak_protocols)}",
                                "ciphers": f"no {weak_tokens}", "http": "redirect to https"
                                if need_redirect else "(not required)"})


@probe("web.logging", facts=("nginx", "tomcat"), parts=("nginx access_log on", "nginx error_log on"))
def test_logging(check: Check, host_facts: HostFacts) -> None:
    """Web access and errors recorded (L3-CES1-12): access_log and error_log not turned off
    or sent to a null device; Tomcat AccessLogValve present."""
    null_targets = {str(t) for t in check.list_param("null_targets")}
    nginx, tomcat = _load(host_facts)
    if _absent(check, nginx, tomcat):
        return
    parts: dict[str, bool] = {}
    observed: dict[str, object] = {}
    if nginx.present and nginx.root is not None:
        access_off = [f"{d.file}: access_log {' '.join(d.args)}" for d in _everywhere(nginx.root, "access_log")
                      if d.args and d.args[0] in null_targets]
        error_off = [f"{d.file}: error_log {' '.join(d.args)}" for d in _everywhere(nginx.root, "error_log")
                     if d.args and d.args[0] in null_targets]
        parts |= {"nginx access_log on": not access_off, "nginx error_log on": not error_off}
        observed |= {"access_log_off": access_off, "error_log_off": error_off,
                     "access_logs": sorted({d.args[0] for d in _everywhere(nginx.root, "access_log") if d.args}),
                     "error_logs": sorted({d.args[0] for d in _everywhere(nginx.root, "error_log") if d.args})}
    for t in tomcat:
        has = any(v.get("className", "").endswith("AccessLogValve") for v in t.valves)
        parts[f"Tomcat {t.file}: AccessLogValve"] = has
    check.judge_parts(parts, observed=observed, expected={"logs": f"not {sorted(null_targets)}"})


@probe("web.worker_user", facts=("nginx", "tomcat", "processes"),
       parts=("nginx user directive", "nginx workers running as", "Tomcat process user"))
def test_worker_user(check: Check, host_facts: HostFacts, host: HostView) -> None:
    """Least privilege for the web tier (L3-CES1-08): nginx workers and Tomcat not root."""
    forbidden = {str(u) for u in check.list_param("forbidden_users")}
    nginx, tomcat = _load(host_facts)
    if _absent(check, nginx, tomcat):
        return
    parts: dict[str, bool] = {}
    observed: dict[str, object] = {}
    if nginx.present and nginx.root is not None:
        users = [d.args[0] for d in nginx.root.find("user") if d.args]
        configured = users[-1] if users else "nobody"
        workers = sorted({u for u, _comm, args in host.processes if args.startswith("nginx: worker process")})
        parts["nginx user directive"] = configured not in forbidden
        if workers:
            parts["nginx workers running as"] = not (set(workers) & forbidden)
        observed |= {"nginx_user": configured, "nginx_worker_users": workers}
    java = sorted({u for u, comm, args in host.processes if comm == "java" and "catalina" in args.lower()})
    if tomcat and java:
        parts["Tomcat process user"] = not (set(java) & forbidden)
        observed["tomcat_users"] = java
    check.judge_parts(parts, observed=observed, expected={"users": f"not {sorted(forbidden)}"})
