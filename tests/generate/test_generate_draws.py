"""Tests of the chunked array internals (draws, string columns) of the generators."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest
from generate_common import (
    CAT,
    GENERATORS,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import stockseries.generate._chunks as chunks_module
from stockseries.generate import (
    simulate,
)
from stockseries.generate._build import lookup_strings
from stockseries.generate._draws import draw_integers, narrowest

# --------------------------------------------------------------------------- large-size internals


@pytest.mark.parametrize("name", sorted(GENERATORS))
@pytest.mark.parametrize("chunk", [8, 1000])
def test_output_does_not_depend_on_the_chunk_size(
    name: str, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Big passes run chunk by chunk; tiny chunks cross every piece, window and part edge.
    reference = GENERATORS[name](CAT, seed=5)
    monkeypatch.setattr(chunks_module, "CHUNK", chunk)
    assert_frame_equal(GENERATORS[name](CAT, seed=5), reference)


def test_simulate_does_not_depend_on_the_chunk_size(monkeypatch: pytest.MonkeyPatch) -> None:
    kwargs: dict[str, Any] = {"days": 1.5, "seed": 2, "base_rate": 0.3}
    reference = simulate(12, **kwargs)
    monkeypatch.setattr(chunks_module, "CHUNK", 64)
    other = simulate(12, **kwargs)
    assert_frame_equal(other.events, reference.events)
    assert_frame_equal(other.labels, reference.labels)


@settings(max_examples=40, deadline=None)
@given(
    low=st.integers(-5, 100),
    width=st.sampled_from([1, 2, 3, 1000, 2**16, 2**31, 2**40]),
    n=st.integers(0, 50),
    chunk=st.sampled_from([8, 16, 1 << 20]),
)
def test_chunked_integer_draws_equal_one_whole_draw(
    low: int, width: int, n: int, chunk: int
) -> None:
    dtype = narrowest(low, low + width - 1)
    whole = np.random.default_rng(7).integers(low, low + width, size=n, dtype=np.int64)
    original = chunks_module.CHUNK
    try:
        chunks_module.CHUNK = chunk
        chunked = draw_integers(np.random.default_rng(7), low, low + width, n, dtype)
    finally:
        chunks_module.CHUNK = original
    assert chunked.dtype == dtype
    np.testing.assert_array_equal(chunked, whole)


@pytest.mark.parametrize(
    ("low", "high", "dtype"),
    [
        (1, 3, np.int8),
        (-1, 127, np.int8),
        (-1, 128, np.int16),
        (-129, 0, np.int16),
        (-1, 32_767, np.int16),
        (-1, 32_768, np.int32),
        (0, 2**31 - 1, np.int32),
        (0, 2**31, np.int64),
    ],
)
def test_narrowest_dtype_holds_the_range(low: int, high: int, dtype: type) -> None:
    assert narrowest(low, high) == np.dtype(dtype)


LOOKUP_TABLES: dict[str, list[str | None]] = {
    "inline ids": ["A000", "A001", "S07", "order", "delivery"],
    "12 bytes, unicode": ["", "é", "x" * 12, "ünïcødé"],
    "too long for a view": ["short", "a string longer than twelve bytes"],
    "with a null": ["a", None, "c"],
    "4-byte characters, 12 bytes": ["𝄞", "a𝄞b", "𝄞𝄞𝄞"],
    "2-byte characters, 14 bytes": ["é" * 6, "é" * 7],
    "1,000 ids": [f"SKU-{i:04d}" for i in range(1_000)],
    "empty": [],
}


@pytest.mark.parametrize("table", sorted(LOOKUP_TABLES))
@pytest.mark.parametrize("chunk", [8, 1 << 20])
@pytest.mark.parametrize("with_present", [False, True])
def test_lookup_strings_equals_a_polars_gather(
    table: str, chunk: int, with_present: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = pl.Series(LOOKUP_TABLES[table], dtype=pl.String)
    rng = np.random.default_rng(3)
    index = rng.integers(-1, values.len(), size=37).astype(np.int16)  # -1 means null
    present = rng.random(37) < 0.7 if with_present else None
    known = index >= 0 if present is None else (index >= 0) & present
    expected = [values[int(i)] if k else None for i, k in zip(index, known, strict=True)]
    monkeypatch.setattr(chunks_module, "CHUNK", chunk)
    got = lookup_strings("col", values, index, present)
    assert got.name == "col" and got.dtype == pl.String
    assert got.to_list() == expected
    assert got.null_count() == expected.count(None)
