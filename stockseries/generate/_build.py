"""Building the canonical event and label frames from draws, once, with few copies."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from stockseries._schema import (
    DELIVERY,
    ITEM,
    KIND,
    ORDER,
    QUANTITY,
    TS,
    TS_DTYPE,
)
from stockseries.generate._chunks import chunk_size
from stockseries.generate._draws import Draws
from stockseries.generate._merge import concat_draws
from stockseries.generate._types import (
    N_CUSTOMERS,
    CodeArray,
    FloatArray,
    IntArray,
)


def id_strings(prefix: str, width: int, n: int) -> list[str]:
    return [f"{prefix}{i:0{width}d}" for i in range(n)]


@cache
def customer_ids() -> pl.Series:
    """The customer ids ``C0000`` … (built once: generated sources need them every frame)."""
    return pl.Series(id_strings("C", 4, N_CUSTOMERS))


def digit_table(places: Sequence[tuple[int, int]]) -> npt.NDArray[np.uint64]:
    """``table[x]`` = the ASCII digits of ``x`` as bytes of a little-endian uint64.

    ``places`` lists ``(power of ten, byte offset)`` from the most significant digit down;
    ``x`` has ``len(places)`` digits.
    """
    x = np.arange(10 ** len(places), dtype=np.uint64)
    table = np.zeros(x.shape[0], dtype=np.uint64)
    for exponent, offset in places:
        digit = (x // np.uint64(10**exponent)) % np.uint64(10) + np.uint64(ord("0"))
        table |= digit << np.uint64(8 * offset)
    return table


def row_ids(prefix: str, n: int) -> pl.Series:
    """``prefix`` + zero-padded row number: unique, deterministic and sortable as strings.

    Formatting 10 M ids in Polars takes longer than generating the events, so short ids
    (<= 12 bytes, stored inline in Arrow string views) are written straight into the view
    buffer; longer ones fall back to Polars formatting.
    """
    width = len(str(max(n - 1, 0)))
    text_len = len(prefix) + width
    if text_len > 12 or not prefix.isascii():
        return pl.select(
            pl.concat_str(pl.lit(prefix), pl.int_range(n).cast(pl.String).str.zfill(width))
        ).to_series()
    # A view is 16 bytes: int32 length, then the (<= 12) bytes of the string itself; read as
    # two little-endian uint64 words, "head" holds the length and text[:4], "tail" text[4:].
    # The digit with place value 10**e sits at text[text_len - 1 - e]; the lowest
    # ``n_tail`` digits fall into the tail word and the rest into the head word.
    text = prefix.encode().ljust(12, b"\0")
    head_constant = text_len | int.from_bytes(text[:4], "little") << 32
    tail_constant = int.from_bytes(text[4:], "little")
    n_tail = max(0, min(width, text_len - max(4, len(prefix))))
    n_low = min(n_tail, 3)  # ids run in blocks of 10**n_low sharing every higher digit
    tail_low = digit_table([(e, text_len - 1 - e - 4) for e in reversed(range(n_low))])
    tail_high = digit_table(
        [(e - n_low, text_len - 1 - e - 4) for e in reversed(range(n_low, n_tail))]
    ) | np.uint64(tail_constant)
    head = digit_table(
        [(e - n_tail, text_len - 1 - e + 4) for e in reversed(range(n_tail, width))]
    ) | np.uint64(head_constant)
    # Whole blocks are filled by broadcasting (no per-row division); the ragged end is cut.
    block = 10**n_low
    n_blocks = -(-n // block)
    block_number = np.arange(n_blocks, dtype=np.int64)
    high_span = 10 ** (n_tail - n_low)
    views = np.empty((n_blocks, block, 2), dtype=np.uint64)
    views[:, :, 0] = head[block_number // high_span][:, None]
    np.bitwise_or(tail_high[block_number % high_span][:, None], tail_low, out=views[:, :, 1])
    buffer = pa.py_buffer(views.reshape(-1)[: 2 * n])
    array = pa.Array.from_buffers(pa.string_view(), n, [None, buffer], null_count=0)
    return pl.Series("event_id", array)


#: Arrow string views keep strings of at most this many bytes inline in the 16-byte view.
INLINE_BYTES: Final = 12


def inline_views(table: pl.Series) -> npt.NDArray[np.uint64] | None:
    """The 16-byte Arrow views of ``table``'s strings plus a zero (empty) view at the end.

    ``None`` when some entry is null or too long to be stored inline in its view.
    """
    if table.null_count():
        return None
    # The UTF-8 bytes and offsets of every entry, without a Python loop (the live sources
    # build a frame's columns from the catalog's tables once per frame).
    binary = table.rechunk().to_arrow().cast(pa.large_binary())
    if not len(binary):
        return np.zeros((1, 2), dtype=np.uint64)
    _, offsets_buffer, data_buffer = binary.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[binary.offset :][: len(binary) + 1]
    lengths = np.diff(offsets)
    if lengths.max() > INLINE_BYTES:
        return None
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer else np.zeros(0, np.uint8)
    # A view is an int32 length and then the string itself, padded with zero bytes; read
    # as two little-endian uint64 words.
    within = np.arange(INLINE_BYTES) < lengths[:, None]
    padded = np.zeros((len(lengths), INLINE_BYTES), dtype=np.uint8)
    padded[within] = data[(offsets[:-1, None] + np.arange(INLINE_BYTES))[within]]
    views = np.zeros((len(lengths) + 1, 2), dtype=np.uint64)
    head = padded[:, :4].copy().view("<u4")[:, 0].astype(np.uint64)
    views[:-1, 0] = lengths.astype(np.uint64) | head << np.uint64(32)
    views[:-1, 1] = padded[:, 4:].copy().view("<u8")[:, 0]
    return views


def lookup_strings(
    name: str, table: pl.Series, index: CodeArray, present: npt.NDArray[np.bool_] | None = None
) -> pl.Series:
    """``table[index]`` as a String column; null where ``index < 0`` or ``present`` is False.

    The strings of the tables simulate() uses fit in their Arrow views, so each row's view
    is copied from a small table straight into the column's one buffer, chunk by chunk:
    no event-sized temporaries and no second copy. Other tables go through Polars.
    """
    chunk = chunk_size()
    n = index.shape[0]
    table = table.cast(pl.String)
    views = inline_views(table)
    if views is None:
        known = index >= 0
        if present is not None:
            known &= present
        rows = np.where(known, index, table.len())  # the null appended below
        padded = pl.concat([table, pl.Series([None], dtype=pl.String)])
        return padded.gather(rows).alias(name)
    null_row = views.shape[0] - 1
    buffer = np.empty((n, 2), dtype=np.uint64)
    bits = np.empty(-(-n // 8), dtype=np.uint8)  # chunk_size() is a multiple of 8
    n_null = 0
    for lo in range(0, n, chunk):
        rows = index[lo : lo + chunk].astype(np.intp)
        valid = rows >= 0
        if present is not None:
            valid &= present[lo : lo + chunk]
        n_null += valid.shape[0] - int(np.count_nonzero(valid))
        rows[~valid] = null_row
        np.take(views, rows, axis=0, out=buffer[lo : lo + chunk])
        bits[lo // 8 : lo // 8 + -(-valid.shape[0] // 8)] = np.packbits(valid, bitorder="little")
    validity = pa.py_buffer(bits) if n_null else None
    array = pa.Array.from_buffers(
        pa.string_view(), n, [validity, pa.py_buffer(buffer)], null_count=n_null
    )
    return pl.Series(name, array)


def events_frame(
    parts: list[tuple[str, Draws]], frame: pl.DataFrame, id_prefix: str
) -> pl.DataFrame:
    """The canonical event frame of ``(kind, draws)`` parts merged by time, built once.

    ``parts`` is emptied once merged and each per-row code array is dropped right after its
    last column is built, so a caller that keeps no other reference to the draws holds
    little more than the frame itself at the end. There is a ``customer_id`` column when
    some part is orders and a ``supplier_id`` one when some part is deliveries (and the
    catalog has suppliers).
    """
    has_orders = any(kind == ORDER for kind, _ in parts)
    has_deliveries = any(kind == DELIVERY for kind, _ in parts) and "supplier_id" in frame.columns
    if len(parts) == 1:
        kind, draws = parts[0]
        codes = np.full(draws.size, 0 if kind == ORDER else 1, dtype=np.int8)
    else:
        draws, codes = concat_draws(parts)
    parts.clear()
    n, item, customer = draws.size, draws.item, draws.customer
    # int64 ts and quantity arrays become the columns as they are, without a copy.
    ts = pl.Series(TS, draws.ts, dtype=pl.Int64).cast(TS_DTYPE)
    quantity = pl.Series(QUANTITY, draws.quantity).cast(pl.Int64)
    del draws
    optional: list[pl.Series] = []
    if has_deliveries:
        optional.append(
            lookup_strings("supplier_id", frame["supplier_id"], item, present=codes == 1)
        )
    kinds = lookup_strings(KIND, pl.Series([ORDER, DELIVERY]), codes)
    del codes
    items = lookup_strings(ITEM, frame[ITEM], item)
    del item
    if has_orders:
        optional.insert(0, lookup_strings("customer_id", customer_ids(), customer))
    del customer
    return pl.DataFrame([ts, items, kinds, quantity, row_ids(id_prefix, n), *optional])


def labels_frame(
    items: Sequence[str] | pl.Series, start: IntArray, end: IntArray, multiplier: FloatArray
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "item_id": pl.Series(items, dtype=pl.String),
            "start": pl.Series(start, dtype=pl.Int64).cast(TS_DTYPE),
            "end": pl.Series(end, dtype=pl.Int64).cast(TS_DTYPE),
            "multiplier": pl.Series(multiplier, dtype=pl.Float64),
        }
    ).sort(["item_id", "start"], maintain_order=True)
