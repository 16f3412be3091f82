"""Unit tests of MarginAccount: deposits, repayments, withdrawals, borrows, sub-account transfers,
operators, views against the Python risk mirror, every custom error, admin functions and oracle outages.

A module fixture gives every vault liquidity and outstanding borrows, lets a year pass so each borrow
index is above 1.0 (scaled debt != debt), then freezes the vaults' rates at zero: indices, debts and
therefore every expected value below are exact integers, independent of block timestamps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest
from ape import chain, project

from solvent.deploy import DeployedAsset
from solvent.risk import (
    MAX_UINT256,
    WAD,
    Health,
    Position,
    account_health,
    debt_tokens,
    mul_div_down,
    repay_at_most,
    scaled_debt_for_borrow,
)
from tests.utils.chain import (
    ZERO_ADDRESS,
    ev,
    event_names,
    fast_custom_error_decoding,
    logs,
    norm,
    reverts,
)
from tests.utils.helpers import MAX_UINT, amount, chain_state, seed_frozen_market
from tests.utils.helpers import debt_of as _debt_of

# Collateral (symbol, whole tokens) that backs a borrow of each asset in the parametrized tests.
COLLATERAL_FOR = {"USDC": ("WETH", "10"), "WBTC": ("WETH", "10"), "WETH": ("WBTC", "1")}
# A comfortable borrow of each asset against that collateral.
BORROW = {"USDC": "10000", "WBTC": "0.1", "WETH": "3"}
# Liquidation parameters listAsset takes with the margin factors: (minDiscount, maxDiscount,
# minDebtValue) = (1%, 3%, $100), below the discount bound of every mmf listed here.
LIQ = (10**16, 3 * 10**16, 100 * 10**18)


# ====================================================================== helpers
def read_positions(act: Any, owner: Any, sub: int = 0) -> dict[str, Position]:
    """Every listed asset of the account as a mirror Position (raw may be 0), keyed by symbol."""
    return {symbol: act.position(owner, sub, a) for symbol, a in act.system.assets.items()}


def mirror(positions: dict[str, Position], raws: dict[str, int] | None = None) -> Health:
    """Mirror health of `positions` with some raw balances replaced."""
    raws = raws or {}
    changed = [replace(p, raw=raws.get(s, p.raw)) for s, p in positions.items()]
    return account_health(p for p in changed if p.raw != 0)


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


def debt_of(ma: Any, asset: DeployedAsset, owner: Any, sub: int = 0) -> int:
    """Debt in tokens; the account must owe (tests here only ask about real debts)."""
    return _debt_of(ma, asset, owner, sub, must_owe=True)


# ====================================================================== fixtures
@pytest.fixture(scope="module", autouse=True)
def _margin_market(
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
    """Liquidity in every vault, a year of interest on a seeder's borrows, then frozen rates.

    It names every session fixture the module uses so they all exist before ape's first snapshot
    (a session fixture created later makes ape rebase its snapshots, re-running this fixture).
    """
    seeder = accounts[6]
    seed_frozen_market(act, lender, seeder, deployer)
    return seeder


@pytest.fixture(params=["USDC", "WBTC", "WETH"])
def asset(request, system) -> DeployedAsset:
    """The 6-, 8- and 18-decimal assets (function-scoped, unlike conftest's session `any_asset`,
    whose re-parametrization mid-module would make ape rebase its snapshots)."""
    return system.asset(request.param)


@pytest.fixture
def unchanged(system, trader, stranger):
    """`with unchanged(): ...` asserts the block left the trader's books and balances as they were
    (ape mines reverted transactions too, so only contract state is compared)."""

    @contextmanager
    def check(owner: Any = None) -> Iterator[None]:
        before = chain_state(system, owner or trader, [stranger])
        yield
        assert chain_state(system, owner or trader, [stranger]) == before

    return check


@pytest.fixture(scope="module", autouse=True)
def _decode_errors_without_trace_search():
    """ape looks for a custom error it cannot decode with the called contract's ABI (one raised by
    another contract, like the oracle's StaleAnswer under MarginAccount.borrow) in a full struct-log
    trace of the call, which costs seconds per revert. `reverts` decodes those from the revert data
    itself, so that search is skipped for this module."""
    with fast_custom_error_decoding():
        yield


@pytest.fixture
def unlisted(deployer):
    return project.MockERC20.deploy("Unlisted", "UNL", 18, sender=deployer)


def new_vault(token: Any, margin_account: Any, admin: Any) -> Any:
    return project.Vault.deploy(
        token,
        "Solvent Test Vault",
        "svT",
        margin_account,
        admin,
        (0, 4 * 10**16, 75 * 10**16, 8 * 10**17),
        10**17,
        sender=admin,
    )


@pytest.fixture(scope="class")
def extra_assets(system, oracle, deployer):
    """Six more listed assets (18 decimals, $1), so nine are listed: one more than an account may hold.
    Class-scoped so ape's class snapshot reverts the listings for the rest of the module."""
    ma = system.margin_account
    extras = []
    for i in range(6):
        token = project.MockERC20.deploy(f"Extra {i}", f"X{i}", 18, sender=deployer)
        feed = project.MockAggregator.deploy(8, f"X{i} / USD", 10**8, sender=deployer)
        vault = new_vault(token, ma, deployer)
        oracle.setFeed(token, feed, 86400, sender=deployer)
        ma.listAsset(token, vault, 10**17, 5 * 10**16, 10**30, 10**30, *LIQ, sender=deployer)
        extras.append((token, vault))
    assert len(ma.listedAssets()) == 9
    return extras


def open_account(act, system, trader, debt: DeployedAsset, value: str | None = None, sub: int = 0):
    """Deposit the collateral that backs `debt` and borrow `value` (default BORROW) of it."""
    coll_symbol, coll_value = COLLATERAL_FOR[debt.symbol]
    coll = system.asset(coll_symbol)
    act.deposit(coll, trader, coll_value, sub=sub)
    act.borrow(debt, trader, value or BORROW[debt.symbol], sub=sub)
    return coll


# ====================================================================== deposit
def test_deposit__own_account__credits_collateral_and_pulls_tokens(act, ma, asset, trader):
    a = asset
    funded = act.fund(a, trader, "3")
    first, second = amount(a, "2.5"), amount(a, "0.5")
    total_before, held_before = int(ma.totalCollateral(a.token)), int(a.token.balanceOf(ma))

    tx = ma.deposit(trader, 0, a.token, first, sender=trader)
    ma.deposit(trader, 0, a.token, second, sender=trader)

    assert logs(tx, ma.Deposited) == [
        ev(owner=trader, subId=0, asset=a.token, from_=trader, amount=first)
    ]
    assert ma.rawBalance(trader, 0, a.token) == first + second
    assert ma.balanceOf(trader, 0, a.token) == first + second
    assert ma.totalCollateral(a.token) == total_before + first + second
    assert a.token.balanceOf(trader) == funded - first - second
    assert a.token.balanceOf(ma) == held_before + first + second
    assert list(ma.accountAssets(trader, 0)) == [a.token.address]


def test_deposit__stranger_adds_new_asset_to_another_account__reverts_not_authorized(
    act, ma, weth, trader, trader2, unchanged
):
    units = act.fund(weth, trader2, "4")
    with unchanged(), reverts(ma.NotAuthorized, caller=trader2, owner=trader):
        ma.deposit(trader, 7, weth.token, units, sender=trader2)
    assert list(ma.accountAssets(trader, 7)) == []
    assert weth.token.balanceOf(trader2) == units


def test_deposit__operator_adds_new_asset_to_owners_account__credits_owner(
    act, ma, weth, trader, trader2
):
    ma.setOperator(trader2, True, sender=trader)
    units = act.fund(weth, trader2, "2")
    tx = ma.deposit(trader, 3, weth.token, units, sender=trader2)
    assert logs(tx, ma.Deposited) == [
        ev(owner=trader, subId=3, asset=weth.token, from_=trader2, amount=units)
    ]
    assert ma.rawBalance(trader, 3, weth.token) == units


def test_deposit__into_another_owners_held_asset__credits_owner_and_pulls_from_payer(
    act, ma, weth, trader, trader2
):
    act.deposit(weth, trader, "1", sub=7)
    held = ma.rawBalance(trader, 7, weth.token)
    units = act.fund(weth, trader2, "4")
    tx = ma.deposit(trader, 7, weth.token, units, sender=trader2)

    assert logs(tx, ma.Deposited) == [
        ev(owner=trader, subId=7, asset=weth.token, from_=trader2, amount=units)
    ]
    assert ma.rawBalance(trader, 7, weth.token) == held + units
    assert ma.rawBalance(trader2, 7, weth.token) == 0
    assert weth.token.balanceOf(trader2) == 0
    assert weth.token.balanceOf(trader) == 0
    assert list(ma.accountAssets(trader, 7)) == [weth.token.address]


