"""Running stock per item.

:func:`stock_levels` replays an event stream in time order and gives every event the stock
level of its item right after it: the starting stock plus every delivery minus every order of
that item so far. Negative levels are unmet demand (back orders) and stay negative.

The helpers below ``stock_levels`` are the shared engine of :mod:`stockseries.stock` and
:mod:`stockseries.series` (not public API): item codes, starting stock, a stable time order and a per-item
running sum, all on NumPy arrays. They are written for tens of millions of events: no Python
loop runs per event, and the per-item running sum works in cache-sized chunks (one short loop
iteration per 65,536 events).
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import numpy.typing as npt
import polars as pl

from stockseries._frames import is_pandas, like_input, to_polars
from stockseries._schema import DELIVERY, ITEM, KIND, ORDER, QUANTITY, TS, TS_DTYPE
from stockseries.events import MAX_ITEM_TOTAL, as_event_frame

#: The engine's edge check, under the name the live engine still imports it by.
validated_events = as_event_frame

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["INITIAL", "LEVEL", "Initial", "stock_levels"]

#: Column that :func:`stock_levels` appends: stock of the item right after the event.
LEVEL = "level"
#: Column of an ``initial`` frame holding each item's starting stock.
INITIAL = "initial"

#: Starting stock: one number for every item, a mapping item_id -> level, or a frame with
#: columns ``item_id`` and ``initial``. ``None`` means 0.
Initial: TypeAlias = "int | Mapping[str, int] | pl.DataFrame | pl.LazyFrame | pd.DataFrame | None"

Int64Array: TypeAlias = npt.NDArray[np.int64]
IndexArray: TypeAlias = npt.NDArray[np.intp]

# Checked arithmetic: a starting stock within ±2**62 plus an item's quantities (below 2**62,
# see MAX_ITEM_TOTAL) keeps every level inside 64 bits.
_INITIAL_BOUND = MAX_ITEM_TOTAL
_BEYOND = "is outside ±2**62 (levels are 64-bit integers; an item's quantities may add up to 2**62)"
_SHOWN_ROWS = 5
# 2**16 events per chunk: the chunk's sort keys, values and results stay in L2 cache, and the
# chunk-local position fits in 16 bits so that (item code, position) packs into one integer.
_CHUNK_BITS = 16
# From this many rows (16 chunks) a second thread takes a share of the work: below, starting
# a thread costs more than it saves.
_SHARED_ROWS = 1 << 20


def stock_levels(events: Any, initial: Initial = None) -> Any:
    """Stock level of the event's item right after each event.

    Events are replayed in timestamp order; events with equal timestamps keep their input
    order (the sort is stable). For each item, ``level`` is its starting stock plus the
    cumulative sum of delivery quantities minus order quantities up to and including the
    event. A negative level is unmet demand and stays negative until deliveries cover it.

    Parameters
    ----------
    events : polars DataFrame/LazyFrame or pandas DataFrame
        An event frame (see :func:`stockseries.events.validate_events`, which checks it).
    initial : int, mapping or frame, optional
        Starting stock. One integer applies to every item; a mapping ``{item_id: level}`` or a
        frame with columns ``item_id`` and ``initial`` sets it per item, and items it does not
        name start at 0. Entries for items that have no events are ignored. Default 0.

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        Every input column (in the canonical order of
        :func:`~stockseries.events.validate_events`: ``ts``, ``item_id``, ``kind``,
        ``quantity``, then the others), rows in replay order, and an ``Int64`` column
        ``level`` (replacing an input column of that name). pandas when ``events`` was
        pandas.

    Raises
    ------
    stockseries.events.EventValidationError
        The events break a validation rule.
    TypeError, ValueError
        ``initial`` is not an integer, a mapping or a frame, or breaks one of its rules
        (integer values, no nulls, one row per item).

    Examples
    --------
    >>> import polars as pl
    >>> events = pl.DataFrame(
    ...     {
    ...         "ts": ["2024-01-01T10:00:00Z", "2024-01-01T09:00:00Z", "2024-01-01T10:00:00Z"],
    ...         "item_id": ["A", "A", "B"],
    ...         "kind": ["order", "delivery", "order"],
    ...         "quantity": [3, 5, 2],
    ...     }
    ... )
    >>> levels = stock_levels(events, initial={"B": 1})
    >>> levels.select("item_id", "kind", "level").rows()
    [('A', 'delivery', 5), ('A', 'order', 2), ('B', 'order', -1)]
    """
    frame, was_pandas = as_event_frame(events)
    return like_input(levels_of_validated(frame, initial), was_pandas)


# --------------------------------------------------------------------------- edge helpers


def initial_levels(initial: Initial, labels: pl.Series) -> Int64Array:
    """Starting stock of each item in ``labels`` (0 where ``initial`` does not name it)."""
    if initial is None:
        return np.zeros(len(labels), dtype=np.int64)
    if isinstance(initial, bool | np.bool_):
        raise TypeError("initial must be an integer, a mapping or a frame, not a bool")
    if isinstance(initial, Integral):
        value = int(initial)
        if abs(value) > _INITIAL_BOUND:
            raise ValueError(f"initial={value} {_BEYOND}")
        return np.full(len(labels), value, dtype=np.int64)
    if isinstance(initial, Mapping):
        table = _initial_from_mapping(initial)
    elif isinstance(initial, pl.DataFrame | pl.LazyFrame) or is_pandas(initial):
        table = _initial_from_frame(initial)
    else:
        raise TypeError(
            "initial must be an integer, a mapping {item_id: level} or a frame with columns "
            f"'item_id' and 'initial', got {type(initial).__name__}"
        )
    joined = labels.rename(ITEM).to_frame().join(table, on=ITEM, how="left", maintain_order="left")
    return joined[INITIAL].fill_null(0).to_numpy().astype(np.int64, copy=False)


def starting_stock(initial: Initial) -> int | pl.DataFrame:
    """``initial`` checked once, for repeated :func:`initial_levels` calls: one number for
    every item, or an ``item_id``, ``initial`` table (what a live engine keeps)."""
    if initial is None:
        return 0
    if isinstance(initial, Mapping):
        return _initial_from_mapping(initial)
    if isinstance(initial, pl.DataFrame | pl.LazyFrame) or is_pandas(initial):
        return _initial_from_frame(initial)
    # One number for every item; initial_levels refuses bools, floats and overflow.
    return int(initial_levels(initial, pl.Series([""], dtype=pl.String))[0])


def _initial_from_mapping(initial: Mapping[Any, Any]) -> pl.DataFrame:
    bad_keys = [key for key in initial if not isinstance(key, str)]
    if bad_keys:
        raise TypeError(f"initial keys must be item_id strings, got {_listing(bad_keys)}")
    bad_values = {
        key: value
        for key, value in initial.items()
        if isinstance(value, bool | np.bool_) or not isinstance(value, Integral)
    }
    if bad_values:
        shown = ", ".join(f"{key!r}: {value!r}" for key, value in list(bad_values.items())[:5])
        raise TypeError(f"initial levels must be integers; offending entries: {shown}")
    values = [int(value) for value in initial.values()]
    out_of_range = [value for value in values if abs(value) > _INITIAL_BOUND]
    if out_of_range:
        raise ValueError(f"initial level(s) {_listing(out_of_range)} {_BEYOND}")
    return pl.DataFrame(
        {ITEM: list(initial.keys()), INITIAL: values},
        schema={ITEM: pl.String, INITIAL: pl.Int64},
    )


def _initial_from_frame(initial: Any) -> pl.DataFrame:
    table, _ = to_polars(initial)
    missing = [name for name in (ITEM, INITIAL) if name not in table.columns]
    if missing:
        raise ValueError(
            f"an initial frame needs columns 'item_id' and 'initial'; missing {_listing(missing)} "
            f"(columns present: {_listing(table.columns)})"
        )
    table = table.select(ITEM, INITIAL)
    dtype = table.schema[INITIAL]
    if dtype.is_float():
        whole = table[INITIAL].is_nan() | (table[INITIAL] != table[INITIAL].floor())
        _refuse_rows(table, whole.fill_null(False), INITIAL, "must be an integer")
    elif not (dtype.is_integer() or isinstance(dtype, pl.Null)):
        raise TypeError(f"column 'initial' must hold integers, got dtype {dtype}")
    _refuse_rows(table, table[ITEM].is_null(), ITEM, "must not be null")
    _refuse_rows(table, table[INITIAL].is_null(), INITIAL, "must not be null")
    table = table.with_columns(pl.col(ITEM).cast(pl.String))
    _refuse_rows(table, table[ITEM].is_duplicated(), ITEM, "must be unique (one row per item)")
    try:
        table = table.with_columns(pl.col(INITIAL).cast(pl.Int64))
    except pl.exceptions.InvalidOperationError as exc:
        raise ValueError("column 'initial' holds values that do not fit in 64 bits") from exc
    beyond = (table[INITIAL] > _INITIAL_BOUND) | (table[INITIAL] < -_INITIAL_BOUND)
    _refuse_rows(table, beyond, INITIAL, "must be within ±2**62 (levels are 64-bit integers)")
    return table


def _refuse_rows(table: pl.DataFrame, mask: pl.Series, column: str, rule: str) -> None:
    count = int(mask.sum())
    if not count:
        return
    rows = table.with_row_index("row").filter(mask).head(_SHOWN_ROWS)
    shown = "; ".join(
        f"row {row}: item_id={item!r}, initial={level!r}" for row, item, level in rows.iter_rows()
    )
    raise ValueError(f"initial column {column!r} {rule}: {count} offending row(s): {shown}")


def _listing(values: Any) -> str:
    return ", ".join(repr(value) for value in list(values)[:_SHOWN_ROWS])


# --------------------------------------------------------------------------- engine


def levels_of_validated(frame: pl.DataFrame, initial: Initial) -> pl.DataFrame:
    """Core of :func:`stock_levels` on a validated polars frame (shared with the series)."""
    if frame.is_empty():
        initial_levels(initial, frame[ITEM])  # still refuse a malformed ``initial``
        return frame.drop(LEVEL, strict=False).with_columns(pl.lit(None, pl.Int64).alias(LEVEL))
    micros = timestamps_us(frame[TS])
    if bool(np.all(micros[1:] >= micros[:-1])):
        if frame.height < _SHARED_ROWS:
            codes, labels = item_codes(frame[ITEM])
            levels = running_sum_by_group(
                signed_quantity(frame), codes, initial_levels(initial, labels)
            )
        else:
            # Already in replay order: a second thread codes the items while this one signs
            # the quantities, then each sums one half of the rows.
            with ThreadPoolExecutor(max_workers=1) as helper:
                coding = helper.submit(item_codes, frame[ITEM])
                signed = signed_quantity(frame)
                codes, labels = coding.result()
                start = initial_levels(initial, labels)
                levels = running_sum_by_group(signed, codes, start, helper=helper)
        return frame.drop(LEVEL, strict=False).with_columns(pl.Series(LEVEL, levels))

    # NumPy's sort and Polars' kernels release the GIL, so a second thread sorts the times
    # while this one codes the items, and later rebuilds the columns while this one sums.
    with ThreadPoolExecutor(max_workers=1) as helper:
        sorting = helper.submit(stable_argsort, micros)
        codes, labels = item_codes(frame[ITEM])
        start = initial_levels(initial, labels)
        signed = signed_quantity(frame)
        order, sorted_micros = sorting.result()
        sorted_signed, sorted_codes = _gather_signed_and_codes(signed, codes, order)
        rebuilding = helper.submit(
            _replayed_columns, frame, order, sorted_micros, sorted_signed, sorted_codes, labels
        )
        levels = running_sum_by_group(sorted_signed, sorted_codes, start)
        columns = rebuilding.result()
    return pl.DataFrame([*columns, pl.Series(LEVEL, levels)])


def _replayed_columns(
    frame: pl.DataFrame,
    order: IndexArray,
    sorted_micros: Int64Array,
    sorted_signed: Int64Array,
    sorted_codes: npt.NDArray[np.unsignedinteger[Any]],
    labels: pl.Series,
) -> list[pl.Series]:
    """The columns of ``frame`` (``level`` excepted) in replay order.

    The required columns are rebuilt from the arrays already in time order instead of being
    gathered: random access into ten million strings costs far more than these.
    """
    rebuilt = {
        TS: pl.Series(TS, sorted_micros).cast(TS_DTYPE),
        ITEM: labels.gather(pl.Series(sorted_codes)).rename(ITEM),
        KIND: pl.Series(KIND, [ORDER, DELIVERY]).gather((sorted_signed > 0).view(np.uint8)),
        QUANTITY: pl.Series(QUANTITY, np.abs(sorted_signed)),
    }
    others = [name for name in frame.columns if name not in rebuilt and name != LEVEL]
    if others:
        rebuilt.update(frame.select(pl.col(others).gather(pl.Series(order))).to_dict())
    return [rebuilt[name] for name in frame.columns if name != LEVEL]


def item_codes(items: pl.Series) -> tuple[npt.NDArray[np.unsignedinteger[Any]], pl.Series]:
    """Codes ``0..k-1`` of each event's item, numbered in sorted item_id order, and the ids."""
    # Single-threaded order-keeping unique is cheaper here than the parallel one.
    labels = items.unique(maintain_order=True).sort()
    return codes_in(items, labels), labels


