"""stockseries: inventory event streams as validated events, stock levels, per-item time
series and demand-spike alerts — Polars inside, pandas in → pandas out.

The curated public API is listed in ``__all__``. Notebook helpers need the ``notebook`` extra
and live in the submodules :mod:`stockseries.charts` and :mod:`stockseries.widgets`
(imported on first use, so the core imports without Altair or ipywidgets).
"""

from __future__ import annotations

import importlib
from typing import Any

from stockseries.alerts import (
    Alerts,
    TuneResult,
    alerts,
    detect_alerts,
    evaluate,
    match_alerts,
    tune,
)
from stockseries.events import (
    EventValidationError,
    ValidatedEvents,
    read_events,
    scan_events,
    validate_events,
)
from stockseries.generate import (
    Simulation,
    catalog,
    inject_spikes,
    iter_frames,
    merge_streams,
    poisson_demand,
    random_deliveries,
    simulate,
    timed_orders,
)
from stockseries.live import CheckpointError, StepResult, StreamProcessor
from stockseries.planning import (
    RiskMonitor,
    demand_forecast,
    read_catalog,
    reorder_points,
    risk_alerts,
    stockout_risk,
)
from stockseries.series import days_of_cover, resample, stockouts
from stockseries.sinks import CallbackSink, FileSink, Notifier, NotifyResult, WebhookSink, notify
from stockseries.spikes import TransformChoice, choose_transform, detect_spikes
from stockseries.stock import stock_levels

__version__ = "0.1.0"

__all__ = [
    "Alerts",
    "CallbackSink",
    "CheckpointError",
    "EventValidationError",
    "FileSink",
    "Notifier",
    "NotifyResult",
    "RiskMonitor",
    "Simulation",
    "StepResult",
    "StreamProcessor",
    "TransformChoice",
    "TuneResult",
    "ValidatedEvents",
    "WebhookSink",
    "__version__",
    "alerts",
    "catalog",
    "choose_transform",
    "days_of_cover",
    "demand_forecast",
    "detect_alerts",
    "detect_spikes",
    "evaluate",
    "inject_spikes",
    "iter_frames",
    "match_alerts",
    "merge_streams",
    "notify",
    "poisson_demand",
    "random_deliveries",
    "read_catalog",
    "read_events",
    "reorder_points",
    "resample",
    "risk_alerts",
    "scan_events",
    "simulate",
    "stock_levels",
    "stockout_risk",
    "stockouts",
    "timed_orders",
    "tune",
    "validate_events",
]

_LAZY_SUBMODULES = ("charts", "widgets", "dashboard", "report", "outofcore", "demo")


def __getattr__(name: str) -> Any:
    # Altair and ipywidgets are optional: import the notebook modules on first access only.
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"stockseries.{name}")
    raise AttributeError(f"module 'stockseries' has no attribute {name!r}")
