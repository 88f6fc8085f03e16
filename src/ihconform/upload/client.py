"""``ihconform upload``: send a signed bundle to the platform, once, whatever the network does.

- Idempotent: the bundle's SHA-256 is its identity and the idempotency key. The local record
  (``<bundle>.upload.json``) and the platform's status endpoint are both consulted first, so a
  second upload of the same bundle sends nothing.
- Resumable: chunks carry ``Content-Range``; after any failure the client asks the platform how
  much it holds and continues from there.
- Retries transient failures (connection errors, timeouts, 5xx, 429) with exponential backoff
  and jitter; a 4xx answer or a rejection is final and reported as the platform worded it.
- Credentials: a bearer token read from an environment variable (never from argv, never written
  anywhere) or a client certificate. TLS is always verified; ``--ca`` adds a trust anchor.
"""

from __future__ import annotations

import datetime as _dt
import http.client
import json
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ihconform.errors import ConfigError, IhconformError, Location
from ihconform.report.bundle import bundle_digest, load_result_bytes, read_member, refuse_partial
from ihconform.upload import API_PREFIX, API_VERSION, HDR_API, HDR_DIGEST, HDR_INSTITUTION

CHUNK = 4 << 20


class UploadRejected(IhconformError):
    """The platform refused the bundle (final; retrying will not help)."""


class UploadFailed(IhconformError):
    """The platform could not be reached or kept failing after all retries."""


class _Transient(Exception):
    def __init__(self, message: str, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class UploadOptions:
    platform: str
    token: str = ""
    ca: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    timeout_s: float = 30.0
    attempts: int = 6
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    chunk: int = CHUNK
    allow_partial: bool = False  # upload a 专项检查 (--only run) anyway
    sleep: Callable[[float], None] = time.sleep
    log: Callable[[str], None] = lambda _msg: None


@dataclass
class UploadOutcome:
    digest: str
    state: str  # accepted
    receipt: dict[str, Any] = field(default_factory=dict)
    already: bool = False  # nothing sent: the record or the platform already had it
    attempts: int = 0
    bytes_sent: int = 0


def record_path(bundle: Path) -> Path:
    return bundle.with_name(bundle.name + ".upload.json")


def _read_record(bundle: Path) -> list[dict[str, Any]]:
    p = record_path(bundle)
    if not p.exists():
        return []
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        return list(data["uploads"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"upload record is damaged ({exc}); move it aside to upload again", Location(p)) from exc


def _write_record(bundle: Path, entry: dict[str, Any]) -> None:
    entries = [e for e in _read_record(bundle)
               if not (e.get("platform") == entry["platform"] and e.get("digest") == entry["digest"])]
    entries.append(entry)
    p = record_path(bundle)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps({"bundle": bundle.name, "uploads": entries}, ensure_ascii=False, indent=1) + "\n",
                   encoding="utf-8")
    tmp.replace(p)


def _institution(bundle: Path) -> str:
    manifest = json.loads(read_member(bundle, "manifest.json"))
    code = str(manifest.get("run", {}).get("credit_code", ""))
    if not code:
        raise ConfigError("the bundle's run has no 统一社会信用代码 (institution.credit_code in the inventory); "
                          "the platform files uploads by it", Location(bundle))
    return code


class _Conn:
    def __init__(self, opts: UploadOptions) -> None:
        u = urlsplit(opts.platform)
        if u.scheme != "https" or not u.hostname:
            raise ConfigError(f"--platform must be an https:// URL, got {opts.platform!r}")
        self.host, self.port, self.base = u.hostname, u.port or 443, u.path.rstrip("/")
        ctx = ssl.create_default_context(cafile=str(opts.ca) if opts.ca else None)
        if opts.client_cert:
            ctx.load_cert_chain(opts.client_cert, opts.client_key)
        self.ctx, self.opts = ctx, opts

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        h = {"Accept": "application/json", HDR_API: API_VERSION, "User-Agent": "ihconform-upload"}
        if self.opts.token:
            h["Authorization"] = f"Bearer {self.opts.token}"
        h.update(headers or {})
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=self.opts.timeout_s)
        try:
            conn.request(method, self.base + path, body=body, headers=h)
            resp = conn.getresponse()
            raw = resp.read()
            status = resp.status
            retry_after = resp.getheader("Retry-After", "")
        except ssl.SSLCertVerificationError as exc:
            raise ConfigError(f"TLS certificate of {self.host} not trusted ({exc.verify_message}); "
                              "give the platform's CA with --ca") from exc
        except (TimeoutError, OSError, http.client.HTTPException) as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc
        finally:
            conn.close()
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {"error": raw[:200].decode("utf-8", "replace")}
        if status >= 500 or status == 429:
            try:  # seconds only; an HTTP date is treated as "use the backoff"
                wait = min(float(retry_after), self.opts.backoff_max_s) if retry_after else 0.0
            except ValueError:
                wait = 0.0
            raise _Transient(f"HTTP {status}: {data.get('error', '')}", retry_after=wait)
        return status, data if isinstance(data, dict) else {"body": data}


