"""Choosing the variance-stabilising transform from the data: :func:`choose_transform`.

Every rolling method judges a bucket by ``(y − mean) / std`` of the previous window of
``y = g(x)``: it assumes ``y`` is roughly Gaussian around its recent level with a spread
that does not depend on that level. Which ``g`` makes that true is a property of the data,
not of the labels, so it is chosen the way statistics chooses a Box-Cox exponent: by
likelihood. For each candidate ``g`` (``None``, ``"sqrt"``, ``"log1p"``) and every bucket
with ``window`` earlier buckets of its item,

.. math::

    \\ell_t(g) = \\log \\varphi\\Big(\\frac{g(x_t) − m_t}{s_t}\\Big) − \\log s_t
               + \\log g'(x_t),

where ``m_t`` and ``s_t`` are the mean and standard deviation of ``g`` over the previous
``window`` buckets, ``φ`` the standard normal density and ``log g'(x)`` the Jacobian that
makes densities of ``x`` comparable across transforms (``0`` for ``None``,
``−½·log(x + 3/8)`` for Anscombe's ``2·sqrt(x + 3/8)``, ``−log(1 + x)`` for ``log1p``).
The transform with the highest mean ``ℓ`` over the buckets every candidate can judge wins
(ties: the simpler, in the order ``None``, ``sqrt``, ``log1p``).

Why not choose it by counting alarms against labels, as the other settings are? A handful
of labelled events says little about a model choice that concerns every bucket: on the
bundled Twitter data, choosing the transform by false alarms on three tickers picked raw
counts in the splits that held out the bursty, low-count ticker, and missed its weakest
window; the likelihood picks ``log1p`` on every ticker, at every window from 1 hour to 3
days. It behaves as theory says on known noise (Poisson: ``sqrt``; multiplicative,
log-normal or negative-binomial with small shape: ``log1p``; additive Gaussian noise across
level steps: ``None``; additive Gaussian noise around one level: ``None`` and ``sqrt`` score
within a few thousandths of each other and either may win, never ``log1p``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import polars as pl

from stockseries import _frames
from stockseries._html import result_html
from stockseries.spikes._layout import prepare

__all__ = [
    "TransformChoice",
    "check_window",
    "checked_series",
    "choose_transform",
    "item_likelihoods",
    "pooled_choice",
]

#: Candidates in order of simplicity (a tie goes to the earlier).
CANDIDATES: tuple[str | None, ...] = (None, "sqrt", "log1p")
#: Window of the local mean and spread when none is given: the rolling methods' default.
DEFAULT_WINDOW = 60
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _label(transform: str | None) -> str:
    return "none" if transform is None else transform


@dataclass(frozen=True, eq=False)
class TransformChoice:
    """The transform :func:`choose_transform` chose, and the evidence.

    Attributes
    ----------
    transform : {None, "sqrt", "log1p"}
        The chosen transform (``None``: raw values), as ``detect_spikes(transform=...)``
        takes it.
    loglik : dict
        Mean log-likelihood per judged bucket of each candidate, pooled over all items
        (keys ``None``, ``"sqrt"``, ``"log1p"``); higher is better.
    items : polars.DataFrame
        One row per item: ``item_id``, ``buckets`` (judged), ``none``, ``sqrt``,
        ``log1p`` (mean log-likelihood per bucket) and ``best`` (that item's own choice,
        ``"none"`` for raw values).
    window : int
        Buckets in the local mean and spread.
    """

    transform: str | None
    loglik: dict[str | None, float]
    items: pl.DataFrame
    window: int

    @property
    def buckets(self) -> int:
        """Buckets judged, over all items."""
        return int(self.items["buckets"].sum())

    def _scores(self) -> str:
        return ", ".join(f"{_label(t)} {v:.3f}" for t, v in self.loglik.items())

    def __repr__(self) -> str:
        return (
            f"TransformChoice({_label(self.transform)}: mean log-likelihood per bucket "
            f"{self._scores()}; {self.items.height} items, {self.buckets:,} buckets, "
            f"window={self.window})"
        )

    def _repr_html_(self) -> str:
        return result_html(
            f"Transform: {_label(self.transform)}",
            note=(
                f"mean log-likelihood per bucket (higher is better): {self._scores()}; "
                f"{self.buckets:,} buckets judged with a window of {self.window}"
            ),
            frames=[("Per item", self.items)],
        )


def choose_transform(
    series: Any, *, window: int = DEFAULT_WINDOW, column: str = "demand"
) -> TransformChoice:
    """Choose the variance-stabilising transform under which ``column`` looks Gaussian.

    Compares ``None``, ``"sqrt"`` and ``"log1p"`` by the likelihood of each bucket under a
    normal distribution with the mean and standard deviation of the previous ``window``
    buckets of its item, on the transformed scale, with the transform's Jacobian (the
    Box-Cox criterion restricted to the three transforms ``detect_spikes`` offers). No
    labels are used. ``tune(transforms="auto")`` chooses this way. On a Dask cluster,
    :func:`stockseries.distributed.choose_transform` gives the same result.

    Parameters
    ----------
    series : frame
        A series frame (``item_id``, ``ts``, ``column``), dense per item; pandas or Polars.
    window : int
        Earlier buckets in each bucket's local mean and spread (default 60, the rolling
        methods' default window); at least 3.
    column : str
        The watched column: counts or amounts, never negative.

    Returns
    -------
    TransformChoice
        ``.transform`` is the choice; ``.loglik`` and ``.items`` the evidence.

    Raises
    ------
    ValueError
        A negative value (the rows named), a window below 3, or no bucket that has
        ``window`` earlier buckets with a non-zero spread under every transform.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> from datetime import datetime, timedelta, timezone
    >>> rng = np.random.default_rng(0)
    >>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> ts = [t0 + timedelta(hours=i) for i in range(2000)]
    >>> bursty = rng.negative_binomial(1, 0.2, 2000)     # over-dispersed counts
    >>> steady = rng.poisson(4.0, 2000)                  # Poisson counts
    >>> series = pl.DataFrame({"item_id": ["a"] * 2000 + ["b"] * 2000, "ts": ts + ts,
    ...                        "demand": np.concatenate([bursty, steady])})
    >>> choice = choose_transform(series)
    >>> choice.items.select("item_id", "best").rows()   # each item on its own
    [('a', 'log1p'), ('b', 'sqrt')]
    >>> choice        # one transform for all: pooled over every judged bucket
    TransformChoice(sqrt: mean log-likelihood per bucket none -2.528, sqrt -2.341, log1p -2.357; 2 items, 3,880 buckets, window=60)
    """
    check_window(window)
    frame = checked_series(series, column)
    return pooled_choice(item_likelihoods(frame, window, column), window, column)


def check_window(window: int) -> None:
    """The ``ValueError`` of :func:`choose_transform` for a window that is not an integer >= 3."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 3:
        raise ValueError(f"window must be an integer >= 3, got {window!r}")


