"""Unit tests of Liquidator: when a liquidation is allowed, its exact amounts against the Python
mirror (solvent.risk.quote_liquidation), settlement (tokens, vault books, insurance fund, events),
partial and collateral-capped liquidations, bad debt written off in the same transaction, every
custom error, and the admin parameters.

As in test_margin_account.py, a module fixture lets a year of interest lift every borrow index above
1.0 and then freezes the vaults' rates, so debts, quotes and settlements are exact integers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import pytest
from ape import chain, project

from solvent.deploy import DeployedAsset
from solvent.risk import (
    MAX_UINT256,
    WAD,
    Health,
    LiquidationQuote,
    account_health,
    debt_tokens,
    mul_div_down,
    quote_liquidation,
)
from tests.utils.chain import ev, fast_custom_error_decoding, logs, reverts
from tests.utils.helpers import MAX_UINT, amount, chain_state, debt_of, seed_frozen_market


# ====================================================================== helpers
def mirror_quote(
    act: Any, owner: Any, debt: DeployedAsset, coll: DeployedAsset, max_repay: int, sub: int = 0
) -> LiquidationQuote:
    """solvent.risk.quote_liquidation on the account as it stands, with the live parameters."""
    liquidator = act.system.liquidator
    return quote_liquidation(
        health=act.mirror_health(owner, sub),
        debt=act.position(owner, sub, debt),
        collateral=act.position(owner, sub, coll),
        max_repay=max_repay,
        penalty=int(liquidator.penalty()),
        insurance_share=int(liquidator.insuranceShare()),
    )


def shortfall(health: Health) -> int:
    return health.mmr - health.equity


def largest(ok: Callable[[int], bool], lo: int, hi: int) -> int:
    """Largest x in [lo, hi) with ok(x), given ok(lo) and not ok(hi) (ok monotone)."""
    assert ok(lo) and not ok(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo


# ====================================================================== fixtures
@pytest.fixture(scope="module", autouse=True)
def market(
    act,
    system,
    lender,
    accounts,
    deployer,
    usdc,
    wbtc,
    weth,
    ma,
    oracle,
    liquidator,
    trader,
    trader2,
    keeper,
    stranger,
):
    """Liquidity in every vault, a year of interest on a seeder's borrows (indices above 1.0 and a
    small insurance fund in every vault), then frozen rates. It names every session fixture the
    module uses so all exist before ape's first snapshot (otherwise ape rebases its snapshots)."""
    seed_frozen_market(act, lender, accounts[6], deployer)


@pytest.fixture(scope="module", autouse=True)
def _decode_errors_without_trace_search():
    """ape searches a full struct-log trace for custom errors the called contract's ABI lacks (the
    oracle's or a token's under Liquidator.liquidate), seconds per revert; `reverts` decodes those
    from the revert data itself, so the search is skipped for this module."""
    with fast_custom_error_decoding():
        yield


@pytest.fixture
def unchanged(system, trader, keeper, stranger):
    """`with unchanged(): ...` asserts the block left every book and balance as it was."""

    @contextmanager
    def check() -> Iterator[None]:
        before = chain_state(system, trader, [keeper, stranger])
        yield
        assert chain_state(system, trader, [keeper, stranger]) == before

    return check


@dataclass(frozen=True)
class Scenario:
    """An account opened within IMR that a price move makes liquidatable but still solvent."""

    coll: str
    coll_amount: str
    debt: str
    debt_amount: str
    moved: str  # asset whose price moves
    price: str  # its new USD price


SCENARIOS = {
    "weth_coll_usdc_debt": Scenario("WETH", "10", "USDC", "24000", "WETH", "2600"),
    "wbtc_coll_weth_debt": Scenario("WBTC", "1", "WETH", "14", "WBTC", "46000"),
    "usdc_coll_wbtc_debt": Scenario("USDC", "50000", "WBTC", "0.6", "WBTC", "78000"),
}


