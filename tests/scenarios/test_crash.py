"""Scenarios: price shocks and keeper liquidations, bad debt, and interest over time.

Every liquidation goes through `Keeper` (tests/utils/scenarios.py), which asserts that the on-chain
quote, the Liquidated event and the account's balances afterwards equal solvent.risk exactly.
Amounts are whole tokens as strings (converted exactly) or base units; all expected values are
integers computed with the contracts' rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from ape import chain

from solvent.config import RateModel
from solvent.rates import rate_per_second, utilization
from solvent.risk import (
    MAX_UINT256,
    WAD,
    debt_tokens,
    health_preserving_discount,
    liquidation_snapshot,
    mul_div_down,
    mul_div_up,
    target_repay_cap,
    value_down,
    value_up,
)
from tests.utils.helpers import amount, seed_frozen_market
from tests.utils.scenarios import (
    chain_health,
    expected_convert_to_assets,
    revert_of,
    share_price,
    usd,
)

SECONDS_PER_YEAR = 365 * 24 * 3600


@dataclass(frozen=True)
class Shock:
    """One account (trader, sub 0): `deposit` of `collateral`, `borrow` of `debt`, then the price
    of `shocked` is multiplied by `factor`; the keeper repays at most `chunk` per liquidation."""

    collateral: str
    deposit: str
    debt: str
    borrow: str
    shocked: str
    factor: str
    chunk: str
    liquidity: str


SHOCKS = {
    # 10 WETH at $3000 against 17,000 USDC; ETH -> $1800: equity $1000 < MMR $1420.
    "long_eth_crash_40pct": Shock("WETH", "10", "USDC", "17000", "WETH", "0.6", "3000", "100000"),
    # 10,000 USDC against 2.5 WETH; ETH -> $3750: equity $625 < MMR $762.5.
    "short_eth_pump_25pct": Shock("USDC", "10000", "WETH", "2.5", "WETH", "1.25", "0.25", "100"),
    # 1 WBTC (8 decimals) at $60,000 against 34,000 USDC; BTC -> $36,000: equity $2000 < MMR $2480.
    "long_btc_crash_40pct": Shock("WBTC", "1", "USDC", "34000", "WBTC", "0.6", "8000", "100000"),
}


@pytest.mark.parametrize("case", list(SHOCKS.values()), ids=list(SHOCKS))
def test_keeper_liquidation__price_shock__account_restored_above_mmr_and_keeper_profits(
    case, system, act, ma, liquidator, keeper_bot, keeper, lender, trader
):
    coll, debt = system.asset(case.collateral), system.asset(case.debt)
    act.lend(debt, lender, case.liquidity)
    deposited = act.deposit(coll, trader, case.deposit)
    act.borrow(debt, trader, case.borrow)
    assert act.health(trader).meets_initial
    assert not ma.isLiquidatable(trader, 0)

    act.move_price(system.asset(case.shocked), case.factor)
    shocked = act.health(trader)
    assert shocked == act.mirror_health(trader)
    assert 0 < shocked.equity < shocked.mmr  # below maintenance, still solvent
    assert ma.isLiquidatable(trader, 0)

    act.fund(debt, keeper, case.borrow)
    debt.vault.accrueInterest(sender=keeper)  # stored vault state == views from here on
    insurance0 = int(debt.vault.insuranceFund())
    debt0, coll0 = int(debt.token.balanceOf(keeper)), int(coll.token.balanceOf(keeper))

    steps = keeper_bot.liquidate_until_safe(trader, 0, debt, coll, amount(debt, case.chunk))

    assert len(steps) >= 2  # partial liquidations, each capped at the chunk
    # Whole scaled units of the chunk: at most ceil(index) + 1 base units short of it.
    chunk = amount(debt, case.chunk)
    assert all(chunk - 3 <= s.quote.repay <= chunk for s in steps[:-1])
    assert steps[-1].quote.repay < amount(debt, case.chunk)  # the last one capped by the target
    assert not any(s.bad_debt for s in steps)
    repaid = sum(s.quote.repay for s in steps)
    seized = sum(s.quote.seize for s in steps)
    fees = sum(s.quote.insurance_fee for s in steps)

    # The account is back above maintenance and still holds a (smaller) position.
    final = act.health(trader)
    assert final == act.mirror_health(trader)
    assert final.equity >= final.mmr
    assert not ma.isLiquidatable(trader, 0)
    assert chain_health(ma, trader, 0)[3] >= WAD
    assert int(ma.rawBalance(trader, 0, coll.token)) == deposited - seized > 0
    assert int(ma.balanceOf(trader, 0, debt.token)) < 0
    assert (
        int(coll.token.balanceOf(ma)) == int(ma.totalCollateral(coll.token)) == deposited - seized
    )

    # The keeper paid repay + fee in the debt asset and received the seized collateral.
    spent = debt0 - int(debt.token.balanceOf(keeper))
    gained = int(coll.token.balanceOf(keeper)) - coll0
    assert (spent, gained) == (repaid + fees, seized)

    # Keeper profit in USD = seized value - repaid value - insurance fee, and it is positive.
    pc, pd = act.price(coll), act.price(debt)
    profit = usd(gained, pc, coll.scale) - usd(spent, pd, debt.scale)
    assert profit > 0
    # Per liquidation: the discount is the Dutch auction in the health before it, capped by the
    # health-preserving discount; the collateral is worth the repaid value / (1 - d), less the
    # rounding of the seizure against the keeper (under one collateral unit's value); the
    # insurance cut is insuranceShare of the discount value.
    params = keeper_bot.params
    cfg = ma.assetConfig(coll.token)
    debt_mmf = int(ma.assetConfig(debt.token).mmf)
    unit = mul_div_up(1, pc, coll.scale)
    for s in steps:
        q = s.quote
        assert q.health == s.health_before.health < WAD
        assert q.discount == min(
            int(cfg.minDiscount)
            + mul_div_down(int(cfg.maxDiscount) - int(cfg.minDiscount), WAD - q.health, WAD),
            health_preserving_discount(q.health, int(cfg.mmf), debt_mmf),
        )
        repaid_value = value_up(q.repay, pd, debt.scale)
        gross = value_down(q.seize, pc, coll.scale) - repaid_value
        ideal = mul_div_down(repaid_value, q.discount, WAD - q.discount)
        assert 0 <= ideal - gross <= unit + 3
        assert q.insurance_fee == mul_div_up(
            mul_div_up(q.repay, q.discount, WAD - q.discount), params.insurance_share, WAD
        )
        # Health rises with every step (these accounts sit above the health where it would not).
        assert s.health_after.health > s.health_before.health
    # The discount shrinks as the account recovers.
    assert [s.quote.discount for s in steps] == sorted(
        (s.quote.discount for s in steps), reverse=True
    )
    # The last step was capped by the target: health is back to targetHealth, not much beyond.
    last = steps[-1].health_after
    assert last.equity * WAD >= params.target_health * last.mmr
    assert last.health < params.target_health + 10**12

    # The debt vault's insurance fund grew by exactly the liquidation fees (no interest accrued:
    # every liquidation ran at the timestamp of the accrual above).
    assert int(debt.vault.insuranceFund()) == insurance0 + fees
    assert all(not s.receipt.events.filter(debt.vault.InterestAccrued) for s in steps)


def test_weth_crash__cross_margin_vs_isolated_sub_accounts__only_isolated_weth_account_liquidated(
    act, ma, liquidator, market, keeper_bot, usdc, wbtc, weth, keeper, lender, trader, trader2
):
    act.lend(usdc, lender, "200000")
    # Cross margin: trader's sub-account 0 holds WETH and WBTC against one USDC debt.
    act.deposit(weth, trader, "10")
    act.deposit(wbtc, trader, "0.5")
    act.borrow(usdc, trader, "34000")
    # Isolated: trader2 holds the same book split over sub-accounts 1 (WETH) and 2 (WBTC).
    act.deposit(weth, trader2, "10", sub=1)
    act.borrow(usdc, trader2, "17000", sub=1)
    act.deposit(wbtc, trader2, "0.5", sub=2)
    act.borrow(usdc, trader2, "17000", sub=2)

    act.move_price(weth, "0.6")
    cross, iso_eth, iso_btc = (
        act.health(trader, 0),
        act.health(trader2, 1),
        act.health(trader2, 2),
    )
    assert cross == act.mirror_health(trader, 0)
    assert iso_eth == act.mirror_health(trader2, 1)
    assert iso_btc == act.mirror_health(trader2, 2)
    # The WBTC collateral cushions the WETH crash in the cross account ...
    assert cross.equity >= cross.mmr
    assert not ma.isLiquidatable(trader, 0)
    # ... but not in the isolated WETH sub-account; the WBTC sub-account is unaffected.
    assert 0 < iso_eth.equity < iso_eth.mmr
    assert iso_btc.equity >= iso_btc.imr

    healthy = ("AccountHealthy", {"equity": cross.equity, "mmr": cross.mmr})
    assert revert_of(liquidator.quote, trader, 0, usdc.token, weth.token, 10**9) == healthy
    assert (
        revert_of(
            liquidator.liquidate, trader, 0, usdc.token, weth.token, 10**9, 0, b"", sender=keeper
        )
        == healthy
    )
    assert revert_of(liquidator.quote, trader2, 2, usdc.token, wbtc.token, 10**9) == (
        "AccountHealthy",
        {"equity": iso_btc.equity, "mmr": iso_btc.mmr},
    )

    cross_raw = market.raw_balances(trader, 0)
    btc_raw = market.raw_balances(trader2, 2)
    wbtc_held = int(wbtc.token.balanceOf(ma))
    act.fund(usdc, keeper, "20000")

    steps = keeper_bot.liquidate_until_safe(trader2, 1, usdc, weth, amount(usdc, "4000"))

    assert len(steps) >= 2
    for s in steps:
        [ev] = s.receipt.events.filter(ma.Liquidated)
        assert (ev.owner, ev.subId) == (trader2.address, 1)
    assert not ma.isLiquidatable(trader2, 1)
    # The other isolated sub-account and the cross account are untouched.
    assert market.raw_balances(trader2, 2) == btc_raw
    assert market.raw_balances(trader, 0) == cross_raw
    assert int(wbtc.token.balanceOf(ma)) == wbtc_held
    assert int(wbtc.token.balanceOf(keeper)) == 0
    assert act.health(trader2, 2) == act.mirror_health(trader2, 2)
    assert not ma.isLiquidatable(trader2, 2)


def _open_insolvent_long_eth(act, deployer, lender, trader, trader2, usdc, weth, insurance: str):
    """trader: 10 WETH against 20,000 USDC; after ETH -40% the 18,000 collateral is short of the
    debt. trader2's healthy USDC borrow keeps the vault's total borrows above the bad debt."""
    act.lend(usdc, lender, "100000")
    act.deposit(weth, trader2, "10")
    act.borrow(usdc, trader2, "5000")
    act.deposit(weth, trader, "10")
    act.borrow(usdc, trader, "20000")
    units = act.fund(usdc, deployer, insurance, spender=usdc.vault)
    usdc.vault.fundInsurance(units, sender=deployer)
    act.move_price(weth, "0.6")


def _liquidate_everything(act, ma, keeper_bot, keeper, lender, trader, usdc, weth):
    """Keeper offers to repay the whole debt; all 10 WETH are seized and the rest is written off in
    the same transaction. Returns the vault's state just before (same block context) and the step."""
    h = act.health(trader)
    assert h == act.mirror_health(trader)
    assert h.equity < 0  # insolvent
    act.fund(usdc, keeper, "25000")
    usdc.vault.accrueInterest(sender=keeper)  # stored state == views; the liquidation is pinned
    vault = usdc.vault
    before = {
        "total_assets": int(vault.totalAssets()),
        "supply": int(vault.totalSupply()),
        "share_price": share_price(vault),
        "insurance": int(vault.insuranceFund()),
        "lender_assets": int(vault.previewRedeem(vault.balanceOf(lender))),
        "lender_shares": int(vault.balanceOf(lender)),
    }
    debt = -int(ma.balanceOf(trader, 0, usdc.token))
    step = keeper_bot.liquidate(trader, 0, usdc, weth, debt)
    assert step is not None
    assert step.quote.seize == amount(weth, "10")
    assert step.quote.repay < debt
    # Same block context: no interest between the reads above and the write-off.
    assert not step.receipt.events.filter(vault.InterestAccrued)
    # The account is closed: no collateral, no debt.
    assert list(ma.accountAssets(trader, 0)) == []
    assert chain_health(ma, trader, 0) == (0, 0, 0, MAX_UINT256)
    return before, step


