"""Events to alerts in bounded memory: :func:`detect_alerts`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

from stockseries._schema import ITEM, TS, TS_DTYPE
from stockseries._time import duration_us
from stockseries.alerts._episodes import supplier_lookup
from stockseries.alerts._ids import alert_params
from stockseries.alerts.result import Alerts, alerts
from stockseries.events import as_event_frame
from stockseries.series import SERIES_SCHEMA, dense_column
from stockseries.spikes._baselines import fixed_level, integer_moments_exact
from stockseries.spikes._decide import flagged_rows
from stockseries.spikes._layout import layout_of
from stockseries.spikes.methods import method_spec, spike_params
from stockseries.stock import Initial

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
        supplier_lookup(suppliers)
    frame, _ = as_event_frame(events)
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
    dense = dense_column(frame, every_us, column, initial)
    if isinstance(params.get("level"), dict):
        # Refuse missing per-item levels for the whole input at once, as detect_spikes would,
        # rather than for whichever run of items first lacks one.
        names = dense.labels.to_frame()
        fixed_level(names, layout_of(np.arange(names.height)), params["level"])
    if _float_path_possible(dense.values, params):
        batch_rows = len(dense.values)  # rounding could differ between runs: one run
    parts = [
        flagged_rows(dense.frame(items, column), dense.lengths[items], params)
        for items in dense.item_batches(batch_rows)
    ]
    if parts:
        return pl.concat(parts)
    schema: dict[str, Any] = {ITEM: pl.String, TS: TS_DTYPE, column: pl.Int64}
    schema |= {"threshold": pl.Float64, "score": pl.Float64, "flagged": pl.Boolean}
    if params["smooth"] > 1 or method_spec(params["method"]).signal_column:
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
    return not integer_moments_exact(params["window"], largest)
