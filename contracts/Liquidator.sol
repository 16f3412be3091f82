// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {ILiquidator} from "../interfaces/ILiquidator.sol";
import {IMarginAccount} from "../interfaces/IMarginAccount.sol";
import {WAD} from "./libraries/Constants.sol";
import {MathLib} from "./libraries/MathLib.sol";

/// @title Liquidator
/// @notice Fixed-penalty liquidation of accounts below maintenance margin. Prices a liquidation from
///         one MarginAccount snapshot and asks the MarginAccount to settle it.
/// @dev Pricing (USD WAD values, token units for amounts):
///        repayValue = repay * debtPrice / debtScale                       (rounded up)
///        seize      = repayValue * (1 + penalty) * collateralScale / collateralPrice   (rounded down)
///        fee        = repay * penalty * insuranceShare                    (debt tokens, rounded up)
///      When the account's collateral in that asset is smaller than `seize`, all of it is seized and
///      `repay` shrinks to match (rounded up). Every rounding goes against the liquidator.
contract Liquidator is ILiquidator, AccessControl, ReentrancyGuard {
    using MathLib for uint256;

    /// @notice Role allowed to change the penalty and the insurance share.
    bytes32 public constant RISK_ADMIN_ROLE = keccak256("RISK_ADMIN_ROLE");
    /// @notice Highest penalty an admin may set, WAD.
    uint256 public constant MAX_PENALTY = 0.2e18; // 20%
    /// @notice Highest share of the penalty that may go to the insurance fund, WAD.
    uint256 public constant MAX_INSURANCE_SHARE = 0.5e18; // 50%

    /// @inheritdoc ILiquidator
    IMarginAccount public immutable marginAccount;
    /// @inheritdoc ILiquidator
    uint256 public penalty;
    /// @inheritdoc ILiquidator
    uint256 public insuranceShare;

    /// @dev One priced liquidation.
    struct Quote {
        uint256 repay;
        uint256 seize;
        uint256 fee;
        int256 shortfallBefore;
        int256 shortfallAfter;
    }

    /// @param marginAccount_ The MarginAccount to settle on.
    /// @param admin Receives DEFAULT_ADMIN_ROLE and RISK_ADMIN_ROLE.
    /// @param penalty_ Liquidation penalty, WAD.
    /// @param insuranceShare_ Share of the penalty for the insurance fund, WAD.
    constructor(IMarginAccount marginAccount_, address admin, uint256 penalty_, uint256 insuranceShare_) {
        marginAccount = marginAccount_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(RISK_ADMIN_ROLE, admin);
        _setParams(penalty_, insuranceShare_);
    }

    /// @notice Sets the penalty and the insurance share.
    /// @param penalty_ Liquidation penalty, WAD, at most MAX_PENALTY.
    /// @param insuranceShare_ Share of the penalty to the insurance fund, WAD, at most MAX_INSURANCE_SHARE.
    function setParams(uint256 penalty_, uint256 insuranceShare_) external onlyRole(RISK_ADMIN_ROLE) {
        _setParams(penalty_, insuranceShare_);
    }

    /// @inheritdoc ILiquidator
    function quote(address owner, uint96 subId, address debtAsset, address collateralAsset, uint256 maxRepay)
        external
        view
        returns (uint256 repay, uint256 seize, uint256 insuranceFee)
    {
        Quote memory q = _quote(owner, subId, debtAsset, collateralAsset, maxRepay);
        return (q.repay, q.seize, q.fee);
    }

    /// @inheritdoc ILiquidator
    function liquidate(
        address owner,
        uint96 subId,
        address debtAsset,
        address collateralAsset,
        uint256 maxRepay,
        uint256 minSeized
    ) external nonReentrant returns (uint256 repay, uint256 seize) {
        Quote memory q = _quote(owner, subId, debtAsset, collateralAsset, maxRepay);
        if (q.seize < minSeized) revert SlippageExceeded(q.seize, minSeized);
        bool bankrupt = marginAccount.settleLiquidation(
            owner, subId, debtAsset, q.repay, q.fee, collateralAsset, q.seize, msg.sender
        );
        if (bankrupt) marginAccount.writeOffBadDebt(owner, subId);
        return (q.repay, q.seize);
    }

    /// @inheritdoc ILiquidator
    function writeOffBadDebt(address owner, uint96 subId) external nonReentrant returns (uint256 assetsWrittenOff) {
        return marginAccount.writeOffBadDebt(owner, subId);
    }

    function _quote(address owner, uint96 subId, address debtAsset, address collateralAsset, uint256 maxRepay)
        internal
        view
        returns (Quote memory q)
    {
        if (maxRepay == 0) revert ZeroAmount();
        if (debtAsset == collateralAsset) revert SameAsset(debtAsset);
        IMarginAccount.LiquidationSnapshot memory s =
            marginAccount.liquidationSnapshot(owner, subId, debtAsset, collateralAsset);
        if (s.equity >= int256(s.mmr)) revert AccountHealthy(s.equity, s.mmr);
        if (s.debt == 0) revert NothingToRepay(debtAsset);
        if (s.collateral == 0) revert NoCollateral(collateralAsset);

        uint256 bonus = WAD + penalty;
        q.repay = maxRepay.min(s.debt);
        uint256 repayValue = q.repay.mulDivUp(s.debtPrice, s.debtScale);
        q.seize = repayValue.mulDivDown(bonus, WAD).mulDivDown(s.collateralScale, s.collateralPrice);
        if (q.seize > s.collateral) {
            q.seize = s.collateral;
            uint256 collateralValue = s.collateral.mulDivDown(s.collateralPrice, s.collateralScale);
            q.repay = collateralValue.mulDivUp(WAD, bonus).mulDivUp(s.debtScale, s.debtPrice).min(s.debt);
            repayValue = q.repay.mulDivUp(s.debtPrice, s.debtScale);
        }
        q.fee = q.repay.mulDivUp(penalty, WAD).mulDivUp(insuranceShare, WAD);

        // Risk check: the shortfall MMR - equity may not grow. Equity loses seizedValue - repayValue,
        // MMR loses repayValue * debtMmf + seizedValue * collateralMmf.
        uint256 seizedValue = q.seize.mulDivUp(s.collateralPrice, s.collateralScale);
        q.shortfallBefore = int256(s.mmr) - s.equity;
        q.shortfallAfter = q.shortfallBefore + int256(seizedValue) - int256(repayValue)
            - int256(repayValue.mulDivDown(s.debtMmf, WAD)) - int256(seizedValue.mulDivDown(s.collateralMmf, WAD));
        if (q.shortfallAfter > q.shortfallBefore) revert LiquidationIncreasesRisk(q.shortfallBefore, q.shortfallAfter);
    }

    function _setParams(uint256 penalty_, uint256 insuranceShare_) internal {
        if (penalty_ > MAX_PENALTY || insuranceShare_ > MAX_INSURANCE_SHARE) {
            revert InvalidLiquidationParams(penalty_, insuranceShare_);
        }
        penalty = penalty_;
        insuranceShare = insuranceShare_;
        emit LiquidationParamsSet(penalty_, insuranceShare_);
    }
}
