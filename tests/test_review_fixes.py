"""The review's reproductions (issue 7), one test each, on the fixed code. Each states the problem
the review reproduced and asserts the behaviour that replaces it; the randomized sequence property
is tests/scenarios/test_liquidation_sequences.py, the batch-at-scale gas figure is
gas-snapshot.json (tests/test_gas.py), and the dust corner with two small collaterals is
tests/test_liquidation_engine.py::test_dust_corner__two_small_collaterals__never_leaves_a_healthy_account_with_dust.

Rates are live unless a test freezes them: the split reproduction needs interest between its two
halves, as the review's did.
"""

from __future__ import annotations

from typing import Any

import pytest
from ape import chain, project

from solvent.risk import (
    WAD,
    EngineParams,
    LiquidationQuote,
    Status,
    debt_tokens,
    mul_div_down,
    mul_div_up,
    price_liquidation,
    repaid_by,
    repay_at_most,
    scaled_debt_for_borrow,
    settlement_error,
    snapshot_discount,
    tip_gap,
    value_down,
    value_up,
)
from tests.utils.chain import ev, fast_custom_error_decoding, logs, reverts
from tests.utils.helpers import MAX_UINT, amount, chain_state, debt_of, freeze_rates
from tests.utils.liquidation import (
    event_gain,
    liquidated,
    list_extra_asset,
    mirror_snapshot,
    written_off,
)

ZERO = "0x" + "00" * 20


@pytest.fixture(scope="module", autouse=True)
def liquidity(act, system, lender, deployer, keeper, trader, trader2, stranger, usdc, wbtc, weth):
    """Deep vaults and an insurance fund in each (so keeper tips can be paid)."""
    act.lend(usdc, lender, "1000000")
    act.lend(wbtc, lender, "100")
    act.lend(weth, lender, "1000")
    for a, fund in ((usdc, "10000"), (wbtc, "0.2"), (weth, "5")):
        a.vault.fundInsurance(act.fund(a, deployer, fund, spender=a.vault), sender=deployer)


@pytest.fixture(scope="module", autouse=True)
def _decode_errors_without_trace_search():
    with fast_custom_error_decoding():
        yield


def usd_of(units: int, price: int, scale: int) -> int:
    return value_down(units, price, scale)


def keeper_gain(tx: Any, ma: Any, act: Any, debt, coll) -> int:
    """Collateral value + tip - repayment - fee of every Liquidated event, at the oracle prices."""
    pd, pc = act.price(debt), act.price(coll)
    return sum(event_gain(e, pd, debt.scale, pc, coll.scale) for e in liquidated(tx, ma))


# ====================================================================== 1. splitting
def open_reviewers_account(act, usdc, weth, who, sub: int = 0) -> None:
    """10 WETH against 24,000 USDC, opened at $3,000; ETH then at $2,450: equity $500, below MMR."""
    act.deposit(weth, who, "10", sub=sub)
    act.borrow(usdc, who, "24000", sub=sub)
    act.set_price(weth, "2450")


def test_split_liquidation__reviewers_account__no_bad_debt_and_no_more_paid_than_at_once(
    act, ma, liquidator, usdc, weth, trader, keeper
):
    """Before the fix: 12,000 USDC first (the equity floor drained E to ~0), then the rest five
    minutes later at the full 7% (interest had made E <= 0) wrote off 840 USDC. Now the discount
    is capped at the health-preserving one, h * (mmf_c + mmf_d) / (1 + h mmf_d) = E / (D + E)
    here: each half takes half the equity, the account keeps its health in between, and the split
    ends exactly as one liquidation does: no bad debt, the same keeper gain (interest aside)."""
    open_reviewers_account(act, usdc, weth, trader)
    equity, _, _mmr, health = ma.accountHealth(trader, 0)
    assert abs(equity - 500 * WAD) < 10**16  # $500, less a few seconds of interest
    act.fund(usdc, keeper, "100000")
    start = chain.snapshot()

    tx = liquidator.liquidate(trader, 0, usdc.token, weth.token, MAX_UINT, 0, b"", sender=keeper)
    single = keeper_gain(tx, ma, act, usdc, weth)
    assert written_off(tx, ma) == [] and debt_of(ma, usdc, trader) == 0
    chain.restore(start)

    first = liquidator.liquidate(
        trader, 0, usdc.token, weth.token, amount(usdc, "12000"), 0, b"", sender=keeper
    )
    mid_equity, _, _, mid_health = ma.accountHealth(trader, 0)
    assert mid_equity > 240 * WAD  # about half the equity is left, not ~0
    assert mid_health >= health - 10**9
    act.warp(300)
    act.refresh_feeds()
    second = liquidator.liquidate(
        trader, 0, usdc.token, weth.token, MAX_UINT, 0, b"", sender=keeper
    )
    assert written_off(first, ma) == written_off(second, ma) == []
    assert debt_of(ma, usdc, trader) == 0
    split = keeper_gain(first, ma, act, usdc, weth) + keeper_gain(second, ma, act, usdc, weth)
    assert split <= single + 10**15  # interest lowers the second half's discount, never raises it
    # The keeper's gain is the account's equity, less the 20% insurance share: $400.
    assert 399 * WAD < single <= 400 * WAD


