"""Tests for stockseries.alerts: episodes, ids, the Alerts object, evaluation and tuning."""

from __future__ import annotations

import importlib
import re
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from stockseries import series as series_module
from stockseries.alerts import (
    ALERT_COLUMNS,
    Alerts,
    TuneResult,
    alert_id,
    alert_params,
    alerts,
    detect_alerts,
    evaluate,
    match_alerts,
    tune,
)
from stockseries.alerts._scoring import Prepared as _Prepared
from stockseries.alerts._scoring import TuneData as _TuneData
from stockseries.alerts._scoring import episode_bounds as _episode_bounds
from stockseries.alerts._scoring import index_scores as _index_scores
from stockseries.alerts._scoring import label_index as _label_index
from stockseries.series import resample
from stockseries.spikes import detect_spikes

# The package exports the function `alerts`, which hides the module of the same name.
alerts_module = importlib.import_module("stockseries.alerts.lean")

T0 = datetime(2024, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def at(minute: float) -> datetime:
    return T0 + minute * MINUTE


def flagged_frame(
    patterns: dict[str, str], *, values: dict[str, list[int]] | None = None
) -> pl.DataFrame:
    """A detection frame from flag strings: '#' flagged, '.' not (one bucket per character).

    demand is 10 + position for flagged buckets unless ``values`` are given;
    threshold is 5 and score = demand - 5 everywhere.
    """
    rows = []
    for item, pattern in patterns.items():
        for i, char in enumerate(pattern):
            demand = values[item][i] if values else (10 + i if char == "#" else 1)
            rows.append((item, at(i), demand, 5.0, demand - 5.0, char == "#"))
    return pl.DataFrame(
        rows,
        schema={
            "item_id": pl.String,
            "ts": pl.Datetime("us", "UTC"),
            "demand": pl.Int64,
            "threshold": pl.Float64,
            "score": pl.Float64,
            "flagged": pl.Boolean,
        },
        orient="row",
    )


def reference_episodes(
    pattern: str, merge_gap: int, min_buckets: int, cooldown: int
) -> list[tuple[int, int]]:
    """(start, end) bucket indices from the documented rules, one bucket at a time."""
    runs: list[list[int]] = []
    for i, char in enumerate(pattern):
        if char != "#":
            continue
        if runs and i - runs[-1][1] - 1 <= merge_gap:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    episodes = [(s, e + 1) for s, e in runs if e + 1 - s >= min_buckets]
    kept: list[tuple[int, int]] = []
    for start, end in episodes:
        if kept and start < kept[-1][1] + cooldown:
            continue
        kept.append((start, end))
    return kept


def spans(found: Alerts, item: str = "a") -> list[tuple[int, int]]:
    frame = found.frame.filter(pl.col("item_id") == item).sort("start")
    return [
        ((s - T0) // MINUTE, (e - T0) // MINUTE)
        for s, e in zip(frame["start"].to_list(), frame["end"].to_list(), strict=True)
    ]


# --------------------------------------------------------------------------- episode rules


@pytest.mark.parametrize(
    ("pattern", "rules", "expected"),
    [
        ("..##..#...", {}, [(2, 4), (6, 7)]),
        ("#.#..#", {"merge_gap": 1}, [(0, 3), (5, 6)]),
        ("#.#..#", {"merge_gap": 2}, [(0, 6)]),
        ("##.#...###", {"min_buckets": 2}, [(0, 2), (7, 10)]),
        ("##.#...###", {"min_buckets": 3}, [(7, 10)]),
        ("##.#...###", {"merge_gap": 1, "min_buckets": 4}, [(0, 4)]),
        # cooldown counts buckets after the end of the last *reported* episode
        ("#.#.#.#.#", {"cooldown": 1}, [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]),
        ("#.#.#.#.#", {"cooldown": 2}, [(0, 1), (4, 5), (8, 9)]),
        ("#.#.#.#.#", {"cooldown": 3}, [(0, 1), (4, 5), (8, 9)]),
        ("#.#.#.#.#", {"cooldown": 4}, [(0, 1), (6, 7)]),
        ("##..#....#", {"cooldown": 3}, [(0, 2), (9, 10)]),
        # min_buckets drops before cooldown: a dropped blip starts no cooldown
        ("#.###", {"min_buckets": 2, "cooldown": 5}, [(2, 5)]),
        ("......", {}, []),
        ("######", {}, [(0, 6)]),
    ],
)
def test_episode_rules(
    pattern: str, rules: dict[str, int], expected: list[tuple[int, int]]
) -> None:
    found = alerts(flagged_frame({"a": pattern}), **rules)
    assert spans(found) == expected
    assert expected == reference_episodes(
        pattern, rules.get("merge_gap", 0), rules.get("min_buckets", 1), rules.get("cooldown", 0)
    )


@settings(max_examples=80, deadline=None)
@given(
    patterns=st.dictionaries(
        st.sampled_from(["a", "b", "c"]),
        st.text(alphabet=".#", min_size=1, max_size=30),
        min_size=1,
    ),
    merge_gap=st.integers(0, 3),
    min_buckets=st.integers(1, 4),
    cooldown=st.integers(0, 6),
)
def test_episodes_match_reference(
    patterns: dict[str, str], merge_gap: int, min_buckets: int, cooldown: int
) -> None:
    frame = flagged_frame(patterns).sort("item_id", "ts")
    found = alerts(
        frame, merge_gap=merge_gap, min_buckets=min_buckets, cooldown=cooldown, every="1m"
    )
    for item, pattern in patterns.items():
        assert spans(found, item) == reference_episodes(pattern, merge_gap, min_buckets, cooldown)
    # The array version used by tune() agrees with the frame version.
    layout_codes = frame["item_id"].rle_id().to_numpy().astype(np.int64)
    data = _TuneData(
        codes=layout_codes,
        t_rel=frame["ts"].dt.epoch("us").to_numpy() - int(T0.timestamp() * 1e6),
        every_us=60_000_000,
        item_days=1.0,
        labels=None,
        fallback=(pl.DataFrame(), pl.Series(dtype=pl.String), 0),
    )
    code, start, _ = _episode_bounds(
        frame["flagged"].to_numpy(), data, merge_gap, min_buckets, cooldown
    )
    assert len(code) == len(found)
    assert sorted(zip(code.tolist(), (start // 60_000_000).tolist(), strict=True)) == sorted(
        (sorted(patterns).index(item), span[0]) for item in patterns for span in spans(found, item)
    )


def test_episode_details() -> None:
    values = {"a": [1, 9, 12, 3, 12, 2, 1]}
    frame = flagged_frame({"a": ".####.."}, values=values).with_columns(
        threshold=pl.Series([5.0, 5.0, 6.0, 2.0, 7.0, 5.0, 5.0]),
        score=pl.Series([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
    )
    row = alerts(frame).frame.row(0, named=True)
    assert row["start"] == at(1)
    assert row["end"] == at(5)  # last flagged bucket start + every
    assert row["buckets"] == 4
    assert row["peak_demand"] == 12
    assert row["peak_ts"] == at(2)  # the first bucket holding the maximum
    assert (row["threshold"], row["score"]) == (6.0, 2.0)  # at the peak
    assert row["excess"] == (9 - 5) + (12 - 6) + (3 - 2) + (12 - 7)
    assert row["supplier_id"] is None


def test_output_schema_and_order() -> None:
    found = alerts(flagged_frame({"b": "#...#", "a": ".#..."}))
    assert found.frame.columns == list(ALERT_COLUMNS)
    assert found.frame.schema["alert_id"] == pl.String
    assert found.frame.schema["start"] == pl.Datetime("us", "UTC")
    assert found.frame.schema["buckets"] == pl.Int64
    assert found.frame.select("item_id", "start").rows() == [
        ("b", at(0)),
        ("a", at(1)),
        ("b", at(4)),
    ]


def test_empty_result_has_the_schema() -> None:
    found = alerts(flagged_frame({"a": "....."}))
    assert len(found) == 0
    assert found.frame.columns == list(ALERT_COLUMNS)
    assert repr(found) == "Alerts(0 episodes)"


@pytest.mark.parametrize(
    ("every", "expected_end"),
    [(None, at(3)), ("1m", at(3)), (timedelta(minutes=2), at(4))],
)
def test_every(every: Any, expected_end: datetime) -> None:
    found = alerts(flagged_frame({"a": ".##.."}), every=every)
    assert found.frame["end"].to_list() == [expected_end]


def test_every_inferred_from_the_smallest_step() -> None:
    frame = flagged_frame({"a": "#.#.#"}).filter(pl.col("flagged"))  # sparse: 2-minute steps
    assert alerts(frame).every == timedelta(minutes=2)
    assert alerts(frame, every="1m").frame["buckets"].to_list() == [1, 1, 1]


def test_every_cannot_be_inferred_from_single_buckets() -> None:
    with pytest.raises(ValueError, match="pass every="):
        alerts(flagged_frame({"a": "#", "b": "#"}))
    assert len(alerts(flagged_frame({"a": "#", "b": "#"}), every="1m")) == 2


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (flagged_frame({"a": "#"}).drop("flagged"), "missing column.*flagged"),
        (flagged_frame({"a": "#"}).drop("threshold"), "missing column.*threshold"),
        (flagged_frame({"a": "##"}).with_columns(flagged=pl.lit(None, pl.Boolean)), "never null"),
        (flagged_frame({"a": "##"}).drop("demand"), "demand"),
    ],
)
def test_input_errors(frame: pl.DataFrame, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        alerts(frame)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"merge_gap": -1}, "merge_gap must be an integer >= 0"),
        ({"min_buckets": 0}, "min_buckets must be an integer >= 1"),
        ({"cooldown": 1.5}, "cooldown must be an integer"),
        ({"every": "1mo"}, "not a fixed duration"),
        ({"params": {"k": 3}, "column": "level"}, "contradicts"),
        ({"params": {"bogus": 1}}, "bogus"),
    ],
)
def test_parameter_errors(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        alerts(flagged_frame({"a": "##"}), **kwargs)


def test_pandas_detected_frame() -> None:
    frame = flagged_frame({"a": ".##.", "b": "#..."})
    found = alerts(frame.to_pandas())
    assert found.frame.equals(alerts(frame).frame)
    assert isinstance(found.to_pandas(), pd.DataFrame)


# --------------------------------------------------------------------------- suppliers


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("column", {"a": "S1", "b": "S2"}),
        ("mapping", {"a": "X", "b": None}),
        ("frame", {"a": "F1", "b": "F2"}),
        ("none", {"a": None, "b": None}),
    ],
)
def test_suppliers(source: str, expected: dict[str, str | None]) -> None:
    frame = flagged_frame({"a": "#..", "b": ".#."})
    suppliers: Any = None
    if source == "column":
        frame = frame.with_columns(
            supplier_id=pl.when(pl.col("item_id") == "a").then(pl.lit("S1")).otherwise(pl.lit("S2"))
        )
    elif source == "mapping":
        suppliers = {"a": "X"}
    elif source == "frame":
        suppliers = pd.DataFrame(
            {"item_id": ["a", "b"], "supplier_id": ["F1", "F2"], "rate": [1, 2]}
        )
    found = alerts(frame, suppliers=suppliers).frame
    assert dict(found.select("item_id", "supplier_id").rows()) == expected


