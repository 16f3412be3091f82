"""Unit tests of the Liquidator (health-based Dutch-auction discount, partial liquidation to a target
health, dust rule, bad debt in the same transaction, batch, lens) and of its settlement in the
MarginAccount: exact amounts against an independent integer model of the engine written from the
specification (`engine_quote` below), every field of the Liquidated event, tokens, vault books and
insurance fund, every custom error with exact arguments and state untouched, the admin parameters,
self-liquidation and oracle outages.

A module fixture lets a year of interest lift every borrow index above 1.0 and then freezes the
vaults' rates, so debts, quotes and settlements are exact integers that do not depend on block
timestamps.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import pytest
from ape import chain, project
from eth_abi import encode
from eth_utils import keccak
from hexbytes import HexBytes
from web3.exceptions import ContractCustomError

from solvent import risk
from solvent.deploy import DeployedAsset
from solvent.risk import (
    MAX_UINT256,
    WAD,
    Health,
    Position,
    account_health,
    debt_tokens,
    mul_div_down,
    mul_div_up,
)
from tests.utils.chain import ev, event_names, fast_custom_error_decoding, logs, norm, reverts
from tests.utils.helpers import MAX_UINT, amount, chain_state, debt_of, seed_frozen_market

STATUS = (
    "OK",
    "HEALTHY",
    "NO_DEBT",
    "NO_COLLATERAL",
    "DUST",
    "REPAY_TOO_SMALL",
    "SLIPPAGE",
)  # IMarginAccount.LiquidationStatus, in order


# ====================================================================== engine model
@dataclass(frozen=True)
class Snap:
    """What the engine prices one (debt, collateral) pair from (IMarginAccount.LiquidationSnapshot)."""

    equity: int
    mmr: int
    debt: int  # debt-token units, rounded up
    collateral: int  # collateral-token units
    debt_price: int
    coll_price: int
    debt_scale: int
    coll_scale: int
    debt_mmf: int
    coll_mmf: int
    min_discount: int  # of the collateral asset
    max_discount: int
    min_debt_value: int  # of the debt asset
    collateral_assets: int  # assets the account holds as collateral
    debt_index: int  # borrow index of the debt vault, WAD
    debt_scaled: int = 0  # scaled debt of the account in the debt asset
    insurance_fund: int = 0  # of the debt vault, token units


@dataclass(frozen=True)
class Quote:
    status: str
    repay: int = 0
    seize: int = 0
    fee: int = 0
    discount: int = 0
    health: int = 0
    debt_left_value: int = 0
    tip: int = 0
    repay_scaled: int = 0

    @property
    def returned(self) -> tuple[int, int, int, int, int]:
        """What Liquidator.quote returns."""
        return (self.repay, self.seize, self.fee, self.tip, self.discount)

    @property
    def paid(self) -> int:
        """What the liquidator transfers: repay + fee - tip."""
        return self.repay + self.fee - self.tip


def discount_of(health: int, s: Snap) -> int:
    """The account's discount: min(auction, health-preserving discount) (solvent.risk)."""
    return risk.liquidation_discount(health, s.min_discount, s.max_discount, s.coll_mmf, s.debt_mmf)


def target_cap(s: Snap, d: int, target: int, slack: bool = True) -> int:
    """Debt-token repay that brings equity to target * MMR (Liquidator._targetCap): R solves
    E - R d / (1 - d) = T (MMR - R mmf_debt - R / (1 - d) mmf_coll); every rounding makes R larger,
    and `slack` adds to the shortfall what the ceil(index) + 1 base units the settlement's scaled-debt
    rounding can leave cost (their value times 1 + T mmf_debt)."""
    shortfall = mul_div_up(target, s.mmr, WAD) - s.equity
    gain = WAD + mul_div_down(target, s.debt_mmf, WAD)
    t_coll_mmf = mul_div_up(target, s.coll_mmf, WAD)
    loss = 0 if t_coll_mmf >= WAD else mul_div_up(WAD - t_coll_mmf, WAD, WAD - d)
    if gain <= loss:
        return MAX_UINT256
    if slack:
        units = risk.repay_slack_units(s.debt_index)
        shortfall += mul_div_up(units * s.debt_price, gain, s.debt_scale * WAD)
    return mul_div_up(mul_div_up(shortfall, WAD, gain - loss), s.debt_scale, s.debt_price)


def engine_quote(s: Snap, max_repay: int, share: int, target: int, slack: bool = True) -> Quote:
    """The liquidation the engine should price: solvent.risk.price_liquidation (the one Python
    mirror of Liquidator._price) on this snapshot. slack=False prices with the target cap as it was
    before the settlement-rounding fix (target_cap above), to pick accounts where that fix matters."""
    snap = risk.LiquidationSnapshot(
        equity=s.equity,
        mmr=s.mmr,
        debt=s.debt,
        collateral=s.collateral,
        debt_price=s.debt_price,
        collateral_price=s.coll_price,
        debt_scale=s.debt_scale,
        collateral_scale=s.coll_scale,
        debt_mmf=s.debt_mmf,
        collateral_mmf=s.coll_mmf,
        min_discount=s.min_discount,
        max_discount=s.max_discount,
        min_debt_value=s.min_debt_value,
        collateral_assets=s.collateral_assets,
        debt_index=s.debt_index,
        debt_scaled=s.debt_scaled,
        insurance_fund=s.insurance_fund,
    )
    params = risk.EngineParams(insurance_share=share, target_health=target)
    if slack:
        q = risk.price_liquidation(snap, max_repay, params)
    else:
        health = risk.health_of(s.equity, s.mmr) if s.equity < s.mmr else 0
        cap = target_cap(s, discount_of(health, s), target, False)
        q = risk.price_liquidation(snap, min(max_repay, cap), params)
    return Quote(
        STATUS[int(q.status)],
        q.repay,
        q.seize,
        q.insurance_fee,
        q.discount,
        q.health,
        q.debt_left_value,
        q.insurance_tip,
        q.repay_scaled,
    )


# ====================================================================== chain readers
Positions = dict[str, Position]


def positions_of(act: Any, owner: Any, sub: int = 0, *, also: tuple[str, ...] = ()) -> Positions:
    """The account's assets as risk-mirror Positions, by symbol, plus the assets named in `also`
    (raw 0 if not held). Only these prices are read: like the contracts, an asset the account does
    not hold must not need a price."""
    ma = act.system.margin_account
    held = {a.lower() for a in map(str, ma.accountAssets(owner, sub))}
    return {
        symbol: act.position(owner, sub, a)
        for symbol, a in act.system.assets.items()
        if symbol in also or a.token.address.lower() in held
    }


def liquidation_params(act: Any) -> dict[str, tuple[int, int, int]]:
    """(minDiscount, maxDiscount, minDebtValue) of every listed asset, as configured on-chain."""
    ma = act.system.margin_account
    params = {}
    for symbol, a in act.system.assets.items():
        cfg = ma.assetConfig(a.token)
        params[symbol] = (int(cfg.minDiscount), int(cfg.maxDiscount), int(cfg.minDebtValue))
    return params


def snap_from(
    positions: Positions, params: dict[str, tuple[int, int, int]], debt: str, coll: str
) -> Snap:
    """The pair snapshot of an account given its positions (built here, not read from
    MarginAccount.liquidationSnapshot)."""
    held = [p for p in positions.values() if p.raw != 0]
    health = account_health(held)
    d, c = positions[debt], positions[coll]
    min_discount, max_discount, _ = params[coll]
    return Snap(
        equity=health.equity,
        mmr=health.mmr,
        debt=d.tokens if d.raw < 0 else 0,
        collateral=max(c.raw, 0),
        debt_price=d.price,
        coll_price=c.price,
        debt_scale=d.scale,
        coll_scale=c.scale,
        debt_mmf=d.mmf,
        coll_mmf=c.mmf,
        min_discount=min_discount,
        max_discount=max_discount,
        min_debt_value=params[debt][2],
        collateral_assets=sum(p.raw > 0 for p in held),
        debt_index=d.index,
        debt_scaled=max(-d.raw, 0),
        insurance_fund=d.insurance if d.raw < 0 else 0,
    )


