"""Keeper pass: account discovery from events, liquidation of every account below maintenance,
bad-debt write-off, funding and approvals, and results that match the emitted events."""

from __future__ import annotations

from typing import Any

import pytest
from ape import chain

from solvent.keeper import AccountRef, Keeper, KeeperReport, discover_accounts, mint_funder
from solvent.risk import mul_div_down, mul_div_up
from tests.utils.helpers import Actions, amount

MAX_UINT = 2**256 - 1


@pytest.fixture
def trader3(accounts):
    return accounts[6]


def _ref(who: Any, sub: int = 0) -> AccountRef:
    return AccountRef(who.address, sub)


def _raw(system, ref: AccountRef) -> dict[str, int]:
    ma = system.margin_account
    return {s: int(ma.rawBalance(ref.owner, ref.sub_id, a.token)) for s, a in system.assets.items()}


def _open_book(act: Actions, usdc, wbtc, weth, lender, trader, trader2, trader3, stranger) -> int:
    """Four accounts at ETH $3,000, WBTC $60,000; returns the first block of the book.

    After ETH falls 40%: trader is below maintenance but solvent, trader2 is insolvent,
    trader3 (cross-margin WETH + WBTC) is below maintenance, stranger (short ETH) is healthier.
    """
    start = chain.blocks.height + 1
    act.lend(usdc, lender, "1000000")
    act.lend(weth, lender, "100")
    act.deposit(weth, trader, "10")
    act.borrow(usdc, trader, "16800")
    act.deposit(weth, trader2, "8")
    act.borrow(usdc, trader2, "19500")
    act.deposit(weth, trader3, "10")
    act.deposit(wbtc, trader3, "0.5")
    act.borrow(usdc, trader3, "45600")
    act.deposit(usdc, stranger, "30000")
    act.borrow(weth, stranger, "6")
    return start


def _liquidated_events(ma, start: int) -> list[tuple]:
    return [
        (
            log.owner,
            int(log.subId),
            log.liquidator,
            log.debtAsset,
            int(log.repaid),
            log.collateralAsset,
            int(log.seized),
            int(log.insuranceFee),
        )
        for log in ma.Liquidated.range(start, chain.blocks.height + 1)
    ]


def _report_as_events(system, report: KeeperReport, keeper) -> list[tuple]:
    return [
        (
            liq.account.owner,
            liq.account.sub_id,
            keeper.address,
            system.asset(liq.debt_asset).token.address,
            liq.repaid,
            system.asset(liq.collateral_asset).token.address,
            liq.seized,
            liq.insurance_fee,
        )
        for liq in report.liquidations
    ]


# ================================================================== discovery


def test_discover_accounts__deposit_borrow_transfer__in_order_of_first_event(
    act, ma, usdc, weth, lender, trader, trader2
):
    start = chain.blocks.height + 1
    act.lend(usdc, lender, "100000")
    act.deposit(weth, trader, "1")
    act.deposit(weth, trader2, "1", sub=3)
    act.borrow(usdc, trader2, "100", sub=3)
    before_transfer = chain.blocks.height
    ma.transfer(trader, 0, 7, weth.token, 10**17, sender=trader)

    found = discover_accounts(ma, start)

    assert found == [_ref(trader, 0), _ref(trader2, 3), _ref(trader, 7)]
    assert discover_accounts(ma, start, stop_block=before_transfer) == found[:2]
    assert discover_accounts(ma, chain.blocks.height + 1) == []


# ================================================================== healthy book


def test_keeper_pass__only_healthy_accounts__sends_nothing(
    act, system, usdc, wbtc, weth, lender, trader, trader2, trader3, stranger, keeper
):
    start = _open_book(act, usdc, wbtc, weth, lender, trader, trader2, trader3, stranger)
    nonce = keeper.nonce

    report = Keeper(system, keeper, fund=mint_funder(keeper)).run_pass(start_block=start)

    assert report.scanned == [_ref(trader), _ref(trader2), _ref(trader3), _ref(stranger)]
    assert report.liquidatable == report.liquidations == report.bad_debts == []
    assert report.skipped == report.remaining == []
    assert keeper.nonce == nonce
    assert _liquidated_events(system.margin_account, start) == []


# ================================================================== crash


