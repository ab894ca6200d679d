"""Alert episodes in the live engine: flagged buckets cut, opened and closed as batch does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from stockseries._schema import ITEM, TS, TS_DTYPE
from stockseries.alerts._episodes import cut_episodes
from stockseries.alerts._ids import combine, direction_key, hex16, item_hashes
from stockseries.live.registry import NEVER, NO_END, ItemRegistry
from stockseries.live.results import empty_alerts_frame
from stockseries.live.times import timestamps

__all__ = [
    "EPISODE_SCHEMA",
    "FLAG_SCHEMA",
    "EpisodeRows",
    "EpisodeTracker",
    "Flagged",
    "flag_schema",
]

EPISODE_SCHEMA = {ITEM: pl.String(), "last_end": pl.Int64(), "opened": pl.Int64()}
FLAG_SCHEMA = {
    ITEM: pl.String(),
    TS: TS_DTYPE,
    "_t": pl.Int64(),
    "value": pl.Int64(),
    "compared": pl.Float64(),
    "threshold": pl.Float64(),
    "score": pl.Float64(),
}


def flag_schema(drops: bool) -> dict[str, pl.DataType]:
    """The schema of the held flagged buckets: with ``_down`` (a drop?) when drops are watched.

    Without drops the table is the one checkpoints have always held, so checkpoints of
    spike-only processors read and write as before.
    """
    return {**FLAG_SCHEMA, "_down": pl.Boolean()} if drops else FLAG_SCHEMA


@dataclass(frozen=True, eq=False)
class Flagged:
    """Flagged buckets as NumPy columns: the rows batch ``cut_episodes`` reads, keyed by item slot.

    Episodes are a few hundred rows per step on sparse data, where a Polars frame's fixed
    costs (sorting strings, a grouped aggregation) would dominate. Null floats are NaN here:
    the detectors turn every NaN into null, so the two map one to one. ``down`` marks a
    drop (the value fell below the lower bar); a drop's ``threshold`` is that lower bar, as
    batch ``alerts`` reports it.
    """

    slot: np.ndarray  # int64
    t: np.ndarray  # bucket start, epoch µs
    value: np.ndarray  # int64, the detection column
    compared: np.ndarray  # float64, what the threshold applies to
    threshold: np.ndarray
    score: np.ndarray
    down: np.ndarray  # bool: a drop rather than a spike

    def __len__(self) -> int:
        return len(self.t)

    def columns(self) -> tuple[np.ndarray, ...]:
        """The seven columns, in field order."""
        return self.slot, self.t, self.value, self.compared, self.threshold, self.score, self.down

    def take(self, index: np.ndarray) -> Flagged:
        """The rows at ``index``."""
        return Flagged(*(column[index] for column in self.columns()))

    @staticmethod
    def empty() -> Flagged:
        """No rows."""
        ints, floats = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        return Flagged(ints, ints, ints, floats, floats, floats, np.zeros(0, dtype=bool))

    @staticmethod
    def concat(parts: list[Flagged]) -> Flagged:
        """The rows of every part, in order."""
        if len(parts) == 1:
            return parts[0]
        columns = zip(*(part.columns() for part in parts), strict=True)
        return Flagged(*(np.concatenate(column) for column in columns))


@dataclass(frozen=True, eq=False)
class EpisodeRows:
    """Episodes of sorted flagged buckets: episode ``e`` is rows ``first[e]..last[e]``."""

    first: np.ndarray
    last: np.ndarray
    of_row: np.ndarray  # the episode of each row

    @staticmethod
    def of(begins: np.ndarray) -> EpisodeRows:
        """From the rows that begin an episode (the first row always does)."""
        first = np.flatnonzero(begins)
        return EpisodeRows(first, np.append(first[1:] - 1, len(begins) - 1), np.cumsum(begins) - 1)


@dataclass(frozen=True, eq=False)
class _Cut:
    """The episodes of the held flagged buckets after a step."""

    flags: Flagged
    rows: EpisodeRows
    slots: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    done: np.ndarray


class EpisodeTracker:
    """Grows, opens and closes alert episodes by the batch episode rules.

    Holds the flagged buckets of each item's unfinished episode, sorted by item_id then
    time, and per item slot (in the registry) the end (µs) of the last reported episode
    (``NO_END`` if none), the start of the opened, unfinished one (``NEVER``) and the
    alert-id hash of the item, computed at its first alert (BLAKE2b per item is the costly
    part of an id).

    With ``drops`` (the detection watches ``direction="down"`` or ``"both"``) the flagged
    buckets carry their direction and, as batch ``cut_episodes`` does, an episode never
    mixes directions: a change of direction starts a new one (and finishes the previous
    one). A drop episode's peak is its lowest bucket, its threshold the lower bar and its
    excess how far it fell below; its id is keyed by the settings marked ``down``
    (:func:`~stockseries.alerts.alert_id`), cached per item like the spike one. The
    cooldown, as in batch, follows the last reported episode of either direction.
    """

    def __init__(
        self,
        registry: ItemRegistry,
        *,
        every_us: int,
        merge_gap: int,
        min_buckets: int,
        cooldown: int,
        params_key: str,
        suppliers: pl.DataFrame | None,
        drops: bool = False,
    ) -> None:
        self.registry = registry
        self.drops = drops
        self.every_us = every_us
        self.merge_gap, self.min_buckets, self.cooldown = merge_gap, min_buckets, cooldown
        self.params_key = params_key
        self.suppliers = suppliers
        self.flags = Flagged.empty()
        self.next_due = 0  # frontier (µs) at which the earliest pending episode can finish
        registry.add("last_end", np.int64, fill=NO_END)
        registry.add("opened_at", np.int64, fill=NEVER)
        registry.add("hash", np.uint64)
        registry.add("hashed", bool, fill=False)
        if drops:
            registry.add("hash_down", np.uint64)
            registry.add("hashed_down", bool, fill=False)

    def cut(
        self, fresh: Flagged | None, *, final: bool, closed: int | None
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Alerts opened and closed now that buckets before ``closed`` are closed.

        With the new flagged buckets the held ones are cut into episodes as the batch
        ``cut_episodes`` cuts them (a new episode where the item changes or more than
        ``merge_gap`` buckets lie between two flagged ones) and aggregated as it aggregates
        them. An episode is finished once the ``merge_gap + 1`` buckets after its last
        flagged bucket are closed (nothing can join it any more) or at the end of the
        stream. Then the batch rules apply in start order per item: at least
        ``min_buckets``, and not starting before the end of the previous *reported* episode
        + cooldown. Cooldown only looks back, so an unfinished episode's fate is known once
        it spans ``min_buckets``: that is when it is opened.
        """
        every = self.every_us
        flags = self.flags
        if fresh is not None:
            # Held buckets are older than every fresh one of their item, and both hold at
            # most one bucket per (item, time): sorting by (item_id, time) is by rank, time.
            flags = Flagged.concat([flags, fresh]) if len(flags) else fresh
            flags = flags.take(np.lexsort((flags.t, self.registry.rank[flags.slot])))
        horizon = closed * every if closed is not None else 0
        if len(flags) == 0 or (fresh is None and not final and horizon < self.next_due):
            self.flags = flags
            return empty_alerts_frame(self.drops), empty_alerts_frame(self.drops)
        cut = self._episodes_of(flags, final=final, horizon=horizon)
        spans = (cut.ends - cut.starts) // every
        if self.cooldown == 0:
            opened, finished = self._decide(cut, spans)
        else:
            opened, finished = self._decide_in_order(cut, spans)
        alerts = self._alerts(cut, opened, finished)
        done, reach = cut.done, (self.merge_gap + 1) * every
        if done.any():
            # Only an item's last episode can be unfinished: keep the buckets of those.
            flags = flags.take(np.flatnonzero(~done[cut.rows.of_row]))
        self.flags = flags
        # The earliest frontier at which a pending episode can finish: until then a step
        # without new flagged buckets has nothing to do here.
        self.next_due = int(cut.ends[~done].min()) + reach if not done.all() else 0
        return alerts

    def _episodes_of(self, flags: Flagged, *, final: bool, horizon: int) -> _Cut:
        every = self.every_us
        reach = (self.merge_gap + 1) * every
        t, rank = flags.t, self.registry.rank[flags.slot]
        begins = np.ones(len(t), dtype=bool)
        begins[1:] = (rank[1:] != rank[:-1]) | (np.diff(t) > reach)
        if self.drops:
            begins[1:] |= flags.down[1:] != flags.down[:-1]  # an episode has one direction
        # Episodes are numbered by item_id, then start, as batch ``cut_episodes`` numbers them.
        rows = EpisodeRows.of(begins)
        starts = t[rows.first]
        ends = t[rows.last] + every
        slots = flags.slot[rows.first]
        if final:
            done = np.ones(len(starts), dtype=bool)
        else:
            done = ends + reach <= horizon
            # An episode followed by another of its item is finished: the buckets between
            # are closed (without drops that is implied by the time gap).
            done[:-1] |= slots[1:] == slots[:-1]
        return _Cut(flags, rows, slots, starts, ends, done)

    def _decide(self, cut: _Cut, spans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Without cooldown: which episodes open and close now (vectorised).

        The flags only hold buckets closed after the item's last reported episode ended, so
        without cooldown only ``min_buckets`` decides. An episode opens once, when it is
        allowed and its start is not the one already opened for the item (each item has at
        most one opened, unfinished episode, and its starts are distinct).
        """
        last_end, opened_at = self.registry["last_end"], self.registry["opened_at"]
        slots, starts, done = cut.slots, cut.starts, cut.done
        allowed = spans >= self.min_buckets
        known = opened_at[slots]
        is_new = allowed & (known != starts)
        closed = np.flatnonzero(done & allowed)
        if len(closed):
            # Episodes come by item, then start: an item's latest closed one is its last.
            closing = slots[closed]
            latest = np.append(closing[1:] != closing[:-1], True)
            last_end[closing[latest]] = cut.ends[closed[latest]]
        opened_at[slots[done & (known != NEVER)]] = NEVER
        running_new = is_new & ~done
        opened_at[slots[running_new]] = starts[running_new]
        return np.flatnonzero(is_new), closed

    def _decide_in_order(self, cut: _Cut, spans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """With cooldown: each episode depends on the last reported one, so in order.

        A loop over episodes (a handful per step), not over events.
        """
        last_end, opened_at = self.registry["last_end"], self.registry["opened_at"]
        cooldown_us = self.cooldown * self.every_us
        opened, closed = [], []
        for row, (slot, start, end, span, finished) in enumerate(
            zip(
                cut.slots.tolist(),
                cut.starts.tolist(),
                cut.ends.tolist(),
                spans.tolist(),
                cut.done.tolist(),
                strict=True,
            )
        ):
            previous = int(last_end[slot])
            allowed = span >= self.min_buckets and (
                previous == NO_END or start >= previous + cooldown_us
            )
            if finished:
                if allowed:
                    closed.append(row)
                    last_end[slot] = end
                    if opened_at[slot] != start:
                        opened.append(row)
                opened_at[slot] = NEVER
            elif allowed and opened_at[slot] != start:
                opened.append(row)
                opened_at[slot] = start
        return np.array(opened, dtype=np.int64), np.array(closed, dtype=np.int64)

    def _alerts(
        self, cut: _Cut, opened: np.ndarray, closed: np.ndarray
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Alert rows of the opened and the closed episodes.

        Both are built as one frame, the opened rows then the closed ones (an episode that
        opens and closes in the step is in both), and sliced apart, which is cheaper than
        any row selection. Batch sorts by start then item; episodes are numbered by item
        then start, so ordering them by (start, number) gives that order.
        """
        starts = cut.starts

        def in_batch_order(which: np.ndarray) -> np.ndarray:
            which = np.sort(which)
            return which[np.argsort(starts[which], kind="stable")]

        opened, closed = in_batch_order(opened), in_batch_order(closed)
        if not len(opened) and not len(closed):
            return empty_alerts_frame(self.drops), empty_alerts_frame(self.drops)
        same = np.array_equal(opened, closed)
        rows = opened if same else np.concatenate([opened, closed])
        finished = self._alert_frame(cut, rows)
        if same:
            return finished, finished
        n_opened = len(opened)
        return (
            finished.head(n_opened) if n_opened else empty_alerts_frame(self.drops),
            finished.slice(n_opened) if len(closed) else empty_alerts_frame(self.drops),
        )

    def _alert_frame(self, cut: _Cut, rows: np.ndarray) -> pl.DataFrame:
        """The alert rows of episodes ``rows``, as batch ``alerts`` builds them."""
        flags, episode, starts, ends = cut.flags, cut.rows, cut.starts, cut.ends
        first = episode.first
        value = flags.value
        # As batch: the peak is the first bucket holding the episode's maximum (a drop's:
        # its minimum) ...
        signed = np.where(flags.down, -value, value) if self.drops else value
        peak = np.maximum.reduceat(signed, first)
        at_peak = np.flatnonzero(signed == peak[episode.of_row])
        leading = np.ones(len(at_peak), dtype=bool)
        leading[1:] = episode.of_row[at_peak[1:]] != episode.of_row[at_peak[:-1]]
        peak_row = at_peak[leading][rows]
        slots = flags.slot[first[rows]]
        down = flags.down[first[rows]]
        # As batch, with each item's BLAKE2b hash computed once per stream; the rows are
        # already in its (start, item) order.
        finished = pl.DataFrame(
            [
                hex16(combine(self._item_hashes(slots, down), starts[rows])),
                self.registry.labels[slots],
                timestamps("start", starts[rows]),
                timestamps("end", ends[rows]),
                pl.Series("buckets", (ends[rows] - starts[rows]) // self.every_us),
                pl.Series("peak_demand", value[peak_row], dtype=pl.Int64),
                timestamps("peak_ts", flags.t[peak_row]),
                pl.Series("threshold", flags.threshold[peak_row], nan_to_null=True),
                pl.Series("score", flags.score[peak_row], nan_to_null=True),
                pl.Series("excess", self._excess(cut, rows), dtype=pl.Float64),
            ]
        )
        if self.suppliers is not None:
            finished = finished.join(self.suppliers, on=ITEM, how="left", maintain_order="left")
        else:
            finished = finished.hstack([pl.Series("supplier_id", [None] * len(rows), pl.String)])
        if self.drops:
            finished = finished.hstack([pl.Series("direction", np.where(down, "down", "up"))])
        return finished

    def _excess(self, cut: _Cut, rows: np.ndarray) -> np.ndarray:
        """The excess of episodes ``rows``: a sum over their buckets, in batch's order.

        One or two terms give the same bits in any order, more only in the order of the
        batch code's own summation, so those episodes (rare on sparse data) go through it.
        """
        flags, episode = cut.flags, cut.rows
        first = episode.first
        over = flags.compared - flags.threshold
        if self.drops:
            over = np.where(flags.down, -over, over)  # a drop's excess is below its bar
        excess = np.add.reduceat(over, first)
        chosen = np.zeros(len(first), dtype=bool)
        chosen[rows] = True
        long = chosen & (episode.last - first >= 2)
        if long.any():
            in_long = np.flatnonzero(long[episode.of_row])
            # Each episode its own group (the item column numbers them), so that episodes
            # of one item apart by a short one of the other direction are not merged.
            frame = self.flag_frame(flags.take(in_long)).with_columns(
                pl.Series(ITEM, episode.of_row[in_long])
            )
            excess[long] = (
                cut_episodes(
                    frame,
                    every_us=self.every_us,
                    merge_gap=self.merge_gap,
                    min_buckets=1,
                    cooldown=0,
                )
                .get_column("excess")
                .to_numpy()
            )
        return excess[rows]

    def _item_hashes(self, slots: np.ndarray, down: np.ndarray) -> np.ndarray:
        """The alert-id hash of each slot's item (of a drop's id where ``down``), cached."""
        if not self.drops or not down.any():
            return self._hashes_of(slots, "up")
        out = np.empty(len(slots), dtype=np.uint64)
        out[~down] = self._hashes_of(slots[~down], "up")
        out[down] = self._hashes_of(slots[down], "down")
        return out

    def _hashes_of(self, slots: np.ndarray, direction: str) -> np.ndarray:
        suffix = "" if direction == "up" else "_down"
        hashed, hashes = self.registry["hashed" + suffix], self.registry["hash" + suffix]
        missing = ~hashed[slots]
        if missing.any():
            fresh = np.unique(slots[missing])
            key = direction_key(self.params_key, direction)
            hashes[fresh] = item_hashes(self.registry.labels[fresh].to_list(), key)
            hashed[fresh] = True
        return hashes[slots]

    # ----------------------------------------------------------------- checkpoint tables

    def flag_frame(self, flags: Flagged | None = None) -> pl.DataFrame:
        """Flagged buckets (the held ones by default) as batch ``cut_episodes`` reads them."""
        flags = self.flags if flags is None else flags
        return pl.DataFrame(
            [
                self.registry.labels.gather(flags.slot),
                timestamps(TS, flags.t),
                pl.Series("_t", flags.t, dtype=pl.Int64),
                pl.Series("value", flags.value, dtype=pl.Int64),
                pl.Series("compared", flags.compared, dtype=pl.Float64, nan_to_null=True),
                pl.Series("threshold", flags.threshold, dtype=pl.Float64, nan_to_null=True),
                pl.Series("score", flags.score, dtype=pl.Float64, nan_to_null=True),
                *([pl.Series("_down", flags.down, dtype=pl.Boolean)] if self.drops else []),
            ],
            schema=flag_schema(self.drops),
        )

    def table(self) -> pl.DataFrame:
        """Per item with a reported or opened episode: ``last_end``, ``opened`` (or null)."""
        registry = self.registry
        by_name = registry.by_name
        last_end, opened = registry["last_end"][by_name], registry["opened_at"][by_name]
        known = (last_end != NO_END) | (opened != NEVER)
        return pl.DataFrame(
            {
                ITEM: registry.labels.gather(by_name[known]),
                "last_end": last_end[known],
                "opened": opened[known],
            },
            schema=EPISODE_SCHEMA,
        ).with_columns(
            pl.when(pl.col("last_end") != NO_END).then(pl.col("last_end")).alias("last_end"),
            pl.when(pl.col("opened") != NEVER).then(pl.col("opened")).alias("opened"),
        )

    def restore(self, flags: pl.DataFrame, table: pl.DataFrame, next_due: int, fail: Any) -> None:
        """Episode state from a checkpoint's tables (the items must be restored first).

        ``fail.error(message)`` makes the exception raised when a table names an unknown item.
        """
        registry = self.registry

        def slots_of(frame: pl.DataFrame, name: str) -> np.ndarray:
            slots = registry.slots_of_known(frame.get_column(ITEM))
            if slots is None:
                raise fail.error(f"table {name!r} names items missing from 'labels'")
            return slots

        slots = slots_of(table, "episodes")
        registry["last_end"][slots] = table.get_column("last_end").fill_null(NO_END).to_numpy()
        registry["opened_at"][slots] = table.get_column("opened").fill_null(NEVER).to_numpy()
        if "_down" in flags.columns and flags.get_column("_down").null_count():
            raise fail.error("table 'flags' has nulls in '_down'")
        down = (
            flags.get_column("_down").to_numpy()
            if "_down" in flags.columns
            else np.zeros(flags.height, dtype=bool)
        )
        held = Flagged(
            slots_of(flags, "flags"),
            flags.get_column("_t").to_numpy(),
            flags.get_column("value").to_numpy(),
            flags.get_column("compared").to_numpy(),
            flags.get_column("threshold").to_numpy(),
            flags.get_column("score").to_numpy(),
            down,
        )
        self.flags = held.take(np.lexsort((held.t, registry.rank[held.slot])))
        self.next_due = next_due
