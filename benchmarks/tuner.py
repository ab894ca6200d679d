"""SpikeTuner speed: seconds per control change, measured in the kernel, written to TUNER.md.

Workload: ``items`` items × 30 days of 1-minute buckets (43,200 buckets per item), the
simulator's demand with its labels. For 2 and for 20 selected items the tuner is built
once (not timed), then a fixed script of control changes runs, each a synchronous
``refresh`` (``debounce=0``): k, window, min demand, smoothing, merge gap, cooldown, method
changes (mad, quantile and its ``q``, back to zscore), an alert selected (zoom) and back,
direction both, the profile method and back. The time per
change is the tuner's own ``seconds`` (detection, alerts, scores, chart build, handing the
chart to the widget), i.e. what the kernel spends before the browser can redraw; the
browser's own drawing is not included.

    .venv/bin/python -m benchmarks.tuner                 # writes benchmarks/TUNER.md
    .venv/bin/python -m benchmarks.tuner --items 2 --repeat 1 --out /tmp/TUNER.md

Targets (issue 12): ≤ 0.5 s per change for 2 items, ≤ 1.5 s for 20 items (median over the
script, each change the median of ``--repeat`` runs on fresh tuners; the table also counts
the changes over the target and compares the slowest with a zscore change of the same run,
a ratio that holds on a busy machine). TUNER.md records the machine,
the library versions and the load average at the start and the end: measure on a quiet
machine.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TARGETS = {2: 0.5, 20: 1.5}
# The change every other is compared with, measured in the same run: a fresh zscore
# detection at the window and smoothing the method changes after it use.
REFERENCE = "smooth 1 → 5"


def _changes(tuner: Any) -> list[tuple[str, Callable[[], None]]]:
    def set_value(widget: Any, value: Any) -> Callable[[], None]:
        return lambda: setattr(widget, "value", value)

    common = tuner.method_controls.common
    return [
        ("k 3.0 → 4.0", set_value(tuner.k, 4.0)),
        ("k 4.0 → 2.5", set_value(tuner.k, 2.5)),
        ("window 60 → 120", set_value(tuner.window, 120)),
        ("min demand 0 → 1", set_value(tuner.min_demand, 1)),
        ("smooth 1 → 5", set_value(tuner.smooth, 5)),
        ("merge gap 0 → 5", set_value(tuner.merge_gap, 5)),
        ("cooldown 0 → 30", set_value(tuner.cooldown, 30)),
        ("method zscore → mad", set_value(tuner.method, "mad")),
        ("method mad → quantile", set_value(tuner.method, "quantile")),
        ("q 0.99 → 0.995", set_value(tuner.method_controls.widgets["quantile"]["q"], "0.995")),
        ("method quantile → zscore", set_value(tuner.method, "zscore")),
        ("select an alert (zoom)", set_value(tuner.alert_list, 0)),
        ("show whole span", lambda: tuner.zoom_to(None)),
        ("direction up → both", set_value(common["zscore"]["direction"], "both")),
        ("method zscore → profile", set_value(tuner.method, "profile")),
        ("method profile → zscore", set_value(tuner.method, "zscore")),
    ]


def measure(n_items: int, days: int = 30, seed: int = 0, repeat: int = 3) -> dict[str, Any]:
    import stockseries as ss
    from stockseries.notebook import SpikeTuner

    sim = ss.simulate(n_items, start="2024-01-01", days=days, seed=seed)
    series = ss.resample(sim.events, every="1m")
    items = sorted(series["item_id"].unique().to_list())
    runs: list[list[dict[str, Any]]] = []
    builds = []
    for _ in range(repeat):  # a fresh tuner each time: nothing cached from the last run
        started = time.perf_counter()
        tuner = SpikeTuner(series, sim.labels, items=items, debounce=0)
        builds.append(time.perf_counter() - started)
        runs.append(_run_script(tuner))
    rows = []
    for name, *_ in _changes(tuner):
        mine = [next(r for r in run if r["change"] == name) for run in runs]
        rows.append(
            {
                "change": name,
                "seconds": statistics.median(r["seconds"] for r in mine),
                "cpu": statistics.median(r["cpu"] for r in mine),
                "split": {
                    part: statistics.median(r["split"].get(part, 0.0) for r in mine)
                    for part in mine[0]["split"]
                },
            }
        )
    reference = next(r for r in rows if r["change"] == REFERENCE)
    for row in rows:
        row["ratio"] = row["seconds"] / reference["seconds"]
    per_change = [r["seconds"] for r in rows]
    return {
        "items": n_items,
        "buckets": series.height,
        "build_s": statistics.median(builds),
        "median_s": statistics.median(per_change),
        "max_s": max(per_change),
        "max_ratio": max(r["ratio"] for r in rows),
        "over": sum(1 for v in per_change if v > TARGETS.get(n_items, math.inf)),
        "rows": rows,
        "repeat": repeat,
        "renderer": tuner._renderer,
    }


def _run_script(tuner: Any) -> list[dict[str, Any]]:
    rows = []
    for name, change in _changes(tuner):
        tuner.timings = {}  # a change that only redraws (zoom) leaves it empty
        before, cpu_before = time.perf_counter(), time.process_time()
        change()
        wall, cpu = time.perf_counter() - before, time.process_time() - cpu_before
        if tuner.error is not None:
            raise RuntimeError(f"{name}: the tuner refused it: {tuner.error}")
        rows.append({"change": name, "seconds": wall, "cpu": cpu, "split": dict(tuner.timings)})
    return rows


def _machine() -> str:
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    versions = ", ".join(
        f"{name} {version(name)}"
        for name in ("polars", "numpy", "altair", "anywidget", "ipywidgets")
    )
    return (
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; {versions}. Load average (1, 5, 15 min) at the start: "
        f"{load}."
    )


def report(results: list[dict[str, Any]], machine: str, load_after: str) -> str:
    lines = [
        "# SpikeTuner: seconds per control change",
        "",
        "Generated by `python -m benchmarks.tuner` (see the module docstring for the workload).",
        machine + f" At the end: {load_after}.",
        "Figures depend on the load: on a shared machine re-run when it is quiet.",
        "",
        "| selected items | buckets | renderer | first build (s) | median per change (s) "
        "| slowest change (s) | slowest ÷ zscore change | changes over target | target (s) "
        "| median met |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        target = TARGETS.get(r["items"])
        met = "—" if target is None else ("yes" if r["median_s"] <= target else "no")
        lines.append(
            f"| {r['items']} | {r['buckets']:,} | {r['renderer']} | {r['build_s']:.2f} "
            f"| {r['median_s']:.2f} | {r['max_s']:.2f} | {r['max_ratio']:.1f}× "
            f"| {r['over']} of {len(r['rows'])} "
            f"| {target or '—'} | {met} |"
        )
    for r in results:
        lines += [
            "",
            f"## {r['items']} items",
            "",
            f"Median of {r['repeat']} runs of the script, each on a fresh tuner. Seconds: wall "
            "clock per change; CPU: the process's CPU seconds (all threads; less sensitive to "
            f"other users of the machine); ÷ zscore: seconds over the `{REFERENCE}` change of "
            "the same run (a fresh zscore detection at the same window and smoothing). Split of "
            "the tuner's own refresh (`SpikeTuner.timings`): detection and alerts, scores and the "
            "k curve, the chart spec, the side panels.",
            "",
            "| change | seconds | CPU (s) | ÷ zscore | detect | scores | charts | render |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in r["rows"]:
            split = " | ".join(
                f"{row['split'][name]:.2f}" if name in row["split"] else "—"
                for name in ("detect", "scores", "charts", "render")
            )
            lines.append(
                f"| {row['change']} | {row['seconds']:.2f} | {row['cpu']:.2f} "
                f"| {row['ratio']:.1f} | {split} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", default="2,20", help="comma-separated item counts")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3, help="runs of the script per item count")
    parser.add_argument("--out", type=Path, default=HERE / "TUNER.md")
    args = parser.parse_args(argv)
    machine = _machine()
    results = [measure(int(n), args.days, repeat=args.repeat) for n in args.items.split(",")]
    load_after = "load average " + ", ".join(f"{v:.1f}" for v in os.getloadavg())
    text = report(results, machine, load_after)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
