"""A minimal read-only Redfish client: a BMC's chassis, power supplies and redundancy groups.

Why in ``net/``: it is a network client; what its reading means (redundant supply or not) is
judged in ``probes/power.py``. GET only, no session, Basic auth from the environment variables
the inventory names; only links on the BMC's own origin are followed and redirects are refused,
so the credentials only ever go to the URL the inventory names.
"""

from __future__ import annotations

import base64
import datetime as _dt
import http.client
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from ihconform.errors import FactUnavailable
from ihconform.inventory import Bmc
from ihconform.secrets import optional_env_secret

TIMEOUT_S = 10.0  # per request; a BMC that takes longer is reported as not answering
MAX_DOC_BYTES = 4 * 1024 * 1024


def safe_url(url: str) -> str:
    """The URL without any user:password part, for messages and evidence."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are refused: urllib would carry the Authorization header to wherever a BMC
    points, so the credentials could leave for another host."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> None:
        raise urllib.error.HTTPError(req.full_url, code, f"redirect to {safe_url(newurl)} refused", headers, fp)


class RedfishClient:
    """A minimal read-only Redfish client over urllib (GET only, no session, Basic auth).

    Only links on the BMC's own origin are followed, and redirects are refused, so the
    credentials are only ever sent to the URL the inventory names."""

    def __init__(self, bmc: Bmc) -> None:
        self.bmc = bmc
        self.root = bmc.url.rstrip("/")
        parts = urllib.parse.urlsplit(self.root)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        user = optional_env_secret(bmc.username_env, f"BMC {bmc.id} user")
        password = optional_env_secret(bmc.password_env, f"BMC {bmc.id} password")
        self._auth = None
        if user is not None:
            token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
            self._auth = f"Basic {token}"
        self._ctx: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self._ctx = ssl.create_default_context(cafile=str(bmc.ca_file) if bmc.ca_file else None)
        elif parts.scheme != "http":
            raise FactUnavailable(f"BMC {bmc.id}: unsupported URL scheme in {safe_url(bmc.url)}")
        handlers: list[Any] = [_NoRedirect()]
        if self._ctx is not None:
            handlers.append(urllib.request.HTTPSHandler(context=self._ctx))
        self._opener = urllib.request.build_opener(*handlers)

    def get(self, ref: str) -> dict[str, Any]:
        if ref.startswith(("http://", "https://")):
            p = urllib.parse.urlsplit(ref)
            if f"{p.scheme}://{p.netloc}" != self.origin:
                raise FactUnavailable(f"BMC {self.bmc.id}: link to another host refused: {safe_url(ref)}")
            url = ref
        elif ref.startswith("/"):
            url = self.origin + ref
        else:
            raise FactUnavailable(f"BMC {self.bmc.id}: not a Redfish link: {ref[:100]!r}")
        req = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - http(s) only
        if self._auth:
            req.add_header("Authorization", self._auth)
        try:
            with self._opener.open(req, timeout=TIMEOUT_S) as r:
                blob = r.read(MAX_DOC_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise FactUnavailable(f"BMC {self.bmc.id}: GET {safe_url(url)} -> HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            why = getattr(exc, "reason", exc)
            raise FactUnavailable(f"BMC {self.bmc.id} does not answer: GET {safe_url(url)}: {why}") from None
        except http.client.HTTPException as exc:  # not HTTP at all, a body cut short, a header too long
            # the text is the peer's (an ANSI escape, markup): quoted with repr, and short
            raise FactUnavailable(f"BMC {self.bmc.id} does not answer HTTP: GET {safe_url(url)}: "
                                  f"{type(exc).__name__} {str(exc)[:120]!r}") from None
        if len(blob) > MAX_DOC_BYTES:
            raise FactUnavailable(f"BMC {self.bmc.id}: {safe_url(url)} is larger than {MAX_DOC_BYTES} bytes")
        try:
            doc = json.loads(blob)
        except (ValueError, UnicodeDecodeError) as exc:
            raise FactUnavailable(f"BMC {self.bmc.id}: {safe_url(url)} is not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise FactUnavailable(f"BMC {self.bmc.id}: {safe_url(url)} is not a JSON object")
        return doc


def _odata(doc: Any, key: str) -> str | None:
    link = doc.get(key) if isinstance(doc, dict) else None
    ref = link.get("@odata.id") if isinstance(link, dict) else None
    return ref if isinstance(ref, str) else None


def _status(doc: Any) -> tuple[str, str]:
    st = doc.get("Status") if isinstance(doc, dict) else None
    st = st if isinstance(st, dict) else {}
    return str(st.get("State") or ""), str(st.get("Health") or "")


def read_redfish(bmc: Bmc) -> dict[str, Any]:
    """Walk ServiceRoot -> Chassis -> Power (or PowerSubsystem); returns the documents read and
    the supplies and redundancy groups found."""
    client = RedfishClient(bmc)
    docs: dict[str, Any] = {}

    def get(ref: str) -> dict[str, Any]:
        doc = client.get(ref)
        docs[ref] = doc
        return doc

    root_ref = urllib.parse.urlsplit(client.root).path or "/redfish/v1"
    root = get(root_ref)
    chassis_ref = _odata(root, "Chassis")
    if chassis_ref is None:
        raise FactUnavailable(f"BMC {bmc.id}: the service root has no Chassis collection")
    members = get(chassis_ref).get("Members") or []
    psus: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    for m in members:
        ref = m.get("@odata.id") if isinstance(m, dict) else None
        if not isinstance(ref, str):
            continue
        chassis = get(ref)
        cid = str(chassis.get("Id") or ref)
        power_ref = _odata(chassis, "Power")
        subsystem_ref = _odata(chassis, "PowerSubsystem")
        if power_ref is not None:
            power = get(power_ref)
            for p in power.get("PowerSupplies") or []:
                state, health = _status(p)
                psus.append({"chassis": cid, "name": str(p.get("Name") or p.get("MemberId") or "?"),
                             "state": state, "health": health, "line_input_voltage": p.get("LineInputVoltage"),
                             "serial": p.get("SerialNumber")})
            for g in power.get("Redundancy") or []:
                state, health = _status(g)
                groups.append({"chassis": cid, "name": str(g.get("Name") or "Redundancy"), "mode": g.get("Mode"),
                               "min_needed": g.get("MinNumNeeded"), "state": state, "health": health})
        elif subsystem_ref is not None:
            sub = get(subsystem_ref)
            coll = _odata(sub, "PowerSupplies")
            for m2 in (get(coll).get("Members") or []) if coll else []:
                pref = m2.get("@odata.id") if isinstance(m2, dict) else None
                if not isinstance(pref, str):
                    continue
                p = get(pref)
                state, health = _status(p)
                psus.append({"chassis": cid, "name": str(p.get("Name") or p.get("Id") or "?"), "state": state,
                             "health": health, "line_input_voltage": None, "serial": p.get("SerialNumber")})
            for g in sub.get("PowerSupplyRedundancy") or []:
                state, health = _status(g)
                groups.append({"chassis": cid, "name": "PowerSupplyRedundancy",
                               "mode": g.get("RedundancyType"), "min_needed": g.get("MinNeededInGroup"),
                               "state": state, "health": health})
    if not any(d for k, d in docs.items() if k.endswith(("/Power", "/PowerSubsystem"))):
        raise FactUnavailable(f"BMC {bmc.id} ({safe_url(bmc.url)}) reports no Power resource on any chassis")
    return {"bmc": bmc.id, "server": bmc.server, "url": safe_url(bmc.url),
            "read_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "power_supplies": psus, "redundancy": groups, "documents": docs}
