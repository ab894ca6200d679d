"""``benchmarks/SCALE.md`` from the records of ``python -m benchmarks.cluster``."""

from __future__ import annotations

from typing import Any

GIB = 2**30
# timestamp 8, item_id ≈ 16 as a string view, quantity 8, kind 1 (boolean)
SHUFFLE_BYTES_PER_EVENT = 33


def _gib(n: float) -> str:
    return f"{n / GIB:.2f}"


def _peaks(run: dict[str, Any]) -> str:
    return " / ".join(_gib(p) for p in run["worker_peak_rss"]) + " GiB"


def render(records: dict[str, Any], command: str) -> str:
    """The whole SCALE.md text."""
    machine = records["machine"]
    parts = [
        "# The pipeline on a Dask cluster: 50 M and 200 M events\n",
        f"Written by `{command}` (script: `benchmarks/cluster.py`), commit `{machine['commit']}`,"
        f" {machine['started']} → {machine['finished']}. Machine: {machine['cpus']} CPUs, "
        f"{machine['memory_gib']:.0f} GiB RAM, Python {machine['python']}, "
        + ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
        + f". **Load at start: {machine['load_at_start']}; at the end: "
        f"{machine['load_at_end']}** (a quiet machine sits below 1; every row also gives the "
        "1-minute load right after it). On a shared machine wall times follow how much CPU a "
        "run was given; CPU seconds (user + system of every process of the run: workers and "
        "client for the cluster) are the load-independent measure of the work.\n",
        _method_text(),
        _results_table(records),
        _memory_text(records),
        _phases_text(records),
        _hot_text(records),
        _overhead_text(records),
        _alternatives_text(),
        _projection_text(records),
    ]
    return "\n".join(part for part in parts if part)


def _method_text() -> str:
    return (
        "The full pipeline — a day-partitioned Parquet folder → validated events → dense "
        "1-minute series → z-score detection (`window=60`, `k=3`) → alert episodes — as "
        "`stockseries.distributed.detect_alerts(folder, compute=True)` on "
        "`stockseries.distributed.local_cluster(n_workers=2, threads_per_worker=1)` (a "
        "`LocalCluster` of processes with `POLARS_MAX_THREADS=1` in each worker; at the first "
        "size also on a plain `LocalCluster`, whose workers' Polars uses every core), against one process "
        "in the same run (`detect_alerts(read_events(folder))`; at 200 M one process would need "
        "most of this machine's RAM, so the single-machine reference there is the bounded-memory "
        "`run_out_of_core`). Each measurement is a fresh subprocess. Alerts of the cluster and "
        "of one process are compared with `polars.testing.assert_frame_equal` (ids included); "
        "the script stops if they differ. Data: `generate_dataset(root, N, seed=0)` — 1,000 "
        "items, Poisson demand with a daily cycle, spikes, replenishment, one file per day.\n\n"
        "How the cluster runs (`stockseries/distributed/`): each worker reads and validates its "
        "day files itself (Polars), splits them by a hash of `item_id` into one Arrow piece per "
        "output partition (only the columns the function reads, `kind` as a boolean), kept as "
        "an Arrow IPC file on the worker's disk, and reports the day's last timestamp (read "
        "and split are one task); each piece goes to the worker that runs its output partition "
        "(between workers of one machine as a hard-linked file, else Dask moves its bytes), which "
        "memory-maps them, concatenates them in input order and runs the in-memory "
        "`detect_alerts` once, to the global last bucket; the alert tables come back to the "
        "client as Arrow.\n"
    )


_CLUSTER_VARIANTS = (
    ("cluster", ""),
    ("cluster_polars_every_core", ", plain `LocalCluster`: Polars on every core in each worker"),
    ("cluster_one_polars_thread", ", POLARS_MAX_THREADS=1"),  # records before 2026-12-03 15:30
)


def _size_cells(record: dict[str, Any]) -> dict[str, str]:
    """Cells shared by the tables: events, partitions, largest partition, peaks per worker."""
    run, largest = record["cluster"], record.get("largest_partition")
    return {
        "events": f"{record['events'] / 1e6:.0f} M",
        "partitions": f"{run['partitions']}",
        "largest": f"{largest / 1e6:.1f} M events" if largest else "–",
        "peaks": _peaks(run),
    }


