"""Integer mirror of the on-chain margin math (MarginAccount and Liquidator).

Every formula and rounding direction matches the contracts exactly, so results agree to the wei
(tests cross-check this against the chain on many random accounts). Units:
    token amounts   token base units (int)
    prices, values  USD WAD: 1e18 = $1; a price is per whole token (10**decimals base units)
    factors         WAD: 0.05e18 = 5%

    equity E = sum(b_i * p_i)
    IMR      = sum(|b_i * p_i| * imf_i)
    MMR      = sum(|b_i * p_i| * mmf_i)

Collateral values round down; debt tokens, debt values and requirements round up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

WAD = 10**18
MAX_UINT256 = 2**256 - 1


def mul_div_down(a: int, b: int, d: int) -> int:
    """floor(a * b / d) for non-negative integers."""
    return a * b // d


def mul_div_up(a: int, b: int, d: int) -> int:
    """ceil(a * b / d) for non-negative integers."""
    return (a * b + d - 1) // d


@dataclass(frozen=True)
class Position:
    """One asset of an account, as stored on-chain.

    raw: positive = collateral (token units); negative = scaled debt (tokens = ceil(-raw * index / WAD)).
    """

    raw: int
    price: int  # USD WAD per whole token
    scale: int  # 10**decimals
    imf: int
    mmf: int
    index: int = WAD  # borrow index of the asset's vault (only used for debt)

    @property
    def tokens(self) -> int:
        """Size in token units: collateral, or debt rounded up."""
        if self.raw > 0:
            return self.raw
        return debt_tokens(-self.raw, self.index)

    @property
    def value(self) -> int:
        """Signed USD WAD value: collateral rounded down, debt rounded up."""
        if self.raw > 0:
            return mul_div_down(self.raw, self.price, self.scale)
        return -mul_div_up(self.tokens, self.price, self.scale)


@dataclass(frozen=True)
class Health:
    equity: int
    imr: int
    mmr: int

    @property
    def health(self) -> int:
        """equity / MMR in WAD; 0 when equity <= 0; MAX_UINT256 when MMR = 0 (as on-chain)."""
        if self.mmr == 0:
            return MAX_UINT256
        if self.equity <= 0:
            return 0
        return mul_div_down(self.equity, WAD, self.mmr)

    @property
    def liquidatable(self) -> bool:
        return self.equity < self.mmr

    @property
    def meets_initial(self) -> bool:
        return self.equity >= self.imr


def debt_tokens(scaled: int, index: int) -> int:
    """Debt in token units of a scaled debt, rounded up."""
    return mul_div_up(scaled, index, WAD)


def scaled_debt_for_borrow(amount: int, index: int) -> int:
    """Scaled debt added by borrowing `amount` (rounded up)."""
    return mul_div_up(amount, WAD, index)


def account_health(positions: Iterable[Position]) -> Health:
    """Equity, IMR and MMR of an account, exactly as MarginAccount._health computes them."""
    equity = imr = mmr = 0
    for pos in positions:
        value = pos.value
        abs_value = abs(value)
        equity += value
        imr += mul_div_up(abs_value, pos.imf, WAD)
        mmr += mul_div_up(abs_value, pos.mmf, WAD)
    return Health(equity=equity, imr=imr, mmr=mmr)


@dataclass(frozen=True)
class LiquidationQuote:
    repay: int
    seize: int
    insurance_fee: int
    shortfall_before: int
    shortfall_after: int


def quote_liquidation(
    *,
    health: Health,
    debt: Position,
    collateral: Position,
    max_repay: int,
    penalty: int,
    insurance_share: int,
) -> LiquidationQuote:
    """Fixed-penalty liquidation, exactly as Liquidator._quote prices it (no revert checks)."""
    bonus = WAD + penalty
    debt_amount = debt.tokens
    repay = min(max_repay, debt_amount)
    repay_value = mul_div_up(repay, debt.price, debt.scale)
    seize = mul_div_down(mul_div_down(repay_value, bonus, WAD), collateral.scale, collateral.price)
    if seize > collateral.raw:
        seize = collateral.raw
        collateral_value = mul_div_down(collateral.raw, collateral.price, collateral.scale)
        repay = min(
            mul_div_up(mul_div_up(collateral_value, WAD, bonus), debt.scale, debt.price),
            debt_amount,
        )
        repay_value = mul_div_up(repay, debt.price, debt.scale)
    fee = mul_div_up(mul_div_up(repay, penalty, WAD), insurance_share, WAD)
    seized_value = mul_div_up(seize, collateral.price, collateral.scale)
    before = health.mmr - health.equity
    after = (
        before
        + seized_value
        - repay_value
        - mul_div_down(repay_value, debt.mmf, WAD)
        - mul_div_down(seized_value, collateral.mmf, WAD)
    )
    return LiquidationQuote(repay, seize, fee, before, after)
