"""Tests of :func:`stockseries.generate.iter_frames`."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from generate_common import (
    CAT,
    epoch_us,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from stockseries._schema import TS_DTYPE
from stockseries.generate import (
    iter_frames,
    timed_orders,
)

# --------------------------------------------------------------------------- iter_frames


SPAN_US = {"1us": 1, "1s": 10**6, "7s": 7 * 10**6, "1m": 6 * 10**7, "1h": 36 * 10**8}
event_frames = st.lists(st.integers(-10_000_000, 50_000_000), max_size=60).map(
    lambda stamps: pl.DataFrame(
        {
            "ts": pl.Series(sorted(stamps), dtype=pl.Int64).cast(TS_DTYPE),
            "n": list(range(len(stamps))),
        }
    )
)


@settings(max_examples=60, deadline=None)
@given(
    events=event_frames,
    size=st.integers(1, 25),
    span=st.sampled_from(["1us", "1s", "7s", "1m", "1h", dt.timedelta(milliseconds=1500)]),
)
def test_iter_frames_round_trip(events: pl.DataFrame, size: int, span: Any) -> None:
    by_size = list(iter_frames(events, size=size))
    assert all(f.height == size for f in by_size[:-1])
    assert_frame_equal(pl.concat(by_size) if by_size else events.clear(), events)

    by_span = list(iter_frames(events, span=span))
    assert all(f.height > 0 for f in by_span)
    assert_frame_equal(pl.concat(by_span) if by_span else events.clear(), events)
    step = SPAN_US[span] if isinstance(span, str) else span // dt.timedelta(microseconds=1)
    windows = [np.unique(epoch_us(f) // step) for f in by_span]
    assert all(w.shape[0] == 1 for w in windows)
    assert all(a[0] < b[0] for a, b in itertools.pairwise(windows))


def test_iter_frames_pandas_keeps_the_index() -> None:
    events = timed_orders(CAT, start="2024-01-01", end="2024-01-01T00:05", every="7s").to_pandas()
    events.index = events.index * 10
    frames = list(iter_frames(events, span="1m"))
    assert all(isinstance(f, pd.DataFrame) for f in frames)
    pd.testing.assert_frame_equal(pd.concat(frames), events)
    assert len(frames) == 5


def test_iter_frames_is_lazy_and_checks_at_call_time() -> None:
    with pytest.raises(TypeError, match="exactly one of size= or span="):
        iter_frames(CAT)
