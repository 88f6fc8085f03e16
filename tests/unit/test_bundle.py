"""The signed evidence bundle: SM3 against GB/T 32905, manifest digests, Ed25519 and SM2
signatures, and verify catching a flipped byte anywhere, a missing or extra file, a bad or
untrusted signature — naming the file when the change is inside one."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ihconform.report import digests
from ihconform.report.bundle import MANIFEST, SIGNATURE, _canonical, make_bundle, verify_bundle
from ihconform.report.signing import generate_key, load_key, load_trusted

from .test_report_render import rich_result

# GB/T 32905-2016 Appendix A
SM3_VECTORS = [
    (b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
    (b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
]


@pytest.mark.parametrize(("data", "want"), SM3_VECTORS)
def test_sm3_matches_the_standard(data: bytes, want: str):
    pure = digests.PureSM3()
    pure.update(data)
    assert pure.hexdigest() == want
    assert digests.sm3_hex(data) == want


def test_pure_sm3_streams_like_one_shot():
    data = bytes(range(256)) * 9
    a = digests.PureSM3()
    for i in range(0, len(data), 37):
        a.update(data[i:i + 37])
    assert a.hexdigest() == digests.sm3_hex(data)


def make_run(folder: Path) -> Path:
    run = folder / "20261101-r2026"
    (run / "evidence" / "hosts" / "app01").mkdir(parents=True)
    (run / "results.json").write_text(rich_result().model_dump_json(indent=1), encoding="utf-8")
    (run / "junit.xml").write_text("<testsuite/>\n", encoding="utf-8")
    (run / "report.html").write_text("<html>报告</html>\n", encoding="utf-8")
    (run / "evidence" / "hosts" / "app01" / "transcript.json").write_text('{"cmd": "uname -a"}\n')
    (run / "evidence" / "hosts" / "app01" / "facts.txt").write_bytes(b"### os\nLinux app01\n")
    return run


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, Path, Path]:
    run = make_run(tmp_path)
    key = tmp_path / "tester.key"
    (tmp_path / "tester.pub").write_text(generate_key(key, "ed25519"))
    out = tmp_path / "bundle.zip"
    make_bundle(run, out, load_key(key), tester="重庆某测评中心")
    return out, key, tmp_path / "tester.pub"


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def test_bundle_carries_everything_with_both_digests(signed):
    out, _, pub = signed
    m = members(out)
    assert list(m)[:2] == [MANIFEST, SIGNATURE]
    manifest = json.loads(m[MANIFEST])
    listed = {e["path"]: e for e in manifest["files"]}
    assert set(listed) == {"results.json", "junit.xml", "report.html", "evidence/hosts/app01/transcript.json",
                           "evidence/hosts/app01/facts.txt"}
    for name, e in listed.items():
        assert e["sm3"] == digests.sm3_hex(m[name]) and len(e["sha256"]) == 64 and e["size"] == len(m[name])
    assert manifest["tester"] == "重庆某测评中心" and manifest["run"]["credit_code"] == "12500000MB0000000X"
    sig = json.loads(m[SIGNATURE])
    assert sig["algorithm"] == "ed25519" and "PRIVATE" not in m[SIGNATURE].decode()
    v = verify_bundle(out, trusted=load_trusted(pub))
    assert v.ok and v.key_pinned and v.files == 5, v.problems


def test_a_flipped_byte_anywhere_fails(signed):
    """Every byte of every header, of the manifest, of the signature and of the central
    directory, and every 7th byte of the other members' data."""
    out, _, _ = signed
    raw = out.read_bytes()
    with zipfile.ZipFile(out) as zf:
        infos = zf.infolist()
        dense = set(range(zf.start_dir, len(raw)))  # central directory and end record
    for zi in infos:
        start = zi.header_offset
        data_start = start + 30 + len(zi.filename.encode()) + len(zi.extra)
        end = data_start + zi.compress_size
        dense |= set(range(start, end if zi.filename in (MANIFEST, SIGNATURE) else data_start))
    positions = sorted(dense | set(range(0, len(raw), 7)))
    missed = []
    bad = out.with_name("bad.zip")
    for i in positions:
        b = bytearray(raw)
        b[i] ^= 0x01
        bad.write_bytes(bytes(b))
        if verify_bundle(bad).ok:
            missed.append(i)
    assert missed == [], f"{len(missed)} of {len(positions)} flipped bytes went unnoticed, first at {missed[:5]}"


def test_a_changed_evidence_file_is_named(signed):
    out, _, _ = signed
    m = members(out)
    name = "evidence/hosts/app01/facts.txt"
    raw = out.read_bytes()
    at = raw.index(m[name]) + 3
    bad = bytearray(raw)
    bad[at] ^= 0x20
    out.write_bytes(bytes(bad))
    problems = verify_bundle(out).problems
    assert any(p.startswith(name) for p in problems), problems


