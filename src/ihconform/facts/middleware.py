"""Middleware facts: Apache httpd's effective configuration files and Tomcat's deployed applications.

Why from the files of the *running* server, in the host's one batch: a site often starts Apache
with its own ``-d``/``-f`` (the lab does, Debian's ``APACHE_CONFDIR`` does), and Tomcat with its
own ``catalina.base``; what /etc holds may not be what serves. The ``apache`` section finds the
master process in the process table and dumps every configuration file under its server root
(``*.conf``, ``*.load``, ``envvars``; the installed default ``/etc/apache2`` or ``/etc/httpd``
when started without ``-d``/``-f``); :func:`parse_apache` then follows ``Include`` and
``IncludeOptional`` in Apache's order, expands ``${VAR}`` from ``envvars`` and ``Define``, and
keeps ``<IfModule>`` contents only for loaded modules. A server that is installed but not
running serves nothing and is not judged here (不适用): its banner, listings and TLS are those of
a server that does not answer.

The ``tomcat_apps`` section lists, per ``catalina.base`` of a running Tomcat, the deployed applications (folders
and ``conf/Catalina/localhost`` descriptors), whether ROOT is the stock welcome page, the
manager's access valve, the DefaultServlet ``listings`` setting and server.xml (for the
ErrorReportValve). ``tomcat-users.xml`` is never read: it holds passwords.
"""

# The shell scripts below are sent as they read; their lines stay whole.
# ruff: noqa: E501

from __future__ import annotations

import fnmatch
import posixpath
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from ihconform.errors import FactUnavailable
from ihconform.facts.contract import Section
from ihconform.facts.web import TomcatServer, parse_tomcat

_APACHE = r"""m=$(ps -eo user=,pid=,ppid=,args= 2>/dev/null | awk '$1=="root" && $4 ~ /(^|\/)(apache2|httpd)$/ {$1=$2=$3=""; sub(/^ +/, ""); print; exit}')
arg() { printf '%s\n' "$m" | sed -n "s/.* $1 *\([^ ]*\).*/\1/p"; }
d=$(arg -d); f=$(arg -f)
if [ -z "$m" ]; then echo '## absent'; exit 0; fi
if [ -z "$d" ] && [ -z "$f" ]; then for c in /etc/apache2/apache2.conf /etc/httpd/conf/httpd.conf; do [ -f "$c" ] && { f=$c; break; }; done; fi
if [ -z "$d" ] && [ -z "$f" ]; then echo '## absent'; exit 0; fi
case "$f" in ''|/*) ;; *) f="$d/$f";; esac
[ -n "$f" ] || { f="$d/apache2.conf"; [ -f "$f" ] || f="$d/conf/httpd.conf"; }
[ -n "$d" ] || d=$(dirname "$f")
echo '## master'; printf '%s\n' "${m:-none}"
echo '## root'; printf '%s\n' "$d"
echo '## main'; printf '%s\n' "$f"
echo '## procs'; ps -eo user=,pid=,ppid=,comm= 2>/dev/null | awk '$4=="apache2" || $4=="httpd"'
for x in "$f" $(find -L "$d" "$(dirname "$f")" -maxdepth 2 -type f \( -name '*.conf' -o -name '*.load' -o -name envvars \) -not -path '*-available/*' 2>/dev/null | sort -u); do
  case " $seen " in *" $x "*) continue;; esac; seen="$seen $x"
  echo "## file $x"; cat "$x"
done; true"""

