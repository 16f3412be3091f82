// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IMarginAccount} from "./IMarginAccount.sol";

/// @title ILiquidationEngine
/// @notice What the MarginAccount asks its liquidator for: the price of one liquidation, from a
///         snapshot the MarginAccount took itself. The MarginAccount checks the answer against its
///         own bounds before it settles anything, so a faulty or hostile engine cannot take more than
///         those bounds allow (IMarginAccount.settleLiquidation).
interface ILiquidationEngine {
    /// @notice Prices the largest liquidation of the snapshot's pair with repay <= maxRepay.
    /// @param snapshot The account as the MarginAccount reads it now (see IMarginAccount.LiquidationSnapshot).
    /// @param maxRepay Most debt tokens to repay.
    /// @return quote What to settle, or a status saying why not.
    function price(IMarginAccount.LiquidationSnapshot calldata snapshot, uint256 maxRepay)
        external
        view
        returns (IMarginAccount.LiquidationQuote memory quote);
}
