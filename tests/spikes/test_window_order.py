"""Rolling median, MAD and quantiles from sorted windows equal NumPy's, bit for bit.

``mad`` and ``quantile`` used to ask :func:`numpy.median` / :func:`numpy.quantile` per
window; :mod:`stockseries.spikes._window_order` sorts each window once and reads the
statistics off it. Every result must be the float NumPy gives (the demo's alert ids and
every saved detection depend on it): whole numbers (the ``int32`` path, with many ties),
fractions and negatives (the float path), odd and even windows, quantile levels on and
between ranks, through the blocked reducers and through ``rolling_reduce`` on ragged items.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import stockseries.spikes._window_order as window_order
from stockseries.spikes._baselines import rolling_reduce
from stockseries.spikes._layout import Layout
from stockseries.spikes._window_order import (
    median_mad_reducer,
    quantile_reducer,
    sorted_rows,
    whole_int32,
)


def numpy_median_mad(matrix: np.ndarray, has_nan: bool) -> tuple[np.ndarray, np.ndarray]:
    median = np.nanmedian if has_nan else np.median
    center = median(matrix, axis=1)
    return center, median(np.abs(matrix - center[:, None]), axis=1)


def numpy_quantiles(levels: list[float]) -> Callable[[np.ndarray, bool], tuple[np.ndarray, ...]]:
    def reduce(matrix: np.ndarray, has_nan: bool) -> tuple[np.ndarray, ...]:
        quantile = np.nanquantile if has_nan else np.quantile
        return tuple(quantile(matrix, levels, axis=1))

    return reduce


def same_bits(got: tuple[np.ndarray, ...], want: tuple[np.ndarray, ...]) -> bool:
    return len(got) == len(want) and all(
        a.dtype == b.dtype and a.tobytes() == b.tobytes() for a, b in zip(got, want, strict=True)
    )


def matrix_of(kind: str, rows: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "counts":  # few distinct values: ties everywhere
        return rng.integers(0, 4, (rows, width)).astype(np.float64)
    if kind == "bursty":
        return rng.poisson(3, (rows, width)) * rng.integers(1, 40, (rows, width)).astype(np.float64)
    if kind == "negative":
        return rng.integers(-50, 50, (rows, width)).astype(np.float64)
    if kind == "tenths":
        return np.round(rng.normal(0, 1, (rows, width)), 1) + 0.0  # + 0.0: no negative zero
    return rng.standard_t(2, (rows, width)) + 0.0


KINDS = ["counts", "bursty", "negative", "tenths", "heavy"]
LEVELS = [0.5, 0.9, 0.95, 0.99, 0.995, 0.999, 0.75, 0.123456]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("width", [1, 2, 3, 4, 7, 60, 61, 120])
def test_median_mad_equals_numpy(kind: str, width: int) -> None:
    matrix = matrix_of(kind, 300, width, seed=width)
    got = median_mad_reducer(matrix.ravel())(matrix, False)
    assert same_bits(got, numpy_median_mad(matrix, False))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("width", [1, 2, 5, 60, 121])
@pytest.mark.parametrize("q", LEVELS)
def test_quantiles_equal_numpy(kind: str, width: int, q: float) -> None:
    matrix = matrix_of(kind, 200, width, seed=width + 1)
    for levels in ([0.5, q], [0.5, q, 1 - q]):
        got = quantile_reducer(matrix.ravel(), levels)(matrix, False)
        assert same_bits(got, numpy_quantiles(levels)(matrix, False)), levels


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(st.integers(-(2**31) + 1, 2**31 - 1), min_size=1, max_size=400),
    width=st.integers(1, 40),
    q=st.floats(0.5, 0.999),
    block=st.sampled_from([1, 7, 64, 1 << 15]),
)
def test_whole_numbers_any_block_size(values: list[int], width: int, q: float, block: int) -> None:
    rows = max(1, len(values) // width)
    matrix = np.resize(np.asarray(values, dtype=np.float64), (rows, width))
    saved = window_order.BLOCK_VALUES
    window_order.BLOCK_VALUES = block
    try:
        mad = median_mad_reducer(matrix.ravel())(matrix, False)
        quantiles = quantile_reducer(matrix.ravel(), [0.5, q, 1 - q])(matrix, False)
    finally:
        window_order.BLOCK_VALUES = saved
    assert same_bits(mad, numpy_median_mad(matrix, False))
    assert same_bits(quantiles, numpy_quantiles([0.5, q, 1 - q])(matrix, False))


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), min_size=1, max_size=300
    ),
    width=st.integers(1, 30),
)
def test_floats(values: list[float], width: int) -> None:
    rows = max(1, len(values) // width)
    matrix = np.resize(np.asarray(values, dtype=np.float64), (rows, width)) + 0.0
    assert same_bits(
        median_mad_reducer(matrix.ravel())(matrix, False), numpy_median_mad(matrix, False)
    )


@pytest.mark.parametrize("method", ["mad", "quantile"])
@pytest.mark.parametrize("width", [1, 6, 25])
def test_rolling_reduce_on_ragged_items(method: str, width: int) -> None:
    """Through ``rolling_reduce``: full windows sorted, item heads (NaN-cut) NumPy's."""
    lengths = np.array([1, 5, 30, 200, 3, 77], dtype=np.int64)
    layout = Layout(int(lengths.sum()), np.cumsum(lengths) - lengths, lengths)
    x = np.random.default_rng(width).poisson(2, layout.n).astype(np.int64)
    if method == "mad":
        got = rolling_reduce(x, layout, width, median_mad_reducer(x))
        want = rolling_reduce(x, layout, width, numpy_median_mad)
    else:
        levels = [0.5, 0.99, 0.01]
        got = rolling_reduce(x, layout, width, quantile_reducer(x, levels))
        want = rolling_reduce(x, layout, width, numpy_quantiles(levels))
    assert same_bits(got, want)


def test_int32_only_for_whole_numbers_in_range() -> None:
    assert whole_int32(np.array([0, 3, 2**31 - 1]))
    assert not whole_int32(np.array([0, 2**31]))
    assert whole_int32(np.array([0.0, -4.0, 12.0]))
    assert not whole_int32(np.array([0.5, 1.0]))
    assert not whole_int32(np.array([1.0, np.nan]))
    assert sorted_rows(np.array([[3.0, 1.0, 2.0]]), True).dtype == np.int32
    assert sorted_rows(np.array([[3.0, 1.0, 2.0]]), False).tolist() == [[1.0, 2.0, 3.0]]


@pytest.mark.filterwarnings("ignore:All-NaN slice:RuntimeWarning")
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("width", [1, 2, 9, 60])
def test_rows_with_nan_equal_numpys_nan_functions(kind: str, width: int) -> None:
    """NaN anywhere (item heads pad on the left), all-NaN rows included."""
    matrix = matrix_of(kind, 250, width, seed=width + 2)
    rng = np.random.default_rng(width)
    matrix[rng.random(matrix.shape) < 0.3] = np.nan
    matrix[::17] = np.nan
    x = np.nan_to_num(matrix).ravel()
    assert same_bits(median_mad_reducer(x)(matrix, True), numpy_median_mad(matrix, True))
    for levels in ([0.5, 0.99], [0.5, 0.9, 0.1]):
        got = quantile_reducer(x, levels)(matrix, True)
        assert same_bits(got, numpy_quantiles(levels)(matrix, True))
