"""Issue 13: outputs complete or absent, inputs never destroyed, every mistake reported at once,
exact integers, no traceback on the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import stockseries._io
from stockseries import __version__, read_events, stock_levels
from stockseries.cli import main
from stockseries.events import EventValidationError, ReadError

BIG = 2**53 + 1
EIGHT_LINES = (
    "ts,item_id,kind,quantity\n"
    "2024-01-01T00:00:00Z,A,order,1\n"
    "yesterday,A,order,2\n"
    "2024-01-01T00:02:00Z,,order,3\n"
    "2024-01-01T00:03:00Z,B,Order,4\n"
    "2024-01-01T00:04:00Z,B,order,2.5\n"
    "2024-01-01T00:05:00Z,B,delivery,7\n"
    "2024-01-01T00:06:00Z,C,order,1\n"
)
GOOD = (
    "ts,item_id,kind,quantity\n2024-01-01T00:00:00Z,A,order,1\n2024-01-01T00:01:00Z,A,delivery,5\n"
)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_an_eight_line_file_with_four_mistakes_is_diagnosed_in_one_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path / "eight.csv", EIGHT_LINES)
    assert main(["levels", str(source), "-o", str(tmp_path / "out.csv")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "every broken rule (4)" in err
    for rule, line in [
        ("ts: must be a parseable timestamp", 3),
        ("item_id: must not be null", 4),
        ("kind: must be one of", 5),
        ("quantity: must be an integer > 0", 6),
    ]:
        assert any(rule in row and f"eight.csv line {line}" in row for row in err.splitlines())
    assert "did you mean 'order'?" in err and "--rejected FILE" in err
    assert not (tmp_path / "out.csv").exists()
    # --rejected keeps going and writes the four rows with their reasons
    rejected = tmp_path / "rejected.csv"
    out = tmp_path / "out.csv"
    assert main(["levels", str(source), "-o", str(out), "--rejected", str(rejected)]) == 0
    assert pl.read_csv(rejected)["row"].to_list() == [1, 2, 3, 4]
    assert pl.read_csv(out).height == 3  # valid + rejected == input rows


def test_output_that_is_the_input_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path / "x.csv", GOOD)
    for command in (["levels"], ["series", "--every", "1m"]):
        assert main([*command, str(source), "-o", str(source)]) == 2
        assert source.read_text() == GOOD  # untouched
    assert "it is the input" in capsys.readouterr().err


def test_directory_as_output_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write(tmp_path / "x.csv", GOOD)
    assert main(["levels", str(source), "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is a directory" in err and "Traceback" not in err


@pytest.mark.parametrize("command", [["levels"], ["series", "--every", "1m"], ["detect"]])
def test_full_disk_leaves_no_file_and_exits_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    source = write(tmp_path / "x.csv", GOOD)
    out = tmp_path / "out" / "result.csv"
    real = stockseries._io.write_by_suffix

    def full_disk(frame: pl.DataFrame, path: Path, suffix: str) -> None:
        real(frame, path, suffix)  # most of the bytes made it ...
        with open(path, "r+b") as handle:
            handle.truncate(max(1, path.stat().st_size // 2))
        raise OSError(28, "No space left on device", str(path))  # ... then the disk filled

    monkeypatch.setattr(stockseries._io, "write_by_suffix", full_disk)
    assert main([*command, str(source), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # no temporary left behind


@pytest.mark.parametrize("suffix", ["csv", "ndjson"])
def test_integers_above_2_53_survive(tmp_path: Path, suffix: str) -> None:
    if suffix == "csv":
        text = f"ts,item_id,kind,quantity\n2024-01-01T00:00:00Z,A,delivery,{BIG}\n"
        text += "2024-01-01T00:01:00Z,A,order,2.0\n"
    else:
        rows = [
            {"ts": "2024-01-01T00:00:00Z", "item_id": "A", "kind": "delivery", "quantity": BIG},
            {"ts": "2024-01-01T00:01:00Z", "item_id": "A", "kind": "order", "quantity": 2.0},
        ]
        text = "".join(json.dumps(row) + "\n" for row in rows)
    source = write(tmp_path / f"big.{suffix}", text)
    events = read_events(source)
    assert events["quantity"].to_list() == [BIG, 2]
    assert stock_levels(events)["level"].to_list() == [BIG, BIG - 2]


def test_overflow_is_a_clear_error_naming_the_item(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "ts,item_id,kind,quantity\n"
    text += f"2024-01-01T00:00:00Z,bolt,order,{2**62}\n2024-01-01T00:00:01Z,bolt,order,{2**62}\n"
    source = write(tmp_path / "huge.csv", text)
    with pytest.raises(EventValidationError, match="'bolt'"):
        stock_levels(read_events(source))
    assert main(["series", str(source), "-o", str(tmp_path / "s.csv")]) == 2
    assert "'bolt'" in capsys.readouterr().err


def test_initial_is_validated_like_the_api(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path / "x.csv", GOOD)
    initial = write(tmp_path / "initial.csv", "item_id,initial\nA,2.5\n")
    assert (
        main(["levels", str(source), "-o", str(tmp_path / "o.csv"), "--initial", str(initial)]) == 2
    )
    assert "must be an integer" in capsys.readouterr().err


def test_column_and_kind_mapping_delimiter_and_zone(tmp_path: Path) -> None:
    text = "timestamp;sku;type;qty\n01/03/2024 10:30;A;sale;2\n31/03/2024 02:30;A;receipt;5\n"
    source = write(tmp_path / "shop.csv", text)
    out = tmp_path / "levels.csv"
    argv = ["levels", str(source), "-o", str(out), "--delimiter", ";"]
    argv += ["--columns", "ts=timestamp,item_id=sku,kind=type,quantity=qty"]
    argv += ["--kinds", "order=sale,delivery=receipt", "--ts-format", "%d/%m/%Y %H:%M"]
    assert main([*argv, "--tz", "Europe/Paris"]) == 2  # 02:30 on 31 March does not exist there
    assert main([*argv, "--tz", "Europe/London"]) == 0
    levels = pl.read_csv(out)
    assert levels["ts"].to_list() == ["2024-03-01T10:30:00Z", "2024-03-31T01:30:00Z"]
    assert levels["level"].to_list() == [-2, 3]


def test_near_miss_column_names_get_a_suggestion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path / "x.csv", GOOD.replace("item_id", "Item ID", 1))
    assert main(["levels", str(source), "-o", str(tmp_path / "o.csv")]) == 2
    assert "did you mean 'Item ID'? " in capsys.readouterr().err


@pytest.mark.parametrize(
    "content",
    [b"", b"ts,item_id\n", b"ts,item_id,kind,quantity\n2024-01-01,A,order,1,9\n", b"\xff\xfe\x00"],
)
def test_unreadable_text_files_name_file_and_line(tmp_path: Path, content: bytes) -> None:
    source = tmp_path / "bad.csv"
    source.write_bytes(content)
    with pytest.raises(EventValidationError, match=r"bad\.csv|missing required column") as caught:
        read_events(source)
    assert isinstance(caught.value, ReadError) or caught.value.rule


def test_durations_accept_pandas_spellings(tmp_path: Path) -> None:
    source = write(tmp_path / "x.csv", GOOD)
    for every in ("15min", "15T", "1h30m"):
        assert main(["series", str(source), "--every", every, "-o", str(tmp_path / "s.csv")]) == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["series", "{src}", "--every", "99999999999999999999d", "-o", "{tmp}/s.csv"],
        ["detect", "{src}", "--window", "100000000000000000000", "-o", "{tmp}/a.csv"],
        ["detect", "{src}", "--window", "10**20", "-o", "{tmp}/a.csv"],
        ["levels", "{src}", "-o", "{tmp}"],
    ],
)
def test_absurd_values_exit_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    source = write(tmp_path / "x.csv", GOOD)
    filled = [part.format(src=source, tmp=tmp_path) for part in argv]
    try:
        status = main(filled)
    except SystemExit as exc:  # argparse refuses with status 2
        status = int(exc.code or 0)
    assert status == 2
    assert "Traceback" not in capsys.readouterr().err


def test_warm_up_longer_than_the_data_is_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = "".join(f"2024-01-01T00:{minute:02d}:00Z,A,order,1\n" for minute in range(25))
    source = write(tmp_path / "short.csv", "ts,item_id,kind,quantity\n" + rows)
    assert main(["detect", str(source), "-o", str(tmp_path / "a.csv")]) == 0
    assert "no bucket had enough history (needs 60 buckets of 1m, data has 25)" in (
        capsys.readouterr().err
    )


def test_version_bare_command_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as version:
        main(["--version"])
    assert version.value.code == 0 and __version__ in capsys.readouterr().out
    assert main([]) == 0
    assert "usage: stockseries" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    text = capsys.readouterr().out
    for option in ("--items", "--days", "--start", "--seed"):
        line = next(line for line in text.splitlines() if line.strip().startswith(option))
        assert line  # documented
    assert "(default: 20)" in text and "(default: 0)" in text


def test_broken_pipe_exits_quietly(tmp_path: Path) -> None:
    rows = "".join(
        f"2024-01-01T{h:02d}:{m:02d}:00Z,A,order,{1 + (m % 3) * 40}\n"
        for h in range(6)
        for m in range(60)
    )
    source = write(tmp_path / "x.csv", "ts,item_id,kind,quantity\n" + rows)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        f"{sys.executable} -m stockseries.cli detect {source} --window 5 -o {tmp_path}/a.csv | head -c 1",
        shell=True,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_every_option_of_every_command_has_help_and_one_default() -> None:
    import argparse

    from stockseries.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing, doubled = [], []
    for name, sub in commands.choices.items():
        formatter = sub._get_formatter()
        for action in sub._actions:
            if not action.option_strings or action.default is argparse.SUPPRESS:
                continue
            text = formatter._expand_help(action) if action.help else ""
            if not text:
                missing.append(f"{name} {action.option_strings[0]}")
            elif text.count("(default:") != 1:
                doubled.append(f"{name} {action.option_strings[0]}: {text}")
    assert not missing, f"options without help: {missing}"
    assert not doubled, "options whose default is not said exactly once:\n" + "\n".join(doubled)
