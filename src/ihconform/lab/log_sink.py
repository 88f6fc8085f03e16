"""A minimal central log host on the bastion: accepts syslog over TCP (RFC 6587 framing by
newline) on port 514 and appends each line to a file.

Why: every host's baseline forwards ``*.* @@198.51.100.1:514``; with a live receiver a
"logs are sent to a central log server" check can test the path, not just the config line.

    python -m ihconform.lab.log_sink ADDRESS PORT FILE
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ihconform.lab.context import LabContext

LOG_PORT = 514


def start(ctx: LabContext) -> None:
    """Start the receiver on the bastion (inside its namespaces, writing its /var/log)."""
    import ihconform
    from ihconform.lab import plan
    from ihconform.lab.proc import CLEAN_ENV, detach, host_exec, start_daemon

    d = ctx.dir("hosts", "bastion", "var-log")
    env = dict(CLEAN_ENV, PYTHONPATH=str(Path(ihconform.__file__).resolve().parents[1]))
    start_daemon(host_exec(ctx.inits["bastion"], detach([
        sys.executable, "-m", "ihconform.lab.log_sink", plan.LOG_HOST, str(LOG_PORT), "/var/log/remote.log"])),
        d / "log_sink.out", env=env, cwd=d)


def register(ctx: LabContext) -> None:
    from ihconform.lab import plan
    from ihconform.lab.context import Service

    ctx.add(Service("log-sink", "log", plan.BASTION.ns, (("tcp", LOG_PORT),)))


async def _serve(address: str, port: int, out: Path) -> None:
    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        src = peer[0] if peer else "?"
        try:
            while line := await reader.readline():
                with out.open("ab") as f:
                    f.write(src.encode() + b" " + line.rstrip(b"\r\n")[:8192] + b"\n")
        finally:
            writer.close()

    server = await asyncio.start_server(session, address, port)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    asyncio.run(_serve(argv[0], int(argv[1]), Path(argv[2])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
