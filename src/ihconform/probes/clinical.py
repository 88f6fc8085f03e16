"""附录1 四(四): declared HIS/LIS/PACS/RIS interfaces exchange data, and whether over TLS.

PACS: DICOM C-ECHO; HIS/LIS: an HL7 v2 message over MLLP and its ACK; FHIR-style APIs: an
HTTPS health request (:mod:`ihconform.net.clinical`). An interface that does not answer is a
finding (不符合 with the reason); TLS is reported for each, and required only when the
profile's ``require_tls`` says so.
"""

from __future__ import annotations

import dataclasses

from ihconform.check import Check
from ihconform.errors import FactUnavailable
from ihconform.inventory import ClinicalInterface
from ihconform.net import clinical
from ihconform.registry import probe
from ihconform.runcache import EvidenceSink


@probe("clinical.interface", facts=())
def test_interface(check: Check, evidence: EvidenceSink) -> None:
    ci = check.obj.ref
    if not isinstance(ci, ClinicalInterface):
        raise FactUnavailable(f"{check.obj.id} is not a clinical interface")
    timeout = check.float_param("timeout_s")
    require_tls = check.param("require_tls") is True
    try:
        if ci.protocol == "dicom":
            ans = clinical.dicom_echo(ci.address, ci.port, ci.ae_title, tls=ci.tls, timeout=timeout)
        elif ci.protocol == "hl7-mllp":
            ans = clinical.hl7_mllp(ci.address, ci.port, tls=ci.tls, timeout=timeout)
        else:
            ans = clinical.https_health(ci.url or f"https://{ci.address}:{ci.port}/", timeout=timeout)
    except FactUnavailable as exc:
        if "not installed" in str(exc):
            raise
        ans = clinical.ClinicalAnswer(False, f"无应答 / not answering: {exc}", 0.0)
    check.attach(evidence.write(("clinical", ci.id, f"{ci.protocol}.json"), dataclasses.asdict(ans),
                                kind="clinical-probe"))
    tls_used = bool(ans.tls) or (ci.protocol == "https" and ans.ok and (ci.url or "https").startswith("https"))
    observed = {"protocol": ci.protocol, "answer": ans.detail, "tls": ans.tls or ("yes" if tls_used else "no"),
                "seconds": ans.seconds}
    parts = {"answers": ans.ok}
    if require_tls:
        parts["tls"] = tls_used
    label = f"{ci.kind.upper()} {ci.address}:{ci.port}"
    why = [] if ans.ok else [f"{label}: {ans.detail}"]
    if require_tls and not tls_used:
        why.append(f"{label}: 未使用 TLS / plaintext")
    check.judge(all(parts.values()), observed=observed,
                expected={"answers": True, "tls": "required" if require_tls else "reported"},
                reason="; ".join(why) or f"{label}: {ans.detail}" + (f" over {ans.tls}" if ans.tls else " (plaintext)"))
