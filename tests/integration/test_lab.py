"""The reference lab, shown with real clients: it comes up fast, writes an inventory that loads,
every host and service answers its real protocol, each defect variant breaks exactly its
thing, and ``down`` leaves nothing behind (also after a half-failed ``up``)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import time
import urllib.request
from pathlib import Path

import paramiko
import pytest

from ihconform import lab as ihlab
from ihconform.errors import HostKeyError, TransportError
from ihconform.inventory import load_inventory
from ihconform.lab import plan
from ihconform.transport.ssh import SshTransport

HOSTS = [h.id for h in plan.HOSTS]


# ---------------------------------------------------------------- helpers (real protocol clients)

def ssh_banner(address: str) -> bytes:
    with socket.create_connection((address, 22), timeout=5) as s:
        return s.recv(256)


def https_get(address: str, name: str, path: str, ca: Path, *, port: int = 443) -> tuple[str, dict[str, str], str]:
    """GET over TLS verified against the lab CA for ``name``; returns status line, headers, TLS version."""
    ctx = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection((address, port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname=name) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        version = s.version() or ""
    head = data.split(b"\r\n\r\n", 1)[0].decode()
    status, *lines = head.split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines)}
    return status, headers, version


def http_get_raw(address: str, path: str, host: str) -> str:
    with socket.create_connection((address, 80), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        return s.recv(4096).decode()


def stun_binding(address: str, port: int = 3478) -> tuple[int, str, str]:
    """RFC 5389 Binding request over UDP; returns (message type, mapped address, SOFTWARE)."""
    tid = os.urandom(12)
    req = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + tid
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(req, (address, port))
        data, _ = s.recvfrom(2048)
    mtype, length, cookie = struct.unpack("!HHI", data[:8])
    assert cookie == 0x2112A442 and data[8:20] == tid
    mapped, software, pos = "", "", 20
    while pos < 20 + length:
        atype, alen = struct.unpack("!HH", data[pos:pos + 4])
        val = data[pos + 4:pos + 4 + alen]
        if atype == 0x0020:  # XOR-MAPPED-ADDRESS
            ip = struct.unpack("!I", val[4:8])[0] ^ 0x2112A442
            mapped = socket.inet_ntoa(struct.pack("!I", ip))
        elif atype == 0x8022:
            software = val.decode(errors="replace")
        pos += 4 + alen + (-alen % 4)
    return mtype, mapped, software


def sip_options(address: str, proto: str, port: int = 5060) -> str:
    branch = "z9hG4bK" + os.urandom(6).hex()
    local = plan.ROOT_ADDR
    msg = (f"OPTIONS sip:{address}:{port} SIP/2.0\r\n"
           f"Via: SIP/2.0/{proto.upper()} {local}:5999;branch={branch};rport\r\n"
           "Max-Forwards: 70\r\nTo: <sip:ping@lab>\r\n"
           f"From: <sip:ihconform@{local}>;tag={os.urandom(4).hex()}\r\n"
           f"Call-ID: {os.urandom(8).hex()}@{local}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()
    if proto == "udp":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(3)
            s.sendto(msg, (address, port))
            return s.recvfrom(4096)[0].decode()
    with socket.create_connection((address, port), timeout=3) as s:
        s.sendall(msg)
        return s.recv(4096).decode()


def redfish(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


def upsc(ups: str) -> dict[str, str]:
    out = subprocess.run(["upsc", f"{ups}@{plan.POWER_ADDR}"], capture_output=True, text=True, timeout=10,
                         check=True).stdout
    return dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)


def iperf3(host_run, source: str, seconds: int = 2, reverse: bool = False) -> float:  # type: ignore[no-untyped-def]
    # -O 1: leave out the first second (slow start and the tbf burst read low: 3.7 of 8 Mbit once in CI)
    argv = ["iperf3", "-c", plan.INET_SERVER, "-B", source, "-t", str(seconds), "-O", "1", "-J"] + (
        ["-R"] if reverse else [])
    res = host_run("app01", argv, timeout=30)
    return float(json.loads(res.stdout)["end"]["sum_received"]["bits_per_second"]) / 1e6


def connect(inv_path: Path, host_id: str) -> SshTransport:
    inv = load_inventory(inv_path)
    return SshTransport.connect(inv.host(host_id), inv)


def lab_leftovers(runtime: Path) -> list[str]:
    """Everything a lab could leave behind in the root namespace."""
    found: list[str] = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    found += [f"netns {ln.split()[0]}" for ln in netns.splitlines() if ln.startswith(plan.NS_PREFIX)]
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, check=True).stdout
    found += [f"link {ln.split()[0]}" for ln in links.splitlines() if ln.startswith(plan.ROOT_VETH)]
    routes = subprocess.run(["ip", "route", "show", "table", "all"], capture_output=True, text=True,
                            check=True).stdout
    found += [f"route {ln}" for ln in routes.splitlines() if "198.51.100." in ln]
    mounts = Path("/proc/self/mountinfo").read_text()
    found += [f"mount {ln.split()[4]}" for ln in mounts.splitlines()
              if str(runtime) in ln or "/run/netns/ih-" in ln or " ih-etc-" in ln]
    if runtime.exists():
        found.append(f"dir {runtime}")
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes()
            stat = (p / "stat").read_text()
        except OSError:
            continue
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":  # a zombie is already dead (init reaps it)
            continue
        if str(runtime).encode() in cmd or b"ihconform.lab.clinical_server" in cmd:
            shown = cmd.replace(b"\0", b" ")[:120]
            found.append(f"process {p.name}: {shown!r}")
    return found


def etc_digest() -> str:
    """Digest of every regular file (path, mode, owner, bytes) and symlink under the real /etc."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk("/etc"):
        dirnames.sort()
        for name in sorted(filenames):
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            h.update(f"{p} {st.st_mode:o} {st.st_uid} {st.st_gid}\n".encode())
            if os.path.islink(p):
                h.update(os.readlink(p).encode())
            elif os.path.isfile(p):
                with open(p, "rb") as f:
                    h.update(f.read())
    return h.hexdigest()