def _results_table(records: dict[str, Any]) -> str:
    rows = [
        "## Results\n",
        "| events | one process | 2-worker cluster | cluster / one process (wall) | CPU s: one "
        "process → cluster | peak RSS per worker | same alerts |",
        "|---:|---|---|---:|---|---|---|",
    ]
    for record in records["sizes"].values():
        alone_kind = "single" if "single" in record else "ooc"
        alone = record[alone_kind]
        name = "`detect_alerts(read_events)`" if alone_kind == "single" else "`run_out_of_core`"
        for key, what in _CLUSTER_VARIANTS:
            if key not in record:
                continue
            run = record[key]
            rows.append(
                f"| {record['events'] / 1e6:.0f} M ({record['files']} files) | {name}: "
                f"**{alone['seconds']:.1f} s**, peak {_gib(alone['peak_rss'])} GiB (load "
                f"{alone['load_after']:.1f}) | **{run['seconds']:.1f} s**{what} (+ "
                f"{run['startup']:.1f} s start; load {run['load_after']:.1f}), "
                f"{run['partitions']} partitions | **{run['ratio']:.2f}×** | "
                f"{alone['cpu_s']:.1f} → {run['cpu_s']:.1f} ({run['cpu_ratio']:.2f}×) | "
                f"{_peaks(run)} (limit {_gib(run['worker_memory_limit'])} GiB) | "
                f"{'yes' if run['same_alerts'] else 'NO'} ({run['alerts']:,} alerts) |"
            )
        again = record.get(f"{alone_kind}_again")
        if again:
            rows.append(
                f"| | one process again, after the cluster runs: {again['seconds']:.1f} s "
                f"(load {again['load_after']:.1f}); the cluster / one process ratio with the "
                f"mean of both: **{record['cluster']['seconds'] * 2 / (alone['seconds'] + again['seconds']):.2f}×** |"
                " | | | | |"
            )
    return "\n".join(rows) + "\n"


RESULTS_TITLE = "On a Dask cluster (issue 14)"


def results_section(records: dict[str, Any], command: str) -> str:
    """The short cluster section of ``benchmarks/RESULTS.md`` (details: SCALE.md)."""
    machine = records["machine"]
    rows = [
        f"## {RESULTS_TITLE}\n",
        f"`{command}`, commit `{machine['commit']}`, {machine['started']} → "
        f"{machine['finished']}, {machine['load_at_start']} → {machine['load_at_end']}. "
        "The full pipeline (day-partitioned Parquet → `detect_alerts`, z-score w=60 k=3) on a "
        "2-worker `LocalCluster` against one process, side by side; details, phases and the "
        "projection in `benchmarks/SCALE.md`.\n",
        "| events | one process | cluster | ratio (wall) | largest partition | peak RSS per "
        "worker | same alerts |",
        "|---:|---|---|---:|---:|---|---|",
    ]
    for record in records["sizes"].values():
        alone_kind = "single" if "single" in record else "ooc"
        alone, run, cells = record[alone_kind], record["cluster"], _size_cells(record)
        name = "in memory" if alone_kind == "single" else "out of core"
        rows.append(
            f"| {cells['events']} | {name}: {alone['seconds']:.1f} s | "
            f"{run['seconds']:.1f} s, {cells['partitions']} partitions | "
            f"**{run['ratio']:.2f}×** (CPU s {run['cpu_ratio']:.2f}×) | {cells['largest']} | "
            f"**{cells['peaks']}** | {'yes' if run['same_alerts'] else 'NO'} |"
        )
    rows.append(
        "\nPer-worker memory follows the largest output partition, not the data size: the "
        "shuffle's pieces wait on the workers' disk (before: 4.43 / 4.50 GiB per worker at "
        "200 M).\n"
    )
    return "\n".join(rows) + "\n"