def snap_of(act: Any, owner: Any, debt: DeployedAsset, coll: DeployedAsset, sub: int = 0) -> Snap:
    """The pair snapshot of the account as it stands on-chain."""
    positions = positions_of(act, owner, sub, also=(debt.symbol, coll.symbol))
    return snap_from(positions, liquidation_params(act), debt.symbol, coll.symbol)


def settled(positions: Positions, debt: str, coll: str, q: Quote) -> Positions:
    """The positions after settling `q` (before any write-off): the quote's scaled units are
    burnt (all of them on a full repayment)."""
    d, c = positions[debt], positions[coll]
    raw_debt = min(d.raw + q.repay_scaled, 0)
    return {**positions, debt: replace(d, raw=raw_debt), coll: replace(c, raw=c.raw - q.seize)}


def health_from(positions: Positions) -> Health:
    return account_health(p for p in positions.values() if p.raw != 0)


def expect(
    act: Any, owner: Any, debt: DeployedAsset, coll: DeployedAsset, max_repay: int, sub: int = 0
) -> Quote:
    """engine_quote on the account as it stands, with the Liquidator's live parameters."""
    liquidator = act.system.liquidator
    return engine_quote(
        snap_of(act, owner, debt, coll, sub),
        max_repay,
        int(liquidator.insuranceShare()),
        int(liquidator.targetHealth()),
    )


def liquidated(owner, sub, by, debt, coll, q: Quote, bad_debt: int = 0) -> dict[str, Any]:
    """Every field of the Liquidated event the quote `q` must produce."""
    return ev(
        owner=owner,
        subId=sub,
        liquidator=by,
        debtAsset=debt.token,
        repaid=q.repay,
        collateralAsset=coll.token,
        seized=q.seize,
        insuranceFee=q.fee,
        insuranceTip=q.tip,
        discount=q.discount,
        health=q.health,
        badDebt=bad_debt,
    )


def unit_value(asset: DeployedAsset, act: Any) -> int:
    """USD WAD value of one base unit of `asset`, rounded up."""
    return mul_div_up(1, act.price(asset), 10**asset.decimals)


def slack_units(asset: DeployedAsset) -> int:
    """How far below `amount` a repayment of at most `amount` may land: whole scaled units burn
    floor(amount / index) and cost the fall in the debt, which is at least amount - ceil(index) - 1."""
    return risk.repay_slack_units(int(asset.vault.borrowIndex()))


def call_revert_data(contract: Any, method: str, *args: Any) -> bytes:
    """Raw revert data of an eth_call of `contract.method(*args)` (through web3: ape renders a
    zero-argument custom error of an eth_call as text, which `reverts` cannot parse)."""
    data = getattr(contract, method).encode_input(*args)
    try:
        chain.provider.web3.eth.call({"to": contract.address, "data": data})
    except ContractCustomError as err:
        return bytes(HexBytes(err.data))
    raise AssertionError(f"{method} did not revert")


def selector(error: Any) -> bytes:
    return keccak(text=error.abi.selector)[:4]


def settle_and_check(
    act: Any,
    owner: Any,
    debt: DeployedAsset,
    coll: DeployedAsset,
    max_repay: int,
    by: Any,
    sub: int = 0,
) -> tuple[Any, Quote, int]:
    """Liquidates through `by` (funded with exactly repay + fee - tip) and checks the whole
    settlement against the model: quote, return value, Liquidated (every field), the vault's
    LiquidationRepaid (repayment, fee and tip in one event), the bad debt written off when the last collateral
    went, tokens, the account's books (the repayment is exactly the fall in the debt),
    totalCollateral and the vault's cash, borrows, insurance fund and lenders' assets.
    Returns (receipt, quote, bad debt written off)."""
    system = act.system
    ma, liquidator = system.margin_account, system.liquidator
    positions = positions_of(act, owner, sub, also=(debt.symbol, coll.symbol))
    s = snap_from(positions, liquidation_params(act), debt.symbol, coll.symbol)
    q = engine_quote(s, max_repay, int(liquidator.insuranceShare()), int(liquidator.targetHealth()))
    assert q.status == "OK", q
    assert tuple(liquidator.quote(owner, sub, debt.token, coll.token, max_repay)) == q.returned
    assert q.discount == discount_of(int(ma.accountHealth(owner, sub)[3]), s)
    paid = q.paid
    act.fund(debt, by, paid)

    raw_debt, held = (int(ma.rawBalance(owner, sub, a.token)) for a in (debt, coll))
    index = int(debt.vault.borrowIndex())
    cash, borrows = int(debt.vault.cash()), int(debt.vault.totalBorrows())
    fund, lenders = int(debt.vault.insuranceFund()), int(debt.vault.totalAssets())
    total_coll = int(ma.totalCollateral(coll.token))
    by_debt, by_coll = int(debt.token.balanceOf(by)), int(coll.token.balanceOf(by))
    ma_coll = int(coll.token.balanceOf(ma))

    tx = system.liquidator.liquidate(
        owner, sub, debt.token, coll.token, max_repay, q.seize, b"", sender=by
    )

    # Debt left: the quote's whole scaled units are burnt, and the repayment is exactly the fall.
    raw_left = min(raw_debt + q.repay_scaled, 0)
    left = debt_tokens(-raw_left, index)
    assert left == s.debt - q.repay
    emptied = q.seize == s.collateral and s.collateral_assets == 1
    bad_debt = left if emptied else 0
    covered = min(bad_debt, fund + q.fee - q.tip)

    assert tx.return_value == (q.repay, q.seize)
    assert logs(tx, ma.Liquidated) == [liquidated(owner, sub, by, debt, coll, q, bad_debt)]
    [booked] = logs(tx, debt.vault.LiquidationRepaid)
    assert (booked["payer"], booked["repaid"], booked["insuranceFee"], booked["insuranceTip"]) == (
        norm(by),
        q.repay,
        q.fee,
        q.tip,
    )
    # The booking comes before any write-off: the books right after the repayment, fee and tip.
    assert booked["totalBorrows"] == borrows - q.repay
    assert booked["insuranceFund"] == fund + q.fee - q.tip
    if bad_debt:
        assert event_names(tx, ma) == ["BadDebtWrittenOff", "Liquidated"]
        assert logs(tx, ma.BadDebtWrittenOff) == [
            ev(
                owner=owner,
                subId=sub,
                asset=debt.token,
                amount=bad_debt,
                covered=covered,
                socialized=bad_debt - covered,
            )
        ]
        assert ma.rawBalance(owner, sub, debt.token) == 0
    else:
        assert event_names(tx, ma) == ["Liquidated"]
        assert ma.rawBalance(owner, sub, debt.token) == raw_left
        assert act.health(owner, sub) == health_from(
            settled(positions, debt.symbol, coll.symbol, q)
        )
    # Liquidator: paid repay + fee - tip, received the seized collateral.
    assert debt.token.balanceOf(by) == by_debt - paid
    assert coll.token.balanceOf(by) == by_coll + q.seize
    # Account and MarginAccount: collateral out.
    assert ma.rawBalance(owner, sub, coll.token) == held - q.seize
    assert ma.totalCollateral(coll.token) == total_coll - q.seize
    assert coll.token.balanceOf(ma) == ma_coll - q.seize
    # Debt vault: repay + fee - tip in cash, borrows down by repay (and the bad debt), fee in and
    # tip out of the insurance fund, which pays the bad debt first (this liquidation's fee
    # included: no insurance money may be left over while lenders take a loss); lenders lose only
    # what it cannot cover.
    assert debt.vault.cash() == cash + paid
    assert debt.vault.totalBorrows() == borrows - q.repay - bad_debt
    assert debt.vault.insuranceFund() == fund + q.fee - q.tip - covered
    assert debt.vault.totalAssets() == lenders - (bad_debt - covered)
    return tx, q, bad_debt