# ---------------------------------------------------------------- the conforming lab

def test_up_is_fast_and_recorded(lab: ihlab.LabInfo, record_property: pytest.RecordProperty) -> None:
    record_property("lab_up_seconds", lab.up_seconds)
    record_property("lab_up_timings", json.dumps(lab.timings))
    print(f"lab up in {lab.up_seconds:.2f} s: {lab.timings}")
    assert 0 < lab.up_seconds < 60


def test_inventory_loads_and_describes_the_lab(lab: ihlab.LabInfo) -> None:
    inv = load_inventory(lab.inventory_path)
    assert {h.id for h in inv.targets} == set(HOSTS)
    # the outside vantage (on the internet, reached over its own link) is not under test
    assert [h.id for h in inv.hosts if h not in inv.targets] == [plan.SCANNER.id] == [inv.vantage.outside]
    assert all(h.jump == "bastion" for h in inv.targets if h.id != "bastion")
    assert all(h.host_key.startswith("ssh-ed25519 AAAA") for h in inv.hosts)
    assert all(h.sudo.enabled and h.sudo.password_file for h in inv.targets)
    assert inv.host("app01").public_addresses == (plan.WAN_A_APP, plan.WAN_B_APP)
    assert inv.defaults.user == "ihprobe"
    assert {d.engine for d in inv.databases} == {"postgresql", "mariadb"}
    assert [u.isp for u in inv.uplinks] == [plan.ISP_A_NAME, plan.ISP_B_NAME]
    assert len(inv.av_systems) == 2 and len(inv.power.ups) == 2 and len(inv.power.bmcs) >= 3
    assert inv.platform is not None and inv.platform.interface == "dl0"
    assert {c.protocol for c in inv.clinical_interfaces} == {"dicom", "hl7-mllp"}
    assert inv.vantage.server_networks == ("198.51.100.0/25",)
    assert oct((lab.runtime / "secrets" / "sudo-password").stat().st_mode & 0o777) == "0o600"


def test_status_lists_everything_up(lab: ihlab.LabInfo) -> None:
    rows = ihlab.status(lab.runtime)
    names = {n for n, _k, _s in rows}
    assert set(HOSTS) <= names
    assert {"postgresql", "mariadb", "nginx-app01", "nginx-app02", "coturn", "kamailio", "nut-upsd",
            "redfish", "pacs-dicom", "his-hl7-mllp", "iperf3", "speedtest-mini", "platform", "log-sink"} <= names
    down = [(n, k, s) for n, k, s in rows if not s.startswith("up")]
    assert not down


