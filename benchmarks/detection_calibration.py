"""Why a tuned threshold misses a real window, and whether per-item calibration helps.

Two checks behind the real-data target of ``benchmarks/DETECTION.md``:

* **window strengths** -- for a reference detector (``ewma``, window 864, smooth 12, the
  setting the tuned rows choose) under each transform: the highest score inside each
  labelled window (a window is hit at ``k`` exactly when its peak exceeds ``k``), and that
  peak over the item's own 0.99-quantile of scores (what a bar set at a tail probability of
  the item's own score distribution compares). Ranked from the weakest window.
* **per-item calibrated bars** -- each item's scores divided by ``q(1 − p) / z(1 − p)``, its
  own score quantile over the normal one, so that a given ``k`` cuts the same tail
  probability ``p`` on every item; tuned per split exactly like the main table
  (``tune(target_recall=1.0, validation="items")``'s ranking over the same grid). The
  quantile is taken over the item's *whole* series, past and future: an oracle that a live
  detector could only approach, so it bounds what any causal per-item calibration can gain.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

import stockseries as ss
from benchmarks.detection_select import select

if TYPE_CHECKING:
    from benchmarks.detection import RealData

#: The reference detector of the strengths table (the tuned ewma rows' configuration).
REFERENCE: dict[str, Any] = {"method": "ewma", "window": 864, "smooth": 12}
TRANSFORMS = (None, "sqrt", "log1p")
#: Tail probability of the strengths table's per-item quantile.
STRENGTH_TAIL = 0.01
#: Tail probabilities tried for calibrated bars (``None``: the scores as they are).
CALIBRATION_TAILS = (None, 0.1, 0.01)
CALIBRATED_METHODS = ("zscore", "ewma")

Counter = Callable[[pl.DataFrame], dict[str, tuple[int, int, int]]]


@dataclass(frozen=True)
class WindowStrength:
    """One labelled window: its peak score and peak / item quantile, per transform."""

    item: str
    start: dt.datetime
    peak: dict[str | None, float]
    relative: dict[str | None, float]


@dataclass(frozen=True)
class CalibratedRow:
    """One method tuned on every split with its scores calibrated per item at ``tail``."""

    method: str
    tail: float | None
    hit: int
    false: int
    splits_all_hit: int
    n_splits: int


def _scored(series: pl.DataFrame, setting: Mapping[str, Any]) -> pl.DataFrame:
    return ss.detect_spikes(series, k=1.0, **setting)


def item_quantiles(detected: pl.DataFrame, tail: float) -> dict[str, float]:
    """Each item's ``1 − tail`` quantile of its finite scores where the bar was defined."""
    return dict(
        detected.filter(pl.col("sufficient") & pl.col("score").is_finite())
        .group_by("item_id")
        .agg(pl.col("score").quantile(1 - tail, interpolation="linear"))
        .iter_rows()
    )


def window_strengths(data: RealData) -> list[WindowStrength]:
    """Peak score per labelled window under each transform, weakest (raw) first."""
    peaks: dict[tuple[str, dt.datetime], dict[str | None, float]] = {}
    relative: dict[tuple[str, dt.datetime], dict[str | None, float]] = {}
    for transform in TRANSFORMS:
        setting = REFERENCE | ({"transform": transform} if transform else {})
        detected = _scored(data.series, setting)
        quantile = item_quantiles(detected, STRENGTH_TAIL)
        for item, start, end in data.labels.select("item_id", "start", "end").iter_rows():
            inside = detected.filter(
                (pl.col("item_id") == item) & (pl.col("ts") >= start) & (pl.col("ts") < end)
            )
            peak = inside["score"].max()
            key = (item, start)
            peaks.setdefault(key, {})[transform] = float(peak)  # type: ignore[arg-type]
            relative.setdefault(key, {})[transform] = float(peak) / quantile[item]  # type: ignore[arg-type]
    rows = [WindowStrength(item, start, peaks[item, start], relative[item, start])
            for item, start in peaks]  # fmt: skip
    return sorted(rows, key=lambda row: row.peak[None])


def calibrated_trials(
    data: RealData,
    count: Counter,
    grid: Mapping[str, Sequence[Any]],
    setting: Mapping[str, Any],
    tail: float | None,
) -> list[tuple[dict[str, Any], dict[str, tuple[int, int, int]], dict[str, int]]]:
    """Every k, min_demand and merge_gap of one detection, its scores calibrated at ``tail``."""
    detected = _scored(data.series, setting)
    score = detected["score"].fill_null(np.nan).to_numpy()
    if tail is not None:
        z = NormalDist().inv_cdf(1 - tail)
        scale = detected["item_id"].replace_strict(item_quantiles(detected, tail)).to_numpy()
        score = score / (scale / z)
    signal = detected["signal" if "signal" in detected.columns else "demand"]
    signal_values = signal.fill_null(np.nan).to_numpy()
    sufficient = detected["sufficient"].to_numpy()
    out = []
    for k, min_demand in itertools.product(grid["k"], grid["min_demand"]):
        flagged = sufficient & (score > k) & (signal_values >= min_demand)
        marked = detected.with_columns(pl.Series("flagged", flagged))
        for merge_gap in grid["merge_gap"]:
            episodes = ss.alerts(marked, merge_gap=merge_gap).frame.select(
                "item_id", "start", "end"
            )
            per_item = dict(episodes.group_by("item_id").len().iter_rows())
            chosen = {**setting, "k": k, "min_demand": min_demand, "merge_gap": merge_gap}
            out.append((chosen, count(episodes), per_item))
    return out


