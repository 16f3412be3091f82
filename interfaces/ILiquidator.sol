// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IMarginAccount} from "./IMarginAccount.sol";

/// @title ILiquidator
/// @notice The liquidation engine. Anyone may close part of an account whose equity fell below its
///         maintenance margin requirement (MMR): they repay debt and buy collateral at the oracle
///         price times (1 - discount).
///         - Discount (a Dutch auction in health): minDiscount + (maxDiscount - minDiscount) * (1 - health)
///           of the collateral asset, where health = equity / MMR (0 when equity <= 0). It grows as
///           the account sinks and is gone once the account is healthy again: no state, no flag.
///         - Insurance: `insuranceShare` of the discount value, paid in the debt asset on top of the
///           repayment, goes to the debt vault's insurance fund.
///         - Target: one liquidation repays at most what brings equity back to MMR * targetHealth,
///           unless the account is insolvent (equity <= 0) or the debt left would be dust (worth less
///           than the debt asset's minDebtValue): then the whole debt may be repaid. No liquidation
///           may leave dust debt (DustRemaining) unless it takes all of the seized collateral asset;
///           the next liquidation may then repay that dust in full, and debt left on an account with
///           no collateral is written off as bad debt in the same transaction.
///         - Equity floor: on a solvent account the discount is lowered, if needed, so that the
///           discount value paid (repay * d / (1 - d)) stays within the equity: a liquidation never
///           turns a solvent account into bad debt.
/// @dev Pricing lives here, settlement in the MarginAccount (`settleLiquidation`), so the engine can
///      be replaced through `MarginAccount.setLiquidator` without touching balances.
interface ILiquidator {
    /// @notice Why a liquidation of a (debt, collateral) pair cannot go ahead (OK = it can;
    ///         DUPLICATE = the account is already liquidated earlier in the same batch).
    enum Status {
        OK,
        HEALTHY,
        NO_DEBT,
        NO_COLLATERAL,
        DUST,
        DUPLICATE
    }

    /// @notice The largest liquidation of one (debt, collateral) pair, as `liquidate` would do it
    ///         with maxRepay = type(uint256).max.
    /// @param debtAsset Asset repaid.
    /// @param collateralAsset Asset seized.
    /// @param status OK, or why this pair cannot be liquidated now.
    /// @param maxRepay Debt repaid, token units.
    /// @param seize Collateral received, token units.
    /// @param insuranceFee Debt-asset units paid to the insurance fund on top of `maxRepay`.
    /// @param discount Discount on the collateral price, WAD.
    struct PairQuote {
        address debtAsset;
        address collateralAsset;
        Status status;
        uint256 maxRepay;
        uint256 seize;
        uint256 insuranceFee;
        uint256 discount;
    }

    /// @notice The lens view of one account.
    /// @param liquidatable Equity < MMR.
    /// @param equity USD WAD.
    /// @param mmr USD WAD.
    /// @param health equity / MMR, WAD (0 if equity <= 0, type(uint256).max if MMR = 0).
    /// @param pairs One entry per (debt asset, collateral asset) pair the account holds.
    struct AccountLens {
        bool liquidatable;
        int256 equity;
        uint256 mmr;
        uint256 health;
        PairQuote[] pairs;
    }

    /// @notice The account is not below maintenance margin (equity >= MMR).
    error AccountHealthy(int256 equity, uint256 mmr);
    /// @notice The account owes nothing in the debt asset.
    error NothingToRepay(address debtAsset);
    /// @notice The account holds none of the collateral asset.
    error NoCollateral(address collateralAsset);
    /// @notice The liquidation would leave a debt worth `debtLeftValue` (USD WAD), below the debt
    ///         asset's dust floor, without taking all of the seized collateral asset. Repay it all.
    error DustRemaining(uint256 debtLeftValue, uint256 minDebtValue);
    /// @notice Less collateral would be received than the caller's minimum.
    error SlippageExceeded(uint256 seized, uint256 minSeized);
    /// @notice insuranceShare above MAX_INSURANCE_SHARE, or targetHealth outside [1, MAX_TARGET_HEALTH].
    error InvalidEngineParams(uint256 insuranceShare, uint256 targetHealth);
    /// @notice Amount must be non-zero.
    error ZeroAmount();
    /// @notice Debt and collateral asset must differ.
    error SameAsset(address asset);

