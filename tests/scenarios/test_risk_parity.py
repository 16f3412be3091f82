"""Parity: solvent.risk against the chain, to the wei, on many random accounts and markets.

Each seed opens 20 accounts over six traders and four sub-account ids (including the largest
uint96): random deposits in 1-3 assets (a few of them small, so that debts come close to the dust
floor), then random borrows in the other assets sized with the mirror, some of them beyond the
initial margin on purpose. The mirror must predict every borrow's outcome (success, or
InsufficientMargin with the exact equity and requirement) and then, through a crash, months of
interest and a pump:
  * every account's equity, IMR, MMR and health, and `Liquidator.lens` of the whole book (status,
    repay, seize, insurance fee and discount of every pair);
  * every liquidation snapshot, and `Liquidator.quote` of every pair of the liquidatable accounts
    for repay bounds around the target cap, the dust floor and the whole debt (up to 2**256-1),
    or its exact revert (DustRemaining, AccountHealthy, NoCollateral, ZeroAmount, SameAsset);
  * liquidations (single and batch) executed from those quotes, with their events, balances,
    vault books and bad-debt write-offs (tests/utils/scenarios.Keeper).
Views are read at the latest block and every transaction is pinned to its timestamp, so no
interest accrues between a read and the call it is compared with.
"""

from __future__ import annotations

import random
from collections import defaultdict
from decimal import Decimal

import pytest

from solvent.risk import (
    MAX_UINT256,
    WAD,
    Status,
    account_lens,
    liquidation_snapshot,
    target_repay_cap,
    value_up,
)
from tests.utils.scenarios import as_tuple, chain_health, pin_next_block, revert_of

SEEDS = (7, 2024)
ACCOUNTS = 20
SUBS = (0, 1, 42, 2**96 - 1)
LIQUIDITY = {"USDC": "5000000", "WBTC": "200", "WETH": "5000"}
TRADER_FUNDS = {"USDC": "10000000", "WBTC": "300", "WETH": "10000"}


@pytest.fixture
def traders(accounts):
    return [accounts[i] for i in (2, 3, 5, 6, 7, 8)]