def test_cli_status_json(lab: ihlab.LabInfo, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="ihconform")
    ihlab.register(parser.add_subparsers())
    args = parser.parse_args(["lab", "status", "--runtime", str(lab.runtime), "--json"])
    assert args.handler(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {"name": "db01", "kind": "host", "state": "up"} in doc


@pytest.mark.parametrize("host_id", HOSTS)
def test_ssh_banner(lab: ihlab.LabInfo, host_id: str) -> None:
    assert ssh_banner(lab.hosts[host_id]).startswith(b"SSH-2.0-OpenSSH")


def test_ssh_hosts_are_distinct_and_isolated(lab: ihlab.LabInfo) -> None:
    seen: dict[str, tuple[str, str]] = {}
    for hid in HOSTS:
        t = connect(lab.inventory_path, hid)
        try:
            out = t.run("hostname; cat /etc/machine-id; ps -eo comm=").stdout.decode().split("\n")
        finally:
            t.close()
        seen[hid] = (out[0], out[1])
        procs = set(out[2:])
        assert ("postgres" in procs) == (hid == "db01"), f"{hid}: {sorted(procs)}"
    assert [v[0] for v in seen.values()] == HOSTS
    assert len({v[1] for v in seen.values()}) == len(HOSTS)


def test_only_bastion_accepts_the_probe_directly(lab: ihlab.LabInfo) -> None:
    key = paramiko.Ed25519Key.from_private_key_file(str(lab.key_file))
    for hid, ok in (("bastion", True), ("db01", False)):
        t = paramiko.Transport((lab.hosts[hid], 22))
        try:
            t.start_client(timeout=5)
            try:
                t.auth_publickey("ihprobe", key)
                accepted = t.is_authenticated()
            except paramiko.AuthenticationException:
                accepted = False
        finally:
            t.close()
        assert accepted is ok, hid


NO_SUDO = shutil.which("sudo") is None
needs_sudo = pytest.mark.skipif(NO_SUDO, reason="sudo is not installed (Debian package sudo)")


@needs_sudo
def test_sudo_with_password_works_on_every_host(lab: ihlab.LabInfo) -> None:
    password = lab.sudo_password_file.read_bytes()
    for hid in HOSTS:
        t = connect(lab.inventory_path, hid)
        try:
            res = t.run("sudo -S -p '' id -u", stdin=password)
            no_pw = t.run("sudo -n true")
        finally:
            t.close()
        assert res.stdout.strip() == b"0", (hid, res.stderr)
        assert no_pw.exit_code != 0  # a password is required


@needs_sudo
def test_hardened_baseline_in_the_host_etc(lab: ihlab.LabInfo) -> None:
    t = connect(lab.inventory_path, "app01")
    pw = lab.sudo_password_file.read_bytes()
    try:
        def sh(cmd: str, root: bool = False) -> str:
            full = f"sudo -S -p '' sh -c '{cmd}'" if root else cmd
            return t.run(full, stdin=pw if root else None).stdout.decode()

        defs = sh("grep -E \"^(PASS_MAX_DAYS|PASS_MIN_DAYS|PASS_WARN_AGE|ENCRYPT_METHOD)\" /etc/login.defs")
        # in force as shadow-utils reads login.defs: the last uncommented line of each key
        last = {ln.split()[0]: ln.split()[1] for ln in defs.splitlines() if len(ln.split()) > 1}
        assert (last["PASS_MAX_DAYS"], last["PASS_MIN_DAYS"], last["PASS_WARN_AGE"]) == ("90", "1", "7"), defs
        assert "pam_faillock.so preauth" in sh("cat /etc/pam.d/common-auth")
        assert "remember=5" in sh("cat /etc/pam.d/common-password")
        assert "minclass = 3" in sh("cat /etc/security/pwquality.conf")
        assert sh("bash -lc 'echo $TMOUT'").strip() == "600"
        assert sh("stat -c %a:%U:%G /etc/shadow").strip() == "640:root:shadow"
        assert sh("stat -c %a /etc/ssh/sshd_config", root=True).strip() == "600"
        sshd = sh("/usr/sbin/sshd -T -C user=ihprobe,addr=198.51.100.1,host=x,laddr=198.51.100.20,lport=22",
                  root=True)
        for line in ("permitrootlogin no", "passwordauthentication no", "maxauthtries 4",
                     "clientaliveinterval 300", "clientalivecountmax 2", "logingracetime 60"):
            assert line in sshd, line
        assert "cbc" not in sshd.split("ciphers ", 1)[1].split("\n", 1)[0]
        chage = sh("chage -l ihprobe", root=True)
        assert re.search(r"Maximum number of days between password change\s*:\s*90", chage)
        shadow = sh("grep ^ihprobe: /etc/shadow", root=True).split(":")
        assert shadow[1].startswith("$6$")
        games = sh("grep ^games: /etc/passwd").strip().split(":")
        assert games[6] == "/usr/sbin/nologin"
        assert sh("grep ^games: /etc/shadow", root=True).split(":")[1].startswith("!")
        assert re.search(r"rotate\s+26", sh("cat /etc/logrotate.conf"))
        assert "@@198.51.100.1:514" in sh("cat /etc/rsyslog.d/*.conf")
        assert "policy drop" in sh("nft list ruleset", root=True)
    finally:
        t.close()
    # ... and none of it reached the real /etc
    assert re.search(r"^PASS_MAX_DAYS\s+99999", Path("/etc/login.defs").read_text(), re.M)
    assert "ihprobe" not in Path("/etc/passwd").read_text()


def test_databases_listen_only_on_db01(lab: ihlab.LabInfo, ns_run) -> None:  # type: ignore[no-untyped-def]
    for h in plan.HOSTS:
        out = ns_run(h.ns, ["ss", "-Hltn"]).stdout
        has_db = bool(re.search(r":(5432|3306)\s", out))
        assert has_db == (h.id == "db01"), h.id


def test_postgresql_tls_and_scram(lab: ihlab.LabInfo) -> None:
    # The real protocol: SSLRequest, then a TLS handshake verified against the lab CA for db01.lab.
    ctx = ssl.create_default_context(cafile=str(lab.ca_file))
    with socket.create_connection((lab.hosts["db01"], 5432), timeout=5) as s:
        s.sendall(struct.pack("!II", 8, 80877103))
        assert s.recv(1) == b"S"
        with ctx.wrap_socket(s, server_hostname="db01.lab") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
    plain = subprocess.run(["psql", f"host={lab.hosts['db01']} sslmode=disable user=postgres dbname=postgres",
                            "-c", "select 1"], capture_output=True, text=True, timeout=10,
                           env={"PATH": "/usr/bin:/bin", "PGCONNECT_TIMEOUT": "5"})
    assert plain.returncode != 0 and "no pg_hba.conf entry" in plain.stderr
    sock = lab.runtime / "hosts" / "db01" / "pg" / "sock"
    show = subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-h", str(sock), "-AtX", "-c",
                           "select current_setting('password_encryption'), current_setting('ssl'), "
                           "current_setting('logging_collector'), current_setting('archive_mode')"],
                          capture_output=True, text=True, timeout=10, check=True, cwd="/")
    assert show.stdout.strip() == "scram-sha-256|on|on|on"


