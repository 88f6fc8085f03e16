"""The lab's pure parts: address plan, variants, rendered configs, inventory. No root needed."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import yaml

from ihconform.inventory import load_inventory
from ihconform.lab import baseline, databases, inventory_out, plan, power, web


def test_every_address_is_in_the_lab_range() -> None:
    addrs = [h.address for h in plan.HOSTS] + [h.dl_address for h in plan.HOSTS if h.dl_address]
    addrs += [plan.ROOT_ADDR, plan.POWER_ADDR, *plan.BMC_ADDRS.values(), plan.INET_SERVER,
              plan.PLATFORM_ADDR, plan.DL_GATEWAY, plan.SCAN_MGMT_ROOT, plan.SCAN_MGMT, plan.SCAN_INET_GW,
              plan.SCAN_INET]
    for u in plan.uplinks(()):
        addrs += [str(u["source"]), str(u["gateway"]), str(u["core_isp"]), str(u["core_inet"])]
    assert len(addrs) == len(set(addrs))
    for a in addrs:
        ip = ipaddress.ip_address(a)
        assert ip in plan.LAB_RANGE
        assert ip not in ipaddress.ip_network("192.0.2.0/24")
        assert ip not in ipaddress.ip_network("203.0.113.0/24")
    lan_hosts = [h.address for h in plan.HOSTS] + [plan.POWER_ADDR, *plan.BMC_ADDRS.values(), plan.ROOT_ADDR]
    assert all(ipaddress.ip_address(a) in plan.LAN for a in lan_hosts)
    # the outside vantage is outside the LAN on both of its links, and its internet side is SCAN_NET
    wan = [plan.INET_SERVER, plan.PLATFORM_ADDR, plan.DL_GATEWAY, plan.SCAN_MGMT, plan.SCAN_INET]
    assert {plan.SCAN_INET_GW, plan.SCAN_INET} <= set(map(str, ipaddress.ip_network(plan.SCAN_NET).hosts()))
    assert all(ipaddress.ip_address(a) not in plan.LAN for a in wan)
    assert ipaddress.ip_address(plan.PLATFORM_ADDR) in ipaddress.ip_network(plan.PLATFORM_PREFIX)


def test_interface_and_namespace_names_fit_the_kernel_limit() -> None:
    names = [h.switch_port for h in plan.HOSTS] + [plan.ROOT_VETH, plan.POWER_SWITCH_PORT, plan.SCAN_ROOT_VETH]
    names += [f"dl-{h.id}" for h in plan.HOSTS if h.dl_address] + ["from-isp-a", "from-isp-b"]
    assert all(len(n) <= 15 for n in names)
    assert all(ns.startswith(plan.NS_PREFIX) for ns in plan.ALL_NAMESPACES)


def test_variants_validate() -> None:
    assert plan.check_variants(["weak-tls", "av-down", "weak-tls"]) == ("av-down", "weak-tls")
    with pytest.raises(ValueError, match="unknown"):
        plan.check_variants(["nope"])
    with pytest.raises(ValueError, match="cannot be combined"):
        plan.check_variants(["slow-isp", "one-isp"])
    assert [u["id"] for u in plan.uplinks(("one-isp",))] == ["isp-a"]
    assert plan.uplinks(("slow-isp",))[1]["rate"] == plan.SLOW_RATE_MBIT


def test_sshd_config_is_hardened_and_restricted_to_the_bastion(tmp_path: Path) -> None:
    app = plan.HOST_BY_ID["app01"]
    conf = baseline.sshd_config(app, tmp_path, ())
    for line in ("PermitRootLogin no", "PasswordAuthentication no", "MaxAuthTries 4", "ClientAliveInterval 300",
                 "ClientAliveCountMax 2", "LoginGraceTime 60", f"AllowUsers ihprobe@{plan.BASTION.address}",
                 "AllowTcpForwarding no"):
        assert line in conf.splitlines()
    algos = " ".join(ln for ln in conf.splitlines() if ln.startswith(("Ciphers", "MACs", "KexAlgorithms")))
    assert "cbc" not in algos and "md5" not in algos and "hmac-sha1" not in algos
    bastion = baseline.sshd_config(plan.BASTION, tmp_path, ())
    assert f"AllowUsers ihprobe@{plan.ROOT_ADDR}" in bastion
    weak = baseline.sshd_config(app, tmp_path, ("root-login",))
    assert "PermitRootLogin yes" in weak and "PasswordAuthentication yes" in weak
    assert "PermitRootLogin no" in baseline.sshd_config(plan.HOST_BY_ID["app02"], tmp_path, ("root-login",))
    # the Match variants keep the global lines and add one final block (a Match block runs to the end)
    for variant, block in (("match-root-login", ["Match User root", "    PermitRootLogin yes"]),
                           ("match-password", ["Match Address 198.51.100.0/24", "    PasswordAuthentication yes"])):
        lines = baseline.sshd_config(app, tmp_path, (variant,)).splitlines()
        assert lines[-2:] == block and "PermitRootLogin no" in lines and "PasswordAuthentication no" in lines
        assert "Match" not in baseline.sshd_config(plan.HOST_BY_ID["app02"], tmp_path, (variant,))


def test_login_defs_and_retention() -> None:
    real = "PASS_MAX_DAYS\t99999\n#ENCRYPT_METHOD DES\nUMASK 022\n"
    out = baseline.login_defs(real)
    assert "PASS_MAX_DAYS\t90" in out and "ENCRYPT_METHOD\tSHA512" in out and "PASS_MIN_DAYS\t1" in out
    assert "99999" not in out
    assert "rotate 26" in baseline.logrotate_conf(False)
    assert "rotate 4" in baseline.logrotate_conf(True)


def test_accounts_lock_defaults_and_add_the_probe(tmp_path: Path) -> None:
    (tmp_path / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\ngames:x:5:60:games:/usr/games:/bin/sh\n")
    (tmp_path / "shadow").write_text("root:*:19000:0:99999:7:::\ngames:*:19000:0:99999:7:::\n")
    (tmp_path / "group").write_text("root:x:0:\nshadow:x:42:\n")
    (tmp_path / "gshadow").write_text("root:*::\n")
    probe = baseline.Probe(uid=2900, gid=2900, password_hash="$6$salt$hash", key_line="ssh-ed25519 AAAA", days=20000)
    files = {f.path: f for f in baseline.accounts(tmp_path, probe, 42)}
    assert "games:x:5:60:games:/usr/games:/usr/sbin/nologin" in files["passwd"].content
    assert "ihprobe:x:2900:2900:ihconform probe:/home/ihprobe:/bin/bash" in files["passwd"].content
    assert "games:!*:" in files["shadow"].content and "root:*:" in files["shadow"].content
    assert "ihprobe:$6$salt$hash:20000:1:90:7:" in files["shadow"].content
    assert (files["shadow"].mode, files["shadow"].gid) == (0o640, 42)


def test_nftables_default_drop() -> None:
    rules = baseline.nftables(plan.HOST_BY_ID["av1"])
    assert "policy drop" in rules and "udp dport 49160-49200 accept" in rules and "tcp dport 22" in rules
    # the scanner takes SSH from its management peer only, not from the LAN or the internet
    assert "\t\ttcp dport 22 accept" in baseline.nftables(plan.HOST_BY_ID["app01"], ("exposed-admin",))
    assert "\t\ttcp dport 22 accept" not in baseline.nftables(plan.HOST_BY_ID["app02"], ("exposed-admin",))
    rules = baseline.nftables(plan.SCANNER)
    assert f"ip saddr {plan.SCAN_MGMT_ROOT} tcp dport 22 accept" in rules and str(plan.LAN) not in rules


def test_pg_config_and_hba() -> None:
    conf = databases.pg_conf("198.51.100.10", Path("/x/sock"), Path("/x/arch"), ssl=True)
    for line in ("password_encryption = 'scram-sha-256'", "ssl = on", "logging_collector = on",
                 "log_connections = on", "log_disconnections = on", "archive_mode = on"):
        assert line in conf
    hba = databases.pg_hba(False)
    network = [ln for ln in hba.splitlines() if ln.startswith(("host", "hostssl"))]
    assert network and all(ln.startswith("hostssl") and ln.endswith("scram-sha-256") for ln in network)
    assert "trust" in databases.pg_hba(True)


def test_nginx_configs(tmp_path: Path) -> None:
    from ihconform.lab.pki import CertFiles

    cert = CertFiles(tmp_path / "c.crt", tmp_path / "c.key")
    good = web.app_nginx_conf(tmp_path, plan.HOST_BY_ID["app01"], cert, weak=False, public=(plan.WAN_A_APP,))
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in good and "Strict-Transport-Security" in good
    # the portal answers on the LAN address and on the uplink (public) address, nowhere else
    assert [ln.strip() for ln in good.splitlines() if "listen" in ln] == [
        "listen 198.51.100.20:80;", f"listen {plan.WAN_A_APP}:80;",
        "listen 198.51.100.20:443 ssl http2;", f"listen {plan.WAN_A_APP}:443 ssl http2;"]
    assert "return 301 https://" in good
    weak = web.app_nginx_conf(tmp_path, plan.HOST_BY_ID["app01"], cert, weak=True)
    assert "TLSv1 TLSv1.1" in weak and "Strict-Transport-Security" not in weak
    inet = web.inet_nginx_conf(tmp_path, tmp_path)
    assert plan.ISP_A_NAME in inet and "echo_read_request_body" in inet and "/speedtest-config.php" in inet


def test_redfish_mockup(tmp_path: Path) -> None:
    tree = power.redfish_tree("db01", failed_psu=True)
    psus = tree["/redfish/v1/Chassis/1U/Power"]["PowerSupplies"]
    assert psus[1]["Status"] == {"State": "UnavailableOffline", "Health": "Critical"}
    power.write_mockup(tmp_path, tree)
    assert (tmp_path / "index.json").exists() and (tmp_path / "Chassis" / "1U" / "Power" / "index.json").exists()
    assert "OB DISCHRG" in power.ups_dev("S", True) and "ups.status: OL" in power.ups_dev("S", False)


def test_generated_inventory_loads(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    for f in ("secrets/id_ed25519", "secrets/sudo-password", "secrets/lab.env", "ca.crt"):
        (tmp_path / f).write_text("x\n")
    pinned = {h.id: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDummy" for h in (*plan.HOSTS, plan.SCANNER)}
    path = inventory_out.write(tmp_path, ("one-isp",), pinned, tmp_path / "ca.crt")
    inv = load_inventory(path)
    assert [u.id for u in inv.uplinks] == ["isp-a"]
    # exposure is scanned from the internet: app01's one remaining uplink address is its public one
    assert inv.vantage.outside == "scan01" and "scan01" not in {h.id for h in inv.targets}
    assert inv.host("app01").public_addresses == (plan.WAN_A_APP,) and inv.host("scan01").jump is None
    assert inv.host("db01").jump == "bastion" and inv.host("bastion").jump is None
    assert "ssh-ed25519" in (tmp_path / "known_hosts").read_text()
    assert yaml.safe_load(path.read_text())["defaults"]["user"] == "ihprobe"


def test_kept_paths_expose_a_project_cloned_under_tmp(monkeypatch):
    """A CI clone in /tmp: the hosts' private /tmp must not hide the venv and the sources that
    the lab's services (PACS, HIS, log sink) run from inside the hosts."""
    import sys
    from pathlib import Path

    import ihconform
    from ihconform.lab import hosts

    monkeypatch.setattr(sys, "prefix", "/tmp/ci-x/main/.venv")
    monkeypatch.setattr(ihconform, "__file__", "/tmp/ci-x/main/src/ihconform/__init__.py")
    assert "/tmp/ci-x" in hosts.kept_paths()
    monkeypatch.setattr(sys, "prefix", "/opt/venv")
    monkeypatch.setattr(ihconform, "__file__", "/opt/src/ihconform/__init__.py")
    kept = hosts.kept_paths()
    assert all(not k.startswith("/tmp/ci-x") for k in kept) and all(Path(k).parent in hosts.PRIVATE_DIRS for k in kept)


