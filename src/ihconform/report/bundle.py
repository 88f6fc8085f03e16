"""The signed evidence bundle: one zip a regulator can verify offline.

Layout (docs/report.md): ``manifest.json`` (size, SHA-256 and SM3 of every other file), then
``manifest.sig`` (a detached signature over the exact bytes of manifest.json), then every file
of the run folder in sorted order — results.json, junit.xml, the reports and ``evidence/...``.

The archive is *canonical*: stored (not compressed), fixed timestamps and attributes, that fixed
order. Verification therefore rebuilds the archive from its own members and compares it byte for
byte with the file, so a flipped byte anywhere — in a member, a header, the central directory or
padding — fails, and the digests name the member when the change is inside one. Compression was
given up for this: deflate output differs between zlib versions, so a compressed archive could
not be rebuilt identically on the verifier's machine. Evidence is text and compresses well in
transit (the upload uses HTTPS, and the zip can be gzip'd for mail) if size matters.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
import struct
import sys
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ihconform.errors import ConfigError, IhconformError, Location
from ihconform.report.digests import digests_of, file_digests
from ihconform.report.signing import SigningKey, TrustedKey, fingerprint, load_key, same_key, verify_record
from ihconform.results import RunResult

#: Environment of a run: who tests (printed on the cover) and the key that signs the bundle.
ENV_TESTER = "IHC_TESTER"
ENV_SIGNING_KEY = "IHC_SIGNING_KEY"

FORMAT = "ihconform-evidence-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
_EPOCH = (1980, 1, 1, 0, 0, 0)
#: Files of a run folder that never go into a bundle (editor and OS litter, upload records).
_SKIP_SUFFIXES = (".partial", ".upload.json", "~")
_SKIP_NAMES = {".DS_Store", "Thumbs.db"}
#: What zipfile raises on damaged input (found by flipping every byte of a bundle in the tests).
_ZIP_ERRORS = (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, ValueError, EOFError,
               zlib.error, struct.error, UnicodeDecodeError)


def _zipinfo(name: str) -> zipfile.ZipInfo:
    zi = zipfile.ZipInfo(name, date_time=_EPOCH)
    zi.compress_type = zipfile.ZIP_STORED
    zi.create_system = 3
    zi.external_attr = 0o100644 << 16
    return zi


def _canonical(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, data in members:
            zf.writestr(_zipinfo(name), data)
    return buf.getvalue()


def run_files(folder: Path) -> list[Path]:
    """The files of a run folder that a bundle carries, as paths relative to the folder."""
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for fn in sorted(filenames):
            p = Path(dirpath) / fn
            rel = p.relative_to(folder)
            if fn in _SKIP_NAMES or fn.endswith(_SKIP_SUFFIXES) or rel.as_posix() in (MANIFEST, SIGNATURE):
                continue
            if p.is_symlink():
                raise ConfigError("run folder contains a symbolic link; a bundle carries files only", Location(p))
            out.append(rel)
    return sorted(out, key=lambda r: r.as_posix())


def build_manifest(folder: Path, files: list[Path], result: RunResult, *, tester: str = "",
                   created: str | None = None) -> dict[str, Any]:
    entries = []
    for rel in files:
        sha, sm3, size = file_digests(folder / rel)
        entries.append({"path": rel.as_posix(), "size": size, "sha256": sha, "sm3": sm3})
    s = result.summary
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "created": created or _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "tool": result.tool,
        "tester": tester,
        "run": {"id": result.run.id, "profile": result.run.profile, "profile_version": result.run.profile_version,
                "started": result.run.started, "finished": result.run.finished,
                "institution": result.institution.get("name", ""),
                "credit_code": result.institution.get("credit_code", ""),
                "system": result.system.get("name", ""),
                "status": s.status.value, "score": s.score.value if s.score else None,
                "grade": s.score.grade if s.score else None,
                "partial": result.run.partial, "only": list(result.run.selection.only or result.run.only)},
        "files": entries,
    }


def refuse_partial(result: RunResult, where: Path, what: str) -> None:
    """A 专项检查 (``--only``) is not the annual test: refuse to bundle or upload it unless the
    tester says ``--allow-partial``, so a partial run is never filed as the whole."""
    if result.run.partial:
        sel = ", ".join(result.run.selection.only or result.run.only)
        n, total = result.run.selection.controls or len(result.controls), result.run.selection.profile_controls
        raise ConfigError(f"专项检查（--only {sel}，{n}/{total or '?'} 个控制项），不{what}；确需{what}请加 "
                          f"--allow-partial / partial run (--only {sel}): not a full test; pass --allow-partial "
                          f"to {'bundle' if what == '打包' else 'upload'} it anyway", Location(where))


def make_bundle(folder: Path, out: Path, key: SigningKey, *, tester: str = "", created: str | None = None,
                allow_partial: bool = False) -> Path:
    """Write the signed bundle of a finished run folder to ``out`` (never overwriting)."""
    results = folder / "results.json"
    if not results.is_file():
        raise ConfigError("not a run folder: results.json missing", Location(folder))
    if out.exists():
        raise ConfigError("bundle file exists; it is never overwritten", Location(out))
    result = load_result_bytes(results.read_bytes(), str(results))
    if not allow_partial:
        refuse_partial(result, folder, "打包")
    files = run_files(folder)
    manifest = build_manifest(folder, files, result, tester=tester, created=created)
    mbytes = (json.dumps(manifest, ensure_ascii=False, indent=1) + "\n").encode()
    sig = (json.dumps(key.signature_record(mbytes, MANIFEST), indent=1) + "\n").encode()
    members = [(MANIFEST, mbytes), (SIGNATURE, sig)] + [(r.as_posix(), (folder / r).read_bytes()) for r in files]
    tmp = out.with_name(out.name + ".partial")
    tmp.write_bytes(_canonical(members))
    os.replace(tmp, out)
    return out


def bundle_digest(path: Path) -> str:
    """SHA-256 of the whole bundle file: its identity, and the upload's idempotency key."""
    with path.open("rb") as f:
        return digests_of(iter(lambda: f.read(1 << 20), b""))[0]


