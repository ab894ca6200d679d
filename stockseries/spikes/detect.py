"""The public edge of detection: :func:`detect_spikes`."""

from __future__ import annotations

import textwrap
from typing import Any

from stockseries import _frames
from stockseries.spikes._decide import detect_frame
from stockseries.spikes.methods import METHOD_TABLE, Method, spike_params

__all__ = ["detect_spikes"]


def detect_spikes(
    series: Any,
    method: str = "zscore",
    *,
    column: str = "demand",
    window: int | None = None,
    k: float | None = None,
    min_periods: int | None = None,
    min_demand: float = 0,
    smooth: int = 1,
    **method_options: Any,
) -> Any:
    """Flag buckets whose demand is unusually high for their item.

    Each bucket ``x`` is compared with a baseline built from the *previous*
    buckets of the same item (the current bucket never counts towards its own
    bar). A bucket is flagged when its baseline has at least ``min_periods``
    buckets of history, ``x > threshold`` and ``x >= min_demand``.

    Methods (``baseline`` / ``spread`` / ``threshold`` / ``score``), from the method table
    (:data:`~stockseries.spikes.METHOD_TABLE`, the one place a method is described):

    {methods}
    Where the spread is 0 the score is ``±inf`` for a move the direction watches, else 0.

    Parameters
    ----------
    series : polars.DataFrame, polars.LazyFrame or pandas.DataFrame
        A series frame with at least ``item_id``, ``ts`` and ``column``,
        sorted by ``item_id``, ``ts`` (it is sorted when it is not).
    method : str
        One of :data:`METHODS`.
    column : str
        The numeric column to watch (``"demand"``).
    window : int, optional
        Baseline length, in the method's unit; default: the method's window
        (both under Methods above).
    k : float, optional
        Spread multiplier, default 3 (4 for ``profile``): for roughly normal noise about
        0.1 % of ordinary buckets cross μ + 3σ.
    min_periods : int, optional
        History (buckets) needed before a bucket is judged; default ``window``
        so every decision uses a full baseline. Until then ``sufficient`` is
        False, ``baseline``/``spread``/``threshold``/``score`` are null and
        ``flagged`` is False.
    min_demand : float
        Smallest ``x`` that may be flagged, default 0 (off). Raising it stops
        slow items (a baseline of zeros, σ = 0) from alerting on a single unit.
    smooth : int
        Watch the mean of the last ``smooth`` buckets (the current one
        included) instead of the single bucket; default 1 (off). Per-minute
        demand is noisy and a spike lasts many minutes, so averaging a few
        buckets separates spikes from noise far better than a higher ``k``
        (on simulated data, event F1 ≈ 0.8 → ≈ 0.95). The output gains a
        ``signal`` column (the mean compared with ``threshold``; null for an
        item's first ``smooth − 1`` buckets, which have no full signal and
        never enter a baseline). ``x`` above means the signal: ``min_demand``
        applies to it, and ``baseline``/``spread``/``threshold`` are in
        per-bucket units. The baseline uses only signals whose buckets all
        precede the current signal's: for the rolling methods it is the
        baseline of ``smooth − 1`` buckets earlier, so warm-up grows by
        ``2·(smooth − 1)`` buckets (``history`` counts full signals).
    **method_options
        The method's options (above), and for every method ``direction``
        (``"up"``, ``"down"`` or ``"both"``: which unusual moves are flagged),
        ``transform`` (``None``, ``"sqrt"`` or ``"log1p"``: judge a
        variance-stabilised signal) and ``robust`` (cap flagged buckets before
        they enter later baselines); the last two default to the method's.

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        The input columns, sorted by ``item_id``, ``ts``, plus ``baseline``,
        ``spread``, ``threshold``, ``score`` (Float64, null while history is
        insufficient), ``history`` (Int64), ``sufficient`` and ``flagged``
        (Boolean, never null). Existing columns with those names are replaced.
        Pandas in, pandas out.

    See Also
    --------
    spike_params : the canonical parameter dict (for alert ids).
    stockseries.alerts.alerts : turn flagged buckets into alert episodes.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timedelta, timezone
    >>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> series = pl.DataFrame({
    ...     "item_id": ["a"] * 6,
    ...     "ts": [t0 + timedelta(minutes=i) for i in range(6)],
    ...     "demand": [2, 3, 2, 3, 9, 2],
    ... })
    >>> out = detect_spikes(series, window=4)
    >>> out.select("demand", "history", "sufficient", "threshold", "flagged")
    shape: (6, 5)
    ┌────────┬─────────┬────────────┬───────────┬─────────┐
    │ demand ┆ history ┆ sufficient ┆ threshold ┆ flagged │
    │ ---    ┆ ---     ┆ ---        ┆ ---       ┆ ---     │
    │ i64    ┆ i64     ┆ bool       ┆ f64       ┆ bool    │
    ╞════════╪═════════╪════════════╪═══════════╪═════════╡
    │ 2      ┆ 0       ┆ false      ┆ null      ┆ false   │
    │ 3      ┆ 1       ┆ false      ┆ null      ┆ false   │
    │ 2      ┆ 2       ┆ false      ┆ null      ┆ false   │
    │ 3      ┆ 3       ┆ false      ┆ null      ┆ false   │
    │ 9      ┆ 4       ┆ true       ┆ 4.232051  ┆ true    │
    │ 2      ┆ 4       ┆ true       ┆ 13.854686 ┆ false   │
    └────────┴─────────┴────────────┴───────────┴─────────┘
    """
    params = spike_params(
        method,
        column=column,
        window=window,
        k=k,
        min_periods=min_periods,
        min_demand=min_demand,
        smooth=smooth,
        **method_options,
    )
    frame, was_pandas = _frames.to_polars(series)
    return _frames.like_input(detect_frame(frame, params), was_pandas)


def _method_text(name: str, spec: Method, default: str) -> str:
    """One method's entry in :func:`detect_spikes`' docstring, from its table record."""
    window = f"{spec.window} {spec.window_unit}" if spec.window is not None else "none"
    facts = [f"Window: {window}", "``k`` applies" if spec.uses_k else "``k`` unused"]
    facts += [f"``{o.name}={o.default!r}``: {o.help}" for o in spec.options]
    facts += ["``robust=True`` by default"] if spec.robust_default else []
    if spec.transform_default is not None:
        facts.append(f"``transform={spec.transform_default!r}`` by default")
    summary = spec.summary[0].upper() + spec.summary[1:]
    text = f"{summary}; {spec.notes}. " if spec.notes else f"{summary}. "
    head = f'``"{name}"``' + (" (default)" if name == default else "")
    body = textwrap.fill(
        text + "; ".join(facts) + ".",
        88,
        initial_indent=" " * 8,
        subsequent_indent=" " * 8,
        break_on_hyphens=False,
        break_long_words=False,
    )
    return f"{head}\n{body}"


def _methods_section() -> str:
    return (
        "\n    ".join(_method_text(name, spec, "zscore") for name, spec in METHOD_TABLE.items())
        + "\n\n"
    )


detect_spikes.__doc__ = (detect_spikes.__doc__ or "").replace("{methods}\n", _methods_section())
