// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ILiquidationCallback
/// @notice Implemented by a keeper contract that liquidates without holding the debt asset (flash
///         liquidation). The MarginAccount calls it after sending the seized collateral and before
///         pulling `amountOwed` of the debt asset from it (approve the MarginAccount for that amount).
/// @dev `msg.sender` is the MarginAccount; a receiver should check it. While the callback runs, every
///      state-changing function of the MarginAccount and the Liquidator is locked (reentrancy guard),
///      so the callback can only swap the collateral elsewhere.
interface ILiquidationCallback {
    /// @param owner Owner of the liquidated account.
    /// @param subId Sub-account liquidated.
    /// @param debtAsset Asset to pay.
    /// @param amountOwed Debt-asset units pulled right after this call (repay + insurance fee).
    /// @param collateralAsset Asset received.
    /// @param seized Collateral units already sent to the receiver.
    /// @param data The bytes passed to `Liquidator.liquidate`.
    function onLiquidation(
        address owner,
        uint96 subId,
        address debtAsset,
        uint256 amountOwed,
        address collateralAsset,
        uint256 seized,
        bytes calldata data
    ) external;
}