def test_suppliers_frame_errors() -> None:
    with pytest.raises(ValueError, match="supplier_id"):
        alerts(flagged_frame({"a": "#"}), every="1m", suppliers=pl.DataFrame({"item_id": ["a"]}))
    with pytest.raises(ValueError, match="more than once"):
        alerts(
            flagged_frame({"a": "#"}),
            every="1m",
            suppliers=pl.DataFrame({"item_id": ["a", "a"], "supplier_id": ["x", "y"]}),
        )


# --------------------------------------------------------------------------- ids


def test_ids_are_stable_and_reproducible_with_alert_id() -> None:
    frame = flagged_frame({"a": ".##...#", "b": "#"}).filter(pl.col("ts") < at(7))
    params = {"window": 30, "k": 4}
    first = alerts(frame, params=params, merge_gap=1)
    again = alerts(frame.sample(fraction=1.0, shuffle=True, seed=3), params=params, merge_gap=1)
    assert first.frame.equals(again.frame)
    for row in first.frame.iter_rows(named=True):
        assert row["alert_id"] == alert_id(row["item_id"], row["start"], first.params)
        assert len(row["alert_id"]) == 16
    assert first.frame["alert_id"].n_unique() == len(first)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ({"params": {"k": 3}}, {"params": {"k": 3.0}}, True),
        ({"params": {}}, {"params": {"method": "zscore", "window": 60, "min_periods": 60}}, True),
        ({"params": {"k": 3}}, {"params": {"k": 4}}, False),
        ({"params": {"k": 3}}, {"params": None}, False),
        ({"params": {"k": 3}}, {"params": {"k": 3}, "min_buckets": 1}, True),
        ({"params": {"k": 3}}, {"params": {"k": 3}, "merge_gap": 0, "cooldown": 5}, False),
        ({"params": {"k": 3}}, {"params": {"k": 3}, "every": "2m"}, False),
    ],
)
def test_ids_depend_on_parameters(a: dict[str, Any], b: dict[str, Any], same: bool) -> None:
    frame = flagged_frame({"a": "#..."})
    first = alerts(frame, **a).frame["alert_id"].to_list()
    second = alerts(frame, **b).frame["alert_id"].to_list()
    assert (first == second) is same


