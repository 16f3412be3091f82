// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

import {ILiquidationEngine} from "../interfaces/ILiquidationEngine.sol";
import {ILiquidator} from "../interfaces/ILiquidator.sol";
import {IMarginAccount} from "../interfaces/IMarginAccount.sol";
import {WAD} from "./libraries/Constants.sol";
import {LiquidationMath} from "./libraries/LiquidationMath.sol";
import {MarginMath} from "./libraries/MarginMath.sol";
import {FixedPointMathLib} from "solady/utils/FixedPointMathLib.sol";
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
    /// @notice With size-dependent factors the repay cap is within 1/TARGET_PRECISION above the
    ///         smallest repayment that reaches the target health.
    uint256 public constant TARGET_PRECISION = 128;
    /// @notice The second-order guess is placed GUESS_MARGIN/512 past its root: the expansion of
    ///         v^1.5 falls short by its cubic term (about 0.2% for a fifth of a position).
    uint256 public constant GUESS_MARGIN = 3;
    /// @notice Most evaluations of that search (it takes one in the usual case).
    uint256 public constant MAX_TARGET_STEPS = 16;

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
    function positionMargin(address owner, uint96 subId, address asset)
        external
        view
        returns (PositionMargin memory p)
    {
        IMarginAccount ma = marginAccount;
        IMarginAccount.MarginCurve memory c = ma.marginCurve(asset);
        int256 balance = ma.balanceOf(owner, subId, asset);
        uint256 scale = uint256(ma.assetConfig(asset).scale);
        if (balance != 0) {
            (uint256 priceWad,) = ma.oracle().price(asset);
            p.value = balance > 0
                ? uint256(balance).mulDivDown(priceWad, scale)
                : uint256(-balance).mulDivUp(priceWad, scale);
        }
        p.curve = c;
        if (!c.dynamic) {
            (p.sizeMultiplier, p.imf, p.mmfInitial, p.mmf) = (WAD, c.imfBase, c.mmfBase, c.mmfBase);
            return p;
        }
        p.sizeMultiplier = MarginMath.sizeMultiplier(p.value, c.sizeThreshold);
        p.mmfInitial =
            MarginMath.mmf(MarginMath.MmfCurve(c.mmfBase, c.floorInitial, c.sizeThreshold, c.mmfCap), p.value);
        p.imf = MarginMath.imf(p.mmfInitial, c.imfBase, c.mmfBase, c.imfCap);
        p.mmf = MarginMath.mmf(
            MarginMath.MmfCurve(c.mmfBaseLiquidation, c.floorLiquidation, c.sizeThreshold, c.mmfCap), p.value
        );
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
        if (s.equity > 0) {
            cap = _targetCap(s, d, params.targetHealth).min(cap);
            // Size-dependent factors: MMR falls faster than linearly, so the linear cap overshoots.
            if (cap < s.debt && (s.collateralCurve | s.debtCurve) != 0) {
                Curves memory cv = _curves(s);
                if ((cv.coll.threshold | cv.debt.threshold) != 0) {
                    Rest memory r = _values(s);
                    if (_sized(s, cv, r)) {
                        _restOf(s, cv, r);
                        cap = _smallestToTarget(s, cv, r, d, params.targetHealth, cap);
                    }
                }
            }
        }
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

    /// @dev True if the account is still below maintenance after q (exactly as the MarginAccount
    ///      will value it).
    function _liquidatableAfter(IMarginAccount.LiquidationSnapshot memory s, IMarginAccount.LiquidationQuote memory q)
        internal
        pure
        returns (bool)
    {
        Curves memory cv = _curves(s);
        (int256 equity, uint256 mmr,,) = _after(s, cv, _rest(s, cv), q.repayScaled, q.seize);
        return equity < int256(mmr);
    }

    /// @dev Equity and MMR of the account without the pair's two positions, and those two
    ///      positions' values now (USD WAD, collateral rounded down, debt up).
    struct Rest {
        int256 equity;
        uint256 mmr;
        uint256 collValue;
        uint256 debtValue;
    }

    /// @dev The pair's two maintenance curves, unpacked (a static asset's is all zero).
    struct Curves {
        MarginMath.MmfCurve coll;
        MarginMath.MmfCurve debt;
    }

    function _curves(IMarginAccount.LiquidationSnapshot memory s) internal pure returns (Curves memory) {
        return Curves(MarginMath.unpack(s.collateralCurve), MarginMath.unpack(s.debtCurve));
    }

    /// @dev v * mmf(v), rounded up, as the MarginAccount computes it (a static asset: the
    ///      snapshot's mmf at any size).
    function _req(MarginMath.MmfCurve memory c, uint256 value, uint256 staticMmf) internal pure returns (uint256) {
        return value.mulDivUp(c.base == 0 ? staticMmf : MarginMath.mmf(c, value), WAD);
    }

    function _rest(IMarginAccount.LiquidationSnapshot memory s, Curves memory cv) internal pure returns (Rest memory r) {
        r = _values(s);
        _restOf(s, cv, r);
    }

    /// @dev The pair's two position values only (what `_sized` needs).
    function _values(IMarginAccount.LiquidationSnapshot memory s) internal pure returns (Rest memory r) {
        r.collValue = s.collateral.mulDivDown(s.collateralPrice, s.collateralScale);
        r.debtValue = s.debt.mulDivUp(s.debtPrice, s.debtScale);
    }

    /// @dev Fills the equity and MMR without the pair into `r` (its values already set).
    function _restOf(IMarginAccount.LiquidationSnapshot memory s, Curves memory cv, Rest memory r) internal pure {
        r.equity = s.equity - int256(r.collValue) + int256(r.debtValue);
        r.mmr = s.mmr - _req(cv.coll, r.collValue, s.collateralMmf) - _req(cv.debt, r.debtValue, s.debtMmf);
    }

    /// @dev Equity and MMR after burning `burned` scaled debt units and seizing `seize`, valued as
    ///      the MarginAccount values them (collateral down, debt and requirements up), and the
    ///      marginal factors d(v * mmf(v))/dv of the two positions there (WAD).
    function _after(
        IMarginAccount.LiquidationSnapshot memory s,
        Curves memory cv,
        Rest memory r,
        uint256 burned,
        uint256 seize
    )
        internal
        pure
        returns (int256 equity, uint256 mmr, uint256 collSlope, uint256 debtSlope)
    {
        uint256 collValue = (s.collateral - seize).mulDivDown(s.collateralPrice, s.collateralScale);
        uint256 debtValue = (s.debtScaled - burned).mulDivUp(s.debtIndex, WAD).mulDivUp(s.debtPrice, s.debtScale);
        // A static asset's curve is all zero: its factor is the snapshot's at any size.
        uint256 collMmf = cv.coll.base == 0 ? s.collateralMmf : MarginMath.mmf(cv.coll, collValue);
        uint256 debtMmf = cv.debt.base == 0 ? s.debtMmf : MarginMath.mmf(cv.debt, debtValue);
        equity = r.equity + int256(collValue) - int256(debtValue);
        mmr = r.mmr + collValue.mulDivUp(collMmf, WAD) + debtValue.mulDivUp(debtMmf, WAD);
        collSlope = MarginMath.marginalMmf(cv.coll, collValue, collMmf);
        debtSlope = MarginMath.marginalMmf(cv.debt, debtValue, debtMmf);
    }

    /// @dev g(R) = E' - T * MMR' after a liquidation repaying at most R debt tokens at discount d,
    ///      and the marginal factors there (a repayment that buys all of the collateral counts as
    ///      reaching the target).
    function _targetGap(
        IMarginAccount.LiquidationSnapshot memory s,
        Curves memory cv,
        Rest memory r,
        uint256 d,
        uint256 target,
        uint256 amount
    ) internal pure returns (int256, uint256, uint256) {
        (uint256 burned, uint256 repay) = LiquidationMath.repayAtMost(s.debtScaled, s.debtIndex, s.debt, amount);
        uint256 seize = repay.mulDivDown(s.debtPrice, s.debtScale).mulDivDown(WAD, WAD - d).mulDivDown(
            s.collateralScale, s.collateralPrice
        );
        if (seize >= s.collateral) return (1, 0, 0);
        (int256 equity, uint256 mmr, uint256 cs, uint256 ds) = _after(s, cv, r, burned, seize);
        return (equity - int256(target.mulDivUp(mmr, WAD)), cs, ds);
    }

    /// @dev One Newton step from repayment x where g = `g`: x - g / g'(x), in debt tokens, with
    ///      g'(R) = (T * (collSlope / (1 - d) + debtSlope) - d / (1 - d)) * p_debt / s_debt.
    ///      Returns type(uint256).max when g' <= 0 (no step).
    function _newton(
        IMarginAccount.LiquidationSnapshot memory s,
        int256 g,
        uint256 collSlope,
        uint256 debtSlope,
        uint256 d,
        uint256 target,
        uint256 x
    ) internal pure returns (uint256) {
        uint256 keep = WAD - d;
        uint256 gain = target.mulDivDown(collSlope.mulDivDown(WAD, keep) + debtSlope, WAD);
        uint256 loss = d.mulDivUp(WAD, keep);
        if (gain <= loss) return type(uint256).max;
        uint256 step = (g < 0 ? uint256(-g) : uint256(g)).mulDivDown(WAD, gain - loss).mulDivDown(
            s.debtScale, s.debtPrice
        );
        if (g < 0) return x + step;
        return step >= x ? 0 : x - step;
    }

    /// @dev Whether the size term sets either position's factor somewhere below its current value
    ///      (otherwise MMR falls linearly and the linear cap is exact).
    function _sized(IMarginAccount.LiquidationSnapshot memory s, Curves memory cv, Rest memory r)
        internal
        pure
        returns (bool)
    {
        return !MarginMath.linearBelow(cv.coll, r.collValue, s.collateralMmf)
            || !MarginMath.linearBelow(cv.debt, r.debtValue, s.debtMmf);
    }

    /// @dev The smallest repayment, within 1/128 above it, that brings the account to
    ///      targetHealth with size-dependent factors. v * mmf(v) is convex in each position's value
    ///      (MarginMath), so g(R) = E' - T * MMR' is concave and increasing (while the discount is
    ///      below its listing bound): a tangent at any point lies above g, so from a point where
    ///      g >= 0 the tangent's root is a lower bound of the smallest repayment that reaches the
    ///      target. The first point is the root of g's second-order expansion at 0 (exact for the
    ///      v^1.5 of the size term up to third order), 3/512 past it (the cubic term makes the
    ///      expansion fall short); the usual case then needs one
    ///      exact evaluation (as the MarginAccount will value the account). Otherwise Newton's
    ///      method continues; `hi`, the linear cap, reaches the target anyway and is the fallback.
    function _smallestToTarget(
        IMarginAccount.LiquidationSnapshot memory s,
        Curves memory cv,
        Rest memory r,
        uint256 d,
        uint256 target,
        uint256 hi
    )
        internal
        pure
        returns (uint256)
    {
        uint256 x = _quadraticGuess(s, cv, r, d, target).min(hi);
        uint256 lo;
        // A position at the cap with its size term on: v * mmf(v) is not convex at the cap, so a
        // tangent is no lower bound there; only evaluated points bound the search, which then
        // goes by regula falsi (Illinois) between them.
        bool kink = _capped(cv.coll, s.collateralMmf) || _capped(cv.debt, s.debtMmf);
        int256 flo = s.equity - int256(target.mulDivUp(s.mmr, WAD)); // g(0) < 0
        int256 fhi; // g(hi) once evaluated (0: not yet)
        int256 side;
        for (uint256 i; i < MAX_TARGET_STEPS; ++i) {
            (int256 g, uint256 cs, uint256 ds) = _targetGap(s, cv, r, d, target, x);
            if (g >= 0) {
                (hi, fhi) = (x, g + 1);
                uint256 t = cs == 0 || kink ? 0 : _newton(s, g, cs, ds, d, target, x); // below the root
                if (t != type(uint256).max && t > lo) lo = t;
                if (hi - lo <= hi / TARGET_PRECISION + 1) return hi;
                if (kink && side == 1) flo /= 2;
                side = 1;
                x = kink ? _secant(lo, flo, hi, fhi) : lo + (hi - lo) / 2;
            } else {
                (lo, flo) = (x.max(lo), g);
                if (kink && fhi != 0) {
                    if (side == -1) fhi = fhi / 2 + 1;
                    side = -1;
                    x = _secant(lo, flo, hi, fhi);
                } else {
                    uint256 next = _newton(s, g, cs, ds, d, target, x);
                    if (next >= hi) return hi;
                    x = next + next / (4 * TARGET_PRECISION) + 1; // 1/512 past a lower bound
                    if (x >= hi) return hi;
                }
            }
        }
        return hi;
    }

    /// @dev The secant's root between (lo, flo < 0) and (hi, fhi > 0), strictly inside (lo, hi).
    function _secant(uint256 lo, int256 flo, uint256 hi, int256 fhi) internal pure returns (uint256 x) {
        x = lo + uint256(-flo).mulDivDown(hi - lo, uint256(fhi - flo));
        if (x <= lo) x = lo + 1;
        if (x >= hi) x = hi - 1;
    }

    function _capped(MarginMath.MmfCurve memory c, uint256 mmfAtValue) internal pure returns (bool) {
        return c.threshold != 0 && mmfAtValue >= c.cap;
    }

    /// @dev The smaller root of g(0) + g'(0) R - g''(0) R^2 / 2 (values in USD), 3/512 past it, in
    ///      debt tokens: with f = v * mmf(v), f' = 1.5 mmf and f'' = 0.75 mmf / v where the size
    ///      term sets mmf (0 elsewhere), g'(0) = T (f'_c / (1 - d) + f'_d) - d / (1 - d) and
    ///      g''(0) = T (f''_c / (1 - d)^2 + f''_d). 0 when there is no real root (Newton from 0 then).
    function _quadraticGuess(
        IMarginAccount.LiquidationSnapshot memory s,
        Curves memory cv,
        Rest memory r,
        uint256 d,
        uint256 target
    ) internal pure returns (uint256) {
        uint256 keep = WAD - d;
        (uint256 collValue, uint256 debtValue) = (r.collValue, r.debtValue);
        uint256 cs = MarginMath.marginalMmf(cv.coll, collValue, s.collateralMmf);
        uint256 ds = MarginMath.marginalMmf(cv.debt, debtValue, s.debtMmf);
        uint256 gain = target.mulDivDown(cs.mulDivDown(WAD, keep) + ds, WAD);
        uint256 loss = d.mulDivUp(WAD, keep);
        if (gain <= loss) return 0;
        uint256 slope = gain - loss; // g'(0), WAD
        uint256 shortfall = target.mulDivUp(s.mmr, WAD) - uint256(s.equity); // -g(0) > 0, USD WAD
        // 2 * (-g(0)) * g''(0), WAD^2 (rounded up: a smaller discriminant, a larger root)
        uint256 curve;
        // v * f''(v) = 0.75 mmf = f'(v) / 2 where the size term sets mmf: 2 * f'' * shortfall = f' * shortfall / v
        if (cs != s.collateralMmf) {
            curve = shortfall.mulDivUp(cs, collValue).mulDivUp(WAD, keep).mulDivUp(WAD, keep);
        }
        if (ds != s.debtMmf) curve += shortfall.mulDivUp(ds, debtValue);
        curve = curve.mulDivUp(target, WAD) * WAD;
        uint256 sq = slope * slope;
        if (curve >= sq) return 0;
        uint256 root = (2 * shortfall).mulDivUp(WAD, slope + FixedPointMathLib.sqrt(sq - curve)); // USD WAD
        uint256 tokens = root.mulDivUp(s.debtScale, s.debtPrice);
        return tokens + tokens * GUESS_MARGIN / (4 * TARGET_PRECISION) + 2; // the cubic term: falls short
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
