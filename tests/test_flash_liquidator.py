"""FlashLiquidator (contracts/periphery): a keeper's owner-only flash liquidation that sells the seized
collateral in a Uniswap-v3-style pool (MockSwapRouter, constant product with finite depth), repays
the MarginAccount from the proceeds and sends the rest to the owner, holding nothing before or after.

A module fixture lends in every vault, lets a year of interest lift the borrow indices above 1.0 and
freezes the rates, so a quote read in one block is what the next transaction settles. Accounts are
opened at ETH $3,000 and liquidated at $2,600 (health about 0.98). Pools are funded at the oracle
price; what the swap pays is checked against an integer mirror of the pool formula.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from ape import chain, project
from eth_abi import encode

from solvent.apebridge import ape_keeper
from solvent.deploy import DeployedAsset
from solvent.keeper import AccountRef, FlashRoute, KeeperError
from solvent.keeper.engine import FLASH_LIQUIDATE_GAS
from solvent.risk import WAD
from tests.utils.chain import ZERO_ADDRESS, ev, fast_custom_error_decoding, logs, reverts
from tests.utils.helpers import MAX_UINT, amount, chain_state, debt_of, seed_frozen_market
from tests.utils.liquidation import liquidated

POOL_FEE = 500  # pips: the 0.05% tier
FEE_DENOMINATOR = 10**6  # pips per 100%
DEADLINE_WINDOW = 600  # seconds a keeper's transaction stays valid
EIP170_CODE_LIMIT = 24_576  # bytes


# ====================================================================== fixtures
@pytest.fixture(scope="module", autouse=True)
def _flash_market(
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
    """Liquidity, a year of interest on a seeder's borrows, then frozen rates (see module doc). It
    names every session fixture the module uses so all exist before ape's first snapshot."""
    seed_frozen_market(act, lender, accounts[6], deployer)
    act.lend(usdc, lender, "5000000")


@pytest.fixture(scope="module", autouse=True)
def _decode_errors_without_trace_search():
    """The FlashLiquidator's ABI lacks the router's, the protocol's and the tokens' errors;
    `reverts` decodes them from the revert data, so ape's slow trace search is skipped."""
    with fast_custom_error_decoding():
        yield


@pytest.fixture
def router(deployer):
    return project.MockSwapRouter.deploy(POOL_FEE, sender=deployer)


@pytest.fixture
def flash(liquidator, router, keeper, deployer):
    """The keeper's FlashLiquidator: deployed by the deployer, owned by the keeper's EOA."""
    return project.FlashLiquidator.deploy(liquidator, router, keeper, sender=deployer)


@pytest.fixture
def create_pool(act, router, deployer, usdc, weth):
    """`create_pool(weth_units)`: a WETH/USDC pool `weth_units` deep at the oracle price."""

    def create(weth_units: int) -> tuple[int, int]:
        usdc_units = to_usdc(act.price(weth), weth_units, usdc, weth)
        for asset, units in ((weth, weth_units), (usdc, usdc_units)):
            act.fund(asset, deployer, units, spender=router)
        router.addLiquidity(weth.token, usdc.token, weth_units, usdc_units, sender=deployer)
        return weth_units, usdc_units

    return create


@pytest.fixture
def unchanged(system, trader, trader2, keeper, flash, router, usdc, weth):
    """`with unchanged(): ...` asserts the block left every book, balance, pool reserve and the
    FlashLiquidator's allowances as they were."""

    def state() -> tuple[Any, ...]:  # the pool must exist (reserves() reverts NoPool otherwise)
        holders = [keeper, flash, router]
        return (
            chain_state(system, trader, holders),
            chain_state(system, trader2, holders),
            tuple(int(r) for r in router.reserves(weth.token, usdc.token)),
            allowances(flash, router, system.margin_account, usdc, weth),
        )

    @contextmanager
    def check() -> Iterator[None]:
        before = state()
        yield
        assert state() == before

    return check


# ====================================================================== helpers
def to_usdc(weth_price: int, weth_units: int, usdc: DeployedAsset, weth: DeployedAsset) -> int:
    """USDC units worth `weth_units` at `weth_price` (USD WAD per whole WETH), rounded down."""
    return weth_units * weth_price * usdc.scale // (WAD * weth.scale)


def pool_out(reserve_in: int, reserve_out: int, amount_in: int) -> int:
    """Mirror of MockSwapRouter: constant product after the fee, both divisions rounded down."""
    after_fee = amount_in * (FEE_DENOMINATOR - POOL_FEE) // FEE_DENOMINATOR
    return reserve_out * after_fee // (reserve_in + after_fee)


