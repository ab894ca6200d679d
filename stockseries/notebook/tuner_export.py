"""Exports of the tuner: settings as JSON, alerts, and the alerts marked true as labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from stockseries._frames import frame_of
from stockseries._io import atomic_write
from stockseries._schema import ITEM
from stockseries.notebook.tuner_compute import write_frame

__all__ = ["TunerExports"]


class TunerExports:
    """What :class:`~stockseries.notebook.tuner.SpikeTuner` writes out (a mixin).

    Reads the tuner's ``params``, ``alerts`` and ``feedback``.
    """

    params: dict[str, Any]
    alerts: Any
    feedback: dict[str, bool]

    def export_params(self) -> dict[str, Any]:
        """Parameters of the last computation, JSON-friendly.

        ``method``, ``window``, ``k``, ``min_demand``, ``smooth`` and the method's
        options go to ``detect_spikes``; ``every``, ``merge_gap``, ``cooldown`` to
        ``alerts``; ``items`` records the selection. ``k`` is ``None`` for methods that
        ignore it.
        """
        return dict(self.params)

    def export_json(self, path: str | Path | None = None) -> str:
        """:meth:`export_params` as JSON text (also written to ``path`` when given)."""
        text = json.dumps(self.export_params(), indent=2, sort_keys=True)
        if path is not None:
            atomic_write(path, text + "\n")
        return text

    def export_alerts(self, path: str | Path | None = None) -> pl.DataFrame:
        """The last alerts frame; with ``path``, also written (CSV, Parquet or NDJSON)."""
        frame = frame_of(self.alerts)
        if path is not None:
            write_frame(frame, path)
        return frame

    def export_labels(self, path: str | Path | None = None) -> pl.DataFrame:
        """The alerts marked true in the panel, as a labels frame (``item_id``, ``start``, ``end``).

        Alerts marked false are left out (labels list true events); alerts of an earlier
        setting that were marked keep their marks. With ``path`` the frame is also
        written (CSV, Parquet or NDJSON), ready for ``tune`` and ``evaluate``.
        """
        frame = frame_of(self.alerts)
        true_ids = [alert_id for alert_id, verdict in self.feedback.items() if verdict]
        labels = (
            frame.filter(pl.col("alert_id").is_in(true_ids))
            .select(ITEM, "start", "end")
            .sort(ITEM, "start")
        )
        if path is not None:
            write_frame(labels, path)
        return labels