_TOMCAT_APPS = r"""for b in $(ps -eo args= 2>/dev/null | sed -n 's/.*-Dcatalina\.base=\([^ ]*\).*/\1/p'); do
  [ -d "$b/webapps" ] || continue
  r=$(readlink -f "$b"); case " $seen " in *" $r "*) continue;; esac; seen="$seen $r"
  echo "## base $b"
  echo "## webapps"; ls -1 "$b/webapps" 2>/dev/null; ls -1 "$b/conf/Catalina/localhost" 2>/dev/null | sed 's/^/ctx:/'
  echo "## rootpage"; grep -l -i -e 'default Tomcat home page' -e "successfully installed Tomcat" "$b/webapps/ROOT/index.html" "$b/webapps/ROOT/index.jsp" 2>/dev/null
  echo "## manager"; for c in "$b/webapps/manager/META-INF/context.xml" "$b/conf/Catalina/localhost/manager.xml"; do [ -f "$c" ] && grep -o -E 'Remote(Addr|CIDR|Host)Valve|allow="[^"]*"' "$c"; done
  echo "## listings"; tr -d '\n' < "$b/conf/web.xml" 2>/dev/null | grep -o -E '<param-name>listings</param-name>[[:space:]]*<param-value>[^<]*' | sed 's/.*<param-value>//'
  echo "## serverxml"; cat "$b/conf/server.xml" 2>/dev/null
done; true"""


def _one_line(script: str) -> str:
    """A multi-line script as one line (transcripts and error messages stay one line)."""
    out = script.replace("\\\n", " ").replace("; do\n", "; do ").replace("; then\n", "; then ")
    return out.replace("\n", "; ").replace("do ;", "do").replace("then ;", "then")


MIDDLEWARE_SECTIONS: list[Section] = [
    Section("apache", _one_line(_APACHE), root=True, timeout=10),
    Section("tomcat_apps", _one_line(_TOMCAT_APPS), root=True, timeout=10),
]


# ---- Apache -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApacheDirective:
    name: str  # lower case
    args: tuple[str, ...]
    file: str
    context: tuple[str, ...]  # enclosing sections, e.g. ("virtualhost *:443", "directory /var/www/")


@dataclass
class ApacheConfig:
    present: bool
    master: str = ""
    root: str = ""
    directives: list[ApacheDirective] = field(default_factory=list)
    modules: set[str] = field(default_factory=set)  # ssl_module, mod_ssl.c, ...
    procs: list[tuple[str, int, int]] = field(default_factory=list)  # user, pid, ppid

    def find(self, name: str) -> list[ApacheDirective]:
        return [d for d in self.directives if d.name == name.lower()]

    def global_value(self, name: str, default: str) -> str:
        """The last server-wide value (outside every section), Apache's own default otherwise."""
        found = [d for d in self.find(name) if not d.context and d.args]
        return found[-1].args[0] if found else default

    @property
    def worker_users(self) -> list[str]:
        pids = {p for _, p, _ in self.procs}
        return sorted({u for u, _, ppid in self.procs if ppid in pids})


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _split_args(text: str) -> list[str]:
    out: list[str] = []
    for m in re.finditer(r'"((?:\\.|[^"\\])*)"|(\S+)', text):
        out.append(m.group(1) if m.group(1) is not None else m.group(2))
    return out


