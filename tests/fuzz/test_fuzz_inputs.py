"""Fuzz suite (issue 13): malformed inputs get the documented error, every CLI path exits 0 or 2
without a traceback, and valid + rejected == input rows.

``corpus/`` keeps the cases found by the adversarial pass as files (``rows.json``: how many
records each holds, ``null`` where no row can be read: a frame-level error); hypothesis adds
random CSV text on top.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockseries.cli import main
from stockseries.events import EventValidationError, read_events

CORPUS = Path(__file__).parent / "corpus"
ROWS: dict[str, int | None] = json.loads((CORPUS / "rows.json").read_text())
CASES = sorted(ROWS)


@pytest.mark.parametrize("name", CASES)
def test_corpus_gets_the_documented_error_or_events(name: str) -> None:
    source = CORPUS / name
    try:
        read_events(source)
    except EventValidationError as exc:  # ReadError included
        assert str(exc)
    try:
        result = read_events(source, strict=False)
    except EventValidationError as exc:
        # Only frame-level problems (no row could pass) or unreadable files raise here.
        assert ROWS[name] is None, f"{name}: {exc}"
        return
    assert ROWS[name] is not None, f"{name} should not be readable"
    assert len(result.events) + len(result.rejected) == ROWS[name]


COMMANDS = [
    ["levels"],
    ["series", "--every", "1m"],
    ["detect", "--window", "3"],
    ["levels", "--rejected", "{tmp}/rejected.csv"],
    ["replay", "--window", "3"],
]


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("command", COMMANDS, ids=lambda argv: "-".join(argv[:2]))
def test_every_cli_path_exits_0_or_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, command: list[str]
) -> None:
    argv = [command[0], str(CORPUS / name), "-o", str(tmp_path / "out.csv")]
    argv += [part.format(tmp=tmp_path) for part in command[1:]]
    try:
        status = main(argv)
    except SystemExit as exc:
        status = int(exc.code or 0)
    err = capsys.readouterr().err
    assert status in (0, 2), err
    assert "Traceback" not in err
    if status == 2:
        assert err.startswith("stockseries") and not (tmp_path / "out.csv").exists()


FIELD = st.sampled_from(
    [
        "2024-01-01T00:00:00Z",
        "2024-01-01 00:05",
        "2024-02-30",
        "yesterday",
        "",
        "A",
        "B",
        "order",
        "delivery",
        "Order",
        "refund",
        "1",
        "7",
        "0",
        "-3",
        "2.5",
        "3.0",
        "9007199254740993",
        "1e3",
        "caf\u00e9",
    ]
)
ROW = st.lists(FIELD, min_size=2, max_size=6)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(ROW, min_size=1, max_size=25))
def test_random_csv_valid_plus_rejected_is_every_row(tmp_path: Path, rows: list[list[str]]) -> None:
    source = tmp_path / "fuzz.csv"
    lines = ["ts,item_id,kind,quantity"] + [",".join(row) for row in rows]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    records = sum(1 for line in lines[1:] if line)  # polars and the fallback skip blank lines
    try:
        result = read_events(source, strict=False)
    except EventValidationError as exc:
        assert str(exc)
        return
    assert len(result.events) + len(result.rejected) == records
    assert result.rejected["reason"].null_count() == 0
