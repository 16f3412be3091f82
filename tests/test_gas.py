"""Gas regression: every operation of the fixed scenario (solvent/gas.py) costs at most its figure in
gas-snapshot.json. The scenario runs in its own process on a fresh Anvil chain so that its
addresses, nonces and block times never depend on which tests ran before it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from solvent.gas import compare, load_snapshot

ROOT = Path(__file__).resolve().parents[1]
OPERATIONS = {
    "deposit",
    "withdraw",
    "borrow",
    "repay",
    "lp_deposit",
    "lp_withdraw",
    "liquidate_partial_1x1",
    "liquidate_batch20_per_account",
    "liquidate_batch100_per_account",
    "liquidate_flash_1x1",
    "liquidate_8_assets",
    "liquidate_bad_debt",
}
# Issue 3's gas targets (see docs/liquidation.md#gas).
BATCH_PER_ACCOUNT_TARGET = 60_000
PARTIAL_1X1_TARGET = 120_000
# Issue 7's budget: the review fixes may add at most 5,000 gas to a partial 1x1 liquidation.
PARTIAL_1X1_BEFORE_ISSUE_7 = 174_681
ISSUE_7_BUDGET = 5_000
# Issue 9's budget: the hardened oracle (two readings, status checks, band and guard flags; one
# storage slot per primary-only asset as before) may add at most 2,000 gas to the same liquidation,
# which reads two prices (docs/threat-model.md#gas).
ISSUE_9_BUDGET = 2_000


def test_gas_snapshot__covers_every_documented_operation():
    snapshot = load_snapshot(ROOT / "gas-snapshot.json")
    assert snapshot.keys() >= OPERATIONS
    assert all(used > 21_000 for used in snapshot.values())


def test_gas_snapshot__batch_liquidation__within_issue_target():
    assert load_snapshot(ROOT / "gas-snapshot.json")["liquidate_batch20_per_account"] <= (
        BATCH_PER_ACCOUNT_TARGET
    )


def test_gas_snapshot__partial_liquidation__within_issue_7_and_9_budgets():
    partial = load_snapshot(ROOT / "gas-snapshot.json")["liquidate_partial_1x1"]
    assert partial <= PARTIAL_1X1_BEFORE_ISSUE_7 + ISSUE_7_BUDGET + ISSUE_9_BUDGET


def test_gas_snapshot__batch_of_100__no_dearer_per_account_than_a_batch_of_20():
    """Each target of a batch costs the same whatever its length (no quadratic term)."""
    snapshot = load_snapshot(ROOT / "gas-snapshot.json")
    assert snapshot["liquidate_batch100_per_account"] <= snapshot["liquidate_batch20_per_account"]


@pytest.mark.xfail(
    strict=True,
    reason="about 135k of a 1x1 liquidation is base cost, cold storage, writes, events and cold "
    "contract touches across oracle, two feeds, vault and tokens (docs/liquidation.md#gas); "
    "strict: this starts failing the day the target is met, so the marker must go",
)
def test_gas_snapshot__partial_liquidation__within_issue_target():
    assert load_snapshot(ROOT / "gas-snapshot.json")["liquidate_partial_1x1"] <= PARTIAL_1X1_TARGET


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
