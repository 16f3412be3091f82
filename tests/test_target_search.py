"""The target search with size-dependent factors (solvent.risk.smallest_to_target, the mirror of
Liquidator._smallestToTarget, parity-tested on-chain in test_dynamic_margin): over random
accounts, curves with and without caps and floors, the cap reaches the target and is within 1% of
the smallest repayment that does (found here by bisection on the exact post-state)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from solvent.margin import MmfCurve, PositionCurves
from solvent.risk import (
    MAX_UINT256,
    WAD,
    EngineParams,
    Position,
    Status,
    _target_gap,
    liquidation_snapshot,
    price_liquidation,
    snapshot_discount,
    target_repay_cap,
)

PARAMS = EngineParams(insurance_share=int(0.2e18), target_health=int(1.05e18))


def curves(base: int, threshold: int, floor: int, cap: int) -> PositionCurves:
    c = MmfCurve(base, floor, threshold, cap)
    return PositionCurves(2 * base, base, c, c, min(2 * cap, int(0.95e18)))


@st.composite
def sized_accounts(draw):
    cap = draw(st.sampled_from([int(0.3e18), int(0.4e18), int(0.5e18)]))
    c_base = draw(st.sampled_from([int(0.05e18), int(0.06e18), int(0.1e18)]))
    d_base = draw(st.sampled_from([int(0.02e18), int(0.05e18)]))
    thr = draw(st.sampled_from([1_000, 10_000, 100_000])) * WAD
    c_floor = draw(st.sampled_from([0, int(0.08e18), int(0.2e18)]))
    coll_usd = draw(st.integers(5_000, 2_000_000))
    lev = draw(st.integers(50, 95))  # debt as % of collateral
    coll = Position(
        raw=coll_usd * WAD // 3000,
        price=3000 * WAD,
        scale=WAD,
        imf=2 * c_base,
        mmf=c_base,
        min_discount=int(0.01e18),
        max_discount=int(0.04e18),
        curves=curves(c_base, thr, c_floor, cap),
    )
    debt = Position(
        raw=-(coll_usd * lev // 100) * 10**6,
        price=WAD,
        scale=10**6,
        imf=2 * d_base,
        mmf=d_base,
        min_debt_value=0,
        curves=curves(d_base, thr, 0, cap),
    )
    return {"D": debt, "C": coll}


def smallest_reaching(snap, d, target, hi):
    lo = 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        g, _, _ = _target_gap(snap, d, target, mid)
        if g >= 0:
            hi = mid
        else:
            lo = mid
    return hi


@settings(max_examples=1500, deadline=None, database=None, derandomize=True)
@given(sized_accounts())
def test_target_cap__sized_and_capped_factors__reaches_target_within_1pct(positions):
    snap = liquidation_snapshot(positions, "D", "C")
    q = price_liquidation(snap, MAX_UINT256, PARAMS)
    if q.status != Status.OK or q.repay == snap.debt or not snap.sized or snap.equity <= 0:
        return
    d = snapshot_discount(snap)
    t = PARAMS.target_health
    linear = min(target_repay_cap(snap, d, t), snap.debt)
    g, _, _ = _target_gap(snap, d, t, q.repay)
    assert g >= 0  # the target is reached
    best = smallest_reaching(snap, d, t, linear)
    assert q.repay <= best + best // 100 + 2, (q.repay, best, linear)
