"""Network devices under the collector contract: sections, one session, offline configurations.

Why: a switch or firewall is judged like a host, from sections that each end complete, cut,
failed or absent (facts/contract.py), so a device that drops the session in the middle of
``display current-configuration`` gives a CUT section (no ``return``/``end`` line) and every
control that reads it is 检查错误, never 符合. Online, one netmiko session runs every command
(net/device_cli.py); offline, an exported configuration (``config_file:``) is read as the
``config`` section and its SHA-256 goes into the transcript.

The neutral adapters (facts/neutral.py) read the same parsed configuration, so the one probe of
password policy, lockout, idle time-out, remote logging and time source judges devices too.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from ihconform.errors import FactUnavailable, IhconformError, TransportError
from ihconform.facts.contract import HostFacts, Section, SectionResult
from ihconform.facts.devices_config import DIALECT, DeviceConfig, complete, parse_config, refused
from ihconform.facts.neutral import (
    Adapters,
    IdleChannel,
    IdleTimeout,
    LockoutPolicy,
    PasswordPolicy,
    RemoteLogging,
    TimeSource,
)
from ihconform.inventory import Inventory, NetworkDevice
from ihconform.net.device_cli import assert_read_only
from ihconform.net.device_mgmt import MgmtObservation, observe, snmp_v3_engine
from ihconform.results import EvidenceRef
from ihconform.runcache import EvidenceSink, RunCache
from ihconform.transport.base import Transport

#: exit code a section carries when the session failed while it ran (the message is its output)
EXIT_SESSION = 255

#: the configuration listing of each platform (the section every device control reads)
CONFIG_COMMAND: dict[str, str] = {
    "huawei_vrp": "display current-configuration", "huawei_usg": "display current-configuration",
    "hp_comware": "display current-configuration", "cisco_ios": "show running-config",
    "ruijie_os": "show running-config", "frr": "show running-config", "hillstone_stoneos": "show configuration",
    # the rule set needs root: the device account may run exactly this through sudo (docs/devices.md)
    "linux_nftables": "sudo -n nft list ruleset",
}


#: what a Linux-based firewall is also asked, read-only: where its syslog daemon sends the records
#: (rsyslog's own file and its drop-ins, comments left out, each line prefixed by its file) and
#: which programs run (the forwarder among them)
SYSLOG_COMMAND = "grep -rsHv '^[[:space:]]*#' /etc/rsyslog.conf /etc/rsyslog.d"
PROCESSES_COMMAND = "ps -eo comm="


def device_sections(platform: str) -> list[Section]:
    """What is asked of a device of ``platform``: its whole configuration, read-only (the
    configuration first: an offline file is read as it)."""
    out = [Section("config", CONFIG_COMMAND[platform], timeout=120, cap=16 * 1024 * 1024)]
    if platform == "linux_nftables":
        out += [Section("syslog_conf", SYSLOG_COMMAND, timeout=30), Section("processes", PROCESSES_COMMAND, timeout=30)]
    return out


def observes_log_forwarding(platform: str, facts: HostFacts) -> bool:
    """Whether the device's own log forwarding was read (an nftables firewall reached online);
    an FRR router's logs go to its host's syslog, which vtysh does not show."""
    return platform == "linux_nftables" and "syslog_conf" in facts.sections


class DeviceCollector:
    """The contract's collector for one device platform: a list of CLI commands, one session."""

    def __init__(self, platform: str) -> None:
        self.platform = platform

    def script(self, sections: Sequence[Section], nonce: str) -> str:
        """The commands, one a line (what an operator pastes into a session to record it);
        each command is checked read-only."""
        for s in sections:
            assert_read_only(s.command)
        return "\n".join(s.command for s in sections) + "\n"

    def parse(self, output: bytes, nonce: str, sections: Sequence[Section]) -> dict[str, SectionResult]:
        """A recorded session: ``==== ihc <nonce> <section> ====`` before each command's output.
        A section whose configuration has no last line (``return``/``end``) is cut."""
        text = output.decode("utf-8", "replace")
        parts = re.split(rf"^==== ihc {re.escape(nonce)} (\S+) ====$", text, flags=re.MULTILINE)
        found: dict[str, SectionResult] = {}
        by_name = {s.name: s for s in sections}
        for name, body in zip(parts[1::2], parts[2::2], strict=False):
            spec = by_name.get(name)
            if spec is None:
                continue
            body = body.strip("\n") + "\n"
            found[name] = SectionResult(name, spec.command, 0, body.encode(), not self._whole(name, body), False)
        return found

    def _whole(self, name: str, body: str) -> bool:
        return name != "config" or complete(self.platform, body)

    def collect(self, transport: Transport, sections: Sequence[Section], *, timeout: float,
                sudo: bool = False, sudo_password: str | None = None) -> HostFacts:
        """Every section over the one open session; a failure is recorded, never raised."""
        facts = HostFacts(host_id=transport.host_id, specs={s.name: s for s in sections},
                          identity=dict(transport.identity))
        t0 = time.monotonic()
        for s in sections:
            try:
                res = transport.run(s.command, timeout=min(timeout, s.timeout), cap=s.cap)
            except (TransportError, ValueError) as exc:
                facts.sections[s.name] = SectionResult(s.name, s.command, EXIT_SESSION, str(exc).encode(), False,
                                                       False)
                break  # the session is gone: the later sections stay absent
            # a CLI gives no exit code: a refusal ("% Invalid input", "sudo: a password is required")
            # is a failed section with the device's words; any other incomplete listing is cut
            code = 1 if s.name == "config" and refused(self.platform, res.text) else res.exit_code
            facts.sections[s.name] = SectionResult(
                s.name, s.command, code, res.stdout, res.truncated or not self._whole(s.name, res.text),
                False, int(res.duration_s * 1000))
        facts.round_trips = transport.round_trips
        facts.duration_s = time.monotonic() - t0
        return facts


