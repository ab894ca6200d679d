"""Tests for stockseries.events: reading, timestamp rules, validation rules and their reporting."""

from __future__ import annotations

import json
import pickle
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockseries._io import csv_record_batches
from stockseries.events import (
    KNOWN_KIND,
    MISSING_COLUMN,
    NEEDS_EPOCH_UNIT,
    NOT_NULL,
    PARSEABLE_TIMESTAMP,
    POSITIVE_INTEGER,
    ROW_RULES,
    EventValidationError,
    ValidatedEvents,
    read_events,
    scan_events,
    validate_events,
)
from stockseries.events import _files as events_module

TS_DTYPE = pl.Datetime("us", "UTC")
CANONICAL = ["ts", "item_id", "kind", "quantity"]
GOOD: dict[str, list[Any]] = {
    "ts": [
        "2024-01-01T00:00:00Z",
        "2024-01-01T01:00:00Z",
        "2024-01-01T02:00:00Z",
        "2024-01-01T03:00:00Z",
    ],
    "item_id": ["A", "B", "C", "D"],
    "kind": ["order", "delivery", "order", "order"],
    "quantity": [1, 2, 3, 4],
}
BAD_ROW = 2


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def good_with(column: str, value: Any, at: int = BAD_ROW) -> dict[str, list[Any]]:
    data = {name: list(values) for name, values in GOOD.items()}
    data[column][at] = value
    return data


def to_frame(data: dict[str, list[Any]]) -> pl.DataFrame:
    """A polars frame with natural dtypes; a column mixing types becomes text."""
    columns = {}
    for name, values in data.items():
        kinds = {type(v) for v in values if v is not None}
        if kinds == {int, float}:
            values = [None if v is None else float(v) for v in values]
        elif len(kinds) > 1:
            values = [None if v is None else str(v) for v in values]
        columns[name] = values
    return pl.DataFrame(columns)


def write_csv(path: Path, data: dict[str, list[Any]]) -> Path:
    names = list(data)
    lines = [",".join(names)]
    for row in zip(*data.values(), strict=True):
        lines.append(",".join("" if v is None else str(v) for v in row))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_ndjson(path: Path, data: dict[str, list[Any]]) -> Path:
    names = list(data)
    records = [dict(zip(names, row, strict=True)) for row in zip(*data.values(), strict=True)]
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def write_parquet(path: Path, data: dict[str, list[Any]], writer: str = "polars") -> Path:
    """Parquet as Polars writes it (statistics, dictionaries) or as a bare pyarrow file."""
    frame = to_frame(data)
    if writer == "polars":
        frame.write_parquet(path)
    else:
        pq.write_table(frame.to_arrow(), path, write_statistics=False, use_dictionary=False)
    return path


