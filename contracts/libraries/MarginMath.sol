// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {FixedPointMathLib} from "solady/utils/FixedPointMathLib.sol";

import {WAD} from "./Constants.sol";
import {MathLib} from "./MathLib.sol";

/// @title MarginMath
/// @notice Dynamic margin factors: the maintenance factor of a position grows with its size and is
///         floored by the asset's realized volatility; the initial factor keeps the asset's
///         imf/mmf ratio. Both the MarginAccount (which values accounts) and the Liquidator (which
///         prices a liquidation's effect on them) use these functions, so the two cannot drift.
///         For a position of absolute value v (USD WAD):
///           s(v)   = max(1, sqrt(v / threshold))            (1 when threshold = 0)
///           mmf(v) = min(mmfCap, max(mmfBase * s(v), floor))
///           imf(v) = min(imfCap, mmf(v) * imfBase / mmfBase)
///         mmf(v) never decreases with v, so v * mmf(v) falls at least by mmf(v) * dv when a
///         position shrinks by dv: the linear estimate of a liquidation's effect on MMR is a bound.
/// @dev Every factor is WAD and rounded up (the protocol's favour); the size multiplier too.
library MarginMath {
    using MathLib for uint256;

    /// @dev The maintenance curve of one position: base factor, volatility floor (WAD), size
    ///      threshold (USD WAD, 0 = no size term) and the global cap (WAD).
    struct MmfCurve {
        uint256 base;
        uint256 floor;
        uint256 threshold;
        uint256 cap;
    }

    /// @dev One word: base | floor << 64 | cap << 128 | (threshold / 1e18) << 192 (factors WAD below
    ///      2^64, the threshold in whole dollars below 2^40). 0 stands for a static asset.
    function pack(MmfCurve memory c) internal pure returns (uint256) {
        return c.base | (c.floor << 64) | (c.cap << 128) | ((c.threshold / WAD) << 192);
    }

    /// @dev The inverse of `pack`.
    function unpack(uint256 w) internal pure returns (MmfCurve memory c) {
        uint256 mask = type(uint64).max;
        (c.base, c.floor, c.cap, c.threshold) = (w & mask, (w >> 64) & mask, (w >> 128) & mask, (w >> 192) * WAD);
    }

    /// @dev ceil(sqrt(x)) (solady's sqrt rounds down).
    function sqrtUp(uint256 x) internal pure returns (uint256 r) {
        r = FixedPointMathLib.sqrt(x);
        if (r * r < x) ++r;
    }

    /// @dev s(v) = max(1, sqrt(v / threshold)) in WAD, rounded up; WAD when threshold = 0.
    function sizeMultiplier(uint256 value, uint256 threshold) internal pure returns (uint256) {
        if (threshold == 0 || value <= threshold) return WAD;
        // sqrt(v / t) * WAD = sqrt(v * WAD^2 / t); v < 2^128 keeps v * WAD^2 below 2^256.
        return sqrtUp(value.mulDivUp(WAD * WAD, threshold));
    }

    /// @dev mmf(v) = min(cap, max(base * s(v), floor)), WAD, rounded up.
    function mmf(MmfCurve memory c, uint256 value) internal pure returns (uint256) {
        uint256 sized = c.threshold == 0 ? c.base : c.base.mulDivUp(sizeMultiplier(value, c.threshold), WAD);
        return sized.max(c.floor).min(c.cap);
    }

    /// @dev imf(v) = min(imfCap, mmf(v) * imfBase / mmfBase), WAD, rounded up (mmfBase > 0).
    function imf(uint256 mmfAtValue, uint256 imfBase, uint256 mmfBase, uint256 imfCap) internal pure returns (uint256) {
        return mmfAtValue.mulDivUp(imfBase, mmfBase).min(imfCap);
    }

    /// @dev d(v * mmf(v)) / dv at `value` given mmf(value): 1.5 * mmf where the size term sets it
    ///      (v * base * sqrt(v / t) grows as v^1.5), mmf where the floor or the cap does.
    function marginalMmf(MmfCurve memory c, uint256 value, uint256 mmfAtValue) internal pure returns (uint256) {
        if (c.threshold == 0 || value <= c.threshold || mmfAtValue >= c.cap || mmfAtValue <= c.floor) {
            return mmfAtValue;
        }
        return mmfAtValue + mmfAtValue / 2;
    }

    /// @dev Whether v * mmf(v) is linear from `value` down to 0 (no size term in play: no
    ///      threshold, the position at or below it, or the floor or cap setting mmf for good).
    function linearBelow(MmfCurve memory c, uint256 value, uint256 mmfAtValue) internal pure returns (bool) {
        return c.threshold == 0 || value <= c.threshold || mmfAtValue <= c.floor || c.floor >= c.cap;
    }

    /// @dev The requirement of a position of value `value` on curve `c`: value * mmf(value), rounded up.
    function requirement(MmfCurve memory c, uint256 value) internal pure returns (uint256) {
        return value.mulDivUp(mmf(c, value), WAD);
    }

    /// @dev A ramp's value at `nowTs`: from `from` at `start` linearly to `to` at start + period
    ///      (`to` from then on, and at once when to <= from or period = 0).
    function ramp(uint256 from, uint256 to, uint256 start, uint256 period, uint256 nowTs)
        internal
        pure
        returns (uint256)
    {
        if (to <= from || period == 0 || nowTs >= start + period) return to;
        return from + (to - from).mulDivDown(nowTs - start, period);
    }
}
