"""The pandas boundary of the cluster engine: partitions travel as pandas, kernels run in Polars.

Dask DataFrame partitions are pandas frames. Every partition this package makes has
pyarrow-backed columns (``pd.ArrowDtype``), and crossing into Polars goes through an Arrow
table in both directions, never through NumPy-backed pandas columns. That keeps what the
in-memory functions return exactly:

* a float NaN stays NaN and a null stays null (``pl.from_pandas`` would merge them);
* strings stay strings (``string[pyarrow]``, no ``object`` columns), integers keep nulls
  without turning float;
* ``Datetime("us", "UTC")`` stays microseconds in UTC (not ``datetime64[ns]``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa

__all__ = ["pandas_of", "plain_arrow", "polars_of"]


def plain_arrow(table: pa.Table) -> pa.Table:
    """``table`` with view and dictionary types replaced by their plain equivalents.

    Polars exports strings as ``string_view``; pandas' Arrow dtypes and hashing are most at
    home with ``large_string``. Categories (hive columns read by Dask) become their values.
    """
    fields = []
    for field in table.schema:
        kind = field.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if pa.types.is_string_view(kind) or pa.types.is_string(kind):
            kind = pa.large_string()
        elif pa.types.is_binary_view(kind):
            kind = pa.large_binary()
        fields.append(pa.field(field.name, kind, field.nullable))
    schema = pa.schema(fields)
    return table if schema.equals(table.schema) else table.cast(schema)


def pandas_of(frame: pl.DataFrame) -> pd.DataFrame:
    """A Polars frame as a pandas partition with Arrow-backed columns and a plain index.

    Strings become ``string[pyarrow]`` (``pd.StringDtype("pyarrow")``, missing = ``pd.NA``),
    the string dtype Dask itself uses: any other string dtype makes Dask insert a conversion
    of every partition, which cost as much as the shuffle at 50 M events.
    """
    table = plain_arrow(frame.to_arrow())
    return table.to_pandas(types_mapper=_pandas_dtype, ignore_metadata=True)


def _pandas_dtype(kind: pa.DataType) -> Any:
    return _STRING if pa.types.is_large_string(kind) else pd.ArrowDtype(kind)


_STRING = pd.StringDtype("pyarrow")


def polars_of(part: Any) -> pl.DataFrame:
    """A pandas partition (Arrow-backed or not) as a Polars frame, NaN and null kept apart."""
    if isinstance(part, pl.DataFrame):
        return part
    table = pa.Table.from_pandas(part, preserve_index=False)
    frame = pl.from_arrow(plain_arrow(table))
    assert isinstance(frame, pl.DataFrame)
    return frame
