"""Integer mirror of the on-chain margin and liquidation math (MarginAccount and Liquidator).

Every formula and rounding direction matches the contracts exactly, so results agree to the wei
(tests cross-check this against the chain on many random accounts). Units:
    token amounts   token base units (int)
    prices, values  USD WAD: 1e18 = $1; a price is per whole token (10**decimals base units)
    factors         WAD: 0.05e18 = 5%

    equity E = sum(b_i * p_i)
    IMR      = sum(|b_i * p_i| * imf_i)
    MMR      = sum(|b_i * p_i| * mmf_i)
    health h = E / MMR (0 when E <= 0, MAX_UINT256 when MMR = 0)

Collateral values round down; debt tokens, debt values and requirements round up.

Liquidation (Liquidator._price), for one (debt asset, collateral asset) pair of an account with
E < MMR, with T the target health and s/p the token scales and prices:
    d      = min(auction, d*), of the collateral asset's minDiscount / maxDiscount:
             auction = minDiscount + (maxDiscount - minDiscount) * (1 - h)
             d*      = h * (mmf_coll + mmf_debt) / (1 + h * mmf_debt)   (keeps health unchanged)
    cap    = T * MMR reached: (T * MMR - E) / ((1 + T * mmf_debt) - (1 - T * mmf_coll) / (1 - d)),
             plus ceil(index) + 1 units of slack; the whole debt when E <= 0 or when the debt left
             would be dust (< minDebtValue)
    repay  = what burning floor(min(maxRepay, cap) / index) scaled units takes off the debt
    seize  = repay * p_debt / s_debt / (1 - d) * s_coll / p_coll        (all of it at most)
    fee    = repay * d / (1 - d) * insuranceShare                        (on top of repay)
    tip    = repay * (minD / (1 - minD) - d / (1 - d)) * (1 - insuranceShare) when d < minD,
             at most the debt vault's insurance fund                     (off what the keeper pays)
A liquidation that leaves a debt worth less than minDebtValue is refused (DUST) unless it takes all
of the seized collateral asset; if that would leave a healthy account (with other collateral) with
dust, it repays less and leaves exactly the floor, where that repays anything.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, TypeVar

from solvent.fixed import WAD, mul_div_down, mul_div_up
from solvent.margin import MmfCurve, PositionCurves

MAX_UINT256 = 2**256 - 1

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Position:
    """One asset of an account, as stored on-chain, with the asset's risk parameters.

    raw: positive = collateral (token units); negative = scaled debt (tokens = ceil(-raw * index / WAD)).
    min_discount / max_discount apply when the asset is seized as collateral, min_debt_value (USD
    WAD) when it is owed; they only matter for liquidation pricing.
    """

    raw: int
    price: int  # USD WAD per whole token
    scale: int  # 10**decimals
    imf: int
    mmf: int
    index: int = WAD  # borrow index of the asset's vault (only used for debt)
    insurance: int = 0  # insurance fund of the asset's vault (only used for debt: the keeper tip)
    min_discount: int = 0
    max_discount: int = 0
    min_debt_value: int = 0
    curves: PositionCurves | None = None  # dynamic margin (None: imf and mmf as they are)

    @property
    def is_debt(self) -> bool:
        return self.raw < 0

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

    def factors(self) -> tuple[int, int]:
        """(imf, mmf) of this position at its size (mmf: the one liquidations use)."""
        if self.curves is None:
            return self.imf, self.mmf
        return self.curves.factors(abs(self.value))

    @property
    def liquidation_curve(self) -> MmfCurve:
        """The maintenance curve a liquidation snapshot carries for this asset (all zero for a
        static asset: its mmf is the same at any size)."""
        return MmfCurve(0, 0, 0, 0) if self.curves is None else self.curves.liquidation


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


def scaled_debt_after_borrow(scaled: int, index: int, amount: int) -> int:
    """Scaled debt after borrowing `amount` on top of `scaled` (MarginAccount.borrow): the smallest
    whole number of scaled units whose debt covers the old debt plus `amount`."""
    owed = debt_tokens(scaled, index) + amount
    return mul_div_down(owed - 1, WAD, index) + 1


def scaled_debt_for_borrow(amount: int, index: int) -> int:
    """Scaled debt of a fresh borrow of `amount` (no debt before)."""
    return scaled_debt_after_borrow(0, index, amount)


def repaid_by(scaled: int, index: int, debt: int, burned: int) -> int:
    """Tokens a burn of `burned` scaled units takes off the debt (LiquidationMath.repaidBy)."""
    if burned >= scaled:
        return debt
    return debt - mul_div_up(scaled - burned, index, WAD)


def repay_at_most(scaled: int, index: int, debt: int, amount: int) -> tuple[int, int]:
    """(scaled burned, tokens paid <= amount) of a repayment of at most `amount`
    (LiquidationMath.repayAtMost); 0 paid: below one scaled unit."""
    if amount >= debt:
        return scaled, debt
    burned = mul_div_down(amount, WAD, index)
    return burned, repaid_by(scaled, index, debt, burned)


def repay_at_least(scaled: int, index: int, debt: int, amount: int) -> tuple[int, int]:
    """(scaled burned, tokens paid >= amount) of the smallest repayment of at least `amount`
    (LiquidationMath.repayAtLeast)."""
    kept = min(mul_div_down(debt - amount, WAD, index), scaled)
    burned = scaled - kept
    return burned, repaid_by(scaled, index, debt, burned)


def value_up(units: int, price: int, scale: int) -> int:
    """USD WAD value of `units` token units, rounded up (how debts are valued)."""
    return mul_div_up(units, price, scale)


def value_down(units: int, price: int, scale: int) -> int:
    """USD WAD value of `units` token units, rounded down (how collateral is valued)."""
    return mul_div_down(units, price, scale)


def account_health(positions: Iterable[Position]) -> Health:
    """Equity, IMR and MMR of an account, exactly as MarginAccount._health computes them."""
    equity = imr = mmr = 0
    for pos in positions:
        value = pos.value
        abs_value = abs(value)
        imf, mmf = pos.factors()
        equity += value
        imr += mul_div_up(abs_value, imf, WAD)
        mmr += mul_div_up(abs_value, mmf, WAD)
    return Health(equity=equity, imr=imr, mmr=mmr)


# ============================================================================= liquidation


class Status(IntEnum):
    """ILiquidator.Status: why a pair cannot be liquidated (OK = it can)."""

    OK = 0
    HEALTHY = 1
    NO_DEBT = 2
    NO_COLLATERAL = 3
    DUST = 4
    REPAY_TOO_SMALL = 5  # maxRepay below one scaled unit of debt
    SLIPPAGE = 6  # batch only: below the keeper's minimum collateral per unit repaid


@dataclass(frozen=True)
class EngineParams:
    """The Liquidator's parameters (both WAD)."""

    insurance_share: int
    target_health: int

    @classmethod
    def from_chain(cls, liquidator: Any, **call_kwargs: Any) -> EngineParams:
        return cls(
            insurance_share=int(liquidator.insuranceShare(**call_kwargs)),
            target_health=int(liquidator.targetHealth(**call_kwargs)),
        )