@dataclass
class Verification:
    """What verify found. ``problems`` empty and ``signature_ok`` means the bundle is intact."""

    path: Path
    problems: list[str] = field(default_factory=list)
    signature_ok: bool = False
    algorithm: str = ""
    key_fingerprint: str = ""
    key_pinned: bool = False
    signer: str = ""
    files: int = 0
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems and self.signature_ok


def _member_at(offset: int, infos: list[zipfile.ZipInfo], members: list[tuple[str, bytes]]) -> str:
    """Which part of the archive holds ``offset``: a member's header or data, or the directory."""
    for zi, (name, data) in zip(infos, members, strict=True):
        start = zi.header_offset
        data_start = start + 30 + len(zi.filename.encode()) + len(zi.extra)
        if start <= offset < data_start:
            return f"the local header of {name!r}"
        if data_start <= offset < data_start + len(data):
            return f"the data of {name!r}"
    return "the zip central directory or end record"


def verify_bundle(path: Path, *, trusted: list[TrustedKey] | None = None) -> Verification:
    """Check every digest, the file list, the signature and the archive's canonical form."""
    v = Verification(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read bundle: {exc.strerror}", Location(path)) from exc
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
        infos = zf.infolist()
    except _ZIP_ERRORS as exc:
        v.problems.append(f"not a readable zip archive: {exc}")
        return v
    members: list[tuple[str, bytes]] = []
    for zi in infos:
        try:
            members.append((zi.filename, zf.read(zi)))
        except _ZIP_ERRORS as exc:  # a flipped flag bit reads as "encrypted" or an unknown method
            v.problems.append(f"{zi.filename}: cannot be read intact ({type(exc).__name__}: {exc})")
            members.append((zi.filename, b""))
    names = [n for n, _ in members]
    data = dict(members)
    if len(set(names)) != len(names):
        v.problems.append("the archive holds the same name twice")
    if MANIFEST not in data:
        v.problems.append(f"{MANIFEST} missing")
        return v
    try:
        manifest = json.loads(data[MANIFEST])
        listed = {e["path"]: e for e in manifest["files"]}
        if manifest.get("format") != FORMAT:
            v.problems.append(f"{MANIFEST}: not an {FORMAT} manifest")
    except (ValueError, KeyError, TypeError) as exc:
        v.problems.append(f"{MANIFEST}: malformed ({exc})")
        return v
    v.manifest = manifest
    v.files = len(listed)
    for name in sorted(listed):
        e = listed[name]
        if name not in data:
            v.problems.append(f"{name}: listed in the manifest but missing from the bundle")
            continue
        sha = hashlib.sha256(data[name]).hexdigest()
        _, sm3, size = digests_of([data[name]])
        bad = [k for k, got in (("sha256", sha), ("sm3", sm3), ("size", size)) if e.get(k) != got]
        if bad:
            v.problems.append(f"{name}: content changed ({', '.join(bad)} differ from the manifest)")
    for name in names:
        if name not in listed and name not in (MANIFEST, SIGNATURE):
            v.problems.append(f"{name}: in the bundle but not in the manifest (extra file)")
    if SIGNATURE not in data:
        v.problems.append(f"{SIGNATURE} missing: the bundle is unsigned")
    else:
        try:
            record = json.loads(data[SIGNATURE])
        except ValueError as exc:
            v.problems.append(f"{SIGNATURE}: malformed ({exc})")
            record = {}
        ok, why = verify_record(record, data[MANIFEST]) if record else (False, "no signature record")
        v.algorithm = str(record.get("algorithm", ""))
        v.key_fingerprint = fingerprint(v.algorithm, str(record.get("public_key", ""))) if record else ""
        if not ok:
            v.problems.append(f"{SIGNATURE}: {why}")
        elif trusted is not None:
            match = [k for k in trusted if same_key(k, v.algorithm, str(record["public_key"]))]
            if not match:
                v.problems.append(f"{SIGNATURE}: signed by key {v.key_fingerprint}, which is not a trusted key")
                ok = False
            else:
                v.key_pinned = True
                v.signer = match[0].owner
        v.signature_ok = ok
    expected_order = [MANIFEST, SIGNATURE, *sorted(n for n in names if n not in (MANIFEST, SIGNATURE))]
    if names != expected_order:
        v.problems.append("archive members are not in canonical order")
    elif not v.problems:
        canon = _canonical(members)
        if canon != raw:
            at = next((i for i, (a, b) in enumerate(zip(canon, raw, strict=False)) if a != b),
                      min(len(canon), len(raw)))
            v.problems.append(f"archive bytes differ from the canonical form at offset {at} "
                              f"(in {_member_at(at, infos, members)}): the archive was altered")
    return v


def read_member(path: Path, name: str) -> bytes:
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.read(name)
    except KeyError as exc:
        raise ConfigError(f"bundle has no {name}", Location(path)) from exc
    except (zipfile.BadZipFile, OSError) as exc:
        raise ConfigError(f"cannot read bundle: {exc}", Location(path)) from exc


def load_result_bytes(data: bytes, where: str) -> RunResult:
    try:
        return RunResult.model_validate_json(data)
    except ValueError as exc:
        raise ConfigError(f"not an ihconform results.json: {str(exc).splitlines()[0]}", Location(Path(where))) from exc


def load_run(path: Path) -> RunResult:
    """A run's results from a bundle (.zip), a run folder, or a results.json file."""
    if path.is_dir():
        path = path / "results.json"
    if not path.exists():
        raise ConfigError("no such bundle, run folder or results.json", Location(path))
    if zipfile.is_zipfile(path):
        return load_result_bytes(read_member(path, "results.json"), f"{path}!results.json")
    return load_result_bytes(path.read_bytes(), str(path))


def bundle_after_run(final: Path) -> Path | None:
    """With ``IHC_SIGNING_KEY`` set, sign the finished run folder into ``<folder>.bundle.zip``.

    Called by the run (``ihconform.run.folder``) after the folder is in place. A bundle that
    cannot be made (missing or wrong key) does not undo the run: the reason is printed, and
    ``ihconform bundle`` makes it later.
    """
    key_path = os.environ.get(ENV_SIGNING_KEY, "")
    if not key_path:
        return None
    out = final.with_name(final.name + ".bundle.zip")
    try:
        make_bundle(final, out, load_key(Path(key_path)), tester=os.environ.get(ENV_TESTER, ""))
    except (IhconformError, OSError) as exc:
        sys.stderr.write(f"ihconform: 警告 / warning: evidence bundle not made: {exc}; "
                         f"run `ihconform bundle {final} --key KEY`\n")
        return None
    sys.stderr.write(f"证据包 / bundle: {out}\n")
    return out
