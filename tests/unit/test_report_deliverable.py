"""The deliverable a tester signs (issue 13 §3, §4): what the report says it is, who signs it,
times in 北京时间, 第三级, records in plain text, and the same sections in report.pdf and
report.docx — and no internal note, JSON fragment or machine path in any output of a run.

The unit half renders :func:`rich_result` with research-note markers planted in the profile
texts (requirement, scoring rules) to show they are removed; the end-to-end half runs the
embedded default (``ihconform run`` on this machine) with every format and greps each output.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ihconform.report.render import write_reports
from ihconform.report.view import build_view
from ihconform.report.wording import INTERNAL_MARKERS, cause_first, clean_note, readable, reason_text
from ihconform.results import RunResult

from .test_report_render import rich_result

docx = pytest.importorskip("docx", reason="python-docx (the report extra) is not installed")
needs_pdftotext = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")

NOTE = "（研究笔记 §0 第5–6条；分值与结论门槛为 [K]，待以官方模板核实）"
TESTER = {"organisation": "重庆某信息安全测评中心", "testers": ["张三", "李四"], "prepared_by": "张三",
          "reviewed_by": "王五", "approved_by": "赵六", "report_number": "CQ-YJ-2026-017", "report_date": "2026-11-02"}


def planted(**tester: object) -> RunResult:
    """rich_result with internal notes in the profile's texts and a tester record."""
    r = rich_result()
    assert r.summary.score is not None
    score = r.summary.score.model_copy(update={"rules": "关键=3/重要=2/一般=1 " + NOTE})
    controls = tuple(c.model_copy(update={"requirement": c.requirement + NOTE}) for c in r.controls)
    return r.model_copy(update={"summary": r.summary.model_copy(update={"score": score}), "controls": controls,
                                "tester": dict(tester)})


def pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def docx_text(path: Path) -> str:
    d = docx.Document(str(path))
    cells = [c.text for t in d.tables for row in t.rows for c in row.cells]
    return "\n".join([p.text for p in d.paragraphs] + cells)


def docx_headings(path: Path) -> list[str]:
    return [p.text for p in docx.Document(str(path)).paragraphs if p.style.name == "Heading 1"]


def pdf_headings(text: str) -> list[str]:
    """Section headings of the PDF in order: ``1 声明``, ``2 签署页``, … each the first line that is
    exactly ``N title`` after the previous one (the table of contents writes ``N. title ……``)."""
    out: list[str] = []
    pos = 0
    while True:
        m = re.compile(rf"^{len(out) + 1} (\S[^\n]*)$", re.M).search(text, pos)
        if m is None:
            return out
        out.append(m.group(0).strip())
        pos = m.end()


def machine_paths() -> list[str]:
    """Absolute paths of this machine that must never reach an output."""
    here = Path(__file__).resolve().parents[2]
    return sorted({str(here), str(Path.home()), sys.prefix, "/tmp/", "/work/"} - {"/"})


# ---- wording ------------------------------------------------------------------------------


def test_observed_values_read_as_text_not_json():
    obs = {"login_defs": {"PASS_MAX_DAYS": 99999, "PASS_MIN_DAYS": 0}, "empty_password": [], "pam_module": True,
           "hosts": ["app01", "app02"], "module": None}
    text = readable(obs, "zh")
    assert text.splitlines() == ["login.defs 设置：（PASS_MAX_DAYS：99999；PASS_MIN_DAYS：0）", "空口令账户：无",
                                 "口令复杂度模块：是", "主机：app01、app02", "模块：无"]
    for fragment in ('{"', "{'", "[]", "True", "None", "':"):
        assert fragment not in text
    assert readable({"pam_module": False}, "en") == "password quality module: no"


def test_a_long_command_comes_after_the_cause():
    cmd = "psql -X -A -t -v ON_ERROR_STOP=1 -c " + "SELECT rolname FROM pg_roles; " * 70
    reason = f"host db01: `{cmd}` exited 2: psql: FATAL:  password authentication failed for user \"audit\""
    out = cause_first(reason, "zh")
    first = out.splitlines()[0]
    assert first == 'host db01: [命令1] exited 2: psql: FATAL:  password authentication failed for user "audit"'
    assert len(out) < 250 and out.splitlines()[1].startswith("[命令1] psql -X") and out.endswith("…")
    assert cause_first("no command here", "zh") == "no command here"


def test_reasons_are_chinese_in_the_chinese_report():
    both = ("只有 0 条宽带线路 / only 0 uplink(s) declared, need 2; "
            "宽带供应商相同 / the uplinks are not from different providers")
    assert reason_text(both, "zh") == "只有 0 条宽带线路；宽带供应商相同"
    assert reason_text(both, "en") == "only 0 uplink(s) declared, need 2; the uplinks are not from different providers"
    assert reason_text("all parts met", "zh") == "各子项均符合"
    assert reason_text("unmet: minlen >= 8", "zh") == "未满足：minlen >= 8"


