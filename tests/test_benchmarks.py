"""Smoke test of the benchmark harness: a tiny workload through every stage and peer.

The real figures come from ``python -m benchmarks``; here the point is that every peer computes
the same results as the reference and that the report is written.
"""

from __future__ import annotations

import argparse
import doctest
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

# The benchmarks live next to the package, not inside it: make the checkout importable.
REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import harness, workload  # noqa: E402
from benchmarks.compare import agree, canonical  # noqa: E402
from benchmarks.runner import Task, measure  # noqa: E402
from benchmarks.stages import STAGE_BY_NAME, Comparison  # noqa: E402
from benchmarks.workload import generate_events  # noqa: E402

N_ITEMS, DAYS = 50, 0.5


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[harness.Options, str]:
    work = tmp_path_factory.mktemp("bench")
    options = harness.Options(
        sizes=(20_000,),
        runs=1,
        budget_s=5.0,
        work_dir=work,
        out=work / "RESULTS.md",
        isolated=False,  # one interpreter: subprocess start-up would dominate at this size
        progress=False,
        n_items=N_ITEMS,
        days=DAYS,
    )
    return options, harness.run(options)


def _by_stage(options: harness.Options) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for record in options.records:
        out.setdefault(record["task"]["stage"], []).append(record)
    return out


def test_no_implementation_fails(smoke: tuple[harness.Options, str]) -> None:
    options, _ = smoke
    failed = [
        (r["task"]["stage"], r["task"]["impl"], r.get("reason"))
        for r in options.records
        if r["status"] in ("error", "timeout")
    ]
    assert failed == []


@pytest.mark.parametrize(
    "stage", [name for name, stage in STAGE_BY_NAME.items() if stage.comparison is not None]
)
def test_every_result_agrees_with_the_reference(
    smoke: tuple[harness.Options, str], stage: str
) -> None:
    options, _ = smoke
    compared = [r for r in _by_stage(options)[stage] if r.get("result_path")]
    assert len(compared) >= 2, "a stage needs at least two results to compare"
    verdicts = {r["task"]["impl"]: r.get("agreement", "") for r in compared}
    assert all(v == "reference" or v.startswith("equal") for v in verdicts.values()), verdicts


def test_results_md_has_machine_versions_tables_and_targets(
    smoke: tuple[harness.Options, str],
) -> None:
    options, text = smoke
    assert options.out is not None and options.out.read_text() == text
    for heading in ("## Machine", "## Versions", "## 20k events", "### Targets at 20k events"):
        assert heading in text
    assert "| polars |" in text and "| duckdb |" in text
    assert "floor: 1 NumPy pass" in text


def test_a_subprocess_measures_peak_memory(smoke: tuple[harness.Options, str]) -> None:
    options, _ = smoke
    task = Task(
        stage="stock_levels",
        impl="polars",
        n_events=20_000,
        seed=0,
        work_dir=str(options.work_dir),
        runs=2,
        n_items=N_ITEMS,
        days=DAYS,
    )
    record = harness.run_task(task, isolated=True, timeout_s=120)
    assert record["status"] == "ok", record
    assert len(record["times_s"]) == 2 and len(record["peaks_mb"]) == 2
    assert record["baseline_mb"] > 0 and record["events"] == 20_000


def test_a_peer_that_does_not_apply_says_why(tmp_path: Path) -> None:
    task = Task(stage="simulate", impl="pandas", n_events=10, seed=0, work_dir=str(tmp_path))
    assert measure(task, isolated=False)["status"] == "n/a"


@pytest.mark.parametrize(
    ("text", "events"),
    [
        ("1M", 1_000_000),
        ("50m", 50_000_000),
        ("20k", 20_000),
        ("1_500", 1_500),
        ("2.5M", 2_500_000),
    ],
)
def test_parse_size(text: str, events: int) -> None:
    assert harness.parse_size(text) == events


