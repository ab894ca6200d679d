"""Durations, epochs, ISO-8601 and UTC: the one place every stage converts time.

Durations
    :func:`duration_us` parses fixed durations (``"90s"``, ``"1h30m"``, the pandas spellings
    ``"15min"``/``"15T"``/``"1H"``, :class:`datetime.timedelta`, ``numpy.timedelta64``) into
    whole microseconds; :func:`format_duration` writes the shortest string that reads back the
    same. Buckets are aligned to the Unix epoch by integer division, so only fixed-length units
    are accepted: calendar units (months, quarters, years) and row counts (``"i"``) are refused
    with a message that says why, and so is a duration longer than :data:`MAX_DURATION_US`
    (no event stream spans it, and larger values would overflow 64-bit timestamp arithmetic).
Instants
    :func:`epoch_us` turns an ISO-8601 string, a datetime/date or a ``numpy.datetime64`` into
    microseconds since the Unix epoch; :func:`iso_utc` writes one back as ISO-8601 UTC with a
    ``Z`` (fractional seconds only when present, as milliseconds when they are whole ones).
    Naive values are taken as UTC everywhere (the project rule).
Columns
    :func:`in_utc` converts a Polars Datetime expression to UTC (naive → UTC, aware →
    converted); :func:`frame_in_utc` does it for every Datetime column of a frame.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any, Final

import numpy as np
import polars as pl

__all__ = [
    "CSV_DATETIME_FORMAT",
    "MAX_DURATION_US",
    "as_utc_us",
    "duration_us",
    "epoch_us",
    "format_duration",
    "frame_in_utc",
    "in_utc",
    "iso_utc",
]

#: ISO-8601 UTC with a ``Z`` suffix for Polars writers; fractional seconds only when present.
CSV_DATETIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%S%.fZ"

#: The longest accepted duration: 100,000 days (~274 years), far beyond any event stream and
#: far below where bucket arithmetic on 64-bit microsecond timestamps would overflow.
MAX_DURATION_US: Final = 100_000 * 86_400 * 1_000_000

_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_US: Final = dt.timedelta(microseconds=1)

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
# pandas offset aliases for fixed lengths (``15min``, ``15T``, ``1H``, ``500L`` ...).
_PANDAS_UNITS: Final[dict[str, str]] = {
    "min": "m",
    "T": "m",
    "H": "h",
    "S": "s",
    "L": "ms",
    "U": "us",
    "N": "ns",
    "D": "d",
    "W": "w",
}
_CALENDAR_UNITS: Final[dict[str, str]] = {
    "mo": "months",
    "q": "quarters",
    "y": "years",
    "M": "months",
    "Q": "quarters",
    "Y": "years",
}
# Alternatives are tried left to right: longer units before their prefixes ("min" before "m",
# "ms"/"mo" before "m").
_DURATION_PART = re.compile(r"(\d+)(ns|us|µs|ms|min|mo|s|m|h|d|w|q|y|i|T|H|S|L|U|N|D|W|M|Q|Y)")


def duration_us(
    value: Any, name: str = "every", *, allow_zero: bool = False, seconds: bool = False
) -> int:
    """Microseconds in a fixed duration given as a string, a timedelta or ``timedelta64``.

    ``seconds=True`` also accepts a plain number of seconds; ``allow_zero=True`` accepts 0
    (e.g. an allowed lateness).

    Examples
    --------
    >>> duration_us("1h30m"), duration_us(dt.timedelta(seconds=90)), duration_us("15min")
    (5400000000, 90000000, 900000000)
    >>> duration_us("1mo")
    Traceback (most recent call last):
    ...
    ValueError: every='1mo' is not a fixed duration: the calendar unit 'mo' (months) varies in length; use e.g. '30d'
    """
    if isinstance(value, np.timedelta64):
        if np.isnat(value):
            raise ValueError(f"{name} is NaT")
        value = dt.timedelta(microseconds=int(value.astype("timedelta64[us]").astype(np.int64)))
    if isinstance(value, dt.timedelta):
        micros = value // _ONE_US
        if value % _ONE_US:
            raise ValueError(f"{name}={value!r} is not a whole number of microseconds")
    elif isinstance(value, str):
        micros = _parse(value, name)
    elif seconds and isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
        if abs(value) > MAX_DURATION_US / 1e6:
            raise ValueError(_too_long(name, value))
        micros = round(value * 1_000_000)
    else:
        accepted = "a duration string, a datetime.timedelta" + (" or seconds" if seconds else "")
        raise TypeError(f"{name} must be {accepted}, got {type(value).__name__}")
    if micros < 0 or (micros == 0 and not allow_zero):
        raise ValueError(
            f"{name} must be a {'non-negative' if allow_zero else 'positive'} duration, "
            f"got {value!r}"
        )
    if micros > MAX_DURATION_US:
        raise ValueError(_too_long(name, value))
    return int(micros)


def _too_long(name: str, value: Any) -> str:
    return f"{name}={value!r} is too long: the longest accepted duration is 100000d"


def _parse(value: str, name: str) -> int:
    text = value.strip()
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(count + unit for count, unit in parts) != text:
        raise ValueError(
            f"{name}={value!r} is not a duration: use e.g. '90s', '1m', '15min', '7m', '1h', "
            "'1d' or '1h30m' (units ns, us, ms, s, m/min/T, h, d, w), or a datetime.timedelta"
        )
    nanos = 0
    for count, unit in parts:
        if unit in _CALENDAR_UNITS:
            raise ValueError(
                f"{name}={value!r} is not a fixed duration: the calendar unit {unit!r} "
                f"({_CALENDAR_UNITS[unit]}) varies in length; use e.g. '30d'"
            )
        if unit == "i":
            raise ValueError(f"{name}={value!r} counts rows ('i'); it must be a duration")
        if len(count) > 24:  # far beyond MAX_DURATION_US in any unit; keeps big ints cheap
            raise ValueError(_too_long(name, value))
        nanos += int(count) * _UNIT_NS[_PANDAS_UNITS.get(unit, unit)]
    micros, rest = divmod(nanos, 1_000)
    if rest:
        raise ValueError(f"{name}={value!r} is not a whole number of microseconds")
    return micros


def format_duration(micros: int) -> str:
    """The shortest duration string for a whole number of microseconds (``"0s"`` for 0).

    Examples
    --------
    >>> format_duration(60_000_000), format_duration(90_000_000), format_duration(1_500)
    ('1m', '90s', '1500us')
    >>> format_duration(0)
    '0s'
    """
    if micros == 0:
        return "0s"
    for unit in ("w", "d", "h", "m", "s", "ms", "us"):
        per_unit = _UNIT_NS[unit] // 1_000
        if micros % per_unit == 0:
            return f"{micros // per_unit}{unit}"
    raise AssertionError("unreachable: 'us' divides every whole number of microseconds")


def epoch_us(value: Any, name: str = "ts") -> int:
    """Microseconds since the Unix epoch of an instant; naive values are taken as UTC.

    Accepts an ISO-8601 string (``Z``/offset or naive), a :class:`datetime.datetime` (pandas
    ``Timestamp`` included), a :class:`datetime.date` (its midnight) or a ``numpy.datetime64``.
    Integers are refused: their unit is ambiguous.

    Examples
    --------
    >>> epoch_us("1970-01-01T00:00:01Z"), epoch_us("1970-01-01T01:00:00+01:00")
    (1000000, 0)
    >>> epoch_us(dt.date(1970, 1, 2))
    86400000000
    """
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise ValueError(f"{name} is NaT")
        return int(value.astype("datetime64[us]").astype(np.int64))
    if isinstance(value, str):
        value = _parse_instant(value, name)
    if isinstance(value, dt.datetime):
        if value != value:  # pandas.NaT is a datetime that is not equal to itself
            raise ValueError(f"{name} is NaT")
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return int((aware - _EPOCH) // _ONE_US)
    if isinstance(value, dt.date):
        return epoch_us(dt.datetime(value.year, value.month, value.day), name)
    raise TypeError(
        f"{name} must be an ISO string, datetime or numpy.datetime64, got {type(value).__name__}"
    )


def _parse_instant(text: str, name: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text.strip())
    except ValueError:
        pass
    # Polars reads a few more spellings (e.g. nanosecond fractions); same rules otherwise.
    try:
        parsed = pl.Series([text.strip()]).str.to_datetime(time_unit="us", time_zone="UTC")
    except pl.exceptions.PolarsError:
        parsed = None
    if parsed is None or parsed.null_count():
        raise ValueError(
            f"{name}={text!r} is not an ISO-8601 timestamp (e.g. '2024-01-01T06:00:00Z')"
        ) from None
    moment: dt.datetime = parsed[0]
    return moment


def iso_utc(moment: dt.datetime | int) -> str:
    """ISO-8601 UTC with ``Z`` of a datetime (naive = UTC) or of epoch microseconds.

    The fraction is left out when it is zero and written as milliseconds when it is a whole
    number of them.

    Examples
    --------
    >>> iso_utc(0), iso_utc(1_500_000), iso_utc(1_000_001)
    ('1970-01-01T00:00:00Z', '1970-01-01T00:00:01.500Z', '1970-01-01T00:00:01.000001Z')
    """
    if isinstance(moment, dt.datetime):
        utc = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
    else:
        utc = _EPOCH + dt.timedelta(microseconds=int(moment))
    micros = utc.microsecond
    if micros == 0:
        fraction = ""
    elif micros % 1000 == 0:
        fraction = f".{micros // 1000:03d}"
    else:
        fraction = f".{micros:06d}"
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def in_utc(column: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A Datetime column in UTC: naive values are taken as UTC, aware ones converted."""
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        return column.dt.replace_time_zone("UTC")
    return column.dt.convert_time_zone("UTC")


def as_utc_us(column: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """``column`` as ``Datetime("us", "UTC")``: naive Datetimes taken as UTC, others cast."""
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        column = column.dt.replace_time_zone("UTC")
    return column.cast(pl.Datetime("us", "UTC"))


def frame_in_utc(frame: pl.DataFrame) -> pl.DataFrame:
    """Every Datetime column of ``frame`` in UTC (naive taken as UTC, aware converted)."""
    exprs = [
        in_utc(pl.col(name), dtype)
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime)
    ]
    return frame.with_columns(exprs) if exprs else frame
