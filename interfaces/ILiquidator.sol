// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ILiquidationEngine} from "./ILiquidationEngine.sol";
import {IMarginAccount} from "./IMarginAccount.sol";

/// @title ILiquidator
/// @notice The liquidation engine. Anyone may close part of an account whose equity fell below its
///         maintenance margin requirement (MMR): they repay debt and buy collateral at the oracle
///         price times (1 - discount). Rules (docs/liquidation.md derives each):
///         - Discount the account pays: d = min(auction, health-preserving discount), where
///           auction = minDiscount + (maxDiscount - minDiscount) * (1 - h) of the collateral asset and
///           the health-preserving discount h * (mmf_c + mmf_d) / (1 + h * mmf_d) is the discount at
///           which the liquidation leaves health h = E / MMR unchanged (0 when E <= 0). No
///           liquidation lowers an account's health, so no sequence of them turns a solvent account
///           into bad debt and splitting one never pays more than doing it at once.
///         - Insurance: `insuranceShare` of the discount value, paid in the debt asset on top of the
///           repayment, goes to the debt vault's insurance fund.
///         - Keeper floor: where d falls below minDiscount (deep or insolvent accounts), the debt
///           vault's insurance fund tops the keeper's net gain up to what minDiscount would give,
///           (1 - insuranceShare) * repay * (minDiscount / (1 - minDiscount) - d / (1 - d)), as a tip
///           taken off what the keeper pays, as long as the fund has it. The keeper's incentive is
///           continuous in health, E <= 0 included.
///         - Target: one liquidation repays at most what brings equity back to MMR * targetHealth,
///           unless the account is insolvent (E <= 0) or the debt left would be dust (worth less
///           than the debt asset's minDebtValue): then the whole debt may be repaid.
///         - Dust: no liquidation leaves a debt below the floor, except one that takes all of the
///           seized collateral asset when that was the account's last collateral (the rest is written
///           off in the same transaction) or when the account stays below maintenance (the next
///           liquidation repays the rest in full). Where taking all of it would leave a healthy
///           account with dust, the liquidation repays less and leaves exactly the floor, when that
///           repays anything (a debt already at the floor is taken as far as the collateral goes).
/// @dev Pricing lives here (`price`, a view the MarginAccount calls), settlement in the
///      MarginAccount, which bounds what any engine may settle; the engine can be replaced through
///      `MarginAccount.setLiquidator` without touching balances.
interface ILiquidator is ILiquidationEngine {
    /// @notice The largest liquidation of one (debt, collateral) pair, as `liquidate` would do it
    ///         with maxRepay = type(uint256).max.
    /// @param debtAsset Asset repaid.
    /// @param collateralAsset Asset seized.
    /// @param status OK, or why this pair cannot be liquidated now.
    /// @param maxRepay Debt repaid, token units.
    /// @param seize Collateral received, token units.
    /// @param insuranceFee Debt-asset units paid to the insurance fund on top of `maxRepay`.
    /// @param insuranceTip Debt-asset units the insurance fund pays the keeper (off what it pays).
    /// @param discount Discount on the collateral price, WAD.
    struct PairQuote {
        address debtAsset;
        address collateralAsset;
        IMarginAccount.LiquidationStatus status;
        uint256 maxRepay;
        uint256 seize;
        uint256 insuranceFee;
        uint256 insuranceTip;
        uint256 discount;
    }

    /// @notice The lens view of one account.
    /// @param liquidatable Equity < MMR.
    /// @param equity USD WAD.
    /// @param mmr USD WAD.
    /// @param health equity / MMR, WAD (0 if equity <= 0, type(uint256).max if MMR = 0).
    /// @param pairs One entry per (debt asset, collateral asset) pair the account holds.
    /// @notice Why a position's margin factors are what they are (factors WAD, values USD WAD).
    /// @param value |balance * price| of the position (collateral rounded down, debt up).
    /// @param sizeMultiplier s = max(1, sqrt(value / sizeThreshold)), WAD.
    /// @param imf Initial factor: min(imfCap, mmfInitial * imfBase / mmfBase).
    /// @param mmfInitial min(mmfCap, max(mmfBase * s, floorInitial)).
    /// @param mmf Maintenance factor liquidations use: min(mmfCap, max(mmfBaseLiquidation * s, floorLiquidation)).
    struct PositionMargin {
        uint256 value;
        uint256 sizeMultiplier;
        uint256 imf;
        uint256 mmfInitial;
        uint256 mmf;
        IMarginAccount.MarginCurve curve;
    }

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
    /// @notice The liquidation would leave a debt worth `debtLeftValue` (USD WAD) below the debt
    ///         asset's dust floor. Repay it all, or leave at least the floor.
    error DustRemaining(uint256 debtLeftValue, uint256 minDebtValue);
    /// @notice `maxRepay` is below one scaled unit of debt (`minAmount` tokens): it would repay nothing.
    error RepayTooSmall(uint256 amount, uint256 minAmount);
    /// @notice insuranceShare above MAX_INSURANCE_SHARE, or targetHealth outside [1, MAX_TARGET_HEALTH].
    error InvalidEngineParams(uint256 insuranceShare, uint256 targetHealth);
    /// @notice Amount must be non-zero.
    error ZeroAmount();
    /// @notice Address must be non-zero.
    error ZeroAddress();
    /// @notice Debt and collateral asset must differ.
    error SameAsset(address asset);