def test_internal_notes_are_removed_whole():
    assert clean_note("≥8 位为测评惯例" + NOTE) == "≥8 位为测评惯例"
    assert clean_note("测评惯例 [K] 待核实；备案证明长期有效") == "测评惯例；备案证明长期有效"
    for marker in INTERNAL_MARKERS:
        assert marker not in clean_note(f"甲 {marker} 乙")


# ---- the rendered deliverable --------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("deliverable")
    write_reports(planted(**TESTER), folder, docx=True, pdf=shutil.which("pdftotext") is not None)
    return folder


@needs_pdftotext
def test_pdf_is_a_signed_self_check_report(rendered):
    text = pdf_text(rendered / "report.pdf")
    for must in ("编制", "审核", "批准", "盖章", "第三级", "北京时间", "+08:00", "自查", "预检", "签署页",
                 "重庆某信息安全测评中心", "张三、李四", "王五", "赵六", "CQ-YJ-2026-017", "2026年11月02日",
                 "12500000MB0000000X", "PDY00001", "50010099999-00001",
                 "不是网络安全等级保护测评机构出具的等级测评结论"):
        assert must in text, must
    for never in (*INTERNAL_MARKERS, '{"', "2026-11-01T09:00:00+00:00", "'median_mbps'", "安全保护等级 3\n"):
        assert never not in text, never
    for path in machine_paths():
        assert path not in text, path


@needs_pdftotext
def test_docx_has_the_pdf_headings(rendered):
    """One section list for both renderers: the Word file an assessor edits has the PDF's headings,
    in the same order, and the same facts."""
    pdf = pdf_headings(pdf_text(rendered / "report.pdf"))
    word = docx_headings(rendered / "report.docx")
    assert len(pdf) >= 14 and pdf[:4] == ["1 声明", "2 签署页", "3 被测系统描述", "4 测试范围与未测项"]
    assert word == pdf
    text = docx_text(rendered / "report.docx")
    for must in ("编制", "审核", "批准", "盖章", "第三级", "北京时间", "自查", "王五", "CQ-YJ-2026-017"):
        assert must in text, must
    for never in (*INTERNAL_MARKERS, '{"'):
        assert never not in text, never


def test_without_a_testing_organisation_it_is_the_hospitals_own_self_check():
    v = build_view(planted())
    assert v.kind == "（医疗机构自查报告）"
    assert ("测试单位", "重庆市测试医院 <b>互联网医院</b>（自查）") in v.cover
    assert [name for _, name, _ in v.signature] == ["", "", ""]
    assert all(date == "____年__月__日" for _, _, date in v.signature)
    assert "医疗机构自查报告" not in build_view(planted(organisation="某测评中心")).kind


def test_the_mlps_conclusion_is_quoted_from_its_attestation():
    """The official 等保 conclusion is the attested assessment report's, shown field by field."""
    from ihconform.results import AttestationRecord, Status

    r = planted()
    mlps = r.controls[0].model_copy(update={"control_id": "CQ-MLPS", "parameters": {
        "required_documents": ["mlps-filing-certificate", "mlps-assessment-report"]}})
    att = AttestationRecord(id="A-MLPS", control_id="CQ-MLPS", objects=("site",),
                            statement="等级测评结论：基本符合，得分 85.2",
                            attester="测评师甲", role="测评师", organisation="重庆某测评机构", date="2026-06-01",
                            valid_until="2027-06-01", claimed=Status.PASS, state="valid")
    v = build_view(r.model_copy(update={"controls": (*r.controls, mlps), "attestations": (att,)}))
    (quote,) = v.mlps
    assert ("内容", "等级测评结论：基本符合，得分 85.2") in quote and ("状态", "有效") in quote
    assert build_view(r).mlps == []


