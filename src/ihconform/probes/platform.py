"""实施细则 第十九条: the hospital reaches the provincial supervision platform over its
dedicated line, not over an ISP, and the platform answers over TLS on that path.

For each host that must reach the platform: the kernel's route to the platform address (``ip
route get``) must leave through the declared dedicated-line interface or gateway and through
none of the declared ISP uplinks; then ``curl`` on that host, bound to that interface, must
complete a verified TLS request to the platform URL. The CA certificate is sent on stdin into
a temporary file on the host (no file is left behind).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from ihconform.check import Check
from ihconform.errors import FactUnavailable
from ihconform.inventory import Platform
from ihconform.net import paths
from ihconform.registry import probe
from ihconform.runcache import EvidenceSink
from ihconform.transport.base import CommandResult, Transport, quote_command

HostTransport = Callable[[str], Transport]


def curl_over_line(url: str, address: str, interface: str, timeout: float, with_ca: bool) -> str:
    """The curl command run on the host: bound to the line, the name pinned to the address."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    fmt = "%{http_code} %{ssl_verify_result} %{remote_ip} %{local_ip}"
    base = "curl -sS -o /dev/null --max-time %s -w %s --resolve %s"
    args: list[object] = [f"{timeout:g}", fmt, f"{host}:{port}:{address}"]
    if interface:
        base += " --interface %s"
        args.append(interface)
    if with_ca:
        return ('f=$(mktemp) && cat > "$f" && ' + quote_command(base + ' --cacert "$f" %s', *args, url)
                + '; rc=$?; rm -f "$f"; exit $rc')
    return quote_command(base + " %s", *args, url)


def _runner(t: Transport) -> Callable[[str, float], CommandResult]:
    return lambda cmd, timeout: t.run(cmd, timeout=timeout)


@probe("platform.dedicated_line", facts=())
def test_dedicated_line(check: Check, host_transport: HostTransport, evidence: EvidenceSink) -> None:
    p = check.obj.ref
    if not isinstance(p, Platform):
        raise FactUnavailable(f"{check.obj.id} is not the platform link")
    timeout = check.float_param("timeout_s")
    address = p.address or urlsplit(p.url).hostname or ""
    try:
        paths.in_prefix(address, "0.0.0.0/0")
    except ValueError:
        raise FactUnavailable(f"platform.address must be a literal address, got {address!r}") from None
    hosts = list(p.hosts) or [h.id for h in check.inventory.hosts if "app" in h.roles]
    if not hosts:
        raise FactUnavailable("no host declared to reach the platform (platform.hosts)")
    isp_gw = {u.gateway for u in check.inventory.uplinks if u.gateway}
    isp_if = {u.interface for u in check.inventory.uplinks if u.interface}
    ca = p.ca_file.read_bytes() if p.ca_file else None
    observed: dict[str, dict[str, object]] = {}
    problems: list[str] = []
    for hid in hosts:
        t = host_transport(hid)
        route = paths.route_get(_runner(t), address)
        on_line = (not p.interface or route.dev == p.interface) and (not p.gateway or route.via == p.gateway)
        via_isp = route.via in isp_gw or route.dev in isp_if
        cmd = curl_over_line(p.url, address, p.interface or route.dev, timeout, ca is not None)
        res = t.run(cmd, stdin=ca, timeout=timeout + 10)
        fields = res.text.split()
        code = fields[0] if fields else "000"
        verify = fields[1] if len(fields) > 1 else "?"
        tls_ok = res.exit_code == 0 and code.isdigit() and 0 < int(code) < 500 and verify == "0"
        observed[hid] = {"route": route.raw, "dev": route.dev, "via": route.via, "on_line": on_line,
                         "via_isp": via_isp, "https_status": code, "tls_verify_result": verify,
                         "curl_exit": res.exit_code, "curl_error": res.stderr.decode("utf-8", "replace").strip()[:300]}
        if not on_line:
            problems.append(f"{hid}: 未经专线 / route to {address} leaves via {route.via or 'direct'} dev {route.dev}, "
                            f"not the dedicated line ({p.interface or p.gateway})")
        if via_isp:
            problems.append(f"{hid}: 经宽带线路访问监管平台 / the platform is reached over an ISP uplink")
        if not tls_ok:
            problems.append(f"{hid}: 专线上 TLS 访问失败 / no verified TLS answer on the line "
                            f"(curl exit {res.exit_code}, HTTP {code}, verify {verify})")
    check.attach(evidence.write(("platform", "dedicated-line.json"),
                                {"platform": p.model_dump(mode="json"), "hosts": observed},
                                kind="route"))
    check.judge(not problems, observed=observed,
                expected=f"route to {p.prefix or address} via {p.interface or p.gateway}; verified TLS answer",
                reason="; ".join(problems) or f"{len(hosts)} 台主机经专线访问监管平台 / {len(hosts)} hosts reach the "
                                              "platform over the dedicated line with verified TLS")