def codes_in(items: pl.Series, labels: pl.Series) -> npt.NDArray[np.unsignedinteger[Any]]:
    """The position of each of ``items`` in ``labels`` (every distinct item, sorted)."""
    codes = _codes_by_hash_slice(items, labels)
    if codes is None:
        codes = items.cast(pl.Enum(labels)).to_physical().to_numpy()
    return codes


# Largest lookup table tried by _codes_by_hash_slice: 2**22 two-byte entries (8 MB).
_MAX_SLICE_BITS = 22


def _codes_by_hash_slice(
    items: pl.Series, labels: pl.Series
) -> npt.NDArray[np.unsignedinteger[Any]] | None:
    """Item codes through a direct lookup table indexed by a slice of each string's hash.

    Hashing a string is about ten times cheaper than the hash-table probe of an Enum cast.
    ``labels`` holds every distinct item, so when some bit slice of the 64-bit hash is
    different for every label, that slice identifies the label exactly and indexes a small
    table of codes. Such a slice exists with high probability when the table has more
    entries than the square of the number of labels; otherwise (many items) return None.
    """
    k = len(labels)
    if k == 0 or k * k > 1 << _MAX_SLICE_BITS:
        return None
    label_hashes = labels.hash().to_numpy()
    for bits in range(max(8, (k * k).bit_length()), _MAX_SLICE_BITS + 1):
        mask = np.uint64((1 << bits) - 1)
        # The top bits come first: that slice needs no mask, one pass less over the events.
        for shift in (64 - bits, *range(0, 64 - bits, 8)):
            slots = (label_hashes >> np.uint64(shift)) & mask
            if len(np.unique(slots)) < k:
                continue
            table = np.zeros(1 << bits, dtype=np.uint16)  # k <= 2**11 codes
            table[slots] = np.arange(k)
            hashes = items.hash().to_numpy() >> np.uint64(shift)
            if shift != 64 - bits:
                hashes &= mask
            return np.take(table, hashes)
    return None


