"""Simulator benchmark (make bench): the default replay, 300 accounts over the 72 hourly candles of
2020-03-11..13, timed by phase. Figures go to bench/results.json under "simulate"; nothing here is
asserted.

    .venv/bin/python scripts/bench_simulate.py [--accounts 300]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import click

from solvent.sim.prices import WINDOWS, preset_files
from solvent.sim.replay import Replay, SimSettings

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.json"


@click.command()
@click.option("--accounts", type=int, default=300, show_default=True)
@click.option("--window", default="2020-03-12", show_default=True)
def main(accounts: int, window: str) -> None:
    preset = WINDOWS[window]
    settings = SimSettings(
        files=preset_files(window), accounts=accounts, start=preset.start, hours=preset.hours
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        metrics = Replay(settings, Path(tmp)).run()
    total = round(time.perf_counter() - started, 1)
    t = metrics.timings
    results = {
        f"simulate_{accounts}x{int(preset.hours)}h_seconds": total,
        "rounds": len(metrics.steps),
        "liquidations": len(metrics.liquidations),
        "deploy_s": t.get("deploy_s"),
        "setup_s": t.get("setup_s"),
        "replay_s": t.get("replay_s"),
        "replay_chain_publish_s": t.get("chain_wait_s"),
        "replay_keepers_s": t.get("keeper_s"),
        "replay_observer_and_records_s": round(
            t.get("replay_s", 0) - t.get("chain_wait_s", 0) - t.get("keeper_s", 0), 2
        ),
    }
    data = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    data["simulate"] = results
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    json.dump(results, sys.stdout, indent=2)


if __name__ == "__main__":
    main()
