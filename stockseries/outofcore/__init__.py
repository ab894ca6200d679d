"""Larger-than-memory runs: a directory of event files in, Parquet series and alerts out.

:func:`run_out_of_core` computes what ``resample`` + ``detect_spikes`` + ``alerts`` compute in
memory, over a data set that does not fit in memory. It never holds more than one *chunk* of
events: the data set is cut into chunks, each chunk is read, validated, pushed into a
:class:`stockseries.live.StreamProcessor` (the incremental engine whose closed series and alerts
equal the batch ones) and dropped; the closed series rows are streamed to a file as they come.

Chunks
------
* A folder named like a hive partition (``day=2024-01-01/``, also nested:
  ``year=2024/month=01/``) is **one chunk**, all its files together: a partition may hold
  several part files, in any order.
* Any other file (a flat folder of files, a glob, a single file) is a chunk on its own.

Only the four event columns are read (``ts``, ``item_id``, ``kind``, ``quantity``); optional
columns stay on disk. Each chunk must fit in memory (a day of a few tens of millions of events
does), and is sorted by ``ts`` when it is not already.

Order and lateness
------------------
A first pass reads only ``ts`` and gives each chunk its first and last timestamp; chunks are
then processed in order of their first event (ties by name), whatever their file names.
Buckets close as event time advances, so the chunks must not overlap in time by more than the
allowed ``lateness``: an event is *late* when its bucket was closed before its chunk was read,
i.e. when ``ts`` falls in a bucket before that of ``(largest ts of the earlier chunks) −
lateness``. Day partitions of a time-ordered export never overlap. Overlaps are found by the
first pass, **before** anything is processed, and by default raise a :class:`ChunkOrderError`
that names the chunks and the smallest lateness that would accept them. With
``on_late="set_aside"`` the run goes on instead; late events are counted
(:attr:`OutOfCoreResult.late`), kept in :attr:`OutOfCoreResult.late_events` and left out of the
series and alerts, exactly as the live engine does. They are never dropped silently.

When no event is late the result equals the in-memory pipeline on the same events: the same
series rows and the same alerts (ids included).

Writing data sets
-----------------
:func:`write_partitioned` writes an event frame as ``day=YYYY-MM-DD/part-N.parquet`` folders;
:func:`generate_dataset` simulates any number of events day by day straight to such a folder
(the input of the 200-million-event benchmark, ``benchmarks/OUT_OF_CORE.md``).

Modules: :mod:`~stockseries.outofcore.pipeline` (:func:`run_out_of_core`),
:mod:`~stockseries.outofcore.chunks` (grouping files, spans, order),
:mod:`~stockseries.outofcore.writer` (streaming the series),
:mod:`~stockseries.outofcore.datasets` (:func:`write_partitioned`, :func:`generate_dataset`)
and :mod:`~stockseries.outofcore.results`.
"""

from __future__ import annotations

from stockseries.outofcore.datasets import (
    ITEM_BUCKET,
    PartitionBy,
    WriteMode,
    generate_dataset,
    write_partitioned,
)
from stockseries.outofcore.pipeline import OnLate, first_suppliers, run_out_of_core
from stockseries.outofcore.results import ChunkOrderError, GeneratedDataset, OutOfCoreResult

__all__ = [
    "ITEM_BUCKET",
    "ChunkOrderError",
    "GeneratedDataset",
    "OnLate",
    "OutOfCoreResult",
    "PartitionBy",
    "WriteMode",
    "first_suppliers",
    "generate_dataset",
    "run_out_of_core",
    "write_partitioned",
]
