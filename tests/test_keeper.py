"""Keeper pass: account discovery from events, lens-driven choice and sizing of each liquidation
(most profitable OK pair, batches for accounts sharing it, DUST pairs never sent), rounds until
no account is below maintenance, bad-debt write-off, funding and approvals, gas and profit, and
results that match the emitted events.

Rates are frozen (zero) in the tests that compare amounts, so what the lens reads for the pending
block is exactly what the liquidation settles, whatever block it lands in.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from ape import chain

from solvent.apebridge import ape_keeper, sdk_client
from solvent.keeper import AccountRef, KeeperReport, discover_accounts
from solvent.risk import (
    WAD,
    AccountLens,
    EngineParams,
    PairQuote,
    Status,
    account_lens,
    liquidation_profit,
    mul_div_down,
    mul_div_up,
)
from solvent.units import from_wad
from tests.utils.helpers import amount, freeze_rates
from tests.utils.scenarios import Market

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def trader3(accounts):
    return accounts[6]


@pytest.fixture
def frozen(system, deployer) -> None:
    """Zero interest on every vault: amounts read now are the amounts settled later."""
    for a in system.assets.values():
        freeze_rates(a, deployer)


def _ref(who: Any, sub: int = 0) -> AccountRef:
    return AccountRef(who.address, sub)


def _raw(system, ref: AccountRef) -> dict[str, int]:
    ma = system.margin_account
    return {s: int(ma.rawBalance(ref.owner, ref.sub_id, a.token)) for s, a in system.assets.items()}


def _open_book(act, usdc, wbtc, weth, lender, trader, trader2, trader3, stranger) -> int:
    """Four accounts at ETH $3,000, WBTC $60,000; returns the first block of the book.

    After ETH falls 40%: trader (10 WETH / 16,800 USDC) and trader2 (8 WETH / 19,500 USDC, now
    insolvent) are below maintenance in the same pair; trader3 (cross-margin WETH + WBTC) is below
    maintenance; stranger (short ETH) is healthier.
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


def _mirror_lenses(system, refs: list[AccountRef]) -> dict[AccountRef, AccountLens]:
    market = Market(system)
    params = EngineParams.from_chain(system.liquidator)
    return {r: account_lens(market.positions(r.owner, r.sub_id), params) for r in refs}


def _best(system, lens: AccountLens) -> PairQuote:
    """The OK pair with the largest expected profit at the oracle prices (first on ties)."""
    prices = {s: int(system.oracle.price(a.token)[0]) for s, a in system.assets.items()}

    def profit(p: PairQuote) -> int:
        debt, coll = system.asset(p.debt_asset), system.asset(p.collateral_asset)
        return liquidation_profit(
            p.seize,
            p.max_repay,
            p.insurance_fee,
            debt_price=prices[p.debt_asset],
            debt_scale=debt.scale,
            collateral_price=prices[p.collateral_asset],
            collateral_scale=coll.scale,
            insurance_tip=p.insurance_tip,
        )

    ok = [p for p in lens.pairs if p.status == Status.OK]
    return max(ok, key=lambda p: (profit(p), -ok.index(p)))


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
            int(log.discount),
            int(log.health),
            int(log.badDebt),
            log.transaction_hash,
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
            liq.discount,
            liq.health,
            liq.bad_debt,
            liq.tx_hash,
        )
        for liq in report.liquidations
    ]


# ================================================================== discovery


def test_discover_accounts__deposit_borrow_transfer__in_order_of_first_event(
    act, system, ma, usdc, weth, lender, trader, trader2
):
    start = chain.blocks.height + 1
    act.lend(usdc, lender, "100000")
    act.deposit(weth, trader, "1")
    act.deposit(weth, trader2, "1", sub=3)
    act.borrow(usdc, trader2, "100", sub=3)
    before_transfer = chain.blocks.height
    ma.transfer(trader, 0, 7, weth.token, 10**17, sender=trader)

    found = discover_accounts(sdk_client(system), start)

    assert found == [_ref(trader, 0), _ref(trader2, 3), _ref(trader, 7)]
    assert discover_accounts(sdk_client(system), start, stop_block=before_transfer) == found[:2]
    assert discover_accounts(sdk_client(system), chain.blocks.height + 1) == []


