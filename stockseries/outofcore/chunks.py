"""Chunks of a data set: which files go together, their time spans, and their order."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import polars as pl

from stockseries._schema import EVENT_SCHEMA, TS
from stockseries._time import format_duration, iso_utc
from stockseries.events import EpochUnit, EventValidationError, scan_events, scan_files
from stockseries.outofcore.results import ChunkOrderError

__all__ = [
    "REQUIRED",
    "Chunk",
    "chunk_frame",
    "find_overlaps",
    "group_files",
    "located",
    "order_error",
    "plan",
]

#: The event columns a run reads; optional columns stay on disk.
REQUIRED = tuple(EVENT_SCHEMA)


@dataclass(frozen=True)
class Chunk:
    """A partition folder or a file, with its rows and first/last event time (µs)."""

    name: str
    files: tuple[str, ...]
    rows: int = 0
    first_us: int | None = None
    last_us: int | None = None


def _is_partition(folder: Path) -> bool:
    key, sep, value = folder.name.partition("=")
    return bool(sep and key and value)


def group_files(source: str | os.PathLike[str], files: list[str]) -> list[Chunk]:
    """Files of one hive partition folder form a chunk; every other file is its own."""
    base = Path(source) if Path(source).is_dir() else None

    def shown(path: Path) -> str:
        return path.relative_to(base).as_posix() if base is not None else path.as_posix()

    groups: dict[str, list[str]] = {}
    for name in files:  # already in sorted path order
        path = Path(name)
        # The folder given as the source is never a partition of itself, whatever its name.
        in_partition = _is_partition(path.parent) and (base is None or path.parent != base)
        key = shown(path.parent) if in_partition else shown(path)
        groups.setdefault(key, []).append(name)
    return [Chunk(key, tuple(names)) for key, names in groups.items()]


def chunk_frame(fmt: str, chunk: Chunk, hive: bool, epoch_unit: EpochUnit | None) -> pl.LazyFrame:
    """The chunk's four event columns, lazily. Each file is scanned and cast on its own, so
    the parts of a partition may differ in optional columns or in how ``ts`` is stored."""
    parts = []
    for name in chunk.files:
        try:
            lazy = scan_events(scan_files(fmt, [name], hive, lenient=True), epoch_unit=epoch_unit)
        except EventValidationError as exc:
            raise located(exc, chunk, name) from None
        parts.append(lazy.select(REQUIRED))
    return parts[0] if len(parts) == 1 else pl.concat(parts)


def located(
    exc: EventValidationError, chunk: Chunk, file: str | None = None
) -> EventValidationError:
    where = (
        f"in file {file!r} of chunk {chunk.name!r}"
        if file is not None
        else f"in chunk {chunk.name!r} (row = 0-based position within the chunk, files in name "
        "order)"
    )
    hint = f"{where}; {exc.hint}" if exc.hint else where
    return EventValidationError(
        exc.column, exc.rule, exc.count, exc.rows, total=exc.total, hint=hint
    )


def plan(fmt: str, chunks: list[Chunk], hive: bool, epoch_unit: EpochUnit | None) -> list[Chunk]:
    """Rows and time span of every chunk, in one pass that reads only ``ts``."""
    ts_us = pl.col(TS).cast(pl.Int64)
    spans = pl.concat(
        [
            chunk_frame(fmt, chunk, hive, epoch_unit).select(
                pl.lit(i, pl.Int64).alias("chunk"),
                pl.len().cast(pl.Int64).alias("rows"),
                ts_us.min().alias("first"),
                ts_us.max().alias("last"),
            )
            for i, chunk in enumerate(chunks)
        ]
    ).collect(engine="streaming")
    planned = [
        Chunk(chunks[i].name, chunks[i].files, rows, first, last)
        for i, rows, first, last in spans.sort("chunk").iter_rows()
    ]
    # Chunks whose every ts is null sort first, so that validation reports them at once.
    return sorted(
        (c for c in planned if c.rows),
        key=lambda c: (c.first_us is not None, c.first_us or 0, c.name),
    )


def find_overlaps(
    chunks: list[Chunk], every_us: int, lateness_us: int
) -> list[tuple[Chunk, Chunk, int, int]]:
    """``(chunk, previous, frontier_us, needed_us)`` for chunks holding late events.

    Replays what the processor will do: after the earlier chunks, every bucket before
    ``((largest ts so far) − lateness) // every`` is closed.
    """
    found: list[tuple[Chunk, Chunk, int, int]] = []
    top: Chunk | None = None
    for chunk in chunks:
        if chunk.first_us is None or chunk.last_us is None:
            continue
        if top is not None and top.last_us is not None:
            closed = (top.last_us - lateness_us) // every_us
            if chunk.first_us // every_us < closed:
                # Smallest lateness keeping the chunk's first bucket open.
                needed = top.last_us - (chunk.first_us // every_us + 1) * every_us + 1
                found.append((chunk, top, closed * every_us, needed))
        if top is None or (top.last_us is not None and chunk.last_us > top.last_us):
            top = chunk
    return found


def _iso_or_unknown(us: int | None) -> str:
    return "?" if us is None else iso_utc(us)


def order_error(
    fmt: str,
    hive: bool,
    epoch_unit: EpochUnit | None,
    overlaps: list[tuple[Chunk, Chunk, int, int]],
    lateness_us: int,
) -> ChunkOrderError:
    chunk, previous, frontier_us, _ = overlaps[0]
    needed_s = math.ceil(max(needed for *_, needed in overlaps) / 1e6)
    needed_text = format_duration(needed_s * 1_000_000)
    late = (
        chunk_frame(fmt, chunk, hive, epoch_unit)
        .select((pl.col(TS).cast(pl.Int64) < frontier_us).sum())
        .collect()
        .item()
    )
    others = f" ({len(overlaps)} chunks overlap in all)" if len(overlaps) > 1 else ""
    message = (
        f"chunk {chunk.name!r} goes back in time: it starts at "
        f"{_iso_or_unknown(chunk.first_us)}, but the earlier chunk {previous.name!r} reaches "
        f"{_iso_or_unknown(previous.last_us)}; with lateness={format_duration(lateness_us)} "
        f"every bucket before {_iso_or_unknown(frontier_us)} is closed by "
        f"then, so {late:,} of its {chunk.rows:,} events would be late{others}. Chunks (hive "
        f"partition folders, or files) are read in order of their first event and may overlap "
        f"by at most the lateness: pass lateness='{needed_text}' or more, or "
        f"on_late='set_aside' to keep going and get the late events back, or fix the "
        f"partitioning."
    )
    return ChunkOrderError(
        message,
        chunk=chunk.name,
        previous=previous.name,
        late=int(late),
        needed=timedelta(seconds=needed_s),
    )
