"""Scenario tests of the liquidation engine: flash liquidation through a keeper contract, reentrancy
during the flash callback, batch liquidation, the lens against `liquidate` on random accounts, and
bad debt written off in the liquidation that takes the last collateral.

A module fixture lets a year of interest lift every borrow index above 1.0 (and gives every vault a
small insurance fund), then freezes the vaults' rates, so a quote read in one block is what the next
transaction settles. The lens test turns interest back on and pins block timestamps instead.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from ape import chain, project

from solvent.deploy import DeployedAsset
from solvent.risk import WAD, mul_div_up
from tests.utils.chain import ev, fast_custom_error_decoding, logs, norm, reverts
from tests.utils.helpers import YEAR, amount, chain_state, debt_of, seed_frozen_market
from tests.utils.liquidation import (
    MAX_UINT,
    Owner,
    Status,
    account_debts,
    books,
    call_revert,
    liquidated,
    list_extra_asset,
    pin_next_block,
    read_lens,
    reverting_contract,
    selector,
    usd_up,
    view,
    written_off,
)


class Mode:
    """FlashKeeper.Mode."""

    NOOP = 0
    SWAP = 1
    REENTER_LIQUIDATE = 2
    REENTER_WITHDRAW = 3
    REENTER_DEPOSIT = 4
    REENTER_BATCH = 5


# ====================================================================== fixtures
@pytest.fixture(scope="module", autouse=True)
def _engine_market(
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
    keeper,
    stranger,
):
    """Liquidity, a year of interest on a seeder's borrows, then frozen rates (see module doc). It
    names every session fixture the module uses so all exist before ape's first snapshot."""
    seed_frozen_market(act, lender, accounts[6], deployer)
    act.lend(usdc, lender, "5000000")
    act.lend(wbtc, lender, "200")
    act.lend(weth, lender, "5000")


@pytest.fixture(scope="module", autouse=True)
def _decode_errors_without_trace_search():
    """The FlashKeeper's ABI lacks the protocol's and the token's errors; `reverts` decodes them from
    the revert data, so ape's slow trace search is skipped."""
    with fast_custom_error_decoding():
        yield


@pytest.fixture
def dex(deployer):
    return project.MockDex.deploy(sender=deployer)


@pytest.fixture
def flash(liquidator, dex, deployer):
    return project.FlashKeeper.deploy(liquidator, dex, sender=deployer)


def open_weth_long(act, usdc, weth, trader, sub: int = 0, coll: str = "10", debt: str = "24000"):
    """`coll` WETH against `debt` USDC, opened at $3,000, then ETH at $2,600."""
    act.deposit(weth, trader, coll, sub=sub)
    act.borrow(usdc, trader, debt, sub=sub)
    act.set_price(weth, "2600")


def quote(liquidator, owner, sub, debt: DeployedAsset, coll: DeployedAsset, max_repay=MAX_UINT):
    """Liquidator.quote: (repay, seize, insurance fee, insurance tip, discount)."""
    out = liquidator.quote(owner, sub, debt.token, coll.token, max_repay)
    return tuple(int(v) for v in out)


def health_of(ma, owner, sub) -> int:
    return int(ma.accountHealth(owner, sub)[3])


# ====================================================================== 1. flash liquidation
@pytest.mark.parametrize("edge_bps", [0, 50], ids=["dex_at_oracle_price", "dex_0.5pct_better"])
def test_flash_liquidation__keeper_contract_without_inventory__swaps_pays_and_keeps_profit(
    edge_bps, system, act, ma, liquidator, usdc, weth, trader, keeper, deployer, dex, flash
):
    open_weth_long(act, usdc, weth, trader)
    assert ma.isLiquidatable(trader, 0)
    # The dex pays edge_bps more than the oracle price, in token units:
    # out = in * price * s_usdc / (WAD * s_weth) * (1 + edge).
    price = act.price(weth)
    dex.setRate(
        weth.token,
        usdc.token,
        price * usdc.scale * (10_000 + edge_bps),
        WAD * weth.scale * 10_000,
        sender=deployer,
    )
    usdc.token.mint(dex, amount(usdc, "1000000"), sender=deployer)
    assert usdc.token.balanceOf(flash) == 0 and weth.token.balanceOf(flash) == 0

    repay, seize, fee, tip, discount = quote(liquidator, trader, 0, usdc, weth)
    assert tip == 0  # health ~0.98: the account's own discount pays the keeper
    health = health_of(ma, trader, 0)
    raw_weth = int(ma.rawBalance(trader, 0, weth.token))
    debt_before = debt_of(ma, usdc, trader, must_owe=True)
    assert 0 < repay < debt_before and 0 < seize < int(raw_weth)  # a partial liquidation
    swap_out = seize * price * usdc.scale * (10_000 + edge_bps) // (WAD * weth.scale * 10_000)
    before = books(system, [usdc, weth])
    keeper_tokens = (int(usdc.token.balanceOf(keeper)), int(weth.token.balanceOf(keeper)))

    tx = flash.flashLiquidate(
        trader, 0, usdc.token, weth.token, MAX_UINT, seize, Mode.SWAP, sender=keeper
    )

    assert liquidated(tx, ma) == [
        ev(
            owner=trader,
            subId=0,
            liquidator=flash,
            debtAsset=usdc.token,
            repaid=repay,
            collateralAsset=weth.token,
            seized=seize,
            insuranceFee=fee,
            insuranceTip=0,
            discount=discount,
            health=health,
            badDebt=0,
        )
    ]
    assert logs(tx, flash.Called) == [
        ev(owner=trader, subId=0, amountOwed=repay + fee, seized=seize, mode=Mode.SWAP)
    ]
    assert logs(tx, dex.Swapped) == [
        ev(
            trader=flash,
            tokenIn=weth.token,
            tokenOut=usdc.token,
            amountIn=seize,
            amountOut=swap_out,
        )
    ]
    # The keeper contract started with nothing and keeps the swap proceeds minus what it paid.
    profit = swap_out - repay - fee
    assert profit > 0
    assert usdc.token.balanceOf(flash) == profit
    assert weth.token.balanceOf(flash) == 0
    assert (int(usdc.token.balanceOf(keeper)), int(weth.token.balanceOf(keeper))) == keeper_tokens
    # The account: collateral down by seize, debt down by exactly the repayment.
    assert ma.rawBalance(trader, 0, weth.token) == raw_weth - seize
    assert debt_of(ma, usdc, trader) == debt_before - repay
    # Books: the vault took repay + fee in cash, borrows fell by repay, insurance rose by fee, the
    # lenders' assets are unchanged; the MarginAccount sent out exactly `seize` WETH.
    after = books(system, [usdc, weth])
    u0, u1, w0, w1 = before["USDC"], after["USDC"], before["WETH"], after["WETH"]
    assert u1.cash == u0.cash + repay + fee
    assert u1.vault_tokens == u0.vault_tokens + repay + fee
    assert u1.total_borrows == u0.total_borrows - repay
    assert u1.insurance == u0.insurance + fee
    assert u1.total_assets == u0.total_assets
    assert u1.ma_tokens == u0.ma_tokens
    assert w1.ma_tokens == w0.ma_tokens - seize
    assert w1.total_collateral == w0.total_collateral - seize
    assert (w1.cash, w1.total_borrows, w1.insurance) == (w0.cash, w0.total_borrows, w0.insurance)