def open_position(act, system, trader, sc: Scenario, sub: int = 0):
    coll, debt = system.asset(sc.coll), system.asset(sc.debt)
    act.deposit(coll, trader, sc.coll_amount, sub=sub)
    act.borrow(debt, trader, sc.debt_amount, sub=sub)
    assert act.health(trader, sub).meets_initial
    return coll, debt


def open_liquidatable(act, system, trader, sc: Scenario, sub: int = 0):
    coll, debt = open_position(act, system, trader, sc, sub)
    act.set_price(system.asset(sc.moved), sc.price)
    health = act.health(trader, sub)
    assert health.liquidatable
    assert health.equity > 0
    return coll, debt


@pytest.fixture(params=sorted(SCENARIOS))
def scenario(request) -> Scenario:
    return SCENARIOS[request.param]


# ====================================================================== when a liquidation is allowed
def test_liquidate__healthy_account__reverts_account_healthy(
    act, system, ma, liquidator, trader, keeper, unchanged, scenario
):
    coll, debt = open_position(act, system, trader, scenario)
    act.fund(debt, keeper, scenario.debt_amount)
    health = act.mirror_health(trader)
    assert act.health(trader) == health
    with reverts(liquidator.AccountHealthy, equity=health.equity, mmr=health.mmr):
        liquidator.quote(trader, 0, debt.token, coll.token, MAX_UINT)
    with unchanged(), reverts(liquidator.AccountHealthy, equity=health.equity, mmr=health.mmr):
        liquidator.liquidate(trader, 0, debt.token, coll.token, MAX_UINT, 0, sender=keeper)


def test_liquidate__price_at_mmr_boundary__reverts_at_boundary_and_passes_one_tick_below(
    act, system, ma, liquidator, usdc, weth, trader, keeper, unchanged
):
    act.deposit(weth, trader, "10")
    act.borrow(usdc, trader, "20000")
    act.fund(usdc, keeper, "30000")
    positions = [act.position(trader, 0, a) for a in (usdc, weth)]
    tick = 10 ** (18 - int(weth.feed.decimals()))

    def safe(answer: int) -> bool:
        priced = [positions[0], replace(positions[1], price=answer * tick)]
        return not account_health(priced).liquidatable

    top = int(weth.feed.latestRoundData()[1])
    lowest_safe = top - largest(lambda d: safe(top - d), 0, top)

    weth.feed.setAnswer(lowest_safe, sender=act.deployer)
    health = act.mirror_health(trader)
    assert health.equity >= health.mmr
    with unchanged(), reverts(liquidator.AccountHealthy, equity=health.equity, mmr=health.mmr):
        liquidator.liquidate(trader, 0, usdc.token, weth.token, MAX_UINT, 0, sender=keeper)

    weth.feed.setAnswer(lowest_safe - 1, sender=act.deployer)
    assert ma.isLiquidatable(trader, 0)
    expected = mirror_quote(act, trader, usdc, weth, MAX_UINT)
    tx = liquidator.liquidate(trader, 0, usdc.token, weth.token, MAX_UINT, 0, sender=keeper)
    assert tx.return_value == (expected.repay, expected.seize)