@dataclass(frozen=True)
class LiquidationSnapshot:
    """IMarginAccount.LiquidationSnapshot: what pricing one pair reads (fields of an asset the
    account does not hold in that role are zero)."""

    equity: int
    mmr: int
    debt: int
    collateral: int
    debt_price: int
    collateral_price: int
    debt_scale: int
    collateral_scale: int
    debt_mmf: int
    collateral_mmf: int
    min_discount: int
    max_discount: int
    min_debt_value: int
    collateral_assets: int
    debt_index: int = 0
    debt_scaled: int = 0
    insurance_fund: int = 0
    debt_curve_: MmfCurve | None = None
    collateral_curve_: MmfCurve | None = None

    @property
    def debt_curve(self) -> MmfCurve:
        """The debt's curve (a static asset's all-zero curve stands for its fixed mmf)."""
        c = self.debt_curve_
        return c if c is not None and c.base != 0 else MmfCurve(self.debt_mmf)

    @property
    def collateral_curve(self) -> MmfCurve:
        c = self.collateral_curve_
        return c if c is not None and c.base != 0 else MmfCurve(self.collateral_mmf)

    @property
    def sized(self) -> bool:
        """Liquidator._sized: whether the size term sets either position's factor somewhere below
        its current value (otherwise the linear target cap is exact)."""
        if self.debt_curve.threshold == 0 and self.collateral_curve.threshold == 0:
            return False
        coll_value = value_down(self.collateral, self.collateral_price, self.collateral_scale)
        debt_value = value_up(self.debt, self.debt_price, self.debt_scale)
        return not self.collateral_curve.linear_below(
            coll_value, self.collateral_mmf
        ) or not self.debt_curve.linear_below(debt_value, self.debt_mmf)

    @classmethod
    def from_chain(cls, s: Any) -> LiquidationSnapshot:
        """From the struct MarginAccount.liquidationSnapshot returns (ape or a plain tuple)."""
        if isinstance(s, tuple | list):
            (
                eq,
                mmr,
                debt,
                coll,
                dp,
                cp,
                ds,
                cs,
                dm,
                cm,
                mind,
                maxd,
                mdv,
                idx,
                _,
                _,
                n,
                sc,
                ins,
                dcurve,
                ccurve,
            ) = s
        else:
            eq, mmr, debt, coll = s.equity, s.mmr, s.debt, s.collateral
            dp, cp, ds, cs = s.debtPrice, s.collateralPrice, s.debtScale, s.collateralScale
            dm, cm, mind, maxd = s.debtMmf, s.collateralMmf, s.minDiscount, s.maxDiscount
            mdv, idx, n, sc, ins = (
                s.minDebtValue,
                s.debtIndex,
                s.collateralAssets,
                s.debtScaled,
                s.insuranceFund,
            )
            dcurve, ccurve = s.debtCurve, s.collateralCurve
        return cls(
            *(int(x) for x in (eq, mmr, debt, coll, dp, cp, ds, cs, dm, cm, mind, maxd, mdv, n)),
            debt_index=int(idx),
            debt_scaled=int(sc),
            insurance_fund=int(ins),
            debt_curve_=MmfCurve.unpack(int(dcurve)),
            collateral_curve_=MmfCurve.unpack(int(ccurve)),
        )


