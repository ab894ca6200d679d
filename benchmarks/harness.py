"""``python -m benchmarks``: generate workloads, measure every stage, compare, write RESULTS.md."""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from benchmarks import merge, read_ratio, report
from benchmarks.runner import IMPLEMENTATIONS, RESULT_PREFIX, Task, applies, measure
from benchmarks.stages import STAGE_BY_NAME, STAGES, Stage
from benchmarks.workload import DAYS, N_ITEMS, Workload, prepare, read_meta

HERE = Path(__file__).resolve().parent
DEFAULT_SIZES = (1_000_000, 10_000_000, 50_000_000)
QUICK_SIZES = (1_000_000,)
# Reference preference when stockseries has no result for a stage.
REFERENCE_ORDER = ("stockseries", "polars", "pandas", "duckdb")


@dataclass
class Options:
    sizes: tuple[int, ...] = DEFAULT_SIZES
    stages: tuple[str, ...] = tuple(stage.name for stage in STAGES)
    impls: tuple[str, ...] = tuple(IMPLEMENTATIONS)
    runs: int = 3
    budget_s: float = 60.0
    timeout_s: float = 3_600.0
    stream_cap: int = 1_000_000
    n_items: int = N_ITEMS
    days: float = DAYS
    seed: int = 0
    work_dir: Path = HERE / "_work"
    out: Path | None = HERE / "RESULTS.md"
    keep: bool = True
    isolated: bool = True
    progress: bool = True
    command: str = "python -m benchmarks"
    records: list[dict[str, Any]] = field(default_factory=list)


def parse_size(text: str) -> int:
    """``"1M"``, ``"20k"``, ``"1_000_000"`` → events.

    >>> parse_size("50M"), parse_size("20k"), parse_size("1_500")
    (50000000, 20000, 1500)
    """
    match = re.fullmatch(r"\s*([\d_.]+)\s*([kKmM]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 1M, 250k, 20000)")
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    try:
        return round(float(match.group(1).replace("_", "")) * scale)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}") from None


def _names(text: str, allowed: Sequence[str], what: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(unknown)}; choose from {', '.join(allowed)}"
        )
    return names


def parse_args(argv: Sequence[str]) -> Options:
    stage_names = [stage.name for stage in STAGES]
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark stockseries against pandas, DuckDB, Polars and per-event peers.",
    )
    parser.add_argument("--quick", action="store_true", help="1 M events only (a few minutes)")
    parser.add_argument(
        "--sizes",
        type=lambda t: tuple(parse_size(s) for s in t.split(",")),
        help="comma-separated workload sizes, e.g. 1M,10M,50M (the default)",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median quoted)")
    parser.add_argument(
        "--stages",
        type=lambda t: _names(t, stage_names, "stage"),
        help=f"comma-separated subset of: {', '.join(stage_names)}",
    )
    parser.add_argument(
        "--impls",
        type=lambda t: _names(t, list(IMPLEMENTATIONS), "implementation"),
        help=f"comma-separated subset of: {', '.join(IMPLEMENTATIONS)}",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="stop repeating a figure once its runs would exceed this many seconds "
        "(default 60, 15 with --quick); at least one run is always made",
    )
    parser.add_argument("--timeout", type=float, default=3_600.0, help="seconds per figure")
    parser.add_argument(
        "--stream-cap",
        type=parse_size,
        default=1_000_000,
        help="the incremental stage streams at most this many events, for every "
        "implementation (default 1M; 0 = all)",
    )
    parser.add_argument("--items", type=int, default=N_ITEMS, help="item ids in the workload")
    parser.add_argument("--days", type=float, default=DAYS, help="days spanned by the workload")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", type=Path, default=HERE / "_work")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument(
        "--replace",
        action="store_true",
        help="write only this run to --out (default: keep the sizes and stages this run did "
        "not measure and the sections other scripts wrote, see benchmarks/merge.py)",
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    budget = args.budget if args.budget is not None else (15.0 if args.quick else 60.0)
    return Options(
        sizes=sizes,
        stages=args.stages or tuple(stage_names),
        impls=args.impls or tuple(IMPLEMENTATIONS),
        runs=args.runs,
        budget_s=budget,
        timeout_s=args.timeout,
        stream_cap=args.stream_cap,
        n_items=args.items,
        days=args.days,
        seed=args.seed,
        work_dir=args.work_dir,
        out=args.out,
        keep=not args.replace,
        progress=not args.no_progress,
        command=" ".join(["python -m benchmarks", *map(shlex.quote, argv)]),
    )


# --------------------------------------------------------------------------- running


def run_task(task: Task, *, isolated: bool, timeout_s: float) -> dict[str, Any]:
    """Measure one figure, in a fresh interpreter unless ``isolated`` is False."""
    if not isolated:
        return measure(task, isolated=False)
    command = [sys.executable, "-m", "benchmarks.runner", json.dumps(asdict(task))]
    base: dict[str, Any] = {"task": asdict(task), "isolated": True}
    try:
        done = subprocess.run(
            command, cwd=HERE.parent, capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        return base | {"status": "timeout", "reason": f"no result within {timeout_s:g} s"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])  # type: ignore[no-any-return]
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return base | {"status": "error", "reason": f"exit {done.returncode}: {tail}"}


