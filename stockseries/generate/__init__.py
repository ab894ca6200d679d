"""Seeded, vectorised simulators of inventory event streams.

Every generator draws from a :class:`numpy.random.Generator` derived from ``seed`` (and from
the generator's own name, so two generators given the same seed are still independent), does
all its random draws as whole NumPy arrays and builds the output frame once. The same
arguments always give the same frame.

The outputs are canonical event frames (see ``ARCHITECTURE.md``): ``ts``
(``Datetime("us", "UTC")``), ``item_id``, ``kind`` (``"order"``/``"delivery"``),
``quantity`` (``Int64`` > 0), plus ``event_id`` (unique and deterministic), ``customer_id``
on orders and ``supplier_id`` on deliveries. Rows are sorted by ``ts``.

* :func:`catalog` - items with descriptions, suppliers, popularity and order rates.
* :func:`timed_orders`, :func:`random_deliveries` - the two streams of the original
  core.async blog post: one order per tick, deliveries after uniform random waits.
* :func:`poisson_demand` - Poisson orders per item with a daily cycle.
* :func:`inject_spikes` - extra orders that multiply demand in labelled windows.
* :func:`simulate` - all of the above plus replenishing deliveries, in one call.
* :func:`merge_streams`, :func:`iter_frames` - combine streams, replay them in frames.

Times are ISO strings (naive means UTC), :class:`datetime.datetime` (pandas timestamps
included) or :class:`numpy.datetime64`; durations are Polars duration strings (``"90s"``,
``"1h30m"``) or :class:`datetime.timedelta`.
"""

from __future__ import annotations

from stockseries.generate._catalog import catalog
from stockseries.generate._merge import merge_streams
from stockseries.generate._realism import Realism
from stockseries.generate._replay import iter_frames
from stockseries.generate._simulation import Simulation, simulate
from stockseries.generate._spikes import inject_spikes
from stockseries.generate._streams import poisson_demand, random_deliveries, timed_orders
from stockseries.generate._types import SPIKE_GAP as SPIKE_GAP
from stockseries.generate._types import SPIKE_WARMUP as SPIKE_WARMUP

__all__ = [
    "Realism",
    "Simulation",
    "catalog",
    "inject_spikes",
    "iter_frames",
    "merge_streams",
    "poisson_demand",
    "random_deliveries",
    "simulate",
    "timed_orders",
]
