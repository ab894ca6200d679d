"""JSON messages (one event each) into one frame: a whole batch is parsed at once.

A poll of a JSON topic brings up to ~100,000 small messages. Parsing them one by one in
Python (``json.loads``) costs more than fetching them, so :func:`read_json_messages` joins
the batch into one NDJSON block and parses it in one call, in three steps, each taken only
when the one before cannot give the exact answer:

1. **Arrow's JSON reader** (multithreaded, releases the GIL) with ``ts`` pinned to a string
   column — the reader would otherwise turn ISO strings into second-precision timestamps —
   and every other column inferred. Accepted only when it gives one row per message and no
   column it turned into a timestamp or a date (an extra date-like column must stay the
   string the producer sent, as in the other readers).
2. **Polars' NDJSON reader** with the schema inferred from every row: what a batch with
   columns of changing types (``2`` then ``"2"``) needs.
3. **One message at a time** (``json.loads``), only to find out which messages are not one
   JSON object: those are rejected with the reason, the others read as in step 2.

Every step gives the same frame for the same valid batch (tested), so which one ran never
changes the events.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any, Literal

import polars as pl
import pyarrow as pa
import pyarrow.json as pa_json

from stockseries._schema import TS

__all__ = ["read_json_messages"]

_ERRORS = (pl.exceptions.PolarsError, OSError, ValueError)


def read_json_messages(
    values: Sequence[bytes],
    rows: pl.Series,
    rejected: list[tuple[int, str]],
    *,
    epoch_unit: Literal["s", "ms", "us", "ns"] | None = None,
) -> pl.DataFrame | None:
    """One frame of the JSON objects in ``values`` (one per message), with their ``rows``.

    Parameters
    ----------
    values
        Message values, each expected to be one JSON object.
    rows
        The message index of each value (added to the frame under the series' name).
    rejected
        Receives ``(message index, reason)`` for every value that is not one JSON object.
    epoch_unit
        Numeric ``ts`` expected: ``ts`` is not pinned to a string column.

    Returns
    -------
    polars.DataFrame or None
        The raw (not yet validated) columns plus ``rows``; ``None`` when no value was an
        object.

    Examples
    --------
    >>> import polars as pl
    >>> rejected = []
    >>> frame = read_json_messages(
    ...     [b'{"ts": "2024-01-01T00:00:05Z", "item_id": "A", "quantity": 2}', b"[1]"],
    ...     pl.Series("message", [0, 1]), rejected)
    >>> frame.rows(), rejected
    ([('2024-01-01T00:00:05Z', 'A', 2, 0)], [(1, 'not a JSON object: list')])
    """
    block = b"\n".join(values)
    frame = _arrow_read(block, len(values), epoch_unit)
    if frame is None:
        frame = _polars_read(block, len(values))
    if frame is not None:
        return frame.with_columns(rows)
    return _one_by_one(values, rows, rejected)


def _arrow_read(
    block: bytes, count: int, epoch_unit: Literal["s", "ms", "us", "ns"] | None
) -> pl.DataFrame | None:
    """Step 1: Arrow's reader, or ``None`` when its answer would not be exact."""
    pinned = None if epoch_unit is not None else pa.schema([(TS, pa.string())])
    options = pa_json.ParseOptions(explicit_schema=pinned, unexpected_field_behavior="infer")
    try:
        table = pa_json.read_json(pa.BufferReader(block), parse_options=options)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, ValueError):
        return None
    if table.num_rows != count:  # an empty line, or two objects on one line
        return None
    if any(pa.types.is_temporal(field.type) for field in table.schema):
        return None
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _polars_read(block: bytes, count: int) -> pl.DataFrame | None:
    """Step 2: Polars' reader with the schema inferred from every row."""
    try:
        frame = pl.read_ndjson(io.BytesIO(block), infer_schema_length=None)
    except _ERRORS:
        return None
    return frame if frame.height == count else None


def _one_by_one(
    values: Sequence[bytes], rows: pl.Series, rejected: list[tuple[int, str]]
) -> pl.DataFrame | None:
    """Step 3: find the values that are not one JSON object; read the others."""
    good: list[dict[str, Any]] = []
    good_rows: list[int] = []
    for row, value in zip(rows.to_list(), values, strict=True):
        try:
            parsed = json.loads(value)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            rejected.append((row, f"not valid JSON: {exc}"))
            continue
        if not isinstance(parsed, dict):
            rejected.append((row, f"not a JSON object: {type(parsed).__name__}"))
            continue
        good.append(parsed)
        good_rows.append(row)
    if not good:
        return None
    try:
        frame = pl.read_ndjson(
            io.BytesIO(b"\n".join(json.dumps(v).encode() for v in good)),
            infer_schema_length=None,
        )
    except _ERRORS:
        # Mixed types in a column: read everything as text and let validation judge.
        frame = pl.DataFrame(
            [{k: None if v is None else str(v) for k, v in row.items()} for row in good]
        )
    return frame.with_columns(pl.Series(rows.name, good_rows, dtype=rows.dtype))