@pytest.mark.parametrize("text", ["", "M", "1G", "-5"])
def test_parse_size_refuses_garbage(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        harness.parse_size(text)


FLOATS = Comparison(keys=("k",), exact=("flag",), floats=("x",), tie=("flag", "v", "x"))


def _frame(**columns: list[Any]) -> pl.DataFrame:
    base: dict[str, list[Any]] = {"k": [1, 2], "flag": [False, True], "x": [1.0, 2.0], "v": [0, 3]}
    return pl.DataFrame(base | columns)


@pytest.mark.parametrize(
    ("other", "ok", "detail"),
    [
        (_frame(), True, "equal"),
        (_frame(x=[1.0, 2.0 + 1e-12]), True, "equal"),
        (_frame(x=[1.0, 2.1]), False, "x: max"),
        (_frame(x=[1.0, None]), False, "x: null"),
        (_frame(x=[1.0, float("inf")]), False, "x: infinite"),
        (_frame(flag=[True, True]), False, "flag:"),
        (_frame(k=[1, 3]), False, "k:"),
        (_frame().head(1), False, "1 rows vs 2"),
    ],
)
def test_agree_names_what_differs(other: pl.DataFrame, ok: bool, detail: str) -> None:
    outcome = agree(_frame(), other, FLOATS)
    assert outcome.ok is ok and detail in outcome.detail


def test_agree_forgives_a_flag_on_a_float_tie() -> None:
    reference = _frame(v=[0, 2], x=[1.0, 2.0], flag=[False, False])
    other = _frame(v=[0, 2], x=[1.0, 2.0 - 1e-12], flag=[False, True])
    outcome = agree(reference, other, FLOATS)
    assert outcome.ok and "1 tie flag(s) forgiven" in outcome.detail


ALERTS = Comparison(keys=("k",), exact=("n",), lone_tie=("v", "x"))


def _alerts(**columns: list[Any]) -> pl.DataFrame:
    base: dict[str, list[Any]] = {"k": [1, 2], "n": [1, 1], "v": [5, 7], "x": [4.0, 6.5]}
    return pl.DataFrame(base | columns)


@pytest.mark.parametrize(
    ("other", "ok", "detail"),
    [
        (_alerts(), True, "equal"),
        (_alerts(x=[1.0, 2.0]), True, "equal"),  # the carried threshold is not compared
        (  # an extra one-bucket alert exactly at its threshold: a float tie
            pl.concat([_alerts(), pl.DataFrame({"k": [3], "n": [1], "v": [9], "x": [9.0]})]),
            True,
            "1 one-bucket alert(s) at a float tie forgiven",
        ),
        (
            pl.concat([_alerts(), pl.DataFrame({"k": [3], "n": [1], "v": [9], "x": [8.0]})]),
            False,
            "1 row(s) found in one result only",
        ),
        (_alerts().head(1), False, "found in one result only"),
        (_alerts(n=[1, 2]), False, "n:"),
    ],
)
def test_agree_forgives_lone_alerts_at_float_ties(
    other: pl.DataFrame, ok: bool, detail: str
) -> None:
    outcome = agree(_alerts(), other, ALERTS)
    assert outcome.ok is ok and detail in outcome.detail


def test_canonical_sorts_and_casts_whatever_the_flavour() -> None:
    events = generate_events(200, seed=3, n_items=5, days=0.01)
    comparison = STAGE_BY_NAME["stock_levels"].comparison
    assert comparison is not None
    shuffled = events.with_columns(level=pl.lit(1, pl.Int32)).sample(fraction=1.0, seed=1)
    via_pandas = canonical(shuffled.to_pandas(), comparison)
    via_arrow = canonical(shuffled.to_arrow(), comparison)
    assert via_pandas.equals(via_arrow)
    assert via_pandas.schema["level"] == pl.Int64
    assert via_pandas["ts"].is_sorted()


@pytest.mark.parametrize("module", [workload, harness])
def test_docstring_examples(module: Any) -> None:
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0


def test_read_ratio_interleaves_both_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks import read_ratio

    assert read_ratio.main(["--sizes", "20k", "--rounds", "1", "--work-dir", str(tmp_path)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 20k")]
    assert [row.split("|")[2].strip() for row in rows] == ["parquet", "csv"]


def test_the_parquet_read_target_is_judged_interleaved(
    smoke: tuple[harness.Options, str],
) -> None:
    _, text = smoke
    line = next(x for x in text.splitlines() if x.startswith("| read Parquet with validation"))
    assert "interleaved in one process" in line and "paired rounds" in line


@pytest.mark.slow
def test_speed_claims_benchmark_writes_its_table(tmp_path: Path) -> None:
    from benchmarks import speed_claims

    out = tmp_path / "SPEED_CLAIMS.md"
    assert speed_claims.main(["--runs", "1", "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| ") and "×**" in line]
    assert len(rows) == len(speed_claims.CLAIMS)
    assert "Load average" in text and "Versions: python" in text
