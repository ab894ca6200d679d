"""Scoring alert episodes against labelled windows: :func:`evaluate`, :func:`match_alerts`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

from stockseries import _frames
from stockseries._time import as_utc_us
from stockseries.alerts.result import Alerts
from stockseries.spikes._layout import Layout, bucket_every, prepare

_US = timedelta(microseconds=1)
_US_PER_DAY = 86_400_000_000


def intervals(obj: Any, what: str) -> tuple[pl.DataFrame, bool]:
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
            as_utc_us(pl.col("start"), frame.schema["start"]).alias("start"),
            as_utc_us(pl.col("end"), frame.schema["end"]).alias("end"),
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
    found, _ = intervals(alerts, "alerts")
    truth, was_pandas = intervals(labels, "labels")
    return _frames.like_input(_match(found, truth), was_pandas)


def ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def f1_score(precision: float | None, recall: float | None) -> float | None:
    if precision == 0 or recall == 0:
        return 0.0
    if precision is None or recall is None:
        return None
    return 2 * precision * recall / (precision + recall)


def event_scores(
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
    precision = ratio(hits, n_alerts)
    recall = ratio(detected, n_labels)
    false_alerts = n_alerts - hits
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1_score(precision, recall),
        "n_alerts": n_alerts,
        "n_labels": n_labels,
        "true_alerts": hits,
        "false_alerts": false_alerts,
        "detected_labels": detected,
        "missed_labels": n_labels - detected,
        "mean_time_to_detect_s": delays.mean() if len(delays) else None,
        "median_time_to_detect_s": delays.median() if len(delays) else None,
        "item_days": item_days,
        "false_alerts_per_item_day": ratio(false_alerts, item_days or 0.0),
    }


def series_item_days(
    frame: pl.DataFrame, layout: Layout, ts_us: np.ndarray, every_us: int
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
            as_utc_us(pl.col("ts"), detected.schema["ts"]).alias("_ts"),
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
    precision = ratio(tp, tp + fp)
    recall = ratio(tp, tp + fn)
    return {
        "point_precision": precision,
        "point_recall": recall,
        "point_f1": f1_score(precision, recall),
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
    found, _ = intervals(alerts, "alerts")
    truth, was_pandas = intervals(labels, "labels")
    metrics: dict[str, Any]
    if series is not None:
        detected, layout = prepare(_frames.to_polars(series)[0], None)
        ts_us = detected.get_column("ts").dt.epoch("us").to_numpy()
        every_us = (
            alerts.every // _US
            if isinstance(alerts, Alerts)
            else bucket_every(ts_us, layout, dense=False)
        )
        metrics = event_scores(found, truth, series_item_days(detected, layout, ts_us, every_us))
        metrics.update(_point_scores(detected, truth))
    else:
        metrics = event_scores(found, truth, _span_item_days(found, truth))
    tidy = pl.DataFrame(
        {
            "metric": list(metrics),
            "value": [None if v is None else float(v) for v in metrics.values()],
        },
        schema={"metric": pl.String, "value": pl.Float64},
    )
    return _frames.like_input(tidy, was_pandas)