def signed_quantity(frame: pl.DataFrame) -> Int64Array:
    """Delivery quantities as positive, order quantities as negative numbers."""
    # One copy of the quantities, then the orders negated in place: two passes in all.
    signed = frame[QUANTITY].to_numpy().astype(np.int64, copy=True)
    np.negative(signed, out=signed, where=(frame[KIND] == ORDER).to_numpy())
    return signed


def timestamps_us(ts: pl.Series) -> Int64Array:
    """Microseconds since the Unix epoch of a ``Datetime("us", ...)`` column."""
    return ts.to_physical().to_numpy()


def stable_argsort(values: Int64Array) -> tuple[IndexArray, Int64Array]:
    """Stable sort order of ``values`` and the sorted values.

    NumPy's stable argsort is a merge sort; its plain sort of integers is a much faster
    vectorised quicksort. Packing (value, position) into one unsigned 64-bit key makes every
    key distinct, so the fast sort is stable and its low bits are the order. When the values
    span more bits than the position leaves free, they are sorted in two such passes, low
    digit first, then high digit (an LSD radix sort; each pass is stable, so the result is).
    """
    n = len(values)
    position_bits = max(1, (n - 1).bit_length())
    if position_bits > 32:  # two digits of 64 - position_bits bits would not cover 64 bits
        order = np.argsort(values, kind="stable")
        return order, np.take(values, order)
    digit_bits = 64 - position_bits
    lowest = int(values.min())
    # Unsigned wrap-around makes the offsets exact even for spans beyond 2**63.
    offsets = values.view(np.uint64) - np.uint64(lowest & (2**64 - 1))
    positions = np.arange(n, dtype=np.uint64)
    if int(offsets.max()).bit_length() <= digit_bits:
        keys = _sort_with_positions(offsets, positions, position_bits)
        order = (keys & np.uint64((1 << position_bits) - 1)).astype(np.intp)
        # The sorted keys still hold the values in their high bits.
        keys >>= np.uint64(position_bits)
        sorted_values = keys.view(np.int64)
        sorted_values += lowest
        return order, sorted_values
    low = offsets & np.uint64((1 << digit_bits) - 1)
    order = _order_by(low, positions, position_bits)
    high = np.take(offsets >> np.uint64(digit_bits), order)
    order = np.take(order, _order_by(high, positions, position_bits))
    return order, np.take(values, order)


