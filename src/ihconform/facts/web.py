"""Web-server facts: the effective nginx configuration (``nginx -T``) and Tomcat's server.xml.

Why ``nginx -T`` of the *running* master: a site often starts nginx with its own ``-c``
file (the lab does), so the configuration under /etc/nginx may not be the one serving.
The section reads the master's command line from the process table and dumps the
configuration with the same ``-p``/``-e``/``-c``; with no master running it dumps the
installed default. ``nginx -T`` prints every included file after a ``# configuration file``
line; :func:`parse_nginx_dump` re-assembles them by resolving ``include`` against those
files, so the tree it returns is what nginx itself reads.

Note: ``nginx -T`` opens the log files named in the configuration (as ``nginx -t`` does);
it writes nothing to them and creates a log file only if it is missing.
"""

from __future__ import annotations

import fnmatch
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from ihconform.errors import FactUnavailable
from ihconform.facts.collect import Section
from ihconform.facts.host import split_sections

_NGINX = r"""m=$(ps -eo args= 2>/dev/null | sed -n 's/^nginx: master process //p' | head -n 1)
b=${m%% *}
[ -n "$b" ] || b=nginx
command -v "$b" >/dev/null 2>&1 || b=$(command -v nginx 2>/dev/null)
if [ -z "$b" ]; then echo '## absent'; exit 0; fi
arg() { printf '%s\n' "$m" | sed -n "s/.* $1 *\([^ ]*\).*/\1/p"; }
c=$(arg -c); e=$(arg -e); p=$(arg -p)
echo '## master'; printf '%s\n' "${m:-none}"
echo '## version'; "$b" -v 2>&1
echo '## dump'; "$b" -T ${p:+-p "$p"} ${e:+-e "$e"} ${c:+-c "$c"} 2>&1"""

_TOMCAT = r"""for f in /etc/tomcat*/server.xml /opt/tomcat*/conf/server.xml /usr/share/tomcat*/conf/server.xml \
  /var/lib/tomcat*/conf/server.xml /opt/apache-tomcat*/conf/server.xml \
  $(ps -eo args= 2>/dev/null | sed -n 's/.*-Dcatalina\.base=\([^ ]*\).*/\1\/conf\/server.xml/p'); do
  [ -f "$f" ] || continue
  r=$(readlink -f "$f"); case " $seen " in *" $r "*) continue;; esac; seen="$seen $r"
  echo "## file $f"; cat "$f"
done; true"""

def _one_line(script: str) -> str:
    """A multi-line script as one line (transcripts and error messages stay one line)."""
    out = script.replace("\\\n", " ").replace("; do\n", "; do ").replace("\n", "; ")
    return out.replace("do ;", "do")


WEB_SECTIONS: list[Section] = [
    Section("nginx", _one_line(_NGINX), root=True, timeout=10),
    Section("tomcat", _one_line(_TOMCAT), root=True, ok_codes=(0, 1)),
]


@dataclass
class Directive:
    name: str
    args: list[str]
    file: str
    children: list[Directive] | None = None  # None: a simple directive; list: a block

    def find(self, name: str) -> list[Directive]:
        return [d for d in self.children or [] if d.name == name]

    def first(self, name: str) -> Directive | None:
        found = self.find(name)
        return found[-1] if found else None  # nginx rejects duplicates of most; last wins otherwise

    def walk(self) -> list[Directive]:
        out: list[Directive] = []
        for d in self.children or []:
            out.append(d)
            out.extend(d.walk())
        return out


_TOKEN = re.compile(r"""\s*(?:(#[^\n]*)|("(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')|([{};])|([^\s{};"'#]+(?:#[^\s{};]*)*))""")


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            if text[pos:].strip():
                raise ValueError(f"cannot tokenise nginx configuration near {text[pos:pos + 40]!r}")
            break
        pos = m.end()
        if m.group(1) is not None:
            continue
        tok = m.group(2) or m.group(3) or m.group(4)
        if m.group(2):
            tok = tok[1:-1]
        out.append(tok)
    return out


def _parse_block(tokens: list[str], i: int, file: str, files: dict[str, str], depth: int,
                 out: list[Directive]) -> int:
    words: list[str] = []
    while i < len(tokens):
        t = tokens[i]
        i += 1
        if t == ";":
            if words:
                if words[0] == "include" and len(words) > 1:
                    _include(words[1], file, files, depth, out)
                else:
                    out.append(Directive(words[0], words[1:], file))
            words = []
        elif t == "{":
            block = Directive(words[0] if words else "", words[1:], file, [])
            assert block.children is not None
            i = _parse_block(tokens, i, file, files, depth, block.children)
            out.append(block)
            words = []
        elif t == "}":
            return i
        else:
            words.append(t)
    return i


def _include(pattern: str, current: str, files: dict[str, str], depth: int, out: list[Directive]) -> None:
    if depth > 10:
        raise ValueError("nginx include nesting deeper than 10")
    if not pattern.startswith("/"):
        base = current.rsplit("/", 1)[0]
        pattern = f"{base}/{pattern}"
    for name in sorted(f for f in files if fnmatch.fnmatchcase(f, pattern)):
        _parse_block(_tokens(files[name]), 0, name, files, depth + 1, out)


