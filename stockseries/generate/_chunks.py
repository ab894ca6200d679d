"""How many elements each pass over a whole event array handles at a time."""

from __future__ import annotations

#: Elements per step of the passes over whole event arrays: their temporaries stay small
#: (and in cache) instead of costing several event-sized arrays at large sizes. Read through
#: :func:`chunk_size` at call time, so tests can shrink it to exercise the chunk boundaries.
CHUNK = 1 << 20


def chunk_size() -> int:
    """The current chunk size (a multiple of 8, :data:`CHUNK`)."""
    return CHUNK
