"""A sweep: the same window(s) replayed over a grid of risk settings, each replay in its own worker
with its own Anvil; a local process pool by default, or a Dask cluster (`dask.distributed`) when a
scheduler address is given, so hundreds of runs go to a cluster unchanged.

Each point reports bad debt and liquidations against capital efficiency: the largest leverage
initial margin allows on an ETH long against USDC at the start, and the margin the accounts
actually posted (mean equity / collateral value when they opened).
"""

from __future__ import annotations

import itertools
import json
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from solvent.sim.replay import Overrides, Replay, SimSettings

WAD = 10**18


@dataclass(frozen=True)
class Point:
    """One replay of the grid: a window's settings with one set of overrides."""

    window: str
    settings: SimSettings


def grid(
    windows: dict[str, SimSettings],
    margin_scales: Sequence[Decimal] = (Decimal(1),),
    discount_scales: Sequence[Decimal] = (Decimal(1),),
    dynamic: Sequence[bool] = (True, False),
    target_healths: Sequence[Decimal | None] = (None,),
) -> list[Point]:
    """The cross product of the settings, for every window."""
    points = []
    for (name, base), m, d, dyn, th in itertools.product(
        windows.items(), margin_scales, discount_scales, dynamic, target_healths
    ):
        overrides = Overrides(margin_scale=m, discount_scale=d, dynamic=dyn, target_health=th)
        points.append(Point(name, replace(base, overrides=overrides)))
    return points


def run_point(point: Point) -> dict[str, Any]:
    """Replay one point in a scratch folder; returns its summary (picklable, JSON-ready). A point
    that cannot run (a setting the contracts refuse) is returned with its one-line error."""
    started = time.perf_counter()
    o = point.settings.overrides
    try:
        with tempfile.TemporaryDirectory(prefix="solvent-sweep-") as tmp:
            metrics = Replay(point.settings, Path(tmp)).run()
    except Exception as err:  # a refused setting, a failed node: recorded, the sweep goes on
        text = str(err).strip().splitlines()
        return {"window": point.window, "label": o.label(), "dynamic": o.dynamic,
                "margin_scale": str(o.margin_scale),
                "error": f"{type(err).__name__}: {text[0] if text else ''}"[:500]}  # fmt: skip
    totals = metrics.totals()
    first = metrics.steps[0] if metrics.steps else None
    imf_w = first.imf.get("WETH", 0) if first else 0
    imf_u = first.imf.get("USDC", 0) if first else 0
    return {
        "window": point.window,
        "margin_scale": str(o.margin_scale),
        "discount_scale": str(o.discount_scale),
        "dynamic": o.dynamic,
        "target_health": None if o.target_health is None else str(o.target_health),
        "label": o.label(),
        "max_leverage": (WAD + imf_u) / (imf_w + imf_u) if imf_w + imf_u else None,
        "opening_margin": metrics.opening_margin / WAD,
        "bad_debt_usd": totals["bad_debt_usd"] / WAD,
        "bad_debt_share": totals["bad_debt_share_of_deposits"],
        "socialized_usd": totals["socialized_usd"] / WAD,
        "liquidations": totals["liquidations"],
        "accounts_liquidated": totals["accounts_liquidated"],
        "keeper_profit_usd": totals["keeper_profit_usd"] / WAD,
        "latency_s_median": totals["latency_s_median"],
        "seconds": round(time.perf_counter() - started, 1),
        "settings": point.settings.describe(),
    }


Done = Callable[[dict[str, Any]], None]


def run_local(points: Iterable[Point], workers: int, done: Done | None = None) -> list[dict]:
    """Every point in a local process pool of `workers` (each replay starts its own Anvil)."""
    points = list(points)
    out: list[dict | None] = [None] * len(points)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(run_point, p): i for i, p in enumerate(points)}
        for f in as_completed(futures):
            out[futures[f]] = f.result()
            if done is not None:
                done(out[futures[f]])  # type: ignore[arg-type]
    return [r for r in out if r is not None]


def run_dask(points: Iterable[Point], scheduler: Any, done: Done | None = None) -> list[dict]:
    """Every point on a Dask cluster: `scheduler` is an address ("tcp://host:8786") or a
    `distributed.Client`/`LocalCluster`. Each task is one replay on the worker's machine."""
    from distributed import Client
    from distributed import as_completed as dask_completed

    points = list(points)
    own = not isinstance(scheduler, Client)
    client = Client(scheduler) if own else scheduler
    try:
        futures = client.map(run_point, points, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        out: list[dict | None] = [None] * len(points)
        for f in dask_completed(futures):
            out[index[f.key]] = f.result()
            if done is not None:
                done(out[index[f.key]])  # type: ignore[arg-type]
        return [r for r in out if r is not None]
    finally:
        if own:
            client.close()


def write_sweep(results: list[dict], folder: Path) -> Path:
    """sweep.json, sweep.md (one row per run) and sweep.png."""
    from solvent.report.sweep import plot_sweep, sweep_table

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sweep.json").write_text(json.dumps(results, indent=1) + "\n")
    plot_sweep(results, folder / "sweep.png")
    (folder / "sweep.md").write_text(sweep_table(results))
    return folder / "sweep.md"