@dataclass(frozen=True)
class LiquidationQuote:
    """One priced liquidation (IMarginAccount.LiquidationQuote). `repay`, `seize` and
    `debt_left_value` are also filled for a DUST status (what was refused); the fee and the tip are
    then 0, as on-chain."""

    status: Status
    repay: int = 0
    seize: int = 0
    insurance_fee: int = 0
    discount: int = 0
    health: int = 0
    debt_left_value: int = 0
    insurance_tip: int = 0
    repay_scaled: int = 0

    @property
    def ok(self) -> bool:
        return self.status == Status.OK

    @property
    def owed(self) -> int:
        """Debt-asset units the liquidator transfers: repay + insurance fee - insurance tip."""
        return self.repay + self.insurance_fee - self.insurance_tip

    def as_chain_quote(self) -> tuple[int, int, int, int, int]:
        """What Liquidator.quote returns when it does not revert: (repay, seize, fee, tip, discount)."""
        return (self.repay, self.seize, self.insurance_fee, self.insurance_tip, self.discount)


def health_of(equity: int, mmr: int) -> int:
    """LiquidationMath.health: equity / MMR in WAD, rounded down; 0 when equity <= 0."""
    return mul_div_down(equity, WAD, mmr) if equity > 0 else 0


def health_preserving_discount(health: int, mmf_coll: int, mmf_debt: int) -> int:
    """d* = h * (mmf_coll + mmf_debt) / (1 + h * mmf_debt), rounded down: the discount at which a
    liquidation of this pair leaves health unchanged (LiquidationMath.healthPreservingDiscount)."""
    return mul_div_down(health, mmf_coll + mmf_debt, WAD + mul_div_up(health, mmf_debt, WAD))


def auction_discount(health: int, min_discount: int, max_discount: int) -> int:
    """minDiscount + (maxDiscount - minDiscount) * (1 - health), rounded down (health < 1): the
    Dutch auction in health (LiquidationMath.discount's first term)."""
    return min_discount + mul_div_down(max_discount - min_discount, WAD - health, WAD)


def repay_slack_units(index: int) -> int:
    """ceil(index) + 1: how many base units below `amount` a repayment of at most `amount` may
    land (whole scaled units burn floor(amount / index) and cost the fall in the debt)."""
    return mul_div_up(index, 1, WAD) + 1


def liquidation_discount(
    health: int, min_discount: int, max_discount: int, mmf_coll: int, mmf_debt: int
) -> int:
    """The account's discount (WAD) at `health` < 1 (WAD; 0 when insolvent): the Dutch auction in
    health, capped by the health-preserving discount (LiquidationMath.discount)."""
    auction = auction_discount(health, min_discount, max_discount)
    return min(auction, health_preserving_discount(health, mmf_coll, mmf_debt))


def target_repay_cap(snap: LiquidationSnapshot, discount: int, target_health: int) -> int:
    """Debt-token repay that brings a solvent account's equity to target_health * MMR (rounded up,
    with the slack of whole scaled units, so it is reached); MAX_UINT256 when no partial
    liquidation of this pair can."""
    shortfall = mul_div_up(target_health, snap.mmr, WAD) - snap.equity
    gain = WAD + mul_div_down(target_health, snap.debt_mmf, WAD)
    t_coll_mmf = mul_div_up(target_health, snap.collateral_mmf, WAD)
    loss = 0 if t_coll_mmf >= WAD else mul_div_up(WAD - t_coll_mmf, WAD, WAD - discount)
    if gain <= loss:
        return MAX_UINT256
    # A repayment of at most R clears at least R - ceil(index) - 1 units; each such unit costs
    # (1 + T * mmf_debt) of its value in shortfall, which the cap also repays.
    slack_units = repay_slack_units(snap.debt_index)
    shortfall += mul_div_up(slack_units * snap.debt_price, gain, snap.debt_scale * WAD)
    return mul_div_up(mul_div_up(shortfall, WAD, gain - loss), snap.debt_scale, snap.debt_price)