def test_mariadb_requires_tls(lab: ihlab.LabInfo) -> None:
    with socket.create_connection((lab.hosts["db01"], 3306), timeout=5) as s:
        greeting = s.recv(1024)
    version = greeting[5:greeting.index(b"\0", 5)].decode()
    assert "MariaDB" in version
    caps = struct.unpack("<H", greeting[greeting.index(b"\0", 5) + 1 + 4 + 8 + 1:][:2])[0]
    assert caps & 0x0800  # CLIENT_SSL
    sock = lab.runtime / "hosts" / "db01" / "mariadb" / "mysqld.sock"
    out = subprocess.run(["mariadb", "--no-defaults", f"--socket={sock}", "-u", "root", "-N", "-B", "-e",
                          "SELECT @@require_secure_transport, @@wait_timeout, "
                          "(SELECT COUNT(*) FROM mysql.global_priv WHERE User=''),"
                          "(SELECT COUNT(*) FROM information_schema.PLUGINS WHERE PLUGIN_NAME='SERVER_AUDIT')"],
                         capture_output=True, text=True, timeout=10, check=True).stdout.split()
    assert out == ["1", "600", "0", "1"]


@pytest.mark.parametrize("host_id", ["app01", "app02"])
def test_nginx_https_with_lab_ca_and_redirect(lab: ihlab.LabInfo, host_id: str) -> None:
    addr = lab.hosts[host_id]
    status, headers, version = https_get(addr, f"{host_id}.lab", "/", lab.ca_file)
    assert status.startswith("HTTP/1.1 200") and version in ("TLSv1.2", "TLSv1.3")
    assert "max-age=" in headers["strict-transport-security"]
    redirect = http_get_raw(addr, "/x", f"{host_id}.lab")
    assert redirect.startswith("HTTP/1.1 301") and f"Location: https://{host_id}.lab/x" in redirect