def test_insolvent_liquidation__insurance_covers_bad_debt__lenders_share_price_unchanged(
    act, ma, keeper_bot, deployer, keeper, lender, trader, trader2, usdc, weth
):
    _open_insolvent_long_eth(act, deployer, lender, trader, trader2, usdc, weth, "5000")
    before, step = _liquidate_everything(act, ma, keeper_bot, keeper, lender, trader, usdc, weth)
    vault = usdc.vault

    bad, covered, socialized = step.bad_debt["USDC"]
    assert bad > 0
    assert (covered, socialized) == (bad, 0)
    [realized] = step.receipt.events.filter(vault.BadDebtRealized)
    assert (realized.amount, realized.coveredByInsurance, realized.socialized) == (bad, bad, 0)
    # The insurance fund paid the keeper's tip (no fee: an insolvent account pays no discount),
    # then the whole bad debt.
    q = step.quote
    assert q.insurance_fee == 0 and q.insurance_tip > 0
    assert before["insurance"] - q.insurance_tip >= bad
    assert int(vault.insuranceFund()) == before["insurance"] - q.insurance_tip - bad
    # Lenders lose nothing.
    assert int(vault.totalAssets()) == before["total_assets"]
    assert share_price(vault) == before["share_price"]
    assert int(vault.previewRedeem(before["lender_shares"])) == before["lender_assets"]