def _reference_for_prefix(work: Workload, stage: Stage, n_events: int) -> Any:
    import polars as pl

    from benchmarks import peers_polars
    from benchmarks.compare import canonical

    assert stage.comparison is not None
    events = pl.read_parquet(work.parquet, n_rows=n_events)
    return canonical(peers_polars.sparse_buckets(events), stage.comparison)


def check_agreement(work: Workload, stage: Stage, records: list[dict[str, Any]]) -> None:
    """Mark every record of one stage with how its result compares with the reference."""
    import polars as pl

    from benchmarks.compare import agree

    if stage.comparison is None:
        return
    with_result = {r["task"]["impl"]: r for r in records if r.get("result_path")}
    for record in records:
        if record.get("result_error"):
            record["agreement"] = f"not comparable: {record['result_error']}"
    if stage.prefix_reference:
        cache: dict[int, Any] = {}
        for record in with_result.values():
            n = record["events"]
            if n not in cache:
                cache[n] = _reference_for_prefix(work, stage, n)
            other = pl.read_parquet(record["result_path"])
            outcome = agree(cache[n], other, stage.comparison)
            record["agreement"] = ("" if outcome.ok else "**DIFFERENT**: ") + str(outcome)
        return
    reference_impl = next((name for name in REFERENCE_ORDER if name in with_result), None)
    if reference_impl is None:
        return
    reference = pl.read_parquet(with_result[reference_impl]["result_path"])
    for impl, record in with_result.items():
        if impl == reference_impl:
            record["agreement"] = "reference"
            continue
        outcome = agree(reference, pl.read_parquet(record["result_path"]), stage.comparison)
        record["agreement"] = ("" if outcome.ok else "**DIFFERENT**: ") + str(outcome)


def _progress(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="figure", disable=not enabled, dynamic_ncols=True)


def run(options: Options) -> str:
    """Run the whole benchmark; returns the RESULTS.md text (also written to ``options.out``)."""
    started = datetime.now(UTC)
    clock = time.perf_counter()
    machine_info = report.machine()
    stages = [STAGE_BY_NAME[name] for name in options.stages]
    total = len(options.sizes) * len(stages) * len(options.impls)
    sections: list[list[str]] = []
    with _progress(total, options.progress) as bar:
        for n_events in options.sizes:
            bar.set_description(f"{report.size_label(n_events)}: preparing workload")
            work = prepare(
                n_events,
                seed=options.seed,
                work_dir=options.work_dir,
                n_items=options.n_items,
                days=options.days,
            )
            meta = read_meta(work)
            figures: list[report.Figure] = []
            for stage in stages:
                records = []
                for impl in options.impls:
                    bar.set_description(f"{report.size_label(n_events)} {stage.name} {impl}")
                    task = Task(
                        stage=stage.name,
                        impl=impl,
                        n_events=n_events,
                        seed=options.seed,
                        work_dir=str(options.work_dir),
                        n_items=options.n_items,
                        days=options.days,
                        runs=options.runs,
                        budget_s=options.budget_s,
                        stream_cap=options.stream_cap,
                    )
                    if applies(impl, stage.name):
                        record = run_task(
                            task, isolated=options.isolated, timeout_s=options.timeout_s
                        )
                    else:  # says why without paying for a subprocess
                        record = measure(task, isolated=False)
                    records.append(record)
                    bar.update()
                check_agreement(work, stage, records)
                options.records.extend(records)
                figures += [report.figure(r) for r in records if _shown(r)]
            inputs_mb = {stage.name: _input_mb(stage, meta, work, options) for stage in STAGES}
            interleaved = None
            if "read_parquet" in options.stages and {"stockseries", "polars"} <= set(options.impls):
                bar.set_description(f"{report.size_label(n_events)} read ratio, interleaved")
                rounds = max(5, 3 * options.runs)
                interleaved = read_ratio.measure(work.parquet, pl.read_parquet, rounds) | {
                    "rounds": rounds
                }
            section = report.size_section(
                work, figures, meta=meta, inputs_mb=inputs_mb, read_ratio=interleaved
            )
            sections.append(section)
            bar.write("\n".join(section))
    text = report.document(
        sections,
        command=options.command,
        runs=options.runs,
        budget_s=options.budget_s,
        started=started,
        elapsed_s=time.perf_counter() - clock,
        machine_info=machine_info,
        peak_reset=all(r.get("peak_reset", True) for r in options.records),
    )
    if options.out is not None:
        if options.keep and options.out.exists():
            text = merge.keep_unmeasured(text, options.out.read_text())
        options.out.write_text(text)
        raw = options.work_dir / "last_run.json"
        raw.write_text(json.dumps(options.records, indent=1))
    return text


def _shown(record: dict[str, Any]) -> bool:
    # Peers written for other stages only (asyncio for stock levels, ...) are left out;
    # a peer that cannot sensibly do a stage is listed with the reason ("n/a").
    return record["status"] != "skip"


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(sys.argv[1:] if argv is None else argv)
    run(options)
    if options.out is not None:
        print(f"wrote {options.out}")
    return 0


def _input_mb(stage: Stage, meta: dict[str, float], work: Workload, options: Options) -> float:
    """In-memory size of what the stage consumed (the streaming stages see a prefix)."""
    if stage.input == "series":
        return meta["series_mb"]
    if stage.input == "frames" and options.stream_cap:
        return meta["events_mb"] * min(options.stream_cap, work.n_events) / work.n_events
    return meta["events_mb"]