def _memory_text(records: dict[str, Any]) -> str:
    rows = [
        "## Memory per worker as the data grows\n",
        "The split pieces wait for their output partition as Arrow IPC files on the worker's "
        "disk (`stockseries/distributed/_pieces.py`), not in its memory: a worker holds one file "
        "being split and one output partition's kernel at a time. Its peak follows the largest "
        "output partition, not the data size. Items are hashed into partitions, so with 1,000 "
        "items the largest partition is further above the mean the more partitions there are "
        "(≈ 1 + √(2 P ln P / I)); the last column divides by it.\n",
        "| events | partitions | largest partition | pieces on disk | peak RSS per worker | "
        "bytes per event of the largest partition |",
        "|---:|---:|---:|---:|---|---:|",
    ]
    for record in records["sizes"].values():
        run, largest, cells = (
            record["cluster"],
            record.get("largest_partition"),
            _size_cells(record),
        )
        per_event = f"{max(run['worker_peak_rss']) / largest:.0f}" if largest else "–"
        rows.append(
            f"| {cells['events']} | {cells['partitions']} | {cells['largest']} | "
            f"≈ {record['events'] * SHUFFLE_BYTES_PER_EVENT / 1e9:.1f} GB | {cells['peaks']} | "
            f"{per_event} |"
        )
    rows.append(
        "\nBefore (pieces held in memory until their kernel ran; same script, commit "
        "`6ebbdcc`, load 1–3): 1.63 / 2.12 GiB at 50 M, **4.43 / 4.50 GiB at 200 M** — the "
        "pieces of every input file, ≈ 33 bytes per event, waited in the workers' memory. "
        "`test_worker_memory_does_not_grow_with_the_data` runs 8 M events with ≈ 400 MB of "
        "pieces per worker on workers that are killed above 570 MiB (spilling off): the pieces "
        "in memory get a worker killed, on disk the run completes with the same alerts.\n"
    )
    return "\n".join(rows) + "\n"


def _phases_text(records: dict[str, Any]) -> str:
    rows = [
        "## Where the cluster's time goes\n",
        "Busy seconds of the task stream, summed over the workers (wall time of each task, so "
        "they include waiting for a CPU on a loaded machine):\n",
        "| events | read + validate + split by item (one task per file) | kernel (concat + "
        "`detect_alerts`) | other | client CPU s |",
        "|---:|---:|---:|---:|---:|",
    ]
    for record in records["sizes"].values():
        run = record["cluster"]
        phases = dict(run["phases_busy_s"])
        # Records before 2026-12-03 15:30 timed the read as a task of its own.
        split = phases.pop("read", 0.0) + phases.pop("split", 0.0)
        kernel = phases.pop("kernel", 0.0)
        rows.append(
            f"| {record['events'] / 1e6:.0f} M | {split:.1f} | {kernel:.1f} | "
            f"{sum(phases.values()):.1f} | {run['client_cpu_s']:.1f} |"
        )
    return "\n".join(rows) + "\n"


def _hot_text(records: dict[str, Any]) -> str:
    hot = records.get("hot")
    if not hot:
        return ""
    run, single = hot["cluster"], hot["single"]
    biggest = max(run["worker_peak_rss"])
    return (
        "## Skew: one item with 90 % of the events\n\n"
        f"{hot['events'] / 1e6:.0f} M events over 4 day files, {hot['hot_events'] / 1e6:.1f} M "
        "of them for one item (`HOT`), the rest spread over 100 items; workers with "
        f"`memory_limit={_gib(run['worker_memory_limit'])} GiB`. Items are never split across "
        "partitions, so the whole hot item is one worker's kernel input.\n\n"
        f"* one process: {single['seconds']:.1f} s, peak {_gib(single['peak_rss'])} GiB; "
        f"cluster: {run['seconds']:.1f} s, peak RSS per worker {_peaks(run)}; same alerts: "
        f"**{'yes' if run['same_alerts'] else 'NO'}** ({run['alerts']:,}); a worker restarted: "
        f"**{'yes' if run['worker_restarted'] else 'no'}**.\n"
        f"* The bound: the worker holding the hot item peaked at {_gib(biggest)} GiB, "
        f"**≈ {biggest / hot['hot_events']:.0f} bytes per event of the largest item** (its "
        "events, their dense series and the engine's temporaries, plus the worker's share of "
        "pieces waiting). A worker needs memory for the largest item's events times that "
        "figure; more workers or partitions do not lower it (splitting one item by time with "
        "carried running sums and look-back overlap would; not implemented). The test "
        "`test_one_item_with_most_events_does_not_take_a_worker_down` checks the same on small "
        "workers.\n"
    )