def test_self_liquidation__reviewers_account__owner_gains_at_most_its_equity(
    act, ma, liquidator, usdc, weth, trader
):
    """Before the fix the owner, liquidating itself in two steps, gained about $1,072 from an
    account worth $500 (lenders and insurance paid the difference). Now it gets back its equity
    less the insurance fee, split or not."""
    open_reviewers_account(act, usdc, weth, trader)
    equity = int(ma.accountHealth(trader, 0)[0])
    act.fund(usdc, trader, "30000")
    u0, w0 = int(usdc.token.balanceOf(trader)), int(weth.token.balanceOf(trader))
    liquidator.liquidate(
        trader, 0, usdc.token, weth.token, amount(usdc, "12000"), 0, b"", sender=trader
    )
    act.warp(300)
    act.refresh_feeds()
    liquidator.liquidate(trader, 0, usdc.token, weth.token, MAX_UINT, 0, b"", sender=trader)
    gained = (
        usd_of(int(weth.token.balanceOf(trader)) - w0, act.price(weth), weth.scale)
        - (u0 - int(usdc.token.balanceOf(trader))) * 10**12
    )
    assert debt_of(ma, usdc, trader) == 0
    assert gained <= equity
    assert gained >= equity * 79 // 100  # 80% of it (20% insurance share), less 5 min of interest