# ---- a whole run, every format --------------------------------------------------------------


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded default on this machine, every format, tester data from the options."""
    cwd = tmp_path_factory.mktemp("run")
    proc = subprocess.run([sys.executable, "-m", "ihconform.cli", "run", "-q", "--formats",
                           "json,junit,html,pdf,docx", "--tester-org", "重庆某信息安全测评中心", "--tester", "张三",
                           "--tester", "李四", "--report-number", "CQ-YJ-2026-018"],
                          cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode in (1, 3), proc.stderr
    (folder,) = list((cwd / "reports").iterdir())
    return folder


def _outputs(folder: Path) -> dict[str, str]:
    out = {"junit.xml": (folder / "junit.xml").read_text(encoding="utf-8"),
           "report.html": (folder / "report.html").read_text(encoding="utf-8"),
           "report.docx": docx_text(folder / "report.docx")}
    if shutil.which("pdftotext"):
        out["report.pdf"] = pdf_text(folder / "report.pdf")
    return out


def test_no_output_of_a_run_carries_notes_json_or_machine_paths(full_run):
    outputs = _outputs(full_run)
    assert set(outputs) >= {"junit.xml", "report.html", "report.docx"}
    for name, text in outputs.items():
        for never in (*INTERNAL_MARKERS, *machine_paths()):
            assert never not in text, f"{never!r} in {name}"
        if name != "junit.xml":  # junit carries observed values for CI, escaped as XML
            assert '{"' not in text and "{'" not in text, name
    data = (full_run / "results.json").read_text(encoding="utf-8")
    for path in machine_paths():
        assert path not in data, path
    assert '"builtin/annual-normative-test.yaml"' in data


def test_run_options_reach_the_cover_and_results(full_run):
    import json

    data = json.loads((full_run / "results.json").read_text(encoding="utf-8"))
    assert data["tester"]["organisation"] == "重庆某信息安全测评中心"
    assert data["tester"]["testers"] == ["张三", "李四"] and data["tester"]["report_number"] == "CQ-YJ-2026-018"
    word = docx_headings(full_run / "report.docx")
    if shutil.which("pdftotext"):
        text = pdf_text(full_run / "report.pdf")
        assert pdf_headings(text) == word
        for must in ("编制", "审核", "批准", "第三级", "北京时间", "自查", "CQ-YJ-2026-018", "张三、李四"):
            assert must in text, must


def test_results_json_carries_no_internal_notes(full_run):
    data = (full_run / "results.json").read_text(encoding="utf-8")
    for marker in INTERNAL_MARKERS:
        assert marker not in data, marker


def test_reprs_inside_probe_text_are_written_out():
    assert readable("one of ['apparmor', 'kysec', 'selinux'] enforcing", "zh") == \
        "one of apparmor、kysec、selinux enforcing"
    assert reason_text('got {"a": 1, "b": [1, 2]}; 原文 [unclosed', "zh") == "got （a：1；b：1、2）；原文 [unclosed"
    assert reason_text("can't read [x, 'y']", "en") == "can't read [x, 'y']"  # not a literal: kept
    assert reason_text("清单未声明 av-system 类对象", "zh") == "清单未声明 音视频系统 类对象"


def test_system_description_places_each_object_from_the_inventory():
    """被测系统描述: objects by type with where they sit (host, roles, jump host, location), as
    the engine records them from the inventory."""
    from ihconform.inventory import Database, Host, TestObject, Uplink
    from ihconform.profile import ObjectType
    from ihconform.run.build import tested_object

    app = Host(id="app01", address="198.51.100.20", roles=("app", "web"), jump="bastion", location="两江 IDC 3F")
    db = Database(id="pg1", host="db01", engine="postgresql", port=5432)
    up = Uplink(id="isp-a", isp="电信", host="app01", source="198.51.100.130")
    objs = (tested_object(TestObject(ObjectType.HOST_OS, "app01", "app01 (198.51.100.20)", app)),
            tested_object(TestObject(ObjectType.DATABASE, "pg1", "pg1 (postgresql@db01:5432)", db)),
            tested_object(TestObject(ObjectType.UPLINK, "isp-a", "isp-a (电信)", up)),
            tested_object(TestObject(ObjectType.SITE, "site", "互联网医院信息系统")))
    assert objs[0].roles == ("app", "web") and objs[0].via == "bastion" and objs[0].host == ""
    assert objs[1].host == "db01" and objs[2].host == "app01"
    v = build_view(planted().model_copy(update={"objects": objs}))
    places = {oid: place for _, rows in v.object_groups for oid, _, place in rows}
    assert places == {"app01": "角色 app、web；经 bastion 访问；位于 两江 IDC 3F", "pg1": "运行于 db01",
                      "isp-a": "运行于 app01", "site": ""}


def test_an_unknown_tester_field_stops_the_run_before_it_starts(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "pytest", "--ihc-local", "--ihc-tester", "signed_by=甲",
                           "--ihc-output", str(out), "-q"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode != 0 and "unknown field(s) signed_by" in proc.stdout + proc.stderr
    assert not out.exists()


def test_a_restricted_run_says_so_in_the_scope():
    r = planted()
    v = build_view(r.model_copy(update={"run": r.run.model_copy(update={"only": ("L3-CES1", "CQ-SRV")})}))
    assert v.scope_only == "本次为专项检查，仅包含匹配以下选择的控制项：L3-CES1、CQ-SRV"
    assert build_view(r).scope_only == ""


def test_word_takes_control_characters_a_target_sent(tmp_path):
    """XML cannot hold them (python-docx would raise and the run would lose its Word file)."""
    from ihconform.report.word import render_docx

    r = planted()
    bad = r.results[0].model_copy(update={"reason": "banner \x1b[31mred\x00 \udcff end", "observed": "a\x07b"})
    data = render_docx(build_view(r.model_copy(update={"results": (bad, *r.results[1:])})))
    (tmp_path / "r.docx").write_bytes(data)
    text = docx_text(tmp_path / "r.docx")
    assert "banner \ufffd[31mred\ufffd \ufffd end" in text and "a\ufffdb" in text
