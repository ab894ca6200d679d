"""Tests for stockseries.live.registry: items in slots, per-item arrays, one grow()."""

from __future__ import annotations

import numpy as np
import polars as pl

from stockseries.live.registry import NEVER, ItemRegistry


def test_one_grow_enlarges_every_array_and_keeps_what_it_held() -> None:
    registry = ItemRegistry()
    registry.add("first", np.int64, fill=NEVER)
    registry.add("open", np.int64, shape=(4, 3), axis=1)  # the slot axis in the middle
    registry.add("level", np.int64, fill=lambda fresh: np.arange(len(fresh)) + 100)
    slots = registry.slots(pl.Series(["b", "a", "b"]))
    assert slots.tolist() == [0, 1, 0] and registry.n == 2
    registry["open"][:, 1, :] = 7
    registry["first"][1] = 5
    more = registry.slots(pl.Series([f"x{i}" for i in range(100)] + ["a"]))
    assert more[-1] == 1 and registry.n == 102 and registry.capacity >= 102
    assert registry["open"].shape[:2] == (4, registry.capacity)
    assert (registry["open"][:, 1, :] == 7).all() and registry["first"][1] == 5
    assert (registry["first"][2:102] == NEVER).all()
    assert registry["level"][:2].tolist() == [100, 101]
    assert registry["level"][2:5].tolist() == [100, 101, 102]  # each batch of new items
    assert registry.labels[registry.by_name].to_list()[:3] == ["a", "b", "x0"]
    assert registry.rank[registry.by_name].tolist() == list(range(102))
    assert registry.used("open").shape == (4, 102, 3)


def test_restore_takes_the_items_and_arrays_of_a_checkpoint() -> None:
    registry = ItemRegistry()
    registry.add("first", np.int64, fill=NEVER)
    registry.add("open", np.int64, shape=(4, 0), axis=1)
    registry.slots(pl.Series(["z"]))
    labels = pl.Series("item_id", ["p", "q", "r"])
    registry.restore(labels, {"open": np.ones((4, 3, 5), dtype=np.int64)})
    assert registry.n == 3 and registry.labels.to_list() == ["p", "q", "r"]
    assert registry.used("open").shape == (4, 3, 5) and registry.used("open").sum() == 60
    assert (registry.used("first") == NEVER).all()
    assert registry.slots_of_known(pl.Series(["q", "p"])).tolist() == [1, 0]
    assert registry.slots_of_known(pl.Series(["nope"])) is None