# ====================================================================== 2. reentrancy
REENTRY = {
    # mode: which contract's guard stops the re-entry. The MarginAccount's, held by
    # settleLiquidation while it runs the callback, stops them all: a re-entered liquidate or batch
    # reaches it through the (stateless, unguarded) Liquidator.
    "reenter_liquidate": (Mode.REENTER_LIQUIDATE, "margin_account"),
    "reenter_batch": (Mode.REENTER_BATCH, "margin_account"),
    "reenter_withdraw": (Mode.REENTER_WITHDRAW, "margin_account"),
    "reenter_deposit": (Mode.REENTER_DEPOSIT, "margin_account"),
}


@pytest.mark.parametrize("case", list(REENTRY.values()), ids=list(REENTRY))
def test_flash_callback__reenters_protocol__whole_liquidation_reverts_reentrant_call(
    case, system, act, ma, liquidator, usdc, weth, trader, keeper, deployer, dex, flash
):
    mode, guard = case
    open_weth_long(act, usdc, weth, trader)
    # The keeper contract could pay: it holds USDC and approved the MarginAccount, so nothing but
    # the guard stops the liquidation.
    usdc.token.mint(flash, amount(usdc, "100000"), sender=deployer)
    flash.approve(usdc.token, ma, MAX_UINT, sender=deployer)
    flash.approve(weth.token, ma, MAX_UINT, sender=deployer)
    assert call_revert(liquidator.quote, trader, 0, usdc.token, weth.token, MAX_UINT) is None
    guard_contract = getattr(system, guard)
    before = chain_state(system, trader, [keeper, flash, dex])

    with reverts(guard_contract.ReentrancyGuardReentrantCall):
        flash.flashLiquidate(trader, 0, usdc.token, weth.token, MAX_UINT, 0, mode, sender=keeper)

    args = (trader, 0, usdc.token, weth.token, MAX_UINT, 0, mode)
    origin, data = reverting_contract(flash.flashLiquidate, *args, sender=keeper)
    assert origin == norm(guard_contract)
    assert data == selector(guard_contract.ReentrancyGuardReentrantCall)
    assert chain_state(system, trader, [keeper, flash, dex]) == before


@pytest.mark.parametrize("approved", [False, True], ids=["no_approval", "approved_no_inventory"])
def test_flash_callback__does_not_pay__liquidation_reverts_with_token_error(
    approved, system, act, ma, liquidator, usdc, weth, trader, keeper, deployer, dex, flash
):
    open_weth_long(act, usdc, weth, trader)
    repay, _, fee, tip, _ = quote(liquidator, trader, 0, usdc, weth)
    owed = repay + fee - tip
    if approved:
        flash.approve(usdc.token, ma, MAX_UINT, sender=deployer)
    before = chain_state(system, trader, [keeper, flash, dex])

    if approved:
        error = reverts(usdc.token.ERC20InsufficientBalance, sender=flash, balance=0, needed=owed)
    else:
        error = reverts(usdc.token.ERC20InsufficientAllowance, spender=ma, allowance=0, needed=owed)
    with error:
        flash.flashLiquidate(
            trader, 0, usdc.token, weth.token, MAX_UINT, 0, Mode.NOOP, sender=keeper
        )

    assert chain_state(system, trader, [keeper, flash, dex]) == before
    assert weth.token.balanceOf(flash) == 0  # the collateral sent first went back with the revert


def test_flash_liquidation__data_to_an_eoa__reverts_callback_to_non_contract(
    system, act, ma, liquidator, usdc, weth, trader, keeper
):
    open_weth_long(act, usdc, weth, trader)
    act.fund(usdc, keeper, "100000")
    before = chain_state(system, trader, [keeper])

    with reverts(ma.CallbackToNonContract, liquidator=keeper):
        liquidator.liquidate(trader, 0, usdc.token, weth.token, MAX_UINT, 0, b"\x01", sender=keeper)

    assert chain_state(system, trader, [keeper]) == before
    # Without data the same keeper liquidates normally.
    liquidator.liquidate(trader, 0, usdc.token, weth.token, MAX_UINT, 0, b"", sender=keeper)


# ====================================================================== 3. batch
@dataclass(frozen=True)
class BatchBook:
    targets: list[tuple[str, int]]  # in batch order, one account twice
    expected_skips: list[tuple[str, int, Status]]
    liquidated: list[tuple[str, int]]  # in order
    insolvent: tuple[str, int]


