"""Properties of the liquidation rules on the integer mirror (solvent.risk), thousands of random
accounts in a second, no chain. The mirror equals the chain to the wei (tests/scenarios/
test_risk_parity.py and the lens tests check it on chain), so what holds here holds on-chain; the
on-chain sequences themselves are tests/scenarios/test_liquidation_sequences.py.

An account here has one debt and one or two collaterals, decimals 0 to 18 on every side, margin
factors, discounts and dust floors as the MarginAccount allows them, a borrow index from 1 to 3
and any price. Properties, with the rounding bound stated (ROUND: a few base units of each asset
per liquidation, in value):
  * a liquidation never lowers health (equity / MMR) and never makes a solvent account insolvent;
  * an insolvent account pays no discount: its equity does not move;
  * the repayment is exactly the fall in the debt, the tip at most the insurance fund (with this
    liquidation's fee in it) and at most
    repay * minDiscount / (1 - minDiscount), and the keeper never pays less than zero;
  * splitting a liquidation in two never pays the keeper more per unit repaid than one
    liquidation of the total;
  * the keeper's incentive per unit repaid is continuous across equity = 0 (no jump that rewards
    waiting for insolvency);
  * every quote the engine gives passes the MarginAccount's own settlement bounds, for any
    insurance share the engine allows and borrow indexes up to 3,000 (so the bounds that stop a
    hostile engine never refuse an honest liquidation).
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import event, given, settings
from hypothesis import strategies as st

from solvent.risk import (
    MAX_UINT256,
    WAD,
    EngineParams,
    Position,
    Status,
    account_health,
    debt_tokens,
    liquidation_snapshot,
    price_liquidation,
    quote_liquidation,
    settlement_error,
    value_down,
    value_up,
)

BPS = 10**14
PARAMS = EngineParams(insurance_share=2 * 10**17, target_health=105 * 10**16)
ROUND = 4  # base units per asset per liquidation


@st.composite
def accounts(draw, insolvent_ok: bool = True):
    """(positions, debt key, collateral keys): a liquidatable account."""
    n_coll = draw(st.integers(1, 2))
    keys = ["D"] + [f"C{i}" for i in range(n_coll)]
    positions = {}
    for k in keys:
        decimals = draw(st.integers(0, 18))
        mmf = draw(st.integers(50, 2_000)) * BPS  # 0.5% .. 20%
        imf = mmf + draw(st.integers(1, 2_000)) * BPS
        lo = draw(st.integers(1, 300)) * BPS
        hi = lo + draw(st.integers(0, 400)) * BPS
        price = draw(st.integers(10**14, 10**23))  # $0.0001 .. $100,000 per whole token
        positions[k] = Position(
            raw=0,
            price=price,
            scale=10**decimals,
            imf=imf,
            mmf=mmf,
            index=WAD,
            min_discount=lo,
            max_discount=hi,
            min_debt_value=draw(st.sampled_from([0, 10 * WAD, 100 * WAD])),
        )
    # Collateral worth $1,000 .. $10,000,000 each, a debt worth a share of it that leaves the
    # account liquidatable (health in [-0.5, 0.999]).
    for k in keys[1:]:
        usd = draw(st.integers(1_000, 10_000_000)) * WAD
        p = positions[k]
        positions[k] = replace(p, raw=max(1, usd * p.scale // p.price))
    index = draw(st.integers(WAD, 3 * WAD))
    d = positions["D"]
    coll_value = sum(
        value_down(positions[k].raw, positions[k].price, positions[k].scale) for k in keys[1:]
    )
    coll_mmr = sum(
        value_down(positions[k].raw, positions[k].price, positions[k].scale)
        * positions[k].mmf
        // WAD
        for k in keys[1:]
    )
    target = draw(st.floats(-0.5 if insolvent_ok else 0.01, 0.999))
    # E = C - D, MMR = Cm + D m_d; E / MMR = target  =>  D = (C - t Cm) / (1 + t m_d)
    t = int(target * 10**6)
    debt_value = (coll_value * 10**6 - t * coll_mmr) * WAD // (10**6 * WAD + t * d.mmf)
    tokens = max(1, debt_value * d.scale // d.price)
    scaled = max(1, tokens * WAD // index)
    positions["D"] = replace(d, raw=-scaled, index=index, insurance=draw(st.integers(0, 10**30)))
    health = account_health(positions.values())
    if not health.liquidatable:
        positions["D"] = replace(positions["D"], raw=positions["D"].raw - scaled // 50 - 1)
    return positions, "D", keys[1:]


def apply(positions, debt, coll, q):
    """The positions after settling q (before any write-off); the debt vault's insurance fund
    gains the fee and pays the tip."""
    d, c = positions[debt], positions[coll]
    out = dict(positions)
    fund = d.insurance + q.insurance_fee - q.insurance_tip
    out[debt] = replace(d, raw=min(d.raw + q.repay_scaled, 0), insurance=fund)
    out[coll] = replace(c, raw=c.raw - q.seize)
    return out


def gain(positions, debt, coll, q) -> int:
    d, c = positions[debt], positions[coll]
    return (
        value_down(q.seize, c.price, c.scale)
        + value_down(q.insurance_tip, d.price, d.scale)
        - value_up(q.repay, d.price, d.scale)
        - value_up(q.insurance_fee, d.price, d.scale)
    )


def units_value(positions) -> int:
    return ROUND * sum(value_up(1, p.price, p.scale) for p in positions.values())


def held(positions):
    return {k: p for k, p in positions.items() if p.raw != 0}


@settings(max_examples=1500, deadline=None, database=None, derandomize=True)
@given(accounts(), st.integers(0, 1), st.one_of(st.just(MAX_UINT256), st.integers(1, 10_000)))
def test_liquidation__any_account__health_kept_repay_exact_tip_bounded(acct, pick, size):
    positions, debt, colls = acct
    coll = colls[pick % len(colls)]
    d = positions[debt]
    max_repay = size if size == MAX_UINT256 else max(1, d.tokens * size // 10_000)
    q = quote_liquidation(held(positions), debt, coll, max_repay, PARAMS)
    if q.status != Status.OK:
        return
    before = account_health(held(positions).values())
    after_positions = apply(positions, debt, coll, q)
    after = account_health(held(after_positions).values())
    tol = units_value(positions)
    # The repayment is exactly the fall in the debt.
    left = after_positions[debt]
    assert (debt_tokens(-left.raw, left.index) if left.raw < 0 else 0) == d.tokens - q.repay
    assert 0 < q.repay <= min(max_repay, d.tokens)
    # Health kept, solvency kept, insolvency not deepened by a discount.
    if after.mmr > 0:
        assert after.health >= before.health - tol * WAD // after.mmr - 1, (before, after, q)
    if before.equity > 0:
        assert after.equity >= -tol, (before, after, q)
    else:
        assert q.discount == 0 and abs(after.equity - before.equity) <= tol, (before, after, q)
    # The tip: bounded by the fund and per unit repaid; the keeper's payment is never negative.
    c = positions[coll]
    assert q.insurance_tip <= d.insurance + q.insurance_fee  # the fund, this fee included
    assert q.insurance_tip * (WAD - c.min_discount) <= q.repay * c.min_discount
    assert q.owed >= 0
    assert q.insurance_tip == 0 or q.discount < c.min_discount


@settings(max_examples=800, deadline=None, database=None, derandomize=True)
@given(accounts(), st.integers(0, 1), st.integers(500, 9_500), st.integers(2_000, 10_000))
def test_split__two_halves__never_pay_more_per_unit_than_one_liquidation(acct, pick, share, size):
    positions, debt, colls = acct
    coll = colls[pick % len(colls)]
    p0 = held(positions)
    whole = quote_liquidation(p0, debt, coll, MAX_UINT256, PARAMS)
    if whole.status != Status.OK:
        return
    total = max(2, whole.repay * size // 10_000)
    single = quote_liquidation(p0, debt, coll, total, PARAMS)
    first = quote_liquidation(p0, debt, coll, max(1, total * share // 10_000), PARAMS)
    if single.status != Status.OK or first.status != Status.OK:
        return
    p1 = held(apply(positions, debt, coll, first))
    g = gain(positions, debt, coll, first)
    r = first.repay
    if debt in p1 and coll in p1 and account_health(p1.values()).liquidatable and total > r:
        second = quote_liquidation(p1, debt, coll, total - r, PARAMS)
        if second.status == Status.OK:
            g += gain(p1, debt, coll, second)
            r += second.repay
    # Per unit repaid, cross-multiplied (exact): g / r <= g_single / r_single, plus rounding.
    g_single = gain(positions, debt, coll, single)
    # Rounding: a few base units, and the discount's WAD resolution: rounding can lift health by a
    # few wei of WAD, and so the second part's discount by one wei (1e-18 of its repaid value).
    d = positions[debt]
    tol = 2 * units_value(positions) + 4 * value_up(total, d.price, d.scale) // WAD + 1
    assert g * single.repay <= r * g_single + tol * single.repay, (g, r, g_single, first, single)


@settings(max_examples=400, deadline=None, database=None, derandomize=True)
@given(accounts(insolvent_ok=False), st.integers(0, 1))
def test_incentive__across_zero_equity__continuous(acct, pick):
    """Move the collateral price from just above to just below equity = 0: the keeper's gain per
    unit repaid (account discount net of fee, plus tip) changes by no more than rounding, as long
    as the insurance fund pays the tip on both sides."""
    positions, debt, colls = acct
    coll = colls[pick % len(colls)]
    p = held(positions)
    h = account_health(p.values())
    c = p[coll]
    # Scale every collateral price so that equity is +e and -e, e small enough that the account's
    # own discount (~e / debt) is far below minDiscount on the solvent side.
    debt_value = value_up(p[debt].tokens, p[debt].price, p[debt].scale)
    coll_value = h.equity + debt_value
    out, tols = [], []
    for sign in (1, -1):
        e = debt_value * c.min_discount // (WAD * 1000) + 1
        target = debt_value + sign * e
        scaled = {
            k: replace(v, price=max(1, v.price * target // coll_value)) if v.raw > 0 else v
            for k, v in p.items()
        }
        scaled[debt] = replace(scaled[debt], insurance=10**40)
        q = quote_liquidation(scaled, debt, coll, MAX_UINT256, PARAMS)
        if q.status != Status.OK or q.repay == 0:
            return
        repaid = value_up(q.repay, p[debt].price, p[debt].scale)
        out.append(gain(scaled, debt, coll, q) * WAD // repaid)
        # Whole token units, relative to what was repaid: the repayment in whole scaled units
        # (up to ceil(index) + 1 units over what the collateral costs), the fee rounded up twice
        # and the tip down twice: 2 * ROUND units of each asset (a unit may be worth a lot).
        tols.append(2 * units_value(scaled) * WAD // repaid + 10**12)
    floor = (WAD - PARAMS.insurance_share) * (c.min_discount * WAD // (WAD - c.min_discount)) // WAD
    tol = max(tols)
    # Both sides pay the keeper floor (1 - share) * minDiscount / (1 - minDiscount).
    for v in out:
        assert abs(v - floor) <= tol, (out, floor, tol)
    assert abs(out[0] - out[1]) <= tol, (out, floor, tol)


@settings(max_examples=1500, deadline=None, database=None, derandomize=True)
@given(
    st.integers(0, 18),
    st.integers(0, 18),
    st.integers(0, 18),
    st.integers(30, 400),
    st.integers(1, 99),
    st.floats(0.0, 0.999),
    st.integers(WAD, 2 * WAD),
)
def test_dust__small_debt_two_collaterals__never_stuck_and_no_new_dust_on_healthy(
    dd, c0d, c1d, debt_usd, split, target, index
):
    """The review's stuck case: a debt near the $100 floor against two small collaterals, below
    maintenance. Some pair can always be liquidated in full (maxRepay = 2**256 - 1); a liquidation
    that leaves dust on an account still holding collateral leaves it on an account still below
    maintenance, or shrinks a debt already within a scaled unit of the floor."""
    floor = 100 * WAD
    debt = Position(
        raw=0,
        price=WAD,
        scale=10**dd,
        imf=4 * 10**16,
        mmf=2 * 10**16,
        index=index,
        insurance=10**30,
        min_debt_value=floor,
    )
    d_tokens = max(1, debt_usd * debt.scale)
    debt = replace(debt, raw=-max(1, d_tokens * WAD // index))
    # Collateral split between two assets, total value set for the target health.
    mmf_c = (6 * 10**16, 5 * 10**16)
    d_value = value_up(debt.tokens, debt.price, debt.scale)
    w = (split, 100 - split)
    avg = (w[0] * mmf_c[0] + w[1] * mmf_c[1]) // 100
    # E / MMR = t with E = C - D, MMR = C avg + D mmf_d:  C = D (1 + t mmf_d) / (1 - t avg)
    t = int(target * 10**6)
    total = (d_value * (10**6 + t * debt.mmf // WAD)) // (10**6 - t * avg // WAD)
    positions = {"D": debt}
    for k, (dec, m, share) in enumerate(((c0d, mmf_c[0], w[0]), (c1d, mmf_c[1], w[1]))):
        price = 3000 * WAD if k == 0 else 60000 * WAD
        units = max(1, total * share // 100 * 10**dec // price)
        positions[f"C{k}"] = Position(
            raw=units,
            price=price,
            scale=10**dec,
            imf=m * 2,
            mmf=m,
            min_discount=10**16,
            max_discount=6 * 10**16,
        )
    h = account_health(positions.values())
    if not h.liquidatable:
        return
    event("liquidatable")
    quotes = {c: quote_liquidation(positions, "D", c, MAX_UINT256, PARAMS) for c in ("C0", "C1")}
    assert any(q.status == Status.OK for q in quotes.values()), (positions, quotes)
    for c, q in quotes.items():
        if q.status != Status.OK:
            continue
        after = held(apply(positions, "D", c, q))
        left = after["D"].tokens if "D" in after else 0
        left_value = value_up(left, debt.price, debt.scale)
        others = [k for k, p in after.items() if p.raw > 0]
        if 0 < left_value < floor and others:
            event("dust next to other collateral")
            unit = value_up(1, debt.price, debt.scale)
            at_floor = d_value < floor + (-(-index // WAD) + 2) * unit
            assert account_health(after.values()).liquidatable or at_floor, (positions, c, q)


@settings(max_examples=1500, deadline=None, database=None, derandomize=True)
@given(
    accounts(),
    st.integers(0, 1),
    st.one_of(st.just(MAX_UINT256), st.integers(1, 10_000)),
    st.integers(0, 5_000),
    st.sampled_from([1, 1, 10, 3_000]),
)
def test_settlement_bounds__honest_quotes__always_pass(acct, pick, size, share_bps, index_mult):
    positions, debt, colls = acct
    coll = colls[pick % len(colls)]
    d = positions[debt]
    if index_mult > 1:  # the same scaled debt at a far larger index: fewer, coarser scaled units
        positions[debt] = replace(d, index=d.index * index_mult, raw=min(-1, d.raw // index_mult))
        d = positions[debt]
    params = EngineParams(insurance_share=share_bps * BPS, target_health=PARAMS.target_health)
    max_repay = size if size == MAX_UINT256 else max(1, d.tokens * size // 10_000)
    snap = liquidation_snapshot(held(positions), debt, coll)
    q = price_liquidation(snap, max_repay, params)
    event(q.status.name)
    if q.status != Status.OK:
        return
    event("take-all" if q.seize == snap.collateral else "part")
    assert settlement_error(snap, q, max_repay) is None, (q, snap)
