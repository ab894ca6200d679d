"""Episode rules as a frozen record: how flagged buckets become alert episodes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["EpisodeRules"]


@dataclass(frozen=True)
class EpisodeRules(Mapping[str, Any]):
    """How flagged buckets are grouped into alert episodes (all counts in buckets).

    Reads like the keyword arguments it stands for: ``alerts(detected, **rules)``.

    Attributes
    ----------
    merge_gap : int
        Flagged buckets at most this many buckets apart belong to one episode.
    min_buckets : int
        Episodes shorter than this are dropped.
    cooldown : int
        After a reported episode of an item, episodes of that item starting within this
        many buckets of its end are dropped.

    Examples
    --------
    >>> EpisodeRules(merge_gap=2)
    EpisodeRules(merge_gap=2, min_buckets=1, cooldown=0)
    >>> dict(EpisodeRules(cooldown=5))
    {'merge_gap': 0, 'min_buckets': 1, 'cooldown': 5}
    >>> EpisodeRules(min_buckets=0)
    Traceback (most recent call last):
    ...
    ValueError: min_buckets must be an integer >= 1 (buckets), got 0
    """

    merge_gap: int = 0
    min_buckets: int = 1
    cooldown: int = 0

    def __post_init__(self) -> None:
        for name, low in (("merge_gap", 0), ("min_buckets", 1), ("cooldown", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
                raise ValueError(f"{name} must be an integer >= {low} (buckets), got {value!r}")
            object.__setattr__(self, name, int(value))

    def to_dict(self) -> dict[str, int]:
        """``merge_gap``, ``min_buckets``, ``cooldown`` as a plain dict."""
        return asdict(self)

    def __getitem__(self, key: str) -> Any:
        if key not in ("merge_gap", "min_buckets", "cooldown"):
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(("merge_gap", "min_buckets", "cooldown"))

    def __len__(self) -> int:
        return 3

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self.to_dict() == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.merge_gap, self.min_buckets, self.cooldown))
