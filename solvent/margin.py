"""Integer mirror of dynamic margin (MarginMath and MarginConfig), and a float mirror of the
VolatilityOracle's EWMA.

For a position of absolute value v (USD WAD) in an asset with base factors imfBase > mmfBase:
    s(v)        = max(1, sqrt(v / sizeThreshold))                 (1 when sizeThreshold = 0)
    floor       = k * sigma * sqrt(horizon / YEAR)                (the volatility floor)
    mmf(v)      = min(mmfCap, max(mmfBase * s(v), floor))
    imf(v)      = min(imfCap, mmf(v) * imfBase / mmfBase)
The initial factor uses the newest base and floor (and, once sigma is older than maxSigmaAge, at
least the asset's stale floor); the maintenance factor used for liquidation uses the base and the
floor on their ramps: a rise reaches it linearly over rampPeriod, a fall at once. Factors are WAD and
rounded up, as on-chain; results agree with the contracts to the wei.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from solvent.fixed import WAD, YEAR, isqrt_up, mul_div_up

BPS = 10**14
FLOOR_UNIT = 10**10  # resolution of a stored volatility floor (1e-8)
MAX_FLOOR_UNITS = 10**8


@dataclass(frozen=True)
class MmfCurve:
    """MarginMath.MmfCurve: base factor, volatility floor, size threshold (USD WAD) and cap."""

    base: int
    floor: int = 0
    threshold: int = 0
    cap: int = WAD

    @classmethod
    def unpack(cls, w: int) -> MmfCurve:
        """MarginMath.unpack: base | floor << 64 | cap << 128 | (threshold / 1e18) << 192."""
        mask = 2**64 - 1
        return cls(w & mask, (w >> 64) & mask, (w >> 192) * WAD, (w >> 128) & mask)

    def pack(self) -> int:
        """MarginMath.pack."""
        return self.base | (self.floor << 64) | (self.cap << 128) | ((self.threshold // WAD) << 192)

    def mmf(self, value: int) -> int:
        """min(cap, max(base * s(value), floor)), WAD, rounded up (MarginMath.mmf)."""
        sized = (
            self.base
            if self.threshold == 0
            else mul_div_up(self.base, size_multiplier(value, self.threshold), WAD)
        )
        return min(max(sized, self.floor), self.cap)

    def marginal(self, value: int, mmf_at_value: int) -> int:
        """d(v * mmf(v)) / dv given mmf(value): 1.5 * mmf where the size term sets it, mmf where
        the floor or the cap does (MarginMath.marginalMmf)."""
        if (
            self.threshold == 0
            or value <= self.threshold
            or mmf_at_value >= self.cap
            or mmf_at_value <= self.floor
        ):
            return mmf_at_value
        return mmf_at_value + mmf_at_value // 2

    def linear_below(self, value: int, mmf_at_value: int) -> bool:
        """Whether v * mmf(v) is linear from `value` down to 0 (MarginMath.linearBelow)."""
        return (
            self.threshold == 0
            or value <= self.threshold
            or mmf_at_value <= self.floor
            or self.floor >= self.cap
        )

    def requirement(self, value: int) -> int:
        """value * mmf(value), rounded up (MarginMath.requirement)."""
        return mul_div_up(value, self.mmf(value), WAD)


def size_multiplier(value: int, threshold: int) -> int:
    """s = max(1, sqrt(value / threshold)) in WAD, rounded up; WAD when threshold = 0."""
    if threshold == 0 or value <= threshold:
        return WAD
    return isqrt_up(mul_div_up(value, WAD * WAD, threshold))


def imf_of(mmf_at_value: int, imf_base: int, mmf_base: int, imf_cap: int) -> int:
    """min(imfCap, mmf * imfBase / mmfBase), rounded up (MarginMath.imf)."""
    return min(mul_div_up(mmf_at_value, imf_base, mmf_base), imf_cap)


def ramp(frm: int, to: int, start: int, period: int, now: int) -> int:
    """MarginMath.ramp: linear from `frm` at `start` to `to` at start + period; at once downwards."""
    if to <= frm or period == 0 or now >= start + period:
        return to
    return frm + (to - frm) * (now - start) // period


@dataclass(frozen=True)
class PositionCurves:
    """The two curves of one asset at one moment: `initial` (imf through the imf/mmf ratio) and
    `liquidation` (the ramped maintenance curve), plus the base factors and the imf cap."""

    imf_base: int
    mmf_base: int
    initial: MmfCurve
    liquidation: MmfCurve
    imf_cap: int

    def factors(self, value: int) -> tuple[int, int]:
        """(imf, mmf) of a position of absolute value `value`."""
        imf = imf_of(self.initial.mmf(value), self.imf_base, self.mmf_base, self.imf_cap)
        return imf, self.liquidation.mmf(value)


@dataclass(frozen=True)
class MarginCurve:
    """IMarginConfig.MarginCurve: an asset's margin curve as `marginCurve(asset)` returns it."""

    dynamic: bool
    imf_base: int
    mmf_base: int
    mmf_base_liquidation: int
    floor_initial: int
    floor_liquidation: int
    size_threshold: int
    ramp_period: int
    stale_floor: int
    base_ramp_from: int
    base_ramp_start: int
    floor_ramp_from: int
    floor_ramp_to: int
    floor_ramp_start: int
    sigma_updated_at: int
    mmf_cap: int
    imf_cap: int

    @classmethod
    def from_chain(cls, c: Any) -> MarginCurve:
        values = list(c) if isinstance(c, tuple | list) else [getattr(c, f) for f in CURVE_FIELDS]
        return cls(bool(values[0]), *(int(x) for x in values[1:]))

    def curves(self) -> PositionCurves | None:
        """The position curves (None for a static asset: imfBase and mmfBase apply as they are)."""
        if not self.dynamic:
            return None
        return PositionCurves(
            imf_base=self.imf_base,
            mmf_base=self.mmf_base,
            initial=MmfCurve(self.mmf_base, self.floor_initial, self.size_threshold, self.mmf_cap),
            liquidation=self.liquidation_curve(),
            imf_cap=self.imf_cap,
        )

    def liquidation_curve(self) -> MmfCurve:
        """The curve a liquidation snapshot carries (static: all zero, the mmf is fixed)."""
        if not self.dynamic:
            return MmfCurve(0, 0, 0, 0)
        return MmfCurve(
            self.mmf_base_liquidation, self.floor_liquidation, self.size_threshold, self.mmf_cap
        )


