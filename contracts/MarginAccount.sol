// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {ILiquidationCallback} from "../interfaces/ILiquidationCallback.sol";
import {ILiquidationEngine} from "../interfaces/ILiquidationEngine.sol";
import {IMarginAccount} from "../interfaces/IMarginAccount.sol";
import {IPriceOracle} from "../interfaces/IPriceOracle.sol";
import {IVault} from "../interfaces/IVault.sol";
import {WAD} from "./libraries/Constants.sol";
import {MarginRouter} from "./MarginRouter.sol";
import {MarginBooks} from "./MarginBooks.sol";
import {LiquidationMath} from "./libraries/LiquidationMath.sol";
import {MathLib} from "./libraries/MathLib.sol";

/// @title MarginAccount
/// @notice Holds every trader's collateral and debt as signed per-asset balances and enforces the
///         initial margin requirement on every risk-increasing action. See IMarginAccount for the
///         formulas and units.
/// @dev The account actions and liquidation settlement. Around them, by role:
///      - MarginBooks: balances, `_health` and the liquidation snapshot (and the balance layout);
///      - MarginConfig: the risk registry's storage and a position's factors (MarginMath);
///      - MarginRouter: the entry points that run MarginAdmin (registry writes, bounds, the larger
///        views of the registry and of accounts) by delegatecall.
contract MarginAccount is IMarginAccount, MarginRouter, MarginBooks, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using MathLib for uint256;

    /// @notice Most assets one account may hold at once (bounds the gas of a health check).
    uint256 public constant MAX_ASSETS_PER_ACCOUNT = 8;

    /// @inheritdoc IMarginAccount
    mapping(address owner => mapping(address operator => bool)) public isOperator;

    modifier onlyLiquidator() {
        if (msg.sender != liquidator) revert NotLiquidator(msg.sender);
        _;
    }

    /// @param admin Receives DEFAULT_ADMIN_ROLE and RISK_ADMIN_ROLE.
    /// @param oracle_ Price source.
    constructor(address admin, IPriceOracle oracle_) {
        if (admin == address(0) || address(oracle_) == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(RISK_ADMIN_ROLE, admin);
        oracle = oracle_;
        emit OracleSet(address(oracle_));
    }

    // ================================================================== account actions

    /// @inheritdoc IMarginAccount
    function totalCollateral(address asset) external view returns (uint256) {
        return _totalCollateral[asset];
    }

    /// @inheritdoc IMarginAccount
    function setOperator(address operator, bool approved) external {
        if (operator == address(0)) revert ZeroAddress();
        isOperator[msg.sender][operator] = approved;
        emit OperatorSet(msg.sender, operator, approved);
    }

    /// @inheritdoc IMarginAccount
    function deposit(address owner, uint96 subId, address asset, uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        if (owner == address(0)) revert ZeroAddress();
        uint256 id = _id(asset);
        uint256 account = _key(owner, subId);
        int256 balance = _balances[account][id];
        // Only the owner or an operator may add a new asset to an account: a stranger's dust could
        // otherwise fill its asset slots and tie its margin checks to more price feeds.
        if (balance == 0 && msg.sender != owner && !isOperator[owner][msg.sender]) {
            revert NotAuthorized(msg.sender, owner);
        }
        if (balance < 0) {
            RepayPlan memory plan = _planRepay(asset, id, balance, amount);
            _executeRepay(owner, subId, account, asset, id, plan, msg.sender);
            if (plan.newScaled != 0) return; // a partial repayment: nothing is left to deposit
            amount -= plan.repaid;
            if (amount == 0) return;
            balance = 0;
        }
        _setBalance(account, id, balance + SafeCast.toInt256(amount));
        _addCollateral(account, asset, id, amount);
        emit Deposited(owner, subId, asset, msg.sender, amount);
        IERC20(asset).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IMarginAccount
    function repay(address owner, uint96 subId, address asset, uint256 amount)
        external
        nonReentrant
        returns (uint256 repaid)
    {
        if (amount == 0) revert ZeroAmount();
        uint256 id = _id(asset);
        uint256 account = _key(owner, subId);
        int256 balance = _balances[account][id];
        if (balance >= 0) revert NoDebt(asset);
        RepayPlan memory plan = _planRepay(asset, id, balance, amount);
        _executeRepay(owner, subId, account, asset, id, plan, msg.sender);
        return plan.repaid;
    }

    /// @inheritdoc IMarginAccount
    function withdraw(address owner, uint96 subId, address asset, uint256 amount, address to) external nonReentrant {
        _authorize(owner);
        if (amount == 0) revert ZeroAmount();
        if (to == address(0)) revert ZeroAddress();
        uint256 id = _id(asset);
        uint256 account = _key(owner, subId);
        _takeCollateral(account, asset, id, amount);
        _totalCollateral[asset] -= amount;
        _requireInitialMarginIfIndebted(account, id);
        emit Withdrawn(owner, subId, asset, to, amount);
        IERC20(asset).safeTransfer(to, amount);
    }

    /// @inheritdoc IMarginAccount
    function borrow(address owner, uint96 subId, address asset, uint256 amount, address to) external nonReentrant {
        _authorize(owner);
        if (amount == 0) revert ZeroAmount();
        if (to == address(0)) revert ZeroAddress();
        uint256 id = _id(asset);
        uint256 account = _key(owner, subId);
        int256 balance = _balances[account][id];
        if (balance > 0) revert BorrowAgainstOwnCollateral(asset, uint256(balance));
        _requireNotPaused(id, PAUSE_BORROW);
        IVault vault = IVault(_lending[id].vault);
        (uint256 index, uint256 borrows) = vault.accrueInterest();
        uint256 cap = _caps[id].debtCap;
        if (borrows + amount > cap) revert DebtCapExceeded(asset, borrows + amount, cap);
        // The smallest whole number of scaled units whose debt covers the old debt plus `amount`:
        // the account never owes less than it received, and at most one scaled unit more
        // (ceil(index) - 1 base units: nothing for 6+ decimals, a unit for a 0-decimal token).
        uint256 owed = uint256(-balance).mulDivUp(index, WAD) + amount;
        _setBalance(account, id, -SafeCast.toInt256((owed - 1).mulDivDown(WAD, index) + 1));
        (int256 equity, uint256 imr,, uint256 debtValue) = _health(account, id, true);
        if (equity < int256(imr)) revert InsufficientMargin(equity, imr);
        uint256 floor = _lending[id].minDebtValue;
        if (debtValue < floor) revert DustRemaining(debtValue, floor);
        emit Borrowed(owner, subId, asset, to, amount);
        vault.borrow(amount, to);
    }

    /// @inheritdoc IMarginAccount
    function transfer(address owner, uint96 fromSubId, uint96 toSubId, address asset, uint256 amount)
        external
        nonReentrant
    {
        _authorize(owner);
        if (amount == 0) revert ZeroAmount();
        if (fromSubId == toSubId) revert SameSubAccount(fromSubId);
        uint256 id = _id(asset);
        uint256 from = _key(owner, fromSubId);
        uint256 to = _key(owner, toSubId);
        int256 balance = _balances[to][id];
        RepayPlan memory plan;
        if (balance < 0) {
            // The moved collateral repays the destination's debt first; a partial repayment moves
            // only what it repays.
            plan = _planRepay(asset, id, balance, amount);
            if (plan.newScaled != 0) amount = plan.repaid;
        }
        _takeCollateral(from, asset, id, amount);
        _requireInitialMarginIfIndebted(from, id);
        emit Transferred(owner, fromSubId, toSubId, asset, amount);
        if (balance < 0) {
            // Those tokens leave for the vault.
            _totalCollateral[asset] -= plan.repaid;
            _executeRepay(owner, toSubId, to, asset, id, plan, address(this));
            amount -= plan.repaid;
            balance = 0;
        }
        if (amount > 0) _setBalance(to, id, balance + SafeCast.toInt256(amount));
    }

    // ================================================================== liquidation (Liquidator only)

    /// @inheritdoc IMarginAccount
    function settleLiquidation(LiquidationOrder calldata o, bytes calldata data)
        external
        onlyLiquidator
        nonReentrant
        returns (uint256 repaid, uint256 seized)
    {
        _requirePayer(o.liquidator);
        uint256 account = _key(o.owner, o.subId);
        LiquidationSnapshot memory s;
        PriceCache memory cache; // empty: one account reads each price once anyway
        _liquidationSnapshot(s, account, o.debtAsset, o.collateralAsset, oracle, cache);
        LiquidationQuote memory q = ILiquidationEngine(msg.sender).price(s, o.maxRepay);
        _revertUnlessOk(q, s, o.debtAsset, o.collateralAsset, o.maxRepay);
        _checkQuote(s, q, o.maxRepay);
        _applyQuote(s, q, account, o.collateralAsset);
        if (q.seize < o.minSeized) revert SlippageExceeded(q.seize, o.minSeized);
        _totalCollateral[o.collateralAsset] -= q.seize;
        // Interactions: collateral out, optional callback, repayment and fee in (net of the tip) and
        // booked by the vault, then any bad debt, so the fee just paid is already in the insurance
        // fund that covers it.
        IERC20(o.collateralAsset).safeTransfer(o.liquidator, q.seize);
        uint256 owed = q.repay + q.insuranceFee - q.insuranceTip;
        if (data.length > 0) {
            if (o.liquidator.code.length == 0) revert CallbackToNonContract(o.liquidator);
            ILiquidationCallback(o.liquidator).onLiquidation(
                o.owner, o.subId, o.debtAsset, owed, o.collateralAsset, q.seize, data
            );
        }
        IVault vault = IVault(_lending[s.debtId].vault);
        IERC20(o.debtAsset).safeTransferFrom(o.liquidator, address(vault), owed);
        vault.repayLiquidation(q.repay, q.insuranceFee, q.insuranceTip, o.liquidator);
        // Left without collateral exactly when its only collateral asset went whole.
        uint256 badDebt =
            q.seize == s.collateral && s.collateralAssets == 1 ? _writeOff(o.owner, o.subId, account, s.debtId) : 0;
        _emitLiquidated(o.owner, o.subId, o.liquidator, o.debtAsset, o.collateralAsset, q, badDebt);
        return (q.repay, q.seize);
    }

    /// @inheritdoc IMarginAccount
    function settleLiquidationBatch(
        AccountId[] calldata targets,
        address liquidator_,
        address debtAsset,
        address collateralAsset,
        uint256 minSeizedPerRepaid
    ) external onlyLiquidator nonReentrant returns (uint256 repaidTotal, uint256 seizedTotal, uint256 liquidated) {
        _requirePayer(liquidator_);
        BatchState memory b;
        b.debtId = _id(debtAsset);
        _id(collateralAsset);
        b.vault = IVault(_lending[b.debtId].vault);
        uint256 n = _assetCount;
        PriceCache memory cache = PriceCache(new uint256[](n), new uint256[](n), new uint256[](n));
        (cache.indexes[b.debtId], b.insurance) = b.vault.indexAndInsurance();
        IPriceOracle oracle_ = oracle;
        LiquidationSnapshot memory s; // reused for every target: each is priced on the state the previous left
        for (uint256 i; i < targets.length; ++i) {
            uint256 freeMemory;
            assembly ("memory-safe") {
                freeMemory := mload(0x40)
            }
            AccountId calldata t = targets[i];
            uint256 account = _key(t.owner, t.subId);
            _liquidationSnapshot(s, account, debtAsset, collateralAsset, oracle_, cache);
            s.insuranceFund = b.insurance;
            LiquidationQuote memory q = ILiquidationEngine(msg.sender).price(s, type(uint256).max);
            if (q.status == LiquidationStatus.OK) {
                _checkQuote(s, q, type(uint256).max);
                if (q.seize.mulDivDown(WAD, q.repay) < minSeizedPerRepaid) {
                    q.status = LiquidationStatus.SLIPPAGE; // below the keeper's rate: skip this one only
                }
            }
            if (q.status != LiquidationStatus.OK) {
                emit LiquidationSkipped(t.owner, t.subId, q.status);
            } else {
                _applyQuote(s, q, account, collateralAsset);
                (repaidTotal, seizedTotal, liquidated) = (repaidTotal + q.repay, seizedTotal + q.seize, liquidated + 1);
                (b.repay, b.fee, b.tip) = (b.repay + q.repay, b.fee + q.insuranceFee, b.tip + q.insuranceTip);
                b.owed += q.repay + q.insuranceFee - q.insuranceTip;
                b.insurance = b.insurance + q.insuranceFee - q.insuranceTip;
                uint256 badDebt;
                if (q.seize == s.collateral && s.collateralAssets == 1) {
                    // Book what the batch repaid so far (its tokens arrive below) so that its fees
                    // are in the insurance fund that covers this write-off, then write off.
                    _bookBatch(b, liquidator_);
                    badDebt = _writeOff(t.owner, t.subId, account, b.debtId);
                    (, b.insurance) = b.vault.indexAndInsurance();
                }
                _emitLiquidated(t.owner, t.subId, liquidator_, debtAsset, collateralAsset, q, badDebt);
            }
            assembly ("memory-safe") {
                mstore(0x40, freeMemory) // this target's quote and call buffers are no longer needed
            }
        }
        if (liquidated == 0) return (0, 0, 0);
        // One transfer each way for the whole batch, then the rest of the booking.
        _totalCollateral[collateralAsset] -= seizedTotal;
        IERC20(collateralAsset).safeTransfer(liquidator_, seizedTotal);
        IERC20(debtAsset).safeTransferFrom(liquidator_, address(b.vault), b.owed);
        _bookBatch(b, liquidator_);
    }

    /// @dev What a batch has settled and not yet booked in the debt vault, and the fund left for tips.
    struct BatchState {
        IVault vault;
        uint256 debtId;
        uint256 repay;
        uint256 fee;
        uint256 tip;
        uint256 owed;
        uint256 insurance;
    }

    function _bookBatch(BatchState memory b, address payer) internal {
        if (b.repay == 0) return;
        b.vault.repayLiquidation(b.repay, b.fee, b.tip, payer);
        (b.repay, b.fee, b.tip) = (0, 0, 0);
    }

    /// @dev The errors `liquidate` raises for a quote that is not OK (the engine's `quote` raises the same).
    function _revertUnlessOk(
        LiquidationQuote memory q,
        LiquidationSnapshot memory s,
        address debtAsset,
        address collateralAsset,
        uint256 maxRepay
    ) internal pure {
        LiquidationStatus st = q.status;
        if (st == LiquidationStatus.OK) return;
        if (st == LiquidationStatus.HEALTHY) revert AccountHealthy(s.equity, s.mmr);
        if (st == LiquidationStatus.NO_DEBT) revert NothingToRepay(debtAsset);
        if (st == LiquidationStatus.NO_COLLATERAL) revert NoCollateral(collateralAsset);
        if (st == LiquidationStatus.DUST) revert DustRemaining(q.debtLeftValue, s.minDebtValue);
        revert RepayTooSmall(maxRepay, s.debtIndex.mulDivUp(1, WAD));
    }

    /// @dev Checks an engine's OK quote against the protocol's own bounds at the MarginAccount's own
    ///      snapshot. The repayment is what burning
    ///      q.repayScaled takes off the debt: q.repayScaled, q.repay and q.health are overwritten with
    ///      the scaled units to burn, the debt they clear and the health before (WAD).
    ///      Whatever the engine says: the account is below maintenance; 0 < repay <= maxRepay; the
    ///      account pays at most d = min(auction, health-preserving discount), so no engine can lower
    ///      an account's health or turn a solvent account into bad debt; the insurance tip only tops
    ///      d up to minDiscount; the payer gets at least what it pays at oracle prices (one
    ///      collateral and two debt base units aside, and on a take-all one scaled unit), so no
    ///      engine can charge a payer for nothing.
    function _checkQuote(LiquidationSnapshot memory s, LiquidationQuote memory q, uint256 maxRepay) internal pure {
        if (s.equity >= int256(s.mmr)) revert AccountHealthy(s.equity, s.mmr);
        uint256 burned = q.repayScaled.min(s.debtScaled);
        uint256 repay = LiquidationMath.repaidBy(s.debtScaled, s.debtIndex, s.debt, burned);
        uint256 indexUnits = s.debtIndex.mulDivUp(1, WAD);
        if (repay == 0) revert RepayTooSmall(maxRepay, indexUnits);
        if (repay > maxRepay) revert RepayAboveMax(repay, maxRepay);
        q.repay = repay;
        uint256 h = LiquidationMath.health(s.equity, s.mmr);
        uint256 d = LiquidationMath.discount(h, s.minDiscount, s.maxDiscount, s.collateralMmf, s.debtMmf);
        uint256 repayValue = repay.mulDivUp(s.debtPrice, s.debtScale);
        uint256 received = q.seize.mulDivDown(s.collateralPrice, s.collateralScale);
        if (received * (WAD - d) > repayValue * WAD) {
            revert SeizeAboveBound(received, repayValue.mulDivDown(WAD, WAD - d));
        }
        // The tip only tops the liquidator's discount up to minDiscount (rounded up: the engine's
        // is rounded down and shares the gap with insurance), so collateral and tip together are
        // never worth more than a repayment at max(d, minDiscount) buys.
        if (q.insuranceTip != 0) {
            uint256 minD = s.minDiscount;
            // repay * (minD / (1 - minD) - d / (1 - d)), rounded up; 0 from d = minD on
            uint256 maxTip = d < minD ? repay.mulDivUp(LiquidationMath.tipGap(minD, d), WAD) : 0;
            if (q.insuranceTip > maxTip) revert TipAboveBound(q.insuranceTip, maxTip);
            received += q.insuranceTip.mulDivDown(s.debtPrice, s.debtScale);
        }
        // The payer gets at least what it pays. On a take-all the repayment may overshoot the
        // collateral's price by part of a scaled unit: the payer must be whole at one unit less.
        uint256 base = q.seize == s.collateral ? LiquidationMath.repaidBy(s.debtScaled, s.debtIndex, s.debt, burned - 1) : repay;
        uint256 paid = (base + q.insuranceFee).mulDivUp(s.debtPrice, s.debtScale);
        uint256 slack = s.collateralPrice.mulDivUp(1, s.collateralScale) + 2 * s.debtPrice.mulDivUp(1, s.debtScale);
        if (received + slack < paid) revert PayerShortchanged(received, paid);
        (q.repayScaled, q.health) = (burned, h);
    }

    /// @dev The engine names the payer: never the MarginAccount itself (tokens that skip the
    ///      allowance when `from == msg.sender`, like WETH9, would pay from pooled collateral).
    function _requirePayer(address payer) internal view {
        if (payer == address(0) || payer == address(this)) revert InvalidPayer(payer);
    }

    /// @dev The balance effects of a checked quote.
    function _applyQuote(
        LiquidationSnapshot memory s,
        LiquidationQuote memory q,
        uint256 account,
        address collateralAsset
    ) internal {
        _setBalance(account, s.debtId, -int256(s.debtScaled - q.repayScaled));
        _takeCollateral(account, collateralAsset, s.collateralId, q.seize);
    }

    function _emitLiquidated(
        address owner,
        uint96 subId,
        address liquidator_,
        address debtAsset,
        address collateralAsset,
        LiquidationQuote memory q,
        uint256 badDebt
    ) internal {
        emit Liquidated(
            owner,
            subId,
            liquidator_,
            debtAsset,
            q.repay,
            collateralAsset,
            q.seize,
            q.insuranceFee,
            q.insuranceTip,
            q.discount,
            q.health,
            badDebt
        );
    }

    /// @inheritdoc IMarginAccount
    function writeOffBadDebt(address owner, uint96 subId)
        external
        onlyLiquidator
        nonReentrant
        returns (uint256 assetsWrittenOff)
    {
        uint256 account = _key(owner, subId);
        if (_holds(account, false)) revert AccountHasCollateral(owner, subId);
        assetsWrittenOff = _popcount(_assetMask[account]);
        _writeOff(owner, subId, account, MAX_LISTED_ASSETS);
    }

    /// @dev Writes off every debt of an account that holds no collateral (insurance first, then
    ///      lenders). Returns the amount written off in asset `reportId`.
    function _writeOff(address owner, uint96 subId, uint256 account, uint256 reportId)
        internal
        returns (uint256 reported)
    {
        uint256 mask = _assetMask[account];
        for (uint256 id; mask != 0; ++id) {
            if (mask & 1 == 1) {
                int256 balance = _balances[account][id];
                IVault vault = IVault(_lending[id].vault);
                (uint256 index,) = vault.accrueInterest();
                uint256 debt = uint256(-balance).mulDivUp(index, WAD);
                _balances[account][id] = 0;
                (uint256 covered, uint256 socialized) = vault.realizeBadDebt(debt);
                emit BadDebtWrittenOff(owner, subId, _markets[id].asset, debt, covered, socialized);
                if (id == reportId) reported = debt;
            }
            mask >>= 1;
        }
        _assetMask[account] = 0;
    }

    // ================================================================== internal: balances

    /// @dev A repayment worked out before anything moves: the vault, the scaled debt left and the
    ///      tokens it costs.
    struct RepayPlan {
        address vault;
        uint256 newScaled;
        uint256 repaid;
    }

    /// @dev Plans a repayment of at most `amount` of the account's debt (balance < 0): whole scaled
    ///      units, costing exactly the fall in the debt (LiquidationMath.repayAtMost). Reverts
    ///      RepayTooSmall below one scaled unit and DustRemaining when the debt left would be worth
    ///      less than the floor; without a price the dust check is skipped, since a repayment only
    ///      lowers risk and must go through in any oracle state.
    function _planRepay(address asset, uint256 id, int256 balance, uint256 amount)
        internal
        returns (RepayPlan memory plan)
    {
        Lending memory l = _lending[id];
        plan.vault = l.vault;
        (uint256 index,) = IVault(l.vault).accrueInterest();
        uint256 scaled = uint256(-balance);
        uint256 debt = scaled.mulDivUp(index, WAD);
        uint256 burned;
        (burned, plan.repaid) = LiquidationMath.repayAtMost(scaled, index, debt, amount);
        if (plan.repaid == 0) revert RepayTooSmall(amount, index.mulDivUp(1, WAD));
        plan.newScaled = scaled - burned;
        if (plan.newScaled != 0 && l.minDebtValue != 0) {
            try oracle.price(asset) returns (uint256 price, uint256) {
                uint256 left = (debt - plan.repaid).mulDivUp(price, 10 ** _markets[id].decimals);
                if (left < l.minDebtValue) revert DustRemaining(left, l.minDebtValue);
            } catch {}
        }
    }

    /// @dev Executes a planned repayment paid by `payer` (this contract for internal transfers).
    function _executeRepay(
        address owner,
        uint96 subId,
        uint256 account,
        address asset,
        uint256 id,
        RepayPlan memory plan,
        address payer
    ) internal {
        _setBalance(account, id, -int256(plan.newScaled));
        IVault(plan.vault).repay(plan.repaid);
        emit Repaid(owner, subId, asset, payer, plan.repaid);
        if (payer == address(this)) IERC20(asset).safeTransfer(plan.vault, plan.repaid);
        else IERC20(asset).safeTransferFrom(payer, plan.vault, plan.repaid);
    }

    /// @dev Removes `amount` of collateral from the account's balance (not from totalCollateral).
    function _takeCollateral(uint256 account, address asset, uint256 id, uint256 amount) internal {
        int256 balance = _balances[account][id];
        uint256 held = balance > 0 ? uint256(balance) : 0;
        if (amount > held) revert InsufficientCollateral(asset, held, amount);
        _setBalance(account, id, balance - int256(amount));
    }

    /// @dev Books a deposit. The collateral cap binds deposits into debt-free accounts; an account
    ///      that owes something can always add margin, whatever the cap (nothing blocks a
    ///      borrower's defence against liquidation), but the asset then backs no new borrowing,
    ///      withdrawal or transfer out of an indebted account until it is back under its cap.
    function _addCollateral(uint256 account, address asset, uint256 id, uint256 amount) internal {
        uint256 total = _totalCollateral[asset] + amount;
        uint256 cap = _caps[id].collateralCap;
        if (total > cap) {
            if (!_holds(account, true)) revert CollateralCapExceeded(asset, total, cap);
            // Accepted (it defends a position), but the asset backs no new risk until it is back
            // under its cap (`_health`, strict): a small debt is no way around the cap.
            if (!_markets[id].overCap) _markets[id].overCap = true;
            emit CollateralAboveCap(asset, total, cap);
        }
        _totalCollateral[asset] = total;
    }

    /// @dev Writes a balance and keeps the asset mask in step (bit set iff balance != 0).
    function _setBalance(uint256 account, uint256 id, int256 balance) internal {
        _balances[account][id] = balance;
        uint256 mask = _assetMask[account];
        uint256 bit = 1 << id;
        if (balance == 0) {
            if (mask & bit != 0) _assetMask[account] = mask & ~bit;
        } else if (mask & bit == 0) {
            if (_popcount(mask) >= MAX_ASSETS_PER_ACCOUNT) revert TooManyAssets(MAX_ASSETS_PER_ACCOUNT);
            _assetMask[account] = mask | bit;
        }
    }

    // ================================================================== internal: helpers

    function _authorize(address owner) internal view {
        if (msg.sender != owner && !isOperator[owner][msg.sender]) revert NotAuthorized(msg.sender, owner);
    }

}
