"""The full pipeline on a Dask LocalCluster vs one process, side by side in one run.

``python -m benchmarks.cluster [--sizes 50M,200M] [--workers 2] [--single-max 50M]``

For each size a day-partitioned Parquet data set is generated once
(``stockseries.outofcore.generate_dataset``, cached under ``benchmarks/_work/cluster_<size>``).
Every measurement runs in a fresh subprocess, one after the other:

* ``single``: ``detect_alerts(read_events(folder), "1m", window=60, k=3)`` — the lean
  in-memory pipeline in one process (sizes up to ``--single-max``; above that one process would
  need most of this machine's RAM);
* ``out-of-core``: ``run_out_of_core(folder, alerts_out=...)`` — one process, bounded memory
  (sizes above ``--single-max``, as the reference result);
* ``cluster``: ``stockseries.distributed.detect_alerts(folder, "1m", window=60, k=3,
  compute=True)`` on ``LocalCluster(n_workers=W, threads_per_worker=1, processes=True)``.
  Cluster start-up is timed apart; the task stream gives the busy time of each phase (read,
  shuffle, kernel); every worker reports its peak RSS (``getrusage``, fresh processes).

The alerts of each run are written to Parquet and compared (``polars.testing``): the run fails
if they differ. A last step times ``detect_alerts`` on a tiny frame with 1 to 64 partitions:
the slope is the fixed cost of one partition. Results go to
``benchmarks/_work/cluster_last_run.json`` and a Markdown table on stdout (``SCALE.md`` quotes
them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

WORK = Path(__file__).parent / "_work"
PARAMS: dict[str, Any] = {"window": 60, "k": 3.0}


def _size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("KM")) * scale)


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# --------------------------------------------------------------------------- subprocesses


def run_single(folder: str, out: str) -> dict[str, Any]:
    import stockseries as ss

    start = time.perf_counter()
    found = ss.detect_alerts(ss.read_events(folder), "1m", **PARAMS)
    seconds = time.perf_counter() - start
    found.frame.write_parquet(out)
    return {"seconds": seconds, "peak_rss": _peak_rss(), "alerts": len(found)}


def run_out_of_core(folder: str, out: str) -> dict[str, Any]:
    from stockseries.outofcore import run_out_of_core

    start = time.perf_counter()
    result = run_out_of_core(folder, alerts_out=out, progress=False, **PARAMS)
    return {
        "seconds": time.perf_counter() - start,
        "peak_rss": _peak_rss(),
        "alerts": result.alerts.frame.height,
    }


def run_cluster(folder: str, out: str, workers: int) -> dict[str, Any]:
    import logging

    from distributed import Client, LocalCluster, get_task_stream

    import stockseries.distributed as ssd

    logging.getLogger("distributed").setLevel(logging.ERROR)
    start = time.perf_counter()
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as client,
    ):
        startup = time.perf_counter() - start
        start = time.perf_counter()
        with get_task_stream(client) as stream:
            found = ssd.detect_alerts(folder, "1m", client=client, compute=True, **PARAMS)
        seconds = time.perf_counter() - start
        peaks = client.run(_peak_rss)
        limit = next(iter(client.scheduler_info()["workers"].values()))["memory_limit"]
        phases: dict[str, float] = {}
        for task in stream.data:
            prefix = _phase(task["key"])
            busy = sum(
                s["stop"] - s["start"] for s in task["startstops"] if s["action"] == "compute"
            )
            phases[prefix] = phases.get(prefix, 0.0) + busy
        partitions = sum(1 for task in stream.data if _phase(task["key"]) == "kernel")
    found.frame.write_parquet(out)
    return {
        "seconds": seconds,
        "startup": startup,
        "alerts": len(found),
        "worker_peak_rss": sorted(peaks.values()),
        "worker_memory_limit": limit,
        "client_peak_rss": _peak_rss(),
        "phases_busy_s": phases,
        "partitions": partitions,
    }


def _phase(key: Any) -> str:
    name = key[0] if isinstance(key, tuple) else str(key)
    if name.startswith("read-events"):
        return "read"
    if "shuffle" in name:
        return "shuffle"
    if name.startswith("run_partition") or name.startswith("run-partition"):
        return "kernel"
    return name.split("-")[0]


def run_overhead(workers: int) -> dict[str, Any]:
    """Seconds of one tiny run per partition count: the slope is the per-partition cost."""
    import logging

    from distributed import Client, LocalCluster

    import stockseries as ss
    import stockseries.distributed as ssd

    logging.getLogger("distributed").setLevel(logging.ERROR)
    events = ss.simulate(20, start="2024-01-01", days=0.5, seed=0).events
    timings: dict[int, float] = {}
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as client,
    ):
        ssd.detect_alerts(events, client=client, compute=True, **PARAMS)  # warm-up
        for parts in (1, 4, 16, 64):
            runs = []
            for _ in range(3):
                start = time.perf_counter()
                ssd.detect_alerts(events, client=client, npartitions=parts, compute=True, **PARAMS)
                runs.append(time.perf_counter() - start)
            timings[parts] = sorted(runs)[1]
    xs, ys = list(timings), list(timings.values())
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mean_x) ** 2 for x in xs
    )
    return {"events": events.height, "seconds_by_partitions": timings, "per_partition_s": slope}


def _child(args: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.cluster", "--child", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- driver


def _dataset(n: int, label: str) -> Path:
    from stockseries.outofcore import generate_dataset

    root = WORK / f"cluster_{label}"
    if not (root / "events").exists():
        generate_dataset(root, n, seed=0, progress=False)
    return root / "events"


def _same_alerts(a: Path, b: Path) -> bool:
    import polars as pl
    from polars.testing import assert_frame_equal

    assert_frame_equal(pl.read_parquet(a), pl.read_parquet(b))
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cluster")
    parser.add_argument("--sizes", default="50M,200M")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--single-max", default="50M")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        result = {
            "single": lambda: run_single(*rest),
            "ooc": lambda: run_out_of_core(*rest),
            "cluster": lambda: run_cluster(rest[0], rest[1], int(rest[2])),
            "overhead": lambda: run_overhead(int(rest[0])),
        }[kind]()
        print(json.dumps(result))
        return 0
    WORK.mkdir(exist_ok=True)
    records: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": os.getloadavg(),
            "python": platform.python_version(),
        },
        "sizes": {},
    }
    for label in args.sizes.split(","):
        n = _size(label)
        folder = _dataset(n, label)
        alone_kind = "single" if n <= _size(args.single_max) else "ooc"
        alone_out = WORK / f"cluster_{label}_{alone_kind}_alerts.parquet"
        cluster_out = WORK / f"cluster_{label}_cluster_alerts.parquet"
        alone = _child([alone_kind, str(folder), str(alone_out)])
        cluster = _child(["cluster", str(folder), str(cluster_out), str(args.workers)])
        same = _same_alerts(alone_out, cluster_out)
        records["sizes"][label] = {
            "events": n,
            alone_kind: alone,
            "cluster": cluster,
            "same_alerts": same,
            "ratio_cluster_over_alone": cluster["seconds"] / alone["seconds"],
            "load_average_after": os.getloadavg(),
        }
        print(json.dumps({label: records["sizes"][label]}, indent=1), flush=True)
    records["overhead"] = _child(["overhead", str(args.workers)])
    records["machine"]["load_average_at_end"] = os.getloadavg()
    (WORK / "cluster_last_run.json").write_text(json.dumps(records, indent=1))
    print(json.dumps(records["overhead"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
