"""The planning settings as one frozen record, validated once at the public edge."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, Literal

from stockseries._time import duration_us, format_duration

__all__ = ["PlanSettings", "plan_settings"]

Service = Literal["fill", "cycle"]


@dataclass(frozen=True)
class PlanSettings:
    """How demand is estimated and how much protection is wanted.

    Attributes
    ----------
    service_level : float
        Target in (0, 1). With ``service="fill"`` the share of demand served from stock (the
        fill rate, β service); with ``service="cycle"`` the probability of no stock-out
        during a replenishment cycle (α service).
    service : {"fill", "cycle"}
        Which of the two the target means.
    window_us : int
        Trailing window the demand rate and its variance are estimated over.
    min_periods : int
        Buckets of history an item needs before it is planned or judged at risk.
    """

    service_level: float = 0.95
    service: Service = "fill"
    window_us: int = 86_400_000_000
    min_periods: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able settings (durations as strings), recorded in outputs and alert ids."""
        out = asdict(self)
        out["window"] = format_duration(out.pop("window_us"))
        return out


def plan_settings(
    service_level: float = 0.95,
    service: str = "fill",
    window: str | timedelta = "1d",
    min_periods: int | None = None,
) -> PlanSettings:
    """Validate keyword settings into a :class:`PlanSettings`."""
    if isinstance(service_level, bool) or not isinstance(service_level, int | float):
        raise TypeError(f"service_level must be a number, got {service_level!r}")
    if not 0.5 <= float(service_level) < 1.0:
        raise ValueError(
            f"service_level must be in [0.5, 1), got {service_level!r} (e.g. 0.95 or 0.99)"
        )
    if service not in ("fill", "cycle"):
        raise ValueError(f"service must be 'fill' or 'cycle', got {service!r}")
    if min_periods is not None and (
        isinstance(min_periods, bool) or not isinstance(min_periods, int) or min_periods < 2
    ):
        raise ValueError(f"min_periods must be an integer >= 2, got {min_periods!r}")
    chosen: Service = "fill" if service == "fill" else "cycle"
    return PlanSettings(float(service_level), chosen, duration_us(window, "window"), min_periods)
