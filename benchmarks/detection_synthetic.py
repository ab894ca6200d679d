"""The detection benchmark's second evaluation: data no setting or default was tuned on.

``benchmarks/detection.py`` tunes on three real tickers and scores two; this module adds two
checks that did not take part in choosing any grid, default or model:

* **another bucket size** -- each method's *defaults* on the same real series resampled to
  1 hour (the 5-minute figures are in the main table): defaults must stay sensible when the
  bucket changes 12-fold;
* **the realistic simulator** -- ``simulate(..., realism=Realism(...))``: weekly cycle,
  negative-binomial counts, trends, labelled spikes *and* drops. Each method is tuned with
  :func:`stockseries.tune` (``direction="both"``, highest F1) on one seed and scored on
  another with :func:`stockseries.evaluate`; its defaults (``direction="both"``) are scored on
  the same test seed.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

import stockseries as ss
from stockseries.generate import Realism, simulate
from stockseries.spikes.methods import method_spec

#: The simulated world: as tests/test_realistic_detection.py (12 items, 35 days, two weeks of
#: history before the first event), seeds 21 (tuning) and 22 (scoring) -- seeds no test uses.
SIMULATION: dict[str, Any] = {
    "days": 35.0,
    "base_rate": 2.0,
    "duration": ("30m", "90m"),
    "realism": Realism(slow_share=0.0, warmup="14d"),
}
SEEDS = (21, 22)
ITEMS = 12
SIM_EVERY = "15m"
#: Rolling windows at 15 minutes: one day and three days; for a method whose window counts
#: periods (``seasonal``): 3 and 7 of them.
SIM_WINDOWS = (96, 288)
SIM_PERIOD_WINDOWS = (3, 7)
SIM_KS = (3.0, 4.0, 5.0, 6.0)
#: A second bucket size for the defaults on the real series.
OTHER_EVERY = "1h"


@dataclass(frozen=True)
class SyntheticRow:
    """One method on the simulator: tuned on one seed, scored on another; and its defaults."""

    method: str
    tuned: dict[str, float]
    setting: str
    defaults: dict[str, float] | None
    seconds: float
    #: Tuned the same way with ``validation="items"`` (cross-validated over the 12 items).
    validated: dict[str, float] | None = None
    #: Tuned the same way with ``transforms="auto"`` (chosen from the data), and its choice.
    auto: dict[str, float] | None = None
    auto_transform: str | None = None


def _scores(found: Any, labels: pl.DataFrame) -> dict[str, float]:
    # Metrics that do not apply (e.g. time to detect with nothing detected) are null.
    return {
        str(k): math.nan if v is None else float(v)
        for k, v in ss.evaluate(found, labels).iter_rows()
    }


def synthetic_rows(methods: Sequence[str], progress: Callable[[str], None]) -> list[SyntheticRow]:
    """Tune each method on seed ``SEEDS[0]``, score it and its defaults on ``SEEDS[1]``."""
    train, test = (simulate(ITEMS, seed=seed, **SIMULATION) for seed in SEEDS)
    train_series = ss.resample(train.events, every=SIM_EVERY)
    test_series = ss.resample(test.events, every=SIM_EVERY)
    rows = []
    for method in methods:
        progress(method)
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = _tuned(train_series, train.labels, method, None)
            best = result.best
            tuned = _scored(test_series, test.labels, result)
            validated = _scored(
                test_series, test.labels, _tuned(train_series, train.labels, method, "items")
            )
            by_data = _tuned(train_series, train.labels, method, None, "auto")
            auto = _scored(test_series, test.labels, by_data)
            defaults = _default_scores(test_series, test.labels, method)
        setting = _describe(best, result.alert_params)
        seconds = time.perf_counter() - started
        rows.append(
            SyntheticRow(
                method,
                tuned,
                setting,
                defaults,
                seconds,
                validated,
                auto,
                by_data.transform_choice.transform,
            )
        )
    return rows


def _tuned(
    series: pl.DataFrame,
    labels: pl.DataFrame,
    method: str,
    validation: str | None,
    transforms: Any = (None, "sqrt", "log1p"),
) -> Any:
    return ss.tune(
        series,
        labels,
        methods=(method,),
        windows=SIM_PERIOD_WINDOWS if method_spec(method).window_unit == "periods" else SIM_WINDOWS,
        ks=SIM_KS,
        smooths=(1, 4),
        min_demands=(0, 4),
        directions=("both",),
        transforms=transforms,
        merge_gap=(0, 4),
        refine=False,
        progress=False,
        validation=validation,
    )


def _scored(series: pl.DataFrame, labels: pl.DataFrame, result: Any) -> dict[str, float]:
    detected = ss.detect_spikes(series, **result.best)
    return _scores(ss.alerts(detected, params=result.best, **result.alert_params), labels)


def _default_scores(
    series: pl.DataFrame, labels: pl.DataFrame, method: str
) -> dict[str, float] | None:
    try:
        detected = ss.detect_spikes(series, method=method, direction="both")
    except (TypeError, ValueError):
        return None
    return _scores(ss.alerts(detected, params={"method": method, "direction": "both"}), labels)


def _describe(best: dict[str, Any], rules: dict[str, Any]) -> str:
    keys = ("window", "k", "smooth", "min_demand", "transform", "period", "seasons", "q")
    parts = [f"{key}={best[key]:g}" if isinstance(best[key], float) else f"{key}={best[key]}"
             for key in keys if best.get(key) is not None]  # fmt: skip
    if rules.get("merge_gap"):
        parts.append(f"merge_gap={rules['merge_gap']}")
    return " ".join(parts)


def synthetic_lines(rows: Sequence[SyntheticRow]) -> list[str]:
    """The simulator section of DETECTION.md."""
    realism = SIMULATION["realism"]
    lines = [
        "## Generalisation: the realistic simulator",
        "",
        f"`simulate({ITEMS}, days={SIMULATION['days']:g}, base_rate={SIMULATION['base_rate']:g}, "
        f"duration={SIMULATION['duration']}, realism={realism!r})` at {SIM_EVERY} buckets: "
        "weekly cycle, negative-binomial counts, trends, labelled spikes and drops. Tuned with "
        f"`stockseries.tune(direction='both', objective='f1')` on seed {SEEDS[0]}, scored with "
        f"`evaluate` on seed {SEEDS[1]}; *defaults*: the method's defaults with "
        "`direction='both'` on the same seed. Event-level precision / recall / F1 and false "
        "alerts per item-day. *validation='items'*: tuned the same way but cross-validated "
        "over the 12 items (5 groups; k refit on the others), F1 and false alerts per item-day "
        "on seed 22. *transforms='auto'*: tuned the same way but with the transform chosen "
        "from seed 21's series by `choose_transform` instead of searched by the labels: F1, "
        "false alerts per item-day on seed 22, and the transform. "
        "No default, grid or model was chosen on these seeds.",
        "",
        "| method | tuned: precision / recall / F1 | tuned: false per item-day | chosen on seed "
        f"{SEEDS[0]} | validation='items': F1, false per item-day | "
        "transforms='auto': F1, false per item-day, transform | "
        "defaults: precision / recall / F1 | defaults: false per item-day | time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        d = row.defaults
        default = (
            "n/a" if d is None else f"{d['precision']:.2f} / {d['recall']:.2f} / {d['f1']:.2f}"
        )
        default_fa = "" if d is None else f"{d['false_alerts_per_item_day']:.2f}"
        t, v = row.tuned, row.validated
        held = "" if v is None else f"{v['f1']:.2f}, {v['false_alerts_per_item_day']:.2f}"
        a = row.auto
        auto = (
            ""
            if a is None
            else f"{a['f1']:.2f}, {a['false_alerts_per_item_day']:.2f}, {row.auto_transform}"
        )
        lines.append(
            f"| `{row.method}` | {t['precision']:.2f} / {t['recall']:.2f} / {t['f1']:.2f} | "
            f"{t['false_alerts_per_item_day']:.2f} | {row.setting} | {held} | {auto} | {default} | "
            f"{default_fa} | {row.seconds:.0f} s |"
        )
    return lines
