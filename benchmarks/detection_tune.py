"""The detection benchmark through the product's own tuner: ``stockseries.tune``.

``benchmarks/detection.py`` picks, per split, the setting of its grid that hits every
training window with the fewest false-alarm episodes. Here the same splits are tuned the way
an analyst would: ``tune(series of the 3 training tickers, their windows,
target_recall=1.0, validation="items", merge_gap=(0, 12))`` -- cross-validated over the three
tickers: each configuration's k is refit on two and must hit the third's windows -- and ``result.best`` with
``result.alert_params`` is scored on the 2 held-out tickers, counted as in DETECTION.md.
"""

from __future__ import annotations

import itertools
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

import stockseries as ss

if TYPE_CHECKING:
    from benchmarks.detection import RealData

#: The grid given to ``tune`` per method (windows only where the method has one).
TUNE_WINDOWS = (288, 864)
TUNE_KS = (3.0, 4.0, 5.0, 6.0, 8.0)
TUNE_METHODS = ("zscore", "ewma", "profile")
#: How the transform is chosen: searched with the grid by the labels, or from the data.
TUNE_TRANSFORMS: dict[str, Any] = {"searched": (None, "sqrt", "log1p"), "auto": "auto"}


@dataclass(frozen=True)
class TuneRow:
    """One method tuned with ``stockseries.tune`` on every split."""

    method: str
    transforms: str
    hit: int
    windows: int
    false: int
    splits_all_hit: int
    n_splits: int
    seconds: float


def tune_rows(
    data: RealData,
    count: Callable[[pl.DataFrame], dict[str, tuple[int, int, int]]],
    methods: Sequence[str],
    progress: Callable[[str], None],
    n_train: int = 3,
) -> list[TuneRow]:
    """Tune each method on every choice of ``n_train`` tickers and score the rest."""
    rows = []
    for method, transforms in itertools.product(methods, TUNE_TRANSFORMS):
        progress(f"tune {method}")
        started = time.perf_counter()
        hit = windows = false = all_hit = n = 0
        for train in itertools.combinations(data.items, n_train):
            test = [item for item in data.items if item not in train]
            best, rules = _tuned(data, method, train, TUNE_TRANSFORMS[transforms])
            series = data.series.filter(pl.col("item_id").is_in(test))
            detected = ss.detect_spikes(series, **best)
            episodes = ss.alerts(detected, params=best, **rules).frame
            counts = count(episodes.select("item_id", "start", "end"))
            h = sum(counts[item][0] for item in test)
            w = sum(counts[item][1] for item in test)
            hit, windows, false = hit + h, windows + w, false + sum(counts[i][2] for i in test)
            all_hit, n = all_hit + (h == w), n + 1
        seconds = time.perf_counter() - started
        rows.append(TuneRow(method, transforms, hit, windows, false, all_hit, n, seconds))
    return rows


def _tuned(data: RealData, method: str, train: Sequence[str], transforms: Any) -> tuple[Any, Any]:
    series = data.series.filter(pl.col("item_id").is_in(list(train)))
    labels = data.labels.filter(pl.col("item_id").is_in(list(train)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = ss.tune(
            series,
            labels,
            methods=(method,),
            windows=TUNE_WINDOWS,
            ks=TUNE_KS,
            smooths=(12,),
            min_demands=(0, 2),
            transforms=transforms,
            merge_gap=(0, 12),
            target_recall=1.0,
            validation="items",
            refine=False,
            progress=False,
        )
    return result.best, result.alert_params


def tune_lines(rows: Sequence[TuneRow], n_windows: int) -> list[str]:
    """The ``stockseries.tune`` section of DETECTION.md."""
    lines = [
        "## The same splits tuned with `stockseries.tune`",
        "",
        "What an analyst would run on the three training tickers: `tune(..., "
        f"windows={TUNE_WINDOWS}, ks={TUNE_KS}, smooths=12, min_demands=(0, 2), "
        "transforms=..., merge_gap=(0, 12), target_recall=1.0, "
        "validation='items')` with `transforms=(None, 'sqrt', 'log1p')` (searched by the "
        "labels) or `transforms='auto'` (chosen from the data by `choose_transform`) "
        "(cross-validated: per configuration, k chosen on two tickers must "
        "hit every window of the third, for each of the three; the fewest FA on all three "
        "among those), "
        "then `result.best` and `result.alert_params` on the two held-out tickers.",
        "",
        "| method | transforms | five-ticker equivalent | splits all hit | time |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| `{r.method}` | {r.transforms} | {r.hit / 4:g}/{n_windows}, {r.false / 4:g} FA | "
            f"{r.splits_all_hit}/{r.n_splits} | {r.seconds:.0f} s |"
        )
    return lines
