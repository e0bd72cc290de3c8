"""InMemorySeenStore: atomic check-and-set, LRU bound."""

from __future__ import annotations

import asyncio

import pytest

from cwpro.webhooks import InMemorySeenStore, SeenStore


async def test_add_is_true_once() -> None:
    store = InMemorySeenStore()
    assert isinstance(store, SeenStore)
    assert await store.add("a") is True
    assert await store.add("a") is False
    assert await store.contains("a")
    assert not await store.contains("b")
    assert len(store) == 1


async def test_discard_makes_an_id_new_again() -> None:
    store = InMemorySeenStore()
    await store.add("a")
    await store.discard("a")
    await store.discard("never-added")
    assert not await store.contains("a")
    assert await store.add("a") is True


async def test_concurrent_adds_of_one_id_have_one_winner() -> None:
    store = InMemorySeenStore()
    results = await asyncio.gather(*(store.add("same") for _ in range(100)))
    assert results.count(True) == 1


async def test_least_recently_seen_is_forgotten_first() -> None:
    store = InMemorySeenStore(max_size=3)
    for event_id in "abc":
        await store.add(event_id)
    assert await store.add("a") is False  # refreshes "a"
    await store.add("d")  # evicts "b", the least recently seen
    assert len(store) == 3
    assert not await store.contains("b")
    assert await store.contains("a")
    assert await store.contains("c")
    assert await store.contains("d")


async def test_clear() -> None:
    store = InMemorySeenStore()
    await store.add("a")
    store.clear()
    assert len(store) == 0


def test_max_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_size"):
        InMemorySeenStore(max_size=0)
