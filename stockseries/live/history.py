"""Retained history: the last closed buckets of each item that the detector reads again."""

from __future__ import annotations

import numpy as np
import polars as pl

from stockseries._schema import ITEM, TS
from stockseries.live.registry import ItemRegistry
from stockseries.live.results import COUNTS, SERIES_MEASURES, SERIES_SCHEMA, empty_corrections
from stockseries.live.times import timestamps

__all__ = ["RetainedHistory"]


class RetainedHistory:
    """The last ``width`` closed buckets of each started item, newest last.

    Kept in the item registry as ``ring[slot, position, column]``, aligned to the frontier:
    position ``p`` is bucket ``closed - width + p``. With ``corrections`` every series column
    is kept (a late event rewrites them); otherwise only the watched one, which is all the
    detector reads.

    ``width`` follows the history: it grows (doubling) with the buckets closed since the
    earliest item started, up to ``limit``, the method's look-back — so memory follows the
    data, not the window (``window=10**9`` on a day of events holds a day of buckets).
    While ``width < limit`` every item's whole closed history is retained.
    """

    def __init__(
        self, registry: ItemRegistry, width: int, column: str, *, every_us: int, all_columns: bool
    ) -> None:
        if column not in SERIES_MEASURES:
            raise ValueError(
                f"column must be one of the series columns {SERIES_MEASURES}, got {column!r}"
            )
        self.registry = registry
        self.limit = width
        self.width = 0
        self.every_us = every_us
        self.columns = SERIES_MEASURES if all_columns else (column,)
        self.watched = self.columns.index(column)
        registry.add("ring", np.int64, shape=(0, len(self.columns)))

    def reserve(self, needed: int) -> None:
        """Make room for ``needed`` buckets per item (at most :attr:`limit`): older positions
        are added in front, empty (before every item's first bucket)."""
        if needed <= self.width or self.width == self.limit:
            return
        width = min(self.limit, max(needed, 2 * self.width, 64))
        ring = self.registry["ring"]
        grown = np.zeros((ring.shape[0], width, ring.shape[2]), dtype=ring.dtype)
        grown[:, width - self.width :] = ring
        self.registry["ring"] = grown
        self.width = width

    def restored(self) -> None:
        """Take the width of a restored ring (any width up to :attr:`limit`)."""
        self.width = int(self.registry["ring"].shape[1])

    def take(self, slots: np.ndarray) -> np.ndarray:
        """A copy of the retained buckets of ``slots``, ``[slot, position, column]``."""
        return np.take(self.registry["ring"], slots, axis=0)

    def store(
        self,
        slots: np.ndarray,
        ring: np.ndarray,
        watched: np.ndarray,
        matrices: dict[str, np.ndarray],
    ) -> None:
        """Move the window on: ``ring`` (as :meth:`take` gave it) followed by the new buckets.

        ``watched`` is the watched column's retained buckets followed by the new ones (the
        detector's input), ``matrices`` the new buckets of every series column.
        """
        width = self.width
        if not width:
            return
        for i, name in enumerate(self.columns):
            kept = (
                watched if i == self.watched else np.concatenate([ring[:, :, i], matrices[name]], 1)
            )
            ring[:, :, i] = kept[:, -width:]
        self.registry["ring"][slots] = ring

    def correct(
        self,
        slots: np.ndarray,
        buckets: np.ndarray,
        quantity: np.ndarray,
        is_delivery: np.ndarray,
        closed: int,
    ) -> tuple[pl.DataFrame, int]:
        """Apply late events to the retained buckets (``corrections=True`` keeps them all).

        Returns the retained rows whose values changed and how many events hit a retained
        bucket.
        """
        width, registry = self.width, self.registry
        if width == 0:
            return empty_corrections(), 0
        affected, index = np.unique(slots, return_inverse=True)
        held = np.clip(closed - registry["first"][affected], 0, width)
        position = width - (closed - buckets)
        retained = position >= (width - held)[index]
        delta = np.zeros((len(affected), width, len(COUNTS)), dtype=np.int64)
        is_order = ~is_delivery
        for measure, rows, values in (
            (0, retained & is_order, quantity),
            (1, retained & is_order, 1),
            (2, retained & is_delivery, quantity),
            (3, retained & is_delivery, 1),
        ):
            values = values[rows] if isinstance(values, np.ndarray) else values
            np.add.at(delta[:, :, measure], (index[rows], position[rows]), values)
        # Each late event moves the level of its bucket and every later retained one.
        net = np.where(is_delivery, quantity, -quantity)
        shift = np.zeros((len(affected), width + 1), dtype=np.int64)
        np.add.at(shift, (index, np.clip(position, 0, width)), net)
        shift = np.cumsum(shift[:, :width], axis=1)
        ring = registry["ring"][affected]
        ring[:, :, :4] += delta
        ring[:, :, 4] += shift
        registry["ring"][affected] = ring
        valid = np.arange(width)[None, :] >= (width - held)[:, None]
        changed = valid & ((delta != 0).any(axis=2) | (shift != 0))
        counts = changed.sum(axis=1)
        bucket_of = np.broadcast_to(closed - width + np.arange(width), changed.shape)[changed]
        frame = pl.DataFrame(
            {
                ITEM: registry.labels.gather(np.repeat(affected, counts)),
                TS: timestamps(TS, bucket_of * self.every_us),
                **{name: ring[:, :, i][changed] for i, name in enumerate(SERIES_MEASURES)},
            },
            schema=SERIES_SCHEMA,
        )
        return frame.sort(ITEM, TS), int(retained.sum())
