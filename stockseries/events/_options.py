"""How to read files that do not follow the event contract's spelling: :class:`ReadOptions`.

``columns`` maps canonical names to the file's (``{"ts": "timestamp", "item_id": "sku"}``),
``kinds`` maps canonical kinds to the file's values (``{"order": "sale", "delivery":
"receipt"}``, several values as a list), ``delimiter`` is the CSV field separator,
``ts_format`` a strftime/chrono format for the timestamps (``"%d/%m/%Y %H:%M"``), and ``tz``
the IANA zone of *naive* timestamps (``"Europe/Paris"``; values with an offset keep it). A
local time that does not exist (the spring-forward gap) breaks the "parseable timestamp" rule;
an ambiguous one (the autumn fall-back hour) is taken as its earlier instant.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from stockseries._schema import EVENT_SCHEMA, KIND, KINDS, OPTIONAL_COLUMNS, TS
from stockseries.events._casts import ZONED_PATTERN, parse_timestamps
from stockseries.events._validate import suggest

__all__ = ["ReadOptions", "parse_pairs"]

_CANONICAL = (*EVENT_SCHEMA, *OPTIONAL_COLUMNS)
_ISO_UTC = "%Y-%m-%dT%H:%M:%S%.fZ"


def parse_pairs(text: str, what: str) -> dict[str, list[str]]:
    """``"a=x,b=y,b=z"`` → ``{"a": ["x"], "b": ["y", "z"]}`` (the CLI spelling of a mapping).

    Examples
    --------
    >>> parse_pairs("order=sale,delivery=receipt,order=web sale", "--kinds")
    {'order': ['sale', 'web sale'], 'delivery': ['receipt']}
    """
    pairs: dict[str, list[str]] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{what} {text!r}: expected NAME=VALUE pairs separated by commas")
        pairs.setdefault(key.strip(), []).append(value.strip())
    return pairs


@dataclass(frozen=True)
class ReadOptions:
    """Column names, kind values, delimiter and timestamp format of the input (see module)."""

    columns: Mapping[str, str] = field(default_factory=dict)
    kinds: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    delimiter: str = ","
    ts_format: str | None = None
    tz: str | None = None

    def __post_init__(self) -> None:
        for name in self.columns:
            if name not in _CANONICAL:
                near = suggest(name, _CANONICAL)
                hint = f"; did you mean {near!r}?" if near else ""
                raise ValueError(
                    f"columns: {name!r} is not an event column ({', '.join(_CANONICAL)}){hint}"
                )
        for kind in self.kinds:
            if kind not in KINDS:
                near = suggest(kind, KINDS)
                hint = f"; did you mean {near!r}?" if near else ""
                raise ValueError(f"kinds: {kind!r} is not a kind ({', '.join(KINDS)}){hint}")
        if len(self.delimiter) != 1:
            raise ValueError(f"delimiter must be one character, got {self.delimiter!r}")
        if self.tz is not None:
            try:
                zoneinfo.ZoneInfo(self.tz)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"tz={self.tz!r} is not a time zone: use an IANA name such as "
                    "'Europe/Paris' or 'UTC'"
                ) from None

    @property
    def is_default(self) -> bool:
        """Whether the input follows the contract's spelling (the fast readers apply)."""
        return self == ReadOptions(delimiter=self.delimiter) and self.delimiter == ","

    def apply(self, raw: pl.DataFrame) -> pl.DataFrame:
        """``raw`` with canonical column names, kinds and ISO-8601 UTC timestamps."""
        frame = self._renamed(raw)
        if self.kinds and KIND in frame.columns:
            mapping = {
                value: kind
                for kind, values in self.kinds.items()
                for value in ([values] if isinstance(values, str) else values)
            }
            frame = frame.with_columns(pl.col(KIND).cast(pl.String).replace(mapping))
        if (self.ts_format or self.tz) and TS in frame.columns:
            frame = frame.with_columns(self._timestamps(frame[TS]).alias(TS))
        return frame

    def _renamed(self, raw: pl.DataFrame) -> pl.DataFrame:
        renames = {}
        for canonical, source in self.columns.items():
            if source not in raw.columns:
                near = suggest(source, raw.columns)
                hint = f"; did you mean {near!r}?" if near else ""
                raise ValueError(
                    f"columns: {canonical}={source!r}, but the input has no column {source!r} "
                    f"(it has {', '.join(map(repr, raw.columns))}){hint}"
                )
            renames[source] = canonical
        clashes = [name for name in renames.values() if name in raw.columns and name not in renames]
        if clashes:
            raise ValueError(
                f"columns: the input already has column(s) {clashes}; map them away first "
                "or drop them"
            )
        return raw.rename(renames)

    def _timestamps(self, column: pl.Series) -> pl.Series:
        """ISO-8601 UTC text (or the value as it was, when it cannot be read)."""
        if isinstance(column.dtype, pl.Datetime):
            if column.dtype.time_zone is not None or self.tz is None:
                return column
            return _localised(column, self.tz)
        if column.dtype != pl.String:
            return column
        if self.ts_format is not None:
            parsed = column.str.to_datetime(self.ts_format, time_unit="us", strict=False)
            if isinstance(parsed.dtype, pl.Datetime) and parsed.dtype.time_zone is None:
                parsed = _localised(parsed, self.tz or "UTC")
        else:
            naive = ~column.str.contains(ZONED_PATTERN).fill_null(False)
            as_utc = parse_timestamps(column, epoch_unit=None)
            wall = as_utc.dt.replace_time_zone(None)
            parsed = pl.select(
                pl.when(pl.lit(naive)).then(_localised(wall, self.tz or "UTC")).otherwise(as_utc)
            ).to_series()
        text = parsed.dt.convert_time_zone("UTC").dt.to_string(_ISO_UTC)
        # Values the format could not read stay as they were: validation reports them.
        return pl.select(pl.coalesce(pl.lit(text), pl.lit(column))).to_series().alias(TS)


def _localised(naive: pl.Series, tz: str) -> pl.Series:
    return naive.dt.replace_time_zone(
        tz, ambiguous="earliest", non_existent="null"
    ).dt.convert_time_zone("UTC")
