"""`ape run bench` (make bench): timing benchmarks, written to bench/results.json.

Timings are noisy (machine load, Python overhead) and are never asserted by tests; gas is the
deterministic measure (see gas-snapshot.json). Each figure is the median of its repetitions.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import click
from ape import accounts, chain, networks

from solvent.config import DEFAULT_CONFIG, load_config
from solvent.deploy import deploy_system
from solvent.risk import WAD, Position, account_health
from solvent.units import to_units

RESULTS = Path("bench/results.json")
MAX_UINT = 2**256 - 1


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(samples), 3)


@click.command()
@click.option("--repeat", default=30, show_default=True, help="Repetitions per measurement.")
@click.option("--out", type=click.Path(path_type=Path), default=RESULTS, show_default=True)
def cli(repeat: int, out: Path) -> None:
    """Time deployment, account transactions, health views and the Python risk mirror."""
    results: dict[str, float] = {}
    config = load_config(DEFAULT_CONFIG)
    with networks.ethereum.local.use_provider("foundry"):
        deployer, lender, trader = (accounts.test_accounts[i] for i in range(3))
        start = time.perf_counter()
        system = deploy_system(config, deployer, govern=False)
        results["deploy_system_s"] = round(time.perf_counter() - start, 3)
        ma = system.margin_account
        usdc, weth = system.asset("USDC"), system.asset("WETH")
        usdc.token.mint(lender, to_units("1000000", 6), sender=deployer)
        usdc.token.approve(usdc.vault, MAX_UINT, sender=lender)
        usdc.vault.deposit(to_units("1000000", 6), lender, sender=lender)
        weth.token.mint(trader, to_units("1000", 18), sender=deployer)
        weth.token.approve(ma, MAX_UINT, sender=trader)
        click.echo("timing transactions ...")
        results["tx_deposit_ms"] = _median_ms(
            lambda: ma.deposit(trader, 0, weth.token, 10**18, sender=trader), repeat
        )
        results["tx_borrow_ms"] = _median_ms(
            lambda: ma.borrow(trader, 0, usdc.token, 10**8, trader, sender=trader), repeat
        )
        results["call_account_health_ms"] = _median_ms(lambda: ma.accountHealth(trader, 0), repeat)
        results["snapshot_restore_pair_ms"] = _median_ms(
            lambda: chain.restore(chain.snapshot()), repeat
        )

    positions = [
        Position(
            raw=(-1) ** i * 10**18 * (i + 1),
            price=3000 * WAD,
            scale=10**18,
            imf=WAD // 10,
            mmf=WAD // 20,
            index=WAD + i,
        )
        for i in range(8)
    ]
    results["py_account_health_8_assets_us"] = round(
        _median_ms(lambda: [account_health(positions) for _ in range(1000)], 5), 3
    )  # 1000 calls in ms == one call in microseconds
    payload = {
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "repeat": repeat,
        "results": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    for key, value in results.items():
        click.echo(f"{key:32s} {value:>10}")
    click.echo(f"wrote {out}")
