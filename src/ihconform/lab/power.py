"""Power evidence: a Redfish BMC per server (sushy-static) and NUT upsd with two UPS units.

Why sushy-static with a generated mockup: the dynamic sushy emulator has no Power resource,
and a static mockup lets a variant fail one power supply exactly the way a real BMC reports
it (State/Health and the Redundancy group). NUT's dummy-ups driver gives a real upsd that
``upsc`` and the harness read, and whose state can change live by editing the .dev file.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any

from ihconform.lab import plan
from ihconform.lab.context import LabContext, Service
from ihconform.lab.proc import detach, ns_exec, run, start_daemon, wait_for

NUT_DRIVER_DIR = Path("/lib/nut")


def _status(state: str = "Enabled", health: str = "OK") -> dict[str, str]:
    return {"State": state, "Health": health}


def redfish_tree(server: str, *, failed_psu: bool) -> dict[str, dict[str, Any]]:
    """path -> JSON document of a minimal Redfish service with one chassis and its Power."""
    chassis = "/redfish/v1/Chassis/1U"
    psus = []
    for n in (1, 2):
        bad = failed_psu and n == 2
        psus.append({
            "@odata.id": f"{chassis}/Power#/PowerSupplies/{n - 1}", "MemberId": str(n - 1),
            "Name": f"Power Supply {n}",
            "Status": _status("UnavailableOffline", "Critical") if bad else _status(),
            "PowerSupplyType": "AC", "LineInputVoltageType": "ACMidLine",
            "LineInputVoltage": 0 if bad else 230,
            "PowerCapacityWatts": 800, "LastPowerOutputWatts": 0 if bad else 180,
            "Manufacturer": "ihconform lab", "Model": "LAB-PSU-800",
            "SerialNumber": f"{server.upper()}-PSU{n}",
            "InputRanges": [{"InputType": "AC", "MinimumVoltage": 185, "MaximumVoltage": 264,
                             "OutputWattage": 800}],
            "Redundancy": [{"@odata.id": f"{chassis}/Power#/Redundancy/0"}],
        })
    return {
        "/redfish/v1": {
            "@odata.type": "#ServiceRoot.v1_5_0.ServiceRoot", "@odata.id": "/redfish/v1", "Id": "RootService",
            "Name": f"ihconform lab BMC of {server}", "RedfishVersion": "1.6.0",
            "UUID": "00000000-0000-4000-8000-" + server.encode().hex().ljust(12, "0")[:12],
            "Chassis": {"@odata.id": "/redfish/v1/Chassis"},
        },
        "/redfish/v1/Chassis": {
            "@odata.type": "#ChassisCollection.ChassisCollection", "@odata.id": "/redfish/v1/Chassis",
            "Name": "Chassis Collection", "Members@odata.count": 1, "Members": [{"@odata.id": chassis}],
        },
        chassis: {
            "@odata.type": "#Chassis.v1_10_0.Chassis", "@odata.id": chassis, "Id": "1U",
            "Name": f"{server} chassis", "ChassisType": "RackMount", "Manufacturer": "ihconform lab",
            "Model": "LAB-1U", "SerialNumber": f"{server.upper()}-CH", "PowerState": "On",
            "Status": _status("Enabled", "Warning" if failed_psu else "OK"),
            "Power": {"@odata.id": f"{chassis}/Power"},
        },
        f"{chassis}/Power": {
            "@odata.type": "#Power.v1_5_0.Power", "@odata.id": f"{chassis}/Power", "Id": "Power",
            "Name": "Power", "PowerSupplies@odata.count": 2, "PowerSupplies": psus,
            "Redundancy": [{
                "@odata.id": f"{chassis}/Power#/Redundancy/0", "MemberId": "0",
                "Name": "PSU Redundancy Group",
                "Mode": "N+m", "MaxNumSupported": 2, "MinNumNeeded": 1,
                "RedundancySet": [{"@odata.id": p["@odata.id"]} for p in psus],
                "Status": _status("Enabled", "Warning") if failed_psu else _status(),
            }],
        },
    }


def write_mockup(root: Path, tree: dict[str, dict[str, Any]]) -> None:
    """sushy-static serves ``/redfish/v1/<rel>`` from ``<root>/<rel>/index.json``."""
    for path, doc in tree.items():
        d = root / path.removeprefix("/redfish/v1").lstrip("/")
        d.mkdir(parents=True, exist_ok=True)
        (d / "index.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def ups_dev(serial: str, on_battery: bool) -> str:
    status, charge, runtime = ("OB DISCHRG", 62, 900) if on_battery else ("OL", 100, 2400)
    return "\n".join([
        f"ups.status: {status}", f"battery.charge: {charge}", f"battery.runtime: {runtime}",
        "battery.voltage: 27.1", "input.voltage: " + ("0" if on_battery else "229.8"),
        "output.voltage: 230.0", "ups.load: 23", "ups.mfr: ihconform lab", "ups.model: LAB-UPS-3000",
        f"device.serial: {serial}", f"ups.serial: {serial}", "device.type: ups", "",
    ])


def nut_env(d: Path) -> dict[str, str]:
    return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "NUT_CONFPATH": str(d),
            "NUT_STATEPATH": str(d / "state"),
            "NUT_ALTPIDPATH": str(d / "state"), "LANG": "C.UTF-8"}


def start_nut(ctx: LabContext) -> None:
    """upsd with two dummy-ups units on feeds A and B (upsdrvctl waits ~2 s for the drivers)."""
    d = ctx.dir("power", "nut")
    (d / "state").mkdir(exist_ok=True)
    conf: list[str] = []
    for name, feed in plan.UPS_UNITS:
        on_batt = name == "upsb" and ctx.has("ups-on-battery")
        (d / f"{name}.dev").write_text(ups_dev(f"UPS-FEED-{feed}", on_batt))
        conf += [f"[{name}]", "  driver = dummy-ups", f"  port = {name}.dev",
                 f'  desc = "UPS on power feed {feed}"', ""]
    (d / "ups.conf").write_text("\n".join(conf))
    (d / "upsd.conf").write_text(f"LISTEN {plan.POWER_ADDR} 3493\nLISTEN 127.0.0.1 3493\n")
    (d / "upsd.users").write_text("[monuser]\n  password = monpass\n  upsmon secondary\n")
    (d / "nut.conf").write_text("MODE=netserver\n")
    for f in ("upsd.users", "ups.conf", "upsd.conf"):
        (d / f).chmod(0o600)
    env = nut_env(d)
    run(ns_exec(plan.POWER_NS, ["upsdrvctl", "-u", "root", "start"]), env=env, timeout=30)
    run(ns_exec(plan.POWER_NS, [NUT_DRIVER_DIR / "upsd", "-u", "root"]), env=env)

    def reported(name: str) -> bool:
        res = run(ns_exec(plan.POWER_NS, ["upsc", f"{name}@127.0.0.1", "ups.status"]), env=env, check=False)
        return res.returncode == 0 and res.stdout.strip() not in ("", "WAIT")

    # upsd listens before its drivers have reported (ups.status WAIT): the lab is up only when
    # every unit has a real status, as a site's UPS would
    for name, _feed in plan.UPS_UNITS:
        wait_for(f"NUT {name} to report a status", functools.partial(reported, name), 15, interval=0.2)


def start_redfish(ctx: LabContext) -> None:
    """One sushy-static per server BMC address, each serving its own mockup tree."""
    exe = Path(sys.executable).with_name("sushy-static")
    for server, addr in plan.BMC_ADDRS.items():
        root = ctx.dir("power", "redfish", server)
        write_mockup(root, redfish_tree(server, failed_psu=server == "db01" and ctx.has("psu-failed")))
        start_daemon(ns_exec(plan.POWER_NS, detach([exe, "-i", addr, "-p", str(plan.REDFISH_PORT),
                                                    "-m", root])),
                     ctx.runtime / "power" / f"redfish-{server}.log", cwd=root)


def register(ctx: LabContext) -> None:
    ctx.add(Service("nut-upsd", "power", plan.POWER_NS, (("tcp", 3493),)))
    ctx.add(Service("redfish", "power", plan.POWER_NS, (("tcp", plan.REDFISH_PORT),)))