def test_insolvent_liquidation__insurance_exhausted__rest_socialized_and_share_price_falls(
    act, ma, keeper_bot, deployer, keeper, lender, trader, trader2, usdc, weth
):
    _open_insolvent_long_eth(act, deployer, lender, trader, trader2, usdc, weth, "500")
    before, step = _liquidate_everything(act, ma, keeper_bot, keeper, lender, trader, usdc, weth)
    vault = usdc.vault

    bad, covered, socialized = step.bad_debt["USDC"]
    # The settlement books the repayment (and the keeper's tip out of the fund) before it writes
    # the debt off: the insurance fund pays everything it holds; lenders take only the rest.
    available = before["insurance"] + step.quote.insurance_fee - step.quote.insurance_tip
    assert bad > available
    assert (covered, socialized) == (available, bad - available)
    [realized] = step.receipt.events.filter(vault.BadDebtRealized)
    assert (realized.amount, realized.coveredByInsurance, realized.socialized) == (
        bad,
        covered,
        socialized,
    )
    assert int(vault.insuranceFund()) == 0
    # Lenders' assets fall by exactly the socialized part, and the share price with them.
    total_assets = int(vault.totalAssets())
    assert total_assets == before["total_assets"] - socialized
    assert int(vault.totalSupply()) == before["supply"]
    one_share = 10 ** int(vault.decimals())
    assert share_price(vault) == expected_convert_to_assets(
        one_share, total_assets, before["supply"]
    )
    assert share_price(vault) < before["share_price"]
    lender_assets = int(vault.previewRedeem(before["lender_shares"]))
    assert lender_assets == expected_convert_to_assets(
        before["lender_shares"], total_assets, before["supply"]
    )
    assert before["lender_assets"] - lender_assets >= socialized - 1


