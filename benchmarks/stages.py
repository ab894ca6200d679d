"""What each benchmark stage measures, what it consumes and how its results are compared."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

InputKind = Literal["none", "csv", "parquet", "events", "series", "frames"]


@dataclass(frozen=True)
class Comparison:
    """How two results of a stage are checked for equality.

    Rows are sorted by ``keys`` then ``exact`` (unless ``ordered``, where row order is part of
    the result); ``exact`` columns must be identical (nulls included), ``floats`` equal within
    ``rtol``/``atol`` with identical null and ±inf positions. A ``tie`` triple
    ``(flag, value, threshold)`` forgives flag differences where ``value`` and ``threshold``
    are within float tolerance of each other (the decision is a coin toss in float
    arithmetic there). ``conditioned = (column, denominator)`` compares ``column`` only where
    the reference's ``denominator`` exceeds ``atol``: a z-score over a flat window is 0/0 or
    x/0, and rolling algorithms that leave 1e-8 of variance behind (pandas' online update)
    turn +inf into 1e9 there; those rows are still checked through ``flagged``.
    ``lone_tie = (value, threshold)`` does the same for whole rows: a row found in one result
    only (an alert episode of one bucket the other result did not flag) is forgiven when its
    ``value`` is within float tolerance of its ``threshold``; ``threshold`` is not compared
    otherwise (implementations may report a different bucket's threshold for an episode).

    ``atol`` is 1e-6 because pandas' rolling std drifts by up to ~1e-7 over a 10,000-bucket
    item; every other peer agrees with stockseries to ~1e-13.
    """

    keys: tuple[str, ...]
    exact: tuple[str, ...] = ()
    floats: tuple[str, ...] = ()
    ordered: bool = False
    sparse: bool = False  # keep only buckets that saw an event before comparing
    tie: tuple[str, str, str] | None = None
    conditioned: tuple[str, str] | None = None
    lone_tie: tuple[str, str] | None = None
    rtol: float = 1e-9
    atol: float = 1e-6

    @property
    def columns(self) -> tuple[str, ...]:
        carried = (self.lone_tie[1],) if self.lone_tie else ()
        return self.keys + self.exact + self.floats + carried


EVENTS = Comparison(keys=("ts", "item_id", "kind", "quantity"), ordered=True)
BUCKETS = ("demand", "orders", "supply", "deliveries", "level")


@dataclass(frozen=True)
class Stage:
    name: str
    title: str
    input: InputKind
    measures: str
    comparison: Comparison | None
    # Stages whose reference is recomputed for the exact events an implementation processed
    # (per-event peers may run on a prefix of the workload).
    prefix_reference: bool = False
    notes: tuple[str, ...] = field(default=())


STAGES: tuple[Stage, ...] = (
    Stage(
        "simulate",
        "simulate",
        "none",
        "generate the workload's number of events (1,000 items, 7 days) in memory",
        None,
    ),
    Stage(
        "read_csv",
        "read CSV",
        "csv",
        "CSV file (ISO-8601 'Z' timestamps) → typed in-memory event frame",
        EVENTS,
    ),
    Stage(
        "read_parquet",
        "read Parquet",
        "parquet",
        "Parquet file → typed in-memory event frame",
        EVENTS,
    ),
    Stage(
        "stock_levels",
        "stock levels",
        "events",
        "stable sort by ts + per-item running sum of +delivery/−order quantity",
        Comparison(keys=("ts", "item_id", "kind", "quantity", "level")),
    ),
    Stage(
        "resample",
        "resample (dense, 1 min)",
        "events",
        "events → dense 1-minute series per item with demand/orders/supply/deliveries/level",
        Comparison(keys=("item_id", "ts"), exact=BUCKETS),
    ),
    Stage(
        "zscore",
        "zscore (w=60, k=3)",
        "series",
        "dense series → rolling mean/std of the previous 60 buckets, threshold, score, flags",
        Comparison(
            keys=("item_id", "ts"),
            exact=("demand", "history", "sufficient", "flagged"),
            floats=("baseline", "spread", "threshold", "score"),
            tie=("flagged", "demand", "threshold"),
            conditioned=("score", "spread"),
        ),
    ),
    Stage(
        "pipeline",
        "full pipeline",
        "parquet",
        "read Parquet → dense series → zscore → alert episodes",
        Comparison(
            keys=("item_id", "start"),
            exact=("end", "buckets", "peak_demand"),
            lone_tie=("peak_demand", "threshold"),
        ),
    ),
    Stage(
        "incremental",
        "incremental (10k frames)",
        "frames",
        "events pushed in frames of 10,000 → running stock and per-minute buckets",
        Comparison(keys=("item_id", "ts"), exact=BUCKETS, sparse=True),
        prefix_reference=True,
    ),
)

STAGE_BY_NAME = {stage.name: stage for stage in STAGES}