    /// @notice The admin changed the engine parameters (both WAD).
    event EngineParamsSet(uint256 insuranceShare, uint256 targetHealth);

    /// @notice The MarginAccount this engine settles on.
    function marginAccount() external view returns (IMarginAccount);
    /// @notice Share of the discount value paid to the debt vault's insurance fund, WAD.
    function insuranceShare() external view returns (uint256);
    /// @notice A partial liquidation stops once equity >= MMR * targetHealth, WAD (1.05e18 = 105%).
    function targetHealth() external view returns (uint256);

    /// @notice Prices a liquidation without executing it. Reverts exactly where `liquidate` would
    ///         (except the caller's `minSeized`). The keeper transfers repay + insuranceFee - insuranceTip.
    /// @param maxRepay Most debt to repay, token units (type(uint256).max = as much as allowed).
    /// @return repay Debt that would be repaid, debt-token units.
    /// @return seize Collateral that would be received, collateral-token units.
    /// @return insuranceFee Debt-token units paid to the insurance fund on top of `repay`.
    /// @return insuranceTip Debt-token units the insurance fund pays the keeper (off what it pays).
    /// @return discount Discount on the collateral price the account pays, WAD.
    function quote(address owner, uint96 subId, address debtAsset, address collateralAsset, uint256 maxRepay)
        external
        view
        returns (uint256 repay, uint256 seize, uint256 insuranceFee, uint256 insuranceTip, uint256 discount);

    /// @notice Liquidates (owner, subId) if equity < MMR: repays up to `maxRepay` of `debtAsset`
    ///         (capped by the target and dust rules) and receives `collateralAsset`. The caller pays
    ///         repay + insuranceFee - insuranceTip and must have approved the MarginAccount for it.
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

    /// @notice Liquidates as much as allowed of each target in (debtAsset, collateralAsset), in order,
    ///         each priced on the state the earlier ones left. Targets that are healthy, hold no such
    ///         debt or collateral, would be left with dust, or would give less than
    ///         `minSeizedPerRepaid` are skipped (IMarginAccount.LiquidationSkipped), not reverted, so a
    ///         rival liquidating one target first leaves the rest to settle. An oracle failure still
    ///         reverts. One collateral transfer, one repayment transfer and one vault booking.
    /// @param minSeizedPerRepaid Least collateral units per debt unit repaid, per target, WAD
    ///        (floor(seize * 1e18 / repay) >= minSeizedPerRepaid); 0 = no bound.
    /// @return repaidTotal Debt repaid over all targets, debt-token units.
    /// @return seizedTotal Collateral received over all targets, collateral-token units.
    /// @return liquidated Number of targets liquidated.
    function liquidateBatch(
        IMarginAccount.AccountId[] calldata targets,
        address debtAsset,
        address collateralAsset,
        uint256 minSeizedPerRepaid
    ) external returns (uint256 repaidTotal, uint256 seizedTotal, uint256 liquidated);

    /// @notice The margin factors of one position of an account now, and the curve they come from:
    ///         base, size multiplier, volatility floors, ramps, effective imf and mmf.
    function positionMargin(address owner, uint96 subId, address asset)
        external
        view
        returns (PositionMargin memory);

    /// @notice For each target: liquidatable, equity, MMR, health and, per (debt, collateral) pair,
    ///         the largest liquidation `liquidate` would do now, computed by the same code.
    function lens(IMarginAccount.AccountId[] calldata targets) external view returns (AccountLens[] memory accounts);

    /// @notice Writes off the debt of an account that has no collateral left (anyone may call).
    /// @return assetsWrittenOff Number of debt assets written off.
    function writeOffBadDebt(address owner, uint96 subId) external returns (uint256 assetsWrittenOff);
}
