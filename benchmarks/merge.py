"""Rewriting RESULTS.md without losing what the run did not measure.

A run measures some sizes (``--sizes``) and some stages (``--stages``); ``RESULTS.md`` also
holds other sizes and stages from earlier runs and sections written by other scripts or by
hand (planning, brokers, profile speed ...). :func:`keep_unmeasured` puts the new run first
(header, machine, versions, its sizes), then the earlier sizes it did not measure, then the
other sections unchanged. Within a size both runs measured, the merge is by stage: a stage
the new run measured takes all its rows (every implementation) and its targets from the new
run; the other stages keep theirs from the earlier run, so the ratios within a stage always
compare figures of one run. A size section whose rows come from other runs than the one in
the header says which (command, date, commit, load, versions that differ:
:mod:`benchmarks.provenance`). A run on a different workload (other items, days or seed)
replaces the whole size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from benchmarks.provenance import Run, describe, parse, run_of_document
from benchmarks.stages import STAGE_BY_NAME, STAGES

__all__ = ["SizeSection", "keep_unmeasured", "parse_size_section", "split_sections", "target_stage"]

#: Sections every run writes itself.
GENERATED = ("Machine", "Versions")
#: The heading of the kept sections that no run wrote.
OTHERS = "Other measurements"
_OTHERS_TEXT = (
    "The sections below were not written by the run above: each says how and when it was "
    "measured (re-run its command to refresh it)."
)
_SIZE = re.compile(r"([\d.,]+)\s*([kM]?) events")
_NOTE = "*Not re-measured by the run above:"
_MIXED = "Rows of this section come from more than one run"
#: Above the mixed-runs table when none of the section's rows is the latest run's.
_EARLIER = "*Not re-measured by the run above.*"
_MIXED_TEXT = (
    f"{_MIXED}. All the rows of a stage, and its targets, come from one run, so the ratios "
    "within a stage are measured side by side:"
)
_ORDER = {stage.title: index for index, stage in enumerate(STAGES)}
#: Words that name the stage a target row is about (the earliest one in the text wins).
_TARGET_WORDS = (
    ("simulat", "simulate"),
    ("read CSV", "read_csv"),
    ("read Parquet", "read_parquet"),
    ("stock levels", "stock_levels"),
    ("resample", "resample"),
    ("zscore", "zscore"),
    ("full pipeline", "pipeline"),
    ("incremental", "incremental"),
)


def split_sections(text: str) -> tuple[str, list[tuple[str, str]]]:
    """The text before the first ``## `` heading, and ``(title, text)`` of every ``## `` section.

    Examples
    --------
    >>> split_sections("# T\\n\\nintro\\n## A\\na\\n### sub\\n## B\\nb\\n")
    ('# T\\n\\nintro\\n', [('A', '## A\\na\\n### sub\\n'), ('B', '## B\\nb\\n')])
    """
    parts = re.split(r"^(?=## )", text, flags=re.MULTILINE)
    head, found = parts[0], []
    for part in parts[1:]:
        title = part.splitlines()[0][3:].strip()
        found.append((title, part))
    return head, found


def target_stage(text: str) -> str | None:
    """The stage whose figures decide a target row (named by the row's first cell).

    Examples
    --------
    >>> target_stage("peak memory ≤ 2.5× max(input, output): read CSV")
    'read_csv'
    >>> target_stage("simulator ≥ 10 M ev/s"), target_stage("nothing known")
    ('simulate', None)
    """
    found = [(text.find(word), name) for word, name in _TARGET_WORDS if word in text]
    return min(found)[1] if found else None


@dataclass
class SizeSection:
    """One ``## N events`` section, cut into the parts a merge by stage recombines.

    ``rows`` maps a stage's title to its lines of the main table, ``targets`` holds
    ``(stage title or None, line)`` of the targets table, ``runs`` the run of each stage.
    """

    heading: str
    description: list[str]
    table_head: list[str]
    rows: dict[str, list[str]]
    between: list[str]
    targets_head: list[str]
    targets: list[tuple[str | None, str]]
    runs: dict[str, Run] = field(default_factory=dict)


def _first_cell(line: str) -> str:
    return line[1:].split("|", 1)[0].strip()


def _blocks(lines: list[str]) -> list[list[str]]:
    """Runs of table lines and runs of other lines, in order."""
    blocks: list[list[str]] = []
    for line in lines:
        is_table = line.startswith("|")
        if blocks and blocks[-1][0].startswith("|") == is_table:
            blocks[-1].append(line)
        else:
            blocks.append([line])
    return blocks


def _strip_blank(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def _stage_title(name: str | None) -> str | None:
    return STAGE_BY_NAME[name].title if name in STAGE_BY_NAME else None


def parse_size_section(text: str, *, run: Run) -> SizeSection | None:
    """Cut a size section into its parts; ``None`` when it has not the layout a run writes.

    ``run`` is the run of the rows the section does not attribute to another run (the
    document's own).
    """
    lines = text.rstrip("\n").split("\n")
    blocks = _blocks(lines[1:])
    tables = [i for i, block in enumerate(blocks) if block[0].startswith("|")]
    main = next((i for i in tables if blocks[i][0].startswith("| stage | implementation")), None)
    goals = next((i for i in tables if blocks[i][0].startswith("| target | measured")), None)
    if main is None or goals is None or goals < main:
        return None
    prose = [line for block in blocks[:main] for line in block if not line.startswith("|")]
    runs_of: dict[str, Run] = {}
    note = next((line for line in prose if line.startswith(_NOTE)), None)
    if note is not None:
        run = parse(note, above=run) or run
    elif any(line.startswith(_MIXED) for line in prose):
        for line in next(blocks[i] for i in tables if i < main)[2:]:
            found = parse(line, above=run)
            for title in _ORDER:
                if found is not None and title in _first_cell(line).split("; "):
                    runs_of[title] = found
    description = [
        line for line in prose if not line.startswith((_NOTE, _MIXED)) and line != _EARLIER
    ]
    rows: dict[str, list[str]] = {}
    for line in blocks[main][2:]:
        rows.setdefault(_first_cell(line), []).append(line)
    return SizeSection(
        heading=lines[0],
        description=_strip_blank(description),
        table_head=blocks[main][:2],
        rows=rows,
        between=_strip_blank([line for block in blocks[main + 1 : goals] for line in block]),
        targets_head=blocks[goals][:2],
        targets=[
            (_stage_title(target_stage(_first_cell(line))), line) for line in blocks[goals][2:]
        ],
        runs={title: runs_of.get(title, run) for title in rows},
    )


def _order(titles: list[str]) -> list[str]:
    return sorted(titles, key=lambda title: (_ORDER.get(title, len(_ORDER)), titles.index(title)))


def merge_stages(new: SizeSection, old: SizeSection) -> SizeSection:
    """``new``'s stages with their targets, plus ``old``'s other stages and their targets."""
    if _workload(new) != _workload(old):  # another workload: nothing to compare with
        return new

    def from_new(title: str | None) -> bool:
        return title is None or title in new.rows or title not in old.rows

    titles = _order([*new.rows, *(title for title in old.rows if title not in new.rows)])
    rows = {title: (new if title in new.rows else old).rows[title] for title in titles}
    runs = {title: (new if title in new.rows else old).runs[title] for title in titles}
    new_targets = {_first_cell(line): (title, line) for title, line in new.targets}
    targets: list[tuple[str | None, str]] = []
    for title, line in old.targets:
        if not from_new(title):
            targets.append((title, line))
        elif _first_cell(line) in new_targets:
            targets.append(new_targets.pop(_first_cell(line)))
    targets += [(title, line) for title, line in new_targets.values() if from_new(title)]
    return replace(new, rows=rows, runs=runs, targets=targets)


def _workload(section: SizeSection) -> str:
    """The section's workload (events, items, days, dense rows), without the sizes in MB,
    which depend on the libraries' memory layout rather than on the data."""
    return re.sub(r"[\d,.]+ MB", "MB", " ".join(section.description))


def render(section: SizeSection, *, above: Run) -> str:
    """The section's text; rows of runs other than ``above`` say which run they come from."""
    runs = list(dict.fromkeys(section.runs.values()))
    provenance: list[str] = []
    if runs == [above] or not runs:
        pass
    elif len(runs) == 1:
        provenance = [f"{_NOTE} from {describe(runs[0], above)}.*", ""]
    else:
        listing = [
            ("; ".join(t for t, r in section.runs.items() if r == run), describe(run, above))
            for run in sorted(runs, key=lambda run: run != above)
        ]
        provenance = [
            *([] if above in runs else [_EARLIER, ""]),
            _MIXED_TEXT,
            "",
            "| stages | from |",
            "|---|---|",
            *(f"| {stages} | {where} |" for stages, where in listing),
            "",
        ]
    lines = [section.heading, "", *provenance, *section.description, ""]
    lines += [*section.table_head, *(line for rows in section.rows.values() for line in rows)]
    lines += ["", *section.between, "", *section.targets_head]
    lines += [line for _, line in section.targets]
    return "\n".join([*lines, ""]) + "\n"


def _marked(section: str, run: Run, above: Run) -> str:
    if _NOTE in section or _MIXED in section:
        return section
    heading, _, rest = section.partition("\n")
    return f"{heading}\n\n{_NOTE} from {describe(run, above)}.*\n{rest}"


def _merged_size(new: str | None, old: str | None, runs: tuple[Run, Run]) -> str:
    new_run, old_run = runs
    if old is None:
        assert new is not None
        return new
    old_parsed = parse_size_section(old, run=old_run)
    if new is None:
        return render(old_parsed, above=new_run) if old_parsed else _marked(old, old_run, new_run)
    new_parsed = parse_size_section(new, run=new_run)
    if new_parsed is None or old_parsed is None:
        return new
    merged = merge_stages(new_parsed, old_parsed)
    if set(merged.runs.values()) == {new_run}:
        return new
    return render(merged, above=new_run)


def keep_unmeasured(new: str, previous: str) -> str:
    """``new`` (one run's document) plus what ``previous`` has that ``new`` did not measure.

    Examples
    --------
    >>> old = ("# B\\nWritten by `x` on 2026-11-26 18:20 UTC.\\n## Machine\\nold\\n"
    ...        "## 1M events\\nold 1M\\n## 50M events\\nold 50M\\n## Planning\\nby hand\\n")
    >>> new = "# B\\nWritten by `y` on 2026-12-03 11:05 UTC.\\n## Machine\\nnew\\n## 1M events\\nnew 1M\\n"
    >>> print(keep_unmeasured(new, old))
    # B
    Written by `y` on 2026-12-03 11:05 UTC.
    ## Machine
    new
    ## 1M events
    new 1M
    ## 50M events
    <BLANKLINE>
    *Not re-measured by the run above: from the run `x` written on 2026-11-26 18:20 UTC.*
    old 50M
    ## Other measurements
    <BLANKLINE>
    The sections below were not written by the run above: each says how and when it was measured (re-run its command to refresh it).
    <BLANKLINE>
    ## Planning
    by hand
    <BLANKLINE>
    """
    head, sections = split_sections(new)
    old_head, old_sections = split_sections(previous)
    runs = (run_of_document(head, dict(sections)), run_of_document(old_head, dict(old_sections)))
    sizes, old_sizes = _by_size(sections), _by_size(old_sections)
    merged = {
        n: _merged_size(sizes.get(n), old_sizes.get(n), runs) for n in sorted({*sizes, *old_sizes})
    }
    others = [
        text
        for title, text in old_sections
        if _events(title) is None and title not in (*GENERATED, OTHERS)
    ]
    lines = [head, *(text for title, text in sections if _events(title) is None)]
    lines += [_ends_with_newline(text) for text in merged.values()]
    if others:
        lines.append(f"## {OTHERS}\n\n{_OTHERS_TEXT}\n\n")
        lines += [_ends_with_newline(text) for text in others]
    return "".join(lines).rstrip() + "\n"


def _events(title: str) -> int | None:
    match = _SIZE.fullmatch(title)
    if match is None:
        return None
    scale = {"": 1, "k": 1_000, "M": 1_000_000}[match.group(2)]
    return round(float(match.group(1).replace(",", "")) * scale)


def _by_size(sections: list[tuple[str, str]]) -> dict[int, str]:
    found = {}
    for title, text in sections:
        n = _events(title)
        if n is not None:
            found[n] = text
    return found


def _ends_with_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"