@pytest.mark.parametrize(
    "start",
    [
        datetime(2024, 1, 1, 6, 10, tzinfo=UTC),
        datetime(2024, 1, 1, 6, 10),  # naive is UTC
        pd.Timestamp("2024-01-01 06:10", tz="UTC"),
        np.datetime64("2024-01-01T06:10"),
        1_704_089_400_000_000,  # epoch µs
        datetime(2024, 1, 1, 7, 10, tzinfo=__import__("zoneinfo").ZoneInfo("Europe/Paris")),
    ],
)
def test_alert_id_start_forms(start: Any) -> None:
    assert alert_id("A1", start, {"k": 3}) == alert_id(
        "A1", datetime(2024, 1, 1, 6, 10, tzinfo=UTC), {"k": 3}
    )


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.text(min_size=1, max_size=12),
            st.integers(min_value=-(2**62), max_value=2**62),
        ),
        min_size=1,
        max_size=30,
    ),
    k=st.floats(min_value=0.5, max_value=10, allow_nan=False),
)
def test_vectorised_ids_equal_alert_id(rows: list[tuple[str, int]], k: float) -> None:
    from stockseries.alerts._ids import alert_ids as _alert_ids
    from stockseries.alerts._ids import params_key as _params_key

    params = {"k": k, "window": 30}
    items = pl.Series([item for item, _ in rows], dtype=pl.String)
    starts = np.array([start for _, start in rows], dtype=np.int64)
    ids = _alert_ids(items, starts, _params_key(params)).to_list()
    assert ids == [alert_id(item, start, params) for item, start in rows]
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in ids)


def test_alert_id_is_pinned() -> None:
    # Ids are promised stable across runs, processes and library versions: a changed value
    # here breaks every id users have stored.
    start = datetime(2024, 1, 1, 6, 10, tzinfo=UTC)
    assert alert_id("SKU-1", start, {"k": 3}) == alert_id("SKU-1", start, {"k": 3.0})
    assert alert_id("SKU-1", start, {"k": 3}) == "5f33b3cb10e8363a"
    assert alert_id("a", 0) == "27af9a281e6b60bd"


def test_alert_id_differs_by_item_and_start() -> None:
    ids = {alert_id(item, at(m)) for item in ("a", "b") for m in (0, 1)}
    assert len(ids) == 4


def test_alert_params() -> None:
    params = alert_params({"k": 3}, every="60s", merge_gap=1)
    assert params == {
        "detection": {
            "method": "zscore",
            "column": "demand",
            "window": 60,
            "k": 3.0,
            "min_periods": 60,
            "min_demand": 0,
            "smooth": 1,
        },
        "every": "1m",
        "merge_gap": 1,
        "min_buckets": 1,
        "cooldown": 0,
    }
    assert alerts(flagged_frame({"a": "#."}), params={"k": 3}, merge_gap=1).params == params


# --------------------------------------------------------------------------- Alerts object


def test_repr_and_html() -> None:
    found = alerts(flagged_frame({"a": "#..#", "b": ".##."}), params={"k": 2.5})
    assert repr(found) == "Alerts(3 episodes, 2 items, 2024-01-01 00:00 → 2024-01-01 00:04)"
    html = found._repr_html_()
    assert "Top items" in html and "k=2.5" in html and "<table" in html
    top = found.top_items()
    assert top["item_id"].to_list() == ["a", "b"]
    assert top["episodes"].to_list() == [2, 1]
    assert (
        repr(alerts(flagged_frame({"a": ".#."})))
        == "Alerts(1 episode, 1 item, 2024-01-01 00:01 → 2024-01-01 00:02)"
    )
    assert "0 episodes" in alerts(flagged_frame({"a": ".."}))._repr_html_()


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".PQ"])
@pytest.mark.parametrize("pattern", ["#..#", "...."])
def test_write(tmp_path: Path, suffix: str, pattern: str) -> None:
    found = alerts(flagged_frame({"a": pattern}), every="1m")
    path = found.write(tmp_path / f"alerts{suffix}")
    back = pl.read_csv(path) if suffix == ".csv" else pl.read_parquet(path)
    assert back.columns == list(ALERT_COLUMNS)
    assert back.height == len(found)
    if suffix != ".csv":
        assert back.equals(found.frame)


