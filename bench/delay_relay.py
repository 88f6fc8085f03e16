"""A TCP relay that adds a fixed one-way delay each way: a real site's round trip in the lab.

Why: a round trip between namespaces on this machine costs about 0.1 ms, while a harness
reaches a hospital's servers 10-50 ms away, and this kernel has no netem to delay packets.
The relay listens on loopback and forwards to one lab address; every chunk read on one side
is written to the other ``--delay-ms`` later (order kept), so a request/response exchange
costs 2 x delay more. Bandwidth is not limited. It serves until killed.

    .venv/bin/python bench/delay_relay.py --target 198.51.100.60:22 --delay-ms 10
    # prints the loopback port it listens on, then relays
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def read() -> None:
        while True:
            data = await reader.read(65536)
            await queue.put((time.monotonic() + delay, data))
            if not data:
                return

    async def write() -> None:
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                writer.close()
                return
            writer.write(data)
            await writer.drain()

    try:
        await asyncio.gather(read(), write())
    except (ConnectionError, OSError):
        writer.close()


async def serve(target_host: str, target_port: int, delay: float, port: int) -> None:
    async def handle(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        try:
            tr, tw = await asyncio.open_connection(target_host, target_port)
        except OSError:
            cw.close()
            return
        await asyncio.gather(_pump(cr, tw, delay), _pump(tr, cw, delay), return_exceptions=True)

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", required=True, help="HOST:PORT on the lab (198.51.100.0/24 only)")
    ap.add_argument("--delay-ms", type=float, default=10.0, help="one-way delay (RTT = 2x)")
    ap.add_argument("--port", type=int, default=0, help="loopback port (0: any free)")
    args = ap.parse_args()
    host, _, port = args.target.rpartition(":")
    if not host.startswith("198.51.100."):
        print("delay_relay: the target must be a lab address (198.51.100.0/24)", file=sys.stderr)
        return 2
    asyncio.run(serve(host, int(port), args.delay_ms / 1000.0, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
