"""Upload API v1 against the reference receiver over HTTPS (test PKI on 127.0.0.1):
retries through 5xx and a stalled request, resumes mid-upload, is idempotent by digest,
reports a rejection plainly, and never writes the token anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ihconform.errors import ConfigError
from ihconform.report.bundle import bundle_digest, make_bundle
from ihconform.report.signing import generate_key, load_key
from ihconform.upload import API_PREFIX
from ihconform.upload.client import UploadOptions, UploadRejected, record_path, upload
from ihconform.upload.receiver import Faults, Receiver, ReceiverConfig
from ihconform.upload.tlsca import make_test_pki

from .test_bundle import make_run

TOKEN = "t0ken-for-tests-only"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return make_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    key = tmp_path / "tester.key"
    generate_key(key)
    out = tmp_path / "2026.bundle.zip"
    make_bundle(make_run(tmp_path), out, load_key(key))
    return out


def receiver(pki, tmp_path: Path, faults: Faults | None = None, *, token: str = TOKEN,  # type: ignore[no-untyped-def]
             client_certs: bool = False) -> Receiver:
    cfg = ReceiverConfig(store=tmp_path / "store", token=token, faults=faults or Faults())
    return Receiver(cfg, cert=pki.server_cert, key=pki.server_key, client_ca=pki.ca if client_certs else None)


def options(pki, rx: Receiver, **kw) -> UploadOptions:  # type: ignore[no-untyped-def]
    base = {"platform": rx.url, "token": TOKEN, "ca": pki.ca, "backoff_s": 0.01, "timeout_s": 5.0,
            "sleep": lambda s: None}
    base.update(kw)
    return UploadOptions(**base)


def posts(rx: Receiver) -> list[int]:
    return [status for method, _, status in rx.requests if method == "POST"]


def test_survives_two_failures_then_succeeds(pki, tmp_path, bundle):
    with receiver(pki, tmp_path, Faults(fail_5xx=2)) as rx:
        out = upload(bundle, options(pki, rx))
        assert out.state == "accepted" and out.attempts == 3
        assert posts(rx) == [503, 503, 201]
    rec = json.loads(record_path(bundle).read_text(encoding="utf-8"))["uploads"][0]
    assert rec["digest"] == bundle_digest(bundle) and rec["receipt_id"].startswith("R-")
    assert TOKEN not in record_path(bundle).read_text(encoding="utf-8")
    assert (tmp_path / "store" / f"{bundle_digest(bundle)}.zip").read_bytes() == bundle.read_bytes()


def test_second_upload_is_a_no_op(pki, tmp_path, bundle):
    with receiver(pki, tmp_path) as rx:
        first = upload(bundle, options(pki, rx))
        n = len(rx.requests)
        again = upload(bundle, options(pki, rx))
        assert again.already and again.receipt["receipt_id"] == first.receipt["receipt_id"]
        assert len(rx.requests) == n  # the local record answered: nothing sent
        record_path(bundle).unlink()  # record lost: the platform's status answers, still no POST
        third = upload(bundle, options(pki, rx))
        assert third.already and posts(rx) == [201]
        assert rx.requests[-1][:2] == ("GET", f"{API_PREFIX}/{bundle_digest(bundle)}")


def test_resumes_after_a_failure_mid_upload(pki, tmp_path, bundle):
    size = bundle.stat().st_size
    chunk = 1024
    with receiver(pki, tmp_path, Faults(pass_first=3, fail_5xx=1)) as rx:
        out = upload(bundle, options(pki, rx, chunk=chunk))
        assert out.state == "accepted"
        statuses = posts(rx)
    assert statuses[:4] == [202, 202, 202, 503] and statuses[-1] == 201
    assert out.bytes_sent < size + 2 * chunk  # continued from byte 3072, did not start over
    assert len(statuses) == 1 + (size + chunk - 1) // chunk  # every chunk once, plus the failed one


def test_a_stalled_request_times_out_and_is_retried(pki, tmp_path, bundle):
    with receiver(pki, tmp_path, Faults(stall=1, stall_s=2.0)) as rx:
        t0 = time.monotonic()
        out = upload(bundle, options(pki, rx, timeout_s=0.5))
        assert out.state == "accepted" and out.attempts == 2 and time.monotonic() - t0 < 10


def test_rejected_signature_is_final_and_plain(pki, tmp_path, bundle):
    with receiver(pki, tmp_path, Faults(reject_signature=True)) as rx:
        with pytest.raises(UploadRejected, match="not registered with the platform"):
            upload(bundle, options(pki, rx))
        assert posts(rx) == [422]  # no retry of a rejection
    assert not record_path(bundle).exists()


def test_tampered_bundle_is_rejected_naming_the_file(pki, tmp_path, bundle):
    raw = bytearray(bundle.read_bytes())
    at = raw.index(b"Linux app01")
    raw[at] ^= 0x20
    bundle.write_bytes(bytes(raw))
    with receiver(pki, tmp_path) as rx, pytest.raises(UploadRejected, match=r"facts\.txt"):
        upload(bundle, options(pki, rx))


def test_wrong_token_is_rejected_and_client_certificate_works(pki, tmp_path, bundle):
    with receiver(pki, tmp_path, client_certs=True) as rx:
        with pytest.raises(UploadRejected, match="401"):
            upload(bundle, options(pki, rx, token="wrong"))
        out = upload(bundle, options(pki, rx, token="", client_cert=pki.client_cert, client_key=pki.client_key))
        assert out.state == "accepted"


def test_untrusted_server_and_plain_http_are_refused(pki, tmp_path, bundle):
    with receiver(pki, tmp_path) as rx:
        with pytest.raises(ConfigError, match="not trusted"):
            upload(bundle, options(pki, rx, ca=None))
        with pytest.raises(ConfigError, match="https"):
            upload(bundle, options(pki, rx, platform=rx.url.replace("https", "http")))


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ihconform.cli", *args], capture_output=True, text=True,
                          timeout=120, check=False, env={**os.environ, **env})


def test_cli_exit_codes(pki, tmp_path, bundle):
    env = {"IHC_UPLOAD_TOKEN": TOKEN}
    with receiver(pki, tmp_path, Faults(fail_5xx=2)) as rx:
        args = ["upload", str(bundle), "--platform", rx.url, "--ca", str(pki.ca), "--backoff", "0.01"]
        ok = cli(*args, env=env)
        assert ok.returncode == 0 and "ACCEPTED" in ok.stdout, ok.stdout + ok.stderr
        assert "retry 1/5" in ok.stderr and TOKEN not in ok.stdout + ok.stderr
        again = cli(*args, env=env)
        assert again.returncode == 0 and "nothing sent" in again.stdout
    record_path(bundle).unlink()
    with receiver(pki, tmp_path / "2", Faults(reject_signature=True)) as rx:
        no = cli("upload", str(bundle), "--platform", rx.url, "--ca", str(pki.ca), env=env)
        assert no.returncode == 1 and "REJECTED" in no.stdout and "not registered" in no.stdout
    with receiver(pki, tmp_path / "3", Faults(fail_5xx=10)) as rx:
        gave_up = cli("upload", str(bundle), "--platform", rx.url, "--ca", str(pki.ca), "--attempts", "2",
                      "--backoff", "0.01", env=env)
        assert gave_up.returncode == 3 and "try again later" in gave_up.stdout
    missing = cli("upload", str(bundle), "--platform", "https://127.0.0.1:9", env={"IHC_UPLOAD_TOKEN": ""})
    assert missing.returncode == 2 and "IHC_UPLOAD_TOKEN" in missing.stderr


def test_receiver_command_end_to_end(tmp_path, bundle):
    """`ihconform receiver` as a user starts it: makes its test PKI, prints its URL, accepts."""
    env = {**os.environ, "RX_TOKEN": TOKEN}
    proc = subprocess.Popen([sys.executable, "-m", "ihconform.cli", "receiver", "--store", str(tmp_path / "rx"),
                             "--pki", str(tmp_path / "pki"), "--port", "0", "--token-env", "RX_TOKEN"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("https://127.0.0.1:"), proc.stderr.read() if proc.stderr else ""
        up = cli("upload", str(bundle), "--platform", url, "--ca", str(tmp_path / "pki" / "ca.pem"),
                 env={"IHC_UPLOAD_TOKEN": TOKEN})
        assert up.returncode == 0 and "ACCEPTED" in up.stdout, up.stdout + up.stderr
        assert (tmp_path / "rx" / f"{bundle_digest(bundle)}.zip").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_retry_after_is_honoured(pki, tmp_path, bundle):
    waits: list[float] = []
    with receiver(pki, tmp_path, Faults(fail_5xx=1)) as rx:
        rx.state.cfg.faults.retry_after = 7
        out = upload(bundle, options(pki, rx, sleep=waits.append))
    assert out.state == "accepted" and waits == [7.0]


def test_upload_goes_through_the_named_adapter(pki, tmp_path, bundle):
    """The reference exchange format is one adapter among possible platform interfaces: it is the
    default, it is what the CLI uses, and an unknown adapter name is a usage error (exit 2) that
    names the known ones, before anything is sent."""
    from ihconform.upload.adapter import ADAPTERS, DEFAULT_ADAPTER, PlatformAdapter, get_adapter

    assert DEFAULT_ADAPTER == "reference" and sorted(ADAPTERS) == ["reference"]
    adapter: PlatformAdapter = get_adapter("reference")
    with receiver(pki, tmp_path) as rx:
        out = adapter.send(bundle, options(pki, rx))
        assert out.state == "accepted" and posts(rx) == [201]
    with pytest.raises(ConfigError, match="known: reference"):
        get_adapter("cq-wjw")
    with receiver(pki, tmp_path / "2") as rx:
        bad = cli("upload", str(bundle), "--platform", rx.url, "--ca", str(pki.ca), "--adapter", "cq-wjw",
                  env={"IHC_UPLOAD_TOKEN": TOKEN})
        assert bad.returncode == 2 and "unknown upload adapter" in bad.stderr, bad.stderr
        assert posts(rx) == []