# ================================================================== engine properties the contract misses


def _long_eth_at(act, lender, keeper, trader, usdc, weth, price: str) -> None:
    """trader: 10 WETH against 16,800 USDC, then ETH at `price` (equity > 0 down to $1,680)."""
    act.lend(usdc, lender, "100000")
    act.deposit(weth, trader, "10")
    act.borrow(usdc, trader, "16800")
    act.set_price(weth, price)
    act.fund(usdc, keeper, "20000")


def test_partial_liquidation__health_0_29__shortfall_falls_and_account_stays_solvent(
    act, ma, keeper_bot, keeper, lender, trader, usdc, weth
):
    """Deep account (10 WETH at $1,720 against 16,800 USDC: health 0.29). The health auction would
    give 5.25%; that would lower the account's health, so the discount is capped at the
    health-preserving one, h * 8% / (1 + 2% h), which for one collateral and one debt is exactly
    E / (D + E) = 2.33%: repaying half the debt takes half the equity, the shortfall falls, health
    stays where it was and equity stays positive for the next liquidation."""
    _long_eth_at(act, lender, keeper, trader, usdc, weth, "1720")
    before = act.health(trader)
    assert 0 < before.equity < before.mmr and before.health < 3 * 10**17
    debt_value = int(-ma.balanceOf(trader, 0, usdc.token)) * 10**12

    step = keeper_bot.liquidate(trader, 0, usdc, weth, amount(usdc, "8400"))

    assert step is not None and not step.bad_debt
    d = step.quote.discount
    assert d == health_preserving_discount(before.health, weth.spec.mmf, usdc.spec.mmf)
    assert abs(d - mul_div_down(before.equity, WAD, debt_value + before.equity)) <= 10**6
    after = act.health(trader)
    assert int(ma.rawBalance(trader, 0, weth.token)) > 0  # collateral left: a partial liquidation
    assert after.mmr - after.equity < before.mmr - before.equity
    assert after.health >= before.health - 10**9  # unchanged, but for whole-unit rounding
    assert after.equity > before.equity // 3


