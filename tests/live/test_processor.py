"""Tests for stockseries.live.processor: the incremental engine and its contract.

The central property is THE CONTRACT of :class:`StreamProcessor`: whatever the split of the
events into frames and whatever the arrival order within the allowed lateness, the closed
series and alerts after ``flush`` equal ``resample`` + ``detect_spikes`` + ``alerts`` run in
batch on the same events (compared exactly with ``polars.testing.assert_frame_equal``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from stockseries.alerts.rules import EpisodeRules
from stockseries.events import EventValidationError, validate_events
from stockseries.generate import iter_frames, simulate
from stockseries.live import (
    StreamProcessor,
)
from stockseries.series import resample
from stockseries.spikes.methods import METHOD_TABLE, METHODS, spike_params
from stockseries.stock import stock_levels

from .helpers import (
    T0,
    assert_contract,
    batch,
    cut,
    feed,
    late_scenario,
    make_events,
    shuffled_within,
    sustained_spikes,
)

# --------------------------------------------------------------------------- the contract


@settings(max_examples=90, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 200),
    items=st.integers(1, 4),
    minutes=st.sampled_from([3, 30, 60]),
    seed=st.integers(0, 2**32 - 1),
    every=st.sampled_from(["1m", "90s", "5m"]),
    min_periods=st.integers(1, 6),
    lateness_s=st.sampled_from([0, 45, 200]),
    method=st.sampled_from(
        ["zscore", "zscore", "mad", "quantile", "threshold", "seasonal", "profile", "level_shift"]
    ),
    direction=st.sampled_from(["up", "up", "down", "both"]),
    window=st.integers(2, 6),
    k=st.sampled_from([0.5, 1.0, 2.0]),
    min_demand=st.sampled_from([0, 4]),
    merge_gap=st.integers(0, 2),
    min_buckets=st.integers(1, 3),
    cooldown=st.integers(0, 3),
    initial=st.sampled_from([None, 10, {"item-0": 50}]),
    n_frames=st.integers(1, 12),
    generic=st.booleans(),
)
def test_incremental_equals_batch(
    n: int,
    items: int,
    minutes: int,
    seed: int,
    every: str,
    lateness_s: int,
    method: str,
    window: int,
    k: float,
    min_demand: int,
    merge_gap: int,
    min_buckets: int,
    cooldown: int,
    initial: Any,
    n_frames: int,
    generic: bool,
    min_periods: int,
    direction: str,
) -> None:
    rng = np.random.default_rng(seed)
    events = make_events(n, items=items, minutes=minutes, seed=seed, spikes=4)
    detection: dict[str, Any] = {
        "method": method,
        "window": window,
        "min_periods": min(min_periods, window),
        "min_demand": min_demand,
    }
    if method == "quantile":
        detection["q"] = 0.8
    elif method == "threshold":
        detection = {"method": method, "level": 6.0 + k, "min_periods": window}
    elif method == "seasonal":
        detection["k"], detection["period"] = k, "15m"
        detection["window"] = detection["min_periods"] = window // 2 + 1
    elif method == "profile":  # a short season, so that minutes of events hold several
        detection = {"method": method, "period": "15m", "seasons": window // 2, "k": k}
        # The bucket of a series whose items all hold one bucket is unknown to batch
        # detection, so its smoothing span cannot be converted to buckets (documented in
        # spikes/_profile.py); the span itself is tested in tests/spikes.
        detection["smooth_span"] = None
        detection["min_demand"] = min_demand
    else:
        detection["k"] = k
    if direction != "up":
        detection["direction"] = direction
    settings_ = {
        **detection,
        "every": every,
        "initial": initial,
        "merge_gap": merge_gap,
        "min_buckets": min_buckets,
        "cooldown": cooldown,
    }
    arrival = shuffled_within(events, lateness_s * 1_000_000, rng)
    frames = cut(arrival, rng.choice(n + 1, size=min(n_frames - 1, n), replace=False).tolist())
    processor = StreamProcessor(lateness=f"{lateness_s}s", **settings_)
    if generic:  # zscore has a fast path; the batch detector on the context must agree too
        processor._engine.detector.zscore_exact = False
    run = feed(processor, frames)
    assert_contract(events, run, processor, **settings_)
    # The stock after the last arrival of each item is its stock after all events.
    final = run.levels.group_by("item_id").agg(pl.col("level").last()).sort("item_id")
    expected = batch(events, **settings_)[0].group_by("item_id").agg(pl.col("level").last())
    assert_frame_equal(final, expected.sort("item_id"))
    # The running state says the same without the per-event rows.
    assert_frame_equal(processor.current_levels, final)


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("zscore", {"window": 30, "k": 3.0}),
        ("zscore", {"window": 10, "k": 2.0, "min_periods": 4, "min_demand": 5}),
        ("mad", {"window": 20, "k": 3.0}),
        ("quantile", {"window": 25, "q": 0.95}),
        ("threshold", {"level": 5.0}),
        ("threshold", {"level": 5.0, "min_periods": 15}),
        ("seasonal", {"window": 3, "period": "20m", "k": 2.0}),
        ("ewma", {"span": 8, "k": 2.5}),
        ("zscore", {"window": 5, "column": "orders"}),
        ("zscore", {"window": 12, "smooth": 3}),
        ("mad", {"window": 10, "smooth": 2}),
        ("threshold", {"level": 3.0, "smooth": 4, "min_periods": 5}),
        ("seasonal", {"window": 2, "period": "30m", "smooth": 3}),
        ("ewma", {"half_life": 4, "smooth": 2, "min_periods": 10}),
    ],
)
def test_every_method_matches_batch(method: str, options: dict[str, Any]) -> None:
    sim = simulate(6, days=0.15, seed=3)
    events = sim.events
    settings_ = {"method": method, **options, "merge_gap": 1, "cooldown": 2}
    rng = np.random.default_rng(7)
    arrival = shuffled_within(events, 30_000_000, rng)
    frames = cut(arrival, rng.choice(events.height, 25, replace=False).tolist())
    processor = StreamProcessor(lateness="30s", **settings_)
    run = feed(processor, frames)
    detected, found = batch(events, **settings_)
    # ewma weighs the whole past; the processor keeps what weighs more than 2**-60.
    exact = method != "ewma"
    assert found.height > 0
    assert processor.stats["late"] == 0
    assert_frame_equal(run.series, detected, check_exact=exact, rel_tol=1e-9)
    assert_frame_equal(run.closed, found, check_exact=exact, rel_tol=1e-9)


@pytest.mark.parametrize(
    ("merge_gap", "min_buckets", "cooldown", "n_frames"),
    [(0, 1, 0, 1), (0, 2, 0, 9), (1, 1, 0, 13), (2, 3, 0, 4), (1, 1, 5, 7), (3, 2, 2, 30)],
)
def test_episodes_of_many_buckets_match_batch(
    merge_gap: int, min_buckets: int, cooldown: int, n_frames: int
) -> None:
    # Episodes beyond two flagged buckets take another summation path for their excess.
    events = sustained_spikes(100, seed=merge_gap + n_frames)
    settings_ = {
        "window": 10,
        "k": 2.0,
        "merge_gap": merge_gap,
        "min_buckets": min_buckets,
        "cooldown": cooldown,
        "suppliers": {"item-0": "S0", "item-1": "S1"},
    }
    rng = np.random.default_rng(n_frames)
    frames = cut(events, rng.choice(events.height, n_frames - 1, replace=False).tolist())
    processor = StreamProcessor(**settings_)
    run = feed(processor, frames)
    assert_contract(events, run, processor, **settings_)
    assert (run.closed.filter(pl.col("item_id") == "item-0")["buckets"] >= 3).any()


@pytest.mark.parametrize(
    ("items", "days", "seed", "settings_", "frame_size"),
    [
        (30, 0.1, 21, {"method": "mad", "window": 20, "k": 1.0, "merge_gap": 2}, 700),
        (30, 0.1, 21, {"window": 15, "k": 0.7, "merge_gap": 3, "min_buckets": 2}, 700),
        # Thousands of such episodes in one step: a plain grouped sum over that many rows
        # adds in another order than the batch episode code does.
        (300, 0.2, 1, {"window": 10, "k": 0.3, "merge_gap": 4}, None),
    ],
)
def test_excess_of_long_episodes_is_summed_as_batch_sums_it(
    items: int, days: float, seed: int, settings_: dict[str, Any], frame_size: int | None
) -> None:
    # Fractional thresholds and episodes of many flagged buckets: a float sum of more than
    # two terms depends on the order of the additions.
    events = simulate(items, days=days, seed=seed).events
    frames = [events] if frame_size is None else list(iter_frames(events, size=frame_size))
    processor = StreamProcessor(**settings_)
    run = feed(processor, frames)
    assert_contract(events, run, processor, **settings_)
    assert (run.closed["buckets"] >= 4).sum() >= 10


def test_per_item_threshold_levels_and_suppliers() -> None:
    sim = simulate(4, days=0.1, seed=5)
    level = {item: 2.0 + i for i, item in enumerate(sim.catalog["item_id"])}
    settings_ = {"method": "threshold", "level": level, "suppliers": sim.catalog}
    processor = StreamProcessor(**settings_)
    run = feed(processor, cut(sim.events, [100, 900, 1500]))
    detected, found = batch(sim.events, **settings_)
    assert_frame_equal(run.series, detected, check_exact=True)
    assert_frame_equal(run.closed, found, check_exact=True)
    assert found["supplier_id"].null_count() == 0


def test_threshold_level_missing_item_is_refused_before_any_change() -> None:
    events = make_events(50, items=3)
    processor = StreamProcessor(method="threshold", level={"item-0": 3.0, "item-1": 3.0})
    before = processor.stats
    with pytest.raises(ValueError, match=r"no entry for item\(s\) \['item-2'\]"):
        processor.push(events)
    assert processor.stats == {**before, "frames": 0}


def test_levels_equal_stock_levels_for_ordered_frames() -> None:
    events = make_events(400, items=6, seed=11)
    processor = StreamProcessor(initial={"item-1": 100})
    run = feed(processor, cut(events, [1, 50, 51, 300]))
    assert_frame_equal(run.levels, stock_levels(events, initial={"item-1": 100}))


def test_levels_come_in_replay_order_within_a_frame() -> None:
    events = make_events(30, items=2, seed=4)
    reversed_ = events.reverse()
    step = StreamProcessor(lateness="1h").push(reversed_)
    assert step.levels["ts"].is_sorted()
    assert_frame_equal(step.levels, stock_levels(reversed_))


def test_dense_series_extends_to_last_bucket_of_all_input() -> None:
    events = pl.DataFrame(
        {
            "ts": [T0, T0 + timedelta(minutes=2, seconds=5), T0 + timedelta(minutes=6)],
            "item_id": ["a", "b", "a"],
            "kind": ["delivery", "order", "order"],
            "quantity": [10, 1, 4],
        }
    )
    processor = StreamProcessor(window=2)
    run = feed(processor, cut(events, [1, 2]))
    rows = run.series.select("item_id", pl.col("ts").dt.minute().alias("minute"), "level").rows()
    assert rows == [("a", m, 10 if m < 6 else 6) for m in range(7)] + [
        ("b", m, -1) for m in range(2, 7)
    ]


def test_buckets_close_when_the_watermark_passes_their_end() -> None:
    at = [T0 + timedelta(seconds=s) for s in (10, 50, 60, 119, 150)]
    events = pl.DataFrame({"ts": at, "item_id": "a", "kind": "order", "quantity": [1, 2, 3, 4, 5]})
    processor = StreamProcessor("1m", lateness="30s", window=2)
    closed = [processor.push(events.slice(i, 1)).series.height for i in range(5)]
    # Watermarks: 0:00:-20, 0:00:20, 0:00:30, 0:01:29, 0:02:00 -> bucket 0:00 closes at 0:01:29.
    assert closed == [0, 0, 0, 1, 1]
    assert processor.closed_until == T0 + timedelta(minutes=2)
    assert processor.watermark == T0 + timedelta(minutes=2)


def test_empty_frames_and_flush_before_any_event() -> None:
    processor = StreamProcessor()
    empty = make_events(10).clear()
    assert processor.push(empty).series.height == 0
    assert processor.flush().series.height == 0
    assert processor.tick(now=1e9).series.height == 0
    assert processor.watermark is None and processor.closed_until is None


# --------------------------------------------------------------------------- late events


@pytest.mark.parametrize("corrections", [False, True])
def test_late_events_are_kept_and_counted(corrections: bool) -> None:
    on_time, late = late_scenario()
    processor = StreamProcessor(window=20, corrections=corrections)
    first = processor.push(on_time)
    step = processor.push(late)
    assert_frame_equal(step.late, late)
    assert_frame_equal(processor.late_events, late)
    assert processor.stats["late"] == 4
    assert processor.stats["events"] == on_time.height
    assert first.late.height == 0
    rest = feed(processor, [], flush=True)
    series = pl.concat([first.series, step.series, rest.series]).sort("item_id", "ts")
    counted = pl.concat([on_time, late]).sort("ts") if corrections else on_time
    last = stock_levels(counted).group_by("item_id").agg(pl.col("level").last())
    assert_frame_equal(processor.current_levels, last.sort("item_id"))
    if not corrections:
        # Late events change nothing: the result is batch on the on-time events.
        assert step.levels.height == 0 and step.corrections.height == 0
        assert_frame_equal(series, batch(on_time, window=20)[0], check_exact=True)
        return
    # With corrections the late events count in the stock from now on and the retained
    # buckets they hit come back with their new values: applying the corrections to the
    # emitted series gives the batch series of all events.
    assert step.levels.height == 4 and processor.stats["corrected"] == 4
    assert step.corrections.height > 0
    patched = (
        series.select(resample(on_time).columns)
        .join(step.corrections, on=["item_id", "ts"], how="left", suffix="_new")
        .select(
            "item_id",
            "ts",
            *(
                pl.coalesce(f"{c}_new", c).alias(c)
                for c in ("demand", "orders", "supply", "deliveries", "level")
            ),
        )
    )
    assert_frame_equal(patched, resample(pl.concat([on_time, late]).sort("ts")), check_exact=True)


def test_corrections_only_rebuild_retained_buckets() -> None:
    on_time, late = late_scenario()
    processor = StreamProcessor(window=3, corrections=True)
    processor.push(on_time)
    step = processor.push(late)
    assert processor.closed_until == T0 + timedelta(minutes=9)  # keeps minutes 6, 7, 8
    assert processor.stats["corrected"] == 2  # the minute-8 events; minute 2 is gone
    assert set(step.corrections["ts"].dt.minute()) <= {6, 7, 8}
    # The minute-2 events still move the retained levels of their items.
    changed = step.corrections.group_by("item_id").len().sort("item_id")
    assert changed["item_id"].to_list() == ["item-0", "item-1", "item-2"]


def test_late_event_of_unknown_item_with_corrections_starts_at_the_frontier() -> None:
    on_time, _ = late_scenario()
    processor = StreamProcessor(window=5, corrections=True)
    processor.push(on_time)
    newcomer = pl.DataFrame(
        {
            "ts": [T0 + timedelta(minutes=1)],
            "item_id": ["new"],
            "kind": ["delivery"],
            "quantity": [9],
        }
    )
    processor.push(newcomer)
    series = processor.flush().series.filter(pl.col("item_id") == "new")
    assert series["level"].to_list() == [9]
    assert series["ts"].to_list() == [T0 + timedelta(minutes=9)]


# --------------------------------------------------------------------------- idle time


def test_tick_closes_buckets_after_idle_wall_time() -> None:
    now = [100.0]
    processor = StreamProcessor("10s", window=2, idle_timeout=5, clock=lambda: now[0])
    events = pl.DataFrame(
        {
            "ts": [T0 + timedelta(seconds=s) for s in (1, 12, 25)],
            "item_id": "a",
            "kind": "order",
            "quantity": [1, 2, 3],
        }
    )
    processor.push(events)  # closes 0:00 and 0:10; 0:20 is open
    assert processor.closed_until == T0 + timedelta(seconds=20)
    assert processor.tick(now=104.0).series.height == 0  # idle 4 s < 5 s
    now[0] = 106.0
    step = processor.tick()  # idle 6 s: event time taken to 0:31
    assert step.watermark == T0 + timedelta(seconds=31)
    assert step.series["ts"].to_list() == [T0 + timedelta(seconds=20)]
    assert step.series["demand"].to_list() == [3]
    # An event below the advanced watermark is now late.
    straggler = events.tail(1).with_columns(pl.lit(T0 + timedelta(seconds=29)).alias("ts"))
    assert processor.push(straggler).late.height == 1


def test_tick_without_idle_timeout_does_nothing() -> None:
    processor = StreamProcessor(clock=lambda: 0.0)
    processor.push(make_events(20, minutes=2))
    before = processor.closed_until
    assert processor.tick(now=1e9).series.height == 0
    assert processor.closed_until == before


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"every": "1mo"}, ValueError, "every"),
        ({"every": "0s"}, ValueError, "every"),
        ({"lateness": "soon"}, ValueError, "lateness"),
        ({"lateness": timedelta(seconds=-1)}, ValueError, "lateness"),
        ({"idle_timeout": "forever"}, ValueError, "idle_timeout"),
        ({"method": "magic"}, ValueError, "unknown method"),
        ({"window": 0}, ValueError, "window"),
        ({"k": float("nan")}, ValueError, "k must be"),
        ({"min_periods": 99, "window": 5}, ValueError, "min_periods"),
        ({"merge_gap": -1}, ValueError, "merge_gap"),
        ({"min_buckets": 0}, ValueError, "min_buckets"),
        ({"cooldown": 1.5}, ValueError, "cooldown"),
        ({"corrections": "yes"}, TypeError, "corrections"),
        ({"clock": 5}, TypeError, "clock"),
        ({"initial": True}, TypeError, "initial"),
        ({"initial": {"a": 1.5}}, TypeError, "initial"),
        ({"column": "price"}, ValueError, "column"),
        ({"span": 3}, TypeError, "span"),
        ({"suppliers": pl.DataFrame({"item_id": ["a"]})}, ValueError, "supplier_id"),
    ],
)
def test_bad_settings_are_refused(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        StreamProcessor(**kwargs)


_CANONICAL_BREAKS = {
    "null ts": lambda f: f.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise(pl.col("ts")).alias("ts")
    ),
    "null item": lambda f: f.with_columns(
        pl.when(pl.int_range(pl.len()) == 1)
        .then(None)
        .otherwise(pl.col("item_id"))
        .alias("item_id")
    ),
    "unknown kind": lambda f: f.with_columns(
        pl.when(pl.int_range(pl.len()) == 2)
        .then(pl.lit("refund"))
        .otherwise(pl.col("kind"))
        .alias("kind")
    ),
    "zero quantity": lambda f: f.with_columns(
        pl.when(pl.int_range(pl.len()) == 4).then(0).otherwise(pl.col("quantity")).alias("quantity")
    ),
    "null quantity": lambda f: f.with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(None)
        .otherwise(pl.col("quantity"))
        .alias("quantity")
    ),
}


@pytest.mark.parametrize("name", list(_CANONICAL_BREAKS))
def test_canonical_frame_breaking_a_rule_is_refused_as_validation_does(name: str) -> None:
    # Frames in canonical dtypes take a cheaper check; a broken rule must still give the
    # full validation error, word for word.
    broken = _CANONICAL_BREAKS[name](make_events(20, seed=4))
    with pytest.raises(EventValidationError) as expected:
        validate_events(broken)
    with pytest.raises(EventValidationError) as got:
        StreamProcessor(window=3).push(broken)
    assert str(got.value) == str(expected.value)


@pytest.mark.parametrize(
    "shape",
    [
        lambda f: f,
        lambda f: f.select("item_id", "ts", "kind", "quantity"),
        lambda f: f.with_columns(pl.lit("x").alias("note"), pl.lit(7).alias("level")),
        lambda f: f.with_columns(pl.col("quantity").cast(pl.Int32)),
        lambda f: f.lazy(),
        lambda f: f.to_pandas(),
    ],
)
def test_levels_of_any_frame_shape_match_validated_input(shape: Any) -> None:
    events = make_events(60, seed=5)
    frame = shape(events)
    levels = StreamProcessor(window=3).push(frame).levels
    canonical = validate_events(frame)
    expected = stock_levels(canonical)
    got = levels if isinstance(levels, pl.DataFrame) else pl.from_pandas(levels)
    want = expected if isinstance(expected, pl.DataFrame) else pl.from_pandas(expected)
    assert got.columns == want.columns
    assert got["level"].to_list() == want["level"].to_list()


def test_bad_frame_is_refused_and_changes_nothing() -> None:
    events = make_events(100, seed=2)
    processor = StreamProcessor(window=3)
    processor.push(events.head(50))
    broken = events.slice(50, 10).with_columns(pl.lit(-1).alias("quantity"))
    with pytest.raises(EventValidationError, match="quantity"):
        processor.push(broken)
    run = feed(processor, [events.slice(50)])
    reference = StreamProcessor(window=3)
    expected = feed(reference, [events.head(50), events.slice(50)])
    assert_frame_equal(run.series, expected.series.filter(pl.col("ts") >= run.series["ts"].min()))
    assert processor.stats["events"] == 100


def test_pandas_in_pandas_out() -> None:
    events = make_events(200, seed=8)
    processor = StreamProcessor(window=5)
    step = processor.push(events.to_pandas())
    assert isinstance(step.levels, pd.DataFrame) and isinstance(step.series, pd.DataFrame)
    assert isinstance(step.alerts_closed, pd.DataFrame)
    assert len(step.levels) == 200


def test_reprs_are_small_and_deterministic() -> None:
    processor = StreamProcessor(window=4)
    step = processor.push(make_events(50, minutes=5, seed=1))
    assert repr(step).startswith("StepResult(levels=50, series=")
    assert "ss-table" in step._repr_html_()
    assert repr(processor).startswith("StreamProcessor(every='1m', method='zscore', items=5")
    assert "events" in processor._repr_html_()
    assert processor.params["window"] == 4 and processor.params["lateness"] == "0s"


def _table_detection(name: str, direction: str = "up") -> Any:
    """The method's defaults, made small enough for a short stream."""
    spec = METHOD_TABLE[name]
    options: dict[str, Any] = {o.name: 5.0 for o in spec.options if o.kind == "level"}
    if direction != "up":
        options["direction"] = direction
    if spec.window is not None:
        options["window"] = 2 if spec.window_unit == "periods" else 10
    if any(o.name == "period" for o in spec.options):
        options["period"] = "20m"
    return spike_params(name, **options)


