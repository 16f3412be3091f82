"""The replay's figures, one PNG each (matplotlib, no display needed)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt

from solvent.sim.metrics import SimMetrics

WAD = 10**18
DPI = 110
HEALTH_SHOWN = 4.0  # the health axis stops here (healthier accounts are drawn at the top)
COLORS = {"WETH": "#4c72b0", "WBTC": "#dd8452", "USDC": "#55a868"}


def _dates(times: list[int]) -> list[datetime]:
    return [datetime.fromtimestamp(t, UTC) for t in times]


def _finish(fig: plt.Figure, ax: plt.Axes, path: Path) -> Path:
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def price_path(m: SimMetrics, path: Path) -> Path:
    """Oracle price of each volatile asset (relative to its first price) with a marker at every
    liquidation of that asset's collateral (or debt, for shorts)."""
    fig, ax = plt.subplots(figsize=(9, 4.2))
    times = _dates([s.time for s in m.steps])
    for sym in ("WETH", "WBTC"):
        if not m.steps or sym not in m.sources:
            continue
        first = m.steps[0].prices[sym]
        rel = [s.prices[sym] / first for s in m.steps]
        ax.plot(times, rel, color=COLORS[sym], label=f"{sym} (x first price {first / WAD:,.0f})")
        hits = [r for r in m.liquidations if sym in (r.collateral_asset, r.debt_asset)]
        by_step = {s.step: s for s in m.steps}
        ax.scatter(
            _dates([r.time for r in hits]),
            [by_step[r.step].prices[sym] / first for r in hits],
            color=COLORS[sym],
            marker="v",
            s=18,
            alpha=0.7,
            label=f"liquidations ({len(hits)})",
        )
    ax.set_ylabel("price / first price")
    ax.set_title(f"{m.window}: oracle prices and liquidations")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _finish(fig, ax, path)


def health(m: SimMetrics, path: Path) -> Path:
    """Health of the indebted accounts after each round: median, 25-75% and 5-95% bands, and the
    number of accounts below maintenance (health < 1) before the keepers act."""
    fig, ax = plt.subplots(figsize=(9, 4.2))
    times = _dates([s.time for s in m.steps])
    bands: dict[float, list[float]] = {q: [] for q in (0.05, 0.25, 0.5, 0.75, 0.95)}
    for s in m.steps:
        hs = [min(h / WAD, HEALTH_SHOWN) for h in s.health] or [HEALTH_SHOWN]
        for q in bands:
            bands[q].append(hs[min(len(hs) - 1, int(q * len(hs)))])
    ax.fill_between(times, bands[0.05], bands[0.95], alpha=0.15, color="#4c72b0", label="5-95%")
    ax.fill_between(times, bands[0.25], bands[0.75], alpha=0.3, color="#4c72b0", label="25-75%")
    ax.plot(times, bands[0.5], color="#4c72b0", label="median")
    ax.axhline(1.0, color="#c44e52", linestyle="--", linewidth=1, label="maintenance (1.0)")
    ax.set_ylim(0, HEALTH_SHOWN)
    ax.set_ylabel(f"health = equity / MMR (capped at {HEALTH_SHOWN:g})")
    ax2 = ax.twinx()
    ax2.bar(times, [s.liquidatable for s in m.steps], width=0.02, color="#c44e52", alpha=0.5)
    ax2.set_ylabel("accounts below maintenance", color="#c44e52")
    ax2.set_ylim(bottom=0)
    ax.set_title("Health distribution over time")
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
    return _finish(fig, ax, path)


def bad_debt(m: SimMetrics, path: Path) -> Path:
    """Cumulative bad debt and the insurance funds (all vaults, USD at each step's prices)."""
    fig, ax = plt.subplots(figsize=(9, 4.2))
    times = _dates([s.time for s in m.steps])
    scale = {sym: 10**d for sym, d in m.decimals.items()}
    insurance = [
        sum(units * s.prices[sym] // scale[sym] for sym, units in s.insurance.items()) / WAD
        for s in m.steps
    ]
    ax.plot(times, [s.bad_debt_usd / WAD for s in m.steps], color="#c44e52", label="bad debt")
    ax.plot(times, insurance, color="#55a868", label="insurance funds")
    ax.set_ylabel("USD")
    ax.set_title("Bad debt written off and insurance funds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _finish(fig, ax, path)


def latency(m: SimMetrics, path: Path) -> Path:
    """Seconds from the round that made an account liquidatable to its liquidation."""
    fig, ax = plt.subplots(figsize=(7, 4))
    values = [r.latency_s for r in m.liquidations]
    ax.hist(values or [0], bins=30, color="#8172b3")
    ax.set_xlabel("seconds from becoming liquidatable to liquidation (data time)")
    ax.set_ylabel("liquidations")
    ax.set_title(f"Liquidation latency ({len(values)} liquidations)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def margin(m: SimMetrics, path: Path) -> Path:
    """Maintenance factor of a small position per asset, and the VolatilityOracle's sigma."""
    fig, ax = plt.subplots(figsize=(9, 4.2))
    times = _dates([s.time for s in m.steps])
    for sym in ("WETH", "WBTC", "USDC"):
        if m.steps and sym in m.steps[0].mmf:
            ax.plot(
                times, [s.mmf[sym] / WAD for s in m.steps], color=COLORS[sym], label=f"mmf {sym}"
            )
    ax.set_ylabel("maintenance margin factor")
    ax2 = ax.twinx()
    for sym in ("WETH", "WBTC"):
        if m.steps and sym in m.steps[0].sigma:
            ax2.plot(
                times,
                [s.sigma[sym] / WAD for s in m.steps],
                color=COLORS[sym],
                linestyle=":",
                label=f"sigma {sym}",
            )
    ax2.set_ylabel("annualized sigma (dotted)")
    ax.set_title("Margin factors and volatility")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    return _finish(fig, ax, path)


FIGURES = {
    "price_path.png": price_path,
    "health.png": health,
    "bad_debt.png": bad_debt,
    "latency.png": latency,
    "margin.png": margin,
}