@pytest.fixture
def batch_book(act, system, ma, liquidator, usdc, wbtc, weth, trader, keeper) -> BatchBook:
    """Six accounts of `trader`, opened at ETH $3,000 / BTC $60,000, then ETH $2,400, BTC $45,000:

    sub 1  10 WETH / 12,000 USDC                 healthy                      -> HEALTHY
    sub 2  10 WETH / 22,800 USDC                 below maintenance, solvent   -> liquidated (partial)
    sub 3   5 WETH / 11,500 USDC, listed twice   below maintenance, solvent   -> liquidated; the
           second time it is priced on what the first left (back above maintenance) -> HEALTHY
    sub 4  10 WETH / 25,000 USDC                 insolvent                    -> liquidated, bad debt
    sub 5  1 WBTC / 42,000 USDC (no WETH)        below maintenance            -> NO_COLLATERAL
    sub 6  0.408333 WETH + 0.000222 WBTC / 1,000 USDC   insolvent; taking all the WETH leaves
           $89 of USDC debt next to the WBTC: allowed, since the account stays below maintenance
           and the next liquidation may repay the dust whole              -> liquidated
    """
    owner = Owner(system, trader, act.deployer)
    specs = {
        1: ([(weth, "10")], "12000"),
        2: ([(weth, "10")], "22800"),
        3: ([(weth, "5")], "11500"),
        4: ([(weth, "10")], "25000"),
        5: ([(wbtc, "1")], "42000"),
        6: ([(weth, "0.408333"), (wbtc, "0.000222")], "1000"),
    }
    for sub, (colls, debt) in specs.items():
        owner.open(sub, [(a, amount(a, v)) for a, v in colls], [(usdc, amount(usdc, debt))])
    act.set_price(weth, "2400")
    act.set_price(wbtc, "45000")
    act.fund(usdc, keeper, "1000000")
    t = trader.address
    return BatchBook(
        targets=[(t, 1), (t, 2), (t, 3), (t, 4), (t, 3), (t, 5), (t, 6)],
        expected_skips=[
            (t, 1, Status.HEALTHY),
            (t, 3, Status.HEALTHY),
            (t, 5, Status.NO_COLLATERAL),
        ],
        liquidated=[(t, 2), (t, 3), (t, 4), (t, 6)],
        insolvent=(t, 4),
    )


def test_liquidate_batch__mixed_accounts__skips_the_unliquidatable_and_settles_the_rest(
    system, act, ma, liquidator, usdc, wbtc, weth, trader, keeper, batch_book
):
    book = batch_book
    # Each liquidated account settles what `quote` prices on the state before the batch (no target
    # is liquidated twice); only the tips depend on what the batch left in the insurance fund.
    quotes = {acct: quote(liquidator, *acct, usdc, weth) for acct in book.liquidated}
    healths = {acct: health_of(ma, *acct) for acct in book.liquidated}
    lens = dict(zip(book.targets, read_lens(liquidator, book.targets), strict=False))
    assert not lens[(trader.address, 1)].liquidatable
    assert lens[(trader.address, 4)].equity < 0
    assert [
        p.status for p in lens[(trader.address, 6)].pairs if p.collateral == norm(weth.token)
    ] == [Status.OK]  # it takes all the WETH, and the account stays liquidatable
    before = books(system, [usdc, weth])
    keeper_usdc, keeper_weth = int(usdc.token.balanceOf(keeper)), int(weth.token.balanceOf(keeper))

    tx = liquidator.liquidateBatch(book.targets, usdc.token, weth.token, 0, sender=keeper)

    skipped = logs(tx, ma.LiquidationSkipped)
    assert skipped == [ev(owner=o, subId=s, status=int(st)) for o, s, st in book.expected_skips]
    events = liquidated(tx, ma)
    assert [(e["owner"], e["subId"]) for e in events] == [(norm(o), s) for o, s in book.liquidated]
    (off,) = written_off(tx, ma)
    fund = before["USDC"].insurance
    for e, acct in zip(events, book.liquidated, strict=True):
        repay, seize, fee, tip, discount = quotes[acct]
        assert (e["repaid"], e["seized"], e["insuranceFee"], e["discount"]) == (
            repay,
            seize,
            fee,
            discount,
        )
        assert e["insuranceTip"] == min(tip, fund)  # the fund the batch has left
        fund += fee - e["insuranceTip"]
        if acct == book.insolvent:
            fund -= off["covered"]
        assert e["health"] == healths[acct]
        assert e["liquidator"] == norm(keeper)
        assert (e["debtAsset"], e["collateralAsset"]) == (norm(usdc.token), norm(weth.token))
    repaid, seized, count = (int(v) for v in tx.return_value)
    assert count == len(book.liquidated) == 4
    assert repaid == sum(e["repaid"] for e in events)
    assert seized == sum(e["seized"] for e in events)
    fees = sum(e["insuranceFee"] for e in events)
    tips = sum(e["insuranceTip"] for e in events)
    assert tips > 0  # the insolvent accounts' keeper floor

    # The insolvent account lost its last collateral: its USDC debt left was written off in this
    # transaction, after what the batch had repaid so far (fees and tips included) was booked: the
    # insurance fund, fees included, first, then the lenders.
    bad = [e["badDebt"] for e in events]
    assert bad[0] == bad[1] == bad[3] == 0 and bad[2] > 0  # sub 6 keeps its WBTC: no write-off
    fund_then = before["USDC"].insurance + sum(
        e["insuranceFee"] - e["insuranceTip"] for e in events[:3]
    )
    assert off == ev(
        owner=book.insolvent[0],
        subId=book.insolvent[1],
        asset=usdc.token,
        amount=bad[2],
        covered=min(bad[2], fund_then),
        socialized=bad[2] - min(bad[2], fund_then),
    )
    assert ma.accountAssets(*book.insolvent) == []
    # The skipped accounts are untouched; the partially liquidated ones are not left with dust.
    for o, s, _ in book.expected_skips:
        if (o, s) not in book.liquidated:
            assert not any(e["subId"] == s for e in events)
    for acct in book.liquidated[:2]:
        left = -int(ma.balanceOf(*acct, usdc.token))
        assert usd_up(left, act.price(usdc), usdc.scale) >= usdc.spec.min_debt_value

    # One transfer each way; the vault booked the batch in two parts (before and after the
    # write-off).
    after = books(system, [usdc, weth])
    u0, u1, w0, w1 = before["USDC"], after["USDC"], before["WETH"], after["WETH"]
    covered = off["covered"]
    assert u1.cash == u0.cash + repaid + fees - tips
    assert u1.total_borrows == u0.total_borrows - repaid - bad[2]
    assert u1.insurance == u0.insurance + fees - tips - covered
    assert u1.total_assets == u0.total_assets - off["socialized"]
    assert w1.ma_tokens == w0.ma_tokens - seized
    assert w1.total_collateral == w0.total_collateral - seized
    assert usdc.token.balanceOf(keeper) == keeper_usdc - repaid - fees + tips
    assert weth.token.balanceOf(keeper) == keeper_weth + seized
    assert len(logs(tx, usdc.vault.LiquidationRepaid)) == 2


