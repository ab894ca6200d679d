"""The physical floor: one NumPy pass over every byte of a stage's input.

Nothing can process the data faster than it can read it once, so each stage's table shows
how many times slower than this pass an implementation is. The pass sums, as 64-bit words,
every Arrow buffer (values, validity, offsets, string data) of the stage's data in memory: the
dense series for zscore, the events for every other stage (for the readers and the pipeline
that is the decoded content of the file; for simulate, what it produces).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

NATIVE = "arrow"


def _words_sum(buffer: memoryview | pa.Buffer | np.ndarray) -> int:
    raw = np.frombuffer(buffer, dtype=np.uint8)
    whole = len(raw) // 8 * 8
    # uint64 sums wrap around silently: we want the memory traffic, not the number.
    return int(raw[:whole].view(np.uint64).sum()) + int(raw[whole:].sum())


def column_pass(table: pa.Table) -> int:
    total = 0
    for column in table.columns:
        for chunk in column.chunks:
            for buffer in chunk.buffers():
                if buffer is not None:
                    total += _words_sum(buffer)
    return total


simulate = column_pass
read_csv = column_pass
read_parquet = column_pass
stock_levels = column_pass
resample = column_pass
zscore = column_pass
pipeline = column_pass
incremental = column_pass