def _sort_with_positions(
    digits: npt.NDArray[np.uint64], positions: npt.NDArray[np.uint64], position_bits: int
) -> npt.NDArray[np.uint64]:
    """Sort ``(digit << position_bits) | position`` keys, reusing ``digits`` as the buffer."""
    digits <<= np.uint64(position_bits)
    digits |= positions
    digits.sort()
    return digits


def _order_by(
    digits: npt.NDArray[np.uint64], positions: npt.NDArray[np.uint64], position_bits: int
) -> IndexArray:
    keys = _sort_with_positions(digits, positions, position_bits)
    return (keys & np.uint64((1 << position_bits) - 1)).astype(np.intp)


def _gather_signed_and_codes(
    signed: Int64Array, codes: npt.NDArray[np.unsignedinteger[Any]], order: IndexArray
) -> tuple[Int64Array, npt.NDArray[np.unsignedinteger[Any]]]:
    """``signed[order]`` and ``codes[order]``, in one random-access pass when they fit."""
    code_bits = max(1, int(codes.max()).bit_length())
    largest = int(np.abs(signed).max())
    if largest.bit_length() + code_bits > 62:
        return np.take(signed, order), np.take(codes, order)
    packed = signed << code_bits
    packed |= codes
    packed = np.take(packed, order)
    sorted_codes = (packed & ((1 << code_bits) - 1)).astype(codes.dtype)
    packed >>= code_bits  # arithmetic shift: the sign survives
    return packed, sorted_codes


