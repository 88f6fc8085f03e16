"""A NUT (Network UPS Tools, RFC 9271) client: ``LIST VAR`` of one UPS from upsd.

Why in ``net/``: it is a network client; whether the UPS is on line and ready is judged in
``probes/power.py``. Logs in only when the inventory names credentials (environment variables).
"""

from __future__ import annotations

import datetime as _dt
import socket
from typing import Any

from ihconform.errors import FactUnavailable
from ihconform.inventory import Ups
from ihconform.secrets import optional_env_secret
from ihconform.text import printable

TIMEOUT_S = 10.0  # connect and per answer; an upsd that takes longer is reported as not answering


def _nut_unquote(text: str) -> str:
    if not (text.startswith('"') and text.endswith('"') and len(text) >= 2):
        return text
    out, esc = [], False
    for ch in text[1:-1]:
        if esc:
            out.append(ch)
            esc = False
        elif ch == "\\":
            esc = True
        else:
            out.append(ch)
    return "".join(out)


def read_nut(ups: Ups) -> dict[str, Any]:
    """``LIST VAR <ups>`` from upsd (logging in first only when the inventory names credentials)."""
    user = optional_env_secret(ups.username_env, f"UPS {ups.id} user")
    password = optional_env_secret(ups.password_env, f"UPS {ups.id} password")
    where = f"{ups.address}:{ups.port}"
    try:
        with socket.create_connection((ups.address, ups.port), timeout=TIMEOUT_S) as s:
            f = s.makefile("rwb")

            def ask(line: str) -> str:
                f.write(line.encode() + b"\n")
                f.flush()
                return f.readline(4096).decode("utf-8", "replace").strip()

            if user is not None:
                for cmd, what in ((f"USERNAME {user}", "USERNAME"), (f"PASSWORD {password or ''}", "PASSWORD")):
                    answer = ask(cmd)
                    if not answer.startswith("OK"):
                        raise FactUnavailable(f"UPS {ups.id} ({where}): {what} refused: {answer[:100]!r}")
            first = ask(f"LIST VAR {ups.name}")
            if first.startswith("ERR"):
                raise FactUnavailable(f"UPS {ups.id} ({where}) answered {first!r} for {ups.name}")
            if first != f"BEGIN LIST VAR {ups.name}":
                raise FactUnavailable(f"UPS {ups.id} ({where}): unexpected answer {first[:100]!r}")
            variables: dict[str, str] = {}
            for _ in range(10000):
                raw = f.readline(4096)
                if not raw:
                    raise FactUnavailable(f"UPS {ups.id} ({where}): connection closed mid-list")
                line = raw.decode("utf-8", "replace").strip()
                if line == f"END LIST VAR {ups.name}":
                    break
                parts = line.split(" ", 3)
                if len(parts) == 4 and parts[0] == "VAR":
                    # the values are quoted into reasons: no control character of the peer's survives
                    variables[printable(parts[2], lines=False)] = printable(_nut_unquote(parts[3]), lines=False)
            else:  # a peer that never ends the list must not pass for a partial reading
                raise FactUnavailable(f"UPS {ups.id} ({where}): no END LIST VAR after 10000 lines")
            ask("LOGOUT")
        status = variables.get("ups.status", "").split()
        if not status or "WAIT" in status:
            # upsd answers before its driver has reported (NUT's WAIT): the UPS's state is unknown,
            # not "off line", and a verdict on it (the unit's or the site's) would be a guess
            raise FactUnavailable(f"UPS {ups.id} ({where}): 驱动尚未上报 / the NUT driver has not reported "
                                  f"(ups.status={' '.join(status) or 'missing'}); read it again")
    except FactUnavailable:
        raise
    except OSError as exc:
        raise FactUnavailable(f"UPS {ups.id} does not answer: upsd {where}: {exc}") from None
    return {"ups": ups.id, "name": ups.name, "server": where, "feed": ups.feed,
            "read_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), "variables": variables}
