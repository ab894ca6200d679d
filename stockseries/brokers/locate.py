"""Where decoded rows came from: partition, offset and rank within their message."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import polars as pl

from stockseries._schema import TS
from stockseries.brokers.eventtime import OFFSET, PART, ROW, Position
from stockseries.brokers.formats import MESSAGE

__all__ = ["by_message", "locate", "partition_codes", "skip_released"]


def by_message(rejected: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """One ``(message, reasons)`` per rejected message (an Arrow message may have several).

    Examples
    --------
    >>> by_message([(0, "a"), (2, "b"), (2, "c")])
    [(0, 'a'), (2, 'b; c')]
    """
    grouped: dict[int, list[str]] = {}
    for index, reason in rejected:
        grouped.setdefault(index, []).append(reason)
    return [(index, "; ".join(reasons)) for index, reasons in grouped.items()]


def partition_codes(
    messages: Sequence[Any],
    offsets: np.ndarray,
    topics: Sequence[str],
    code: Callable[[str, int], int],
) -> tuple[np.ndarray, dict[int, int]]:
    """Each Kafka message's partition code, and the last offset read per partition.

    ``code(topic, partition)`` gives a partition's code; it is called once per partition of
    the batch (the rest is vectorised). A partition's messages come in offset order.
    """
    parts = np.fromiter((m.partition() for m in messages), np.int64, len(messages))
    if len(topics) == 1:
        keys = parts
    else:  # topic and partition in one integer
        names = pl.Series([m.topic() for m in messages], dtype=pl.Enum(list(topics)))
        keys = (names.to_physical().to_numpy().astype(np.int64) << 32) | parts
    unique, inverse = np.unique(keys, return_inverse=True)
    unique_codes = np.array(
        [code(topics[int(key) >> 32], int(key) & 0xFFFFFFFF) for key in unique], dtype=np.int32
    )
    last = np.full(len(unique), -1, dtype=np.int64)
    np.maximum.at(last, inverse, offsets)
    read_through = dict(zip(unique_codes.tolist(), last.tolist(), strict=True))
    return unique_codes[inverse], read_through


def locate(
    events: pl.DataFrame, codes: Sequence[int] | np.ndarray, offsets: Sequence[int] | np.ndarray
) -> pl.DataFrame:
    """Replace ``__message`` by ``__part``, ``__offset`` and ``__row``.

    ``__row`` ranks the rows of one message by event time (stable), the order in which the
    event-time merge releases them; a message of one row (JSON) has rank 0. ``codes`` and
    ``offsets`` give each message's partition code and offset (lists or NumPy arrays).
    """
    index = events.get_column(MESSAGE)
    message = index.to_numpy()
    if len(message) and bool(np.all(message[1:] >= message[:-1])):  # decode's order
        return _locate_grouped(events, message, codes, offsets)
    located = events.drop(MESSAGE).with_columns(
        pl.Series(PART, codes, dtype=pl.Int32).gather(index),
        pl.Series(OFFSET, offsets, dtype=pl.Int64).gather(index),
    )
    if index.n_unique() == index.len():
        return located.with_columns(pl.lit(0, pl.Int64).alias(ROW))
    return located.with_columns(
        pl.col(TS).rank("ordinal").over(PART, OFFSET).cast(pl.Int64).sub(1).alias(ROW)
    )


def _locate_grouped(
    events: pl.DataFrame,
    message: np.ndarray,
    codes: Sequence[int] | np.ndarray,
    offsets: Sequence[int] | np.ndarray,
) -> pl.DataFrame:
    """:func:`locate` for rows grouped by message, in message order (vectorised, no hashing)."""
    boundary = np.r_[True, message[1:] != message[:-1]]
    starts = np.flatnonzero(boundary)
    lengths = np.diff(np.r_[starts, len(message)])
    present = message[starts]
    located = events.drop(MESSAGE).with_columns(
        pl.Series(PART, np.repeat(np.asarray(codes, dtype=np.int32)[present], lengths)),
        pl.Series(OFFSET, np.repeat(np.asarray(offsets, dtype=np.int64)[present], lengths)),
    )
    if len(starts) == len(message):
        return located.with_columns(pl.lit(0, pl.Int64).alias(ROW))
    # A producer that sorts its batches (``publish_kafka`` does) makes the rank the position
    # within the message: no sort.
    ts = events.get_column(TS).to_physical().to_numpy()
    if bool(np.all((ts[1:] >= ts[:-1]) | boundary[1:])):
        row = np.arange(len(message), dtype=np.int64) - np.repeat(starts, lengths)
        return located.with_columns(pl.Series(ROW, row, dtype=pl.Int64))
    return located.with_columns(
        pl.col(TS).rank("ordinal").over(PART, OFFSET).cast(pl.Int64).sub(1).alias(ROW)
    )


def skip_released(
    rows: pl.DataFrame, skips: dict[int, Position], read_through: dict[int, int]
) -> pl.DataFrame:
    """Drop the rows of resumed messages that the checkpointed state already holds.

    ``skips`` (partition → position) is consumed: a partition's entry goes once its first
    message after the resume has been read.
    """
    for code, where in list(skips.items()):
        if code not in read_through:
            continue
        here = (pl.col(PART) == code) & (pl.col(OFFSET) == where.offset)
        rows = rows.filter(~(here & (pl.col(ROW) < where.skip)))
        del skips[code]
    return rows
