"""Partial runs (issue 13 §5): an --only run says what it selected, bundle and upload refuse it
without --allow-partial, --only that matches nothing writes nothing, and diff names what a
partial run no longer judges."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from ihconform.schema import validate_results

from .test_cli import FAST, MINI, run_cli


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("runs")
    out: dict[str, Path] = {}
    for name, only in (("full", ()), ("partial", ("--only", "L3-CES1-18"))):
        proc = run_cli(*FAST, "-p", str(MINI), *only, "-o", str(base / name))
        assert proc.returncode in (0, 1, 3), proc.stderr  # the lone T-PORTS may pass here
        assert ("专项检查 / partial run: --only L3-CES1-18 (1 / 5 controls)" in proc.stdout) is bool(only)
        (out[name],) = list((base / name).iterdir())
    key = base / "tester.pem"
    assert run_cli("attest", "keygen", "--out", str(key)).returncode == 0
    out["key"] = key
    return out


def _one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.mark.parametrize(("profile", "selector", "nearest"), [
    (str(MINI), "T-PORTX", "T-PORTS"),
    (None, "NOPE-99", "最接近 / nearest: "),
    (str(MINI), "L3-CES1-99", "L3-CES1-"),
])
def test_only_matching_nothing_exits_2_names_the_nearest_and_writes_nothing(tmp_path, profile, selector, nearest):
    args = ["run", "-q", "--only", selector] + (["-p", profile] if profile else [])
    proc = run_cli(*args, cwd=tmp_path)  # default output folder: ./reports
    assert proc.returncode == 2
    line = _one_line_error(proc.stderr)
    assert selector in line and nearest in line
    assert list(tmp_path.iterdir()) == []  # no reports/, no run folder, no .partial


def test_one_bad_selector_among_good_ones_is_refused_too(tmp_path):
    proc = run_cli(*FAST, "-p", str(MINI), "--only", "L3-CES1-18", "--only", "T-PORTX", "-o", str(tmp_path / "r"))
    assert proc.returncode == 2 and "T-PORTX" in _one_line_error(proc.stderr)
    assert not (tmp_path / "r").exists()


def test_partial_run_records_its_selection(runs):
    part = json.loads((runs["partial"] / "results.json").read_text(encoding="utf-8"))
    full = json.loads((runs["full"] / "results.json").read_text(encoding="utf-8"))
    validate_results(part)
    assert part["run"]["selection"] == {"only": ["L3-CES1-18"], "partial": True, "controls": 1,
                                        "profile_controls": 5}
    assert full["run"]["selection"] == {"only": [], "partial": False, "controls": 5, "profile_controls": 5}


def test_an_only_that_selects_everything_is_not_partial(tmp_path):
    proc = run_cli(*FAST, "-p", str(MINI), "--only", "T-", "-o", str(tmp_path / "r"))
    assert proc.returncode in (0, 1, 3), proc.stderr
    (folder,) = list((tmp_path / "r").iterdir())
    sel = json.loads((folder / "results.json").read_text(encoding="utf-8"))["run"]["selection"]
    assert sel["partial"] is False and sel["controls"] == 5


def test_diff_from_full_to_partial_exits_3_and_names_the_coverage_drop(runs):
    proc = run_cli("diff", str(runs["full"]), str(runs["partial"]))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "退步 / regressions: 0" in proc.stdout
    assert "coverage drop" in proc.stdout and "4 controls" in proc.stdout
    for cid in ("T-SERVERS", "T-AGEING", "T-AV", "T-TLS"):
        assert f"控制项 / control {cid}" in proc.stdout
    assert "专项检查" in proc.stdout and "--only L3-CES1-18" in proc.stdout
    data = json.loads(run_cli("diff", "--json", str(runs["full"]), str(runs["partial"])).stdout)
    assert data["coverage_drop"]["controls"] == ["T-AGEING", "T-AV", "T-SERVERS", "T-TLS"]
    # the other way round nothing is lost: no coverage drop, exit 0 (no regressions)
    back = run_cli("diff", str(runs["partial"]), str(runs["full"]))
    assert back.returncode == 0 and "coverage drop" not in back.stdout, back.stdout


def test_diff_names_an_object_no_longer_judged():
    from ihconform.diff import diff_runs, format_text

    from .test_report_render import rich_result

    old = rich_result(run_id="r2025")
    new = rich_result()
    new = new.model_copy(update={"results": tuple(r for r in new.results if r.object_id != "db01")})
    d = diff_runs(old, new)
    assert d.objects_not_judged == ["db01"] and d.controls_not_judged == ["NHC-RET"]
    assert [(c.control_id, c.object_id) for c in d.results_not_judged] == [("L3-CES1-01", "db01")]
    assert d.exit_code == 3 and "  - 对象 / object db01" in format_text(d)


def test_bundle_refuses_a_partial_run_unless_allowed(runs, tmp_path):
    out = tmp_path / "p.zip"
    proc = run_cli("bundle", str(runs["partial"]), "--key", str(runs["key"]), "-o", str(out))
    assert proc.returncode == 2
    assert "--allow-partial" in _one_line_error(proc.stderr) and "专项检查" in proc.stderr
    assert not out.exists()
    ok = run_cli("bundle", str(runs["partial"]), "--key", str(runs["key"]), "-o", str(out), "--allow-partial")
    assert ok.returncode == 0, ok.stderr
    manifest = json.loads(zipfile.ZipFile(out).read("manifest.json"))
    assert manifest["run"]["partial"] is True and manifest["run"]["only"] == ["L3-CES1-18"]
    full = run_cli("bundle", str(runs["full"]), "--key", str(runs["key"]), "-o", str(tmp_path / "f.zip"))
    assert full.returncode == 0, full.stderr


def test_upload_refuses_a_partial_bundle_before_sending_anything(runs, tmp_path):
    out = tmp_path / "p.zip"
    assert run_cli("bundle", str(runs["partial"]), "--key", str(runs["key"]), "-o", str(out),
                   "--allow-partial").returncode == 0
    # port 9 on loopback refuses connections: were anything tried, this would be "NOT completed" (exit 3)
    common = ("--platform", "https://127.0.0.1:9", "--attempts", "1", "--token-env", "PATH")
    proc = run_cli("upload", str(out), *common)
    assert proc.returncode == 2
    assert "--allow-partial" in _one_line_error(proc.stderr) and "NOT completed" not in proc.stdout
    allowed = run_cli("upload", str(out), *common, "--allow-partial")  # past the refusal, to the next check
    assert "--allow-partial" not in allowed.stderr and "统一社会信用代码" in allowed.stderr, allowed.stderr


def test_report_cover_of_a_partial_run_says_zhuanxiang_and_the_selection():
    from ihconform.report.render import render_html
    from ihconform.report.view import build_view
    from ihconform.results import Selection

    from .test_report_render import rich_result

    full = rich_result()
    sel = Selection(only=("L3-CES1", "附录1 四(一)"), partial=True, controls=2, profile_controls=253)
    part = full.model_copy(update={"run": full.run.model_copy(update={"selection": sel})})
    view = build_view(part)
    assert view.partial == "专项检查（非完整年度测试）"
    assert view.cover[0] == ("检查范围", "仅 --only L3-CES1 附录1 四(一)：2 / 253 个控制项")
    html = render_html(view)
    assert "专项检查" in html and "2 / 253" in html
    en = render_html(build_view(part, lang="en"))
    assert "Partial run" in en and "2 of 253 controls" in en
    full_view = build_view(full)
    assert not full_view.partial and "专项检查" not in render_html(full_view)


def test_controls_only_matching_nothing_names_the_nearest():
    proc = run_cli("controls", "-p", str(MINI), "--only", "T-PORTX")
    assert proc.returncode == 2 and "T-PORTS" in _one_line_error(proc.stderr)


def test_pytest_used_directly_refuses_an_only_that_matches_nothing(tmp_path):
    import subprocess
    import sys

    from ihconform.run.launch import pytest_args

    args = pytest_args(inventory=None, profile=str(MINI), only=["NOPE-99"], output=tmp_path / "r", run_id="x",
                       probes=[], parallel=1, progress=False, formats=("json",))
    proc = subprocess.run([sys.executable, "-m", "pytest", *args], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 4 and "NOPE-99" in proc.stderr + proc.stdout  # pytest's usage error
    assert not (tmp_path / "r").exists() and not list(tmp_path.iterdir())
