"""Alert episodes from flagged buckets, their evaluation against labels, and tuning.

:func:`alerts` turns the ``flagged`` buckets of :func:`stockseries.spikes.detect_spikes`
into one row per episode with a stable :func:`alert_id`; :func:`evaluate` and
:func:`match_alerts` score episodes against labelled spike windows; :func:`tune`
searches detection parameters for the best score on labelled data.

Alert ids hash the item, the episode start and the parameters that produced
the episode (detection and episode rules, see :func:`alert_params`), so the
same data and settings always give the same ids -- in batch here and in the
live engine -- and a notification sink can deduplicate on them.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import json
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from stockseries import _frames
from stockseries._duration import duration_us
from stockseries._schema import ALERT_COLUMNS, ITEM, TS, TS_DTYPE
from stockseries.series import SERIES_SCHEMA, _dense_column
from stockseries.spikes import (
    METHODS,
    _bucket_every,
    _fixed_level,
    _flagged_rows,
    _format_every,
    _integer_moments_exact,
    _Layout,
    _layout,
    _prepare,
    _signal_baseline,
    _thresholds,
    parse_every,
    spike_params,
)
from stockseries.stock import Initial, validated_events

__all__ = [
    "ALERT_COLUMNS",
    "Alerts",
    "TuneResult",
    "alert_id",
    "alert_params",
    "alerts",
    "detect_alerts",
    "evaluate",
    "match_alerts",
    "tune",
]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_US_PER_DAY = 86_400_000_000


# --------------------------------------------------------------------------- ids


def _canonical(value: Any) -> Any:
    """JSON-ready value where equal settings spell the same (3 == 3.0, key order)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        return number if math.isfinite(number) else str(number)
    if isinstance(value, timedelta):
        return _format_every(value)
    if isinstance(value, Mapping):
        return {str(key): _canonical(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return str(value)


def _params_key(params: Mapping[str, Any] | None) -> str:
    return json.dumps(_canonical(dict(params or {})), sort_keys=True, separators=(",", ":"))


def _epoch_us(start: Any) -> int:
    if isinstance(start, bool):
        raise TypeError("start must be a datetime or epoch microseconds, not a bool")
    if isinstance(start, int | np.integer):
        return int(start)
    if isinstance(start, np.datetime64):
        return int(start.astype("datetime64[us]").astype(np.int64))
    if isinstance(start, datetime):
        aware = start if start.tzinfo is not None else start.replace(tzinfo=UTC)
        return (aware - _EPOCH) // _US
    raise TypeError(f"start must be a datetime or epoch microseconds, got {type(start).__name__}")


# Ids must not change across runs, processes or library versions, so they are built from
# BLAKE2b and fixed integer arithmetic only -- never pl.hash / hash_rows, whose values Polars
# may change between releases. BLAKE2b runs once per parameter set and once per distinct item
# (thousands at most); the per-episode part is a vectorised 64-bit mixer.
_PERSON = b"stockseries.id1"
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_HEX_PAIRS = np.frombuffer(b"".join(b"%02x" % byte for byte in range(256)), dtype=np.uint16)


def _params_digest(key: str) -> bytes:
    return hashlib.blake2b(key.encode(), digest_size=32, person=_PERSON).digest()


def _item_hashes(items: Sequence[str], key: str) -> np.ndarray:
    """One 64-bit BLAKE2b hash per item, keyed by the parameters' digest."""
    digest = _params_digest(key)
    return np.array(
        [
            int.from_bytes(
                hashlib.blake2b(item.encode(), digest_size=8, key=digest, person=_PERSON).digest(),
                "big",
            )
            for item in items
        ],
        dtype=np.uint64,
    )


def _mix64(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser: a bijection of uint64 that spreads every input bit."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def _combine(item_hash: np.ndarray, start_us: np.ndarray) -> np.ndarray:
    """Per-episode id numbers; for a fixed item hash, distinct starts never collide."""
    return _mix64(item_hash ^ _mix64(start_us.astype(np.int64).view(np.uint64)))


def _hex16(numbers: np.ndarray) -> pl.Series:
    """``f"{n:016x}"`` for every uint64, as a String Series, without a Python loop."""
    digits = _HEX_PAIRS[numbers.astype(">u8").view(np.uint8)]
    offsets = np.arange(0, 16 * len(numbers) + 1, 16, dtype=np.int32)
    array = pa.Array.from_buffers(
        pa.string(),
        len(numbers),
        [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(digits))],
    )
    return pl.Series("alert_id", array, dtype=pl.String)


def _alert_ids(items: pl.Series, start_us: np.ndarray, key: str) -> pl.Series:
    """The ids of episodes of ``items`` (String, no nulls) starting at ``start_us``."""
    distinct = items.unique()
    hashes = pl.Series(_item_hashes(distinct.to_list(), key), dtype=pl.UInt64)
    per_row = items.replace_strict(distinct, hashes, return_dtype=pl.UInt64).to_numpy()
    return _hex16(_combine(per_row, start_us))


def alert_id(item_id: str, start: datetime | int, params: Mapping[str, Any] | None = None) -> str:
    """The stable id of the episode of ``item_id`` starting at ``start``.

    16 hex digits hashing the item, the start (epoch microseconds; naive
    datetimes are UTC) and the canonical JSON of ``params`` (sorted keys,
    numbers as floats, so ``{"k": 3}`` and ``{"k": 3.0}`` agree): BLAKE2b of
    the item keyed by BLAKE2b of the parameters, mixed with the start by the
    SplitMix64 finaliser -- the same value :func:`alerts` computes vectorised,
    stable across runs, processes and library versions. Use
    :attr:`Alerts.params` (or :func:`alert_params`) as ``params`` to reproduce
    the ids of :func:`alerts`.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> t = datetime(2024, 1, 1, 6, 10, tzinfo=timezone.utc)
    >>> alert_id("SKU-1", t, {"k": 3}) == alert_id("SKU-1", t, {"k": 3.0})
    True
    >>> alert_id("SKU-1", t, {"k": 3}) == alert_id("SKU-1", t, {"k": 4})
    False
    >>> len(alert_id("SKU-1", t))
    16
    """
    key = _params_key(params)
    start_us = np.array([_epoch_us(start)], dtype=np.int64)
    return str(_hex16(_combine(_item_hashes([str(item_id)], key), start_us))[0])


def alert_params(
    detection: Mapping[str, Any] | None = None,
    *,
    every: str | timedelta,
    merge_gap: int = 0,
    min_buckets: int = 1,
    cooldown: int = 0,
) -> dict[str, Any]:
    """Everything that shapes an episode, as :attr:`Alerts.params` records it.

    ``detection`` (the keyword arguments given to ``detect_spikes``) is
    completed with its defaults by :func:`~stockseries.spikes.spike_params`,
    so spelled-out defaults do not change ids; ``None`` means "not recorded".

    Examples
    --------
    >>> alert_params({"window": 30}, every="1m")["detection"]["min_periods"]
    30
    >>> alert_params(every="1m")
    {'detection': None, 'every': '1m', 'merge_gap': 0, 'min_buckets': 1, 'cooldown': 0}
    """
    for name, value, low in (
        ("merge_gap", merge_gap, 0),
        ("min_buckets", min_buckets, 1),
        ("cooldown", cooldown, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise ValueError(f"{name} must be an integer >= {low} (buckets), got {value!r}")
    return {
        "detection": None if detection is None else spike_params(**detection),
        "every": _format_every(parse_every(every)),
        "merge_gap": int(merge_gap),
        "min_buckets": int(min_buckets),
        "cooldown": int(cooldown),
    }


# --------------------------------------------------------------------------- episodes


def _empty_alerts(ts_dtype: pl.DataType, value_dtype: pl.DataType) -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "alert_id": pl.String,
            "item_id": pl.String,
            "start": ts_dtype,
            "end": ts_dtype,
            "buckets": pl.Int64,
            "peak_demand": value_dtype,
            "peak_ts": ts_dtype,
            "threshold": pl.Float64,
            "score": pl.Float64,
            "excess": pl.Float64,
            "supplier_id": pl.String,
        }
    )


def _episodes(
    rows: pl.DataFrame,
    *,
    every_us: int,
    merge_gap: int,
    min_buckets: int,
    cooldown: int,
) -> pl.DataFrame:
    """Episodes of flagged buckets.

    ``rows`` holds only flagged buckets -- ``item_id``, ``ts``, ``_t`` (epoch
    µs), ``value`` (for the peak), optionally ``compared`` (the value the
    threshold applies to, for the excess; default ``value``), ``threshold``,
    ``score`` and maybe ``supplier_id`` --
    sorted by item and time. Returns one row per surviving episode with the
    alert columns except ``alert_id`` plus ``_start_us``, ``_end_us``, sorted
    by item and start.
    """
    t = pl.col("_t")
    item = pl.col("item_id")
    # Two flagged buckets belong together when at most merge_gap buckets lie between them.
    new_episode = (item != item.shift(1)) | (t - t.shift(1) > (merge_gap + 1) * every_us)
    peak = pl.col("value").arg_max()  # first bucket holding the maximum
    extra = [pl.col("supplier_id").first()] if "supplier_id" in rows.columns else []
    compared = "compared" if "compared" in rows.columns else "value"
    episodes = (
        rows.with_columns(_episode=new_episode.fill_null(True).cum_sum())
        .group_by("_episode", maintain_order=True)
        .agg(
            item.first(),
            pl.col("ts").first().alias("start"),
            t.first().alias("_start_us"),
            (t.last() + every_us).alias("_end_us"),
            (pl.col("ts").last() + pl.duration(microseconds=every_us)).alias("end"),
            pl.col("value").max().alias("peak_demand"),
            pl.col("ts").get(peak).alias("peak_ts"),
            pl.col("threshold").get(peak),
            pl.col("score").get(peak),
            (pl.col(compared) - pl.col("threshold")).sum().alias("excess"),
            *extra,
        )
        .with_columns(buckets=(pl.col("_end_us") - pl.col("_start_us")) // every_us)
        .filter(pl.col("buckets") >= min_buckets)
        .drop("_episode")
    )
    if cooldown > 0 and episodes.height > 1:
        episodes = episodes.filter(_outside_cooldown(episodes, cooldown * every_us))
    return episodes


def _outside_cooldown(episodes: pl.DataFrame, cooldown_us: int) -> pl.Series:
    """Which episodes (sorted by item, start) survive the cooldown; see :func:`_cooldown_keep`."""
    keep = _cooldown_keep(
        episodes.get_column("item_id").rle_id().to_numpy().astype(np.int64),
        episodes.get_column("_start_us").to_numpy(),
        episodes.get_column("_end_us").to_numpy(),
        cooldown_us,
    )
    return pl.Series("keep", keep)


def _cooldown_keep(
    codes: np.ndarray, start: np.ndarray, end: np.ndarray, cooldown: int
) -> np.ndarray:
    """Episodes that survive the cooldown following every *reported* episode.

    Episodes are sorted by item code, then start. Each item's first episode is
    reported; the next reported one is the first starting at or after
    ``end + cooldown`` of the last reported one. Following those "next"
    pointers is a loop over an item's reported episodes (a chain), each step
    vectorised over all items.
    """
    n = len(codes)
    keep = np.zeros(n, dtype=bool)
    if n == 0:
        return keep
    # Dense ranks of all the times make one sortable integer key per (item, time).
    _, ranks = np.unique(np.concatenate([start, end + cooldown]), return_inverse=True)
    scale = int(ranks.max()) + 1
    start_key = codes * scale + ranks[:n]
    target_key = codes * scale + ranks[n:]
    nxt = np.searchsorted(start_key, target_key, side="left")
    valid = nxt < n
    valid[valid] = codes[nxt[valid]] == codes[valid]
    nxt[~valid] = -1
    frontier = np.flatnonzero(np.diff(codes, prepend=codes[0] - 1) != 0)
    while frontier.size:
        keep[frontier] = True
        frontier = nxt[frontier]
        frontier = frontier[frontier >= 0]
    return keep


def _supplier_lookup(suppliers: Any) -> pl.DataFrame:
    if isinstance(suppliers, Mapping):
        return pl.DataFrame(
            {
                "item_id": [str(key) for key in suppliers],
                "supplier_id": [None if v is None else str(v) for v in suppliers.values()],
            },
            schema={"item_id": pl.String, "supplier_id": pl.String},
        )
    frame, _ = _frames.to_polars(suppliers)
    missing = [c for c in ("item_id", "supplier_id") if c not in frame.columns]
    if missing:
        raise ValueError(
            f"suppliers frame lacks column(s) {', '.join(missing)}; expected item_id, supplier_id "
            "(a catalog frame works)"
        )
    lookup = frame.select(pl.col("item_id").cast(pl.String), pl.col("supplier_id").cast(pl.String))
    dupes = lookup.filter(pl.col("item_id").is_duplicated()).get_column("item_id").unique().sort()
    if len(dupes):
        raise ValueError(f"suppliers lists item(s) more than once: {dupes.head(5).to_list()}")
    return lookup


def _finish(
    episodes: pl.DataFrame,
    params: Mapping[str, Any],
    suppliers: Any,
    ts_dtype: pl.DataType,
    value_dtype: pl.DataType,
) -> pl.DataFrame:
    if episodes.height == 0:
        return _empty_alerts(ts_dtype, value_dtype)
    items = episodes.get_column("item_id").cast(pl.String)
    ids = _alert_ids(items, episodes.get_column("_start_us").to_numpy(), _params_key(params))
    episodes = episodes.with_columns(ids, items)
    if suppliers is not None:
        episodes = episodes.drop("supplier_id", strict=False).join(
            _supplier_lookup(suppliers), on="item_id", how="left"
        )
    elif "supplier_id" not in episodes.columns:
        episodes = episodes.with_columns(supplier_id=pl.lit(None, dtype=pl.String))
    return (
        episodes.with_columns(
            pl.col("supplier_id").cast(pl.String),
            pl.col("buckets").cast(pl.Int64),
            pl.col("threshold", "score", "excess").cast(pl.Float64),
        )
        .sort("_start_us", "item_id", maintain_order=True)
        .select(ALERT_COLUMNS)
    )


# --------------------------------------------------------------------------- Alerts


def _fmt_time(value: datetime | None) -> str:
    return "?" if value is None else value.strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True, eq=False)
class Alerts:
    """Alert episodes: one row per episode in :attr:`frame` (columns :data:`ALERT_COLUMNS`).

    Attributes
    ----------
    frame : polars.DataFrame
        The episodes, sorted by ``start`` then ``item_id``.
    params : dict
        What produced them (see :func:`alert_params`); ``alert_id`` hashes it.
    every : datetime.timedelta
        The bucket length.
    """

    frame: pl.DataFrame
    params: dict[str, Any] = field(default_factory=dict)
    every: timedelta = timedelta(minutes=1)

    def __len__(self) -> int:
        return self.frame.height

    def to_pandas(self) -> Any:
        """The episodes as a pandas DataFrame."""
        return self.frame.to_pandas()

    def _span(self) -> tuple[datetime | None, datetime | None]:
        return self.frame.get_column("start").min(), self.frame.get_column("end").max()  # type: ignore[return-value]

    def __repr__(self) -> str:
        n = len(self)
        if n == 0:
            return "Alerts(0 episodes)"
        items = self.frame.get_column("item_id").n_unique()
        first, last = self._span()
        return (
            f"Alerts({n} episode{'s' * (n != 1)}, {items} item{'s' * (items != 1)}, "
            f"{_fmt_time(first)} → {_fmt_time(last)})"
        )

    def top_items(self, n: int = 10) -> pl.DataFrame:
        """Items with the most episodes (then the largest total excess)."""
        return (
            self.frame.group_by("item_id")
            .agg(
                pl.len().cast(pl.Int64).alias("episodes"),
                pl.col("buckets").sum(),
                pl.col("peak_demand").max(),
                pl.col("excess").sum().alias("total_excess"),
                pl.col("supplier_id").first(),
            )
            .sort(["episodes", "total_excess", "item_id"], descending=[True, True, False])
            .head(n)
        )

    def _repr_html_(self) -> str:
        head = html.escape(repr(self))
        if len(self) == 0:
            return f"<div><strong>{head}</strong></div>"
        detection = self.params.get("detection") or {}
        setting = ", ".join(
            f"{key}={value}"
            for key, value in detection.items()
            if key in ("method", "window", "smooth", "k", "min_demand") and value is not None
        )
        note = f"<div>{html.escape(setting)}</div>" if setting else ""
        table = self.top_items()._repr_html_()
        return f"<div><strong>{head}</strong>{note}<div>Top items</div>{table}</div>"

    def write(self, path: str | Path) -> Path:
        """Write the episodes to ``.csv`` or ``.parquet`` (chosen by extension).

        With no episodes the file still holds the header (CSV) or schema (Parquet).
        """
        target = Path(path)
        suffix = target.suffix.lower()
        if suffix == ".csv":
            self.frame.write_csv(target)
        elif suffix in (".parquet", ".pq"):
            self.frame.write_parquet(target)
        else:
            raise ValueError(
                f"cannot tell the format of {str(path)!r}: use a .csv or .parquet path"
            )
        return target


def _detected(detected: Any, column: str) -> tuple[pl.DataFrame, _Layout]:
    frame, _ = _frames.to_polars(detected)
    needed = ("flagged", "threshold", "score")
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(
            f"alerts needs a detection frame (from detect_spikes); missing column(s) "
            f"{', '.join(missing)}"
        )
    if frame.get_column("flagged").null_count():
        raise ValueError("column 'flagged' has nulls; it must be Boolean and never null")
    return _prepare(frame, column)


def alerts(
    detected: Any,
    *,
    params: Mapping[str, Any] | None = None,
    every: str | timedelta | None = None,
    merge_gap: int = 0,
    min_buckets: int = 1,
    cooldown: int = 0,
    suppliers: Any = None,
    column: str | None = None,
) -> Alerts:
    """Group flagged buckets into alert episodes, one row per episode.

    Rules, applied in this order, per item:

    1. An episode is a maximal run of flagged buckets in which consecutive
       flagged buckets are separated by at most ``merge_gap`` unflagged
       buckets (``merge_gap=0``: strictly consecutive buckets).
    2. Episodes spanning fewer than ``min_buckets`` buckets (``end − start``,
       merged gaps included) are dropped.
    3. Cooldown: after a *reported* episode ends, an episode of the same item
       starting before ``end + cooldown·every`` is suppressed (dropped, and it
       does not extend the cooldown). ``cooldown=0`` suppresses nothing.

    Parameters
    ----------
    detected : polars or pandas DataFrame
        Output of :func:`~stockseries.spikes.detect_spikes` (needs ``item_id``,
        ``ts``, ``flagged``, ``threshold``, ``score`` and the watched column).
    params : mapping, optional
        The detection parameters (the keyword arguments given to
        ``detect_spikes``, or a ``TuneResult.best``). They are recorded in
        :attr:`Alerts.params` and hashed into the ids, so different settings
        give different ids; a frame cannot carry them, hence this argument.
        ``None`` records no detection settings.
    every : str or timedelta, optional
        Bucket length; inferred as the smallest step between buckets of an item.
    merge_gap, min_buckets, cooldown : int
        Episode rules above, in buckets.
    suppliers : mapping or frame, optional
        ``item_id → supplier_id`` (mapping, or a frame such as the catalog);
        otherwise ``supplier_id`` comes from the detected frame when it has
        that column, else it is null.
    column : str, optional
        The watched column reported as ``peak_demand``; default
        ``params["column"]`` or ``"demand"``.

    Returns
    -------
    Alerts
        ``.frame`` has :data:`ALERT_COLUMNS`: ``start`` is the first flagged
        bucket's start, ``end`` the last flagged bucket's start + ``every``,
        ``buckets = (end − start)/every``, ``peak_*``/``threshold``/``score``
        describe the first bucket holding the maximum, ``excess`` sums
        ``value − threshold`` over the flagged buckets (``signal − threshold``
        when detection smoothed). Sorted by ``start``, ``item_id``.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timedelta, timezone
    >>> from stockseries.spikes import detect_spikes
    >>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> demand = [2, 3, 2, 3, 2, 3, 2, 3, 20, 2, 25, 3]
    >>> series = pl.DataFrame({
    ...     "item_id": "a", "ts": [t0 + timedelta(minutes=i) for i in range(12)], "demand": demand,
    ... })
    >>> settings = {"window": 8, "k": 3}
    >>> found = alerts(detect_spikes(series, **settings), params=settings, merge_gap=1)
    >>> found
    Alerts(1 episode, 1 item, 2024-01-01 00:08 → 2024-01-01 00:11)
    >>> found.frame.select("buckets", "peak_demand", pl.col("peak_ts").dt.strftime("%H:%M")).row(0)
    (3, 25, '00:10')
    """
    detection = None if params is None else spike_params(**params)
    if column is None:
        column = detection["column"] if detection else "demand"
    elif detection and detection["column"] != column:
        raise ValueError(f"column={column!r} contradicts params column={detection['column']!r}")
    frame, layout = _detected(detected, column)
    ts_dtype = frame.schema["ts"]
    ts_us = frame.get_column("ts").dt.epoch("us")
    if every is None:
        if frame.height == 0:
            raise ValueError("cannot infer every from an empty frame; pass every=")
        every_us = _bucket_every(ts_us.to_numpy(), layout, dense=False)
    else:
        every_us = parse_every(every) // _US
    recorded = alert_params(
        detection,
        every=timedelta(microseconds=every_us),
        merge_gap=merge_gap,
        min_buckets=min_buckets,
        cooldown=cooldown,
    )
    keep = ["item_id", "ts", "threshold", "score"]
    if "supplier_id" in frame.columns and suppliers is None:
        keep.append("supplier_id")
    # With smoothing, the threshold applies to `signal`, so the excess is measured on it.
    compared = "signal" if "signal" in frame.columns else column
    rows = (
        frame.with_columns(_t=ts_us)
        .filter(pl.col("flagged"))
        .select(*keep, "_t", pl.col(column).alias("value"), pl.col(compared).alias("compared"))
    )
    episodes = _episodes(
        rows,
        every_us=every_us,
        merge_gap=merge_gap,
        min_buckets=min_buckets,
        cooldown=cooldown,
    )
    result = _finish(episodes, recorded, suppliers, ts_dtype, frame.schema[column])
    return Alerts(result, recorded, timedelta(microseconds=every_us))


# --------------------------------------------------------------------------- events → alerts

# detect_alerts runs detection on runs of whole items of about this many dense rows: large
# enough that per-run overhead is negligible, small enough that the run's detection
# temporaries stay a few tens of megabytes.
_BATCH_ROWS = 1 << 17
_WATCHABLE = tuple(name for name in SERIES_SCHEMA if name not in (ITEM, TS))


def detect_alerts(
    events: Any,
    every: str | timedelta = "1m",
    method: str = "zscore",
    *,
    initial: Initial = None,
    suppliers: Any = None,
    merge_gap: int = 0,
    min_buckets: int = 1,
    cooldown: int = 0,
    column: str = "demand",
    **detector_options: Any,
) -> Alerts:
    """Alert episodes straight from events: resample, detect and group in one lean pass.

    The result equals the three-step pipeline, alert ids included::

        detected = detect_spikes(resample(events, every, initial=initial), method,
                                 column=column, **detector_options)
        alerts(detected, params={"method": method, "column": column, **detector_options},
               every=every, merge_gap=merge_gap, min_buckets=min_buckets,
               cooldown=cooldown, suppliers=suppliers)

    but it never holds the dense series or the detection frame: only the watched column
    (8 bytes per dense bucket) is built, detection runs on a few hundred thousand buckets of
    whole items at a time, and only the flagged buckets are kept. Use it when the alerts are
    all you need; use the three steps when you want to look at the series or the baselines.

    Parameters
    ----------
    events : polars DataFrame/LazyFrame or pandas DataFrame
        An event frame (checked with :func:`stockseries.events.validate_events`).
    every : str or datetime.timedelta, default "1m"
        Bucket width, as in :func:`stockseries.series.resample`.
    method : str, default "zscore"
        A detection method of :func:`stockseries.spikes.detect_spikes`.
    initial : int, mapping or frame, optional
        Starting stock, as in :func:`~stockseries.series.resample`. Only the ``level`` column
        depends on it, so it changes nothing unless ``column="level"`` (it is still checked).
    suppliers : mapping or frame, optional
        ``item_id → supplier_id``, as in :func:`alerts`; otherwise ``supplier_id`` is null.
    merge_gap, min_buckets, cooldown : int
        Episode rules of :func:`alerts`, in buckets.
    column : str, default "demand"
        The series column to watch: ``demand``, ``orders``, ``supply``, ``deliveries`` or
        ``level``.
    **detector_options
        ``window``, ``k``, ``min_periods``, ``min_demand``, ``smooth`` and the method's
        options, as for :func:`~stockseries.spikes.detect_spikes`.

    Returns
    -------
    Alerts
        As :func:`alerts`; :attr:`Alerts.params` records the detection settings and episode
        rules, so the ids are those of the three-step pipeline and of ``stockseries detect``.

    Raises
    ------
    stockseries.events.EventValidationError
        The events break a validation rule.
    TypeError, ValueError
        A detection, episode or bucket setting, ``initial``, ``suppliers`` or ``column`` is
        invalid, or the dense series would exceed 200 million buckets.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timedelta, timezone
    >>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> events = pl.DataFrame({
    ...     "ts": [t0 + timedelta(minutes=i) for i in range(12)],
    ...     "item_id": "a",
    ...     "kind": "order",
    ...     "quantity": [2, 3, 2, 3, 2, 3, 2, 3, 20, 2, 25, 3],
    ... })
    >>> found = detect_alerts(events, "1m", window=8, k=3, merge_gap=1)
    >>> found
    Alerts(1 episode, 1 item, 2024-01-01 00:08 → 2024-01-01 00:11)
    >>> from stockseries.series import resample
    >>> from stockseries.spikes import detect_spikes
    >>> detected = detect_spikes(resample(events, "1m"), window=8, k=3)
    >>> composed = alerts(detected, params={"window": 8, "k": 3}, every="1m", merge_gap=1)
    >>> found.frame.equals(composed.frame)
    True
    """
    params = spike_params(method, column=column, **detector_options)
    if column not in _WATCHABLE:
        raise (TypeError if column in (ITEM, TS) else ValueError)(
            f"column={column!r} cannot be watched; choose one of the series columns "
            f"{', '.join(_WATCHABLE)}"
        )
    every_us = duration_us(every, "every")
    rules: dict[str, Any] = {
        "merge_gap": merge_gap,
        "min_buckets": min_buckets,
        "cooldown": cooldown,
    }
    alert_params(None, every=every, **rules)  # refuse bad episode rules before the work
    if suppliers is not None:
        _supplier_lookup(suppliers)
    frame, _ = validated_events(events)
    flagged = _flagged_buckets(frame, every_us, params, initial, _BATCH_ROWS)
    return alerts(flagged, params=params, every=every, suppliers=suppliers, **rules)


def _flagged_buckets(
    frame: pl.DataFrame,
    every_us: int,
    params: Mapping[str, Any],
    initial: Initial,
    batch_rows: int,
) -> pl.DataFrame:
    """The flagged rows of ``detect_spikes(resample(frame, ...), **params)``, with the
    columns :func:`alerts` reads, computed a run of items at a time."""
    column = params["column"]
    dense = _dense_column(frame, every_us, column, initial)
    if isinstance(params.get("level"), dict):
        # Refuse missing per-item levels for the whole input at once, as detect_spikes would,
        # rather than for whichever run of items first lacks one.
        names = dense.labels.to_frame()
        _fixed_level(names, _layout(np.arange(names.height)), params["level"])
    if _float_path_possible(dense.values, params):
        batch_rows = len(dense.values)  # rounding could differ between runs: one run
    parts = [
        _flagged_rows(dense.frame(items, column), dense.lengths[items], params)
        for items in dense.item_batches(batch_rows)
    ]
    if parts:
        return pl.concat(parts)
    schema: dict[str, Any] = {ITEM: pl.String, TS: TS_DTYPE, column: pl.Int64}
    schema |= {"threshold": pl.Float64, "score": pl.Float64, "flagged": pl.Boolean}
    if params["smooth"] > 1:
        schema["signal"] = pl.Float64
    return pl.DataFrame(schema=schema)


def _float_path_possible(values: np.ndarray, params: Mapping[str, Any]) -> bool:
    """Whether zscore might leave its exact integer path on part of the input.

    Its moments are exact integer sums unless the largest value watched is too large; that
    choice is made per call, so runs of items could then disagree with one call on everything.
    """
    if params["method"] != "zscore" or not len(values):
        return False
    largest = float(max(int(values.max()), -int(values.min()))) * params["smooth"]
    return not _integer_moments_exact(params["window"], largest)


# --------------------------------------------------------------------------- evaluation


def _utc(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        expr = expr.dt.replace_time_zone("UTC")
    return expr.cast(TS_DTYPE)


def _intervals(obj: Any, what: str) -> tuple[pl.DataFrame, bool]:
    """``item_id``, ``start``, ``end`` (UTC µs), ``alert_id`` of alerts or labels."""
    if isinstance(obj, Alerts):
        frame, was_pandas = obj.frame, False
    else:
        frame, was_pandas = _frames.to_polars(obj)
    missing = [c for c in ("item_id", "start", "end") if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{what} frame lacks column(s) {', '.join(missing)}; needs item_id, start, end"
        )
    for name in ("start", "end"):
        if not isinstance(frame.schema[name], pl.Datetime):
            raise TypeError(f"{what} column {name!r} must be Datetime, got {frame.schema[name]}")
    if frame.select(pl.any_horizontal(pl.col("item_id", "start", "end").is_null().any())).item():
        raise ValueError(f"{what} frame has nulls in item_id, start or end")
    bad = _frames.offending_rows(frame, pl.col("end") <= pl.col("start"))
    if bad:
        raise ValueError(f"{what} windows must have end > start (half-open); bad rows {bad}")
    ids = (
        pl.col("alert_id").cast(pl.String)
        if "alert_id" in frame.columns
        else pl.lit(None, pl.String)
    )
    return (
        frame.select(
            pl.col("item_id").cast(pl.String),
            _utc(pl.col("start"), frame.schema["start"]).alias("start"),
            _utc(pl.col("end"), frame.schema["end"]).alias("end"),
            ids.alias("alert_id"),
        ),
        was_pandas,
    )


def _pairs(found: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """Every (alert row ``_a``, label row ``_l``) of the same item whose windows overlap."""
    a = found.select("item_id", "start", "end", "alert_id").with_row_index("_a")
    b = labels.select("item_id", pl.col("start").alias("l_start"), pl.col("end").alias("l_end"))
    return (
        a.join(b.with_row_index("_l"), on="item_id", how="inner")
        .filter((pl.col("start") < pl.col("l_end")) & (pl.col("l_start") < pl.col("end")))
        .select("_a", "_l", "alert_id", "start", "l_start")
    )


def _match(found: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    pairs = _pairs(found, labels)
    delay = pl.col("start") - pl.col("l_start")
    per_alert = pairs.group_by("_a").agg(
        pl.len().alias("matches"), delay.sort_by("l_start").first().alias("delay")
    )
    per_label = pairs.group_by("_l").agg(
        pl.len().alias("matches"),
        pl.col("alert_id").sort_by("start", "alert_id").first(),
        delay.sort_by("start").first().alias("delay"),
    )
    alert_rows = _classified(found, per_alert, index="_a", kind="alert", unmatched="fp")
    label_rows = _classified(
        labels.select("item_id", "start", "end"),
        per_label,
        index="_l",
        kind="label",
        unmatched="fn",
    )
    return pl.concat([alert_rows, label_rows]).sort(
        "item_id", "start", "kind", "alert_id", maintain_order=True, nulls_last=True
    )


def _classified(
    frame: pl.DataFrame, matched: pl.DataFrame, *, index: str, kind: str, unmatched: str
) -> pl.DataFrame:
    """Rows of ``frame`` with their outcome: ``tp`` when matched, else ``unmatched``."""
    return (
        frame.with_row_index(index)
        .join(matched, on=index, how="left")
        .select(
            pl.lit(kind).alias("kind"),
            pl.when(pl.col("matches").is_null())
            .then(pl.lit(unmatched))
            .otherwise(pl.lit("tp"))
            .alias("outcome"),
            "item_id",
            "start",
            "end",
            "alert_id",
            pl.col("matches").fill_null(0).cast(pl.Int64),
            "delay",
        )
    )


def match_alerts(alerts: Any, labels: Any) -> Any:
    """Classify every alert and every label: a true positive, false alert or miss.

    An alert and a label match when they are for the same item and their
    half-open windows ``[start, end)`` overlap.

    Parameters
    ----------
    alerts : Alerts or frame
        Episodes (``item_id``, ``start``, ``end``; ``alert_id`` if present).
    labels : frame
        Labelled spike windows (``item_id``, ``start``, ``end``).

    Returns
    -------
    polars.DataFrame (pandas when ``labels`` is pandas)
        One row per alert (``kind="alert"``, ``outcome`` ``"tp"`` or ``"fp"``)
        and per label (``kind="label"``, ``outcome`` ``"tp"`` or ``"fn"``) with
        ``item_id``, ``start``, ``end`` (UTC), ``alert_id`` (the alert's own id;
        for a label the id of its earliest overlapping alert), ``matches``
        (how many of the other kind overlap) and ``delay`` (alert start − label
        start: for a label, of its earliest alert; for an alert, against its
        earliest label). Sorted by ``item_id``, ``start``, ``kind``.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime
    >>> t = lambda m: datetime(2024, 1, 1, 0, m)
    >>> found = pl.DataFrame({"alert_id": ["x", "y"], "item_id": ["a", "a"],
    ...                       "start": [t(5), t(40)], "end": [t(9), t(41)]})
    >>> truth = pl.DataFrame({"item_id": ["a", "b"], "start": [t(3), t(1)], "end": [t(20), t(9)]})
    >>> match_alerts(found, truth).select("kind", "outcome", "item_id", "alert_id", "matches")
    shape: (4, 5)
    ┌───────┬─────────┬─────────┬──────────┬─────────┐
    │ kind  ┆ outcome ┆ item_id ┆ alert_id ┆ matches │
    │ ---   ┆ ---     ┆ ---     ┆ ---      ┆ ---     │
    │ str   ┆ str     ┆ str     ┆ str      ┆ i64     │
    ╞═══════╪═════════╪═════════╪══════════╪═════════╡
    │ label ┆ tp      ┆ a       ┆ x        ┆ 1       │
    │ alert ┆ tp      ┆ a       ┆ x        ┆ 1       │
    │ alert ┆ fp      ┆ a       ┆ y        ┆ 0       │
    │ label ┆ fn      ┆ b       ┆ null     ┆ 0       │
    └───────┴─────────┴─────────┴──────────┴─────────┘
    """
    found, _ = _intervals(alerts, "alerts")
    truth, was_pandas = _intervals(labels, "labels")
    return _frames.like_input(_match(found, truth), was_pandas)


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _f1(precision: float | None, recall: float | None) -> float | None:
    if precision == 0 or recall == 0:
        return 0.0
    if precision is None or recall is None:
        return None
    return 2 * precision * recall / (precision + recall)


def _event_scores(
    found: pl.DataFrame, truth: pl.DataFrame, item_days: float | None
) -> dict[str, Any]:
    pairs = _pairs(found, truth)
    n_alerts, n_labels = found.height, truth.height
    hits = pairs.get_column("_a").n_unique()
    detected = pairs.get_column("_l").n_unique()
    delays = (
        pairs.group_by("_l")
        .agg((pl.col("start") - pl.col("l_start")).min().dt.total_microseconds())
        .get_column("start")
        / 1e6
    )
    precision = _ratio(hits, n_alerts)
    recall = _ratio(detected, n_labels)
    false_alerts = n_alerts - hits
    return {
        "precision": precision,
        "recall": recall,
        "f1": _f1(precision, recall),
        "n_alerts": n_alerts,
        "n_labels": n_labels,
        "true_alerts": hits,
        "false_alerts": false_alerts,
        "detected_labels": detected,
        "missed_labels": n_labels - detected,
        "mean_time_to_detect_s": delays.mean() if len(delays) else None,
        "median_time_to_detect_s": delays.median() if len(delays) else None,
        "item_days": item_days,
        "false_alerts_per_item_day": _ratio(false_alerts, item_days or 0.0),
    }


def _series_item_days(
    frame: pl.DataFrame, layout: _Layout, ts_us: np.ndarray, every_us: int
) -> float:
    if layout.n == 0:
        return 0.0
    last = layout.starts + layout.lengths - 1
    return float((ts_us[last] - ts_us[layout.starts] + every_us).sum()) / _US_PER_DAY


def _span_item_days(found: pl.DataFrame, truth: pl.DataFrame) -> float | None:
    both = pl.concat(
        [found.select("item_id", "start", "end"), truth.select("item_id", "start", "end")]
    )
    if both.height == 0:
        return None
    span_us = both.select(
        (pl.col("end").max() - pl.col("start").min()).dt.total_microseconds()
    ).item()
    return both.get_column("item_id").n_unique() * span_us / _US_PER_DAY


def _covered(detected: pl.DataFrame, truth: pl.DataFrame) -> pl.Series:
    """Whether each bucket start of ``detected`` lies inside a label window of its item."""
    windows = truth.sort("item_id", "start").with_columns(
        pl.col("end").cum_max().over("item_id").alias("_reach")
    )
    return (
        detected.select(
            pl.col("item_id").cast(pl.String),
            _utc(pl.col("ts"), detected.schema["ts"]).alias("_ts"),
        )
        .with_row_index("_row")
        .join_asof(
            windows.select("item_id", "start", "_reach"),
            left_on="_ts",
            right_on="start",
            by="item_id",
            strategy="backward",
            check_sortedness=False,
        )
        .sort("_row")
        .select((pl.col("_ts") < pl.col("_reach")).fill_null(False))
        .to_series()
    )


def _point_scores(detected: pl.DataFrame, truth: pl.DataFrame) -> dict[str, Any]:
    if "flagged" not in detected.columns:
        raise ValueError("series must be a detection frame (with 'flagged') for point-wise metrics")
    actual = _covered(detected, truth)
    predicted = detected.get_column("flagged")
    tp = int((actual & predicted).sum())
    fp = int((~actual & predicted).sum())
    fn = int((actual & ~predicted).sum())
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    return {
        "point_precision": precision,
        "point_recall": recall,
        "point_f1": _f1(precision, recall),
        "point_tp": tp,
        "point_fp": fp,
        "point_fn": fn,
    }


def evaluate(alerts: Any, labels: Any, *, series: Any = None) -> Any:
    """Score alert episodes against labelled spike windows.

    Event level: an alert is a *hit* when it overlaps (``[start, end)``) a
    label window of the same item; a label is *detected* when at least one
    alert overlaps it, and counts once however many do. precision = hits /
    alerts, recall = detected labels / labels, F1 their harmonic mean
    (0 when either is 0; null when undefined, e.g. precision with no alerts).
    Time to detect is ``alert start − label start`` of each detected label's
    earliest overlapping alert (negative when the alert began first), in
    seconds. False alerts per item-day divide the non-hit alerts by the
    observed item-days: summed per-item spans of ``series`` when given, else
    (an estimate) the items seen in labels or alerts times the overall span.

    With ``series`` (the :func:`~stockseries.spikes.detect_spikes` frame) the
    bucket-level metrics ``point_precision``, ``point_recall``, ``point_f1``
    (and counts) compare ``flagged`` with "bucket start inside a label".

    Returns
    -------
    polars.DataFrame (pandas when ``labels`` is pandas)
        Tidy: one row per metric, columns ``metric`` (String) and ``value``
        (Float64; null when undefined). Metrics: precision, recall, f1,
        n_alerts, n_labels, true_alerts, false_alerts, detected_labels,
        missed_labels, mean_time_to_detect_s, median_time_to_detect_s,
        item_days, false_alerts_per_item_day and, with ``series``, point_*.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime
    >>> t = lambda m: datetime(2024, 1, 1, 0, m)
    >>> found = pl.DataFrame({"item_id": ["a", "a", "a"], "start": [t(5), t(7), t(40)],
    ...                       "end": [t(6), t(9), t(41)]})
    >>> truth = pl.DataFrame({"item_id": ["a", "b"], "start": [t(3), t(1)], "end": [t(20), t(9)]})
    >>> scores = evaluate(found, truth)
    >>> dict(scores.filter(pl.col("metric").is_in(["precision", "recall", "f1"])).iter_rows())
    {'precision': 0.666..., 'recall': 0.5, 'f1': 0.571...}
    """
    found, _ = _intervals(alerts, "alerts")
    truth, was_pandas = _intervals(labels, "labels")
    metrics: dict[str, Any]
    if series is not None:
        detected, layout = _prepare(_frames.to_polars(series)[0], None)
        ts_us = detected.get_column("ts").dt.epoch("us").to_numpy()
        every_us = (
            alerts.every // _US
            if isinstance(alerts, Alerts)
            else _bucket_every(ts_us, layout, dense=False)
        )
        metrics = _event_scores(found, truth, _series_item_days(detected, layout, ts_us, every_us))
        metrics.update(_point_scores(detected, truth))
    else:
        metrics = _event_scores(found, truth, _span_item_days(found, truth))
    tidy = pl.DataFrame(
        {
            "metric": list(metrics),
            "value": [None if v is None else float(v) for v in metrics.values()],
        },
        schema={"metric": pl.String, "value": pl.Float64},
    )
    return _frames.like_input(tidy, was_pandas)


# --------------------------------------------------------------------------- tuning

_TRIAL_SCHEMA = {
    "stage": pl.String,
    "method": pl.String,
    "window": pl.Int64,
    "smooth": pl.Int64,
    "k": pl.Float64,
    "min_demand": pl.Float64,
    "merge_gap": pl.Int64,
    "min_buckets": pl.Int64,
    "precision": pl.Float64,
    "recall": pl.Float64,
    "f1": pl.Float64,
    "false_per_day": pl.Float64,
    "n_alerts": pl.Int64,
}


@dataclass(frozen=True, eq=False)
class TuneResult:
    """Every setting :func:`tune` tried, and the best one.

    Attributes
    ----------
    trials : polars.DataFrame
        One row per setting: ``stage`` (``"grid"`` or ``"refine"``),
        ``method``, ``window``, ``smooth``, ``k``, ``min_demand``,
        ``merge_gap``, ``min_buckets``, ``precision``, ``recall``, ``f1``,
        ``false_per_day`` (false alerts per item-day), ``n_alerts``,
        ``feasible`` (meets the constraints) and ``rank`` (1 = best).
    best : dict
        Detection parameters of the best trial, complete (see
        :func:`~stockseries.spikes.spike_params`): ``detect_spikes(series, **best)``.
    alert_params : dict
        Its episode rules: ``alerts(detected, params=best, **alert_params)``.
    objective : str
        How the best was chosen, in words.
    """

    trials: pl.DataFrame
    best: dict[str, Any]
    alert_params: dict[str, Any]
    objective: str

    @property
    def best_trial(self) -> dict[str, Any]:
        """The row of :attr:`trials` ranked first."""
        return self.trials.filter(pl.col("rank") == 1).row(0, named=True)

    def _setting(self) -> str:
        parts = [str(self.best["method"])]
        for key in ("window", "smooth", "k", "min_demand"):
            if self.best.get(key) is not None:
                parts.append(f"{key}={self.best[key]:g}")
        parts += [f"{key}={value}" for key, value in self.alert_params.items() if key != "cooldown"]
        return " ".join(parts)

    def _scores(self) -> str:
        row = self.best_trial
        return ", ".join(
            f"{key}=null" if row[key] is None else f"{key}={row[key]:.3f}"
            for key in ("f1", "precision", "recall", "false_per_day")
        )

    def __repr__(self) -> str:
        return f"TuneResult({self._setting()}: {self._scores()}; {self.trials.height} trials)"

    def _repr_html_(self) -> str:
        top = self.trials.sort("rank").head(10)
        return (
            f"<div><strong>Best: {html.escape(self._setting())}</strong> "
            f"({html.escape(self._scores())})<div>{html.escape(self.objective)}; "
            f"{self.trials.height} trials, top 10:</div>{top._repr_html_()}</div>"
        )


def _as_tuple(values: Iterable[Any] | Any, name: str) -> tuple[Any, ...]:
    if isinstance(values, str) or not isinstance(values, Iterable):
        values = (values,)
    out = tuple(dict.fromkeys(values))
    if not out:
        raise ValueError(f"{name} must not be empty")
    return out


@dataclass
class _TuneData:
    """Everything a trial needs that does not depend on the setting (times relative to t0, µs)."""

    codes: np.ndarray  # item number of each row (rows sorted by item, ts)
    t_rel: np.ndarray
    every_us: int
    item_days: float
    labels: _LabelIndex | None  # None: keys would overflow, score with Polars instead
    fallback: tuple[pl.DataFrame, pl.Series, int]  # truth, item names by code, t0


@dataclass
class _LabelIndex:
    """Labels as sorted integer keys ``code * scale + time`` for overlap tests by binary search.

    Times are clipped to ``[0, scale)``, which keeps every overlap test's
    answer; labels of items absent from the series can match nothing but
    still count in ``n_labels``.
    """

    n_labels: int
    scale: int
    start_key: np.ndarray  # sorted
    end_key: np.ndarray
    reach_key: np.ndarray  # running max of end_key: the furthest any label so far reaches


def _label_index(
    truth: pl.DataFrame, names: pl.Series, t0: int, horizon: int
) -> _LabelIndex | None:
    scale = horizon + 2
    if len(names) * scale >= 2**62:
        return None
    lookup = pl.DataFrame({"item_id": names, "_code": np.arange(len(names), dtype=np.int64)})
    known = (
        truth.join(lookup, on="item_id", how="inner")
        .select(
            "_code",
            ((pl.col("start").dt.epoch("us") - t0).clip(0, scale - 1)).alias("s"),
            ((pl.col("end").dt.epoch("us") - t0).clip(0, scale - 1)).alias("e"),
        )
        .sort("_code", "s")
    )
    codes = known.get_column("_code").to_numpy()
    start_key = codes * scale + known.get_column("s").to_numpy()
    end_key = codes * scale + known.get_column("e").to_numpy()
    reach = np.maximum.accumulate(end_key) if len(end_key) else end_key
    return _LabelIndex(truth.height, scale, start_key, end_key, reach)


def _episode_bounds(
    flagged: np.ndarray,
    data: _TuneData,
    merge_gap: int,
    min_buckets: int,
    cooldown: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Item code, start and end of each episode: :func:`_episodes` rules, on arrays."""
    idx = np.flatnonzero(flagged)
    codes, t = data.codes[idx], data.t_rel[idx]
    every = data.every_us
    if len(idx) == 0:
        return codes, t, t
    new = np.ones(len(idx), dtype=bool)
    new[1:] = (codes[1:] != codes[:-1]) | (np.diff(t) > (merge_gap + 1) * every)
    first = np.flatnonzero(new)
    last = np.append(first[1:], len(idx)) - 1
    code, start, end = codes[first], t[first], t[last] + every
    keep = (end - start) // every >= min_buckets
    code, start, end = code[keep], start[keep], end[keep]
    if cooldown > 0 and len(code) > 1:
        keep = _cooldown_keep(code, start, end, cooldown * every)
        code, start, end = code[keep], start[keep], end[keep]
    return code, start, end


def _index_scores(
    ix: _LabelIndex, code: np.ndarray, start: np.ndarray, end: np.ndarray, item_days: float
) -> dict[str, Any]:
    """Event-level precision, recall, F1 and false alerts per item-day, by binary search."""
    a_start = code * ix.scale + start
    a_end = code * ix.scale + end
    # An alert hits when some label of its item starts before the alert ends and
    # reaches past the alert start (earlier items' keys never reach that far).
    j = np.searchsorted(ix.start_key, a_end, side="left") - 1
    hits = (
        int(((j >= 0) & (ix.reach_key[np.maximum(j, 0)] > a_start)).sum())
        if len(ix.reach_key)
        else 0
    )
    # A label is detected when the last alert of its item starting before the
    # label ends, ends after the label starts (episodes of an item are disjoint).
    i = np.searchsorted(a_start, ix.end_key, side="left") - 1
    detected = int(((i >= 0) & (a_end[np.maximum(i, 0)] > ix.start_key)).sum()) if len(a_end) else 0
    n_alerts = len(code)
    precision = _ratio(hits, n_alerts)
    recall = _ratio(detected, ix.n_labels)
    return {
        "precision": precision,
        "recall": recall,
        "f1": _f1(precision, recall),
        "false_per_day": _ratio(n_alerts - hits, item_days),
        "n_alerts": n_alerts,
    }


def _trial_scores(
    data: _TuneData, code: np.ndarray, start: np.ndarray, end: np.ndarray
) -> dict[str, Any]:
    if data.labels is not None:
        return _index_scores(data.labels, code, start, end, data.item_days)
    truth, names, t0 = data.fallback
    found = pl.DataFrame(
        {
            "item_id": names.gather(code),
            "start": pl.Series(start + t0).cast(TS_DTYPE),
            "end": pl.Series(end + t0).cast(TS_DTYPE),
            "alert_id": pl.Series([None] * len(code), dtype=pl.String),
        }
    )
    scores = _event_scores(found, truth, data.item_days)
    return {
        "precision": scores["precision"],
        "recall": scores["recall"],
        "f1": scores["f1"],
        "false_per_day": scores["false_alerts_per_item_day"],
        "n_alerts": scores["n_alerts"],
    }


@dataclass
class _Prepared:
    """One method/window/smooth: signal and baseline, shared by every k and min_demand."""

    signal: np.ndarray
    base: Any
    sufficient: np.ndarray
    at_least: dict[float, np.ndarray] = field(default_factory=dict)

    def flagged(self, k: float | None, min_demand: float) -> np.ndarray:
        threshold = _thresholds(self.signal, self.base, k)
        flagged = np.greater(self.signal, threshold)
        flagged &= self.sufficient
        if min_demand > 0:
            if min_demand not in self.at_least:
                self.at_least[min_demand] = self.signal >= min_demand
            flagged &= self.at_least[min_demand]
        return flagged


def _rank(
    trials: pl.DataFrame,
    objective: str,
    target_recall: float | None,
    max_false_per_day: float | None,
    *,
    warn: bool,
) -> tuple[pl.DataFrame, str]:
    feasible = pl.lit(True)
    if target_recall is not None:
        feasible &= pl.col("recall").fill_null(0) >= target_recall
    if max_false_per_day is not None:
        feasible &= pl.col("false_per_day").fill_null(0) <= max_false_per_day
    trials = trials.with_columns(feasible=feasible)
    score = pl.col(objective).fill_null(0)
    if target_recall is not None:
        keys = [pl.col("false_per_day").fill_null(0), -score]
        how = f"fewest false alerts per item-day with recall >= {target_recall:g}"
        if max_false_per_day is not None:
            how += f" and <= {max_false_per_day:g} false alerts per item-day"
    elif max_false_per_day is not None:
        keys = [-pl.col("recall").fill_null(0), -score]
        how = f"highest recall with <= {max_false_per_day:g} false alerts per item-day"
    else:
        keys = [-score]
        how = f"highest {objective}"
    if not trials.get_column("feasible").any():
        if warn:
            warnings.warn(
                f"no setting meets the constraints ({how}); choosing the highest {objective}",
                UserWarning,
                stacklevel=3,
            )
        keys = [-score]
        how = f"highest {objective} (no setting met: {how})"
    # Ties go to the more conservative setting: fewer alerts on unseen data.
    order = [
        ~pl.col("feasible"),
        *keys,
        -pl.col("k").fill_null(0),
        -pl.col("min_demand"),
        -pl.col("min_buckets"),
        pl.col("_trial"),
    ]
    ranked = trials.with_columns(rank=pl.arg_sort_by(order).arg_sort().cast(pl.Int64) + 1)
    return ranked, how


def _refinement(best: Mapping[str, Any], ks: Sequence[float]) -> list[tuple[float | None, float]]:
    """Nine k values spanning the best k's grid neighbours, crossed with min_demand − 1, +0, +1."""
    k = best["k"]
    if k is None:
        fine_ks: list[float | None] = [None]
    else:
        grid = sorted(set(ks))
        i = grid.index(k)
        step = min((b - a for a, b in itertools.pairwise(grid)), default=1.0)
        low = grid[i - 1] if i > 0 else max(k - step, 0.0)
        high = grid[i + 1] if i + 1 < len(grid) else k + step
        fine_ks = [round(float(v), 6) for v in np.linspace(low, high, 9)]
    md = best["min_demand"]
    return [(kk, m) for kk in fine_ks for m in sorted({max(md - 1, 0.0), md, md + 1})]


def tune(
    series: Any,
    labels: Any,
    *,
    methods: Sequence[str] | str = ("zscore",),
    windows: Sequence[int] | int = (30, 60, 120),
    ks: Sequence[float] | float = (2.0, 3.0, 4.0, 5.0, 6.0, 7.0),
    min_demands: Sequence[float] | float = (0, 1, 2, 4),
    smooths: Sequence[int] | int = (1, 5, 10),
    objective: str = "f1",
    target_recall: float | None = None,
    max_false_per_day: float | None = None,
    refine: bool = True,
    progress: bool = True,
    merge_gap: Sequence[int] | int = 0,
    min_buckets: Sequence[int] | int = 1,
    cooldown: int = 0,
    min_periods: int | None = None,
    column: str = "demand",
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> TuneResult:
    """Search detection parameters that best recover labelled spikes.

    Every combination of ``methods`` × ``windows`` × ``smooths`` × ``ks`` ×
    ``min_demands`` (× ``merge_gap`` × ``min_buckets`` when given as
    sequences) is turned into alert episodes and scored with the event-level
    metrics of :func:`evaluate`. With ``refine``, nine ``k`` values spanning
    the best k's grid neighbours are then crossed with the best
    ``min_demand`` − 1, +0, +1 for the best of everything else. Signals and
    baselines are computed once per method, window and smooth; each ``k`` and
    ``min_demand`` is a cheap comparison on top, and episodes and scores only
    touch the flagged buckets, so hundreds of settings over millions of
    buckets take seconds.

    Choosing the best:

    - default: the highest ``objective`` (``"f1"``, ``"precision"`` or ``"recall"``);
    - ``target_recall``: among settings with recall ≥ target, the fewest
      false alerts per item-day (also within ``max_false_per_day`` if given);
    - ``max_false_per_day`` alone: within that budget, the highest recall.

    Ties go to larger ``k``, ``min_demand`` and ``min_buckets`` (fewer alerts
    on unseen data). If no setting meets the constraints a warning is issued
    and the highest ``objective`` wins.

    Parameters
    ----------
    series : frame
        A series frame (``item_id``, ``ts``, ``column``), dense per item.
    labels : frame
        Spike windows (``item_id``, ``start``, ``end``), e.g. ``Simulation.labels``.
    methods, windows, ks, min_demands, smooths
        The grid (see :func:`~stockseries.spikes.detect_spikes`). ``quantile``
        ignores ``k`` (one trial per window); ``threshold`` cannot be tuned.
        The default ``smooths`` include 5 and 10 buckets because per-minute
        demand rarely separates spikes from noise without averaging.
    objective, target_recall, max_false_per_day
        How to choose, see above.
    refine : bool
        Search finer around the best grid setting.
    progress : bool
        Show a tqdm progress bar.
    merge_gap, min_buckets : int or sequence of int
        Episode rules, as for :func:`alerts`; a sequence is searched.
    cooldown : int
        Episode rule, fixed.
    min_periods : int, optional
        As for ``detect_spikes`` (default: the window).
    column : str
        The watched column.
    method_options : mapping, optional
        Extra options per method, e.g. ``{"quantile": {"q": 0.995}}``.

    Returns
    -------
    TuneResult

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> from datetime import datetime, timedelta, timezone
    >>> rng = np.random.default_rng(0)
    >>> demand = rng.poisson(2.0, 600)
    >>> demand[300:310] += 12
    >>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> series = pl.DataFrame({"item_id": "a", "demand": demand,
    ...                        "ts": [t0 + timedelta(minutes=i) for i in range(600)]})
    >>> truth = pl.DataFrame({"item_id": ["a"], "start": [t0 + timedelta(minutes=300)],
    ...                       "end": [t0 + timedelta(minutes=310)]})
    >>> result = tune(series, truth, ks=(3.0, 5.0), min_demands=(0, 8), smooths=1, progress=False)
    >>> result
    TuneResult(zscore window=60 smooth=1 k=7 min_demand=9 merge_gap=0 min_buckets=1: f1=1.000, precision=1.000, recall=1.000, false_per_day=0.000; 37 trials)
    >>> from stockseries.spikes import detect_spikes
    >>> detected = detect_spikes(series, **result.best)
    >>> alerts(detected, params=result.best, **result.alert_params)
    Alerts(1 episode, 1 item, 2024-01-01 05:00 → 2024-01-01 05:01)
    """
    from tqdm.auto import tqdm

    methods = _as_tuple(methods, "methods")
    windows = _as_tuple(windows, "windows")
    for md in _as_tuple(min_demands, "min_demands"):
        spike_params(min_demand=md)  # every value checked before any work
    for k in _as_tuple(ks, "ks"):
        spike_params(k=k)
    ks = tuple(dict.fromkeys(float(k) for k in _as_tuple(ks, "ks")))
    min_demands = tuple(dict.fromkeys(float(m) for m in _as_tuple(min_demands, "min_demands")))
    smooths = _as_tuple(smooths, "smooths")
    merge_gaps = _as_tuple(merge_gap, "merge_gap")
    min_buckets_grid = _as_tuple(min_buckets, "min_buckets")
    for method in methods:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
        if method == "threshold":
            raise ValueError("method='threshold' cannot be tuned: it has no baseline to scale")
    if objective not in ("f1", "precision", "recall"):
        raise ValueError(f"objective must be 'f1', 'precision' or 'recall', got {objective!r}")
    rules = [(g, b) for g in merge_gaps for b in min_buckets_grid]
    for g, b in rules:
        alert_params(every="1m", merge_gap=g, min_buckets=b, cooldown=cooldown)  # validates
    options = dict(method_options or {})
    settings: dict[tuple[str, int, int], dict[str, Any]] = {}
    for method in methods:
        for window in windows:
            for smooth in smooths:
                params = spike_params(
                    method,
                    column=column,
                    window=window,
                    k=ks[0],
                    min_periods=min_periods,
                    smooth=smooth,
                    **options.get(method, {}),
                )
                settings[(method, params["window"], params["smooth"])] = params

    frame, layout = _prepare(_frames.to_polars(series)[0], column)
    x = frame.get_column(column).to_numpy()
    ts_us = frame.get_column("ts").dt.epoch("us").to_numpy()
    every_us = _bucket_every(ts_us, layout, dense=False)
    truth, _ = _intervals(labels, "labels")
    t0 = int(ts_us.min())
    names = frame.get_column("item_id").cast(pl.String).gather(layout.starts)
    data = _TuneData(
        codes=np.repeat(np.arange(len(layout.starts), dtype=np.int64), layout.lengths),
        t_rel=ts_us - t0,
        every_us=every_us,
        item_days=_series_item_days(frame, layout, ts_us, every_us),
        labels=_label_index(truth, names, t0, int(ts_us.max()) - t0 + every_us),
        fallback=(truth, names, t0),
    )
    cache: dict[tuple[str, int, int], _Prepared] = {}
    records: list[dict[str, Any]] = []

    def run(
        key: tuple[str, int, int],
        combos: Sequence[tuple[float | None, float]],
        stage: str,
        bar: Any,
    ) -> None:
        if key not in cache:
            params = settings[key]
            signal, base = _signal_baseline(frame, layout, x, params)
            cache[key] = _Prepared(signal, base, base.history >= params["min_periods"])
        prep = cache[key]
        for k, md in combos:
            flagged = prep.flagged(k, md)
            for gap, least in rules:
                bounds = _episode_bounds(flagged, data, gap, least, cooldown)
                records.append(
                    {
                        "stage": stage,
                        "method": key[0],
                        "window": key[1],
                        "smooth": key[2],
                        "k": k,
                        "min_demand": md,
                        "merge_gap": gap,
                        "min_buckets": least,
                        **_trial_scores(data, *bounds),
                    }
                )
            bar.update(len(rules))

    def trials_frame() -> pl.DataFrame:
        return pl.DataFrame(records, schema=_TRIAL_SCHEMA).with_row_index("_trial")

    plan = [
        (key, [(k, md) for k in (ks if params["k"] is not None else (None,)) for md in min_demands])
        for key, params in settings.items()
    ]
    with tqdm(
        total=sum(len(c) for _, c in plan) * len(rules),
        desc="tune",
        disable=not progress,
        leave=False,
    ) as bar:
        for key, combos in plan:
            run(key, combos, "grid", bar)
        if refine:
            ranked, _ = _rank(
                trials_frame(), objective, target_recall, max_false_per_day, warn=False
            )
            top = ranked.filter(pl.col("rank") == 1).row(0, named=True)
            key = (top["method"], top["window"], top["smooth"])
            tried = {
                (r["k"], r["min_demand"])
                for r in records
                if (r["method"], r["window"], r["smooth"]) == key
            }
            extra = [combo for combo in _refinement(top, ks) if combo not in tried]
            bar.total += len(extra) * len(rules)
            run(key, extra, "refine", bar)
    trials, how = _rank(trials_frame(), objective, target_recall, max_false_per_day, warn=True)
    top = trials.filter(pl.col("rank") == 1).row(0, named=True)
    md = top["min_demand"]
    best = spike_params(
        **{
            **settings[(top["method"], top["window"], top["smooth"])],
            "k": top["k"] if top["k"] is not None else 3.0,
            "min_demand": int(md) if float(md).is_integer() else md,
        }
    )
    return TuneResult(
        trials=trials.drop("_trial"),
        best=best,
        alert_params={
            "merge_gap": top["merge_gap"],
            "min_buckets": top["min_buckets"],
            "cooldown": cooldown,
        },
        objective=how,
    )
