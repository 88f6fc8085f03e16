"""The run writes report.html and report.pdf itself (finish_run), from the same results as
results.json: checked on the golden pipeline, whose probe crashes with ``<script>`` in its
message and whose institution name carries ``<b>``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import FIXTURES, ROOT


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ihconform.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reports")
    proc = run_cli("run", "-q", "-i", str(FIXTURES / "golden-inventory.yaml"),
                   "-p", str(FIXTURES / "profiles" / "golden.yaml"),
                   "--probes", str(FIXTURES / "probes" / "fixed.py"), "-o", str(out))
    folders = [p for p in out.iterdir() if p.is_dir()]
    assert len(folders) == 1, (proc.stdout, proc.stderr)
    return folders[0]


def test_run_writes_html_escaped_and_titled(folder):
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>互联网医院</b>" not in html
    assert "重庆市贯彻互联网医院管理办法实施细则" in html  # the profile's document title, not its id
    assert "带宽合同不低于10Mbps" in html
    # the 等保 综合得分 is only for controls of the ten 安全类: this profile has none, so no score is
    # printed for its document nor for the run (docs/scoring.md)
    conclusion = html[html.index("测试结论表</h2>"):html.index("总体结论与得分</h2>")]
    assert conclusion.count(">—<") == 2 and "本次运行未计算得分" in html


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_run_writes_a_chinese_pdf(folder):
    text = subprocess.run(["pdftotext", str(folder / "report.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    flat = re.sub(r"\s+", "", text)
    for title in ("测试结论表", "单项测试结果", "证据索引", "带宽合同不低于10Mbps"):
        assert title in flat, title
    assert "<script>alert(1)</script>probecrashed" in flat and "<b>互联网医院</b>" in flat


def test_rerender_in_english_and_bundle(folder, tmp_path):
    p = run_cli("report", str(folder), "--lang", "en", "--no-pdf")
    assert p.returncode == 0, p.stderr
    assert "Contracted bandwidth at least 10 Mbps" in (folder / "report.en.html").read_text(encoding="utf-8")
    key = tmp_path / "k.key"
    assert run_cli("attest", "keygen", "--out", str(key)).returncode == 0  # the ledger's keys sign bundles too
    out = tmp_path / "b.zip"
    assert run_cli("bundle", str(folder), "--key", str(key), "-o", str(out)).returncode == 0
    v = run_cli("verify", str(out))
    assert v.returncode == 0, v.stdout
    assert run_cli("report", str(tmp_path / "nowhere")).returncode == 2


def test_run_signs_its_bundle_when_a_key_is_configured(tmp_path):
    key = tmp_path / "k.key"
    assert run_cli("attest", "keygen", "--out", str(key)).returncode == 0
    out = tmp_path / "reports"
    env = {**os.environ, "IHC_SIGNING_KEY": str(key), "IHC_TESTER": "重庆某测评中心 张三"}
    proc = subprocess.run([sys.executable, "-m", "ihconform.cli", "run", "-q", "-i",
                           str(FIXTURES / "golden-inventory.yaml"), "-p", str(FIXTURES / "profiles" / "golden.yaml"),
                           "--probes", str(FIXTURES / "probes" / "fixed.py"), "-o", str(out), "--formats",
                           "json,junit,html"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
                          env=env)
    assert proc.returncode == 1, proc.stderr  # the golden run is non-conformant; the bundle does not change that
    bundles = list(out.glob("*.bundle.zip"))
    assert len(bundles) == 1, proc.stderr
    folder = bundles[0].with_name(bundles[0].name.removesuffix(".bundle.zip"))
    assert not (folder / "report.pdf").exists() and "重庆某测评中心 张三" in (folder / "report.html").read_text("utf-8")
    assert run_cli("verify", str(bundles[0])).returncode == 0
