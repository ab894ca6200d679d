"""One parser for fixed durations ("90s", "1h30m", timedeltas), shared by every stage.

Buckets are aligned to the Unix epoch by integer division, so only fixed-length units are
accepted; calendar units (months, quarters, years) and row counts ("i") are refused with a
message that says why.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Any, Final

import numpy as np

_UNIT_NS: Final[dict[str, int]] = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
    "w": 7 * 86_400_000_000_000,
}
_CALENDAR_UNITS: Final[dict[str, str]] = {"mo": "months", "q": "quarters", "y": "years"}
# Alternatives are tried left to right: "ms" and "mo" must come before "m".
_DURATION_PART = re.compile(r"(\d+)(ns|us|µs|ms|mo|s|m|h|d|w|q|y|i)")


def duration_us(
    value: Any, name: str = "every", *, allow_zero: bool = False, seconds: bool = False
) -> int:
    """Microseconds in a fixed duration given as a Polars string or a timedelta.

    ``seconds=True`` also accepts a plain number of seconds; ``allow_zero=True`` accepts 0
    (e.g. an allowed lateness).

    Examples
    --------
    >>> duration_us("1h30m"), duration_us(timedelta(seconds=90))
    (5400000000, 90000000)
    >>> duration_us("1mo")
    Traceback (most recent call last):
    ...
    ValueError: every='1mo' is not a fixed duration: the calendar unit 'mo' (months) varies in length; use e.g. '30d'
    """
    if isinstance(value, np.timedelta64):
        if np.isnat(value):
            raise ValueError(f"{name} is NaT")
        value = timedelta(microseconds=int(value.astype("timedelta64[us]").astype(np.int64)))
    if isinstance(value, timedelta):
        micros = value // timedelta(microseconds=1)
        if value % timedelta(microseconds=1):
            raise ValueError(f"{name}={value!r} is not a whole number of microseconds")
    elif isinstance(value, str):
        micros = _parse(value, name)
    elif seconds and isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
        micros = round(value * 1_000_000)
    else:
        accepted = "a duration string, a datetime.timedelta" + (" or seconds" if seconds else "")
        raise TypeError(f"{name} must be {accepted}, got {type(value).__name__}")
    if micros < 0 or (micros == 0 and not allow_zero):
        raise ValueError(
            f"{name} must be a {'non-negative' if allow_zero else 'positive'} duration, "
            f"got {value!r}"
        )
    return int(micros)


def _parse(value: str, name: str) -> int:
    text = value.strip()
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(count + unit for count, unit in parts) != text:
        raise ValueError(
            f"{name}={value!r} is not a duration: use a Polars duration string such as "
            "'90s', '1m', '7m', '1h', '1d' or '1h30m' (units ns, us, ms, s, m, h, d, w), "
            "or a datetime.timedelta"
        )
    for _, unit in parts:
        if unit in _CALENDAR_UNITS:
            raise ValueError(
                f"{name}={value!r} is not a fixed duration: the calendar unit {unit!r} "
                f"({_CALENDAR_UNITS[unit]}) varies in length; use e.g. '30d'"
            )
        if unit == "i":
            raise ValueError(f"{name}={value!r} counts rows ('i'); it must be a duration")
    nanos = sum(int(count) * _UNIT_NS[unit] for count, unit in parts)
    micros, rest = divmod(nanos, 1_000)
    if rest:
        raise ValueError(f"{name}={value!r} is not a whole number of microseconds")
    return micros


def format_duration(micros: int) -> str:
    """The shortest Polars duration string for a whole number of microseconds.

    Examples
    --------
    >>> format_duration(60_000_000), format_duration(90_000_000), format_duration(1_500)
    ('1m', '90s', '1500us')
    """
    for unit in ("w", "d", "h", "m", "s", "ms", "us"):
        per_unit = _UNIT_NS[unit] // 1_000
        if micros % per_unit == 0:
            return f"{micros // per_unit}{unit}"
    raise AssertionError("unreachable: 'us' divides every whole number of microseconds")