def test_release_hosts_have_fixed_ids_and_addresses_outside_the_fleet() -> None:
    from ihconform.lab import plan

    hosts = plan.release_hosts(["trixie", "bullseye"])
    assert [(h.id, h.address, h.release) for h in hosts] == [
        ("deb11", "198.51.100.112", "bullseye"), ("deb13", "198.51.100.114", "trixie")]
    fleet = {h.address for h in plan.fleet_hosts(plan.FLEET_MAX)}
    assert not fleet & {h.address for h in plan.release_hosts(list(plan.RELEASE_VERSIONS))}
    assert {h.ns for h in hosts} <= set(plan.RELEASE_NAMESPACES)
    with pytest.raises(ValueError, match="unknown release"):
        plan.release_hosts(["stretch"])


def test_a_release_root_gets_the_installers_security_and_updates_sources() -> None:
    from ihconform.lab import roots

    text = roots.sources_list(roots.RELEASES["bookworm"])
    assert text.splitlines() == ["deb http://deb.debian.org/debian/ bookworm main",
                                 "deb http://deb.debian.org/debian-security bookworm-security main",
                                 "deb http://deb.debian.org/debian/ bookworm-updates main"]


def test_account_variants_render_one_defect_each(tmp_path: Path) -> None:
    (tmp_path / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\ngames:x:5:60:games:/usr/games:/bin/sh\n")
    (tmp_path / "shadow").write_text("root:*:19000:0:99999:7:::\ngames:*:19000:0:99999:7:::\n")
    (tmp_path / "group").write_text("root:x:0:\nshadow:x:42:\n")
    (tmp_path / "gshadow").write_text("root:*::\n")
    probe = baseline.Probe(uid=2900, gid=2900, password_hash="$6$salt$hash", key_line="ssh-ed25519 AAAA", days=20000)
    empty = {f.path: f.content for f in baseline.accounts(tmp_path, probe, 42, empty_password=True)}
    assert "games:x:5:60:games:/usr/games:/bin/bash" in empty["passwd"]
    assert "games::19000:0:99999:7:::" in empty["shadow"].splitlines()
    uid0 = {f.path: f.content for f in baseline.accounts(tmp_path, probe, 42, extra_uid0=True)}
    assert [ln.split(":")[0] for ln in uid0["passwd"].splitlines() if ln.split(":")[2] == "0"] == ["root", "toor"]
    assert "toor:!*:" in uid0["shadow"] and "games:!*:" in uid0["shadow"]
    assert "TMOUT=0\n" in baseline.tmout(True) and "TMOUT=600\n" in baseline.tmout(False)
    with pytest.raises(ValueError, match="cannot be combined"):
        plan.check_variants(["socket-db", "db-on-app"])


def test_each_decisive_variant_changes_only_its_host(tmp_path: Path) -> None:
    """The one-decisive-failure variants (issue 20) break exactly one setting on the host
    plan.DECISIVE_HOSTS names, so they can share one bring-up (test_default_profile_lab.py)."""
    from ihconform.lab.pki import CertFiles

    assert set(plan.DECISIVE_HOSTS) <= set(plan.VARIANTS)
    assert plan.check_variants(list(plan.DECISIVE_HOSTS))  # all of them together are one valid lab
    ssh = {"ssh-cbc": "Ciphers", "ssh-md5": "MACs", "ssh-group1": "KexAlgorithms",
           "sshd-empty-passwords": "PermitEmptyPasswords", "direct-admin": "AllowUsers"}
    for variant, key in ssh.items():
        for host in plan.HOSTS:
            stock = {ln.split()[0]: ln for ln in baseline.sshd_config(host, tmp_path, ()).splitlines() if ln}
            broken = {ln.split()[0]: ln for ln in baseline.sshd_config(host, tmp_path, (variant,)).splitlines() if ln}
            changed = {k for k in stock if stock[k] != broken.get(k)}
            assert changed == ({key} if host.id == plan.DECISIVE_HOSTS[variant] else set()), (variant, host.id)
    lines = baseline.sshd_config(plan.HOST_BY_ID["app01"], tmp_path, ("ssh-cbc",)).splitlines()
    assert next(ln for ln in lines if ln.startswith("Ciphers")).endswith(",aes256-cbc")
    assert f"ihprobe@{plan.ROOT_ADDR}" in baseline.sshd_config(plan.HOST_BY_ID["av2"], tmp_path, ("direct-admin",))
    cert = CertFiles(tmp_path / "c.crt", tmp_path / "c.key")
    for host_id in ("app01", "app02"):
        stock = web.app_nginx_conf(tmp_path, plan.HOST_BY_ID[host_id], cert, weak=False)
        for variant, bad in (("nginx-root", "user root;"), ("no-access-log", "access_log off;"),
                             ("null-suite", "NULL-SHA:@SECLEVEL=0")):
            conf = web.app_nginx_conf(tmp_path, plan.HOST_BY_ID[host_id], cert, weak=False, variants=(variant,))
            assert (bad in conf) == (plan.DECISIVE_HOSTS[variant] == host_id), (variant, host_id)
            assert bad not in stock
    plain = databases.pg_conf("198.51.100.10", Path("/x/sock"), Path("/x/arch"), ssl=False, md5=True)
    assert "ssl = off" in plain and "password_encryption = 'md5'" in plain
    assert all(not ln.startswith("hostssl") for ln in databases.pg_hba(False, ssl=False).splitlines())
    assert {u["isp"] for u in plan.uplinks(("same-isp-name",))} == {plan.ISP_A_NAME}
    assert {u["isp"] for u in plan.uplinks(())} == {plan.ISP_A_NAME, plan.ISP_B_NAME}
