"""The processor's settings as records: a :class:`Detection` and :class:`EpisodeRules`.

:class:`~stockseries.live.StreamProcessor` takes them as records
(``StreamProcessor("1m", detection, rules)``) or, as before, as keywords
(``StreamProcessor("1m", "mad", window=30, merge_gap=2)``); both end here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stockseries.alerts.rules import EpisodeRules
from stockseries.spikes.methods import Detection, spike_params

__all__ = ["DETECTION_DEFAULTS", "RULE_DEFAULTS", "detection_of", "rules_of"]

#: The processor's detection keywords and their defaults.
DETECTION_DEFAULTS: dict[str, Any] = {
    "window": None,
    "k": None,
    "min_periods": None,
    "min_demand": 0,
}
#: The processor's episode keywords and their defaults.
RULE_DEFAULTS: dict[str, Any] = {"merge_gap": 0, "min_buckets": 1, "cooldown": 0}


def detection_of(
    detection: str | Mapping[str, Any] | None, keywords: dict[str, Any], options: dict[str, Any]
) -> Detection:
    """The canonical :class:`Detection` of a record, or of a method name and keywords.

    ``keywords`` are the detection keywords (``window``, ``k``, ...), ``options`` the
    method's own (``q``, ``period``, ..., and ``method`` itself when given by name).
    """
    method = options.pop("method", None)
    if isinstance(detection, Mapping):
        given = [k for k, v in keywords.items() if v != DETECTION_DEFAULTS[k]] + list(options)
        if method is not None or given:
            raise TypeError(
                "pass the detection as a record or as keywords, not both "
                f"(got a {type(detection).__name__} and {', '.join(given or ['method'])})"
            )
        return spike_params(**detection)
    if detection is not None and method is not None:
        raise TypeError("the method is given twice (as the second argument and as method=)")
    name = detection if detection is not None else (method or "zscore")
    return spike_params(name, **keywords, **options)


def rules_of(rules: Mapping[str, Any] | None, keywords: dict[str, Any]) -> EpisodeRules:
    """The :class:`EpisodeRules` of a record, or of ``merge_gap``/``min_buckets``/``cooldown``."""
    if rules is None:
        return EpisodeRules(**keywords)
    given = [k for k, v in keywords.items() if v != RULE_DEFAULTS[k]]
    if given:
        raise TypeError(
            f"pass the episode rules as a record or as keywords, not both (got {', '.join(given)})"
        )
    return rules if isinstance(rules, EpisodeRules) else EpisodeRules(**rules)
