"""Write the inventory of what the lab built, so ``ihconform run --inventory`` audits it.

Why it lists what was *built*, not what was intended: a defect variant that removes a thing
(``one-isp``) leaves it out, the way a real site's inventory would; a variant that breaks a
thing (``av-down``, ``hostkey-changed``) keeps the declaration, so the harness finds the fault.
Secrets are never written into it: keys and the sudo password are files under
``<runtime>/secrets`` (mode 0600); the TURN credentials are named by environment variables
whose values are in ``<runtime>/secrets/lab.env``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ihconform.lab import databases, plan
from ihconform.lab.web import REFLECTOR_PATH

TURN_USER_ENV, TURN_PASSWORD_ENV = "IHLAB_TURN_USER", "IHLAB_TURN_PASSWORD"


def build(runtime: Path, variants: tuple[str, ...], pinned: dict[str, str], ca_file: Path) -> dict[str, Any]:
    secrets = runtime / "secrets"
    hosts: list[dict[str, Any]] = []
    for h in plan.HOSTS:
        entry: dict[str, Any] = {"id": h.id, "address": h.address, "roles": list(h.roles),
                                 "host_key": pinned[h.id], "location": "ihconform lab (network namespace)"}
        if h.id != plan.BASTION.id:
            entry["jump"] = plan.BASTION.id
        entry["sudo"] = {"enabled": True, "password_file": str(secrets / "sudo-password")}
        if public := plan.public_addresses(h.id, variants):  # what the internet reaches it at
            entry["public_addresses"] = list(public)
        hosts.append(entry)
    s = plan.SCANNER
    hosts.append({"id": s.id, "address": s.address, "roles": list(s.roles), "host_key": pinned[s.id],
                  "location": "ihconform lab: the internet (outside vantage, not under test)"})
    pg = databases.pg_paths(runtime, "db01")
    my = databases.my_paths(runtime)
    uplinks = [{"id": u["id"], "isp": u["isp"], "host": "app01", "source": u["source"], "interface": u["dev"],
                "gateway": u["gateway"], "contracted_mbps": plan.DEFAULT_RATES_MBIT[str(u["id"])],
                "method": "iperf3", "server": plan.INET_SERVER, "repeats": 1,
                "reflector": f"http://{plan.INET_SERVER}{REFLECTOR_PATH}"}
               for u in plan.uplinks(variants)]
    av1, av2 = plan.HOST_BY_ID["av1"], plan.HOST_BY_ID["av2"]
    return {
        "institution": {"name": "示例互联网医院（实验环境） / ihconform Lab Internet Hospital",
                        "licence_number": "LAB-0000-0000"},
        "system": {"name": "互联网医院信息系统（实验环境） / lab internet-hospital system", "version": "lab",
                   "mlps_level": 3, "location": "本机网络命名空间 / network namespaces on this machine"},
        "defaults": {"user": plan.PROBE_USER, "auth": {"key_file": str(secrets / "id_ed25519")},
                     "known_hosts": str(runtime / "known_hosts"), "timeout_s": 10,
                     "env_file": str(secrets / "lab.env")},
        "hosts": hosts,
        "databases": [
            {"id": "pg-db01", "host": "db01", "engine": "postgresql", "port": 5432, "tls_required": True,
             "socket": str(pg["sock"]), "admin_user": "postgres"},
            {"id": "mariadb-db01", "host": "db01", "engine": "mariadb", "port": 3306, "tls_required": True,
             "socket": str(my["sock"]), "admin_user": "root"},
        ],
        "tls_endpoints": [
            {"id": f"{hid}-https", "host": f"{hid}.lab", "address": plan.HOST_BY_ID[hid].address, "port": 443,
             "ca_file": str(ca_file), "exposed": True} for hid in ("app01", "app02")
        ],
        "uplinks": uplinks,
        "av_systems": [
            {"id": "av1", "name": "视频问诊 STUN/TURN (coturn)", "vendor": "coturn", "host": "av1",
             "endpoints": [
                {"protocol": "stun-udp", "address": av1.address, "port": plan.STUN_PORT},
                {"protocol": "stun-tcp", "address": av1.address, "port": plan.STUN_PORT},
                {"protocol": "turn-udp", "address": av1.address, "port": plan.STUN_PORT,
                 "username_env": TURN_USER_ENV, "password_env": TURN_PASSWORD_ENV},
            ]},
            {"id": "av2", "name": "音视频信令 SIP (kamailio)", "vendor": "kamailio", "host": "av2",
             "endpoints": [
                {"protocol": "sip-udp", "address": av2.address, "port": plan.SIP_PORT},
                {"protocol": "sip-tcp", "address": av2.address, "port": plan.SIP_PORT},
            ]},
        ],
        "power": {
            "bmcs": [{"id": f"bmc-{s}", "server": s, "url": f"http://{a}:{plan.REDFISH_PORT}/redfish/v1"}
                     for s, a in plan.BMC_ADDRS.items()],
            "ups": [{"id": f"ups-{feed.lower()}", "address": plan.POWER_ADDR, "port": 3493, "name": name,
                     "feed": feed} for name, feed in plan.UPS_UNITS],
        },
        "platform": {"url": f"https://{plan.PLATFORM_NAME}/", "address": plan.PLATFORM_ADDR,
                     "prefix": plan.PLATFORM_PREFIX, "interface": "dl0", "gateway": plan.DL_GATEWAY,
                     "hosts": [h.id for h in plan.HOSTS if h.dl_address], "ca_file": str(ca_file)},
        "clinical_interfaces": [
            {"id": "pacs", "kind": "pacs", "protocol": "dicom", "address": plan.HOST_BY_ID["his01"].address,
             "port": plan.DICOM_PORT, "ae_title": plan.DICOM_AE},
            {"id": "his", "kind": "his", "protocol": "hl7-mllp", "address": plan.HOST_BY_ID["his01"].address,
             "port": plan.HL7_PORT},
        ],
        "vantage": {"outside": plan.SCANNER.id, "server_networks": [str(plan.LAN)]},
    }


FLEET_INVENTORY = "fleet-inventory.yaml"


RELEASE_INVENTORY = "release-inventory.yaml"


def build_fleet(runtime: Path, fleet: tuple[plan.HostSpec, ...], pinned: dict[str, str],
                name: str = "ihconform 规模测试 / ihconform lab fleet") -> dict[str, Any]:
    """The fleet's (or the release hosts') own inventory: only those hosts, reached directly from
    the harness (no jump), each with its pinned key, so a scale benchmark measures ihconform and
    the fleet, and a release host is judged on its own."""
    secrets = runtime / "secrets"
    return {
        "institution": {"name": name, "licence_number": "LAB-FLEET"},
        "system": {"name": "实验环境主机群 / lab fleet", "version": "lab", "mlps_level": 3,
                   "location": "本机网络命名空间 / network namespaces on this machine"},
        "defaults": {"user": plan.PROBE_USER, "auth": {"key_file": str(secrets / "id_ed25519")},
                     "known_hosts": str(runtime / "known_hosts"), "timeout_s": 10},
        "hosts": [{"id": h.id, "address": h.address, "roles": list(h.roles), "host_key": pinned[h.id],
                   "location": "ihconform lab fleet (network namespace)",
                   "sudo": {"enabled": True, "password_file": str(secrets / "sudo-password")}}
                  for h in fleet],
        "vantage": {"outside": "local", "server_networks": [str(plan.LAN)]},
    }


def write(runtime: Path, variants: tuple[str, ...], pinned: dict[str, str], ca_file: Path,
          fleet: tuple[plan.HostSpec, ...] = ()) -> Path:
    """Write ``inventory.yaml`` and ``known_hosts`` (and ``fleet-inventory.yaml`` when there is
    a fleet); returns the inventory path."""
    lines = [f"{h.id},{h.fqdn},{h.address} {pinned[h.id]}" for h in (*plan.HOSTS, plan.SCANNER, *fleet)]
    (runtime / "known_hosts").write_text("\n".join(lines) + "\n")
    doc = build(runtime, variants, pinned, ca_file)
    head = ("# 由 ihconform lab up 生成 / written by `ihconform lab up`"
            f"{' (variants: ' + ', '.join(variants) + ')' if variants else ''}\n")
    path = runtime / "inventory.yaml"
    path.write_text(head + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=110))
    plain, releases = tuple(h for h in fleet if not h.release), tuple(h for h in fleet if h.release)
    if plain:
        (runtime / FLEET_INVENTORY).write_text(
            f"# 由 ihconform lab up --fleet {len(plain)} 生成 / written by `ihconform lab up --fleet`\n"
            + yaml.safe_dump(build_fleet(runtime, plain, pinned), allow_unicode=True, sort_keys=False,
                             width=110))
    if releases:
        (runtime / RELEASE_INVENTORY).write_text(
            "# 由 ihconform lab up --release 生成 / written by `ihconform lab up --release` (stock hosts)\n"
            + yaml.safe_dump(build_fleet(runtime, releases, pinned, "ihconform 发行版主机 / lab release hosts"),
                             allow_unicode=True, sort_keys=False, width=110))
    return path