def checked_series(series: Any, column: str) -> pl.DataFrame:
    """``series`` (pandas or Polars) checked and sorted as :func:`choose_transform` needs it.

    The errors of :func:`~stockseries.spikes._layout.prepare` (columns, nulls, order), and
    negative values of ``column``, named by their row positions in ``series``.
    """
    given = _frames.to_polars(series)[0]
    frame, _ = prepare(given, column)  # sorted by item and time when it was not
    negative = pl.col(column) < 0
    if frame.select(negative.any()).item():
        rows = _frames.offending_rows(given, negative)  # positions in the caller's frame
        raise ValueError(
            f"column {column!r} has negative values (rows {rows}); transforms need "
            "counts or amounts >= 0"
        )
    return frame


def pooled_choice(items: pl.DataFrame, window: int, column: str) -> TransformChoice:
    """The :class:`TransformChoice` of an items frame (:func:`item_likelihoods`, sorted by
    ``item_id``): each candidate's mean over the items weighted by their judged buckets,
    ties to the simpler; ``column`` names the watched column in the error.

    Raises ``ValueError`` when no bucket was judged (series too short or constant).
    """
    if items["buckets"].sum() == 0:
        raise ValueError(
            f"no bucket has window={window} earlier buckets with a non-zero spread in "
            f"column {column!r}: the series are too short or constant; give a smaller "
            "window or the transform itself"
        )
    total = items.select(
        (pl.col(_label(t)) * pl.col("buckets")).sum() / pl.col("buckets").sum() for t in CANDIDATES
    ).row(0)
    loglik = dict(zip(CANDIDATES, (float(v) for v in total), strict=True))
    best = max(CANDIDATES, key=lambda t: (loglik[t], -CANDIDATES.index(t)))
    return TransformChoice(best, loglik, items, window)


def _transformed(x: pl.Expr, transform: str | None) -> tuple[pl.Expr, pl.Expr]:
    """``g(x)`` as ``detect_spikes`` computes it, and ``log g'(x)``."""
    if transform is None:
        return x, pl.lit(0.0)
    if transform == "sqrt":  # Anscombe: 2·sqrt(x + 3/8)
        return 2.0 * (x + 0.375).sqrt(), -0.5 * (x + 0.375).log()
    return x.log1p(), -x.log1p()


def item_likelihoods(frame: pl.DataFrame, window: int, column: str) -> pl.DataFrame:
    """The per-item frame of :attr:`TransformChoice.items` for a checked frame of whole items.

    ``frame`` as :func:`checked_series` returns it (sorted by item and time, no negative
    value): one row per item, in the frame's order (``item_id``, ``buckets``, ``none``,
    ``sqrt``, ``log1p``, ``best``). Items depend only on their own rows, so the frames of
    disjoint sets of whole items, concatenated and sorted by ``item_id``, are the frame of
    their union (what :func:`stockseries.distributed.choose_transform` relies on).
    """
    x = pl.col(column).cast(pl.Float64)
    parts: dict[str, pl.Expr] = {}
    judged = pl.lit(True)
    for transform in CANDIDATES:
        y, log_slope = _transformed(x, transform)
        past = y.shift(1)
        mean = past.rolling_mean(window, min_samples=window).over("item_id")
        std = past.rolling_std(window, min_samples=window).over("item_id")
        z = (y - mean) / std
        parts[_label(transform)] = -0.5 * z * z - std.log() + log_slope - _HALF_LOG_2PI
        judged = judged & mean.is_not_null() & (std > 0)
    scored = frame.select("item_id", judged.alias("_judged"), **parts).filter("_judged")
    labels = [_label(t) for t in CANDIDATES]
    items = (
        frame.select(pl.col("item_id").unique(maintain_order=True))
        .join(
            scored.group_by("item_id").agg(
                pl.len().cast(pl.Int64).alias("buckets"), *(pl.col(n).mean() for n in labels)
            ),
            on="item_id",
            how="left",
        )
        .with_columns(pl.col("buckets").fill_null(0))
    )
    best = pl.concat_list(labels).list.arg_max()
    return items.with_columns(
        best=pl.when(pl.col("buckets") > 0).then(
            best.replace_strict(list(range(len(labels))), labels, return_dtype=pl.String)
        )
    )
