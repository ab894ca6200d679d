"""When will it run out, and how much to order: forecasts, reorder points, stock-out risk.

The forward-looking half of stockseries. All functions take a series from
:func:`stockseries.resample` and a catalog with lead times (per item or per supplier), and
return one row per item (or risk alert episodes), pandas in → pandas out.

* :func:`demand_forecast` — expected demand over a horizon and its σ, from the detection
  baselines (rolling mean, EWMA).
* :func:`reorder_points` — safety stock, reorder point, order-up-to level, suggested order.
* :func:`stockout_risk` — cover, projected stock-out time, P(out before the lead time ends).
* :func:`risk_alerts` / :class:`RiskMonitor` — ``kind="stockout_risk"`` alert episodes, batch
  and live (equal), delivered by the same sinks as demand spikes, idempotent by ``alert_id``.
"""

from stockseries.planning._catalog import CatalogError, read_catalog
from stockseries.planning._settings import PlanSettings
from stockseries.planning.forecast import FORECAST_COLUMNS, demand_forecast
from stockseries.planning.monitor import RiskMonitor
from stockseries.planning.policy import REORDER_COLUMNS, reorder_points
from stockseries.planning.risk import (
    RISK_ALERT_COLUMNS,
    RISK_COLUMNS,
    risk_alerts,
    stockout_risk,
)

__all__ = [
    "FORECAST_COLUMNS",
    "REORDER_COLUMNS",
    "RISK_ALERT_COLUMNS",
    "RISK_COLUMNS",
    "CatalogError",
    "PlanSettings",
    "RiskMonitor",
    "demand_forecast",
    "read_catalog",
    "reorder_points",
    "risk_alerts",
    "stockout_risk",
]