def _rezip(path: Path, m: dict[str, bytes]) -> None:
    path.write_bytes(_canonical(list(m.items())))


def test_missing_and_extra_files_fail(signed):
    out, _, _ = signed
    m = members(out)
    del m["junit.xml"]
    _rezip(out, m)
    assert any("junit.xml: listed in the manifest but missing" in p for p in verify_bundle(out).problems)
    m["junit.xml"] = b"<testsuite/>\n"
    m["evidence/zz-extra.txt"] = b"planted"
    _rezip(out, dict(sorted(m.items(), key=lambda kv: (kv[0] not in (MANIFEST, SIGNATURE), kv[0]))))
    assert any("evidence/zz-extra.txt: in the bundle but not in the manifest" in p
               for p in verify_bundle(out).problems)


def test_edited_manifest_breaks_the_signature(signed):
    out, _, _ = signed
    m = members(out)
    manifest = json.loads(m[MANIFEST])
    manifest["run"]["status"] = "pass"
    m[MANIFEST] = (json.dumps(manifest, ensure_ascii=False, indent=1) + "\n").encode()
    _rezip(out, m)
    v = verify_bundle(out)
    assert not v.ok and not v.signature_ok
    assert any("signature does not match" in p for p in v.problems)


def test_resigned_by_another_key_is_not_trusted(signed, tmp_path):
    out, _, pub = signed
    other = tmp_path / "other.key"
    generate_key(other)
    m = members(out)
    m[SIGNATURE] = (json.dumps(load_key(other).signature_record(m[MANIFEST], MANIFEST), indent=1) + "\n").encode()
    _rezip(out, m)
    assert verify_bundle(out).ok  # intact, but by whom?
    v = verify_bundle(out, trusted=load_trusted(pub))
    assert not v.ok and any("not a trusted key" in p for p in v.problems)


def test_unsigned_bundle_fails(signed):
    out, _, _ = signed
    m = members(out)
    del m[SIGNATURE]
    _rezip(out, m)
    assert any("unsigned" in p for p in verify_bundle(out).problems)


def test_sm2_bundle(tmp_path):
    pytest.importorskip("gmssl")
    run = make_run(tmp_path)
    key = tmp_path / "sm2.key"
    (tmp_path / "sm2.pub").write_text(generate_key(key, "sm2-sm3"))
    out = tmp_path / "b.zip"
    make_bundle(run, out, load_key(key))
    v = verify_bundle(out, trusted=load_trusted(tmp_path / "sm2.pub"))
    assert v.ok and v.algorithm == "sm2-sm3", v.problems
    raw = bytearray(out.read_bytes())
    raw[raw.index(b'"signature": "') + 20] ^= 0x01
    out.write_bytes(bytes(raw))
    assert not verify_bundle(out).ok


def test_bundle_never_overwrites_and_needs_a_run(signed, tmp_path):
    out, key, _ = signed
    from ihconform.errors import ConfigError

    with pytest.raises(ConfigError, match="never overwritten"):
        make_bundle(make_run(tmp_path / "again"), out, load_key(key))
    with pytest.raises(ConfigError, match=r"results\.json missing"):
        make_bundle(tmp_path / "nothing", tmp_path / "x.zip", load_key(key))


def test_archive_is_reproducible_bytes():
    a = _canonical([("a.txt", b"1"), ("b/c.txt", "二".encode())])
    assert a == _canonical([("a.txt", b"1"), ("b/c.txt", "二".encode())])
    with zipfile.ZipFile(io.BytesIO(a)) as zf:
        assert all(zi.date_time == (1980, 1, 1, 0, 0, 0) for zi in zf.infolist())


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ihconform.cli", *args], capture_output=True, text=True,
                          timeout=120, check=False)


def test_cli_bundle_and_verify_exit_codes(tmp_path):
    run = make_run(tmp_path)
    key = tmp_path / "k.key"
    (tmp_path / "k.pub").write_text(generate_key(key))
    p = cli("bundle", str(run), "--key", str(key))
    assert p.returncode == 0, p.stderr
    out = Path(p.stdout.strip())
    assert out.name == "20261101-r2026.bundle.zip" and out.exists()
    ok = cli("verify", str(out), "--trusted", str(tmp_path / "k.pub"))
    assert ok.returncode == 0 and "OK" in ok.stdout, ok.stdout + ok.stderr
    raw = bytearray(out.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    out.write_bytes(bytes(raw))
    bad = cli("verify", str(out), "--json")
    assert bad.returncode == 1 and json.loads(bad.stdout)["ok"] is False
    assert cli("verify", str(tmp_path / "none.zip")).returncode == 2
    assert cli("bundle", str(run), "--key", str(tmp_path / "nokey")).returncode == 2