def _buy(snap: LiquidationSnapshot, discount: int, amount: int) -> tuple[int, int, int, bool]:
    """Liquidator._buy: (repay_scaled, repay, seize, took_all) of a repayment of at most `amount`;
    when it pays for all of the collateral or more, all of it for the smallest repayment that does."""
    keep = WAD - discount
    burned, paid = repay_at_most(snap.debt_scaled, snap.debt_index, snap.debt, amount)
    seize = mul_div_down(
        mul_div_down(mul_div_down(paid, snap.debt_price, snap.debt_scale), WAD, keep),
        snap.collateral_scale,
        snap.collateral_price,
    )
    if seize < snap.collateral:
        return burned, paid, seize, False
    if seize > snap.collateral:
        need = mul_div_up(
            mul_div_up(
                value_up(snap.collateral, snap.collateral_price, snap.collateral_scale), keep, WAD
            ),
            snap.debt_scale,
            snap.debt_price,
        )
        burned, paid = repay_at_least(snap.debt_scaled, snap.debt_index, snap.debt, need)
    return burned, paid, snap.collateral, True


def _rest(snap: LiquidationSnapshot) -> tuple[int, int]:
    """Equity and MMR of the account without the pair's two positions (Liquidator._rest)."""
    coll_value = value_down(snap.collateral, snap.collateral_price, snap.collateral_scale)
    debt_value = value_up(snap.debt, snap.debt_price, snap.debt_scale)
    equity = snap.equity - coll_value + debt_value
    mmr = (
        snap.mmr
        - snap.collateral_curve.requirement(coll_value)
        - snap.debt_curve.requirement(debt_value)
    )
    return equity, mmr


def _after(snap: LiquidationSnapshot, burned: int, seize: int) -> tuple[int, int, int, int]:
    """Liquidator._after: equity, MMR and the two marginal factors after the liquidation."""
    rest_equity, rest_mmr = _rest(snap)
    coll_value = value_down(snap.collateral - seize, snap.collateral_price, snap.collateral_scale)
    debt_value = value_up(
        debt_tokens(snap.debt_scaled - burned, snap.debt_index), snap.debt_price, snap.debt_scale
    )
    coll_mmf = snap.collateral_curve.mmf(coll_value)
    debt_mmf = snap.debt_curve.mmf(debt_value)
    equity = rest_equity + coll_value - debt_value
    mmr = rest_mmr + mul_div_up(coll_value, coll_mmf, WAD) + mul_div_up(debt_value, debt_mmf, WAD)
    return (
        equity,
        mmr,
        snap.collateral_curve.marginal(coll_value, coll_mmf),
        snap.debt_curve.marginal(debt_value, debt_mmf),
    )


def state_after(snap: LiquidationSnapshot, burned: int, seize: int) -> tuple[int, int]:
    """Equity and MMR after burning `burned` scaled units and seizing `seize`: exactly how the
    MarginAccount values the account afterwards."""
    equity, mmr, _, _ = _after(snap, burned, seize)
    return equity, mmr


def _liquidatable_after(snap: LiquidationSnapshot, burned: int, seize: int) -> bool:
    """Liquidator._liquidatableAfter: still below maintenance after the liquidation."""
    equity, mmr = state_after(snap, burned, seize)
    return equity < mmr


TARGET_PRECISION = 128
GUESS_MARGIN = 3  # the second-order guess goes GUESS_MARGIN/512 past its root
MAX_TARGET_STEPS = 16


def _target_gap(
    snap: LiquidationSnapshot, discount: int, target: int, amount: int
) -> tuple[int, int, int]:
    """Liquidator._targetGap: E' - T * MMR' after a repayment of at most `amount`, and the
    marginal factors there."""
    burned, repay = repay_at_most(snap.debt_scaled, snap.debt_index, snap.debt, amount)
    seize = mul_div_down(
        mul_div_down(mul_div_down(repay, snap.debt_price, snap.debt_scale), WAD, WAD - discount),
        snap.collateral_scale,
        snap.collateral_price,
    )
    if seize >= snap.collateral:
        return 1, 0, 0
    equity, mmr, cs, ds = _after(snap, burned, seize)
    return equity - mul_div_up(target, mmr, WAD), cs, ds


