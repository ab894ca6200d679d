"""Tests for stockseries.widgets, without a browser: set control values, read the results."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import timedelta
from typing import Any

import altair as alt
import ipywidgets as widgets
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockseries.alerts import alerts, evaluate, settings_from
from stockseries.generate import simulate
from stockseries.notebook import DEFAULT_K_GRID, Debouncer, SpikeTuner, chart_bundle, show_chart
from stockseries.notebook.tuner_engine import pr_table
from stockseries.series import resample
from stockseries.spikes import detect_spikes, spike_params


@pytest.fixture(scope="module")
def sim() -> Any:
    return simulate(6, days=1.0, seed=3)


@pytest.fixture(scope="module")
def series(sim: Any) -> pl.DataFrame:
    return resample(sim.events)


@pytest.fixture
def tuner(series: pl.DataFrame, sim: Any) -> SpikeTuner:
    """A synchronous tuner; charts go through Altair's renderer (cheaper than SVG here)."""
    return SpikeTuner(series, sim.labels, catalog=sim.catalog, debounce=0, renderer="altair")


@pytest.fixture(scope="module")
def svg_tuner(series: pl.DataFrame, sim: Any) -> SpikeTuner:
    """The offline SVG tuner; shared, so tests must not change its controls."""
    return SpikeTuner(series, sim.labels, catalog=sim.catalog, debounce=0, renderer="svg")


def shown(output: Any) -> dict[str, Any]:
    (entry,) = output.outputs
    assert entry["output_type"] == "display_data"
    return entry["data"]


def svg_of(output: Any) -> str:
    return shown(output)["image/svg+xml"]


