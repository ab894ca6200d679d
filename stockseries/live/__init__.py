"""Live streams: async event sources and an incremental processor equal to batch.

Two halves:

* **Async sources** (:func:`order_source`, :func:`delivery_source`, :func:`replay_source`,
  :func:`frame_source`) yield *event frames* — never single events — paced by a virtual clock
  (as fast as possible) or by the wall clock at ``speed``× (``await asyncio.sleep``; no thread is
  ever blocked). :func:`merge_sources` merges any number of them into event-time order through
  bounded queues, so a slow consumer slows the producers down and nothing is lost.
* :class:`StreamProcessor` turns pushed frames into running stock levels, closed series rows,
  detection columns and alert episodes. Its contract: for any split of the input into frames
  and any reordering within the allowed lateness, the closed series and the closed alerts after
  :meth:`StreamProcessor.flush` equal :func:`stockseries.series.resample` +
  :func:`stockseries.spikes.detect_spikes` + :func:`stockseries.alerts.alerts` run in batch on
  the same events.

The package's modules, one idea each:

========================  ====================================================================
``sources``               generated, in-memory and recorded sources, pacing
``merge``                 :func:`merge_sources`: k-way merge with back-pressure
``processor``             :class:`StreamProcessor`: settings, views, push/tick/flush, save/load
``settings``              detection and episode rules as records (or keywords)
``engine``                the parts below wired together, and the position in event time
``registry``              items in slots, every per-item array (struct of arrays, one ``grow``)
``intake``                lateness, running stock, late corrections
``buckets``               open buckets' partial sums
``history``               retained closed buckets the detector reads again
``closing``               closing buckets into series rows
``detection``             detection on closing buckets, equal to the batch detector
``episodes``              alert episodes by the batch rules
``checkpoint``            checkpoint files, :class:`CheckpointError`
``run``                   the one async run loop, :func:`run_stream`
``replay``                :func:`replay_file` (``stockseries replay``), resumable by content
``results``               :class:`StepResult` and the frames' schemas
``times``                 event-time helpers
========================  ====================================================================
"""

from __future__ import annotations

from typing import Any

from stockseries.live.checkpoint import CheckpointError
from stockseries.live.merge import merge_sources
from stockseries.live.processor import StreamProcessor
from stockseries.live.replay import replay_file
from stockseries.live.results import StepResult
from stockseries.live.run import run_stream
from stockseries.live.sources import delivery_source, frame_source, order_source, replay_source

__all__ = [
    "CheckpointError",
    "StepResult",
    "StreamProcessor",
    "delivery_source",
    "frame_source",
    "merge_sources",
    "order_source",
    "replay_file",
    "replay_source",
    "run_stream",
]

#: Broker sources live in :mod:`stockseries.brokers` (optional clients); named here too.
_BROKER_NAMES = ("kafka_source", "redis_source")


def __getattr__(name: str) -> Any:
    if name in _BROKER_NAMES:
        from stockseries import brokers

        return getattr(brokers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