# IMarginConfig.MarginCurve's fields, in order.
CURVE_FIELDS = (
    "dynamic",
    "imfBase",
    "mmfBase",
    "mmfBaseLiquidation",
    "floorInitial",
    "floorLiquidation",
    "sizeThreshold",
    "rampPeriod",
    "staleFloor",
    "baseRampFrom",
    "baseRampStart",
    "floorRampFrom",
    "floorRampTo",
    "floorRampStart",
    "sigmaUpdatedAt",
    "mmfCap",
    "imfCap",
)


def vol_scale(k: int, horizon: int) -> int:
    """k * sqrt(horizon / YEAR), WAD, rounded up (MarginAdmin.setMarginModel)."""
    return mul_div_up(k, isqrt_up(mul_div_up(horizon * WAD * WAD, 1, YEAR)), WAD)


def volatility_floor(sigma: int, scale: int) -> int:
    """The floor, WAD, a sigma (WAD) gives: k * sigma * sqrt(horizon / YEAR) rounded up to a
    FLOOR_UNIT (1e-8), at most 100% (MarginAdmin.updateVolatility)."""
    units = mul_div_up(mul_div_up(sigma, scale, WAD), 1, FLOOR_UNIT)
    return min(MAX_FLOOR_UNITS, units) * FLOOR_UNIT


# ============================================================================= volatility (float)


def ewma_variance(
    prices: Sequence[float], times: Sequence[float], tau: float, variance0: float
) -> float:
    """The VolatilityOracle's estimate of the variance of log returns per second after the rounds
    (prices[i], times[i]), i >= 1, starting from variance0 at (prices[0], times[0]):
        w = exp(-dt / tau),  V = w * V + (1 - w) * ln(p / p_prev)^2 / dt   (dt at least 1 s)."""
    v = variance0
    for i in range(1, len(prices)):
        dt = max(times[i] - times[i - 1], 1.0)
        r = math.log(prices[i] / prices[i - 1])
        w = math.exp(-dt / tau)
        v = w * v + (1.0 - w) * r * r / dt
    return v


def annualized_sigma(variance_per_second: float) -> float:
    """sqrt(V * YEAR)."""
    return math.sqrt(variance_per_second * YEAR)
