"""Stable alert ids: BLAKE2b of the item keyed by the settings, mixed with the episode start.

Ids must not change across runs, processes or library versions; everything here is
fixed arithmetic on canonical JSON of the settings (see :func:`params_key`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from stockseries._time import epoch_us as instant_us
from stockseries.alerts.rules import EpisodeRules
from stockseries.spikes.methods import format_every, parse_every, spike_params


def canonical(value: Any) -> Any:
    """JSON-ready value where equal settings spell the same (3 == 3.0, key order)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        return number if math.isfinite(number) else str(number)
    if isinstance(value, timedelta):
        return format_every(value)
    if isinstance(value, Mapping):
        return {str(key): canonical(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    return str(value)


def params_key(params: Mapping[str, Any] | None) -> str:
    return json.dumps(canonical(dict(params or {})), sort_keys=True, separators=(",", ":"))


def epoch_us(start: Any) -> int:
    """Epoch microseconds of an episode start: an integer is taken as microseconds already."""
    if isinstance(start, bool):
        raise TypeError("start must be a datetime or epoch microseconds, not a bool")
    if isinstance(start, int | np.integer):
        return int(start)
    return instant_us(start, "start")


# Ids must not change across runs, processes or library versions, so they are built from
# BLAKE2b and fixed integer arithmetic only -- never pl.hash / hash_rows, whose values Polars
# may change between releases. BLAKE2b runs once per parameter set and once per distinct item
# (thousands at most); the per-episode part is a vectorised 64-bit mixer.
_PERSON = b"stockseries.id1"
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_HEX_PAIRS = np.frombuffer(b"".join(b"%02x" % byte for byte in range(256)), dtype=np.uint16)


def params_digest(key: str) -> bytes:
    return hashlib.blake2b(key.encode(), digest_size=32, person=_PERSON).digest()


def item_hashes(items: Sequence[str], key: str) -> np.ndarray:
    """One 64-bit BLAKE2b hash per item, keyed by the parameters' digest."""
    digest = params_digest(key)
    return np.array(
        [
            int.from_bytes(
                hashlib.blake2b(item.encode(), digest_size=8, key=digest, person=_PERSON).digest(),
                "big",
            )
            for item in items
        ],
        dtype=np.uint64,
    )


def mix64(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser: a bijection of uint64 that spreads every input bit."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def combine(item_hash: np.ndarray, start_us: np.ndarray) -> np.ndarray:
    """Per-episode id numbers; for a fixed item hash, distinct starts never collide."""
    return mix64(item_hash ^ mix64(start_us.astype(np.int64).view(np.uint64)))


def hex16(numbers: np.ndarray) -> pl.Series:
    """``f"{n:016x}"`` for every uint64, as a String Series, without a Python loop."""
    digits = _HEX_PAIRS[numbers.astype(">u8").view(np.uint8)]
    offsets = np.arange(0, 16 * len(numbers) + 1, 16, dtype=np.int32)
    array = pa.Array.from_buffers(
        pa.string(),
        len(numbers),
        [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(digits))],
    )
    return pl.Series("alert_id", array, dtype=pl.String)


def direction_key(key: str, direction: str) -> str:
    """The id key of an episode of ``direction``: the settings' key, marked unless "up"."""
    if direction == "up":
        return key
    if direction != "down":
        raise ValueError(f"an episode's direction is 'up' or 'down', got {direction!r}")
    return key + "|direction=down"


def alert_ids(items: pl.Series, start_us: np.ndarray, key: str) -> pl.Series:
    """The ids of episodes of ``items`` (String, no nulls) starting at ``start_us``."""
    distinct = items.unique()
    hashes = pl.Series(item_hashes(distinct.to_list(), key), dtype=pl.UInt64)
    per_row = items.replace_strict(distinct, hashes, return_dtype=pl.UInt64).to_numpy()
    return hex16(combine(per_row, start_us))


def alert_id(
    item_id: str,
    start: datetime | int,
    params: Mapping[str, Any] | None = None,
    direction: str = "up",
) -> str:
    """The stable id of the episode of ``item_id`` starting at ``start``.

    16 hex digits hashing the item, the start (epoch microseconds; naive
    datetimes are UTC) and the canonical JSON of ``params`` (sorted keys,
    numbers as floats, so ``{"k": 3}`` and ``{"k": 3.0}`` agree): BLAKE2b of
    the item keyed by BLAKE2b of the parameters, mixed with the start by the
    SplitMix64 finaliser -- the same value :func:`alerts` computes vectorised,
    stable across runs, processes and library versions. Use
    :attr:`Alerts.params` (or :func:`alert_params`) as ``params`` to reproduce
    the ids of :func:`alerts`, and the episode's ``direction`` (a drop's id differs from
    a spike's; ``"up"`` ids are those issued before drops could be watched).

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> t = datetime(2024, 1, 1, 6, 10, tzinfo=timezone.utc)
    >>> alert_id("SKU-1", t, {"k": 3}) == alert_id("SKU-1", t, {"k": 3.0})
    True
    >>> alert_id("SKU-1", t, {"k": 3}) == alert_id("SKU-1", t, {"k": 4})
    False
    >>> len(alert_id("SKU-1", t))
    16
    """
    key = direction_key(params_key(params), direction)
    start_us = np.array([epoch_us(start)], dtype=np.int64)
    return str(hex16(combine(item_hashes([str(item_id)], key), start_us))[0])


def alert_params(
    detection: Mapping[str, Any] | None = None,
    *,
    every: str | timedelta,
    merge_gap: int = 0,
    min_buckets: int = 1,
    cooldown: int = 0,
) -> dict[str, Any]:
    """Everything that shapes an episode, as :attr:`Alerts.params` records it.

    ``detection`` (the keyword arguments given to ``detect_spikes``) is
    completed with its defaults by :func:`~stockseries.spikes.spike_params`,
    so spelled-out defaults do not change ids; ``None`` means "not recorded".

    Examples
    --------
    >>> alert_params({"window": 30}, every="1m")["detection"]["min_periods"]
    30
    >>> alert_params(every="1m")
    {'detection': None, 'every': '1m', 'merge_gap': 0, 'min_buckets': 1, 'cooldown': 0}
    """
    rules = EpisodeRules(merge_gap=merge_gap, min_buckets=min_buckets, cooldown=cooldown)
    return {
        "detection": None if detection is None else spike_params(**detection).to_dict(),
        "every": format_every(parse_every(every)),
        **rules.to_dict(),
    }
