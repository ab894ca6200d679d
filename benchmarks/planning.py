"""Replenishment backtest: following stockseries' suggested orders on simulated demand.

Run ``python -m benchmarks.planning [--items 200] [--days 360] [--seed 0]``; writes
``benchmarks/PLANNING.md``.

Simulated world (daily buckets, every item independent):

* demand: negative binomial around a per-item mean (lognormal, 5–60 units/day), dispersion
  ``var = m + m²/r`` with ``r = 4`` (over-dispersed like real orders), plus demand spikes
  (about three a year per item, 2–6 days, ×2–×4) that no policy is told about;
* lead times 2, 3, 5 or 7 days per item (the catalog's ``lead_time``), review every day,
  orders arrive after exactly the lead time; unmet demand is back-ordered (negative stock);
* fill rate = demand served from stock on hand / demand, over the second half.

Policies, each run on the same demand:

* **stockseries** — every day, :func:`stockseries.reorder_points` on the series so far
  (trailing ``window`` of 28 days, fill-rate service), order ``order_quantity``;
* **fixed rule, tuned** — an order-up-to level per item, ``S = m·(L+R) + k·σ·sqrt(L+R)``
  with ``m``, ``σ`` measured on the first half and one ``k`` tuned on the first half (the
  smallest k on a grid reaching the target there), then held fixed;
* **textbook (R, S) from the true parameters** — the same formula with the generating
  process' true mean and variance (spikes excluded, as a planner would not know them) and
  the fill-rate safety factor from the standard normal loss function.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

import stockseries as ss
from benchmarks.report import machine, versions
from stockseries.planning import _normal

OUT = Path(__file__).with_name("PLANNING.md")
LEADS = np.array([2, 3, 5, 7])
DISPERSION = 4.0
WINDOW_DAYS = 56
#: Spike regimes: (spikes per item-year, (min, max) days, (min, max) multiplier).
SCENARIOS = {
    "Moderate spikes (the acceptance scenario)": (2.0, (1, 3), (1.5, 2.5)),
    "No spikes": (0.0, (1, 1), (1.0, 1.0)),
    "Heavy spikes (stress test)": (3.0, (2, 6), (2.0, 4.0)),
}
T0 = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class World:
    demand: np.ndarray  # (days, items) int64
    mean: np.ndarray  # true base mean per item
    variance: np.ndarray  # true base variance per item
    lead: np.ndarray  # lead time in days per item


def world(
    items: int,
    days: int,
    seed: int,
    spikes_per_year: float = 3.0,
    spike_days: tuple[int, int] = (2, 6),
    spike_size: tuple[float, float] = (2.0, 4.0),
) -> World:
    rng = np.random.default_rng(seed)
    mean = np.exp(rng.uniform(np.log(5), np.log(60), items))
    p = DISPERSION / (DISPERSION + mean)
    base = rng.negative_binomial(DISPERSION, p, size=(days, items))
    multiplier = np.ones((days, items))
    for item in range(items):
        for _ in range(rng.poisson(spikes_per_year * days / 365)):
            start, length = rng.integers(0, days), rng.integers(spike_days[0], spike_days[1] + 1)
            multiplier[start : start + length, item] *= rng.uniform(*spike_size)
    spiked = rng.poisson(base * (multiplier - 1)) + base
    variance = mean + mean**2 / DISPERSION
    return World(spiked.astype(np.int64), mean, variance, rng.choice(LEADS, items))


@dataclass
class Run:
    served: float
    demanded: float
    stock_days: float
    days: int

    @property
    def fill(self) -> float:
        return self.served / self.demanded

    @property
    def average_stock(self) -> float:
        return self.stock_days / self.days


def simulate_policy(w: World, order_up_to, start_level: np.ndarray) -> Run:  # type: ignore[no-untyped-def]
    """Daily loop (vectorised over items): receive, serve, review and order."""
    days, items = w.demand.shape
    on_hand = start_level.astype(np.float64).copy()
    pipeline = np.zeros((days + int(LEADS.max()) + 2, items))
    half = days // 2
    served = demanded = stock = 0.0
    for t in range(days):
        on_hand += pipeline[t]
        d = w.demand[t]
        if t >= half:
            served += np.minimum(d, np.maximum(on_hand, 0)).sum()
            demanded += d.sum()
        on_hand -= d
        if t >= half:
            stock += np.maximum(on_hand, 0).sum() / items
        on_order = pipeline[t + 1 :].sum(axis=0)
        target = order_up_to(t, on_hand)
        quantity = np.ceil(np.maximum(target - (on_hand + on_order), 0))
        # Ordered at the end of day t, a lead time of L days later: usable from day t + L + 1.
        pipeline[t + w.lead + 1, np.arange(items)] += quantity
    return Run(served, demanded, stock, days - half)


def rs_level(mean, variance, lead, k):  # type: ignore[no-untyped-def]
    sigma = np.sqrt((lead + 1) * np.maximum(variance, mean))
    return mean * (lead + 1) + k * sigma


def textbook(w: World, target: float) -> np.ndarray:
    sigma = np.sqrt((w.lead + 1) * w.variance)
    z = _normal.z_for_fill_rate(target, w.mean * 1.0, sigma)
    return w.mean * (w.lead + 1) + z * sigma


def stockseries_policy(w: World, target: float, window_days: int):  # type: ignore[no-untyped-def]
    items = w.demand.shape[1]
    ids = [f"I{i:04d}" for i in range(items)]
    catalog = pl.DataFrame({"item_id": ids, "lead_time": [f"{d}d" for d in w.lead]})
    day_us = 86_400_000_000
    t0_us = int(T0.timestamp()) * 1_000_000
    ts = t0_us + np.arange(w.demand.shape[0], dtype=np.int64) * day_us

    def order_up_to(t: int, on_hand: np.ndarray) -> np.ndarray:
        low = max(0, t + 1 - window_days)
        if t + 1 - low < 7:  # a week of history before the planner is trusted
            return rs_level(w.mean, w.variance, w.lead, 2.0)
        block = w.demand[low : t + 1]
        series = pl.DataFrame(
            {
                "item_id": np.repeat(ids, len(block)),
                "ts": np.tile(ts[low : t + 1], items),
                "demand": block.T.reshape(-1),
                "level": np.repeat(on_hand.astype(np.int64), len(block)),
            }
        ).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))
        plan = ss.reorder_points(
            series, catalog, target, window=f"{window_days}d", min_periods=2, every="1d"
        )
        return plan["order_up_to"].to_numpy()

    return order_up_to


def tuned_fixed(w: World, target: float, start: np.ndarray) -> tuple[np.ndarray, float]:
    half = w.demand.shape[0] // 2
    first = w.demand[:half]
    mean, variance = first.mean(axis=0), first.var(axis=0, ddof=1)
    first_world = World(first, w.mean, w.variance, w.lead)
    for k in np.arange(0.0, 4.01, 0.1):
        level = rs_level(mean, variance, w.lead, k)
        run = simulate_policy(first_world, lambda t, h, level=level: level, start)
        if run.fill >= target:
            return level, float(k)
    return rs_level(mean, variance, w.lead, 4.0), 4.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--days", type=int, default=360)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--window-days", type=int, default=WINDOW_DAYS)
    args = parser.parse_args(argv)
    sections = []
    for title, spikes in SCENARIOS.items():
        w = world(args.items, args.days, args.seed, *spikes)
        sections.append((title, spikes, backtest(w, args)))
    OUT.write_text(document(args, sections))
    print(OUT.read_text())


def backtest(w: World, args: argparse.Namespace) -> list:  # type: ignore[type-arg]
    start = w.mean * (w.lead + 1) * 1.5
    rows = []
    for target in (0.95, 0.99):
        began = time.perf_counter()
        ours = simulate_policy(w, stockseries_policy(w, target, args.window_days), start)
        elapsed = time.perf_counter() - began
        level, k = tuned_fixed(w, target, start)
        fixed = simulate_policy(w, lambda t, h, level=level: level, start)
        true_level = textbook(w, target)
        book = simulate_policy(w, lambda t, h, level=true_level: level, start)
        rows.append((target, ours, fixed, k, book, elapsed))
    return rows


def document(args: argparse.Namespace, sections: list) -> str:  # type: ignore[type-arg]
    lines = [
        "# Replenishment backtest",
        "",
        "Generated by `python -m benchmarks.planning "
        f"--items {args.items} --days {args.days} --seed {args.seed}` "
        f"on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. See the module docstring for the world "
        "and the policies; figures are over the second half (the first half warms up and, for "
        "the fixed rule, tunes).",
    ]
    for title, spikes, rows in sections:
        lines += [
            "",
            f"## {title}",
            "",
            f"Spikes: {spikes[0]:g} per item-year, {spikes[1][0]}–{spikes[1][1]} days, "
            f"×{spikes[2][0]:g}–×{spikes[2][1]:g}.",
            "",
        ]
        lines += section(args, rows)
    lines += ["", "## Machine", ""]
    lines += [f"- {key}: {value}" for key, value in {**machine(), **versions()}.items()]
    return "\n".join(lines) + "\n"


def section(args: argparse.Namespace, rows: list) -> list[str]:  # type: ignore[type-arg]
    lines = [
        "| target fill rate | policy | fill rate | within 2 points | average stock on hand |",
        "|---|---|---|---|---|",
    ]
    for target, ours, fixed, k, book, _ in rows:
        for name, run in (
            (f"stockseries `reorder_points` (adaptive, {args.window_days}-day window)", ours),
            (f"fixed order-up-to, tuned on the first half (k = {k:.1f})", fixed),
            ("textbook (R, S) from the true demand parameters", book),
        ):
            ok = "yes" if abs(run.fill - target) <= 0.02 else "no"
            lines.append(
                f"| {target:.0%} | {name} | {run.fill:.2%} | {ok} | {run.average_stock:,.1f} |"
            )
    lines += ["", "Verdicts:"]
    for target, ours, fixed, _, _, elapsed in rows:
        within = abs(ours.fill - target) <= 0.02
        less = ours.average_stock < fixed.average_stock
        lines.append(
            f"- {target:.0%}: stockseries fill {ours.fill:.2%} "
            f"({'within' if within else 'NOT within'} 2 points), average stock "
            f"{ours.average_stock:,.1f} vs the tuned fixed rule's {fixed.average_stock:,.1f} "
            f"({'less' if less else 'NOT less'}); {args.days} daily plans in {elapsed:.1f} s."
        )
    return lines


if __name__ == "__main__":
    main()
