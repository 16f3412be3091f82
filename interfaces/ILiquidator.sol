// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IMarginAccount} from "./IMarginAccount.sol";

/// @title ILiquidator
/// @notice Lets anyone close part of an account whose equity fell below its maintenance margin
///         requirement. The liquidator repays debt and receives collateral worth the repayment times
///         (1 + penalty) at oracle prices; a share of the penalty, paid in the debt asset on top of the
///         repayment, feeds that asset's vault insurance fund.
/// @dev Pricing lives here and settlement in the MarginAccount, so a different pricing engine (an
///      auction) can replace this contract through `MarginAccount.setLiquidator` without touching balances.
interface ILiquidator {
    /// @notice The account is not below maintenance margin (equity >= MMR).
    error AccountHealthy(int256 equity, uint256 mmr);
    /// @notice The account owes nothing in the debt asset.
    error NothingToRepay(address debtAsset);
    /// @notice The account holds none of the collateral asset.
    error NoCollateral(address collateralAsset);
    /// @notice Less collateral would be seized than the caller's `minSeized`.
    error SlippageExceeded(uint256 seized, uint256 minSeized);
    /// @notice The liquidation would leave the account further below maintenance (shortfall in USD WAD).
    error LiquidationIncreasesRisk(int256 shortfallBefore, int256 shortfallAfter);
    /// @notice Penalty or insurance share outside its hard bounds.
    error InvalidLiquidationParams(uint256 penalty, uint256 insuranceShare);
    /// @notice Amount must be non-zero.
    error ZeroAmount();
    /// @notice Debt and collateral asset must differ.
    error SameAsset(address asset);

    /// @notice The admin changed the penalty or the insurance share (both WAD).
    event LiquidationParamsSet(uint256 penalty, uint256 insuranceShare);

    /// @notice The MarginAccount this liquidator settles on.
    function marginAccount() external view returns (IMarginAccount);
    /// @notice Bonus paid to the liquidator on top of the repaid value, WAD (0.05e18 = 5%).
    function penalty() external view returns (uint256);
    /// @notice Share of the penalty sent to the debt vault's insurance fund, WAD.
    function insuranceShare() external view returns (uint256);

    /// @notice Price a liquidation without executing it; reverts exactly where `liquidate` would
    ///         (except the caller's `minSeized` bound).
    /// @return repay Debt that would be repaid, debt-token units.
    /// @return seize Collateral that would be seized, collateral-token units.
    /// @return insuranceFee Debt-token units the liquidator pays to the insurance fund on top of `repay`.
    function quote(address owner, uint96 subId, address debtAsset, address collateralAsset, uint256 maxRepay)
        external
        view
        returns (uint256 repay, uint256 seize, uint256 insuranceFee);

    /// @notice Liquidates (owner, subId) if equity < MMR: repays up to `maxRepay` of `debtAsset`
    ///         (pulled from the caller, who must have approved the MarginAccount for
    ///         `repay + insuranceFee`) and receives `collateralAsset`. If the account is left with no
    ///         collateral, its remaining debt is written off as bad debt in the same transaction.
    /// @param minSeized Revert unless at least this much collateral is received (slippage bound).
    /// @return repay Debt repaid, debt-token units.
    /// @return seize Collateral received, collateral-token units.
    function liquidate(
        address owner,
        uint96 subId,
        address debtAsset,
        address collateralAsset,
        uint256 maxRepay,
        uint256 minSeized
    ) external returns (uint256 repay, uint256 seize);

    /// @notice Writes off the debt of an account that has no collateral left (anyone may call).
    /// @return assetsWrittenOff Number of debt assets written off.
    function writeOffBadDebt(address owner, uint96 subId) external returns (uint256 assetsWrittenOff);
}