def _overhead_text(records: dict[str, Any]) -> str:
    overhead = records["overhead"]
    timings = ", ".join(
        f"{parts}: {seconds:.2f} s" for parts, seconds in overhead["seconds_by_partitions"].items()
    )
    return (
        "## Per-partition overhead\n\n"
        f"`detect_alerts` on a tiny frame ({overhead['events']:,} events, 20 items) split into "
        f"1, 4, 16 and 64 partitions, median of 3 runs each ({timings}): **≈ "
        f"{overhead['per_partition_s'] * 1000:.0f} ms per partition** (least-squares slope; "
        f"load {overhead['load_after']:.1f}). With partitions of millions of events it is "
        "negligible; `npartitions` defaults to the number of input partitions (here: day "
        "files).\n"
    )


def _projection_text(records: dict[str, Any]) -> str:
    first = next(iter(records["sizes"].values()))
    run = first["cluster"]
    events = first["events"]
    phases = run["phases_busy_s"]
    per_event = {k: phases.get(k, 0.0) / events * 1e6 for k in ("read", "split", "kernel")}
    per_event["split"] += per_event.pop("read")
    per_part = records["overhead"]["per_partition_s"]
    return (
        "## Projection: workers, items, data size\n\n"
        "A run costs start-up + one read-and-split task per input partition + the transfer of "
        "the pieces + one kernel task per output partition + the per-partition overhead:\n\n"
        f"* **Compute** (read + validate + split {per_event['split']:.2f} µs, kernel {per_event['kernel']:.2f} µs of busy time per "
        f"event in this run at {events / 1e6:.0f} M) is per event, independent across "
        "partitions: with *W* workers on their own cores it scales as N / W.\n"
        "* **Shuffle**: every event crosses once as ≈ 33 bytes of Arrow (timestamp 8, "
        "`item_id` ≈ 16 as a string view, quantity 8, `kind` 1), a fraction (W − 1)/W of it "
        "between machines: 1 billion events move ≈ 33 GB / W per worker, ≈ 33 s / W at "
        "1 GB/s. The shuffle disappears for item-bucketed data "
        '(`write_partitioned(..., by="item")`), the layout to use when one data set is '
        "processed repeatedly.\n"
        "* **Memory per worker**: one input partition being split + one kernel's working set, "
        "proportional to the events of the largest output partition; the pieces waiting for "
        "their kernel are on disk (≈ 33 bytes per event in all, N · 33 / W bytes of disk per "
        "worker), so the data size does not enter. With `npartitions` = input files "
        "(default), a partition is about one file's events "
        f"(here {events / max(1, run['partitions']) / 1e6:.1f} M); more partitions, smaller "
        "peaks.\n"
        "* **Items**: an item is never split; with I items hashed into P partitions the largest "
        "partition holds ≈ N/P · (1 + √(2 P ln P / I)) events for evenly sized items; one hot "
        "item of H events needs H × the bytes per event measured above on one worker.\n"
        f"* **Per partition**: ≈ {per_part * 1000:.0f} ms × P / W.\n\n"
        "On this 2-core machine the cluster cannot be faster than one process: Polars already "
        "uses both cores in one process, and the cluster adds the split, the transfer between "
        "processes and the scheduling. With W machines of their own the compute and the "
        "shuffle's CPU divide by W.\n"
    )