# ====================================================================== exact amounts
@pytest.mark.parametrize("size", ["quarter", "whole_debt"])
def test_liquidate__liquidatable_account__settles_exactly_the_mirror_quote(
    act, system, ma, liquidator, trader, keeper, scenario, size
):
    coll, debt = open_liquidatable(act, system, trader, scenario)
    owed = debt_of(ma, debt, trader)
    max_repay = owed // 4 if size == "quarter" else MAX_UINT
    expected = mirror_quote(act, trader, debt, coll, max_repay)
    assert expected.repay == (owed // 4 if size == "quarter" else owed)
    assert tuple(liquidator.quote(trader, 0, debt.token, coll.token, max_repay)) == (
        expected.repay,
        expected.seize,
        expected.insurance_fee,
    )
    paid = expected.repay + expected.insurance_fee
    act.fund(debt, keeper, paid)

    raw_debt, held = (int(ma.rawBalance(trader, 0, a.token)) for a in (debt, coll))
    index = int(debt.vault.borrowIndex())
    cash, borrows = int(debt.vault.cash()), int(debt.vault.totalBorrows())
    insurance = int(debt.vault.insuranceFund())
    total_coll = int(ma.totalCollateral(coll.token))
    before = act.mirror_health(trader)

    tx = liquidator.liquidate(
        trader, 0, debt.token, coll.token, max_repay, expected.seize, sender=keeper
    )

    assert tx.return_value == (expected.repay, expected.seize)
    assert logs(tx, ma.Liquidated) == [
        ev(
            owner=trader,
            subId=0,
            liquidator=keeper,
            debtAsset=debt.token,
            repaid=expected.repay,
            collateralAsset=coll.token,
            seized=expected.seize,
            insuranceFee=expected.insurance_fee,
        )
    ]
    assert logs(tx, debt.vault.InsuranceFunded) == [
        ev(
            from_=keeper,
            assets=expected.insurance_fee,
            insuranceFund=insurance + expected.insurance_fee,
        )
    ]
    assert logs(tx, ma.BadDebtWrittenOff) == []
    # Keeper: paid repay + fee in the debt asset, received the seized collateral.
    assert debt.token.balanceOf(keeper) == 0
    assert coll.token.balanceOf(keeper) == expected.seize
    # Debt vault: repayment and fee in cash, borrows down by repay, fee in the insurance fund.
    assert debt.vault.cash() == cash + paid
    assert debt.vault.totalBorrows() == borrows - expected.repay
    assert debt.vault.insuranceFund() == insurance + expected.insurance_fee
    # Account: scaled debt burnt (all of it on a full repayment), collateral gone to the keeper.
    if expected.repay == owed:
        assert ma.rawBalance(trader, 0, debt.token) == 0
    else:
        assert ma.rawBalance(trader, 0, debt.token) == raw_debt + mul_div_down(
            expected.repay, WAD, index
        )
    owed_after = debt_of(ma, debt, trader)
    assert owed - expected.repay <= owed_after <= owed - expected.repay + 2  # rounding up only
    assert ma.rawBalance(trader, 0, coll.token) == held - expected.seize
    assert ma.totalCollateral(coll.token) == total_coll - expected.seize
    # Risk: the shortfall (MMR - equity) shrank.
    after = act.mirror_health(trader)
    assert act.health(trader) == after
    assert shortfall(after) < shortfall(before)
    assert expected.shortfall_after < expected.shortfall_before == shortfall(before)


def test_liquidate__collateral_worth_less_than_repayment__seizes_all_of_it_and_shrinks_repay(
    act, ma, liquidator, usdc, wbtc, weth, trader, keeper
):
    held = act.deposit(weth, trader, "10")
    act.deposit(wbtc, trader, "0.2")
    act.borrow(usdc, trader, "30000")
    act.set_price(weth, "2000")
    owed = debt_of(ma, usdc, trader)
    expected = mirror_quote(act, trader, usdc, weth, MAX_UINT)
    assert tuple(liquidator.quote(trader, 0, usdc.token, weth.token, MAX_UINT)) == (
        expected.repay,
        expected.seize,
        expected.insurance_fee,
    )
    assert expected.seize == held
    assert expected.repay < owed
    # All collateral is worth repay * (1 + penalty), rounded against the liquidator.
    coll_value = held * act.price(weth) // WAD
    assert expected.repay * act.price(usdc) // 10**6 >= coll_value * WAD // (
        WAD + liquidator.penalty()
    )
    act.fund(usdc, keeper, expected.repay + expected.insurance_fee)

    tx = liquidator.liquidate(trader, 0, usdc.token, weth.token, MAX_UINT, held, sender=keeper)

    assert tx.return_value == (expected.repay, held)
    assert logs(tx, ma.Liquidated)[0]["seized"] == held
    assert logs(tx, ma.Liquidated)[0]["repaid"] == expected.repay
    assert logs(tx, ma.BadDebtWrittenOff) == []
    assert ma.rawBalance(trader, 0, weth.token) == 0
    assert list(ma.accountAssets(trader, 0)) == [usdc.token, wbtc.token]
    assert debt_of(ma, usdc, trader) >= owed - expected.repay
    assert weth.token.balanceOf(keeper) == held
    assert usdc.token.balanceOf(keeper) == 0


