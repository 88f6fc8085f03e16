"""Load the ledger, verify every record, and answer "what covers this control on this object".

Verification happens once per run, before any probe runs, and its outcome is a *state* per
record, never an exception: a tampered file or a bad signature is a finding the report must
show (检查错误 naming the file), not a crash. Only a ledger that cannot be read at all (YAML
or format errors, duplicate ids) raises :class:`ConfigError`, naming file, line and field.

Attestation states, in the order they are decided (integrity first, so an expired record
whose file was also edited reports the edit):

``bad-signature`` > ``untrusted-key`` > ``file-missing`` > ``file-changed`` > ``unsigned`` >
``not-yet-valid`` > ``expired`` > ``valid``.

Waiver states: ``bad-signature``, ``untrusted-key``, ``not-yet-valid``, ``expired``, ``active``.
Only ``active`` waivers apply; an unsigned waiver applies (its approver is named) and the
record says it is unsigned.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from ihconform.errors import ConfigError, Location
from ihconform.ledger.migration import migration_note, replaced_by
from ihconform.ledger.model import (
    Attestation,
    AttestationFile,
    KeyringFile,
    Person,
    Signature,
    TrustedKey,
    Waiver,
    WaiverFile,
)
from ihconform.ledger.signing import SignatureError, canonical_bytes, fingerprint, verify
from ihconform.results import AttestationRecord, EvidenceRef, Status, WaiverRecord, WaiverRef
from ihconform.yamlio import load_yaml, validate

M = TypeVar("M", bound=BaseModel)

#: States in which an attestation gives its claimed result.
VALID = "valid"
#: States that mean the evidence cannot be trusted: the judge reports 检查错误.
INTEGRITY_ERRORS = ("bad-signature", "untrusted-key", "file-missing", "file-changed")
ACTIVE = "active"


def payload(record: BaseModel) -> dict[str, Any]:
    """The signed content of a record: everything but the signature, defaults left out."""
    data: dict[str, Any] = record.model_dump(mode="json", exclude={"signature"}, exclude_defaults=True)
    return data


def record_kind(record: BaseModel) -> str:
    return "waiver" if isinstance(record, Waiver) else "attestation"


def signed_message(record: Attestation | Waiver) -> bytes:
    return canonical_bytes(record_kind(record), payload(record))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resolve_attached(base: Path, rel: str) -> Path:
    p = Path(rel).expanduser()
    return p if p.is_absolute() else base / p


@dataclass(frozen=True)
class Checked:
    """One ledger record with the outcome of verifying it at run time."""

    record: Attestation | Waiver
    source: Path  # the ledger file it came from
    line: int
    state: str
    reason: str = ""
    signer_key: str = ""

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


@dataclass
class Ledger:
    """The verified ledger of one run."""

    attestations: tuple[Checked, ...] = ()
    waivers: tuple[Checked, ...] = ()
    keyring: tuple[TrustedKey, ...] = ()
    today: _dt.date = field(default_factory=_dt.date.today)
    attestations_path: Path | None = None
    waivers_path: Path | None = None
    #: attestation id -> evidence files written into the run folder (record, copied documents)
    refs: dict[str, list[EvidenceRef]] = field(default_factory=dict)
    #: "control@object" -> ids of the attestations a probe judged from (ObjectResult.attestation)
    used: dict[str, list[str]] = field(default_factory=dict)
    #: records that name a control or object this run does not know (typos judge nothing)
    notes: list[str] = field(default_factory=list)
    #: control id -> former ids (``legacy_ids``) whose records apply to it until replaced
    #: (ledger/migration.py); set by check_refs from the run's catalog
    former: dict[str, tuple[str, ...]] = field(default_factory=dict)

    # ---- lookups --------------------------------------------------------------------------

    def attestations_for(self, control_id: str, object_id: str) -> list[Checked]:
        return self._covering(self.attestations, control_id, object_id)

    def waivers_for(self, control_id: str, object_id: str) -> list[Checked]:
        return self._covering(self.waivers, control_id, object_id)

    def _covering(self, records: tuple[Checked, ...], control_id: str, object_id: str) -> list[Checked]:
        """Records on the control itself; failing those, records on a former id it replaced
        (an attestation on the old 控制点 applies to its items until an item is attested)."""
        own = [c for c in records if c.record.covers(control_id, object_id)]
        if own:
            return own
        return [c for c in records for old in self.former.get(control_id, ())
                if c.record.covers(old, object_id)]

    def active_waiver(self, control_id: str, object_id: str) -> Checked | None:
        """The waiver that applies: active, naming the object explicitly before ``*``, then
        the one valid longest (so the report shows the latest date the risk is accepted to)."""
        active = [c for c in self.waivers_for(control_id, object_id) if c.state == ACTIVE]
        if not active:
            return None
        return max(active, key=lambda c: (object_id in c.record.objects, _until(c.record), c.id))

    def mark_used(self, key: str, ids: Iterable[str]) -> None:
        self.used.setdefault(key, [])
        for i in ids:
            if i not in self.used[key]:
                self.used[key].append(i)

    def check_refs(self, control_ids: set[str], object_ids: set[str],
                   legacy: Mapping[str, tuple[str, ...]] | None = None) -> None:
        """Note records whose control or objects are not in this run's profile and inventory: a
        misspelt id would otherwise leave the record unused without a word. ``legacy`` (former
        id -> the controls replacing it, ``migration.legacy_map``) lets records on a former id
        apply to its successors, with a note naming them."""
        legacy = {old: tuple(n for n in new if n in control_ids) for old, new in (legacy or {}).items()}
        legacy = {old: new for old, new in legacy.items() if new}
        self.former = replaced_by(legacy)
        for c in (*self.attestations, *self.waivers):
            kind = "证明材料 / attestation" if isinstance(c.record, Attestation) else "豁免 / waiver"
            if c.record.control not in control_ids and c.record.control in legacy:
                zh, en = kind.split(" / ")
                self.notes.append(migration_note(zh, en, c.id, c.where, c.record.control,
                                                 legacy[c.record.control]))
            elif c.record.control not in control_ids:
                self.notes.append(f"{kind} {c.id} ({c.where}): 控制项 {c.record.control} 不在本次配置中 / "
                                  f"control {c.record.control} is not in this run's profile")
            unknown = [o for o in c.record.objects if o != "*" and o not in object_ids]
            if unknown:
                self.notes.append(f"{kind} {c.id} ({c.where}): 清单中没有对象 / no such object in the "
                                  f"inventory: {', '.join(unknown)}")

    def warnings(self) -> list[str]:
        """Lines for RunResult.warnings and the terminal: everything that stopped applying or
        cannot be trusted. Bilingual, Chinese first."""
        out: list[str] = list(self.notes)
        if not self.keyring and any(c.record.signature for c in (*self.attestations, *self.waivers)):
            out.append("未配置可信公钥清单（evidence.keyring），签名只证明记录未被改动，不证明签名人身份 / "
                       "no keyring configured (evidence.keyring): signatures prove integrity, not who signed")
        for c in self.attestations:
            if c.state != VALID:
                out.append(f"证明材料 {c.id}（{c.record.control}）/ attestation {c.id} ({c.record.control}): "
                           f"{c.state}: {c.reason}")
        for c in self.waivers:
            if c.state == "expired":
                out.append(f"豁免 {c.id}（{c.record.control}）已于 {_until(c.record)} 过期，不再适用 / "
                           f"waiver {c.id} for {c.record.control} expired on {_until(c.record)} "
                           "and no longer applies")
            elif c.state != ACTIVE:
                out.append(f"豁免 {c.id}（{c.record.control}）不适用 / waiver {c.id} for {c.record.control} "
                           f"does not apply: {c.state}: {c.reason}")
        return out

    # ---- results model --------------------------------------------------------------------

    def attestation_records(self) -> tuple[AttestationRecord, ...]:
        out = []
        for c in self.attestations:
            a = c.record
            assert isinstance(a, Attestation)
            out.append(AttestationRecord(
                id=a.id, control_id=a.control, objects=a.objects, statement=a.statement,
                attester=a.attester.name, role=a.attester.role, organisation=a.attester.organisation,
                date=a.date.isoformat(), valid_until=a.valid_until.isoformat(), claimed=a.result.status,
                state=c.state, reason=c.reason,
                files=tuple(EvidenceRef(path=f.path, sha256=f.sha256, kind=f.type) for f in a.files),
                signer_key=c.signer_key))
        return tuple(out)

    def waiver_records(self, applied: dict[str, int]) -> tuple[WaiverRecord, ...]:
        out = []
        for c in self.waivers:
            w = c.record
            assert isinstance(w, Waiver)
            out.append(WaiverRecord(
                id=w.id, control_id=w.control, objects=w.objects, justification=w.justification,
                compensating_control=w.compensating_control, risk=w.risk.value, approver=w.approver.label(),
                valid_from=w.valid_from.isoformat(), valid_until=w.valid_until.isoformat(), state=c.state,
                applied_to=applied.get(w.id, 0), reason=c.reason, signer_key=c.signer_key))
        return tuple(out)


def waiver_ref(c: Checked) -> WaiverRef:
    w = c.record
    assert isinstance(w, Waiver)
    return WaiverRef(id=w.id, approver=w.approver.label(), valid_until=w.valid_until.isoformat(),
                     justification=w.justification, compensating_control=w.compensating_control,
                     risk=w.risk.value)


def _until(record: Attestation | Waiver) -> _dt.date:
    return record.valid_until


# ---- loading ------------------------------------------------------------------------------


def _files_of(path: Path) -> list[Path]:
    """A ledger is a YAML file, or a folder of them (one record per file merges cleanly in git)."""
    if path.is_dir():
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        return files
    return [path]


def _load_many(path: Path, model: type[M], section: str) -> list[tuple[Any, Path, int]]:
    """Every record of ``section`` in the file or folder, with where it was written."""
    out: list[tuple[Any, Path, int]] = []
    for f in _files_of(path):
        doc = load_yaml(f)
        if not isinstance(doc.data, dict):
            raise ConfigError(f"a ledger file is a mapping with a {section!r} list", Location(f, 1, 1))
        parsed = validate(doc, model)
        for i, rec in enumerate(getattr(parsed, section)):
            loc = doc.location((section, i))
            out.append((rec, f, loc.line))
    seen: dict[str, str] = {}
    for rec, f, line in out:
        if rec.id in seen:
            raise ConfigError(f"duplicate id {rec.id!r} (first at {seen[rec.id]})", Location(f, line, 1),
                              field="id")
        seen[rec.id] = f"{f}:{line}"
    return out


def load_keyring(path: Path | None) -> tuple[TrustedKey, ...]:
    if path is None:
        return ()
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise ConfigError("a keyring file is a mapping with a 'keys' list", Location(path, 1, 1))
    return validate(doc, KeyringFile).keys


def _check_signature(record: Attestation | Waiver, signer: Person | None,
                     keyring: tuple[TrustedKey, ...]) -> tuple[str, str, str]:
    """(state, reason, signer fingerprint); state "" when the signature is good and trusted."""
    sig: Signature | None = record.signature
    if sig is None:
        return "unsigned", "记录未签名 / the record is not signed (ihconform attest sign)", ""
    fp = fingerprint(sig.algorithm, sig.public_key)
    try:
        ok = verify(sig.algorithm, sig.public_key, sig.value, signed_message(record))
    except SignatureError as exc:
        return "bad-signature", f"签名无法验证 / signature cannot be verified: {exc}", fp
    if not ok:
        return ("bad-signature", "签名验证失败：记录在签名后被修改，或签名无效 / signature does not verify: "
                "the record was changed after signing, or the signature is not valid", fp)
    if keyring:
        match = [k for k in keyring if k.algorithm == sig.algorithm and k.public_key == sig.public_key]
        if not match:
            return "untrusted-key", f"签名密钥 {fp} 不在可信公钥清单中 / key {fp} is not in the keyring", fp
        if signer is not None and not any(k.owner.name == signer.name for k in match):
            owners = ", ".join(k.owner.name for k in match)
            return ("untrusted-key", f"密钥 {fp} 属于 {owners}，而非 {signer.name} / key {fp} belongs to "
                    f"{owners}, not to {signer.name}", fp)
    return "", "", fp


def check_attestation(a: Attestation, base: Path, today: _dt.date,
                      keyring: tuple[TrustedKey, ...]) -> tuple[str, str, str]:
    """Verify one attestation; returns (state, reason, signer fingerprint)."""
    state, reason, fp = _check_signature(a, a.attester, keyring)
    if state in ("bad-signature", "untrusted-key"):
        return state, reason, fp
    for f in a.files:
        full = resolve_attached(base, f.path)
        if not full.is_file():
            return "file-missing", f"附件缺失 / attached file missing: {f.path} ({full})", fp
        try:
            actual = sha256_file(full)
        except OSError as exc:
            return "file-missing", f"附件无法读取 / attached file unreadable: {f.path}: {exc.strerror}", fp
        if actual != f.sha256:
            return ("file-changed", f"附件已被修改 / attached file changed: {f.path} "
                    f"(sha256 {actual[:16]}…, recorded {f.sha256[:16]}…)", fp)
    if state == "unsigned":
        return state, reason, fp
    if today < a.date:
        return "not-yet-valid", f"证明日期 {a.date} 晚于今天 / dated {a.date}, after today", fp
    if today > a.valid_until:
        return "expired", f"已于 {a.valid_until} 过期 / expired on {a.valid_until}", fp
    return VALID, "", fp


def check_waiver(w: Waiver, today: _dt.date, keyring: tuple[TrustedKey, ...]) -> tuple[str, str, str]:
    state, reason, fp = _check_signature(w, w.approver, keyring)
    if state in ("bad-signature", "untrusted-key"):
        return state, reason, fp
    note = "未签名 / unsigned" if state == "unsigned" else ""
    if today < w.valid_from:
        return "not-yet-valid", f"自 {w.valid_from} 起生效 / valid from {w.valid_from}", fp
    if today > w.valid_until:
        return "expired", f"已于 {w.valid_until} 过期 / expired on {w.valid_until}", fp
    return ACTIVE, note, fp


def load_ledger(attestations: Path | None, waivers: Path | None, keyring: Path | None = None,
                today: _dt.date | None = None) -> Ledger:
    """Load and verify the ledger files the inventory names. Raises ConfigError only for a
    ledger that cannot be read; every verification outcome is a record state."""
    day = today or _dt.date.today()
    keys = load_keyring(keyring)
    checked_a: list[Checked] = []
    if attestations is not None:
        for rec, f, line in _load_many(attestations, AttestationFile, "attestations"):
            state, reason, fp = check_attestation(rec, f.parent, day, keys)
            checked_a.append(Checked(rec, f, line, state, reason, fp))
    checked_w: list[Checked] = []
    if waivers is not None:
        for rec, f, line in _load_many(waivers, WaiverFile, "waivers"):
            state, reason, fp = check_waiver(rec, day, keys)
            checked_w.append(Checked(rec, f, line, state, reason, fp))
    return Ledger(attestations=tuple(checked_a), waivers=tuple(checked_w), keyring=keys, today=day,
                  attestations_path=attestations, waivers_path=waivers)


def claimed_status(c: Checked) -> Status:
    a = c.record
    assert isinstance(a, Attestation)
    return a.result.status


def write_evidence(ledger: Ledger, sink: Any) -> None:
    """Copy the ledger into the run folder, so the run is self-contained and can be re-verified
    offline: each attestation's signed record (``record.json``, exactly the fields the
    signature covers plus the signature) and the attached files that still match their
    digest; the waivers; the keyring. Refs go to ``ledger.refs[attestation id]``."""
    for c in ledger.attestations:
        a = c.record
        assert isinstance(a, Attestation)
        refs = [sink.write(("ledger", "attestations", a.id, "record.json"),
                           {"record": a.model_dump(mode="json"),
                            "signed_payload": payload(a), "state": c.state, "reason": c.reason,
                            "signer_key": c.signer_key, "source": c.where}, kind="attestation")]
        if c.state not in ("file-missing", "file-changed"):
            for i, f in enumerate(a.files):
                full = resolve_attached(c.source.parent, f.path)
                try:
                    blob = full.read_bytes()
                except OSError:
                    continue
                if hashlib.sha256(blob).hexdigest() != f.sha256:
                    continue  # changed since verification: never copy an unverified file
                refs.append(sink.write(("ledger", "attestations", a.id, f"{i + 1}-{full.name}"), blob,
                                       kind=f"attestation-file:{f.type}"))
        ledger.refs[a.id] = refs
    if ledger.waivers:
        sink.write(("ledger", "waivers.json"),
                   [{"record": c.record.model_dump(mode="json"), "state": c.state,
                     "reason": c.reason, "signer_key": c.signer_key, "source": c.where}
                    for c in ledger.waivers], kind="waiver")
    if ledger.keyring:
        sink.write(("ledger", "keyring.json"), [k.model_dump(mode="json") for k in ledger.keyring],
                   kind="keyring")


WAIVABLE = (Status.FAIL, Status.PARTIAL)


def apply_ledger(results: list[Any], ledger: Ledger) -> tuple[list[Any], dict[str, int], list[str]]:
    """Mark failing results covered by an active waiver, and name the attestations judges used.

    The status is never changed: a waived 不符合 stays 不符合 with ``waiver`` set, and scoring
    counts it as accepted risk. Only 不符合 and 部分符合 can be waived; a result that could not
    be checked (未检查, 检查错误) is not a known risk, so a waiver does not cover it. A failure
    that only an expired waiver covers stays unwaived and is named in a warning.

    Returns the new results, how many results each waiver covered, and warnings.
    """
    out = []
    applied: dict[str, int] = {}
    warnings: list[str] = []
    for r in results:
        update: dict[str, Any] = {}
        used = ledger.used.get(f"{r.control_id}@{r.object_id}")
        if used:
            update["attestation"] = ",".join(used)
        if r.status in WAIVABLE:
            w = ledger.active_waiver(r.control_id, r.object_id)
            if w is not None:
                update["waiver"] = waiver_ref(w)
                applied[w.id] = applied.get(w.id, 0) + 1
            else:
                for old in ledger.waivers_for(r.control_id, r.object_id):
                    if old.state == "expired":
                        warnings.append(f"{r.control_id}@{r.object_id}: 豁免 {old.id} 已于 {old.record.valid_until} "
                                        f"过期，该不符合项不再豁免 / waiver {old.id} expired on "
                                        f"{old.record.valid_until}; this failure is no longer waived")
        out.append(r.model_copy(update=update) if update else r)
    return out, applied, warnings
