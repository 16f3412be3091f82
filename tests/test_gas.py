"""Gas regression: every operation of the fixed scenario (solvent/gas.py) costs at most its figure in
gas-snapshot.json. The scenario runs in its own process on a fresh Anvil chain so that its
addresses, nonces and block times never depend on which tests ran before it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from solvent.gas import compare, load_snapshot

ROOT = Path(__file__).resolve().parents[1]
OPERATIONS = {
    "deposit",
    "withdraw",
    "borrow",
    "repay",
    "lp_deposit",
    "lp_withdraw",
    "liquidate",
    "liquidate_bad_debt",
}


def test_gas_snapshot__covers_every_documented_operation():
    snapshot = load_snapshot(ROOT / "gas-snapshot.json")
    assert snapshot.keys() >= OPERATIONS
    assert all(used > 21_000 for used in snapshot.values())


def test_gas_scenario__fresh_chain__no_operation_above_snapshot():
    ape = Path(sys.executable).with_name("ape")
    result = subprocess.run(
        [str(ape), "run", "gas_snapshot", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "every operation within its snapshot" in result.stdout


def test_compare__operation_above_snapshot__is_reported():
    assert compare({"borrow": 101}, {"borrow": 100}) == ["borrow: 101 gas > snapshot 100 (+1)"]
    assert compare({"borrow": 100}, {"borrow": 100}) == []
    assert compare({}, {"borrow": 100}) == ["borrow: in the snapshot but not measured"]
