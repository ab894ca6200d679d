"""The full pipeline on a Dask LocalCluster vs one process, side by side in one run; writes SCALE.md.

``python -m benchmarks.cluster [--sizes 50M,200M] [--workers 2] [--hot 20M] [--out PATH]``
(``--render``: rewrite ``--out`` from the last run's records only.)

For each size a day-partitioned Parquet data set is generated once
(``stockseries.outofcore.generate_dataset``, cached under ``benchmarks/_work/cluster_<size>``).
Every measurement runs in a fresh subprocess, one after the other:

* ``single``: ``detect_alerts(read_events(folder), "1m", window=60, k=3)`` — the in-memory
  pipeline in one process, Polars on every core (sizes up to ``--single-max``; above that one
  process would need most of this machine's RAM);
* ``out-of-core``: ``run_out_of_core(folder, alerts_out=...)`` — one process, bounded memory
  (sizes above ``--single-max``, as the reference result);
* ``cluster``: ``stockseries.distributed.detect_alerts(folder, "1m", window=60, k=3,
  compute=True)`` on ``stockseries.distributed.local_cluster(n_workers=W,
  threads_per_worker=1)`` (a ``LocalCluster`` of processes whose Polars runs one thread each,
  ``POLARS_MAX_THREADS=1``), and at the first size once more on a plain ``LocalCluster`` whose
  workers' Polars uses every core (what a ``LocalCluster`` without the setting does). Cluster start-up is timed apart; the task
  stream gives the busy time of each phase; every worker reports its peak RSS (fresh
  processes) and its CPU seconds.
* ``hot``: a data set where one item has 90 % of ``--hot`` events, on workers with a memory
  limit: same alerts as one process, no worker restarted, and the peak RSS of the worker that
  held the hot item (bytes per event of the largest item: the memory bound of skew).
* ``overhead``: ``detect_alerts`` on a tiny frame in 1 to 64 partitions: the slope is the fixed
  cost of one partition.

Besides wall time, every run reports CPU seconds (user + system, all processes of the run):
on a machine shared with other work, wall time depends on how much CPU the run was given,
CPU seconds much less. The alerts of each run are compared (``polars.testing``): the run fails
if they differ. Records go to ``benchmarks/_work/cluster_last_run.json``, and the Markdown
report to ``benchmarks/SCALE.md`` (:mod:`benchmarks._scale_report`).
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
RESULTS = Path(__file__).parent / "RESULTS.md"
PARAMS: dict[str, Any] = {"window": 60, "k": 3.0}
HOT_SHARE = 0.9
HOT_MEMORY_LIMIT = "8GiB"
POLARS_PER_WORKER = "per-worker"  # stockseries.distributed.local_cluster
POLARS_EVERY_CORE = "every-core"  # a plain LocalCluster


def _size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("KM")) * scale)


def _peak_rss() -> int:
    # VmHWM where there is one: ru_maxrss of a spawned worker starts at its parent's peak.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _uptime() -> str:
    return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


# --------------------------------------------------------------------------- subprocesses


def run_single(folder: str, out: str) -> dict[str, Any]:
    import stockseries as ss

    start, cpu = time.perf_counter(), _cpu_seconds()
    found = ss.detect_alerts(ss.read_events(folder), "1m", **PARAMS)
    seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    found.frame.write_parquet(out)
    return {"seconds": seconds, "cpu_s": cpu, "peak_rss": _peak_rss(), "alerts": len(found)}


def run_out_of_core(folder: str, out: str) -> dict[str, Any]:
    from stockseries.outofcore import run_out_of_core

    start, cpu = time.perf_counter(), _cpu_seconds()
    result = run_out_of_core(folder, alerts_out=out, progress=False, **PARAMS)
    return {
        "seconds": time.perf_counter() - start,
        "cpu_s": _cpu_seconds() - cpu,
        "peak_rss": _peak_rss(),
        "alerts": result.alerts.frame.height,
    }


def run_cluster(
    folder: str, out: str, workers: int, polars: str = POLARS_PER_WORKER, memory_limit: str = "auto"
) -> dict[str, Any]:
    import logging

    from distributed import Client, LocalCluster, get_task_stream

    import stockseries.distributed as ssd

    logging.getLogger("distributed").setLevel(logging.ERROR)
    start = time.perf_counter()
    # The stockseries way (one Polars thread per worker), or a plain LocalCluster (Polars on
    # every core in every worker) for comparison.
    make = ssd.local_cluster if polars == POLARS_PER_WORKER else LocalCluster
    with (
        make(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
            memory_limit=memory_limit,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(_import_engine)
        startup = time.perf_counter() - start
        before, workers_before = client.run(_cpu_seconds), set(client.scheduler_info()["workers"])
        start, cpu = time.perf_counter(), _cpu_seconds()
        with get_task_stream(client) as stream:
            found = ssd.detect_alerts(folder, "1m", client=client, compute=True, **PARAMS)
        seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
        after = client.run(_cpu_seconds)
        restarted = set(client.scheduler_info()["workers"]) != workers_before
        peaks = client.run(_peak_rss)
        client_threads = sorted(set(client.run(_polars_threads).values()))
        limit = next(iter(client.scheduler_info()["workers"].values()))["memory_limit"]
        phases = _phases(stream.data)
    found.frame.write_parquet(out)
    return {
        "seconds": seconds,
        "startup": startup,
        "cpu_s": cpu + sum(after[w] - before[w] for w in after if w in before),
        "client_cpu_s": cpu,
        "alerts": len(found),
        "worker_peak_rss": sorted(peaks.values()),
        "worker_memory_limit": limit,
        "worker_restarted": restarted,
        "client_peak_rss": _peak_rss(),
        "phases_busy_s": phases,
        "partitions": sum(1 for task in stream.data if _phase(task["key"]) == "kernel"),
        "polars_threads": client_threads,
    }


def _polars_threads() -> int:
    import polars

    return polars.thread_pool_size()


def _import_engine() -> None:
    import stockseries.distributed  # noqa: F401  (imports are start-up, not run time)


def _phases(tasks: list[dict[str, Any]]) -> dict[str, float]:
    phases: dict[str, float] = {}
    for task in tasks:
        busy = sum(s["stop"] - s["start"] for s in task["startstops"] if s["action"] == "compute")
        name = _phase(task["key"])
        phases[name] = phases.get(name, 0.0) + busy
    return phases


def _phase(key: Any) -> str:
    name = key[0] if isinstance(key, tuple) else str(key)
    for prefix, phase in (
        ("read-events", "read"),  # before the read was fused into the split
        ("shuffle-split", "split"),
        ("split", "split"),
        ("run-partition", "kernel"),
    ):
        if name.startswith(prefix):
            return phase
    return name.split("-")[0]


def run_overhead(workers: int) -> dict[str, Any]:
    """Seconds of one tiny run per partition count: the slope is the per-partition cost."""
    import logging

    from distributed import Client

    import stockseries as ss
    import stockseries.distributed as ssd

    logging.getLogger("distributed").setLevel(logging.ERROR)
    events = ss.simulate(20, start="2024-01-01", days=0.5, seed=0).events
    timings: dict[int, float] = {}
    with (
        ssd.local_cluster(
            n_workers=workers, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0"
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
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["load_after"] = os.getloadavg()[0]
    return result


def _run_child(kind: str, rest: list[str]) -> dict[str, Any]:
    if kind == "single":
        return run_single(*rest)
    if kind == "ooc":
        return run_out_of_core(*rest)
    if kind == "cluster":
        return run_cluster(rest[0], rest[1], int(rest[2]), rest[3], rest[4])
    if kind == "overhead":
        return run_overhead(int(rest[0]))
    raise ValueError(kind)


# --------------------------------------------------------------------------- data sets


def _dataset(n: int, label: str) -> Path:
    from stockseries.outofcore import generate_dataset

    root = WORK / f"cluster_{label}"
    if not (root / "events").exists():
        generate_dataset(root, n, seed=0, progress=False)
    return root / "events"


def _hot_dataset(n: int, label: str) -> Path:
    """``n`` events over 4 days, ``HOT_SHARE`` of them for item ``HOT``, one file per day."""
    import numpy as np
    import polars as pl

    root = WORK / f"cluster_hot_{label}"
    if root.exists():
        return root
    rng = np.random.default_rng(0)
    days, day_us = 4, 86_400 * 1_000_000
    tmp = root.with_name(root.name + ".tmp")
    for day in range(days):
        size = n // days
        hot = rng.random(size) < HOT_SHARE
        frame = pl.DataFrame(
            {
                "ts": pl.Series(np.sort(rng.integers(day * day_us, (day + 1) * day_us, size)))
                .cast(pl.Datetime("us", "UTC"))
                .dt.offset_by("54y"),  # 1970 + 54 years: 2024
                "item_id": np.where(
                    hot, "HOT", np.char.add("i", rng.integers(0, 100, size).astype(str))
                ),
                "kind": np.where(rng.random(size) < 0.6, "order", "delivery"),
                "quantity": rng.integers(1, 5, size),
            }
        )
        (tmp / f"day={day}").mkdir(parents=True, exist_ok=True)
        frame.write_parquet(tmp / f"day={day}" / "part-0.parquet")
    tmp.rename(root)
    return root


def _largest_partition(folder: Path, partitions: int) -> int:
    """Events of the largest output partition: items hashed as the cluster hashes them."""
    import polars as pl

    counts = (
        pl.scan_parquet(folder, hive_partitioning=True)
        .group_by((pl.col("item_id").hash(seed=0) % partitions).alias("partition"))
        .len()
        .collect(engine="streaming")
    )
    largest = counts.get_column("len").max()
    assert isinstance(largest, int)
    return largest


def _same_alerts(a: Path, b: Path) -> bool:
    import polars as pl
    from polars.testing import assert_frame_equal

    assert_frame_equal(pl.read_parquet(a), pl.read_parquet(b))
    return True


# --------------------------------------------------------------------------- driver


def _measure_size(label: str, args: argparse.Namespace, first: bool) -> dict[str, Any]:
    n = _size(label)
    folder = _dataset(n, label)
    alone_kind = "single" if n <= _size(args.single_max) else "ooc"
    alone_out = WORK / f"cluster_{label}_{alone_kind}_alerts.parquet"
    record: dict[str, Any] = {"events": n, "files": len(list(folder.rglob("*.parquet")))}
    record[alone_kind] = _child([alone_kind, str(folder), str(alone_out)])
    variants = [POLARS_PER_WORKER, POLARS_EVERY_CORE] if first else [POLARS_PER_WORKER]
    for polars in variants:
        out = WORK / f"cluster_{label}_cluster_{polars}_alerts.parquet"
        run = _child(["cluster", str(folder), str(out), str(args.workers), polars, "auto"])
        run["same_alerts"] = _same_alerts(alone_out, out)
        run["ratio"] = run["seconds"] / record[alone_kind]["seconds"]
        run["cpu_ratio"] = run["cpu_s"] / record[alone_kind]["cpu_s"]
        record["cluster" if polars == POLARS_PER_WORKER else "cluster_polars_every_core"] = run
    record["largest_partition"] = _largest_partition(folder, record["cluster"]["partitions"])
    if first:  # the single process again: the load changes during a run
        record[f"{alone_kind}_again"] = _child([alone_kind, str(folder), str(alone_out)])
    return record


def _measure_hot(label: str, args: argparse.Namespace) -> dict[str, Any]:
    n = _size(label)
    folder = _hot_dataset(n, label)
    alone_out = WORK / f"cluster_hot_{label}_single_alerts.parquet"
    out = WORK / f"cluster_hot_{label}_cluster_alerts.parquet"
    single = _child(["single", str(folder), str(alone_out)])
    cluster = _child(
        ["cluster", str(folder), str(out), str(args.workers), POLARS_PER_WORKER, HOT_MEMORY_LIMIT]
    )
    cluster["same_alerts"] = _same_alerts(alone_out, out)
    return {"events": n, "hot_events": round(n * HOT_SHARE), "single": single, "cluster": cluster}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cluster")
    parser.add_argument("--sizes", default="50M,200M")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--single-max", default="50M")
    parser.add_argument("--hot", default="20M", help="events of the skew run ('0': skip it)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "SCALE.md")
    parser.add_argument(
        "--render", action="store_true", help="only rewrite --out from the last run's records"
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_run_child(args.child[0], args.child[1:])))
        return 0
    from benchmarks._scale_report import render

    if args.render:
        last = json.loads((WORK / "cluster_last_run.json").read_text())
        command = last.get("command", "python -m benchmarks.cluster")
        args.out.write_text(render(last, command))
        _write_results_section(last, command)
        return 0

    WORK.mkdir(exist_ok=True)
    command = " ".join(["python -m benchmarks.cluster", *(sys.argv[1:] if argv is None else argv)])
    records: dict[str, Any] = {"machine": _machine(), "command": command, "sizes": {}}
    for number, label in enumerate(args.sizes.split(",")):
        records["sizes"][label] = _measure_size(label, args, first=number == 0)
        print(json.dumps({label: records["sizes"][label]}, indent=1), flush=True)
    if _size(args.hot):
        records["hot"] = _measure_hot(args.hot, args)
        print(json.dumps({"hot": records["hot"]}, indent=1), flush=True)
    records["overhead"] = _child(["overhead", str(args.workers)])
    records["machine"]["load_at_end"] = _uptime()
    records["machine"]["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    (WORK / "cluster_last_run.json").write_text(json.dumps(records, indent=1))
    args.out.write_text(render(records, command))
    _write_results_section(records, command)
    print(f"wrote {args.out} and the cluster section of {RESULTS}")
    return 0


def _write_results_section(records: dict[str, Any], command: str) -> None:
    """Replace (or add, before the broker section) the cluster section of RESULTS.md."""
    from benchmarks._scale_report import RESULTS_TITLE, results_section
    from benchmarks.merge import split_sections

    if not RESULTS.exists():
        return
    head, sections = split_sections(RESULTS.read_text())
    section = results_section(records, command) + "\n"
    titles = [title for title, _ in sections]
    if RESULTS_TITLE in titles:
        sections[titles.index(RESULTS_TITLE)] = (RESULTS_TITLE, section)
    else:
        if sections and not sections[-1][1].endswith("\n\n"):
            sections[-1] = (sections[-1][0], sections[-1][1].rstrip("\n") + "\n\n")
        sections.append((RESULTS_TITLE, section))
    RESULTS.write_text(head + "".join(text for _, text in sections))


def _machine() -> dict[str, Any]:
    import dask
    import polars
    import pyarrow

    return {
        "cpus": os.cpu_count(),
        "memory_gib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30,
        "load_at_start": _uptime(),
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "python": platform.python_version(),
        "versions": {
            "polars": polars.__version__,
            "pyarrow": pyarrow.__version__,
            "dask": dask.__version__,
        },
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip(),
    }


if __name__ == "__main__":
    raise SystemExit(main())