def text_of(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def flagged(t: SpikeTuner) -> int:
    assert t.detected is not None
    return int(t.detected["flagged"].sum())


# -- construction ----------------------------------------------------------------------------


def test_initial_state(svg_tuner: SpikeTuner) -> None:
    tuner = svg_tuner
    assert tuner.error is None
    assert tuner.params == {
        "every": "1m",
        "method": "zscore",
        "window": 60,
        "k": 3.0,
        "min_demand": 0,
        "smooth": 1,
        "merge_gap": 0,
        "cooldown": 0,
        "items": ["A000", "A001", "A002"],
    }
    assert set(tuner.scores or {}) == {"precision", "recall", "f1"}
    assert isinstance(tuner.chart, alt.VConcatChart)
    assert svg_of(tuner.chart_output).startswith("<svg")
    assert svg_of(tuner.pr_output).startswith("<svg")
    assert "<table" in tuner.table.value and "Top alerts" in tuner.table.value
    assert f"{len(tuner.alerts)} alerts on 3 of 3 selected items" in text_of(tuner.status.value)
    assert tuner.trials is not None
    assert tuner.trials["k"].to_list() == sorted(DEFAULT_K_GRID)
    # detection ran for the selected items only
    assert tuner.detected is not None
    assert sorted(tuner.detected["item_id"].unique()) == ["A000", "A001", "A002"]
    # catalog: descriptions in the item list, suppliers on the alerts
    assert tuner.items.options[0] == ("A000 — Shock absorber", "A000")
    assert set(tuner.alerts.frame["supplier_id"].unique()) <= {"S00"}
    assert tuner.seconds is not None and set(tuner.timings) >= {"detect", "charts", "render"}


def test_without_labels_there_are_no_scores(series: pl.DataFrame) -> None:
    t = SpikeTuner(series, debounce=0, items=["A003"], renderer="altair")
    assert t.scores is None and t.trials is None and t.pr_chart is None
    assert t.pr_output.outputs == ()
    assert t.params["items"] == ["A003"]
    assert isinstance(t.chart, alt.VConcatChart)  # the panel and its overview strip


def test_pandas_inputs(series: pl.DataFrame, sim: Any) -> None:
    t = SpikeTuner(series.to_pandas(), sim.labels.to_pandas(), debounce=0, renderer="altair")
    assert t.error is None and t.scores is not None


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"method": "threshold"}, ValueError, "method must be one of"),
        ({"renderer": "png"}, ValueError, "renderer must be 'svg', 'widget' or 'altair'"),
        ({"items": ["nope"]}, ValueError, r"items not in the series: \['nope'\]"),
        ({"items": []}, ValueError, "items is empty"),
        ({"top": 0}, ValueError, "top must be an integer >= 1"),
        ({"max_points": 1}, ValueError, "max_points must be an integer >= 2"),
        ({"k_grid": [1.0, float("nan")]}, ValueError, "k_grid must hold finite numbers"),
        ({"debounce": -1}, ValueError, "delay must be a number of seconds >= 0"),
        ({"window": 0}, ValueError, "window must be an integer >= 1"),
    ],
)
def test_rejects_bad_arguments(series: pl.DataFrame, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        SpikeTuner(series, **kwargs)


@pytest.mark.parametrize(
    ("series_arg", "labels_arg", "match"),
    [
        (None, None, "pass a series frame, or events to resample"),
        (
            pl.DataFrame({"item_id": ["a"]}),
            None,
            r"series is missing column\(s\) \['ts', 'demand'\]",
        ),
        ("series", pl.DataFrame({"item_id": ["a"]}), r"labels is missing column\(s\)"),
    ],
)
def test_rejects_bad_frames(
    series: pl.DataFrame, series_arg: Any, labels_arg: Any, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        SpikeTuner(series if isinstance(series_arg, str) else series_arg, labels_arg)


# -- controls --------------------------------------------------------------------------------


def test_lower_k_flags_more(tuner: SpikeTuner) -> None:
    before_chart, before_shown = tuner.chart, shown(tuner.chart_output)
    before_flagged = flagged(tuner)
    tuner.k.value = 1.5
    assert tuner.params["k"] == 1.5
    assert flagged(tuner) > before_flagged
    assert tuner.chart is not before_chart and shown(tuner.chart_output) != before_shown
    tuner.k.value = 8.0
    assert flagged(tuner) < before_flagged


def test_scores_match_the_pure_functions(tuner: SpikeTuner, sim: Any) -> None:
    tuner.k.value = 4.0
    tuner.merge_gap.value = 3
    params = tuner.export_params()
    series = resample(sim.events).filter(pl.col("item_id").is_in(params["items"]))
    detected = detect_spikes(
        series,
        params["method"],
        window=params["window"],
        k=params["k"],
        min_demand=params["min_demand"],
    )
    found = alerts(
        detected, every=params["every"], merge_gap=params["merge_gap"], cooldown=params["cooldown"]
    )
    assert found.frame["start"].to_list() == tuner.alerts.frame["start"].to_list()
    labels = sim.labels.filter(pl.col("item_id").is_in(params["items"]))
    tidy = dict(evaluate(found, labels).iter_rows())
    assert tuner.scores == {m: tidy[m] for m in ("precision", "recall", "f1")}


def test_window_and_episode_controls(tuner: SpikeTuner) -> None:
    tuner.window.value = 20
    assert tuner.params["window"] == 20
    assert tuner.detected is not None
    assert tuner.detected["sufficient"].sum() > 0
    episodes = len(tuner.alerts)
    tuner.merge_gap.value = 30
    assert len(tuner.alerts) <= episodes
    tuner.cooldown.value = 240
    assert tuner.params["cooldown"] == 240
    gaps = (
        tuner.alerts.frame.sort("item_id", "start")
        .select((pl.col("start") - pl.col("end").shift(1)).over("item_id").alias("gap"))
        .drop_nulls()["gap"]
    )
    assert gaps.min() is None or gaps.min() >= timedelta(hours=4)  # 240 one-minute buckets
    tuner.min_demand.value = 1000
    assert len(tuner.alerts) == 0
    assert "0 alerts on 0 of 3 selected items" in tuner.status.value.replace("<b>", "").replace(
        "</b>", ""
    )


@pytest.mark.parametrize(
    ("method", "window", "k_enabled"),
    [("mad", 60, True), ("ewma", 60, True), ("quantile", 60, False), ("seasonal", 7, True)],
)
def test_method_change(tuner: SpikeTuner, method: str, window: int, k_enabled: bool) -> None:
    tuner.method.value = method
    assert tuner.params["method"] == method
    assert tuner.window.value == window  # the method's default window
    assert tuner.k.disabled is not k_enabled
    assert (tuner.params["k"] is not None) is k_enabled
    assert tuner.error is None
    if k_enabled:
        assert "text/html" in shown(tuner.pr_output)
    else:
        assert shown(tuner.pr_output)["text/plain"] == "k does not apply to method 'quantile'"


def test_items_change(tuner: SpikeTuner) -> None:
    tuner.items.value = ("A004",)
    assert tuner.params["items"] == ["A004"]
    assert tuner.detected is not None
    assert tuner.detected["item_id"].unique().to_list() == ["A004"]
    assert tuner.chart is not None
    assert tuner.chart.to_dict()["vconcat"][0]["title"]["text"] == "Demand — A004"


def test_a_failed_update_keeps_the_last_result(tuner: SpikeTuner) -> None:
    last_alerts, last_params = tuner.alerts, tuner.params
    tuner.items.value = ()
    assert tuner.error == "select at least one item"
    assert "Not updated" in tuner.status.value
    assert tuner.alerts is last_alerts and tuner.params == last_params
    tuner.items.value = ("A001",)
    assert tuner.error is None and tuner.params["items"] == ["A001"]


# -- precision/recall versus k -----------------------------------------------------------------


def test_moving_only_k_reuses_the_curve(tuner: SpikeTuner) -> None:
    trials = tuner.trials
    tuner.k.value = 4.0  # on the grid
    assert tuner.trials is trials
    tuner.k.value = 4.2  # off the grid: recomputed with 4.2 added
    assert tuner.trials is not trials
    assert tuner.trials is not None and 4.2 in tuner.trials["k"].to_list()
    again = tuner.trials
    tuner.window.value = 30
    assert tuner.trials is not again


@settings(max_examples=8, deadline=None)
@given(
    k=st.floats(0.5, 8.0).map(lambda v: round(v, 1)),
    method=st.sampled_from(["zscore", "mad", "ewma"]),
    min_demand=st.integers(0, 3),
)
def test_curve_equals_rerunning_detection(
    series: pl.DataFrame, sim: Any, k: float, method: str, min_demand: int
) -> None:
    """The cheap curve (threshold moved on one detection) equals detect_spikes at that k."""
    items = ["A000", "A001"]
    part = series.filter(pl.col("item_id").is_in(items))
    labels = sim.labels.filter(pl.col("item_id").is_in(items))
    params = spike_params(method, k=3.0, min_demand=min_demand, window=30)
    base = detect_spikes(part, **params)
    trials = pr_table(base, labels, sorted({k, 1.5, 6.0}), params, {"every": "1m"})
    row = trials.filter(pl.col("k") == k).row(0, named=True)
    rerun = detect_spikes(part, method, window=30, k=k, min_demand=min_demand)
    tidy = dict(evaluate(alerts(rerun, every="1m"), labels).iter_rows())
    assert row == {
        "k": k,
        "precision": tidy["precision"],
        "recall": tidy["recall"],
        "f1": tidy["f1"],
    }


# -- bucket size -----------------------------------------------------------------------------


def test_bucket_size_without_events_is_native_only(tuner: SpikeTuner) -> None:
    assert list(tuner.every.options) == ["1m"]
    assert tuner.every.disabled


def test_bucket_size_with_events_resamples(sim: Any) -> None:
    t = SpikeTuner(None, sim.labels, events=sim.events, debounce=0, window=12, renderer="altair")
    assert list(t.every.options) == ["1m", "5m", "15m", "1h"]
    assert not t.every.disabled
    t.every.value = "5m"
    assert t.params["every"] == "5m"
    assert t.detected is not None
    steps = t.detected.filter(pl.col("item_id") == "A000")["ts"].diff().drop_nulls().unique()
    assert steps.to_list() == [timedelta(minutes=5)]
    assert t.error is None and t.scores is not None


def test_native_bucket_is_inferred(series: pl.DataFrame) -> None:
    coarse = (
        series.group_by("item_id", pl.col("ts").dt.truncate("15m"))
        .agg(pl.col("demand").sum())
        .sort("item_id", "ts")
    )
    t = SpikeTuner(coarse, debounce=0, window=8, renderer="altair")
    assert t.params["every"] == "15m"


# -- exports and display ---------------------------------------------------------------------


def test_exports(tuner: SpikeTuner, tmp_path: Any) -> None:
    tuner.k.value = 5.0
    params = tuner.export_params()
    assert params == tuner.params and params is not tuner.params
    assert json.loads(tuner.export_json()) == params
    written = tmp_path / "params.json"
    tuner.export_json(written)
    assert json.loads(written.read_text()) == params
    frame = tuner.export_alerts()
    assert frame.equals(tuner.alerts.frame)


@pytest.mark.parametrize(
    ("name", "read"),
    [("a.csv", pl.read_csv), ("a.parquet", pl.read_parquet), ("a.ndjson", pl.read_ndjson)],
)
def test_export_alerts_files(tuner: SpikeTuner, tmp_path: Any, name: str, read: Any) -> None:
    tuner.export_alerts(tmp_path / name)
    back = read(tmp_path / name)
    assert back["alert_id"].to_list() == tuner.alerts.frame["alert_id"].to_list()


def test_export_alerts_rejects_unknown_extension(tuner: SpikeTuner, tmp_path: Any) -> None:
    with pytest.raises(ValueError, match=r"unsupported extension '.xlsx'"):
        tuner.export_alerts(tmp_path / "a.xlsx")


def test_display(svg_tuner: SpikeTuner) -> None:
    tuner = svg_tuner
    bundle, metadata = tuner._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == tuner.panel.model_id
    assert "image/png" in bundle and "image/png" in metadata  # the picture beside the view
    assert repr(tuner).startswith("SpikeTuner(items=3, method='zscore', window=60, k=3.0, alerts=")
    assert "ss-tuner" in tuner.panel._dom_classes
    assert "ss-tuner-k" in tuner.k._dom_classes


def test_altair_renderer_uses_the_active_renderer(series: pl.DataFrame) -> None:
    with alt.renderers.enable("json"):
        t = SpikeTuner(series, debounce=0, renderer="altair", items=["A000"])
        (entry,) = t.chart_output.outputs
    assert "application/json" in entry["data"]
    assert t.chart is not None
    assert entry["data"]["application/json"]["vconcat"][0]["title"]["text"] == "Demand — A000"


def test_chart_helpers(svg_tuner: SpikeTuner) -> None:
    chart = svg_tuner.pr_chart
    assert chart is not None
    bundle = chart_bundle(chart)
    assert bundle["image/svg+xml"].startswith("<svg")
    with pytest.raises(ValueError, match="renderer must be"):
        chart_bundle(chart, "png")  # type: ignore[arg-type]
    output = widgets.Output()
    show_chart(output, chart)
    assert svg_of(output) == bundle["image/svg+xml"]
    show_chart(output, None)
    assert output.outputs == ()


# -- debouncing ------------------------------------------------------------------------------


def test_debounced_tuner_waits_then_recomputes(series: pl.DataFrame) -> None:
    t = SpikeTuner(series, debounce=30, items=["A000"], renderer="altair")
    assert t.params["k"] == 3.0  # the constructor computes straight away
    t.k.value = 6.0
    t.k.value = 7.0
    assert t.params["k"] == 3.0 and t._debouncer.pending
    t._debouncer.flush()
    assert t.params["k"] == 7.0 and not t._debouncer.pending


def test_debouncer_coalesces_a_burst_on_a_timer_thread() -> None:
    fired = threading.Event()
    calls: list[float] = []

    def record() -> None:
        calls.append(time.monotonic())
        fired.set()

    debounced = Debouncer(0.05, record)
    for _ in range(5):
        debounced()
    assert fired.wait(5)
    time.sleep(0.1)
    assert len(calls) == 1 and not debounced.pending


def test_debouncer_cancel_and_flush() -> None:
    calls: list[int] = []
    debounced = Debouncer(60, lambda: calls.append(1))
    debounced.flush()  # nothing pending: no call
    debounced()
    debounced.cancel()
    assert calls == [] and not debounced.pending
    debounced()
    debounced.flush()
    assert calls == [1]


def test_debouncer_inside_an_event_loop() -> None:
    import asyncio

    calls: list[str] = []

    async def main() -> None:
        debounced = Debouncer(0.01, lambda: calls.append(threading.current_thread().name))
        debounced()
        debounced()
        await asyncio.sleep(0.1)

    asyncio.run(main())
    assert calls == [threading.main_thread().name]


def test_smooth_control_reaches_the_detector(svg_tuner: SpikeTuner) -> None:
    tuner = svg_tuner
    tuner.smooth.value = 5
    tuner.refresh()
    assert tuner.params["smooth"] == 5
    assert tuner.detected is not None and "signal" in tuner.detected.columns
    tuner.smooth.value = 1
    tuner.refresh()
    assert "signal" not in tuner.detected.columns


# -- the tuner explains itself (issue 12 item 4) -----------------------------------------------


def test_method_options_come_from_the_method_table(tuner: SpikeTuner) -> None:
    tuner.method.value = "quantile"
    (q,) = tuner.method_controls.box.children
    assert "q" in q.description and tuner.params["q"] == 0.99
    q.value = "0.95"
    assert tuner.params["q"] == 0.95 and tuner.error is None
    tuner.method.value = "ewma"
    names = [w.description for w in tuner.method_controls.box.children]
    assert names == ["span (buckets)", "half life (buckets)"]
    tuner.method_controls.widgets["ewma"]["span"].value = "30"
    assert tuner.params["span"] == 30.0
    tuner.method.value = "quantile"  # switching back keeps what was typed
    assert tuner.params["q"] == 0.95


def test_method_change_keeps_the_window_or_says_why_not(tuner: SpikeTuner) -> None:
    tuner.window.value = 45
    tuner.method.value = "mad"
    assert tuner.window.value == 45 and tuner.notes == ["Window kept at 45 buckets for mad."]
    tuner.method.value = "seasonal"
    assert tuner.window.value == 7 and tuner.window.description == "Window (days)"
    assert tuner.notes[0] == (
        "Window set to 7 days for seasonal: its window counts days, not buckets (it was 45 buckets)."
    )
    tuner.method_controls.widgets["seasonal"]["weekly"].value = True
    assert tuner.window.description == "Window (weeks)"


def test_too_little_history_shows_a_message_not_an_empty_chart(tuner: SpikeTuner) -> None:
    tuner.method.value = "seasonal"  # 7 days of history; the data spans 1
    (message,) = [n for n in tuner.notes if n.startswith("No bucket")]
    assert "needs 7 days of history" in message and "the data spans 1" in message
    assert tuner.chart is None
    assert shown(tuner.chart_output)["text/plain"] == message
    assert message in tuner.status.value


def test_typed_numbers_are_never_clamped(tuner: SpikeTuner) -> None:
    tuner.window.value = 5000
    assert tuner.params["window"] == 5000 and tuner.error is None
    assert any("5000 buckets" in n for n in tuner.notes)
    tuner.cooldown.value = -1
    assert tuner.error == "cooldown must be at least 0, got -1"
    assert tuner.cooldown.value == -1  # kept as typed; the panel says why it was not used


def test_alerts_are_marked_against_labels(tuner: SpikeTuner) -> None:
    table = text_of(tuner.table.value)
    assert "✓ matches a label" in table and "✗ false alarm (no label)" in table
    rows = tuner._table_rows
    assert set(rows["match"].unique()) <= {"✓ matches a label", "✗ false alarm (no label)"}
    spec = tuner.chart.to_dict() if tuner.chart is not None else {}
    assert "alert: matches a label" in json.dumps(spec)  # and on the chart


def test_selecting_an_alert_zooms_the_chart(tuner: SpikeTuner) -> None:
    first = tuner._table_rows.row(0, named=True)
    tuner.alert_list.value = 0
    assert tuner._zoom is not None and tuner._zoom[0] == first["item_id"]
    assert tuner.chart is not None
    panel = tuner.chart.to_dict()["vconcat"][0]
    assert panel["title"]["text"] == f"Demand — {first['item_id']}"
    assert "zoomed to an alert" in tuner.page_label.value
    tuner.zoom_to(None)
    assert tuner._zoom is None and "page 1 of 1" in tuner.page_label.value


def test_marks_export_as_labels(tuner: SpikeTuner, tmp_path: Any) -> None:
    tuner.alert_list.value = 0
    tuner.mark(True)
    tuner.alert_list.value = 1
    tuner.mark(False)
    assert list(tuner.feedback.values()) == [True, False]
    assert "true" in text_of(tuner.table.value)
    labels = tuner.export_labels(tmp_path / "labels.csv")
    first = tuner._table_rows.row(0, named=True)
    assert labels.rows() == [(first["item_id"], first["start"], first["end"])]
    assert pl.read_csv(tmp_path / "labels.csv").height == 1


def test_item_search_and_pages(series: pl.DataFrame, sim: Any) -> None:
    items = sorted(series["item_id"].unique().to_list())
    t = SpikeTuner(series, sim.labels, items=items, page_size=4, debounce=0, renderer="altair")
    assert t.chart is not None and len(t.chart.to_dict()["vconcat"]) == 5  # 4 panels + overview
    assert "charting 4 of 6 selected items (page 1 of 2)" in t.page_label.value
    t.show_page(1)
    assert "charting 2 of 6 selected items (page 2 of 2)" in t.page_label.value
    assert t.next_page.disabled and not t.previous_page.disabled
    t.items.value = ("A000",)
    t.search.value = "A005"
    assert [value for _, value in t.items.options] == ["A000", "A005"]  # selection stays
    assert t.items.value == ("A000",)


def test_fixed_bucket_size_says_why(tuner: SpikeTuner) -> None:
    assert tuner.every.disabled and "pass events=" in tuner.every_hint.value


# -- every method and option of the method table (issue 11 item 9) -----------------------------


def test_profile_has_its_own_controls_and_no_window(tuner: SpikeTuner) -> None:
    tuner.method.value = "profile"
    names = [w.description for w in tuner.method_controls.box.children]
    assert names == ["period", "seasons (periods)", "smooth span"]
    common = {w.description: w.value for w in tuner.method_controls.common_box.children}
    assert common == {"direction": "up", "transform": "log1p", "robust": True}  # its defaults
    assert tuner.window.disabled and tuner.window.description == "Window (not used)"
    assert tuner.notes[0].startswith("Window does not apply to profile: median of the same slot")
    assert tuner.params["window"] is None
    assert (tuner.params["period"], tuner.params["seasons"]) == ("1w", 4)
    # one day of data: nothing can be judged, and the panel says why instead of an empty chart
    (message,) = [n for n in tuner.notes if n.startswith("No bucket")]
    assert "needs 7 days of history (1 full period of 1w before its first judgement" in message
    assert "its median uses up to 4" in message and "the data spans 1" in message
    assert tuner.chart is None and shown(tuner.chart_output)["text/plain"] == message
    assert list(tuner.method_controls.common["profile"]["transform"].options) == [
        "none",
        "sqrt",
        "log1p",
    ]
    tuner.method_controls.common["profile"]["transform"].value = "none"
    assert tuner.params["transform"] is None and tuner.error is None  # none is a choice here
    tuner.method.value = "mad"  # back to a window: the value typed before is kept
    assert not tuner.window.disabled and tuner.params["window"] == 60
    assert tuner.notes[0] == "Window kept at 60 buckets for mad."


def test_a_profile_with_enough_history_is_charted(sim: Any) -> None:
    # The profile judges from its fourth day on (a day of blocks for the level and its
    # variance, another for the robust pass).
    longer = simulate(2, days=4.0, seed=4)
    t = SpikeTuner(resample(longer.events), longer.labels, debounce=0, renderer="altair")
    t.method.value = "profile"
    t.method_controls.widgets["profile"]["period"].value = "1d"
    assert t.error is None and not [n for n in t.notes if n.startswith("No bucket")]
    assert t.detected is not None and t.detected["sufficient"].any() and t.chart is not None
    # (at the panel's k, not the method's default)
    want = detect_spikes(resample(longer.events), "profile", period="1d", k=t.params["k"])
    assert t.detected["flagged"].any()
    assert t.detected["flagged"].to_list() == want["flagged"].to_list()


def test_direction_and_transform_reach_the_detector(
    tuner: SpikeTuner, series: pl.DataFrame
) -> None:
    common = tuner.method_controls.common["zscore"]
    assert [w.description for w in tuner.method_controls.common_box.children] == [
        "direction",
        "transform",
        "robust",
    ]
    assert list(common["direction"].options) == ["up", "down", "both"]
    assert common["transform"].value == "none" and "transform" not in tuner.params
    common["direction"].value = "both"
    assert tuner.params["direction"] == "both" and tuner.detected is not None
    assert "lower" in tuner.detected.columns
    assert "lower bar (dashed)" in json.dumps(tuner.chart.to_dict() if tuner.chart else {})
    common["transform"].value = "sqrt"
    common["robust"].value = True
    params = tuner.export_params()
    assert (params["transform"], params["robust"]) == ("sqrt", True) and tuner.error is None
    # the exported settings reproduce the panel's alerts
    settings = settings_from(json.loads(tuner.export_json()))
    part = series.filter(pl.col("item_id").is_in(params["items"]))
    again = alerts(
        detect_spikes(part, **settings.detection),
        params=settings.detection,
        every=params["every"],
        **settings.rules.to_dict(),
    )
    assert again.frame["alert_id"].to_list() == tuner.alerts.frame["alert_id"].to_list()
    common["direction"].value = "up"  # back at the default: not recorded
    assert "direction" not in tuner.params


def test_level_shift_keeps_the_window_and_draws_its_signal(tuner: SpikeTuner) -> None:
    tuner.method.value = "level_shift"
    assert tuner.notes[0] == "Window kept at 60 buckets for level_shift."
    assert tuner.error is None and tuner.detected is not None
    assert "signal" in tuner.detected.columns  # the recent median it compares
    assert tuner.trials is not None  # k applies
