"""A receiver with a SQLite inbox in its own process, for the kill -9 test.

``python _inbox_child.py DB LOG WORKERS [HEADER_TIMEOUT]``: serves on a free loopback port, prints the port on
stdout, appends the id of every handled event to LOG (one line each, O_APPEND) and stops on
SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from cwpro.webhooks import WebhookEvent, WebhookReceiver


async def main(db: str, log: str, workers: int, header_timeout: float) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    async def handle(event: WebhookEvent) -> None:
        await asyncio.sleep(0)
        os.write(fd, f"{event.id}\n".encode())

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    receiver = WebhookReceiver(
        handle,
        inbox=db,
        workers=workers,
        allowed_ips=["127.0.0.1"],
        poll_interval=0.2,
        header_timeout=header_timeout,
    )
    async with receiver.serve() as url:
        sys.stdout.write(url + "\n")
        sys.stdout.flush()
        await stop.wait()
    os.close(fd)


if __name__ == "__main__":
    header_timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 10.0
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), header_timeout))