def parse_nginx_dump(dump: str) -> Directive:
    """The main context of an ``nginx -T`` dump, includes resolved."""
    files: dict[str, str] = {}
    order: list[str] = []
    current: str | None = None
    buf: list[str] = []
    for line in dump.splitlines():
        m = re.match(r"^# configuration file (.+):$", line)
        if m:
            if current is not None:
                files[current] = "\n".join(buf)
            current, buf = m.group(1), []
            order.append(current)
        elif current is not None:
            buf.append(line)
    if current is not None:
        files[current] = "\n".join(buf)
    if not order:
        raise ValueError("no '# configuration file' in the nginx -T output")
    root = Directive("main", [], order[0], [])
    assert root.children is not None
    _parse_block(_tokens(files[order[0]]), 0, order[0], files, 0, root.children)
    return root


@dataclass
class NginxFacts:
    present: bool
    master: str = ""  # the running master's command line, "none" when not running
    version: tuple[int, int, int] | None = None
    root: Directive | None = None

    @property
    def running(self) -> bool:
        return self.present and self.master not in ("", "none")


def parse_nginx(text: str, host_id: str) -> NginxFacts:
    groups = split_sections(text)
    if "absent" in groups:
        return NginxFacts(present=False)
    if "dump" not in groups:
        raise FactUnavailable(f"host {host_id}: nginx -T printed no configuration")
    dump = text.split("\n## dump\n", 1)[-1] if "\n## dump\n" in text else "\n".join(groups["dump"])
    version = None
    vm = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", "\n".join(groups.get("version", [])))
    if vm:
        version = (int(vm.group(1)), int(vm.group(2)), int(vm.group(3)))
    try:
        root = parse_nginx_dump(dump)
    except ValueError as exc:
        raise FactUnavailable(f"host {host_id}: nginx configuration not parsed: {exc}") from exc
    master = (groups.get("master") or ["none"])[0]
    return NginxFacts(present=True, master=master, version=version, root=root)


@dataclass
class Server:
    """One nginx ``server`` block with what the probes need, inheritance applied."""

    block: Directive
    names: list[str]
    listens: list[list[str]]
    settings: dict[str, list[str]] = field(default_factory=dict)  # effective server-level values

    @property
    def ssl(self) -> bool:
        return any("ssl" in args or "quic" in args for args in self.listens) or \
            self.settings.get("ssl", ["off"])[0] == "on"

    @property
    def local_only(self) -> bool:
        """Listens only on loopback addresses."""
        if not self.listens:
            return False
        return all(a and (a[0].startswith(("127.", "[::1]", "localhost", "unix:"))) for a in self.listens)

    @property
    def label(self) -> str:
        listen = ",".join(a[0] for a in self.listens if a) or "80"
        return f"{'/'.join(self.names) or '_'} ({listen}) in {self.block.file}"


INHERITED = ("server_tokens", "ssl_protocols", "ssl_ciphers", "ssl", "access_log", "error_log", "autoindex",
             "add_header", "ssl_prefer_server_ciphers")


def servers(root: Directive) -> list[Server]:
    out: list[Server] = []
    for http in root.find("http"):
        base = {d.name: d.args for d in http.children or [] if d.children is None and d.name in INHERITED}
        for srv in http.find("server"):
            eff = dict(base)
            eff.update({d.name: d.args for d in srv.children or [] if d.children is None and d.name in INHERITED})
            names = [n for d in srv.find("server_name") for n in d.args]
            listens = [d.args for d in srv.find("listen")]
            out.append(Server(srv, names, listens or [["80"]], eff))
    return out


def redirects_to_https(srv: Server) -> bool:
    """The server sends every plain-HTTP request to https (``return 301 https://...`` or a
    ``rewrite ... https://...`` at server level or in ``location /``)."""
    blocks = [srv.block] + [loc for loc in srv.block.find("location") if loc.args in (["/"], ["=", "/"])]
    for b in blocks:
        for d in b.children or []:
            if d.name == "return" and len(d.args) >= 2 and d.args[0] in ("301", "302", "307", "308") \
                    and d.args[1].startswith("https://"):
                return True
            if d.name == "rewrite" and len(d.args) >= 2 and d.args[1].startswith("https://"):
                return True
    return False


# ---- Tomcat (best effort) -------------------------------------------------------------------


@dataclass
class TomcatServer:
    file: str
    shutdown_port: str
    shutdown_command: str
    connectors: list[dict[str, str]]
    valves: list[dict[str, str]]


def parse_tomcat(text: str, host_id: str) -> list[TomcatServer]:
    out: list[TomcatServer] = []
    for part in re.split(r"(?m)^## file ", text)[1:]:
        name, _, body = part.partition("\n")
        try:
            # expat (>= 2.4.1, as Python 3.11 ships) bounds entity expansion; ElementTree
            # resolves no external entities.
            root = ET.fromstring(body)  # noqa: S314
        except ET.ParseError as exc:
            raise FactUnavailable(f"host {host_id}: {name}: not parsed: {exc}") from exc
        connectors = [dict(c.attrib) for c in root.iter("Connector")]
        for c, el in zip(connectors, root.iter("Connector"), strict=True):
            protos = [dict(s.attrib) for s in el.iter("SSLHostConfig")]
            if protos:
                c["protocols"] = ",".join(p.get("protocols", "") for p in protos)
                c["ciphers"] = ":".join(p.get("ciphers", "") for p in protos)
        out.append(TomcatServer(name.strip(), root.get("port", "8005"), root.get("shutdown", "SHUTDOWN"),
                                connectors, [dict(v.attrib) for v in root.iter("Valve")]))
    return out
