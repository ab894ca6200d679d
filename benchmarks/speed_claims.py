"""Speed claims that used to be timed unit tests, measured side by side: SPEED_CLAIMS.md.

The unit tests now check what keeps each of these fast by counting work (settings prepared,
releases of the merge, memory of a constructor, timers armed), which no load can disturb; the
time itself lives here, next to a reference doing comparable work in the same run:

* ``tune``: 100 settings (4 windows × 5 k × 5 min demand) over 50 items × 30 days of 1-minute
  buckets (2.16 M buckets) with labelled bursts, against one ``detect_spikes`` zscore pass over
  the same series (the ratio says how many detection passes 100 settings cost). It was
  ``tests/alerts/test_alerts_core.py::test_tune_speed_100_settings_over_2m_buckets`` (< 30 s).
* ``merge_sources`` of 1,000 sources of 3 frames (15,000 events), against concatenating the
  same frames and sorting them by time in one batch. It was
  ``tests/live/test_merge.py::test_merge_of_a_thousand_sources_is_cheap`` (< 20 s).
* ``StreamProcessor(window=10**9)`` against ``StreamProcessor(window=60)``: a ratio near 1
  says nothing window-long is built. It was
  ``tests/live/test_huge_window.py::test_huge_window_constructs_instantly`` (< 2 s).
* ``order_source`` with its virtual clock, 3 items × 1 day in 10-minute frames (144 frames),
  against the same day in one frame: the ratio is the cost of cutting it into frames. It was ``tests/live/test_sources.py::test_virtual_clock_runs_as_fast_as_possible``
  (< 10 s).

Every figure is the median of ``--runs`` rounds; in each round every claim runs once and its
reference right after it. Wall and CPU seconds (this process, all threads) are given.

    .venv/bin/python -m benchmarks.speed_claims                    # writes benchmarks/SPEED_CLAIMS.md
    .venv/bin/python -m benchmarks.speed_claims --runs 1 --out /tmp/SPEED_CLAIMS.md
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from benchmarks.report import load_average, machine, versions

HERE = Path(__file__).resolve().parent
T0_US = 1_704_067_200_000_000  # 2024-01-01 UTC
MINUTE_US = 60_000_000


@dataclass(frozen=True)
class Claim:
    """One claim: what runs, the reference beside it, and the bound the old test held."""

    name: str
    work: str
    reference: str
    old_bound: str
    setup: Callable[[], Any]
    run: Callable[[Any], Any]
    run_reference: Callable[[Any], Any]


def labelled_series(
    n_items: int, n_buckets: int, *, seed: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Poisson demand (rate 2) with 30 labelled bursts per item (+12 per bucket for 10 buckets)."""
    rng = np.random.default_rng(seed)
    demand = rng.poisson(2.0, (n_items, n_buckets))
    slots = np.arange(120, n_buckets - 20, 60)
    labels = []
    for item in range(n_items):
        for start in rng.choice(slots, min(30, len(slots)), replace=False):
            demand[item, start : start + 10] += 12
            labels.append((f"I{item:03d}", int(start), int(start) + 10))
    minutes = np.tile(np.arange(n_buckets, dtype=np.int64), n_items)
    series = pl.DataFrame(
        {
            "item_id": np.repeat([f"I{i:03d}" for i in range(n_items)], n_buckets),
            "ts": pl.Series(T0_US + minutes * MINUTE_US).cast(pl.Datetime("us", "UTC")),
            "demand": demand.ravel(),
        }
    )
    truth = pl.DataFrame(labels, schema=["item_id", "start", "end"], orient="row").with_columns(
        (pl.col(c) * MINUTE_US + T0_US).cast(pl.Datetime("us", "UTC")) for c in ("start", "end")
    )
    return series, truth


def _tune(data: tuple[pl.DataFrame, pl.DataFrame]) -> Any:
    from stockseries import tune

    result = tune(
        *data, windows=(30, 60, 120, 240), ks=(2.0, 3.0, 4.0, 5.0, 6.0),
        min_demands=(0, 1, 2, 4, 8), smooths=1, refine=False, progress=False,
    )  # fmt: skip
    assert result.trials.height == 100
    return result


def _detect(data: tuple[pl.DataFrame, pl.DataFrame]) -> Any:
    from stockseries import detect_spikes

    return detect_spikes(data[0], "zscore", window=60, k=3.0)


