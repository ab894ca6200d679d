"""The method table: the one place a detection method is described.

Each method of :func:`stockseries.spikes.detect_spikes` is one frozen :class:`Method`
record: its default window, its options (with defaults, units and ranges a UI can
render), whether ``k`` applies, whether :func:`stockseries.alerts.tune` can search it,
how many past buckets it must see for a given bucket size, and the columns it adds.
The CLI, the ``SpikeTuner`` panel, the live engine and the tuner read this table;
nothing else lists methods.

:func:`spike_params` turns keyword settings into a :class:`Detection`, the frozen,
canonical record of one detection (two spellings of the same settings give equal
records, and equal alert ids).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

from stockseries._time import duration_us, format_duration
from stockseries.spikes._values import canonical_level, positive_number

__all__ = [
    "DETECTION_COLUMNS",
    "DIRECTIONS",
    "LEVEL_SHIFT_HISTORY",
    "MAD_SCALE",
    "METHODS",
    "METHOD_TABLE",
    "PROFILE_BLOCKS",
    "TRANSFORMS",
    "Detection",
    "Method",
    "Option",
    "detection_columns",
    "format_every",
    "history_needed",
    "judged_smooth",
    "method_options",
    "method_spec",
    "option_methods",
    "parse_every",
    "period_buckets",
    "profile_level_blocks",
    "profile_spread_buckets",
    "setting",
    "spike_params",
]

#: Columns :func:`~stockseries.spikes.detect_spikes` adds to the series frame, in order.
DETECTION_COLUMNS = (
    "baseline",
    "spread",
    "threshold",
    "score",
    "history",
    "sufficient",
    "flagged",
)

#: Scale turning a median absolute deviation into a standard-deviation estimate
#: for normally distributed data, so ``k`` means the same for ``mad`` and ``zscore``.
MAD_SCALE = 1.4826


# --------------------------------------------------------------------------- durations


def parse_every(value: Any, *, name: str = "every") -> timedelta:
    """Turn ``"1m"``, ``"1h30m"``, a :class:`~datetime.timedelta` (or pandas/NumPy one) into a timedelta.

    Calendar units (months, years) are refused: a bucket must have a fixed length.

    Examples
    --------
    >>> parse_every("1h30m")
    datetime.timedelta(seconds=5400)
    """
    return timedelta(microseconds=duration_us(value, name))


def format_every(td: timedelta) -> str:
    """The canonical spelling of a duration (``timedelta(hours=1)`` → ``"1h"``)."""
    return format_duration(td // timedelta(microseconds=1))


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Option:
    """One method option, described well enough for a form or a command-line flag.

    Attributes
    ----------
    name : str
        Keyword of :func:`~stockseries.spikes.detect_spikes`.
    default : object
        Value when not given (``None``: derived, see ``help``).
    kind : str
        ``"int"``, ``"float"``, ``"duration"``, ``"bool"``, ``"choice"`` or ``"level"``
        (a number, a mapping item → number or a frame).
    help : str
        One line for a tooltip or ``--help``.
    unit : str
        ``"buckets"``, ``"periods"`` or ``""``.
    low, high : float, optional
        Inclusive range of sensible values for a slider (validation may be looser).
    choices : tuple
        Allowed values for ``kind="choice"``.
    """

    name: str
    default: Any
    kind: str
    help: str
    unit: str = ""
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()

    @property
    def flag(self) -> str:
        """The command-line flag (``half_life`` → ``--half-life``)."""
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class Method:
    """One detection method: everything the CLI, the tuner, the panel and the live engine need.

    Attributes
    ----------
    name : str
        The ``method=`` value.
    summary : str
        One line for a menu.
    window : int or None
        Default ``window``; ``None``: the method takes no window.
    window_unit : str
        What ``window`` counts: ``"buckets"`` or ``"periods"``.
    options : tuple of Option
        Method-specific keyword options.
    uses_k : bool
        Whether the threshold is ``baseline + k·spread`` (``k`` applies).
    tunable : bool
        Whether :func:`~stockseries.alerts.tune` can search it.
    min_periods_up_to_window : bool
        Whether ``min_periods`` may not exceed ``window`` (false for methods whose
        history is unbounded, like ``ewma``).
    rolling : bool
        Whether the baseline is a window of the immediately preceding buckets (with
        ``smooth`` it then skips the buckets averaged into the current signal).
    robust_default, transform_default
        The method's defaults for ``robust`` and ``transform``.
    min_history : int
        Default ``min_periods`` of a method without a window.
    default_k : float
        ``k`` when not given (for methods where ``k`` applies).
    signal_column : bool
        Whether the method always compares a derived ``signal`` (e.g. a recent median)
        rather than the bucket itself, so the output has a ``signal`` column.
    robust_passes : int
        Capping passes with ``robust=True`` (each recomputes the baselines from the signal
        with flagged buckets capped at their bar; a run of ``p`` flagged buckets needs ``p``).
    integer_path : bool
        Whether, without ``transform`` or ``robust``, the method runs on exact integer
        window sums of a smoothed signal (the path every pre-existing result comes from).
    lookback : callable
        ``lookback(detection, every_us)``: past buckets per item the method reads to decide
        the next bucket (smoothing excluded; see :func:`history_needed`).
    notes : str
        What else a user must know (the reference docs of ``detect_spikes`` show it).
    """

    name: str
    summary: str
    window: int | None
    window_unit: str
    options: tuple[Option, ...]
    uses_k: bool
    tunable: bool
    lookback: Callable[[Detection, int], int] = field(repr=False)
    min_periods_up_to_window: bool = True
    rolling: bool = False
    robust_default: bool = False
    transform_default: str | None = None
    min_history: int = 0
    default_k: float = 3.0
    signal_column: bool = False
    integer_path: bool = True
    robust_passes: int = 3
    notes: str = ""

    def defaults(self) -> dict[str, Any]:
        """The options' defaults, by name."""
        return {option.name: option.default for option in self.options}

    def option(self, name: str) -> Option:
        """The option called ``name``."""
        for option in self.options:
            if option.name == name:
                return option
        raise KeyError(f"method {self.name!r} has no option {name!r}")