def test_write_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.csv or \.parquet"):
        alerts(flagged_frame({"a": "#."})).write(tmp_path / "alerts.xlsx")


# --------------------------------------------------------------------------- evaluation


def intervals(rows: list[tuple[str, float, float]], *, ids: bool = False) -> pl.DataFrame:
    frame = pl.DataFrame(
        [(item, at(s), at(e)) for item, s, e in rows],
        schema={
            "item_id": pl.String,
            "start": pl.Datetime("us", "UTC"),
            "end": pl.Datetime("us", "UTC"),
        },
        orient="row",
    )
    if ids:
        frame = frame.with_columns(alert_id=pl.format("x{}", pl.int_range(pl.len())))
    return frame


def metrics(frame: pl.DataFrame) -> dict[str, float | None]:
    return dict(frame.iter_rows())


@pytest.mark.parametrize(
    ("found", "truth", "expected"),
    [
        # one alert, one label, overlapping
        ([("a", 5, 9)], [("a", 3, 20)], {"precision": 1, "recall": 1, "f1": 1}),
        # each label counts once however many alerts overlap it
        ([("a", 5, 6), ("a", 7, 9), ("a", 10, 12)], [("a", 3, 20)], {"precision": 1, "recall": 1}),
        # an alert spanning two labels detects both
        (
            [("a", 5, 30)],
            [("a", 3, 10), ("a", 20, 25)],
            {"precision": 1, "recall": 1, "true_alerts": 1},
        ),
        # half-open windows: touching is not overlapping
        ([("a", 20, 25)], [("a", 3, 20)], {"precision": 0, "recall": 0, "f1": 0}),
        ([("a", 0, 3)], [("a", 3, 20)], {"precision": 0, "recall": 0}),
        ([("a", 19, 25)], [("a", 3, 20)], {"precision": 1, "recall": 1}),
        # the item must match
        ([("b", 5, 9)], [("a", 3, 20)], {"precision": 0, "recall": 0, "false_alerts": 1}),
        # mixed
        (
            [("a", 5, 9), ("a", 40, 41), ("b", 1, 2)],
            [("a", 3, 20), ("b", 1, 9), ("c", 0, 5)],
            {
                "precision": 2 / 3,
                "recall": 2 / 3,
                "f1": 2 / 3,
                "missed_labels": 1,
                "false_alerts": 1,
            },
        ),
        # nothing found: precision undefined, recall 0, F1 0
        ([], [("a", 3, 20)], {"precision": None, "recall": 0, "f1": 0, "n_alerts": 0}),
        # no labels: recall undefined
        ([("a", 1, 2)], [], {"precision": 0, "recall": None, "f1": 0}),
        ([], [], {"precision": None, "recall": None, "f1": None}),
    ],
)
def test_event_counting(
    found: list[tuple[str, float, float]],
    truth: list[tuple[str, float, float]],
    expected: dict[str, float | None],
) -> None:
    got = metrics(evaluate(intervals(found), intervals(truth)))
    for name, value in expected.items():
        assert got[name] == (None if value is None else pytest.approx(value)), name


def test_time_to_detect_uses_each_labels_earliest_alert() -> None:
    found = intervals([("a", 5, 6), ("a", 8, 9), ("b", 0, 3)])
    truth = intervals([("a", 3, 20), ("b", 1, 5), ("c", 0, 1)])
    got = metrics(evaluate(found, truth))
    delays = [(5 - 3) * 60.0, (0 - 1) * 60.0]  # an alert may start before its label
    assert got["mean_time_to_detect_s"] == pytest.approx(np.mean(delays))
    assert got["median_time_to_detect_s"] == pytest.approx(np.median(delays))


def test_false_alerts_per_item_day() -> None:
    found = intervals([("a", 5, 6), ("a", 100, 101)])
    truth = intervals([("a", 3, 20), ("b", 0, 10)])
    # Without a series: 2 items x the overall span (0 .. 101 minutes).
    got = metrics(evaluate(found, truth))
    assert got["item_days"] == pytest.approx(2 * 101 / 1440)
    assert got["false_alerts_per_item_day"] == pytest.approx(1 / (2 * 101 / 1440))
    # With a series: the summed per-item spans.
    series = flagged_frame({"a": "." * 1440, "b": "." * 720, "c": "." * 720})
    got = metrics(evaluate(found, truth, series=series))
    assert got["item_days"] == pytest.approx(2.0)
    assert got["false_alerts_per_item_day"] == pytest.approx(0.5)


def test_point_metrics() -> None:
    series = flagged_frame({"a": "..###...#.", "b": "#........."})
    truth = intervals([("a", 1, 4), ("a", 3, 6), ("b", 5, 6)])  # overlapping labels union to [1, 6)
    got = metrics(evaluate(alerts(series), truth, series=series))
    tp, fp, fn = 3, 2, 3  # a: 2,3,4 hit; a8 and b0 false; a1, a5, b5 missed
    assert (got["point_tp"], got["point_fp"], got["point_fn"]) == (tp, fp, fn)
    assert got["point_precision"] == pytest.approx(tp / (tp + fp))
    assert got["point_recall"] == pytest.approx(tp / (tp + fn))


def test_evaluate_shape_and_pandas() -> None:
    found = intervals([("a", 5, 9)])
    truth = intervals([("a", 3, 20)])
    tidy = evaluate(found, truth)
    assert tidy.columns == ["metric", "value"]
    assert tidy.schema == pl.Schema({"metric": pl.String, "value": pl.Float64})
    assert tidy["metric"].to_list()[:3] == ["precision", "recall", "f1"]
    assert isinstance(evaluate(found, truth.to_pandas()), pd.DataFrame)


