"""The live engine on a dense stream: StreamProcessor throughput and per-frame latency.

The harness (benchmarks/harness.py) streams its sparse core workload; this script adds the dense
streaming workload the live issue is about, with per-frame latency.

Workload: ``--items`` items (default 1,000) with string ids, 1-minute buckets, orders and 10 %
deliveries at ``--rate`` events per item per minute (default 10: a frame of 10,000 events
then spans one minute of event time and closes about one bucket for every item), sorted by
time and cut into frames of ``--frame`` events (default 10,000). The processor runs the
default zscore detector (window 60, k 3) with alert episodes; every push is timed on its own
(per-frame latency, p50/p99) and the whole run including ``flush`` gives the throughput.

With ``--parquet PATH`` the first ``--events`` events of a recorded workload are streamed
instead, e.g. the benchmark harness's cached one (``benchmarks/_work/events_1000000_*.parquet``:
1,000 items over 7 days, so a frame of 10,000 events spans ~100 minutes and closes ~100,000
dense rows, most of them empty buckets).

Side by side, the one-event-at-a-time asyncio pipeline many services start with: a producer
puts each event of each frame on a bounded :class:`asyncio.Queue`, a consumer updates dicts
of running stock and per-minute buckets (no detection at all), and the same fold as a
``streamz`` ``Stream().accumulate``, both on the first ``--baseline`` events; the ratios
divide the processor's events/s by theirs.

    .venv/bin/python -m benchmarks.live_dense [--events 2_000_000] [--rounds 3]
    .venv/bin/python -m benchmarks.live_dense --parquet benchmarks/_work/events_1000000_i1000_d7_s0_v1.parquet
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time

import numpy as np
import polars as pl

from benchmarks.peers_asyncio import BucketState
from benchmarks.workload import EVERY_US
from stockseries.live import StreamProcessor

START_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z


def make_events(n: int, items: int, rate: float, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    span_us = int(n / (items * rate) * EVERY_US)
    ts = np.sort(START_US + rng.integers(0, span_us, n))
    labels = pl.Series([f"I{i:04d}" for i in range(items)])
    return pl.DataFrame(
        {
            "ts": pl.Series(ts).cast(pl.Datetime("us", "UTC")),
            "item_id": labels.gather(rng.integers(0, items, n)),
            "kind": pl.Series(["order", "delivery"]).gather((rng.random(n) < 0.1).view(np.uint8)),
            "quantity": rng.integers(1, 6, n),
        }
    )


def run_processor(
    frames: list[pl.DataFrame],
) -> tuple[float, float, np.ndarray, dict[str, int]]:
    """Wall seconds, CPU seconds, per-push wall latencies and the processor's counters."""
    processor = StreamProcessor("1m", window=60, k=3.0)
    latencies = np.empty(len(frames))
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    for i, frame in enumerate(frames):
        t = time.perf_counter()
        processor.push(frame)
        latencies[i] = time.perf_counter() - t
    processor.flush()
    return time.perf_counter() - start, time.process_time() - cpu, latencies, processor.stats


async def _queue_pipeline(frames: list[pl.DataFrame]) -> int:
    queue: asyncio.Queue[tuple[int, str, str, int] | None] = asyncio.Queue(1_024)

    async def produce() -> None:
        for frame in frames:
            rows = frame.select(pl.col("ts").dt.epoch("us"), "item_id", "kind", "quantity").rows()
            for event in rows:
                await queue.put(event)
        await queue.put(None)

    async def consume() -> int:
        state, seen = BucketState(), 0
        while (event := await queue.get()) is not None:
            state.update(event)
            seen += 1
        return seen

    _, seen = await asyncio.gather(produce(), consume())
    return seen


def _fold(state: BucketState, event: tuple[int, str, str, int]) -> BucketState:
    return state.update(event)


def run_streamz(frames: list[pl.DataFrame]) -> tuple[float, float]:
    from streamz import Stream

    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    source = Stream()
    fold = source.accumulate(_fold, start=BucketState())  # noqa: F841 (kept alive)
    for frame in frames:
        for event in frame.select(
            pl.col("ts").dt.epoch("us"), "item_id", "kind", "quantity"
        ).rows():
            source.emit(event)
    return time.perf_counter() - start, time.process_time() - cpu


def run_queue(frames: list[pl.DataFrame]) -> tuple[float, float]:
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    asyncio.run(_queue_pipeline(frames))
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=lambda s: int(s.replace("_", "")), default=2_000_000)
    parser.add_argument("--baseline", type=lambda s: int(s.replace("_", "")), default=500_000)
    parser.add_argument("--items", type=int, default=1_000)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--frame", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parquet", help="stream this recorded workload instead")
    args = parser.parse_args()

    if args.parquet:
        events = pl.read_parquet(args.parquet).head(args.events)
        args.items, args.rate = events["item_id"].n_unique(), float("nan")
    else:
        events = make_events(args.events, args.items, args.rate)
    frames = [events.slice(i, args.frame) for i in range(0, events.height, args.frame)]
    small = events.head(args.baseline)
    small_frames = [small.slice(i, args.frame) for i in range(0, small.height, args.frame)]
    run_processor(frames[:20])  # warm-up: imports, allocations

    rates, cpu_rates, p50s, p99s, queue_rates, queue_cpu_rates = [], [], [], [], [], []
    streamz_rates: list[float] = []
    streamz_cpu_rates: list[float] = []
    stats: dict[str, int] = {}
    for _ in range(args.rounds):
        elapsed, cpu, latencies, stats = run_processor(frames)
        rates.append(events.height / elapsed)
        cpu_rates.append(events.height / cpu)
        p50s.append(float(np.percentile(latencies, 50)) * 1e3)
        p99s.append(float(np.percentile(latencies, 99)) * 1e3)
        elapsed, cpu = run_queue(small_frames)
        queue_rates.append(small.height / elapsed)
        queue_cpu_rates.append(small.height / cpu)
        elapsed, cpu = run_streamz(small_frames)
        streamz_rates.append(small.height / elapsed)
        streamz_cpu_rates.append(small.height / cpu)

    def mps(values: list[float]) -> str:
        return f"{statistics.median(values) / 1e6:5.2f} M events/s"

    print(
        f"workload: {events.height:,} events, {args.items:,} items, {args.rate:g} events/item/min, "
        f"frames of {args.frame:,}, 1-minute buckets, zscore window 60"
    )
    print(f"processor: {stats['buckets']:,} series rows, {stats['alerts_closed']:,} alerts closed")
    print(f"rounds: {args.rounds}, medians; 'cpu' divides by process CPU time (all threads),")
    print("less sensitive than wall time to other processes on a shared machine")
    print(
        f"  StreamProcessor         wall {mps(rates)}  cpu {mps(cpu_rates)}   "
        f"per frame p50 {statistics.median(p50s):.2f} ms, p99 {statistics.median(p99s):.2f} ms"
    )
    for name, wall, on_cpu in (
        ("asyncio queue, 1 event", queue_rates, queue_cpu_rates),
        ("streamz accumulate    ", streamz_rates, streamz_cpu_rates),
    ):
        ratio = statistics.median(rates) / statistics.median(wall)
        cpu_ratio = statistics.median(cpu_rates) / statistics.median(on_cpu)
        print(
            f"  {name}  wall {mps(wall)}  cpu {mps(on_cpu)}   processor is {ratio:.1f}x "
            f"(cpu {cpu_ratio:.1f}x) faster; buckets + stock only, no detection, "
            f"{small.height:,} events"
        )


if __name__ == "__main__":
    main()
