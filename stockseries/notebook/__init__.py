"""Notebook user interface: Altair charts, rendering, and the ipywidgets panels.

Needs the ``notebook`` extra (Altair, vl-convert, ipywidgets). The modules:

========================  ============================================================
``charts``                demand and stock-level charts per item
``alert_charts``          alert timeline, alerts against labels, precision/recall vs k
``render``                offline renderers, SVG rendering, showing charts in widgets
``debounce``              one call after a burst of widget changes
``tuner``                 :class:`SpikeTuner`, the tuning panel
``dashboard``             :class:`LiveDashboard`, a live pipeline shown as it runs
``planning``              :func:`plan_chart`, :func:`risk_chart`, :class:`PlanPanel`
========================  ============================================================

The old paths ``stockseries.charts``, ``stockseries.widgets`` and
``stockseries.dashboard`` re-export these names.
"""

from stockseries.notebook import (
    alert_charts,
    charts,
    dashboard,
    debounce,
    planning,
    render,
    tuner,
)
from stockseries.notebook.alert_charts import *  # noqa: F403
from stockseries.notebook.charts import *  # noqa: F403
from stockseries.notebook.dashboard import *  # noqa: F403
from stockseries.notebook.debounce import *  # noqa: F403
from stockseries.notebook.planning import *  # noqa: F403
from stockseries.notebook.render import *  # noqa: F403
from stockseries.notebook.tuner import *  # noqa: F403

__all__ = [
    *alert_charts.__all__,
    *charts.__all__,
    *dashboard.__all__,
    *debounce.__all__,
    *planning.__all__,
    *render.__all__,
    *tuner.__all__,
]