def rate_of(repay: int, seize: int) -> int:
    """Collateral units per debt unit, WAD, rounded down (the batch's minSeizedPerRepaid unit)."""
    return seize * WAD // repay


def test_liquidate_batch__min_rate_above_a_targets_rate__that_target_skipped_rest_settle(
    system, ma, liquidator, usdc, weth, trader, keeper, batch_book
):
    """The keeper's slippage bound is per unit repaid, per target: a target that would give less
    collateral per USDC than asked is skipped with SLIPPAGE, the others settle."""
    rates = {
        acct: rate_of(*quote(liquidator, *acct, usdc, weth)[:2]) for acct in batch_book.liquidated
    }
    threshold = min(rates.values()) + 1  # above the lowest rate only
    below = [acct for acct, r in rates.items() if r < threshold]
    assert 1 <= len(below) < len(rates)

    tx = liquidator.liquidateBatch(
        batch_book.targets, usdc.token, weth.token, threshold, sender=keeper
    )

    skipped = {(e["owner"], e["subId"]): e["status"] for e in logs(tx, ma.LiquidationSkipped)}
    assert all(skipped[(norm(o), s)] == Status.SLIPPAGE for o, s in below)
    settled = [(e["owner"], e["subId"]) for e in liquidated(tx, ma)]
    assert settled == [(norm(o), s) for o, s in batch_book.liquidated if (o, s) not in below]
    for e in liquidated(tx, ma):
        assert rate_of(e["repaid"], e["seized"]) >= threshold


def test_liquidate_batch__rival_liquidates_one_target_first__the_others_still_settle(
    system, act, ma, liquidator, usdc, weth, trader, keeper, stranger
):
    """The reviewer's case: ten identical accounts, a rival liquidates one of them first. The
    keeper's batch, bounded by the rate the lens showed, skips that one (HEALTHY now) and settles
    the nine others (a single seized total would have reverted all ten)."""
    owner = Owner(system, trader, act.deployer)
    targets = [
        owner.open(sub, [(weth, amount(weth, "1"))], [(usdc, amount(usdc, "2400"))])
        for sub in range(1, 11)
    ]
    act.set_price(weth, "2600")
    lens = read_lens(liquidator, targets)
    min_rate = min(rate_of(p.max_repay, p.seize) for a in lens for p in a.ok_pairs())
    act.fund(usdc, stranger, "10000")
    act.fund(usdc, keeper, "100000")
    rival = targets[3]
    liquidator.liquidate(*rival, usdc.token, weth.token, MAX_UINT, 0, b"", sender=stranger)
    assert not ma.isLiquidatable(*rival)

    tx = liquidator.liquidateBatch(targets, usdc.token, weth.token, min_rate, sender=keeper)

    assert logs(tx, ma.LiquidationSkipped) == [
        ev(owner=rival[0], subId=rival[1], status=int(Status.HEALTHY))
    ]
    assert int(tx.return_value[2]) == 9
    assert all(not ma.isLiquidatable(*t) for t in targets)


def test_liquidate_batch__min_rate_overflowing__skips_instead_of_reverting(
    system, ma, liquidator, usdc, weth, trader, keeper, batch_book
):
    """A bound no liquidation can meet (even 2**256 - 1) skips every target; nothing moves."""
    before = chain_state(system, trader, [keeper])
    tx = liquidator.liquidateBatch(
        batch_book.targets, usdc.token, weth.token, MAX_UINT, sender=keeper
    )
    assert int(tx.return_value[2]) == 0
    assert {e["status"] for e in logs(tx, ma.LiquidationSkipped)} >= {int(Status.SLIPPAGE)}
    assert chain_state(system, trader, [keeper]) == before


# ====================================================================== 4. lens == liquidate
CRASHES = {
    # asset -> factor applied to its price
    "dip": {"WETH": "0.9", "WBTC": "0.92", "ALT": "0.88"},
    "crash": {"WETH": "0.75", "WBTC": "0.8", "ALT": "0.7"},
    "collapse": {"WETH": "0.6", "WBTC": "0.65", "ALT": "0.55"},
    "squeeze": {"WETH": "1.2", "WBTC": "1.15", "ALT": "1.3", "USDC": "1.01"},
}
# Health (equity / MMR) an account is designed to have after "its" crash: the lowest a 10% dip can
# bring an account opened at the initial margin to is about 0.82.
DESIGN_HEALTH = {
    "dip": (0.85, 1.0),
    "crash": (-0.5, 1.0),
    "collapse": (-1.5, 1.0),
    "squeeze": (-0.3, 1.0),
}
ACCOUNTS = 40
SEED = 20_240_611