def open_weth_long(act, usdc, weth, owner, coll: str = "10", debt: str = "24000") -> None:
    """`coll` WETH against `debt` USDC, opened at $3,000 (the price is moved by the caller)."""
    act.deposit(weth, owner, coll)
    act.borrow(usdc, owner, debt)


def crash(act, ma, weth, *owners) -> None:
    """ETH from $3,000 to $2,600: each owner's account falls below maintenance, still solvent."""
    act.set_price(weth, "2600")
    for owner in owners:
        health = act.health(owner)
        assert health.liquidatable and health.equity > 0


def quote(liquidator, owner, debt: DeployedAsset, coll: DeployedAsset) -> tuple[int, int, int]:
    """(repay, seize, owed) of the largest liquidation now; owed = repay + fee - tip."""
    repay, seize, fee, tip, _ = (
        int(v) for v in liquidator.quote(owner, 0, debt.token, coll.token, MAX_UINT)
    )
    return repay, seize, repay + fee - tip


def deadline() -> int:
    return chain.pending_timestamp + DEADLINE_WINDOW


def allowances(flash, router, ma, usdc, weth) -> tuple[int, ...]:
    """Every allowance the FlashLiquidator could have left: each token to the router and the MA."""
    return tuple(
        int(asset.token.allowance(flash, spender))
        for asset in (usdc, weth)
        for spender in (router, ma)
    )


def assert_holds_nothing(flash, router, ma, usdc, weth) -> None:
    assert [int(a.token.balanceOf(flash)) for a in (usdc, weth)] == [0, 0]
    assert allowances(flash, router, ma, usdc, weth) == (0, 0, 0, 0)


# ====================================================================== flash liquidation
def test_flash_liquidate__owner_with_zero_inventory__repays_from_the_swap_and_pays_profit_to_owner(
    act,
    system,
    ma,
    liquidator,
    usdc,
    weth,
    trader,
    keeper,
    flash,
    router,
    create_pool,
    record_property,
):
    open_weth_long(act, usdc, weth, trader)
    crash(act, ma, weth, trader)
    x, y = create_pool(amount(weth, "1000"))
    repay, seize, owed = quote(liquidator, trader, usdc, weth)
    out = pool_out(x, y, seize)
    assert router.quote(weth.token, usdc.token, seize) == out
    profit = out - owed
    assert profit > 0
    assert_holds_nothing(flash, router, ma, usdc, weth)
    raw_weth = int(ma.rawBalance(trader, 0, weth.token))
    debt_before = debt_of(ma, usdc, trader, must_owe=True)
    keeper_usdc = int(usdc.token.balanceOf(keeper))

    # The tightest bounds that pass: all of the quoted seize, all of the pool's profit.
    tx = flash.flashLiquidate(
        trader,
        0,
        usdc.token,
        weth.token,
        MAX_UINT,
        seize,
        POOL_FEE,
        profit,
        deadline(),
        sender=keeper,
    )

    assert logs(tx, flash.FlashLiquidated) == [
        ev(
            accountOwner=trader,
            subId=0,
            debtAsset=usdc.token,
            collateralAsset=weth.token,
            repay=repay,
            seize=seize,
            profit=profit,
        )
    ]
    assert logs(tx, router.Swapped) == [
        ev(
            sender=flash,
            recipient=flash,
            tokenIn=weth.token,
            tokenOut=usdc.token,
            amountIn=seize,
            amountOut=out,
        )
    ]
    [settled] = liquidated(tx, ma)
    assert (settled["liquidator"], settled["repaid"], settled["seized"]) == (
        flash.address.lower(),
        repay,
        seize,
    )
    if tx.return_value is not None:
        assert tuple(tx.return_value) == (repay, seize, profit)
    # The owner got the profit; the contract keeps no token and no allowance.
    assert usdc.token.balanceOf(keeper) == keeper_usdc + profit
    assert_holds_nothing(flash, router, ma, usdc, weth)
    # The account and the pool moved by exactly the liquidation and the swap.
    assert ma.rawBalance(trader, 0, weth.token) == raw_weth - seize
    assert debt_of(ma, usdc, trader) == debt_before - repay
    assert tuple(router.reserves(weth.token, usdc.token)) == (x + seize, y - out)
    record_property("flash_liquidate_gas_used", tx.gas_used)


