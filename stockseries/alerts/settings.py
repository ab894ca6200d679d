"""Settings that travel as one file: detection, episode rules and bucket size together.

``stockseries tune --params-out best.json``, :meth:`TuneResult.params
<stockseries.alerts.TuneResult.params>` and ``SpikeTuner.export_json()`` write a flat JSON
object; :func:`read_settings` reads any of them back into a :class:`Settings` record, and
``stockseries detect/replay --params best.json`` run with it (flags given as well win).
Every output records the settings that produced it (:meth:`Settings.to_dict`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockseries.alerts.rules import EpisodeRules
from stockseries.spikes.methods import Detection, format_every, parse_every, spike_params

__all__ = ["Settings", "read_settings", "settings_from"]

_RULES = ("merge_gap", "min_buckets", "cooldown")
# Keys a settings file may carry that are not settings (SpikeTuner records its selection).
_IGNORED = ("items",)


@dataclass(frozen=True)
class Settings:
    """One detection, its episode rules and (when known) the bucket size.

    Examples
    --------
    >>> s = settings_from({"method": "mad", "window": 30, "merge_gap": 2, "every": "5m"})
    >>> s.detection.method, s.rules.merge_gap, s.every
    ('mad', 2, '5m')
    >>> settings_from(s.to_dict()) == s
    True
    >>> settings_from(s.to_dict(), k=4.0).detection.k
    4.0
    """

    detection: Detection
    rules: EpisodeRules
    every: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The flat JSON form :func:`read_settings` reads (and every output records)."""
        out: dict[str, Any] = {} if self.every is None else {"every": self.every}
        return {**out, **self.detection.to_dict(), **self.rules.to_dict()}

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str)


def settings_from(values: Mapping[str, Any], /, **overrides: Any) -> Settings:
    """A :class:`Settings` from a flat mapping; ``overrides`` (not ``None``) win.

    A ``k`` of ``None`` (what the tuner panel writes for methods that ignore ``k``) means
    the default. Changing ``method`` drops the file's options of the old method. Unknown
    keys raise, naming them.
    """
    merged = {key: value for key, value in values.items() if key not in _IGNORED}
    given = {key: value for key, value in overrides.items() if value is not None}
    if "method" in given and given["method"] != merged.get("method", "zscore"):
        merged = {
            key: merged[key]
            for key in ("column", "k", "min_demand", "smooth", "direction", "every", *_RULES)
            if key in merged
        }
    merged.update(given)
    if merged.get("k", 0) is None:
        merged.pop("k")
    every = merged.pop("every", None)
    rules = EpisodeRules(**{key: merged.pop(key) for key in _RULES if key in merged})
    try:
        detection = spike_params(**merged)
    except TypeError as error:
        raise ValueError(f"settings: {error}") from None
    return Settings(detection, rules, None if every is None else format_every(parse_every(every)))


def read_settings(path: str | Path, /, **overrides: Any) -> Settings:
    """:func:`settings_from` a JSON file (what ``tune --params-out`` / ``export_json`` write)."""
    source = Path(path)
    try:
        values = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"settings file {str(path)!r} does not exist") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"settings file {str(path)!r} is not JSON: {error}") from None
    if not isinstance(values, Mapping):
        raise ValueError(f"settings file {str(path)!r} must hold a JSON object")
    return settings_from(values, **overrides)
