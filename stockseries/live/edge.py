"""The live engine's edge check: any event frame in, the canonical polars event frame out.

.. note:: The events package's single validation edge (``events.as_event_frame``) takes this
   fast path over once it exists; until then the live engine keeps it here.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from stockseries._schema import DELIVERY, EVENT_SCHEMA, KIND, ORDER, QUANTITY
from stockseries.stock import validated_events

__all__ = ["already_valid", "event_frame"]


def already_valid(frame: Any) -> pl.DataFrame | None:
    """``frame`` itself when :func:`validated_events` would return it unchanged, else None.

    A polars frame whose required columns come first, in canonical dtypes, without nulls,
    with known kinds and positive quantities is what validation returns; checking that costs
    one pass, while the full check also builds the (empty) rejected table. Anything else,
    including every frame that breaks a rule, goes through the full check and its errors.
    """
    if not isinstance(frame, pl.DataFrame) or frame.columns[: len(EVENT_SCHEMA)] != list(
        EVENT_SCHEMA
    ):
        return None
    schema = frame.schema
    if any(
        schema[name] != dtype or frame.get_column(name).null_count()
        for name, dtype in EVENT_SCHEMA.items()
    ):
        return None
    # Series operations: a one-row select costs more than the check itself on small frames.
    kinds = frame.get_column(KIND)
    valid = ((kinds == ORDER) | (kinds == DELIVERY)).all() and (
        frame.get_column(QUANTITY) > 0
    ).all()
    return frame if valid else None


def event_frame(frame: Any) -> tuple[pl.DataFrame, bool]:
    """The canonical polars event frame of ``frame`` and whether it came in as pandas."""
    events = already_valid(frame)
    if events is not None:
        return events, False
    return validated_events(frame)
