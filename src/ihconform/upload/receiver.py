"""The reference receiver: a small HTTPS server implementing upload API v1 (docs/upload-api.md).

It exists so the client can be tested against something real, and so a platform vendor can
see the API work end to end. It verifies what it receives exactly as ``ihconform verify`` does
and can be told to misbehave on purpose: answer 5xx a number of times, stall past the client's
timeout, or reject the bundle's signature (as a platform that does not know the tester's key).

Not a production service: one process, state in a folder, no quotas beyond a chunk size limit.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import json
import re
import secrets
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ihconform.report.bundle import verify_bundle
from ihconform.report.signing import TrustedKey
from ihconform.upload import API_PREFIX, API_VERSION, HDR_API, HDR_DIGEST, HDR_INSTITUTION

MAX_CHUNK = 64 << 20
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
_CREDIT = re.compile(r"^[0-9A-Z]{18}$")


@dataclass
class Faults:
    """Misbehaviour on purpose. Counters count down as requests consume them."""

    fail_5xx: int = 0  # answer 503 to this many upload requests
    pass_first: int = 0  # ... after letting this many through (a failure in the middle of an upload)
    stall: int = 0  # stall this many upload requests for stall_s, then drop the connection
    stall_s: float = 5.0
    reject_signature: bool = False  # refuse every bundle as signed by an unknown key
    retry_after: int = 0  # the Retry-After (seconds) sent with an injected 503


@dataclass
class ReceiverConfig:
    store: Path
    token: str = ""  # bearer token required unless a verified client certificate was shown
    trusted: list[TrustedKey] | None = None  # tester keys the platform knows; None: any valid signature
    faults: Faults = field(default_factory=Faults)


class _State:
    def __init__(self, cfg: ReceiverConfig) -> None:
        self.cfg = cfg
        self.lock = threading.RLock()  # _reply records under it, also from inside locked sections
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status), for tests
        cfg.store.mkdir(parents=True, exist_ok=True)

    def meta_path(self, digest: str) -> Path:
        return self.cfg.store / f"{digest}.json"

    def load(self, digest: str) -> dict[str, Any] | None:
        p = self.meta_path(digest)
        if not p.exists():
            return None
        data: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
        return data

    def save(self, digest: str, meta: dict[str, Any]) -> None:
        tmp = self.meta_path(digest).with_suffix(".tmp")
        tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(self.meta_path(digest))


class _Handler(BaseHTTPRequestHandler):
    server_version = "ihconform-receiver/" + API_VERSION
    state: _State  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet by default: the tests read ``requests`` instead."""

    def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = (json.dumps(body, ensure_ascii=False) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header(HDR_API, API_VERSION)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        with self.state.lock:
            self.state.requests.append((self.command, self.path, status))

    def _authorised(self) -> bool:
        cfg = self.state.cfg
        sock = self.connection
        if isinstance(sock, ssl.SSLSocket) and sock.getpeercert():
            return True  # the TLS layer already verified the client certificate against the CA
        if not cfg.token:
            return True
        got = self.headers.get("Authorization", "")
        return hmac.compare_digest(got.encode(), f"Bearer {cfg.token}".encode())

    def do_GET(self) -> None:
        if not self.path.startswith(API_PREFIX + "/"):
            self._reply(404, {"error": "not found"})
            return
        if not self._authorised():
            self._reply(401, {"error": "authentication required"}, {"WWW-Authenticate": "Bearer"})
            return
        digest = self.path[len(API_PREFIX) + 1:]
        if not _DIGEST.match(digest):
            self._reply(400, {"error": "digest must be 64 lower-case hex digits"})
            return
        with self.state.lock:
            meta = self.state.load(digest)
        if meta is None:
            self._reply(404, {"digest": digest, "state": "unknown"})
        else:
            self._reply(200, meta)

    def do_POST(self) -> None:
        st = self.state
        if self.path != API_PREFIX:
            self._reply(404, {"error": "not found"})
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._reply(411, {"error": "Content-Length required"})
            return
        if length < 0 or length > MAX_CHUNK:
            self._reply(413, {"error": f"a request carries at most {MAX_CHUNK} bytes; send chunks"})
            return
        body = self.rfile.read(length)
        faults = st.cfg.faults
        with st.lock:
            passing = faults.pass_first > 0
            if passing:
                faults.pass_first -= 1
            stall = not passing and faults.stall > 0
            fail = not passing and not stall and faults.fail_5xx > 0
            if stall:
                faults.stall -= 1
            elif fail:
                faults.fail_5xx -= 1
        if stall:
            time.sleep(faults.stall_s)
            with st.lock:
                st.requests.append((self.command, self.path, 0))
            self.close_connection = True
            return
        if fail:
            self._reply(503, {"error": "temporarily unavailable (injected)"}, {"Retry-After": str(faults.retry_after)})
            return
        if not self._authorised():
            self._reply(401, {"error": "authentication required"}, {"WWW-Authenticate": "Bearer"})
            return
        digest = self.headers.get(HDR_DIGEST, "")
        institution = self.headers.get(HDR_INSTITUTION, "")
        if not _DIGEST.match(digest):
            self._reply(400, {"error": f"{HDR_DIGEST} must be the bundle's SHA-256 (64 lower-case hex)"})
            return
        if not _CREDIT.match(institution):
            self._reply(400, {"error": f"{HDR_INSTITUTION} must be the 18-character 统一社会信用代码"})
            return
        rng = self.headers.get("Content-Range")
        if rng:
            m = _RANGE.match(rng)
            if not m:
                self._reply(400, {"error": "Content-Range must be 'bytes START-END/TOTAL'"})
                return
            start, end, total = (int(x) for x in m.groups())
        else:
            start, end, total = 0, length - 1, length
        if end - start + 1 != length or end >= total or total <= 0:
            self._reply(400, {"error": "Content-Range does not match the body"})
            return
        with st.lock:
            meta = st.load(digest) or {"digest": digest, "state": "partial", "received": 0, "size": total,
                                       "institution": institution}
            if meta["state"] in ("accepted", "rejected"):
                self._reply(200, {**meta, "duplicate": True})
                return
            if meta["size"] != total or meta["institution"] != institution:
                self._reply(409, {**meta, "error": "size or institution differs from the upload in progress"})
                return
            if start != meta["received"]:
                self._reply(409, {**meta, "error": f"expected the chunk at offset {meta['received']}"})
                return
            part = st.cfg.store / f"{digest}.part"
            with part.open("ab") as f:
                f.write(body)
            meta["received"] = end + 1
            if meta["received"] < total:
                st.save(digest, meta)
                self._reply(202, meta)
                return
            meta.update(self._finalise(digest, part, institution))
            st.save(digest, meta)
        self._reply(201 if meta["state"] == "accepted" else 422, meta)

    def _finalise(self, digest: str, part: Path, institution: str) -> dict[str, Any]:
        st = self.state
        h = hashlib.sha256()
        with part.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        if h.hexdigest() != digest:
            part.unlink()
            return {"state": "rejected", "reason": "bundle digest does not match " + HDR_DIGEST}
        bundle = st.cfg.store / f"{digest}.zip"
        part.replace(bundle)
        v = verify_bundle(bundle, trusted=st.cfg.trusted)
        if st.cfg.faults.reject_signature:
            return {"state": "rejected", "reason": "签名密钥未在平台登记 / signature key "
                    f"{v.key_fingerprint or '?'} is not registered with the platform"}
        if not v.ok:
            return {"state": "rejected", "reason": "; ".join(v.problems[:10]) or "signature invalid"}
        code = str(v.manifest.get("run", {}).get("credit_code", ""))
        if code and code != institution:
            return {"state": "rejected", "reason": f"bundle is for institution {code}, not {institution}"}
        return {"state": "accepted", "receipt_id": "R-" + secrets.token_hex(8),
                "accepted_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                "signer_key": v.key_fingerprint}


class Receiver:
    """A running receiver on 127.0.0.1; ``url`` is its base, ``stop()`` ends it."""

    def __init__(self, cfg: ReceiverConfig, *, cert: Path, key: Path, client_ca: Path | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = _State(cfg)
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert, key)
        if client_ca is not None:
            ctx.load_verify_locations(client_ca)
            ctx.verify_mode = ssl.CERT_OPTIONAL  # a certificate or a token
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://{host}:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="ihc-receiver", daemon=True)

    @property
    def requests(self) -> list[tuple[str, str, int]]:
        with self.state.lock:
            return list(self.state.requests)

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