class Detection(Mapping[str, Any]):
    """The canonical, frozen settings of one detection (what :func:`spike_params` returns).

    It reads like the dict of keyword arguments it came from -- ``detection["k"]``,
    ``detect_spikes(series, **detection)`` -- and like a record -- ``detection.k``,
    ``detection.options``. :meth:`to_dict` is what alert ids hash, so it only ever
    gains a key when that key changes the detection.

    Examples
    --------
    >>> d = spike_params("mad", window=30)
    >>> d.method, d.window, d.k
    ('mad', 30, 3.0)
    >>> d == spike_params("mad", window=30, k=3)
    True
    >>> d.replace(k=4).k
    4.0
    """

    __slots__ = ("_values",)
    _values: dict[str, Any]

    def __init__(self, values: Mapping[str, Any]) -> None:
        # Built by spike_params only, from already-checked values.
        object.__setattr__(self, "_values", dict(values))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Detection is frozen; use .replace(...) for a changed copy")

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._values == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(json.dumps(self._values, sort_keys=True, default=str))

    def __repr__(self) -> str:
        inner = ", ".join(f"{key}={value!r}" for key, value in self._values.items())
        return f"Detection({inner})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Detection, (self._values,))

    @property
    def direction(self) -> str:
        """``"up"``, ``"down"`` or ``"both"``: which unusual moves are flagged."""
        return str(self._values.get("direction", "up"))

    @property
    def transform(self) -> str | None:
        """The variance-stabilising transform judged (``None``: the signal itself)."""
        return self._values.get("transform", self.spec.transform_default)

    @property
    def robust(self) -> bool:
        """Whether flagged buckets are capped at their bar before entering later baselines."""
        return bool(self._values.get("robust", self.spec.robust_default))

    @property
    def spec(self) -> Method:
        """The method's record in :data:`METHOD_TABLE`."""
        return METHOD_TABLE[self._values["method"]]

    @property
    def options(self) -> dict[str, Any]:
        """The method-specific options (e.g. ``{"q": 0.99}``)."""
        return {name: self._values[name] for name in self.spec.defaults()}

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (JSON-ready apart from a per-item ``level`` frame): the keyword form."""
        return dict(self._values)

    def replace(self, **changes: Any) -> Detection:
        """A checked copy with some settings changed."""
        values = self.to_dict()
        if "method" in changes and changes["method"] != values["method"]:
            # Options of the old method do not carry over to a new one.
            values = {key: values[key] for key in _COMMON if key in values}
            values.pop("window")
            values.pop("min_periods")
        values.update(changes)
        return spike_params(**values)


_COMMON = ("method", "column", "window", "k", "min_periods", "min_demand", "smooth", "direction")

#: Directions a detection can watch.
DIRECTIONS = ("up", "down", "both")
#: Allowed ``transform=`` values (``None``: judge the signal itself).
TRANSFORMS = (None, "sqrt", "log1p")


# --------------------------------------------------------------------------- look-back


def _window_lookback(detection: Detection, every_us: int) -> int:
    return int(detection["window"])


def _threshold_lookback(detection: Detection, every_us: int) -> int:
    return int(detection["min_periods"])


def period_buckets(period: str, every_us: int) -> int:
    """Buckets per ``period``; refuses a period that is not a whole number of buckets."""
    period_us = parse_every(period) // timedelta(microseconds=1)
    if period_us % every_us:
        raise ValueError(
            f"period={period} is not a whole number of buckets of {format_duration(every_us)}"
        )
    return period_us // every_us


def _seasonal_lookback(detection: Detection, every_us: int) -> int:
    return int(detection["window"]) * period_buckets(detection["period"], every_us)


def _ewma_lookback(detection: Detection, every_us: int) -> int:
    if detection["half_life"]:
        decay = math.exp(-math.log(2) / detection["half_life"])
    else:
        decay = 1 - 2 / (detection["span"] + 1)
    # Older buckets weigh less than 2**-60 of the newest: beyond float64 resolution.
    horizon = math.ceil(60 * math.log(2) / -math.log(decay)) if decay > 0 else 1
    return max(int(detection["min_periods"]), horizon)


def _profile_lookback(detection: Detection, every_us: int) -> int:
    lag = period_buckets(detection["period"], every_us)
    block = profile_spread_buckets(every_us)
    blocks = max(PROFILE_BLOCKS, profile_level_blocks(lag, block))
    # The capped second pass needs the first pass's bars a further span of blocks back.
    return int(detection["seasons"]) * lag + 2 * block * (blocks + 1)


def profile_level_blocks(period: int, block: int) -> int:
    """Blocks (of :func:`profile_spread_buckets`) whose median deviation is the level: a period's."""
    return max(PROFILE_BLOCKS, -(-period // block))


def _level_shift_lookback(detection: Detection, every_us: int) -> int:
    # Two windows for the shift, and the shifts of LEVEL_SHIFT_HISTORY windows for its spread.
    return int(detection["window"]) * (2 + LEVEL_SHIFT_HISTORY)


#: Blocks of recent deviations whose medians make the profile's spread (a remedian).
PROFILE_BLOCKS = 4
#: Windows of past shifts whose spread scales the level-shift score.
LEVEL_SHIFT_HISTORY = 8


def profile_spread_buckets(every_us: int) -> int:
    """Buckets per block of the profile's spread: ≥ 6 hours and ≥ 7 buckets.

    Four blocks then cover at least a day (1-minute … 1-hour buckets) and at least
    28 deviations (daily buckets: four weeks), whatever the bucket size.
    """
    six_hours = 6 * 3_600_000_000
    return max(7, -(-six_hours // every_us))


# --------------------------------------------------------------------------- the table

# One hour of 1-minute buckets: long enough for a stable mean/std of Poisson
# demand, short enough to follow the daily cycle. Seven periods for seasonal:
# one week of "same minute on previous days".
_ROLLING_WINDOW = 60

_SPAN_HELP = "judge the mean over at least this long (default: 15m; none: smooth alone)"
#: Every detection method, by name. The only place a method is described.
METHOD_TABLE: dict[str, Method] = {
    method.name: method
    for method in (
        Method(
            name="zscore",
            summary="mean and standard deviation of the previous window",
            notes="sample σ (ddof=1); fewer than 2 values: σ = 0",
            window=_ROLLING_WINDOW,
            window_unit="buckets",
            options=(),
            uses_k=True,
            tunable=True,
            lookback=_window_lookback,
            rolling=True,
        ),
        Method(
            name="mad",
            summary="median and scaled MAD of the previous window (robust to past spikes)",
            notes="spread = 1.4826·MAD, so k reads like standard deviations",
            window=_ROLLING_WINDOW,
            window_unit="buckets",
            options=(),
            uses_k=True,
            tunable=True,
            lookback=_window_lookback,
            rolling=True,
        ),
        Method(
            name="ewma",
            summary="exponentially weighted mean and standard deviation of all past buckets",
            notes="``history`` counts all past buckets",
            window=_ROLLING_WINDOW,
            window_unit="buckets",
            options=(
                Option("span", None, "float", "decay span (default: window)", "buckets", 1, 1440),
                Option("half_life", None, "float", "decay half-life, instead of span", "buckets"),
            ),
            uses_k=True,
            tunable=True,
            lookback=_ewma_lookback,
            min_periods_up_to_window=False,
            rolling=True,
        ),
        Method(
            name="quantile",
            summary="the q-quantile of the previous window is the threshold (k unused)",
            notes="baseline = window median, spread = quantile − median: score > 1 is above the bar",
            window=_ROLLING_WINDOW,
            window_unit="buckets",
            options=(Option("q", 0.99, "float", "quantile in (0, 1)", "", 0.5, 0.999),),
            uses_k=False,
            tunable=True,
            lookback=_window_lookback,
            rolling=True,
        ),
        Method(
            name="threshold",
            summary="a fixed level (per item or global); no baseline",
            notes="baseline = threshold = level, spread null, score = x − level; no warm-up (min_periods 0)",
            window=None,
            window_unit="",
            options=(Option("level", None, "level", "fixed level: number or item -> level"),),
            uses_k=False,
            tunable=False,
            lookback=_threshold_lookback,
        ),
        Method(
            name="seasonal",
            summary="mean and standard deviation of the same slot in previous periods",
            notes="needs a dense series (``resample(..., dense=True)``); ``history`` counts periods",
            window=7,
            window_unit="periods",
            options=(
                Option("period", "1d", "duration", "season length, e.g. 1d", "", choices=()),
                Option("weekly", False, "bool", "same weekday: period 7d"),
            ),
            uses_k=True,
            tunable=True,
            lookback=_seasonal_lookback,
        ),
        Method(
            name="profile",
            summary="median of the same slot in previous seasons; robust relative spread",
            notes="log deviations; spread: count noise + a remedian of block MADs (see spikes._profile)",
            window=None,
            window_unit="",
            options=(
                Option(
                    "period", "1w", "duration", "season length: 1w or 1d", "", choices=("1w", "1d")
                ),
                Option("seasons", 4, "int", "previous seasons in the median", "periods", 1, 12),
                Option("smooth_span", "15m", "duration", _SPAN_HELP),
            ),
            uses_k=True,
            tunable=True,
            lookback=_profile_lookback,
            robust_default=True,
            transform_default="log1p",
            min_history=1,
            default_k=4.0,
            signal_column=True,
            integer_path=False,
            robust_passes=0,  # capped inside the profile's own block statistics
        ),
        Method(
            name="level_shift",
            summary="median of the last window against the window before it",
            notes="interquartile means of two windows; output has ``signal`` (see spikes._level_shift)",
            window=24,
            window_unit="buckets",
            options=(),
            uses_k=True,
            tunable=True,
            lookback=_level_shift_lookback,
            min_periods_up_to_window=False,
            signal_column=True,
            integer_path=False,
            min_history=3,
        ),
    )
}

#: Detection methods understood by :func:`~stockseries.spikes.detect_spikes`.
METHODS = tuple(METHOD_TABLE)


def method_spec(method: str) -> Method:
    """The :class:`Method` record of ``method``; a clear error for an unknown name."""
    try:
        return METHOD_TABLE[method]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown method {method!r}; expected one of {', '.join(METHODS)}"
        ) from None


def setting(params: Mapping[str, Any], name: str) -> Any:
    """``direction``, ``transform`` or ``robust`` of ``params``, the method's default if unset.

    Settings leave these out at their defaults (so ids stay what they were before the
    options existed); read them through here, never with ``params.get``.
    """
    if name == "direction":
        return params.get("direction", "up")
    spec = method_spec(params["method"])
    if name == "transform":
        return params.get("transform", spec.transform_default)
    if name == "robust":
        return bool(params.get("robust", spec.robust_default))
    raise KeyError(name)


def method_options() -> tuple[Option, ...]:
    """Every option of every method, once per name (the first description wins)."""
    seen: dict[str, Option] = {}
    for spec in METHOD_TABLE.values():
        for option in spec.options:
            seen.setdefault(option.name, option)
    return tuple(seen.values())


def option_methods(name: str) -> tuple[str, ...]:
    """The methods that take option ``name``."""
    return tuple(m.name for m in METHOD_TABLE.values() if any(o.name == name for o in m.options))


def judged_smooth(params: Mapping[str, Any], every_us: int) -> int:
    """Buckets averaged into the judged signal: ``smooth``, or more to span ``smooth_span``
    (``profile``: 15 minutes by default -- 15 one-minute buckets, 3 of five, 1 from 15 up)."""
    smooth = int(params.get("smooth", 1))
    span = params.get("smooth_span")
    if span:
        smooth = max(smooth, -(-(parse_every(span) // timedelta(microseconds=1)) // every_us))
    return smooth


def history_needed(detection: Detection, every_us: int) -> int:
    """Closed buckets per item the detector must see again to decide the next bucket."""
    # A smoothed signal sums the last ``smooth`` buckets and its baseline skips the
    # ``smooth - 1`` buckets averaged into the current one.
    lag = judged_smooth(detection, every_us) - 1
    lookback = detection.spec.lookback(detection, every_us)
    if detection.robust:
        # Each capping pass needs the baselines of the buckets it caps, one look-back further
        # (for a rolling baseline, one window plus the ``lag`` buckets it skips).
        passes = detection.spec.robust_passes
        lookback = lookback * (passes + 1) + (passes * lag if detection.spec.rolling else 0)
    return lookback + 2 * lag


def detection_columns(detection: Mapping[str, Any]) -> dict[str, pl.DataType]:
    """The columns :func:`~stockseries.spikes.detect_spikes` adds for ``detection``, with dtypes."""
    columns: dict[str, pl.DataType] = {
        "baseline": pl.Float64(),
        "spread": pl.Float64(),
        "threshold": pl.Float64(),
        "score": pl.Float64(),
        "history": pl.Int64(),
        "sufficient": pl.Boolean(),
        "flagged": pl.Boolean(),
    }
    spec = method_spec(detection["method"])
    # In the order detect_spikes adds them: the lower bar with the decision, then the signal.
    if detection.get("direction", "up") != "up":
        columns["lower"] = pl.Float64()
    if int(detection.get("smooth", 1)) > 1 or spec.signal_column:
        columns["signal"] = pl.Float64()
    return columns


# --------------------------------------------------------------------------- params


def spike_params(
    method: str = "zscore",
    *,
    column: str = "demand",
    window: int | None = None,
    k: float | None = None,
    min_periods: int | None = None,
    min_demand: float = 0,
    smooth: int = 1,
    direction: str = "up",
    transform: str | object | None = ...,
    robust: bool | object = ...,
    **options: Any,
) -> Detection:
    """Validate detection parameters and fill in every default.

    The result is the canonical description of a detection: two calls that
    detect the same way give equal records, whatever defaults were spelled out.
    :func:`stockseries.alerts.alerts` hashes it into stable alert ids, and it
    can be splatted back into :func:`~stockseries.spikes.detect_spikes`. Parameters a
    method ignores are set to ``None`` (``k`` for ``quantile``/``threshold``,
    ``window`` for ``threshold``).

    Parameters
    ----------
    method, column, window, k, min_periods, min_demand, smooth, **options
        As for :func:`~stockseries.spikes.detect_spikes`.

    Returns
    -------
    Detection
        ``method``, ``column``, ``window``, ``k``, ``min_periods``,
        ``min_demand``, ``smooth`` and the method's options, all explicit.

    Examples
    --------
    >>> spike_params(window=30)
    Detection(method='zscore', column='demand', window=30, k=3.0, min_periods=30, min_demand=0, smooth=1)
    >>> spike_params("ewma", k=4)["span"]
    60.0
    """
    spec = method_spec(method)
    if not isinstance(column, str):
        raise TypeError(f"column must be a column name (str), got {column!r}")
    allowed = spec.defaults()
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        hint = ", ".join(allowed) if allowed else "none"
        raise TypeError(
            f"unexpected option(s) {', '.join(unknown)} for method={method!r}; "
            f"its options are: {hint}"
        )
    window = _checked_window(spec, window)
    out: dict[str, Any] = {
        "method": method,
        "column": column,
        "window": window,
        "k": _checked_k(spec.default_k if k is None else k) if spec.uses_k else None,
        "min_periods": _checked_min_periods(spec, min_periods, window),
        "min_demand": _checked_min_demand(min_demand),
        "smooth": _checked_smooth(smooth),
    }
    out.update(_canonical_options(method, {**allowed, **options}, window))
    out.update(_general(spec, direction, transform, robust))
    return Detection(out)


def _general(spec: Method, direction: Any, transform: Any, robust: Any) -> dict[str, Any]:
    """``direction``, ``transform`` and ``robust``, each only when it differs from the
    method's default -- so every setting spelled before these existed keeps its alert ids."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'up', 'down' or 'both', got {direction!r}")
    out: dict[str, Any] = {} if direction == "up" else {"direction": direction}
    if transform is not ...:
        if transform not in TRANSFORMS:
            raise ValueError(f"transform must be None, 'sqrt' or 'log1p', got {transform!r}")
        if transform != spec.transform_default:
            if spec.window is None and spec.name == "threshold":
                raise ValueError("transform does not apply to method='threshold' (a fixed level)")
            out["transform"] = transform
    if robust is not ...:
        if robust not in (True, False):
            raise ValueError(f"robust must be True or False, got {robust!r}")
        if bool(robust) != spec.robust_default:
            if spec.name == "threshold":
                raise ValueError("robust does not apply to method='threshold' (no baseline)")
            out["robust"] = bool(robust)
    return out


def _checked_window(spec: Method, window: Any) -> int | None:
    if spec.window is None:
        if window is not None:
            raise ValueError(
                f"window does not apply to method={spec.name!r} "
                + ("(it uses a fixed level)" if spec.name == "threshold" else "(see its options)")
            )
        return None
    window = spec.window if window is None else window
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1:
        raise ValueError(f"window must be an integer >= 1 ({spec.window_unit}), got {window!r}")
    return int(window)


def _checked_k(k: Any) -> float:
    if isinstance(k, bool) or not isinstance(k, int | float | np.number) or not math.isfinite(k):
        raise ValueError(f"k must be a finite number, got {k!r}")
    if k <= 0:
        raise ValueError(
            f"k must be a finite number > 0 (spreads between the baseline and the bar), got {k!r}"
        )
    return float(k)


def _checked_min_periods(spec: Method, min_periods: Any, window: int | None) -> int:
    if min_periods is None:
        min_periods = spec.min_history if window is None or spec.min_history else window
    if isinstance(min_periods, bool) or not isinstance(min_periods, int | np.integer):
        raise ValueError(f"min_periods must be an integer, got {min_periods!r}")
    min_periods = int(min_periods)
    if window is None:
        if min_periods < spec.min_history:
            raise ValueError(f"min_periods must be >= {spec.min_history}, got {min_periods}")
    elif min_periods < 1:
        raise ValueError(f"min_periods must be >= 1 (a baseline needs data), got {min_periods}")
    elif spec.min_periods_up_to_window and min_periods > window:
        raise ValueError(
            f"min_periods={min_periods} exceeds window={window}: no bucket could ever have "
            "enough history"
        )
    return min_periods


def _checked_min_demand(min_demand: Any) -> Any:
    if isinstance(min_demand, bool) or not isinstance(min_demand, int | float | np.number):
        raise ValueError(f"min_demand must be a number, got {min_demand!r}")
    return min_demand


def _checked_smooth(smooth: Any) -> int:
    if isinstance(smooth, bool) or not isinstance(smooth, int | np.integer) or smooth < 1:
        raise ValueError(f"smooth must be an integer >= 1 (buckets), got {smooth!r}")
    return int(smooth)


def _canonical_options(method: str, opts: dict[str, Any], window: int | None) -> dict[str, Any]:
    if method == "ewma":
        span, half_life = opts["span"], opts["half_life"]
        if span is not None and half_life is not None:
            raise ValueError("give either span or half_life for method='ewma', not both")
        if half_life is not None:
            if not positive_number(half_life):
                raise ValueError(f"half_life must be a number > 0 (buckets), got {half_life!r}")
            return {"span": None, "half_life": float(half_life)}
        span = float(window or 0) if span is None else span
        if not positive_number(span) or span < 1:
            raise ValueError(f"span must be a number >= 1 (buckets), got {span!r}")
        return {"span": float(span), "half_life": None}
    if method == "quantile":
        q = opts["q"]
        if not positive_number(q) or not 0 < q < 1:
            raise ValueError(f"q must be strictly between 0 and 1, got {q!r}")
        return {"q": float(q)}
    if method == "threshold":
        return {"level": canonical_level(opts["level"])}
    if method == "profile":
        # "1w" (weekly pattern) or "1d" (daily) in practice; any fixed length that is a
        # whole number of buckets works.
        spelled = format_every(parse_every(opts["period"], name="period"))
        seasons = opts["seasons"]
        if isinstance(seasons, bool) or not isinstance(seasons, int | np.integer) or seasons < 1:
            raise ValueError(f"seasons must be an integer >= 1 (periods), got {seasons!r}")
        span = opts["smooth_span"]
        if isinstance(span, str) and span.lower() == "none":
            span = None
        if span is not None:
            span = format_every(parse_every(span, name="smooth_span"))
        return {"period": spelled, "seasons": int(seasons), "smooth_span": span}
    if method == "seasonal":
        if opts["weekly"] not in (True, False):
            raise ValueError(f"weekly must be True or False, got {opts['weekly']!r}")
        period = parse_every(opts["period"], name="period")
        if opts["weekly"]:
            if period != timedelta(days=1):
                raise ValueError("weekly=True means period='7d'; do not pass both")
            period = timedelta(days=7)
        return {"period": format_every(period), "weekly": False}
    return {}
