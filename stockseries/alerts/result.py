"""Alert episodes from a detection frame: :class:`Alerts` and :func:`alerts`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from stockseries import _frames
from stockseries._html import result_html
from stockseries._io import AtomicFile
from stockseries.alerts._episodes import cut_episodes, finish
from stockseries.alerts._ids import alert_params, canonical
from stockseries.spikes._layout import Layout, bucket_every, prepare
from stockseries.spikes.methods import parse_every, spike_params


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
        if len(self) == 0:
            return result_html(repr(self))
        detection = self.params.get("detection") or {}
        setting = ", ".join(
            f"{key}={value}"
            for key, value in detection.items()
            if key in ("method", "window", "smooth", "k", "min_demand") and value is not None
        )
        return result_html(repr(self), note=setting, frames=[("Top items", self.top_items())])

    def settings_json(self) -> str:
        """:attr:`params` (the settings that produced these alerts) as canonical JSON."""
        return json.dumps(canonical(dict(self.params)), sort_keys=True)

    def write(self, path: str | Path) -> Path:
        """Write the episodes to ``.csv`` or ``.parquet`` (chosen by extension).

        With no episodes the file still holds the header (CSV) or schema (Parquet). The
        settings that produced the alerts (:meth:`settings_json`) go with them: into the
        Parquet file's key-value metadata under ``stockseries.params``, and for CSV into
        ``<name>_params.json`` beside it (the CSV itself stays plain).
        """
        target = Path(path)
        suffix = target.suffix.lower()
        if suffix not in (".csv", ".parquet", ".pq"):
            raise ValueError(
                f"cannot tell the format of {str(path)!r}: use a .csv or .parquet path"
            )
        with AtomicFile(target) as out:
            if suffix == ".csv":
                # Both files are written before either is renamed into place: a full disk
                # leaves neither (not an alerts file without its settings).
                with AtomicFile(target.with_name(target.stem + "_params.json")) as side:
                    side.temporary.write_text(self.settings_json() + "\n")
                    self.frame.write_csv(out.temporary)
            else:
                metadata = {PARAMS_METADATA: self.settings_json()}
                self.frame.write_parquet(out.temporary, metadata=metadata)
        return target


#: Parquet key-value metadata key holding the settings that produced an alerts file.
PARAMS_METADATA = "stockseries.params"


def _detected(detected: Any, column: str) -> tuple[pl.DataFrame, Layout]:
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
    return prepare(frame, column)


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
        every_us = bucket_every(ts_us.to_numpy(), layout, dense=False)
    else:
        every_us = parse_every(every) // timedelta(microseconds=1)
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
    if "lower" in frame.columns:
        # Drops were watched: a flagged bucket below its lower bar is a drop, judged by it.
        lower = frame.filter(pl.col("flagged")).get_column("lower")
        down = (rows.get_column("compared") < lower).fill_null(False).alias("_down")
        rows = rows.with_columns(
            down, threshold=pl.when(down).then(lower).otherwise(pl.col("threshold"))
        )
    episodes = cut_episodes(
        rows,
        every_us=every_us,
        merge_gap=merge_gap,
        min_buckets=min_buckets,
        cooldown=cooldown,
    )
    result = finish(episodes, recorded, suppliers, ts_dtype, frame.schema[column])
    return Alerts(result, recorded, timedelta(microseconds=every_us))
