"""Tests for stockseries.charts: encodings, titles, large series, offline rendering."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import altair as alt
import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockseries.notebook import (
    DEMAND_TITLE,
    LEVEL_TITLE,
    OUTCOME_COLORS,
    TIME_TITLE,
    alert_timeline,
    classify,
    demand_chart,
    enable_offline,
    evaluation_chart,
    level_chart,
    pr_curve,
    render,
    to_svg,
)
from stockseries.notebook._chartdata import downsample

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def minutes(m: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=m)


def detection(n_items: int = 2, n: int = 240, seed: int = 0, spike_at: int = 150) -> pl.DataFrame:
    """A detection-shaped frame: Poisson demand with one spike per item."""
    rng = np.random.default_rng(seed)
    ts = pl.datetime_range(T0, minutes(n - 1), "1m", eager=True, time_zone="UTC")
    frames = []
    for i in range(n_items):
        demand = rng.poisson(3, n)
        demand[spike_at : spike_at + 5] += 40
        frames.append(pl.DataFrame({"item_id": f"item-{i}", "ts": ts, "demand": demand}))
    df = pl.concat(frames)
    x = pl.col("demand").cast(pl.Float64)
    df = df.with_columns(
        baseline=x.shift(1).rolling_mean(30).over("item_id"),
        spread=x.shift(1).rolling_std(30).over("item_id"),
    )
    df = df.with_columns(threshold=pl.col("baseline") + 3 * pl.col("spread"))
    return df.with_columns(
        score=(x - pl.col("baseline")) / pl.col("spread"),
        sufficient=pl.col("baseline").is_not_null(),
        flagged=(x > pl.col("threshold")).fill_null(False),
        level=(200 - pl.col("demand").cum_sum().over("item_id")),
    )


def alerts_frame(spec: list[tuple[str, int, int, float]]) -> pl.DataFrame:
    """Alerts from (item, start minute, end minute, excess)."""
    return pl.DataFrame(
        {
            "alert_id": [f"a{i}" for i in range(len(spec))],
            "item_id": [s[0] for s in spec],
            "start": [minutes(s[1]) for s in spec],
            "end": [minutes(s[2]) for s in spec],
            "buckets": [s[2] - s[1] + 1 for s in spec],
            "peak_demand": [40 + i for i in range(len(spec))],
            "peak_ts": [minutes(s[1]) for s in spec],
            "threshold": [9.5] * len(spec),
            "score": [7.0] * len(spec),
            "excess": [s[3] for s in spec],
            "supplier_id": ["S1"] * len(spec),
        },
        schema_overrides={"start": pl.Datetime("us", "UTC"), "end": pl.Datetime("us", "UTC")},
    )


def labels_frame(spec: list[tuple[str, int, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "item_id": [s[0] for s in spec],
            "start": [minutes(s[1]) for s in spec],
            "end": [minutes(s[2]) for s in spec],
            "multiplier": [5.0] * len(spec),
        },
        schema={
            "item_id": pl.String,
            "start": pl.Datetime("us", "UTC"),
            "end": pl.Datetime("us", "UTC"),
            "multiplier": pl.Float64,
        },
    )


def layers_of(chart: Any) -> list[Any]:
    return list(chart.layer)


def datasets(chart: Any) -> dict[str, list[dict[str, Any]]]:
    return chart.to_dict()["datasets"]


@pytest.fixture(scope="module")
def detected() -> pl.DataFrame:
    return detection()


@pytest.fixture(scope="module")
def found() -> pl.DataFrame:
    return alerts_frame([("item-0", 150, 154, 180.0), ("item-1", 150, 153, 120.0)])


# -- demand_chart --------------------------------------------------------------------------


def test_demand_chart_one_item_layers_and_titles(detected, found):
    chart = demand_chart(detected, found, items="item-0", overview=False)
    assert isinstance(chart, alt.LayerChart)
    spec = chart.to_dict()
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks[:3] == ["area", "line", "line"]  # band, demand, threshold
    assert "rect" in marks  # alert span
    band = spec["layer"][0]["encoding"]
    assert (band["y"]["field"], band["y2"]["field"]) == ("baseline", "threshold")
    assert band["y"]["title"] == DEMAND_TITLE
    assert band["x"]["title"] == TIME_TITLE
    assert band["x"]["scale"] == {"type": "utc"}
    assert spec["title"]["text"] == "Demand — item-0"
    peak = next(layer for layer in spec["layer"] if layer["mark"].get("shape") == "triangle-down")
    tooltip_fields = {t["field"] for t in peak["encoding"]["tooltip"]}
    # every alert field is in the tooltip (datetimes through their UTC text twin)
    assert {
        "alert_id",
        "item_id",
        "start_utc",
        "end_utc",
        "peak_ts_utc",
        "excess",
        "supplier_id",
    } <= tooltip_fields


def test_demand_chart_several_items_stack(detected, found):
    chart = demand_chart(detected, found)
    assert isinstance(chart, alt.VConcatChart)
    titles = [c.title["text"] for c in chart.vconcat[:-1]]
    assert titles == ["Demand — item-0", "Demand — item-1"]
    assert chart.vconcat[-1].height == 50  # the overview strip with the brush


def test_demand_chart_picks_items_with_most_severe_alerts():
    frame = detection(n_items=8, n=120, spike_at=60)
    found = alerts_frame([("item-5", 60, 62, 10.0), ("item-2", 60, 61, 99.0)])
    chart = demand_chart(frame, found, max_items=3, overview=False)
    titles = [c.title["text"].split(" — ")[1] for c in chart.vconcat]
    assert titles[:2] == ["item-2", "item-5"]
    assert len(titles) == 3


def test_demand_chart_ignores_alerts_of_unknown_items_when_picking():
    frame = detection(n_items=8, n=120, spike_at=60)
    found = alerts_frame([("elsewhere", 60, 62, 1e6), ("item-4", 60, 61, 5.0)])
    titles = [
        c.title["text"] for c in demand_chart(frame, found, max_items=2, overview=False).vconcat
    ]
    assert titles[0] == "Demand — item-4" and len(titles) == 2


def test_demand_chart_without_alerts_marks_flagged_buckets(detected):
    spec = demand_chart(detected, items="item-0", overview=False).to_dict()
    assert any(
        "transform" in layer and layer["mark"]["type"] == "circle" for layer in spec["layer"]
    )


def test_demand_chart_plain_series_draws_demand_only():
    series = detection(1).select("item_id", "ts", "demand")
    spec = demand_chart(series, tooltips=False).to_dict()
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["line"]


def test_demand_chart_accepts_pandas(detected, found):
    chart = demand_chart(detected.to_pandas(), found.to_pandas(), items=["item-1"], overview=False)
    assert chart.to_dict()["title"]["text"] == "Demand — item-1"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"items": "nope"}, ValueError, r"items not in the detection frame: \['nope'\]"),
        ({"items": []}, ValueError, "items is empty"),
        ({"max_points": 1}, ValueError, "max_points must be an integer >= 2"),
        ({"max_items": 0}, ValueError, "max_items must be an integer >= 1"),
    ],
)
def test_demand_chart_rejects_bad_arguments(detected, kwargs, error, match):
    with pytest.raises(error, match=match):
        demand_chart(detected, **kwargs)


@pytest.mark.parametrize(
    ("func", "frame", "missing"),
    [
        (demand_chart, pl.DataFrame({"item_id": ["a"], "ts": [T0]}), "demand"),
        (level_chart, pl.DataFrame({"item_id": ["a"], "ts": [T0]}), "level"),
        (alert_timeline, pl.DataFrame({"item_id": ["a"], "start": [T0]}), "end"),
        (pr_curve, pl.DataFrame({"k": [1.0], "precision": [1.0]}), "recall"),
    ],
)
def test_missing_columns_are_named(func, frame, missing):
    with pytest.raises(ValueError, match=rf"missing column\(s\) \['{missing}'\]"):
        func(frame)


def test_not_a_frame_is_a_type_error():
    with pytest.raises(TypeError, match="detected: expected a polars or pandas DataFrame"):
        demand_chart([1, 2, 3])


def test_naive_datetimes_are_taken_as_utc(detected):
    naive = detected.with_columns(pl.col("ts").dt.replace_time_zone(None))
    rows = datasets(demand_chart(naive, items="item-0", tooltips=False))
    first = next(iter(rows.values()))[0]
    assert first["ts"] == "2024-01-01T00:00:00.000Z"


def test_infinite_scores_become_null_json():
    frame = detection(1).with_columns(score=pl.lit(float("inf")))
    spec = demand_chart(frame).to_dict()
    json.dumps(spec, allow_nan=False)  # raises on NaN / inf


# -- large series ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def month() -> pl.DataFrame:
    """One item, one month of 1-minute buckets (43,200 rows) with one tall spike."""
    return detection(n_items=1, n=43_200, spike_at=20_000)


def test_month_of_minutes_renders_without_max_rows_error(month):
    assert month.height == 43_200
    chart = demand_chart(month, max_points=1000, tooltips=False)
    rows = datasets(chart)
    assert max(len(v) for v in rows.values()) <= 1000
    # each window keeps its most alarming bucket: the spike is drawn above its bar, and
    # the window's max demand is in the tooltip
    drawn = [r for v in rows.values() for r in v if "demand_max" in r]
    assert max(r["demand_max"] for r in drawn) == int(month["demand"].max())
    spike = max(drawn, key=lambda r: r["demand_max"])
    assert spike["demand"] > spike["threshold"] and spike["flagged_buckets"] >= 1
    (subtitle,) = chart.to_dict()["title"]["subtitle"]
    assert "each point: the bucket of 44 furthest past its bar" in subtitle
    svg = to_svg(chart)
    assert svg.startswith("<svg") and "Demand (units / bucket)" in svg


def test_month_of_minutes_level_chart_keeps_the_min(month):
    rows = datasets(level_chart(month, max_points=500, tooltips=False))
    drawn = [r for v in rows.values() for r in v if "level_max" in r]
    assert len(drawn) <= 500
    assert min(r["level"] for r in drawn) == int(month["level"].min())


@settings(max_examples=25, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 400), min_size=1, max_size=4),
    max_points=st.integers(2, 120),
)
def test_downsample_bounds_points_and_keeps_extremes(lengths, max_points):
    frames = [
        pl.DataFrame(
            {
                "item_id": f"i{n}-{j}",
                "ts": [minutes(m) for m in range(n)],
                "demand": [(m * 7919 + j) % 97 for m in range(n)],
            }
        )
        for j, n in enumerate(lengths)
    ]
    df = pl.concat(frames)
    out, factor = downsample(df, max_points, {"demand": pl.col("demand").max()})
    per_item = out.group_by("item_id").len()
    assert per_item["len"].max() <= max_points
    assert factor == (1 if max(lengths) <= max_points else -(-max(lengths) // max_points))
    expected = df.group_by("item_id").agg(pl.col("demand").max(), pl.col("ts").min())
    got = out.group_by("item_id").agg(pl.col("demand").max(), pl.col("ts").min())
    assert expected.sort("item_id").equals(got.sort("item_id"))


# -- level_chart -----------------------------------------------------------------------------


def test_level_chart_shades_stockouts_and_draws_zero(detected):
    outs = pl.DataFrame(
        {
            "item_id": ["item-0", "item-0"],
            "start": [minutes(10), minutes(200)],
            "end": [minutes(20), None],
            "duration": [dt.timedelta(minutes=10), None],
            "deepest_level": [-4, -9],
            "ongoing": [False, True],
        },
        schema_overrides={"end": pl.Datetime("us", "UTC"), "start": pl.Datetime("us", "UTC")},
    )
    chart = level_chart(detected, outs, items="item-0")
    spec = chart.to_dict()
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks[0] == "rect" and "rule" in marks and marks[-1] == "line"
    line = spec["layer"][-1]["encoding"]
    assert line["y"]["title"] == LEVEL_TITLE and line["x"]["title"] == TIME_TITLE
    shaded = spec["datasets"][spec["layer"][0]["data"]["name"]]
    # the ongoing stock-out is shaded to the end of the series
    assert shaded[1]["_shade_end"] == "2024-01-01T03:59:00.000Z"
    assert shaded[0]["duration"] == 10.0  # minutes
    assert "2 stock-outs shaded" in spec["title"]["subtitle"]
    assert to_svg(chart).startswith("<svg")


def test_level_chart_ranks_items_by_stockout_time():
    frame = detection(n_items=5, n=60)
    outs = pl.DataFrame(
        {
            "item_id": ["item-3", "item-1"],
            "start": [minutes(0), minutes(0)],
            "end": [minutes(5), minutes(50)],
        },
        schema_overrides={"end": pl.Datetime("us", "UTC"), "start": pl.Datetime("us", "UTC")},
    )
    chart = level_chart(frame, outs, max_items=2)
    assert [c.title.text for c in chart.vconcat] == ["Stock level — item-1", "Stock level — item-3"]


def _zoom_params(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Scale-bound interval selections (wheel zoom / drag pan) anywhere in a spec."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for param in node.get("params", []):
                if param.get("bind") == "scales":
                    found.append(param)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    return found


def _legend_names(spec: dict[str, Any], channel: str = "color") -> list[str]:
    """The entries of the explicit-domain legend on ``channel`` (first layer that has one)."""
    layers = [layer for panel in spec.get("vconcat", [spec]) for layer in panel.get("layer", [])]
    for layer in layers:
        enc = layer.get("encoding", {}).get(channel)
        if enc and "domain" in enc.get("scale", {}):
            return list(enc["scale"]["domain"])
    raise AssertionError(f"no {channel} legend with a domain")


@pytest.mark.parametrize("reduced", [False, True], ids=["every-bucket", "reduced"])
def test_level_chart_legend_names_every_mark(detected, reduced):
    outs = pl.DataFrame(
        {"item_id": ["item-0"], "start": [minutes(10)], "end": [minutes(20)]},
        schema_overrides={"end": pl.Datetime("us", "UTC"), "start": pl.Datetime("us", "UTC")},
    )
    chart = level_chart(detected, outs, max_points=50 if reduced else 1000)
    spec = chart.to_dict()
    names = _legend_names(spec)
    line = (
        ["stock level (min of window)", "min–max range of window"] if reduced else ["stock level"]
    )
    assert names == [*line, "zero (below: unmet demand)", "stock-out (shaded)"]
    # every named layer tags its data with its legend entry
    tagged = {
        t["calculate"].strip("'")
        for panel in spec["vconcat"]
        for layer in panel["layer"]
        for t in layer.get("transform", [])
        if t.get("as") == "_mark"
    }
    assert set(names) - {"zero (below: unmet demand)"} <= tagged
    svg = to_svg(chart)
    assert all(name.replace("–", "&#8211;") in svg or name in svg for name in names)


def test_level_chart_zooms_the_time_axis_unless_static(detected):
    spec = level_chart(detected).to_dict()
    zooms = _zoom_params(spec)
    assert len(zooms) == 2  # one per panel
    assert all(z["select"] == {"type": "interval", "encodings": ["x"]} for z in zooms)
    assert not _zoom_params(level_chart(detected, tooltips=False).to_dict())
    assert _zoom_params(level_chart(detected, tooltips=False, zoom=True).to_dict())


def test_evaluation_chart_zooms_and_names_its_marks():
    found = alerts_frame([("A", 10, 12, 1.0)])
    spec = evaluation_chart(found, labels_frame([("A", 8, 20)])).to_dict()
    (zoom,) = _zoom_params(spec)
    assert zoom["select"]["encodings"] == ["x"]
    title = spec["layer"][0]["encoding"]["color"]["title"]
    assert "labels" in title and "alerts" in title
    assert not _zoom_params(evaluation_chart(found, labels_frame([]), zoom=False).to_dict())


def test_alert_timeline_legend_names_bars_and_peaks(found):
    spec = alert_timeline(found).to_dict()
    assert _legend_names(spec, "shape") == ["alert (start to end)", "alert peak"]
    assert len(_zoom_params(spec)) == 1


# -- alert_timeline --------------------------------------------------------------------------


def test_alert_timeline_ranks_items_by_severity(found):
    more = pl.concat([found, alerts_frame([("item-9", 10, 12, 500.0)])])
    chart = alert_timeline(more)
    spec = chart.to_dict()
    bars = spec["layer"][0]
    assert bars["encoding"]["y"]["sort"] == ["item-9", "item-0", "item-1"]
    assert bars["encoding"]["color"]["field"] == "excess"
    assert bars["encoding"]["x"]["title"] == TIME_TITLE
    tips = {t["field"] for t in bars["encoding"]["tooltip"]}
    assert {"alert_id", "item_id", "start_utc", "end_utc", "buckets", "peak_demand", "threshold",
            "score", "excess", "supplier_id", "peak_ts_utc"} == tips  # fmt: skip
    assert to_svg(chart).startswith("<svg")


@pytest.mark.parametrize(
    ("drop", "severity"),
    [([], "excess"), (["excess"], "score"), (["excess", "score"], "peak_demand")],
)
def test_alert_timeline_severity_fallback(found, drop, severity):
    spec = alert_timeline(found.drop(drop)).to_dict()
    assert spec["layer"][0]["encoding"]["color"]["field"] == severity


def test_alert_timeline_accepts_result_object_and_empty(found):
    class Result:
        frame = found.head(0)

    chart = alert_timeline(Result())
    assert chart.to_dict()["title"]["subtitle"] == "0 alerts on 0 items; items ranked by max excess"
    assert to_svg(chart).startswith("<svg")


# -- evaluation_chart ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alert", "label", "alert_outcome", "label_outcome"),
    [
        (("A", 10, 12), ("A", 8, 20), "true positive", "label found"),  # inside
        (("A", 5, 10), ("A", 8, 20), "true positive", "label found"),  # overlaps the start
        (("A", 19, 25), ("A", 8, 20), "true positive", "label found"),  # last label minute
        (("A", 20, 25), ("A", 8, 20), "false positive", "label missed"),  # label end is open
        (("A", 2, 8), ("A", 8, 20), "false positive", "label missed"),  # alert end is open
        (("A", 2, 9), ("A", 8, 20), "true positive", "label found"),  # one shared minute
        (("A", 2, 7), ("A", 8, 20), "false positive", "label missed"),  # before
        (("B", 10, 12), ("A", 8, 20), "false positive", "label missed"),  # other item
    ],
)
def test_classify_overlap_rule(alert, label, alert_outcome, label_outcome):
    a, lab = classify(alerts_frame([(*alert, 1.0)]), labels_frame([label]))
    assert a["outcome"].to_list() == [alert_outcome]
    assert lab["outcome"].to_list() == [label_outcome]


def test_evaluation_chart_colours_outcomes():
    found = alerts_frame([("A", 10, 12, 1.0), ("B", 30, 31, 1.0)])
    labels = labels_frame([("A", 8, 20), ("C", 50, 60)])
    chart = evaluation_chart(found, labels)
    spec = chart.to_dict()
    assert spec["title"]["subtitle"] == "1 true positive, 1 false positive, 1 missed label"
    colour = spec["layer"][0]["encoding"]["color"]
    assert colour["scale"]["domain"] == list(OUTCOME_COLORS)
    assert spec["layer"][0]["encoding"]["y"]["sort"] == ["A", "B", "C"]
    assert spec["layer"][0]["encoding"]["x"]["title"] == TIME_TITLE
    assert to_svg(chart).startswith("<svg")


def test_evaluation_chart_items_filter():
    found = alerts_frame([("A", 10, 12, 1.0), ("B", 30, 31, 1.0)])
    spec = evaluation_chart(found, labels_frame([("A", 8, 20)]), items=["B"]).to_dict()
    assert spec["layer"][0]["encoding"]["y"]["sort"] == ["B"]


# -- pr_curve --------------------------------------------------------------------------------


TRIALS = pl.DataFrame(
    {
        "k": [2.0, 3.0, 3.0, 4.0],
        "window": [60, 60, 30, 60],
        "precision": [0.4, 0.7, 0.2, 0.9],
        "recall": [0.9, 0.8, 0.1, 0.5],
        "f1": [0.55, 0.75, 0.13, 0.64],
    }
)


@pytest.mark.parametrize(
    ("current", "subtitle", "highlighted"),
    [
        (None, None, 0),
        (3.0, "current k = 3", 0),
        ({"k": 3, "precision": 0.7, "recall": 0.8, "f1": 0.75}, "current k = 3", 3),
    ],
)
def test_pr_curve_marks_current(current, subtitle, highlighted):
    chart = pr_curve(TRIALS, current=current)
    spec = chart.to_dict()
    assert spec["layer"][0]["encoding"]["x"]["title"] == "Threshold multiplier k"
    assert spec["layer"][0]["encoding"]["y"]["scale"]["domain"] == [0, 1]
    assert spec["title"].get("subtitle") == subtitle
    rules = [layer for layer in spec["layer"] if layer["mark"]["type"] == "rule"]
    assert len(rules) == (0 if current is None else 1)
    big = [layer for layer in spec["layer"] if layer["mark"].get("size") == 140]
    assert sum(len(spec["datasets"][b["data"]["name"]]) for b in big) == highlighted
    assert to_svg(chart).startswith("<svg")


def test_pr_curve_keeps_best_row_per_k():
    spec = pr_curve(TRIALS).to_dict()
    data = spec["layer"][0].get("data", spec.get("data"))
    rows = spec["datasets"][data["name"]]
    at_three = {r["metric"]: r["value"] for r in rows if r["k"] == 3.0}
    assert at_three == {"precision": 0.7, "recall": 0.8, "f1": 0.75}


def test_pr_curve_accepts_tune_result_and_checks_current():
    class TuneResult:
        trials = TRIALS

    assert isinstance(pr_curve(TuneResult()), alt.LayerChart)
    with pytest.raises(ValueError, match="current needs a 'k' value"):
        pr_curve(TRIALS, current={"precision": 0.5})


# -- rendering -------------------------------------------------------------------------------


def test_to_svg_works_under_vegafusion(detected):
    with alt.data_transformers.enable("vegafusion"):
        svg = to_svg(demand_chart(detected, items="item-0", tooltips=False))
    assert svg.startswith("<svg") and "<script" not in svg


@pytest.fixture
def restore_renderer():
    before = alt.renderers.active
    yield
    alt.renderers.enable(before)


@pytest.mark.parametrize(
    ("requested", "has_anywidget", "expected"),
    [
        ("auto", False, "static"),
        ("auto", True, "jupyter"),
        ("svg", True, "svg"),
        ("jupyter", True, "jupyter"),
    ],
)
def test_enable_offline_choice(monkeypatch, restore_renderer, requested, has_anywidget, expected):
    monkeypatch.setattr(render, "find_spec", lambda name: object() if has_anywidget else None)
    assert enable_offline(requested) == expected
    names = {"svg": "svg", "static": "stockseries-static", "jupyter": render.WIDGET_RENDERER}
    assert alt.renderers.active == names[expected]


def test_enable_offline_svg_renders_without_network(restore_renderer, found):
    enable_offline("svg")
    bundle = alert_timeline(found)._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert data["image/svg+xml"].startswith("<svg")


@pytest.mark.parametrize(
    ("requested", "error"),
    [("html", ValueError), ("jupyter", ImportError)],
)
def test_enable_offline_rejects(monkeypatch, restore_renderer, requested, error):
    monkeypatch.setattr(render, "find_spec", lambda name: None)
    with pytest.raises(error):
        enable_offline(requested)


# -- with the real detector ------------------------------------------------------------------


def test_demand_chart_on_detect_spikes_output():
    from stockseries.spikes import detect_spikes

    series = detection(2).select("item_id", "ts", "demand")
    chart = demand_chart(detect_spikes(series, window=30), items="item-1")
    assert to_svg(chart).startswith("<svg")


@settings(max_examples=30, deadline=None)
@given(
    alert_spans=st.lists(
        st.tuples(st.sampled_from("AB"), st.integers(0, 50), st.integers(1, 10)), max_size=6
    ),
    label_spans=st.lists(
        st.tuples(st.sampled_from("AB"), st.integers(0, 50), st.integers(1, 10)), max_size=6
    ),
)
def test_classify_agrees_with_match_alerts(alert_spans, label_spans):
    from stockseries.alerts import match_alerts

    found = alerts_frame([(i, s, s + n, 1.0) for i, s, n in alert_spans])
    labels = labels_frame([(i, s, s + n) for i, s, n in label_spans])
    a, lab = classify(found, labels)
    matched = match_alerts(found, labels)
    per_alert = dict(
        matched.filter(pl.col("kind") == "alert").select("alert_id", "outcome").iter_rows()
    )
    assert {
        aid: ("tp" if o == "true positive" else "fp")
        for aid, o in a.select("alert_id", "outcome").iter_rows()
    } == per_alert
    missed = matched.filter((pl.col("kind") == "label") & (pl.col("outcome") == "fn")).height
    assert (lab["outcome"] == "label missed").sum() == missed
