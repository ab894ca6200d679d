"""stockseries.distributed against a real Dask cluster: the same results as in memory.

One ``ssd.local_cluster(n_workers=2, threads_per_worker=1)`` (a ``LocalCluster`` of processes)
on 127.0.0.1 serves the whole session. Every cluster result is compared with the in-memory function on the same events
(``polars.testing.assert_frame_equal``), for 1, 2 and 7 partitions, for in-memory frames, for
data split by time across files (a shuffle) and for item-bucketed data (no shuffle), on events
with the shapes the core tests use: unsorted rows, ties, items with only deliveries, one-event
items and odd item ids.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cloudpickle
import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import polars as pl
import pytest
from distributed import Client, WorkerPlugin
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import stockseries as ss
import stockseries.distributed as ssd
from stockseries.outofcore import write_partitioned

T0 = datetime(2024, 1, 1, tzinfo=UTC)
ODD_IDS = ["", " A ", "é/ü=1", "007", "None", "x" * 200, "🚀"]
DETECT = {"window": 12, "k": 2.5, "min_periods": 4}


@contextlib.contextmanager
def two_worker_client(memory_limit: str | int, *, set_as_default: bool = True) -> Iterator[Client]:
    """A client of a cluster of its own: two one-thread workers of ``memory_limit`` each."""
    with (
        ssd.local_cluster(
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=":0",
            memory_limit=memory_limit,
        ) as cluster,
        Client(cluster, set_as_default=set_as_default) as client,
    ):
        yield client


@pytest.fixture(scope="session")
def client() -> Iterator[Client]:
    with two_worker_client("2GiB") as session_client:
        yield session_client


def polars_threads() -> tuple[str | None, int]:
    """``POLARS_MAX_THREADS`` and the size of Polars' thread pool in this process."""
    return os.environ.get("POLARS_MAX_THREADS"), pl.thread_pool_size()


def test_local_cluster_gives_each_worker_one_polars_thread_per_task_thread(
    client: Client,
) -> None:
    """Started the stockseries way, a worker's Polars pool has as many threads as the worker
    runs tasks, not one per core (which a plain LocalCluster's workers get)."""
    assert (os.cpu_count() or 1) > 1  # otherwise the check below proves nothing
    assert set(client.run(polars_threads).values()) == {("1", 1)}
    # A worker its nanny restarts (killed, client.restart()) is spawned with the same setting.
    nannies = client.cluster.workers.values()
    assert {nanny.pre_spawn_env.get("POLARS_MAX_THREADS") for nanny in nannies} == {"1"}
    assert ssd.worker_environment(3) == {"POLARS_MAX_THREADS": "3"}


def hidden_shapes(seed: int = 0) -> pl.DataFrame:
    """Simulated events plus the awkward shapes, rows shuffled (unsorted input)."""
    sim = ss.simulate(6, start="2024-01-01", days=1, seed=seed).events.select(
        "ts", "item_id", "kind", "quantity"
    )
    odd = pl.DataFrame(
        {
            "ts": [T0 + timedelta(minutes=7 * i) for i in range(len(ODD_IDS))],
            "item_id": ODD_IDS,
            "kind": ["order", "delivery"] * 3 + ["order"],
            "quantity": [3, 5, 1, 2, 8, 4, 6],
        }
    )
    only_deliveries = pl.DataFrame(
        {
            "ts": [T0 + timedelta(hours=h) for h in (1, 5, 9)],
            "item_id": "only-deliveries",
            "kind": "delivery",
            "quantity": [10, 20, 30],
        }
    )
    # An order and a delivery at the same instant: replay order decides the levels.
    ties = pl.DataFrame(
        {
            "ts": [T0 + timedelta(hours=3)] * 3,
            "item_id": "ties",
            "kind": ["order", "delivery", "order"],
            "quantity": [4, 3, 2],
        }
    )
    frame = pl.concat([sim, odd, only_deliveries, ties])
    return frame.sample(fraction=1.0, shuffle=True, seed=seed)


