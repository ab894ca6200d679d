"""How much the level of the coming block may differ from the level of the past ones.

The profile's deviations (``y − profile``) are modelled as a random effect per block
plus noise within it (step 4 of :mod:`stockseries.spikes._profile`)::

    d_t = c + u_b + e_t,    Var(u_b) = V,    Var(e_t) = max(v_t + E, Φ·v_t)

``c`` is the level (the median of the block medians ``m_b`` over a period's worth of
blocks), ``u_b`` how far the level of block ``b`` -- a whole day that runs 15 % above its
profile, a quiet Monday -- lies from it, and ``e_t`` the noise of a bucket around its own
block's level, which ``E`` and ``Φ`` describe (they come from each block's MAD around its
*own* median, so they cannot see ``u_b``). A live detector judges a bucket before its
block's level is known, so the bar must allow for both: ``s_t² = max(v_t + E, Φ·v_t) + V``.

``V`` is estimated robustly from the block medians of the level window,
``(1.4826·MAD(m))²``, less the part of it the medians' own sampling noise explains
(``π/(2B)`` of the within-block variance for a median of ``B`` deviations): a holiday is
a few blocks of many, so it does not inflate ``V`` (the MAD ignores it) -- it is what the
bar should catch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from stockseries.spikes._order import median_of_columns
from stockseries.spikes.methods import MAD_SCALE, PROFILE_BLOCKS

__all__ = ["MIN_LEVEL_BLOCKS", "Recent", "level_variance"]


class Recent(NamedTuple):
    """Per block, from the blocks before it (step 4 of the profile).

    Attributes
    ----------
    level : numpy.ndarray
        ``c``, the median of the block medians over the level window.
    excess : numpy.ndarray
        ``E``, the variance beyond counting noise within a block.
    dispersion : numpy.ndarray
        ``Φ``, how many times the counting variance the deviations vary by within a block.
    between : numpy.ndarray
        ``V``, the variance of a block's level around ``c`` (:func:`level_variance`).
    """

    level: np.ndarray
    excess: np.ndarray
    dispersion: np.ndarray
    between: np.ndarray


def level_variance(
    columns: Sequence[np.ndarray], level: np.ndarray, within: np.ndarray, block: int
) -> np.ndarray:
    """Variance ``V`` of the block levels around ``level``: the robust between-block term.

    Parameters
    ----------
    columns : sequence of numpy.ndarray
        The block medians ``m`` of the level window, one column per block back (NaN:
        missing).
    level : numpy.ndarray
        Their median ``c``, per block.
    within : numpy.ndarray
        The within-block variance of the deviations, per block (``(1.4826·MAD_b)²`` of
        recent blocks): the medians carry ``π/(2·block)`` of it as sampling noise.
    block : int
        Buckets per block.

    Returns
    -------
    numpy.ndarray
        ``max((1.4826·MAD(m))² − π/(2·block)·within, 0)``; NaN where ``level`` is.

    Examples
    --------
    >>> cols = [np.array([0.1]), np.array([-0.1]), np.array([0.0]), np.array([0.2])]
    >>> v = level_variance(cols, np.array([0.05]), np.array([0.0]), 10)
    >>> round(float(v[0]), 6) == round((1.4826 * 0.1) ** 2, 6)
    True
    """
    distance = [np.abs(column - level) for column in columns]
    mad, _ = median_of_columns(distance)
    mad *= MAD_SCALE
    variance = np.square(mad, out=mad)
    variance -= (np.pi / (2.0 * block)) * within
    with np.errstate(invalid="ignore"):
        variance[variance < 0.0] = 0.0  # NaN stays NaN: no level, no variance either
    return variance


#: Earlier level blocks an item needs before its buckets are judged (the warm-up): ``E``
#: and ``Φ`` are medians over :data:`~stockseries.spikes.methods.PROFILE_BLOCKS` blocks,
#: and a MAD of fewer block levels says nothing about ``V``. A day of 6-hour blocks (four
#: weeks of daily buckets); waiting for the whole level window (a week) would leave every
#: item's second week unjudged and found 9 instead of 15 of the bundled Twitter windows.
MIN_LEVEL_BLOCKS = PROFILE_BLOCKS