def test_flash_liquidate__by_non_owner__reverts_ownable_unauthorized_account(
    act, ma, usdc, weth, trader, stranger, flash, create_pool, unchanged
):
    open_weth_long(act, usdc, weth, trader)
    crash(act, ma, weth, trader)
    create_pool(amount(weth, "1000"))

    with unchanged(), reverts(flash.OwnableUnauthorizedAccount, account=stranger):
        flash.flashLiquidate(
            trader,
            0,
            usdc.token,
            weth.token,
            MAX_UINT,
            0,
            POOL_FEE,
            0,
            deadline(),
            sender=stranger,
        )


def test_flash_liquidate__deadline_passed__reverts_deadline_passed(
    act, ma, usdc, weth, trader, keeper, flash, create_pool, unchanged
):
    open_weth_long(act, usdc, weth, trader)
    crash(act, ma, weth, trader)
    create_pool(amount(weth, "1000"))
    now = chain.blocks.head.timestamp + 1
    chain.pending_timestamp = now

    with unchanged(), reverts(flash.DeadlinePassed, deadline=now - 1, timestamp=now):
        flash.flashLiquidate(
            trader, 0, usdc.token, weth.token, MAX_UINT, 0, POOL_FEE, 0, now - 1, sender=keeper
        )


@pytest.mark.parametrize("depth", ["shallow_pool", "deep_pool_min_profit_one_unit_too_high"])
def test_flash_liquidate__swap_below_minimum_out__whole_liquidation_reverts_state_untouched(
    depth, act, ma, liquidator, usdc, weth, trader, keeper, flash, router, create_pool, unchanged
):
    open_weth_long(act, usdc, weth, trader)
    crash(act, ma, weth, trader)
    _, seize, owed = quote(liquidator, trader, usdc, weth)
    if depth == "shallow_pool":
        x, y = create_pool(seize // 4)  # the whole pool's USDC is worth a quarter of the seize
        min_profit = 0
        out = pool_out(x, y, seize)
        assert out < y < owed
    else:
        x, y = create_pool(amount(weth, "1000"))
        out = pool_out(x, y, seize)
        min_profit = out - owed + 1
    assert_holds_nothing(flash, router, ma, usdc, weth)

    with (
        unchanged(),
        reverts(router.InsufficientOutput, amountOut=out, amountOutMinimum=owed + min_profit),
    ):
        flash.flashLiquidate(
            trader,
            0,
            usdc.token,
            weth.token,
            MAX_UINT,
            0,
            POOL_FEE,
            min_profit,
            deadline(),
            sender=keeper,
        )

    assert act.health(trader).liquidatable  # still there for a better-routed keeper


def test_flash_liquidate__fee_tier_without_pool__reverts_no_pool(
    act, ma, usdc, weth, trader, keeper, flash, router, create_pool, unchanged
):
    open_weth_long(act, usdc, weth, trader)
    crash(act, ma, weth, trader)
    create_pool(amount(weth, "1000"))
    other_tier = 3000

    with (
        unchanged(),
        reverts(router.NoPool, tokenIn=weth.token, tokenOut=usdc.token, fee=other_tier),
    ):
        flash.flashLiquidate(
            trader,
            0,
            usdc.token,
            weth.token,
            MAX_UINT,
            0,
            other_tier,
            0,
            deadline(),
            sender=keeper,
        )


def test_flash_liquidate__big_account__slippage_cuts_the_profit_below_the_spot_price_profit(
    act,
    ma,
    liquidator,
    usdc,
    weth,
    trader,
    trader2,
    keeper,
    flash,
    router,
    create_pool,
    unchanged,
):
    open_weth_long(act, usdc, weth, trader)  # 10 WETH
    open_weth_long(act, usdc, weth, trader2, coll="1000", debt="2400000")  # 100 times as big
    crash(act, ma, weth, trader, trader2)
    _, small_seize, small_owed = quote(liquidator, trader, usdc, weth)
    repay, seize, owed = quote(liquidator, trader2, usdc, weth)
    assert seize > 50 * small_seize
    # Depth: the big sale moves the price by about 1/200 of the pool, less than the discount.
    x, y = create_pool(seize * 200)
    small_out, big_out = pool_out(x, y, small_seize), pool_out(x, y, seize)
    # The average price falls with size: per WETH sold, the big sale buys less USDC.
    assert big_out * small_seize < small_out * seize
    assert router.quote(weth.token, usdc.token, seize) == big_out
    # What the big sale would buy at the spot price (fee paid, no price impact) is not reachable.
    spot_out = seize * (FEE_DENOMINATOR - POOL_FEE) // FEE_DENOMINATOR * y // x
    assert big_out < spot_out
    with (
        unchanged(),
        reverts(router.InsufficientOutput, amountOut=big_out, amountOutMinimum=spot_out),
    ):
        flash.flashLiquidate(
            trader2,
            0,
            usdc.token,
            weth.token,
            MAX_UINT,
            seize,
            POOL_FEE,
            spot_out - owed,
            deadline(),
            sender=keeper,
        )

    # With a minimum that allows for the price impact it settles at exactly the pool's price.
    profit = big_out - owed
    assert 0 < profit < spot_out - owed
    keeper_usdc = int(usdc.token.balanceOf(keeper))
    tx = flash.flashLiquidate(
        trader2,
        0,
        usdc.token,
        weth.token,
        MAX_UINT,
        seize,
        POOL_FEE,
        profit,
        deadline(),
        sender=keeper,
    )

    assert logs(tx, flash.FlashLiquidated) == [
        ev(
            accountOwner=trader2,
            subId=0,
            debtAsset=usdc.token,
            collateralAsset=weth.token,
            repay=repay,
            seize=seize,
            profit=profit,
        )
    ]
    assert usdc.token.balanceOf(keeper) == keeper_usdc + profit
    assert_holds_nothing(flash, router, ma, usdc, weth)
    # The pool now pays less for the small account's collateral than before the big sale.
    after = router.quote(weth.token, usdc.token, small_seize)
    assert after == pool_out(x + seize, y - big_out, small_seize) < small_out
    assert small_out > small_owed  # (it was profitable before the big sale moved the price)


# ====================================================================== callback
def test_on_liquidation__called_by_a_stranger__reverts_unexpected_caller(
    usdc, weth, trader, stranger, flash
):
    data = encode(["uint24", "uint256", "uint256"], [POOL_FEE, 0, deadline()])

    with reverts(flash.UnexpectedCaller, caller=stranger):
        flash.onLiquidation(trader, 0, usdc.token, 1, weth.token, 1, data, sender=stranger)


def test_on_liquidation__margin_account_outside_flash_liquidate__reverts_not_initiated(
    accounts, ma, usdc, weth, trader, flash, router
):
    """Another engine or a future MarginAccount path calling the callback cannot make it swap."""
    chain.set_balance(ma.address, 10**20)
    ma_signer = accounts[ma.address]
    data = encode(["uint24", "uint256", "uint256"], [POOL_FEE, 0, deadline()])

    with reverts(flash.NotInitiated):
        flash.onLiquidation(trader, 0, usdc.token, 1, weth.token, 1, data, sender=ma_signer)

    assert allowances(flash, router, ma, usdc, weth) == (0, 0, 0, 0)


# ====================================================================== owner functions and wiring
def test_sweep__owner__sends_the_whole_balance_and_emits_swept(act, weth, keeper, stranger, flash):
    stray = act.mint(weth, flash, "1.5")

    tx = flash.sweep(weth.token, stranger, sender=keeper)

    assert logs(tx, flash.Swept) == [ev(token=weth.token, to=stranger, amount=stray)]
    assert weth.token.balanceOf(stranger) == stray
    assert weth.token.balanceOf(flash) == 0


def test_sweep__by_non_owner__reverts_ownable_unauthorized_account(act, weth, stranger, flash):
    stray = act.mint(weth, flash, "1.5")

    with reverts(flash.OwnableUnauthorizedAccount, account=stranger):
        flash.sweep(weth.token, stranger, sender=stranger)

    assert weth.token.balanceOf(flash) == stray


def test_sweep__to_zero_address__reverts_zero_address(weth, keeper, flash):
    with reverts(flash.ZeroAddress):
        flash.sweep(weth.token, ZERO_ADDRESS, sender=keeper)


def test_constructor__wires_liquidator_margin_account_router_and_owner(
    liquidator, ma, keeper, flash, router, record_property
):
    assert flash.liquidator() == liquidator.address
    assert flash.marginAccount() == ma.address
    assert flash.router() == router.address
    assert flash.owner() == keeper.address
    code_size = len(chain.provider.get_code(flash.address))
    assert 0 < code_size < EIP170_CODE_LIMIT
    record_property("flash_liquidator_code_size", code_size)


@pytest.mark.parametrize("zero", ["liquidator", "router", "owner"])
def test_constructor__zero_address__reverts(zero, liquidator, router, keeper, deployer):
    args = {"liquidator": liquidator, "router": router, "owner": keeper}
    args[zero] = ZERO_ADDRESS
    contract = project.FlashLiquidator
    # Ownable checks the owner first; the liquidator is checked before marginAccount() is read.
    if zero == "owner":
        error = reverts(contract.OwnableInvalidOwner, owner=ZERO_ADDRESS)
    else:
        error = reverts(contract.ZeroAddress)
    with error:
        contract.deploy(args["liquidator"], args["router"], args["owner"], sender=deployer)


# ====================================================================== the keeper's flash route
def flash_keeper(system, keeper, flash, **kwargs):
    return ape_keeper(system, keeper, flash=FlashRoute(flash.address, POOL_FEE), **kwargs)


def test_keeper_pass__flash_route__liquidates_every_account_holding_no_debt_token(
    act, system, ma, liquidator, usdc, weth, trader, trader2, keeper, flash, router, create_pool
):
    """The keeper service's --flash path: a pass over two crashed accounts with no USDC in hand
    settles both through the FlashLiquidator, one swap each; the keeper ends with exactly the
    swaps' profits, no collateral and no allowance anywhere."""
    for owner in (trader, trader2):
        open_weth_long(act, usdc, weth, owner)
    crash(act, ma, weth, trader, trader2)
    create_pool(amount(weth, "1000"))
    usdc.token.transfer(trader, usdc.token.balanceOf(keeper), sender=keeper)  # no inventory
    weth_before = int(weth.token.balanceOf(keeper))
    targets = [AccountRef(trader.address, 0), AccountRef(trader2.address, 0)]

    report = flash_keeper(system, keeper, flash, min_profit=0).run_pass(targets)

    assert sorted(liq.account for liq in report.liquidations) == sorted(targets)
    assert report.remaining == [] and report.skipped == []
    assert [tx.kind for tx in report.transactions] == ["flashLiquidate", "flashLiquidate"]
    profits = [liq.flash_profit for liq in report.liquidations]
    assert all(p is not None and p > 0 for p in profits)
    assert usdc.token.balanceOf(keeper) == sum(profits)
    assert all(liq.profit_value == liq.flash_profit_value for liq in report.liquidations)
    assert weth.token.balanceOf(keeper) == weth_before  # the collateral went to the pool
    assert not any(act.health(o).liquidatable for o in (trader, trader2))
    assert_holds_nothing(flash, router, ma, usdc, weth)
    assert all(int(a.token.allowance(keeper, ma)) == 0 for a in (usdc, weth))


@pytest.mark.parametrize("why", ["shallow_pool", "min_profit_above_the_swap"])
def test_keeper_pass__flash_swap_cannot_pay__skipped_with_the_reason_state_untouched(
    why,
    act,
    system,
    ma,
    liquidator,
    usdc,
    weth,
    trader,
    keeper,
    flash,
    router,
    create_pool,
    unchanged,
):
    open_weth_long(act, usdc, weth, trader)
    crash(act, ma, weth, trader)
    _, seize, owed = quote(liquidator, trader, usdc, weth)
    account = AccountRef(trader.address, 0)
    if why == "shallow_pool":
        create_pool(seize // 4)
        bot = flash_keeper(system, keeper, flash, min_profit=None)
    else:
        x, y = create_pool(amount(weth, "1000"))
        spare = pool_out(x, y, seize) - owed  # USDC units the swap would leave
        # The pass's own estimate at the oracle price, after gas; asking for just under it passes
        # the estimate, so the pass sends, and the contract's swap floor (the estimate before gas,
        # in USDC) is above what the pool pays: slippage and the pool fee.
        probe = flash_keeper(system, keeper, flash, min_profit=None)
        prices = probe.prices()
        gas = probe.gas_cost_value(FLASH_LIQUIDATE_GAS, prices)
        lens = probe.lens([account])[account]
        estimate = probe.best_pair(account, lens, prices, gas)
        assert not isinstance(estimate, str)
        min_profit = estimate.profit - WAD // 1000  # 0.1 cent under: gas-price drift
        assert (min_profit + gas) * usdc.scale // WAD > spare  # the pool pays less
        bot = flash_keeper(system, keeper, flash, min_profit=min_profit)

    with unchanged():
        report = bot.run_pass([account])

    assert report.liquidations == [] and report.transactions == []
    [skip] = report.skipped
    assert skip.account == account
    assert "flash: InsufficientOutput" in skip.reason
    assert report.remaining == [account]  # still there for a better-routed keeper


def test_keeper__flash_contract_of_someone_else__one_line_error_before_sending(
    system, liquidator, router, keeper, stranger, deployer
):
    theirs = project.FlashLiquidator.deploy(liquidator, router, stranger, sender=deployer)
    bot = flash_keeper(system, keeper, theirs)
    with pytest.raises(KeeperError, match=r"owned by 0x\w+, not by the keeper"):
        bot.check_flash()
    not_a_flash = flash_keeper(system, keeper, router)
    with pytest.raises(KeeperError, match="does not answer as a FlashLiquidator"):
        not_a_flash.check_flash()
