"""Message formats on a broker: one JSON event per message, or Arrow IPC batches.

* **JSON** (``"json"``): one UTF-8 JSON object per message, the event's columns as keys
  (``{"ts": "2024-01-01T00:00:05Z", "item_id": "A001", "kind": "order", "quantity": 2}``),
  keyed by ``item_id``. This is what most existing producers send. ``ts`` is an ISO-8601
  string (``Z`` or an offset; naive = UTC) or, with ``epoch_unit``, a number.
* **Arrow** (``"arrow"``): one Arrow IPC *stream* per message holding many events (one
  record batch, the event columns), for throughput. A message starts with the IPC
  continuation marker ``0xFFFFFFFF``, which is how :func:`decode` tells the formats apart.

:func:`decode` turns the values of a batch of messages into validated event rows plus the
rejected ones, each with the index of the message it came from and a reason — the reasons
are :func:`stockseries.events.read_events`' own (``"quantity: must be an integer > 0"``) or
the decoder's (``"not valid JSON: ..."``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast

import polars as pl
import pyarrow as pa

from stockseries._schema import ITEM, TS
from stockseries.brokers.ndjson import read_json_messages
from stockseries.events import EventValidationError, read_events

__all__ = [
    "ARROW_MAGIC",
    "MESSAGE",
    "Compression",
    "Decoded",
    "Format",
    "decode",
    "encode_arrow",
    "encode_json",
]

Format = Literal["json", "arrow"]

#: Buffer compression of the Arrow IPC messages :func:`encode_arrow` writes.
Compression = Literal["zstd", "lz4"] | None

#: Column added to decoded rows: the index of the message (in the decoded batch) it came from.
MESSAGE = "__message"

#: First bytes of an Arrow IPC stream (the continuation marker).
ARROW_MAGIC = b"\xff\xff\xff\xff"

_ISO = "%Y-%m-%dT%H:%M:%S%.fZ"


@dataclass(frozen=True)
class Decoded:
    """A decoded batch of messages.

    Attributes
    ----------
    events
        Valid events in canonical form plus a ``__message`` column (Int64, the index of
        the source message in the batch), in message order and, within a message, in the
        message's row order.
    rejected
        ``(message index, reason)`` per rejected message or row, in message order.
    """

    events: pl.DataFrame
    rejected: list[tuple[int, str]]


def encode_json(events: pl.DataFrame) -> tuple[list[bytes], list[bytes]]:
    """Keys (``item_id``) and values (one compact JSON object per event) of an event frame.

    Examples
    --------
    >>> import polars as pl
    >>> from stockseries.events import EventValidationError, read_events
    >>> events = read_events(pl.DataFrame({"ts": ["2024-01-01T00:00:05Z"], "item_id": ["A"],
    ...                                    "kind": ["order"], "quantity": [2]}))
    >>> keys, values = encode_json(events)
    >>> keys, values
    ([b'A'], [b'{"ts":"2024-01-01T00:00:05Z","item_id":"A","kind":"order","quantity":2}'])
    """
    text = events.with_columns(pl.col(TS).dt.to_string(_ISO))
    buffer = io.BytesIO()
    text.write_ndjson(buffer)
    values = buffer.getvalue().splitlines()
    keys = [key.encode() for key in events.get_column(ITEM).to_list()]
    return keys, values


def encode_arrow(events: pl.DataFrame, *, compression: Compression = "zstd") -> bytes:
    """One Arrow IPC stream (a single record batch) holding every event of ``events``.

    Written the way a fast reader wants it: strings as Arrow ``string_view`` (Polars' own
    layout, so :func:`decode` takes the columns without copying them) and the buffers
    ``zstd``-compressed (a 50,000-event message of simulated events is ~0.4 MB instead of
    ~4.8 MB, so large batches fit a broker's default 1 MB message limit). Any Arrow IPC
    stream is accepted by :func:`decode`, compressed or not, ``string`` or ``string_view``.

    Parameters
    ----------
    events
        Event frame.
    compression
        ``"zstd"``, ``"lz4"`` (IPC buffer compression) or ``None``.

    Examples
    --------
    >>> import polars as pl
    >>> from stockseries.events import EventValidationError, read_events
    >>> events = read_events(pl.DataFrame({"ts": ["2024-01-01T00:00:05Z"], "item_id": ["A"],
    ...                                    "kind": ["order"], "quantity": [2]}))
    >>> blob = encode_arrow(events)
    >>> blob[:4] == ARROW_MAGIC, decode([blob]).events.height
    (True, 1)
    """
    table = events.to_arrow(compat_level=pl.CompatLevel.newest()).combine_chunks()
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression=compression)
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def decode(
    values: Sequence[bytes | None], *, epoch_unit: Literal["s", "ms", "us", "ns"] | None = None
) -> Decoded:
    """Decode and validate a batch of message values (JSON and Arrow may be mixed).

    Nothing is dropped: every message either contributes rows to ``events`` or appears in
    ``rejected`` with a reason (an Arrow message may do both: its bad rows are rejected).

    Examples
    --------
    >>> good = b'{"ts": "2024-01-01T00:00:05Z", "item_id": "A", "kind": "order", "quantity": 2}'
    >>> out = decode([good, b"not json", good.replace(b"2}", b"-1}")])
    >>> out.events.select("item_id", "quantity", "__message").rows()
    [('A', 2, 0)]
    >>> [(i, reason.split(":")[0]) for i, reason in out.rejected]
    [(1, 'not valid JSON'), (2, 'quantity')]
    """
    rejected: list[tuple[int, str]] = []
    json_values, json_rows, arrow_rows = _split_formats(values, rejected)
    arrow_parts: list[pl.DataFrame] = []
    for index in arrow_rows:
        try:
            part = pl.from_arrow(pa.ipc.open_stream(values[index]).read_all())
        except (pa.ArrowInvalid, OSError, ValueError) as exc:
            rejected.append((index, f"not a valid Arrow IPC stream: {exc}"))
            continue
        assert isinstance(part, pl.DataFrame)
        arrow_parts.append(part.with_columns(pl.lit(index, pl.Int64).alias(MESSAGE)))
    parts: list[pl.DataFrame] = []
    if json_values:
        frame = read_json_messages(json_values, json_rows, rejected, epoch_unit=epoch_unit)
        if frame is not None:
            parts.append(frame)
    parts.extend(arrow_parts)
    if not parts:
        return Decoded(_empty(), sorted(rejected))
    raw = _concat(parts)
    try:
        checked = read_events(raw, strict=False, epoch_unit=epoch_unit)
    except (EventValidationError, ValueError) as exc:
        # A rule that concerns the whole batch (e.g. no message has a ``ts``): every
        # message that got this far carries it.
        messages = raw.get_column(MESSAGE).unique(maintain_order=True).to_list()
        rejected.extend((int(message), str(exc)) for message in messages)
        return Decoded(_empty(), sorted(rejected))
    if len(checked.rejected):
        bad = checked.rejected.select(MESSAGE, "reason").rows()
        rejected.extend((int(message), str(reason)) for message, reason in bad)
    events = checked.events
    if len(parts) > 1 and not events.get_column(MESSAGE).is_sorted():
        events = events.sort(MESSAGE, maintain_order=True)  # JSON rows came first
    return Decoded(events, sorted(rejected))


def _concat(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """One frame of the decoded parts: appended as they are when their schemas agree."""
    if len(parts) == 1:
        return parts[0]
    schema = parts[0].schema
    if all(part.schema == schema for part in parts[1:]):
        return pl.concat(parts, how="vertical", rechunk=False)
    return pl.concat(parts, how="diagonal_relaxed")


def _split_formats(
    values: Sequence[bytes | None], rejected: list[tuple[int, str]]
) -> tuple[Sequence[bytes], pl.Series, list[int]]:
    """JSON values with their message indices, and the indices of Arrow messages.

    Vectorised: a JSON topic's batch (the common case, ~100,000 small messages) is told
    apart without a Python loop over its messages.
    """
    column = pl.Series(values, dtype=pl.Binary)
    arrow = column.bin.starts_with(ARROW_MAGIC).fill_null(False)
    empty = column.is_null() | (column.bin.size() == 0)
    if not arrow.any() and not empty.any():
        rows = pl.int_range(len(values), dtype=pl.Int64, eager=True).alias(MESSAGE)
        return cast("Sequence[bytes]", values), rows, []
    rejected.extend((int(i), "empty message") for i in empty.arg_true())
    json_rows = (~arrow & ~empty).arg_true().cast(pl.Int64).alias(MESSAGE)
    json_values = [cast(bytes, values[i]) for i in json_rows]
    return json_values, json_rows, arrow.arg_true().to_list()


def _empty() -> pl.DataFrame:
    empty = read_events(
        pl.DataFrame(
            schema={TS: pl.String, ITEM: pl.String, "kind": pl.String, "quantity": pl.Int64}
        )
    )
    return empty.with_columns(pl.lit(None, pl.Int64).alias(MESSAGE)).clear()
