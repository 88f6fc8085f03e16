"""Audio/video: coturn (STUN/TURN with long-term credentials) on av1, kamailio (SIP) on av2.

Why these two: a video consultation needs NAT traversal (STUN/TURN) and signalling (SIP);
the harness probes each with real protocol messages (STUN Binding, SIP OPTIONS), so the lab
runs the real servers Debian ships.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from ihconform.lab import plan
from ihconform.lab.context import LabContext, Service
from ihconform.lab.proc import host_exec, run

KAMAILIO_MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")


def turnserver_conf(d: Path, address: str, password: str) -> str:
    return "\n".join([
        "# ihconform lab", f"listening-ip={address}", f"relay-ip={address}",
        f"listening-port={plan.STUN_PORT}", "min-port=49160", "max-port=49200", "fingerprint",
        "lt-cred-mech", f"user={plan.TURN_USER}:{password}", f"realm={plan.TURN_REALM}",
        "no-tls", "no-dtls", "no-cli", "no-multicast-peers", "stale-nonce=600",
        f"pidfile={d / 'turnserver.pid'}", f"log-file={d / 'turnserver.log'}", "simple-log",
        "",
    ])


def kamailio_cfg(address: str, server_name: str) -> str:
    return "\n".join([
        "#!KAMAILIO", "# ihconform lab: answers OPTIONS (keep-alive / health), nothing else",
        f"listen=udp:{address}:{plan.SIP_PORT}", f"listen=tcp:{address}:{plan.SIP_PORT}",
        "children=2", "tcp_children=2", "log_stderror=no", "debug=1",
        f'server_header="Server: {server_name}"', f'user_agent_header="User-Agent: {server_name}"',
        f'mpath="{KAMAILIO_MODULES}/"', 'loadmodule "sl.so"', 'loadmodule "pv.so"',
        "request_route {",
        '  if (method == "OPTIONS") { sl_send_reply("200", "OK"); exit; }',
        '  sl_send_reply("404", "Not here");', "}", "",
    ])


def start_coturn(ctx: LabContext) -> None:
    host = plan.HOST_BY_ID["av1"]
    d = ctx.dir("hosts", "av1", "coturn")
    password = secrets.token_urlsafe(12)
    ctx.secrets["turn-password"] = password
    (d / "turnserver.conf").write_text(turnserver_conf(d, host.address, password))
    run(host_exec(ctx.inits["av1"], ["turnserver", "-c", d / "turnserver.conf", "-o"]))


def start_kamailio(ctx: LabContext) -> None:
    host = plan.HOST_BY_ID["av2"]
    d = ctx.dir("hosts", "av2", "kamailio")
    (d / "kamailio.cfg").write_text(kamailio_cfg(host.address, "kamailio (ihlab av2)"))
    run(host_exec(ctx.inits["av2"], ["kamailio", "-f", d / "kamailio.cfg", "-P", d / "kamailio.pid",
                                     "-m", "32", "-M", "8", "-Y", d]))


def register(ctx: LabContext) -> None:
    ctx.add(Service("coturn", "av", plan.HOST_BY_ID["av1"].ns,
                    (("udp", plan.STUN_PORT), ("tcp", plan.STUN_PORT))))
    ctx.add(Service("kamailio", "av", plan.HOST_BY_ID["av2"].ns,
                    (("udp", plan.SIP_PORT), ("tcp", plan.SIP_PORT)),
                    enabled=not ctx.has("av-down"), note="variant av-down" if ctx.has("av-down") else ""))
