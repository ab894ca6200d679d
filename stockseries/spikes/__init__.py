"""Demand-spike detection: per-bucket baselines, thresholds and flags.

:func:`detect_spikes` adds, to every bucket of a series frame, the baseline the
bucket is compared with, the threshold it must exceed, a score, how much
history the baseline had and whether the bucket is flagged. All items are
processed at once; nothing loops over items or rows in Python.

Every baseline uses only buckets *before* the current one (a spike must not
raise its own bar), and a bucket is only judged once its baseline has
``min_periods`` buckets of history -- before that the explicit
``sufficient=False`` state says "not enough data", which is different from
"not a spike".

Modules: :mod:`~stockseries.spikes.methods` (the method table, :class:`Detection`,
:func:`spike_params`), ``_layout`` (where each item's rows are), ``_baselines``
(what each method knows about the past), ``_decide`` (thresholds, scores, flags, the
detection frame), ``_transform_choice`` (:func:`choose_transform`: which transform the
data call for) and :mod:`~stockseries.spikes.detect` (the public edge).
"""

from stockseries.spikes._transform_choice import TransformChoice, choose_transform
from stockseries.spikes.detect import detect_spikes
from stockseries.spikes.methods import (
    DETECTION_COLUMNS,
    MAD_SCALE,
    METHOD_TABLE,
    METHODS,
    Detection,
    Method,
    Option,
    parse_every,
    spike_params,
)

__all__ = [
    "DETECTION_COLUMNS",
    "MAD_SCALE",
    "METHODS",
    "METHOD_TABLE",
    "Detection",
    "Method",
    "Option",
    "TransformChoice",
    "choose_transform",
    "detect_spikes",
    "parse_every",
    "spike_params",
]
