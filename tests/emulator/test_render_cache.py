"""The emulator renders each seeded work order once while the dataset fits its render cache.

A list page used to render its 100 items afresh on every request (the cache held 2,048 items,
first in first out, so a repeated walk of 8,000 never hit it): the emulator's CPU per page then
bounded what a benchmark of concurrent partitions could show. Updates still win over the cache.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cwpro.emulator import datasets
from cwpro.emulator.datasets import EmulatorState

ANCHOR = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def _state(workorders: int) -> EmulatorState:
    return EmulatorState(
        seed=7, anchor=ANCHOR, workorders=workorders, sites=5, work_types=3, notifications=0
    )


def _count_renders(monkeypatch: pytest.MonkeyPatch, state: EmulatorState) -> list[int]:
    generator = state.workorders.generator
    render = generator.render
    calls: list[int] = []

    def counted(index: int) -> dict[str, Any]:
        calls.append(index)
        return render(index)

    monkeypatch.setattr(generator, "render", counted)
    return calls


def test_a_dataset_of_benchmark_size_is_rendered_once(monkeypatch: pytest.MonkeyPatch) -> None:
    size = 20_000  # the largest benchmark dataset (bench_load)
    assert size <= datasets.RENDER_CACHE_SIZE
    state = _state(size)
    calls = _count_renders(monkeypatch, state)
    store = state.workorders
    first = [store.item_at(p)["_id"] for p in range(size)]
    second = [store.item_at(p)["_id"] for p in range(size)]
    assert first == second
    assert len(calls) == size  # the second walk rendered nothing


def test_a_larger_walk_evicts_and_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasets, "RENDER_CACHE_SIZE", 100)
    state = _state(250)
    calls = _count_renders(monkeypatch, state)
    store = state.workorders
    for position in range(250):
        store.item_at(position)
    assert len(store._rendered) == 100
    assert store.item_at(249)["_id"] == state.workorders.id_at(249)  # still cached: newest
    assert len(calls) == 250
    store.item_at(0)  # evicted long ago: rendered again
    assert len(calls) == 251


def test_an_update_wins_over_the_cached_rendering() -> None:
    state = _state(10)
    store = state.workorders
    before = store.item_at(3)
    store.update(str(before["_id"]), {"name": "renamed"}, ANCHOR)
    assert store.item_at(3)["name"] == "renamed"
    assert store.get(str(before["_id"]))["name"] == "renamed"  # type: ignore[index]
