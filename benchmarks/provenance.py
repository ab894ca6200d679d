"""Which run wrote which rows of RESULTS.md: the run's command, date, commit, load, versions.

A run's document says all of this in its header, its *Machine* table and its *Versions*
table. Rows kept from an earlier run (:mod:`benchmarks.merge`) carry the same facts in one
sentence, written by :func:`describe` and read back by :func:`parse`, so that a document
merged many times still says where every row came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Run", "describe", "parse", "run_of_document"]

_WRITTEN = re.compile(
    r"Written by `(?P<command>[^`]*)` on (?P<written>\d{4}-\d\d-\d\d \d\d:\d\d UTC)"
)
_ROW = re.compile(r"^\| (?P<key>[^|]*?) \| (?P<value>[^|]*?) \|$", re.MULTILINE)
_LOAD_KEY = "load average (1/5/15 min) at start"
_SAME = "versions as above"
_SENTENCE = re.compile(
    r"the (?:earlier )?run(?: `(?P<command>[^`]*)`)? written on "
    r"(?P<written>\d{4}-\d\d-\d\d \d\d:\d\d UTC)(?: \((?P<facts>[^()]*(?:\([^()]*\)[^()]*)*)\))?"
)


@dataclass(frozen=True)
class Run:
    """One ``python -m benchmarks`` run, as far as the document tells.

    ``versions`` holds every library of the *Versions* table but stockseries, whose commit
    is ``commit``; ``machine`` the *Machine* table but the load. Empty fields are facts the
    document did not keep (older formats).
    """

    written: str
    command: str = ""
    commit: str = ""
    load: str = ""
    versions: tuple[tuple[str, str], ...] = field(default=())
    machine: str = ""


def _table(section: str) -> dict[str, str]:
    return {m["key"].strip(): m["value"].strip() for m in _ROW.finditer(section)}


def run_of_document(head: str, sections: dict[str, str]) -> Run:
    """The run that wrote a document, from its header and its Machine/Versions sections.

    Examples
    --------
    >>> head = "# B\\n\\nWritten by `python -m benchmarks --quick` on 2026-12-03 11:22 UTC (x).\\n"
    >>> machine = "## Machine\\n\\n| CPU | EPYC |\\n| load average (1/5/15 min) at start | 1 / 2 / 3 |\\n"
    >>> versions = "## Versions\\n\\n| package | version |\\n|---|---|\\n| stockseries | abc |\\n"
    >>> run_of_document(head, {"Machine": machine, "Versions": versions + "| polars | 2.1 |\\n"})
    Run(written='2026-12-03 11:22 UTC', command='python -m benchmarks --quick', commit='abc', load='1 / 2 / 3', versions=(('polars', '2.1'),), machine='EPYC, ? cores, ? RAM, ?')
    """
    found = _WRITTEN.search(head)
    versions = _table(sections.get("Versions", ""))
    versions.pop("package", None)
    versions.pop("---", None)
    commit = versions.pop("stockseries", "")
    machine = _table(sections.get("Machine", ""))
    return Run(
        written=found["written"] if found else "",
        command=found["command"] if found else "",
        commit=commit,
        load=machine.get(_LOAD_KEY, ""),
        versions=tuple(sorted(versions.items())),
        machine=_machine(machine),
    )


def _machine(table: dict[str, str]) -> str:
    if "CPU" not in table:
        return ""
    parts = [table["CPU"], f"{table.get('cores', '?')} cores", f"{table.get('RAM', '?')} RAM"]
    return ", ".join([*parts, table.get("OS", "?")])


def describe(run: Run, above: Run) -> str:
    """One sentence naming ``run``; versions are listed where they differ from ``above``'s.

    Examples
    --------
    >>> old = Run("2026-11-26 18:20 UTC", "python -m benchmarks", "ebb6", "1 / 2 / 3",
    ...           (("numpy", "2.4"), ("polars", "2.0")))
    >>> describe(old, Run("2026-12-03 17:02 UTC", versions=(("numpy", "2.4"), ("polars", "2.1"))))
    'the run `python -m benchmarks` written on 2026-11-26 18:20 UTC (stockseries ebb6; load average at start 1 / 2 / 3; polars 2.0)'
    >>> parse(describe(old, old), above=old) == old
    True
    """
    facts = []
    if run.machine and run.machine != above.machine:
        facts.append(f"machine: {run.machine}")
    if run.commit:
        facts.append(f"stockseries {run.commit}")
    if run.load:
        facts.append(f"load average at start {run.load}")
    if run.versions:
        theirs = dict(above.versions)
        differ = [f"{name} {v}" for name, v in run.versions if theirs.get(name) != v]
        gone = [name for name in theirs if name not in dict(run.versions)]
        differ += [f"{name} not listed" for name in gone]
        facts.append(", ".join(differ) if differ else _SAME)
    command = f" `{run.command}`" if run.command else ""
    detail = f" ({'; '.join(facts)})" if facts else ""
    return f"the run{command} written on {run.written}{detail}"


def parse(text: str, *, above: Run) -> Run | None:
    """Read back what :func:`describe` wrote (also the older "earlier run" wording).

    Examples
    --------
    >>> parse("from the earlier run written on 2026-11-26 18:20 UTC (stockseries ebb6).",
    ...       above=Run(""))
    Run(written='2026-11-26 18:20 UTC', command='', commit='ebb6', load='', versions=(), machine='')
    """
    found = _SENTENCE.search(text)
    if found is None:
        return None
    commit = load = ""
    machine = above.machine
    versions: tuple[tuple[str, str], ...] = ()
    for fact in (found["facts"] or "").split("; "):
        if fact.startswith("machine: "):
            machine = fact.removeprefix("machine: ")
        elif fact.startswith("stockseries "):
            commit = fact.removeprefix("stockseries ")
        elif fact.startswith("load average at start "):
            load = fact.removeprefix("load average at start ")
        elif fact == _SAME:
            versions = above.versions
        elif fact:
            listed = dict(above.versions)
            for item in fact.split(", "):
                name, _, version = item.partition(" ")
                if version == "not listed":
                    listed.pop(name, None)
                else:
                    listed[name] = version
            versions = tuple(sorted(listed.items()))
    return Run(found["written"], found["command"] or "", commit, load, versions, machine)
