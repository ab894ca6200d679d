"""Alerts at the edge (validated, normalised) and the per-supplier JSON payloads."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import polars as pl

from stockseries._frames import is_pandas, offending_rows, to_polars, unwrap_frame
from stockseries._io import CSV_DATETIME_FORMAT
from stockseries._schema import ALERT_COLUMNS, in_utc
from stockseries._time import iso_utc
from stockseries.alerts._ids import canonical
from stockseries.sinks.base import Payload, SentAt

_REQUIRED_COLUMNS = ALERT_COLUMNS[:-1]


_TEXT_COLUMNS = ("alert_id", "item_id")


_TIMESTAMP_COLUMNS = ("start", "end", "peak_ts")


_NUMBER_COLUMNS = ("buckets", "peak_demand", "threshold", "score", "excess")


_SORT_COLUMNS = ["supplier_id", "start", "item_id", "alert_id"]


def alert_frame(alerts: Any) -> tuple[pl.DataFrame, bool]:
    """Validate and normalise an alert frame; return it with the was-pandas flag."""
    try:
        frame, was_pandas = to_polars(unwrap_frame(alerts))
    except TypeError:
        raise TypeError(
            "alerts must be an Alerts result (with a .frame) or a polars/pandas DataFrame, "
            f"got {type(alerts).__name__}"
        ) from None
    return _validate(frame), was_pandas


def _validate(frame: pl.DataFrame) -> pl.DataFrame:
    missing = [name for name in _REQUIRED_COLUMNS if name not in frame.columns]
    if missing:
        raise ValueError(
            f"alerts frame is missing column(s) {missing}; the alert contract is "
            f"{list(ALERT_COLUMNS)} (supplier_id optional)"
        )
    schema = frame.schema
    problems: list[str] = []
    for name in _TEXT_COLUMNS:
        if not isinstance(schema[name], pl.String | pl.Categorical | pl.Enum):
            problems.append(f"column {name!r} must be String, got {schema[name]}")
    for name in _TIMESTAMP_COLUMNS:
        if not isinstance(schema[name], pl.Datetime):
            problems.append(f"column {name!r} must be Datetime (UTC), got {schema[name]}")
    for name in _NUMBER_COLUMNS:
        dtype = schema[name]
        if not (dtype.is_numeric() or isinstance(dtype, pl.Null)):
            problems.append(f"column {name!r} must be numeric, got {dtype}")
    if problems:
        raise TypeError("invalid alerts frame: " + "; ".join(problems))
    null_ids = offending_rows(frame, pl.col("alert_id").is_null())
    if null_ids:
        raise ValueError(
            f"column 'alert_id' must not be null (it is the idempotency key); null at rows "
            f"{null_ids}"
        )

    supplier = (
        pl.col("supplier_id").cast(pl.String)
        if "supplier_id" in frame.columns
        else pl.lit(None, dtype=pl.String).alias("supplier_id")
    )
    normalised = frame.with_columns(
        *(pl.col(name).cast(pl.String) for name in _TEXT_COLUMNS),
        *(in_utc(pl.col(name), schema[name]) for name in _TIMESTAMP_COLUMNS),
        *(pl.col(name).cast(pl.Float64) for name in _NUMBER_COLUMNS if schema[name] == pl.Null),
        supplier,
    )
    extras = [name for name in normalised.columns if name not in ALERT_COLUMNS]
    # A frame built by concatenating incremental batches may repeat an alert; the latest row
    # carries the most recent view of the episode.
    return normalised.select(*ALERT_COLUMNS, *extras).unique(
        subset="alert_id", keep="last", maintain_order=True
    )


def jsonable(frame: pl.DataFrame) -> pl.DataFrame:
    """Turn every column into JSON-native values, vectorised."""
    converted: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            # The convention of the CSV/NDJSON outputs: ``Z``, fractions only when present.
            converted.append(in_utc(column, dtype).dt.strftime(CSV_DATETIME_FORMAT).alias(name))
        elif isinstance(dtype, pl.Decimal):
            converted.append(column.cast(pl.Float64).alias(name))
        elif dtype.is_float():
            # NaN and ±inf are not JSON; receivers get null instead of a parse error.
            converted.append(pl.when(column.is_finite()).then(column).alias(name))
        elif isinstance(dtype, pl.Duration):
            converted.append(column.dt.total_seconds(fractional=True).alias(name))
        elif dtype.is_temporal() or isinstance(dtype, pl.Categorical | pl.Enum):
            converted.append(column.cast(pl.String).alias(name))
    return frame.with_columns(converted)


def settings_of(alerts: Any, settings: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The settings that produced ``alerts``, JSON-ready, for the payloads; ``None`` if unknown.

    ``settings`` when given (e.g. :func:`~stockseries.alerts.alert_params`), else what an
    :class:`~stockseries.alerts.Alerts` result records (its ``params``); a bare frame records
    none. The value is the canonical form :meth:`Alerts.settings_json` writes beside alert
    files (sorted keys, numbers as floats), so a payload and an alerts file made with the
    same settings say the same thing.
    """
    if settings is None:
        if isinstance(alerts, pl.DataFrame | pl.LazyFrame) or is_pandas(alerts):
            return None
        settings = getattr(alerts, "params", None)
        if not isinstance(settings, Mapping):
            return None
    elif not isinstance(settings, Mapping):
        raise TypeError(
            f"settings must be a mapping (such as Alerts.params), got {type(settings).__name__}"
        )
    recorded: dict[str, Any] = json.loads(json.dumps(canonical(dict(settings)), sort_keys=True))
    return recorded


