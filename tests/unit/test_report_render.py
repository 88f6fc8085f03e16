"""report.html and report.pdf from one results model: structure, escaping, charts, languages,
self-containment, and a golden HTML file (the PDF's Typst data has its own: test_report_pdf.py).

``rich_result()`` builds a deterministic run with every kind of content the report shows (waivers,
attestations, evidence, uplink measurements, a hostile banner and hostname); the other report
tests import it. Rewrite the golden with ``pytest --update-golden`` and review the diff.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ihconform.diff import diff_runs
from ihconform.report.render import render_html, render_pdf, write_reports
from ihconform.report.view import build_view
from ihconform.results import (
    AttestationRecord,
    ControlResult,
    EvidenceRef,
    ObjectResult,
    RunInfo,
    RunResult,
    Score,
    Status,
    Summary,
    WaiverRecord,
    WaiverRef,
    aggregate,
    conclude,
    conclude_documents,
    counts,
)
from ihconform.results import (
    TestedObject as Obj,
)

from ..conftest import GOLDEN

HOSTILE = "<script>alert(1)</script>"
SECTIONS_ZH = ["声明", "签署页", "被测系统描述", "测试范围与未测项",
               "测试结论表", "总体结论与得分", "高风险项", "基本标准专项", "单项测试结果",
               "风险分析与整改建议", "资产清单", "证明材料与豁免台账", "证据索引"]

needs_pdftotext = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")


def _ev(path: str, kind: str) -> EvidenceRef:
    return EvidenceRef(path=path, sha256=hashlib.sha256(path.encode()).hexdigest(), kind=kind)


_CONTROLS = [
    # id, title zh, title en, document, clause, area, severity, high risk, method, params
    ("CQ-SRV", "服务器不少于2套且数据库与应用分离", "At least two servers, database separated", "cq-ih-rules-2023",
     "附录1 四(一)", "基本标准·服务器与机房", "关键", True, "auto", {}),
    ("CQ-BW", "带宽不低于10Mbps", "Bandwidth at least 10 Mbps", "cq-ih-rules-2023", "附录1 四(三)",
     "基本标准·网络接入", "关键", True, "auto", {"min_mbps": 10}),
    ("CQ-AV", "至少2套音视频通讯系统", "Two audio/video systems", "cq-ih-rules-2023", "附录1 四(二)",
     "基本标准·音视频", "重要", False, "attest", {}),
    ("CQ-AUDIT", "服务全程留痕", "Full audit trail", "cq-ih-rules-2023", "附录1 四(四)", "基本标准·数据与接口",
     "重要", False, "auto", {}),
    ("NHC-RET", "病历保存不少于15年", "Records kept at least 15 years", "nhc-ih-supervision-2022", "第二十八条",
     "监管细则·病历与记录保存", "重要", False, "auto", {}),
    ("L3-CES1-01", "身份鉴别", "Identification and authentication", "gbt-22239-2019", "8.1.4.1 a)",
     "安全计算环境", "一般", False, "auto", {}),
    ("CQ-REMOTE", "远程医疗功能", "Telemedicine functions", "cq-ih-rules-2023", "附录1 四(五)",
     "基本标准·远程医疗功能", "一般", False, "attest", {}),
]


def rich_result(*, flip: dict[tuple[str, str], Status] | None = None, run_id: str = "r2026",
                started: str = "2026-11-01T09:00:00+00:00") -> RunResult:
    """A deterministic run. ``flip`` overrides statuses per (control, object), e.g. to inject a
    regression for the diff tests."""
    transcript = _ev("evidence/hosts/app01/transcript.json", "transcript")
    iperf = _ev("evidence/uplinks/isp-b/iperf3.json", "bandwidth")
    waiver = WaiverRef(id="W-2026-01", approver="李主任", valid_until="2027-06-30",
                       justification="第二条专线扩容中", compensating_control="限流", risk="中")
    rows: list[ObjectResult] = []

    def add(cid: str, oid: str, otype: str, st: Status, **kw: object) -> None:
        st = (flip or {}).get((cid, oid), st)
        rows.append(ObjectResult(control_id=cid, object_id=oid, object_type=otype, status=st, status_zh=st.zh,
                                 probe="p." + cid.lower(), **kw))  # type: ignore[arg-type]

    add("CQ-SRV", "site", "site", Status.PASS, observed={"app_hosts": ["app01", "app02"], "db_hosts": ["db01"]},
        expected=">= 2 servers; db separate", evidence=(transcript,))
    add("CQ-BW", "isp-a", "uplink", Status.PASS, observed={"median_mbps": 48.5, "p10_mbps": 44.1, "samples": 5},
        expected=">= 10 Mbps")
    add("CQ-BW", "isp-b", "uplink", Status.FAIL, observed={"median_mbps": 8.2, "p10_mbps": 7.9, "samples": 5},
        expected=">= 10 Mbps", reason="median 8.2 Mbps below 10", evidence=(iperf,), waiver=waiver)
    add("CQ-AV", "site", "site", Status.NOT_CHECKED, reason="no attestation recorded")
    add("CQ-AUDIT", "web01", "web-server", Status.ERROR, reason=f"banner {HOSTILE} could not be parsed")
    add("NHC-RET", "db01", "database", Status.PARTIAL, observed="retention 10y", expected=">= 15y")
    add("L3-CES1-01", "app01", "host-os", Status.PASS, observed={"pass_max_days": 90}, evidence=(transcript,))
    add("L3-CES1-01", "db01", "host-os", Status.FAIL, observed={"pass_max_days": 99999}, expected="<= 90",
        reason="PASS_MAX_DAYS 99999")
    add("CQ-REMOTE", "site", "site", Status.NOT_APPLICABLE, reason="tailored out: 不开展远程病理")
    controls = []
    for cid, tzh, ten, doc, clause, area, sev, hr, method, params in _CONTROLS:
        sts = [r.status for r in rows if r.control_id == cid]
        st = aggregate(sts)
        controls.append(ControlResult(control_id=cid, title_zh=tzh, title_en=ten, document=doc, clause=clause,
                                      item="", requirement=f"{tzh}（原文）", method=method, severity=sev,
                                      high_risk=hr, area=area, status=st, status_zh=st.zh, counts=counts(sts),
                                      parameters=params))
    done = conclude(controls)
    st, code = done.status, done.exit_code
    return RunResult(
        tool={"name": "ihconform", "version": "0.0-test", "python": "3.x"},
        institution={"name": "重庆市测试医院 <b>互联网医院</b>", "licence_number": "PDY00001",
                     "credit_code": "12500000MB0000000X"},
        system={"name": "互联网医院信息系统", "version": "2.1", "mlps_level": 3,
                "mlps_filing_number": "50010099999-00001", "location": "重庆市两江新区"},
        run=RunInfo(id=run_id, started=started, finished=started.replace("09:00", "09:12"), duration_s=720.0,
                    profile="annual-normative-test", profile_version="2026.1",
                    profile_digests={"annual-normative-test.yaml": "cd" * 32}, inventory="inventory.yaml",
                    inventory_sha256="ef" * 32),
        summary=Summary(status=st, status_zh=st.zh, exit_code=code, controls=counts(c.status for c in controls),
                        objects=counts(r.status for r in rows), high_risk_failures=("CQ-BW",), accepted_risk=1,
                        incomplete=done.incomplete, conclusions=conclude_documents(controls),
                        score=Score(method="mlps-2021", method_name="网络安全等级测评报告模版（2021版）",
                                    value=61.11, technical=30.0, management=31.11, attention_coefficient=0.5,
                                    grade="差", gated_by_high_risk=False, gated_by_medium_risk=False,
                                    judged_items=6, technical_items=4, management_items=2, accepted_risk=1,
                                    rules="依据《网络安全等级测评报告模版（2021版）》。综合得分按测评项扣分。")),
        controls=tuple(controls), results=tuple(rows),
        objects=(Obj(type="site", id="site", label="互联网医院"),
                 Obj(type="host-os", id="app01", label=f"app01 {HOSTILE}.example"),
                 Obj(type="host-os", id="db01", label="db01 (10.0.0.5)"),
                 Obj(type="uplink", id="isp-a", label="isp-a (电信)"),
                 Obj(type="uplink", id="isp-b", label="isp-b (联通)"),
                 Obj(type="web-server", id="web01", label="web01 nginx")),
        evidence=(transcript, iperf),
        attestations=(AttestationRecord(id="A-AV-1", control_id="CQ-AV", objects=("site",),
                                        statement="两套音视频系统在用",
                                        attester="王工", role="信息科", organisation="测试医院", date="2026-10-01",
                                        valid_until="2027-10-01", claimed=Status.PASS, state="expired",
                                        reason="expired 2026-10-31",
                                        files=(_ev("evidence/attestations/A-AV-1/contract.pdf", "attestation"),)),),
        waivers=(WaiverRecord(id="W-2026-01", control_id="CQ-BW", objects=("isp-b",), justification="第二条专线扩容中",
                              compensating_control="限流", risk="中", approver="李主任", valid_from="2026-07-01",
                              valid_until="2027-06-30", state="active", applied_to=1),),
        warnings=("证明材料 A-AV-1 已过期 / attestation A-AV-1 expired",),
    )


def normalise_html(html: str) -> str:
    return re.sub(r'content="ihconform [^"]*"', 'content="ihconform <masked>"', html)


def test_html_matches_golden(update_golden):
    html = normalise_html(render_html(build_view(rich_result(), tester="重庆某测评中心")))
    golden = GOLDEN / "report.rich.html"
    if update_golden or not golden.exists():
        golden.write_text(html, encoding="utf-8")
    assert html == golden.read_text(encoding="utf-8"), f"differs from {golden}; --update-golden to accept"


def test_html_has_every_section_and_the_cover_facts():
    html = render_html(build_view(rich_result(), tester="重庆某测评中心"))
    for title in SECTIONS_ZH:
        assert f"{title}</h2>" in html, title
    for fact in ("12500000MB0000000X", "2026年11月01日 17:00 至 17:12（北京时间 UTC+08:00）",
                 "第三级", "0.0-test", "cd" * 32, "ef" * 32,
                 "重庆某测评中心", "50010099999-00001"):
        assert fact in html, fact
    assert "上年对比" not in html  # only with a previous run


def test_target_text_is_escaped_in_html():
    html = render_html(build_view(rich_result()))
    assert HOSTILE not in html and "<b>互联网医院</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;互联网医院&lt;/b&gt;" in html


def test_html_is_self_contained():
    html = render_html(build_view(rich_result(), previous=diff_runs(rich_result(), rich_result())))
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", html, re.I)
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:|//|file:|data:)", html, re.I)
    assert "url(" not in html and "@import" not in html


def test_charts_area_and_bandwidth_against_the_line():
    view = build_view(rich_result())
    bw = str(view.bandwidth_chart)
    assert "48.5 Mbps" in bw and "8.2 Mbps" in bw and ">10 Mbps<" in bw and "stroke-dasharray" in bw
    assert "isp-a" in bw and "isp-b" in bw
    area = str(view.area_chart)
    assert "安全计算环境" in area and area.count("<rect") > 7


def test_chart_labels_are_escaped():
    from ihconform.report import charts

    svg = str(charts.area_chart([("<img src=x onerror=alert(1)>", {"pass": 1})], {"pass": "符合"}))
    assert "<img" not in svg and "&lt;img" in svg
    svg = str(charts.bandwidth_chart([charts.Bar(HOSTILE, 3.0)], 10))
    assert HOSTILE not in svg


def test_english_report_uses_english_labels():
    html = render_html(build_view(rich_result(), lang="en"))
    for title in ("Statement", "Conclusion by regulation", "Results per requirement", "Evidence index",
                  "Bandwidth at least 10 Mbps", "non-conformant"):
        assert title in html, title
    assert 'lang="en"' in html


def test_risk_section_orders_failures_first_and_advises():
    view = build_view(rich_result())
    ids = [cv.c.control_id for cv in view.risks]
    assert ids[:3] == ["CQ-BW", "NHC-RET", "L3-CES1-01"]  # failing first, high risk first
    bw = view.risks[0]
    assert bw.risk == "高" and "豁免" in bw.advice and bw.affected == ["isp-b"]


def test_basic_standard_groups_by_clause():
    view = build_view(rich_result())
    by = {b["clause"]: [cv.c.control_id for cv in b["controls"]] for b in view.basic}
    assert by["附录1 四(一)"] == ["CQ-SRV"] and by["附录1 四(三)"] == ["CQ-BW"]
    assert by["第二十八条"] == [] and by["第十九条"] == []  # NHC-RET cites the 监管细则's own 第二十八条


def test_previous_section_shows_the_regression():
    old = rich_result(run_id="r2025", started="2025-11-01T09:00:00+00:00",
                      flip={("NHC-RET", "db01"): Status.PASS, ("L3-CES1-01", "db01"): Status.PASS})
    html = render_html(build_view(rich_result(), previous=diff_runs(old, rich_result())))
    assert "上年对比</h2>" in html and "r2025" in html
    section = html[html.index("上年对比</h2>"):]
    assert "NHC-RET" in section and "L3-CES1-01" in section and "<svg" in section


@pytest.fixture(scope="module")
def rich_pdf_text(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    folder = tmp_path_factory.mktemp("rich")
    write_reports(rich_result(), folder)
    pdf = folder / "report.pdf"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return text, pdf


@needs_pdftotext
def test_pdf_renders_chinese_sections_and_titles(rich_pdf_text):
    text, pdf = rich_pdf_text
    assert pdf.read_bytes().startswith(b"%PDF-")
    for title in SECTIONS_ZH:
        assert title in text, title
    assert "带宽不低于10Mbps" in text and "服务器不少于2套且数据库与应用分离" in text


@needs_pdftotext
def test_pdf_shows_target_markup_as_text(rich_pdf_text):
    text, _ = rich_pdf_text
    flat = re.sub(r"\s+", "", text)
    assert "<script>alert(1)</script>" in flat
    assert "<b>互联网医院</b>" in flat


@pytest.mark.skipif(shutil.which("pdffonts") is None, reason="poppler-utils not installed")
def test_pdf_embeds_a_cjk_font(rich_pdf_text):
    _, pdf = rich_pdf_text
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    cjk = [line for line in fonts.splitlines() if "CJK" in line]
    assert cjk and all(" yes yes " in line for line in cjk), fonts


def test_pdf_fetches_no_url():
    """Even target text that asks for a URL or a package, in Typst or HTML, makes the PDF
    renderer fetch nothing (no tracking pixel, no request to an internal address)."""
    import http.server
    import threading

    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    lure = (f'#image("{base}/x.png") #import "{base}/m.typ" #import "@preview/cetz:0.3.0" '
            f'<img src="{base}/y.png"><link rel="stylesheet" href="{base}/a.css">')
    r = rich_result()
    results = (r.results[0].model_copy(update={"reason": lure}), *r.results[1:])
    try:
        pdf = render_pdf(build_view(r.model_copy(update={"results": results, "warnings": (lure,)})))
    finally:
        srv.shutdown()
        srv.server_close()
    assert pdf.startswith(b"%PDF-") and hits == []


def test_objects_with_the_same_verdict_share_a_row():
    from ihconform.report.view import _rows

    def r(oid: str, st: Status, reason: str, ev: tuple[EvidenceRef, ...] = ()) -> ObjectResult:
        return ObjectResult(control_id="C", object_id=oid, object_type="host-os", status=st, status_zh=st.zh,
                            reason=reason, evidence=ev)

    t1, t2 = _ev("evidence/hosts/a/t.json", "transcript"), _ev("evidence/hosts/b/t.json", "transcript")
    rows = _rows([r("a", Status.NOT_CHECKED, "no facts", (t1,)), r("b", Status.NOT_CHECKED, "no facts", (t2,)),
                  r("c", Status.FAIL, "no facts"), r("d", Status.NOT_CHECKED, "no facts")])
    assert [(x.objects, x.status) for x in rows] == [(["a", "b"], Status.NOT_CHECKED), (["c"], Status.FAIL),
                                                     (["d"], Status.NOT_CHECKED)]
    assert rows[0].evidence == [t1, t2]  # every object's evidence is still listed


def test_bandwidth_chart_reads_the_probes_per_direction_record():
    """uplink.bandwidth records {direction: {median_mbps, band}}; each direction is a bar with
    its uncertainty band."""
    r = rich_result()
    obs = {"download": {"median_mbps": 47.2, "band": [44.0, 50.1], "outcome": "pass"},
           "upload": {"median_mbps": 9.1, "band": [8.5, 9.6], "outcome": "fail"}, "method": "iperf3"}
    results = tuple(x.model_copy(update={"observed": obs}) if x.object_id == "isp-a" else x for x in r.results)
    svg = str(build_view(r.model_copy(update={"results": results})).bandwidth_chart)
    assert "isp-a download" in svg and "isp-a upload" in svg and "47.2 Mbps" in svg and "9.1 Mbps" in svg
    assert "<path" in svg and "isp-b" in svg  # the band whisker; the other uplink keeps its bar


def test_advice_comes_from_the_catalog_when_it_has_one():
    from ihconform.report.render import profile_texts

    texts = profile_texts(rich_result())  # the built-in annual-normative-test profile loads again
    assert texts.documents["cq-ih-rules-2023"][1] == "渝卫发〔2023〕69号"
    assert texts.remediation and all(zh and en for zh, en in texts.remediation.values())
    view = build_view(rich_result(), remediation={"CQ-BW": ("扩容第二条线路至10Mbps以上。", "Upgrade the line.")})
    bw = next(cv for cv in view.risks if cv.c.control_id == "CQ-BW")
    assert bw.advice.startswith("扩容第二条线路至10Mbps以上。") and "豁免" in bw.advice
    ret = next(cv for cv in view.risks if cv.c.control_id == "NHC-RET")
    assert "整改" in ret.advice  # no catalog text: advice from the requirement