def _alternatives_text() -> str:
    return (
        "## Alternatives measured (2026-12-03, same machine)\n\n"
        "Fixed figures from the session that chose the design (not re-measured by this "
        "script):\n\n"
        "* **Dask DataFrame + P2P shuffle** (the design before commit `e916b03`: `dd.from_map` "
        "reading the files, `DataFrame.shuffle(on='item_id', shuffle_method='p2p')`, "
        "`map_partitions` with the kernel): 50 M events, load 0.2 → 7.6: one process 9.1 s, "
        "cluster **111.0 s (12×)**; busy seconds: read 25.0, Dask's string conversion 20.9, P2P "
        "shuffle 77.0, kernel 54.4. The P2P shuffle turns every partition into Arrow, splits, "
        "serialises, writes to disk and reads back, and the pandas boundary costs twice more.\n"
        "* **Arrow pieces between tasks** (this design): the same 50 M data set at load ≈ 14: "
        "one process 41–63 s, cluster 188 s (3–4.5×) before the last tuning, 192 s against 72 s "
        "(2.7×, CPU seconds 3.4×) after it, load 14–19.\n"
        "* **`item_id` dictionary-encoded for the trip**: half the bytes, but encoding and "
        "decoding cost more CPU (0.4 + 0.3 s per 8.6 M events) than the transfer saves between "
        "processes on one machine; dropped. On a network it would pay.\n"
        "* **Every output partition reads every file and keeps its items** (no transfer at "
        "all): the fastest on 2 workers (17 M events: 16.8 s vs 13.8 s for one process, load "
        "11), but each file is read once per output partition — O(N · P) reading, unusable with "
        "more partitions or workers; not adopted.\n"
        "* **Splitting with `partition_by`** instead of one filter per piece: 2–4 s vs 1–2 s per "
        "8.6 M events; not adopted.\n"
        "* **Pieces held in memory** until their kernel (the design before the pieces went to "
        "disk): every output partition needs a piece of every input file, so all pieces exist "
        "at once — per-worker peaks 1.63 / 2.12 GiB at 50 M and 4.43 / 4.50 GiB at 200 M "
        "(quiet machine). Writing the pieces costs ≈ 0.5 s per 8 M events (264 MB into the page "
        "cache) and reading them back is a memory map. Under load 19 the 200 M cluster run "
        "with disk pieces used 199 CPU s and the 50 M run 36 CPU s, both ≈ 2× their quiet "
        "figures with pieces in memory (98 and 19 CPU s; load inflates CPU seconds too): the "
        "disk adds no visible CPU at that precision; this table's quiet run says more.\n"
        "* **Splitting the output partitions into groups** (split all files for group g only, "
        "run g's kernels, release) bounds memory without disk but reads and validates every file "
        "once per group: at 200 M with groups of 4 partitions that is 7 reads of the data "
        "(read + validate was 10.9 busy seconds of 51 s), more than the disk writes; not "
        "adopted.\n"
        "* **Letting Dask spill** the in-memory pieces (a worker `memory_limit`; not measured): "
        "it bounds memory only below a limit the user sets — the default, the machine's RAM / "
        "workers, lets 200 M grow to 4.5 GiB without spilling — and that limit must leave room "
        "for a kernel's working set above Dask's spill threshold (70 % of the limit) or the "
        "worker pauses. The disk pieces bound memory by design, at every limit.\n"
        "* **Where the cluster's extra CPU went** (2026-12-03 15:00–15:30, 10 M events in 6 "
        "files, CPU seconds of every thread of both workers from `/proc`, `py-spy` for the "
        "stacks; load 3–4): besides the split itself, the workers' event loops and Dask's "
        "offload thread spent ≈ 1.3–1.4 of 4.6–4.9 CPU s moving data: (1) the read and the "
        "split were separate tasks, so Dask often ran a file's split on the other worker and "
        "pickled the whole validated frame across (Polars' IPC serialisation in `get_data`); "
        "(2) pieces travelled as pickled bytes, read from the file, sent and written again. "
        "Now the split task reads its file itself and, between workers of one machine, a "
        "piece changes hands as a hard-linked file: 3.4–3.8 CPU s for the same run (offload "
        "thread idle, event loops 0.4–0.5 s). (3) Each worker's Polars had a pool of one "
        "thread per core: now `POLARS_MAX_THREADS` = the worker's threads "
        "(`stockseries.distributed.local_cluster`). (4) The split filtered by an expression "
        "on a key column: one boolean mask per piece from one hash halves it (8.6 M events, "
        "one thread: 0.95–1.03 s → 0.52–0.64 s); `partition_by` (1.1 s) and a sort by piece "
        "(1.4–1.5 s) cost more. Writing the pieces: ≈ 0.3 s per 8.6 M events.\n"
    )