# ====================================================================== fixtures
@pytest.fixture(scope="module", autouse=True)
def _liquidator_market(
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
    def check(owner: Any = None) -> Iterator[None]:
        before = chain_state(system, owner or trader, [keeper, stranger])
        yield
        assert chain_state(system, owner or trader, [keeper, stranger]) == before

    return check


@dataclass(frozen=True)
class Scenario:
    """An account opened within IMR that a price move makes liquidatable but still solvent, and
    whose target cap leaves a debt well above the dust floor (a partial liquidation)."""

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
WETH_USDC = SCENARIOS["weth_coll_usdc_debt"]


def open_position(act, system, owner, sc: Scenario, sub: int = 0):
    coll, debt = system.asset(sc.coll), system.asset(sc.debt)
    act.deposit(coll, owner, sc.coll_amount, sub=sub)
    act.borrow(debt, owner, sc.debt_amount, sub=sub)
    assert act.health(owner, sub).meets_initial
    return coll, debt


def open_liquidatable(act, system, owner, sc: Scenario, sub: int = 0):
    coll, debt = open_position(act, system, owner, sc, sub)
    act.set_price(system.asset(sc.moved), sc.price)
    health = act.health(owner, sub)
    assert health.liquidatable
    assert health.equity > 0
    return coll, debt


@pytest.fixture(params=sorted(SCENARIOS))
def scenario(request) -> Scenario:
    return SCENARIOS[request.param]


def lowest_safe_answer(act: Any, owner: Any, moved: DeployedAsset, sub: int = 0) -> int:
    """Lowest feed answer of `moved` at which the account is not liquidatable (binary search on
    the risk mirror); one feed unit lower it is."""
    positions = act.positions(owner, sub)
    mine = act.position(owner, sub, moved)
    tick = 10 ** (18 - int(moved.feed.decimals()))

    def safe(answer: int) -> bool:
        priced = [replace(p, price=answer * tick) if p == mine else p for p in positions]
        return not account_health(priced).liquidatable

    lo, hi = 0, int(moved.feed.latestRoundData()[1])  # not safe at 0, safe at the current answer
    assert safe(hi) and not safe(lo)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if safe(mid):
            hi = mid
        else:
            lo = mid
    return hi


# ====================================================================== when a liquidation is allowed
def test_liquidate__healthy_account__reverts_account_healthy(
    act, system, liquidator, trader, keeper, unchanged, scenario
):
    coll, debt = open_position(act, system, trader, scenario)
    act.fund(debt, keeper, scenario.debt_amount)
    health = act.mirror_health(trader)
    assert act.health(trader) == health
    with reverts(liquidator.AccountHealthy, equity=health.equity, mmr=health.mmr):
        liquidator.quote(trader, 0, debt.token, coll.token, MAX_UINT)
    with unchanged(), reverts(liquidator.AccountHealthy, equity=health.equity, mmr=health.mmr):
        liquidator.liquidate(trader, 0, debt.token, coll.token, MAX_UINT, 0, b"", sender=keeper)


def test_liquidate__price_at_mmr_boundary__reverts_at_boundary_and_passes_one_tick_below(
    act, ma, liquidator, usdc, weth, trader, keeper, unchanged
):
    act.deposit(weth, trader, "10")
    act.borrow(usdc, trader, "20000")
    lowest_safe = lowest_safe_answer(act, trader, weth)

    weth.feed.setAnswer(lowest_safe, sender=act.deployer)
    health = act.mirror_health(trader)
    assert health.equity >= health.mmr
    with unchanged(), reverts(liquidator.AccountHealthy, equity=health.equity, mmr=health.mmr):
        liquidator.liquidate(trader, 0, usdc.token, weth.token, MAX_UINT, 0, b"", sender=keeper)

    weth.feed.setAnswer(lowest_safe - 1, sender=act.deployer)
    assert ma.isLiquidatable(trader, 0)
    _, q, _ = settle_and_check(act, trader, usdc, weth, MAX_UINT, keeper)
    assert 0 < q.repay < debt_of(ma, usdc, trader, must_owe=True)


# ====================================================================== exact amounts and events
@pytest.mark.parametrize("size", ["small", "max_uint"])
def test_liquidate__liquidatable_account__settles_exactly_the_model_quote(
    act, system, ma, liquidator, trader, keeper, scenario, size
):
    coll, debt = open_liquidatable(act, system, trader, scenario)
    owed = debt_of(ma, debt, trader, must_owe=True)
    max_repay = owed // 25 if size == "small" else MAX_UINT
    before = act.health(trader)

    _, q, bad_debt = settle_and_check(act, trader, debt, coll, max_repay, keeper)

    assert bad_debt == 0
    assert q.health == before.health > 0
    # 4% of the debt is below every scenario's target cap: whole scaled units of it are repaid,
    # which is max_repay less at most ceil(index) + 1 base units; max_uint stops at the cap.
    if size == "small":
        assert max_repay - slack_units(debt) <= q.repay <= max_repay
    assert 0 < q.repay < owed
    # The collateral was bought at the oracle price less the discount (rounded down).
    repaid_value = q.repay * act.price(debt) // 10**debt.decimals
    seized_value = q.seize * act.price(coll) // 10**coll.decimals
    assert seized_value <= repaid_value * WAD // (WAD - q.discount)
    # The shortfall (MMR - equity) shrank.
    after = act.health(trader)
    assert after == act.mirror_health(trader)
    assert after.mmr - after.equity < before.mmr - before.equity


def test_liquidation_snapshot__matches_the_risk_mirror(act, system, ma, trader, scenario):
    coll, debt = open_liquidatable(act, system, trader, scenario)
    third = next(a for a in system.assets.values() if a.symbol not in (coll.symbol, debt.symbol))
    act.deposit(third, trader, "1")
    s = snap_of(act, trader, debt, coll)
    on_chain = ma.liquidationSnapshot(trader, 0, debt.token, coll.token)
    cfg = {a.symbol: ma.assetConfig(a.token) for a in (debt, coll)}
    assert (
        on_chain.equity,
        on_chain.mmr,
        on_chain.debt,
        on_chain.collateral,
        on_chain.debtPrice,
        on_chain.collateralPrice,
        on_chain.debtScale,
        on_chain.collateralScale,
        on_chain.debtMmf,
        on_chain.collateralMmf,
        on_chain.minDiscount,
        on_chain.maxDiscount,
        on_chain.minDebtValue,
        on_chain.debtIndex,
        on_chain.debtId,
        on_chain.collateralId,
        on_chain.collateralAssets,
        on_chain.debtScaled,
        on_chain.insuranceFund,
    ) == (
        s.equity,
        s.mmr,
        s.debt,
        s.collateral,
        s.debt_price,
        s.coll_price,
        s.debt_scale,
        s.coll_scale,
        s.debt_mmf,
        s.coll_mmf,
        s.min_discount,
        s.max_discount,
        s.min_debt_value,
        debt.vault.borrowIndex(),
        cfg[debt.symbol].id,
        cfg[coll.symbol].id,
        2,
        s.debt_scaled,
        s.insurance_fund,
    )
    assert s.debt_scaled == -ma.rawBalance(trader, 0, debt.token) > 0
    assert s.insurance_fund == debt.vault.insuranceFund() > 0


# ====================================================================== discount
def test_discount__auction_then_health_preserving_cap__continuous_to_zero_and_gone_once_healthy(
    act, ma, liquidator, usdc, weth, trader, keeper, unchanged
):
    """Six identical accounts (sub-accounts 0..5: 10 WETH, 24,000 USDC). At each lower WETH price
    one of them is liquidated: the discount in the quote and in the event is min(auction,
    health-preserving discount) of WETH against USDC. Near health 1 the auction (1% at health 1,
    rising 6% per unit of health lost) is the smaller; deeper, the cap h * 8% / (1 + 2% h) takes
    over and falls with health to 0 at equity 0, where the insurance tip alone pays the keeper.
    No jump anywhere: each step's discount is within the slope of its neighbour's."""
    cfg = ma.assetConfig(weth.token)
    lo, hi = int(cfg.minDiscount), int(cfg.maxDiscount)
    assert (lo, hi) == (weth.spec.min_discount, weth.spec.max_discount) == (10**16, 7 * 10**16)
    for sub in range(6):
        act.deposit(weth, trader, "10", sub=sub)
        act.borrow(usdc, trader, "24000", sub=sub)
    max_repay = amount(usdc, "1000")  # below every target cap, leaves far more than dust

    # Just below maintenance (one feed unit under the lowest safe price): about minDiscount.
    just_below = lowest_safe_answer(act, trader, weth) - 1
    steps = [("just_below", just_below)] + [
        (usd, int(usd) * 10**8) for usd in ("2550", "2500", "2450", "2420", "2300")
    ]
    seen = []
    for sub, (label, answer) in enumerate(steps):
        weth.feed.setAnswer(answer, sender=act.deployer)
        equity, _, mmr, health = ma.accountHealth(trader, sub)
        assert equity < mmr
        assert health == risk.health_of(equity, mmr)
        auction = risk.auction_discount(health, lo, hi)
        cap = risk.health_preserving_discount(
            health, int(cfg.mmf), int(ma.assetConfig(usdc.token).mmf)
        )
        expected = min(auction, cap)
        assert liquidator.quote(trader, sub, usdc.token, weth.token, max_repay)[4] == expected
        tx, q, _ = settle_and_check(act, trader, usdc, weth, max_repay, keeper, sub=sub)
        assert max_repay - slack_units(usdc) <= q.repay <= max_repay
        event = logs(tx, ma.Liquidated)[0]
        assert (event["discount"], event["health"]) == (expected, health)
        seen.append((label, health, expected, auction <= cap, q.tip))

    healths = [h for _, h, _, _, _ in seen]
    assert healths == sorted(healths, reverse=True)
    # Near health 1: the auction, minDiscount to within 1e-6 of the 6% range, no tip.
    assert WAD - 10**12 < healths[0] < WAD
    assert lo <= seen[0][2] <= lo + (hi - lo) // 10**6 and seen[0][3] and seen[0][4] == 0
    # The auction rules while it is the smaller; below health ~0.5 the cap does, and the discount
    # falls with health from there.
    by_auction = [d for _, _, d, auction_rules, _ in seen if auction_rules]
    by_cap = [d for _, _, d, auction_rules, _ in seen if not auction_rules]
    assert by_auction == sorted(by_auction) and len(by_auction) >= 3
    assert by_cap == sorted(by_cap, reverse=True) and len(by_cap) >= 2
    # Equity below zero: health 0, no discount from the account; the keeper is paid the tip, and
    # the deepest solvent step's discount is already below minDiscount, so it got a tip too.
    assert ma.accountHealth(trader, 5)[0] < 0
    assert seen[-1][1:3] == (0, 0) and seen[-1][4] > 0
    assert seen[-2][2] < lo and seen[-2][4] > 0

    # The price recovers: every account is healthy again and the discount is gone with it.
    act.set_price(weth, "3000")
    act.fund(usdc, keeper, "1000")
    for sub in range(6):
        equity, _, mmr, _ = ma.accountHealth(trader, sub)
        with reverts(liquidator.AccountHealthy, equity=equity, mmr=mmr):
            liquidator.quote(trader, sub, usdc.token, weth.token, max_repay)
    equity, _, mmr, _ = ma.accountHealth(trader, 5)
    with unchanged(), reverts(liquidator.AccountHealthy, equity=equity, mmr=mmr):
        liquidator.liquidate(trader, 5, usdc.token, weth.token, max_repay, 0, b"", sender=keeper)


# ====================================================================== target health
def health_tolerance(act: Any, debt: DeployedAsset, coll: DeployedAsset, mmr_after: int) -> int:
    """How far (WAD) rounding may put health after a target-capped liquidation from the target:
    four base units of the debt asset, two of the collateral asset and four wei of value, relative
    to MMR. Below the target: the scaled debt burnt rounds down (up to 2 debt units more left than
    debt - repay), each position value rounds by 1 wei and health itself rounds down. Above it:
    the cap rounds up to a whole debt unit and the seized collateral down to a whole unit (up to
    one collateral unit more kept)."""
    value = 4 * unit_value(debt, act) + 2 * unit_value(coll, act) + 4
    return mul_div_up(value, WAD, mmr_after) + 1


def test_liquidate__max_repay__stops_at_target_health_and_account_is_then_healthy(
    act, system, ma, liquidator, trader, keeper, unchanged, scenario
):
    coll, debt = open_liquidatable(act, system, trader, scenario)
    owed = debt_of(ma, debt, trader, must_owe=True)
    target = int(liquidator.targetHealth())
    assert target == system.config.target_health == 105 * 10**16

    _, q, _ = settle_and_check(act, trader, debt, coll, MAX_UINT, keeper)

    assert q.repay < owed  # partial: the target, not the debt, capped it
    equity, _, mmr, health = ma.accountHealth(trader, 0)
    tolerance = health_tolerance(act, debt, coll, mmr)
    assert tolerance < 10**13  # a thousandth of a basis point at most
    assert target - tolerance <= health <= target + tolerance
    act.fund(debt, keeper, owed)
    with reverts(liquidator.AccountHealthy, equity=equity, mmr=mmr):
        liquidator.quote(trader, 0, debt.token, coll.token, MAX_UINT)
    with unchanged(), reverts(liquidator.AccountHealthy, equity=equity, mmr=mmr):
        liquidator.liquidate(trader, 0, debt.token, coll.token, MAX_UINT, 0, b"", sender=keeper)


@pytest.mark.parametrize("fraction", [1, 50, 99])
def test_liquidate__max_repay_below_target_cap__repays_exactly_max_repay(
    act, system, ma, liquidator, trader, keeper, scenario, fraction
):
    """fraction% of the target cap: that much is repaid (less at most the whole-scaled-unit slack)
    and the account stays below target."""
    coll, debt = open_liquidatable(act, system, trader, scenario)
    cap = expect(act, trader, debt, coll, MAX_UINT).repay
    max_repay = cap * fraction // 100

    tx, q, _ = settle_and_check(act, trader, debt, coll, max_repay, keeper)

    assert q.repay == logs(tx, ma.Liquidated)[0]["repaid"]
    assert max_repay - slack_units(debt) <= q.repay <= max_repay
    assert ma.accountHealth(trader, 0)[3] < liquidator.targetHealth()


def hypothetical(
    act: Any, owner: Any, holdings: dict[str, int], prices: dict[str, str]
) -> Positions:
    """Positions of an account that would hold `holdings` (collateral tokens > 0, borrowed tokens
    < 0, scaled as a borrow now would scale them) at `prices` (USD)."""
    out = {}
    for symbol, p in positions_of(act, owner, also=tuple(act.system.assets)).items():
        units = holdings.get(symbol, 0)
        raw = units if units >= 0 else -risk.scaled_debt_for_borrow(-units, p.index)
        price = int(prices[symbol]) * WAD if symbol in prices else p.price
        out[symbol] = replace(p, raw=raw, price=price)
    return out


def test_liquidate__target_health_one__max_liquidation_restores_maintenance(
    act, ma, liquidator, usdc, wbtc, trader, keeper, deployer
):
    """MIN_TARGET_HEALTH is documented as 'a liquidation must at least restore maintenance'. The
    account (50,000 USDC, b WBTC borrowed at $60,000, WBTC then $78,000) is chosen by the model
    among b in [0.6, 0.62] WBTC as one where the settlement's rounding bites a cap without slack
    (the bug the slack fixed), so the test does not depend on the borrow index the seeding left;
    the assertion itself is on-chain only."""
    liquidator.setParams(
        liquidator.insuranceShare(), liquidator.MIN_TARGET_HEALTH(), sender=deployer
    )
    params, share, target = liquidation_params(act), int(liquidator.insuranceShare()), WAD
    coll_units = amount(usdc, "50000")

    def stays_liquidatable(borrowed: int) -> bool:
        pos = hypothetical(act, trader, {"USDC": coll_units, "WBTC": -borrowed}, {"WBTC": "78000"})
        snap = snap_from(pos, params, "WBTC", "USDC")
        q = engine_quote(snap, MAX_UINT, share, target, slack=False)
        return q.status == "OK" and health_from(settled(pos, "WBTC", "USDC", q)).liquidatable

    borrowed = next(
        b for b in range(amount(wbtc, "0.6"), amount(wbtc, "0.62"), 997) if stays_liquidatable(b)
    )
    act.deposit(usdc, trader, coll_units)
    act.borrow(wbtc, trader, borrowed)
    act.set_price(wbtc, "78000")
    assert ma.isLiquidatable(trader, 0)
    act.fund(wbtc, keeper, "1")

    liquidator.liquidate(trader, 0, wbtc.token, usdc.token, MAX_UINT, 0, b"", sender=keeper)

    equity, _, mmr, _ = ma.accountHealth(trader, 0)
    assert equity >= mmr, f"still liquidatable: equity {equity} < MMR {mmr}"


# ====================================================================== dust rule
@pytest.mark.parametrize("floor", ["at_debt_left", "one_wei_above"])
def test_liquidate__debt_left_after_target_below_floor__whole_debt_repaid(
    act, system, ma, liquidator, trader, keeper, deployer, floor
):
    """The target cap leaves debt worth V. With the dust floor at V the cap stands; one wei above
    V, what the target would leave is dust, so the whole debt may be (and with max_uint is)
    repaid."""
    coll, debt = open_liquidatable(act, system, trader, WETH_USDC)
    owed = debt_of(ma, debt, trader, must_owe=True)
    partial = expect(act, trader, debt, coll, MAX_UINT)
    assert partial.repay < owed
    left_value = mul_div_up(owed - partial.repay, act.price(debt), 10**debt.decimals)
    assert left_value == partial.debt_left_value > debt.spec.min_debt_value
    cfg = ma.assetConfig(debt.token)
    floor_value = left_value + (floor == "one_wei_above")
    ma.setLiquidationParams(
        debt.token, cfg.minDiscount, cfg.maxDiscount, floor_value, sender=deployer
    )

    _, q, _ = settle_and_check(act, trader, debt, coll, MAX_UINT, keeper)

    if floor == "at_debt_left":
        assert q.repay == partial.repay
        assert debt_of(ma, debt, trader) >= owed - q.repay
    else:
        assert q.repay == owed
        assert ma.rawBalance(trader, 0, debt.token) == 0
        assert list(ma.accountAssets(trader, 0)) == [coll.token]
        assert ma.rawBalance(trader, 0, coll.token) > 0


@pytest.mark.parametrize("left", ["one_unit_below_floor", "exactly_the_floor"])
def test_liquidate__max_repay_leaving_dust__reverts_dust_remaining_with_state_untouched(
    act, ma, liquidator, usdc, wbtc, weth, trader, keeper, unchanged, left
):
    """Cross margin: 1 WBTC backs 13 WETH and 1,000 USDC of debt. After WBTC falls to $43,000 the
    WETH debt drives the shortfall, so the target cap of the USDC debt is above the whole USDC
    debt. A repayment that would leave 0 < USDC debt < $100 is refused (the WBTC is not all
    taken); leaving exactly $100 is allowed."""
    act.deposit(wbtc, trader, "1")
    act.borrow(weth, trader, "13")
    act.borrow(usdc, trader, "1000")
    act.set_price(wbtc, "43000")
    owed = debt_of(ma, usdc, trader, must_owe=True)
    assert expect(act, trader, usdc, wbtc, MAX_UINT).repay == owed  # target cap above the debt
    floor = int(ma.assetConfig(usdc.token).minDebtValue)
    assert floor == usdc.spec.min_debt_value == 100 * WAD
    floor_units = floor // 10**12  # USDC: one base unit is worth 1e12 wei of USD
    act.fund(usdc, keeper, "1000")

    if left == "exactly_the_floor":
        max_repay = owed - floor_units
        assert expect(act, trader, usdc, wbtc, max_repay).status == "OK"
        _, q, _ = settle_and_check(act, trader, usdc, wbtc, max_repay, keeper)
        assert max_repay - slack_units(usdc) <= q.repay <= max_repay
        assert debt_of(ma, usdc, trader) >= floor_units
        return
    # The smallest max_repay above owed - floor whose whole scaled units leave less than the floor.
    max_repay = next(
        owed - floor_units + k
        for k in range(1, slack_units(usdc) + 2)
        if expect(act, trader, usdc, wbtc, owed - floor_units + k).status == "DUST"
    )
    q = expect(act, trader, usdc, wbtc, max_repay)
    assert q.seize < ma.rawBalance(trader, 0, wbtc.token)
    dust = q.debt_left_value
    assert floor - 10**12 * slack_units(usdc) <= dust < floor
    with reverts(liquidator.DustRemaining, debtLeftValue=dust, minDebtValue=floor):
        liquidator.quote(trader, 0, usdc.token, wbtc.token, max_repay)
    with unchanged(), reverts(liquidator.DustRemaining, debtLeftValue=dust, minDebtValue=floor):
        liquidator.liquidate(trader, 0, usdc.token, wbtc.token, max_repay, 0, b"", sender=keeper)


def test_liquidate__random_sizes__never_leave_debt_below_the_floor(
    act, ma, liquidator, wbtc, weth, trader, keeper, deployer
):
    """Random-ish repayments (seeded) on a WBTC-backed WETH debt while the WBTC price falls in
    steps: each one either settles exactly as modelled, leaving no debt or at least the floor, or
    is refused with exactly the modelled DustRemaining. The WETH floor is raised to $3,000 so the
    dust rule is hit often."""
    floor = 3000 * WAD
    cfg = ma.assetConfig(weth.token)
    ma.setLiquidationParams(weth.token, cfg.minDiscount, cfg.maxDiscount, floor, sender=deployer)
    act.deposit(wbtc, trader, "3")
    act.borrow(weth, trader, "42")
    rng = random.Random(20240611)
    price, settled_count, dust_count = 46000, 0, 0
    act.set_price(wbtc, str(price))
    act.fund(weth, keeper, "50")
    for _ in range(30):
        owed = debt_of(ma, weth, trader)
        if owed == 0:
            break
        if not ma.isLiquidatable(trader, 0):
            price -= 1000
            act.set_price(wbtc, str(price))
            continue
        cap = expect(act, trader, weth, wbtc, MAX_UINT).repay
        floor_units = floor * WAD // act.price(weth)  # WETH worth the floor
        max_repay = rng.choice(
            [
                MAX_UINT,
                rng.randrange(1, cap // 4 + 2),
                rng.randrange(1, cap + 1),
                max(1, owed - rng.randrange(1, floor_units)),  # dust unless the cap is lower
                max(1, owed - rng.randrange(1, floor_units)),
            ]
        )
        q = expect(act, trader, weth, wbtc, max_repay)
        if q.status == "REPAY_TOO_SMALL":
            with reverts(
                liquidator.RepayTooSmall, amount=max_repay, minAmount=slack_units(weth) - 1
            ):
                liquidator.liquidate(
                    trader, 0, weth.token, wbtc.token, max_repay, 0, b"", sender=keeper
                )
            continue
        if q.status == "DUST":
            assert q.debt_left_value < floor
            with reverts(
                liquidator.DustRemaining, debtLeftValue=q.debt_left_value, minDebtValue=floor
            ):
                liquidator.liquidate(
                    trader, 0, weth.token, wbtc.token, max_repay, 0, b"", sender=keeper
                )
            dust_count += 1
            continue
        settle_and_check(act, trader, weth, wbtc, max_repay, keeper)
        settled_count += 1
        left_value = mul_div_up(debt_of(ma, weth, trader), act.price(weth), WAD)
        assert left_value == 0 or left_value >= floor, left_value
    print(f"random sizes: {settled_count} settled, {dust_count} refused as dust")
    assert settled_count >= 5 and dust_count >= 2, (settled_count, dust_count)


# ====================================================================== collateral runs out
def test_liquidate__collateral_worth_less_than_repayment__seizes_all_of_it_and_shrinks_repay(
    act, ma, liquidator, usdc, wbtc, weth, trader, keeper
):
    """WETH alone cannot pay for the repayment the engine allows: all of it is sold for its
    discounted value (rounded up to whole scaled units, against the liquidator); the WBTC left
    keeps the rest of the debt on the books (no write-off)."""
    held = act.deposit(weth, trader, "5")
    act.deposit(wbtc, trader, "0.5")
    act.borrow(usdc, trader, "36000")
    act.set_price(wbtc, "45000")
    act.set_price(weth, "2000")
    owed = debt_of(ma, usdc, trader, must_owe=True)

    _, q, bad_debt = settle_and_check(act, trader, usdc, weth, MAX_UINT, keeper)

    assert q.seize == held
    assert bad_debt == 0
    # The smallest repayment in whole scaled units that pays for all of it, rounded up.
    need = mul_div_up(mul_div_up(held * 2000, WAD - q.discount, WAD), 1, 10**12)
    assert need <= q.repay <= need + slack_units(usdc)
    assert q.repay < owed
    assert list(ma.accountAssets(trader, 0)) == [usdc.token, wbtc.token]


# ====================================================================== insolvency and bad debt
@pytest.mark.parametrize(
    ("equity", "insurance"),
    [
        ("negative", "deep"),
        ("zero", "deep"),
        ("negative", "thin"),
        ("negative", "empty"),
    ],
)
def test_liquidate__insolvent_account__no_account_discount_insurance_tip_rest_written_off(
    act, ma, liquidator, usdc, weth, trader, keeper, deployer, equity, insurance
):
    """Equity <= 0: health 0, so the account pays no discount (the health-preserving discount is
    0) and there is no target cap. All the collateral goes for its full oracle value in debt
    (rounded up to whole scaled units); the keeper is paid a tip from the USDC vault's insurance
    fund, (1 - insuranceShare) * repay * minDiscount / (1 - minDiscount), as far as the fund has
    it (nothing when it is empty). The rest is written off in the same transaction, the fund
    (after the tip) paying first; at equity exactly 0 there is no rest."""
    act.deposit(weth, trader, "10")
    act.borrow(usdc, trader, "24000")
    owed = debt_of(ma, usdc, trader, must_owe=True)
    if equity == "zero":
        # Top the WETH up to exactly owed x $1 / $2,000 (whole wei): equity is exactly 0 at $2,000.
        top_up = owed * 10**12 * WAD // (2000 * WAD) - int(ma.rawBalance(trader, 0, weth.token))
        act.deposit(weth, trader, top_up)
    if insurance == "deep":
        act.fund(usdc, deployer, "10000", spender=usdc.vault)
        usdc.vault.fundInsurance(amount(usdc, "10000"), sender=deployer)
    if insurance == "empty":
        usdc.vault.withdrawInsurance(usdc.vault.insuranceFund(), deployer, sender=deployer)
    act.set_price(weth, "2000")
    eq, _, mmr, health = ma.accountHealth(trader, 0)
    assert (eq == 0) if equity == "zero" else (eq < 0)
    assert health == 0 and mmr > 0
    fund = int(usdc.vault.insuranceFund())
    assert (fund == 0) == (insurance == "empty")

    tx, q, bad_debt = settle_and_check(act, trader, usdc, weth, MAX_UINT, keeper)

    assert (q.discount, q.health, q.fee) == (0, 0, 0)
    held = q.seize
    # All the WETH ($2,000 x held, exact) for its full value, in whole scaled units rounded up.
    need = mul_div_up(held * 2000, 1, 10**12)
    assert need <= q.repay <= need + slack_units(usdc)
    share, floor = int(liquidator.insuranceShare()), int(ma.assetConfig(weth.token).minDiscount)
    full_tip = mul_div_down(
        mul_div_down(q.repay, floor * WAD // (WAD - floor), WAD), WAD - share, WAD
    )
    assert full_tip > 0 and q.tip == min(full_tip, fund)
    assert bad_debt == owed - q.repay
    assert logs(tx, ma.Liquidated)[0]["badDebt"] == bad_debt
    if equity == "zero":
        # Collateral worth exactly the debt repays all of it: nothing to write off.
        assert bad_debt == 0 and logs(tx, usdc.vault.BadDebtRealized) == []
        assert list(ma.accountAssets(trader, 0)) == []
        return
    assert bad_debt > 0
    covered = min(bad_debt, fund - q.tip)
    assert (covered == bad_debt) == (insurance == "deep")
    assert logs(tx, usdc.vault.BadDebtRealized) == [
        ev(amount=bad_debt, coveredByInsurance=covered, socialized=bad_debt - covered)
    ]
    if insurance != "deep":
        assert usdc.vault.insuranceFund() == 0  # the fund, tip first, is spent before lenders pay
    # The account ends empty.
    assert list(ma.accountAssets(trader, 0)) == []
    assert tuple(ma.accountHealth(trader, 0)) == (0, 0, 0, MAX_UINT256)


def test_liquidate__last_collateral_of_an_account_with_two_debts__writes_off_both(
    act, ma, liquidator, usdc, wbtc, weth, trader, keeper
):
    """Taking the last collateral writes off every debt of the account, not only the one repaid;
    Liquidated.badDebt reports the repaid asset's part."""
    act.deposit(weth, trader, "10")
    act.borrow(usdc, trader, "21000")
    act.borrow(wbtc, trader, "0.05")
    act.set_price(weth, "2000")  # $20,000 of WETH for ~$24,000 of debt, $21,000 of it USDC
    assert ma.accountHealth(trader, 0)[0] < 0
    q = expect(act, trader, usdc, weth, MAX_UINT)
    assert q.status == "OK" and q.seize == ma.rawBalance(trader, 0, weth.token)
    usdc_left = debt_of(ma, usdc, trader) - q.repay
    wbtc_owed = debt_of(ma, wbtc, trader, must_owe=True)
    funds = {a.symbol: int(a.vault.insuranceFund()) for a in (usdc, wbtc)}
    borrows = {a.symbol: int(a.vault.totalBorrows()) for a in (usdc, wbtc)}
    act.fund(usdc, keeper, q.paid)

    tx = liquidator.liquidate(
        trader, 0, usdc.token, weth.token, MAX_UINT, q.seize, b"", sender=keeper
    )

    assert logs(tx, ma.Liquidated) == [liquidated(trader, 0, keeper, usdc, weth, q, usdc_left)]
    written = {e["asset"]: e for e in logs(tx, ma.BadDebtWrittenOff)}
    assert set(written) == {norm(usdc.token), norm(wbtc.token)}
    assert written[norm(usdc.token)]["amount"] == usdc_left
    assert written[norm(wbtc.token)]["amount"] == wbtc_owed
    assert written[norm(wbtc.token)]["covered"] == min(wbtc_owed, funds["WBTC"])
    assert wbtc.vault.totalBorrows() == borrows["WBTC"] - wbtc_owed
    assert usdc.vault.totalBorrows() == borrows["USDC"] - q.repay - usdc_left
    assert list(ma.accountAssets(trader, 0)) == []


def remove_collateral_in_storage(ma: Any, owner: Any, sub: int, coll: DeployedAsset) -> None:
    """Zero the account's collateral balance of `coll` and its asset-mask bit in storage. No
    public path leaves debt without collateral any more (settleLiquidation writes it off in the
    same call), so the state writeOffBadDebt exists for is made by hand. The two mappings' slots
    are found by matching known values, not assumed from the layout."""
    provider = ma.provider
    key = (int(owner.address, 16) << 96) | sub
    coll_id = int(ma.assetConfig(coll.token).id)
    held = int(ma.rawBalance(owner, sub, coll.token))
    assert held > 0

    def read(slot: bytes) -> int:
        return int.from_bytes(provider.get_storage(ma.address, slot), "big")

    def slot_of(k: int, base: int) -> bytes:
        return keccak(encode(["uint256", "uint256"], [k, base]))

    balance_slot = next(
        loc
        for base in range(64)
        if read(loc := slot_of(coll_id, int.from_bytes(slot_of(key, base), "big"))) == held
    )
    mask = sum(1 << int(ma.assetConfig(a).id) for a in ma.accountAssets(owner, sub))
    mask_slot = next(loc for base in range(64) if read(loc := slot_of(key, base)) == mask)
    provider.set_storage(ma.address, balance_slot, (0).to_bytes(32, "big"))
    provider.set_storage(ma.address, mask_slot, (mask & ~(1 << coll_id)).to_bytes(32, "big"))
    assert ma.rawBalance(owner, sub, coll.token) == 0


def test_write_off_bad_debt__account_without_collateral__anyone_writes_off_every_debt(
    act, ma, liquidator, usdc, wbtc, weth, trader, stranger
):
    act.deposit(weth, trader, "10")
    act.borrow(usdc, trader, "20000")
    act.borrow(wbtc, trader, "0.05")
    remove_collateral_in_storage(ma, trader, 0, weth)
    assert list(ma.accountAssets(trader, 0)) == [usdc.token, wbtc.token]

    owed = {a.symbol: debt_of(ma, a, trader, must_owe=True) for a in (usdc, wbtc)}
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
    open_liquidatable(act, system, trader, WETH_USDC)
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
    coll, debt = open_liquidatable(act, system, trader, WETH_USDC)
    max_repay = amount(debt, "500")
    q = expect(act, trader, debt, coll, max_repay)
    act.fund(debt, keeper, "600")
    with (
        unchanged(),
        reverts(system.margin_account.SlippageExceeded, seized=q.seize, minSeized=q.seize + 1),
    ):
        liquidator.liquidate(
            trader, 0, debt.token, coll.token, max_repay, q.seize + 1, b"", sender=keeper
        )
    tx = liquidator.liquidate(
        trader, 0, debt.token, coll.token, max_repay, q.seize, b"", sender=keeper
    )
    assert tx.return_value == (q.repay, q.seize)


@pytest.mark.parametrize("call", ["quote", "liquidate"])
def test_liquidate__zero_max_repay__reverts_zero_amount(
    act, system, liquidator, trader, keeper, unchanged, call
):
    coll, debt = open_liquidatable(act, system, trader, WETH_USDC)
    act.fund(debt, keeper, "1000")
    if call == "quote":
        args = (trader.address, 0, debt.token.address, coll.token.address, 0)
        assert call_revert_data(liquidator, "quote", *args) == selector(liquidator.ZeroAmount)
        return
    with unchanged(), reverts(liquidator.ZeroAmount):
        liquidator.liquidate(trader, 0, debt.token, coll.token, 0, 0, b"", sender=keeper)


@pytest.mark.parametrize("call", ["quote", "liquidate", "liquidate_batch"])
def test_liquidate__debt_asset_equals_collateral_asset__reverts_same_asset(
    act, system, liquidator, trader, keeper, unchanged, call
):
    _, debt = open_liquidatable(act, system, trader, WETH_USDC)
    act.fund(debt, keeper, "1000")
    with unchanged(), reverts(liquidator.SameAsset, asset=debt.token):
        if call == "quote":
            liquidator.quote(trader, 0, debt.token, debt.token, MAX_UINT)
        elif call == "liquidate":
            liquidator.liquidate(trader, 0, debt.token, debt.token, MAX_UINT, 0, b"", sender=keeper)
        else:
            liquidator.liquidateBatch([(trader, 0)], debt.token, debt.token, 0, sender=keeper)


@pytest.mark.parametrize("call", ["quote", "liquidate"])
def test_liquidate__asset_the_account_does_not_owe__reverts_nothing_to_repay(
    act, system, liquidator, wbtc, trader, keeper, unchanged, call
):
    coll, _ = open_liquidatable(act, system, trader, WETH_USDC)
    act.fund(wbtc, keeper, "1")
    with unchanged(), reverts(liquidator.NothingToRepay, debtAsset=wbtc.token):
        if call == "quote":
            liquidator.quote(trader, 0, wbtc.token, coll.token, MAX_UINT)
        else:
            liquidator.liquidate(trader, 0, wbtc.token, coll.token, MAX_UINT, 0, b"", sender=keeper)


@pytest.mark.parametrize("call", ["quote", "liquidate"])
def test_liquidate__collateral_the_account_does_not_hold__reverts_no_collateral(
    act, system, liquidator, wbtc, trader, keeper, unchanged, call
):
    _, debt = open_liquidatable(act, system, trader, WETH_USDC)
    act.fund(debt, keeper, "30000")
    with unchanged(), reverts(liquidator.NoCollateral, collateralAsset=wbtc.token):
        if call == "quote":
            liquidator.quote(trader, 0, debt.token, wbtc.token, MAX_UINT)
        else:
            liquidator.liquidate(trader, 0, debt.token, wbtc.token, MAX_UINT, 0, b"", sender=keeper)


def test_liquidate__healthy_check_comes_before_asset_checks(
    act, system, liquidator, wbtc, trader, keeper, unchanged
):
    """A healthy account is refused as healthy whatever pair is asked for."""
    coll, debt = open_position(act, system, trader, WETH_USDC)
    equity, _, mmr, _ = act.system.margin_account.accountHealth(trader, 0)
    for d, c in ((wbtc, coll), (debt, wbtc)):
        with unchanged(), reverts(liquidator.AccountHealthy, equity=equity, mmr=mmr):
            liquidator.liquidate(trader, 0, d.token, c.token, MAX_UINT, 0, b"", sender=keeper)


def test_liquidate__keeper_approved_the_liquidator_not_the_margin_account__reverts_allowance(
    act, system, ma, liquidator, trader, keeper, unchanged
):
    coll, debt = open_liquidatable(act, system, trader, WETH_USDC)
    max_repay = amount(debt, "500")
    q = expect(act, trader, debt, coll, max_repay)
    act.fund(debt, keeper, "600", spender=liquidator)
    with (
        unchanged(),
        reverts(
            debt.token.ERC20InsufficientAllowance,
            spender=ma,
            allowance=0,
            needed=q.paid,
        ),
    ):
        liquidator.liquidate(trader, 0, debt.token, coll.token, max_repay, 0, b"", sender=keeper)


def test_settle_liquidation__called_directly__reverts_not_liquidator(
    act, system, ma, liquidator, trader, keeper, unchanged
):
    """Only the Liquidator settles: a keeper cannot hand the MarginAccount its own prices."""
    coll, debt = open_liquidatable(act, system, trader, WETH_USDC)
    act.fund(debt, keeper, "1")
    order = (trader, 0, keeper, debt.token, coll.token, 1, 0)
    with unchanged(), reverts(ma.NotLiquidator, caller=keeper):
        ma.settleLiquidation(order, b"", sender=keeper)
    with unchanged(), reverts(ma.NotLiquidator, caller=keeper):
        ma.settleLiquidationBatch([(trader, 0)], keeper, debt.token, coll.token, 0, sender=keeper)
    with unchanged(), reverts(ma.NotLiquidator, caller=keeper):
        ma.writeOffBadDebt(trader, 0, sender=keeper)


# ====================================================================== self-liquidation
def test_liquidate__by_the_owner__allowed_and_settles_exactly_as_a_third_party(
    act, system, ma, liquidator, trader, trader2, keeper
):
    """Self-liquidation is allowed (blocking it is pointless: a second address does the same).
    Two identical accounts: the keeper liquidates trader's, trader2 liquidates its own. Same
    repay, seize, fee, discount and health, same books afterwards, same tokens in and out."""
    for owner in (trader, trader2):
        open_position(act, system, owner, WETH_USDC)
    coll, debt = system.asset(WETH_USDC.coll), system.asset(WETH_USDC.debt)
    act.set_price(coll, WETH_USDC.price)
    assert snap_of(act, trader, debt, coll) == snap_of(act, trader2, debt, coll)
    results = {}
    for owner, by in ((trader, keeper), (trader2, trader2)):
        coll_before, debt_before = (int(a.token.balanceOf(by)) for a in (coll, debt))
        tx, q, _ = settle_and_check(act, owner, debt, coll, MAX_UINT, by)
        paid = q.paid
        # settle_and_check funds `by` with exactly repay + fee - tip first: net, it paid that much.
        assert coll.token.balanceOf(by) == coll_before + q.seize
        assert debt.token.balanceOf(by) == debt_before
        event = logs(tx, ma.Liquidated)[0]
        assert event["liquidator"] == norm(by)
        results[owner.address] = (
            tx.return_value,
            {k: v for k, v in event.items() if k not in ("owner", "liquidator")},
            paid,
            tuple(int(ma.rawBalance(owner, 0, a.token)) for a in (debt, coll)),
            act.health(owner),
        )
    assert results[trader.address] == results[trader2.address]


# ====================================================================== oracle outages
def make_stale(act: Any, asset: DeployedAsset) -> int:
    """Re-stamp `asset`'s answer one second older than its max age; returns its updatedAt."""
    round_id, answer, *_ = asset.feed.latestRoundData()
    old = chain.blocks.head.timestamp - asset.spec.max_age - 1
    asset.feed.setRoundData(round_id + 1, answer, old, round_id + 1, sender=act.deployer)
    return old


@pytest.mark.parametrize("stale", ["collateral", "debt"])
def test_liquidate__stale_price_of_an_account_asset__quote_and_liquidate_revert_stale_answer(
    act, system, oracle, liquidator, trader, keeper, unchanged, stale
):
    """No liquidation on a price the oracle rejects (decision: revert with the oracle's error)."""
    coll, debt = open_liquidatable(act, system, trader, WETH_USDC)
    act.fund(debt, keeper, "30000")
    asset = coll if stale == "collateral" else debt
    updated = make_stale(act, asset)
    error = {"asset": asset.token, "updatedAt": updated, "maxAge": asset.spec.max_age}
    with reverts(oracle.StaleAnswer, **error):
        liquidator.quote(trader, 0, debt.token, coll.token, MAX_UINT)
    with unchanged(), reverts(oracle.StaleAnswer, **error):
        liquidator.liquidate(trader, 0, debt.token, coll.token, MAX_UINT, 0, b"", sender=keeper)


def test_liquidate__stale_price_of_an_asset_the_account_does_not_hold__liquidates(
    act, system, liquidator, wbtc, trader, keeper
):
    coll, debt = open_liquidatable(act, system, trader, WETH_USDC)
    make_stale(act, wbtc)
    _, q, _ = settle_and_check(act, trader, debt, coll, MAX_UINT, keeper)
    assert q.repay > 0


def test_liquidate_batch__one_target_with_a_stale_debt_price__whole_batch_reverts(
    act, ma, oracle, liquidator, usdc, wbtc, weth, trader, trader2, keeper, lender, unchanged
):
    """The batch reverts as a whole, it does not skip: trader's account (WBTC / USDC, all prices
    fresh) is first and liquidatable, trader2's also owes WETH, whose price is stale (a debt with no
    price cannot be valued). Nothing is liquidated; without trader2 the same batch goes through."""
    act.lend(weth, lender, "10")
    for owner, extra in ((trader, False), (trader2, True)):
        act.deposit(wbtc, owner, "1")
        act.borrow(usdc, owner, "45000")
        if extra:
            act.borrow(weth, owner, "0.05")
    act.set_price(wbtc, "47000")
    assert ma.isLiquidatable(trader, 0) and ma.isLiquidatable(trader2, 0)
    act.fund(usdc, keeper, "100000")
    updated = make_stale(act, weth)
    error = {"asset": weth.token, "updatedAt": updated, "maxAge": weth.spec.max_age}
    targets = [(trader, 0), (trader2, 0)]

    with unchanged(), unchanged(trader2), reverts(oracle.StaleAnswer, **error):
        liquidator.liquidateBatch(targets, usdc.token, wbtc.token, 0, sender=keeper)
    assert ma.isLiquidatable(trader, 0)

    tx = liquidator.liquidateBatch(targets[:1], usdc.token, wbtc.token, 0, sender=keeper)
    assert tx.return_value[2] == 1
    assert not ma.isLiquidatable(trader, 0)


def test_liquidate_batch__stale_collateral_not_seized__counts_zero__both_liquidated(
    act, ma, liquidator, usdc, wbtc, weth, trader, trader2, keeper
):
    """A collateral other than the seized one, with no usable price, counts 0 (docs/threat-model.md:
    no dust of a failing asset shields an account): trader2's stale WETH neither blocks the batch
    nor lifts its health."""
    for owner, extra in ((trader, False), (trader2, True)):
        act.deposit(wbtc, owner, "1")
        if extra:
            act.deposit(weth, owner, "0.1")
        act.borrow(usdc, owner, "45000")
    act.set_price(wbtc, "47000")
    act.fund(usdc, keeper, "100000")
    before = int(ma.accountHealth(trader2, 0)[0])
    make_stale(act, weth)
    assert int(ma.accountHealth(trader2, 0)[0]) == before - 300 * 10**18  # 0.1 WETH at $3,000: 0
    snap = ma.liquidationSnapshot(trader2, 0, usdc.token, wbtc.token)
    assert int(snap.collateralAssets) == 2
    tx = liquidator.liquidateBatch(
        [(trader, 0), (trader2, 0)], usdc.token, wbtc.token, 0, sender=keeper
    )
    assert tx.return_value[2] == 2


# ====================================================================== engine parameters
def test_constructor__sets_params_and_roles(system, liquidator, ma, deployer):
    assert liquidator.marginAccount() == ma.address
    assert (
        (liquidator.insuranceShare(), liquidator.targetHealth())
        == (
            system.config.insurance_share,
            system.config.target_health,
        )
        == (2 * 10**17, 105 * 10**16)
    )
    assert (
        liquidator.MAX_INSURANCE_SHARE(),
        liquidator.MIN_TARGET_HEALTH(),
        liquidator.MAX_TARGET_HEALTH(),
    ) == (5 * 10**17, WAD, 15 * 10**17)
    for role in (liquidator.DEFAULT_ADMIN_ROLE(), liquidator.RISK_ADMIN_ROLE()):
        assert liquidator.hasRole(role, deployer)


@pytest.mark.parametrize(
    ("share", "target"),
    [(0, WAD), (5 * 10**17, 15 * 10**17), (10**17, 12 * 10**17)],
    ids=["lowest", "highest", "inside"],
)
def test_set_params__within_bounds__stored_and_emitted(liquidator, deployer, share, target):
    tx = liquidator.setParams(share, target, sender=deployer)
    assert logs(tx, liquidator.EngineParamsSet) == [ev(insuranceShare=share, targetHealth=target)]
    assert (liquidator.insuranceShare(), liquidator.targetHealth()) == (share, target)


def test_set_params__new_params__price_the_next_liquidation(
    act, system, liquidator, trader, keeper, deployer
):
    """A half share of the discount to insurance and a 1.2 target: the fee and the cap follow."""
    coll, debt = open_liquidatable(act, system, trader, WETH_USDC)
    before = expect(act, trader, debt, coll, MAX_UINT)
    liquidator.setParams(5 * 10**17, 12 * 10**17, sender=deployer)
    _, q, _ = settle_and_check(act, trader, debt, coll, MAX_UINT, keeper)
    assert q.discount == before.discount
    assert q.repay > before.repay  # a higher target takes more
    assert q.fee == mul_div_up(mul_div_up(q.repay, q.discount, WAD - q.discount), 1, 2)
    _, _, mmr, health = act.system.margin_account.accountHealth(trader, 0)
    assert abs(health - 12 * 10**17) <= health_tolerance(act, debt, coll, mmr)


INVALID_PARAMS = {
    "share_above_max": (5 * 10**17 + 1, 105 * 10**16),
    "target_below_min": (2 * 10**17, WAD - 1),
    "target_above_max": (2 * 10**17, 15 * 10**17 + 1),
    "target_zero": (0, 0),
}


@pytest.mark.parametrize("case", sorted(INVALID_PARAMS))
def test_set_params__out_of_bounds__reverts_invalid_engine_params(
    liquidator, deployer, system, case
):
    share, target = INVALID_PARAMS[case]
    with reverts(liquidator.InvalidEngineParams, insuranceShare=share, targetHealth=target):
        liquidator.setParams(share, target, sender=deployer)
    assert (liquidator.insuranceShare(), liquidator.targetHealth()) == (
        system.config.insurance_share,
        system.config.target_health,
    )


def test_set_params__by_stranger__reverts_access_control_unauthorized_account(
    liquidator, stranger, system
):
    with reverts(
        liquidator.AccessControlUnauthorizedAccount,
        account=stranger,
        neededRole=liquidator.RISK_ADMIN_ROLE(),
    ):
        liquidator.setParams(0, WAD, sender=stranger)
    assert (liquidator.insuranceShare(), liquidator.targetHealth()) == (
        system.config.insurance_share,
        system.config.target_health,
    )


@pytest.fixture
def fresh_deployer(accounts, deployer):
    """A never-used account for deployments that must fail. ape's snapshots make a deployer reuse
    addresses of contracts deployed (and reverted) earlier, and ape then decodes a failing
    constructor's arguments with the old contract's ABI (eth_abi InvalidPointer)."""
    account = accounts.generate_test_account()
    deployer.transfer(account, 10**18)
    return account


@pytest.mark.parametrize("case", sorted(INVALID_PARAMS))
def test_constructor__params_out_of_bounds__reverts_invalid_engine_params(
    ma, liquidator, deployer, fresh_deployer, case
):
    share, target = INVALID_PARAMS[case]
    address = fresh_deployer.get_deployment_address()
    with reverts(liquidator.InvalidEngineParams, insuranceShare=share, targetHealth=target):
        project.Liquidator.deploy(ma, deployer, share, target, sender=fresh_deployer)
    assert len(chain.provider.get_code(address)) == 0