def calibrated_rows(
    data: RealData, count: Counter, grid: Mapping[str, Sequence[Any]], n_train: int = 3
) -> list[CalibratedRow]:
    """Each method of :data:`CALIBRATED_METHODS` at each tail, tuned on every split.

    ``grid``: ``window``, ``transform``, ``smooth``, ``k``, ``min_demand``, ``merge_gap``
    values (the main table's).
    """
    rows = []
    for method, tail in itertools.product(CALIBRATED_METHODS, CALIBRATION_TAILS):
        trials = []
        for window, transform, smooth in itertools.product(
            grid["window"], grid["transform"], grid["smooth"]
        ):
            setting = {"method": method, "window": window, "smooth": smooth}
            setting |= {"transform": transform} if transform else {}
            trials += calibrated_trials(data, count, grid, setting, tail)
        hit = false = all_hit = n = 0
        for train in itertools.combinations(data.items, n_train):
            test = [item for item in data.items if item not in train]
            _, counts, _ = trials[select(trials, train, data.days, validation=True)]
            h = sum(counts[item][0] for item in test)
            w = sum(counts[item][1] for item in test)
            hit, false = hit + h, false + sum(counts[item][2] for item in test)
            all_hit, n = all_hit + (h == w), n + 1
        rows.append(CalibratedRow(method, tail, hit, false, all_hit, n))
    return rows


def _rank(values: Sequence[float]) -> list[int]:
    order = np.argsort(np.argsort(values, kind="stable"), kind="stable")
    return [int(r) + 1 for r in order]


def _weakest_lines(strengths: Sequence[WindowStrength]) -> list[str]:
    """How far the weakest window lies below the next ones, per transform: a ``k`` tuned on
    other tickers transfers when the weakest windows of all tickers peak close together."""
    if len(strengths) < 2:
        return []
    parts = []
    for transform in TRANSFORMS:
        peaks = sorted((s.peak[transform], f"{s.item} {s.start:%Y-%m-%d}") for s in strengths)
        (low, name), (second, _) = peaks[0], peaks[1]
        few = min(4, len(peaks))
        parts.append(
            f"{transform or 'raw'}: the weakest ({name}) peaks at {low:.1f}, "
            f"{low / second:.0%} of the next ({second:.1f}); the {few} weakest span "
            f"{low:.1f}–{peaks[few - 1][0]:.1f}"
        )
    return [
        "**Why the transform decides.** A k tuned on three tickers hits a held-out window when "
        "the weakest windows of all tickers peak close together. " + "; ".join(parts) + ". "
        "A transform under which one window lies far below the rest is one a split holding "
        "out that window's ticker has no reason to avoid: the labels of the other tickers "
        "do not ask for more, and the window is missed (the per-split tables above name the "
        "transform chosen and the windows missed). `choose_transform` looks at every bucket, "
        "not at the labels (the main table says what it picks per split).",
    ]


def calibration_lines(
    strengths: Sequence[WindowStrength], rows: Sequence[CalibratedRow], n_windows: int
) -> list[str]:
    """The DETECTION.md section of both checks."""
    reference = " ".join(f"{k}={v}" for k, v in REFERENCE.items())
    q = f"q{1 - STRENGTH_TAIL:g}"
    lines = [
        "## Why a window is missed: window strengths and per-item calibrated bars",
        "",
        f"**Window strengths** ({reference}, each transform): *peak* = the highest score "
        "inside the window (hit at k exactly when peak > k); *peak / "
        f"{q}* = peak over the item's own {q} score (how a bar set at a tail probability of "
        "the item's own scores would see it). (rank) = 1 for the weakest of the "
        f"{len(strengths)} windows.",
        "",
    ]
    header = ["window"]
    for transform in TRANSFORMS:
        name = transform or "raw"
        header += [f"{name}: peak", f"{name}: peak / {q}"]
    table = []
    ranks = {
        (t, kind): _rank([getattr(s, kind)[t] for s in strengths])
        for t in TRANSFORMS
        for kind in ("peak", "relative")
    }
    for i, s in enumerate(strengths):
        cells = [f"{s.item} {s.start:%Y-%m-%d}"]
        for t in TRANSFORMS:
            cells += [
                f"{s.peak[t]:.1f} ({ranks[t, 'peak'][i]})",
                f"{s.relative[t]:.2f} ({ranks[t, 'relative'][i]})",
            ]
        table.append(cells)
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in table]
    lines += ["", *_weakest_lines(strengths)]
    lines += [
        "",
        "**Per-item calibrated bars** (oracle: each item's scores divided by its whole-series "
        "q(1 − p) / z(1 − p), so k cuts the same tail probability p on every item; the main "
        "table's grid with direction up, and its tuner ranking; five-ticker equivalent, windows hit, FA; splits all "
        "hit).",
        "",
    ]
    tails = [f"calibrated, p = {tail:g}" for tail in CALIBRATION_TAILS if tail is not None]
    lines += ["| method | scores as they are | " + " | ".join(tails) + " |"]
    lines += ["|---|" + "---|" * len(CALIBRATION_TAILS)]
    for method in dict.fromkeys(r.method for r in rows):
        cells = [
            f"{r.hit / 4:g}/{n_windows}, {r.false / 4:g} ({r.splits_all_hit}/{r.n_splits})"
            for r in rows
            if r.method == method
        ]
        lines.append(f"| `{method}` | " + " | ".join(cells) + " |")
    return lines
