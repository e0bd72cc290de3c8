"""The fault matrix's fixed fast subset (CI); ``python -m tests.fault_matrix`` is the soak.

Every fault family is run against the cursor paginator and the partitioned export (async),
a few combinations against the blocking client, and duplicated/reordered webhook deliveries
against a receiver with a flaky handler. Each run must deliver exactly the emulator's dataset,
or stop only with a documented error whose resume cursor/checkpoint completes it exactly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cwpro.pagination import AsyncCursorPaginator, AsyncExport, CursorPage

from . import fault_matrix
from .fault_matrix import FAULT_FAMILIES, RunPlan, RunResult, make_rule, run_plan


def assert_exact(result: RunResult) -> None:
    assert result.ok, result.describe() + "\n" + "\n".join(result.undocumented)
    assert result.delivered == result.expected


@pytest.mark.parametrize("mode", ["cursor-async", "export-async"])
@pytest.mark.parametrize("family", sorted(FAULT_FAMILIES))
def test_every_fault_family_ends_exact(family: str, mode: str) -> None:
    # max_retries=1 and three firings: the first is absorbed by a retry, the next ones (for
    # families that are retried) interrupt the walk, which is resumed from its cursor.
    plan = RunPlan(
        seed=11,
        mode=mode,
        faults=(make_rule(family, times=3),),
        size=90,
        limit=20,
        max_retries=1,
        partitioning="dates",
        parts=3,
        concurrency=2,
    )
    result = run_plan(plan)
    assert_exact(result)
    assert sum(result.faults.values()) >= 1, "the fault never fired: the test proves nothing"


@pytest.mark.parametrize(
    ("mode", "families", "by_item", "ordered"),
    [
        ("cursor-sync", ("5xx-html", "reset-mid-body", "expire-token"), False, False),
        ("cursor-sync", ("429-retry-after", "truncate-body", "slow-body"), True, False),
        ("export-sync", ("5xx-json", "invalid-cursor-200", "reset-before-headers"), False, True),
        (
            "export-sync",
            ("429-no-retry-after", "token-endpoint-5xx", "bad-request-400"),
            True,
            False,
        ),
    ],
)
def test_blocking_client_under_combined_faults(
    mode: str, families: tuple[str, ...], by_item: bool, ordered: bool
) -> None:
    plan = RunPlan(
        seed=5,
        mode=mode,
        faults=tuple(make_rule(f, times=2) for f in families),
        size=70,
        limit=15,
        by_item=by_item,
        max_retries=0,
        partitioning="status",
        concurrency=3,
        ordered=ordered,
    )
    result = run_plan(plan)
    assert_exact(result)
    assert sum(result.interruptions.values()) >= 1  # max_retries=0: some walk was resumed


@pytest.mark.parametrize("receiver_mode", ["inline", "queue"])
def test_duplicated_and_reordered_webhooks_are_handled_once(receiver_mode: str) -> None:
    plan = RunPlan(
        seed=3,
        mode="webhooks",
        faults=(make_rule("429-retry-after", route="POST /workorders", times=2),),
        max_retries=3,
        events=15,
        duplicate_probability=1.0,
        reorder_window=0.02,
        receiver_mode=receiver_mode,
        handler_failure=0.3,
    )
    result = run_plan(plan)
    assert_exact(result)
    assert result.expected == 15
    assert result.duplicate_deliveries >= 1


def test_a_fixed_batch_of_random_runs() -> None:
    summary = fault_matrix.run_many(range(100, 112))
    assert summary.ok, summary.report()
    assert summary.runs == 12
    assert sum(summary.faults.values()) > 0


def test_the_checker_can_fail() -> None:
    result = RunResult(RunPlan(seed=0, mode="cursor-async"))
    result.check(["a", "b", "c"], ["a", "b", "b"], ordered=True)
    assert (result.lost, result.duplicated, result.ok) == (1, 1, False)
    result = RunResult(RunPlan(seed=0, mode="cursor-async"))
    result.check(["a", "b"], ["b", "a"], ordered=True)
    assert not result.ok  # every item once, but the cursor walk must keep the order
    result = RunResult(RunPlan(seed=0, mode="export-async"))
    result.check(["a", "b"], ["b", "a", "x"], ordered=False)
    assert result.duplicated == 1  # an item that is not in the dataset counts too


def test_soak_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert fault_matrix.main(["--runs", "2", "--seed", "40"]) == 0
    out = capsys.readouterr().out
    for line in ("runs: 2", "faults injected:", "retries:", "items:", "lost: 0", "duplicated: 0"):
        assert line in out


# -- the export checkpoint regression the matrix found ------------------------------------------
def _pages(items: list[int], size: int) -> dict[str | None, CursorPage[int]]:
    chunks = [items[i : i + size] for i in range(0, len(items), size)] or [[]]
    pages: dict[str | None, CursorPage[int]] = {}
    for n, chunk in enumerate(chunks):
        cursor = None if n == 0 else f"c{n}"
        has_next = n + 1 < len(chunks)
        pages[cursor] = CursorPage(
            items=chunk,
            has_next=has_next,
            has_prev=n > 0,
            next_cursor=f"c{n + 1}" if has_next else None,
            prev_cursor=None,
            page_results=len(chunk),
            total_results=len(items),
            cursor=cursor,
        )
    return pages


def _export(data: dict[int, list[int]], **options: Any) -> AsyncExport[int]:
    def make(query: Any, cursor: str | None) -> AsyncCursorPaginator[int]:
        pages = _pages(data[query["part"]], 3)

        async def fetch(at: str | None) -> CursorPage[int]:
            await asyncio.sleep(0)
            return pages[at]

        return AsyncCursorPaginator(fetch, cursor=cursor)

    return AsyncExport(make, [{"part": p} for p in data], **options)


async def _first_pages(pages: AsyncIterator[Any], count: int) -> list[int]:
    got: list[int] = []
    async for _, page in pages:
        got.extend(page.items)
        count -= 1
        if count == 0:
            break
    return got


@pytest.mark.parametrize("stop_after", [1, 2, 3, 4, 5])
async def test_checkpoint_after_a_partitions_last_page_does_not_restart_it(
    stop_after: int,
) -> None:
    data = {0: [1, 2], 1: [10, 11, 12, 13, 14], 2: [20]}
    export = _export(data, ordered=True, concurrency=2)
    pages = export.pages()
    got = await _first_pages(pages, stop_after)
    await pages.aclose()
    saved = export.checkpoint()
    got.extend([item async for item in _export(data, ordered=True, resume=saved)])
    assert sorted(got) == sorted(i for items in data.values() for i in items)
