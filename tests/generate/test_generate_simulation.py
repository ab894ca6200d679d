"""Tests of :func:`stockseries.generate.simulate` and the bundled data."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from generate_common import (
    minutes_of,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from stockseries._schema import TS_DTYPE
from stockseries.generate import (
    Simulation,
    catalog,
    inject_spikes,
    merge_streams,
    poisson_demand,
    simulate,
)
from stockseries.generate._draws import Draws
from stockseries.generate._replenish import sold_before

# --------------------------------------------------------------------------- simulate


def test_simulation_repr_and_html() -> None:
    sim = simulate(20, seed=0)
    assert isinstance(sim, Simulation)
    assert repr(sim) == (
        f"Simulation(events={sim.events.height:,}, items=20, spikes=40, "
        "span=2024-01-01 → 2024-01-03)"
    )
    assert "ss-table" in sim._repr_html_() and "40" in sim._repr_html_()
    odd = simulate(2, start="2024-03-01T06:30", days=0.5, seed=0)
    assert repr(odd).endswith("span=2024-03-01 06:30 → 2024-03-01 18:30)")


def test_simulate_is_the_composition_of_the_public_generators() -> None:
    sim = simulate(6, days=2.0, seed=4, base_rate=0.7)
    common: dict[str, Any] = {"start": "2024-01-01", "end": "2024-01-03", "seed": 4}
    base = poisson_demand(sim.catalog, **common)
    extra, labels = inject_spikes(sim.catalog, n_spikes=sim.labels.height, **common)
    assert_frame_equal(labels, sim.labels)
    columns = ["ts", "item_id", "kind", "quantity", "customer_id"]
    orders = sim.events.filter(pl.col("kind") == "order").select(columns)
    assert_frame_equal(orders, merge_streams(base, extra).select(columns))
    assert sim.catalog["rate"].to_list() == pytest.approx(
        (catalog(6, seed=4)["rate"] * 0.7).to_list()
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stock_wanders_in_a_positive_band_and_dips_only_after_spikes(seed: int) -> None:
    sim = simulate(20, days=2.0, seed=seed)
    levels = sim.events.with_columns(
        level=pl.when(pl.col("kind") == "order")
        .then(-pl.col("quantity"))
        .otherwise(pl.col("quantity"))
        .cum_sum()
        .over("item_id")
    )
    assert levels["level"].median() > 300  # type: ignore[operator]
    negative = levels.filter(pl.col("level") < 0).select("item_id", "ts")
    explained = negative.join(sim.labels, on="item_id").filter(
        pl.col("ts").is_between(pl.col("start"), pl.col("end") + dt.timedelta(hours=6))
    )
    assert explained.select("item_id", "ts").unique().height == negative.unique().height
    deliveries = sim.events.filter(pl.col("kind") == "delivery")
    per_item = deliveries.group_by("item_id").len()["len"]
    assert per_item.min() >= 8  # type: ignore[operator]  # initial stock + a review every 2-4 h


def test_spikes_are_several_sigma_above_the_local_level_at_one_minute_buckets() -> None:
    sim = simulate(20, days=2.0, seed=0)
    assert sim.start is not None and sim.end is not None
    minutes = pl.datetime_range(sim.start, sim.end, "1m", closed="left", eager=True).alias("ts")
    grid = (
        sim.catalog.select("item_id")
        .join(pl.DataFrame({"ts": minutes}), how="cross")
        .join(minutes_of(sim.events), on=["item_id", "ts"], how="left")
        .with_columns(pl.col("demand").fill_null(0))
    )
    spiky = grid.join(sim.labels, on="item_id").filter(
        pl.col("ts").is_between(pl.col("start"), pl.col("end"), closed="left")
    )
    quiet = grid.join(spiky.select("item_id", "ts"), on=["item_id", "ts"], how="anti")
    # Baseline: the same item's quiet minutes within 2 h of the window.
    local = (
        sim.labels.join(quiet, on="item_id")
        .filter(
            pl.col("ts").is_between(
                pl.col("start") - dt.timedelta(hours=2), pl.col("end") + dt.timedelta(hours=2)
            )
        )
        .group_by("item_id", "start")
        .agg(mu=pl.col("demand").mean(), sd=pl.col("demand").std())
    )
    windows = (
        spiky.group_by("item_id", "start")
        .agg(mean=pl.col("demand").mean(), minutes=pl.len())
        .join(local, on=["item_id", "start"])
        .with_columns(
            per_minute_z=(pl.col("mean") - pl.col("mu")) / pl.col("sd"),
            window_z=(pl.col("mean") - pl.col("mu")) / (pl.col("sd") / pl.col("minutes").sqrt()),
        )
    )
    assert windows.height == sim.labels.height == 40
    assert windows["per_minute_z"].median() > 3.0  # type: ignore[operator]
    assert windows["window_z"].min() > 4.0  # type: ignore[operator]


def test_simulate_without_replenishment_has_only_orders() -> None:
    sim = simulate(3, days=1.0, seed=2, replenish=False)
    assert sim.events["kind"].unique().to_list() == ["order"]
    assert "supplier_id" not in sim.events.columns


@pytest.mark.parametrize(
    ("kwargs", "spikes"),
    [
        ({"n_items": 5, "days": 2.0}, 10),
        ({"n_items": 5, "days": 0.25}, 0),  # shorter than the 6 h warm-up: no room
        ({"n_items": 5, "days": 1.0, "n_spikes": 0}, 0),
        ({"n_items": 5, "days": 1.0, "n_spikes": 7}, 7),
        ({"n_items": 5, "days": 1.0, "base_rate": 0.0}, 0),
    ],
)
def test_simulate_spike_count(kwargs: dict[str, Any], spikes: int) -> None:
    assert simulate(**kwargs).labels.height == spikes


MINUTE = 60_000_000


@pytest.mark.parametrize(
    ("grid", "path"), [(MINUTE, "per-minute histogram"), (7_919, "sorted (item, time) keys")]
)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_sold_before_matches_a_brute_force_count(grid: int, path: str, data: Any) -> None:
    start, k = 5 * MINUTE, data.draw(st.integers(1, 4))
    end = start + data.draw(st.integers(1, 30)) * MINUTE + data.draw(st.sampled_from([0, 17]))
    parts = []
    for salt in range(data.draw(st.integers(0, 3))):
        n = data.draw(st.integers(0, 12))
        ts = np.sort(data.draw(st.lists(st.integers(start, end - 1), min_size=n, max_size=n)))
        item = np.array(data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
        quantity = np.arange(n, dtype=np.int64) + 1 + 100 * salt
        parts.append(Draws(np.asarray(ts, dtype=np.int64), item.astype(np.int64), quantity, item))
    steps = data.draw(st.lists(st.integers(1, 40), min_size=k * 3, max_size=k * 3))
    when = np.minimum(start + np.cumsum(np.reshape(steps, (k, 3)), axis=1) * grid, end)
    expected = np.array(
        [
            [
                sum(
                    int(q)
                    for d in parts
                    for t, i, q in zip(d.ts, d.item, d.quantity, strict=True)
                    if i == row and t < w
                )
                for w in when[row]
            ]
            for row in range(k)
        ]
    )
    np.testing.assert_array_equal(sold_before(parts, k, start, end, when), expected, err_msg=path)


# --------------------------------------------------------------------------- bundled data

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.mark.skipif(not (DATA / "events.parquet").exists(), reason="no bundled data folder")
def test_bundled_data_is_what_regenerate_writes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("regenerate", DATA / "regenerate.py")
    assert spec is not None and spec.loader is not None
    regenerate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(regenerate)
    fresh = regenerate.write_sample(tmp_path)
    assert sum((DATA / name).stat().st_size for name in fresh) < 2 * 1024 * 1024
    for name, path in fresh.items():
        if name.endswith(".parquet"):
            assert_frame_equal(pl.read_parquet(DATA / name), pl.read_parquet(path))
        else:
            assert (DATA / name).read_text() == path.read_text(), name
    events = pl.read_parquet(DATA / "events.parquet")
    assert events.schema["ts"] == TS_DTYPE and events["ts"].is_sorted()
    assert pl.read_csv(DATA / "events_small.csv")["ts"].str.ends_with("Z").all()