def cluster_and_local(name: str) -> tuple[Callable[..., Any], Callable[..., Any], dict[str, Any]]:
    kwargs: dict[str, Any] = {
        "stock_levels": {"initial": {"A000": 5, "ties": 3}},
        "resample": {"every": "5m", "initial": 2},
        "stockouts": {"initial": 1},
        "detect_alerts": {"every": "1m", "merge_gap": 1, **DETECT},
    }[name]
    return getattr(ssd, name), getattr(ss, name), kwargs


def result_frame(result: Any) -> pl.DataFrame:
    frame = getattr(result, "frame", result)
    return pl.from_pandas(frame) if isinstance(frame, pd.DataFrame) else frame


FUNCTIONS = ["stock_levels", "resample", "stockouts", "detect_alerts"]


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("npartitions", [1, 2, 7])
def test_frame_input_equals_in_memory(client: Client, name: str, npartitions: int) -> None:
    events = hidden_shapes()
    on_cluster, in_memory, kwargs = cluster_and_local(name)
    expected = in_memory(events, **kwargs)
    got = on_cluster(events, npartitions=npartitions, compute=True, **kwargs)
    assert_frame_equal(result_frame(got), result_frame(expected))
    if name == "detect_alerts":
        assert got.params == expected.params and got.every == expected.every
        assert len(expected) > 0


@pytest.mark.parametrize("name", FUNCTIONS)
def test_lazy_result_is_the_same_rows(client: Client, name: str) -> None:
    events = hidden_shapes(seed=1)
    on_cluster, in_memory, kwargs = cluster_and_local(name)
    lazy = on_cluster(events, npartitions=3, **kwargs)
    assert lazy.npartitions == 3
    arrow_backed = (pd.ArrowDtype, pd.StringDtype)
    assert all(isinstance(dtype, arrow_backed) for dtype in lazy.dtypes)
    assert all(
        dtype.storage == "pyarrow" for dtype in lazy.dtypes if isinstance(dtype, pd.StringDtype)
    )
    got = pl.from_arrow(pa_table(lazy.compute()))
    expected = result_frame(in_memory(events, **kwargs))
    keys = {
        "stock_levels": ["item_id", "ts", "quantity", "kind", "level"],
        "resample": ["item_id", "ts"],
        "stockouts": ["item_id", "start", "deepest_level"],
        "detect_alerts": ["item_id", "start"],
    }[name]
    assert_frame_equal(got.sort(keys), expected.sort(keys))


def pa_table(frame: pd.DataFrame) -> Any:
    import pyarrow as pa

    return pa.Table.from_pandas(frame, preserve_index=False)


