"""What runs on a worker: splitting input partitions by item, and whole items through the engine.

**The shuffle by item** is done in Arrow, by Dask's scheduler moving task results: every input
partition is read, validated and split by a hash of ``item_id`` into one piece per output
partition in one task (:func:`split`); output partition ``j`` concatenates piece ``j`` of every input partition, in
input order (:func:`run_pieces`). Only the columns the function reads travel, ``kind`` as a
boolean. The pieces are Arrow IPC files on the worker's disk (:mod:`._pieces`): every output
partition needs a piece of every input partition, so all of them exist at once, and in memory
they would make a worker's memory grow with the data; a piece goes to the worker that runs
its output partition (on the same machine as a hard-linked file, else Dask moves its bytes).
(Dictionary-encoding
``item_id`` for the trip halves the bytes but costs more CPU than it saves between processes
on one machine; measured, see ``benchmarks/SCALE.md``.)

**The kernel** is the public in-memory function, once per output partition — the same code,
the same results; one Python call per partition, never one per item. Pieces are concatenated
in input order, so the events of one item keep their input order and ties replay as in memory.

**The global end.** The dense series of every item runs to the last bucket of the *whole*
input, which a partition cannot see. Each split also reports its partition's last timestamp;
the largest is handed to every kernel, which appends one :data:`END_MARKER` delivery at that
instant: the engine then extends every item exactly as it would on the whole input, and the
marker's own rows are dropped from the result. Detection, episodes and stock-outs are per
item, so the marker item changes nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl
import pyarrow as pa

from stockseries._schema import DELIVERY, ITEM, KIND, ORDER, QUANTITY, TS, TS_DTYPE
from stockseries.alerts import Alerts, detect_alerts
from stockseries.distributed._pieces import Piece
from stockseries.distributed._sources import SEQ, frame_of
from stockseries.series import resample, stockouts
from stockseries.stock import stock_levels

__all__ = ["END_MARKER", "Task", "latest", "narrow", "run_local", "run_pieces", "split"]

#: Item id of the end-of-data marker event (refused as a real item id).
END_MARKER = "\x00stockseries:end-of-data\x00"

_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "stock_levels": stock_levels,
    "resample": resample,
    "stockouts": stockouts,
    "detect_alerts": detect_alerts,
}
_NEEDS_END = frozenset({"resample", "stockouts", "detect_alerts"})
# The columns each function reads: the others stay behind instead of crossing the shuffle
# (stock_levels carries every column through, so it keeps them all).
_EVENT_COLUMNS = (TS, ITEM, KIND, QUANTITY, SEQ)
_READS = {
    "resample": _EVENT_COLUMNS,
    "stockouts": _EVENT_COLUMNS,
    "detect_alerts": (*_EVENT_COLUMNS, "supplier_id"),
}


@dataclass(frozen=True)
class Task:
    """Which in-memory function a partition goes through, and with which arguments."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def needs_end(self) -> bool:
        """Whether the result depends on the last timestamp of the whole input."""
        return self.name in _NEEDS_END


def run_local(frame: pl.DataFrame, end: datetime | None, task: Task) -> Any:
    """``task`` on a frame of whole items in input order, ending at ``end``.

    Returns what the in-memory function returns (a frame, or :class:`~stockseries.Alerts`),
    without the end marker's rows.
    """
    if task.needs_end and end is not None:
        frame = pl.concat([frame, _end_marker(frame.schema, end)])
    result = _FUNCTIONS[task.name](frame, **task.kwargs)
    if not task.needs_end:
        return result
    if isinstance(result, Alerts):
        return Alerts(_without_marker(result.frame), result.params, result.every)
    return _without_marker(result)


def _without_marker(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col(ITEM) != END_MARKER)


def narrow(frame: pl.DataFrame, task: Task) -> pl.DataFrame:
    """The columns ``task`` reads, ``kind`` as a boolean (is order).

    ``kind`` is validated, so the boolean loses nothing; it is a byte per event instead of a
    string.
    """
    if frame.height and (frame.get_column(ITEM) == END_MARKER).any():
        raise ValueError(f"item_id {END_MARKER!r} is reserved by stockseries.distributed")
    reads = _READS.get(task.name)
    if reads is not None:
        frame = frame.select(name for name in frame.columns if name in reads)
    return frame.with_columns(pl.col(KIND) == ORDER)


def split(part: Any, task: Task, parts: int) -> tuple[Any, ...]:
    """``(last timestamp, piece 0, ..., piece parts-1)`` of one input partition.

    ``part`` is a validated frame, or a :class:`~._sources.FileRead` read here (reading and
    splitting in one task: the validated frame never moves between workers).

    Piece ``j`` holds the events of the items whose id hashes to ``j``, in input order, as a
    :class:`~stockseries.distributed._pieces.Piece`: a file on the worker's disk, so the pieces
    waiting for their output partition take no memory.
    """
    frame = narrow(frame_of(part), task)
    if parts == 1:  # already whole items: the frame waits for its kernel as one piece
        return _last_of(frame), Piece.of(frame)
    # One boolean mask per piece from one hash of the ids: half the CPU of filtering by an
    # expression on a key column (measured on 8.6 M events: 0.5 s against 1.0 s).
    which = frame.get_column(ITEM).hash(seed=0) % parts
    pieces = [Piece.of(frame.filter(which == j)) for j in range(parts)]
    return (_last_of(frame), *pieces)


def _last_of(frame: pl.DataFrame) -> datetime | None:
    value = frame.get_column(TS).max()
    assert value is None or isinstance(value, datetime)
    return value


def latest(ends: Sequence[datetime | None]) -> datetime | None:
    """The largest of the partitions' last timestamps (None when every partition is empty)."""
    known = [end for end in ends if end is not None]
    return max(known) if known else None


def run_pieces(pieces: Sequence[Piece], end: datetime | None, task: Task) -> pa.Table:
    """``task`` on the concatenated pieces of one output partition, as an Arrow table."""
    frame = pl.concat([piece.frame() for piece in pieces])
    kind = pl.when(pl.col(KIND)).then(pl.lit(ORDER)).otherwise(pl.lit(DELIVERY)).alias(KIND)
    result = run_local(frame.with_columns(kind), end, task)
    return (result.frame if isinstance(result, Alerts) else result).to_arrow()


def _end_marker(schema: pl.Schema, end: datetime) -> pl.DataFrame:
    values: dict[str, Any] = {ITEM: END_MARKER, KIND: DELIVERY, QUANTITY: 1}
    return pl.DataFrame(
        [
            pl.Series(name, [end], dtype=TS_DTYPE)
            if name == TS
            else pl.Series(name, [values.get(name)], dtype=dtype)
            for name, dtype in schema.items()
        ]
    )
