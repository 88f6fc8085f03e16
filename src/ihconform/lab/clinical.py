"""Start the clinical stand-ins (PACS DICOM C-ECHO, HIS HL7/MLLP) on his01.

Why a host of their own: in a hospital the HIS and PACS are separate systems reached over
the network by the internet hospital; putting them on his01 keeps db01 a pure database host
for the role-separation checks.
"""

from __future__ import annotations

import sys
from pathlib import Path

import ihconform
from ihconform.lab import plan
from ihconform.lab.context import LabContext, Service
from ihconform.lab.proc import CLEAN_ENV, detach, host_exec, start_daemon


def start(ctx: LabContext) -> None:
    host = plan.HOST_BY_ID["his01"]
    d = ctx.dir("hosts", "his01", "clinical")
    env = dict(CLEAN_ENV, PYTHONPATH=str(Path(ihconform.__file__).resolve().parents[1]))
    start_daemon(host_exec(ctx.inits["his01"], detach([
        sys.executable, "-m", "ihconform.lab.clinical_server", host.address, str(plan.DICOM_PORT),
        plan.DICOM_AE, str(plan.HL7_PORT)])), d / "clinical.log", env=env, cwd=d)


def register(ctx: LabContext) -> None:
    ctx.add(Service("pacs-dicom", "clinical", plan.HOST_BY_ID["his01"].ns, (("tcp", plan.DICOM_PORT),)))
    ctx.add(Service("his-hl7-mllp", "clinical", plan.HOST_BY_ID["his01"].ns, (("tcp", plan.HL7_PORT),)))