@pytest.mark.parametrize("direction", ["up", "both"])
@pytest.mark.parametrize("name", METHODS)
def test_every_method_of_the_table_runs_live_from_records(name: str, direction: str) -> None:
    """Records in, the method table only: a method added to the table works live too."""
    events = simulate(5, days=0.1, seed=11).events
    detection = _table_detection(name, direction)
    rules = EpisodeRules(merge_gap=1, min_buckets=2)
    frames = cut(events, list(range(0, events.height, 97)))
    run = feed(StreamProcessor("1m", detection, rules, lateness="0s"), frames)
    detected, found = batch(events, every="1m", **detection, **rules)
    assert_frame_equal(run.series, detected, check_exact=False, rel_tol=1e-9)
    assert_frame_equal(run.closed, found, check_exact=False, rel_tol=1e-9)


def test_records_and_keywords_make_the_same_processor() -> None:
    by_keywords = StreamProcessor("1m", "mad", window=20, k=2.5, merge_gap=2, cooldown=3)
    by_records = StreamProcessor(
        "1m", spike_params("mad", window=20, k=2.5), EpisodeRules(merge_gap=2, cooldown=3)
    )
    assert by_records.params == by_keywords.params
    assert StreamProcessor("1m", method="mad", window=20, k=2.5).params["method"] == "mad"
    with pytest.raises(TypeError, match="record or as keywords"):
        StreamProcessor("1m", spike_params("mad"), window=30)
    with pytest.raises(TypeError, match="record or as keywords"):
        StreamProcessor("1m", None, EpisodeRules(), merge_gap=2)
