"""The evidence ledger: record formats, signatures (Ed25519, SM2), run-time verification states,
loader errors that name file/line/field, and how waivers mark results."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from ihconform.errors import ConfigError
from ihconform.ledger.core import apply_ledger, load_ledger, payload, signed_message
from ihconform.ledger.model import Attestation, Waiver
from ihconform.ledger.signing import canonical_bytes, fingerprint, keygen, sign, verify
from ihconform.results import ObjectResult, Status

TODAY = dt.date(2026, 6, 1)
PERSON = {"name": "张三", "role": "信息科科长", "organisation": "示例医院"}


# ---- helpers (imported by the other ledger tests) -----------------------------------------


def attestation(**over: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "id": "ATT-1", "control": "P-PLAN", "objects": ["site"], "statement": "停电应急预案已制定并演练",
        "attester": dict(PERSON), "date": dt.date(2026, 1, 10), "valid_until": dt.date(2099, 12, 31),
        "result": "pass",
    }
    rec.update(over)
    return rec


def waiver(**over: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "id": "W-1", "control": "P-DEMO", "objects": ["*"], "justification": "整改中，预计三个月内完成",
        "compensating_control": "人工电话会诊", "risk": "中",
        "approver": {"name": "王五", "role": "院长", "organisation": "示例医院"},
        "valid_from": dt.date(2026, 1, 1), "valid_until": dt.date(2099, 12, 31),
    }
    rec.update(over)
    return rec


def signed(rec: dict[str, Any], key: Path) -> dict[str, Any]:
    """``rec`` with a signature made by ``key`` (as ``ihconform attest sign`` does)."""
    model: Attestation | Waiver = Waiver.model_validate(rec) if "approver" in rec else Attestation.model_validate(rec)
    public, value = sign("ed25519" if key.read_bytes().startswith(b"-----") else "sm2-sm3", key.read_bytes(),
                         signed_message(model))
    alg = "ed25519" if key.read_bytes().startswith(b"-----") else "sm2-sm3"
    return {**rec, "signature": {"algorithm": alg, "public_key": public, "value": value}}


def attach(folder: Path, name: str, content: bytes, ftype: str = "plan") -> dict[str, str]:
    import hashlib

    (folder / name).write_bytes(content)
    return {"path": name, "sha256": hashlib.sha256(content).hexdigest(), "type": ftype}


def write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def key(tmp_path: Path) -> Path:
    k = tmp_path / "keys" / "zhangsan.pem"
    keygen("ed25519", k)
    return k


def load_one(tmp_path: Path, rec: dict[str, Any], **kw: Any) -> Any:
    path = write_yaml(tmp_path / "attestations.yaml", {"attestations": [rec]})
    return load_ledger(path, None, today=kw.get("today", TODAY), keyring=kw.get("keyring")).attestations[0]


# ---- signatures -----------------------------------------------------------------------------


def test_ed25519_round_trip_and_tamper(key: Path) -> None:
    msg = canonical_bytes("attestation", {"a": 1})
    public, value = sign("ed25519", key.read_bytes(), msg)
    assert verify("ed25519", public, value, msg)
    assert not verify("ed25519", public, value, msg + b" ")
    assert not verify("ed25519", public, "bm90IGEgc2lnbmF0dXJl", msg)
    assert fingerprint("ed25519", public).startswith("ed25519:")


def test_key_file_is_private_and_never_overwritten(key: Path) -> None:
    assert key.stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        keygen("ed25519", key)


def test_sm2_round_trip(tmp_path: Path) -> None:
    pytest.importorskip("gmssl")
    k = tmp_path / "sm2.key"
    pub = keygen("sm2-sm3", k)
    msg = canonical_bytes("attestation", {"控制项": "CQ-A1-4.6-a"})
    public, value = sign("sm2-sm3", k.read_bytes(), msg)
    assert public == pub and len(pub) == 128
    assert verify("sm2-sm3", public, value, msg)
    assert not verify("sm2-sm3", public, value, msg.replace(b"4.6", b"4.7"))
    # out-of-range r, s and a point off the curve are refused, not passed to gmssl
    assert not verify("sm2-sm3", public, "A" * 88, msg)
    assert not verify("sm2-sm3", "11" * 64, value, msg)


def test_sm2_attestation_verifies_at_run_time(tmp_path: Path) -> None:
    pytest.importorskip("gmssl")
    k = tmp_path / "sm2.key"
    keygen("sm2-sm3", k)
    c = load_one(tmp_path, signed(attestation(), k))
    assert (c.state, c.signer_key[:8]) == ("valid", "sm2-sm3:")


def test_an_sm2_key_whose_x_starts_with_04_signs_and_verifies() -> None:
    """Private key 11's public key begins with the byte 0x04, the prefix gmssl strips with
    ``lstrip("04")``: one key in 256 once made a signature that could not be verified (TypeError
    inside gmssl, seen in CI). It signs and verifies, and a changed message still fails."""
    pytest.importorskip("gmssl")
    private = f"{11:064x}\n".encode()
    pub, value = sign("sm2-sm3", private, b"message")
    assert pub.startswith("04") and len(pub) == 128
    assert verify("sm2-sm3", pub, value, b"message")
    assert not verify("sm2-sm3", pub, value, b"messagf")


def test_canonical_form_ignores_defaults_and_key_order() -> None:
    a = Attestation.model_validate(attestation())
    b = Attestation.model_validate({**dict(reversed(list(attestation().items()))), "files": []})
    assert signed_message(a) == signed_message(b)
    assert "signature" not in payload(a)
    assert signed_message(a).startswith(b"ihconform-attestation-v1\n")


# ---- run-time states ------------------------------------------------------------------------


def test_valid_signed_attestation_with_file(tmp_path: Path, key: Path) -> None:
    f = attach(tmp_path, "plan.pdf", b"%PDF plan")
    c = load_one(tmp_path, signed(attestation(files=[f]), key))
    assert c.state == "valid" and c.reason == ""


def test_tampered_file_is_file_changed_naming_it(tmp_path: Path, key: Path) -> None:
    f = attach(tmp_path, "plan.pdf", b"%PDF plan")
    (tmp_path / "plan.pdf").write_bytes(b"%PDF plan, edited")
    c = load_one(tmp_path, signed(attestation(files=[f]), key))
    assert c.state == "file-changed" and "plan.pdf" in c.reason


def test_missing_file(tmp_path: Path, key: Path) -> None:
    f = attach(tmp_path, "plan.pdf", b"%PDF plan")
    (tmp_path / "plan.pdf").unlink()
    c = load_one(tmp_path, signed(attestation(files=[f]), key))
    assert c.state == "file-missing" and "plan.pdf" in c.reason


def test_record_edited_after_signing_is_bad_signature(tmp_path: Path, key: Path) -> None:
    rec = signed(attestation(), key)
    rec["result"] = "fail"
    assert load_one(tmp_path, rec).state == "bad-signature"
    rec = signed(attestation(), key)
    rec["valid_until"] = dt.date(2199, 1, 1)
    assert load_one(tmp_path, rec).state == "bad-signature"


def test_garbage_signature_is_bad_signature_not_a_crash(tmp_path: Path, key: Path) -> None:
    rec = signed(attestation(), key)
    rec["signature"]["public_key"] = "!!not base64"
    c = load_one(tmp_path, rec)
    assert c.state == "bad-signature" and "cannot be verified" in c.reason


def test_expired_attestation_says_when(tmp_path: Path, key: Path) -> None:
    c = load_one(tmp_path, signed(attestation(valid_until=dt.date(2026, 5, 31)), key))
    assert c.state == "expired" and "expired on 2026-05-31" in c.reason
    # the last day is still valid
    assert load_one(tmp_path, signed(attestation(valid_until=TODAY), key)).state == "valid"


def test_integrity_wins_over_expiry(tmp_path: Path, key: Path) -> None:
    f = attach(tmp_path, "plan.pdf", b"v1")
    (tmp_path / "plan.pdf").write_bytes(b"v2")
    c = load_one(tmp_path, signed(attestation(valid_until=dt.date(2026, 1, 31), files=[f]), key))
    assert c.state == "file-changed"


def test_unsigned_and_not_yet_valid(tmp_path: Path, key: Path) -> None:
    assert load_one(tmp_path, attestation()).state == "unsigned"
    c = load_one(tmp_path, signed(attestation(date=dt.date(2026, 7, 1)), key))
    assert c.state == "not-yet-valid"


def test_keyring_decides_who_may_sign(tmp_path: Path, key: Path) -> None:
    rec = signed(attestation(), key)
    public = rec["signature"]["public_key"]
    ring = write_yaml(tmp_path / "keyring.yaml",
                      {"keys": [{"algorithm": "ed25519", "public_key": public, "owner": PERSON}]})
    assert load_one(tmp_path, rec, keyring=ring).state == "valid"
    other = tmp_path / "other.pem"
    keygen("ed25519", other)
    c = load_one(tmp_path, signed(attestation(), other), keyring=ring)
    assert c.state == "untrusted-key" and "not in the keyring" in c.reason
    ring2 = write_yaml(tmp_path / "keyring2.yaml", {"keys": [
        {"algorithm": "ed25519", "public_key": public, "owner": {**PERSON, "name": "李四"}}]})
    c = load_one(tmp_path, rec, keyring=ring2)
    assert c.state == "untrusted-key" and "李四" in c.reason


def test_ledger_folder_and_duplicate_ids(tmp_path: Path) -> None:
    d = tmp_path / "ledger"
    d.mkdir()
    write_yaml(d / "a.yaml", {"attestations": [attestation(id="A-1")]})
    write_yaml(d / "b.yaml", {"attestations": [attestation(id="A-2")]})
    assert [c.id for c in load_ledger(d, None, today=TODAY).attestations] == ["A-1", "A-2"]
    write_yaml(d / "c.yaml", {"attestations": [attestation(id="A-1")]})
    with pytest.raises(ConfigError, match="duplicate id 'A-1'") as e:
        load_ledger(d, None, today=TODAY)
    assert "c.yaml:2" in str(e.value)


# ---- loader errors name file, line and field ------------------------------------------------


@pytest.mark.parametrize(("mutate", "field", "line", "message"), [
    (lambda r: r.update(reslt="pass"), "attestations[0].reslt", 0, "unknown key"),
    (lambda r: r.pop("attester"), "attestations[0].attester", 2, "required field is missing"),
    (lambda r: r.update(result="ok"), "attestations[0].result", 0, "pass"),
    (lambda r: r["attester"].pop("role"), "attestations[0].attester.role", 0, "required"),
    (lambda r: r.update(valid_until=dt.date(2020, 1, 1)), "attestations[0]", 2, "valid_until is before date"),
    (lambda r: r.update(files=[{"path": "x.pdf", "sha256": "abc", "type": "plan"}]),
     "attestations[0].files[0].sha256", 0, "pattern"),
    (lambda r: r.update(objects=[]), "attestations[0].objects", 0, "at least 1"),
])
def test_loader_errors_name_file_line_field(tmp_path: Path, mutate: Any, field: str, line: int,
                                            message: str) -> None:
    rec = attestation()
    mutate(rec)
    path = write_yaml(tmp_path / "att.yaml", {"attestations": [rec]})
    with pytest.raises(ConfigError) as e:
        load_ledger(path, None, today=TODAY)
    err = e.value
    assert err.field == field, str(err)
    assert message in err.message
    assert err.location is not None and Path(err.location.path) == path and err.location.line > 0
    if line:
        assert err.location.line == line


def test_waiver_loader_errors(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "w.yaml", {"waivers": [waiver(risk="extreme")]})
    with pytest.raises(ConfigError) as e:
        load_ledger(None, path, today=TODAY)
    assert e.value.field == "waivers[0].risk" and "w.yaml" in str(e.value)
    path.write_text("waivers:\n  - id: W-1\n    id: W-2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="duplicate key 'id'") as e:
        load_ledger(None, path, today=TODAY)
    assert e.value.location is not None and e.value.location.line == 3


# ---- waivers --------------------------------------------------------------------------------


def result(status: Status, control: str = "P-DEMO", obj: str = "site") -> ObjectResult:
    return ObjectResult(control_id=control, object_id=obj, object_type="site", status=status,
                        status_zh=status.zh, reason="demo failed")


def test_waiver_states(tmp_path: Path, key: Path) -> None:
    recs = [waiver(id="W-ok", risk="high"),
            waiver(id="W-old", valid_from=dt.date(2025, 1, 1), valid_until=dt.date(2026, 5, 31)),
            waiver(id="W-new", valid_from=dt.date(2026, 7, 1)),
            {**signed(waiver(id="W-bad"), key), "justification": "edited after approval"},
            signed(waiver(id="W-signed"), key)]
    path = write_yaml(tmp_path / "w.yaml", {"waivers": recs})
    led = load_ledger(None, path, today=TODAY)
    assert {c.id: c.state for c in led.waivers} == {
        "W-ok": "active", "W-old": "expired", "W-new": "not-yet-valid", "W-bad": "bad-signature",
        "W-signed": "active"}
    assert led.waivers[0].record.risk.value == "high"  # type: ignore[union-attr]


def test_waived_failure_stays_a_failure(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "w.yaml", {"waivers": [waiver()]})
    led = load_ledger(None, path, today=TODAY)
    results, applied, warnings = apply_ledger(
        [result(Status.FAIL), result(Status.PARTIAL), result(Status.PASS), result(Status.ERROR),
         result(Status.NOT_CHECKED), result(Status.FAIL, control="P-OTHER")], led)
    assert [r.status for r in results] == [Status.FAIL, Status.PARTIAL, Status.PASS, Status.ERROR,
                                           Status.NOT_CHECKED, Status.FAIL]
    assert [r.waiver.id if r.waiver else None for r in results] == ["W-1", "W-1", None, None, None, None]
    assert results[0].waiver is not None and results[0].waiver.approver == "王五 (院长, 示例医院)"
    assert results[0].waiver.risk == "medium" and results[0].waiver.valid_until == "2099-12-31"
    assert applied == {"W-1": 2} and warnings == []
    rec = led.waiver_records(applied)[0]
    assert (rec.state, rec.applied_to, rec.reason) == ("active", 2, "未签名 / unsigned")


def test_expired_waiver_stops_applying_with_a_warning(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "w.yaml", {"waivers": [waiver(valid_until=dt.date(2026, 5, 31))]})
    led = load_ledger(None, path, today=TODAY)
    results, applied, warnings = apply_ledger([result(Status.FAIL)], led)
    assert results[0].waiver is None and results[0].status is Status.FAIL and applied == {}
    assert any("expired on 2026-05-31" in w and "P-DEMO@site" in w for w in warnings)
    assert any("W-1" in w and "no longer applies" in w for w in led.warnings())


def test_specific_waiver_preferred_over_wildcard(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "w.yaml", {"waivers": [
        waiver(id="W-all", valid_until=dt.date(2099, 12, 31)),
        waiver(id="W-site", objects=["site"], valid_until=dt.date(2027, 1, 1))]})
    led = load_ledger(None, path, today=TODAY)
    results, _, _ = apply_ledger([result(Status.FAIL)], led)
    assert results[0].waiver is not None and results[0].waiver.id == "W-site"


def test_attestation_records_for_the_results_model(tmp_path: Path, key: Path) -> None:
    f = attach(tmp_path, "plan.pdf", b"plan")
    path = write_yaml(tmp_path / "a.yaml", {"attestations": [signed(attestation(files=[f]), key)]})
    rec = load_ledger(path, None, today=TODAY).attestation_records()[0]
    assert (rec.id, rec.state, rec.claimed, rec.attester, rec.role) == (
        "ATT-1", "valid", Status.PASS, "张三", "信息科科长")
    assert rec.files[0].path == "plan.pdf" and rec.files[0].kind == "plan"
    assert rec.signer_key.startswith("ed25519:")