COLLECTORS_BY_PLATFORM: dict[str, DeviceCollector] = {p: DeviceCollector(p) for p in DIALECT}
HUAWEI_VRP = COLLECTORS_BY_PLATFORM["huawei_vrp"]
HUAWEI_USG = COLLECTORS_BY_PLATFORM["huawei_usg"]
HP_COMWARE = COLLECTORS_BY_PLATFORM["hp_comware"]
CISCO_IOS = COLLECTORS_BY_PLATFORM["cisco_ios"]
RUIJIE_OS = COLLECTORS_BY_PLATFORM["ruijie_os"]
HILLSTONE_STONEOS = COLLECTORS_BY_PLATFORM["hillstone_stoneos"]
FRR = COLLECTORS_BY_PLATFORM["frr"]
LINUX_NFTABLES = COLLECTORS_BY_PLATFORM["linux_nftables"]


#: platforms whose logins and services are those of a Linux host (judged by the host probes)
LINUX_BASED = ("frr", "linux_nftables")


def offline_facts(device: NetworkDevice) -> HostFacts:
    """An exported configuration read as the ``config`` section; its digest is the evidence."""
    if device.config_file is None:
        raise FactUnavailable(f"device {device.id}: no config_file to read offline")
    spec = device_sections(device.platform)[0]
    data = device.config_file.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    whole = complete(device.platform, data.decode("utf-8", "replace"))
    facts = HostFacts(host_id=device.id, specs={spec.name: spec},
                      identity={"config_file": str(device.config_file), "config_sha256": sha,
                                "platform": device.platform, "mode": "offline"})
    facts.sections[spec.name] = SectionResult(spec.name, f"(offline) {device.config_file.name}", 0, data,
                                              not whole, False)
    return facts


def gather_device(device: NetworkDevice, inventory: Inventory) -> HostFacts:
    """The device's facts, online (one session) or offline (``config_file``); a device that
    cannot be reached yields facts carrying the error (its controls are 检查错误)."""
    if device.config_file is not None:
        return offline_facts(device)
    from ihconform.net.device_cli import open_device

    try:
        t = open_device(device, inventory)
    except (TransportError, IhconformError) as exc:
        return HostFacts(host_id=device.id, error=str(exc))
    try:
        return COLLECTORS_BY_PLATFORM[device.platform].collect(t, device_sections(device.platform),
                                                                timeout=max(60.0, device.timeout_s * 4))
    finally:
        t.close()


def config_of(facts: HostFacts, platform: str) -> DeviceConfig:
    """The parsed configuration; FactUnavailable (检查错误) when the listing is cut or failed."""
    return parse_config(platform, facts.text("config"))


