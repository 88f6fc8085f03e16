"""The clinical stand-ins, run as a program on his01: a PACS answering DICOM C-ECHO
(pynetdicom) and a HIS/LIS answering HL7 v2 over MLLP with an ACK (the ``hl7`` library).

Why real protocol libraries: the harness's clinical-interface checks send a real
association request and a real MLLP frame; a port that merely accepts connections would
let a broken check pass.

    python -m ihconform.lab.clinical_server ADDRESS DICOM_PORT AE_TITLE HL7_PORT
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any


async def _hl7_session(reader: Any, writer: Any) -> None:
    """Answer every message of one MLLP connection with an application ACK (MSA|AA)."""
    try:
        while not writer.is_closing():
            message = await reader.readmessage()
            writer.writemessage(message.create_ack(application="IHLAB-HIS", facility="IHLAB"))
            await writer.drain()
    except asyncio.IncompleteReadError:
        pass
    finally:
        if not writer.is_closing():
            writer.close()


async def _serve_hl7(address: str, port: int) -> None:
    import hl7.mllp

    server = await hl7.mllp.start_hl7_server(_hl7_session, host=address, port=port)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    address, dicom_port, ae_title, hl7_port = argv[0], int(argv[1]), argv[2], int(argv[3])
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    ae = AE(ae_title=ae_title)
    ae.add_supported_context(Verification)
    ae.start_server((address, dicom_port), block=False)
    try:
        asyncio.run(_serve_hl7(address, hl7_port))
    finally:
        ae.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