def source_frames(n_sources: int) -> list[list[pl.DataFrame]]:
    """Per source, 15 events of one item over 3 minutes in time order, cut into 3 frames."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(n_sources):
        ts = np.sort(rng.integers(0, 3 * MINUTE_US, 15)) + T0_US
        frame = pl.DataFrame(
            {
                "ts": pl.Series(ts).cast(pl.Datetime("us", "UTC")),
                "item_id": [f"S{i:04d}"] * 15,
                "kind": rng.choice(["order", "delivery"], 15),
                "quantity": rng.integers(1, 10, 15),
            }
        )
        out.append([frame[:5], frame[5:10], frame[10:]])
    return out


def _merge(frames: list[list[pl.DataFrame]]) -> pl.DataFrame:
    from stockseries.live import merge_sources

    async def listed(parts: list[pl.DataFrame]) -> AsyncIterator[pl.DataFrame]:
        for part in parts:
            yield part

    async def drain() -> list[pl.DataFrame]:
        merged = merge_sources(*(listed(parts) for parts in frames), queue_size=2)
        return [frame async for frame in merged]

    out = pl.concat(asyncio.run(drain()))
    assert out.height == 15 * len(frames) and out["ts"].is_sorted()
    return out


def _batch_sort(frames: list[list[pl.DataFrame]]) -> pl.DataFrame:
    return pl.concat([part for parts in frames for part in parts]).sort("ts", maintain_order=True)


def _processor(window: int) -> Callable[[Any], Any]:
    def build(_: Any) -> Any:
        from stockseries.live import StreamProcessor

        methods = ("zscore", "mad") * 10
        return [StreamProcessor(method=m, window=window, every="1m") for m in methods]

    return build


def _frames_of(span: str, expected: int) -> Callable[[Any], Any]:
    def run(_: Any) -> int:
        from stockseries.live import order_source

        async def drain() -> int:
            source = order_source(3, end="2024-01-02T00:00:00Z", span=span)
            return sum([1 async for _ in source])

        n = asyncio.run(drain())
        assert n == expected
        return n

    return run


CLAIMS = (
    Claim(
        "tune, 100 settings", "50 items × 30 days of 1-min buckets (2.16 M), labelled bursts",
        "one `detect_spikes` zscore (w=60) pass", "< 30 s",
        lambda: labelled_series(50, 30 * 1440, seed=5), _tune, _detect,
    ),
    Claim(
        "`merge_sources`, 1,000 sources", "3 frames each, 15,000 events",
        "the same frames concatenated and sorted in one batch", "< 20 s",
        lambda: source_frames(1_000), _merge, _batch_sort,
    ),
    Claim(
        "`StreamProcessor(window=10**9)`", "zscore and mad, 10 of each constructed",
        "the same with `window=60`", "< 2 s",
        lambda: None, _processor(10**9), _processor(60),
    ),
    Claim(
        "`order_source`, virtual clock", "3 items × 1 day, 144 frames of 10 min",
        "the same day in one frame (`span=\"1d\"`)", "< 10 s",
        lambda: None, _frames_of("10m", 144), _frames_of("1d", 1),
    ),
)  # fmt: skip


def _timed(run: Callable[[Any], Any], data: Any) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    run(data)
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(runs: int) -> dict[str, dict[str, list[float]]]:
    """Per claim: wall and CPU seconds of the claim and of its reference, one per round."""
    inputs = {claim.name: claim.setup() for claim in CLAIMS}
    for claim in CLAIMS:  # warm-up: imports, caches, thread pools
        claim.run(inputs[claim.name])
        claim.run_reference(inputs[claim.name])
    found: dict[str, dict[str, list[float]]] = {
        claim.name: {"wall": [], "cpu": [], "ref_wall": [], "ref_cpu": []} for claim in CLAIMS
    }
    for _ in range(runs):
        for claim in CLAIMS:
            times = found[claim.name]
            wall, cpu = _timed(claim.run, inputs[claim.name])
            ref_wall, ref_cpu = _timed(claim.run_reference, inputs[claim.name])
            times["wall"].append(wall)
            times["cpu"].append(cpu)
            times["ref_wall"].append(ref_wall)
            times["ref_cpu"].append(ref_cpu)
    return found


def document(found: dict[str, dict[str, list[float]]], *, command: str, started: datetime, loads: tuple[str, str], runs: int) -> str:  # fmt: skip
    """SPEED_CLAIMS.md: the table, the machine, the versions and the load."""
    about = machine()
    about.pop("load average (1/5/15 min) at start", None)
    rows = []
    for claim in CLAIMS:
        times = {key: statistics.median(values) for key, values in found[claim.name].items()}
        ratios = [
            a / b
            for a, b in zip(found[claim.name]["wall"], found[claim.name]["ref_wall"], strict=True)
        ]
        rows.append(
            f"| {claim.name} | {claim.work} | {times['wall']:.3f} ({times['cpu']:.3f}) "
            f"| {claim.reference} | {times['ref_wall']:.3f} ({times['ref_cpu']:.3f}) "
            f"| **{statistics.median(ratios):.2f}×** ({min(ratios):.2f}–{max(ratios):.2f}) "
            f"| {claim.old_bound} |"
        )
    lines = [
        "# Speed claims moved out of the unit tests",
        "",
        f"Written by `{command}` on {started:%Y-%m-%d %H:%M} UTC. Each row was a wall-clock "
        "bound in a unit test; the tests now count the work that keeps it fast (settings "
        "prepared, releases of the merge, memory of the constructor, timers armed), and the "
        "time is measured here beside a reference doing comparable work "
        "(`benchmarks/speed_claims.py` says which test each row came from).",
        "",
        f"Median of {runs} interleaved rounds; seconds are wall (CPU of this process, all "
        "threads); *ratio* is the claim's wall time over its reference's, per round (median, "
        "then the range); *old bound* is the wall-clock limit the unit test used to assert.",
        "",
        "| claim | work | median s (CPU s) | reference | reference median s (CPU s) | ratio | old bound |",
        "|---|---|---:|---|---:|---:|---|",
        *rows,
        "",
        f"Load average (1/5/15 min): {loads[0]} at the start, {loads[1]} at the end "
        f"({os.cpu_count()} cores; above ~1 the absolute times are inflated, the ratios less so).",
        "",
        "Machine: " + ", ".join(f"{key} {value}" for key, value in about.items()) + ".",
        "Versions: " + ", ".join(f"{key} {value}" for key, value in versions().items()) + ".",
        "",
        "Re-run: `.venv/bin/python -m benchmarks.speed_claims --runs 5`.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="interleaved rounds (median quoted)")
    parser.add_argument("--out", type=Path, default=HERE / "SPEED_CLAIMS.md")
    args = parser.parse_args(argv)
    started, load = datetime.now(UTC), load_average()
    found = measure(max(1, args.runs))
    command = "python -m benchmarks.speed_claims" + (
        f" --runs {args.runs}" if args.runs != 5 else ""
    )
    text = document(
        found, command=command, started=started, loads=(load, load_average()), runs=args.runs
    )
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