# ====================================================================== bad debt
@pytest.mark.parametrize("insurance", ["thin", "deep"])
def test_liquidate__last_collateral_taken_with_debt_left__writes_off_bad_debt_in_same_tx(
    act, ma, liquidator, usdc, weth, trader, keeper, deployer, insurance
):
    held = act.deposit(weth, trader, "10")
    act.borrow(usdc, trader, "24000")
    if insurance == "deep":
        act.fund(usdc, deployer, "10000", spender=usdc.vault)
        usdc.vault.fundInsurance(amount(usdc, "10000"), sender=deployer)
    act.set_price(weth, "2000")  # collateral $20,000 < debt $24,000: insolvent
    assert act.health(trader).equity < 0

    owed, raw = debt_of(ma, usdc, trader), int(ma.rawBalance(trader, 0, usdc.token))
    index = int(usdc.vault.borrowIndex())
    expected = mirror_quote(act, trader, usdc, weth, MAX_UINT)
    assert expected.seize == held
    assert expected.repay < owed
    remaining = debt_tokens(-(raw + mul_div_down(expected.repay, WAD, index)), index)
    fund = int(usdc.vault.insuranceFund())
    covered = min(remaining, fund + expected.insurance_fee)
    socialized = remaining - covered
    assert (socialized > 0) == (insurance == "thin")
    assert covered > 0
    borrows, lenders = int(usdc.vault.totalBorrows()), int(usdc.vault.totalAssets())
    act.fund(usdc, keeper, expected.repay + expected.insurance_fee)

    tx = liquidator.liquidate(trader, 0, usdc.token, weth.token, MAX_UINT, held, sender=keeper)

    assert tx.return_value == (expected.repay, held)
    assert [log.event_name for log in tx.events if log.contract_address == ma.address] == [
        "Liquidated",
        "BadDebtWrittenOff",
    ]
    assert logs(tx, ma.BadDebtWrittenOff) == [
        ev(
            owner=trader,
            subId=0,
            asset=usdc.token,
            amount=remaining,
            covered=covered,
            socialized=socialized,
        )
    ]
    assert logs(tx, usdc.vault.BadDebtRealized) == [
        ev(amount=remaining, coveredByInsurance=covered, socialized=socialized)
    ]
    # The account ends empty.
    assert list(ma.accountAssets(trader, 0)) == []
    assert ma.rawBalance(trader, 0, usdc.token) == 0
    assert ma.rawBalance(trader, 0, weth.token) == 0
    assert tuple(ma.accountHealth(trader, 0)) == (0, 0, 0, MAX_UINT256)
    # The vault: borrows lose repay and the written-off debt; insurance pays first, lenders the rest.
    assert usdc.vault.totalBorrows() == borrows - expected.repay - remaining
    assert usdc.vault.insuranceFund() == fund + expected.insurance_fee - covered
    assert usdc.vault.totalAssets() == lenders - socialized


def settle_without_write_off(ma, liquidator, trader, deployer, debt, coll, repay):
    """Seize all `coll` through a stand-in liquidator (the admin, via setLiquidator, as an auction
    engine would) that does not write off, leaving debt without collateral; then restore."""
    held = int(ma.rawBalance(trader, 0, coll.token))
    ma.setLiquidator(deployer, sender=deployer)
    tx = ma.settleLiquidation(
        trader, 0, debt.token, repay, 0, coll.token, held, deployer, sender=deployer
    )
    ma.setLiquidator(liquidator, sender=deployer)
    return tx


