"""Replaying recorded history through the live engine, resumable from a checkpoint.

A replay checkpoint records what it has consumed *by content*: the time of the last event
consumed, how many events at that time were consumed, and a BLAKE2b digest of the consumed
events (time, item, kind, quantity, in replay order). A later run over the same input —
or over the input grown by rows appended later in time — finds the same prefix and resumes
right after it; any other input (a different file, an edited row, a row inserted before the
resume point) is refused with a :class:`CheckpointError`, unless ``restart=True`` starts
over.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from stockseries._schema import DELIVERY, ITEM, KIND, QUANTITY, TS
from stockseries.events import as_event_frame, read_events
from stockseries.generate import iter_frames
from stockseries.live.checkpoint import CheckpointError
from stockseries.live.processor import StreamProcessor
from stockseries.live.results import StepResult
from stockseries.live.run import as_notifier, closed_alerts, step_alerts
from stockseries.live.sources import DEFAULT_FRAME_SIZE

__all__ = ["consumed_digest", "replay_file", "resume_point"]

_ORIGIN_KIND = "replay"


def replay_file(
    path: str | os.PathLike[str] | Any,
    *,
    frame_size: int = DEFAULT_FRAME_SIZE,
    checkpoint: str | os.PathLike[str] | None = None,
    restart: bool = False,
    sink: Any = None,
    **settings: Any,
) -> Any:
    """Run a recorded event file (or frame) through a :class:`StreamProcessor` and flush.

    The batch-equivalent way to run the live engine over history, used by
    ``stockseries replay``. ``settings`` are the processor's constructor arguments.

    With ``checkpoint``: when the file exists the processor is restored from it (its
    settings must match ``settings``, else :class:`CheckpointError`) and the run resumes
    after the events the checkpoint consumed, found by content (see the module notes): the
    same input, or the input grown by later rows, resumes exactly; a changed or different
    input raises :class:`CheckpointError`. ``restart=True`` ignores an existing checkpoint
    and starts over. After the last frame the state is saved there *before* the final
    flush, so a later run over the grown file continues the stream.

    Returns
    -------
    stockseries.alerts.Alerts
        The alerts closed during this run (including those the final flush closes).

    Examples
    --------
    >>> from stockseries.generate import simulate
    >>> sim = simulate(3, days=0.1, seed=2)
    >>> replay_file(sim.events, every="1m", window=30, k=4.0)
    Alerts(...)
    """
    if not isinstance(restart, bool):
        raise TypeError(f"restart must be True or False, got {restart!r}")
    if isinstance(path, str | os.PathLike):
        events = read_events(path)
    else:
        events = as_event_frame(path)[0]
    events = events.sort(TS, maintain_order=True)
    target = None if checkpoint is None else Path(checkpoint)
    if target is not None and target.exists() and not restart:
        processor = StreamProcessor.load(target, expect=settings)
        events = events.slice(resume_point(processor, events, target))
    else:
        processor = StreamProcessor(**settings)
    before = processor.origin

    # Synchronous on purpose: callable from a notebook, whose event loop is already running.
    notifier = as_notifier(sink)
    closed: list[pl.DataFrame] = []

    def handle(step: StepResult) -> None:
        if step.alerts_closed.height:
            closed.append(step.alerts_closed)
            if notifier is not None:
                notifier.notify(step_alerts(step.alerts_closed, processor))

    for piece in iter_frames(events, size=frame_size):
        handle(processor.push(piece))
    if target is not None:
        processor.save(target, origin=_consumed(before, events))
    handle(processor.flush())
    return closed_alerts(closed, processor)


def consumed_digest(events: pl.DataFrame) -> tuple[int, int]:
    """A 128-bit digest (two 64-bit lanes) of a multiset of events.

    Each event (time, item, kind, quantity) is hashed on its own (items with BLAKE2b,
    the rest mixed in with a SplitMix64 finaliser) and the hashes are summed modulo 2⁶⁴,
    so the digest of a longer run is the digest of its parts added: no chunking matters.
    Events with equal timestamps may come in any order — they leave the same state.
    """
    if not events.height:
        return 0, 0
    items = events.get_column(ITEM)
    unique = items.unique()
    hashes = np.frombuffer(
        b"".join(hashlib.blake2b(x.encode(), digest_size=8).digest() for x in unique.to_list()),
        dtype=np.uint64,
    )
    lookup = pl.DataFrame({ITEM: unique, "_h": pl.Series(hashes, dtype=pl.UInt64)})
    item_hash = (
        (items.to_frame().join(lookup, on=ITEM, how="left", maintain_order="left"))
        .get_column("_h")
        .to_numpy()
    )
    ts = events.get_column(TS).to_physical().to_numpy().astype(np.uint64)
    quantity = events.get_column(QUANTITY).to_numpy().astype(np.uint64)
    kind = (events.get_column(KIND) == DELIVERY).to_numpy().astype(np.uint64)
    lanes = []
    for seed in (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xD1B54A32D192ED03)):
        h = _mix(ts ^ seed)
        h = _mix(h ^ item_hash)
        h = _mix(h ^ (quantity * np.uint64(2) + kind))
        lanes.append(int(h.sum(dtype=np.uint64)))
    return lanes[0], lanes[1]


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser (wrapping uint64 arithmetic)."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _digest_hex(lanes: tuple[int, int]) -> str:
    return f"{lanes[0]:016x}{lanes[1]:016x}"


def _consumed(before: dict[str, Any] | None, events: pl.DataFrame) -> dict[str, Any]:
    """The origin record after consuming ``events`` (sorted) on top of ``before``."""
    count = 0 if before is None else int(before["events"])
    last, at_last = (None, 0) if before is None else (before["last_us"], int(before["at_last"]))
    lanes = (0, 0) if before is None else _lanes(before["digest"])
    if events.height:
        ts = events.get_column(TS).to_physical()
        top = int(ts[-1])
        here = int((ts == top).sum())
        at_last = here + (at_last if last == top else 0)
        last = top
        add = consumed_digest(events)
        lanes = ((lanes[0] + add[0]) % 2**64, (lanes[1] + add[1]) % 2**64)
    return {
        "kind": _ORIGIN_KIND,
        "events": count + events.height,
        "last_us": last,
        "at_last": at_last,
        "digest": _digest_hex(lanes),
    }


def _lanes(digest: str) -> tuple[int, int]:
    return int(digest[:16], 16), int(digest[16:], 16)


def resume_point(processor: StreamProcessor, events: pl.DataFrame, source: Path) -> int:
    """How many of ``events`` (sorted by time) the checkpoint at ``source`` consumed.

    Raises
    ------
    CheckpointError
        The checkpoint does not describe its input, or ``events`` do not begin with what
        it consumed (a changed or different input).
    """
    origin = processor.origin
    restart = "pass restart=True (CLI: --restart) to start over"
    if not _valid_origin(origin):
        raise CheckpointError(
            f"checkpoint {source} does not record the input it consumed; {restart}"
        )
    assert origin is not None
    count, last = int(origin["events"]), origin["last_us"]
    stats = processor.stats
    if count != stats["events"] + stats["late"]:
        raise CheckpointError(f"checkpoint {source} is inconsistent: {count} events consumed")
    if last is None:
        return 0
    ts = events.get_column(TS).to_physical().to_numpy()
    before = int(np.searchsorted(ts, last, side="left"))
    at_last = int(np.searchsorted(ts, last, side="right")) - before
    prefix = before + int(origin["at_last"])
    same = (
        at_last >= int(origin["at_last"])
        and prefix == count
        and _digest_hex(consumed_digest(events.head(prefix))) == origin["digest"]
    )
    if not same:
        raise CheckpointError(
            f"checkpoint {source} was made on other input: the first {count:,} events up to "
            f"{_iso(last)} differ from what it consumed (the input changed, or is another "
            f"file); resuming would give wrong results — {restart}"
        )
    return prefix


def _valid_origin(origin: Any) -> bool:
    if not isinstance(origin, dict) or origin.get("kind") != _ORIGIN_KIND:
        return False
    digest, last = origin.get("digest"), origin.get("last_us")
    numbers = (origin.get("events"), origin.get("at_last"))
    return (
        isinstance(digest, str)
        and len(digest) == 32
        and all(c in "0123456789abcdef" for c in digest)
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in numbers)
        and (last is None or (isinstance(last, int) and not isinstance(last, bool)))
    )


def _iso(us: int) -> str:
    from stockseries.live.times import us_to_datetime

    return us_to_datetime(us).isoformat()
