"""The item registry: items in slots numbered in order of arrival, state as arrays per slot."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from stockseries._schema import ITEM

__all__ = ["NEVER", "NO_END", "ItemRegistry", "ranks"]

#: "No bucket yet" / "no episode opened": later than any time.
NEVER = np.iinfo(np.int64).max
#: "No episode reported yet": earlier than any time.
NO_END = np.iinfo(np.int64).min

Fill = int | bool | Callable[[pl.Series], np.ndarray]


class ItemRegistry:
    """Items in slots numbered in order of arrival, and every per-item array of the engine.

    A struct of arrays: each part of the engine declares its per-item arrays with
    :meth:`add` (on which axis the slot is, what a new item starts with) and reads them back
    by name. :meth:`grow` enlarges all of them at once (capacity doubles, the first
    :attr:`n` slots are in use), so no part can forget one.

    Attributes
    ----------
    n
        Slots in use.
    labels
        The item ids, slot order.
    codes
        The item ids as an Enum whose categories are the labels: an id's code is its slot.
    by_name
        The used slots in ``item_id`` order.
    rank
        The position of each used slot in ``item_id`` order (inverse of ``by_name``).
    """

    def __init__(self) -> None:
        self.n = 0
        self.capacity = 0
        self.labels = pl.Series(ITEM, [], dtype=pl.String)
        self.codes = pl.Enum([])
        self.by_name = np.zeros(0, dtype=np.int64)
        self.rank = np.zeros(0, dtype=np.int64)
        self._arrays: dict[str, np.ndarray] = {}
        self._axes: dict[str, int] = {}
        self._fills: dict[str, Fill] = {}

    def add(
        self,
        name: str,
        dtype: Any,
        *,
        shape: tuple[int, ...] = (),
        axis: int = 0,
        fill: Fill = 0,
    ) -> None:
        """Declare a per-item array: ``shape`` without the slot axis, which goes at ``axis``."""
        full = list(shape)
        full.insert(axis, self.capacity)
        self._arrays[name] = np.zeros(full, dtype=dtype)
        self._axes[name] = axis
        self._fills[name] = fill

    def __getitem__(self, name: str) -> np.ndarray:
        return self._arrays[name]

    def __setitem__(self, name: str, array: np.ndarray) -> None:
        """Replace an array (e.g. resized along another axis); its slot axis is unchanged."""
        self._arrays[name] = array

    def used(self, name: str) -> np.ndarray:
        """The used slots of an array (a view)."""
        index: list[slice] = [slice(None)] * self._arrays[name].ndim
        index[self._axes[name]] = slice(0, self.n)
        return self._arrays[name][tuple(index)]

    def slots(self, items: pl.Series) -> np.ndarray:
        """Slot of each item id, registering the ones never seen."""
        codes = items.cast(self.codes, strict=False)
        if codes.null_count():
            self.register(items.filter(codes.is_null()).unique(maintain_order=True))
            codes = items.cast(self.codes)
        return codes.to_physical().to_numpy().astype(np.int64)

    def slots_of_known(self, items: pl.Series) -> np.ndarray | None:
        """Slot of each item id, or None when one of them is not registered."""
        codes = items.cast(self.codes, strict=False)
        if codes.null_count():
            return None
        return codes.to_physical().to_numpy().astype(np.int64)

    def register(self, fresh: pl.Series) -> None:
        """Give new item ids the next slots, each array starting at its fill value."""
        start, stop = self.n, self.n + len(fresh)
        if stop > self.capacity:
            self.grow(max(stop, 2 * self.capacity, 64))
        for name, fill in self._fills.items():
            value = fill(fresh) if callable(fill) else fill
            index: list[slice] = [slice(None)] * self._arrays[name].ndim
            index[self._axes[name]] = slice(start, stop)
            self._arrays[name][tuple(index)] = value
        self._name(pl.concat([self.labels, fresh.rename(ITEM)]))

    def grow(self, capacity: int) -> None:
        """Enlarge every per-item array to ``capacity`` slots, keeping the used ones."""
        for name, array in self._arrays.items():
            axis = self._axes[name]
            shape = list(array.shape)
            shape[axis] = capacity
            out = np.zeros(shape, dtype=array.dtype)
            index: list[slice] = [slice(None)] * array.ndim
            index[axis] = slice(0, self.capacity)
            out[tuple(index)] = array
            self._arrays[name] = out
        self.capacity = capacity

    def restore(self, labels: pl.Series, arrays: dict[str, np.ndarray]) -> None:
        """Take the items and (some of) the arrays of a checkpoint; the others start filled."""
        for name in list(self._arrays):
            tail = list(self._arrays[name].shape)
            tail[self._axes[name]] = 0
            self._arrays[name] = np.zeros(tail, dtype=self._arrays[name].dtype)
        self.n = self.capacity = 0
        self.labels = self.labels.clear()
        self.register(labels)
        for name, array in arrays.items():
            axis = self._axes[name]
            shape = list(array.shape)
            shape[axis] = self.capacity
            out = np.zeros(shape, dtype=self._arrays[name].dtype)
            index: list[slice] = [slice(None)] * array.ndim
            index[axis] = slice(0, self.n)
            out[tuple(index)] = array
            self._arrays[name] = out

    def _name(self, labels: pl.Series) -> None:
        self.labels = labels
        self.codes = pl.Enum(labels)
        self.by_name = labels.arg_sort().to_numpy().astype(np.int64)
        self.rank = ranks(self.by_name)
        self.n = len(labels)


def ranks(by_name: np.ndarray) -> np.ndarray:
    """Position of each slot in item_id order (the inverse of the ``by_name`` permutation)."""
    rank = np.empty(len(by_name), dtype=np.int64)
    rank[by_name] = np.arange(len(by_name), dtype=np.int64)
    return rank
