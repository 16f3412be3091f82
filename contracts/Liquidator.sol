// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {ILiquidator} from "../interfaces/ILiquidator.sol";
import {IMarginAccount} from "../interfaces/IMarginAccount.sol";
import {WAD} from "./libraries/Constants.sol";
import {MathLib} from "./libraries/MathLib.sol";

/// @title Liquidator
/// @notice The liquidation engine: health-based Dutch-auction discount, partial liquidation to a
///         target health, dust rule, flash liquidation, batch liquidation and a lens for keepers.
///         See ILiquidator for the rules and docs/liquidation.md for the derivation.
/// @dev Units: token amounts in token units, prices and values in USD WAD, factors in WAD.
///      With d the discount, p the oracle prices and s the token scales:
///        seize = repay * p_debt / s_debt / (1 - d) * s_coll / p_coll            (rounded down)
///        fee   = repay * d / (1 - d) * insuranceShare                           (rounded up)
///      The target cap solves E' = T * MMR' for the repaid value R, where a liquidation changes
///        equity by R - R / (1 - d) and MMR by -(R * mmf_debt + R / (1 - d) * mmf_coll):
///        R = (T * MMR - E) / ((1 + T * mmf_debt) - (1 - T * mmf_coll) / (1 - d))
///      The MarginAccount keeps maxDiscount below the bound that makes the denominator positive.
contract Liquidator is ILiquidator, AccessControl, ReentrancyGuardTransient {
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

    /// @dev One priced liquidation.
    struct Quote {
        Status status;
        uint256 repay;
        uint256 seize;
        uint256 fee;
        uint256 discount;
        uint256 health;
        uint256 debtLeftValue;
    }

    /// @param marginAccount_ The MarginAccount to settle on.
    /// @param admin Receives DEFAULT_ADMIN_ROLE and RISK_ADMIN_ROLE.
    /// @param insuranceShare_ Share of the discount value for the insurance fund, WAD.
    /// @param targetHealth_ Health a partial liquidation restores, WAD.
    constructor(IMarginAccount marginAccount_, address admin, uint256 insuranceShare_, uint256 targetHealth_) {
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

    /// @inheritdoc ILiquidator
    function quote(address owner, uint96 subId, address debtAsset, address collateralAsset, uint256 maxRepay)
        external
        view
        returns (uint256 repay, uint256 seize, uint256 insuranceFee, uint256 discount)
    {
        (Quote memory q,) = _quoteOrRevert(owner, subId, debtAsset, collateralAsset, maxRepay);
        return (q.repay, q.seize, q.fee, q.discount);
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
    ) external nonReentrant returns (uint256 repay, uint256 seize) {
        (Quote memory q, IMarginAccount.LiquidationSnapshot memory s) =
            _quoteOrRevert(owner, subId, debtAsset, collateralAsset, maxRepay);
        if (q.seize < minSeized) revert SlippageExceeded(q.seize, minSeized);
        marginAccount.settleLiquidation(_settlement(owner, subId, debtAsset, collateralAsset, q, s), data);
        return (q.repay, q.seize);
    }

    /// @inheritdoc ILiquidator
    function liquidateBatch(IMarginAccount.AccountId[] calldata targets, address debtAsset, address collateralAsset, uint256 minSeizedTotal)
        external
        nonReentrant
        returns (uint256 repaidTotal, uint256 seizedTotal, uint256 liquidated)
    {
        if (debtAsset == collateralAsset) revert SameAsset(debtAsset);
        Params memory params = _params;
        IMarginAccount.Settlement[] memory batch = new IMarginAccount.Settlement[](targets.length);
        IMarginAccount.LiquidationSnapshot[] memory snaps =
            marginAccount.liquidationSnapshots(targets, debtAsset, collateralAsset);
        for (uint256 i; i < targets.length; ++i) {
            IMarginAccount.AccountId calldata t = targets[i];
            IMarginAccount.LiquidationSnapshot memory s = snaps[i];
            Quote memory q = _price(s, type(uint256).max, params);
            if (q.status != Status.OK || _listedBefore(batch, liquidated, t)) {
                emit LiquidationSkipped(t.owner, t.subId, q.status == Status.OK ? Status.DUPLICATE : q.status);
                continue;
            }
            batch[liquidated++] = _settlement(t.owner, t.subId, debtAsset, collateralAsset, q, s);
            repaidTotal += q.repay;
            seizedTotal += q.seize;
        }
        if (seizedTotal < minSeizedTotal) revert SlippageExceeded(seizedTotal, minSeizedTotal);
        assembly ("memory-safe") {
            mstore(batch, liquidated) // drop the unused tail
        }
        if (liquidated > 0) marginAccount.settleLiquidationBatch(batch);
    }

    /// @dev Whether (t.owner, t.subId) is already among the first `n` settlements of the batch
    ///      (a duplicate would be priced on the state before its first liquidation).
    function _listedBefore(IMarginAccount.Settlement[] memory batch, uint256 n, IMarginAccount.AccountId calldata t)
        internal
        pure
        returns (bool)
    {
        for (uint256 i; i < n; ++i) {
            if (batch[i].owner == t.owner && batch[i].subId == t.subId) return true;
        }
        return false;
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
    function writeOffBadDebt(address owner, uint96 subId) external nonReentrant returns (uint256 assetsWrittenOff) {
        return marginAccount.writeOffBadDebt(owner, subId);
    }

    // ================================================================== internal

    function _quoteOrRevert(address owner, uint96 subId, address debtAsset, address collateralAsset, uint256 maxRepay)
        internal
        view
        returns (Quote memory q, IMarginAccount.LiquidationSnapshot memory s)
    {
        if (maxRepay == 0) revert ZeroAmount();
        if (debtAsset == collateralAsset) revert SameAsset(debtAsset);
        s = marginAccount.liquidationSnapshot(owner, subId, debtAsset, collateralAsset);
        q = _price(s, maxRepay, _params);
        if (q.status == Status.HEALTHY) revert AccountHealthy(s.equity, s.mmr);
        if (q.status == Status.NO_DEBT) revert NothingToRepay(debtAsset);
        if (q.status == Status.NO_COLLATERAL) revert NoCollateral(collateralAsset);
        if (q.status == Status.DUST) revert DustRemaining(q.debtLeftValue, s.minDebtValue);
    }

    /// @dev Prices the largest liquidation of the snapshot's pair with repay <= maxRepay. Every
    ///      rounding goes against the liquidator; the caps (target, dust, collateral held) round so
    ///      that they are reached.
    function _price(IMarginAccount.LiquidationSnapshot memory s, uint256 maxRepay, Params memory params)
        internal
        pure
        returns (Quote memory q)
    {
        if (s.equity >= int256(s.mmr)) return _status(q, Status.HEALTHY);
        if (s.debt == 0) return _status(q, Status.NO_DEBT);
        if (s.collateral == 0) return _status(q, Status.NO_COLLATERAL);

        // Discount: a Dutch auction in health, from minDiscount at health 1 to maxDiscount at 0.
        if (s.equity > 0) q.health = uint256(s.equity).mulDivDown(WAD, s.mmr);
        uint256 d = s.minDiscount + (s.maxDiscount - s.minDiscount).mulDivDown(WAD - q.health, WAD); // health < 1
        q.discount = d;

        // Repay cap: the target health, unless insolvent or the debt left would be dust.
        uint256 cap = s.debt;
        if (s.equity > 0) cap = _targetCap(s, d, params.targetHealth).min(cap);
        if (cap < s.debt && (s.debt - cap).mulDivUp(s.debtPrice, s.debtScale) < s.minDebtValue) cap = s.debt;
        q.repay = maxRepay.min(cap);

        // Equity floor: a liquidation never turns a solvent account into bad debt. The discount value
        // it pays, repayValue * d / (1 - d), stays within the equity: d <= E / (repayValue + E).
        if (s.equity > 0) {
            uint256 repayValue = q.repay.mulDivUp(s.debtPrice, s.debtScale);
            uint256 affordable = uint256(s.equity).mulDivDown(WAD, repayValue + uint256(s.equity));
            if (affordable < q.discount) q.discount = affordable;
        }

        _buyCollateral(s, q);

        // Dust: never leave a debt below the floor, unless this liquidation takes all of the seized
        // collateral asset (else an account whose collaterals are each too small could never be
        // liquidated): the next liquidation may then repay the dust in full, and an account left
        // with no collateral has the rest written off in this transaction.
        if (q.repay < s.debt) {
            q.debtLeftValue = (s.debt - q.repay).mulDivUp(s.debtPrice, s.debtScale);
            if (q.debtLeftValue < s.minDebtValue && q.seize != s.collateral) return _status(q, Status.DUST);
        }
        // Insurance: its share of the discount value, d / (1 - d) of the repayment, paid on top.
        q.fee = q.repay.mulDivUp(q.discount, WAD - q.discount).mulDivUp(params.insuranceShare, WAD);
    }

    /// @dev Collateral bought at price * (1 - discount); when the account holds less, all of it for
    ///      a smaller repayment (rounded up).
    function _buyCollateral(IMarginAccount.LiquidationSnapshot memory s, Quote memory q) internal pure {
        uint256 keep = WAD - q.discount;
        q.seize = q.repay.mulDivDown(s.debtPrice, s.debtScale).mulDivDown(WAD, keep).mulDivDown(
            s.collateralScale, s.collateralPrice
        );
        if (q.seize > s.collateral) {
            q.seize = s.collateral;
            uint256 value = s.collateral.mulDivUp(s.collateralPrice, s.collateralScale);
            q.repay = value.mulDivUp(keep, WAD).mulDivUp(s.debtScale, s.debtPrice).min(q.repay);
        }
    }

    /// @dev Debt-token repay that brings equity to targetHealth * MMR (rounded up so it is reached,
    ///      plus the settlement's rounding slack).
    ///      Returns type(uint256).max when no partial liquidation can (denominator <= 0).
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
        // The settlement burns scaled debt rounded down and reads the rest back rounded up, so the
        // account may owe up to ceil(index) + 1 base units more than debt - repay; each such unit
        // costs (1 + T * mmf_debt) of its value in shortfall, which the cap must also repay.
        uint256 slackUnits = s.debtIndex.mulDivUp(1, WAD) + 1;
        shortfall += (slackUnits * s.debtPrice).mulDivUp(gain, s.debtScale * WAD);
        return shortfall.mulDivUp(WAD, gain - loss).mulDivUp(s.debtScale, s.debtPrice);
    }

    function _status(Quote memory q, Status status) internal pure returns (Quote memory) {
        q.status = status;
        return q;
    }

    function _settlement(
        address owner,
        uint96 subId,
        address debtAsset,
        address collateralAsset,
        Quote memory q,
        IMarginAccount.LiquidationSnapshot memory s
    ) internal view returns (IMarginAccount.Settlement memory) {
        return IMarginAccount.Settlement({
            owner: owner,
            subId: subId,
            liquidator: msg.sender,
            debtAsset: debtAsset,
            debtId: s.debtId,
            debtIndex: s.debtIndex,
            repay: q.repay,
            insuranceFee: q.fee,
            collateralAsset: collateralAsset,
            collateralId: s.collateralId,
            seize: q.seize,
            discount: q.discount,
            health: q.health
        });
    }

    /// @dev The lens entry of one account: every (debt, collateral) pair priced by `_price` from a
    ///      snapshot built exactly as `MarginAccount.liquidationSnapshot` builds it.
    function _lensOf(IMarginAccount.AccountId calldata t, Params memory params) internal view returns (AccountLens memory a) {
        (int256 equity, uint256 mmr, IMarginAccount.Position[] memory positions) =
            marginAccount.accountSnapshot(t.owner, t.subId);
        (a.equity, a.mmr, a.liquidatable) = (equity, mmr, equity < int256(mmr));
        if (mmr == 0) a.health = type(uint256).max;
        else if (equity > 0) a.health = uint256(equity).mulDivDown(WAD, mmr);
        uint256 debts;
        for (uint256 i; i < positions.length; ++i) {
            if (positions[i].isDebt) ++debts;
        }
        uint256 collaterals = positions.length - debts;
        a.pairs = new PairQuote[](debts * collaterals);
        uint256 n;
        for (uint256 i; i < positions.length; ++i) {
            if (!positions[i].isDebt) continue;
            for (uint256 j; j < positions.length; ++j) {
                if (positions[j].isDebt) continue;
                IMarginAccount.LiquidationSnapshot memory s =
                    _pairSnapshot(equity, mmr, positions[i], positions[j], collaterals);
                Quote memory q = _price(s, type(uint256).max, params);
                a.pairs[n++] = PairQuote({
                    debtAsset: positions[i].asset,
                    collateralAsset: positions[j].asset,
                    status: q.status,
                    maxRepay: q.repay,
                    seize: q.seize,
                    insuranceFee: q.fee,
                    discount: q.discount
                });
            }
        }
    }

    function _pairSnapshot(
        int256 equity,
        uint256 mmr,
        IMarginAccount.Position memory debt,
        IMarginAccount.Position memory coll,
        uint256 collaterals
    ) internal pure returns (IMarginAccount.LiquidationSnapshot memory s) {
        (s.equity, s.mmr, s.collateralAssets) = (equity, mmr, collaterals);
        (s.debt, s.debtPrice, s.debtScale, s.debtMmf) = (debt.tokens, debt.price, debt.scale, debt.mmf);
        (s.minDebtValue, s.debtIndex, s.debtId) = (debt.minDebtValue, debt.index, debt.id);
        (s.collateral, s.collateralPrice, s.collateralScale) = (coll.tokens, coll.price, coll.scale);
        (s.collateralMmf, s.minDiscount, s.maxDiscount, s.collateralId) =
            (coll.mmf, coll.minDiscount, coll.maxDiscount, coll.id);
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
