"""One checkpoint file for the processor's state *and* the broker positions it reflects.

A zip archive with the processor's own checkpoint (:meth:`stockseries.live.StreamProcessor.save`,
stored whole as ``processor.ckpt``, with its own checksum), ``broker.json`` (the position of
every partition the state covers) and the consumer's running outputs as Arrow tables. The
file is replaced atomically (temporary file in the same folder, ``fsync``, rename): a crash
leaves the previous checkpoint or the new one, never a state without its offsets.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from stockseries.brokers.eventtime import Position
from stockseries.live import CheckpointError, StreamProcessor

__all__ = [
    "MEMBER",
    "PROCESSOR",
    "BrokerCheckpoint",
    "load_checkpoint",
    "read_positions",
    "save_checkpoint",
]

#: Name of the positions member inside the checkpoint archive.
MEMBER = "broker.json"
#: Name of the processor's own checkpoint inside the archive.
PROCESSOR = "processor.ckpt"
_FORMAT = "stockseries-broker-positions"
#: Tables a consumer keeps with its state: last stock level per item, alerts so far.
_TABLES = ("broker_levels", "broker_alerts")


@dataclass
class BrokerCheckpoint:
    """What a broker consumer resumes from.

    Attributes
    ----------
    processor
        The restored :class:`~stockseries.live.StreamProcessor`.
    positions
        Topic/stream → partition → :class:`~stockseries.brokers.eventtime.Position`.
    levels
        ``item_id``, ``level``: the stock after the last event of every item seen.
    alerts
        Every alert closed before the checkpoint (alert frame columns).
    """

    processor: StreamProcessor
    positions: dict[str, dict[int, Position]]
    levels: pl.DataFrame | None = None
    alerts: pl.DataFrame | None = None
    source: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(
    path: str | os.PathLike[str],
    processor: StreamProcessor,
    positions: Mapping[str, Mapping[int, Position]],
    *,
    source: Mapping[str, Any] | None = None,
    levels: pl.DataFrame | None = None,
    alerts: pl.DataFrame | None = None,
) -> Path:
    """Write ``processor``'s state with ``positions`` (topic/stream → partition → position).

    ``source`` (JSON-able, e.g. the brokers and group) is recorded for humans; ``levels``
    and ``alerts`` (the consumer's running outputs) are stored as Arrow tables.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        inner = Path(tmp).with_suffix(".ckpt")
        processor.save(inner)
        body = {
            "format": _FORMAT,
            "version": 1,
            "source": dict(source or {}),
            "positions": {
                name: {str(part): [pos.offset, pos.skip] for part, pos in sorted(parts.items())}
                for name, parts in sorted(positions.items())
            },
        }
        with open(tmp, "wb") as handle:
            with zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as archive:
                archive.write(inner, PROCESSOR)
                archive.writestr(MEMBER, json.dumps(body, indent=1, sort_keys=True))
                for name, table in zip(_TABLES, (levels, alerts), strict=True):
                    if table is not None:
                        buffer = io.BytesIO()
                        table.write_ipc(buffer)
                        archive.writestr(f"{name}.ipc", buffer.getvalue())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        with contextlib.suppress(OSError):
            os.unlink(inner)
    return target


def read_positions(path: str | os.PathLike[str]) -> dict[str, dict[int, Position]]:
    """The broker positions recorded in a checkpoint (``{}`` if it has none)."""
    return _read(Path(path))[0]


def _read(
    source: Path,
) -> tuple[dict[str, dict[int, Position]], dict[str, Any], dict[str, pl.DataFrame]]:
    tables: dict[str, pl.DataFrame] = {}
    try:
        with zipfile.ZipFile(source) as archive:
            names = archive.namelist()
            if MEMBER not in names:
                return {}, {}, tables
            body = json.loads(archive.read(MEMBER))
            for name in _TABLES:
                if f"{name}.ipc" in names:
                    tables[name] = pl.read_ipc(io.BytesIO(archive.read(f"{name}.ipc")))
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {source}") from None
    except (zipfile.BadZipFile, OSError, ValueError, pl.exceptions.PolarsError) as exc:
        raise CheckpointError(f"checkpoint {source} is truncated or corrupt ({exc})") from exc
    if not isinstance(body, dict) or body.get("format") != _FORMAT:
        raise CheckpointError(f"checkpoint {source}: {MEMBER} is not a positions table")
    try:
        positions = {
            name: {int(part): Position(int(o), int(s)) for part, (o, s) in parts.items()}
            for name, parts in body["positions"].items()
        }
        return positions, dict(body.get("source", {})), tables
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {source}: bad positions ({exc})") from exc


def load_checkpoint(
    path: str | os.PathLike[str], *, expect: Mapping[str, Any] | None = None
) -> BrokerCheckpoint:
    """Everything :func:`save_checkpoint` wrote (``expect`` as :meth:`StreamProcessor.load`)."""
    source = Path(path)
    positions, described, tables = _read(source)
    fd, tmp = tempfile.mkstemp(prefix=f".{source.name}.", suffix=".ckpt", dir=source.parent)
    try:
        with os.fdopen(fd, "wb") as handle, zipfile.ZipFile(source) as archive:
            if PROCESSOR not in archive.namelist():
                raise CheckpointError(f"checkpoint {source} has no processor state")
            handle.write(archive.read(PROCESSOR))
        processor = StreamProcessor.load(tmp, expect=expect)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return BrokerCheckpoint(
        processor,
        positions,
        levels=tables.get("broker_levels"),
        alerts=tables.get("broker_alerts"),
        source=described,
    )