def test_pandas_in_pandas_out_and_nan_is_not_null(client: Client) -> None:
    events = hidden_shapes()
    weights = [float("nan"), None, 1.5] * (events.height // 3 + 1)
    events = events.with_columns(weight=pl.Series(weights[: events.height], dtype=pl.Float64))
    got = ssd.stock_levels(events, npartitions=2, compute=True)
    expected = ss.stock_levels(events)
    assert_frame_equal(got, expected)
    assert got["weight"].is_nan().sum() == expected["weight"].is_nan().sum() > 0
    assert got["weight"].null_count() == expected["weight"].null_count() > 0
    as_pandas = ssd.resample(events.to_pandas(), "1h", npartitions=2, compute=True)
    assert isinstance(as_pandas, pd.DataFrame)
    pd.testing.assert_frame_equal(as_pandas, ss.resample(events.to_pandas(), "1h"))


@pytest.fixture(scope="module")
def by_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("by_day") / "events"
    events = hidden_shapes()
    events = events.with_columns(
        pl.when(pl.col("item_id") == "only-deliveries")
        .then(pl.col("ts") + timedelta(days=1))
        .otherwise("ts")
        .alias("ts")
    )
    write_partitioned(events, root)
    assert len(list(root.iterdir())) == 2  # two days: every item split across files
    return root


@pytest.fixture(scope="module")
def by_item(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("by_item") / "events"
    write_partitioned(hidden_shapes(seed=2), root, by="item", buckets=5)
    return root


@pytest.mark.parametrize("name", FUNCTIONS)
def test_files_split_by_time_are_shuffled(client: Client, by_day: Path, name: str) -> None:
    on_cluster, in_memory, kwargs = cluster_and_local(name)
    expected = in_memory(ss.read_events(by_day), **kwargs)
    lazy = on_cluster(by_day, **kwargs)
    assert has_shuffle(lazy)
    got = on_cluster(str(by_day), compute=True, **kwargs)
    assert_frame_equal(result_frame(got), result_frame(expected))


@pytest.mark.parametrize("name", FUNCTIONS)
def test_item_buckets_need_no_shuffle(client: Client, by_item: Path, name: str) -> None:
    on_cluster, in_memory, kwargs = cluster_and_local(name)
    expected = in_memory(ss.read_events(by_item), **kwargs)
    lazy = on_cluster(by_item, **kwargs)
    assert not has_shuffle(lazy)
    assert lazy.npartitions == len(list(by_item.iterdir()))
    got = on_cluster(by_item, compute=True, **kwargs)
    assert_frame_equal(result_frame(got), result_frame(expected))


def has_shuffle(lazy: Any) -> bool:
    return any("shuffle" in str(key) for key in dict(lazy.__dask_graph__()))


def test_glob_of_files(client: Client, by_day: Path) -> None:
    pattern = str(by_day / "*" / "*.parquet")
    got = ssd.resample(pattern, "1h", compute=True)
    expected = ss.resample(
        pl.concat([pl.read_parquet(f) for f in sorted(by_day.glob("*/*"))]), "1h"
    )
    assert_frame_equal(got, expected)


def test_dask_dataframe_input(client: Client) -> None:
    import dask.dataframe as dd

    events = hidden_shapes(seed=3)
    raw = events.with_columns(pl.col("ts").dt.to_string("%Y-%m-%dT%H:%M:%S%.6fZ")).to_pandas()
    ddf = dd.from_pandas(raw, npartitions=4, sort=False)
    got = ssd.detect_alerts(ddf, "1m", compute=True, **DETECT)
    assert_frame_equal(got.frame, ss.detect_alerts(events, "1m", **DETECT).frame)


def test_path_output_is_complete_files(client: Client, tmp_path: Path) -> None:
    events = hidden_shapes()
    out = tmp_path / "series"
    files = ssd.resample(events, "5m", npartitions=3, path=out)
    assert [f.name for f in files] == [f"part-{i:05d}.parquet" for i in range(3)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["series"]  # no staging folder left
    got = pl.read_parquet(files).sort("item_id", maintain_order=True)
    assert_frame_equal(got, ss.resample(events, "5m"))
    with pytest.raises(FileExistsError):
        ssd.resample(events, "5m", path=out)


def test_invalid_events_raise_the_validation_error(client: Client, tmp_path: Path) -> None:
    bad = hidden_shapes().with_columns(
        quantity=pl.when(pl.col("item_id") == "ties").then(-1).otherwise("quantity")
    )
    with pytest.raises(ss.EventValidationError, match="quantity"):
        ssd.resample(bad, "1m", compute=True)
    pl.DataFrame(bad).write_parquet(tmp_path / "bad.parquet")
    with pytest.raises(ss.EventValidationError, match="quantity"):
        ssd.detect_alerts(tmp_path / "bad.parquet", path=tmp_path / "out", **DETECT)
    assert not (tmp_path / "out").exists()


def test_bad_settings_fail_before_any_work(client: Client) -> None:
    with pytest.raises(ValueError, match="every"):
        ssd.resample(hidden_shapes(), "1mo")
    with pytest.raises(ValueError, match="npartitions"):
        ssd.resample(hidden_shapes(), npartitions=0)
    with pytest.raises(TypeError, match="Dask DataFrame"):
        ssd.resample([1, 2, 3])


def test_reserved_marker_item_is_refused(client: Client) -> None:
    from stockseries.distributed._kernels import END_MARKER

    events = hidden_shapes().with_columns(
        item_id=pl.when(pl.col("item_id") == "ties").then(pl.lit(END_MARKER)).otherwise("item_id")
    )
    with pytest.raises(ValueError, match="reserved"):
        ssd.resample(events, compute=True)


def test_without_dask_the_import_error_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['distributed'] = None\n"
        "try:\n    import stockseries.distributed\n"
        "except ImportError as err:\n    print(err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'stockseries[distributed]'" in out.stdout


def test_without_a_client_the_error_says_how_to_start_one() -> None:
    code = (
        "import polars as pl, stockseries.distributed as ssd\n"
        "try:\n    ssd.resample(pl.DataFrame({'ts': ['2024-01-01T00:00:00Z'], 'item_id': 'a',"
        " 'kind': 'order', 'quantity': 1}))\n"
        "except RuntimeError as err:\n    print(err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "no Dask client" in out.stdout


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 240),
            st.sampled_from(["a", "b", "", "é", "c d"]),
            st.sampled_from(["order", "delivery"]),
            st.integers(1, 9),
        ),
        min_size=1,
        max_size=40,
    ),
    npartitions=st.integers(1, 4),
)
def test_cluster_equals_one_process(client: Client, rows: list[Any], npartitions: int) -> None:
    minutes, items, kinds, quantities = zip(*rows, strict=True)
    events = pl.DataFrame(
        {
            "ts": [T0 + timedelta(minutes=m) for m in minutes],
            "item_id": list(items),
            "kind": list(kinds),
            "quantity": list(quantities),
        }
    )
    got = ssd.resample(events, "7m", initial=1, npartitions=npartitions, compute=True)
    assert_frame_equal(got, ss.resample(events, "7m", initial=1))
    found = ssd.detect_alerts(events, "1m", npartitions=npartitions, compute=True, window=5, k=1)
    assert_frame_equal(found.frame, ss.detect_alerts(events, "1m", window=5, k=1).frame)


