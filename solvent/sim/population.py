"""The accounts a replay opens: a seeded, documented distribution (same seed, same accounts).

Each account is one sub-account of one of the owners (`PER_OWNER` sub-accounts each):
- kind: 55% isolated long (collateral WETH or WBTC, debt USDC), 25% isolated short (collateral
  USDC, debt WETH or WBTC), 20% cross long (WETH and WBTC in one sub-account, debt USDC); assets
  the window does not price are left out (a WETH-only window has ETH longs and shorts only);
- size: collateral worth $2,000 to $200,000, log-uniform;
- leverage: the debt is `use` x the most the account could borrow at initial margin when it
  opens; `use` is uniform in [0.90, 0.99] for 40% of the accounts (borrowers at the limit) and in
  [0.30, 0.90] for the rest.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import Decimal

PER_OWNER = 5
SIZE_MIN_USD = 2_000
SIZE_MAX_USD = 200_000
AT_LIMIT_SHARE = 0.4
KINDS = (("long", 0.55), ("short", 0.25), ("cross", 0.20))


@dataclass(frozen=True)
class AccountPlan:
    owner: int  # index of the owner key
    sub_id: int
    kind: str  # long | short | cross
    collateral: dict[str, Decimal]  # symbol -> USD value deposited
    debt: str  # symbol borrowed
    use: Decimal  # share of the largest borrow initial margin allows, at opening

    @property
    def size_usd(self) -> Decimal:
        return sum(self.collateral.values(), Decimal(0))


def plan_accounts(
    n: int, seed: int, volatile: list[str], stable: str = "USDC"
) -> list[AccountPlan]:
    """`n` accounts over the `volatile` assets the window prices (module docstring)."""
    if n < 0:
        raise ValueError("the number of accounts must be >= 0")
    if not volatile:
        raise ValueError("a replay needs at least one volatile asset (WETH or WBTC)")
    rng = random.Random(seed)
    kinds = [k for k, _ in KINDS if k != "cross" or len(volatile) > 1]
    weights = [w for k, w in KINDS if k in kinds]
    plans = []
    for i in range(n):
        kind = rng.choices(kinds, weights)[0]
        size = Decimal(round(math.exp(rng.uniform(math.log(SIZE_MIN_USD), math.log(SIZE_MAX_USD)))))
        at_limit = rng.random() < AT_LIMIT_SHARE
        use = Decimal(
            str(round(rng.uniform(0.90, 0.99) if at_limit else rng.uniform(0.30, 0.90), 4))
        )
        asset = rng.choice(volatile)
        if kind == "long":
            collateral, debt = {asset: size}, stable
        elif kind == "short":
            collateral, debt = {stable: size}, asset
        else:
            split = Decimal(str(round(rng.uniform(0.3, 0.7), 2)))
            a, b = volatile[0], volatile[1]
            collateral = {
                a: (size * split).quantize(Decimal(1)),
                b: size - (size * split).quantize(Decimal(1)),
            }
            debt = stable
        plans.append(AccountPlan(i // PER_OWNER, i % PER_OWNER, kind, collateral, debt, use))
    return plans