def new_nonce() -> str:
    return secrets.token_hex(8)


# ---- neutral adapters ------------------------------------------------------------------------


def _platform_of(facts: HostFacts) -> str:
    return facts.identity.get("platform", "")


def _adapter_set(platform: str) -> Adapters:
    def cfg(facts: HostFacts) -> DeviceConfig:
        return config_of(facts, platform)

    def password(facts: HostFacts) -> PasswordPolicy:
        c = cfg(facts)
        return PasswordPolicy(enforced=c.password_enforced, min_length=c.password_min_length,
                              min_classes=c.password_min_classes, history=c.password_history,
                              max_age_days=c.password_max_age_days,
                              source="; ".join(c.evidence.get("password", ())) or "no password policy statement")

    def lockout(facts: HostFacts) -> LockoutPolicy:
        c = cfg(facts)
        return LockoutPolicy(mechanism=c.lockout_mechanism, threshold=c.lockout_threshold,
                             unlock_s=c.lockout_unlock_s, source="; ".join(c.evidence.get("lockout", ())))

    def idle(facts: HostFacts) -> IdleTimeout:
        c = cfg(facts)
        return IdleTimeout(channels=tuple(IdleChannel(v.name, None if v.idle_disabled else v.idle_s)
                                          for v in (*c.consoles, *c.vtys)),
                           source="; ".join(v.name for v in (*c.consoles, *c.vtys)))

    def logging(facts: HostFacts) -> RemoteLogging:
        if platform == "linux_nftables":
            return _nft_host_logging(facts)
        c = cfg(facts)
        return RemoteLogging(targets=c.log_hosts, running=None, source="; ".join(c.evidence.get("log", ())))

    def time_source(facts: HostFacts) -> TimeSource:
        c = cfg(facts)
        return TimeSource(servers=c.ntp_servers, synchronised=None, service="ntp",
                          source="; ".join(c.evidence.get("ntp", ())))

    fns: dict[type, object] = {RemoteLogging: logging}
    if platform != "linux_nftables":  # an nftables firewall's own logins are judged as a Linux host
        fns.update({PasswordPolicy: password, LockoutPolicy: lockout, IdleTimeout: idle, TimeSource: time_source})
    return Adapters(platform=platform, functions=fns)  # type: ignore[arg-type]


def _nft_host_logging(facts: HostFacts) -> RemoteLogging:
    """An nftables firewall's forwarding: rsyslog's files as ``grep -H`` lists them, grouped by
    file (only rsyslog.conf and the ``*.conf`` drop-ins it includes), and the running programs."""
    from ihconform.facts.logs import forward_rules

    if "syslog_conf" not in facts.sections:
        raise LookupError("linux_nftables: no syslog configuration read (an offline rule set shows none)")
    groups: dict[str, list[str]] = {}
    for line in facts.text("syslog_conf").splitlines():
        path, sep, rest = line.partition(":")
        if sep and (path == "/etc/rsyslog.conf" or (path.startswith("/etc/rsyslog.d/") and path.endswith(".conf"))):
            groups.setdefault(path, []).append(rest)
    conf = "".join(f"## rsyslog {f}\n" + "".join(ln + "\n" for ln in lines) for f, lines in sorted(groups.items()))
    rules = forward_rules(conf)
    programs = tuple(sorted({w for w in facts.text("processes").split() if w}))
    return RemoteLogging(targets=tuple(r.target or f"? ({r.kind}, target not on the line)" for r in rules),
                         running=None, programs=programs, rules=tuple(r.describe() for r in rules),
                         configured_by=("rsyslogd",),
                         source="rsyslog files (grep -rsHv) and the process table (ps -eo comm=)",
                         record=(("config_files_read", sorted(groups)),))


ADAPTER_SETS: dict[str, Adapters] = {p: _adapter_set(p) for p in DIALECT}
HUAWEI_VRP_ADAPTERS = ADAPTER_SETS["huawei_vrp"]
HUAWEI_USG_ADAPTERS = ADAPTER_SETS["huawei_usg"]
HP_COMWARE_ADAPTERS = ADAPTER_SETS["hp_comware"]
CISCO_IOS_ADAPTERS = ADAPTER_SETS["cisco_ios"]
RUIJIE_OS_ADAPTERS = ADAPTER_SETS["ruijie_os"]
HILLSTONE_STONEOS_ADAPTERS = ADAPTER_SETS["hillstone_stoneos"]
FRR_ADAPTERS = ADAPTER_SETS["frr"]
LINUX_NFTABLES_ADAPTERS = ADAPTER_SETS["linux_nftables"]