def test_liquidation__deep_but_solvent_account__closed_in_full_without_bad_debt(
    act, ma, keeper_bot, keeper, lender, trader, usdc, weth
):
    """docs/liquidation.md: below health ~0.5 the health-preserving discount caps the auction, the
    target is out of reach and the account is closed in full; for one collateral and one debt the
    cap is E / (D + E), so the keeper's discount is the $400 of equity and no bad debt is left (10
    WETH at $1,720 against 16,800 USDC)."""
    _long_eth_at(act, lender, keeper, trader, usdc, weth, "1720")
    h = act.health(trader)
    assert 0 < h.equity < h.mmr
    debt_value = int(-ma.balanceOf(trader, 0, usdc.token)) * 10**12

    step = keeper_bot.liquidate(trader, 0, usdc, weth, MAX_UINT256)

    assert step is not None
    d = step.quote.discount
    assert d == health_preserving_discount(h.health, weth.spec.mmf, usdc.spec.mmf)
    assert abs(d - mul_div_down(h.equity, WAD, debt_value + h.equity)) <= 10**6
    assert not step.bad_debt
    assert int(ma.balanceOf(trader, 0, usdc.token)) == 0
    # All WETH but rounding dust goes to the keeper: its discount is the account's equity.
    assert int(ma.rawBalance(trader, 0, weth.token)) <= amount(weth, "0.000001")


