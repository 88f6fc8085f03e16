"""JUnit XML for CI: one testcase per (control, object).

不符合/部分符合 are failures, 检查错误 is an error, 未检查 and 不适用 are skipped, so a CI
gate on "no failures and no errors" never passes a run that could not check.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ihconform.results import RunResult, Status
from ihconform.text import printable


def _clean(text: str) -> str:
    """XML 1.0 cannot carry most control characters, nor lone surrogates (ElementTree writes them
    as character references no parser accepts): a hostile banner must not break the file."""
    return printable(text)


def render_junit(result: RunResult) -> bytes:
    c = result.summary.objects
    suite = ET.Element("testsuite", {
        "name": f"ihconform {result.run.profile}",
        "tests": str(len(result.results)),
        "failures": str(c.get("fail", 0) + c.get("partial", 0)),
        "errors": str(c.get("error", 0)),
        "skipped": str(c.get("not_checked", 0) + c.get("not_applicable", 0)),
        "timestamp": result.run.started,
        "time": f"{result.run.duration_s:.3f}",
    })
    props = ET.SubElement(suite, "properties")
    for k, v in (("run_id", result.run.id), ("profile_version", result.run.profile_version),
                 ("status", result.summary.status.value), ("exit_code", str(result.summary.exit_code))):
        ET.SubElement(props, "property", {"name": k, "value": _clean(v)})
    titles = {cr.control_id: cr.title_zh for cr in result.controls}
    for r in result.results:
        case = ET.SubElement(suite, "testcase", {
            "classname": r.control_id, "name": _clean(r.object_id), "time": f"{r.duration_s:.3f}"})
        message = _clean(f"{r.status_zh} ({r.status.value}): {r.reason}")
        body = _clean(f"{titles.get(r.control_id, '')}\nobserved: {r.observed!r}\nexpected: {r.expected!r}")
        if r.status in (Status.FAIL, Status.PARTIAL):
            ET.SubElement(case, "failure", {"message": message, "type": r.status.value}).text = body
        elif r.status is Status.ERROR:
            ET.SubElement(case, "error", {"message": message, "type": "error"}).text = body
        elif r.status in (Status.NOT_CHECKED, Status.NOT_APPLICABLE):
            ET.SubElement(case, "skipped", {"message": message})
    ET.indent(suite)
    out: bytes = ET.tostring(suite, encoding="utf-8", xml_declaration=True)
    return out + b"\n"


def write_junit(result: RunResult, path: Path) -> None:
    path.write_bytes(render_junit(result))