def device_facts(device: NetworkDevice, inventory: Inventory, cache: RunCache,
                 evidence: EvidenceSink | None) -> HostFacts:
    """The device's facts, gathered once per run (see :func:`device_evidence`)."""
    return device_evidence(device, inventory, cache, evidence)[0]


def device_evidence(device: NetworkDevice, inventory: Inventory, cache: RunCache,
                    evidence: EvidenceSink | None) -> tuple[HostFacts, tuple[EvidenceRef, ...]]:
    """The device's facts, gathered once per run, with its evidence: the transcript (commands,
    statuses, digests; the SHA-256 of an offline configuration) and the listing itself."""
    def gather() -> tuple[HostFacts, tuple[EvidenceRef, ...]]:
        facts = gather_device(device, inventory)
        if evidence is None:
            return facts, ()
        return facts, (
            evidence.write(("devices", device.id, "transcript.json"), facts.transcript(), kind="transcript"),
            evidence.write(("devices", device.id, "config.txt"),
                           b"".join(s.output for s in facts.sections.values()), kind="facts"))
    return cache.get(f"device:{device.id}", gather)


def mgmt_evidence(device: NetworkDevice, tcp_ports: tuple[int, ...], communities: tuple[str, ...],
                  cache: RunCache | None, evidence: EvidenceSink | None
                  ) -> tuple[MgmtObservation, tuple[EvidenceRef, ...]]:
    """What answers on the device's management address from the harness (net/device_mgmt.py),
    looked at once per run (``cache``; without one, now) and recorded as
    ``evidence/devices/<id>/management.json``."""
    def look() -> tuple[MgmtObservation, tuple[EvidenceRef, ...]]:
        if not device.address:
            raise FactUnavailable(f"device {device.id}: no management address to observe (offline configuration)")
        obs = observe(device.address, tcp_ports, communities, timeout=min(2.0, float(device.timeout_s)))
        if evidence is None:
            return obs, ()
        return obs, (evidence.write(("devices", device.id, "management.json"),
                                    json.dumps(obs.as_json(), ensure_ascii=False, indent=1).encode(),
                                    kind="facts"),)
    return cache.get(f"device-mgmt:{device.id}:{tcp_ports}:{communities}", look) if cache else look()


def snmp_v3_evidence(device: NetworkDevice, cache: RunCache | None,
                     evidence: EvidenceSink | None) -> tuple[str | None, str, tuple[EvidenceRef, ...]]:
    """(engine ID or None, error, evidence): whether an SNMPv3 agent answers on the device's
    management address (one discovery exchange from the harness), once per run (``cache``;
    without one, now)."""
    def look() -> tuple[str | None, str, tuple[EvidenceRef, ...]]:
        if not device.address:
            raise FactUnavailable(f"device {device.id}: no management address to ask (offline configuration)")
        engine, err = None, ""
        try:
            engine = snmp_v3_engine(device.address)
        except OSError as exc:
            err = f"{type(exc).__name__}: {exc}"
        if evidence is None:
            return engine, err, ()
        body = {"address": device.address, "snmpv3_discovery": {"engine_id": engine, "error": err}}
        return engine, err, (evidence.write(("devices", device.id, "snmpv3.json"),
                                            json.dumps(body, indent=1).encode(), kind="facts"),)
    return cache.get(f"device-snmpv3:{device.id}", look) if cache else look()


@dataclass
class DeviceView:
    """One device, its gathered facts, and its configuration parsed on first use (the device
    probes' view, as :class:`~ihconform.facts.host.HostView` is the host probes')."""

    device: NetworkDevice
    facts: HostFacts
    #: the run's cache and evidence, for what is observed beyond the session (the management address)
    cache: RunCache | None = None
    sink: EvidenceSink | None = None

    @cached_property
    def config(self) -> DeviceConfig:
        if self.facts.error:
            raise FactUnavailable(f"device {self.device.id}: {self.facts.error}")
        return config_of(self.facts, self.device.platform)