def _open_book(rng, system, act, ma, market, traders, stats):
    """Open the random accounts; returns them and the number of borrows refused as predicted
    (beyond the initial margin, or leaving a debt below the dust floor: counted in `stats`)."""
    symbols = list(system.assets)
    book, refused, attempts = [], 0, 0
    for i in range(ACCOUNTS):
        owner, sub = traders[i % len(traders)], SUBS[i // len(traders)]
        book.append((owner, sub))
        small = i % 5 == 4  # every fifth account is small: its debts sit near the dust floor
        # (so it keeps an asset to borrow: at most two collaterals)
        collateral = rng.sample(symbols, rng.choice((1, 1, 2, 2) if small else (1, 1, 2, 2, 3)))
        for sym in collateral:
            usd = rng.randint(150, 600) if small else rng.randint(500, 150_000)
            units = market.units_for_usd(sym, usd * WAD)
            ma.deposit(owner, sub, system.asset(sym).token, units, sender=owner)
        others = [s for s in symbols if s not in collateral]
        borrows = rng.sample(others, rng.randint(min(1, len(others)), len(others)))
        if small and borrows:
            borrows.insert(0, None)  # first a debt of half the floor: refused as dust
        for sym in borrows:
            dust_try = sym is None
            sym = sym or borrows[1]
            market.refresh()
            positions = market.positions(owner, sub)
            before = market.health(positions)
            imf = market.params[sym].imf
            # Largest debt value keeping equity >= IMR: headroom / (1 + imf); every fourth attempt
            # goes past it.
            most = (before.equity - before.imr) * WAD // (WAD + imf)
            attempts += 1
            bps = rng.randint(10_050, 13_000) if attempts % 4 == 0 else rng.randint(6_000, 9_900)
            usd = market.params[sym].min_debt_value // 2 if dust_try else most * bps // 10_000
            units = market.units_for_usd(sym, usd)
            if units == 0:
                continue
            after = dict(positions)
            after[sym] = market.position(sym, -market.scaled_borrow(sym, units))
            predicted = market.health(after)
            token = system.asset(sym).token
            debt_value, floor = -after[sym].value, market.params[sym].min_debt_value
            if predicted.meets_initial and debt_value >= floor:
                pin_next_block()
                ma.borrow(owner, sub, token, units, owner, sender=owner)
                assert chain_health(ma, owner, sub) == as_tuple(predicted)
            elif not predicted.meets_initial:
                assert revert_of(ma.borrow, owner, sub, token, units, owner, sender=owner) == (
                    "InsufficientMargin",
                    {"equity": predicted.equity, "required": predicted.imr},
                )
                refused += 1
            else:  # within margin, but a debt below the dust floor
                assert revert_of(ma.borrow, owner, sub, token, units, owner, sender=owner) == (
                    "DustRemaining",
                    {"debtLeftValue": debt_value, "minDebtValue": floor},
                )
                stats["DustRemaining"] += 1
                stats["dust_borrows"] += 1
                refused += 1
    return book, refused


def _repay_bounds(rng, debt: int, cap: int, dust_units: int) -> list[int]:
    """Repay bounds around everything the pricing branches on: 1, random, the target cap and its
    neighbours, just short of the whole debt and of the dust floor, the debt, 2**256-1."""
    bounds = {1, rng.randint(1, debt), debt, debt + 1, MAX_UINT256, max(1, debt - 1)}
    if 0 < cap < MAX_UINT256:
        bounds |= {cap, max(1, cap - 1), cap + 1}
    if 0 < dust_units < debt:
        # Repayments clear whole scaled units, up to ceil(index) + 1 base units short of the bound:
        # the first bounds past the floor that really leave dust are a few units further.
        bounds |= {debt - dust_units + k for k in range(4)}
    return sorted(bounds)


def _check_book(rng, system, ma, liquidator, market, keeper_bot, book, stats) -> list:
    """Assert chain == mirror on every account, its lens entry and every quote of its pairs.
    Returns the liquidatable accounts with their mirror lens."""
    market.refresh()
    params = keeper_bot.params
    lenses = market.chain_lens(liquidator, book)
    liquidatable = []
    for (owner, sub), chain_lens in zip(book, lenses, strict=True):
        positions = market.positions(owner, sub)
        mirror = market.health(positions)
        assert chain_health(ma, owner, sub) == as_tuple(mirror), (owner, sub)
        assert bool(ma.isLiquidatable(owner, sub)) == mirror.liquidatable
        lens = account_lens(positions, params)
        assert chain_lens == lens, (owner, sub)
        for pair in lens.pairs:
            stats[pair.status] += 1
        if not mirror.liquidatable:
            if lens.pairs:  # quote refuses a healthy account with its equity and MMR
                pair = lens.pairs[0]
                debt, coll = system.asset(pair.debt_asset), system.asset(pair.collateral_asset)
                keeper_bot.check_quote(owner, sub, debt, coll, MAX_UINT256)
            continue
        liquidatable.append(((owner, sub), lens))
        for pair in lens.pairs:
            d, c = pair.debt_asset, pair.collateral_asset
            debt, coll = system.asset(d), system.asset(c)
            snap = liquidation_snapshot(positions, d, c)
            chain_snap = ma.liquidationSnapshot(owner, sub, debt.token, coll.token)
            assert (chain_snap.equity, chain_snap.mmr) == (mirror.equity, mirror.mmr)
            assert (chain_snap.debt, chain_snap.collateral) == (snap.debt, snap.collateral)
            assert (chain_snap.minDiscount, chain_snap.maxDiscount, chain_snap.minDebtValue) == (
                snap.min_discount,
                snap.max_discount,
                snap.min_debt_value,
            )
            cap = (
                target_repay_cap(snap, pair.discount, params.target_health)
                if snap.equity > 0
                else 0
            )
            dust_units = market.units_for_usd(d, snap.min_debt_value)
            for max_repay in _repay_bounds(rng, snap.debt, cap, dust_units):
                q, err = keeper_bot.check_quote(owner, sub, debt, coll, max_repay)
                stats["quotes"] += 1
                stats["reverts" if err else "ok_quotes"] += 1
                if err:
                    stats[err[0]] += 1
                if err is None:
                    _check_quote_properties(market, positions, d, c, q, params, snap, max_repay)
        # Errors that do not depend on the pair's pricing.
        pair = lens.pairs[0] if lens.pairs else None
        if pair is not None:
            debt, coll = system.asset(pair.debt_asset), system.asset(pair.collateral_asset)
            keeper_bot.check_quote(owner, sub, debt, coll, 0)  # ZeroAmount
            keeper_bot.check_quote(owner, sub, debt, debt, 1)  # SameAsset
            keeper_bot.check_quote(owner, sub, coll, debt, 1)  # NothingToRepay
            absent = [s for s in system.assets if s not in positions]
            if absent:
                keeper_bot.check_quote(owner, sub, debt, system.asset(absent[0]), 1)  # NoCollateral
    return liquidatable


def _check_quote_properties(market, positions, d, c, q, params, snap, max_repay) -> None:
    """What every accepted quote guarantees, on the mirror's state after it: repay within the bound
    and exactly the fall in the debt, health not lower (but for whole-unit rounding), no dust left
    unless the seized collateral goes whole (the last one, or on an account still liquidatable),
    the target health reached when the target cap bound the repayment."""
    assert 0 < q.repay <= min(max_repay, snap.debt)
    assert q.seize <= snap.collateral
    raws = {s: p.raw for s, p in positions.items()}
    left = snap.debt - q.repay
    raws[d] = min(positions[d].raw + q.repay_scaled, 0)
    raws[c] -= q.seize
    after = market.positions(None, 0, raws)
    assert (after[d].tokens if d in after else 0) == left
    before_health, health = market.health(positions), market.health(after)
    if health.mmr > 0:
        units = 2 * value_up(1, snap.debt_price, snap.debt_scale) + value_up(
            1, snap.collateral_price, snap.collateral_scale
        )
        assert health.health >= before_health.health - units * WAD // health.mmr - 1
    left_value = value_up(left, snap.debt_price, snap.debt_scale)
    all_taken = q.seize == snap.collateral
    slack = (snap.debt_index // WAD + 2) * value_up(1, snap.debt_price, snap.debt_scale)
    if 0 < left_value < snap.min_debt_value:
        # Next to a collateral taken whole: the last one, on an account still liquidatable, or
        # where the debt was already within a scaled unit of the floor (never stuck).
        at_floor = (
            value_up(snap.debt, snap.debt_price, snap.debt_scale) < snap.min_debt_value + slack
        )
        assert all_taken and (snap.collateral_assets == 1 or health.liquidatable or at_floor), (
            d,
            c,
            q,
        )
    left_the_floor = snap.min_debt_value <= left_value <= snap.min_debt_value + slack
    capped = snap.equity > 0 and max_repay == MAX_UINT256 and not all_taken and left > 0
    if capped and not left_the_floor:
        # The target cap bound the repayment: equity is back to at least T * MMR.
        assert health.equity * WAD >= params.target_health * health.mmr, (d, c, q, health)


def _liquidate_some(rng, system, keeper_bot, liquidatable) -> int:
    """Execute one liquidation per liquidatable account (random OK pair, random repay bound)."""
    done = 0
    for (owner, sub), lens in liquidatable:
        ok = [p for p in lens.pairs if p.status == Status.OK]
        if not ok:
            continue
        pair = rng.choice(ok)
        bound = rng.choice((MAX_UINT256, pair.max_repay, max(1, pair.max_repay // 2)))
        step = keeper_bot.liquidate(
            owner, sub, system.asset(pair.debt_asset), system.asset(pair.collateral_asset), bound
        )
        done += step is not None
    return done


def _liquidate_batch(system, keeper_bot, liquidatable, book) -> int:
    """liquidateBatch on the pair the most accounts can be liquidated in, with a duplicate and a
    healthy or unrelated account mixed in (skipped)."""
    groups = defaultdict(list)
    for account, lens in liquidatable:
        for p in lens.pairs:
            if p.status == Status.OK:
                groups[(p.debt_asset, p.collateral_asset)].append(account)
    if not groups:
        return 0
    (d, c), accounts = max(groups.items(), key=lambda kv: (len(kv[1]), kv[0]))
    others = [a for a in book if a not in accounts][:1]
    targets = [*accounts, accounts[0], *others]
    done = keeper_bot.liquidate_batch(targets, system.asset(d), system.asset(c))
    # The duplicate is priced on what its first liquidation left: usually healthy (skipped).
    assert len(accounts) <= len(done) <= len(accounts) + 1
    return len(done)


def _move_prices(rng, act, system, lo: int, hi: int) -> None:
    """Multiply each non-USDC price by a random factor in [lo, hi] bps; USDC wobbles by 1%."""
    for sym, a in system.assets.items():
        bps = rng.randint(9_900, 10_100) if sym == "USDC" else rng.randint(lo, hi)
        act.move_price(a, str(Decimal(bps) / 10_000))


@pytest.mark.parametrize("seed", SEEDS)
def test_health_lens_and_quotes__random_accounts_and_markets__chain_equals_mirror(
    seed, system, act, ma, liquidator, market, keeper_bot, keeper, lender, traders
):
    rng = random.Random(seed)
    for sym, liquidity in LIQUIDITY.items():
        act.lend(system.asset(sym), lender, liquidity)
    for t in (*traders, keeper):
        for sym, funds in TRADER_FUNDS.items():
            act.fund(system.asset(sym), t, funds)
    stats: dict = defaultdict(int)  # DustRemaining: refused borrows and refused quotes alike

    book, refused = _open_book(rng, system, act, ma, market, traders, stats)
    assert refused >= 1  # some borrows were refused exactly as the mirror predicted
    assert _check_book(rng, system, ma, liquidator, market, keeper_bot, book, stats) == []

    # Crash: minutes pass, WBTC and WETH fall 10-50%, USDC wobbles; liquidate one pair of each.
    act.warp(rng.randint(60, 3_000))
    _move_prices(rng, act, system, 5_000, 9_000)
    crashed = _check_book(rng, system, ma, liquidator, market, keeper_bot, book, stats)
    liquidated = _liquidate_some(rng, system, keeper_bot, crashed)
    _check_book(rng, system, ma, liquidator, market, keeper_bot, book, stats)

    # Four months of interest, then WBTC and WETH pump 20-100% (shorts suffer); one batch.
    act.warp(120 * 86_400)
    act.refresh_feeds()
    _move_prices(rng, act, system, 12_000, 20_000)
    pumped = _check_book(rng, system, ma, liquidator, market, keeper_bot, book, stats)
    batched = _liquidate_batch(system, keeper_bot, pumped, book)
    _check_book(rng, system, ma, liquidator, market, keeper_bot, book, stats)

    assert len(crashed) + len(pumped) >= 3
    assert liquidated >= 2 and batched >= 1
    # The dust rule was exercised on both sides: borrows (every small account tries one) and quotes.
    dust_quotes = stats["DustRemaining"] - stats["dust_borrows"]
    assert stats["ok_quotes"] >= 30 and stats["dust_borrows"] >= 4 and dust_quotes >= 2, dict(stats)
    assert stats[Status.OK] >= 3 and stats[Status.HEALTHY] >= 10, dict(stats)
