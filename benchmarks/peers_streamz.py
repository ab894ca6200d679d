"""streamz peer: every event is emitted into a ``Stream`` and folded with ``accumulate``."""

from __future__ import annotations

import polars as pl
from streamz import Stream

from benchmarks.peers_asyncio import BucketState, event_rows

NATIVE = "frames"


def _step(state: BucketState, event: tuple[int, str, str, int]) -> BucketState:
    return state.update(event)


def incremental(frames: list[pl.DataFrame]) -> BucketState:
    state = BucketState()
    source = Stream()
    # streamz holds downstream nodes weakly: keep a reference or the fold is collected.
    fold = source.accumulate(_step, start=state)
    for frame in frames:
        for event in event_rows(frame):
            source.emit(event)
    del fold
    return state
