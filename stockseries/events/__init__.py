"""Reading and validating inventory event streams.

Every engine function works on one canonical *event frame*:

=============  ========================  ============================================
column         dtype                     rule
=============  ========================  ============================================
``ts``         ``Datetime("us", "UTC")`` not null, a parseable timestamp
``item_id``    ``String``                not null
``kind``       ``String``                ``"order"`` or ``"delivery"``
``quantity``   ``Int64``                 an integer > 0
=============  ========================  ============================================

Columns come out in that order, followed by every other input column in input order. The
optional columns ``event_id``, ``customer_id``, ``supplier_id`` and ``description`` are carried
through unchanged, and so is any other extra column (hive partition columns of a Parquet
directory included): validation never drops data you did not ask it to drop. When reading CSV,
the text columns ``item_id``, ``kind`` and the optional id/description columns are read as
strings so that identifiers such as ``"007"`` keep their leading zeros.

Timestamps
----------
* ISO-8601 strings with ``Z`` or an offset (``+02:00``, ``+0200``, ``+02``) are converted to UTC.
* Naive strings and naive datetimes are *taken as UTC* (no local-time guessing).
* ``T`` or a space between date and time, hours with or without minutes and seconds,
  fractions (kept to the microsecond, finer digits are truncated) and bare dates (midnight UTC)
  are accepted; a column may mix these forms. Anything else (``"yesterday"``,
  ``"2024-02-30"``, ``"01/02/2024"``) breaks the "parseable timestamp" rule.
* Datetime columns in another time zone are converted to UTC; ``Date`` columns become midnight
  UTC.
* Numbers are epochs only when you say what they count with ``epoch_unit`` (``"s"``, ``"ms"``,
  ``"us"`` or ``"ns"``); a numeric ``ts`` column without it is an error that says so.

Validation rules
----------------
A missing required column (checked in the order ``ts``, ``item_id``, ``kind``, ``quantity``) and
a numeric ``ts`` column without ``epoch_unit`` are *frame-level* problems: no row could pass, so
they raise :class:`EventValidationError` even with ``strict=False``. The row-level rules are
checked in this fixed order (:data:`ROW_RULES`):

1. ``ts``: must not be null
2. ``ts``: must be a parseable timestamp
3. ``item_id``: must not be null
4. ``kind``: must be one of 'order', 'delivery' (a null kind breaks this rule too)
5. ``quantity``: must be an integer > 0 (null, ``2.5``, ``"abc"``, ``0`` and ``-1`` break it;
   integral values such as ``3.0`` or ``"3"`` are accepted)

With ``strict=True`` an :class:`EventValidationError` is raised naming the first rule in that
order that any row breaks, and listing every broken rule (``.summary``: count, first rows, file
lines for CSV/NDJSON, "did you mean" for near-miss kinds), so one run diagnoses a whole file. With ``strict=False`` you get a :class:`ValidatedEvents` with the
valid events and the rejected rows; each rejected row carries the first rule it breaks. Row
positions (the ``row`` column) are 0-based positions in the input; for a directory or glob the
files are read in sorted path order and positions count through their concatenation. A pandas
frame's index is not kept: positions are what identify rows.

Large files
-----------
Validation costs little next to the read. A CSV file is read in batches of whole records,
each parsed, converted and checked on its own, so the text of the whole file never exists at
once (peak memory about 1.6x the resulting frame instead of 3.5-4.5x); a file with any broken
row is then read whole to report it. A Parquet file's footer statistics prove ``quantity > 0``
(a minimum > 0 in every row group) and its dictionary pages check ``kind`` (a scan run in
the same query as the read), so those rules are not checked again on the data read; files or
row groups without statistics or dictionaries are checked on the data as usual. Errors always
come from the data.
"""

from __future__ import annotations

from stockseries.events._api import read_events, scan_events, validate_events

# Shared with the out-of-core reader and other stages (not part of the documented API).
from stockseries.events._files import resolve_source as resolve_source
from stockseries.events._files import scan_files as scan_files
from stockseries.events._options import ReadOptions as ReadOptions
from stockseries.events._options import parse_pairs as parse_pairs
from stockseries.events._rules import (
    KNOWN_KIND,
    MISSING_COLUMN,
    NEEDS_EPOCH_UNIT,
    NOT_NULL,
    PARSEABLE_TIMESTAMP,
    POSITIVE_INTEGER,
    READABLE_RECORD,
    ROW_RULES,
    BrokenRule,
    EventValidationError,
    ReadError,
    ValidatedEvents,
)
from stockseries.events._rules import (
    REASON as REASON,
)
from stockseries.events._rules import (
    REQUIRED_COLUMNS as REQUIRED_COLUMNS,
)
from stockseries.events._rules import (
    ROW as ROW,
)
from stockseries.events._rules import (
    EpochUnit as EpochUnit,
)
from stockseries.events._rules import (
    EventSource as EventSource,
)
from stockseries.events._validate import MAX_ITEM_TOTAL as MAX_ITEM_TOTAL
from stockseries.events._validate import as_event_frame
from stockseries.events._validate import sums_overflow as sums_overflow

__all__ = [
    "KNOWN_KIND",
    "MISSING_COLUMN",
    "NEEDS_EPOCH_UNIT",
    "NOT_NULL",
    "PARSEABLE_TIMESTAMP",
    "POSITIVE_INTEGER",
    "READABLE_RECORD",
    "ROW_RULES",
    "BrokenRule",
    "EventValidationError",
    "ReadError",
    "ValidatedEvents",
    "as_event_frame",
    "read_events",
    "scan_events",
    "validate_events",
]