@pytest.fixture(params=["frame", "csv", "csv-batches", "parquet", "parquet-bare"])
def load(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Read ``data`` as an in-memory frame, through a CSV file (whole or in tiny batches) or
    through a Parquet file with footer statistics and dictionaries or without either."""
    if request.param == "csv-batches":
        monkeypatch.setattr(events_module, "_CSV_BATCH_BYTES", 40)

    def reader(data: dict[str, list[Any]], **options: Any) -> Any:
        if request.param == "frame":
            return read_events(to_frame(data), **options)
        if request.param.startswith("parquet"):
            writer = "polars" if request.param == "parquet" else "bare"
            return read_events(write_parquet(tmp_path / "e.parquet", data, writer), **options)
        return read_events(write_csv(tmp_path / "events.csv", data), **options)

    return reader


# --------------------------------------------------------------------------- rules


BAD_VALUES = [
    pytest.param("ts", None, NOT_NULL, id="ts-null"),
    pytest.param("ts", "yesterday", PARSEABLE_TIMESTAMP, id="ts-garbage"),
    pytest.param("ts", "2024-13-01T00:00:00Z", PARSEABLE_TIMESTAMP, id="ts-month-13"),
    pytest.param("ts", "2024-02-30T00:00:00", PARSEABLE_TIMESTAMP, id="ts-feb-30"),
    pytest.param("item_id", None, NOT_NULL, id="item-null"),
    pytest.param("kind", "refund", KNOWN_KIND, id="kind-unknown"),
    pytest.param("kind", "Order", KNOWN_KIND, id="kind-case"),
    pytest.param("kind", None, KNOWN_KIND, id="kind-null"),
    pytest.param("quantity", 0, POSITIVE_INTEGER, id="quantity-zero"),
    pytest.param("quantity", -5, POSITIVE_INTEGER, id="quantity-negative"),
    pytest.param("quantity", 2.5, POSITIVE_INTEGER, id="quantity-fraction"),
    pytest.param("quantity", "abc", POSITIVE_INTEGER, id="quantity-text"),
    pytest.param("quantity", None, POSITIVE_INTEGER, id="quantity-null"),
]


@pytest.mark.parametrize(("column", "value", "rule"), BAD_VALUES)
def test_strict_raises_for_each_rule(load: Any, column: str, value: Any, rule: str) -> None:
    with pytest.raises(EventValidationError) as caught:
        load(good_with(column, value))
    error = caught.value
    assert (error.column, error.rule, error.count) == (column, rule, 1)
    assert error.rows["row"].to_list() == [BAD_ROW]
    assert isinstance(error, ValueError)
    assert f"column {column!r}" in str(error) and rule in str(error)


@pytest.mark.parametrize(("column", "value", "rule"), BAD_VALUES)
def test_lenient_rejects_only_the_bad_row(load: Any, column: str, value: Any, rule: str) -> None:
    result = load(good_with(column, value), strict=False)
    assert isinstance(result, ValidatedEvents)
    assert result.events.height == 3
    assert result.events.columns == CANONICAL
    assert result.rejected["row"].to_list() == [BAD_ROW]
    assert result.rejected["reason"].to_list() == [f"{column}: {rule}"]
    # the rejected row keeps its value as read
    kept = result.rejected[column][0]
    assert (kept is None) if value is None else (str(kept) == str(value))


@pytest.mark.parametrize("column", CANONICAL)
def test_missing_column_is_reported_first(load: Any, column: str) -> None:
    data = good_with("quantity", -1)  # a row-level problem must not win over a missing column
    del data[column]
    for strict in (True, False):
        with pytest.raises(EventValidationError) as caught:
            load(data, strict=strict)
        error = caught.value
        assert (error.column, error.rule, error.count) == (column, MISSING_COLUMN, 4)
        assert f"missing required column {column!r}" in str(error)


def test_first_missing_column_in_canonical_order() -> None:
    with pytest.raises(EventValidationError) as caught:
        validate_events(pl.DataFrame({"quantity": [1], "description": ["x"]}))
    assert caught.value.column == "ts"


def test_strict_reports_the_first_rule_in_documented_order() -> None:
    data = good_with("quantity", -1, at=0)
    data["kind"][3] = "refund"
    data["kind"][1] = "refund"
    with pytest.raises(EventValidationError) as caught:
        validate_events(to_frame(data))
    # kind comes before quantity in ROW_RULES even though the quantity row comes first
    assert (caught.value.column, caught.value.count) == ("kind", 2)
    assert caught.value.rows["row"].to_list() == [1, 3]


def test_row_breaking_several_rules_gets_the_first_reason() -> None:
    frame = pl.DataFrame(
        {
            "ts": [None, "nope", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"],
            "item_id": [None, None, None, "A"],
            "kind": ["refund", "refund", "refund", "refund"],
            "quantity": ["x", "x", "x", "x"],
        }
    )
    rejected = validate_events(frame, strict=False).rejected
    assert rejected["reason"].to_list() == [
        "ts: must not be null",
        "ts: must be a parseable timestamp",
        "item_id: must not be null",
        f"kind: {KNOWN_KIND}",
    ]


def test_rule_order_is_documented() -> None:
    assert ROW_RULES == (
        ("ts", NOT_NULL),
        ("ts", PARSEABLE_TIMESTAMP),
        ("item_id", NOT_NULL),
        ("kind", KNOWN_KIND),
        ("quantity", POSITIVE_INTEGER),
    )
    assert KNOWN_KIND == "must be one of 'order', 'delivery'"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([3.0, 1.0], [3, 1]),
        (["3", " 7 "], [3, 7]),
        (["3.0", "1e2"], [3, 100]),
        (pl.Series([5, 6], dtype=pl.UInt8), [5, 6]),
        (pl.Series([5, 6], dtype=pl.Int32), [5, 6]),
    ],
)
def test_integral_quantities_are_accepted(values: Any, expected: list[int]) -> None:
    frame = pl.DataFrame(
        {"ts": GOOD["ts"][:2], "item_id": "A", "kind": "order", "quantity": values}
    )
    events = validate_events(frame)
    assert events.schema["quantity"] == pl.Int64
    assert events["quantity"].to_list() == expected


@pytest.mark.parametrize(
    "values",
    [
        pytest.param([float("nan")], id="nan"),
        pytest.param([float("inf")], id="inf"),
        pytest.param(pl.Series([2**64 - 1], dtype=pl.UInt64), id="uint64-overflow"),
        pytest.param([True], id="boolean"),
    ],
)
def test_non_integer_quantities_are_rejected(values: Any) -> None:
    frame = pl.DataFrame(
        {"ts": GOOD["ts"][:1], "item_id": "A", "kind": "order", "quantity": values}
    )
    result = validate_events(frame, strict=False)
    assert result.rejected["reason"].to_list() == [f"quantity: {POSITIVE_INTEGER}"]


# --------------------------------------------------------------------------- error messages


def test_error_message_names_column_rule_count_and_rows() -> None:
    data = {
        "ts": [f"2024-01-01T{h:02d}:00:00Z" for h in range(10)],
        "item_id": ["A"] * 10,
        "kind": ["order"] * 10,
        "quantity": [1, -1, 2, -2, -3, -4, -5, -6, 3, -7],
        "event_id": [f"e{i}" for i in range(10)],
    }
    with pytest.raises(EventValidationError) as caught:
        validate_events(pl.DataFrame(data))
    error = caught.value
    message = str(error)
    assert error.count == 7
    assert error.rows.height == 5
    assert error.rows.columns == ["row", "ts", "item_id", "kind", "quantity", "event_id"]
    assert error.rows["row"].to_list() == [1, 3, 4, 5, 6]
    assert message.splitlines()[0] == (
        "column 'quantity' breaks rule 'must be an integer > 0' in 7 of 10 rows"
    )
    assert "  row 1: ts='2024-01-01T01:00:00Z', item_id='A', kind='order', quantity=-1, " in message
    assert "event_id='e1'" in message
    assert "row 6:" in message and "row 7:" not in message and "row 9:" not in message
    assert "... and 2 more" in message
    assert "strict=False" in message


def test_missing_column_message_lists_the_columns_present() -> None:
    with pytest.raises(EventValidationError) as caught:
        validate_events(pl.DataFrame({"ts": ["2024-01-01"], "item_id": ["A"], "qty": [1]}))
    message = str(caught.value)
    assert "missing required column 'kind'" in message
    assert "'ts', 'item_id', 'qty'" in message
    assert caught.value.rows.columns == ["row", "ts", "item_id", "qty"]


def test_error_pickles_with_its_attributes() -> None:
    with pytest.raises(EventValidationError) as caught:
        validate_events(to_frame(good_with("kind", "refund")))
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (copy.column, copy.rule, copy.count, str(copy)) == (
        "kind",
        KNOWN_KIND,
        1,
        str(caught.value),
    )
    assert copy.rows.equals(caught.value.rows)


# --------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01T09:30:00Z", utc(2024, 3, 1, 9, 30)),
        ("2024-03-01T09:30:00+02:00", utc(2024, 3, 1, 7, 30)),
        ("2024-03-01T09:30:00+0200", utc(2024, 3, 1, 7, 30)),
        ("2024-03-01T09:30:00+02", utc(2024, 3, 1, 7, 30)),
        ("2024-03-01T01:30:00-05:30", utc(2024, 3, 1, 7, 0)),
        ("2024-03-01 09:30:00Z", utc(2024, 3, 1, 9, 30)),
        ("2024-03-01 09:30:00+01:00", utc(2024, 3, 1, 8, 30)),
        ("2024-03-01T09:30Z", utc(2024, 3, 1, 9, 30)),
        ("2024-03-01T09:30:00.250Z", utc(2024, 3, 1, 9, 30, 0, 250_000)),
        ("2024-03-01T09:30:00.123456789Z", utc(2024, 3, 1, 9, 30, 0, 123_456)),
        ("2024-03-01T09:30:00", utc(2024, 3, 1, 9, 30)),
        ("2024-03-01 09:30:00", utc(2024, 3, 1, 9, 30)),
        ("2024-03-01 09:30", utc(2024, 3, 1, 9, 30)),
        ("2024-03-01T09:30:00.5", utc(2024, 3, 1, 9, 30, 0, 500_000)),
        ("2024-03-01", utc(2024, 3, 1)),
        ("2024-03-01T09", utc(2024, 3, 1, 9)),
        ("2024-03-01 09Z", utc(2024, 3, 1, 9)),
        ("2024-03-01T09+01:00", utc(2024, 3, 1, 8)),
    ],
)
def test_timestamp_strings(text: str, expected: datetime) -> None:
    alone = validate_events(
        pl.DataFrame({"ts": [text], "item_id": "A", "kind": "order", "quantity": 1})
    )
    assert alone.schema["ts"] == TS_DTYPE
    assert alone["ts"].to_list() == [expected]
    # the same value inside a column of another form takes the slow, piecewise path
    mixed = pl.DataFrame(
        {
            "ts": ["2024-01-01T00:00:00Z", text, "2024-01-01 00:00"],
            "item_id": "A",
            "kind": "order",
            "quantity": 1,
        }
    )
    assert validate_events(mixed)["ts"].to_list() == [utc(2024, 1, 1), expected, utc(2024, 1, 1)]


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        (pl.Series([datetime(2024, 1, 1, 12)]), utc(2024, 1, 1, 12)),
        (
            pl.Series([datetime(2024, 1, 1, 12)]).dt.replace_time_zone("Europe/Paris"),
            utc(2024, 1, 1, 11),
        ),
        (
            pl.Series([datetime(2024, 7, 1, 12)]).dt.replace_time_zone("America/New_York"),
            utc(2024, 7, 1, 16),
        ),
        (
            pl.Series([datetime(2024, 1, 1, 12, 0, 0, 1)], dtype=pl.Datetime("ns", "UTC")),
            utc(2024, 1, 1, 12, 0, 0, 1),
        ),
        (pl.Series([datetime(2024, 1, 1, 12)], dtype=pl.Datetime("ms")), utc(2024, 1, 1, 12)),
        (pl.Series([date(2024, 1, 2)]), utc(2024, 1, 2)),
    ],
    ids=["naive", "paris", "new-york", "ns-utc", "ms-naive", "date"],
)
def test_datetime_columns_become_utc_microseconds(series: pl.Series, expected: datetime) -> None:
    frame = pl.DataFrame({"ts": series, "item_id": "A", "kind": "order", "quantity": 1})
    events = validate_events(frame)
    assert events.schema["ts"] == TS_DTYPE
    assert events["ts"].to_list() == [expected]


EPOCH = utc(2024, 1, 1)
EPOCH_SECONDS = 1_704_067_200


@pytest.mark.parametrize(
    ("unit", "value", "expected"),
    [
        ("s", EPOCH_SECONDS, EPOCH),
        ("ms", EPOCH_SECONDS * 1_000 + 5, EPOCH + timedelta(milliseconds=5)),
        ("us", EPOCH_SECONDS * 1_000_000 + 7, EPOCH + timedelta(microseconds=7)),
        ("ns", EPOCH_SECONDS * 1_000_000_000 + 7_999, EPOCH + timedelta(microseconds=7)),
        ("s", EPOCH_SECONDS + 0.5, EPOCH + timedelta(milliseconds=500)),
        ("s", -1, utc(1969, 12, 31, 23, 59, 59)),
    ],
)
def test_epoch_units(unit: Any, value: float, expected: datetime) -> None:
    frame = pl.DataFrame({"ts": [value], "item_id": "A", "kind": "order", "quantity": 1})
    assert read_events(frame, epoch_unit=unit)["ts"].to_list() == [expected]


def test_epoch_out_of_range_is_unparseable_not_wrapped() -> None:
    frame = pl.DataFrame(
        {"ts": [10**15, EPOCH_SECONDS], "item_id": "A", "kind": "order", "quantity": 1}
    )
    result = read_events(frame, epoch_unit="s", strict=False)
    assert result.rejected["reason"].to_list() == [f"ts: {PARSEABLE_TIMESTAMP}"]
    assert result.events["ts"].to_list() == [EPOCH]


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize(
    ("values", "count"),
    [
        ([EPOCH_SECONDS, None], 1),
        ([float(EPOCH_SECONDS)], 1),
        (["1704067200", "1704067201"], 2),  # epochs as text, e.g. a CSV re-read as strings
    ],
)
def test_numbers_without_epoch_unit_are_a_clear_error(
    values: list[Any], count: int, strict: bool
) -> None:
    frame = pl.DataFrame({"ts": values, "item_id": "A", "kind": "order", "quantity": 1})
    with pytest.raises(EventValidationError) as caught:
        read_events(frame, strict=strict)
    assert (caught.value.column, caught.value.rule, caught.value.count) == (
        "ts",
        NEEDS_EPOCH_UNIT,
        count,
    )
    assert "epoch_unit='s'" in str(caught.value)


def test_epoch_csv_with_and_without_unit(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "epochs.csv", GOOD | {"ts": [EPOCH_SECONDS] * 4})
    with pytest.raises(EventValidationError, match="epoch_unit"):
        read_events(path)
    assert read_events(path, epoch_unit="s")["ts"].to_list() == [EPOCH] * 4


def test_epoch_strings_with_unit_next_to_iso_strings() -> None:
    frame = pl.DataFrame(
        {
            "ts": ["1704067200", "2024-01-01T00:00:00Z", "1704067200.25"],
            "item_id": "A",
            "kind": "order",
            "quantity": 1,
        }
    )
    events = read_events(frame, epoch_unit="s")
    assert events["ts"].to_list() == [EPOCH, EPOCH, EPOCH + timedelta(milliseconds=250)]


def test_bad_epoch_unit_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="epoch_unit must be one of"):
        read_events(to_frame(GOOD), epoch_unit="minutes")  # type: ignore[call-overload]


# --------------------------------------------------------------------------- frames in, frames out


def test_canonical_frame_passes_through_unchanged() -> None:
    frame = read_events(to_frame(GOOD)).select("quantity", "kind", "ts", "item_id")
    events = validate_events(frame)
    assert events.columns == CANONICAL
    assert events.equals(frame.select(CANONICAL))


def test_optional_and_extra_columns_are_carried_through_in_input_order() -> None:
    frame = (
        to_frame(GOOD)
        .with_columns(
            price=pl.lit(1.5),
            event_id=pl.Series(["e1", "e2", "e3", "e4"]),
            description=pl.lit("box"),
            supplier_id=pl.lit(7),
        )
        .select(
            "price", "quantity", "event_id", "ts", "description", "kind", "item_id", "supplier_id"
        )
    )
    events = validate_events(frame)
    assert events.columns == [*CANONICAL, "price", "event_id", "description", "supplier_id"]
    assert events.select("price", "event_id", "description", "supplier_id").equals(
        frame.select("price", "event_id", "description", "supplier_id")
    )


def test_non_string_identifiers_become_strings() -> None:
    frame = to_frame(GOOD).with_columns(
        item_id=pl.Series([1, 2, 3, 4]), kind=pl.col("kind").cast(pl.Categorical)
    )
    events = validate_events(frame)
    assert events.schema["item_id"] == pl.String and events.schema["kind"] == pl.String
    assert events["item_id"].to_list() == ["1", "2", "3", "4"]


def test_input_columns_called_row_or_reason_survive_in_rejected() -> None:
    frame = to_frame(good_with("kind", "refund")).with_columns(row=pl.lit(9), reason=pl.lit("gift"))
    result = validate_events(frame, strict=False)
    assert result.events.columns == [*CANONICAL, "row", "reason"]
    assert result.rejected.columns == ["row", *CANONICAL, "row_", "reason_", "reason"]
    assert result.rejected.row(0)[-3:] == (9, "gift", f"kind: {KNOWN_KIND}")


def test_pandas_in_pandas_out() -> None:
    frame = pd.DataFrame(
        {
            "ts": ["2024-01-01T00:00:00+01:00", "2024-01-01 00:00:00"],
            "item_id": ["A", "B"],
            "kind": ["order", "delivery"],
            "quantity": [1, 2],
            "description": ["x", "y"],
        }
    )
    events = read_events(frame)
    assert isinstance(events, pd.DataFrame)
    assert list(events.columns) == [*CANONICAL, "description"]
    assert str(events["ts"].dtype) == "datetime64[us, UTC]"
    assert events["ts"].tolist() == [
        pd.Timestamp("2023-12-31T23:00:00Z"),
        pd.Timestamp("2024-01-01T00:00:00Z"),
    ]
    assert isinstance(validate_events(frame), pd.DataFrame)


def test_pandas_lenient_and_mixed_object_columns() -> None:
    frame = pd.DataFrame(
        {
            "ts": pd.to_datetime(["2024-01-01T00:00:00Z"] * 3),
            "item_id": ["A", "B", "C"],
            "kind": ["order", "order", "order"],
            "quantity": [1, "abc", 2.5],  # object column pyarrow cannot type
        }
    )
    result = validate_events(frame, strict=False)
    assert isinstance(result.events, pd.DataFrame) and isinstance(result.rejected, pd.DataFrame)
    assert result.events["quantity"].tolist() == [1]
    assert result.rejected["row"].tolist() == [1, 2]
    assert result.rejected["quantity"].tolist() == ["abc", "2.5"]
    assert "2 rows rejected" in result._repr_html_()


def test_lazy_frames_are_collected() -> None:
    lazy = to_frame(GOOD).lazy()
    assert read_events(lazy).columns == CANONICAL
    assert validate_events(lazy).height == 4
    with pytest.raises(EventValidationError):
        validate_events(to_frame(good_with("item_id", None)).lazy())


def test_other_inputs_are_a_type_error() -> None:
    with pytest.raises(TypeError, match="expected a polars or pandas DataFrame"):
        validate_events([1, 2, 3])  # type: ignore[call-overload]


def test_validated_events_repr() -> None:
    result = validate_events(to_frame(good_with("kind", "refund")), strict=False)
    assert repr(result) == "ValidatedEvents(events=3 rows, rejected=1 row)"
    events, rejected = result
    assert events is result.events and rejected is result.rejected
    page = result._repr_html_()
    assert "3 rows valid" in page and "kind: must be one of &#x27;order&#x27;" in page
    clean = validate_events(to_frame(GOOD), strict=False)
    assert clean.rejected.columns == ["row", *CANONICAL, "reason"] and clean.rejected.is_empty()
    assert "<ul>" not in clean._repr_html_()


# --------------------------------------------------------------------------- files


def test_parquet_file(tmp_path: Path) -> None:
    events = read_events(to_frame(GOOD))
    for suffix in (".parquet", ".pq"):
        events.write_parquet(tmp_path / f"events{suffix}")
        assert read_events(tmp_path / f"events{suffix}").equals(events)


@pytest.mark.parametrize("suffix", [".ndjson", ".jsonl", ".json-lines"])
def test_ndjson_files(tmp_path: Path, suffix: str) -> None:
    data = good_with("quantity", 2.5) | {"event_id": ["e1", "e2", "e3", "e4"]}
    path = write_ndjson(tmp_path / f"events{suffix}", data)
    with pytest.raises(EventValidationError, match="quantity"):
        read_events(path)
    result = read_events(path, strict=False)
    assert result.events.columns == [*CANONICAL, "event_id"]
    assert result.rejected["row"].to_list() == [BAD_ROW]


def test_csv_keeps_identifiers_as_text(tmp_path: Path) -> None:
    data = GOOD | {"item_id": ["007", "008", "009", "010"], "customer_id": ["01", "02", "03", "04"]}
    events = read_events(write_csv(tmp_path / "events.csv", data))
    assert events["item_id"].to_list() == ["007", "008", "009", "010"]
    assert events["customer_id"].to_list() == ["01", "02", "03", "04"]


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_late_value_of_another_type_falls_back_to_text(tmp_path: Path, fmt: str) -> None:
    n = 300
    data: dict[str, list[Any]] = {
        "ts": ["2024-01-01T00:00:00Z"] * n,
        "item_id": ["A"] * n,
        "kind": ["order"] * n,
        "quantity": [1] * n,
    }
    data["quantity"][250] = "abc"
    path = tmp_path / f"events.{fmt}"
    (write_csv if fmt == "csv" else write_ndjson)(path, data)
    with pytest.raises(EventValidationError) as caught:
        read_events(path)
    assert caught.value.rows["row"].to_list() == [250]
    result = read_events(path, strict=False)
    assert (result.events.height, result.rejected["row"].to_list()) == (n - 1, [250])


# --------------------------------------------------------------------------- Parquet footers


def pyarrow_file(path: Path, table: pa.Table, **options: Any) -> Path:
    pq.write_table(table, path, row_group_size=2, **options)
    return path


GOOD_TABLE = pa.table(
    {
        "ts": pa.array([utc(2024, 1, 1, h) for h in range(4)], pa.timestamp("us", "UTC")),
        "item_id": GOOD["item_id"],
        "kind": GOOD["kind"],
        "quantity": pa.array(GOOD["quantity"], pa.int64()),
    }
)
SETTLE_BOTH = frozenset({("kind", KNOWN_KIND), ("quantity", POSITIVE_INTEGER)})


@pytest.mark.parametrize(
    ("make", "settled"),
    [
        pytest.param(lambda p: pyarrow_file(p, GOOD_TABLE), SETTLE_BOTH, id="stats-and-dictionary"),
        pytest.param(
            lambda p: pyarrow_file(p, GOOD_TABLE, write_statistics=False),
            {("kind", KNOWN_KIND)},
            id="no-statistics",
        ),
        pytest.param(
            lambda p: pyarrow_file(p, GOOD_TABLE, write_statistics=["kind"]),
            {("kind", KNOWN_KIND)},
            id="no-quantity-statistics",
        ),
        pytest.param(
            lambda p: pyarrow_file(p, GOOD_TABLE, use_dictionary=False),
            {("quantity", POSITIVE_INTEGER)},
            id="no-dictionary",
        ),
        pytest.param(
            lambda p: pyarrow_file(p, GOOD_TABLE, use_dictionary=False, write_statistics=False),
            set(),
            id="neither",
        ),
        pytest.param(
            lambda p: pyarrow_file(
                p, GOOD_TABLE.set_column(3, "quantity", pa.array([1, 2, 3, 4], pa.uint32()))
            ),
            {("kind", KNOWN_KIND)},
            id="unsigned-quantity",
        ),
        pytest.param(
            lambda p: pyarrow_file(
                p, GOOD_TABLE.set_column(3, "quantity", pa.array([1.0, 2.0, 3.0, 4.0]))
            ),
            {("kind", KNOWN_KIND)},
            id="float-quantity",
        ),
        pytest.param(
            lambda p: pyarrow_file(
                p, GOOD_TABLE.set_column(3, "quantity", pa.array([1, 2, 3, 4], pa.int16()))
            ),
            SETTLE_BOTH,
            id="narrow-signed-quantity",
        ),
        pytest.param(
            lambda p: pyarrow_file(
                p, GOOD_TABLE.set_column(2, "kind", pa.array(GOOD["kind"]).dictionary_encode())
            ),
            SETTLE_BOTH,
            id="categorical-kind",
        ),
        pytest.param(
            lambda p: pyarrow_file(
                p, GOOD_TABLE.set_column(1, "item_id", pa.array(GOOD["item_id"], pa.large_string()))
            ),
            SETTLE_BOTH,
            id="large-string-item",
        ),
    ],
)
def test_parquet_footer_settles_what_it_proves(
    tmp_path: Path, make: Any, settled: set[tuple[str, str]]
) -> None:
    path = make(tmp_path / "events.parquet")
    raw, proven = events_module.read_parquet([str(path)], False)
    assert proven == settled
    # the frame is the plain read, whatever the footer settles; so are the events read
    assert raw.equals(pl.read_parquet(path))
    assert read_events(path).equals(read_events(to_frame(GOOD)))


@pytest.mark.parametrize(
    ("column", "value", "unsettled"),
    [
        pytest.param("quantity", 0, ("quantity", POSITIVE_INTEGER), id="quantity-zero"),
        pytest.param("quantity", -3, ("quantity", POSITIVE_INTEGER), id="quantity-negative"),
        pytest.param("kind", "refund", ("kind", KNOWN_KIND), id="kind-in-dictionary"),
    ],
)
def test_parquet_footer_never_settles_a_broken_rule(
    tmp_path: Path, column: str, value: Any, unsettled: tuple[str, str]
) -> None:
    path = write_parquet(tmp_path / "events.parquet", good_with(column, value))
    raw, proven = events_module.read_parquet([str(path)], False)
    assert unsettled not in proven
    assert raw.equals(pl.read_parquet(path))


def test_parquet_directory_settles_only_when_every_file_proves_it(tmp_path: Path) -> None:
    folder = tmp_path / "events"
    folder.mkdir()
    pyarrow_file(folder / "a.parquet", GOOD_TABLE)
    files = [str(folder / "a.parquet")]
    assert events_module.read_parquet(files, True)[1] == SETTLE_BOTH
    pyarrow_file(folder / "b.parquet", GOOD_TABLE, write_statistics=False)
    files.append(str(folder / "b.parquet"))
    raw, proven = events_module.read_parquet(files, True)
    assert proven == {("kind", KNOWN_KIND)}
    assert raw.equals(pl.read_parquet(folder))
    pyarrow_file(folder / "c.parquet", GOOD_TABLE, use_dictionary=False)
    files.append(str(folder / "c.parquet"))
    assert events_module.read_parquet(files, True)[1] == set()
    assert read_events(folder).height == 12


@pytest.mark.parametrize(
    ("make", "settled"),
    [
        pytest.param(
            lambda p: pyarrow_file(
                p, GOOD_TABLE.set_column(2, "kind", pa.array([k.encode() for k in GOOD["kind"]]))
            ),
            {("quantity", POSITIVE_INTEGER)},
            id="binary-kind",
        ),
        pytest.param(
            lambda p: pyarrow_file(p, GOOD_TABLE.drop_columns(["kind"])), set(), id="no-kind"
        ),
        pytest.param(
            lambda p: pyarrow_file(p, GOOD_TABLE.drop_columns(["quantity"])),
            set(),
            id="no-quantity",
        ),
    ],
)
def test_parquet_footer_proves_nothing_about_a_column_read_as_no_kind_or_quantity(
    tmp_path: Path, make: Any, settled: set[tuple[str, str]]
) -> None:
    path = make(tmp_path / "events.parquet")
    raw, proven = events_module.read_parquet([str(path)], False)
    assert proven == settled
    assert raw.equals(pl.read_parquet(path))
    with pytest.raises(EventValidationError) as caught:
        read_events(path)
    assert caught.value.column in {"kind", "quantity"}


def test_parquet_kind_check_that_fails_falls_back_to_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: Any, **__: Any) -> None:
        raise pl.exceptions.InvalidOperationError("the check cannot run")

    monkeypatch.setattr(pl, "collect_all", refuse)
    good = pyarrow_file(tmp_path / "good.parquet", GOOD_TABLE)
    raw, proven = events_module.read_parquet([str(good)], False)
    assert proven == {("quantity", POSITIVE_INTEGER)}
    assert raw.equals(pl.read_parquet(good))
    assert read_events(good).equals(read_events(to_frame(GOOD)))
    broken = write_parquet(tmp_path / "broken.parquet", good_with("kind", "refund"))
    with pytest.raises(EventValidationError, match="kind") as caught:
        read_events(broken)
    assert caught.value.rows["row"].to_list() == [BAD_ROW]


@pytest.mark.parametrize("content", [b"", b"not parquet at all", b"PAR1" + bytes(64) + b"PAR1"])
def test_unreadable_parquet_raises_a_read_error_naming_the_file(
    tmp_path: Path, content: bytes
) -> None:
    # Issue 13: no raw reader error escapes; the message names the file.
    from stockseries.events import ReadError

    path = tmp_path / "events.parquet"
    path.write_bytes(content)
    with pytest.raises(ReadError, match=r"events\.parquet"):
        read_events(path)
    with pytest.raises(ReadError, match=r"events\.parquet"):
        read_events(path, strict=False)


@pytest.mark.parametrize(
    ("column", "value"),
    [("kind", "refund"), ("kind", None), ("quantity", 0), ("quantity", None), ("ts", None)],
)
@pytest.mark.parametrize("writer", ["polars", "bare"])
def test_parquet_errors_do_not_depend_on_the_footer(
    tmp_path: Path, column: str, value: Any, writer: str
) -> None:
    data = good_with(column, value)
    with pytest.raises(EventValidationError) as from_frame:
        read_events(to_frame(data))
    path = write_parquet(tmp_path / "events.parquet", data, writer)
    with pytest.raises(EventValidationError) as from_file:
        read_events(path)
    expected, got = from_frame.value, from_file.value
    assert (got.column, got.rule, got.count, str(got)) == (
        expected.column,
        expected.rule,
        expected.count,
        str(expected),
    )
    assert got.rows.equals(expected.rows)
    lenient = read_events(path, strict=False)
    assert lenient.rejected.equals(read_events(to_frame(data), strict=False).rejected)


# --------------------------------------------------------------------------- CSV in batches


def test_csv_batches_read_like_a_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 200
    frame = pl.DataFrame(
        {
            "ts": [f"2024-01-01T00:{i // 60:02d}:{i % 60:02d}Z" for i in range(n)],
            "item_id": [f"{i % 7:03d}" for i in range(n)],
            "kind": ["order", "delivery"] * (n // 2),
            "quantity": [1 + i % 5 for i in range(n)],
            # quoted fields with separators, quotes and newlines straddle batch boundaries
            "description": [f'line {i}\nsays "hi", twice' if i % 3 else None for i in range(n)],
        }
    )
    path = tmp_path / "events.csv"
    frame.write_csv(path)
    whole = read_events(path)
    monkeypatch.setattr(events_module, "_CSV_BATCH_BYTES", 97)
    batched = read_events(path)
    assert batched.equals(whole)
    assert batched.equals(read_events(frame))
    lenient = read_events(path, strict=False)
    assert lenient.events.equals(whole)
    assert lenient.rejected.columns == ["row", *frame.columns, "reason"]
    assert lenient.rejected.is_empty()


@pytest.mark.parametrize("batch_bytes", [30, 97, 1 << 20])
def test_csv_batches_report_late_problems_at_their_input_position(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_bytes: int
) -> None:
    monkeypatch.setattr(events_module, "_CSV_BATCH_BYTES", batch_bytes)
    n = 300
    data: dict[str, list[Any]] = {
        "ts": ["2024-01-01T00:00:00Z"] * n,
        "item_id": ["A"] * n,
        "kind": ["order"] * n,
        "quantity": [1] * n,
    }
    data["kind"][123], data["quantity"][280] = "refund", "2.5"
    path = write_csv(tmp_path / "events.csv", data)
    with pytest.raises(EventValidationError) as caught:
        read_events(path)
    assert (caught.value.column, caught.value.rows["row"].to_list()) == ("kind", [123])
    result = read_events(path, strict=False)
    assert result.rejected["row"].to_list() == [123, 280]
    assert result.events.height == n - 2


def test_csv_directory_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events_module, "_CSV_BATCH_BYTES", 50)
    folder = tmp_path / "events"
    folder.mkdir()
    write_csv(folder / "a.csv", GOOD)
    write_csv(folder / "b.csv", GOOD | {"item_id": ["E", "F", "G", "H"]})
    assert read_events(folder)["item_id"].to_list() == list("ABCDEFGH")
    # a file laid out differently goes to the whole-file read, which (issue 13) combines the
    # files by column name, as the out-of-core reader does
    reordered = {"item_id": ["I"], "ts": GOOD["ts"][:1], "kind": ["order"], "quantity": [9]}
    write_csv(folder / "c.csv", reordered)
    assert read_events(folder)["item_id"].to_list() == list("ABCDEFGHI")


CSV_FIELDS = st.one_of(
    st.none(), st.text(alphabet='ab,"\n\r ', max_size=6), st.integers(-5, 5).map(str)
)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(CSV_FIELDS, CSV_FIELDS), min_size=1, max_size=30),
    batch_bytes=st.integers(1, 64),
)
def test_csv_record_batches_cut_between_records(
    rows: list[tuple[str | None, str | None]], batch_bytes: int
) -> None:
    frame = pl.DataFrame(rows, schema={"a": pl.String, "b": pl.String}, orient="row")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.csv"
        frame.write_csv(path)
        batches = list(csv_record_batches(path, batch_bytes))
        assert b"".join(batches) == path.read_bytes()
    parts = [
        pl.read_csv(text, has_header=number == 0, schema=frame.schema)
        for number, text in enumerate(batches)
    ]
    assert pl.concat(parts).equals(frame)


def test_directory_and_glob(tmp_path: Path) -> None:
    folder = tmp_path / "events"
    folder.mkdir()
    write_csv(folder / "b.csv", good_with("quantity", -1))
    write_csv(folder / "a.csv", GOOD)
    (folder / "_SUCCESS").write_text("")
    (folder / "notes.txt").write_text("not events")
    for source in (folder, str(folder / "*.csv"), str(tmp_path / "**" / "*.csv")):
        result = read_events(source, strict=False)
        assert result.events.height == 7
        # files are read in sorted order: a.csv is rows 0-3, b.csv rows 4-7
        assert result.rejected["row"].to_list() == [4 + BAD_ROW]


def test_hive_partitioned_parquet_directory(tmp_path: Path) -> None:
    events = read_events(to_frame(GOOD))
    for day in ("2024-01-01", "2024-01-02"):
        part = tmp_path / f"day={day}"
        part.mkdir()
        events.write_parquet(part / "part-0.parquet")
    read = read_events(tmp_path)
    assert read.columns == [*CANONICAL, "day"]
    assert read["day"].to_list() == [date(2024, 1, 1)] * 4 + [date(2024, 1, 2)] * 4
    scanned = scan_events(tmp_path)
    assert isinstance(scanned, pl.LazyFrame)
    assert scanned.collect().equals(read)


def touch(path: Path) -> Path:
    path.write_text("")
    return path


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda p: p / "nope.csv", FileNotFoundError, "no such event file"),
        (lambda p: p / "*.csv", FileNotFoundError, "no files match the glob"),
        (lambda p: p, FileNotFoundError, "holds no event files"),
        (lambda p: touch(p / "events.xlsx"), ValueError, "unknown extension '.xlsx'"),
        (lambda p: touch(p / "events"), ValueError, "unknown extension"),
    ],
    ids=["missing-file", "empty-glob", "empty-dir", "unknown-extension", "no-extension"],
)
def test_bad_sources(tmp_path: Path, make: Any, error: type[Exception], match: str) -> None:
    source = make(tmp_path)
    with pytest.raises(error, match=match):
        read_events(source)
    with pytest.raises(error, match=match):
        scan_events(source)


def test_mixed_formats_are_refused(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", GOOD)
    to_frame(GOOD).write_parquet(tmp_path / "b.parquet")
    with pytest.raises(ValueError, match="mixes file formats"):
        read_events(tmp_path)


# --------------------------------------------------------------------------- scan_events


def test_scan_events_casts_without_validating(tmp_path: Path) -> None:
    data = good_with("ts", "yesterday") | {"quantity": ["1", "2.5", "3", "4"]}
    path = write_csv(tmp_path / "events.csv", data)
    lazy = scan_events(path)
    assert dict(lazy.collect_schema()) == {
        "ts": TS_DTYPE,
        "item_id": pl.String,
        "kind": pl.String,
        "quantity": pl.Int64,
    }
    chunk = lazy.collect()
    # without an eager pass, values that cannot be converted become null ...
    assert chunk["ts"].null_count() == 1 and chunk["quantity"].null_count() == 1
    # ... and the per-chunk validation reports them
    result = validate_events(chunk, strict=False)
    assert result.rejected["reason"].to_list() == [
        f"quantity: {POSITIVE_INTEGER}",
        f"ts: {NOT_NULL}",
    ]


def test_scan_events_refuses_schema_problems_up_front(tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    to_frame(GOOD).drop("kind").write_parquet(path)
    with pytest.raises(EventValidationError) as caught:
        scan_events(path)
    assert (caught.value.column, caught.value.rule, caught.value.count) == (
        "kind",
        MISSING_COLUMN,
        4,
    )
    to_frame(GOOD).with_columns(ts=pl.lit(EPOCH_SECONDS)).write_parquet(path)
    with pytest.raises(EventValidationError, match="epoch_unit"):
        scan_events(path)
    assert scan_events(path, epoch_unit="s").collect()["ts"].to_list() == [EPOCH] * 4


def test_scan_events_on_ndjson_glob(tmp_path: Path) -> None:
    write_ndjson(tmp_path / "a.jsonl", GOOD)
    write_ndjson(tmp_path / "b.jsonl", GOOD)
    assert validate_events(scan_events(str(tmp_path / "*.jsonl")).collect()).height == 8


# --------------------------------------------------------------------------- partition property


TS_VALUES = [
    "2024-01-01T00:00:00Z",
    "2024-01-01 05:30",
    "2024-06-01T00:00:00+02:00",
    None,
    "soon",
    "2024-02-30",
]
ITEM_VALUES = ["A", "B", None]
KIND_VALUES = ["order", "delivery", "refund", None]
QUANTITY_VALUES = ["1", "12", "3.0", "0", "-4", "2.5", "abc", None]


def reference_reason(
    ts: str | None, item: str | None, kind: str | None, quantity: str | None
) -> str | None:
    """Deliberately slow per-row statement of the documented rules."""
    if ts is None:
        return f"ts: {NOT_NULL}"
    try:
        datetime.fromisoformat(ts)
    except ValueError:
        return f"ts: {PARSEABLE_TIMESTAMP}"
    if item is None:
        return f"item_id: {NOT_NULL}"
    if kind not in ("order", "delivery"):
        return f"kind: {KNOWN_KIND}"
    number = (
        None
        if quantity is None
        else float(quantity)
        if quantity.replace(".", "").lstrip("-").isdigit()
        else None
    )
    if number is None or number != int(number) or number <= 0:
        return f"quantity: {POSITIVE_INTEGER}"
    return None


EVENT_ROWS = st.lists(
    st.tuples(
        st.sampled_from(TS_VALUES),
        st.sampled_from(ITEM_VALUES),
        st.sampled_from(KIND_VALUES),
        st.sampled_from(QUANTITY_VALUES),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(EVENT_ROWS)
def test_lenient_validation_partitions_the_input(rows: list[tuple[Any, ...]]) -> None:
    frame = pl.DataFrame(rows, schema=CANONICAL, orient="row")
    result = validate_events(frame, strict=False)
    assert result.events.height + result.rejected.height == frame.height
    expected = [reference_reason(*row) for row in rows]
    rejected = [(i, reason) for i, reason in enumerate(expected) if reason is not None]
    assert list(zip(result.rejected["row"], result.rejected["reason"], strict=True)) == rejected
    kept = [i for i, reason in enumerate(expected) if reason is None]
    assert result.events["item_id"].to_list() == [rows[i][1] for i in kept]
    # rejected rows carry their values exactly as given
    assert result.rejected.select(CANONICAL).rows() == [rows[i] for i, _ in rejected]
    if rejected:
        with pytest.raises(EventValidationError) as caught:
            validate_events(frame)
        first_rule = min(ROW_RULES.index(tuple(reason.split(": ", 1))) for _, reason in rejected)  # type: ignore[arg-type]
        assert (caught.value.column, caught.value.rule) == ROW_RULES[first_rule]
    else:
        assert validate_events(frame).height == frame.height


@settings(max_examples=25, deadline=None)
@given(EVENT_ROWS)
def test_csv_and_frame_inputs_validate_alike(rows: list[tuple[Any, ...]]) -> None:
    frame = pl.DataFrame(rows, schema=CANONICAL, orient="row")
    columns = {name: [row[i] for row in rows] for i, name in enumerate(CANONICAL)}
    with tempfile.TemporaryDirectory() as folder:
        from_csv = read_events(write_csv(Path(folder) / "events.csv", columns), strict=False)
    from_frame = validate_events(frame, strict=False)
    assert from_csv.events.height + from_csv.rejected.height == len(rows)
    assert from_csv.events.equals(from_frame.events)
    assert from_csv.rejected.select("row", "reason").equals(
        from_frame.rejected.select("row", "reason")
    )


def test_large_mixed_column_parses_like_each_value_alone() -> None:
    forms = ["2024-01-01T00:00:00Z", "2024-01-01 00:00", "2024-01-01T02:00:00+02:00", "2024-01-01"]
    texts = [forms[i % len(forms)] for i in range(6000)]
    texts[17], texts[4000] = "2024-02-30T00:00:00Z", "yesterday"
    frame = pl.DataFrame({"ts": texts, "item_id": "A", "kind": "order", "quantity": 1})
    result = validate_events(frame, strict=False)
    assert result.rejected["row"].to_list() == [17, 4000]
    assert result.events["ts"].unique().to_list() == [utc(2024, 1, 1)]
