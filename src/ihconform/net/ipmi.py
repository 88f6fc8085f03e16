"""IPMI power-supply sensors, read in-band: ``ipmitool sdr type 'Power Supply'`` on the server.

Why here and not in the probe: reading (the command over the run's connection, sudo as the
inventory allows) and parsing the sensor table are observation; ``probes/power.py`` judges the
rows. A sudo password goes on stdin, never on a command line.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from ihconform.errors import FactUnavailable, IhconformError
from ihconform.facts.store import sudo_password

IPMI_COMMAND = "ipmitool sdr type 'Power Supply'"
def parse_ipmi_sdr(text: str) -> list[dict[str, str]]:
    """Rows of ``ipmitool sdr type "Power Supply"``: name | id | status | entity | events."""
    rows = []
    for line in text.splitlines():
        cols = [c.strip() for c in line.split("|")]
        if len(cols) >= 5 and cols[0]:
            rows.append({"name": cols[0], "id": cols[1], "status": cols[2].lower(), "entity": cols[3],
                         "events": " | ".join(cols[4:])})
    return rows


def read_ipmi(transport: Any, host: Any) -> dict[str, Any]:
    """Run ipmitool on the server itself (it needs root for /dev/ipmi0): directly when the
    connection is root, else through sudo; a sudo password goes on stdin, never on a command line."""
    command, stdin = IPMI_COMMAND, None
    try:
        if not transport.is_root:
            if not host.sudo.enabled:
                raise FactUnavailable(f"{host.id}: ipmitool needs root; enable sudo for this host in the inventory")
            password = sudo_password(host)
            command = ("sudo -S -p '' " if password is not None else "sudo -n ") + IPMI_COMMAND
            stdin = (password + "\n").encode() if password is not None else None
        res = transport.run(command, stdin=stdin, timeout=60.0)
    except FactUnavailable:
        raise
    except IhconformError as exc:  # transport lost or timed out, sudo password not available
        raise FactUnavailable(f"{host.id}: {IPMI_COMMAND}: {exc}") from None
    if res.exit_code == 127:
        raise FactUnavailable(f"{host.id}: ipmitool is not installed")
    if res.exit_code != 0:
        why = (res.stderr or res.stdout).decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise FactUnavailable(f"{host.id}: {IPMI_COMMAND} exited {res.exit_code}: {why[0][:300]}")
    return {"host": host.id, "command": IPMI_COMMAND, "output": res.text,
            "read_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), "sensors": parse_ipmi_sdr(res.text)}
