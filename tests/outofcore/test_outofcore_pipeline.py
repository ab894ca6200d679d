"""Tests for stockseries.outofcore: the larger-than-memory pipeline.

The central property: over any layout of the events into files (hive day partitions, flat
files, several parts per partition, CSV), the out-of-core run gives the same series and the
same alerts as ``resample`` + ``detect_spikes`` + ``alerts`` in memory (frame-equal, ids
included).
"""

from __future__ import annotations

import itertools
import pickle
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from stockseries._schema import SERIES_COLUMNS
from stockseries._time import format_duration
from stockseries.alerts import alerts
from stockseries.cli import main
from stockseries.events import EventValidationError, read_events
from stockseries.generate import simulate
from stockseries.outofcore import (
    ChunkOrderError,
    GeneratedDataset,
    OutOfCoreResult,
    generate_dataset,
    run_out_of_core,
    write_partitioned,
    writer,
)
from stockseries.series import resample
from stockseries.spikes import detect_spikes

EPISODE_KEYS = ("merge_gap", "min_buckets", "cooldown")
CSV_TS = "%Y-%m-%dT%H:%M:%S%.fZ"


@pytest.fixture(scope="module")
def sim() -> Any:
    # Three days, so that day partitions, flat files and overlaps all have room.
    return simulate(4, start="2024-01-01", days=3.0, seed=5)


