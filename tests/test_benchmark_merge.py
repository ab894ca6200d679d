"""Rewriting benchmarks/RESULTS.md keeps what the run did not measure (benchmarks/merge.py)."""

from __future__ import annotations

import doctest
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.merge import OTHERS, keep_unmeasured, split_sections  # noqa: E402

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
            assert text.split("\n", 1)[1].strip() in by_title[title]
        else:
            assert by_title[title].strip() == text.strip()
    assert titles.index(OTHERS) > titles.index("50M events")
    assert keep_unmeasured(NEW, merged) == merged  # a second run of the same size: no change


def test_replace_turns_keeping_off_and_the_examples_hold() -> None:
    from benchmarks import harness, merge

    assert harness.parse_args(["--replace"]).keep is False
    assert harness.parse_args([]).keep is True
    assert doctest.testmod(merge).failed == 0
