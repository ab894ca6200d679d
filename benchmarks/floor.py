"""The physical floor: one NumPy pass over every byte of a stage's input.

Nothing can process the input faster than it can be read once, so each stage's table shows
how many times slower than this pass an implementation is. In-memory inputs are summed as
64-bit words over every Arrow buffer (values, validity, offsets, string data); file inputs
(CSV, Parquet) are summed over the file's bytes through a memory map (page cache, no copy).
"""

from __future__ import annotations

from pathlib import Path

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


def file_pass(path: Path) -> int:
    return _words_sum(np.memmap(path, dtype=np.uint8, mode="r"))


simulate = column_pass
stock_levels = column_pass
resample = column_pass
zscore = column_pass
incremental = column_pass
read_csv = file_pass
read_parquet = file_pass
pipeline = file_pass
