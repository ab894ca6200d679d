"""Alert episodes from flagged buckets, their evaluation against labels, and tuning.

:func:`alerts` turns the ``flagged`` buckets of :func:`stockseries.spikes.detect_spikes`
into one row per episode with a stable :func:`alert_id`; :func:`evaluate` and
:func:`match_alerts` score episodes against labelled spike windows; :func:`tune`
searches detection parameters for the best score on labelled data.

Alert ids hash the item, the episode start and the parameters that produced
the episode (detection and episode rules, see :func:`alert_params`), so the
same data and settings always give the same ids -- in batch here and in the
live engine -- and a notification sink can deduplicate on them.

Modules: ``_ids`` (stable ids), ``_episodes`` (episode rules and cutting, shared with
the live engine), :mod:`~stockseries.alerts.result` (:class:`Alerts`, :func:`alerts`),
:mod:`~stockseries.alerts.lean` (:func:`detect_alerts`), :mod:`~stockseries.alerts.evaluate`
and :mod:`~stockseries.alerts.tuning`.
"""

from stockseries._schema import ALERT_COLUMNS
from stockseries.alerts._ids import alert_id, alert_params
from stockseries.alerts.evaluate import evaluate, match_alerts
from stockseries.alerts.lean import detect_alerts
from stockseries.alerts.result import Alerts, alerts
from stockseries.alerts.rules import EpisodeRules
from stockseries.alerts.settings import Settings, read_settings, settings_from
from stockseries.alerts.tuning import TuneGrid, TuneResult, tune

__all__ = [
    "ALERT_COLUMNS",
    "Alerts",
    "EpisodeRules",
    "Settings",
    "TuneGrid",
    "TuneResult",
    "alert_id",
    "alert_params",
    "alerts",
    "detect_alerts",
    "evaluate",
    "match_alerts",
    "read_settings",
    "settings_from",
    "tune",
]