# ================================================================== healthy book


def test_keeper_pass__only_healthy_accounts__sends_nothing(
    act, system, usdc, wbtc, weth, lender, trader, trader2, trader3, stranger, keeper
):
    start = _open_book(act, usdc, wbtc, weth, lender, trader, trader2, trader3, stranger)
    nonce = keeper.nonce

    report = ape_keeper(system, keeper, mint=True).run_pass(start_block=start)

    assert report.scanned == [_ref(trader), _ref(trader2), _ref(trader3), _ref(stranger)]
    assert report.liquidatable == report.liquidations == report.bad_debts == []
    assert report.skipped == report.remaining == report.transactions == []
    assert report.gas_used == report.profit_value == 0
    assert keeper.nonce == nonce
    assert _liquidated_events(system.margin_account, start) == []


# ================================================================== crash


def test_keeper_pass__after_eth_crash__best_pair_per_account_batched_and_all_restored(
    act, system, ma, frozen, usdc, wbtc, weth, lender, trader, trader2, trader3, stranger, keeper
):
    start = _open_book(act, usdc, wbtc, weth, lender, trader, trader2, trader3, stranger)
    act.move_price(weth, "0.6")
    accounts = [_ref(trader), _ref(trader2), _ref(trader3), _ref(stranger)]
    lenses = _mirror_lenses(system, accounts)
    assert [lenses[a].liquidatable for a in accounts] == [True, True, True, False]
    assert act.health(trader2).equity < 0
    best = {a: _best(system, lenses[a]) for a in accounts[:3]}
    # trader and trader2 share their best pair (USDC debt, WETH collateral): one batch.
    assert {(p.debt_asset, p.collateral_asset) for p in list(best.values())[:2]} == {
        ("USDC", "WETH")
    }
    stranger_before = _raw(system, _ref(stranger))
    pass_start = chain.blocks.height + 1

    report = ape_keeper(system, keeper, mint=True).run_pass(start_block=start)

    # Every liquidatable account was liquidated; none is left liquidatable; the healthy one untouched.
    assert report.scanned == accounts
    assert report.liquidatable == accounts[:3]
    assert report.remaining == report.skipped == []
    assert not any(ma.isLiquidatable(a.owner, a.sub_id) for a in accounts)
    assert _raw(system, _ref(stranger)) == stranger_before

    # The results are the Liquidated events, in order.
    assert _report_as_events(system, report, keeper) == _liquidated_events(ma, pass_start)

    # First round: each account through its most profitable pair, exactly as the lens sized it.
    for account, pair in best.items():
        first = report.liquidations_of(account)[0]
        assert (first.debt_asset, first.collateral_asset) == (
            pair.debt_asset,
            pair.collateral_asset,
        )
        assert (first.repaid, first.seized, first.insurance_fee, first.discount) == (
            pair.max_repay,
            pair.seize,
            pair.insurance_fee,
            pair.discount,
        )
    # Accounts sharing their best pair were settled by one liquidateBatch transaction.
    batch = {liq.tx_hash for a in accounts[:2] for liq in report.liquidations_of(a)[:1]}
    assert len(batch) == 1
    assert [liq.batch_size for a in accounts[:2] for liq in report.liquidations_of(a)[:1]] == [2, 2]
    kinds = [tx.kind for tx in report.transactions]
    assert kinds.count("liquidateBatch") == 1
    assert {tx.tx_hash for tx in report.transactions if tx.kind == "liquidateBatch"} == batch

    # The partially liquidated solvent account stopped at the target health, not beyond, and keeps
    # a smaller position.
    target = int(system.liquidator.targetHealth())
    health = int(ma.accountHealth(trader, 0)[3])
    assert len(report.liquidations_of(_ref(trader))) == 1
    assert target <= health < target + 10**12
    assert int(ma.balanceOf(trader, 0, weth.token)) > 0
    assert int(ma.balanceOf(trader, 0, usdc.token)) < 0

    # The insolvent account lost all its collateral and its remaining debt was written off in the
    # same transaction.
    (liq2,) = report.liquidations_of(_ref(trader2))
    assert liq2.seized == amount(weth, "8") and liq2.health == 0
    (bad,) = report.bad_debts
    assert bad.account == _ref(trader2) and bad.asset == "USDC" and bad.tx_hash == liq2.tx_hash
    assert bad.amount == liq2.bad_debt == bad.covered + bad.socialized
    written_off = [
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
    assert written_off == [
        (trader2.address, 0, usdc.token.address, bad.amount, bad.covered, bad.socialized)
    ]
    assert list(ma.accountAssets(trader2, 0)) == []

    # USD values use the chain's prices and the contracts' rounding; the keeper profits from each.
    prices = {s: act.price(a) for s, a in system.assets.items()}
    for liq in report.liquidations:
        debt, coll = system.asset(liq.debt_asset), system.asset(liq.collateral_asset)
        assert liq.repaid_value == mul_div_up(liq.repaid, prices[liq.debt_asset], debt.scale)
        assert liq.fee_value == mul_div_up(liq.insurance_fee, prices[liq.debt_asset], debt.scale)
        assert liq.seized_value == mul_div_down(
            liq.seized, prices[liq.collateral_asset], coll.scale
        )
        assert liq.profit_value > 0
        # The insurance cut is insuranceShare of the discount value, on top of the repayment.
        assert liq.insurance_fee == mul_div_up(
            mul_div_up(liq.repaid, liq.discount, WAD - liq.discount),
            int(system.liquidator.insuranceShare()),
            WAD,
        )
    assert report.profit_value == sum(liq.profit_value for liq in report.liquidations) > 0

    # Gas: one entry per transaction, liquidations and write-offs apart from approvals.
    receipts = {tx.tx_hash: chain.provider.get_receipt(tx.tx_hash) for tx in report.transactions}
    assert all(tx.gas_used == receipts[tx.tx_hash].gas_used for tx in report.transactions)
    assert report.gas_used == sum(tx.gas_used for tx in report.transactions if tx.kind != "approve")
    assert report.gas_used == sum(
        {liq.tx_hash: liq.gas_used for liq in report.liquidations}.values()
    )

    # The keeper holds what it seized; every approval was used up or revoked.
    for symbol, asset in system.assets.items():
        seized = sum(liq.seized for liq in report.liquidations if liq.collateral_asset == symbol)
        if symbol != "USDC":
            assert int(asset.token.balanceOf(keeper)) == seized
    assert int(usdc.token.allowance(keeper, ma)) == 0
    assert int(usdc.token.allowance(keeper, system.liquidator)) == 0


def test_keeper_pass__collateral_too_small_for_the_debt__taken_whole_account_restored(
    act, system, ma, frozen, usdc, wbtc, weth, lender, trader, keeper
):
    """4 WETH and 0.001 WBTC against 10,000 USDC at ETH $2,585 (health 0.48). Taking all of one
    collateral may leave a USDC debt under the $100 dust floor next to the other (the dust rule's
    exception), so both pairs are OK; the keeper liquidates until the account is not liquidatable,
    and any debt left is either above the floor or on an account that is healthy again."""
    act.lend(usdc, lender, "100000")
    act.deposit(weth, trader, "4")
    act.deposit(wbtc, trader, "0.001")
    act.borrow(usdc, trader, "10000")
    act.set_price(weth, "2585")
    ref = _ref(trader)
    (lens,) = _mirror_lenses(system, [ref]).values()
    assert lens.liquidatable
    statuses = {(p.debt_asset, p.collateral_asset): p.status for p in lens.pairs}
    assert statuses == {("USDC", "WBTC"): Status.OK, ("USDC", "WETH"): Status.OK}
    lines: list[str] = []

    report = ape_keeper(system, keeper, mint=True, log=lines.append).run_pass([ref])

    assert report.liquidations
    assert report.remaining == report.skipped == []
    assert not ma.isLiquidatable(trader, 0)
    assert any("liquidating" in line for line in lines)


def test_keeper_pass__funded_keeper__approves_margin_account_and_uses_own_tokens(
    act, system, ma, frozen, usdc, wbtc, weth, lender, trader, trader2, trader3, stranger, keeper
):
    start = _open_book(act, usdc, wbtc, weth, lender, trader, trader2, trader3, stranger)
    act.move_price(weth, "0.6")
    held = act.mint(usdc, keeper, "200000")

    report = ape_keeper(system, keeper).run_pass(start_block=start)

    assert report.remaining == report.skipped == []
    paid = sum(liq.repaid + liq.insurance_fee - liq.insurance_tip for liq in report.liquidations)
    assert int(usdc.token.balanceOf(keeper)) == held - paid
    assert int(usdc.token.allowance(keeper, ma)) == 0
    approvals = [tx for tx in report.transactions if tx.kind == "approve"]
    assert approvals  # approved for the pass, then revoked
    assert report.total_gas_used == report.gas_used + sum(tx.gas_used for tx in approvals)


def test_keeper_pass__no_funds_and_no_funder__skips_with_reason(
    act, system, ma, usdc, wbtc, weth, lender, trader, trader2, trader3, stranger, keeper
):
    start = _open_book(act, usdc, wbtc, weth, lender, trader, trader2, trader3, stranger)
    act.move_price(weth, "0.6")
    pass_start = chain.blocks.height + 1

    report = ape_keeper(system, keeper).run_pass(start_block=start)

    assert report.liquidations == report.transactions == []
    assert [s.account for s in report.skipped] == report.liquidatable == report.remaining
    assert all("needs" in s.reason and "USDC" in s.reason for s in report.skipped)
    assert all("fund the keeper account" in s.reason for s in report.skipped)
    assert _liquidated_events(ma, pass_start) == []


def test_keeper_pass__explicit_account_list__checks_only_those(
    act, system, usdc, wbtc, weth, lender, trader, trader2, trader3, stranger, keeper
):
    _open_book(act, usdc, wbtc, weth, lender, trader, trader2, trader3, stranger)
    act.move_price(weth, "0.6")

    report = ape_keeper(system, keeper, mint=True).run_pass([_ref(trader)])

    assert report.scanned == report.liquidatable == [_ref(trader)]
    assert {liq.account for liq in report.liquidations} == {_ref(trader)}
    assert [tx.kind for tx in report.transactions if tx.kind != "approve"] == ["liquidate"]
    assert system.margin_account.isLiquidatable(trader2, 0)


def test_keeper_pass__stale_feed__account_skipped_with_plain_reason(
    act, system, ma, usdc, weth, lender, trader, keeper
):
    act.lend(usdc, lender, "100000")
    act.deposit(weth, trader, "10")
    act.borrow(usdc, trader, "24000")
    act.set_price(weth, "2500")
    act.warp(2 * int(weth.spec.max_age))  # WETH's feed is now stale; USDC's is not

    report = ape_keeper(system, keeper, mint=True).run_pass([_ref(trader)])

    assert report.liquidations == report.transactions == []
    (skip,) = report.skipped
    assert skip.account == _ref(trader)
    assert "StaleAnswer(" in skip.reason and "stale" in skip.reason


def test_keeper_script__summary__counts_profit_and_gas_of_the_pass(
    act, system, frozen, usdc, wbtc, weth, lender, trader, trader2, trader3, stranger, keeper
):
    spec = importlib.util.spec_from_file_location(
        "solvent_keeper_script", ROOT / "scripts" / "keeper.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    start = _open_book(act, usdc, wbtc, weth, lender, trader, trader2, trader3, stranger)
    act.move_price(weth, "0.6")

    report = ape_keeper(system, keeper, mint=True).run_pass(start_block=start)
    line = script.summary(report)

    assert line.startswith("scanned 4, liquidatable 3, liquidations 3 in 2 tx, ")
    assert "bad-debt write-offs 1 (" in line and "still liquidatable 0, skipped 0" in line
    assert f"profit ${from_wad(report.profit_value):,.2f} before gas" in line
    assert report.profit_value > 0
    assert f"gas {report.gas_used:,} ({report.total_gas_used:,} with approvals" in line
