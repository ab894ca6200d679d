"""CSV and NDJSON read record by record: the error path of :func:`read_events`.

Polars reads a well-formed file fast but stops at the first record it cannot parse (a ragged
CSV row, a line that is not JSON, bytes that are not UTF-8) without naming the file or line.
When that happens the files are read again here, with the standard library, one record at a
time: good records become a frame of text columns (validated like any other input), bad ones
become :class:`BadRecord` entries naming the file and the 1-based line. The same walk finds
the file line of any 0-based position (:func:`record_lines`) for error messages.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from stockseries.events._rules import ReadError

__all__ = ["BadRecord", "TextRecords", "read_records", "record_lines"]


@dataclass(frozen=True)
class BadRecord:
    """A record that could not be read: its 0-based position, file line and why."""

    position: int
    where: str
    why: str


@dataclass(frozen=True)
class TextRecords:
    """Good records as text columns, their input positions, and the bad records."""

    frame: pl.DataFrame
    positions: list[int]
    bad: list[BadRecord]


def _csv_records(path: str, delimiter: str) -> Iterator[tuple[int, list[str] | None, str]]:
    """``(first line, fields or None, why)`` per record; the header comes first."""
    data = Path(path).read_bytes()
    text = data.decode("utf-8", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    line = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield line, None, f"not a CSV record ({exc})"
            line = reader.line_num + 1
            continue
        if any(_undecodable(field) for field in fields):
            yield line, None, "not UTF-8 text (save the file as UTF-8)"
        elif fields:
            yield line, fields, ""
        line = reader.line_num + 1


def _undecodable(text: str) -> bool:
    return any("\udc80" <= char <= "\udcff" for char in text)


def _json_records(path: str) -> Iterator[tuple[int, dict[str, object] | None, str]]:
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                yield number, None, "not UTF-8 text"
                continue
            except json.JSONDecodeError as exc:
                yield number, None, f"not JSON ({exc.msg} at column {exc.colno})"
                continue
            if not isinstance(record, dict):
                yield number, None, f"not a JSON object (a {type(record).__name__})"
                continue
            yield number, record, ""


def read_records(fmt: str, files: list[str], delimiter: str = ",") -> TextRecords:
    """Every file's records: good ones as a frame of text columns, bad ones listed.

    Raises :class:`~stockseries.events.ReadError` for a CSV file without a header line.
    """
    rows: list[dict[str, str | None]] = []
    positions: list[int] = []
    bad: list[BadRecord] = []
    position = 0
    for name in files:
        if fmt == "csv":
            records = _csv_records(name, delimiter)
            header_line, header, why = next(records, (1, None, "the file is empty"))
            if header is None:
                raise ReadError(
                    f"cannot read {name}: line {header_line}: {why} (a CSV file starts with a "
                    "header line naming its columns)",
                    path=name,
                    line=header_line,
                )
            names = _unique(header)
            for line, fields, why in records:
                if fields is not None and len(fields) != len(names):
                    why = f"expected {len(names)} fields (the header's), got {len(fields)}"
                    fields = None
                if fields is None:
                    bad.append(BadRecord(position, f"{name} line {line}", why))
                else:
                    rows.append(dict(zip(names, fields, strict=True)))
                    positions.append(position)
                position += 1
        else:
            for line, record, why in _json_records(name):
                if record is None:
                    bad.append(BadRecord(position, f"{name} line {line}", why))
                else:
                    rows.append({str(k): _text(v) for k, v in record.items()})
                    positions.append(position)
                position += 1
    columns = list(dict.fromkeys(key for row in rows for key in row))
    frame = pl.DataFrame(
        {name: [row.get(name) for row in rows] for name in columns},
        schema=dict.fromkeys(columns, pl.String),
    )
    return TextRecords(frame, positions, bad)


def _unique(header: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    names = []
    for name in header:
        count = seen.get(name, 0)
        seen[name] = count + 1
        names.append(name if count == 0 else f"{name}_{count + 1}")
    return names


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value)


def record_lines(
    fmt: str, files: list[str], positions: list[int], delimiter: str = ","
) -> dict[int, str]:
    """``position → "file line N"`` (1-based, where the record starts) for CSV/NDJSON files."""
    if fmt not in ("csv", "ndjson") or not positions:
        return {}
    wanted = set(positions)
    last = max(wanted)
    found: dict[int, str] = {}
    position = 0
    for name in files:
        if fmt == "csv":
            records = _csv_records(name, delimiter)
            next(records, None)  # the header
            lines: Iterator[int] = (line for line, _, _ in records)
        else:
            lines = (line for line, _, _ in _json_records(name))
        for line in lines:
            if position in wanted:
                found[position] = f"{name} line {line}"
            position += 1
            if position > last:
                return found
    return found
