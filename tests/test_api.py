"""The curated public API: ``__all__`` is the contract other code relies on."""

from __future__ import annotations

import subprocess
import sys

import stockseries

EXPECTED = {
    # events
    "read_events",
    "validate_events",
    "scan_events",
    "EventValidationError",
    "ValidatedEvents",
    # generators
    "simulate",
    "Simulation",
    "catalog",
    "timed_orders",
    "random_deliveries",
    "poisson_demand",
    "inject_spikes",
    "merge_streams",
    "iter_frames",
    # engine
    "stock_levels",
    "resample",
    "stockouts",
    "days_of_cover",
    "detect_alerts",
    # spikes and alerts
    "detect_spikes",
    "alerts",
    "Alerts",
    "evaluate",
    "match_alerts",
    "tune",
    "TuneResult",
    "choose_transform",
    "TransformChoice",
    # notification
    "notify",
    "Notifier",
    "NotifyResult",
    "CallbackSink",
    "FileSink",
    "WebhookSink",
    # live
    "StreamProcessor",
    "StepResult",
    "CheckpointError",
    # planning (when will it run out, how much to order)
    "demand_forecast",
    "reorder_points",
    "stockout_risk",
    "risk_alerts",
    "RiskMonitor",
    "read_catalog",
    "__version__",
}


def test_all_is_exactly_the_curated_api() -> None:
    assert set(stockseries.__all__) == EXPECTED
    assert len(stockseries.__all__) == len(set(stockseries.__all__))


def test_every_public_name_resolves_and_is_documented() -> None:
    for name in stockseries.__all__:
        obj = getattr(stockseries, name)
        if name != "__version__":
            assert obj.__doc__, f"{name} has no docstring"


def test_notebook_modules_are_lazy() -> None:
    code = "import sys, stockseries; print('altair' in sys.modules, 'ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    assert stockseries.charts.__name__ == "stockseries.charts"