def in_memory(events: pl.DataFrame, **settings_: Any) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(detected series, alert frame) of the in-memory pipeline."""
    every = settings_.pop("every", "1m")
    initial = settings_.pop("initial", None)
    suppliers = settings_.pop("suppliers", None)
    episode = {key: settings_.pop(key) for key in EPISODE_KEYS if key in settings_}
    detected = detect_spikes(resample(events, every, initial), **settings_)
    found = alerts(detected, params=settings_, every=every, suppliers=suppliers, **episode)
    return detected, found.frame


def flat_files(events: pl.DataFrame, root: Path, cuts: list[int], fmt: str = "parquet") -> Path:
    """Sorted events cut at ``cuts`` into ``part-000``, ``part-001``, … files."""
    root.mkdir(parents=True, exist_ok=True)
    bounds = [0, *sorted(cuts), events.height]
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        piece = events.slice(a, b - a)
        if fmt == "parquet":
            piece.write_parquet(root / f"part-{i:03d}.parquet")
        else:
            piece.write_csv(root / f"part-{i:03d}.csv", datetime_format=CSV_TS)
    return root


def layout(kind: str, events: pl.DataFrame, root: Path) -> Path:
    if kind == "hive":
        write_partitioned(events, root)
    elif kind == "hive, two parts per day":
        # The second parts interleave in time with the first: a partition is one chunk.
        odd = pl.Series(np.arange(events.height) % 2 == 1)
        write_partitioned(events.filter(odd), root)
        write_partitioned(events.filter(~odd), root, mode="append")
    elif kind == "flat parquet":
        flat_files(events, root, [events.height // 5, events.height // 2, events.height - 7])
    elif kind == "flat csv":
        flat_files(events, root, [events.height // 3], fmt="csv")
    elif kind == "glob":
        flat_files(events, root, [events.height // 4])
        return root / "part-*.parquet"
    else:
        raise AssertionError(kind)
    return root


SETTINGS: list[dict[str, Any]] = [
    {"method": "zscore", "window": 30, "k": 4.0},
    {"method": "zscore", "window": 60, "k": 3.0, "min_demand": 3, "smooth": 5, "every": "2m"},
    {"method": "mad", "window": 20, "k": 5.0, "merge_gap": 2, "min_buckets": 2, "cooldown": 10},
    {"method": "threshold", "level": 12.0, "initial": 100},
    {"method": "ewma", "span": 30, "k": 4.0},
]


@pytest.mark.parametrize(
    "kind", ["hive", "hive, two parts per day", "flat parquet", "flat csv", "glob"]
)
@pytest.mark.parametrize(
    "settings_", SETTINGS, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items())
)
def test_same_series_and_alerts_as_in_memory(
    sim: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, settings_: dict[str, Any]
) -> None:
    monkeypatch.setattr(writer, "ROWS_PER_GROUP", 5_000)  # several row groups
    events = sim.events.select("ts", "item_id", "kind", "quantity")
    source = layout(kind, events, tmp_path / "events")
    out = tmp_path / "series.parquet"
    result = run_out_of_core(source, series_out=out, progress=False, **settings_)
    detected, found = in_memory(events, **settings_)

    assert pq.ParquetFile(out).metadata.num_row_groups > 1
    streamed = pl.read_parquet(out).sort("item_id", "ts")
    if settings_["method"] == "ewma":  # the live engine keeps 2**-60 of the past: float rounding
        assert_frame_equal(streamed, detected, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)
    else:
        assert_frame_equal(streamed, detected, check_exact=True)
    assert_frame_equal(result.alerts.frame, found, check_exact=settings_["method"] != "ewma")
    assert (result.events, result.late, result.series_rows) == (events.height, 0, detected.height)
    assert result.items == 4
    assert result.alerts.params["detection"]["method"] == settings_["method"]


@pytest.fixture(scope="module")
def realistic() -> pl.DataFrame:
    """Two weeks of the realistic simulator: weekly cycle, spikes and labelled drops."""
    sim = simulate(4, start="2024-01-01", days=14.0, seed=3, realism=True)
    return sim.events.select("ts", "item_id", "kind", "quantity")


DROP_SETTINGS: list[dict[str, Any]] = [
    {"every": "15m", "window": 30, "k": 2.0, "direction": "both", "merge_gap": 1},
    {"every": "15m", "method": "mad", "window": 20, "k": 2.5, "direction": "down", "cooldown": 4},
    {"every": "15m", "method": "profile", "period": "1d", "k": 2.0, "direction": "both"},
    {"every": "15m", "method": "level_shift", "window": 6, "k": 1.5, "direction": "both"},
]


@pytest.mark.parametrize("kind", ["hive", "flat parquet"])
@pytest.mark.parametrize(
    "settings_", DROP_SETTINGS, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items())
)
def test_drops_out_of_core_equal_in_memory(
    realistic: pl.DataFrame, tmp_path: Path, kind: str, settings_: dict[str, Any]
) -> None:
    source = layout(kind, realistic, tmp_path / "events")
    out = tmp_path / "series.parquet"
    result = run_out_of_core(source, series_out=out, progress=False, **settings_)
    detected, found = in_memory(realistic, **settings_)
    assert "down" in set(found["direction"])
    streamed = pl.read_parquet(out).sort("item_id", "ts")
    assert_frame_equal(streamed, detected, check_exact=True)
    assert_frame_equal(result.alerts.frame, found, check_exact=True)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    positions=st.lists(st.floats(0, 1), min_size=0, max_size=6),
    # Small frames cost a push each: a few hundred rows already cut inside every file.
    frame_rows=st.integers(300, 5_000),
    lateness_s=st.sampled_from([0, 30, 300]),
)
def test_any_file_boundaries_give_the_batch_result(
    sim: Any,
    tmp_path_factory: pytest.TempPathFactory,
    positions: list[float],
    frame_rows: int,
    lateness_s: int,
) -> None:
    events = sim.events.select("ts", "item_id", "kind", "quantity").head(6_000)
    points = sorted({round(p * events.height) for p in positions})
    root = flat_files(events, tmp_path_factory.mktemp("flat"), points)
    settings_ = {"method": "zscore", "window": 20, "k": 3.0, "merge_gap": 1}
    out = root.parent / f"{root.name}-series.parquet"
    result = run_out_of_core(
        root,
        series_out=out,
        progress=False,
        frame_rows=frame_rows,
        lateness=f"{lateness_s}s",
        **settings_,
    )
    detected, found = in_memory(events, **settings_)
    assert_frame_equal(pl.read_parquet(out).sort("item_id", "ts"), detected, check_exact=True)
    assert_frame_equal(result.alerts.frame, found, check_exact=True)


def test_chunks_are_read_in_time_order_whatever_their_names(sim: Any, tmp_path: Path) -> None:
    events = sim.events.select("ts", "item_id", "kind", "quantity")
    root = tmp_path / "events"
    root.mkdir()
    half = events.height // 2
    events.slice(half).write_parquet(root / "a-late.parquet")
    events.head(half).write_parquet(root / "b-early.parquet")
    result = run_out_of_core(root, window=30, k=4.0, progress=False)
    assert_frame_equal(result.alerts.frame, in_memory(events, window=30, k=4.0)[1])


def test_parts_of_a_partition_may_differ_in_columns_and_ts_storage(
    sim: Any, tmp_path: Path
) -> None:
    events = sim.events  # with event_id, customer_id, supplier_id
    root = tmp_path / "events"
    odd = pl.Series(np.arange(events.height) % 2 == 1)
    write_partitioned(events.filter(odd), root)
    slim = events.filter(~odd).select("ts", "item_id", "kind", "quantity")
    as_text = slim.with_columns(pl.col("ts").dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ"))
    for day, part in as_text.group_by(pl.col("ts").str.slice(0, 10)):
        part.write_parquet(root / f"day={day[0]}" / "part-1.parquet")
    result = run_out_of_core(root, window=30, k=4.0, progress=False)
    assert result.events == events.height
    assert_frame_equal(result.alerts.frame, in_memory(events, window=30, k=4.0)[1])


def test_a_source_folder_named_like_a_partition_is_not_one_chunk(sim: Any, tmp_path: Path) -> None:
    events = sim.events.select("ts", "item_id", "kind", "quantity")
    root = flat_files(events, tmp_path / "run=1", [events.height // 3, events.height // 2])
    result = run_out_of_core(root, progress=False)
    assert result.chunks == 3
    write_partitioned(events, tmp_path / "run=2")
    assert run_out_of_core(tmp_path / "run=2", progress=False).chunks == 3  # one per day


def test_sparse_series_and_column_choice(sim: Any, tmp_path: Path) -> None:
    events = sim.events.select("ts", "item_id", "kind", "quantity")
    write_partitioned(events, tmp_path / "events")
    out = tmp_path / "sparse.parquet"
    result = run_out_of_core(
        tmp_path / "events",
        series_out=out,
        dense=False,
        series_columns=SERIES_COLUMNS,
        progress=False,
    )
    expected = resample(events, "1m", dense=False)
    assert_frame_equal(pl.read_parquet(out).sort("item_id", "ts"), expected, check_exact=True)
    assert result.series_rows == expected.height


@pytest.mark.parametrize("suffix", [".csv", ".ndjson"])
def test_text_series_files_match_write_frame(sim: Any, tmp_path: Path, suffix: str) -> None:
    from stockseries._io import write_frame

    events = sim.events.select("ts", "item_id", "kind", "quantity").head(3_000)
    write_partitioned(events, tmp_path / "events")
    out = tmp_path / f"series{suffix}"
    run_out_of_core(
        tmp_path / "events", series_out=out, series_columns=SERIES_COLUMNS, progress=False
    )
    reference = write_frame(resample(events), tmp_path / f"reference{suffix}")
    assert sorted(out.read_text().splitlines()) == sorted(reference.read_text().splitlines())


def test_no_series_rows_still_writes_a_file_with_the_columns(tmp_path: Path) -> None:
    root = tmp_path / "events"
    root.mkdir()
    pl.DataFrame(
        {"ts": [], "item_id": [], "kind": [], "quantity": []},
        schema={
            "ts": pl.Datetime("us", "UTC"),
            "item_id": pl.String,
            "kind": pl.String,
            "quantity": pl.Int64,
        },
    ).write_parquet(root / "empty.parquet")
    out = tmp_path / "series.parquet"
    result = run_out_of_core(
        root, series_out=out, alerts_out=tmp_path / "alerts.csv", progress=False
    )
    assert (result.events, result.chunks, result.series_rows, len(result.alerts)) == (0, 0, 0, 0)
    assert pl.read_parquet(out).columns[:7] == list(SERIES_COLUMNS)
    assert "alert_id" in pl.read_csv(tmp_path / "alerts.csv").columns


# --------------------------------------------------------------------------- errors


def overlapping(sim: Any, root: Path, minutes: int = 10) -> pl.DataFrame:
    """Two day partitions: the first also holds every other event of the second's first
    ``minutes``, so it reaches past the start of the second."""
    events = sim.events.select("ts", "item_id", "kind", "quantity")
    boundary = pl.datetime(2024, 1, 2, time_zone="UTC")
    early = (pl.col("ts") >= boundary) & (pl.col("ts") < boundary + pl.duration(minutes=minutes))
    moved = early & (pl.int_range(pl.len()) % 2 == 0)
    first = events.filter((pl.col("ts") < boundary) | moved)
    second = events.filter((pl.col("ts") >= boundary) & ~moved)
    for name, part in (("day=2024-01-01", first), ("day=2024-01-02", second)):
        (root / name).mkdir(parents=True)
        part.write_parquet(root / name / "part-0.parquet")
    return events


def needed_lateness(root: Path) -> timedelta:
    """What the error should suggest: keep the second partition's first bucket open."""
    top = pl.read_parquet(root / "day=2024-01-01")["ts"].cast(pl.Int64).max()
    start = pl.read_parquet(root / "day=2024-01-02")["ts"].cast(pl.Int64).min()
    minute = 60_000_000
    needed_us = top - (start // minute + 1) * minute + 1
    return timedelta(seconds=-(-needed_us // 1_000_000))


def test_overlapping_partitions_raise_before_any_work(sim: Any, tmp_path: Path) -> None:
    overlapping(sim, tmp_path / "events")
    out = tmp_path / "series.parquet"
    with pytest.raises(ChunkOrderError, match=r"'day=2024-01-02' goes back in time") as info:
        run_out_of_core(tmp_path / "events", series_out=out, progress=False)
    error = info.value
    assert (error.chunk, error.previous) == ("day=2024-01-02", "day=2024-01-01")
    assert error.late > 0 and f"{error.late:,} of its" in str(error)
    assert timedelta(minutes=8) < error.needed == needed_lateness(tmp_path / "events")
    assert f"lateness='{format_duration(error.needed.seconds * 1_000_000)}'" in str(error)
    assert not out.exists()  # raised by the first pass, before anything was processed
    assert pickle.loads(pickle.dumps(error)).needed == error.needed


def test_the_suggested_lateness_is_enough(sim: Any, tmp_path: Path) -> None:
    events = overlapping(sim, tmp_path / "events")
    with pytest.raises(ChunkOrderError) as info:
        run_out_of_core(tmp_path / "events", progress=False)
    result = run_out_of_core(tmp_path / "events", lateness=info.value.needed, progress=False)
    assert result.late == 0
    assert_frame_equal(result.alerts.frame, in_memory(events)[1])


def test_set_aside_counts_and_returns_late_events(sim: Any, tmp_path: Path) -> None:
    overlapping(sim, tmp_path / "events")
    result = run_out_of_core(tmp_path / "events", on_late="set_aside", progress=False)
    assert result.late > 0
    assert result.late_events.height == result.late
    total = pl.read_parquet(tmp_path / "events" / "**" / "*.parquet").height
    assert result.events + result.late == total  # nothing lost


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda root: root.mkdir(), FileNotFoundError, "holds no event files"),
        (lambda root: None, FileNotFoundError, "no such event file or directory"),
        (
            lambda root: (
                root.mkdir(),
                pl.DataFrame({"a": [1]}).write_parquet(root / "_labels.parquet"),
            ),
            FileNotFoundError,
            "holds no event files",
        ),
    ],
    ids=["empty folder", "missing folder", "only underscore files"],
)
def test_no_events_is_a_clear_error(tmp_path: Path, make: Any, error: type, match: str) -> None:
    root = tmp_path / "events"
    make(root)
    with pytest.raises(error, match=match):
        run_out_of_core(root, progress=False)


