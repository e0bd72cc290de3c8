"""Acceptance: a receiver killed -9 five times loses no acknowledged event (counts, no timing)."""

from __future__ import annotations

import asyncio
import collections
import json
import random
import signal
import sys
from pathlib import Path

import aiohttp

from ._helpers import notification

CHILD = Path(__file__).with_name("_inbox_child.py")
UNIQUE = 4_000
DUPLICATES = 1_000  # 20% of the 5,000 deliveries
KILLS = 5
WORKERS = 2
SENDERS = 16


class Child:
    """The receiver process."""

    def __init__(self, db: Path, log: Path) -> None:
        self.db, self.log = db, log
        self.process: asyncio.subprocess.Process | None = None
        self.url = ""

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, str(CHILD), str(self.db), str(self.log), str(WORKERS),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 120)
        assert line, "the receiver process did not start"
        self.url = line.decode().strip()

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        with open(self.log, "a") as log:  # the child is dead: this line marks the kill exactly
            log.write("KILL\n")

    async def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), 120)


async def test_kill_9_five_times_loses_nothing_acknowledged(tmp_path: Path) -> None:
    rng = random.Random(1818)
    numbers = list(range(UNIQUE)) + rng.choices(range(UNIQUE), k=DUPLICATES)
    rng.shuffle(numbers)
    bodies = {n: json.dumps(notification(n)).encode() for n in range(UNIQUE)}
    ids = {n: notification(n)["id"] for n in range(UNIQUE)}
    kill_after = sorted(rng.sample(range(300, len(numbers) - 300), KILLS))

    child = Child(tmp_path / "events.db", tmp_path / "handled.log")
    await child.start()
    to_send = collections.deque(numbers)
    acked: set[str] = set()
    acks = 0
    in_flight = 0
    up = asyncio.Event()
    up.set()
    enough_acks = asyncio.Event()
    target = [kill_after[0]]

    async def sender(session: aiohttp.ClientSession) -> None:
        nonlocal acks, in_flight
        while to_send or in_flight:
            if not to_send:
                await asyncio.sleep(0.01)
                continue
            number = to_send.popleft()
            in_flight += 1
            await up.wait()
            status = None
            try:
                async with session.post(child.url, data=bodies[number]) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
                pass
            if status == 200:
                acked.add(ids[number])
                acks += 1
                if target and acks >= target[0]:
                    enough_acks.set()
            else:
                to_send.append(number)  # as CWP does: redeliver what did not get 200
                await asyncio.sleep(0.02)
            in_flight -= 1

    async def killer() -> None:
        for point in kill_after:
            target[0] = point
            await enough_acks.wait()
            enough_acks.clear()
            up.clear()
            await child.kill()
            await child.start()
            up.set()
        target.clear()

    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=SENDERS, force_close=False)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        await asyncio.gather(killer(), *(sender(session) for _ in range(SENDERS)))

    assert acked == set(ids.values())
    wanted = set(ids.values())
    for _ in range(1200):  # wait (bounded) until every event was handled
        handled = set(child.log.read_text().split()) - {"KILL"}
        if wanted <= handled:
            break
        await asyncio.sleep(0.1)
    assert await child.stop() == 0

    lines = child.log.read_text().split("\n")[:-1]
    assert lines.count("KILL") == KILLS
    handled_ids = [line for line in lines if line != "KILL"]
    counts = collections.Counter(handled_ids)
    assert set(counts) == wanted  # at least once each, nothing else
    # a second handling only for events in flight at a kill: among the last WORKERS lines
    # handled before a KILL marker
    at_a_kill: set[str] = set()
    segment: list[str] = []
    for line in lines:
        if line == "KILL":
            at_a_kill.update(segment[-WORKERS:])
            segment = []
        else:
            segment.append(line)
    extra = {event_id: count - 1 for event_id, count in counts.items() if count > 1}
    assert set(extra) <= at_a_kill, extra
    assert sum(extra.values()) <= KILLS * WORKERS
    assert child.db.stat().st_size > 0