def test_naive_label_times_are_utc() -> None:
    found = intervals([("a", 5, 9)])
    truth = intervals([("a", 3, 20)]).with_columns(
        pl.col("start", "end").dt.replace_time_zone(None)
    )
    assert metrics(evaluate(found, truth))["recall"] == 1


@pytest.mark.parametrize(
    ("truth", "match"),
    [
        (intervals([("a", 3, 20)]).drop("end"), "lacks column.*end"),
        (intervals([("a", 3, 3)]), "end > start"),
        (intervals([("a", 3, 4)]).with_columns(start=pl.lit("x")), "must be Datetime"),
    ],
)
def test_label_errors(truth: pl.DataFrame, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        evaluate(intervals([("a", 5, 9)]), truth)


def test_match_alerts() -> None:
    found = intervals([("a", 5, 6), ("a", 8, 9), ("a", 40, 41)], ids=True)
    truth = intervals([("a", 3, 20), ("b", 1, 9)])
    got = match_alerts(found, truth)
    assert got.columns == [
        "kind",
        "outcome",
        "item_id",
        "start",
        "end",
        "alert_id",
        "matches",
        "delay",
    ]
    assert got.select("kind", "outcome", "alert_id", "matches").rows() == [
        ("label", "tp", "x0", 2),
        ("alert", "tp", "x0", 1),
        ("alert", "tp", "x1", 1),
        ("alert", "fp", "x2", 0),
        ("label", "fn", None, 0),
    ]
    assert got["delay"].to_list() == [2 * MINUTE, 2 * MINUTE, 5 * MINUTE, None, None]


def test_match_alerts_accepts_alerts_objects() -> None:
    found = alerts(flagged_frame({"a": "..##.."}))
    got = match_alerts(found, intervals([("a", 0, 3)]))
    assert (
        got.filter(pl.col("kind") == "alert")["alert_id"].to_list()
        == found.frame["alert_id"].to_list()
    )
    assert set(got["outcome"]) == {"tp"}


@settings(max_examples=60, deadline=None)
@given(
    patterns=st.dictionaries(
        st.sampled_from(["a", "b", "c"]), st.text(".#", min_size=1, max_size=40), min_size=1
    ),
    labels=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", "z"]), st.integers(-5, 45), st.integers(1, 12)),
        max_size=6,
    ),
)
def test_fast_tuning_scores_equal_evaluate(
    patterns: dict[str, str], labels: list[tuple[str, int, int]]
) -> None:
    frame = flagged_frame(patterns).sort("item_id", "ts")
    truth = intervals([(item, s, s + d) for item, s, d in labels])
    expected = metrics(evaluate(alerts(frame, every="1m"), truth, series=frame))
    names = frame["item_id"].unique(maintain_order=True)
    t0 = int(frame["ts"].dt.epoch("us").min())
    ts_us = frame["ts"].dt.epoch("us").to_numpy()
    index = _label_index(truth, names, t0, int(ts_us.max()) - t0 + 60_000_000)
    assert index is not None
    data = _TuneData(
        codes=frame["item_id"].rle_id().to_numpy().astype(np.int64),
        t_rel=ts_us - t0,
        every_us=60_000_000,
        item_days=expected["item_days"] or 0.0,
        labels=index,
        fallback=(truth, names, t0),
    )
    bounds = _episode_bounds(frame["flagged"].to_numpy(), data, 0, 1, 0)
    fast = _index_scores(index, *bounds, data.item_days)
    for name, key in (
        ("precision", "precision"),
        ("recall", "recall"),
        ("f1", "f1"),
        ("false_per_day", "false_alerts_per_item_day"),
    ):
        assert fast[name] == (None if expected[key] is None else pytest.approx(expected[key])), name


# --------------------------------------------------------------------------- tuning


