"""Parity: solvent.risk against the chain, to the wei, on many random accounts and markets.

Each seed opens 20 accounts over six traders and four sub-account ids (including the largest
uint96): random deposits in 1-3 assets, then random borrows in the other assets sized with the
mirror, some of them beyond the initial margin on purpose. The mirror must predict every borrow's
outcome (success, or InsufficientMargin with the exact equity and requirement) and then, through a
crash, months of interest and a pump, every account's equity, IMR, MMR and health, every
liquidation snapshot and every liquidation quote of the liquidatable accounts.
"""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from solvent.risk import WAD
from tests.utils.scenarios import as_tuple, chain_health, pin_next_block, revert_of

SEEDS = (7, 2024)
ACCOUNTS = 20
SUBS = (0, 1, 42, 2**96 - 1)
LIQUIDITY = {"USDC": "5000000", "WBTC": "200", "WETH": "5000"}
TRADER_FUNDS = {"USDC": "10000000", "WBTC": "300", "WETH": "10000"}


@pytest.fixture
def traders(accounts):
    return [accounts[i] for i in (2, 3, 5, 6, 7, 8)]


def _open_book(rng, system, act, ma, market, traders):
    """Open the random accounts; returns them and the number of borrows refused as predicted."""
    symbols = list(system.assets)
    book, refused, attempts = [], 0, 0
    for i in range(ACCOUNTS):
        owner, sub = traders[i % len(traders)], SUBS[i // len(traders)]
        book.append((owner, sub))
        collateral = rng.sample(symbols, rng.choice((1, 1, 2, 2, 3)))
        for sym in collateral:
            units = market.units_for_usd(sym, rng.randint(500 * WAD, 150_000 * WAD))
            ma.deposit(owner, sub, system.asset(sym).token, units, sender=owner)
        others = [s for s in symbols if s not in collateral]
        for sym in rng.sample(others, rng.randint(min(1, len(others)), len(others))):
            market.refresh()
            positions = market.positions(owner, sub)
            before = market.health(positions)
            imf = market.factors[sym][1]
            # Largest debt value keeping equity >= IMR: headroom / (1 + imf); every fourth attempt
            # goes past it.
            most = (before.equity - before.imr) * WAD // (WAD + imf)
            attempts += 1
            bps = rng.randint(10_050, 13_000) if attempts % 4 == 0 else rng.randint(6_000, 9_900)
            units = market.units_for_usd(sym, most * bps // 10_000)
            if units == 0:
                continue
            after = dict(positions)
            after[sym] = market.position(sym, -market.scaled_borrow(sym, units))
            predicted = market.health(after)
            token = system.asset(sym).token
            if predicted.meets_initial:
                pin_next_block()
                ma.borrow(owner, sub, token, units, owner, sender=owner)
                assert chain_health(ma, owner, sub) == as_tuple(predicted)
            else:
                assert revert_of(ma.borrow, owner, sub, token, units, owner, sender=owner) == (
                    "InsufficientMargin",
                    {"equity": predicted.equity, "required": predicted.imr},
                )
                refused += 1
    return book, refused


def _check_book(rng, system, ma, liquidator, market, keeper_bot, book) -> tuple[int, int]:
    """Assert chain == mirror on every account; returns (liquidatable accounts, quotes checked)."""
    market.refresh()
    liquidatable = quotes = 0
    for owner, sub in book:
        positions = market.positions(owner, sub)
        mirror = market.health(positions)
        assert chain_health(ma, owner, sub) == as_tuple(mirror), (owner, sub)
        assert bool(ma.isLiquidatable(owner, sub)) == mirror.liquidatable
        if not mirror.liquidatable:
            continue
        liquidatable += 1
        debts = [s for s, p in positions.items() if p.raw < 0]
        collaterals = [s for s, p in positions.items() if p.raw > 0]
        for d in debts:
            for c in collaterals:
                debt, coll = system.asset(d), system.asset(c)
                snap = ma.liquidationSnapshot(owner, sub, debt.token, coll.token)
                assert (snap.equity, snap.mmr) == (mirror.equity, mirror.mmr)
                assert (snap.debt, snap.debtPrice) == (positions[d].tokens, positions[d].price)
                assert (snap.collateral, snap.collateralPrice) == (
                    positions[c].raw,
                    positions[c].price,
                )
                owed = positions[d].tokens
                for max_repay in (rng.randint(1, owed), owed, 2 * owed + rng.randint(0, 10**6)):
                    q = keeper_bot.mirror_quote(positions, debt, coll, max_repay)
                    on_chain = liquidator.quote(owner, sub, debt.token, coll.token, max_repay)
                    assert tuple(int(x) for x in on_chain) == (q.repay, q.seize, q.insurance_fee)
                    quotes += 1
    return liquidatable, quotes


def _move_prices(rng, act, system, lo: int, hi: int) -> None:
    """Multiply each non-USDC price by a random factor in [lo, hi] bps; USDC wobbles by 1%."""
    for sym, a in system.assets.items():
        bps = rng.randint(9_900, 10_100) if sym == "USDC" else rng.randint(lo, hi)
        act.move_price(a, str(Decimal(bps) / 10_000))


@pytest.mark.parametrize("seed", SEEDS)
def test_account_health_and_quotes__random_accounts_and_markets__chain_equals_mirror(
    seed, system, act, ma, liquidator, market, keeper_bot, lender, traders
):
    rng = random.Random(seed)
    for sym, liquidity in LIQUIDITY.items():
        act.lend(system.asset(sym), lender, liquidity)
    for t in traders:
        for sym, funds in TRADER_FUNDS.items():
            act.fund(system.asset(sym), t, funds)

    book, refused = _open_book(rng, system, act, ma, market, traders)
    assert refused >= 1  # some borrows were refused exactly as the mirror predicted
    opened = _check_book(rng, system, ma, liquidator, market, keeper_bot, book)
    assert opened == (0, 0)  # every account was opened within its initial margin

    # Crash: minutes pass, WBTC and WETH fall 10-50%, USDC wobbles.
    act.warp(rng.randint(60, 3_000))
    _move_prices(rng, act, system, 5_000, 9_000)
    crashed = _check_book(rng, system, ma, liquidator, market, keeper_bot, book)

    # Four months of interest, then WBTC and WETH pump 20-100% (shorts suffer).
    act.warp(120 * 86_400)
    act.refresh_feeds()
    _move_prices(rng, act, system, 12_000, 20_000)
    pumped = _check_book(rng, system, ma, liquidator, market, keeper_bot, book)

    assert crashed[0] + pumped[0] >= 3
    assert crashed[1] + pumped[1] >= 9