def test_validation_errors_name_the_chunk(
    sim: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "ROWS_PER_GROUP", 100)  # rows reach the file early
    events = sim.events.select("ts", "item_id", "kind", "quantity")
    broken = events.with_columns(
        pl.when(pl.int_range(pl.len()) == events.height - 3)
        .then(-1)
        .otherwise(pl.col("quantity"))
        .alias("quantity")
    )
    root = tmp_path / "events"
    write_partitioned(events, root)
    bad = broken.filter(pl.col("ts").dt.day() == 3)
    bad.write_parquet(root / "day=2024-01-03" / "part-0.parquet")
    out = tmp_path / "series.csv"
    with pytest.raises(EventValidationError, match="in chunk 'day=2024-01-03'") as info:
        run_out_of_core(root, series_out=out, progress=False)
    assert (info.value.column, info.value.rule) == ("quantity", "must be an integer > 0")
    assert info.value.rows["quantity"].to_list() == [-1]
    # Two days were streamed before the error: no half-written file is left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"idle_timeout": 5}, TypeError, "idle_timeout"),
        ({"corrections": True}, TypeError, "corrections"),
        ({"on_late": "drop"}, ValueError, "on_late"),
        ({"frame_rows": 0}, ValueError, "frame_rows"),
        ({"dense": "no"}, TypeError, "dense"),
        ({"every": "1mo"}, ValueError, "every"),
        ({"method": "nope"}, ValueError, "nope"),
        ({"series_out": "x.xlsx"}, ValueError, "unknown extension"),
        ({"source": pl.DataFrame()}, TypeError, "pass a folder, glob or file path"),
    ],
)
def test_bad_settings_are_refused(
    sim: Any, tmp_path: Path, kwargs: dict[str, Any], error: type, match: str
) -> None:
    write_partitioned(sim.events.head(100), tmp_path / "events")
    if "series_out" in kwargs:
        kwargs = {"series_out": tmp_path / kwargs["series_out"]}
    source = kwargs.pop("source", tmp_path / "events")
    with pytest.raises(error, match=match):
        run_out_of_core(source, progress=False, **kwargs)