def poisson_series(
    n_items: int, n_buckets: int, *, seed: int, rate: float = 2.0, spikes_per_item: int = 3
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Poisson demand with labelled bursts (+12 per bucket for 10 buckets)."""
    rng = np.random.default_rng(seed)
    demand = rng.poisson(rate, (n_items, n_buckets))
    labels = []
    slots = np.arange(120, n_buckets - 20, 60)
    for item in range(n_items):
        for start in rng.choice(slots, min(spikes_per_item, len(slots)), replace=False):
            demand[item, start : start + 10] += 12
            labels.append((f"I{item:03d}", at(start), at(start + 10)))
    items = pl.Series([f"I{i:03d}" for i in range(n_items)]).gather(
        np.repeat(np.arange(n_items), n_buckets)
    )
    minutes = np.tile(np.arange(n_buckets, dtype=np.int64), n_items)
    series = pl.DataFrame(
        {
            "item_id": items,
            "ts": pl.Series(minutes * 60_000_000 + int(T0.timestamp()) * 1_000_000).cast(
                pl.Datetime("us", "UTC")
            ),
            "demand": demand.ravel(),
        }
    )
    truth = pl.DataFrame(labels, schema=["item_id", "start", "end"], orient="row")
    return series, truth


@pytest.fixture(scope="module")
def small() -> tuple[pl.DataFrame, pl.DataFrame]:
    return poisson_series(4, 600, seed=1)


def test_tune_result(small: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    series, truth = small
    result = tune(
        series,
        truth,
        windows=(30, 60),
        ks=(3.0, 5.0),
        min_demands=(0, 8),
        smooths=(1, 3),
        progress=False,
    )
    assert isinstance(result, TuneResult)
    trials = result.trials
    assert trials.columns == [
        "stage", "method", "window", "smooth", "k", "min_demand", "merge_gap", "min_buckets",
        "precision", "recall", "f1", "false_per_day", "n_alerts", "feasible", "rank",
    ]  # fmt: skip
    assert trials.filter(pl.col("stage") == "grid").height == 2 * 2 * 2 * 2
    assert trials.filter(pl.col("stage") == "refine").height > 0
    assert sorted(trials["rank"].to_list()) == list(range(1, trials.height + 1))
    best = result.best_trial
    assert best["f1"] == trials["f1"].max()
    assert result.best["k"] == best["k"] and result.best["window"] == best["window"]
    # The best is usable as is, and reproduces the trial's score.
    detected = detect_spikes(series, **result.best)
    found = alerts(detected, params=result.best, **result.alert_params)
    assert metrics(evaluate(found, truth, series=detected))["f1"] == pytest.approx(best["f1"])
    assert repr(result).startswith("TuneResult(zscore window=")
    assert "trials" in repr(result) and "<table" in result._repr_html_()


def test_tune_without_refine_and_grids_of_alert_rules(
    small: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    series, truth = small
    result = tune(
        series, truth, windows=60, ks=(3.0, 4.0), min_demands=0, smooths=1,
        merge_gap=(0, 2), min_buckets=(1, 2), refine=False, progress=False,
    )  # fmt: skip
    assert result.trials.height == 2 * 2 * 2
    assert set(result.trials["stage"]) == {"grid"}
    assert set(result.alert_params) == {"merge_gap", "min_buckets", "cooldown"}


def test_tune_objectives(small: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    series, truth = small
    grid = {
        "windows": (30,),
        "ks": (1.0, 2.0, 3.0, 6.0),
        "min_demands": (0,),
        "smooths": (1,),
        "refine": False,
        "progress": False,
    }
    by_recall = tune(series, truth, target_recall=1.0, **grid)
    feasible = by_recall.trials.filter(pl.col("recall") >= 1.0)
    assert by_recall.best_trial["false_per_day"] == feasible["false_per_day"].min()
    budget = tune(series, truth, max_false_per_day=1.0, **grid)
    within = budget.trials.filter(pl.col("false_per_day") <= 1.0)
    assert budget.best_trial["recall"] == within["recall"].max()
    assert "highest recall" in budget.objective
    precise = tune(series, truth, objective="precision", **grid)
    assert precise.best_trial["precision"] == precise.trials["precision"].max()


def test_tune_warns_when_no_setting_meets_the_constraints(
    small: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    series, truth = small
    with pytest.warns(UserWarning, match="no setting meets"):
        result = tune(
            series,
            truth,
            windows=30,
            ks=9.0,
            min_demands=50,
            smooths=1,
            target_recall=0.5,
            refine=False,
            progress=False,
        )
    assert "no setting met" in result.objective


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"methods": "threshold"}, "cannot be tuned"),
        ({"methods": "nope"}, "unknown method"),
        ({"objective": "auc"}, "objective must be"),
        ({"ks": ()}, "ks must not be empty"),
        ({"windows": (0,)}, "window must be"),
        ({"min_demands": ("x",)}, "min_demand must be a number"),
        ({"merge_gap": (-1,)}, "merge_gap"),
    ],
)
def test_tune_errors(
    small: tuple[pl.DataFrame, pl.DataFrame], kwargs: dict[str, Any], match: str
) -> None:
    series, truth = small
    with pytest.raises((ValueError, TypeError), match=match):
        tune(series, truth, progress=False, **kwargs)


@pytest.mark.parametrize("method", ["mad", "ewma", "quantile", "seasonal"])
def test_tune_other_methods(small: tuple[pl.DataFrame, pl.DataFrame], method: str) -> None:
    series, truth = small
    window = 2 if method == "seasonal" else 30
    options = {"seasonal": {"period": "1h"}} if method == "seasonal" else None
    result = tune(
        series, truth, methods=method, windows=window, ks=(3.0, 4.0), min_demands=(0,), smooths=1,
        progress=False, method_options=options, min_periods=1 if method == "seasonal" else None,
    )  # fmt: skip
    assert result.best["method"] == method
    if method == "quantile":
        assert result.trials["k"].null_count() == result.trials.height  # k does not apply
    detect_spikes(series, **result.best)


def test_tune_progress_bar_is_silenceable(
    small: tuple[pl.DataFrame, pl.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    series, truth = small
    tune(series, truth, windows=30, ks=3.0, min_demands=0, smooths=1, refine=False, progress=False)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    tune(series, truth, windows=30, ks=3.0, min_demands=0, smooths=1, refine=False, progress=True)
    assert "tune" in capsys.readouterr().err


def test_tune_prepares_each_detection_once_for_100_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 4 windows x 5 k x 5 min_demand = 100 settings. What keeps tune fast is that the
    # baseline of each detection (here one per window) is computed once and the 25 (k,
    # min_demand) pairs only re-threshold it: counted here, so the check does not depend on
    # the machine's load. The time itself is a benchmark: `python -m benchmarks.speed_claims`.
    series, truth = poisson_series(10, 30 * 1440, seed=5, spikes_per_item=30)
    built: list[int] = []
    real_build = _Prepared.build

    def counted(*args: Any) -> _Prepared:
        built.append(args[-1]["window"])
        return real_build(*args)

    monkeypatch.setattr(_Prepared, "build", staticmethod(counted))
    result = tune(
        series, truth, windows=(30, 60, 120, 240), ks=(2.0, 3.0, 4.0, 5.0, 6.0),
        min_demands=(0, 1, 2, 4, 8), smooths=1, refine=False, progress=False,
    )  # fmt: skip
    assert result.trials.height == 100
    assert result.best_trial["f1"] > 0.8
    assert sorted(built) == [30, 60, 120, 240]


# --------------------------------------------------------------------------- quality bar


@pytest.mark.parametrize(("train_seed", "test_seed"), [(1, 2), (3, 4)])
def test_quality_bar_tuned_on_one_simulation_holds_on_another(
    train_seed: int, test_seed: int
) -> None:
    from stockseries.generate import simulate
    from stockseries.series import resample

    train = simulate(20, days=2.0, seed=train_seed)
    test = simulate(20, days=2.0, seed=test_seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean run: no fallback, no constraint warnings
        result = tune(resample(train.events), train.labels, progress=False)
    detected = detect_spikes(resample(test.events), **result.best)
    found = alerts(detected, params=result.best, suppliers=test.catalog, **result.alert_params)
    scores = metrics(evaluate(found, test.labels, series=detected))
    assert scores["n_labels"] >= 20
    assert scores["f1"] >= 0.9, (result, scores)
    assert found.frame["supplier_id"].null_count() == 0


# --------------------------------------------------------------------------- detect_alerts


def composed(
    events: Any,
    every: str = "1m",
    method: str = "zscore",
    *,
    initial: Any = None,
    suppliers: Any = None,
    merge_gap: int = 0,
    min_buckets: int = 1,
    cooldown: int = 0,
    column: str = "demand",
    **options: Any,
) -> Alerts:
    """The three-step pipeline detect_alerts must equal."""
    detected = detect_spikes(
        resample(events, every, initial=initial), method, column=column, **options
    )
    return alerts(
        detected,
        params={"method": method, "column": column, **options},
        every=every,
        merge_gap=merge_gap,
        min_buckets=min_buckets,
        cooldown=cooldown,
        suppliers=suppliers,
    )


def assert_same_alerts(found: Alerts, expected: Alerts) -> None:
    assert found.frame.equals(expected.frame), (found.frame, expected.frame)
    assert found.params == expected.params
    assert found.every == expected.every


def event_frame(rows: list[tuple[float, str, str, int]]) -> pl.DataFrame:
    """Events from ``(minute, item, kind, quantity)`` rows."""
    return pl.DataFrame(
        [(at(minute), item, kind, quantity) for minute, item, kind, quantity in rows],
        schema={
            "ts": pl.Datetime("us", "UTC"),
            "item_id": pl.String,
            "kind": pl.String,
            "quantity": pl.Int64,
        },
        orient="row",
    )


DETECTORS: list[dict[str, Any]] = [
    {"method": "zscore", "window": 5, "k": 1.0},
    {"method": "zscore", "window": 4, "k": 1.0, "min_periods": 2, "min_demand": 2},
    {"method": "zscore", "window": 4, "k": 1.5, "smooth": 3},
    {"method": "mad", "window": 5, "k": 1.0},
    {"method": "mad", "window": 4, "k": 1.0, "smooth": 2},
    {"method": "ewma", "span": 4, "k": 1.5},
    {"method": "ewma", "half_life": 3.0, "k": 1.0, "smooth": 3},
    {"method": "quantile", "window": 6, "q": 0.8},
    {"method": "quantile", "window": 4, "q": 0.7, "smooth": 2},
    {"method": "threshold", "level": 4},
    {"method": "threshold", "level": 3, "smooth": 2},
    {"method": "threshold", "level": {"A": 3, "B": 6, "C": 1, "item-with-a-long-name": 9}},
    {"method": "seasonal", "period": "30m", "window": 3, "min_periods": 1, "k": 1.0},
    {"method": "seasonal", "period": "30m", "window": 2, "k": 0.5, "smooth": 2},
]
ITEM_NAMES = ["A", "B", "C", "item-with-a-long-name"]
EVENT_ROWS = st.lists(
    st.tuples(
        st.floats(0, 60, allow_nan=False),
        st.sampled_from(ITEM_NAMES),
        st.sampled_from(["order", "order", "order", "delivery"]),
        st.integers(1, 3) | st.integers(10, 40),
    ),
    max_size=60,
)


@st.composite
def busy_rows(draw: st.DrawFn) -> list[tuple[float, str, str, int]]:
    """Hundreds of events with occasional bursts: hypothesis keeps hand-drawn lists short."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(50, 400))
    minutes = rng.uniform(0, draw(st.sampled_from([30, 90, 240])), n)
    burst = rng.random(n) < 0.05
    quantity = np.where(burst, rng.integers(10, 60, n), rng.integers(1, 4, n))
    items = rng.choice(ITEM_NAMES, n, p=[0.4, 0.3, 0.2, 0.1])
    kinds = rng.choice(["order", "delivery"], n, p=[0.85, 0.15])
    return list(
        zip(minutes.tolist(), items.tolist(), kinds.tolist(), quantity.tolist(), strict=True)
    )


@settings(max_examples=250, deadline=None)
@given(
    rows=EVENT_ROWS | busy_rows(),
    every=st.sampled_from(["1m", "1m", "90s", "2m", "5m"]),
    detector=st.sampled_from(DETECTORS),
    column=st.sampled_from(["demand", "demand", "demand", "orders", "level"]),
    initial=st.none() | st.integers(-5, 5) | st.just({"A": 40}),
    rules=st.fixed_dictionaries(
        {
            "merge_gap": st.integers(0, 2),
            "min_buckets": st.integers(1, 2),
            "cooldown": st.integers(0, 3),
        }
    ),
    batch_rows=st.integers(1, 80),
    event_chunk=st.integers(1, 40),
)
def test_detect_alerts_equals_the_composed_pipeline(
    rows: list[tuple[float, str, str, int]],
    every: str,
    detector: dict[str, Any],
    column: str,
    initial: Any,
    rules: dict[str, int],
    batch_rows: int,
    event_chunk: int,
) -> None:
    """Batching by item is exact for every method: each one looks at one item at a time."""
    events = event_frame(rows)
    options = {**detector, "column": column, "initial": initial, **rules}
    try:
        expected = composed(events, every, **options)
    except (TypeError, ValueError) as error:
        with pytest.raises(type(error), match=re.escape(str(error))):
            detect_alerts(events, every, **options)
        return
    with (
        mock.patch.object(alerts_module, "_BATCH_ROWS", batch_rows),
        mock.patch.object(series_module, "_EVENT_CHUNK", event_chunk),
    ):
        found = detect_alerts(events, every, **options)
    assert_same_alerts(found, expected)
    event("has alerts" if len(found) else "no alerts")


SPIKY = [(m, "A", "order", 2 + m % 2) for m in range(40)] + [(40, "A", "order", 30)]


@pytest.mark.parametrize(
    ("rows", "options"),
    [
        pytest.param([], {}, id="no events"),
        pytest.param([], {"smooth": 3}, id="no events, smoothed"),
        pytest.param([], {"method": "quantile"}, id="no events, quantile"),
        pytest.param([], {"method": "mad", "smooth": 2}, id="no events, mad smoothed"),
        pytest.param(SPIKY, {"window": 10}, id="one item"),
        pytest.param(
            SPIKY
            + [(m, "B", "order", 1 + m % 3) for m in range(30, 60)]
            + [(59, "B", "order", 20)],
            {"window": 10},
            id="an item starting late",
        ),
        pytest.param(
            SPIKY + [(m, "D", "delivery", 50) for m in range(0, 60, 7)],
            {"window": 10},
            id="a delivery-only item",
        ),
        pytest.param(
            [(m, "D", "delivery", 5 + 40 * (m == 35)) for m in range(40)],
            {"window": 10, "column": "supply"},
            id="watching supply",
        ),
        pytest.param(
            [(m, "D", "delivery", 1 + 4 * (m == 35)) for m in range(40)],
            {"window": 10, "column": "deliveries", "k": 1.0},
            id="watching deliveries",
        ),
        pytest.param([(0, "A", "order", 3)], {"window": 10}, id="a single event"),
    ],
)
def test_detect_alerts_edge_cases(
    rows: list[tuple[float, str, str, int]], options: dict[str, Any]
) -> None:
    events = event_frame(rows)
    assert_same_alerts(detect_alerts(events, "1m", **options), composed(events, "1m", **options))


def test_detect_alerts_finds_the_spike_and_ignores_initial() -> None:
    events = event_frame(SPIKY)
    found = detect_alerts(events, window=10)
    assert found.frame.select("item_id", "start", "peak_demand").rows() == [("A", at(40), 30)]
    for initial in (5, {"A": -3}):
        assert found.frame.equals(detect_alerts(events, window=10, initial=initial).frame)
    # ... except when the level itself is watched.
    watch_level = {"column": "level", "method": "threshold", "level": -50, "min_demand": -1e9}
    ends = [detect_alerts(events, initial=i, **watch_level).frame["end"] for i in (0, 9)]
    assert ends[0].to_list() == [at(19)]
    assert ends[1].to_list() == [at(23)]


@pytest.mark.parametrize("form", ["pandas", "lazy"])
def test_detect_alerts_accepts_pandas_and_lazy_events(form: str) -> None:
    events = event_frame(SPIKY)
    given_events = events.to_pandas() if form == "pandas" else events.lazy()
    found = detect_alerts(given_events, window=10, suppliers={"A": "S1"})
    assert_same_alerts(found, composed(events, window=10, suppliers={"A": "S1"}))
    assert found.frame["supplier_id"].to_list() == ["S1"]


def test_detect_alerts_ids_match_the_cli_parameters() -> None:
    """cmd detect passes its options as params; explicit defaults must not change the ids."""
    events = event_frame(SPIKY)
    found = detect_alerts(events, window=10, k=3.0, min_demand=0, smooth=1)
    spelled = alerts(
        detect_spikes(resample(events, "1m"), window=10),
        params={"method": "zscore", "k": 3.0, "min_demand": 0.0, "window": 10},
        every="1m",
    )
    assert found.frame["alert_id"].to_list() == spelled.frame["alert_id"].to_list()


def test_detect_alerts_on_many_items_in_small_batches() -> None:
    rows = [
        (m, f"sku-{i:04d}", "order", 2 + (m == 30) * 20 * (i % 2))
        for i in range(60)
        for m in range(32)
    ]
    events = event_frame(rows)
    with mock.patch.object(alerts_module, "_BATCH_ROWS", 50):
        found = detect_alerts(events, window=8)
    assert len(found) == 30
    assert_same_alerts(found, composed(events, window=8))


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"method": "nope"}, ValueError, "unknown method 'nope'"),
        ({"window": 0}, ValueError, "window must be an integer >= 1"),
        ({"span": 3}, TypeError, "unexpected option"),
        ({"column": "price"}, ValueError, "column='price' cannot be watched; choose one of"),
        ({"column": "ts"}, TypeError, "column='ts' cannot be watched"),
        ({"merge_gap": -1}, ValueError, "merge_gap must be an integer >= 0"),
        ({"cooldown": 1.5}, ValueError, "cooldown must be an integer >= 0"),
        ({"every": "1mo"}, ValueError, "every"),
        ({"initial": "lots"}, TypeError, "initial must be an integer"),
        ({"suppliers": pl.DataFrame({"item_id": ["A"]})}, ValueError, "supplier_id"),
        ({"method": "threshold", "level": {"B": 1}}, ValueError, r"no entry for item\(s\) \['A'\]"),
        ({"method": "seasonal", "period": "90s"}, ValueError, "not a whole number of buckets"),
    ],
)
def test_detect_alerts_input_errors(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    events = event_frame(SPIKY)
    with pytest.raises(error, match=match):
        detect_alerts(events, **options)


def test_detect_alerts_refuses_bad_events() -> None:
    from stockseries.events import EventValidationError

    bad = event_frame(SPIKY).with_columns(pl.lit("refund").alias("kind"))
    with pytest.raises(EventValidationError, match="kind"):
        detect_alerts(bad)
