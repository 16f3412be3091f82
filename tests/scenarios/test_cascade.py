"""Cascade: fifty accounts of varied leverage, one crash, and a keeper that liquidates with
`liquidateBatch`, driven by the lens, until nothing is liquidatable. Afterwards nobody is below
maintenance, nobody owes dust, every token is where the books say, and the bad debt is reported.

The vaults' rates are frozen after a year of interest (borrow indices above 1.0, small insurance
funds), so the lens read before a round prices the round's batches exactly and the books move by
exactly what the events say.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from typing import Any

import pytest

from solvent.deploy import DeployedAsset
from solvent.risk import WAD
from solvent.units import from_wad
from tests.utils.chain import norm
from tests.utils.helpers import seed_frozen_market
from tests.utils.liquidation import (
    Owner,
    account_debts,
    books,
    liquidated,
    read_lens,
    usd_up,
    view,
    written_off,
)

OWNERS = (2, 3, 7, 8, 9)  # test accounts owning the sub-accounts (0, 1, 4, 5, 6 have other roles)
SUBS = 10
SEED = 7_311
CRASH = {"WETH": "0.75", "WBTC": "0.8"}  # ETH -25%, BTC -20%
MAX_ROUNDS = 10

# Shapes of account: collateral -> debt (USD weights), opened at `leverage` of what the initial
# margin allows. Longs of ETH and BTC against USDC, cross-asset longs, diversified collateral and
# shorts (which the crash helps).
SHAPES = [
    ({"WETH": 1}, {"USDC": 1}),
    ({"WBTC": 1}, {"USDC": 1}),
    ({"WETH": 1, "WBTC": 1}, {"USDC": 1}),
    ({"WETH": 1}, {"USDC": 2, "WBTC": 1}),
    ({"WBTC": 2, "USDC": 1}, {"WETH": 1}),
    ({"WETH": 3, "WBTC": 1}, {"USDC": 1}),
    ({"USDC": 1}, {"WETH": 1}),
]


@pytest.fixture(scope="module", autouse=True)
def seeded(act, system, lender, accounts, deployer, keeper, usdc, wbtc, weth, ma, liquidator):
    """Liquidity, a year of interest on a seeder's borrows, frozen rates; the keeper holds every
    asset and approved the MarginAccount."""
    seed_frozen_market(act, lender, accounts[6], deployer)
    act.lend(usdc, lender, "20000000")
    act.lend(wbtc, lender, "300")
    act.lend(weth, lender, "6000")
    for a in (usdc, wbtc, weth):
        act.fund(a, keeper, "100000000")


def open_book(system: Any, act: Any, accounts: Any, deployer: Any) -> list[tuple[str, int]]:
    """Fifty sub-accounts (five owners x ten), each a random shape with $3,000-100,000 of
    collateral, borrowing 85-99.5% of the debt the initial margin allows (60% of them) or 30-85%."""
    assets = system.assets
    rng = random.Random(SEED)
    prices = {s: act.price(a) / WAD for s, a in assets.items()}
    imf = {s: a.spec.imf / WAD for s, a in assets.items()}
    opened = []
    for o in OWNERS:
        owner = Owner(system, accounts[o], deployer)
        for sub in range(1, SUBS + 1):
            colls, debts = rng.choice(SHAPES)
            size = rng.uniform(3_000, 100_000)
            coll_usd = {s: size * w / sum(colls.values()) for s, w in colls.items()}
            # Debt the initial margin allows: sum(C * (1 - imf_c)) = sum(D * (1 + imf_d)).
            room = sum(v * (1 - imf[s]) for s, v in coll_usd.items())
            per_weight = sum(w * (1 + imf[s]) for s, w in debts.items())
            leverage = rng.uniform(0.85, 0.995) if rng.random() < 0.6 else rng.uniform(0.3, 0.85)
            debt_usd = {s: w * room * leverage / per_weight for s, w in debts.items()}
            opened.append(
                owner.open(
                    sub,
                    [(assets[s], units(assets[s], v, prices[s])) for s, v in coll_usd.items()],
                    [(assets[s], units(assets[s], v, prices[s])) for s, v in debt_usd.items()],
                )
            )
    return opened


def units(asset: DeployedAsset, usd: float, price: float) -> int:
    return int(usd / price * asset.scale)


def test_cascade__crash_then_batch_liquidations__nothing_liquidatable_no_dust_books_balance(
    system, act, ma, liquidator, keeper, accounts, deployer
):
    assets = system.assets
    by_address = {norm(a.token): a for a in assets.values()}
    book = open_book(system, act, accounts, deployer)
    seeder = accounts[6].address
    everyone = [*book, (seeder, 0), (seeder, 1)]  # every account that holds or owes anything
    assert len(book) == 50 and not any(view(ma.isLiquidatable, *acct) for acct in book)
    gap0 = {
        s: account_debts(ma, a, everyone) - view(a.vault.totalBorrows) for s, a in assets.items()
    }
    before = books(system)

    for symbol, factor in CRASH.items():
        act.move_price(assets[symbol], factor)
    prices = {norm(a.token): act.price(a) for a in assets.values()}
    hit = [acct for acct in book if view(ma.isLiquidatable, *acct)]
    insolvent = [acct for acct in book if view(ma.accountHealth, *acct)[0] <= 0]
    assert len(hit) >= 15 and len(insolvent) >= 3  # the crash is a cascade, with bad debt

    events: list[dict[str, Any]] = []
    offs: list[dict[str, Any]] = []
    rounds = 0
    while True:
        lens = dict(zip(book, read_lens(liquidator, book), strict=True))
        groups: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
        quoted = {}
        for acct, entry in lens.items():
            ok = entry.ok_pairs()
            if not entry.liquidatable or not ok:
                continue
            # The pair that repays the most value first.
            best = max(ok, key=lambda p: p.max_repay * prices[p.debt] // by_address[p.debt].scale)
            groups[(best.debt, best.collateral)].append(acct)
            quoted[acct] = best
        if not groups:
            break
        rounds += 1
        assert rounds <= MAX_ROUNDS, "the keeper is not converging"
        for (debt, coll), targets in sorted(groups.items()):
            tx = liquidator.liquidateBatch(targets, debt, coll, 0, sender=keeper)
            settled = liquidated(tx, ma)
            # Every target was OK in the lens of this round and nothing it depends on moved since
            # (frozen rates; each account is in one batch per round): the batch settles the lens.
            assert [(e["owner"], e["subId"]) for e in settled] == [(norm(o), s) for o, s in targets]
            for e, acct in zip(settled, targets, strict=True):
                q = quoted[acct]
                assert (e["repaid"], e["seized"], e["insuranceFee"], e["discount"]) == (
                    q.max_repay,
                    q.seize,
                    q.fee,
                    q.discount,
                )
                # The tip is the lens's unless the batch's earlier tips and write-offs emptied
                # the insurance fund first.
                assert e["insuranceTip"] <= q.tip
                assert e["health"] == lens[acct].health
            repaid, seized, count = (int(v) for v in tx.return_value)
            assert (repaid, seized, count) == (
                sum(e["repaid"] for e in settled),
                sum(e["seized"] for e in settled),
                len(targets),
            )
            events += settled
            offs += written_off(tx, ma)

    # Nothing is left liquidatable (a liquidatable account whose every pair is DUST would stop the
    # loop above and fail here).
    stuck = [(acct, lens[acct]) for acct in book if lens[acct].liquidatable]
    assert stuck == []
    assert not any(view(ma.isLiquidatable, *acct) for acct in book)

    # No dust: a debt is zero or worth at least its floor, and no debt sits on an account without
    # collateral (it was written off in the liquidation that took the last collateral).
    for acct in book:
        raw = {a: view(ma.rawBalance, *acct, a) for a in view(ma.accountAssets, *acct)}
        if raw:
            assert any(r > 0 for r in raw.values()), f"{acct} owes with no collateral: {raw}"
        for a, r in raw.items():
            if r < 0:
                owed = -view(ma.balanceOf, *acct, a)
                value = usd_up(owed, prices[a], by_address[a].scale)
                assert value >= by_address[a].spec.min_debt_value, f"{acct} dust {value}"

    # The books balance, asset by asset.
    after = books(system)
    report = {}
    for s, a in assets.items():
        b0, b1 = before[s], after[s]
        token = norm(a.token)
        # Tokens: the MarginAccount holds exactly the collateral it books, which is the sum of
        # every account's collateral; the vault holds exactly its cash.
        held = sum(max(view(ma.rawBalance, *acct, a.token), 0) for acct in everyone)
        assert b1.ma_tokens == b1.total_collateral == held
        assert b1.vault_tokens == b1.cash
        # Flows: exactly what the events say.
        paid = sum(e["repaid"] for e in events if e["debtAsset"] == token)
        fees = sum(e["insuranceFee"] for e in events if e["debtAsset"] == token)
        tips = sum(e["insuranceTip"] for e in events if e["debtAsset"] == token)
        seized = sum(e["seized"] for e in events if e["collateralAsset"] == token)
        bad = [o for o in offs if o["asset"] == token]
        written, covered = sum(o["amount"] for o in bad), sum(o["covered"] for o in bad)
        socialized = sum(o["socialized"] for o in bad)
        assert written == covered + socialized
        assert b1.total_collateral == b0.total_collateral - seized
        assert b1.cash == b0.cash + paid + fees - tips
        assert b1.total_borrows == b0.total_borrows - paid - written
        assert b1.insurance == b0.insurance + fees - tips - covered
        assert b1.total_assets == b0.total_assets - socialized
        # Debts against the vault's books. The accounts' debts (each ceil(scaled * index), what
        # the chain reports) never sum to less than totalBorrows. A liquidation's repayment is
        # exactly the fall in the account's debt and totalBorrows falls by the same amount; a
        # write-off takes the account's whole debt off both: with frozen rates the gap does not
        # move at all.
        gap = account_debts(ma, a, everyone) - view(a.vault.totalBorrows)
        assert gap == gap0[s] >= 0
        report[s] = (written, socialized, from_wad(usd_up(written, prices[token], a.scale)))

    total_bad_usd = sum(v[2] for v in report.values())
    kinds = Counter("write-off" if e["badDebt"] else "liquidation" for e in events)
    # No liquidation lowers an account's health (the discount is capped by the health-preserving
    # one), so an account still solvent after the crash can never end with bad debt, however many
    # liquidations it takes; only the accounts the crash made insolvent do.
    emptied = {(o["owner"], o["subId"]) for o in offs}
    solvent_emptied = [a for a in hit if a not in insolvent and (norm(a[0]), a[1]) in emptied]
    assert solvent_emptied == []
    assert emptied <= {(norm(o), s) for o, s in insolvent}
    print(
        f"\ncascade: {len(hit)} of {len(book)} accounts below maintenance after the crash "
        f"({len(insolvent)} insolvent); {len(events)} liquidations ({dict(kinds)}) in {rounds} "
        f"rounds; {len(solvent_emptied)} accounts solvent after the crash ended with bad debt; "
        f"bad debt written off: "
        + ", ".join(f"{s} {v[0]} units (${v[2]:.2f}, {v[1]} socialized)" for s, v in report.items())
        + f"; total ${total_bad_usd:.2f}"
    )
    assert total_bad_usd > 0
    assert all(e["discount"] <= by_address[e["collateralAsset"]].spec.max_discount for e in events)