def test_write_off_bad_debt__account_without_collateral__anyone_writes_off_every_debt(
    act, ma, liquidator, usdc, wbtc, weth, trader, deployer, stranger
):
    act.deposit(weth, trader, "10")
    act.borrow(usdc, trader, "20000")
    act.borrow(wbtc, trader, "0.05")
    act.set_price(weth, "1000")
    repay = act.fund(usdc, deployer, "5000")
    tx = settle_without_write_off(ma, liquidator, trader, deployer, usdc, weth, repay)
    assert tx.return_value is True  # bankrupt: debt left, no collateral
    assert list(ma.accountAssets(trader, 0)) == [usdc.token, wbtc.token]

    owed = {a.symbol: debt_of(ma, a, trader) for a in (usdc, wbtc)}
    funds = {a.symbol: int(a.vault.insuranceFund()) for a in (usdc, wbtc)}
    borrows = {a.symbol: int(a.vault.totalBorrows()) for a in (usdc, wbtc)}

    tx = liquidator.writeOffBadDebt(trader, 0, sender=stranger)

    assert tx.return_value == 2
    expected = []
    for a in (usdc, wbtc):
        covered = min(owed[a.symbol], funds[a.symbol])
        socialized = owed[a.symbol] - covered
        expected.append(
            ev(
                owner=trader,
                subId=0,
                asset=a.token,
                amount=owed[a.symbol],
                covered=covered,
                socialized=socialized,
            )
        )
        assert logs(tx, a.vault.BadDebtRealized) == [
            ev(amount=owed[a.symbol], coveredByInsurance=covered, socialized=socialized)
        ]
        assert a.vault.totalBorrows() == borrows[a.symbol] - owed[a.symbol]
        assert a.vault.insuranceFund() == funds[a.symbol] - covered
        assert ma.rawBalance(trader, 0, a.token) == 0
    assert logs(tx, ma.BadDebtWrittenOff) == expected
    assert list(ma.accountAssets(trader, 0)) == []


def test_write_off_bad_debt__account_with_collateral__reverts_account_has_collateral(
    act, system, ma, liquidator, trader, stranger, unchanged
):
    open_liquidatable(act, system, trader, SCENARIOS["weth_coll_usdc_debt"])
    with unchanged(), reverts(ma.AccountHasCollateral, owner=trader, subId=0):
        liquidator.writeOffBadDebt(trader, 0, sender=stranger)


def test_write_off_bad_debt__empty_account__writes_off_nothing(ma, liquidator, trader, stranger):
    tx = liquidator.writeOffBadDebt(trader, 0, sender=stranger)
    assert tx.return_value == 0
    assert logs(tx, ma.BadDebtWrittenOff) == []


# ====================================================================== errors
def test_liquidate__min_seized_above_quote__reverts_slippage_exceeded(
    act, system, liquidator, trader, keeper, unchanged
):
    coll, debt = open_liquidatable(act, system, trader, SCENARIOS["weth_coll_usdc_debt"])
    max_repay = amount(debt, "5000")
    expected = mirror_quote(act, trader, debt, coll, max_repay)
    act.fund(debt, keeper, "6000")
    with (
        unchanged(),
        reverts(liquidator.SlippageExceeded, seized=expected.seize, minSeized=expected.seize + 1),
    ):
        liquidator.liquidate(
            trader, 0, debt.token, coll.token, max_repay, expected.seize + 1, sender=keeper
        )

    tx = liquidator.liquidate(
        trader, 0, debt.token, coll.token, max_repay, expected.seize, sender=keeper
    )
    assert tx.return_value == (expected.repay, expected.seize)
    assert coll.token.balanceOf(keeper) == expected.seize


def test_liquidate__zero_max_repay__reverts_zero_amount(
    act, system, liquidator, trader, keeper, unchanged
):
    coll, debt = open_liquidatable(act, system, trader, SCENARIOS["weth_coll_usdc_debt"])
    act.fund(debt, keeper, "1000")
    with unchanged(), reverts(liquidator.ZeroAmount):
        liquidator.liquidate(trader, 0, debt.token, coll.token, 0, 0, sender=keeper)


def test_liquidate__debt_asset_equals_collateral_asset__reverts_same_asset(
    act, system, liquidator, trader, keeper, unchanged
):
    _, debt = open_liquidatable(act, system, trader, SCENARIOS["weth_coll_usdc_debt"])
    act.fund(debt, keeper, "1000")
    with unchanged(), reverts(liquidator.SameAsset, asset=debt.token):
        liquidator.liquidate(trader, 0, debt.token, debt.token, MAX_UINT, 0, sender=keeper)


