"""A cleartext remote-login listener on tcp/23 (variant ``telnet``): a stand-in for telnetd.

Why a stand-in: no telnet or rsh daemon is installed on this machine (nor should the lab need
one). L3-CES1-03's "no cleartext remote shell" part judges the listening socket (``ss``), not
the daemon's name, so a listener on the telnet port that greets with a login prompt in clear
text is what an assessor's port check finds. It reads nothing and closes each connection
after the prompt: it never accepts a password. ``ss`` shows it as python3, and host probes that
match daemons by process name (host.minimal_services: telnetd, in.telnetd) rightly do not see
a telnetd here.

    python -m ihconform.lab.telnet_standin ADDRESS PORT
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ihconform.lab.context import LabContext

TELNET_PORT = 23
HOST_ID = "av1"


def start(ctx: LabContext) -> None:
    """Start the listener inside av1's namespaces."""
    import ihconform
    from ihconform.lab import plan
    from ihconform.lab.proc import CLEAN_ENV, detach, host_exec, start_daemon

    d = ctx.dir("hosts", HOST_ID, "telnet")
    env = dict(CLEAN_ENV, PYTHONPATH=str(Path(ihconform.__file__).resolve().parents[1]))
    start_daemon(host_exec(ctx.inits[HOST_ID], detach([
        sys.executable, "-m", "ihconform.lab.telnet_standin", plan.HOST_BY_ID[HOST_ID].address,
        str(TELNET_PORT)])), d / "telnet.out", env=env, cwd=d)


def register(ctx: LabContext) -> None:
    from ihconform.lab import plan
    from ihconform.lab.context import Service

    if ctx.has("telnet"):
        ctx.add(Service("telnet-standin", "cleartext-shell", plan.HOST_BY_ID[HOST_ID].ns, (("tcp", TELNET_PORT),),
                        note="variant telnet"))


async def _greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"\r\nDebian GNU/Linux\r\nlogin: ")
    try:
        await writer.drain()
    finally:
        writer.close()


async def _serve(address: str, port: int) -> None:
    server = await asyncio.start_server(_greet, address, port)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    address, port = argv[0], int(argv[1])
    asyncio.run(_serve(address, port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