def test_keeper_pass__after_eth_crash__liquidates_every_liquidatable_account(
    act, system, ma, usdc, wbtc, weth, lender, trader, trader2, trader3, stranger, keeper
):
    start = _open_book(act, usdc, wbtc, weth, lender, trader, trader2, trader3, stranger)
    act.move_price(weth, "0.6")
    accounts = [_ref(trader), _ref(trader2), _ref(trader3), _ref(stranger)]
    assert [bool(ma.isLiquidatable(a.owner, a.sub_id)) for a in accounts] == [
        True,
        True,
        True,
        False,
    ]
    assert act.health(trader2).equity < 0
    stranger_before = _raw(system, _ref(stranger))
    pass_start = chain.blocks.height + 1

    report = Keeper(system, keeper, fund=mint_funder(keeper)).run_pass(start_block=start)

    # Every liquidatable account was liquidated; none is left liquidatable; the healthy one untouched.
    assert report.scanned == accounts
    assert report.liquidatable == accounts[:3]
    assert report.remaining == report.skipped == []
    assert not any(ma.isLiquidatable(a.owner, a.sub_id) for a in accounts)
    assert {liq.account for liq in report.liquidations} == set(accounts[:3])
    assert _raw(system, _ref(stranger)) == stranger_before

    # The results are the Liquidated events, in order.
    assert _report_as_events(system, report, keeper) == _liquidated_events(ma, pass_start)

    # Cross-margin account: the larger collateral (WBTC, $30k vs WETH $18k) goes first.
    cross = report.liquidations_of(_ref(trader3))
    assert [(liq.debt_asset, liq.collateral_asset) for liq in cross] == [
        ("USDC", "WBTC"),
        ("USDC", "WETH"),
    ]

    # The insolvent account lost all its collateral and its remaining debt was written off.
    bad = [
        (
            log.owner,
            int(log.subId),
            log.asset,
            int(log.amount),
            int(log.covered),
            int(log.socialized),
        )
        for log in ma.BadDebtWrittenOff.range(pass_start, chain.blocks.height + 1)
    ]
    assert bad == [
        (b.account.owner, b.account.sub_id, usdc.token.address, b.amount, b.covered, b.socialized)
        for b in report.bad_debts
    ]
    assert [b.account for b in report.bad_debts] == [_ref(trader2)]
    assert (
        report.bad_debts[0].amount == report.bad_debts[0].covered + report.bad_debts[0].socialized
    )
    assert list(ma.accountAssets(trader2, 0)) == []
    assert report.liquidations_of(_ref(trader2))[0].seized == amount(weth, "8")

    # USD values use the chain's prices and the contracts' rounding; the keeper profits from each.
    prices = {s: act.price(a) for s, a in system.assets.items()}
    for liq in report.liquidations:
        debt, coll = system.asset(liq.debt_asset), system.asset(liq.collateral_asset)
        assert liq.repaid_value == mul_div_up(liq.repaid, prices[liq.debt_asset], debt.scale)
        assert liq.seized_value == mul_div_down(
            liq.seized, prices[liq.collateral_asset], coll.scale
        )
        assert liq.profit_value > 0
        assert liq.gas_used > 0

    # The keeper holds what it seized and approved the MarginAccount for exactly what was pulled.
    for symbol, asset in system.assets.items():
        seized = sum(liq.seized for liq in report.liquidations if liq.collateral_asset == symbol)
        if symbol != "USDC":
            assert int(asset.token.balanceOf(keeper)) == seized
    assert int(usdc.token.allowance(keeper, ma)) == 0
    assert int(usdc.token.allowance(keeper, system.liquidator)) == 0


def test_keeper_pass__funded_keeper__approves_margin_account_and_uses_own_tokens(
    act, system, ma, usdc, wbtc, weth, lender, trader, trader2, trader3, stranger, keeper
):
    start = _open_book(act, usdc, wbtc, weth, lender, trader, trader2, trader3, stranger)
    act.move_price(weth, "0.6")
    held = act.mint(usdc, keeper, "200000")

    report = Keeper(system, keeper).run_pass(start_block=start)

    assert report.remaining == report.skipped == []
    paid = sum(liq.repaid + liq.insurance_fee for liq in report.liquidations)
    assert int(usdc.token.balanceOf(keeper)) == held - paid
    assert int(usdc.token.allowance(keeper, ma)) == 0


def test_keeper_pass__no_funds_and_no_funder__skips_with_reason(
    act, system, ma, usdc, wbtc, weth, lender, trader, trader2, trader3, stranger, keeper
):
    start = _open_book(act, usdc, wbtc, weth, lender, trader, trader2, trader3, stranger)
    act.move_price(weth, "0.6")
    pass_start = chain.blocks.height + 1

    report = Keeper(system, keeper).run_pass(start_block=start)

    assert report.liquidations == []
    assert [s.account for s in report.skipped] == report.liquidatable == report.remaining
    assert all("needs" in s.reason and "USDC" in s.reason for s in report.skipped)
    assert _liquidated_events(ma, pass_start) == []


def test_keeper_pass__explicit_account_list__checks_only_those(
    act, system, usdc, wbtc, weth, lender, trader, trader2, trader3, stranger, keeper
):
    _open_book(act, usdc, wbtc, weth, lender, trader, trader2, trader3, stranger)
    act.move_price(weth, "0.6")

    report = Keeper(system, keeper, fund=mint_funder(keeper)).run_pass([_ref(trader)])

    assert report.scanned == report.liquidatable == [_ref(trader)]
    assert {liq.account for liq in report.liquidations} == {_ref(trader)}
    assert system.margin_account.isLiquidatable(trader2, 0)