def test_liquidate__asset_the_account_does_not_owe__reverts_nothing_to_repay(
    act, system, liquidator, wbtc, trader, keeper, unchanged
):
    coll, _ = open_liquidatable(act, system, trader, SCENARIOS["weth_coll_usdc_debt"])
    act.fund(wbtc, keeper, "1")
    with unchanged(), reverts(liquidator.NothingToRepay, debtAsset=wbtc.token):
        liquidator.liquidate(trader, 0, wbtc.token, coll.token, MAX_UINT, 0, sender=keeper)


def test_liquidate__collateral_the_account_does_not_hold__reverts_no_collateral(
    act, system, liquidator, wbtc, trader, keeper, unchanged
):
    _, debt = open_liquidatable(act, system, trader, SCENARIOS["weth_coll_usdc_debt"])
    act.fund(debt, keeper, "30000")
    with unchanged(), reverts(liquidator.NoCollateral, collateralAsset=wbtc.token):
        liquidator.liquidate(trader, 0, debt.token, wbtc.token, MAX_UINT, 0, sender=keeper)


def test_liquidate__penalty_too_large_for_margin_factors__reverts_liquidation_increases_risk(
    act, ma, liquidator, usdc, weth, trader, keeper, deployer, unchanged
):
    act.deposit(weth, trader, "10")
    act.borrow(usdc, trader, "24000")
    tiny = ma.MIN_MARGIN_FACTOR()
    for a in (usdc, weth):
        ma.setMarginFactors(a.token, 2 * tiny, tiny, sender=deployer)
    liquidator.setParams(liquidator.MAX_PENALTY(), liquidator.insuranceShare(), sender=deployer)
    act.set_price(weth, "2420")  # equity $200 < MMR ~$241
    assert ma.isLiquidatable(trader, 0)
    max_repay = amount(usdc, "1000")
    expected = mirror_quote(act, trader, usdc, weth, max_repay)
    assert expected.shortfall_after > expected.shortfall_before
    act.fund(usdc, keeper, "2000")

    with (
        unchanged(),
        reverts(
            liquidator.LiquidationIncreasesRisk,
            shortfallBefore=expected.shortfall_before,
            shortfallAfter=expected.shortfall_after,
        ),
    ):
        liquidator.liquidate(trader, 0, usdc.token, weth.token, max_repay, 0, sender=keeper)
    # quote() refuses exactly where liquidate() does.
    with reverts(
        liquidator.LiquidationIncreasesRisk,
        shortfallBefore=expected.shortfall_before,
        shortfallAfter=expected.shortfall_after,
    ):
        liquidator.quote(trader, 0, usdc.token, weth.token, max_repay)


def test_liquidate__keeper_approved_the_liquidator_not_the_margin_account__reverts_allowance(
    act, system, ma, liquidator, trader, keeper, unchanged
):
    coll, debt = open_liquidatable(act, system, trader, SCENARIOS["weth_coll_usdc_debt"])
    max_repay = amount(debt, "5000")
    expected = mirror_quote(act, trader, debt, coll, max_repay)
    act.fund(debt, keeper, "6000", spender=liquidator)
    with (
        unchanged(),
        reverts(
            debt.token.ERC20InsufficientAllowance,
            spender=ma,
            allowance=0,
            needed=expected.repay + expected.insurance_fee,
        ),
    ):
        liquidator.liquidate(trader, 0, debt.token, coll.token, max_repay, 0, sender=keeper)


def test_liquidate__stale_collateral_price__reverts_stale_answer(
    act, system, oracle, liquidator, trader, keeper, unchanged
):
    coll, debt = open_liquidatable(act, system, trader, SCENARIOS["weth_coll_usdc_debt"])
    act.fund(debt, keeper, "30000")
    act.warp(coll.spec.max_age + 60)
    updated = int(coll.feed.latestRoundData()[3])
    with (
        unchanged(),
        reverts(oracle.StaleAnswer, asset=coll.token, updatedAt=updated, maxAge=coll.spec.max_age),
    ):
        liquidator.liquidate(trader, 0, debt.token, coll.token, MAX_UINT, 0, sender=keeper)