def test_outputs_inside_the_input_folder_are_refused(sim: Any, tmp_path: Path) -> None:
    write_partitioned(sim.events.head(100), tmp_path / "events")
    with pytest.raises(ValueError, match="inside the input folder"):
        run_out_of_core(
            tmp_path / "events", series_out=tmp_path / "events" / "s.parquet", progress=False
        )
    # Names starting with "_" are never read as events.
    run_out_of_core(
        tmp_path / "events", series_out=tmp_path / "events" / "_s.parquet", progress=False
    )


# --------------------------------------------------------------------------- progress, result


def test_progress_bar_is_shown_and_silenceable(
    sim: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_partitioned(sim.events.head(2_000), tmp_path / "events")
    run_out_of_core(tmp_path / "events", progress=False)
    assert capsys.readouterr().err == ""
    run_out_of_core(tmp_path / "events", progress=True)
    err = capsys.readouterr().err
    assert "out-of-core" in err and "2.00k" in err


def test_result_repr_is_small_and_deterministic(sim: Any, tmp_path: Path) -> None:
    write_partitioned(sim.events, tmp_path / "events")
    first = run_out_of_core(tmp_path / "events", window=30, k=4.0, progress=False)
    second = run_out_of_core(tmp_path / "events", window=30, k=4.0, progress=False)
    assert isinstance(first, OutOfCoreResult)
    assert repr(first) == repr(second)
    assert repr(first).startswith(f"OutOfCoreResult(events={sim.events.height:,}, chunks=3,")
    page = first._repr_html_()
    assert "peak RSS" in page and "events/s" in page
    assert first.peak_rss > 0 and first.seconds > 0 and first.events_per_second > 0


# --------------------------------------------------------------------------- writing data sets


def test_write_partitioned_round_trips_through_read_events(sim: Any, tmp_path: Path) -> None:
    files = write_partitioned(sim.events.to_pandas(), tmp_path / "events")
    assert [f.parent.name for f in files] == ["day=2024-01-01", "day=2024-01-02", "day=2024-01-03"]
    back = read_events(tmp_path / "events")
    assert back["day"].dtype == pl.Date
    assert write_partitioned(sim.events.head(0), tmp_path / "none") == []
    assert_frame_equal(back.drop("day"), sim.events, check_exact=True)


@pytest.mark.parametrize(
    ("prepare", "kwargs", "error", "match"),
    [
        (
            lambda root: (root.mkdir(), (root / "x").write_text("")),
            {},
            FileExistsError,
            "not empty",
        ),
        (lambda root: root.write_text(""), {}, NotADirectoryError, "not a folder"),
        (lambda root: None, {"mode": "overwrite"}, ValueError, "mode"),
    ],
    ids=["non-empty folder", "a file", "unknown mode"],
)
def test_write_partitioned_refusals(
    sim: Any, tmp_path: Path, prepare: Any, kwargs: dict[str, Any], error: type, match: str
) -> None:
    root = tmp_path / "events"
    prepare(root)
    with pytest.raises(error, match=match):
        write_partitioned(sim.events.head(10), root, **kwargs)


def test_write_partitioned_refuses_a_day_column(sim: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'day' column"):
        write_partitioned(sim.events.head(10).with_columns(day=pl.lit(1)), tmp_path / "events")


def test_write_partitioned_validates(tmp_path: Path) -> None:
    bad = pd.DataFrame(
        {"ts": ["2024-01-01"], "item_id": ["A"], "kind": ["refund"], "quantity": [1]}
    )
    with pytest.raises(EventValidationError, match="kind"):
        write_partitioned(bad, tmp_path / "events")


def test_generate_dataset_is_exact_partitioned_and_reproducible(tmp_path: Path) -> None:
    made = generate_dataset(tmp_path / "a", 40_000, n_items=6, days=3, seed=2, progress=False)
    again = generate_dataset(tmp_path / "b", 40_000, n_items=6, days=3, seed=2, progress=False)
    assert isinstance(made, GeneratedDataset)
    assert made.events == 40_000 and made.items == 6 and made.days >= 3
    assert repr(made) == repr(again)
    assert made.events_dir == tmp_path / "a" / "events"
    events = read_events(made.events_dir)
    assert events.height == 40_000
    assert events.columns == ["ts", "item_id", "kind", "quantity", "day"]
    assert events["ts"].is_sorted()
    assert_frame_equal(events, read_events(again.events_dir))
    assert set(events["kind"]) == {"order", "delivery"}
    labels = pl.read_parquet(made.labels_path)
    assert labels.height == made.spikes > 0
    assert pl.read_parquet(made.catalog_path).height == 6
    # Nothing but event files in the event folder: a plain Parquet scan takes it as is.
    assert pl.scan_parquet(made.events_dir).select(pl.len()).collect().item() == 40_000
    assert made.bytes > 0 and "on disk" in made._repr_html_()


def test_generate_dataset_extra_columns_and_supply_keeps_up(tmp_path: Path) -> None:
    made = generate_dataset(tmp_path / "d", 60_000, n_items=4, extra_columns=True, progress=False)
    events = read_events(made.events_dir)
    assert {"event_id", "customer_id", "supplier_id"} <= set(events.columns)
    totals = (
        events.group_by("kind").agg(pl.col("quantity").sum()).sort("kind")["quantity"].to_list()
    )
    supply, demand = totals
    assert 0.7 < supply / demand < 1.5


def test_generate_dataset_refuses_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_events"):
        generate_dataset(tmp_path / "x", 0, progress=False)
    with pytest.raises(ValueError, match="days"):
        generate_dataset(tmp_path / "x", 10, days=0, progress=False)


# --------------------------------------------------------------------------- command line


@pytest.fixture(scope="module")
def cli_data(tmp_path_factory: pytest.TempPathFactory, sim: Any) -> Path:
    folder = tmp_path_factory.mktemp("cli-ooc")
    sim.events.write_parquet(folder / "events.parquet")
    write_partitioned(sim.events, folder / "events")
    return folder


DETECT = ["--window", "30", "--k", "4", "--merge-gap", "1"]


def test_cli_detect_on_a_folder_is_out_of_core_and_equals_in_memory(
    cli_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    auto, memory = tmp_path / "auto.parquet", tmp_path / "memory.parquet"
    assert main(["detect", str(cli_data / "events"), "-o", str(auto), *DETECT]) == 0
    assert "out-of-core" in capsys.readouterr().err  # the progress bar: it ran out of core
    assert main(["detect", str(cli_data / "events.parquet"), "-o", str(memory), *DETECT]) == 0
    assert "out-of-core" not in capsys.readouterr().err
    found = pl.read_parquet(auto)
    assert found.height > 0 and found["supplier_id"].null_count() == 0
    assert_frame_equal(found, pl.read_parquet(memory))


@pytest.mark.parametrize(
    ("flags", "out_of_core"),
    [
        ([], True),
        (["--in-memory"], False),
        (["--out-of-core"], True),
        (["--out-of-core", "-q"], True),
    ],
)
def test_cli_mode_flags(
    cli_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    out_of_core: bool,
) -> None:
    out = tmp_path / "alerts.csv"
    assert main(["detect", str(cli_data / "events"), "-o", str(out), *DETECT, *flags]) == 0
    shown = "out-of-core" in capsys.readouterr().err
    assert shown == (out_of_core and "-q" not in flags)
    assert pl.read_csv(out).height > 0


def test_cli_drops_out_of_core_equal_in_memory(realistic: pl.DataFrame, tmp_path: Path) -> None:
    write_partitioned(realistic, tmp_path / "events")
    realistic.write_parquet(tmp_path / "events.parquet")
    ooc, memory = tmp_path / "ooc.csv", tmp_path / "memory.csv"
    argv = ["detect", "-q", "--every", "15m", "--window", "30", "--k", "2", "--direction", "both"]
    assert main([*argv, str(tmp_path / "events"), "-o", str(ooc)]) == 0
    assert main([*argv, str(tmp_path / "events.parquet"), "-o", str(memory)]) == 0
    assert "down" in set(pl.read_csv(memory)["direction"])
    assert ooc.read_bytes() == memory.read_bytes()


def test_cli_out_of_core_on_a_single_file(cli_data: Path, tmp_path: Path) -> None:
    forced, memory = tmp_path / "forced.csv", tmp_path / "memory.csv"
    source = str(cli_data / "events.parquet")
    assert main(["detect", source, "-o", str(forced), "--out-of-core", "-q", *DETECT]) == 0
    assert main(["detect", source, "-o", str(memory), *DETECT]) == 0
    assert forced.read_text() == memory.read_text()


@pytest.mark.parametrize("sparse", [False, True])
def test_cli_series_on_a_folder_equals_in_memory(
    cli_data: Path, tmp_path: Path, sparse: bool
) -> None:
    extra = ["--sparse"] if sparse else []
    ooc, memory = tmp_path / "ooc.csv", tmp_path / "memory.csv"
    assert (
        main(["series", str(cli_data / "events"), "-o", str(ooc), "--every", "5m", "-q", *extra])
        == 0
    )
    assert (
        main(
            ["series", str(cli_data / "events.parquet"), "-o", str(memory), "--every", "5m", *extra]
        )
        == 0
    )
    lines, expected = ooc.read_text().splitlines(), memory.read_text().splitlines()
    assert lines[0] == expected[0] == ",".join(SERIES_COLUMNS)
    # Streamed rows come in closing order; the rows themselves are the same.
    assert sorted(lines[1:]) == sorted(expected[1:])


def test_cli_out_of_core_takes_epoch_timestamps(sim: Any, tmp_path: Path) -> None:
    root = tmp_path / "events"
    root.mkdir()
    epochs = sim.events.select(pl.col("ts").dt.epoch("ms"), "item_id", "kind", "quantity")
    epochs.write_parquet(root / "part-0.parquet")
    ooc, memory = tmp_path / "ooc.csv", tmp_path / "memory.csv"
    argv = ["detect", "-q", *DETECT, "--epoch-unit", "ms"]
    assert main([*argv, str(root), "-o", str(ooc)]) == 0
    assert main([*argv, "--in-memory", str(root), "-o", str(memory)]) == 0
    assert ooc.read_text() == memory.read_text()


def test_cli_overlap_is_a_one_line_error(
    sim: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overlapping(sim, tmp_path / "events")
    assert main(["detect", str(tmp_path / "events"), "-o", str(tmp_path / "a.csv"), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("stockseries: error: chunk 'day=2024-01-02' goes back in time")
    assert "--lateness" in err and "--in-memory" in err
    assert (
        main(
            [
                "detect",
                str(tmp_path / "events"),
                "-o",
                str(tmp_path / "a.csv"),
                "-q",
                "--lateness",
                "11m",
            ]
        )
        == 0
    )


def test_cli_empty_folder_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "events").mkdir()
    assert main(["detect", str(tmp_path / "events"), "-o", str(tmp_path / "a.csv")]) == 2
    assert "holds no event files" in capsys.readouterr().err