def test_target_cap__settlement_rounds_the_debt_up__target_health_still_reached(
    act, ma, keeper_bot, market, accounts, deployer, keeper, lender, trader, usdc, weth
):
    """A repayment clears whole scaled units, so it may clear up to ceil(index) + 1 base units less
    than asked; the target cap asks for that slack too, and the target is reached exactly."""
    seed_frozen_market(act, lender, accounts[6], deployer)  # borrow indices above 1.0, frozen
    market.refresh()
    params = keeper_bot.params
    index = market.indices["USDC"]
    assert index > WAD
    # The first borrow (20,000 USDC + k * 0.007919) whose capped liquidation at ETH $2,150 clears
    # less than the cap asks (the rounding the slack must cover).
    for k in range(200):
        borrow = amount(usdc, "20000") + k * 7919
        raws = {"USDC": -market.scaled_borrow("USDC", borrow), "WETH": amount(weth, "10")}
        market.prices["WETH"] = 2150 * WAD
        before = market.positions(None, 0, raws)
        snap = liquidation_snapshot(before, "USDC", "WETH")
        q = keeper_bot.mirror_quote(before, usdc, weth, MAX_UINT256)
        cap = target_repay_cap(snap, q.discount, params.target_health)
        left = before["USDC"].tokens - q.repay
        if q.ok and q.seize < raws["WETH"] and q.repay < cap:
            break
    else:
        raise RuntimeError("no borrow in the search is rounded against the account")
    market.refresh()
    act.deposit(weth, trader, "10")
    act.borrow(usdc, trader, borrow)
    act.set_price(weth, "2150")
    act.fund(usdc, keeper, "30000")

    step = keeper_bot.liquidate(trader, 0, usdc, weth, MAX_UINT256)

    assert step is not None and step.quote == q
    assert int(ma.rawBalance(trader, 0, weth.token)) > 0
    assert -int(ma.balanceOf(trader, 0, usdc.token)) == left
    equity, _, mmr, health = chain_health(ma, trader, 0)
    assert equity * WAD >= params.target_health * mmr
    assert health < params.target_health + 10**12  # and not much further


def test_time_passes__one_year_of_interest__debt_grows_health_falls_lenders_and_insurance_earn(
    act, ma, usdc, weth, lender, trader
):
    vault = usdc.vault
    shares = act.lend(usdc, lender, "40000")
    act.deposit(weth, trader, "10")
    act.borrow(usdc, trader, "20000")
    vault.accrueInterest(sender=lender)  # stored state == views at this block
    t0 = chain.blocks.head.timestamp
    cash, tb0 = int(vault.cash()), int(vault.totalBorrows())
    idx0, ins0, ta0 = int(vault.borrowIndex()), int(vault.insuranceFund()), int(vault.totalAssets())
    supply = int(vault.totalSupply())
    redeem0 = int(vault.previewRedeem(shares))
    raw = int(ma.rawBalance(trader, 0, usdc.token))
    h0 = chain_health(ma, trader, 0)
    assert act.health(trader) == act.mirror_health(trader)

    # Kinked rate model at ~50% utilization (below the 80% kink), per second rounded up.
    model = RateModel(*(int(x) for x in vault.rateModel()))
    util = utilization(cash, tb0)
    assert util <= model.kink
    rate = rate_per_second(model, util)
    assert int(vault.borrowRatePerSecond()) == rate

    act.warp(SECONDS_PER_YEAR)
    act.refresh_feeds()
    elapsed = chain.blocks.head.timestamp - t0
    assert elapsed >= SECONDS_PER_YEAR

    growth = rate * elapsed
    interest = mul_div_down(tb0, growth, WAD)
    reserve = int(vault.reserveFactor())
    assert reserve == usdc.spec.reserve_factor
    to_insurance = mul_div_down(interest, reserve, WAD)
    idx1 = idx0 + mul_div_up(idx0, growth, WAD)
    # 2.5% a year at ~50% utilization (4% slope at the 80% kink); the per-second rate rounds up.
    assert rate * SECONDS_PER_YEAR * 1000 // WAD == 25

    assert int(vault.borrowIndex()) == idx1
    assert int(vault.totalBorrows()) == tb0 + interest
    # The borrower's debt grew with the index; equity and health fell and match the mirror.
    debt1 = debt_tokens(-raw, idx1)
    assert int(ma.balanceOf(trader, 0, usdc.token)) == -debt1
    assert debt1 > debt_tokens(-raw, idx0)
    h1 = chain_health(ma, trader, 0)
    assert act.health(trader) == act.mirror_health(trader)
    assert h1[0] < h0[0]
    assert h1[3] < h0[3]
    # The insurance fund took the reserve factor's share of the interest, the lenders the rest.
    assert int(vault.insuranceFund()) == ins0 + to_insurance
    assert to_insurance > 0
    ta1 = int(vault.totalAssets())
    assert ta1 == ta0 + interest - to_insurance
    redeem1 = int(vault.previewRedeem(shares))
    assert redeem1 == expected_convert_to_assets(shares, ta1, supply)
    assert redeem1 > redeem0