    /// @notice The admin changed the engine parameters (both WAD).
    event EngineParamsSet(uint256 insuranceShare, uint256 targetHealth);
    /// @notice A batch passed over an account it could not liquidate.
    event LiquidationSkipped(address indexed owner, uint96 indexed subId, Status status);

    /// @notice The MarginAccount this engine settles on.
    function marginAccount() external view returns (IMarginAccount);
    /// @notice Share of the discount value paid to the debt vault's insurance fund, WAD.
    function insuranceShare() external view returns (uint256);
    /// @notice A partial liquidation stops once equity >= MMR * targetHealth, WAD (1.05e18 = 105%).
    function targetHealth() external view returns (uint256);

    /// @notice Prices a liquidation without executing it. Reverts exactly where `liquidate` would
    ///         (except the caller's `minSeized`).
    /// @param maxRepay Most debt to repay, token units (type(uint256).max = as much as allowed).
    /// @return repay Debt that would be repaid, debt-token units.
    /// @return seize Collateral that would be received, collateral-token units.
    /// @return insuranceFee Debt-token units paid to the insurance fund on top of `repay`.
    /// @return discount Discount on the collateral price, WAD.
    function quote(address owner, uint96 subId, address debtAsset, address collateralAsset, uint256 maxRepay)
        external
        view
        returns (uint256 repay, uint256 seize, uint256 insuranceFee, uint256 discount);

    /// @notice Liquidates (owner, subId) if equity < MMR: repays up to `maxRepay` of `debtAsset`
    ///         (capped by the target and dust rules) and receives `collateralAsset`. The caller pays
    ///         `repay + insuranceFee` and must have approved the MarginAccount for it.
    ///         With non-empty `data` this is a flash liquidation: the collateral is sent first, then
    ///         `ILiquidationCallback(msg.sender).onLiquidation(..., data)` is called, then the debt
    ///         asset is pulled. Debt left on an account with no collateral is written off.
    /// @param minSeized Revert unless at least this much collateral is received (slippage bound).
    /// @return repay Debt repaid, debt-token units.
    /// @return seize Collateral received, collateral-token units.
    function liquidate(
        address owner,
        uint96 subId,
        address debtAsset,
        address collateralAsset,
        uint256 maxRepay,
        uint256 minSeized,
        bytes calldata data
    ) external returns (uint256 repay, uint256 seize);

    /// @notice Liquidates as much as allowed of each target in (debtAsset, collateralAsset). Targets
    ///         that are healthy, hold no such debt or collateral, would be left with dust, or appear
    ///         a second time are skipped (LiquidationSkipped), not reverted. An oracle failure still
    ///         reverts. All targets are priced on the state before the batch, then settled together
    ///         with one collateral transfer, one repayment transfer and one vault booking.
    /// @param minSeizedTotal Revert unless at least this much collateral is received in total.
    /// @return repaidTotal Debt repaid over all targets, debt-token units.
    /// @return seizedTotal Collateral received over all targets, collateral-token units.
    /// @return liquidated Number of targets liquidated.
    function liquidateBatch(IMarginAccount.AccountId[] calldata targets, address debtAsset, address collateralAsset, uint256 minSeizedTotal)
        external
        returns (uint256 repaidTotal, uint256 seizedTotal, uint256 liquidated);

    /// @notice For each target: liquidatable, equity, MMR, health and, per (debt, collateral) pair,
    ///         the largest liquidation `liquidate` would do now, computed by the same code.
    function lens(IMarginAccount.AccountId[] calldata targets) external view returns (AccountLens[] memory accounts);

    /// @notice Writes off the debt of an account that has no collateral left (anyone may call).
    /// @return assetsWrittenOff Number of debt assets written off.
    function writeOffBadDebt(address owner, uint96 subId) external returns (uint256 assetsWrittenOff);
}