def test_platform_is_reached_over_the_dedicated_line(lab: ihlab.LabInfo, host_run) -> None:  # type: ignore[no-untyped-def]
    for hid in ("app01", "app02"):
        route = host_run(hid, ["ip", "route", "get", plan.PLATFORM_ADDR]).stdout
        assert "dev dl0" in route, route
        body = host_run(hid, ["curl", "-sS", "--max-time", "5", "--cacert", str(lab.ca_file),
                              f"https://{plan.PLATFORM_NAME}/"]).stdout
        assert '"status": "ok"' in body


def test_central_log_host_receives_syslog_over_tcp(lab: ihlab.LabInfo, host_run) -> None:  # type: ignore[no-untyped-def]
    token = os.urandom(6).hex()
    host_run("db01", ["bash", "-c", f"echo '<13>db01 ihconform: {token}' > /dev/tcp/{plan.LOG_HOST}/514"])
    log = lab.runtime / "hosts" / "bastion" / "var-log" / "remote.log"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not (log.exists() and token in log.read_text()):
        time.sleep(0.05)
    assert f"{lab.hosts['db01']} <13>db01 ihconform: {token}" in log.read_text()


def test_coturn_stun_binding(lab: ihlab.LabInfo) -> None:
    mtype, mapped, software = stun_binding(lab.hosts["av1"])
    assert mtype == 0x0101 and mapped == plan.ROOT_ADDR
    assert "Coturn" in software


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_kamailio_sip_options(lab: ihlab.LabInfo, proto: str) -> None:
    reply = sip_options(lab.hosts["av2"], proto)
    assert reply.startswith("SIP/2.0 200 OK") and "kamailio (ihlab av2)" in reply


def test_nut_upsc(lab: ihlab.LabInfo) -> None:
    assert upsc("upsa")["ups.status"] == "OL"
    b = upsc("upsb")
    assert b["ups.status"] == "OL" and b["device.serial"] == "UPS-FEED-B"


def test_redfish_power_supplies(lab: ihlab.LabInfo) -> None:
    inv = load_inventory(lab.inventory_path)
    for bmc in inv.power.bmcs:
        power = redfish(bmc.url + "/Chassis/1U/Power")
        psus = power["PowerSupplies"]
        assert isinstance(psus, list) and len(psus) == 2
        assert all(p["Status"]["Health"] == "OK" for p in psus)
        assert power["Redundancy"][0]["Status"]["Health"] == "OK"  # type: ignore[index]


def test_dicom_c_echo(lab: ihlab.LabInfo) -> None:
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    ae = AE(ae_title="IHCONFORM")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
    assoc = ae.associate(lab.hosts["his01"], plan.DICOM_PORT, ae_title=plan.DICOM_AE)
    assert assoc.is_established
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    assert status.Status == 0x0000


def test_hl7_mllp_ack(lab: ihlab.LabInfo) -> None:
    import hl7

    msg = ("MSH|^~\\&|IHCONFORM|LAB|IHLAB-HIS|IHLAB|20261122120000||ADT^A01|MSG00001|P|2.5\r"
           "PID|1||12345^^^LAB||TEST^PATIENT")
    with socket.create_connection((lab.hosts["his01"], plan.HL7_PORT), timeout=5) as s:
        s.sendall(b"\x0b" + msg.encode() + b"\x1c\x0d")
        data = b""
        while not data.endswith(b"\x1c\x0d"):
            chunk = s.recv(4096)
            assert chunk, "connection closed before the ACK"
            data += chunk
    ack = hl7.parse(data.strip(b"\x0b\x1c\x0d").decode())
    assert str(ack.segment("MSA")[1]) == "AA" and str(ack.segment("MSA")[2]) == "MSG00001"


