"""Altair charts (old import path): see :mod:`stockseries.notebook`."""

from stockseries.notebook.alert_charts import (
    OUTCOME_COLORS,
    alert_timeline,
    classify,
    evaluation_chart,
    pr_curve,
)
from stockseries.notebook.charts import (
    DEMAND_TITLE,
    LEVEL_TITLE,
    TIME_TITLE,
    AnyChart,
    demand_chart,
    level_chart,
)
from stockseries.notebook.render import enable_offline, to_svg

__all__ = [
    "DEMAND_TITLE",
    "LEVEL_TITLE",
    "OUTCOME_COLORS",
    "TIME_TITLE",
    "AnyChart",
    "alert_timeline",
    "classify",
    "demand_chart",
    "enable_offline",
    "evaluation_chart",
    "level_chart",
    "pr_curve",
    "to_svg",
]
