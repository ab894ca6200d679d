"""Which partition (or Redis stream) an item goes to: Kafka's default partitioner.

One item always lands on one partition, so consumers that split the partitions between them
each see every event of their items.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["murmur2", "partition_of"]


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash (the Java client's default partitioner), as an unsigned 32-bit int."""
    m, seed = 0x5BD1E995, 0x9747B28C
    length = len(data)
    h = (seed ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = length - length % 4
    extra = length % 4
    if extra >= 3:
        h ^= data[tail + 2] << 16
    if extra >= 2:
        h ^= data[tail + 1] << 8
    if extra >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def partition_of(items: Iterable[str], partitions: int) -> dict[str, int]:
    """Partition of each item id: ``murmur2(item_id) mod partitions`` as Kafka's Java clients.

    Examples
    --------
    >>> partition_of(["A000", "A001"], 4)
    {'A000': 0, 'A001': 1}
    """
    return {item: (murmur2(item.encode()) & 0x7FFFFFFF) % partitions for item in items}