@dataclass
class RandomBook:
    assets: dict[str, DeployedAsset]  # by symbol: USDC, WBTC, WETH and ALT
    accounts: list[tuple[str, int]]


def design_account(
    rng: random.Random, assets: dict[str, DeployedAsset], prices: dict[str, float], crash: str
) -> tuple[dict[str, float], dict[str, float]]:
    """A random account (USD value per asset: 1-3 collaterals of $800-40,000, 1-2 debts) whose
    health after `crash` is a random value of DESIGN_HEALTH[crash] and that can be opened now (at
    most 99.5% of the debt the initial margin allows). Floats: this only picks amounts."""
    move = {s: float(CRASHES[crash].get(s, "1")) for s in assets}
    imf = {s: a.spec.imf / WAD for s, a in assets.items()}
    mmf = {s: a.spec.mmf / WAD for s, a in assets.items()}
    lo, hi = DESIGN_HEALTH[crash]
    for _ in range(10_000):
        n_coll = rng.choice([1, 2, 3])
        n_debt = rng.choice([1, 2]) if n_coll < 3 else 1
        colls = rng.sample(list(assets), n_coll)
        debts = rng.sample([s for s in assets if s not in colls], n_debt)
        coll = {s: float(rng.randint(800, 40_000)) for s in colls}
        weight = {s: rng.uniform(0.2, 1) for s in debts}
        target = rng.uniform(lo, hi)
        # Debt = scale * weight; health after the crash = target solves for scale.
        c = sum(v * move[s] for s, v in coll.items())
        cm = sum(v * move[s] * mmf[s] for s, v in coll.items())
        d = sum(v * move[s] for s, v in weight.items())
        dm = sum(v * move[s] * mmf[s] for s, v in weight.items())
        scale = (c - target * cm) / (d + target * dm)
        allowed = sum(v * (1 - imf[s]) for s, v in coll.items()) / sum(
            v * (1 + imf[s]) for s, v in weight.items()
        )
        if 0 < scale < 0.995 * allowed and min(weight.values()) * scale > 300:
            return coll, {s: w * scale for s, w in weight.items()}
    raise AssertionError(f"no account fits {crash}")