def test_deposit__into_account_with_debt__repays_debt_first_then_credits_the_rest(
    act, ma, system, usdc, trader, trader2
):
    open_account(act, system, trader, usdc, "1000")
    debt = debt_of(ma, usdc, trader)
    paid = act.fund(usdc, trader2, "1500")
    cash, borrows, total = (
        int(usdc.vault.cash()),
        int(usdc.vault.totalBorrows()),
        int(ma.totalCollateral(usdc.token)),
    )

    tx = ma.deposit(trader, 0, usdc.token, paid, sender=trader2)

    assert event_names(tx, ma) == ["Repaid", "Deposited"]
    assert logs(tx, ma.Repaid) == [
        ev(owner=trader, subId=0, asset=usdc.token, from_=trader2, amount=debt)
    ]
    assert logs(tx, ma.Deposited) == [
        ev(owner=trader, subId=0, asset=usdc.token, from_=trader2, amount=paid - debt)
    ]
    assert ma.rawBalance(trader, 0, usdc.token) == paid - debt
    assert ma.totalCollateral(usdc.token) == total + paid - debt
    assert usdc.vault.cash() == cash + debt
    assert usdc.vault.totalBorrows() == borrows - debt
    assert usdc.token.balanceOf(trader2) == 0


def test_deposit__smaller_than_debt__only_repays_whole_scaled_units_and_pulls_only_that(
    act, ma, system, usdc, trader
):
    open_account(act, system, trader, usdc, "1000")
    raw = int(ma.rawBalance(trader, 0, usdc.token))
    index = int(usdc.vault.borrowIndex())
    owed = debt_of(ma, usdc, trader)
    offered = act.fund(usdc, trader, "400")
    burned, repaid = repay_at_most(-raw, index, owed, offered)
    assert burned == mul_div_down(offered, WAD, index) and 0 < repaid <= offered
    total = int(ma.totalCollateral(usdc.token))
    wallet = int(usdc.token.balanceOf(trader))

    tx = ma.deposit(trader, 0, usdc.token, offered, sender=trader)

    assert event_names(tx, ma) == ["Repaid"]
    assert logs(tx, ma.Repaid)[0]["amount"] == repaid
    assert ma.rawBalance(trader, 0, usdc.token) == raw + burned
    assert debt_of(ma, usdc, trader) == owed - repaid  # exactly the fall in the debt is pulled
    assert usdc.token.balanceOf(trader) == wallet - repaid
    assert ma.totalCollateral(usdc.token) == total


# ====================================================================== repay
def test_repay__partial__burns_whole_scaled_units_and_pulls_exactly_the_fall_in_the_debt(
    act, ma, system, usdc, trader, keeper
):
    open_account(act, system, trader, usdc, "1000")
    raw = int(ma.rawBalance(trader, 0, usdc.token))
    index = int(usdc.vault.borrowIndex())
    owed = debt_of(ma, usdc, trader)
    offered = act.fund(usdc, keeper, "300")
    burned, repaid = repay_at_most(-raw, index, owed, offered)
    cash, borrows = int(usdc.vault.cash()), int(usdc.vault.totalBorrows())

    tx = ma.repay(trader, 0, usdc.token, offered, sender=keeper)

    assert tx.return_value == repaid
    assert offered - 2 <= repaid <= offered  # index above 1: ceil(index) + 1 units at most
    assert logs(tx, ma.Repaid) == [
        ev(owner=trader, subId=0, asset=usdc.token, from_=keeper, amount=repaid)
    ]
    assert ma.rawBalance(trader, 0, usdc.token) == raw + burned
    assert debt_of(ma, usdc, trader) == owed - repaid
    assert usdc.token.balanceOf(keeper) == offered - repaid
    assert usdc.vault.cash() == cash + repaid
    assert usdc.vault.totalBorrows() == borrows - repaid


@pytest.mark.parametrize("how", ["exact", "above_debt", "max_uint"])
def test_repay__whole_debt__repays_exactly_the_debt_and_clears_the_balance(
    act, ma, system, usdc, trader, keeper, how
):
    coll = open_account(act, system, trader, usdc, "1000")
    debt = debt_of(ma, usdc, trader)
    funded = act.fund(usdc, keeper, "2000")
    requested = {"exact": debt, "above_debt": funded, "max_uint": MAX_UINT}[how]
    borrows = int(usdc.vault.totalBorrows())

    tx = ma.repay(trader, 0, usdc.token, requested, sender=keeper)

    assert tx.return_value == debt
    assert logs(tx, ma.Repaid) == [
        ev(owner=trader, subId=0, asset=usdc.token, from_=keeper, amount=debt)
    ]
    assert ma.rawBalance(trader, 0, usdc.token) == 0
    assert ma.balanceOf(trader, 0, usdc.token) == 0
    assert usdc.token.balanceOf(keeper) == funded - debt
    assert usdc.vault.totalBorrows() == borrows - debt
    assert list(ma.accountAssets(trader, 0)) == [coll.token.address]


@pytest.mark.parametrize("holding", ["nothing", "collateral"])
def test_repay__account_without_debt__reverts_no_debt(
    act, ma, usdc, trader, keeper, unchanged, holding
):
    if holding == "collateral":
        act.deposit(usdc, trader, "100")
    act.fund(usdc, keeper, "100")
    with unchanged(), reverts(ma.NoDebt, asset=usdc.token):
        ma.repay(trader, 0, usdc.token, 10**6, sender=keeper)


# ====================================================================== withdraw
def test_withdraw__free_collateral__sends_tokens_to_receiver(act, ma, asset, trader, trader2):
    a = asset
    deposited = act.deposit(a, trader, "10")
    out = amount(a, "4")
    total = int(ma.totalCollateral(a.token))

    tx = ma.withdraw(trader, 0, a.token, out, trader2, sender=trader)

    assert logs(tx, ma.Withdrawn) == [
        ev(owner=trader, subId=0, asset=a.token, to=trader2, amount=out)
    ]
    assert ma.rawBalance(trader, 0, a.token) == deposited - out
    assert ma.totalCollateral(a.token) == total - out
    assert a.token.balanceOf(trader2) == out
    assert a.token.balanceOf(trader) == 0


def test_withdraw__all_collateral__removes_asset_from_account(act, ma, weth, trader):
    deposited = act.deposit(weth, trader, "2")
    ma.withdraw(trader, 0, weth.token, deposited, trader, sender=trader)
    assert ma.rawBalance(trader, 0, weth.token) == 0
    assert list(ma.accountAssets(trader, 0)) == []
    assert weth.token.balanceOf(trader) == deposited


def test_withdraw__more_than_collateral__reverts_insufficient_collateral(
    act, ma, weth, trader, unchanged
):
    held = act.deposit(weth, trader, "2")
    with (
        unchanged(),
        reverts(ma.InsufficientCollateral, asset=weth.token, collateral=held, requested=held + 1),
    ):
        ma.withdraw(trader, 0, weth.token, held + 1, trader, sender=trader)


def test_withdraw__asset_the_account_owes__reverts_insufficient_collateral_with_zero_held(
    act, ma, system, usdc, trader, unchanged
):
    open_account(act, system, trader, usdc)
    with (
        unchanged(),
        reverts(ma.InsufficientCollateral, asset=usdc.token, collateral=0, requested=1),
    ):
        ma.withdraw(trader, 0, usdc.token, 1, trader, sender=trader)


def test_withdraw__up_to_imr__passes_and_one_unit_more_reverts_insufficient_margin(
    act, ma, usdc, weth, trader, unchanged
):
    held = act.deposit(weth, trader, "10")
    act.borrow(usdc, trader, "20000")
    base = read_positions(act, trader)

    def after(out: int) -> Health:
        return mirror(base, {"WETH": held - out})

    max_out = largest(lambda x: after(x).meets_initial, 0, held)
    over = after(max_out + 1)
    assert over.equity < over.imr

    with unchanged(), reverts(ma.InsufficientMargin, equity=over.equity, required=over.imr):
        ma.withdraw(trader, 0, weth.token, max_out + 1, trader, sender=trader)

    ma.withdraw(trader, 0, weth.token, max_out, trader, sender=trader)
    assert act.health(trader) == after(max_out)
    assert act.health(trader).meets_initial
    assert weth.token.balanceOf(trader) == max_out