def test_uplinks_policy_routing_and_speedtest_config(lab: ihlab.LabInfo, host_run) -> None:  # type: ignore[no-untyped-def]
    for source, isp in ((plan.WAN_A_APP, plan.ISP_A_NAME), (plan.WAN_B_APP, plan.ISP_B_NAME)):
        xml = host_run("app01", ["curl", "-sS", "--max-time", "5", "--interface", source,
                                 "http://www.speedtest.net/speedtest-config.php"]).stdout
        assert f'isp="{isp}"' in xml and f'ip="{source}"' in xml
    mini = host_run("app01", ["curl", "-sS", "--max-time", "5", "http://speedtest.lab/"]).stdout
    assert 'upload_extension: "php"' in mini
    up = host_run("app01", ["curl", "-sS", "--max-time", "5", "--data-binary", "@/etc/hostname",
                            "http://speedtest.lab/speedtest/upload.php"]).stdout
    assert up.startswith("size=")


def test_iperf3_measures_the_shaped_uplinks_and_shape_changes_them(lab: ihlab.LabInfo, host_run) -> None:  # type: ignore[no-untyped-def]
    a = iperf3(host_run, plan.WAN_A_APP)
    b = iperf3(host_run, plan.WAN_B_APP, reverse=True)
    assert 40 < a < 55, a
    assert 16 < b < 22, b
    ihlab.shape(lab.runtime, "isp-b", 15)
    try:
        b15 = iperf3(host_run, plan.WAN_B_APP)
        assert 12 < b15 < 16.5, b15
        assert ("isp-b", "uplink", "up (15 Mbit/s)") in ihlab.status(lab.runtime)
    finally:
        ihlab.shape(lab.runtime, "isp-b", 20)


# ---------------------------------------------------------------- defect variants (two bring-ups)

ALL_BUT_ONE_ISP = ("av-down", "db-on-app", "hostkey-changed", "pg-trust", "psu-failed", "root-login",
                   "short-retention", "slow-isp", "ups-on-battery", "weak-tls")


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1 is deprecated:DeprecationWarning")
def test_variants_each_break_their_thing(lab_variant, host_run, ns_run) -> None:  # type: ignore[no-untyped-def]
    info = lab_variant(*ALL_BUT_ONE_ISP)
    assert info.variants == tuple(sorted(ALL_BUT_ONE_ISP))
    rows = {n: s for n, _k, s in ihlab.status(info.runtime)}
    assert rows["kamailio"].startswith("off") and rows["postgresql-app01"] == "up"
    # db-on-app: a database on the app host
    assert ":5432" in ns_run("ih-app01", ["ss", "-Hltn"]).stdout
    assert "postgres" in host_run("app01", ["ps", "-eo", "comm="]).stdout
    # av-down: SIP does not answer
    with pytest.raises(OSError):
        sip_options(info.hosts["av2"], "udp")
    # weak-tls: TLS 1.0 accepted, certificate expired
    weak = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    weak.check_hostname = False
    weak.verify_mode = ssl.CERT_NONE
    weak.minimum_version = ssl.TLSVersion.TLSv1
    weak.maximum_version = ssl.TLSVersion.TLSv1
    weak.set_ciphers("DEFAULT:@SECLEVEL=0")
    with socket.create_connection((info.hosts["app01"], 443), timeout=5) as raw, weak.wrap_socket(raw) as s:
        assert s.version() == "TLSv1"
        assert "CBC" in s.cipher()[0] or s.cipher()[0].endswith("-SHA")
    with pytest.raises(ssl.SSLCertVerificationError, match="expired"):
        https_get(info.hosts["app01"], "app01.lab", "/", info.ca_file)
    # root-login: app01 offers password authentication to root
    t = paramiko.Transport((info.hosts["app01"], 22))
    try:
        t.start_client(timeout=5)
        with pytest.raises(paramiko.BadAuthenticationType) as bad:
            t.auth_none("root")
        assert "password" in bad.value.allowed_types
    finally:
        t.close()
    # hostkey-changed: the pinned key no longer matches
    with pytest.raises((HostKeyError, TransportError)):
        connect(info.inventory_path, "app01")
    # pg-trust: a network login without any password
    trusted = subprocess.run(["psql", f"host={info.hosts['db01']} sslmode=disable user=postgres dbname=postgres",
                              "-Atc", "select 1"], capture_output=True, text=True, timeout=10,
                             env={"PATH": "/usr/bin:/bin", "PGCONNECT_TIMEOUT": "5"})
    assert trusted.stdout.strip() == "1", trusted.stderr
    # psu-failed: db01's BMC reports PSU 2 offline and redundancy degraded
    power = redfish(f"http://{plan.BMC_ADDRS['db01']}:{plan.REDFISH_PORT}/redfish/v1/Chassis/1U/Power")
    assert power["PowerSupplies"][1]["Status"] == {"State": "UnavailableOffline", "Health": "Critical"}  # type: ignore[index]
    assert power["Redundancy"][0]["Status"]["Health"] == "Warning"  # type: ignore[index]
    # ups-on-battery
    assert upsc("upsb")["ups.status"] == "OB DISCHRG" and upsc("upsa")["ups.status"] == "OL"
    # short-retention
    assert re.search(r"rotate\s+4\b", host_run("app01", ["cat", "/etc/logrotate.conf"]).stdout)
    assert re.search(r"rotate\s+26\b", host_run("app02", ["cat", "/etc/logrotate.conf"]).stdout)
    # slow-isp: ISP B at 8 Mbit/s
    b = iperf3(host_run, plan.WAN_B_APP)
    assert 6 < b < 8.5, b