def check_sent_at(sent_at: object) -> None:
    if not (
        sent_at is None or sent_at == "now" or isinstance(sent_at, datetime) or callable(sent_at)
    ):
        raise TypeError(
            f"sent_at must be 'now', a datetime, a callable returning one, or None; got {sent_at!r}"
        )


def resolve_sent_at(sent_at: SentAt) -> str | None:
    check_sent_at(sent_at)
    if sent_at is None:
        return None
    if sent_at == "now":
        return iso_utc(datetime.now(UTC))
    if isinstance(sent_at, datetime):
        return iso_utc(sent_at)
    moment = sent_at()
    if not isinstance(moment, datetime):
        raise TypeError(f"sent_at() must return a datetime, got {type(moment).__name__}")
    return iso_utc(moment)


def payload_groups(
    formatted: pl.DataFrame, sent_at: str | None, settings: Mapping[str, Any] | None = None
) -> list[tuple[str | None, Payload]]:
    """One payload per supplier from a sorted frame already passed through :func:`jsonable`.

    ``settings`` (from :func:`settings_of`) goes into every payload when known.
    """
    if formatted.is_empty():
        return []
    parts = formatted.partition_by("supplier_id", maintain_order=True)
    groups: list[tuple[str | None, Payload]] = []
    for part in parts:
        supplier_id: str | None = part["supplier_id"][0]
        payload: Payload = {
            "supplier_id": supplier_id,
            "alerts": part.to_dicts(),
            "count": part.height,
        }
        if settings is not None:
            payload["settings"] = settings
        if sent_at is not None:
            payload["sent_at"] = sent_at
        groups.append((supplier_id, payload))
    return groups


def sorted_alerts(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(_SORT_COLUMNS, nulls_last=True)


def payloads(
    alerts: Any, *, sent_at: SentAt = None, settings: Mapping[str, Any] | None = None
) -> list[Payload]:
    """Build the per-supplier payloads for ``alerts`` without sending anything.

    Useful to preview what sinks will receive. No state is consulted: every alert is included.

    Parameters
    ----------
    alerts : Alerts, polars.DataFrame or pandas.DataFrame
        Alert frame following the alert contract (see :data:`ALERT_COLUMNS`), or an object
        with such a frame as ``.frame``.
    sent_at : datetime, callable, "now" or None, default None
        Timestamp put in every payload; ``None`` leaves the key out.
    settings : mapping, optional
        The settings that produced the alerts, put in every payload as ``"settings"``; by
        default those an :class:`~stockseries.alerts.Alerts` result records (a bare frame
        records none, and the key is left out).

    Returns
    -------
    list of dict
        One JSON-able payload per supplier, the unknown supplier (``None``) last.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> import polars as pl
    >>> t0 = datetime(2024, 1, 1, 9, tzinfo=UTC)
    >>> t1 = datetime(2024, 1, 1, 10, tzinfo=UTC)
    >>> alerts = pl.DataFrame({
    ...     "alert_id": ["a1", "a2"], "item_id": ["bolt", "nut"],
    ...     "start": [t0, t0], "end": [t1, t1], "buckets": [1, 1],
    ...     "peak_demand": [40, 30], "peak_ts": [t0, t0], "threshold": [20.0, 20.0],
    ...     "score": [4.0, 2.5], "excess": [20.0, 10.0], "supplier_id": ["S1", None],
    ... })
    >>> [(p["supplier_id"], p["count"]) for p in payloads(alerts)]
    [('S1', 1), (None, 1)]
    >>> payloads(alerts)[0]["alerts"][0]["start"]
    '2024-01-01T09:00:00Z'
    >>> payloads(alerts, settings={"every": "1m", "merge_gap": 0})[0]["settings"]
    {'every': '1m', 'merge_gap': 0.0}
    """
    recorded = settings_of(alerts, settings)
    frame, _ = alert_frame(alerts)
    formatted = jsonable(sorted_alerts(frame))
    stamp = resolve_sent_at(sent_at)
    return [payload for _, payload in payload_groups(formatted, stamp, recorded)]