def _files(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in re.split(r"(?m)^## file ", text)[1:]:
        name, _, body = part.partition("\n")
        out[name.strip()] = body
    return out


def parse_apache(text: str, host_id: str) -> ApacheConfig:
    """The Apache configuration the master loads, from the ``apache`` section."""
    head = text.split("\n## file ", 1)[0]
    if re.search(r"(?m)^## absent\s*$", head):
        return ApacheConfig(present=False)
    meta: dict[str, list[str]] = {}
    for part in re.split(r"(?m)^## ", head)[1:]:
        key, _, body = part.partition("\n")
        meta[key.strip()] = [ln for ln in body.splitlines() if ln.strip()]
    if "root" not in meta or "main" not in meta:
        raise FactUnavailable(f"host {host_id}: the apache section names no server root or main file")
    files = _files(text)
    root, main = meta["root"][0], meta["main"][0]
    if main not in files:
        raise FactUnavailable(f"host {host_id}: Apache's main file {main} was not read")
    cfg = ApacheConfig(present=True, master=(meta.get("master") or [""])[0], root=root)
    for line in meta.get("procs", []):
        f = line.split()
        if len(f) >= 3 and f[1].isdigit() and f[2].isdigit():
            cfg.procs.append((f[0], int(f[1]), int(f[2])))
    env: dict[str, str] = {}
    for name, body in files.items():
        if posixpath.basename(name) == "envvars":
            for m in re.finditer(r"(?m)^\s*export\s+([A-Za-z_][A-Za-z0-9_]*)=(\S*)", body):
                env[m.group(1)] = m.group(2).strip("'\"")
    env = {k: re.sub(r"\$SUFFIX|\$\{SUFFIX\}", "", v) for k, v in env.items()}
    _read(main, files, root, env, cfg, [], 0)
    return cfg


def _read(name: str, files: dict[str, str], root: str, env: dict[str, str], cfg: ApacheConfig,
          context: list[str], depth: int) -> None:
    if depth > 16:
        raise FactUnavailable(f"Apache Include nesting deeper than 16 at {name}")
    lines = files.get(name, "").replace("\\\n", " ").splitlines()
    skip = 0  # depth inside an <IfModule>/<IfDefine> whose condition is false
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = _VAR.sub(lambda m: env.get(m.group(1), m.group(0)), line)
        if line.startswith("</"):
            if skip:
                skip -= 1
            elif context:
                context.pop()
            continue
        if line.startswith("<"):
            tag, _, rest = line[1:].rstrip(">").partition(" ")
            if skip:
                skip += 1
                continue
            if tag.lower() == "ifmodule":
                want = rest.strip()
                if (want.lstrip("!") in cfg.modules) == want.startswith("!"):
                    skip = 1  # the module is not loaded (or is, for !): the block is not read
                else:
                    context.append("ifmodule")
                continue
            if tag.lower() == "ifdefine":
                context.append("ifdefine")  # defines are not tracked: the contents are kept
                continue
            context.append(f"{tag.lower()} {rest.strip().strip(chr(34))}".strip())
            continue
        if skip:
            continue
        name_, _, rest = line.partition(" ")
        args = tuple(_split_args(rest))
        low = name_.lower()
        if low == "define" and len(args) >= 2:
            env[args[0]] = args[1]
        if low in ("include", "includeoptional") and args:
            pattern = args[0] if args[0].startswith("/") else posixpath.join(root, args[0])
            if pattern.endswith("/"):
                pattern += "*"
            matches = sorted(f for f in files if fnmatch.fnmatch(f, pattern) or f == pattern)
            if not matches and posixpath.isabs(pattern) and not any(c in pattern for c in "*?[") \
                    and low == "include":
                raise FactUnavailable(f"Apache includes {pattern}, which was not read")
            for f in matches:
                _read(f, files, root, env, cfg, context, depth + 1)
            continue
        if low == "loadmodule" and len(args) >= 2:
            cfg.modules.add(args[0])
            base = posixpath.basename(args[1])
            cfg.modules.add(base[:-3] + ".c" if base.endswith(".so") else base)
        ctx = tuple(c for c in context if c not in ("ifmodule", "ifdefine"))
        cfg.directives.append(ApacheDirective(low, args, name, ctx))


# ---- Tomcat -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TomcatBase:
    base: str
    apps: tuple[str, ...]  # webapps entries and ctx:<descriptor>
    stock_root_page: bool
    manager_restriction: tuple[str, ...]  # the valves/allow patterns found on the manager
    listings: str  # DefaultServlet listings parameter ('' = not set: Tomcat's default false)
    server: TomcatServer | None

    @property
    def app_names(self) -> set[str]:
        out = set()
        for a in self.apps:
            name = a.removeprefix("ctx:")
            out.add(name[:-4] if name.endswith((".xml", ".war")) else name)
        return out


def parse_tomcat_apps(text: str, host_id: str) -> list[TomcatBase]:
    out: list[TomcatBase] = []
    for part in re.split(r"(?m)^## base ", text)[1:]:
        base, _, body = part.partition("\n")
        groups: dict[str, list[str]] = {}
        current = ""
        xml_lines: list[str] = []
        for line in body.splitlines():
            if line.startswith("## ") and current != "serverxml":
                current = line[3:].strip()
                groups[current] = []
                continue
            if current == "serverxml":
                xml_lines.append(line)
            elif line.strip():
                groups.setdefault(current, []).append(line.strip())
        server = None
        xml = "\n".join(xml_lines).strip()
        if xml:
            try:
                ET.fromstring(xml)  # noqa: S314 - expat bounds entity expansion; no external entities
            except ET.ParseError as exc:
                raise FactUnavailable(f"host {host_id}: {base}/conf/server.xml not parsed: {exc}") from exc
            server = parse_tomcat(f"## file {base.strip()}/conf/server.xml\n{xml}", host_id)[0]
        out.append(TomcatBase(base.strip(), tuple(groups.get("webapps", [])), bool(groups.get("rootpage")),
                              tuple(groups.get("manager", [])), (groups.get("listings") or [""])[0].strip(),
                              server))
    return out


# ---- WebLogic (configuration only) --------------------------------------------------------------

#: config.xml of each running WebLogic server's domain: startWebLogic.sh runs the JVM from the
#: domain home, so /proc/<pid>/cwd is the domain; DOMAIN_HOME-style arguments are used when given.
_WEBLOGIC = r"""for p in $(pgrep -f 'weblogic\.Server' 2>/dev/null); do
  d=$(tr '\0' '\n' < /proc/$p/cmdline 2>/dev/null | sed -n 's/^-Ddomain\.home=//p' | head -n 1)
  [ -n "$d" ] || d=$(readlink /proc/$p/cwd)
  u=$(ps -o user= -p "$p")
  case " $seen " in *" $d "*) continue;; esac; seen="$seen $d"
  [ -f "$d/config/config.xml" ] || continue
  echo "## domain $d $u"; cat "$d/config/config.xml"
done; true"""

MIDDLEWARE_SECTIONS.append(Section("weblogic", _one_line(_WEBLOGIC), root=True, timeout=10))


@dataclass(frozen=True)
class WeblogicServer:
    name: str
    listen_port_enabled: bool  # the plaintext port (ServerMBean ListenPortEnabled, default true)
    ssl_enabled: bool  # SSLMBean Enabled (default false)
    access_log: bool  # WebServerLogMBean LoggingEnabled (default true)


@dataclass(frozen=True)
class WeblogicDomain:
    home: str
    run_user: str
    production_mode: bool  # DomainMBean ProductionModeEnabled (default false)
    console_enabled: bool  # DomainMBean ConsoleEnabled (default true where the console exists)
    servers: tuple[WeblogicServer, ...]


def _flag(el: ET.Element | None, path: str, default: bool) -> bool:
    if el is None:
        return default
    found = el.find(path)
    if found is None or found.text is None:
        return default
    return found.text.strip().lower() == "true"


def parse_weblogic(text: str, host_id: str) -> list[WeblogicDomain]:
    """The domains of the ``weblogic`` section: config.xml elements as the WebLogic MBean
    reference names them (namespace stripped); an absent element is the MBean's default."""
    out: list[WeblogicDomain] = []
    for part in re.split(r"(?m)^## domain ", text)[1:]:
        head, _, body = part.partition("\n")
        home, _, user = head.strip().rpartition(" ")
        try:
            root = ET.fromstring(body.strip())  # noqa: S314 - expat bounds entity expansion; no external entities
        except ET.ParseError as exc:
            raise FactUnavailable(f"host {host_id}: {home}/config/config.xml not parsed: {exc}") from exc
        for el in root.iter():  # drop the namespace ({http://xmlns.oracle.com/weblogic/domain}server)
            el.tag = el.tag.rsplit("}", 1)[-1]
        servers = tuple(WeblogicServer(
            (s.findtext("name") or "?").strip(), _flag(s, "listen-port-enabled", True),
            _flag(s.find("ssl"), "enabled", False), _flag(s.find("web-server/web-server-log"), "logging-enabled", True))
            for s in root.findall("server"))
        out.append(WeblogicDomain(home, user, _flag(root, "production-mode-enabled", False),
                                  _flag(root, "console-enabled", True), servers))
    return out
