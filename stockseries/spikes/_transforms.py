"""Variance-stabilising transforms of the watched signal (``transform=``).

Counts are not Gaussian: a Poisson count's variance equals its mean, so a bar of
``mean + k·std`` computed on raw counts is too tight at busy times and too loose at quiet
ones once the level moves. Judging a transformed signal fixes most of that:

- ``"sqrt"``: ``2·sqrt(x + 3/8)`` (Anscombe), whose variance is ≈ 1 for Poisson counts
  of any mean above a few;
- ``"log1p"``: ``log(1 + x)``, for multiplicative noise (bursty, over-dispersed counts),
  where a change reads as a ratio.

Bars are computed on the transformed scale and reported back in the signal's units
(both transforms are increasing, so ``x > threshold`` is the same decision on either
scale); ``spread`` and ``score`` stay on the transformed scale.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "forward_of_means",
    "forward_transform",
    "inverse_at_least",
    "inverse_transform",
    "inverse_where",
]


def _sqrt(x: np.ndarray) -> np.ndarray:
    return 2.0 * np.sqrt(np.maximum(np.asarray(x, dtype=np.float64), 0.0) + 0.375)


def _sqrt_inverse(y: np.ndarray) -> np.ndarray:
    half = np.asarray(y, dtype=np.float64) / 2.0
    return half * half - 0.375


def _log1p(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind in "iu" and len(x):
        # Counts take few distinct values: look each up in a table of log1p(0 … max)
        # (the same function of the same values, so the same bits, at a fraction of the cost).
        low, high = int(x.min()), int(x.max())
        if high <= _TABLE_LIMIT and high <= len(x):
            table = np.log1p(np.arange(high + 1, dtype=np.float64))
            return table.take(np.maximum(x, 0) if low < 0 else x)
    out = np.asarray(x, dtype=np.float64).copy()
    np.maximum(out, 0.0, out=out)
    return np.log1p(out, out=out)


#: Largest count looked up in a table by :func:`_log1p`.
_TABLE_LIMIT = 1 << 20


def _log1p_inverse(y: np.ndarray) -> np.ndarray:
    return np.expm1(np.asarray(y, dtype=np.float64))


def _copy(x: np.ndarray) -> np.ndarray:
    return np.array(x, dtype=np.float64, copy=True)


def forward_transform(name: str | None) -> Callable[[np.ndarray], np.ndarray]:
    """The transform ``name`` as a function of arrays (a float copy for ``None``)."""
    return {None: _copy, "sqrt": _sqrt, "log1p": _log1p}[name]


def forward_of_means(
    name: str | None, sums: np.ndarray, smooth: int, means: np.ndarray
) -> np.ndarray:
    """``forward_transform(name)(means)``, a fresh array, where ``means = sums / smooth``.

    Counts summed over ``smooth`` buckets take few distinct values: for ``log1p`` and
    ``sqrt`` the transform of each mean is looked up in a table of the transform of
    ``0 / smooth … max / smooth`` (the same function of the same values, so the same bits).
    """
    if name is not None and sums.dtype.kind in "iu" and len(sums):
        low, high = int(sums.min()), int(sums.max())
        if 0 <= low and high <= _TABLE_LIMIT and high <= len(sums):
            table = forward_transform(name)(np.arange(high + 1, dtype=np.int64) / smooth)
            return table.take(sums)
    return forward_transform(name)(means)


def inverse_transform(name: str | None) -> Callable[[np.ndarray], np.ndarray]:
    """The inverse of :func:`forward_transform` (the identity, no copy, for ``None``)."""
    if name is None:
        return _identity
    return {"sqrt": _sqrt_inverse, "log1p": _log1p_inverse}[name]


def _identity(x: np.ndarray) -> np.ndarray:
    return x


#: ``log1p`` values below this are counts below 0.994: at most 1 whatever their inverse.
_LOG1P_BELOW_ONE = 0.69


def inverse_at_least(name: str | None, y: np.ndarray, floor: float) -> np.ndarray:
    """``max(inverse(y), floor)``, a fresh array; NaN stays NaN.

    For ``log1p`` and a floor of 1 the (costly) ``expm1`` runs only where it can exceed
    the floor: the same bits as computing it everywhere.
    """
    if name == "log1p" and floor == 1.0:
        out = np.ones(np.shape(y))
        with np.errstate(invalid="ignore"):
            needed = ~(np.asarray(y) < _LOG1P_BELOW_ONE)
        np.expm1(y, out=out, where=needed)
        return np.maximum(out, 1.0, out=out)
    counts = inverse_transform(name)(y)
    return np.maximum(counts, floor, out=None if counts is y else counts)


def inverse_where(name: str | None, y: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``inverse(y)`` where ``where`` holds; elsewhere NaN or the inverse (``y`` itself for
    ``None``): callers read only the rows ``where`` selects.

    For ``log1p``, ``expm1`` runs only where it is needed when that is a minority of rows;
    otherwise on every row (no NaN-filled array to prepare, no masked loop).
    """
    if name != "log1p" or 2 * np.count_nonzero(where) > len(where):
        return inverse_transform(name)(y)
    out = np.full(np.shape(y), np.nan)
    np.expm1(y, out=out, where=where)
    return out
