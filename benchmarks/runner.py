"""Measure one (stage, implementation, size): the body of every benchmark subprocess.

Run as ``python -m benchmarks.runner '<task json>'`` by the harness, so that each figure gets
a fresh interpreter: peak memory is then that implementation's own, and nothing one library
cached (thread pools, string caches, allocator arenas) helps another.

Timing: ``time.perf_counter`` around the stage call only; loading the input is not timed.
Memory: the input is loaded first, then the peak resident set size (``VmHWM``) is reset
through ``/proc/self/clear_refs`` before every run, and the peak of the run minus the resident
size with the input loaded is reported (the extra memory the stage needed, output included).
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import json
import re
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.stages import STAGE_BY_NAME, Stage
from benchmarks.workload import DAYS, FRAME_EVENTS, N_ITEMS, Workload

#: implementation name -> module; the order is the column order of the report.
IMPLEMENTATIONS: dict[str, str] = {
    "stockseries": "benchmarks.impl_stockseries",
    "polars": "benchmarks.peers_polars",
    "pandas": "benchmarks.peers_pandas",
    "duckdb": "benchmarks.peers_duckdb",
    "asyncio": "benchmarks.peers_asyncio",
    "streamz": "benchmarks.peers_streamz",
    "floor": "benchmarks.floor",
}

#: Why a peer has no figure for a stage (shown in the report instead of a number).
NOT_APPLICABLE: dict[tuple[str, str], str] = {
    ("pandas", "simulate"): "no event simulator in pandas",
    ("duckdb", "simulate"): "no event simulator in SQL",
    ("polars", "incremental"): "batch engine: see the per-event asyncio/streamz peers",
    ("pandas", "incremental"): "batch engine: see the per-event asyncio/streamz peers",
    ("duckdb", "incremental"): "batch engine: see the per-event asyncio/streamz peers",
}

RESULT_PREFIX = "BENCHMARK-RESULT "

#: A first run shorter than this is an unreported warm-up (see ``measure``).
WARMUP_BELOW_S = 1.0


@dataclass(frozen=True)
class Task:
    stage: str
    impl: str
    n_events: int
    seed: int
    work_dir: str
    n_items: int = N_ITEMS
    days: float = DAYS
    runs: int = 3
    budget_s: float = 60.0
    stream_cap: int = 1_000_000
    write_result: bool = True


def workload_of(task: Task) -> Workload:
    return Workload(task.n_events, task.seed, Path(task.work_dir), task.n_items, task.days)


def applies(impl: str, stage: str) -> bool:
    """Whether ``impl`` has an implementation of ``stage`` (without importing heavy peers)."""
    if (impl, stage) in NOT_APPLICABLE:
        return False
    spec = importlib.util.find_spec(IMPLEMENTATIONS[impl])
    if spec is None or spec.origin is None:
        return False
    # A module-level ``def <stage>(`` or ``<stage> = ...``: cheap to check, no import needed.
    source = Path(spec.origin).read_text()
    return re.search(rf"^(def {stage}\(|{stage} = )", source, re.MULTILINE) is not None


# --------------------------------------------------------------------------- memory


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0); False where that is not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def _no_collect() -> int:
    return 0


def _mb(kb: int) -> float:
    return kb * 1024 / 1e6


# --------------------------------------------------------------------------- inputs


def load_input(stage: Stage, impl: str, native: str, task: Task) -> tuple[Any, int]:
    """The stage input in the implementation's native form, and how many events it holds."""
    work = workload_of(task)
    kind = stage.input
    if impl == "floor" and kind != "series":
        kind = "events"  # the floor reads the events those stages produce, decode or consume
    if kind == "none":
        return work, task.n_events
    if kind == "csv":
        return work.csv, task.n_events
    if kind == "parquet":
        return work.parquet, task.n_events
    path = work.series if kind == "series" else work.parquet
    if native == "pandas":
        import pandas as pd

        return pd.read_parquet(path), task.n_events
    if native == "arrow":
        import pyarrow.parquet as pq

        return pq.read_table(path), task.n_events
    import polars as pl

    if kind != "frames":
        return pl.read_parquet(path), task.n_events
    # Every streaming implementation gets the same prefix: the per-event Python peers are
    # linear in events, so a prefix gives their rate honestly without an hour per figure at
    # 50 M events, and the StreamProcessor is then compared like for like. Only the prefix is
    # read: the freed rest of a full read would be reused by the run and hide its peak memory.
    frame = pl.read_parquet(path, n_rows=task.stream_cap or None)
    frames = [frame.slice(offset, FRAME_EVENTS) for offset in range(0, frame.height, FRAME_EVENTS)]
    return frames, frame.height


