"""The management address of a Linux-based device as the harness sees it (net/device_mgmt.py), the
nftables firewall's syslog forwarding (facts/devices.py), and nft rules' zones."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from ihconform.facts.contract import HostFacts, Section, SectionResult
from ihconform.facts.devices import PROCESSES_COMMAND, SYSLOG_COMMAND, device_sections
from ihconform.facts.devices_config import parse_config
from ihconform.facts.neutral import RemoteLogging, neutral
from ihconform.net import device_mgmt as dm
from ihconform.net.device_cli import assert_read_only


def _response(request: bytes, value: bytes) -> bytes:
    """A GetResponse to ``request`` carrying ``value`` as an OCTET STRING."""
    _, msg, _ = dm._read(request, 0)
    _, _v, i = dm._read(msg, 0)
    _, community, i = dm._read(msg, i)
    _, pdu, _ = dm._read(msg, i)
    _, rid, _ = dm._read(pdu, 0)
    vb = dm._tlv(0x30, dm._oid(dm.SYSDESCR) + dm._tlv(0x04, value))
    body = dm._tlv(0x02, rid) + dm._int(0) + dm._int(0) + dm._tlv(0x30, vb)
    return dm._tlv(0x30, dm._int(1) + dm._tlv(0x04, community) + dm._tlv(0xA2, body))


@pytest.fixture
def agent() -> Iterator[tuple[int, list[bytes]]]:
    """A UDP agent on the loopback granting only the community ``public``."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.2)
    seen: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = s.recvfrom(65535)
            except TimeoutError:
                continue
            seen.append(data)
            if b"\x04\x06public" in data:
                s.sendto(_response(data, b"Linux core2 6.18"), peer)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield s.getsockname()[1], seen
    stop.set()
    t.join()
    s.close()


def test_a_default_community_that_answers_is_seen_and_one_that_does_not_is_none(agent: tuple[int, list[bytes]]) -> None:
    port, seen = agent
    assert dm.snmp_get("127.0.0.1", "public", 0.5, port=port) == "Linux core2 6.18"
    assert dm.snmp_get("127.0.0.1", "private", 0.3, port=port) is None
    assert len(seen) == 3  # one GET answered, two unanswered tries


def test_a_get_request_is_well_formed_ber() -> None:
    req = dm.get_request("public", 1234)
    tag, _msg, end = dm._read(req, 0)
    assert tag == 0x30 and end == len(req)
    assert dm.parse_response(_response(req, b"x"), 1234) == "x"
    assert dm.parse_response(_response(req, b"x"), 99) is None  # another request's answer
    assert dm.parse_response(b"\x30\x03\x02", 1) is None  # truncated


def test_an_snmpv3_report_names_the_engine() -> None:
    req = dm.discovery_request(7, 8)
    assert dm._read(req, 0)[2] == len(req)
    header = dm._tlv(0x30, dm._int(7) + dm._int(65507) + dm._tlv(0x04, b"\x00") + dm._int(3))
    usm = dm._tlv(0x30, dm._tlv(0x04, bytes.fromhex("80001f8880aa")) + dm._int(1) + dm._int(2)
                  + dm._tlv(0x04, b"") + dm._tlv(0x04, b"") + dm._tlv(0x04, b""))
    report = dm._tlv(0xA8, dm._int(8) + dm._int(0) + dm._int(0) + dm._tlv(0x30, b""))
    scoped = dm._tlv(0x30, dm._tlv(0x04, b"") + dm._tlv(0x04, b"") + report)
    reply = dm._tlv(0x30, dm._int(3) + header + dm._tlv(0x04, usm) + scoped)
    assert dm.parse_discovery(reply, 7) == "80001f8880aa"
    assert dm.parse_discovery(reply, 6) is None


