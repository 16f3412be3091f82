"""Liquidations as sequences (issue 7.1): random accounts, random splits, random time gaps, one or
two collaterals, debts of 6, 8 and 18 decimals, third-party keepers and self-liquidation, on the
real chain with live interest rates.

For every case the account is opened near its initial margin and a price move puts it at a random
health between -0.3 and 0.99. From that same state (a chain snapshot) the test runs:

  A. one maximal liquidation at the start (maxRepay = 2**256 - 1, the first collateral);
  B. the same total repayment split in two, with a time gap of 0 s to 1 h between the halves, and
     one liquidation of that total at the start and one at the end of the gap;
  C. a random sequence of 2-5 liquidations within one hour (random pairs, random sizes, random gaps,
     the owner liquidating itself in a third of the cases), then maximal ones until the account is
     safe or closed.

Properties (the issue's, with the rounding bound stated):
  1. The loss a sequence leaves (debt written off, plus any negative equity still on the account)
     is at most A's, plus the interest the account accrued during the sequence, plus
     ROUNDING_UNITS base units of the debt asset and of each collateral per liquidation. In
     particular an account solvent at the start ends with none beyond those.
  2. Splitting never pays the liquidator more per unit repaid (collateral value + tip - repayment -
     fee, at oracle prices) than one liquidation at the start or at the end of the gap.
  3. Self-liquidation never makes the owner richer than the insurance tips it was paid (it gets
     back at most its own equity, less the insurance fee).
  4. No liquidation lowers the account's health beyond whole-unit rounding.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pytest
from ape import chain

from solvent.risk import WAD, account_health, value_down, value_up
from tests.utils.chain import norm
from tests.utils.helpers import MAX_UINT
from tests.utils.liquidation import Owner, event_gain, liquidated, read_lens, view, written_off
from tests.utils.scenarios import Market

CASES = 24
SEED = 7_0701
ROUNDING_UNITS = 4  # base units per liquidation, of the debt asset and of each collateral
HOUR = 3600
# debt -> collaterals it is borrowed against (decimals: USDC 6, WBTC 8, WETH 18)
SHAPES = [
    ("USDC", ("WETH",)),
    ("USDC", ("WBTC",)),
    ("USDC", ("WETH", "WBTC")),
    ("WETH", ("WBTC",)),
    ("WETH", ("USDC",)),
    ("WBTC", ("WETH", "USDC")),
    ("WBTC", ("USDC",)),
]


@pytest.fixture(scope="module", autouse=True)
def funded(act, system, lender, keeper, accounts, deployer, ma, liquidator, trader):
    """Deep vaults (live rates), the keeper and the owner funded, and every vault's insurance fund
    holding enough to pay keeper tips."""
    liquidity = {"USDC": ("20000000", "50000"), "WBTC": ("300", "1"), "WETH": ("6000", "20")}
    for sym, (lend, insurance) in liquidity.items():
        a = system.asset(sym)
        act.lend(a, lender, lend)
        a.vault.fundInsurance(act.fund(a, deployer, insurance, spender=a.vault), sender=deployer)
        for who in (keeper, trader):
            act.fund(a, who, "1000000000")


@dataclass
class Case:
    debt: str
    colls: tuple[str, ...]
    owner: tuple[str, int]
    health: float


def _units(market: Market, sym: str, usd: float) -> int:
    return market.units_for_usd(sym, int(usd * 10**6) * 10**12)


def open_case(rng, system, act, market, owner: Owner, sub: int) -> Case:
    """An account of a random shape near its initial margin, then a price move to a random
    health in [-0.3, 0.99] (bisection on the risk mirror over a factor on its collateral prices,
    or on its debt price for a stable collateral)."""
    debt, colls = rng.choice(SHAPES)
    market.refresh()
    deposits = [(system.asset(c), _units(market, c, rng.uniform(2_000, 60_000))) for c in colls]
    coll_value = sum(value_down(u, market.prices[a.symbol], a.scale) for a, u in deposits)
    imf_c = max(market.params[c].imf for c in colls)
    imf_d = market.params[debt].imf
    borrow_value = coll_value * (WAD - imf_c) // (WAD + imf_d) * rng.randint(90, 99) // 100
    borrow = market.units_for_usd(debt, borrow_value)
    ref = owner.open(sub, deposits, [(system.asset(debt), borrow)])
    target = rng.uniform(-0.3, 0.99)
    moved = [c for c in colls if c != "USDC"] or [debt]
    down = moved != [debt]  # collateral falls, or the debt asset rises

    def health_at(factor: float) -> float:
        market.refresh()
        for sym in moved:
            market.prices[sym] = int(market.prices[sym] * factor)
        h = account_health(market.positions(*ref).values())
        return h.equity / h.mmr

    lo, hi = (0.05, 1.0) if down else (1.0, 20.0)
    for _ in range(40):
        mid = (lo + hi) / 2
        above = health_at(mid) > target
        if down:
            lo, hi = (lo, mid) if above else (mid, hi)
        else:
            lo, hi = (mid, hi) if above else (lo, mid)
    factor = (lo + hi) / 2
    for sym in moved:
        act.move_price(system.asset(sym), f"{factor:.12f}")
    market.refresh()
    return Case(debt, colls, ref, health_at(1.0))


@dataclass
class Outcome:
    """What a run of liquidations did, in USD WAD at the oracle prices it ran at."""

    gain: int  # liquidator: collateral value + tip - repayment - fee
    repaid: int  # debt units repaid
    written_off: int  # USD value of the debt written off
    equity_end: int
    interest: int  # USD value of the interest the account accrued during the run
    steps: int
    tips: int


class Runner:
    def __init__(self, system, market, liquidator_contract, ma) -> None:
        self.system, self.market, self.liq, self.ma = system, market, liquidator_contract, ma

    def debt_value(self, ref, debt: str) -> int:
        a = self.system.asset(debt)
        owed = -view(self.ma.balanceOf, *ref, a.token)
        return value_up(owed, view(self.system.oracle.price, a.token)[0], a.scale)

    def liquidate(self, ref, debt: str, coll: str, max_repay: int, by) -> tuple[int, int, int, int]:
        """One liquidation; returns (gain USD, repaid units, written-off USD, tip USD), and checks
        that health did not fall beyond whole-unit rounding."""
        d, c = self.system.asset(debt), self.system.asset(coll)
        h0 = view(self.ma.accountHealth, *ref)[3]
        tx = self.liq.liquidate(*ref, d.token, c.token, max_repay, 0, b"", sender=by)
        (ev,) = liquidated(tx, self.ma)
        pd = view(self.system.oracle.price, d.token)[0]
        pc = view(self.system.oracle.price, c.token)[0]
        gain = event_gain(ev, pd, d.scale, pc, c.scale)
        off = sum(
            value_up(o["amount"], view(self.system.oracle.price, o["asset"])[0], self._scale(o))
            for o in written_off(tx, self.ma)
        )
        _, _, mmr1, h1 = view(self.ma.accountHealth, *ref)
        if mmr1 > 0:
            units = ROUNDING_UNITS * (value_up(1, pd, d.scale) + value_up(1, pc, c.scale))
            assert h1 >= h0 - units * WAD // mmr1 - 1, f"health fell {h0} -> {h1} ({ref})"
        return gain, ev["repaid"], off, value_down(ev["insuranceTip"], pd, d.scale)

    def _scale(self, off: dict[str, Any]) -> int:
        return next(a.scale for a in self.system.assets.values() if norm(a.token) == off["asset"])

    def warp(self, act, seconds: int) -> None:
        if seconds:
            act.warp(seconds)
            act.refresh_feeds()


def run_sequence(runner: Runner, act, rng, case: Case, by, *, max_steps: int) -> Outcome:
    """C: 2-`max_steps` random liquidations within an hour, then maximal ones until safe."""
    ref, ma = case.owner, runner.ma
    gain = repaid = off = tips = interest = 0
    steps, spent = 0, 0
    for n in range(rng.randint(2, max_steps) + 4):
        if not view(ma.isLiquidatable, *ref) or not view(ma.accountAssets, *ref):
            break
        (lens,) = read_lens(runner.liq, [ref])
        ok = lens.ok_pairs()
        if not ok:
            break
        pair = rng.choice(ok) if n < max_steps else max(ok, key=lambda p: p.seize)
        symbol = {norm(a.token): a.symbol for a in runner.system.assets.values()}
        size = (
            MAX_UINT
            if n >= max_steps or rng.random() < 0.3
            else max(1, pair.max_repay * rng.randint(5, 95) // 100)
        )
        g, r, o, t = runner.liquidate(ref, symbol[pair.debt], symbol[pair.collateral], size, by)
        gain, repaid, off, tips, steps = gain + g, repaid + r, off + o, tips + t, steps + 1
        gap = rng.choice([0, 0, 12, 300, 1800]) if spent < HOUR else 0
        gap = min(gap, HOUR - spent)
        if gap:
            before = runner.debt_value(ref, case.debt) if view(ma.accountAssets, *ref) else 0
            runner.warp(act, gap)
            spent += gap
            after = runner.debt_value(ref, case.debt) if view(ma.accountAssets, *ref) else 0
            interest += max(after - before, 0)
    equity_end = view(ma.accountHealth, *ref)[0]
    return Outcome(gain, repaid, off, equity_end, interest, steps, tips)


def signed_value(system, sym: str, units: int) -> int:
    """USD WAD value of a signed token amount (gains rounded down, losses up)."""
    a = system.asset(sym)
    price = view(system.oracle.price, a.token)[0]
    return value_down(units, price, a.scale) if units >= 0 else -value_up(-units, price, a.scale)


def loss(o: Outcome) -> int:
    """What the lenders and the insurance fund are owed that nobody will pay."""
    return o.written_off + max(-o.equity_end, 0)


def rounding(runner: Runner, case: Case, steps: int) -> int:
    units = 0
    for sym in (case.debt, *case.colls):
        a = runner.system.asset(sym)
        units += value_up(1, view(runner.system.oracle.price, a.token)[0], a.scale)
    return ROUNDING_UNITS * max(steps, 1) * units


def test_liquidation_sequences__random_splits_gaps_and_self_liquidation__never_worse_than_one(
    system, act, ma, liquidator, keeper, trader, deployer, accounts
):
    rng = random.Random(SEED)
    market = Market(system)
    runner = Runner(system, market, liquidator, ma)
    owner = Owner(system, trader, deployer)
    seen = {"solvent": 0, "insolvent": 0, "self": 0, "two_collaterals": 0, "split_gap": 0}
    for i in range(CASES):
        base = chain.snapshot()
        case = open_case(rng, system, act, market, owner, 1 + i)
        e0 = view(ma.accountHealth, *case.owner)[0]
        if not view(ma.isLiquidatable, *case.owner):
            chain.restore(base)
            continue
        seen["solvent" if e0 > 0 else "insolvent"] += 1
        seen["two_collaterals"] += len(case.colls) == 2
        start = chain.snapshot()
        wealth0 = {sym: int(system.asset(sym).token.balanceOf(trader)) for sym in system.assets}
        (lens,) = read_lens(liquidator, [case.owner])
        first = next(
            p for p in lens.ok_pairs() if p.collateral == norm(system.asset(case.colls[0]).token)
        )

        # A: one maximal liquidation now, on the first collateral.
        g_a, r_a, off_a, _ = runner.liquidate(
            case.owner, case.debt, case.colls[0], MAX_UINT, keeper
        )
        single = Outcome(g_a, r_a, off_a, view(ma.accountHealth, *case.owner)[0], 0, 1, 0)
        chain.restore(start)
        start = chain.snapshot()

        # B: the same pair, the first half now and the second after a gap, against one
        # liquidation of the total now and one at the end of the gap.
        total = max(2, first.max_repay * rng.randint(30, 100) // 100)
        half = max(1, total * rng.randint(20, 80) // 100)
        gap = rng.choice([0, 1, 60, 900, HOUR])
        seen["split_gap"] += gap > 0
        g0, r0, _, _ = runner.liquidate(case.owner, case.debt, case.colls[0], total, keeper)
        chain.restore(start)
        start = chain.snapshot()
        runner.warp(act, gap)
        g1, r1, _, _ = runner.liquidate(case.owner, case.debt, case.colls[0], total, keeper)
        chain.restore(start)
        start = chain.snapshot()
        gs1, rs1, _, _ = runner.liquidate(case.owner, case.debt, case.colls[0], half, keeper)
        runner.warp(act, gap)
        gs2 = rs2 = 0
        if (
            view(ma.isLiquidatable, *case.owner)
            and view(ma.balanceOf, *case.owner, system.asset(case.colls[0]).token) > 0
        ):
            gs2, rs2, _, _ = runner.liquidate(
                case.owner, case.debt, case.colls[0], total - rs1, keeper
            )
        per_unit = max(g0 * WAD // r0, g1 * WAD // r1)
        assert (gs1 + gs2) <= (rs1 + rs2) * per_unit // WAD + rounding(runner, case, 2), (
            f"split paid more per unit: {gs1 + gs2} for {rs1 + rs2} vs {g0}/{r0}, {g1}/{r1}"
        )
        chain.restore(start)

        # C: a random sequence within an hour, by the owner itself in a third of the cases.
        by_owner = rng.random() < 1 / 3
        seen["self"] += by_owner
        seq = run_sequence(runner, act, rng, case, trader if by_owner else keeper, max_steps=5)
        bound = loss(single) + seq.interest + rounding(runner, case, seq.steps)
        assert loss(seq) <= bound, (i, case, single, seq)
        if e0 > 0:
            assert loss(seq) <= seq.interest + rounding(runner, case, seq.steps), (i, case, seq)
        if by_owner:
            # The owner's wealth: its tokens at oracle prices plus what its account is worth to it,
            # max(equity, 0) (an owner walks away from an insolvent account: limited liability).
            moved = {s: int(system.asset(s).token.balanceOf(trader)) - wealth0[s] for s in wealth0}
            tokens = sum(signed_value(system, s, v) for s, v in moved.items())
            gained = tokens + max(seq.equity_end, 0) - max(e0, 0)
            assert gained <= seq.tips + rounding(runner, case, seq.steps), (i, case, gained, seq)
        chain.restore(base)
    print(f"\nsequences: {seen}")
    assert seen["solvent"] >= 8 and seen["insolvent"] >= 2, seen
    assert seen["self"] >= 3 and seen["two_collaterals"] >= 3 and seen["split_gap"] >= 5, seen
