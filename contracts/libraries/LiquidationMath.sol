// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {WAD} from "./Constants.sol";
import {MathLib} from "./MathLib.sol";

/// @title LiquidationMath
/// @notice The liquidation rules both the Liquidator (which prices) and the MarginAccount (which
///         refuses any settlement outside them) apply, so the two cannot drift apart.
///         Units: health, discounts and margin factors WAD; debts in token base units; scaled debt
///         in the MarginAccount's scaled units (debt = ceil(scaled * index / WAD)).
/// @dev Rounding always goes against the liquidator: discounts down, required repayments up.
library LiquidationMath {
    using MathLib for uint256;

    /// @dev equity / MMR in WAD, rounded down; 0 when equity <= 0 (callers ensure mmr > 0).
    function health(int256 equity, uint256 mmr) internal pure returns (uint256) {
        return equity > 0 ? uint256(equity).mulDivDown(WAD, mmr) : 0;
    }

    /// @dev The discount at which a liquidation of (debt factor `mmfDebt`, collateral factor `mmfColl`)
    ///      leaves the account's health exactly where it is:
    ///        d* = h * (mmfColl + mmfDebt) / (1 + h * mmfDebt)          (rounded down)
    ///      Below it a liquidation raises health, above it lowers it. d* = 0 at h = 0 and equals the
    ///      listing bound (mmfColl + mmfDebt) / (1 + mmfDebt) at h = 1 (docs/liquidation.md).
    function healthPreservingDiscount(uint256 h, uint256 mmfColl, uint256 mmfDebt) internal pure returns (uint256) {
        return h.mulDivDown(mmfColl + mmfDebt, WAD + h.mulDivUp(mmfDebt, WAD));
    }

    /// @dev The account-funded discount of a liquidation at health `h` (< 1):
    ///      min(Dutch auction in health, health-preserving discount).
    function discount(uint256 h, uint256 minDiscount, uint256 maxDiscount, uint256 mmfColl, uint256 mmfDebt)
        internal
        pure
        returns (uint256)
    {
        uint256 auction = minDiscount + (maxDiscount - minDiscount).mulDivDown(WAD - h, WAD);
        return auction.min(healthPreservingDiscount(h, mmfColl, mmfDebt));
    }

    /// @dev Repays at most `amount` of a debt of `scaled` scaled units (`debt` tokens at `index`):
    ///      burns floor(amount / index) scaled units and charges exactly the fall in the debt.
    ///      Returns the scaled units burned and the tokens paid (<= amount; the whole debt when
    ///      amount >= debt). 0 paid means the amount is below one scaled unit.
    function repayAtMost(uint256 scaled, uint256 index, uint256 debt, uint256 amount)
        internal
        pure
        returns (uint256 burned, uint256 paid)
    {
        if (amount >= debt) return (scaled, debt);
        burned = amount.mulDivDown(WAD, index);
        paid = repaidBy(scaled, index, debt, burned);
    }

    /// @dev The smallest repayment of at least `amount` (<= debt) that whole scaled units allow:
    ///      keeps the largest scaled debt worth at most debt - amount. Returns (burned, paid >= amount).
    function repayAtLeast(uint256 scaled, uint256 index, uint256 debt, uint256 amount)
        internal
        pure
        returns (uint256 burned, uint256 paid)
    {
        uint256 kept = (debt - amount).mulDivDown(WAD, index).min(scaled);
        burned = scaled - kept;
        paid = repaidBy(scaled, index, debt, burned);
    }

    /// @dev Tokens a burn of `burned` scaled units takes off the debt: debt - ceil((scaled - burned) * index).
    function repaidBy(uint256 scaled, uint256 index, uint256 debt, uint256 burned) internal pure returns (uint256) {
        if (burned >= scaled) return debt;
        return debt - (scaled - burned).mulDivUp(index, WAD);
    }

    /// @dev minD / (1 - minD) - d / (1 - d), WAD, rounded up (d < minD): the most the insurance fund
    ///      may add per unit repaid to lift a discount d to the keeper floor minD.
    function tipGap(uint256 minD, uint256 d) internal pure returns (uint256) {
        return minD.mulDivUp(WAD, WAD - minD) - d.mulDivDown(WAD, WAD - d);
    }
}
