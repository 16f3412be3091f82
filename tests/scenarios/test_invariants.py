"""Stateful property test: random sequences of protocol actions keep the accounting invariants.

A hypothesis RuleBasedStateMachine drives lenders, two traders with two sub-accounts each, price
moves, time and a keeper. Every example starts from the same chain snapshot (funded wallets and
vaults) and is rolled back afterwards. The machine runs once per module (fixture `fuzz`); the tests
below read what it found.

Invariants, checked after every step:
  * for each asset, token.balanceOf(MarginAccount) == totalCollateral == the sum of the accounts'
    positive raw balances;
  * token.balanceOf(vault) == vault.cash() (nothing is sent to the vaults outside the protocol);
  * cash + totalBorrows - insuranceFund == totalAssets;
  * the accounts owe the vault at least its totalBorrows (per-account debts round up);
  * tokens are conserved: wallets + MarginAccount + vaults == start + what the test minted.
Per action: the chain accepts a borrow, withdrawal or transfer exactly when the mirror says the
account stays at or above IMR (a refusal is InsufficientMargin with the mirror's values) and, for a
borrow, its debt is worth at least the dust floor (DustRemaining); an accepted one leaves equity >=
IMR. A repayment burns whole scaled units and costs exactly the fall in the debt; one that would
leave dust is refused (DustRemaining). Liquidations (single, with a random repay bound up to
2**256-1, and batches) are checked step by step by `Keeper` (quote or exact revert, event,
balances, keeper and vault token balances, vault books, bad-debt write-off), and after each one:
  * no debt is left worth more than 0 and less than its asset's minDebtValue, unless it already was
    before and the liquidation did not touch it, or the liquidation took all of the seized
    collateral asset and the account is still liquidatable (the next one may repay it whole);
  * an account that still holds collateral never ends with a larger shortfall MMR - equity, nor a
    lower health equity / MMR (beyond whole-unit rounding), and a solvent account is never made
    insolvent. Breaches are recorded, not raised, so one run reports them all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from ape import chain
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from solvent.risk import MAX_UINT256, WAD, debt_tokens, repay_at_most, value_up
from tests.utils.helpers import MAX_UINT, amount
from tests.utils.scenarios import (
    Keeper,
    Liquidation,
    Market,
    batch_read,
    chain_health,
    pin_next_block,
    revert_of,
)

# SOLVENT_FUZZ=200 runs 200 random examples instead of the 10 fixed (derandomized) ones of CI;
# SOLVENT_FUZZ_STEPS=40 makes each sequence up to 40 steps long instead of 15.
FUZZ_EXAMPLES = int(os.environ.get("SOLVENT_FUZZ", "0"))
FUZZ_STEPS = int(os.environ.get("SOLVENT_FUZZ_STEPS", "0"))
SYMBOLS = ("USDC", "WBTC", "WETH")
LIQUIDITY = {"USDC": "2000000", "WBTC": "40", "WETH": "800"}
WALLET = {"USDC": "5000000", "WBTC": "100", "WETH": "2000"}
# Starting book, close to the initial margin so that one adverse price move (factor 0.8 or 0.6
# for longs, 1.1 and up for shorts) makes an account liquidatable:
# (trader index, sub) -> (collateral deposits, borrows), whole tokens.
OPENING = {
    (0, 0): ({"WETH": "10"}, {"USDC": "25000"}),  # long ETH
    (0, 1): ({"USDC": "30000"}, {"WETH": "8.5"}),  # short ETH
    (1, 0): ({"WBTC": "0.5", "WETH": "5"}, {"USDC": "37000"}),  # cross long BTC + ETH
    (1, 1): ({"USDC": "20000"}, {"WBTC": "0.28"}),  # short BTC
}
OPENING_MOVES = ("0.6", "0.8", "1", "1.25", "1.5")
# ETH always opens away from 1: long ETH (down) or short ETH (up) starts liquidatable, so every
# example gives the keeper work whatever sequence hypothesis draws.
ETH_OPENING_MOVES = ("0.6", "0.8", "1.25", "1.5")
PRICE_FACTORS = ("0.6", "0.8", "0.9", "0.97", "1.03", "1.1", "1.25", "1.5")
WARPS = (30, 3_600, 86_400, 30 * 86_400)

sym_st = st.sampled_from(SYMBOLS)
account_st = st.integers(0, 3)  # index into the four (trader, sub) accounts
pick_st = st.integers(0, 255)  # picks among the assets (or pairs) an action applies to
bps_st = st.integers(1, 10_000)
usd_st = st.integers(100, 60_000)
# A liquidation's repay bound: a share of the debt in bps, or 2**256-1 ("as much as allowed").
repay_st = st.one_of(st.just(MAX_UINT256), bps_st)
ACTIONS = (
    "borrow",
    "withdraw",
    "transfer",
    "refused",
    "dust_refused",
    "repay_refused",
    "own_collateral",
    "repay",
    "liquidate",
    "liquidate_max",
    "liquidate_refused",
    "liquidate_batch",
    "partial_with_collateral_left",
)


@dataclass
class FuzzRun:
    """What the machine did (action -> count) and the breaches of the health invariant it saw."""

    seen: dict[str, int]
    health_drops: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def fuzz(system, act, ma, keeper, lender, trader, trader2) -> FuzzRun:
    assets = system.assets
    traders = (trader, trader2)
    for sym in SYMBOLS:
        act.lend(assets[sym], lender, LIQUIDITY[sym])
        for who in (*traders, keeper):
            act.fund(assets[sym], who, WALLET[sym])
    for (t, sub), (deposits, borrows) in OPENING.items():
        for sym, value in deposits.items():
            units = amount(assets[sym], value)
            ma.deposit(traders[t], sub, assets[sym].token, units, sender=traders[t])
        for sym, value in borrows.items():
            act.borrow(assets[sym], traders[t], value, sub=sub)
    accounts = [(traders[t], sub) for t, sub in OPENING]
    wallets = [lender, *traders, keeper]
    holders = [*wallets, ma, *(a.vault for a in assets.values())]
    market = Market(system)
    bot = Keeper(system, keeper, market)
    run = FuzzRun(seen=dict.fromkeys(ACTIONS, 0))
    seen = run.seen

    def tokens_everywhere() -> dict[str, int]:
        calls = [(assets[s].token.balanceOf, h) for s in SYMBOLS for h in holders]
        values = batch_read(*calls)
        n = len(holders)
        return {s: sum(values[i * n : (i + 1) * n]) for i, s in enumerate(SYMBOLS)}

    def check_liquidation(step: Liquidation) -> None:
        """The invariants every settled liquidation must keep (see the module docstring)."""
        for sym, after in step.after.items():
            if after.raw >= 0:
                continue
            left = value_up(after.tokens, after.price, after.scale)
            if 0 < left < after.min_debt_value:
                before = step.before.get(sym)
                untouched = sym != step.debt and before is not None and before.raw == after.raw
                took_all = sym == step.debt and step.after[step.collateral].raw <= 0
                d0 = step.before[step.debt]
                units = (-(-d0.index // WAD) + 2) * value_up(1, d0.price, d0.scale)
                at_floor = -d0.value < d0.min_debt_value + units  # leaving the floor repays nothing
                assert untouched or (took_all and (step.health_after.liquidatable or at_floor)), (
                    f"{step.owner}#{step.sub} left {sym} dust worth {left}: {step}"
                )
        h0, h1 = step.health_before, step.health_after
        debt, coll = step.before[step.debt], step.before[step.collateral]
        # Whole token units: a few of the debt asset and one of the collateral, in value.
        units = 2 * value_up(1, debt.price, debt.scale) + value_up(1, coll.price, coll.scale)
        if any(p.raw > 0 for p in step.after.values()):
            if step.quote.repay < debt.tokens:
                seen["partial_with_collateral_left"] += 1
            # The shortfall MMR - equity never grows, and health equity / MMR never falls.
            if h1.mmr - h1.equity > h0.mmr - h0.equity:
                run.health_drops.append(f"shortfall grew {h0} -> {h1}: {step}")
            if h1.mmr > 0 and h1.health < h0.health - units * WAD // h1.mmr - 1:
                run.health_drops.append(f"health fell {h0} -> {h1}: {step}")
        # A solvent account is never made insolvent (whole-unit rounding aside).
        if h0.equity > 0 and h1.equity < -units:
            run.health_drops.append(f"solvent account made insolvent {h0} -> {h1}: {step}")

    start = tokens_everywhere()

    class Protocol(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.snapshot = chain.snapshot()
            self.minted = dict.fromkeys(SYMBOLS, 0)

        def teardown(self) -> None:
            chain.restore(self.snapshot)

        @initialize(wbtc=st.sampled_from(OPENING_MOVES), weth=st.sampled_from(ETH_OPENING_MOVES))
        def opening_prices(self, wbtc, weth):
            """Each example starts from its own BTC and ETH prices (at least one account liquidatable)."""
            for sym, factor in (("WBTC", wbtc), ("WETH", weth)):
                if factor != "1":
                    act.move_price(assets[sym], factor)

        # ---------------------------------------------------------------- helpers
        def _owner_action(
            self, owner, sub, new_raws: dict[str, int], method, *args, debt: str | None = None
        ) -> None:
            """Dry-run the action: the chain must accept it iff the mirror keeps the account at or
            above IMR and leaves no debt in `debt` (a borrow's asset) below the dust floor.
            Accepted actions are sent and must leave equity >= IMR (as predicted)."""
            raws = market.raw_balances(owner, sub)
            raws.update(new_raws)
            positions = market.positions(owner, sub, raws)
            predicted = market.health(positions)
            outcome = revert_of(method, *args, sender=owner)
            if outcome is not None:
                if predicted.meets_initial:
                    assert debt is not None, outcome
                    p = positions[debt]
                    assert outcome == (
                        "DustRemaining",
                        {"debtLeftValue": -p.value, "minDebtValue": p.min_debt_value},
                    )
                    seen["dust_refused"] += 1
                    return
                assert outcome == (
                    "InsufficientMargin",
                    {"equity": predicted.equity, "required": predicted.imr},
                )
                seen["refused"] += 1
                return
            if debt is not None:
                assert -positions[debt].value >= positions[debt].min_debt_value
            pin_next_block()
            method(*args, sender=owner)
            equity, imr, mmr, _ = chain_health(ma, owner, sub)
            assert equity >= imr
            assert (equity, imr, mmr) == (predicted.equity, predicted.imr, predicted.mmr)
            assert market.raw_balances(owner, sub) == raws
            seen[method.abis[0].name] += 1

        def _collateral_out(self, owner, sub, pick, bps) -> tuple[str, int, int] | None:
            """Pick a collateral asset of the account and `bps` of the most the mirror lets the
            owner take out of it (past that above 10,000), at most all of it. Returns (asset,
            balance left, units) or None when the account holds no collateral."""
            raws = market.refresh().raw_balances(owner, sub)
            held = [s for s in SYMBOLS if raws[s] > 0]
            if not held:
                return None
            sym = held[pick % len(held)]
            health = market.health(market.positions(owner, sub, raws))
            most = max(health.equity - health.imr, 0) * WAD // (WAD - market.factors[sym][1])
            units = min(raws[sym], max(1, market.units_for_usd(sym, most * bps // 10_000)))
            return sym, raws[sym] - units, units

        # ---------------------------------------------------------------- lender
        @rule(sym=sym_st, usd=usd_st)
        def lend(self, sym, usd):
            a = assets[sym]
            units = act.mint(a, lender, market.refresh().units_for_usd(sym, usd * WAD) + 1)
            self.minted[sym] += units
            total = int(a.vault.totalAssets())
            pin_next_block()
            a.vault.deposit(units, lender, sender=lender)
            assert int(a.vault.totalAssets()) == total + units

        @rule(sym=sym_st, bps=bps_st)
        def lender_withdraw(self, sym, bps):
            vault = assets[sym].vault
            units = int(vault.maxWithdraw(lender)) * bps // 10_000
            if units == 0:
                return
            total = int(vault.totalAssets())
            pin_next_block()
            vault.withdraw(units, lender, lender, sender=lender)
            assert int(vault.totalAssets()) == total - units

        # ---------------------------------------------------------------- traders
        @rule(acct=account_st, sym=sym_st, usd=usd_st)
        def deposit(self, acct, sym, usd):
            owner, sub = accounts[acct]
            a = assets[sym]
            units = market.refresh().units_for_usd(sym, usd * WAD)
            room = int(ma.assetConfig(a.token).collateralCap) - int(ma.totalCollateral(a.token))
            units = min(units, room, int(a.token.balanceOf(owner)))
            if units > 0:
                ma.deposit(owner, sub, a.token, units, sender=owner)

        @rule(acct=account_st, pick=pick_st, bps=st.integers(1, 13_000))
        def withdraw(self, acct, pick, bps):
            owner, sub = accounts[acct]
            taken = self._collateral_out(owner, sub, pick, bps)
            if taken is None:
                return
            sym, left, units = taken
            token = assets[sym].token
            self._owner_action(
                owner, sub, {sym: left}, ma.withdraw, owner, sub, token, units, owner
            )

        @rule(acct=account_st, pick=pick_st, bps=st.integers(1, 13_000))
        def borrow(self, acct, pick, bps):
            """Borrow `bps` of the largest amount the mirror allows (more than all of it above
            10,000), capped by the vault's cash and debt cap."""
            owner, sub = accounts[acct]
            raws = market.refresh().raw_balances(owner, sub)
            # Borrowing an asset held as collateral is refused.
            for sym in (s for s in SYMBOLS if raws[s] > 0):
                token = assets[sym].token
                assert revert_of(ma.borrow, owner, sub, token, 1, owner, sender=owner) == (
                    "BorrowAgainstOwnCollateral",
                    {"asset": token.address, "collateral": raws[sym]},
                )
                seen["own_collateral"] += 1
            free = [s for s in SYMBOLS if raws[s] <= 0]
            if not free:
                return
            sym = free[pick % len(free)]
            a = assets[sym]
            health = market.health(market.positions(owner, sub, raws))
            most = max(health.equity - health.imr, 0) * WAD // (WAD + market.factors[sym][1])
            units = max(1, market.units_for_usd(sym, most * bps // 10_000))
            cash, borrows = batch_read((a.vault.cash,), (a.vault.totalBorrows,))
            units = min(units, cash, int(ma.assetConfig(a.token).debtCap) - borrows)
            if units <= 0:
                return
            new_raw = raws[sym] - market.scaled_borrow(sym, units, -raws[sym])
            self._owner_action(
                owner, sub, {sym: new_raw}, ma.borrow, owner, sub, a.token, units, owner, debt=sym
            )

        @rule(acct=account_st, pick=pick_st, bps=bps_st, everything=st.booleans())
        def repay(self, acct, pick, bps, everything):
            owner, sub = accounts[acct]
            raws = market.refresh().raw_balances(owner, sub)
            owing = [s for s in SYMBOLS if raws[s] < 0]
            if not owing:
                return
            sym = owing[pick % len(owing)]
            a, raw, index = assets[sym], raws[sym], market.indices[sym]
            owed = debt_tokens(-raw, index)
            wallet = int(a.token.balanceOf(owner))
            if everything and wallet >= owed:
                units = MAX_UINT
            else:
                units = min(max(1, owed * bps // 10_000), wallet)
            if units == 0:
                return
            burned, repaid = repay_at_most(-raw, index, owed, units)
            left = value_up(owed - repaid, market.prices[sym], market.params[sym].scale)
            floor = market.params[sym].min_debt_value
            outcome = revert_of(ma.repay, owner, sub, a.token, units, sender=owner)
            if repaid == 0:
                assert outcome == (
                    "RepayTooSmall",
                    {"amount": units, "minAmount": -(-index // WAD)},
                )
                seen["repay_refused"] += 1
                return
            if 0 < left < floor:
                assert outcome == ("DustRemaining", {"debtLeftValue": left, "minDebtValue": floor})
                seen["repay_refused"] += 1
                return
            assert outcome is None
            pin_next_block()
            ma.repay(owner, sub, a.token, units, sender=owner)
            assert int(ma.rawBalance(owner, sub, a.token)) == raw + burned
            assert int(a.token.balanceOf(owner)) == wallet - repaid
            seen["repay"] += 1

        @rule(
            owner_idx=st.integers(0, 1),
            from_sub=st.integers(0, 1),
            pick=pick_st,
            bps=st.integers(1, 13_000),
        )
        def transfer(self, owner_idx, from_sub, pick, bps):
            """Move collateral to the owner's other sub-account. Where that one owes the asset, the
            move repays it first under `repay`'s rules (a partial repayment moves only what it
            repays; below one scaled unit or leaving dust it is refused before anything else)."""
            owner, to_sub = traders[owner_idx], 1 - from_sub
            taken = self._collateral_out(owner, from_sub, pick, bps)
            if taken is None:
                return
            sym, _, units = taken
            args = (owner, from_sub, to_sub, assets[sym].token, units)
            moved = units
            dest = int(market.raw_balances(owner, to_sub)[sym])
            if dest < 0:
                index = market.indices[sym]
                owed = debt_tokens(-dest, index)
                _, repaid = repay_at_most(-dest, index, owed, units)
                left = value_up(owed - repaid, market.prices[sym], market.params[sym].scale)
                floor = market.params[sym].min_debt_value
                error = None
                if repaid == 0:
                    error = ("RepayTooSmall", {"amount": units, "minAmount": -(-index // WAD)})
                elif 0 < left < floor:
                    error = ("DustRemaining", {"debtLeftValue": left, "minDebtValue": floor})
                if error is not None:
                    assert revert_of(ma.transfer, *args, sender=owner) == error
                    seen["repay_refused"] += 1
                    return
                if repaid < owed:
                    moved = repaid
            raws = market.raw_balances(owner, from_sub)
            self._owner_action(owner, from_sub, {sym: raws[sym] - moved}, ma.transfer, *args)

        # ---------------------------------------------------------------- market and keeper
        @rule(sym=sym_st, factor=st.sampled_from(PRICE_FACTORS))
        def move_price(self, sym, factor):
            act.move_price(assets[sym], factor)

        @rule(seconds=st.sampled_from(WARPS))
        def warp(self, seconds):
            act.warp(seconds)
            act.refresh_feeds()

        def targets(self) -> list[tuple[Any, int, str, str, int]]:
            """(owner, sub, debt, collateral, debt owed) of every pair of every account, those of
            the liquidatable accounts first."""
            market.refresh()
            first, then = [], []
            for owner, sub in accounts:
                positions = market.positions(owner, sub)
                into = first if market.health(positions).liquidatable else then
                for d, dp in positions.items():
                    for c, cp in positions.items():
                        if dp.raw < 0 < cp.raw:
                            into.append((owner, sub, d, c, dp.tokens))
            return first + then

        @rule(pick=pick_st, repay=repay_st)
        def liquidate(self, pick, repay):
            """The keeper liquidates one (account, debt, collateral) pair, repaying `repay` bps of
            the debt or at most 2**256-1 (as much as the engine allows). Picks land mostly on the
            liquidatable accounts; a refusal (healthy, dust) must be the mirror's exact revert."""
            targets = self.targets()
            if not targets:
                return
            owner, sub, d, c, owed = targets[pick % len(targets)]
            max_repay = MAX_UINT256 if repay == MAX_UINT256 else max(1, owed * repay // 10_000)
            self.liquidate_one(owner, sub, d, c, max_repay)

        def liquidate_one(self, owner, sub, d, c, max_repay) -> None:
            step = bot.liquidate(owner, sub, assets[d], assets[c], max_repay)
            if step is None:
                seen["liquidate_refused"] += 1
                return
            seen["liquidate_max" if max_repay == MAX_UINT256 else "liquidate"] += 1
            check_liquidation(step)

        @rule(pair=st.integers(0, 5), duplicate=st.booleans())
        def liquidate_batch(self, pair, duplicate):
            """liquidateBatch over all four accounts for one (debt, collateral) pair (optionally one
            listed twice): the accounts that cannot be liquidated in it are skipped."""
            pairs = [(d, c) for d in SYMBOLS for c in SYMBOLS if d != c]
            d, c = pairs[pair % len(pairs)]
            targets = [*accounts, accounts[0]] if duplicate else list(accounts)
            done = bot.liquidate_batch(targets, assets[d], assets[c])
            if done:
                seen["liquidate_batch"] += 1
            for step in done:
                check_liquidation(step)

        # ---------------------------------------------------------------- invariants
        @invariant()
        def accounting(self):
            calls = []
            for sym in SYMBOLS:
                a = assets[sym]
                calls += [(ma.rawBalance, o, s, a.token) for o, s in accounts]
                calls += [
                    (a.token.balanceOf, ma),
                    (ma.totalCollateral, a.token),
                    (a.token.balanceOf, a.vault),
                    (a.vault.cash,),
                    (a.vault.totalBorrows,),
                    (a.vault.insuranceFund,),
                    (a.vault.totalAssets,),
                    (a.vault.borrowIndex,),
                ]
            values = batch_read(*calls)
            per_asset = len(calls) // len(SYMBOLS)
            tokens = tokens_everywhere()
            for i, sym in enumerate(SYMBOLS):
                chunk = values[i * per_asset : (i + 1) * per_asset]
                raws, rest = chunk[: len(accounts)], chunk[len(accounts) :]
                held, collateral, vault_tokens, cash, borrows, insurance, total, index = rest
                assert held == collateral == sum(r for r in raws if r > 0), sym
                assert vault_tokens == cash, sym
                assert cash + borrows - insurance == total, sym
                assert sum(debt_tokens(-r, index) for r in raws if r < 0) >= borrows, sym
                assert tokens[sym] == start[sym] + self.minted[sym], sym

    # Blocks one second apart: interest, and so every outcome, must not depend on machine speed.
    chain.provider.make_request("anvil_setBlockTimestampInterval", [1])
    try:
        _run(Protocol)
        _scripted_pass(Protocol(), act, market, accounts)
    finally:
        chain.provider.make_request("anvil_removeBlockTimestampInterval", [])
    return run


def test_random_action_sequences__any_order__accounting_invariants_hold(fuzz):
    # Every invariant above is asserted while the machine runs (fixture `fuzz`). Hypothesis's
    # sequences adapt to earlier outcomes, so which actions they hit is not fixed; the scripted
    # pass guarantees that every kind of checked action ran at least once.
    assert all(n > 0 for n in fuzz.seen.values()), fuzz.seen


def test_random_action_sequences__liquidation_never_grows_shortfall_nor_makes_solvent_insolvent(
    fuzz,
):
    assert fuzz.seen["partial_with_collateral_left"] > 0
    assert fuzz.health_drops == []


def _weth_price_for_health(market: Market, owner: Any, sub: int, health: int) -> Decimal:
    """WETH price (USD per whole token, 8 decimals as the feed takes it) at which the account's
    health is about `health`: bisection on the mirror, for an account whose health rises with the
    WETH price (long ETH)."""
    raws = market.raw_balances(owner, sub)

    def health_at(cents: int) -> int:
        market.prices["WETH"] = cents * 10**10  # 1e-8 USD -> USD WAD
        return market.health(market.positions(owner, sub, raws)).health

    lo, hi = 1, 10**6 * 10**8
    assert health_at(lo) < health <= health_at(hi), "the account is not long ETH"
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if health_at(mid) < health else (lo, mid)
    market.refresh()
    return Decimal(hi) / 10**8


def _scripted_pass(machine: Any, act: Any, market: Market, accounts: list[tuple[Any, int]]) -> None:
    """One fixed sequence through the same rules and invariants: borrow (accepted, refused, own
    collateral), withdraw, transfer, repay; after an ETH fall a batch (with a duplicate) that
    liquidates the long-ETH account, a refused liquidation of a healthy account; then the cross
    account at health 0.3: a partial liquidation (which keeps its health) and a full one; a borrow
    below the dust floor and a repayment that would leave dust, both refused."""
    steps = [
        (machine.opening_prices, {"wbtc": "1", "weth": "1.25"}),
        (machine.borrow, {"acct": 0, "pick": 0, "bps": 5_000}),
        (machine.borrow, {"acct": 0, "pick": 0, "bps": 13_000}),
        (machine.withdraw, {"acct": 0, "pick": 0, "bps": 5_000}),
        (machine.transfer, {"owner_idx": 0, "from_sub": 0, "pick": 0, "bps": 5_000}),
        (machine.repay, {"acct": 0, "pick": 0, "bps": 5_000, "everything": False}),
        # 99.9% of the USDC debt: what is left is below the $100 floor.
        (machine.repay, {"acct": 0, "pick": 0, "bps": 9_990, "everything": False}),
        # A first WBTC borrow by the long-ETH account, 0.01% of what its margin allows: a debt
        # below the floor.
        (machine.borrow, {"acct": 0, "pick": 1, "bps": 1}),
    ]
    try:
        for step, kwargs in steps:
            step(**kwargs)
            machine.accounting()
        # The cross account (trader2#0: WBTC + WETH against USDC) at health 0.3: repay 10%, then
        # as much as allowed.
        owner, sub = accounts[2]
        act.set_price(market.assets["WETH"], _weth_price_for_health(market, owner, sub, 3 * 10**17))
        positions = market.refresh().positions(owner, sub)
        assert 0 < market.health(positions).health < 4 * 10**17
        owed = positions["USDC"].tokens
        machine.liquidate_one(owner, sub, "USDC", "WETH", owed // 10)
        machine.accounting()
        machine.liquidate_one(owner, sub, "USDC", "WBTC", MAX_UINT256)
        machine.accounting()
        # ETH moves until the long-ETH account is at health 0.9; a batch liquidates it.
        act.set_price(
            market.assets["WETH"], _weth_price_for_health(market, *accounts[0], 9 * 10**17)
        )
        machine.liquidate_batch(pair=1, duplicate=True)  # USDC debt, WETH collateral
        machine.accounting()
        healthy = [
            t for t in machine.targets() if not market.health(market.positions(*t[:2])).liquidatable
        ]
        owner, sub, d, c, owed = healthy[0]
        machine.liquidate_one(owner, sub, d, c, owed)  # AccountHealthy
        machine.accounting()
    finally:
        machine.teardown()


def _run(machine: type[RuleBasedStateMachine]) -> None:
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=FUZZ_EXAMPLES or 10,
            stateful_step_count=FUZZ_STEPS or 15,
            deadline=None,
            database=None,
            derandomize=not FUZZ_EXAMPLES,
            suppress_health_check=list(HealthCheck),
        ),
    )