def test_discount__near_and_below_zero_equity__keeper_incentive_continuous_no_reward_for_waiting(
    act, ma, liquidator, usdc, weth, trader, keeper
):
    """Before the fix the discount fell to ~0 as E -> 0+ and jumped to 7% at E <= 0: a keeper
    gained by waiting for insolvency. Now the account pays d = min(auction, d*) with d* -> 0 as
    E -> 0, and the insurance fund tops the keeper's net gain up to what minDiscount (1%) pays:
    just above and just below E = 0 the keeper earns the same per unit repaid."""
    act.deposit(weth, trader, "10")
    act.borrow(usdc, trader, "24000")
    owed = debt_of(ma, usdc, trader)
    breakeven = owed * 10**12 * 10**8 // (10 * WAD)  # feed answer (8 decimals) at which E ~ 0
    per_unit = {}
    for label, answer in (("above", breakeven + 200), ("below", breakeven - 200)):
        weth.feed.setAnswer(answer, sender=act.deployer)
        equity = int(ma.accountHealth(trader, 0)[0])
        assert (equity > 0) == (label == "above")
        repay, seize, fee, tip, discount = liquidator.quote(
            trader, 0, usdc.token, weth.token, MAX_UINT
        )
        gain = usd_of(seize, act.price(weth), weth.scale) + tip * 10**12 - (repay + fee) * 10**12
        per_unit[label] = gain * WAD // (repay * 10**12)
        assert tip > 0 and discount < 10**14  # the account pays ~nothing, insurance pays the keeper
    # (1 - 20%) x 1% / 99% = 0.808% of the repayment on both sides of E = 0.
    floor = 8 * 10**17 * (10**16 * WAD // (WAD - 10**16)) // WAD
    for v in per_unit.values():
        assert abs(v - floor) < 10**13
    assert abs(per_unit["above"] - per_unit["below"]) < 10**13


def test_full_liquidation_of_one_of_two_collaterals__solvent_account_keeps_equity_for_the_rest(
    act, ma, liquidator, usdc, wbtc, weth, trader, keeper
):
    """The cliff without an attacker: before the fix, taking all of one collateral could leave
    E ~ 0 with debt left, so the next liquidation turned it into bad debt. With the
    health-preserving cap, health is unchanged by taking all of the WBTC; the WETH left is then
    liquidated without any write-off."""
    act.deposit(weth, trader, "5")
    act.deposit(wbtc, trader, "0.25")
    act.borrow(usdc, trader, "23800")  # E = 24,100 - 23,800 = $300 after the move
    act.set_price(weth, "2420")
    act.set_price(wbtc, "48000")
    e0, _, _, h0 = ma.accountHealth(trader, 0)
    assert e0 > 0 and h0 < 3 * 10**17
    act.fund(usdc, keeper, "100000")
    tx = liquidator.liquidate(trader, 0, usdc.token, wbtc.token, MAX_UINT, 0, b"", sender=keeper)
    assert int(ma.rawBalance(trader, 0, wbtc.token)) == 0  # all of the WBTC
    e1, _, _, h1 = ma.accountHealth(trader, 0)
    assert e1 > 0 and h1 >= h0 - 10**9
    act.warp(600)
    act.refresh_feeds()
    tx2 = liquidator.liquidate(trader, 0, usdc.token, weth.token, MAX_UINT, 0, b"", sender=keeper)
    assert written_off(tx, ma) == written_off(tx2, ma) == []
    assert debt_of(ma, usdc, trader) == 0


# ====================================================================== 2. settlement trust
@pytest.fixture
def hostile(ma, deployer, usdc):
    """A liquidation engine that prices whatever it is told, installed by the admin."""
    engine = project.HostileEngine.deploy(ma, sender=deployer)
    ma.setLiquidator(engine, sender=deployer)
    return engine


def quote_tuple(status=0, repay_scaled=0, repay=0, seize=0, fee=0, tip=0, discount=0):
    return (status, repay_scaled, repay, seize, fee, tip, discount, 0, 0)


def test_hostile_engine__healthy_account_seize_everything__refused_account_healthy(
    act, system, ma, usdc, weth, trader, keeper, stranger, hostile
):
    """Before the fix an admin-set liquidator settled repay = 0, seize = all of a healthy account's
    10 WETH, and its debt went onto the lenders. The MarginAccount now takes its own snapshot and
    refuses any settlement on an account at or above maintenance."""
    freeze_rates(usdc, act.deployer)  # equity and MMR as read here are what the revert reports
    act.deposit(weth, trader, "10")
    act.borrow(usdc, trader, "5000")
    equity, _, mmr, _ = ma.accountHealth(trader, 0)
    hostile.setQuote(quote_tuple(seize=amount(weth, "10")), sender=stranger)
    before = chain_state(system, trader, [keeper, stranger, hostile])
    with reverts(ma.AccountHealthy, equity=equity, mmr=mmr):
        hostile.attack(trader, 0, usdc.token, weth.token, MAX_UINT, sender=stranger)
    assert chain_state(system, trader, [keeper, stranger, hostile]) == before
    assert weth.token.balanceOf(hostile) == 0


ABUSES = [
    "seize_above_bound",
    "tip_on_top_of_the_discount",
    "repay_above_max",
    "repay_nothing",
    "victim_pays_a_fee",
    "victim_pays_someones_debt",
    "payer_is_the_margin_account",
    "victim_keeper_callback",
]


def mirror_quote(q: tuple) -> LiquidationQuote:
    """A quote_tuple as the mirror's quote."""
    _, scaled, repay, seize, fee, tip, discount, _, _ = q
    return LiquidationQuote(Status.OK, repay, seize, fee, discount, 0, 0, tip, scaled)


@pytest.mark.parametrize("abuse", ABUSES)
def test_hostile_engine__liquidatable_account__quote_outside_bounds_refused_state_untouched(
    act,
    system,
    ma,
    liquidator,
    usdc,
    weth,
    trader,
    trader2,
    keeper,
    stranger,
    deployer,
    hostile,
    abuse,
):
    """A liquidatable account (health 0.98). Whatever the engine says, the MarginAccount allows at
    most collateral worth repay / (1 - d) with d = min(auction, health-preserving discount) (1.12%
    here), no tip at all since d is above minDiscount (an engine once could take one on top of the
    full discount and drain insurance), no repayment above maxRepay or of nothing; and the payer the
    engine names (anyone who approved the MarginAccount, e.g. for deposits) gets at least what it
    pays: no engine can charge a victim a fee, make it repay someone else's debt, make the
    MarginAccount pay from pooled collateral (WETH9 skips the allowance for its own sender) or
    drive a keeper contract's callback that checks it started the liquidation. The mirror
    (solvent.risk.settlement_error) names the same error with the same inputs."""
    freeze_rates(usdc, act.deployer)  # the index, and so every bound below, stays put
    act.deposit(weth, trader, "10")
    act.borrow(usdc, trader, "24000")
    act.set_price(weth, "2600")
    snap = ma.liquidationSnapshot(trader, 0, usdc.token, weth.token)
    scaled, index, owed = int(snap.debtScaled), int(snap.debtIndex), int(snap.debt)
    health = int(snap.equity) * WAD // int(snap.mmr)
    lo, hi = int(snap.minDiscount), int(snap.maxDiscount)
    auction = lo + mul_div_down(hi - lo, WAD - health, WAD)
    d_star = mul_div_down(
        health,
        int(snap.collateralMmf) + int(snap.debtMmf),
        WAD + mul_div_up(health, int(snap.debtMmf), WAD),
    )
    d = min(auction, d_star)
    assert d == auction and 10**16 < d < 2 * 10**16
    burn = scaled // 10
    repay = owed - debt_tokens(scaled - burn, index)
    pu, pw = act.price(usdc), act.price(weth)
    repay_value = value_up(repay, pu, usdc.scale)
    fair = mul_div_down(repay_value, WAD, WAD - d)  # USD the account may give for it
    fair_seize = fair * weth.scale // pw
    hostile.approve(usdc.token, ma, MAX_UINT, sender=stranger)
    act.mint(usdc, hostile, "100000")
    act.fund(usdc, trader2, "50000")  # a bystander who approved the MarginAccount
    payer, data, max_repay = hostile.address, b"", MAX_UINT
    q = quote_tuple(repay_scaled=burn, repay=repay, seize=fair_seize)
    floor_tip = mul_div_down(repay, lo, WAD - lo)  # what the keeper floor would be worth
    if abuse == "seize_above_bound":
        q = quote_tuple(repay_scaled=burn, repay=repay, seize=fair_seize + 10**15)
        seize_value = value_down(fair_seize + 10**15, pw, weth.scale)
        error = (ma.SeizeAboveBound, {"seizeValue": seize_value, "maxSeizeValue": fair})
    elif abuse == "tip_on_top_of_the_discount":
        # The full discount and the floor's worth of tip on top: insurance would pay for nothing.
        q = quote_tuple(repay_scaled=burn, repay=repay, seize=fair_seize, tip=floor_tip)
        error = (ma.TipAboveBound, {"tip": floor_tip, "maxTip": 0})
    elif abuse == "repay_above_max":
        max_repay = repay - 1
        error = (ma.RepayAboveMax, {"repay": repay, "maxRepay": max_repay})
    elif abuse == "repay_nothing":
        q = quote_tuple(repay_scaled=0, repay=10**9, seize=amount(weth, "1"))
        error = (ma.RepayTooSmall, {"amount": MAX_UINT, "minAmount": -(-index // WAD)})
    elif abuse == "victim_pays_a_fee":
        payer = trader2.address
        fee = amount(usdc, "10000")
        q = quote_tuple(repay_scaled=burn, repay=repay, seize=fair_seize, fee=fee)
        received = value_down(fair_seize, pw, weth.scale)
        paid = value_up(repay + fee, pu, usdc.scale)
        error = (ma.PayerShortchanged, {"received": received, "paid": paid})
    elif abuse == "victim_pays_someones_debt":
        payer = trader2.address
        q = quote_tuple(repay_scaled=burn, repay=repay, seize=0)
        error = (ma.PayerShortchanged, {"received": 0, "paid": repay_value})
    elif abuse == "payer_is_the_margin_account":
        payer = ma.address
        error = (ma.InvalidPayer, {"payer": ma.address})
    else:
        flash = project.FlashKeeper.deploy(liquidator, ZERO, sender=deployer)
        usdc.token.mint(flash, amount(usdc, "100000"), sender=deployer)
        flash.approve(usdc.token, ma, MAX_UINT, sender=deployer)
        payer, data = flash.address, b"\x00" * 31 + b"\x00"  # Mode.NOOP: pay from inventory
        error = (flash.NotInitiated, {})
    if abuse not in ("payer_is_the_margin_account", "victim_keeper_callback"):
        snap_mirror = mirror_snapshot(ma, trader, 0, usdc.token, weth.token)
        mirror = settlement_error(snap_mirror, mirror_quote(q), max_repay)
        assert mirror == (error[0].abi.name, error[1]), (mirror, error)
    hostile.setQuote(q, sender=stranger)
    watched = [keeper, stranger, hostile, trader2] + ([payer] if abuse.endswith("callback") else [])
    before = chain_state(system, trader, watched)
    with reverts(error[0], **error[1]):
        hostile.attackAs(payer, trader, 0, usdc.token, weth.token, max_repay, data, sender=stranger)
    assert chain_state(system, trader, watched) == before
    # The honest maximum passes the same bounds.
    hostile.setQuote(quote_tuple(repay_scaled=burn, repay=repay, seize=fair_seize), sender=stranger)
    hostile.attack(trader, 0, usdc.token, weth.token, MAX_UINT, sender=stranger)
    assert weth.token.balanceOf(hostile) == fair_seize


def fair_seize(snap, repay: int) -> int:
    """Collateral units worth repay / (1 - d) at the account's own discount (rounded down)."""
    d = snapshot_discount(snap)
    worth = mul_div_down(value_up(repay, snap.debt_price, snap.debt_scale), WAD, WAD - d)
    return mul_div_down(worth, snap.collateral_scale, snap.collateral_price)


def test_hostile_engine__deep_account__tip_at_most_what_tops_the_discount_up_to_the_floor(
    act, system, ma, usdc, weth, trader, trader2, keeper, stranger, deployer, hostile
):
    """Below minDiscount the tip may top the liquidator's discount d up to the floor, no more:
    repay * (minDiscount / (1 - minDiscount) - d / (1 - d)), rounded up. One base unit more is
    refused, on chain and in the mirror, whoever pays; the honest engine's tip (the same gap less
    the insurance share, rounded down) is below it."""
    freeze_rates(usdc, act.deployer)
    usdc.vault.fundInsurance(act.fund(usdc, deployer, "10000", spender=usdc.vault), sender=deployer)
    act.deposit(weth, trader, "10")
    act.borrow(usdc, trader, "24000")
    act.set_price(weth, "2410")  # E = $100: d = 0.41% < minDiscount = 1%
    snap = mirror_snapshot(ma, trader, 0, usdc.token, weth.token)
    burn = snap.debt_scaled // 10
    repay = repaid_by(snap.debt_scaled, snap.debt_index, snap.debt, burn)
    d, lo = snapshot_discount(snap), snap.min_discount
    assert d < lo
    max_tip = mul_div_up(repay, tip_gap(lo, d), WAD)
    seize = fair_seize(snap, repay)
    q = quote_tuple(repay_scaled=burn, repay=repay, seize=seize, tip=max_tip + 1)
    error = {"tip": max_tip + 1, "maxTip": max_tip}
    assert settlement_error(snap, mirror_quote(q), MAX_UINT) == ("TipAboveBound", error)
    hostile.approve(usdc.token, ma, MAX_UINT, sender=stranger)
    act.mint(usdc, hostile, "100000")
    hostile.setQuote(q, sender=stranger)
    before = chain_state(system, trader, [keeper, stranger, hostile])
    with reverts(ma.TipAboveBound, **error):
        hostile.attack(trader, 0, usdc.token, weth.token, MAX_UINT, sender=stranger)
    assert chain_state(system, trader, [keeper, stranger, hostile]) == before
    honest = liquidator_quote_of(system, snap, repay)  # the same repayment, priced honestly
    assert honest.repay == repay and 0 < honest.insurance_tip < max_tip
    assert settlement_error(snap, honest, repay) is None
    # The bound itself passes (an engine may keep the insurance share of the gap: see the docs).
    hostile.setQuote(
        quote_tuple(repay_scaled=burn, repay=repay, seize=seize, tip=max_tip), sender=stranger
    )
    tx = hostile.attack(trader, 0, usdc.token, weth.token, MAX_UINT, sender=stranger)
    (e,) = liquidated(tx, ma)
    assert (e["repaid"], e["seized"], e["insuranceTip"]) == (repay, seize, max_tip)


def liquidator_quote_of(system, snap, max_repay: int) -> LiquidationQuote:
    """The honest engine's quote on a mirror snapshot (config/local.yaml's parameters)."""
    params = EngineParams(
        insurance_share=system.config.insurance_share, target_health=system.config.target_health
    )
    return price_liquidation(snap, max_repay, params)


# ====================================================================== 3. low-decimal debt
@pytest.fixture(params=[0, 2], ids=["0_decimals", "2_decimals"])
def low(request, system, act, deployer, lender, weth, usdc):
    """A debt token of 0 or 2 decimals worth $2,400 or $24 a unit: one base unit is material."""
    decimals = request.param
    price = "2400" if decimals == 0 else "24"
    asset = list_extra_asset(
        system,
        deployer,
        symbol=f"LOW{decimals}",
        decimals=decimals,
        price=price,
        imf="0.12",
        mmf="0.06",
        min_discount="0.01",
        max_discount="0.07",
    )
    act.lend(asset, lender, 10**6 if decimals == 0 else 10**8)
    asset.vault.fundInsurance(act.fund(asset, deployer, 1000, spender=asset.vault), sender=deployer)
    return asset


def test_low_decimal_debt__repay_and_liquidate_below_one_scaled_unit__refused_debt_always_falls(
    act, ma, liquidator, low, weth, trader, keeper, usdc
):
    """Before the fix, with a 0-decimal debt and an index above 1, `repay(1)` took a unit and
    burnt nothing, and two 1-unit liquidations seized 1.57 WETH leaving the debt unchanged. Now a
    repayment burns whole scaled units and pulls exactly the fall in the debt; below one scaled
    unit it reverts RepayTooSmall, for repay and liquidation alike."""
    act.deposit(weth, trader, "10")
    borrowed = 7 if low.decimals == 0 else 700 * 100  # $16,800: 7 units of $2,400, or 700.00 x $24
    ma.borrow(trader, 0, low.token, borrowed, trader, sender=trader)
    assert debt_of(ma, low, trader) == borrowed  # owes what it received, not a unit more
    act.warp(30 * 24 * 3600)
    act.refresh_feeds()
    low.feed.setAnswer(int(low.feed.latestRoundData()[1]), sender=act.deployer)
    index = int(low.vault.borrowIndex())
    assert index > WAD
    act.fund(low, trader, 100)
    with reverts(ma.RepayTooSmall, amount=1, minAmount=-(-index // WAD)):
        ma.repay(trader, 0, low.token, 1, sender=trader)
    # Two units burn one scaled unit (the index is below 2) and cost exactly what the debt falls.
    owed = debt_of(ma, low, trader)
    tx = ma.repay(trader, 0, low.token, 2, sender=trader)
    assert 1 <= tx.return_value <= 2 and debt_of(ma, low, trader) == owed - tx.return_value

    act.set_price(weth, "1850")  # below maintenance
    assert ma.isLiquidatable(trader, 0)
    act.fund(low, keeper, 1000)
    with reverts(liquidator.RepayTooSmall, amount=1, minAmount=-(-index // WAD)):
        liquidator.quote(trader, 0, low.token, weth.token, 1)
    with reverts(ma.RepayTooSmall, amount=1, minAmount=-(-index // WAD)):
        liquidator.liquidate(trader, 0, low.token, weth.token, 1, 0, b"", sender=keeper)
    # Small liquidations, one after the other: each one lowers the debt, and the collateral that
    # leaves is paid for by what the debt falls (the account's equity per unit never jumps).
    for _ in range(4):
        if not ma.isLiquidatable(trader, 0):
            break
        debt_before = debt_of(ma, low, trader)
        weth_before = int(ma.rawBalance(trader, 0, weth.token))
        tx = liquidator.liquidate(trader, 0, low.token, weth.token, 2, 0, b"", sender=keeper)
        (e,) = liquidated(tx, ma)
        assert e["repaid"] == debt_before - debt_of(ma, low, trader) > 0
        assert e["seized"] == weth_before - int(ma.rawBalance(trader, 0, weth.token))
        paid_value = value_up(e["repaid"], act.price(low), low.scale)
        assert (
            value_down(e["seized"], act.price(weth), weth.scale) * (WAD - 7 * 10**16)
            <= paid_value * WAD
        )


def test_low_decimal_debt__borrow_rounding__owes_the_smallest_whole_debt_covering_the_borrow(
    act, ma, low, weth, trader
):
    """Before the fix, 11 units borrowed showed as 12 owed after a month on a 0-decimal token (the
    scaled debt was rounded up on top of the debt's own ceil). Now a borrow records the smallest
    whole number of scaled units whose debt covers it: right after the borrow the account owes what
    it received (or one unit more only where whole scaled units cannot express it), and interest
    adds whole units only as it accrues."""
    act.deposit(weth, trader, "100")
    act.warp(90 * 24 * 3600)  # an index above 1 first
    act.refresh_feeds()
    low.feed.setAnswer(int(low.feed.latestRoundData()[1]), sender=act.deployer)
    units = 11 if low.decimals == 0 else 1100
    index = int(low.vault.borrowIndex())
    ma.borrow(trader, 0, low.token, units, trader, sender=trader)
    scaled = -int(ma.rawBalance(trader, 0, low.token))
    assert scaled == (units - 1) * WAD // index + 1
    assert units <= debt_of(ma, low, trader) <= units + 1
    assert debt_tokens(scaled - 1, index) < units  # one scaled unit fewer would not cover it


@pytest.mark.parametrize("abuse", ["fee_in_the_rounding_slack", "take_all_overshoot"])
def test_low_decimal_debt__hostile_engine__cannot_farm_whole_unit_rounding(
    act, system, ma, low, weth, trader, trader2, keeper, stranger, deployer, hostile, abuse
):
    """A base unit of a 0-decimal debt worth $2,400 is material. An engine once could charge a
    payer who approved the MarginAccount four units of fee per 1-unit liquidation, inside the
    settlement's rounding slack ($9,567 lost in one call), or make it repay a whole insolvent debt
    for collateral worth far less. The slack is now one collateral and two debt units, and a
    take-all must leave the payer whole at one scaled unit less: both are refused, on chain and in
    the mirror, and the payer keeps its tokens."""
    freeze_rates(low, act.deployer)  # a second of interest would add a whole $2,400 unit
    act.deposit(weth, trader, "10")
    borrowed = 8 if low.decimals == 0 else 800 * 100  # $19,200 either way
    ma.borrow(trader, 0, low.token, borrowed, trader, sender=trader)
    act.fund(low, trader2, 10**6 if low.decimals == 0 else 10**8)  # a bystander's approval
    if abuse == "fee_in_the_rounding_slack":
        act.set_price(weth, "2150")  # E = $2,300 < MMR = $2,442
        snap = mirror_snapshot(ma, trader, 0, low.token, weth.token)
        repay = repaid_by(snap.debt_scaled, snap.debt_index, snap.debt, 1)
        seize = fair_seize(snap, repay)
        fee = 4  # base units: the honest fee is at most one
        q = quote_tuple(repay_scaled=1, repay=repay, seize=seize, fee=fee)
    else:
        act.set_price(weth, "720")  # collateral $7,200: insolvent
        snap = mirror_snapshot(ma, trader, 0, low.token, weth.token)
        assert snap.equity < 0
        q = quote_tuple(repay_scaled=snap.debt_scaled, repay=snap.debt, seize=snap.collateral)
    error = settlement_error(snap, mirror_quote(q), MAX_UINT)
    assert error is not None and error[0] == "PayerShortchanged", error
    assert error[1]["paid"] > error[1]["received"] + value_up(1, snap.debt_price, snap.debt_scale)
    hostile.setQuote(q, sender=stranger)
    watched = [keeper, stranger, hostile, trader2]
    before = chain_state(system, trader, watched)
    with reverts(ma.PayerShortchanged, **error[1]):
        hostile.attackAs(trader2, trader, 0, low.token, weth.token, MAX_UINT, b"", sender=stranger)
    assert chain_state(system, trader, watched) == before
    # The honest engine's quote for the same account passes the same bounds.
    honest = liquidator_quote_of(system, snap, MAX_UINT)
    assert honest.ok and settlement_error(snap, honest, MAX_UINT) is None


# ====================================================================== 4. dust everywhere
def test_borrow__debt_below_the_floor__reverts_dust_remaining_state_untouched(
    act, system, ma, usdc, weth, trader, keeper, stranger
):
    """Before the fix a $50 borrow (floor $100) went through: a debt no keeper would liquidate."""
    freeze_rates(usdc, act.deployer)
    act.deposit(weth, trader, "1")
    index = int(usdc.vault.borrowIndex())
    units = amount(usdc, "50")
    owed = debt_tokens(scaled_debt_for_borrow(units, index), index)
    before = chain_state(system, trader, [keeper, stranger])
    with reverts(ma.DustRemaining, debtLeftValue=owed * 10**12, minDebtValue=100 * WAD):
        ma.borrow(trader, 0, usdc.token, units, trader, sender=trader)
    assert chain_state(system, trader, [keeper, stranger]) == before
    ma.borrow(trader, 0, usdc.token, amount(usdc, "100"), trader, sender=trader)  # the floor: ok
    floor_debt = debt_of(ma, usdc, trader, must_owe=True)
    assert floor_debt >= amount(usdc, "100")
    # Adding to a debt at or above the floor is never dust.
    ma.borrow(trader, 0, usdc.token, 1, trader, sender=trader)
    assert debt_of(ma, usdc, trader) >= floor_debt + 1


@pytest.mark.parametrize("how", ["repay", "deposit", "transfer"])
def test_partial_repayment_leaving_dust__reverts_dust_remaining_state_untouched(
    act, system, ma, usdc, weth, trader, keeper, stranger, how
):
    """Repay, a deposit into a debt and a transfer into a sub-account with debt all repay; before
    the fix each could leave 0 < debt < $100. Now none may; repaying all, or leaving at least the
    floor, is always allowed."""
    freeze_rates(usdc, act.deployer)
    act.deposit(weth, trader, "1", sub=1)
    act.borrow(usdc, trader, "500", sub=1)
    act.fund(usdc, trader, "1000")
    if how == "transfer":
        act.deposit(usdc, trader, "1000", sub=0)
    scaled = -int(ma.rawBalance(trader, 1, usdc.token))
    index = int(usdc.vault.borrowIndex())
    owed = debt_tokens(scaled, index)
    offer = owed - amount(usdc, "50")  # would leave about $50
    _, repaid = repay_at_most(scaled, index, owed, offer)
    left_value = value_up(owed - repaid, act.price(usdc), usdc.scale)
    call = {
        "repay": lambda units: ma.repay(trader, 1, usdc.token, units, sender=trader),
        "deposit": lambda units: ma.deposit(trader, 1, usdc.token, units, sender=trader),
        "transfer": lambda units: ma.transfer(trader, 0, 1, usdc.token, units, sender=trader),
    }[how]
    before = chain_state(system, trader, [keeper, stranger])
    with reverts(ma.DustRemaining, debtLeftValue=left_value, minDebtValue=100 * WAD):
        call(offer)
    assert chain_state(system, trader, [keeper, stranger]) == before
    call(owed - amount(usdc, "100"))  # leaves at least the floor: allowed
    assert debt_of(ma, usdc, trader, 1) >= amount(usdc, "100")
    call(MAX_UINT if how == "repay" else amount(usdc, "200"))  # all of it: allowed
    assert debt_of(ma, usdc, trader, 1) == 0


def test_partial_repayment__debt_assets_feed_stale__dust_check_skipped_repay_goes_through(
    act, ma, usdc, weth, trader
):
    """Repay must work in any oracle state: without a price the dust check cannot run, and a
    repayment only lowers risk, so it goes through (documented in docs/liquidation.md)."""
    freeze_rates(usdc, act.deployer)
    act.deposit(weth, trader, "1")
    act.borrow(usdc, trader, "500")
    act.fund(usdc, trader, "1000")
    round_id, answer, *_ = usdc.feed.latestRoundData()
    old = chain.blocks.head.timestamp - usdc.spec.max_age - 1
    usdc.feed.setRoundData(round_id + 1, answer, old, round_id + 1, sender=act.deployer)
    owed = debt_of(ma, usdc, trader)
    ma.repay(trader, 0, usdc.token, owed - amount(usdc, "50"), sender=trader)
    assert 0 < debt_of(ma, usdc, trader) <= amount(usdc, "50")


# ====================================================================== 5. edges
def vault_state_slot(vault: Any) -> int:
    """The storage slot of the Vault's packed (cash, totalBorrows) word, found by its value."""
    cash, borrows = int(vault.cash()), int(vault.totalBorrows())
    word = (borrows << 128) | cash
    for slot in range(32):
        if int.from_bytes(vault.provider.get_storage(vault.address, slot), "big") == word:
            return slot
    raise AssertionError("state slot not found")


def test_vault_deposit__above_what_the_books_hold__refused_by_max_deposit_not_truncated(
    act, usdc, lender
):
    """Before the fix a deposit above 2**128 units minted shares for all of it and booked only the
    low 128 bits (`uint128(assets)`). Now maxDeposit is the room left under MAX_TOTAL_ASSETS and a
    larger deposit reverts ERC4626ExceededMaxDeposit; maxMint is what maxDeposit buys."""
    vault = usdc.vault
    cap = int(vault.MAX_TOTAL_ASSETS())
    assert cap == (2**128 - 1) // 2
    room = cap - int(vault.cash()) - int(vault.totalBorrows())
    assert int(vault.maxDeposit(lender)) == room
    assert int(vault.maxMint(lender)) == int(vault.convertToShares(room))
    big = 2**128 + 5
    act.fund(usdc, lender, big, spender=vault)
    with reverts(vault.ERC4626ExceededMaxDeposit, receiver=lender, assets=big, max=room):
        vault.deposit(big, lender, sender=lender)
    cash = int(vault.cash())
    vault.deposit(room, lender, sender=lender)  # exactly the room: booked in full
    assert int(vault.cash()) == cash + room
    assert int(vault.maxDeposit(lender)) == 0


def test_vault_borrow_index__at_its_cap__interest_stops_and_the_vault_keeps_working(
    act, ma, usdc, weth, trader, lender, keeper, deployer
):
    """Before the fix the uint96 index overflowed after ~2.5 years at the 1000% rate cap and full
    utilization, and every action of the vault reverted. Now accrual stops at MAX_BORROW_INDEX
    (event BorrowIndexCapped): deposits, withdrawals, repayments and liquidations still work."""
    vault = usdc.vault
    act.deposit(weth, trader, "100")
    act.borrow(usdc, trader, "100000")
    vault.setRateModel((10 * 10**18, 0, 0, 8 * 10**17), sender=deployer)  # 1000% a year, flat
    vault.accrueInterest(sender=keeper)
    slot = vault_state_slot(vault)
    word = int.from_bytes(vault.provider.get_storage(vault.address, slot + 1), "big")
    insurance, last = word & (2**128 - 1), word >> 224
    near = int(vault.MAX_BORROW_INDEX()) - 10**24
    packed = insurance | (near << 128) | (last << 224)
    vault.provider.set_storage(vault.address, slot + 1, packed.to_bytes(32, "big"))
    assert int(vault.borrowIndex()) == near
    act.warp(365 * 24 * 3600)
    act.refresh_feeds()

    tx = vault.accrueInterest(sender=keeper)
    assert int(vault.borrowIndex()) == int(vault.MAX_BORROW_INDEX())
    assert logs(tx, vault.BorrowIndexCapped) == [ev(borrowIndex=vault.MAX_BORROW_INDEX())]
    # Nothing reverts from here: the lenders and the MarginAccount keep using the vault.
    act.lend(usdc, lender, "10")
    vault.withdraw(amount(usdc, "1"), lender, lender, sender=lender)
    # Each scaled unit of debt is now worth ~7.9e10 base units: repay at least that much.
    act.fund(usdc, trader, "100000")
    tx = ma.repay(trader, 0, usdc.token, amount(usdc, "100000"), sender=trader)
    assert tx.return_value > 0
    act.warp(3600)
    act.refresh_feeds()
    vault.accrueInterest(sender=keeper)
    assert int(vault.borrowIndex()) == int(vault.MAX_BORROW_INDEX())


def test_withdraw__account_without_debt__works_with_a_stale_feed_of_one_of_its_assets(
    act, ma, usdc, wbtc, weth, trader, oracle
):
    """Before the fix a no-debt account could not withdraw while any of its assets' feeds was
    stale: with no debt E >= IMR at any positive prices (every imf < 1), so no price is needed."""
    act.deposit(weth, trader, "1")
    act.deposit(usdc, trader, "100")
    # sub 5 holds the same assets and owes WBTC.
    act.deposit(weth, trader, "1", sub=5)
    act.deposit(usdc, trader, "100", sub=5)
    act.borrow(wbtc, trader, "0.002", sub=5)
    round_id, answer, *_ = usdc.feed.latestRoundData()
    old = chain.blocks.head.timestamp - usdc.spec.max_age - 1
    usdc.feed.setRoundData(round_id + 1, answer, old, round_id + 1, sender=act.deployer)
    ma.withdraw(trader, 0, weth.token, amount(weth, "1"), trader, sender=trader)
    ma.transfer(trader, 0, 3, usdc.token, amount(usdc, "40"), sender=trader)
    ma.withdraw(trader, 0, usdc.token, amount(usdc, "60"), trader, sender=trader)
    assert list(ma.accountAssets(trader, 0)) == []
    # With a debt, the stale price still blocks a withdrawal: no price, no margin check.
    with reverts(oracle.StaleAnswer, asset=usdc.token, updatedAt=old, maxAge=usdc.spec.max_age):
        ma.withdraw(trader, 5, weth.token, 1, trader, sender=trader)


def test_liquidator_constructor__zero_margin_account_or_admin__reverts_zero_address(
    ma, liquidator, deployer, accounts
):
    fresh = accounts.generate_test_account()
    deployer.transfer(fresh, 10**18)
    for margin_account, admin in ((ZERO, deployer), (ma, ZERO)):
        with reverts(liquidator.ZeroAddress):
            project.Liquidator.deploy(margin_account, admin, 0, WAD, sender=fresh)


@pytest.mark.parametrize("role", ["debt", "collateral"])
def test_liquidate__unlisted_asset__reverts_asset_not_listed(
    act, ma, liquidator, usdc, weth, trader, keeper, deployer, role
):
    """Before the fix an unlisted asset gave NothingToRepay / NoCollateral; a keeper is now told
    the real cause."""
    open_reviewers_account(act, usdc, weth, trader)
    stray = project.MockERC20.deploy("Stray", "STR", 18, sender=deployer)
    debt, coll = (stray, weth.token) if role == "debt" else (usdc.token, stray)
    with reverts(ma.AssetNotListed, asset=stray):
        liquidator.quote(trader, 0, debt, coll, MAX_UINT)
    act.fund(usdc, keeper, "1000")
    with reverts(ma.AssetNotListed, asset=stray):
        liquidator.liquidate(trader, 0, debt, coll, MAX_UINT, 0, b"", sender=keeper)
    with reverts(ma.AssetNotListed, asset=stray):
        liquidator.liquidateBatch([(trader, 0)], debt, coll, 0, sender=keeper)
