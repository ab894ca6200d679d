"""Replenishment views: an item's level with its projected path and policy lines, the risk
ranking across items, and :class:`PlanPanel` to try service levels and lead times.

Charts are values (``alt.LayerChart``); the panel is a thin ipywidgets shell over
:func:`stockseries.reorder_points` and :func:`stockseries.stockout_risk`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import altair as alt
import ipywidgets as widgets
import polars as pl

from stockseries.notebook._chartdata import (
    as_frame,
    require,
    time_x,
    tooltips_for,
    vega_rows,
    with_utc_text,
)
from stockseries.notebook.render import show_chart, show_text
from stockseries.planning import reorder_points, stockout_risk

__all__ = ["PlanPanel", "plan_chart", "risk_chart"]

#: Legend entries and their colours, in legend order.
_MARKS = {
    "stock level": "#1f77b4",
    "projected at the current rate": "#1f77b4",
    "reorder point": "#ff7f0e",
    "safety stock": "#2ca02c",
    "order-up-to level": "#7f7f7f",
}


def plan_chart(
    series: Any, plan: Any, item: str, *, horizon: str | timedelta | None = None
) -> alt.LayerChart:
    """The item's stock level, its projected path at the current rate and the policy lines.

    Parameters
    ----------
    series : frame
        The series the plan was made from (``item_id``, ``ts``, ``level``).
    plan : frame
        :func:`stockseries.reorder_points` output (the ``daily_rate`` and policy columns).
    item : str
        Which item to draw.
    horizon : duration, optional
        How far to project; default: lead time + review period (at least to the stock-out).

    Returns
    -------
    altair.LayerChart
        Tooltips on every mark, a legend for every mark, zoom and pan on the time axis.

    Examples
    --------
    >>> import stockseries as ss
    >>> sim = ss.simulate(2, days=1, seed=1)
    >>> series = ss.resample(sim.events, "10m")
    >>> plan = ss.reorder_points(series, sim.catalog, window="6h")
    >>> type(plan_chart(series, plan, "A000")).__name__
    'LayerChart'
    """
    history = as_frame(series, "series")
    require(history, ("item_id", "ts", "level"), "series")
    table = as_frame(plan, "plan")
    require(table, ("item_id", "as_of", "level", "daily_rate", "reorder_point"), "plan")
    row = table.filter(pl.col("item_id") == item)
    if row.is_empty():
        raise ValueError(
            f"item {item!r} is not in the plan; it has {table['item_id'].head(5).to_list()}"
        )
    mine = history.filter(pl.col("item_id") == item).select("ts", "level")
    lines = _projection(row.row(0, named=True), horizon)
    level = with_utc_text(mine.with_columns(what=pl.lit("stock level")), ["ts"])
    color = alt.Color(
        "what:N",
        title=None,
        scale=alt.Scale(domain=list(_MARKS), range=list(_MARKS.values())),
        legend=alt.Legend(orient="bottom", columns=3),
    )
    zoom = alt.selection_interval(bind="scales", encodings=["x"])
    past = (
        alt.Chart(vega_rows(level))
        .mark_line()
        .encode(
            time_x("ts"),
            alt.Y("level:Q", title="units in stock"),
            color,
            tooltip=tooltips_for(level.drop("what")),
        )
        .add_params(zoom)
    )
    path = with_utc_text(lines["path"], ["ts"])
    ahead = (
        alt.Chart(vega_rows(path))
        .mark_line(strokeDash=[6, 4])
        .encode(time_x("ts"), alt.Y("level:Q"), color, tooltip=tooltips_for(path.drop("what")))
    )
    rules = (
        alt.Chart(vega_rows(lines["rules"]))
        .mark_rule(strokeDash=[2, 2])
        .encode(alt.Y("units:Q"), color, tooltip=tooltips_for(lines["rules"]))
    )
    return alt.LayerChart(
        layer=[past, ahead, rules],
        title=f"{item}: stock, projection and reorder lines",
        width=620,
        height=220,
    )


def _projection(row: dict[str, Any], horizon: str | timedelta | None) -> dict[str, pl.DataFrame]:
    from stockseries._time import duration_us

    as_of, level, rate = row["as_of"], row["level"], row["daily_rate"] or 0.0
    lead = row.get("lead_time") or timedelta(0)
    review = row.get("review_period") or timedelta(0)
    span = timedelta(microseconds=duration_us(horizon, "horizon")) if horizon else lead + review
    if rate > 0 and level > 0:
        span = max(span, timedelta(days=level / rate))
    end = as_of + span
    path = pl.DataFrame(
        {
            "ts": [as_of, end],
            "level": [float(level), float(level) - rate * span / timedelta(days=1)],
            "what": ["projected at the current rate"] * 2,
        }
    ).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))
    rules = pl.DataFrame(
        {
            "what": ["reorder point", "safety stock", "order-up-to level"],
            "units": [row.get("reorder_point"), row.get("safety_stock"), row.get("order_up_to")],
        },
        schema={"what": pl.String, "units": pl.Float64},
    ).drop_nulls()
    return {"path": path, "rules": rules}


def risk_chart(risk: Any, service_level: float = 0.95) -> alt.LayerChart:
    """Items ranked by the probability of running out within their lead time.

    The rule marks ``1 − service_level``: bars beyond it are at risk. Tooltips carry cover,
    projected stock-out and the suggested order.
    """
    table = as_frame(risk, "risk")
    require(table, ("item_id", "p_stockout"), "risk")
    shown = with_utc_text(
        table.drop_nulls("p_stockout").sort("p_stockout", descending=True).head(40),
        ["projected_stockout", "order_by"],
    ).with_columns(
        what=pl.when(pl.col("p_stockout") > 1 - service_level)
        .then(pl.lit("at risk"))
        .otherwise(pl.lit("covered"))
    )
    bars = (
        alt.Chart(vega_rows(shown))
        .mark_bar()
        .encode(
            alt.X(
                "p_stockout:Q",
                title="P(out before a delivery ordered now arrives)",
                scale=alt.Scale(domain=[0, 1]),
            ),
            alt.Y("item_id:N", sort="-x", title=None),
            alt.Color(
                "what:N",
                title=None,
                scale=alt.Scale(domain=["at risk", "covered"], range=["#d62728", "#9ecae1"]),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=tooltips_for(shown.drop("what")),
        )
    )
    bar = pl.DataFrame({"limit": [1 - service_level]})
    rule = (
        alt.Chart(vega_rows(bar))
        .mark_rule(color="black", strokeDash=[4, 3])
        .encode(
            alt.X("limit:Q"),
            tooltip=[alt.Tooltip("limit:Q", title="1 − service level", format=".3f")],
        )
    )
    return alt.LayerChart(layer=[bars, rule], title="Stock-out risk by item", width=520)


class PlanPanel:
    """Try service levels and lead times and see which items cross their reorder point.

    A thin shell: every change recomputes :func:`stockseries.reorder_points` and
    :func:`stockseries.stockout_risk` on the given series and shows the at-risk table, the
    risk ranking and the selected item's :func:`plan_chart`. *Lead time*, when filled in,
    replaces every item's lead time (a what-if: "if the supplier took 3 d"); empty, the
    catalog's lead times apply.

    Examples
    --------
    >>> import stockseries as ss
    >>> sim = ss.simulate(3, days=1, seed=2)
    >>> panel = PlanPanel(ss.resample(sim.events, "10m"), sim.catalog, window="6h")
    >>> panel.plan.height, panel.service_level.value
    (3, 0.95)
    >>> panel.service_level.value = 0.99
    >>> bool((panel.plan["safety_stock"] >= 0).all())
    True
    """

    def __init__(
        self,
        series: Any,
        catalog: Any = None,
        *,
        service_level: float = 0.95,
        window: str = "1d",
        lead_time: str | None = None,
    ) -> None:
        self._series = as_frame(series, "series")
        self._catalog = catalog
        items = self._series["item_id"].unique().sort().to_list()
        self.service_level = widgets.FloatSlider(
            value=service_level,
            min=0.5,
            max=0.999,
            step=0.005,
            description="Service level",
            readout_format=".3f",
            continuous_update=False,
        )
        self.window = widgets.Text(value=window, description="Rate window")
        self.lead_time = widgets.Text(
            value=lead_time or "",
            description="Lead time",
            placeholder="from the catalog",
        )
        self.item = widgets.Dropdown(options=items, description="Item")
        self.message = widgets.HTML()
        self.table = widgets.Output()
        self.risk = widgets.Output()
        self.item_chart = widgets.Output()
        for control in (self.service_level, self.window, self.lead_time, self.item):
            control.observe(lambda _change: self.refresh(), names="value")
        controls = widgets.HBox([self.service_level, self.window, self.lead_time])
        self.widget = widgets.VBox(
            [
                controls,
                self.message,
                self.table,
                widgets.HBox([self.risk, widgets.VBox([self.item, self.item_chart])]),
            ]
        )
        self.plan = pl.DataFrame()
        self.refresh()

    def refresh(self) -> None:
        """Recompute the plan with the controls' values and redraw."""
        what_if = self.lead_time.value.strip() or None
        catalog = self._catalog_with(what_if)
        settings = {
            "service_level": self.service_level.value,
            "window": self.window.value,
            "lead_time": what_if,
        }
        try:
            plan = reorder_points(self._series, catalog, **settings)
            risk = stockout_risk(self._series, catalog, **settings)
        except (ValueError, TypeError) as err:
            self.message.value = f"<b>Cannot plan:</b> {err}"
            return
        self.plan = plan.join(
            risk.select("item_id", "p_stockout", "at_risk", "cover", "projected_stockout"),
            on="item_id",
        )
        crossing = self.plan.filter(
            pl.col("order_now").fill_null(False) | pl.col("at_risk").fill_null(False)
        )
        self.message.value = (
            f"{crossing.height} of {self.plan.height} item(s) at or below their reorder point "
            f"or at risk at service level {self.service_level.value:.3f}"
        )
        show_text(
            self.table,
            str(
                crossing.select(
                    "item_id", "level", "reorder_point", "order_quantity", "p_stockout", "cover"
                )
            )
            if crossing.height
            else "no item crosses",
        )
        show_chart(self.risk, risk_chart(risk, self.service_level.value))
        if self.item.value is not None:
            show_chart(self.item_chart, plan_chart(self._series, plan, self.item.value))

    def _catalog_with(self, lead_time: str | None) -> Any:
        """The catalog, without its lead times when the panel overrides them."""
        if lead_time is None or self._catalog is None:
            return self._catalog
        frame = as_frame(self._catalog, "catalog")
        return frame.drop("lead_time", strict=False)

    @property
    def chart(self) -> alt.LayerChart | None:
        """The selected item's :func:`plan_chart` (what the panel's picture shows)."""
        if self.item.value is None or self.plan.is_empty():
            return None
        return plan_chart(self._series, self.plan, self.item.value)

    def picture_caption(self) -> list[str]:
        """Title lines of the panel's picture (and its text in a stored notebook)."""
        return [
            f"PlanPanel: service level {self.service_level.value:.3f}, window {self.window.value}",
            self.message.value.replace("<b>", "").replace("</b>", ""),
        ]

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        from stockseries._display import panel_bundle

        return panel_bundle(self, self.widget, **kwargs)

    def __repr__(self) -> str:
        return f"PlanPanel(items={self.plan.height}, service_level={self.service_level.value:.3f})"