def test_an_open_telnet_port_gives_its_greeting_a_closed_one_is_closed() -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]

    def greet() -> None:
        c, _ = srv.accept()
        c.sendall(b"\xff\xfb\x01\xff\xfb\x03\r\nHello, this is FRRouting (version 8.4.4).\r\n\x1b[2J")
        c.close()

    threading.Thread(target=greet, daemon=True).start()
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    closed_port = free.getsockname()[1]
    free.close()
    obs = dm.observe("127.0.0.1", (port, closed_port), (), timeout=1.0)
    srv.close()
    by = {p.port: p for p in obs.ports}
    assert by[port].state == "open" and by[port].banner.startswith("Hello, this is FRRouting")
    assert "\x1b" not in by[port].banner and "\ufffd[2J" in by[port].banner  # a hostile escape is defused
    assert by[closed_port].state == "closed" and not obs.errors
    assert [p.port for p in obs.open_ports((port, closed_port))] == [port]


def _nft_facts(syslog: str, ps: str) -> HostFacts:
    specs = {s.name: s for s in device_sections("linux_nftables")}
    facts = HostFacts(host_id="fw1", specs=specs, identity={"platform": "linux_nftables"})
    for name, out in (("config", "table inet ihfw {\n}\n"), ("syslog_conf", syslog), ("processes", ps)):
        facts.sections[name] = SectionResult(name, specs[name].command, 0, out.encode(), False, False)
    return facts


def test_the_firewall_syslog_forwarding_is_read_from_its_files() -> None:
    facts = _nft_facts("/etc/rsyslog.conf:module(load=\"imuxsock\")\n"
                       "/etc/rsyslog.conf:$IncludeConfig /etc/rsyslog.d/*.conf\n"
                       "/etc/rsyslog.d/50-ih-forward.conf:*.* @@198.51.100.1:514\n"
                       "/etc/rsyslog.d/README:*.* @@203.0.113.9:514\n", "bash\nsshd\nrsyslogd\n")
    rl = neutral(RemoteLogging, "linux_nftables", facts)
    assert rl.targets == ("198.51.100.1",) and "rsyslogd" in (rl.programs or ())
    none = neutral(RemoteLogging, "linux_nftables", _nft_facts("/etc/rsyslog.conf:*.* -/var/log/syslog\n", "bash\n"))
    assert none.targets == ()


def test_the_firewall_reads_are_exact_and_read_only() -> None:
    assert [s.command for s in device_sections("linux_nftables")][1:] == [SYSLOG_COMMAND, PROCESSES_COMMAND]
    for c in (SYSLOG_COMMAND, PROCESSES_COMMAND):
        assert_read_only(c)
    for c in ("ps -eo comm=; reboot", "grep -rsHv x /etc/shadow", "cat /etc/rsyslog.conf"):
        with pytest.raises(ValueError):
            assert_read_only(c)


def test_an_nft_rule_between_zones_is_not_any_any() -> None:
    cfg = parse_config("linux_nftables", "table inet f {\n\tchain forward {\n"
                       "\t\ttype filter hook forward priority filter; policy drop;\n"
                       '\t\tiifname "app0" oifname "eth0" accept\n\t\taccept\n\t}\n}\n')
    zone_rule, everything = cfg.chains[0].rules
    assert (zone_rule.src_zone, zone_rule.dst_zone) == ("app0", "eth0") and not zone_rule.any_any
    assert everything.any_any and everything.covers(zone_rule) and not zone_rule.covers(everything)


def test_sections_of_other_platforms_are_the_configuration_alone() -> None:
    assert [s.name for s in device_sections("frr")] == ["config"]
    assert isinstance(device_sections("frr")[0], Section)


def test_a_device_known_only_by_its_configuration_is_not_observed_but_unchecked(tmp_path) -> None:
    """No management address (offline ``config_file``): the look from the harness is 检查错误
    with the reason, not a crash whose AssertionError pytest would report as 不符合."""
    from ihconform.errors import FactUnavailable
    from ihconform.facts.devices import mgmt_evidence, snmp_v3_evidence
    from ihconform.inventory import NetworkDevice

    cfg = tmp_path / "core.cfg"
    cfg.write_text("hostname core\n")
    dev = NetworkDevice(id="core", platform="frr", config_file=cfg)
    with pytest.raises(FactUnavailable, match="no management address"):
        mgmt_evidence(dev, (23,), ("public",), None, None)
    with pytest.raises(FactUnavailable, match="no management address"):
        snmp_v3_evidence(dev, None, None)