class TestLensAgreesWithLiquidate:
    """Random accounts (seeded) over four assets of 6, 8, 10 and 18 decimals, 1-3 collaterals and
    1-2 debts each, built so that each crash below leaves about ten of them between health 1 and
    deep insolvency (and the other crashes mix them further); then a month of interest. After a
    crash the keeper walks every account: it reads the lens, checks it against `accountHealth`,
    `isLiquidatable` and `quote`, then liquidates a random OK pair with maxRepay = 2**256 - 1 and
    compares the Liquidated event with the lens to the wei; twice per account at most.

    Interest accrues per second here (the vaults' rate models are live) and views run at the latest
    block. `pin_next_block` gives the liquidation the timestamp the lens was read at, so both see
    the same borrow indices; without it the debt grows between the read and the transaction and
    repay/seize differ in the last digits."""

    @pytest.fixture(scope="class")
    def random_book(self, act, system, ma, deployer, lender, accounts, keeper, usdc, wbtc, weth):
        alt = list_extra_asset(
            system,
            deployer,
            symbol="ALT",
            decimals=10,
            price="25",
            imf="0.2",
            mmf="0.1",
            min_discount="0.02",
            max_discount="0.09",
        )
        assets = {"USDC": usdc, "WBTC": wbtc, "WETH": weth, "ALT": alt}
        act.lend(alt, lender, "10000000")
        for a in (usdc, wbtc, weth):  # the module froze the rates: interest back on
            a.vault.setRateModel(a.spec.rate_model.as_tuple(), sender=deployer)
        for a in assets.values():
            act.fund(a, keeper, "10000000")

        rng = random.Random(SEED)
        owners = [Owner(system, accounts[i], deployer) for i in (7, 8, 9)]
        prices = {s: act.price(a) / WAD for s, a in assets.items()}
        opened = []
        for n in range(ACCOUNTS):
            coll, debt = design_account(rng, assets, prices, list(CRASHES)[n % len(CRASHES)])
            units = {s: (assets[s], int(v / prices[s] * assets[s].scale)) for s, v in coll.items()}
            owed = {s: (assets[s], int(v / prices[s] * assets[s].scale)) for s, v in debt.items()}
            opened.append(owners[n % 3].open(100 + n, units.values(), owed.values()))
        act.warp(30 * 24 * 3600)
        act.refresh_feeds()
        _, answer, *_ = alt.feed.latestRoundData()
        alt.feed.setAnswer(answer, sender=deployer)
        return RandomBook(assets=assets, accounts=opened)

    @pytest.mark.parametrize("crash", list(CRASHES.values()), ids=list(CRASHES))
    def test_lens__random_accounts_after_crash__liquidate_settles_the_lens_quote_to_the_wei(
        self, crash, random_book, act, ma, liquidator, keeper
    ):
        for symbol, factor in crash.items():
            act.move_price(random_book.assets[symbol], factor)
        by_address = {norm(a.token): a for a in random_book.assets.values()}
        target = int(liquidator.targetHealth())
        rng = random.Random(SEED + len(crash))
        seen: dict[str, int] = {}

        for owner, sub in random_book.accounts:
            for _ in range(2):
                (lens,) = read_lens(liquidator, [(owner, sub)])
                equity, _, mmr, health = view(ma.accountHealth, owner, sub)
                assert (lens.equity, lens.mmr, lens.health) == (equity, mmr, health)
                assert lens.liquidatable == view(ma.isLiquidatable, owner, sub) == (equity < mmr)
                raw = {
                    a: view(ma.rawBalance, owner, sub, a)
                    for a in view(ma.accountAssets, owner, sub)
                }
                debts = [a for a, r in raw.items() if r < 0]
                colls = [a for a, r in raw.items() if r > 0]
                assert {(p.debt, p.collateral) for p in lens.pairs} == {
                    (d, c) for d in debts for c in colls
                }
                if not lens.liquidatable:
                    assert all(p.status == Status.HEALTHY for p in lens.pairs)
                    seen["healthy"] = seen.get("healthy", 0) + 1
                    break
                for p in lens.pairs:  # quote agrees with every pair, OK or not
                    if p.status == Status.OK:
                        q = view(liquidator.quote, owner, sub, p.debt, p.collateral, MAX_UINT)
                        assert q == (p.max_repay, p.seize, p.fee, p.tip, p.discount)
                        continue
                    assert p.status == Status.DUST
                    seen["dust_pair"] = seen.get("dust_pair", 0) + 1
                    name, args = call_revert(
                        liquidator.quote, owner, sub, p.debt, p.collateral, MAX_UINT
                    )
                    assert name == "DustRemaining"
                    assert args["minDebtValue"] == by_address[p.debt].spec.min_debt_value
                    assert 0 < args["debtLeftValue"] < args["minDebtValue"]
                if not lens.ok_pairs():
                    break
                pair = rng.choice(lens.ok_pairs())
                debt_before = -view(ma.balanceOf, owner, sub, pair.debt)
                coll_before = raw[pair.collateral]

                lens_time = chain.blocks.head.timestamp
                pin_next_block()  # the lens's timestamp (see the class docstring)
                tx = liquidator.liquidate(
                    owner, sub, pair.debt, pair.collateral, MAX_UINT, pair.seize, b"", sender=keeper
                )

                assert tx.timestamp == lens_time
                (event,) = liquidated(tx, ma)
                assert (
                    event["repaid"],
                    event["seized"],
                    event["insuranceFee"],
                    event["insuranceTip"],
                    event["discount"],
                    event["health"],
                    event["debtAsset"],
                    event["collateralAsset"],
                ) == (
                    pair.max_repay,
                    pair.seize,
                    pair.fee,
                    pair.tip,
                    pair.discount,
                    lens.health,
                    pair.debt,
                    pair.collateral,
                )
                assert tuple(int(v) for v in tx.return_value) == (pair.max_repay, pair.seize)

                # After: the shortfall MMR - equity fell, and health did not (the discount never
                # exceeds the health-preserving one; whole token units may cost a few wei of
                # health); no dust unless the last collateral went (then nothing is left at all)
                # or the account is still liquidatable.
                after_equity, _, after_mmr, after_health = view(ma.accountHealth, owner, sub)
                after_raw = {
                    a: view(ma.rawBalance, owner, sub, a)
                    for a in view(ma.accountAssets, owner, sub)
                }
                assert after_mmr - after_equity < lens.mmr - lens.equity
                if after_mmr > 0:
                    units = 2 * mul_div_up(
                        1, act.price(by_address[pair.debt]), by_address[pair.debt].scale
                    ) + mul_div_up(
                        1, act.price(by_address[pair.collateral]), by_address[pair.collateral].scale
                    )
                    assert after_health >= lens.health - mul_div_up(units, WAD, after_mmr) - 1
                if not any(r > 0 for r in after_raw.values()):
                    assert after_raw == {}, "debt left on an account without collateral"
                    kind = "last_collateral"
                else:
                    assert event["badDebt"] == 0
                    left = -view(ma.balanceOf, owner, sub, pair.debt)
                    debt_asset = by_address[pair.debt]
                    floor = debt_asset.spec.min_debt_value
                    value = usd_up(left, act.price(debt_asset), debt_asset.scale)
                    unit = usd_up(1, act.price(debt_asset), debt_asset.scale)
                    slack = (-(-int(debt_asset.vault.borrowIndex()) // WAD) + 1) * unit
                    if 0 < value < floor:
                        # Only next to a collateral taken whole, on an account the next
                        # liquidation can still reach, or where the debt was already within a
                        # scaled unit of the floor (leaving the floor would have repaid nothing).
                        assert pair.seize == coll_before, f"dust left: {value}"
                        before_value = usd_up(debt_before, act.price(debt_asset), debt_asset.scale)
                        assert after_equity < after_mmr or before_value < floor + slack, (
                            f"dust on a healthy account: {value}"
                        )
                        kind = "dust_next_to_other_collateral"
                    elif pair.max_repay == debt_before:
                        kind = "whole_debt"
                    elif pair.seize == coll_before:
                        kind = "all_of_one_collateral"
                    elif (
                        floor <= value <= floor + slack and after_equity * WAD < target * after_mmr
                    ):
                        # Taking all of the collateral would have left a healthy account with dust:
                        # the liquidation repaid less and left exactly the floor.
                        kind = "left_the_floor"
                    else:
                        kind = "to_target"
                        self.check_target_reached(
                            act,
                            debt_asset,
                            by_address[pair.collateral],
                            target,
                            after_equity,
                            after_mmr,
                        )
                seen[kind] = seen.get(kind, 0) + 1
        print(f"\n{seen}")
        assert sum(v for k, v in seen.items() if k not in ("healthy", "dust_pair")) >= 5

    @staticmethod
    def check_target_reached(act, debt_asset, coll_asset, target, equity, mmr) -> None:
        """A liquidation capped by the target leaves equity >= targetHealth * MMR (the cap is rounded
        up and covers the settlement's rounding: a partial repayment burns scaled debt rounded down
        and the rest reads back rounded up, up to ceil(index) + 1 base units more than debt -
        repay), and repays no more than rounding: equity overshoots targetHealth * MMR by at most
        ceil(index) + 3 base units of the debt asset and two of the collateral (seize rounds down)."""
        assert equity * WAD >= target * mmr
        debt_unit = mul_div_up(1, act.price(debt_asset), debt_asset.scale)
        coll_unit = mul_div_up(1, act.price(coll_asset), coll_asset.scale)
        index_units = -(-int(debt_asset.vault.borrowIndex()) // WAD)
        slack = (index_units + 3) * debt_unit + 2 * coll_unit
        assert equity - mul_div_up(target, mmr, WAD) <= slack


# ====================================================================== 5. bad debt
@pytest.mark.parametrize("insurance", ["covers_all", "then_lenders"])
def test_liquidation_taking_last_collateral__writes_off_every_debt_in_same_tx_and_it_stops_accruing(
    insurance, system, act, ma, liquidator, usdc, wbtc, weth, trader, keeper, deployer, accounts
):
    """10 WETH against 20,000 USDC and 0.05 WBTC, opened at ETH $3,000; ETH falls to $1,800: equity
    18,000 - 23,000 < 0. Liquidating USDC against WETH takes all 10 WETH for 18,000 USDC (no
    discount from an insolvent account; the keeper is tipped from the USDC insurance fund); the
    USDC left and the whole WBTC debt are written off in the same transaction, after the repayment
    and tip are booked: each vault's insurance fund first, the rest socialized among its lenders.
    Then rates come back on and a year passes: the written-off debt does not accrue (the vaults'
    books follow the other borrowers only)."""
    seeder = accounts[6]  # the only other borrower: sub 0 owes WBTC and WETH, sub 1 owes USDC
    act.deposit(weth, trader, "10")
    act.borrow(usdc, trader, "20000")
    act.borrow(wbtc, trader, "0.05")
    if insurance == "covers_all":
        for a, units in ((usdc, "100000"), (wbtc, "1")):
            act.fund(a, deployer, units, spender=a.vault)
            a.vault.fundInsurance(amount(a, units), sender=deployer)
    act.set_price(weth, "1800")
    equity, _, _, health = ma.accountHealth(trader, 0)
    assert equity < 0 and health == 0
    act.fund(usdc, keeper, "100000")
    repay, seize, fee, tip, discount = quote(liquidator, trader, 0, usdc, weth)
    weth_held = int(ma.balanceOf(trader, 0, weth.token))
    owed = {a.symbol: debt_of(ma, a, trader, must_owe=True) for a in (usdc, wbtc)}
    assert seize == weth_held and repay < owed["USDC"]  # all the collateral, part of the debt
    assert (discount, fee) == (0, 0) and tip > 0  # health 0: no discount, the keeper floor's tip
    assert 18_000 * 10**6 <= repay <= 18_000 * 10**6 + 2  # its full value, in whole scaled units
    before = books(system, [usdc, wbtc, weth])

    tx = liquidator.liquidate(trader, 0, usdc.token, weth.token, MAX_UINT, 0, b"", sender=keeper)

    # The USDC written off is exactly what the account still owed after the repayment.
    left = owed["USDC"] - repay
    bad = {"USDC": left, "WBTC": owed["WBTC"]}
    fees = {"USDC": fee - tip, "WBTC": 0}  # into the USDC fund net: the tip came out of it
    covered = {s: min(bad[s], before[s].insurance + fees[s]) for s in bad}
    if insurance == "covers_all":
        assert covered == bad
    else:
        assert all(covered[s] < bad[s] for s in bad)
    assert liquidated(tx, ma) == [
        ev(
            owner=trader,
            subId=0,
            liquidator=keeper,
            debtAsset=usdc.token,
            repaid=repay,
            collateralAsset=weth.token,
            seized=seize,
            insuranceFee=fee,
            insuranceTip=tip,
            discount=discount,
            health=0,
            badDebt=bad["USDC"],
        )
    ]
    assert written_off(tx, ma) == [
        ev(
            owner=trader,
            subId=0,
            asset=a.token,
            amount=bad[a.symbol],
            covered=covered[a.symbol],
            socialized=bad[a.symbol] - covered[a.symbol],
        )
        for a in sorted((usdc, wbtc), key=lambda a: int(ma.assetConfig(a.token).id))
    ]
    assert ma.accountAssets(trader, 0) == []
    assert all(ma.rawBalance(trader, 0, a.token) == 0 for a in (usdc, wbtc, weth))
    after = books(system, [usdc, wbtc, weth])
    paid = {"USDC": repay, "WBTC": 0}
    for s in bad:
        b0, b1 = before[s], after[s]
        assert b1.total_borrows == b0.total_borrows - paid[s] - bad[s]
        assert b1.insurance == b0.insurance - covered[s] + fees[s]
        assert b1.cash == b0.cash + paid[s] + fees[s]
        # The lenders lose exactly the part the insurance fund did not cover.
        assert b1.total_assets == b0.total_assets - (bad[s] - covered[s])

    # A year with live rates: the dead debt is gone from the books, not accruing somewhere. The
    # seeder is the only borrower left in both vaults; `gap` = its debt - the vault's totalBorrows.
    def gap(a: DeployedAsset) -> int:
        return account_debts(ma, a, [(seeder, 0), (seeder, 1)]) - int(a.vault.totalBorrows())

    gaps = {a.symbol: gap(a) for a in (usdc, wbtc)}
    for a in (usdc, wbtc):
        a.vault.setRateModel(a.spec.rate_model.as_tuple(), sender=deployer)
    act.warp(YEAR)
    act.refresh_feeds()
    assert all(ma.balanceOf(trader, 0, a.token) == 0 for a in (usdc, wbtc, weth))
    assert not ma.isLiquidatable(trader, 0)
    for a in (usdc, wbtc):
        a.vault.accrueInterest(sender=keeper)  # one accrual for the whole year
        assert int(a.vault.totalBorrows()) > after[a.symbol].total_borrows  # the seeder's did
        # Per-account debts round up and the books down, so 0 <= gap; one accrual grows the index
        # rounded up and totalBorrows rounded down, which widens the gap by under 1 wei plus the
        # seeder's ceil (< 1 wei) plus gap * rate (< 1 wei here). A dead debt still accruing in
        # the books would instead put totalBorrows above the seeder's debt by its year of interest.
        assert 0 <= gaps[a.symbol] <= gap(a) <= gaps[a.symbol] + 2


# ====================================================================== decisions and corners
def test_self_liquidation__owner_liquidates_own_account__allowed_and_priced_as_anyone(
    system, act, ma, liquidator, usdc, weth, trader
):
    """Blocking self-liquidation would be pointless (a second address does the same); the owner
    pays repay + fee like any keeper and keeps the discount."""
    open_weth_long(act, usdc, weth, trader)
    repay, seize, fee, tip, _ = quote(liquidator, trader, 0, usdc, weth)
    act.fund(usdc, trader, repay + fee - tip)  # more USDC, and the MarginAccount approved
    usdc_before = int(usdc.token.balanceOf(trader))
    weth_before = int(weth.token.balanceOf(trader))

    tx = liquidator.liquidate(
        trader, 0, usdc.token, weth.token, MAX_UINT, seize, b"", sender=trader
    )

    (event,) = liquidated(tx, ma)
    assert event["liquidator"] == event["owner"] == norm(trader)
    assert (event["repaid"], event["seized"], event["insuranceFee"]) == (repay, seize, fee)
    assert usdc.token.balanceOf(trader) == usdc_before - repay - fee + tip
    assert weth.token.balanceOf(trader) == weth_before + seize


def test_stale_collateral_price__liquidate_batch_and_lens_revert_with_the_oracle_error(
    system, act, ma, liquidator, oracle, usdc, weth, trader, keeper
):
    open_weth_long(act, usdc, weth, trader)
    act.fund(usdc, keeper, "100000")
    act.warp(weth.spec.max_age + 1)
    updated = int(weth.feed.latestRoundData()[3])
    stale = {"asset": norm(weth.token), "updatedAt": updated, "maxAge": weth.spec.max_age}
    before = chain_state(system, trader, [keeper])

    with reverts(oracle.StaleAnswer, **stale):
        liquidator.liquidate(trader, 0, usdc.token, weth.token, MAX_UINT, 0, b"", sender=keeper)
    with reverts(oracle.StaleAnswer, **stale):
        liquidator.liquidateBatch([(trader, 0)], usdc.token, weth.token, 0, sender=keeper)
    assert call_revert(liquidator.lens, [(trader.address, 0)]) == ("StaleAnswer", stale)
    assert chain_state(system, trader, [keeper]) == before


def test_dust_corner__two_small_collaterals__never_leaves_a_healthy_account_with_dust(
    system, act, ma, liquidator, usdc, wbtc, weth, trader, keeper
):
    """The review's corner: 132 USDC owed against $70 of WETH and $70 of WBTC, ETH at $2,450 (health
    ~0.8). Neither collateral repays the whole debt. Taking all of the WETH would leave $40 of USDC
    debt on an account that is then healthy (no later liquidation could close it: the old rule's
    $57-68 of stuck dust); instead the liquidation repays less and leaves exactly the $100 floor.
    Then, as BTC and ETH fall, the account is never stuck (some pair is always OK while it is
    liquidatable), and each liquidation leaves no dust, or leaves it on an account that is still
    liquidatable, or shrinks a debt already at the floor; until the account is closed."""
    act.deposit(weth, trader, "0.0286", sub=7)
    act.deposit(wbtc, trader, "0.00117", sub=7)
    act.borrow(usdc, trader, "132", sub=7)
    act.set_price(weth, "2450")
    act.fund(usdc, keeper, "1000")
    assert ma.isLiquidatable(trader, 7)
    (lens,) = read_lens(liquidator, [(trader, 7)])
    assert [p.status for p in lens.pairs] == [Status.OK, Status.OK]

    # A repayment that leaves dust without taking all of the collateral is still refused.
    floor = amount(usdc, "100")
    debt = debt_of(ma, usdc, trader, 7, must_owe=True)
    name, _ = call_revert(liquidator.quote, trader, 7, usdc.token, weth.token, debt - floor + 3)
    assert name == "DustRemaining"

    weth_pair = next(p for p in lens.pairs if p.collateral == norm(weth.token))
    assert weth_pair.seize < int(ma.rawBalance(trader, 7, weth.token))  # not all of it
    liquidator.liquidate(trader, 7, usdc.token, weth.token, MAX_UINT, 0, b"", sender=keeper)
    left = debt_of(ma, usdc, trader, 7, must_owe=True)
    assert floor <= left <= floor + 2  # exactly the floor, not dust
    assert int(ma.rawBalance(trader, 7, weth.token)) > 0

    steps = 0
    for btc, eth in (("55000", "2450"), ("50000", "2300"), ("45000", "2100"), ("30000", "1500")):
        act.set_price(wbtc, btc)
        act.set_price(weth, eth)
        for _ in range(4):
            if not ma.isLiquidatable(trader, 7):
                break
            (lens,) = read_lens(liquidator, [(trader, 7)])
            ok = lens.ok_pairs()
            assert ok, "a liquidatable account with every pair refused"  # never stuck
            pair = max(ok, key=lambda p: p.seize)
            debt_before = debt_of(ma, usdc, trader, 7)
            liquidator.liquidate(
                trader, 7, usdc.token, pair.collateral, MAX_UINT, 0, b"", sender=keeper
            )
            steps += 1
            left = debt_of(ma, usdc, trader, 7)
            if 0 < left < floor and any(
                int(ma.rawBalance(trader, 7, a.token)) > 0 for a in (weth, wbtc)
            ):
                # Dust on a healthy account only where the debt was already at the floor, so
                # that leaving the floor would have repaid nothing (the account is never stuck).
                assert ma.isLiquidatable(trader, 7) or debt_before <= floor + 2, (
                    "dust left on a healthy account"
                )
        if not ma.accountAssets(trader, 7):
            break
    assert steps >= 1
    # Closed: no debt and no dust, whatever is left is collateral.
    assert debt_of(ma, usdc, trader, 7) == 0