# --------------------------------------------------------------------------- command line


@pytest.fixture(scope="module")
def events_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "events.parquet"
    hidden_shapes().with_columns(supplier_id=pl.lit("S1")).write_parquet(path)
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["levels", "{events}", "-o", "{out}.parquet"],
        ["series", "{events}", "--every", "5m", "-o", "{out}.csv"],
        [
            "detect",
            "{events}",
            "--window",
            "12",
            "--k",
            "2.5",
            "--merge-gap",
            "1",
            "-o",
            "{out}.csv",
        ],
    ],
    ids=["levels", "series", "detect"],
)
def test_cli_scheduler_gives_the_same_file(
    client: Client, events_file: Path, tmp_path: Path, command: list[str]
) -> None:
    from stockseries.cli import main

    def run(out: Path, *extra: str) -> bytes:
        argv = [arg.format(events=events_file, out=out) for arg in command]
        assert main([*argv, *extra]) == 0
        (written,) = tmp_path.glob(f"{out.name}.*")
        return written.read_bytes()

    alone = run(tmp_path / "alone")
    assert run(tmp_path / "cluster", "--scheduler", client.scheduler.address) == alone


@pytest.mark.slow
def test_cli_workers_starts_and_stops_a_local_cluster(events_file: Path, tmp_path: Path) -> None:
    argv = ["detect", str(events_file), "--window", "12", "--k", "2.5", "-o"]
    done = subprocess.run(
        [sys.executable, "-m", "stockseries.cli", *argv, str(tmp_path / "c.csv"), "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    subprocess.run(
        [sys.executable, "-m", "stockseries.cli", *argv, str(tmp_path / "m.csv")], check=True
    )
    assert (tmp_path / "c.csv").read_bytes() == (tmp_path / "m.csv").read_bytes()


def test_cli_unreachable_scheduler_is_a_message(events_file: Path, capsys: Any) -> None:
    from stockseries.cli import main

    status = main(
        ["levels", str(events_file), "-o", "x.parquet", "--scheduler", "tcp://127.0.0.1:9"]
    )
    assert status == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err


# --------------------------------------------------------------------------- failures


@pytest.fixture
def own_client() -> Iterator[Client]:
    """A cluster of its own, for a test that kills a worker: the session's cluster stays whole,
    and nothing has to wait for a nanny to restart the killed worker (slow under load)."""
    with two_worker_client("2GiB", set_as_default=False) as own:
        yield own


def test_a_client_that_is_not_the_default_one(
    own_client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``client=`` is enough: no default client needed (computed, with progress, written)."""
    import distributed.client

    # As in a fresh process: the session's client (made earlier) must not stand in.
    monkeypatch.setattr(distributed.client, "_global_clients", weakref.WeakValueDictionary())
    current = distributed.client._current_client.set(None)
    try:
        with pytest.raises(ValueError, match="No clients found"):
            distributed.client.default_client()
        events = hidden_shapes()
        expected = ss.detect_alerts(events, "1m", **DETECT)
        got = ssd.detect_alerts(
            events, "1m", client=own_client, compute=True, progress=True, **DETECT
        )
        assert_frame_equal(got.frame, expected.frame)
        files = ssd.detect_alerts(events, "1m", client=own_client, path=tmp_path / "a", **DETECT)
        assert_frame_equal(pl.read_parquet(files).sort("start", "item_id"), expected.frame)
    finally:
        distributed.client._current_client.reset(current)


class KillAtFirstKernel(WorkerPlugin):
    """SIGKILLs its worker process when the first kernel task of the run starts executing on
    any worker: a kill mid-run at a known point (every input partition split, pieces spread
    over both workers), however fast or slow the machine. The marker file makes it happen once
    (the nanny's new worker gets the plugin too)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        name = str(key[0] if isinstance(key, tuple) else key)
        if finish != "executing" or not name.startswith("run-partition"):
            return
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        os.kill(os.getpid(), signal.SIGKILL)


cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests


@pytest.mark.parametrize("from_files", [True, False], ids=["parquet-folder", "frame"])
def test_worker_killed_mid_run_recovers_or_fails_cleanly(
    own_client: Client, tmp_path: Path, from_files: bool
) -> None:
    """Either the run recovers (the lost partitions are read or computed again) with the same
    result, or it fails with a clear error. Never a partial output."""
    events = ss.simulate(40, start="2024-01-01", days=3, seed=4).events
    expected = ss.detect_alerts(events, "1m", **DETECT)
    source = tmp_path / "events"
    write_partitioned(events, source)  # from files, lost partitions can be read again
    out = tmp_path / "alerts"
    marker = tmp_path / "killed"
    own_client.register_plugin(KillAtFirstKernel(str(marker)))
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["files"] = ssd.detect_alerts(
                source if from_files else events,
                "1m",
                client=own_client,
                npartitions=6,
                path=out,
                **DETECT,
            )
        except BaseException as err:  # whatever it is, the assertions below judge it
            outcome["error"] = err

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=600)  # the survivor recomputes the lost work; slow under load
    assert not worker.is_alive()
    assert marker.exists()  # a worker was killed mid-run
    marker.unlink()
    if "error" in outcome:
        assert isinstance(outcome["error"], ssd.ClusterRunError), repr(outcome["error"])
        assert "no output was written" in str(outcome["error"])
        assert not out.exists()
    else:
        got = pl.read_parquet(outcome["files"]).sort("start", "item_id")
        assert_frame_equal(got, expected.frame)
    # No staging folder left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) in (["events"], ["alerts", "events"])


# --------------------------------------------------------------------------- tuning


@pytest.mark.parametrize("lazy", [False, True], ids=["polars-series", "dask-series"])
def test_tune_on_the_cluster_equals_tune(client: Client, lazy: bool) -> None:
    sim = ss.simulate(12, start="2024-01-01", days=1, seed=3)
    series = ss.resample(sim.events, "1m")
    grid = {"windows": (30, 60), "ks": (3.0, 5.0), "min_demands": (0, 2), "smooths": (1, 5)}
    expected = ss.tune(series, sim.labels, progress=False, **grid)
    source = ssd.resample(sim.events, "1m", npartitions=3) if lazy else series
    got = ssd.tune(source, sim.labels, npartitions=3, **grid)
    assert_frame_equal(got.trials, expected.trials)
    assert got.best == expected.best
    assert got.alert_params == expected.alert_params
    assert got.objective == expected.objective


def test_tune_on_the_cluster_gives_the_in_memory_columns(client: Client) -> None:
    """Searched directions and transforms come back as columns (the one trial schema) and
    are refined and chosen as in one process."""
    sim = ss.simulate(6, start="2024-01-01", days=1, seed=5)
    series = ss.resample(sim.events, "5m")
    grid = {
        "windows": 12,
        "ks": (3.0, 4.0),
        "min_demands": 0,
        "smooths": (1, 3),
        "directions": ("up", "both"),
        "transforms": (None, "sqrt"),
    }
    expected = ss.tune(series, sim.labels, progress=False, **grid)
    got = ssd.tune(series, sim.labels, npartitions=3, **grid)
    assert {"direction", "transform"} <= set(expected.trials.columns)
    assert got.trials.columns == expected.trials.columns
    assert_frame_equal(got.trials, expected.trials)
    assert got.best == expected.best


def counts_series(items: int = 6, hours: int = 300, seed: int = 0) -> pl.DataFrame:
    """Hourly counts of odd ids, half over-dispersed, half Poisson, rows shuffled."""
    rng = np.random.default_rng(seed)
    ts = [T0 + timedelta(hours=h) for h in range(hours)]
    frames = [
        pl.DataFrame(
            {
                "item_id": item,
                "ts": ts,
                "demand": rng.negative_binomial(1, 0.2, hours)
                if i % 2
                else rng.poisson(4.0, hours),
            }
        )
        for i, item in enumerate(ODD_IDS[:items])
    ]
    return pl.concat(frames).sample(fraction=1.0, shuffle=True, seed=seed)


def assert_same_choice(got: ss.TransformChoice, expected: ss.TransformChoice) -> None:
    """The same choice to the bit: each item's likelihoods come from its own rows by the same
    code, and the pooled sums run over the items in the same (item_id) order."""
    assert got.transform == expected.transform
    assert got.loglik == expected.loglik  # floats compared exactly
    assert_frame_equal(got.items, expected.items, check_exact=True)
    assert repr(got) == repr(expected)


@pytest.mark.parametrize("flavour", ["polars", "pandas", "dask"])
def test_choose_transform_on_the_cluster_equals_one_process(client: Client, flavour: str) -> None:
    if flavour == "dask":  # whole items per partition, as distributed.resample gives them
        sim = ss.simulate(8, start="2024-01-01", days=2, seed=7)
        series: Any = ss.resample(sim.events, "10m")
        source: Any = ssd.resample(sim.events, "10m", npartitions=3)
    else:
        series = counts_series()
        source = series.to_pandas() if flavour == "pandas" else series
    expected = ss.choose_transform(series, window=24)
    for npartitions in (None,) if flavour == "dask" else (1, 3):  # Dask: its own partitions
        got = ssd.choose_transform(source, window=24, npartitions=npartitions)
        assert_same_choice(got, expected)


def test_choose_transform_on_the_cluster_errors(client: Client) -> None:
    """The in-memory errors; a Dask DataFrame names a negative value by item and time."""
    series = counts_series(items=3, hours=100)
    negative = series.with_columns(
        demand=pl.when((pl.col("item_id") == " A ") & (pl.col("ts") == T0 + timedelta(hours=5)))
        .then(-1)
        .otherwise(pl.col("demand"))
    )
    with pytest.raises(ValueError, match="window must be an integer >= 3"):
        ssd.choose_transform(series, window=2, client=object())  # before the client is asked
    for bad, match in [
        (negative, r"has negative values \(rows \[\d+\]\)"),  # positions in the caller's frame
        (series, r"no bucket has window=200 earlier buckets .* too short or constant"),
    ]:
        window = 200 if bad is series else 24
        with pytest.raises(ValueError, match=match) as raised:
            ssd.choose_transform(bad, window=window, npartitions=2)
        with pytest.raises(ValueError) as in_memory:
            ss.choose_transform(bad, window=window)
        assert str(raised.value) == str(in_memory.value)
    lazy = dd.from_pandas(negative.sort("item_id", "ts").to_pandas(), npartitions=1)
    with pytest.raises(
        ValueError,
        match=r"negative values \(item ' A ' at 2024-01-01 05:00:00\+00:00\); transforms",
    ):
        ssd.choose_transform(lazy, window=24)
    split = dd.from_pandas(series.sort("item_id", "ts").to_pandas(), npartitions=2)
    with pytest.raises(ValueError, match=r"in more than one partition.*whole items"):
        ssd.choose_transform(split, window=24)


@pytest.mark.parametrize("lazy", [False, True], ids=["polars-series", "dask-series"])
def test_tune_auto_on_the_cluster_equals_tune(client: Client, lazy: bool) -> None:
    """transforms='auto' chooses on the cluster before the search: the same choice, trials,
    best setting and objective (which quotes the choice) as one process."""
    sim = ss.simulate(6, start="2024-01-01", days=1, seed=5)
    series = ss.resample(sim.events, "5m")
    grid = {"windows": 12, "ks": (3.0, 4.0), "min_demands": 0, "smooths": 1, "transforms": "auto"}
    expected = ss.tune(series, sim.labels, progress=False, **grid)
    source = ssd.resample(sim.events, "5m", npartitions=3) if lazy else series
    got = ssd.tune(source, sim.labels, npartitions=2, **grid)
    assert expected.transform_choice is not None and got.transform_choice is not None
    assert_same_choice(got.transform_choice, expected.transform_choice)
    assert_frame_equal(got.trials, expected.trials)
    assert got.best == expected.best
    assert got.alert_params == expected.alert_params
    assert got.objective == expected.objective


def test_tune_auto_on_the_cluster_checks_the_grid_first(client: Client) -> None:
    """A bad grid is refused before the transform is chosen (the client is never asked)."""
    sim = ss.simulate(2, start="2024-01-01", days=1, seed=5)
    series = ss.resample(sim.events, "5m")
    with pytest.raises(ValueError, match="k must be a finite number > 0"):
        ssd.tune(series, sim.labels, client=object(), windows=12, ks=-1.0, transforms="auto")


def test_one_item_with_most_events_does_not_take_a_worker_down(client: Client) -> None:
    """A hot item lands in one partition whole; with 2 GiB workers the run completes and
    every worker is still the one that started (none was restarted for memory)."""
    rng = np.random.default_rng(0)
    n = 300_000
    hot = rng.random(n) < 0.9
    events = pl.DataFrame(
        {
            "ts": T0
            + pl.Series(np.sort(rng.integers(0, 2 * 86_400, n)) * 1_000_000).cast(
                pl.Duration("us")
            ),
            "item_id": np.where(hot, "HOT", np.char.add("i", (rng.integers(0, 50, n)).astype(str))),
            "kind": np.where(rng.random(n) < 0.6, "order", "delivery"),
            "quantity": rng.integers(1, 5, n),
        }
    )
    before = set(client.scheduler_info()["workers"])
    got = ssd.detect_alerts(events, "1m", npartitions=4, compute=True, **DETECT)
    assert_frame_equal(got.frame, ss.detect_alerts(events, "1m", **DETECT).frame)
    assert set(client.scheduler_info()["workers"]) == before


@pytest.mark.slow
def test_hot_item_stays_within_a_worker_memory_limit(tmp_path: Path) -> None:
    """One item with 90 % of 2 M events, split by day across files (so it is shuffled), on
    workers limited to 1.5 GiB: same alerts as one process, no worker restarted, and every
    worker's peak memory under its limit (the bound: bytes per event of the largest item,
    measured by ``benchmarks/cluster.py --hot``)."""
    rng = np.random.default_rng(1)
    n, days = 2_000_000, 4
    folder = tmp_path / "events"
    for day in range(days):
        size = n // days
        seconds = np.sort(rng.integers(day * 86_400, (day + 1) * 86_400, size))
        hot = rng.random(size) < 0.9
        part = pl.DataFrame(
            {
                "ts": T0 + pl.Series(seconds * 1_000_000).cast(pl.Duration("us")),
                "item_id": np.where(
                    hot, "HOT", np.char.add("i", rng.integers(0, 30, size).astype(str))
                ),
                "kind": np.where(rng.random(size) < 0.6, "order", "delivery"),
                "quantity": rng.integers(1, 5, size),
            }
        )
        (folder / f"day={day}").mkdir(parents=True)
        part.write_parquet(folder / f"day={day}" / "part-0.parquet")
    limit = int(1.5 * 2**30)
    peaks = _alerts_on_two_small_workers(folder, limit)
    assert max(peaks.values()) < limit, peaks


def _alerts_on_two_small_workers(folder: Path, limit: int) -> dict[str, int]:
    """``detect_alerts`` of ``folder`` on two fresh workers of ``limit`` bytes: the same alerts
    as one process and no worker restarted; returns every worker's peak memory."""
    expected = ss.detect_alerts(ss.read_events(folder), "1m", **DETECT)
    with two_worker_client(limit) as small:
        before = set(small.scheduler_info()["workers"])
        got = ssd.detect_alerts(folder, "1m", client=small, compute=True, **DETECT)
        peaks: dict[str, int] = small.run(_peak_rss)
        assert set(small.scheduler_info()["workers"]) == before
    assert_frame_equal(got.frame, expected.frame)
    return peaks


def _peak_rss() -> int:
    # VmHWM, not ru_maxrss: a spawned worker's ru_maxrss starts at its parent's peak
    # (kept over fork + exec), so inside a long pytest run it reads the test process's peak.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


@pytest.mark.slow
def test_worker_memory_does_not_grow_with_the_data(tmp_path: Path) -> None:
    """The shuffle's pieces wait for their output partition on disk, not in memory.

    8 M events (64-character item ids: ≈ 100 bytes per event in the shuffle, ≈ 400 MB per
    worker) in 32 files of a quarter million events each, on two workers whose nanny kills
    them above 95 % of 600 MiB, with spilling switched off (Dask cannot save them). Holding
    the pieces in memory needs ≈ 220 MB of worker + 400 MB of pieces + a kernel: a worker
    is killed. Here a worker holds one file being split and one partition's kernel: no
    worker restarted, the same alerts as one process.
    """
    folder = _many_files_of_long_ids(tmp_path / "events", files=32, rows=250_000)
    limit = 600 * 2**20
    no_spill = {
        "distributed.worker.memory.target": False,
        "distributed.worker.memory.spill": False,
        "distributed.worker.memory.pause": False,
        "distributed.worker.memory.terminate": 0.95,
    }
    with dask.config.set(no_spill):
        peaks = _alerts_on_two_small_workers(folder, limit)
    assert max(peaks.values()) < 0.95 * limit, peaks


def _many_files_of_long_ids(folder: Path, files: int, rows: int) -> Path:
    """``files`` Parquet files by time (so every file holds some of every item), 200 items
    with 64-character ids, one day in all."""
    rng = np.random.default_rng(2)
    names = pl.Series([f"item-with-a-long-catalogue-identifier-{i:026d}" for i in range(200)])
    span = 86_400 // files
    for number in range(files):
        seconds = np.sort(rng.integers(number * span, (number + 1) * span, rows))
        part = pl.DataFrame(
            {
                "ts": T0 + pl.Series(seconds * 1_000_000).cast(pl.Duration("us")),
                "item_id": names.gather(rng.integers(0, len(names), rows)),
                "kind": np.where(rng.random(rows) < 0.6, "order", "delivery"),
                "quantity": rng.integers(1, 5, rows),
            }
        )
        (folder / f"part={number:03d}").mkdir(parents=True)
        part.write_parquet(folder / f"part={number:03d}" / "events.parquet")
    return folder
