"""Rewriting benchmarks/RESULTS.md keeps what the run did not measure (benchmarks/merge.py).

The documents are written by the benchmark's own report code (``report.size_section`` and
``report.document``) from made-up figures, so the merge is tested on the layout a run writes.
"""

from __future__ import annotations

import doctest
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import report  # noqa: E402
from benchmarks.merge import (  # noqa: E402
    OTHERS,
    keep_unmeasured,
    parse_size_section,
    split_sections,
    target_stage,
)
from benchmarks.provenance import Run, parse, run_of_document  # noqa: E402
from benchmarks.stages import STAGE_BY_NAME, STAGES  # noqa: E402
from benchmarks.workload import Workload  # noqa: E402

ALL = tuple(stage.name for stage in STAGES)
IMPLS = ("stockseries", "polars", "pandas", "duckdb", "asyncio", "streamz", "floor")
META = {"events_mb": 30.0, "series_rows": 10_000_000, "series_mb": 560.0}
INPUTS = {stage.name: 30.0 for stage in STAGES}

NEW = """# stockseries benchmarks

Written by `python -m benchmarks --sizes 1M` on 2026-12-03 11:05 UTC (whole run: 5.0 min).

## Machine

| CPU | quiet |

## Versions

| stockseries | 0123456789ab |

## 1M events

new figures

### Targets at 1M events

new targets
"""


def _figures(stages: tuple[str, ...], seconds: float) -> list[report.Figure]:
    """Every implementation of ``stages``; stockseries takes ``seconds``, the peers 1 s."""
    return [
        report.Figure(
            stage=stage,
            impl=impl,
            status="ok",
            median_s=seconds if impl == "stockseries" else 1.0,
            events=1_000_000,
            runs=3,
            peak_mb=40.0,
            output_mb=20.0,
            agreement="reference" if impl == "stockseries" else "equal",
        )
        for stage in stages
        for impl in IMPLS
    ]


def _document(
    stages: tuple[str, ...],
    *,
    when: str,
    seconds: float,
    sizes: tuple[int, ...] = (1_000_000,),
    items: int = 1_000,
    polars: str = "2.1.0",
) -> str:
    """A whole RESULTS.md as a run of ``stages`` over ``sizes`` writes it."""
    sections = [
        report.size_section(
            Workload(n, seed=0, work_dir=Path("."), n_items=items),
            _figures(stages, seconds),
            meta=META,
            inputs_mb=INPUTS,
        )
        for n in sizes
    ]
    started = datetime.fromisoformat(when).replace(tzinfo=UTC)
    text = report.document(
        sections,
        command=f"python -m benchmarks --stages {','.join(stages)}",
        runs=3,
        budget_s=60,
        started=started,
        elapsed_s=60,
        machine_info={"CPU": "EPYC", "load average (1/5/15 min) at start": when[-5:]},
    )
    # The commit and versions are the checkout's: pin them so runs can tell apart.
    text = text.replace(report.versions()["stockseries"], f"commit-{when[-5:]}", 1)
    return text.replace(f"| polars | {report.versions()['polars']} |", f"| polars | {polars} |")


def _size(document: str, title: str = "1M events") -> str:
    return dict(split_sections(document)[1])[title]


def _rows(section: str, stage: str) -> list[str]:
    title = STAGE_BY_NAME[stage].title
    table = section.split("| stage | implementation", 1)[1].split("\n\n", 1)[0]
    return [line for line in table.splitlines() if line.startswith(f"| {title} |")]


def _targets(section: str, stage: str) -> list[str]:
    goals = section.split("### Targets", 1)[1]
    return [
        line
        for line in goals.splitlines()
        if line.startswith("| ") and target_stage(line[2:].split(" |")[0]) == stage
    ]


def _run(document: str) -> Run:
    head, sections = split_sections(document)
    return run_of_document(head, dict(sections))


# (what the earlier document measured, what the new run measured): per stage, which run's
# rows the merged section must show.
CASES = [
    pytest.param(ALL, ("stock_levels",), id="one stage re-run in a full run"),
    pytest.param(ALL, ("stock_levels", "zscore"), id="two stages re-run"),
    pytest.param(("resample",), ("stock_levels",), id="partial over partial: both stay"),
    pytest.param(("stock_levels",), ALL, id="full run over a partial one"),
]


@pytest.mark.parametrize(("old_stages", "new_stages"), CASES)
def test_a_partial_run_replaces_only_the_stages_it_measured(
    old_stages: tuple[str, ...], new_stages: tuple[str, ...]
) -> None:
    old = _document(old_stages, when="2026-12-03 11:22", seconds=2.0)
    new = _document(new_stages, when="2026-12-03 17:02", seconds=0.5)
    merged = keep_unmeasured(new, old)
    section, old_section, new_section = _size(merged), _size(old), _size(new)
    for stage in ALL:
        source = new_section if stage in new_stages else old_section
        assert _rows(section, stage) == _rows(source, stage), stage
        # Targets go with their stage's rows (a stage measured by neither: the new "not
        # measured" rows).
        expected = old_section if stage in old_stages and stage not in new_stages else new_section
        assert _targets(section, stage) == _targets(expected, stage), stage
    kept = [stage for stage in old_stages if stage not in new_stages]
    if kept:
        assert "more than one run" in section
        assert "written on 2026-12-03 11:22 UTC (stockseries commit-11:22;" in section
        assert "load average at start 11:22; versions as above" in section
        parsed = parse_size_section(section, run=_run(merged))
        assert parsed is not None
        assert {title for title, run in parsed.runs.items() if run != _run(merged)} == {
            STAGE_BY_NAME[stage].title for stage in kept
        }
    else:
        assert section == new_section
    assert keep_unmeasured(new, merged) == merged  # the same run again changes nothing


