// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

import {ILiquidationEngine} from "../interfaces/ILiquidationEngine.sol";
import {ILiquidator} from "../interfaces/ILiquidator.sol";
import {IMarginAccount} from "../interfaces/IMarginAccount.sol";
import {WAD} from "./libraries/Constants.sol";
import {LiquidationMath} from "./libraries/LiquidationMath.sol";
import {MathLib} from "./libraries/MathLib.sol";

/// @title Liquidator
/// @notice The liquidation engine: a discount that never lowers an account's health, an insurance
///         fee and an insurance-funded keeper floor, partial liquidation to a target health, the dust
///         rule, flash and batch liquidation, and a lens for keepers. See ILiquidator for the rules
///         and docs/liquidation.md for the derivation.
/// @dev Units: token amounts in token units, prices and values in USD WAD, factors in WAD.
///      With d the discount, p the oracle prices and s the token scales:
///        seize = repay * p_debt / s_debt / (1 - d) * s_coll / p_coll            (rounded down)
///        fee   = repay * d / (1 - d) * insuranceShare                           (rounded up)
///        tip   = repay * (dMin / (1 - dMin) - d / (1 - d)) * (1 - insuranceShare) when d < dMin (down)
///      The target cap solves E' = T * MMR' for the repaid value R, where a liquidation changes
///        equity by R - R / (1 - d) and MMR by -(R * mmf_debt + R / (1 - d) * mmf_coll):
///        R = (T * MMR - E) / ((1 + T * mmf_debt) - (1 - T * mmf_coll) / (1 - d))
///      Settlement happens in the MarginAccount, which takes the snapshot, calls `price` and checks
///      the quote against its own bounds. This contract holds no balances and no state a call could
///      corrupt half-way; every entry point ends in a MarginAccount function guarded against
///      reentrancy, so a re-entry from a flash callback (or a token hook) reverts there.
contract Liquidator is ILiquidationEngine, ILiquidator, AccessControl {
    using MathLib for uint256;

    /// @notice Role allowed to change the engine parameters.
    bytes32 public constant RISK_ADMIN_ROLE = keccak256("RISK_ADMIN_ROLE");
    /// @notice Highest share of the discount that may go to the insurance fund, WAD.
    uint256 public constant MAX_INSURANCE_SHARE = 0.5e18; // 50%
    /// @notice Lowest target health, WAD: a liquidation must at least restore maintenance.
    uint256 public constant MIN_TARGET_HEALTH = WAD;
    /// @notice Highest target health, WAD.
    uint256 public constant MAX_TARGET_HEALTH = 1.5e18;

    /// @inheritdoc ILiquidator
    IMarginAccount public immutable marginAccount;

    /// @dev Both engine parameters in one slot (WAD each).
    struct Params {
        uint128 insuranceShare;
        uint128 targetHealth;
    }

    Params internal _params;

    /// @param marginAccount_ The MarginAccount to settle on.
    /// @param admin Receives DEFAULT_ADMIN_ROLE and RISK_ADMIN_ROLE.
    /// @param insuranceShare_ Share of the discount value for the insurance fund, WAD.
    /// @param targetHealth_ Health a partial liquidation restores, WAD.
    constructor(IMarginAccount marginAccount_, address admin, uint256 insuranceShare_, uint256 targetHealth_) {
        if (address(marginAccount_) == address(0) || admin == address(0)) revert ZeroAddress();
        marginAccount = marginAccount_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(RISK_ADMIN_ROLE, admin);
        _setParams(insuranceShare_, targetHealth_);
    }

    /// @notice Sets the engine parameters.
    /// @param insuranceShare_ Share of the discount value for the insurance fund, WAD, at most MAX_INSURANCE_SHARE.
    /// @param targetHealth_ Health a partial liquidation restores, WAD, in [MIN_TARGET_HEALTH, MAX_TARGET_HEALTH].
    function setParams(uint256 insuranceShare_, uint256 targetHealth_) external onlyRole(RISK_ADMIN_ROLE) {
        _setParams(insuranceShare_, targetHealth_);
    }

    /// @inheritdoc ILiquidator
    function insuranceShare() external view returns (uint256) {
        return _params.insuranceShare;
    }

    /// @inheritdoc ILiquidator
    function targetHealth() external view returns (uint256) {
        return _params.targetHealth;
    }

    /// @inheritdoc ILiquidationEngine
    function price(IMarginAccount.LiquidationSnapshot calldata snapshot, uint256 maxRepay)
        external
        view
        returns (IMarginAccount.LiquidationQuote memory)
    {
        return _price(snapshot, maxRepay, _params);
    }

    /// @inheritdoc ILiquidator
    function quote(address owner, uint96 subId, address debtAsset, address collateralAsset, uint256 maxRepay)
        external
        view
        returns (uint256 repay, uint256 seize, uint256 insuranceFee, uint256 insuranceTip, uint256 discount)
    {
        if (maxRepay == 0) revert ZeroAmount();
        if (debtAsset == collateralAsset) revert SameAsset(debtAsset);
        IMarginAccount.LiquidationSnapshot memory s =
            marginAccount.liquidationSnapshot(owner, subId, debtAsset, collateralAsset);
        IMarginAccount.LiquidationQuote memory q = _price(s, maxRepay, _params);
        _revertUnlessOk(q, s, debtAsset, collateralAsset, maxRepay);
        return (q.repay, q.seize, q.insuranceFee, q.insuranceTip, q.discount);
    }

    /// @inheritdoc ILiquidator
    function liquidate(
        address owner,
        uint96 subId,
        address debtAsset,
        address collateralAsset,
        uint256 maxRepay,
        uint256 minSeized,
        bytes calldata data
    ) external returns (uint256 repay, uint256 seize) {
        if (maxRepay == 0) revert ZeroAmount();
        if (debtAsset == collateralAsset) revert SameAsset(debtAsset);
        return marginAccount.settleLiquidation(
            IMarginAccount.LiquidationOrder({
                owner: owner,
                subId: subId,
                liquidator: msg.sender,
                debtAsset: debtAsset,
                collateralAsset: collateralAsset,
                maxRepay: maxRepay,
                minSeized: minSeized
            }),
            data
        );
    }

    /// @inheritdoc ILiquidator
    function liquidateBatch(
        IMarginAccount.AccountId[] calldata targets,
        address debtAsset,
        address collateralAsset,
        uint256 minSeizedPerRepaid
    ) external returns (uint256 repaidTotal, uint256 seizedTotal, uint256 liquidated) {
        if (debtAsset == collateralAsset) revert SameAsset(debtAsset);
        return marginAccount.settleLiquidationBatch(targets, msg.sender, debtAsset, collateralAsset, minSeizedPerRepaid);
    }

    /// @inheritdoc ILiquidator
    function lens(IMarginAccount.AccountId[] calldata targets) external view returns (AccountLens[] memory accounts) {
        Params memory params = _params;
        accounts = new AccountLens[](targets.length);
        for (uint256 i; i < targets.length; ++i) {
            accounts[i] = _lensOf(targets[i], params);
        }
    }

    /// @inheritdoc ILiquidator
    function writeOffBadDebt(address owner, uint96 subId) external returns (uint256 assetsWrittenOff) {
        return marginAccount.writeOffBadDebt(owner, subId);
    }

    // ================================================================== internal: pricing

    /// @dev The revert `liquidate` gives for a non-OK quote (the MarginAccount raises the same errors).
    function _revertUnlessOk(
        IMarginAccount.LiquidationQuote memory q,
        IMarginAccount.LiquidationSnapshot memory s,
        address debtAsset,
        address collateralAsset,
        uint256 maxRepay
    ) internal pure {
        IMarginAccount.LiquidationStatus st = q.status;
        if (st == IMarginAccount.LiquidationStatus.HEALTHY) revert AccountHealthy(s.equity, s.mmr);
        if (st == IMarginAccount.LiquidationStatus.NO_DEBT) revert NothingToRepay(debtAsset);
        if (st == IMarginAccount.LiquidationStatus.NO_COLLATERAL) revert NoCollateral(collateralAsset);
        if (st == IMarginAccount.LiquidationStatus.DUST) revert DustRemaining(q.debtLeftValue, s.minDebtValue);
        if (st == IMarginAccount.LiquidationStatus.REPAY_TOO_SMALL) {
            revert RepayTooSmall(maxRepay, s.debtIndex.mulDivUp(1, WAD));
        }
    }

    /// @dev Prices the largest liquidation of the snapshot's pair with repay <= maxRepay. Every
    ///      rounding goes against the liquidator; the caps (target, dust, collateral held) round so
    ///      that they are reached.
    function _price(IMarginAccount.LiquidationSnapshot memory s, uint256 maxRepay, Params memory params)
        internal
        pure
        returns (IMarginAccount.LiquidationQuote memory q)
    {
        if (s.equity >= int256(s.mmr)) return _status(q, IMarginAccount.LiquidationStatus.HEALTHY);
        if (s.debt == 0) return _status(q, IMarginAccount.LiquidationStatus.NO_DEBT);
        if (s.collateral == 0) return _status(q, IMarginAccount.LiquidationStatus.NO_COLLATERAL);

        // The account's discount: the health auction, capped where the liquidation would lower health.
        q.health = LiquidationMath.health(s.equity, s.mmr);
        uint256 d = LiquidationMath.discount(q.health, s.minDiscount, s.maxDiscount, s.collateralMmf, s.debtMmf);
        q.discount = d;

        // Repay cap: the target health, unless insolvent or what the capped repayment would really
        // leave (in whole scaled units) would be dust.
        uint256 cap = s.debt;
        if (s.equity > 0) cap = _targetCap(s, d, params.targetHealth).min(cap);
        if (cap < s.debt) {
            (, uint256 capped) = LiquidationMath.repayAtMost(s.debtScaled, s.debtIndex, s.debt, cap);
            if ((s.debt - capped).mulDivUp(s.debtPrice, s.debtScale) < s.minDebtValue) cap = s.debt;
        }
        bool all = _buy(s, q, maxRepay.min(cap));
        if (q.repay == 0) return _status(q, IMarginAccount.LiquidationStatus.REPAY_TOO_SMALL);

        // Dust: no debt below the floor is left behind, except next to the last collateral (written
        // off now) or on an account still below maintenance (the next liquidation takes it whole).
        // Where taking all of the collateral would leave a healthy account with dust, repay less and
        // leave exactly the floor; if that repays nothing (the debt is already at or below the
        // floor, e.g. after a price move), take all of it anyway: the dust shrinks, and the account
        // is never stuck below maintenance with every pair refused.
        if (q.repay < s.debt) {
            q.debtLeftValue = (s.debt - q.repay).mulDivUp(s.debtPrice, s.debtScale);
            if (q.debtLeftValue < s.minDebtValue) {
                if (!all) return _status(q, IMarginAccount.LiquidationStatus.DUST);
                if (s.collateralAssets > 1 && !_liquidatableAfter(s, q)) _leaveTheFloor(s, q);
            }
        }
        _incentives(s, q, params.insuranceShare);
    }

    /// @dev Fills repayScaled, repay and seize for a repayment of at most `amount` at q.discount.
    ///      Repayments burn whole scaled units and cost exactly the fall in the debt
    ///      (LiquidationMath.repayAtMost). When that repayment pays for all of the collateral held or
    ///      more, takes all of it for the smallest repayment that pays for it (repayAtLeast; it is no
    ///      larger, since seizing more than is held implies repaying at least that) and returns true.
    function _buy(IMarginAccount.LiquidationSnapshot memory s, IMarginAccount.LiquidationQuote memory q, uint256 amount)
        internal
        pure
        returns (bool all)
    {
        uint256 keep = WAD - q.discount;
        (q.repayScaled, q.repay) = LiquidationMath.repayAtMost(s.debtScaled, s.debtIndex, s.debt, amount);
        uint256 seize = q.repay.mulDivDown(s.debtPrice, s.debtScale).mulDivDown(WAD, keep).mulDivDown(
            s.collateralScale, s.collateralPrice
        );
        if (seize < s.collateral) {
            q.seize = seize;
            return false;
        }
        if (seize > s.collateral) {
            // Debt tokens that buy all of the collateral: its value (rounded up) at 1 - d, rounded up.
            uint256 need = s.collateral.mulDivUp(s.collateralPrice, s.collateralScale).mulDivUp(keep, WAD)
                .mulDivUp(s.debtScale, s.debtPrice);
            (q.repayScaled, q.repay) = LiquidationMath.repayAtLeast(s.debtScaled, s.debtIndex, s.debt, need);
        }
        q.seize = s.collateral;
        return true;
    }

    /// @dev Replaces a take-all quote that would leave a healthy account with dust by the largest
    ///      repayment that leaves at least the floor (a part of the collateral), when there is one.
    function _leaveTheFloor(IMarginAccount.LiquidationSnapshot memory s, IMarginAccount.LiquidationQuote memory q)
        internal
        pure
    {
        uint256 floorTokens = s.minDebtValue.mulDivUp(s.debtScale, s.debtPrice);
        if (floorTokens >= s.debt) return;
        IMarginAccount.LiquidationQuote memory part;
        part.discount = q.discount;
        _buy(s, part, s.debt - floorTokens); // less than what all of the collateral costs
        if (part.repay == 0) return;
        (q.repayScaled, q.repay, q.seize) = (part.repayScaled, part.repay, part.seize);
        q.debtLeftValue = (s.debt - q.repay).mulDivUp(s.debtPrice, s.debtScale);
    }

    /// @dev Insurance fee on the account's discount and, below the keeper floor (minDiscount), the
    ///      tip from the debt vault's insurance fund that tops the keeper's net gain up to it.
    function _incentives(
        IMarginAccount.LiquidationSnapshot memory s,
        IMarginAccount.LiquidationQuote memory q,
        uint256 share
    ) internal pure {
        uint256 d = q.discount;
        q.insuranceFee = q.repay.mulDivUp(d, WAD - d).mulDivUp(share, WAD);
        if (d < s.minDiscount) {
            uint256 gap = s.minDiscount.mulDivDown(WAD, WAD - s.minDiscount) - d.mulDivUp(WAD, WAD - d);
            // At most what the fund holds once this liquidation's own fee is in it (as the vault
            // books them together), so a split cannot recycle its first fee into a larger tip.
            q.insuranceTip =
                q.repay.mulDivDown(gap, WAD).mulDivDown(WAD - share, WAD).min(s.insuranceFund + q.insuranceFee);
        }
    }

    /// @dev True only if the account is certainly still below maintenance after q: an upper bound of
    ///      the equity after stays below a lower bound of the MMR after (every rounding accounted).
    function _liquidatableAfter(IMarginAccount.LiquidationSnapshot memory s, IMarginAccount.LiquidationQuote memory q)
        internal
        pure
        returns (bool)
    {
        uint256 seizeDown = q.seize.mulDivDown(s.collateralPrice, s.collateralScale);
        uint256 seizeUp = q.seize.mulDivUp(s.collateralPrice, s.collateralScale);
        uint256 repayUp = q.repay.mulDivUp(s.debtPrice, s.debtScale);
        int256 equityAfter = s.equity - int256(seizeDown) + int256(repayUp);
        uint256 mmrDrop = seizeUp.mulDivUp(s.collateralMmf, WAD) + repayUp.mulDivUp(s.debtMmf, WAD);
        return mmrDrop < s.mmr && equityAfter < int256(s.mmr - mmrDrop);
    }

    /// @dev Debt-token repay that brings equity to targetHealth * MMR (rounded up so it is reached,
    ///      plus the slack of whole scaled units: a repayment of at most R clears at least
    ///      R - ceil(index) - 1). Returns type(uint256).max when no partial liquidation can.
    function _targetCap(IMarginAccount.LiquidationSnapshot memory s, uint256 d, uint256 target)
        internal
        pure
        returns (uint256)
    {
        uint256 shortfall = target.mulDivUp(s.mmr, WAD) - uint256(s.equity); // > 0: equity < mmr <= T * mmr
        uint256 gain = WAD + target.mulDivDown(s.debtMmf, WAD);
        uint256 tCollMmf = target.mulDivUp(s.collateralMmf, WAD);
        uint256 loss = tCollMmf >= WAD ? 0 : (WAD - tCollMmf).mulDivUp(WAD, WAD - d);
        if (gain <= loss) return type(uint256).max;
        uint256 slackUnits = s.debtIndex.mulDivUp(1, WAD) + 1;
        shortfall += (slackUnits * s.debtPrice).mulDivUp(gain, s.debtScale * WAD);
        return shortfall.mulDivUp(WAD, gain - loss).mulDivUp(s.debtScale, s.debtPrice);
    }

    function _status(IMarginAccount.LiquidationQuote memory q, IMarginAccount.LiquidationStatus status)
        internal
        pure
        returns (IMarginAccount.LiquidationQuote memory)
    {
        q.status = status;
        return q;
    }

    // ================================================================== internal: lens

    /// @dev The lens entry of one account: every (debt, collateral) pair it holds (debts outer,
    ///      collaterals inner, in listing order), each priced by `_price` from the snapshot
    ///      `liquidate` itself would take (MarginAccount.liquidationSnapshot).
    function _lensOf(IMarginAccount.AccountId calldata t, Params memory params) internal view returns (AccountLens memory a) {
        address[] memory held = marginAccount.accountAssets(t.owner, t.subId);
        bool[] memory isDebt = new bool[](held.length);
        uint256 debts;
        for (uint256 i; i < held.length; ++i) {
            isDebt[i] = marginAccount.rawBalance(t.owner, t.subId, held[i]) < 0;
            if (isDebt[i]) ++debts;
        }
        (int256 equity,, uint256 mmr, uint256 health) = marginAccount.accountHealth(t.owner, t.subId);
        (a.equity, a.mmr, a.health, a.liquidatable) = (equity, mmr, health, equity < int256(mmr));
        a.pairs = new PairQuote[](debts * (held.length - debts));
        uint256 n;
        for (uint256 i; i < held.length; ++i) {
            if (!isDebt[i]) continue;
            for (uint256 j; j < held.length; ++j) {
                if (isDebt[j]) continue;
                IMarginAccount.LiquidationSnapshot memory s =
                    marginAccount.liquidationSnapshot(t.owner, t.subId, held[i], held[j]);
                IMarginAccount.LiquidationQuote memory q = _price(s, type(uint256).max, params);
                a.pairs[n++] = PairQuote({
                    debtAsset: held[i],
                    collateralAsset: held[j],
                    status: q.status,
                    maxRepay: q.repay,
                    seize: q.seize,
                    insuranceFee: q.insuranceFee,
                    insuranceTip: q.insuranceTip,
                    discount: q.discount
                });
            }
        }
    }

    function _setParams(uint256 insuranceShare_, uint256 targetHealth_) internal {
        if (
            insuranceShare_ > MAX_INSURANCE_SHARE || targetHealth_ < MIN_TARGET_HEALTH
                || targetHealth_ > MAX_TARGET_HEALTH
        ) revert InvalidEngineParams(insuranceShare_, targetHealth_);
        _params = Params({insuranceShare: uint128(insuranceShare_), targetHealth: uint128(targetHealth_)});
        emit EngineParamsSet(insuranceShare_, targetHealth_);
    }
}