def running_sum_by_group(
    values: Int64Array,
    codes: npt.NDArray[np.unsignedinteger[Any]],
    start: Int64Array,
    *,
    helper: ThreadPoolExecutor | None = None,
) -> Int64Array:
    """``start[c] +`` running sum of ``values`` within each code ``c``, in array order.

    Works chunk by chunk: inside a chunk the events are grouped by code with one sort of
    (code, position) keys, summed with a single cumsum, shifted per group by what the group
    had before the chunk, and scattered back. ``start`` is not modified. (``np.take`` is used
    for gathers throughout: it is markedly faster than fancy indexing.)

    With a ``helper`` thread and enough rows, the second half of the rows is summed there
    from zero while this thread sums the first half (NumPy releases the GIL in these
    kernels); each item's total over the first half is then added to its second-half sums.
    Integer sums are exact, so the result is the same.
    """
    n = len(values)
    levels = np.empty(n, dtype=np.int64)
    carry = start.astype(np.int64, copy=True)
    if helper is None or n < _SHARED_ROWS:
        _sum_chunks(values, codes, carry, levels)
        return levels
    mid = n // 2
    later = np.zeros_like(carry)
    second = helper.submit(_sum_chunks, values[mid:], codes[mid:], later, levels[mid:])
    _sum_chunks(values[:mid], codes[:mid], carry, levels[:mid])
    second.result()
    levels[mid:] += np.take(carry, codes[mid:])
    return levels


def _sum_chunks(
    values: Int64Array,
    codes: npt.NDArray[np.unsignedinteger[Any]],
    carry: Int64Array,
    levels: Int64Array,
) -> None:
    """The chunked running sum of :func:`running_sum_by_group` into ``levels``.

    ``carry`` holds each code's sum before the first row and is advanced in place.
    """
    n = len(values)
    size = 1 << _CHUNK_BITS
    code_bits = max(1, (len(carry) - 1).bit_length())
    key_dtype: type[np.unsignedinteger[Any]] = (
        np.uint32 if code_bits + _CHUNK_BITS <= 32 else np.uint64
    )
    local_positions = np.arange(size, dtype=key_dtype)
    for lo in range(0, n, size):
        hi = min(lo + size, n)
        key: npt.NDArray[np.unsignedinteger[Any]] = codes[lo:hi].astype(key_dtype)
        key <<= _CHUNK_BITS
        key |= local_positions[: hi - lo]
        key.sort()
        local = (key & (size - 1)).astype(np.intp)
        group = key >> _CHUNK_BITS
        run = np.cumsum(np.take(values[lo:hi], local))
        first = np.flatnonzero(np.concatenate(([True], group[1:] != group[:-1])))
        last = np.append(first[1:] - 1, hi - lo - 1)
        group_codes = group[first].astype(np.intp)
        before_group = np.zeros(len(first), dtype=np.int64)
        before_group[1:] = run[first[1:] - 1]
        run += np.repeat(carry[group_codes] - before_group, last - first + 1)
        carry[group_codes] = run[last]
        levels[lo:hi][local] = run
