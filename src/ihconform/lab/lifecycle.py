"""Bring the lab up, take it down, report its state, re-shape an uplink.

Why ``down`` needs no state file: ``up`` may have failed half way or been interrupted before
it wrote anything. Every namespace name comes from :mod:`plan`, every process of the lab is
in one of those network namespaces (``ip netns pids`` finds it, including each host's PID 1,
whose death ends its PID namespace and with it every mount of that host), and the root
namespace holds only ``ihlab0`` and one unreachable route. So ``down`` can always undo
everything, and it is idempotent.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import grp
import json
import os
import secrets
import shutil
import signal
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import yaml

from ihconform.lab import (
    av,
    baseline,
    clinical,
    databases,
    hosts,
    inventory_out,
    log_sink,
    middleware,
    network,
    plan,
    power,
    roots,
    telnet_standin,
    web,
)
from ihconform.lab import devices as lab_devices
from ihconform.lab.context import LabContext, Service
from ihconform.lab.pki import LabCa
from ihconform.lab.proc import LabError, run, wait_for

DEFAULT_RUNTIME = plan.DEFAULT_RUNTIME
STATE_FILE = "state.json"
SERVICE_TIMEOUT_S = 45.0
PAM_DIRS = (Path("/usr/lib/x86_64-linux-gnu/security"), Path("/lib/x86_64-linux-gnu/security"),
            Path("/usr/lib/security"), Path("/lib/security"))


class NotRoot(LabError):
    """The lab needs root (namespaces, mounts, daemons)."""


class AlreadyUp(LabError):
    """A lab (or its leftovers) is present; run ``down`` first."""


@dataclass(frozen=True)
class LabInfo:
    """What a running lab offers to its users (the CLI, the integration tests)."""

    runtime: Path
    inventory_path: Path
    variants: tuple[str, ...]
    hosts: dict[str, str]  # host id -> LAN address
    ca_file: Path
    key_file: Path
    known_hosts: Path
    sudo_password_file: Path
    env_file: Path
    up_seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    fleet: dict[str, str] = field(default_factory=dict)  # fleet host id -> LAN address
    fleet_inventory: Path | None = None
    release_inventory: Path | None = None
    devices_inventory: Path | None = None  # `up(devices=True)`: the FRR routers and the firewall


def _check_runtime(runtime: Path) -> Path:
    runtime = runtime.resolve()
    text = str(runtime)
    if not runtime.is_absolute() or any(c in text for c in ",: \t\n'\"\\") or runtime == Path("/"):
        raise LabError(f"runtime folder {text!r}: use a plain absolute path (no spaces, commas or colons)")
    return runtime


def _probe_identity(runtime: Path) -> tuple[baseline.Probe, str]:
    """The probe account's key pair and password (files under secrets/, mode 0600)."""
    sec = runtime / "secrets"
    sec.mkdir(mode=0o700, exist_ok=True)
    key = sec / "id_ed25519"
    key_line = hosts.keygen(key, "ihprobe@ihconform-lab")
    password = secrets.token_urlsafe(18) + "aA1!"
    pw_file = sec / "sudo-password"
    pw_file.write_text(password + "\n")
    os.chmod(pw_file, 0o600)
    pw_hash = run(["openssl", "passwd", "-6", "-stdin"], input=password + "\n").stdout.strip()
    uid = baseline.free_id(Path("/etc"))
    days = int(time.time() // 86400)
    return baseline.Probe(uid=uid, gid=uid, password_hash=pw_hash, key_line=key_line, days=days), password


def _parallel(steps: dict[str, Callable[[], None]], workers: int = 8) -> None:
    """Run independent start steps at once; collect every failure, not only the first."""
    errors: list[str] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {name: pool.submit(fn) for name, fn in steps.items()}
        for name, fut in futures.items():
            exc = fut.exception()
            if exc is not None:
                errors.append(f"[{name}] {exc}")
    if errors:
        raise LabError("services failed to start:\n" + "\n".join(errors))


def _services_ready(ctx: LabContext) -> None:
    """Wait until every enabled service's sockets listen in its namespace."""
    def missing() -> list[str]:
        out: list[str] = []
        cache: dict[str, set[tuple[str, int]]] = {}
        for s in ctx.services:
            if not s.enabled:
                continue
            if s.ns not in cache:
                cache[s.ns] = {(p, port) for p, _a, port in network.listening(s.ns)}
            out += [f"{s.name} {p}/{port}" for p, port in s.sockets if (p, port) not in cache[s.ns]]
        return out

    deadline = time.monotonic() + SERVICE_TIMEOUT_S
    while True:
        left = missing()
        if not left:
            return
        if time.monotonic() > deadline:
            raise LabError("services not listening after "
                           f"{SERVICE_TIMEOUT_S:.0f} s: {', '.join(left)}")
        time.sleep(0.1)


def _inject(fail_at: str | None, stage: str) -> None:
    if fail_at == stage:
        raise LabError(f"injected failure at stage {stage!r} (test hook)")


def up(variants: Sequence[str] = (), runtime: Path = DEFAULT_RUNTIME, *, keep_on_failure: bool = False,
       fail_at: str | None = None, fleet: int = 0, releases: Sequence[str] = (), devices: bool = False) -> LabInfo:
    """Build the lab (conforming, or with defect ``variants``) and write its inventory.

    ``fleet``: also build that many minimal SSH hosts (f01.., at most plan.FLEET_MAX) and write
    ``fleet-inventory.yaml`` for them (scale benchmarks, docs/performance.md).
    ``releases``: also build one stock host per named Debian release on its own root (deb11..,
    lab/roots.py; a root missing from the cache is built first) and write ``release-inventory.yaml``.
    ``devices``: also build the network devices (two FRR core routers, an nftables firewall;
    lab/devices.py) and write ``devices-inventory.yaml``.

    On any failure (or Ctrl-C) everything built so far is torn down again, unless
    ``keep_on_failure`` (used to test that ``down`` cleans a half-built lab).
    ``fail_at`` names a stage at which to fail on purpose (a test hook).
    """
    if os.geteuid() != 0:
        raise NotRoot("the lab needs root (network namespaces, mounts, daemons) / 实验环境需要 root 权限")
    chosen = plan.check_variants(list(variants))
    fleet_specs = plan.fleet_hosts(fleet) + plan.release_hosts(list(releases))
    runtime = _check_runtime(runtime)
    if (runtime / STATE_FILE).exists() or network.lab_namespaces():
        raise AlreadyUp(f"a lab is already up (or left over) at {runtime}; run `ihconform lab down` first")
    conflicts = network.range_conflicts()
    if conflicts:
        raise network.RangeInUse(f"{plan.LAB_RANGE} is already in use in the root namespace: "
                                 + "; ".join(conflicts))
    timings: dict[str, float] = {}
    for name in sorted({h.release for h in fleet_specs if h.release}):
        timings[f"root-{name}"] = roots.ensure(name)[1]  # 0.0 when cached; not part of up_seconds
    if runtime.exists():
        shutil.rmtree(runtime)
    runtime.mkdir(parents=True, mode=0o755)
    t0 = time.monotonic()
    try:
        info = _build(runtime, chosen, timings, fail_at, fleet_specs, devices)
    except BaseException:
        if not keep_on_failure:
            down(runtime)
        raise
    total = time.monotonic() - t0
    info = replace(info, up_seconds=round(total, 3), timings=timings)
    state = json.loads((runtime / STATE_FILE).read_text())
    state["up_seconds"] = info.up_seconds
    state["timings"] = timings
    (runtime / STATE_FILE).write_text(json.dumps(state, indent=2))
    return info


def _build(runtime: Path, variants: tuple[str, ...], timings: dict[str, float],
           fail_at: str | None, fleet: tuple[plan.HostSpec, ...] = (), devices: bool = False) -> LabInfo:
    t = time.monotonic()

    def lap(name: str) -> None:
        nonlocal t
        now = time.monotonic()
        timings[name] = round(now - t, 3)
        t = now

    for name, text in (("lab-init.sh", hosts.INIT_SCRIPT), ("lab-release-init.sh", hosts.RELEASE_INIT_SCRIPT)):
        (runtime / name).write_text(text)
        os.chmod(runtime / name, 0o755)  # noqa: S103  (run by root only)
    ca = LabCa(runtime / "pki")
    probe, _password = _probe_identity(runtime)
    shadow_gid = grp.getgrnam("shadow").gr_gid
    have_pwq = any((d / "pam_pwquality.so").exists() for d in PAM_DIRS)
    ctx = LabContext(runtime=runtime, variants=variants, ca=ca)
    keys = {h.id: hosts.prepare(runtime, h, variants, probe, shadow_gid, have_pwq)
            for h in (*plan.HOSTS, plan.SCANNER, *fleet)}
    device_hosts = lab_devices.built(variants) if devices else ()
    if devices:
        keys.update(lab_devices.prepare(runtime, variants, probe, shadow_gid, have_pwq))
    lap("prepare")
    # A marker first, so that `down` knows there is something to take down.
    (runtime / STATE_FILE).write_text(json.dumps({"variants": list(variants), "complete": False}))
    network.build_switch()
    for h in (*plan.HOSTS, plan.SCANNER, *fleet, *device_hosts):
        network.add_ns(h.ns)
    network.build_wan(variants)
    network.build_outside(variants)
    network.build_platform()
    network.build_power()
    lap("network")
    _inject(fail_at, "network")
    for h in (*plan.HOSTS, plan.SCANNER):
        ctx.inits[h.id] = hosts.start(runtime, h)
    _start_fleet(runtime, fleet, ctx)
    if devices:
        lab_devices.start(runtime, variants, ctx.inits)
    lap("hosts")
    _inject(fail_at, "hosts")
    for reg in (databases.register, web.register, av.register, power.register, clinical.register,
                log_sink.register, telnet_standin.register, middleware.register):
        reg(ctx)
    for h in (*plan.HOSTS, plan.SCANNER, *fleet, *device_hosts):
        ctx.services.insert(0, Service(f"sshd-{h.id}", "sshd", h.ns, (("tcp", 22),)))
    steps: dict[str, Callable[[], None]] = {
        "nut": lambda: power.start_nut(ctx),
        "mariadb": lambda: databases.start_mariadb(ctx),
        "postgresql": lambda: databases.start_postgres(ctx, "db01", plan.HOST_BY_ID["db01"].address),
        "app01": lambda: web.start_app(ctx, "app01"),
        "app02": lambda: web.start_app(ctx, "app02"),
        "inet": lambda: web.start_inet(ctx),
        "platform": lambda: web.start_platform(ctx),
        "coturn": lambda: av.start_coturn(ctx),
        "redfish": lambda: power.start_redfish(ctx),
        "clinical": lambda: clinical.start(ctx),
        "log-sink": lambda: log_sink.start(ctx),
    }
    if not ctx.has("av-down"):
        steps["kamailio"] = lambda: av.start_kamailio(ctx)
    if ctx.has("telnet"):
        steps["telnet"] = lambda: telnet_standin.start(ctx)
    if ctx.has("middleware"):  # after nginx: Apache and Tomcat take other ports on the same hosts
        for hid in middleware.HOSTS:
            steps[f"middleware-{hid}"] = functools.partial(middleware.start, ctx, hid)
    if ctx.has("db-on-app"):
        steps["postgresql-app01"] = lambda: databases.start_postgres(ctx, "app01", "127.0.0.1",
                                                                     hardened=False)
    if ctx.has("socket-db"):  # listen_addresses = '': the Unix socket only
        steps["postgresql-app01"] = lambda: databases.start_postgres(ctx, "app01", "", hardened=False)
    _parallel(steps)
    _inject(fail_at, "services")
    _services_ready(ctx)
    lap("services")
    pinned = {h: k.pinned for h, k in keys.items()}
    env_file = runtime / "secrets" / "lab.env"  # before the inventory that names it
    env_file.touch(mode=0o600)
    env_file.write_text(f"{inventory_out.TURN_USER_ENV}={plan.TURN_USER}\n"
                        f"{inventory_out.TURN_PASSWORD_ENV}={ctx.secrets['turn-password']}\n")
    inv = inventory_out.write(runtime, variants, pinned, ca.cert_path, fleet)
    dev_inv: Path | None = None
    if devices:
        dev_inv = runtime / lab_devices.DEVICES_INVENTORY
        dev_inv.write_text("# 由 ihconform lab up --devices 生成 / written by `ihconform lab up --devices`\n"
                           + yaml.safe_dump(lab_devices.inventory(runtime, variants, pinned), allow_unicode=True,
                                            sort_keys=False, width=110))
    state = {
        "complete": True, "variants": list(variants), "created": dt.datetime.now(dt.UTC).isoformat(),
        "fleet": sum(1 for h in fleet if not h.release), "releases": [h.release for h in fleet if h.release],
        "inits": ctx.inits, "services": [asdict(s) for s in ctx.services],
        "rates": {str(u["id"]): u["rate"] for u in plan.uplinks(variants)},
    }
    (runtime / STATE_FILE).write_text(json.dumps(state, indent=2))
    lap("inventory")
    return LabInfo(runtime=runtime, inventory_path=inv, variants=variants,
                   hosts={h.id: h.address for h in plan.HOSTS}, ca_file=ca.cert_path,
                   key_file=runtime / "secrets" / "id_ed25519", known_hosts=runtime / "known_hosts",
                   sudo_password_file=runtime / "secrets" / "sudo-password", env_file=env_file,
                   up_seconds=0.0, fleet={h.id: h.address for h in fleet},
                   fleet_inventory=runtime / inventory_out.FLEET_INVENTORY
                   if any(not h.release for h in fleet) else None,
                   release_inventory=runtime / inventory_out.RELEASE_INVENTORY
                   if any(h.release for h in fleet) else None, devices_inventory=dev_inv)


def _start_fleet(runtime: Path, fleet: tuple[plan.HostSpec, ...], ctx: LabContext) -> None:
    """Start the fleet hosts a few at a time: each start is mostly waiting on ``ip``, ``nft``
    and ``unshare`` child processes, so 50 hosts one by one would take most of a minute."""
    def start(h: plan.HostSpec) -> None:
        ctx.inits[h.id] = hosts.start(runtime, h)

    _parallel({h.id: functools.partial(start, h) for h in fleet}, workers=6)


def _ns_pids(ns: str) -> list[int]:
    res = run(["ip", "netns", "pids", ns], check=False)
    return [int(p) for p in res.stdout.split() if p.isdigit()]


def _kill_all() -> None:
    """SIGKILL every process in a lab network namespace (each host's PID 1 included, which
    ends its PID namespace), until none is left."""
    pids: set[int] = set()
    for _ in range(100):
        pids = {p for ns in network.lab_namespaces() for p in _ns_pids(ns)}
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    raise LabError(f"lab processes survive SIGKILL: {sorted(pids)}")


def _runtime_mounts(runtime: Path) -> list[str]:
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mnt = line.split()[4]
        if mnt == str(runtime) or mnt.startswith(str(runtime) + "/"):
            out.append(mnt)
    return out


def _remove_tree(runtime: Path, attempts: int = 20) -> str:
    """Remove the runtime folder, retrying briefly: the kernel releases a dead host's mount
    namespace (and its overlay on the folder) asynchronously after its last process exits."""
    last = ""
    for _ in range(attempts):
        if not runtime.exists():
            return ""
        try:
            shutil.rmtree(runtime)
            return ""
        except OSError as exc:
            last = f"remove {runtime}: {exc}"
            time.sleep(0.1)
    return last


def down(runtime: Path = DEFAULT_RUNTIME) -> None:
    """Remove every trace of the lab: processes, namespaces, root veth, route, mounts, files.

    Idempotent, and needs nothing from ``up``: it also cleans a half-built or interrupted lab.
    Raises LabError listing whatever could not be removed.
    """
    if os.geteuid() != 0:
        raise NotRoot("the lab needs root / 实验环境需要 root 权限")
    runtime = _check_runtime(runtime)
    _kill_all()
    problems = network.teardown()
    for mnt in sorted(_runtime_mounts(runtime), key=len, reverse=True):
        res = run(["umount", "-l", mnt], check=False)
        if res.returncode != 0:
            problems.append(f"umount {mnt}: {res.stderr.strip()}")
    err = _remove_tree(runtime)
    if err:
        problems.append(err)
    if problems:
        raise LabError("lab down left something behind:\n" + "\n".join(problems))


def _pid_alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def status(runtime: Path = DEFAULT_RUNTIME) -> list[tuple[str, str, str]]:
    """(name, kind, state) for every namespace, host and service; empty when no lab is up."""
    runtime = _check_runtime(runtime)
    present = set(network.lab_namespaces())
    state_path = runtime / STATE_FILE
    if not state_path.exists() and not present:
        return []
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    rows: list[tuple[str, str, str]] = []
    variants = tuple(state.get("variants", ()))
    rows.append(("lab", "lab", ("up" if state.get("complete") else "incomplete")
                 + (f" (variants: {', '.join(variants)})" if variants else "")))
    extra = (*plan.fleet_hosts(int(state.get("fleet", 0))), *plan.release_hosts(state.get("releases", [])))
    for ns in (*plan.ALL_NAMESPACES, *(h.ns for h in extra)):
        rows.append((ns, "namespace", "up" if ns in present else "missing"))
    listening: dict[str, set[tuple[str, int]]] = {}

    def socks(ns: str) -> set[tuple[str, int]]:
        if ns not in listening:
            listening[ns] = {(p, port) for p, _a, port in network.listening(ns)} if ns in present else set()
        return listening[ns]

    inits = state.get("inits", {})
    for h in (*plan.HOSTS, *extra):
        pid = inits.get(h.id)
        alive = pid is not None and _pid_alive(int(pid))
        rows.append((h.id, "host", "up" if alive and ("tcp", 22) in socks(h.ns) else "down"))
    for s in state.get("services", []):
        if not s["enabled"]:
            rows.append((s["name"], s["kind"], f"off ({s['note']})" if s["note"] else "off"))
            continue
        ok = all((p, port) in socks(s["ns"]) for p, port in s["sockets"])
        rows.append((s["name"], s["kind"], "up" if ok else "down"))
    for isp, rate in state.get("rates", {}).items():
        rows.append((isp, "uplink", f"up ({rate} Mbit/s)" if plan.uplinks(variants) else "down"))
    return rows


def shape(runtime: Path, isp: str, mbit: float) -> None:
    """Re-shape an ISP uplink (both directions) to ``mbit`` Mbit/s, e.g. 50/20/15/8."""
    runtime = _check_runtime(runtime)
    ups = {str(u["id"]): u for u in plan.uplinks(tuple(json.loads((runtime / STATE_FILE).read_text())
                                                          .get("variants", ())))}
    if isp not in ups:
        raise LabError(f"no uplink {isp!r} in this lab (have: {', '.join(ups)})")
    if not 0.1 <= mbit <= 10000:
        raise LabError(f"rate {mbit} Mbit/s out of range")
    ns = str(ups[isp]["ns"])
    for dev in ("to-app", "to-inet"):
        network.shape(ns, dev, mbit)
    state = json.loads((runtime / STATE_FILE).read_text())
    state.setdefault("rates", {})[isp] = mbit
    (runtime / STATE_FILE).write_text(json.dumps(state, indent=2))


def wait_down(timeout: float = 5.0) -> None:
    """Wait until no lab namespace is listed any more (namespace deletion is asynchronous)."""
    wait_for("lab namespaces to disappear", lambda: not network.lab_namespaces(), timeout)
