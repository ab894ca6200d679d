"""Rewriting RESULTS.md without losing what the run did not measure.

A run measures some sizes (``--sizes``); ``RESULTS.md`` also holds other sizes from an earlier
run and sections written by other scripts or by hand (planning, brokers, profile speed ...).
:func:`keep_unmeasured` puts the new run first (header, machine, versions, its sizes), then
the earlier sizes it did not measure, each marked as such, then the other sections unchanged.
"""

from __future__ import annotations

import re

__all__ = ["keep_unmeasured", "split_sections"]

#: Sections every run writes itself.
GENERATED = ("Machine", "Versions")
#: The heading of the kept sections that no run wrote.
OTHERS = "Other measurements"
_OTHERS_TEXT = (
    "The sections below were not written by the run above: each says how and when it was "
    "measured (re-run its command to refresh it)."
)
_SIZE = re.compile(r"([\d.,]+)\s*([kM]?) events")
_WRITTEN = re.compile(r"on (\d{4}-\d\d-\d\d \d\d:\d\d UTC)")
_COMMIT = re.compile(r"^\| stockseries \| (\S+) \|$", re.MULTILINE)
_NOTE = "*Not re-measured by the run above:"


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


def _events(title: str) -> int | None:
    match = _SIZE.fullmatch(title)
    if match is None:
        return None
    scale = {"": 1, "k": 1_000, "M": 1_000_000}[match.group(2)]
    return round(float(match.group(1).replace(",", "")) * scale)


def _marked(section: str, when: str) -> str:
    if _NOTE in section:
        return section
    heading, _, rest = section.partition("\n")
    return f"{heading}\n\n{_NOTE} from the earlier run {when}.*\n{rest}"


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
    *Not re-measured by the run above: from the earlier run written on 2026-11-26 18:20 UTC.*
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
    written, commit = _WRITTEN.search(old_head), _COMMIT.search(previous)
    when = " ".join(
        ([f"written on {written.group(1)}"] if written else [])
        + ([f"(stockseries {commit.group(1)})"] if commit else [])
    )
    sizes = _by_size(sections)
    merged = {n: _marked(text, when) for n, text in _by_size(old_sections).items()} | sizes
    others = [
        text
        for title, text in old_sections
        if _events(title) is None and title not in (*GENERATED, OTHERS)
    ]
    lines = [head, *(text for title, text in sections if _events(title) is None)]
    lines += [_ends_with_newline(merged[n]) for n in sorted(merged)]
    if others:
        lines.append(f"## {OTHERS}\n\n{_OTHERS_TEXT}\n\n")
        lines += [_ends_with_newline(text) for text in others]
    return "".join(lines).rstrip() + "\n"


def _by_size(sections: list[tuple[str, str]]) -> dict[int, str]:
    found = {}
    for title, text in sections:
        n = _events(title)
        if n is not None:
            found[n] = text
    return found


def _ends_with_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"