# ====================================================================== parameters
def test_set_params__within_bounds__emits_event_and_prices_with_new_params(
    act, system, liquidator, trader, deployer
):
    coll, debt = open_liquidatable(act, system, trader, SCENARIOS["weth_coll_usdc_debt"])
    assert (liquidator.MAX_PENALTY(), liquidator.MAX_INSURANCE_SHARE()) == (2 * 10**17, 5 * 10**17)
    tx = liquidator.setParams(
        liquidator.MAX_PENALTY(), liquidator.MAX_INSURANCE_SHARE(), sender=deployer
    )
    assert logs(tx, liquidator.LiquidationParamsSet) == [
        ev(penalty=2 * 10**17, insuranceShare=5 * 10**17)
    ]
    # 8% still lowers the shortfall of a WETH/USDC account (8% < 2% + 1.08 * 6%); 20% would not.
    penalty, share = 8 * 10**16, 5 * 10**17

    tx = liquidator.setParams(penalty, share, sender=deployer)

    assert logs(tx, liquidator.LiquidationParamsSet) == [ev(penalty=penalty, insuranceShare=share)]
    assert (liquidator.penalty(), liquidator.insuranceShare()) == (penalty, share)
    max_repay = amount(debt, "1000")
    expected = mirror_quote(act, trader, debt, coll, max_repay)
    assert expected.insurance_fee == max_repay // 25  # 8% penalty, half of it to insurance
    assert expected.shortfall_after < expected.shortfall_before
    assert tuple(liquidator.quote(trader, 0, debt.token, coll.token, max_repay)) == (
        expected.repay,
        expected.seize,
        expected.insurance_fee,
    )


@pytest.mark.parametrize("which", ["penalty", "insurance_share"])
def test_set_params__above_bound__reverts_invalid_liquidation_params(
    liquidator, deployer, system, which
):
    penalty, share = system.config.penalty, system.config.insurance_share
    if which == "penalty":
        penalty = liquidator.MAX_PENALTY() + 1
    else:
        share = liquidator.MAX_INSURANCE_SHARE() + 1
    with reverts(liquidator.InvalidLiquidationParams, penalty=penalty, insuranceShare=share):
        liquidator.setParams(penalty, share, sender=deployer)
    assert (liquidator.penalty(), liquidator.insuranceShare()) == (
        system.config.penalty,
        system.config.insurance_share,
    )


def test_set_params__by_stranger__reverts_access_control_unauthorized_account(
    liquidator, stranger, system
):
    with reverts(
        liquidator.AccessControlUnauthorizedAccount,
        account=stranger,
        neededRole=liquidator.RISK_ADMIN_ROLE(),
    ):
        liquidator.setParams(0, 0, sender=stranger)
    assert (liquidator.penalty(), liquidator.insuranceShare()) == (
        system.config.penalty,
        system.config.insurance_share,
    )


@pytest.fixture
def fresh_deployer(accounts, deployer):
    """A never-used account for deployments that must fail. ape's snapshots make a deployer reuse
    addresses of contracts deployed (and reverted) earlier, and ape then decodes a failing
    constructor's arguments with the old contract's ABI (eth_abi InvalidPointer)."""
    account = accounts.generate_test_account()
    deployer.transfer(account, 10**18)
    return account


def test_constructor__params_above_bounds__reverts_invalid_liquidation_params(
    ma, liquidator, deployer, fresh_deployer
):
    address = fresh_deployer.get_deployment_address()
    with reverts(liquidator.InvalidLiquidationParams, penalty=3 * 10**17, insuranceShare=0):
        project.Liquidator.deploy(ma, deployer, 3 * 10**17, 0, sender=fresh_deployer)
    assert len(chain.provider.get_code(address)) == 0
