"""The blocking client's threads share one throttle (one private loop per client)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from cwpro.emulator import EmulatorThread
from tests.sync.conftest import make_sync_client


def test_threads_of_one_sync_client_share_its_throttle() -> None:
    with EmulatorThread(seed=3, workorders=60) as emu, make_sync_client(emu) as client:
        ids = [wo.id for wo in client.workorders.list(limit=60)]
        throttle = client._async._transport.throttle
        assert throttle is not None
        before = throttle.stats.requests_sent
        emu.call(emu.stats.reset)
        emu.set_rate_limit("30/s,burst=3")
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(client.workorders.get, ids))
        assert [wo.id for wo in results] == ids
        api_requests = emu.call(lambda: emu.stats.total - emu.stats.token_requests)
        limited = emu.call(lambda: emu.rate_limiter.limited)
        stats = throttle.stats
        # every request of every thread went through the client's one throttle
        assert stats.requests_sent - before == api_requests
        assert stats.throttled == limited > 0
        assert stats.current_rate is not None