def _describe(status: int, data: dict[str, Any]) -> str:
    why = data.get("reason") or data.get("error") or ""
    return f"HTTP {status}" + (f": {why}" if why else "")


def upload(bundle: Path, opts: UploadOptions) -> UploadOutcome:
    """Upload ``bundle``; returns the outcome or raises UploadRejected / UploadFailed."""
    if not bundle.is_file():
        raise ConfigError("no such bundle", Location(bundle))
    if not opts.allow_partial:  # before anything is sent (bundles made with --allow-partial carry it)
        refuse_partial(load_result_bytes(read_member(bundle, "results.json"), f"{bundle}!results.json"),
                       bundle, "上传")
    digest = bundle_digest(bundle)
    for e in _read_record(bundle):
        if e.get("platform") == opts.platform and e.get("digest") == digest and e.get("state") == "accepted":
            opts.log(f"已上传（本地记录）/ already accepted (local record): {e.get('receipt_id', '')}")
            return UploadOutcome(digest, "accepted", e, already=True)
    institution = _institution(bundle)
    size = bundle.stat().st_size
    conn = _Conn(opts)
    out = UploadOutcome(digest, "")
    delay = opts.backoff_s
    last_error = ""
    while out.attempts < opts.attempts:
        out.attempts += 1
        try:
            status, data = conn.request("GET", f"{API_PREFIX}/{digest}")
            if status == 200 and data.get("state") == "accepted":
                out.already = out.bytes_sent == 0
                return _accepted(bundle, opts, out, data)
            if status == 200 and data.get("state") == "rejected":
                raise UploadRejected(_describe(422, data))
            if status not in (200, 404):
                raise UploadRejected(_describe(status, data))
            offset = int(data.get("received", 0)) if status == 200 else 0
            if offset:
                opts.log(f"续传 / resuming at byte {offset} of {size}")
            with bundle.open("rb") as f:
                f.seek(offset)
                while True:
                    chunk = f.read(opts.chunk)
                    if not chunk:
                        raise _Transient(f"platform holds {offset} of {size} bytes but has not accepted them")
                    end = offset + len(chunk) - 1
                    status, data = conn.request("POST", API_PREFIX, chunk, {
                        HDR_DIGEST: digest, HDR_INSTITUTION: institution, "Idempotency-Key": digest,
                        "Content-Type": "application/zip", "Content-Range": f"bytes {offset}-{end}/{size}"})
                    out.bytes_sent += len(chunk)
                    if status == 409:
                        raise _Transient(f"offset moved: {data.get('error', '')}")
                    if status in (200, 201) and data.get("state") == "accepted":
                        return _accepted(bundle, opts, out, data)
                    if status == 202:
                        offset = int(data["received"])
                        continue
                    raise UploadRejected(_describe(status, data))
        except _Transient as exc:
            last_error = str(exc)
            if out.attempts >= opts.attempts:
                break
            wait = min(opts.backoff_max_s, delay) * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto
            wait = max(wait, exc.retry_after)  # the platform asked for at least this long
            opts.log(f"重试 / retry {out.attempts}/{opts.attempts - 1} in {wait:.1f}s: {last_error}")
            opts.sleep(wait)
            delay *= 2
    raise UploadFailed(f"gave up after {out.attempts} attempts: {last_error}")


def _accepted(bundle: Path, opts: UploadOptions, out: UploadOutcome, data: dict[str, Any]) -> UploadOutcome:
    out.state = "accepted"
    out.receipt = {"platform": opts.platform, "api": API_VERSION, "digest": out.digest, "state": "accepted",
                   "receipt_id": data.get("receipt_id", ""), "accepted_at": data.get("accepted_at", ""),
                   "signer_key": data.get("signer_key", ""),
                   "recorded_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                   "attempts": out.attempts}
    _write_record(bundle, out.receipt)
    return out