# ====================================================================== borrow
def test_borrow__within_margin__records_scaled_debt_rounded_up_and_sends_tokens(
    act, ma, system, asset, trader, trader2
):
    debt = asset
    coll_symbol, coll_value = COLLATERAL_FOR[debt.symbol]
    act.deposit(system.asset(coll_symbol), trader, coll_value)
    units = amount(debt, BORROW[debt.symbol])
    index = int(debt.vault.borrowIndex())
    cash, borrows = int(debt.vault.cash()), int(debt.vault.totalBorrows())

    tx = ma.borrow(trader, 0, debt.token, units, trader2, sender=trader)

    # The smallest whole number of scaled units whose debt covers the amount.
    scaled = (units - 1) * WAD // index + 1
    assert scaled == scaled_debt_for_borrow(units, index)
    assert debt_tokens(scaled, index) >= units > debt_tokens(scaled - 1, index)
    assert logs(tx, ma.Borrowed) == [
        ev(owner=trader, subId=0, asset=debt.token, to=trader2, amount=units)
    ]
    assert logs(tx, debt.vault.Borrowed) == [
        ev(receiver=trader2, assets=units, totalBorrows=borrows + units)
    ]
    assert ma.rawBalance(trader, 0, debt.token) == -scaled
    owed = -ma.balanceOf(trader, 0, debt.token)
    assert owed == -(-scaled * index // WAD)  # ceil(scaled * index / 1e18)
    assert units <= owed <= units + 1
    assert debt.vault.cash() == cash - units
    assert debt.vault.totalBorrows() == borrows + units
    assert debt.token.balanceOf(trader2) == units
    assert debt.token.address in list(ma.accountAssets(trader, 0))


def test_borrow__exactly_up_to_imr__passes_and_one_unit_more_reverts_insufficient_margin(
    act, ma, system, asset, trader, unchanged
):
    debt = asset
    coll_symbol, coll_value = COLLATERAL_FOR[debt.symbol]
    act.deposit(system.asset(coll_symbol), trader, coll_value)
    base = read_positions(act, trader)
    index = int(debt.vault.borrowIndex())

    def after(units: int) -> Health:
        return mirror(base, {debt.symbol: -scaled_debt_for_borrow(units, index)})

    ceiling = base[coll_symbol].value * debt.scale // base[debt.symbol].price + 1
    max_units = largest(lambda x: after(x).meets_initial, 0, ceiling)
    over = after(max_units + 1)

    with unchanged(), reverts(ma.InsufficientMargin, equity=over.equity, required=over.imr):
        ma.borrow(trader, 0, debt.token, max_units + 1, trader, sender=trader)

    tx = ma.borrow(trader, 0, debt.token, max_units, trader, sender=trader)
    assert logs(tx, ma.Borrowed)[0]["amount"] == max_units
    health = act.health(trader)
    assert health == after(max_units)
    assert health.equity >= health.imr
    assert debt.token.balanceOf(trader) == max_units


def test_borrow__asset_held_as_collateral__reverts_borrow_against_own_collateral(
    act, ma, weth, trader, unchanged
):
    held = act.deposit(weth, trader, "5")
    with unchanged(), reverts(ma.BorrowAgainstOwnCollateral, asset=weth.token, collateral=held):
        ma.borrow(trader, 0, weth.token, 1, trader, sender=trader)


def test_borrow__more_than_vault_cash__reverts_with_the_vaults_insufficient_cash(
    act, ma, usdc, wbtc, trader, unchanged
):
    act.deposit(wbtc, trader, "100")
    cash = int(usdc.vault.cash())
    with unchanged(), reverts(usdc.vault.InsufficientCash, available=cash, requested=cash + 1):
        ma.borrow(trader, 0, usdc.token, cash + 1, trader, sender=trader)


# ====================================================================== balanceOf / views
def test_balance_of__debt_with_live_interest__is_negative_and_rounded_up(
    act, ma, system, usdc, trader, deployer
):
    usdc.vault.setRateModel(usdc.spec.rate_model.as_tuple(), sender=deployer)
    units = amount(usdc, "10000")
    open_account(act, system, trader, usdc, units)
    raw = int(ma.rawBalance(trader, 0, usdc.token))

    act.warp(30 * 24 * 3600)
    act.refresh_feeds()

    index = int(usdc.vault.borrowIndex())
    owed = -int(ma.balanceOf(trader, 0, usdc.token))
    assert owed == debt_tokens(-raw, index)
    assert owed == -(raw * index // WAD)  # ceil(-raw * index / 1e18), rounded up
    assert owed > units
    assert act.health(trader) == act.mirror_health(trader)


def test_account_assets__mixed_positions__lists_nonzero_balances_in_listing_order(
    act, ma, usdc, wbtc, weth, trader
):
    act.deposit(weth, trader, "10")
    act.deposit(wbtc, trader, "0.5")
    act.borrow(usdc, trader, "1000")
    assert list(ma.accountAssets(trader, 0)) == [usdc.token, wbtc.token, weth.token]

    act.fund(usdc, trader, "2000")
    ma.repay(trader, 0, usdc.token, MAX_UINT, sender=trader)
    assert list(ma.accountAssets(trader, 0)) == [wbtc.token, weth.token]

    ma.withdraw(trader, 0, wbtc.token, amount(wbtc, "0.5"), trader, sender=trader)
    assert list(ma.accountAssets(trader, 0)) == [weth.token]
    assert list(ma.accountAssets(trader, 1)) == []


def test_account_health__mixed_account__equals_python_mirror_and_health_formula(
    act, ma, usdc, wbtc, weth, trader
):
    act.deposit(weth, trader, "10")
    act.deposit(wbtc, trader, "0.25")
    act.borrow(usdc, trader, "25000")
    for move in (None, "0.8", "0.5"):
        if move:
            act.move_price(weth, move)
        equity, imr, mmr, health = ma.accountHealth(trader, 0)
        expected = act.mirror_health(trader)
        assert Health(int(equity), int(imr), int(mmr)) == expected
        assert health == expected.health
        assert health == (mul_div_down(equity, WAD, mmr) if equity > 0 else 0)
        assert ma.isLiquidatable(trader, 0) == (equity < mmr)


def test_account_health__empty_account__zero_requirements_and_max_health(ma, trader):
    assert tuple(ma.accountHealth(trader, 0)) == (0, 0, 0, MAX_UINT256)
    assert not ma.isLiquidatable(trader, 0)


def test_account_health__equity_negative__health_zero_and_liquidatable(act, ma, usdc, weth, trader):
    act.deposit(weth, trader, "10")
    act.borrow(usdc, trader, "20000")
    act.set_price(weth, "1000")
    equity, imr, mmr, health = ma.accountHealth(trader, 0)
    assert equity < 0
    assert Health(int(equity), int(imr), int(mmr)) == act.mirror_health(trader)
    assert health == 0
    assert ma.isLiquidatable(trader, 0)


def test_is_liquidatable__price_at_mmr_boundary__false_at_boundary_true_one_tick_below(
    act, ma, usdc, weth, trader
):
    act.deposit(weth, trader, "10")
    act.borrow(usdc, trader, "20000")
    base = read_positions(act, trader)
    tick = 10 ** (18 - int(weth.feed.decimals()))  # one feed unit in WAD

    def safe(answer: int) -> bool:
        return not mirror({**base, "WETH": replace(base["WETH"], price=answer * tick)}).liquidatable

    top = int(weth.feed.latestRoundData()[1])
    lowest_safe = top - largest(lambda d: safe(top - d), 0, top)

    weth.feed.setAnswer(lowest_safe, sender=act.deployer)
    equity, _, mmr, health = ma.accountHealth(trader, 0)
    assert not ma.isLiquidatable(trader, 0)
    assert equity >= mmr
    assert health >= WAD

    weth.feed.setAnswer(lowest_safe - 1, sender=act.deployer)
    equity, _, mmr, health = ma.accountHealth(trader, 0)
    assert ma.isLiquidatable(trader, 0)
    assert equity < mmr
    assert health < WAD
    assert act.health(trader) == act.mirror_health(trader)


# ====================================================================== sub-accounts
def test_sub_accounts__risk_in_sub_account_0__leaves_sub_account_1_untouched(
    act, ma, usdc, weth, trader, unchanged
):
    held1 = act.deposit(weth, trader, "5", sub=1)
    health1 = act.health(trader, 1)

    act.deposit(weth, trader, "10", sub=0)
    base = read_positions(act, trader, 0)
    index = int(usdc.vault.borrowIndex())

    def after(units: int) -> Health:
        return mirror(base, {"USDC": -scaled_debt_for_borrow(units, index)})

    max_units = largest(lambda x: after(x).meets_initial, 0, amount(usdc, "30000"))
    act.borrow(usdc, trader, max_units, sub=0)

    # Sub-account 1's free collateral does not back sub-account 0: one more unit fails.
    over = mirror(
        read_positions(act, trader, 0),
        {"USDC": int(ma.rawBalance(trader, 0, usdc.token)) - scaled_debt_for_borrow(1, index)},
    )
    assert over.equity < over.imr
    with unchanged(), reverts(ma.InsufficientMargin, equity=over.equity, required=over.imr):
        ma.borrow(trader, 0, usdc.token, 1, trader, sender=trader)

    assert act.health(trader, 1) == health1
    assert ma.rawBalance(trader, 1, weth.token) == held1
    assert list(ma.accountAssets(trader, 1)) == [weth.token]

    act.move_price(weth, "0.8")
    assert ma.isLiquidatable(trader, 0)
    assert not ma.isLiquidatable(trader, 1)
    assert act.health(trader, 1) == act.mirror_health(trader, 1)


def test_transfer__between_own_sub_accounts__moves_collateral_without_moving_tokens(
    act, ma, weth, trader
):
    held = act.deposit(weth, trader, "10")
    moved = amount(weth, "4")
    total, tokens = int(ma.totalCollateral(weth.token)), int(weth.token.balanceOf(ma))

    tx = ma.transfer(trader, 0, 3, weth.token, moved, sender=trader)

    assert event_names(tx, ma) == ["Transferred"]
    assert logs(tx, ma.Transferred) == [
        ev(owner=trader, fromSubId=0, toSubId=3, asset=weth.token, amount=moved)
    ]
    assert ma.rawBalance(trader, 0, weth.token) == held - moved
    assert ma.rawBalance(trader, 3, weth.token) == moved
    assert ma.totalCollateral(weth.token) == total
    assert weth.token.balanceOf(ma) == tokens


def test_transfer__into_sub_account_with_debt__repays_its_debt_first(act, ma, system, usdc, trader):
    open_account(act, system, trader, usdc, "1000", sub=1)
    debt = debt_of(ma, usdc, trader, 1)
    moved = act.deposit(usdc, trader, "1500", sub=0)
    total, tokens = int(ma.totalCollateral(usdc.token)), int(usdc.token.balanceOf(ma))
    cash, borrows = int(usdc.vault.cash()), int(usdc.vault.totalBorrows())

    tx = ma.transfer(trader, 0, 1, usdc.token, moved, sender=trader)

    assert event_names(tx, ma) == ["Transferred", "Repaid"]
    assert logs(tx, ma.Transferred) == [
        ev(owner=trader, fromSubId=0, toSubId=1, asset=usdc.token, amount=moved)
    ]
    assert logs(tx, ma.Repaid) == [
        ev(owner=trader, subId=1, asset=usdc.token, from_=ma, amount=debt)
    ]
    assert ma.rawBalance(trader, 0, usdc.token) == 0
    assert ma.rawBalance(trader, 1, usdc.token) == moved - debt
    assert ma.totalCollateral(usdc.token) == total - debt
    assert usdc.token.balanceOf(ma) == tokens - debt
    assert usdc.vault.cash() == cash + debt
    assert usdc.vault.totalBorrows() == borrows - debt


def test_transfer__less_than_destination_debt__moves_only_what_repays(
    act, ma, system, usdc, trader
):
    open_account(act, system, trader, usdc, "1000", sub=1)
    raw = int(ma.rawBalance(trader, 1, usdc.token))
    index = int(usdc.vault.borrowIndex())
    owed = debt_of(ma, usdc, trader, 1)
    offered = act.deposit(usdc, trader, "600", sub=0)
    burned, repaid = repay_at_most(-raw, index, owed, offered)
    total = int(ma.totalCollateral(usdc.token))

    tx = ma.transfer(trader, 0, 1, usdc.token, offered, sender=trader)

    assert logs(tx, ma.Transferred)[0]["amount"] == repaid
    assert logs(tx, ma.Repaid)[0]["amount"] == repaid
    assert ma.rawBalance(trader, 1, usdc.token) == raw + burned
    assert debt_of(ma, usdc, trader, 1) == owed - repaid
    assert ma.totalCollateral(usdc.token) == total - repaid
    # What did not repay stays where it was (at most ceil(index) + 1 units).
    assert ma.rawBalance(trader, 0, usdc.token) == offered - repaid <= 2


def test_transfer__leaving_source_below_imr__reverts_insufficient_margin(
    act, ma, usdc, weth, trader, unchanged
):
    held = act.deposit(weth, trader, "10")
    act.borrow(usdc, trader, "20000")
    moved = amount(weth, "3")
    over = mirror(read_positions(act, trader, 0), {"WETH": held - moved})
    assert over.equity < over.imr
    with unchanged(), reverts(ma.InsufficientMargin, equity=over.equity, required=over.imr):
        ma.transfer(trader, 0, 1, weth.token, moved, sender=trader)


def test_transfer__same_sub_account__reverts_same_sub_account(act, ma, weth, trader, unchanged):
    act.deposit(weth, trader, "1", sub=4)
    with unchanged(), reverts(ma.SameSubAccount, subId=4):
        ma.transfer(trader, 4, 4, weth.token, 1, sender=trader)


def test_transfer__more_than_collateral__reverts_insufficient_collateral(
    act, ma, weth, trader, unchanged
):
    held = act.deposit(weth, trader, "1")
    with (
        unchanged(),
        reverts(ma.InsufficientCollateral, asset=weth.token, collateral=held, requested=held + 1),
    ):
        ma.transfer(trader, 0, 1, weth.token, held + 1, sender=trader)


# ====================================================================== operators
def test_set_operator__approved__operator_withdraws_borrows_and_transfers_for_owner(
    act, ma, usdc, weth, trader, keeper
):
    held = act.deposit(weth, trader, "10")
    tx = ma.setOperator(keeper, True, sender=trader)
    assert logs(tx, ma.OperatorSet) == [ev(owner=trader, operator=keeper, approved=True)]
    assert ma.isOperator(trader, keeper)

    out, lent, moved = amount(weth, "1"), amount(usdc, "1000"), amount(weth, "2")
    tx_w = ma.withdraw(trader, 0, weth.token, out, keeper, sender=keeper)
    tx_b = ma.borrow(trader, 0, usdc.token, lent, keeper, sender=keeper)
    tx_t = ma.transfer(trader, 0, 1, weth.token, moved, sender=keeper)

    assert logs(tx_w, ma.Withdrawn) == [
        ev(owner=trader, subId=0, asset=weth.token, to=keeper, amount=out)
    ]
    assert logs(tx_b, ma.Borrowed) == [
        ev(owner=trader, subId=0, asset=usdc.token, to=keeper, amount=lent)
    ]
    assert logs(tx_t, ma.Transferred)[0]["owner"] == norm(trader)
    assert weth.token.balanceOf(keeper) == out
    assert usdc.token.balanceOf(keeper) == lent
    assert ma.rawBalance(trader, 0, weth.token) == held - out - moved
    assert ma.rawBalance(trader, 1, weth.token) == moved
    assert ma.rawBalance(keeper, 0, weth.token) == 0


@pytest.mark.parametrize("action", ["withdraw", "borrow", "transfer"])
def test_account_action__by_stranger__reverts_not_authorized(
    act, ma, usdc, weth, trader, stranger, unchanged, action
):
    act.deposit(weth, trader, "10")
    call = {
        "withdraw": lambda: ma.withdraw(trader, 0, weth.token, 1, stranger, sender=stranger),
        "borrow": lambda: ma.borrow(trader, 0, usdc.token, 1, stranger, sender=stranger),
        "transfer": lambda: ma.transfer(trader, 0, 1, weth.token, 1, sender=stranger),
    }[action]
    with unchanged(), reverts(ma.NotAuthorized, caller=stranger, owner=trader):
        call()


def test_set_operator__for_one_owner__gives_no_access_to_another_owner(
    act, ma, weth, trader, trader2, keeper, unchanged
):
    act.deposit(weth, trader2, "1")
    ma.setOperator(keeper, True, sender=trader)
    assert not ma.isOperator(trader2, keeper)
    with unchanged(trader2), reverts(ma.NotAuthorized, caller=keeper, owner=trader2):
        ma.withdraw(trader2, 0, weth.token, 1, keeper, sender=keeper)


def test_set_operator__revoked__operator_loses_access(act, ma, weth, trader, keeper, unchanged):
    act.deposit(weth, trader, "1")
    ma.setOperator(keeper, True, sender=trader)
    tx = ma.setOperator(keeper, False, sender=trader)
    assert logs(tx, ma.OperatorSet) == [ev(owner=trader, operator=keeper, approved=False)]
    assert not ma.isOperator(trader, keeper)
    with unchanged(), reverts(ma.NotAuthorized, caller=keeper, owner=trader):
        ma.withdraw(trader, 0, weth.token, 1, keeper, sender=keeper)


# ====================================================================== input errors
@pytest.mark.parametrize("action", ["deposit", "repay", "withdraw", "borrow", "transfer"])
def test_account_action__zero_amount__reverts_zero_amount(
    act, ma, system, usdc, trader, unchanged, action
):
    open_account(act, system, trader, usdc)
    act.fund(usdc, trader, "1")
    weth = system.asset("WETH")
    call = {
        "deposit": lambda: ma.deposit(trader, 0, usdc.token, 0, sender=trader),
        "repay": lambda: ma.repay(trader, 0, usdc.token, 0, sender=trader),
        "withdraw": lambda: ma.withdraw(trader, 0, weth.token, 0, trader, sender=trader),
        "borrow": lambda: ma.borrow(trader, 0, usdc.token, 0, trader, sender=trader),
        "transfer": lambda: ma.transfer(trader, 0, 1, weth.token, 0, sender=trader),
    }[action]
    with unchanged(), reverts(ma.ZeroAmount):
        call()


@pytest.mark.parametrize(
    "action",
    ["deposit_owner", "withdraw_to", "borrow_to", "set_operator", "set_oracle", "set_liquidator"],
)
def test_call__zero_address__reverts_zero_address(
    act, ma, usdc, weth, trader, deployer, oracle, liquidator, unchanged, action
):
    act.deposit(weth, trader, "10")
    act.fund(weth, trader, "1")
    call = {
        "deposit_owner": lambda: ma.deposit(ZERO_ADDRESS, 0, weth.token, 1, sender=trader),
        "withdraw_to": lambda: ma.withdraw(trader, 0, weth.token, 1, ZERO_ADDRESS, sender=trader),
        "borrow_to": lambda: ma.borrow(trader, 0, usdc.token, 1, ZERO_ADDRESS, sender=trader),
        "set_operator": lambda: ma.setOperator(ZERO_ADDRESS, True, sender=trader),
        "set_oracle": lambda: ma.setOracle(ZERO_ADDRESS, sender=deployer),
        "set_liquidator": lambda: ma.setLiquidator(ZERO_ADDRESS, sender=deployer),
    }[action]
    with unchanged(), reverts(ma.ZeroAddress):
        call()
    assert ma.oracle() == oracle.address
    assert ma.liquidator() == liquidator.address
    assert not ma.isOperator(trader, ZERO_ADDRESS)


@pytest.fixture
def fresh_deployer(accounts, deployer):
    """A never-used account for deployments that must fail. ape's snapshots make a deployer reuse
    addresses of contracts deployed (and reverted) earlier, and ape then decodes a failing
    constructor's arguments with the old contract's ABI (eth_abi InvalidPointer)."""
    account = accounts.generate_test_account()
    deployer.transfer(account, 10**18)
    return account


@pytest.mark.parametrize("which", ["admin", "oracle"])
def test_constructor__zero_address__reverts_zero_address(
    ma, oracle, deployer, fresh_deployer, which
):
    args = (ZERO_ADDRESS, oracle) if which == "admin" else (deployer, ZERO_ADDRESS)
    address = fresh_deployer.get_deployment_address()
    with reverts(ma.ZeroAddress):
        project.MarginAccount.deploy(*args, sender=fresh_deployer)
    assert len(chain.provider.get_code(address)) == 0


@pytest.mark.parametrize(
    "call",
    [
        "deposit",
        "repay",
        "withdraw",
        "borrow",
        "transfer",
        "raw_balance",
        "balance_of",
        "set_margin_factors",
        "set_liquidation_params",
        "set_caps",
        "discount_bound",
    ],
)
def test_call__unlisted_asset__reverts_asset_not_listed(
    act, ma, unlisted, trader, deployer, unchanged, call
):
    unlisted.mint(trader, 10**18, sender=deployer)
    unlisted.approve(ma, MAX_UINT, sender=trader)
    fn = {
        "deposit": lambda: ma.deposit(trader, 0, unlisted, 1, sender=trader),
        "repay": lambda: ma.repay(trader, 0, unlisted, 1, sender=trader),
        "withdraw": lambda: ma.withdraw(trader, 0, unlisted, 1, trader, sender=trader),
        "borrow": lambda: ma.borrow(trader, 0, unlisted, 1, trader, sender=trader),
        "transfer": lambda: ma.transfer(trader, 0, 1, unlisted, 1, sender=trader),
        "raw_balance": lambda: ma.rawBalance(trader, 0, unlisted),
        "balance_of": lambda: ma.balanceOf(trader, 0, unlisted),
        "set_margin_factors": lambda: ma.setMarginFactors(
            unlisted, 10**17, 5 * 10**16, sender=deployer
        ),
        "set_liquidation_params": lambda: ma.setLiquidationParams(
            unlisted, 0, 10**16, 0, sender=deployer
        ),
        "set_caps": lambda: ma.setCaps(unlisted, 1, 1, sender=deployer),
        "discount_bound": lambda: ma.discountBound(unlisted),
    }[call]
    with unchanged(), reverts(ma.AssetNotListed, asset=unlisted):
        fn()
    assert unlisted.balanceOf(trader) == 10**18
    assert not ma.assetConfig(unlisted).listed


# ====================================================================== caps
def test_set_caps__lower_collateral_cap__deposit_to_cap_passes_and_above_reverts(
    act, ma, weth, trader, deployer, unchanged
):
    total = int(ma.totalCollateral(weth.token))
    room = amount(weth, "10")
    debt_cap = int(ma.assetConfig(weth.token).debtCap)
    tx = ma.setCaps(weth.token, total + room, debt_cap, sender=deployer)
    assert logs(tx, ma.CapsSet) == [
        ev(asset=weth.token, collateralCap=total + room, debtCap=debt_cap)
    ]
    assert ma.assetConfig(weth.token).collateralCap == total + room

    act.fund(weth, trader, "11")
    with (
        unchanged(),
        reverts(
            ma.CollateralCapExceeded, asset=weth.token, total=total + room + 1, cap=total + room
        ),
    ):
        ma.deposit(trader, 0, weth.token, room + 1, sender=trader)

    ma.deposit(trader, 0, weth.token, room, sender=trader)
    assert ma.totalCollateral(weth.token) == total + room


def test_deposit__collateral_cap_full__still_repays_debt_but_cannot_add_collateral(
    act, ma, system, usdc, trader, deployer, unchanged
):
    open_account(act, system, trader, usdc, "1000")
    debt = debt_of(ma, usdc, trader)
    total = int(ma.totalCollateral(usdc.token))
    ma.setCaps(usdc.token, total, ma.assetConfig(usdc.token).debtCap, sender=deployer)
    act.fund(usdc, trader, "2000")

    with (
        unchanged(),
        reverts(ma.CollateralCapExceeded, asset=usdc.token, total=total + 1, cap=total),
    ):
        ma.deposit(trader, 0, usdc.token, debt + 1, sender=trader)

    tx = ma.deposit(trader, 0, usdc.token, debt, sender=trader)
    assert event_names(tx, ma) == ["Repaid"]
    assert ma.rawBalance(trader, 0, usdc.token) == 0
    assert ma.totalCollateral(usdc.token) == total


def test_set_caps__lower_debt_cap__borrow_to_cap_passes_and_above_reverts(
    act, ma, usdc, weth, trader, deployer, unchanged
):
    act.deposit(weth, trader, "10")
    borrows = int(usdc.vault.totalBorrows())
    room = amount(usdc, "5000")
    coll_cap = int(ma.assetConfig(usdc.token).collateralCap)
    tx = ma.setCaps(usdc.token, coll_cap, borrows + room, sender=deployer)
    assert logs(tx, ma.CapsSet) == [
        ev(asset=usdc.token, collateralCap=coll_cap, debtCap=borrows + room)
    ]
    assert ma.assetConfig(usdc.token).debtCap == borrows + room

    with (
        unchanged(),
        reverts(ma.DebtCapExceeded, asset=usdc.token, total=borrows + room + 1, cap=borrows + room),
    ):
        ma.borrow(trader, 0, usdc.token, room + 1, trader, sender=trader)

    ma.borrow(trader, 0, usdc.token, room, trader, sender=trader)
    assert usdc.vault.totalBorrows() == borrows + room


def test_set_caps__cap_above_uint128__reverts_safe_cast_and_keeps_caps(ma, weth, deployer):
    """Caps are stored as uint128: a larger cap is refused, never silently truncated. (The write
    runs in the admin module, whose ABI holds SafeCast's error.)"""
    before = ma.assetConfig(weth.token)
    admin = project.MarginAdmin.at(ma.ADMIN_MODULE())
    with reverts(admin.SafeCastOverflowedUintDowncast, bits=128, value=2**128):
        ma.setCaps(weth.token, 2**128, int(before.debtCap), sender=deployer)
    with reverts(admin.SafeCastOverflowedUintDowncast, bits=128, value=2**200):
        ma.setCaps(weth.token, int(before.collateralCap), 2**200, sender=deployer)
    after = ma.assetConfig(weth.token)
    assert (after.collateralCap, after.debtCap) == (before.collateralCap, before.debtCap)
    assert after.collateralCap == weth.spec.collateral_cap(18)


def test_set_caps__largest_uint128__stored_as_emitted(ma, weth, deployer):
    top = 2**128 - 1
    tx = ma.setCaps(weth.token, top, top, sender=deployer)
    assert logs(tx, ma.CapsSet) == [ev(asset=weth.token, collateralCap=top, debtCap=top)]
    assert (ma.assetConfig(weth.token).collateralCap, ma.assetConfig(weth.token).debtCap) == (
        top,
        top,
    )


# ====================================================================== asset limits
class TestTooManyAssets:
    """Uses the class-scoped `extra_assets`: ape reverts the six extra listings after the class."""

    def test_deposit__ninth_asset_in_one_account__reverts_too_many_assets(
        self, act, ma, usdc, wbtc, weth, trader, deployer, extra_assets, unchanged
    ):
        for a in (usdc, wbtc, weth):
            act.deposit(a, trader, "1")
        for token, _ in extra_assets:
            token.mint(trader, 10**18, sender=deployer)
            token.approve(ma, MAX_UINT, sender=trader)
        for token, _ in extra_assets[:5]:
            ma.deposit(trader, 0, token, 10**18, sender=trader)
        assert len(ma.accountAssets(trader, 0)) == ma.MAX_ASSETS_PER_ACCOUNT() == 8

        ninth = extra_assets[5][0]
        with unchanged(), reverts(ma.TooManyAssets, max=8):
            ma.deposit(trader, 0, ninth, 10**18, sender=trader)
        assert ma.rawBalance(trader, 0, ninth) == 0

        # Emptying one slot makes room again.
        ma.withdraw(trader, 0, usdc.token, amount(usdc, "1"), trader, sender=trader)
        ma.deposit(trader, 0, ninth, 10**18, sender=trader)
        assert len(ma.accountAssets(trader, 0)) == 8
        assert ma.rawBalance(trader, 0, ninth) == 10**18

    def test_borrow__ninth_asset_in_one_account__reverts_too_many_assets(
        self, act, ma, usdc, wbtc, weth, trader, lender, deployer, extra_assets, unchanged
    ):
        for a in (usdc, wbtc, weth):
            act.deposit(a, trader, "1")
        for token, _ in extra_assets[:5]:
            token.mint(trader, 10**18, sender=deployer)
            token.approve(ma, MAX_UINT, sender=trader)
            ma.deposit(trader, 0, token, 10**18, sender=trader)
        token, vault = extra_assets[5]
        token.mint(lender, 10**20, sender=deployer)
        token.approve(vault, MAX_UINT, sender=lender)
        vault.deposit(10**20, lender, sender=lender)

        with unchanged(), reverts(ma.TooManyAssets, max=8):
            ma.borrow(trader, 0, token, 10**15, trader, sender=trader)
        assert vault.totalBorrows() == 0


def test_list_asset__256_assets_listed__reverts_too_many_listed_assets(ma, deployer, unlisted):
    """The 256-asset limit (asset ids are uint8 bits of the account mask). Listing 253 more assets
    would take minutes, so the listed-assets array's length is set to 256 in storage (the slot
    is found as the one holding the current length), and the array is read back to prove it."""
    listed = len(ma.listedAssets())
    provider = ma.provider
    slot = next(
        i for i in range(16) if int.from_bytes(provider.get_storage(ma.address, i), "big") == listed
    )
    provider.set_storage(ma.address, slot, (256).to_bytes(32, "big"))
    assert ma.MAX_LISTED_ASSETS() == 256
    assert len(ma.listedAssets()) == 256
    vault = new_vault(unlisted, ma, deployer)
    with reverts(ma.TooManyListedAssets):
        ma.listAsset(unlisted, vault, 10**17, 5 * 10**16, 10**24, 10**23, *LIQ, sender=deployer)
    assert not ma.assetConfig(unlisted).listed


# ====================================================================== listing and admin
def test_list_asset__matching_vault__lists_with_next_id(ma, deployer, unlisted):
    listed = list(ma.listedAssets())
    next_id = len(listed)
    vault = new_vault(unlisted, ma, deployer)
    tx = ma.listAsset(unlisted, vault, 10**17, 5 * 10**16, 10**24, 10**23, *LIQ, sender=deployer)
    lo, hi, floor = LIQ
    assert logs(tx, ma.LiquidationParamsSet) == [
        ev(asset=unlisted, minDiscount=lo, maxDiscount=hi, minDebtValue=floor)
    ]
    assert logs(tx, ma.AssetListed) == [
        ev(
            asset=unlisted,
            vault=vault,
            id=next_id,
            imf=10**17,
            mmf=5 * 10**16,
            collateralCap=10**24,
            debtCap=10**23,
        )
    ]
    cfg = ma.assetConfig(unlisted)
    assert (cfg.vault, cfg.id, cfg.listed, cfg.scale) == (vault.address, next_id, True, 10**18)
    assert (cfg.imf, cfg.mmf, cfg.collateralCap, cfg.debtCap) == (
        10**17,
        5 * 10**16,
        10**24,
        10**23,
    )
    # Listed with its liquidation parameters: never with 0% discounts a keeper could not act on.
    assert (cfg.minDiscount, cfg.maxDiscount, cfg.minDebtValue) == LIQ
    assert list(ma.listedAssets()) == [*listed, unlisted.address]


def test_list_asset__already_listed__reverts_asset_already_listed(ma, usdc, deployer):
    listed = list(ma.listedAssets())
    with reverts(ma.AssetAlreadyListed, asset=usdc.token):
        ma.listAsset(usdc.token, usdc.vault, 10**17, 5 * 10**16, 1, 1, *LIQ, sender=deployer)
    assert list(ma.listedAssets()) == listed
    assert ma.assetConfig(usdc.token).imf == usdc.spec.imf


@pytest.mark.parametrize("mismatch", ["vault_of_another_asset", "vault_of_another_margin_account"])
def test_list_asset__mismatched_vault__reverts_vault_mismatch(
    ma, usdc, deployer, stranger, unlisted, mismatch
):
    vault = (
        usdc.vault
        if mismatch == "vault_of_another_asset"
        else new_vault(unlisted, stranger, deployer)
    )
    listed = list(ma.listedAssets())
    with reverts(ma.VaultMismatch, vault=vault, asset=unlisted):
        ma.listAsset(unlisted, vault, 10**17, 5 * 10**16, 1, 1, *LIQ, sender=deployer)
    assert not ma.assetConfig(unlisted).listed
    assert list(ma.listedAssets()) == listed


def test_list_asset__nineteen_decimals__reverts_unsupported_decimals(ma, deployer):
    token = project.MockERC20.deploy("Too Precise", "TP19", 19, sender=deployer)
    vault = new_vault(token, ma, deployer)
    with reverts(ma.UnsupportedDecimals, asset=token, decimals=19):
        ma.listAsset(token, vault, 10**17, 5 * 10**16, 1, 1, *LIQ, sender=deployer)
    assert not ma.assetConfig(token).listed


INVALID_FACTORS = {
    "mmf_equal_imf": (10**17, 10**17),
    "mmf_above_imf": (10**17, 2 * 10**17),
    "mmf_below_min": (10**17, 5 * 10**15 - 1),
    "imf_above_max": (95 * 10**16 + 1, 5 * 10**16),
    # Factors are stored in basis points: anything finer is refused, not rounded.
    "imf_not_whole_bps": (10**17 + 10**13, 5 * 10**16),
    "mmf_not_whole_bps": (10**17, 5 * 10**16 + 1),
}


@pytest.mark.parametrize("case", sorted(INVALID_FACTORS))
def test_set_margin_factors__out_of_bounds__reverts_invalid_margin_factors(
    ma, weth, deployer, unlisted, case
):
    imf, mmf = INVALID_FACTORS[case]
    with reverts(ma.InvalidMarginFactors, imf=imf, mmf=mmf):
        ma.setMarginFactors(weth.token, imf, mmf, sender=deployer)
    cfg = ma.assetConfig(weth.token)
    assert (cfg.imf, cfg.mmf) == (weth.spec.imf, weth.spec.mmf)

    vault = new_vault(unlisted, ma, deployer)
    with reverts(ma.InvalidMarginFactors, imf=imf, mmf=mmf):
        ma.listAsset(unlisted, vault, imf, mmf, 1, 1, *LIQ, sender=deployer)
    assert not ma.assetConfig(unlisted).listed


def test_set_margin_factors__at_bounds__stores_factors_and_health_follows(
    act, ma, usdc, wbtc, weth, trader, deployer
):
    """mmf at MIN_MARGIN_FACTOR (0.5%) lowers every asset's discount bound (mmf + 0.5%) / 1.005: the
    configured discount caps must come down first (WETH's own to below 1%)."""
    act.deposit(weth, trader, "10")
    act.borrow(usdc, trader, "1000")
    imf, mmf = ma.MAX_MARGIN_FACTOR(), ma.MIN_MARGIN_FACTOR()
    usdc_bound = discount_bound(usdc.spec.mmf, mmf)
    with reverts(ma.DiscountAboveBound, asset=usdc.token, maxDiscount=3 * 10**16, bound=usdc_bound):
        ma.setMarginFactors(weth.token, imf, mmf, sender=deployer)
    for a, lo, hi in (
        (usdc, 5 * 10**15, 2 * 10**16),
        (wbtc, 10**16, 5 * 10**16),
        (weth, 5 * 10**15, 99 * 10**14),
    ):
        ma.setLiquidationParams(a.token, lo, hi, a.spec.min_debt_value, sender=deployer)
    tx = ma.setMarginFactors(weth.token, imf, mmf, sender=deployer)
    assert logs(tx, ma.MarginFactorsSet) == [ev(asset=weth.token, imf=imf, mmf=mmf)]
    cfg = ma.assetConfig(weth.token)
    assert (cfg.imf, cfg.mmf) == (imf, mmf) == (95 * 10**16, 5 * 10**15)
    assert act.health(trader) == act.mirror_health(trader)
    assert ma.discountBound(weth.token) == discount_bound(mmf, mmf) == 10**34 // (1005 * 10**15)


# ====================================================================== liquidation parameters
def discount_bound(mmf: int, min_mmf: int) -> int:
    """(mmf + minMmf) / (1 + minMmf) in WAD, rounded down."""
    return (mmf + min_mmf) * WAD // (WAD + min_mmf)


def test_liquidation_params__deployed__match_the_config_and_bounds(ma, system):
    min_mmf = min(a.spec.mmf for a in system.assets.values())
    assert min_mmf == 2 * 10**16  # USDC
    for a in system.assets.values():
        cfg = ma.assetConfig(a.token)
        assert (cfg.minDiscount, cfg.maxDiscount, cfg.minDebtValue) == (
            a.spec.min_discount,
            a.spec.max_discount,
            a.spec.min_debt_value,
        )
        bound = ma.discountBound(a.token)
        assert bound == discount_bound(a.spec.mmf, min_mmf)
        assert cfg.maxDiscount < bound


def test_set_liquidation_params__valid__stored_and_emitted(ma, weth, deployer, trader):
    lo, hi, floor = 2 * 10**16, 5 * 10**16, 250 * WAD + 1
    tx = ma.setLiquidationParams(weth.token, lo, hi, floor, sender=deployer)
    assert logs(tx, ma.LiquidationParamsSet) == [
        ev(asset=weth.token, minDiscount=lo, maxDiscount=hi, minDebtValue=floor)
    ]
    cfg = ma.assetConfig(weth.token)
    assert (cfg.minDiscount, cfg.maxDiscount, cfg.minDebtValue) == (lo, hi, floor)
    # Nothing else of the asset moved.
    assert (cfg.imf, cfg.mmf, cfg.collateralCap) == (
        weth.spec.imf,
        weth.spec.mmf,
        weth.spec.collateral_cap(18),
    )


@pytest.mark.parametrize(
    ("lo", "hi", "floor"),
    [(10**14, 10**14, 0), (7 * 10**16, 7 * 10**16, 0), (10**14, 784 * 10**14, 2**96 - 1)],
    ids=["smallest_discounts", "flat_discount", "max_below_bound_and_largest_floor"],
)
def test_set_liquidation_params__edges__accepted(ma, weth, deployer, lo, hi, floor):
    """WETH's bound is (6% + 2%) / 1.02 = 7.843...%: 7.84% (a whole basis point) is below it."""
    assert ma.discountBound(weth.token) == discount_bound(6 * 10**16, 2 * 10**16) > hi
    ma.setLiquidationParams(weth.token, lo, hi, floor, sender=deployer)
    cfg = ma.assetConfig(weth.token)
    assert (cfg.minDiscount, cfg.maxDiscount, cfg.minDebtValue) == (lo, hi, floor)


INVALID_LIQUIDATION_PARAMS = {
    "min_above_max": (3 * 10**16, 2 * 10**16, 100 * WAD),
    "min_not_whole_bps": (10**16 + 1, 5 * 10**16, 100 * WAD),
    "max_not_whole_bps": (10**16, 5 * 10**16 + 10**13, 100 * WAD),
    "max_at_one": (10**16, WAD, 100 * WAD),
    "max_above_max_discount": (10**16, 5 * 10**17 + 10**14, 100 * WAD),
    "min_zero": (0, 5 * 10**16, 100 * WAD),
    "floor_at_2_pow_96": (10**16, 5 * 10**16, 2**96),
}


@pytest.mark.parametrize("case", sorted(INVALID_LIQUIDATION_PARAMS))
def test_set_liquidation_params__invalid__reverts_invalid_liquidation_params(
    ma, weth, deployer, unlisted, case
):
    lo, hi, floor = INVALID_LIQUIDATION_PARAMS[case]
    with reverts(ma.InvalidLiquidationParams, minDiscount=lo, maxDiscount=hi, minDebtValue=floor):
        ma.setLiquidationParams(weth.token, lo, hi, floor, sender=deployer)
    cfg = ma.assetConfig(weth.token)
    assert (cfg.minDiscount, cfg.maxDiscount, cfg.minDebtValue) == (
        weth.spec.min_discount,
        weth.spec.max_discount,
        weth.spec.min_debt_value,
    )
    # Listing checks the same bounds.
    vault = new_vault(unlisted, ma, deployer)
    with reverts(ma.InvalidLiquidationParams, minDiscount=lo, maxDiscount=hi, minDebtValue=floor):
        ma.listAsset(unlisted, vault, 10**17, 5 * 10**16, 1, 1, lo, hi, floor, sender=deployer)
    assert not ma.assetConfig(unlisted).listed


def test_set_liquidation_params__max_discount_at_bound__reverts_discount_above_bound(
    ma, weth, deployer
):
    """The first whole basis point above WETH's bound (7.843...%) is refused with the exact bound."""
    bound = discount_bound(6 * 10**16, 2 * 10**16)
    assert bound == 78431372549019607
    with reverts(ma.DiscountAboveBound, asset=weth.token, maxDiscount=785 * 10**14, bound=bound):
        ma.setLiquidationParams(weth.token, 10**16, 785 * 10**14, 100 * WAD, sender=deployer)
    assert ma.assetConfig(weth.token).maxDiscount == weth.spec.max_discount


@pytest.mark.parametrize("lowered", ["own_mmf", "another_assets_mmf"])
def test_set_margin_factors__mmf_lowered_below_discount_bound__reverts_discount_above_bound(
    ma, usdc, wbtc, weth, deployer, lowered
):
    """Own: WETH's mmf 6% -> 3% puts its bound at (3% + 2%) / 1.02 = 4.9% < its 7% cap. Another's:
    WBTC's mmf 5% -> 0.5% makes 0.5% the lowest mmf, so USDC's bound falls to (2% + 0.5%) / 1.005 =
    2.49% < USDC's 3% cap: the error names USDC, not the asset being changed."""
    if lowered == "own_mmf":
        asset, imf, mmf = weth, weth.spec.imf, 3 * 10**16
        named, bound = weth, discount_bound(3 * 10**16, 2 * 10**16)
    else:
        asset, imf, mmf = wbtc, wbtc.spec.imf, 5 * 10**15
        named, bound = usdc, discount_bound(2 * 10**16, 5 * 10**15)
    with reverts(
        ma.DiscountAboveBound, asset=named.token, maxDiscount=named.spec.max_discount, bound=bound
    ):
        ma.setMarginFactors(asset.token, imf, mmf, sender=deployer)
    cfg = ma.assetConfig(asset.token)
    assert (cfg.imf, cfg.mmf) == (asset.spec.imf, asset.spec.mmf)


def test_list_asset__lowest_mmf__reverts_discount_above_bound_of_a_listed_asset(
    ma, usdc, deployer, unlisted
):
    """A new asset with mmf 0.5% would lower USDC's bound below its 3% discount cap."""
    vault = new_vault(unlisted, ma, deployer)
    listed = list(ma.listedAssets())
    bound = discount_bound(2 * 10**16, 5 * 10**15)
    with reverts(ma.DiscountAboveBound, asset=usdc.token, maxDiscount=3 * 10**16, bound=bound):
        ma.listAsset(unlisted, vault, 10**17, 5 * 10**15, 1, 1, *LIQ, sender=deployer)
    assert not ma.assetConfig(unlisted).listed
    assert list(ma.listedAssets()) == listed


RISK_ADMIN_CALLS = ["list_asset", "set_margin_factors", "set_liquidation_params", "set_caps"]
DEFAULT_ADMIN_CALLS = ["set_oracle", "set_liquidator"]


@pytest.mark.parametrize("call", RISK_ADMIN_CALLS + DEFAULT_ADMIN_CALLS)
def test_admin_call__by_stranger__reverts_access_control_unauthorized_account(
    ma, usdc, stranger, unlisted, oracle, liquidator, call
):
    fn = {
        "list_asset": lambda: ma.listAsset(
            unlisted, usdc.vault, 10**17, 5 * 10**16, 1, 1, *LIQ, sender=stranger
        ),
        "set_margin_factors": lambda: ma.setMarginFactors(
            usdc.token, 10**17, 5 * 10**16, sender=stranger
        ),
        "set_liquidation_params": lambda: ma.setLiquidationParams(
            usdc.token, *LIQ, sender=stranger
        ),
        "set_caps": lambda: ma.setCaps(usdc.token, 1, 1, sender=stranger),
        "set_oracle": lambda: ma.setOracle(stranger, sender=stranger),
        "set_liquidator": lambda: ma.setLiquidator(stranger, sender=stranger),
    }[call]
    role = ma.RISK_ADMIN_ROLE() if call in RISK_ADMIN_CALLS else ma.DEFAULT_ADMIN_ROLE()
    with reverts(ma.AccessControlUnauthorizedAccount, account=stranger, neededRole=role):
        fn()
    cfg = ma.assetConfig(usdc.token)
    assert (cfg.imf, cfg.mmf, cfg.collateralCap) == (
        usdc.spec.imf,
        usdc.spec.mmf,
        usdc.spec.collateral_cap(6),
    )
    assert (cfg.minDiscount, cfg.maxDiscount, cfg.minDebtValue) == (
        usdc.spec.min_discount,
        usdc.spec.max_discount,
        usdc.spec.min_debt_value,
    )
    assert (ma.oracle(), ma.liquidator()) == (oracle.address, liquidator.address)
    assert not ma.assetConfig(unlisted).listed


def test_set_oracle__by_admin__emits_oracle_set_and_prices_from_new_oracle(
    act, ma, weth, trader, deployer
):
    act.deposit(weth, trader, "1")
    new_oracle = project.ChainlinkOracle.deploy(deployer, ZERO_ADDRESS, 0, sender=deployer)
    feed = project.MockAggregator.deploy(8, "WETH / USD", 1500 * 10**8, sender=deployer)
    new_oracle.setFeed(weth.token, feed, 3600, sender=deployer)

    tx = ma.setOracle(new_oracle, sender=deployer)

    assert logs(tx, ma.OracleSet) == [ev(oracle=new_oracle)]
    assert ma.oracle() == new_oracle.address
    assert ma.accountHealth(trader, 0)[0] == 1500 * WAD


def test_set_liquidator__by_admin__emits_liquidator_set_and_old_liquidator_loses_access(
    ma, liquidator, trader, keeper, deployer
):
    tx = ma.setLiquidator(keeper, sender=deployer)
    assert logs(tx, ma.LiquidatorSet) == [ev(liquidator=keeper)]
    assert ma.liquidator() == keeper.address
    with reverts(ma.NotLiquidator, caller=liquidator):
        liquidator.writeOffBadDebt(trader, 0, sender=keeper)
    tx = ma.writeOffBadDebt(trader, 0, sender=keeper)
    assert tx.return_value == 0


# ====================================================================== Liquidator-only entry points
@pytest.mark.parametrize(
    "call", ["settle_liquidation", "settle_liquidation_with_callback", "settle_batch", "write_off"]
)
def test_liquidator_only__called_by_stranger__reverts_not_liquidator(
    act, ma, system, usdc, stranger, trader, unchanged, call
):
    """A stranger asking to settle a liquidation that would be allowed (the account is deeply
    insolvent) is refused: only the Liquidator (the engine the MarginAccount asks for prices) may."""
    coll = open_account(act, system, trader, usdc)
    act.set_price(coll, "100")
    act.fund(usdc, stranger, "20000")
    order = (trader, 0, stranger, usdc.token, coll.token, MAX_UINT, 0)
    fn = {
        "settle_liquidation": lambda: ma.settleLiquidation(order, b"", sender=stranger),
        "settle_liquidation_with_callback": lambda: ma.settleLiquidation(
            order, b"\x01", sender=stranger
        ),
        "settle_batch": lambda: ma.settleLiquidationBatch(
            [(trader, 0)], stranger, usdc.token, coll.token, 0, sender=stranger
        ),
        "write_off": lambda: ma.writeOffBadDebt(trader, 0, sender=stranger),
    }[call]
    with unchanged(), reverts(ma.NotLiquidator, caller=stranger):
        fn()


def test_write_off_bad_debt__account_with_collateral__reverts_account_has_collateral(
    act, ma, system, usdc, liquidator, trader, stranger, unchanged
):
    coll = open_account(act, system, trader, usdc)
    act.set_price(coll, "100")
    with unchanged(), reverts(ma.AccountHasCollateral, owner=trader, subId=0):
        liquidator.writeOffBadDebt(trader, 0, sender=stranger)


# ====================================================================== oracle outages
def make_stale(act, asset: DeployedAsset, how: str) -> int:
    """Make `asset`'s answer older than its max age; returns the feed's updatedAt."""
    if how == "warp":
        act.warp(asset.spec.max_age + 60)
    else:
        round_id, answer, *_ = asset.feed.latestRoundData()
        old = chain.blocks.head.timestamp - asset.spec.max_age - 1
        asset.feed.setRoundData(round_id + 1, answer, old, round_id + 1, sender=act.deployer)
    return int(asset.feed.latestRoundData()[3])


@pytest.mark.parametrize("how", ["warp", "set_round_data"])
def test_stale_feed__deposit_and_repay__still_work(act, ma, system, usdc, trader, keeper, how):
    coll = open_account(act, system, trader, usdc, "1000")
    raw_debt = int(ma.rawBalance(trader, 0, usdc.token))
    index = int(usdc.vault.borrowIndex())
    held = int(ma.rawBalance(trader, 0, coll.token))
    more = act.fund(coll, trader, "1")
    paid = act.fund(usdc, keeper, "400")
    make_stale(act, coll, how)
    index = int(usdc.vault.borrowIndex())  # after any warp
    burned, repaid = repay_at_most(-raw_debt, index, debt_tokens(-raw_debt, index), paid)
    with reverts(
        system.oracle.StaleAnswer,
        asset=coll.token,
        updatedAt=coll.feed.latestRoundData()[3],
        maxAge=coll.spec.max_age,
    ):
        system.oracle.price(coll.token)

    tx_d = ma.deposit(trader, 0, coll.token, more, sender=trader)
    tx_r = ma.repay(trader, 0, usdc.token, paid, sender=keeper)

    assert logs(tx_d, ma.Deposited)[0]["amount"] == more
    assert tx_r.return_value == repaid > 0
    assert ma.rawBalance(trader, 0, coll.token) == held + more
    assert ma.rawBalance(trader, 0, usdc.token) == raw_debt + burned


@pytest.mark.parametrize("how", ["warp", "set_round_data"])
@pytest.mark.parametrize("action", ["borrow", "withdraw", "transfer"])
def test_stale_feed__borrow_withdraw_transfer__revert_stale_answer(
    act, ma, system, usdc, trader, unchanged, how, action
):
    coll = open_account(act, system, trader, usdc, "1000")
    updated = make_stale(act, coll, how)
    fn = {
        "borrow": lambda: ma.borrow(trader, 0, usdc.token, 1, trader, sender=trader),
        "withdraw": lambda: ma.withdraw(trader, 0, coll.token, 1, trader, sender=trader),
        "transfer": lambda: ma.transfer(trader, 0, 1, coll.token, 1, sender=trader),
    }[action]
    with (
        unchanged(),
        reverts(
            system.oracle.StaleAnswer, asset=coll.token, updatedAt=updated, maxAge=coll.spec.max_age
        ),
    ):
        fn()


@pytest.mark.parametrize("answer", [0, -1])
def test_non_positive_answer__deposit_and_repay_work_but_borrow_and_withdraw_revert(
    act, ma, system, usdc, trader, unchanged, answer
):
    coll = open_account(act, system, trader, usdc, "1000")
    more = act.fund(coll, trader, "1")
    paid = act.fund(usdc, trader, "100")
    coll.feed.setAnswer(answer, sender=act.deployer)

    ma.deposit(trader, 0, coll.token, more, sender=trader)
    tx = ma.repay(trader, 0, usdc.token, paid, sender=trader)
    assert paid - 2 <= tx.return_value <= paid
    assert ma.rawBalance(trader, 0, coll.token) == amount(coll, COLLATERAL_FOR["USDC"][1]) + more

    error = system.oracle.NonPositiveAnswer
    with unchanged(), reverts(error, asset=coll.token, answer=answer):
        ma.borrow(trader, 0, usdc.token, 1, trader, sender=trader)
    with unchanged(), reverts(error, asset=coll.token, answer=answer):
        ma.withdraw(trader, 0, coll.token, 1, trader, sender=trader)
    # The health views count a collateral with no usable price as 0, as a liquidation does.
    equity, _, _, health = ma.accountHealth(trader, 0)
    assert int(equity) < 0 and int(health) == 0 and ma.isLiquidatable(trader, 0)