def _newton(
    snap: LiquidationSnapshot, g: int, cs: int, ds: int, discount: int, target: int, x: int
) -> int:
    """Liquidator._newton: x - g / g'(x) in debt tokens (MAX_UINT256 when g' <= 0)."""
    keep = WAD - discount
    gain = mul_div_down(target, mul_div_down(cs, WAD, keep) + ds, WAD)
    loss = mul_div_up(discount, WAD, keep)
    if gain <= loss:
        return MAX_UINT256
    step = mul_div_down(mul_div_down(abs(g), WAD, gain - loss), snap.debt_scale, snap.debt_price)
    if g < 0:
        return x + step
    return 0 if step >= x else x - step


def smallest_to_target(snap: LiquidationSnapshot, discount: int, target: int, hi: int) -> int:
    """Liquidator._smallestToTarget: the smallest repayment (within 1/128 above it) reaching the
    target health with size-dependent factors: an exact evaluation at the second-order guess,
    the tangent's root as a lower bound, Newton's method where that is not close enough."""
    x = min(_quadratic_guess(snap, discount, target), hi)
    lo = 0
    # At the cap with the size term on, v * mmf(v) is not convex: no tangent lower bound there;
    # regula falsi (Illinois) between evaluated points instead.
    kink = any(
        c.threshold != 0 and m >= c.cap
        for c, m in (
            (snap.collateral_curve, snap.collateral_mmf),
            (snap.debt_curve, snap.debt_mmf),
        )
    )
    flo = snap.equity - mul_div_up(target, snap.mmr, WAD)
    fhi = 0
    side = 0
    for _ in range(MAX_TARGET_STEPS):
        g, cs, ds = _target_gap(snap, discount, target, x)
        if g >= 0:
            hi, fhi = x, g + 1
            t = 0 if cs == 0 or kink else _newton(snap, g, cs, ds, discount, target, x)
            if t != MAX_UINT256 and t > lo:
                lo = t
            if hi - lo <= hi // TARGET_PRECISION + 1:
                return hi
            if kink and side == 1:
                flo = -(-flo // 2)  # int256 division truncates towards zero
            side = 1
            x = _secant(lo, flo, hi, fhi) if kink else lo + (hi - lo) // 2
        else:
            lo, flo = max(x, lo), g
            if kink and fhi != 0:
                if side == -1:
                    fhi = fhi // 2 + 1
                side = -1
                x = _secant(lo, flo, hi, fhi)
            else:
                nxt = _newton(snap, g, cs, ds, discount, target, x)
                if nxt >= hi:
                    return hi
                x = nxt + nxt // (4 * TARGET_PRECISION) + 1
                if x >= hi:
                    return hi
    return hi


def _secant(lo: int, flo: int, hi: int, fhi: int) -> int:
    """Liquidator._secant: the secant's root strictly inside (lo, hi)."""
    x = lo + mul_div_down(-flo, hi - lo, fhi - flo)
    return min(max(x, lo + 1), hi - 1)


def _quadratic_guess(snap: LiquidationSnapshot, discount: int, target: int) -> int:
    """Liquidator._quadraticGuess: the smaller root of g's second-order expansion at 0, 3/512
    past it, in debt tokens (0 when there is no real root)."""
    keep = WAD - discount
    coll_value = value_down(snap.collateral, snap.collateral_price, snap.collateral_scale)
    debt_value = value_up(snap.debt, snap.debt_price, snap.debt_scale)
    cs = snap.collateral_curve.marginal(coll_value, snap.collateral_mmf)
    ds = snap.debt_curve.marginal(debt_value, snap.debt_mmf)
    gain = mul_div_down(target, mul_div_down(cs, WAD, keep) + ds, WAD)
    loss = mul_div_up(discount, WAD, keep)
    if gain <= loss:
        return 0
    slope = gain - loss
    shortfall = mul_div_up(target, snap.mmr, WAD) - snap.equity
    curve = 0
    if cs != snap.collateral_mmf:  # 2 * f'' * shortfall = f' * shortfall / v (size term)
        c = mul_div_up(shortfall, cs, coll_value)
        curve = mul_div_up(mul_div_up(c, WAD, keep), WAD, keep)
    if ds != snap.debt_mmf:
        curve += mul_div_up(shortfall, ds, debt_value)
    curve = mul_div_up(curve, target, WAD) * WAD
    sq = slope * slope
    if curve >= sq:
        return 0
    root = mul_div_up(2 * shortfall, WAD, slope + math.isqrt(sq - curve))
    tokens = mul_div_up(root, snap.debt_scale, snap.debt_price)
    return tokens + tokens * GUESS_MARGIN // (4 * TARGET_PRECISION) + 2


def price_liquidation(
    snap: LiquidationSnapshot, max_repay: int, params: EngineParams
) -> LiquidationQuote:
    """The largest liquidation of the snapshot's pair with repay <= max_repay, exactly as
    Liquidator._price computes it (status instead of a revert)."""
    if snap.equity >= snap.mmr:
        return LiquidationQuote(Status.HEALTHY)
    if snap.debt == 0:
        return LiquidationQuote(Status.NO_DEBT)
    if snap.collateral == 0:
        return LiquidationQuote(Status.NO_COLLATERAL)

    health = health_of(snap.equity, snap.mmr)
    d = liquidation_discount(
        health, snap.min_discount, snap.max_discount, snap.collateral_mmf, snap.debt_mmf
    )

    cap = snap.debt
    if snap.equity > 0:
        cap = min(target_repay_cap(snap, d, params.target_health), cap)
        if cap < snap.debt and snap.sized:
            cap = smallest_to_target(snap, d, params.target_health, cap)
    if cap < snap.debt:
        # What the capped repayment would really leave, in whole scaled units.
        _, capped = repay_at_most(snap.debt_scaled, snap.debt_index, snap.debt, cap)
        if value_up(snap.debt - capped, snap.debt_price, snap.debt_scale) < snap.min_debt_value:
            cap = snap.debt
    burned, repay, seize, took_all = _buy(snap, d, min(max_repay, cap))

    def refused(status: Status, left: int = 0) -> LiquidationQuote:
        return LiquidationQuote(status, repay, seize, 0, d, health, left, 0, burned)

    if repay == 0:
        return refused(Status.REPAY_TOO_SMALL)
    debt_left_value = 0
    if repay < snap.debt:
        debt_left_value = value_up(snap.debt - repay, snap.debt_price, snap.debt_scale)
        if debt_left_value < snap.min_debt_value:
            if not took_all:
                return refused(Status.DUST, debt_left_value)
            if snap.collateral_assets > 1 and not _liquidatable_after(snap, burned, seize):
                # Leave exactly the floor where that repays something; else take all of it (the
                # dust shrinks, and the account is never stuck with every pair refused).
                floor_tokens = mul_div_up(snap.min_debt_value, snap.debt_scale, snap.debt_price)
                if floor_tokens < snap.debt:
                    part = _buy(snap, d, snap.debt - floor_tokens)
                    if part[1] != 0:
                        burned, repay, seize, _ = part
                        debt_left_value = value_up(
                            snap.debt - repay, snap.debt_price, snap.debt_scale
                        )
    fee, tip = liquidation_incentives(snap, repay, d, params.insurance_share)
    return LiquidationQuote(Status.OK, repay, seize, fee, d, health, debt_left_value, tip, burned)


def liquidation_incentives(
    snap: LiquidationSnapshot, repay: int, discount: int, insurance_share: int
) -> tuple[int, int]:
    """(insurance fee, insurance tip) of a liquidation repaying `repay` at `discount`
    (Liquidator._incentives): the fee is insuranceShare of the account's discount value; below the
    collateral's minDiscount the tip tops the keeper's net gain up to what minDiscount gives,
    bounded by the debt vault's insurance fund plus this liquidation's own fee."""
    fee = mul_div_up(mul_div_up(repay, discount, WAD - discount), insurance_share, WAD)
    tip = 0
    if discount < snap.min_discount:
        gap = mul_div_down(snap.min_discount, WAD, WAD - snap.min_discount) - mul_div_up(
            discount, WAD, WAD - discount
        )
        tip = min(
            mul_div_down(mul_div_down(repay, gap, WAD), WAD - insurance_share, WAD),
            snap.insurance_fund + fee,  # the fund once this liquidation's fee is in it
        )
    return fee, tip


def snapshot_discount(snap: LiquidationSnapshot) -> int:
    """The discount d = min(auction, health-preserving discount) of the snapshot's pair."""
    return liquidation_discount(
        health_of(snap.equity, snap.mmr),
        snap.min_discount,
        snap.max_discount,
        snap.collateral_mmf,
        snap.debt_mmf,
    )


def tip_gap(min_discount: int, discount: int) -> int:
    """minD / (1 - minD) - d / (1 - d), WAD, rounded up (LiquidationMath.tipGap): the most the
    insurance fund may add per unit repaid to lift a discount d < minD to the keeper floor."""
    return mul_div_up(min_discount, WAD, WAD - min_discount) - mul_div_down(
        discount, WAD, WAD - discount
    )


def settlement_error(
    snap: LiquidationSnapshot, quote: LiquidationQuote, max_repay: int
) -> tuple[str, dict[str, int]] | None:
    """The bound MarginAccount._checkQuote refuses an engine's OK quote with, as (error, inputs), or
    None: what the MarginAccount enforces whatever the engine (honest quotes always pass)."""
    if snap.equity >= snap.mmr:
        return ("AccountHealthy", {"equity": snap.equity, "mmr": snap.mmr})
    burned = min(quote.repay_scaled, snap.debt_scaled)
    repay = repaid_by(snap.debt_scaled, snap.debt_index, snap.debt, burned)
    if repay == 0:
        return (
            "RepayTooSmall",
            {"amount": max_repay, "minAmount": mul_div_up(snap.debt_index, 1, WAD)},
        )
    if repay > max_repay:
        return ("RepayAboveMax", {"repay": repay, "maxRepay": max_repay})
    d = snapshot_discount(snap)
    repay_value = value_up(repay, snap.debt_price, snap.debt_scale)
    received = value_down(quote.seize, snap.collateral_price, snap.collateral_scale)
    if received * (WAD - d) > repay_value * WAD:
        bound = mul_div_down(repay_value, WAD, WAD - d)
        return ("SeizeAboveBound", {"seizeValue": received, "maxSeizeValue": bound})
    lo = snap.min_discount
    max_tip = 0
    if d < lo:
        max_tip = mul_div_up(repay, tip_gap(lo, d), WAD)
    if quote.insurance_tip > max_tip:
        return ("TipAboveBound", {"tip": quote.insurance_tip, "maxTip": max_tip})
    base = repay
    if quote.seize == snap.collateral:  # a take-all: whole at one scaled unit less
        base = repaid_by(snap.debt_scaled, snap.debt_index, snap.debt, burned - 1)
    received += value_down(quote.insurance_tip, snap.debt_price, snap.debt_scale)
    paid = value_up(base + quote.insurance_fee, snap.debt_price, snap.debt_scale)
    slack = value_up(1, snap.collateral_price, snap.collateral_scale) + 2 * value_up(
        1, snap.debt_price, snap.debt_scale
    )
    if received + slack < paid:
        return ("PayerShortchanged", {"received": received, "paid": paid})
    return None


def pair_snapshot(
    health: Health, debt: Position | None, collateral: Position | None, collateral_assets: int
) -> LiquidationSnapshot:
    """The snapshot of one pair from mirror positions (None, or a position not held in that role,
    gives that side's zero fields, as MarginAccount.liquidationSnapshot does)."""
    d = debt if debt is not None and debt.raw < 0 else None
    c = collateral if collateral is not None and collateral.raw > 0 else None
    return LiquidationSnapshot(
        equity=health.equity,
        mmr=health.mmr,
        debt=d.tokens if d else 0,
        collateral=c.tokens if c else 0,
        debt_price=d.price if d else 0,
        collateral_price=c.price if c else 0,
        debt_scale=d.scale if d else 0,
        collateral_scale=c.scale if c else 0,
        debt_mmf=d.factors()[1] if d else 0,
        collateral_mmf=c.factors()[1] if c else 0,
        min_discount=c.min_discount if c else 0,
        max_discount=c.max_discount if c else 0,
        min_debt_value=d.min_debt_value if d else 0,
        collateral_assets=collateral_assets,
        debt_index=d.index if d else 0,
        debt_scaled=-d.raw if d else 0,
        insurance_fund=d.insurance if d else 0,
        debt_curve_=d.liquidation_curve if d else MmfCurve(0, 0, 0, 0),
        collateral_curve_=c.liquidation_curve if c else MmfCurve(0, 0, 0, 0),
    )


def liquidation_snapshot(
    positions: Mapping[K, Position], debt: K, collateral: K
) -> LiquidationSnapshot:
    """MarginAccount.liquidationSnapshot of (debt, collateral) from an account's positions."""
    held = [p for p in positions.values() if p.raw != 0]
    return pair_snapshot(
        account_health(held),
        positions.get(debt),
        positions.get(collateral),
        sum(1 for p in held if p.raw > 0),
    )


def quote_liquidation(
    positions: Mapping[K, Position],
    debt: K,
    collateral: K,
    max_repay: int,
    params: EngineParams,
) -> LiquidationQuote:
    """Liquidator.quote / liquidate of (debt, collateral) on an account, as a status and amounts
    (see `quote_error` for the revert the chain gives instead of a non-OK status)."""
    return price_liquidation(liquidation_snapshot(positions, debt, collateral), max_repay, params)


def quote_error(
    quote: LiquidationQuote,
    snap: LiquidationSnapshot,
    *,
    debt_asset: Any,
    collateral_asset: Any,
    max_repay: int,
) -> tuple[str, dict[str, Any]] | None:
    """The custom error (name, inputs) Liquidator.quote and liquidate revert with for this quote,
    or None when they succeed (liquidate's own minSeized check aside). Assets are passed through
    as given (addresses, to compare with a decoded error)."""
    if max_repay == 0:
        return ("ZeroAmount", {})
    if debt_asset == collateral_asset:
        return ("SameAsset", {"asset": debt_asset})
    if quote.status == Status.HEALTHY:
        return ("AccountHealthy", {"equity": snap.equity, "mmr": snap.mmr})
    if quote.status == Status.NO_DEBT:
        return ("NothingToRepay", {"debtAsset": debt_asset})
    if quote.status == Status.NO_COLLATERAL:
        return ("NoCollateral", {"collateralAsset": collateral_asset})
    if quote.status == Status.DUST:
        return (
            "DustRemaining",
            {"debtLeftValue": quote.debt_left_value, "minDebtValue": snap.min_debt_value},
        )
    if quote.status == Status.REPAY_TOO_SMALL:
        return (
            "RepayTooSmall",
            {"amount": max_repay, "minAmount": mul_div_up(snap.debt_index, 1, WAD)},
        )
    return None


# ============================================================================= lens


@dataclass(frozen=True)
class PairQuote:
    """ILiquidator.PairQuote: the largest liquidation of one pair (maxRepay = MAX_UINT256)."""

    debt_asset: Any
    collateral_asset: Any
    status: Status
    max_repay: int
    seize: int
    insurance_fee: int
    discount: int
    insurance_tip: int = 0

    @property
    def ok(self) -> bool:
        return self.status == Status.OK

    @property
    def owed(self) -> int:
        """Debt-asset units the keeper transfers: repay + fee - tip."""
        return self.max_repay + self.insurance_fee - self.insurance_tip


@dataclass(frozen=True)
class AccountLens:
    """ILiquidator.AccountLens of one account."""

    liquidatable: bool
    equity: int
    mmr: int
    health: int
    pairs: tuple[PairQuote, ...]

    @classmethod
    def from_chain(cls, entry: Any, asset_key: Any = str) -> AccountLens:
        """From one element of Liquidator.lens (ape struct or plain tuple); `asset_key` maps a token
        address to the key the pairs use (default: the address string)."""
        if isinstance(entry, tuple | list):
            liquidatable, equity, mmr, health, pairs = entry
        else:
            liquidatable, equity, mmr, health, pairs = (
                entry.liquidatable,
                entry.equity,
                entry.mmr,
                entry.health,
                entry.pairs,
            )
        out = []
        for p in pairs:
            if isinstance(p, tuple | list):
                debt, coll, status, repay, seize, fee, tip, discount = p
            else:
                debt, coll, status = p.debtAsset, p.collateralAsset, p.status
                repay, seize, fee = p.maxRepay, p.seize, p.insuranceFee
                tip, discount = p.insuranceTip, p.discount
            out.append(
                PairQuote(
                    asset_key(debt),
                    asset_key(coll),
                    Status(int(status)),
                    int(repay),
                    int(seize),
                    int(fee),
                    int(discount),
                    int(tip),
                )
            )
        return cls(bool(liquidatable), int(equity), int(mmr), int(health), tuple(out))

    def pair(self, debt: Any, collateral: Any) -> PairQuote:
        for p in self.pairs:
            if p.debt_asset == debt and p.collateral_asset == collateral:
                return p
        raise KeyError(f"no pair {debt}/{collateral} in the lens")


def account_lens(positions: Mapping[K, Position], params: EngineParams) -> AccountLens:
    """Liquidator.lens for one account. `positions` must be in asset-id (listing) order, as the
    chain iterates them; zero balances are ignored. Pairs: each debt (outer) x each collateral."""
    held = {k: p for k, p in positions.items() if p.raw != 0}
    health = account_health(held.values())
    debts = [k for k, p in held.items() if p.raw < 0]
    collaterals = [k for k, p in held.items() if p.raw > 0]
    pairs = []
    for d in debts:
        for c in collaterals:
            snap = pair_snapshot(health, held[d], held[c], len(collaterals))
            q = price_liquidation(snap, MAX_UINT256, params)
            pairs.append(
                PairQuote(
                    d, c, q.status, q.repay, q.seize, q.insurance_fee, q.discount, q.insurance_tip
                )
            )
    return AccountLens(
        liquidatable=health.liquidatable,
        equity=health.equity,
        mmr=health.mmr,
        health=health.health,
        pairs=tuple(pairs),
    )


def liquidation_profit(
    seize: int,
    repay: int,
    insurance_fee: int,
    *,
    debt_price: int,
    debt_scale: int,
    collateral_price: int,
    collateral_scale: int,
    insurance_tip: int = 0,
) -> int:
    """The liquidator's gain in USD WAD at oracle prices: seized value (rounded down) plus the tip
    minus what it pays, repay and insurance fee (each rounded up; the tip rounded down). Gas
    excluded."""
    return (
        value_down(seize, collateral_price, collateral_scale)
        + value_down(insurance_tip, debt_price, debt_scale)
        - value_up(repay, debt_price, debt_scale)
        - value_up(insurance_fee, debt_price, debt_scale)
    )