def test_three_runs_in_one_section_each_keep_their_provenance() -> None:
    first = _document(ALL, when="2026-12-01 10:00", seconds=2.0, polars="2.0.0")
    second = keep_unmeasured(_document(("zscore",), when="2026-12-02 10:00", seconds=1.5), first)
    third = keep_unmeasured(
        _document(("stock_levels",), when="2026-12-03 10:00", seconds=0.5), second
    )
    section = _size(third)
    parsed = parse_size_section(section, run=_run(third))
    assert parsed is not None
    written = {title: run.written for title, run in parsed.runs.items()}
    assert written["stock levels"] == "2026-12-03 10:00 UTC"
    assert written["zscore (w=60, k=3)"] == "2026-12-02 10:00 UTC"
    assert written["simulate"] == "2026-12-01 10:00 UTC"
    # The first run used another Polars: said where its rows are, not for the others.
    assert section.count("polars 2.0.0") == 1
    assert dict(parsed.runs["simulate"].versions)["polars"] == "2.0.0"
    assert dict(parsed.runs["zscore (w=60, k=3)"].versions)["polars"] != "2.0.0"
    assert (
        keep_unmeasured(_document(("stock_levels",), when="2026-12-03 10:00", seconds=0.5), third)
        == third
    )


def test_another_workload_replaces_the_whole_size() -> None:
    old = _document(ALL, when="2026-12-03 11:22", seconds=2.0)
    new = _document(("stock_levels",), when="2026-12-03 17:02", seconds=0.5, items=50)
    assert _size(keep_unmeasured(new, old)) == _size(new)


def test_the_same_workload_held_in_another_amount_of_memory_still_merges() -> None:
    old = _document(ALL, when="2026-12-03 11:22", seconds=2.0)
    new = _document(("stock_levels",), when="2026-12-03 17:02", seconds=0.5)
    new = new.replace("30 MB in memory", "29 MB in memory")
    section = _size(keep_unmeasured(new, old))
    assert "more than one run" in section and "29 MB in memory" in section
    assert _rows(section, "zscore") == _rows(_size(old), "zscore")


def test_sizes_the_run_did_not_measure_stay_whole_with_their_run() -> None:
    old = _document(ALL, when="2026-12-03 11:22", seconds=2.0, sizes=(1_000_000, 10_000_000))
    new = _document(("stock_levels",), when="2026-12-03 17:02", seconds=0.5)
    merged = keep_unmeasured(new, old)
    kept = _size(merged, "10M events")
    assert "*Not re-measured by the run above: from the run `python -m benchmarks" in kept
    assert "more than one run" not in kept
    body = _size(old, "10M events").split("\n", 2)[2]
    assert body.strip() in kept
    parsed = parse_size_section(kept, run=_run(merged))
    assert parsed is not None and set(parsed.runs.values()) == {_run(old)}


@pytest.mark.parametrize("stage", ALL)
def test_every_target_row_is_attributed_to_the_stage_that_decides_it(stage: str) -> None:
    figures = _figures((stage,), 0.5)
    targets = report.targets(figures, inputs_mb=INPUTS, n_events=10_000_000)
    measured = [t.text for t in targets if t.met is not None]
    assert measured, stage
    assert {target_stage(text) for text in measured} == {stage}


@pytest.mark.parametrize(
    ("sentence", "written", "commit"),
    [
        (
            "from the earlier run written on 2026-11-26 18:20 UTC (stockseries ebb6a8969a23).",
            "2026-11-26 18:20 UTC",
            "ebb6a8969a23",
        ),
        (
            "from the run `python -m benchmarks` written on 2026-12-03 11:22 UTC "
            "(stockseries 1e44 (+ uncommitted changes in stockseries/); versions as above)",
            "2026-12-03 11:22 UTC",
            "1e44 (+ uncommitted changes in stockseries/)",
        ),
        ("written by hand", None, None),
    ],
)
def test_provenance_sentences_old_and_new(
    sentence: str, written: str | None, commit: str | None
) -> None:
    found = parse(sentence, above=Run("", versions=(("polars", "2.1.0"),)))
    if written is None:
        assert found is None
    else:
        assert found is not None and (found.written, found.commit) == (written, commit)


def test_a_run_of_one_size_keeps_the_other_sizes_and_every_other_section() -> None:
    previous = (REPO / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    merged = keep_unmeasured(NEW, previous)
    _, old = split_sections(previous)
    head, sections = split_sections(merged)
    titles = [title for title, _ in sections]
    assert head == split_sections(NEW)[0]
    assert titles[:3] == ["Machine", "Versions", "1M events"]
    by_title = dict(sections)
    assert "new figures" in by_title["1M events"] and "quiet" in by_title["Machine"]
    for title, text in old:
        if title in ("Machine", "Versions", "1M events"):
            continue
        assert title in by_title, title
        if title.endswith("M events"):
            assert "Not re-measured by the run above" in by_title[title]
            # Every figure and target stays; a table of the runs the rows come from is
            # rewritten relative to the new run (its machine and versions).
            figures = text[text.index("| stage | implementation") :]
            for line in figures.splitlines():
                if line.startswith("|"):
                    assert line in by_title[title]
        else:
            assert by_title[title].strip() == text.strip()
    assert titles.index(OTHERS) > titles.index("50M events")
    assert keep_unmeasured(NEW, merged) == merged  # a second run of the same size: no change


def test_replace_turns_keeping_off_and_the_examples_hold() -> None:
    from benchmarks import harness, merge, provenance

    assert harness.parse_args(["--replace"]).keep is False
    assert harness.parse_args([]).keep is True
    assert doctest.testmod(merge).failed == 0
    assert doctest.testmod(provenance).failed == 0