def test_variant_one_isp(lab_variant, host_run) -> None:  # type: ignore[no-untyped-def]
    info = lab_variant("one-isp")
    inv = load_inventory(info.inventory_path)
    assert [u.id for u in inv.uplinks] == ["isp-a"]
    links = host_run("app01", ["ip", "-br", "link"]).stdout
    assert "wan-a" in links and "wan-b" not in links
    assert "ih-ispb" not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    # the conforming parts are still there
    assert connect(info.inventory_path, "app01").run("hostname").stdout.strip() == b"app01"


def test_unknown_or_conflicting_variant_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown variant"):
        plan.check_variants(["no-such-thing"])
    with pytest.raises(ValueError, match="cannot be combined"):
        plan.check_variants(["one-isp", "slow-isp"])


# ---------------------------------------------------------------- lifecycle and safety

def test_up_down_cycle_is_clean_and_safe(lab_manager, record_property: pytest.RecordProperty) -> None:  # type: ignore[no-untyped-def]
    runtime = lab_manager.runtime
    lab_manager.down()
    assert lab_leftovers(runtime) == []
    before = etc_digest()
    try:
        info = lab_manager.ensure(())
        with pytest.raises(ihlab.AlreadyUp):
            ihlab.up((), runtime)
        t0 = time.monotonic()
        lab_manager.down()
        down_s = time.monotonic() - t0
        record_property("lab_down_seconds", round(down_s, 3))
        print(f"up {info.up_seconds:.2f} s, down {down_s:.2f} s")
        assert lab_leftovers(runtime) == []
        assert etc_digest() == before, "the real /etc changed across up+down"
        ihlab.down(runtime)  # idempotent

        # Refuses when the range is in use in the root namespace.
        subprocess.run(["ip", "addr", "add", "198.51.100.250/32", "dev", "lo"], check=True)
        try:
            with pytest.raises(ihlab.RangeInUse, match=r"198\.51\.100\.250"):
                ihlab.up((), runtime)
        finally:
            subprocess.run(["ip", "addr", "del", "198.51.100.250/32", "dev", "lo"], check=True)
        assert lab_leftovers(runtime) == []

        # A half-failed up (hosts running, services not) is cleaned by down ...
        with pytest.raises(ihlab.LabError, match="injected failure"):
            ihlab.up((), runtime, keep_on_failure=True, fail_at="hosts")
        assert lab_leftovers(runtime) != []
        assert any(s == "incomplete" for n, _k, s in ihlab.status(runtime) if n == "lab")
        ihlab.down(runtime)
        assert lab_leftovers(runtime) == []
        # ... and by up itself, when it fails without keep_on_failure.
        with pytest.raises(ihlab.LabError, match="injected failure"):
            ihlab.up((), runtime, fail_at="services")
        assert lab_leftovers(runtime) == []
        assert etc_digest() == before
    finally:
        lab_manager.ensure(())  # later tests get the conforming lab back