# --------------------------------------------------------------------------- measuring


def measure(task: Task, *, isolated: bool = True) -> dict[str, Any]:
    """Run the task; returns a JSON-able record (status, times, peaks, result file)."""
    stage = STAGE_BY_NAME[task.stage]
    record: dict[str, Any] = {"task": asdict(task), "isolated": isolated}
    if not applies(task.impl, task.stage):
        reason = NOT_APPLICABLE.get((task.impl, task.stage), "")
        return record | {"status": "n/a" if reason else "skip", "reason": reason}
    module = importlib.import_module(IMPLEMENTATIONS[task.impl])
    function = getattr(module, task.stage)
    available = getattr(module, "available", None)
    missing = available(task.stage) if available else None
    if missing:
        return record | {"status": "not available", "reason": missing}

    stage_input, events = load_input(stage, task.impl, module.NATIVE, task)
    # Collections only matter for the memory figures; in a big shared interpreter (tests)
    # they would cost more than the tiny runs themselves.
    collect = gc.collect if isolated else _no_collect
    collect()
    baseline_kb = _status_kb("VmRSS")
    times: list[float] = []
    peaks: list[float] = []
    peak_reset = True
    result: Any = None
    warmup_s: float | None = None
    while len(times) < task.runs:
        result = None
        collect()
        peak_reset = _reset_peak() and peak_reset
        start = time.perf_counter()
        try:
            result = function(stage_input)
        except Exception as error:
            traceback.print_exc()
            return record | {"status": "error", "reason": f"{type(error).__name__}: {error}"}
        elapsed = time.perf_counter() - start
        if warmup_s is None and elapsed < WARMUP_BELOW_S:
            # A cheap first run pays lazy imports, thread-pool start and allocator growth
            # that a long-lived analysis session pays once: keep it out of the figures.
            warmup_s = elapsed
            continue
        warmup_s = warmup_s or 0.0
        times.append(elapsed)
        peaks.append(_mb(max(_status_kb("VmHWM") - baseline_kb, 0)))
        # The fastest run so far predicts the next one: a slow first run alone does not cut
        # a figure to one run.
        if len(times) < task.runs and sum(times) + min(times) > task.budget_s:
            break

    output_mb = None
    if task.impl != "floor":
        from benchmarks.compare import as_polars

        output = as_polars(result)
        output_mb = output.estimated_size() / 1e6
        if task.stage == "simulate":
            events = output.height
    record |= {
        "status": "ok",
        "times_s": times,
        "peaks_mb": peaks if isolated else [],
        "peak_reset": peak_reset,
        "warmup_s": warmup_s,
        "baseline_mb": _mb(baseline_kb),
        "output_mb": output_mb,
        "events": events,
    }
    if task.write_result and stage.comparison is not None and task.impl != "floor":
        record |= _write_result(task, stage, result)
    return record


def _write_result(task: Task, stage: Stage, result: Any) -> dict[str, Any]:
    from benchmarks.compare import canonical

    assert stage.comparison is not None
    work = workload_of(task)
    work.results_dir.mkdir(parents=True, exist_ok=True)
    path = work.results_dir / f"{task.stage}.{task.impl}.parquet"
    try:
        frame = canonical(result, stage.comparison)
    except Exception as error:
        return {"result_error": f"{type(error).__name__}: {error}"}
    frame.write_parquet(path)
    return {"result_path": str(path), "rows_out": frame.height}


def main(argv: list[str]) -> int:
    task = Task(**json.loads(argv[0]))
    record = measure(task)
    print(RESULT_PREFIX + json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
