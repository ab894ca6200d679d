"""Memory follows the history, not the window (issue 13 item 4).

The live engine retains each item's closed buckets up to the method's look-back; the
retained width grows with the buckets actually closed, so ``window=10**9`` on a few events
costs what those events cost. The look-back and the output columns come from the method
table, never from probing the batch detector with a window-long series.
"""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from stockseries._schema import ITEM, TS
from stockseries.live import StreamProcessor, replay_file
from stockseries.live.detection import COUNTS_ALL_HISTORY
from stockseries.live.times import timestamps
from stockseries.spikes import spike_params
from stockseries.spikes._decide import detect_frame
from stockseries.spikes.methods import METHODS, Detection, history_needed

from .helpers import batch, cut, feed, make_events

HUGE = 10**9
MINUTE_US = 60_000_000


def _counts_all_history(detection: Detection) -> bool:
    """Asked of the batch detector: does ``history`` keep growing past the look-back?"""
    width = history_needed(detection, MINUTE_US)

    def last_history(n: int) -> int:
        series = pl.DataFrame(
            {
                ITEM: ["a"] * n,
                TS: timestamps(TS, np.arange(n, dtype=np.int64) * MINUTE_US),
                "demand": pl.Series(np.zeros(n, dtype=np.int64)),
            }
        )
        return int(detect_frame(series, detection).get_column("history")[-1])

    return last_history(width + 7) - last_history(width + 2) == 5


@pytest.mark.parametrize("method", METHODS)
def test_table_says_which_methods_count_all_history(method: str) -> None:
    options = {"level": 5} if method == "threshold" else {}
    if method in ("zscore", "mad", "ewma", "quantile", "level_shift", "seasonal"):
        options["window"] = 3
    if method == "profile":
        options["period"] = "1d"
        options["seasons"] = 1
    detection = spike_params(method, **options)
    assert (method in COUNTS_ALL_HISTORY) == _counts_all_history(detection)


@pytest.mark.parametrize("method", ["zscore", "mad", "ewma", "seasonal", "level_shift"])
def test_huge_window_constructs_without_window_sized_work(method: str) -> None:
    # Nothing window-long is allocated or probed: constructing with a window of 10**9 takes
    # the memory a window of 60 takes (measured by tracemalloc, which NumPy reports to, so
    # the check does not depend on the machine's load). The time is a benchmark
    # (`python -m benchmarks.speed_claims`).
    def peak(window: int) -> int:
        tracemalloc.start()
        try:
            StreamProcessor(method=method, window=window, every="1m")
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    peak(60)  # lazy imports and caches are paid once, outside the comparison
    assert peak(HUGE) <= peak(60) + 64 * 1024


@pytest.mark.parametrize(
    "settings",
    [
        {"window": HUGE},
        {"window": HUGE, "min_periods": 3, "k": 1.0},
        {"method": "mad", "window": HUGE, "min_periods": 3, "k": 1.0},
        {"method": "ewma", "window": HUGE, "min_periods": 3, "k": 1.0},
        {"window": HUGE, "min_periods": 3, "k": 1.0, "corrections": True},
    ],
)
def test_huge_window_on_few_events_is_small_and_equals_batch(settings: dict) -> None:
    events = make_events(50, items=3, minutes=30)
    tracemalloc.start()
    try:
        processor = StreamProcessor(every="1m", **settings)
        run = feed(processor, cut(events, [10, 25, 40]))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20, f"{peak / 2**20:.1f} MiB traced"
    detected, found = batch(events, **{k: v for k, v in settings.items() if k != "corrections"})
    assert_frame_equal(run.series, detected, check_exact=True)
    assert_frame_equal(run.closed, found, check_exact=True)
    if "min_periods" not in settings:
        assert found.height == 0


def test_retained_history_grows_with_the_buckets_seen() -> None:
    events = make_events(200, items=4, minutes=600, spikes=0)
    processor = StreamProcessor(every="1m", window=HUGE)
    feed(processor, [events])
    history = processor._engine.history
    assert history.limit == HUGE
    assert 600 <= history.width <= 2 * 600
    assert processor._engine.registry["ring"].nbytes <= 64 * 2 * 600 * 8


def test_checkpoint_of_a_growing_ring_resumes_like_one_run(tmp_path: Path) -> None:
    events = make_events(400, items=3, minutes=120)
    settings = {"every": "1m", "window": HUGE, "min_periods": 5, "k": 1.5}
    whole = replay_file(events, **settings)
    checkpoint = tmp_path / "state.ckpt"
    replay_file(events.head(150), checkpoint=checkpoint, **settings)
    rest = replay_file(events, checkpoint=checkpoint, **settings)
    assert whole.frame.height > 0
    assert rest.frame.height <= whole.frame.height
    assert_frame_equal(rest.frame, whole.frame.tail(rest.frame.height))


@pytest.mark.parametrize("command", ["replay", "detect-out-of-core"])
def test_cli_huge_window_is_small(tmp_path: Path, command: str) -> None:
    # Memory is the claim (peak RSS, which load does not change); the subprocess timeout only
    # bounds a hang. The construction's time is in `python -m benchmarks.speed_claims`.
    make_events(50, items=3, minutes=30).write_csv(tmp_path / "events.csv")
    args = [str(tmp_path / "events.csv"), "-o", str(tmp_path / "alerts.csv")]
    args += ["--window", str(HUGE), "--quiet"] if command != "replay" else ["--window", str(HUGE)]
    cli = ["replay", *args] if command == "replay" else ["detect", *args, "--out-of-core"]
    # VmHWM, the peak of this process's own memory (ru_maxrss can carry the parent's peak
    # over fork + exec on Linux).
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from stockseries.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "status = Path('/proc/self/status').read_text().split('VmHWM:')[-1].split()\n"
        "print('PEAK', status[0] if status else 0, file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *cli], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "0 alert(s) written" in done.stdout
    # As `detect` in memory: the user is told why there is nothing.
    assert "no bucket had enough history" in done.stderr
    peak_kib = int(done.stderr.split("PEAK")[-1].split()[0])
    assert peak_kib < 300 * 1024, f"peak RSS {peak_kib / 1024:.0f} MiB"
