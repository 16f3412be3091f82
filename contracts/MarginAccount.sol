// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20, IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {ILiquidationCallback} from "../interfaces/ILiquidationCallback.sol";
import {ILiquidationEngine} from "../interfaces/ILiquidationEngine.sol";
import {IMarginAccount} from "../interfaces/IMarginAccount.sol";
import {IPriceOracle} from "../interfaces/IPriceOracle.sol";
import {IVault} from "../interfaces/IVault.sol";
import {WAD} from "./libraries/Constants.sol";
import {LiquidationMath} from "./libraries/LiquidationMath.sol";
import {MathLib} from "./libraries/MathLib.sol";

/// @title MarginAccount
/// @notice Holds every trader's collateral and debt as signed per-asset balances and enforces the
///         initial margin requirement on every risk-increasing action. See IMarginAccount for the
///         formulas and units.
/// @dev Storage of a balance: positive = collateral in token units; negative = scaled debt, where
///      debt in tokens = ceil(-balance * vault.borrowIndex / WAD). An account is keyed by
///      `owner << 96 | subId`; the assets it holds are the set bits of a 256-bit mask (bit = asset id).
///      Per listed asset (by id) one slot, `Market`, holds everything a health check reads for a
///      collateral (address, decimals, margin factors, discounts, in basis points); a debt also reads
///      `Lending` (vault, dust floor). Caps sit in a third slot that only deposit and borrow read.
contract MarginAccount is IMarginAccount, AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using MathLib for uint256;

    /// @notice Role allowed to list assets and change margin factors, liquidation parameters and caps.
    bytes32 public constant RISK_ADMIN_ROLE = keccak256("RISK_ADMIN_ROLE");
    /// @notice Most assets one account may hold at once (bounds the gas of a health check).
    uint256 public constant MAX_ASSETS_PER_ACCOUNT = 8;
    /// @notice Most assets that can be listed (bits in an account's asset mask).
    uint256 public constant MAX_LISTED_ASSETS = 256;
    /// @notice Lowest margin factor an admin may set, WAD.
    uint256 public constant MIN_MARGIN_FACTOR = 0.005e18; // 0.5%
    /// @notice Highest margin factor an admin may set, WAD.
    uint256 public constant MAX_MARGIN_FACTOR = 0.95e18; // 95%
    /// @notice Most decimals a listed token may have (10**decimals must fit the uint64 scale).
    uint8 public constant MAX_DECIMALS = 18;
    /// @notice One basis point in WAD: factors are stored as whole basis points.
    uint256 public constant BPS = 1e14;
    /// @dev "No asset" for `_health`'s value report (ids are below MAX_LISTED_ASSETS).
    uint256 internal constant NO_ASSET = type(uint256).max;
    /// @notice Lowest minDiscount an admin may set, WAD: the keeper floor must pay something.
    uint256 public constant MIN_DISCOUNT = BPS; // 0.01%
    /// @notice Highest maxDiscount an admin may set, WAD (the bound below is usually lower).
    uint256 public constant MAX_DISCOUNT = 0.5e18; // 50%

    /// @dev Everything a position valuation reads, one slot per asset id. Factors in basis points.
    struct Market {
        address asset;
        uint8 decimals;
        uint16 imfBps;
        uint16 mmfBps;
        uint16 minDiscountBps;
        uint16 maxDiscountBps;
    }

    /// @dev What a debt additionally reads: the vault and the dust floor (USD WAD).
    struct Lending {
        address vault;
        uint96 minDebtValue;
    }

    /// @dev Caps, token units; read by deposit and borrow only.
    struct Caps {
        uint128 collateralCap;
        uint128 debtCap;
    }

    /// @inheritdoc IMarginAccount
    IPriceOracle public oracle;
    /// @inheritdoc IMarginAccount
    address public liquidator;

    uint256 internal _assetCount;
    mapping(uint256 id => Market) internal _markets;
    mapping(uint256 id => Lending) internal _lending;
    mapping(uint256 id => Caps) internal _caps;
    /// @dev asset => id + 1 (0 = not listed).
    mapping(address asset => uint256) internal _idPlusOne;
    /// @inheritdoc IMarginAccount
    mapping(address asset => uint256) public totalCollateral;
    /// @inheritdoc IMarginAccount
    mapping(address owner => mapping(address operator => bool)) public isOperator;
    mapping(uint256 account => uint256 mask) internal _assetMask;
    mapping(uint256 account => mapping(uint256 assetId => int256)) internal _balances;

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

    // ================================================================== admin

    /// @notice Lists `asset`, lent by `vault`, with margin factors (WAD, whole basis points), caps
    ///         (token units) and liquidation parameters, all in one call: an asset is never listed
    ///         without the discounts a keeper is paid in.
    /// @param asset Token to list.
    /// @param vault Vault of `asset` whose borrower is this contract.
    /// @param imf Initial margin factor, WAD.
    /// @param mmf Maintenance margin factor, WAD.
    /// @param collateralCap Cap on total collateral of `asset`, token units.
    /// @param debtCap Cap on total borrows of `vault`, token units.
    /// @param minDiscount Liquidation discount (and keeper floor) on this collateral, WAD (see setLiquidationParams).
    /// @param maxDiscount Discount cap on this collateral, WAD.
    /// @param minDebtValue Dust floor of a debt in this asset, USD WAD.
    function listAsset(
        address asset,
        address vault,
        uint256 imf,
        uint256 mmf,
        uint256 collateralCap,
        uint256 debtCap,
        uint256 minDiscount,
        uint256 maxDiscount,
        uint256 minDebtValue
    ) external onlyRole(RISK_ADMIN_ROLE) {
        if (_idPlusOne[asset] != 0) revert AssetAlreadyListed(asset);
        uint256 id = _assetCount;
        if (id >= MAX_LISTED_ASSETS) revert TooManyListedAssets();
        if (IVault(vault).asset() != asset || IVault(vault).marginAccount() != address(this)) {
            revert VaultMismatch(vault, asset);
        }
        uint8 decimals = IERC20Metadata(asset).decimals();
        if (decimals > MAX_DECIMALS) revert UnsupportedDecimals(asset, decimals);
        _checkMarginFactors(imf, mmf);
        _checkLiquidationParams(minDiscount, maxDiscount, minDebtValue);
        _assetCount = id + 1;
        _idPlusOne[asset] = id + 1;
        _markets[id] = Market({
            asset: asset,
            decimals: decimals,
            imfBps: uint16(imf / BPS),
            mmfBps: uint16(mmf / BPS),
            minDiscountBps: uint16(minDiscount / BPS),
            maxDiscountBps: uint16(maxDiscount / BPS)
        });
        _lending[id] = Lending({vault: vault, minDebtValue: uint96(minDebtValue)});
        _caps[id] = Caps({collateralCap: SafeCast.toUint128(collateralCap), debtCap: SafeCast.toUint128(debtCap)});
        emit AssetListed(asset, vault, uint8(id), imf, mmf, collateralCap, debtCap);
        emit LiquidationParamsSet(asset, minDiscount, maxDiscount, minDebtValue);
        _checkDiscountBounds(); // covers the new asset's cap, and a lower mmf lowers every asset's bound
    }

    /// @notice Sets the margin factors of a listed asset, within MIN/MAX_MARGIN_FACTOR, mmf < imf,
    ///         whole basis points; every asset's discount cap must stay below its bound.
    /// @param asset Listed token.
    /// @param imf Initial margin factor, WAD.
    /// @param mmf Maintenance margin factor, WAD.
    function setMarginFactors(address asset, uint256 imf, uint256 mmf) external onlyRole(RISK_ADMIN_ROLE) {
        Market storage m = _markets[_id(asset)];
        _checkMarginFactors(imf, mmf);
        m.imfBps = uint16(imf / BPS);
        m.mmfBps = uint16(mmf / BPS);
        emit MarginFactorsSet(asset, imf, mmf);
        _checkDiscountBounds();
    }

    /// @notice Sets the liquidation parameters of a listed asset.
    /// @param asset Listed token.
    /// @param minDiscount Discount on this collateral when health is just below 1, and the keeper
    ///        floor the insurance fund tops up to below it, WAD, whole basis points, >= MIN_DISCOUNT.
    /// @param maxDiscount Discount cap on this collateral, WAD, whole basis points, <= MAX_DISCOUNT;
    ///        must stay below (mmf + minMmf) / (1 + minMmf) (DiscountAboveBound).
    /// @param minDebtValue Dust floor of a debt in this asset, USD WAD (below 2**96).
    function setLiquidationParams(address asset, uint256 minDiscount, uint256 maxDiscount, uint256 minDebtValue)
        external
        onlyRole(RISK_ADMIN_ROLE)
    {
        uint256 id = _id(asset);
        _checkLiquidationParams(minDiscount, maxDiscount, minDebtValue);
        Market storage m = _markets[id];
        uint256 bound = _discountBound(m.mmfBps, _minMmfBps());
        if (maxDiscount >= bound) revert DiscountAboveBound(asset, maxDiscount, bound);
        m.minDiscountBps = uint16(minDiscount / BPS);
        m.maxDiscountBps = uint16(maxDiscount / BPS);
        _lending[id].minDebtValue = uint96(minDebtValue);
        emit LiquidationParamsSet(asset, minDiscount, maxDiscount, minDebtValue);
    }

    /// @notice Sets the caps of a listed asset (token units, below 2**128). Lowering a cap never
    ///         forces anyone out.
    /// @param asset Listed token.
    /// @param collateralCap Cap on total collateral.
    /// @param debtCap Cap on total borrows.
    function setCaps(address asset, uint256 collateralCap, uint256 debtCap) external onlyRole(RISK_ADMIN_ROLE) {
        _caps[_id(asset)] =
            Caps({collateralCap: SafeCast.toUint128(collateralCap), debtCap: SafeCast.toUint128(debtCap)});
        emit CapsSet(asset, collateralCap, debtCap);
    }

    /// @notice Replaces the price oracle.
    /// @param oracle_ New IPriceOracle.
    function setOracle(IPriceOracle oracle_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (address(oracle_) == address(0)) revert ZeroAddress();
        oracle = oracle_;
        emit OracleSet(address(oracle_));
    }

    /// @notice Replaces the Liquidator (the pricing engine allowed to settle liquidations).
    /// @param liquidator_ New Liquidator.
    function setLiquidator(address liquidator_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (liquidator_ == address(0)) revert ZeroAddress();
        liquidator = liquidator_;
        emit LiquidatorSet(liquidator_);
    }

    // ================================================================== account actions

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
        _addCollateral(asset, id, amount);
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
        totalCollateral[asset] -= amount;
        _requireInitialMarginIfIndebted(account);
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
        IVault vault = IVault(_lending[id].vault);
        (uint256 index, uint256 borrows) = vault.accrueInterest();
        uint256 cap = _caps[id].debtCap;
        if (borrows + amount > cap) revert DebtCapExceeded(asset, borrows + amount, cap);
        // The smallest whole number of scaled units whose debt covers the old debt plus `amount`:
        // the account never owes less than it received, and at most one scaled unit more
        // (ceil(index) - 1 base units: nothing for 6+ decimals, a unit for a 0-decimal token).
        uint256 owed = uint256(-balance).mulDivUp(index, WAD) + amount;
        _setBalance(account, id, -SafeCast.toInt256((owed - 1).mulDivDown(WAD, index) + 1));
        (int256 equity, uint256 imr,, uint256 debtValue) = _health(account, id);
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
        _requireInitialMarginIfIndebted(from);
        emit Transferred(owner, fromSubId, toSubId, asset, amount);
        if (balance < 0) {
            // Those tokens leave for the vault.
            totalCollateral[asset] -= plan.repaid;
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
        totalCollateral[o.collateralAsset] -= q.seize;
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
        PriceCache memory cache = PriceCache(new uint256[](n), new uint256[](n));
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
        totalCollateral[collateralAsset] -= seizedTotal;
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
        if (_hasCollateral(account)) revert AccountHasCollateral(owner, subId);
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

    // ================================================================== views

    /// @inheritdoc IMarginAccount
    function listedAssets() external view returns (address[] memory assets) {
        uint256 n = _assetCount;
        assets = new address[](n);
        for (uint256 id; id < n; ++id) {
            assets[id] = _markets[id].asset;
        }
    }

    /// @inheritdoc IMarginAccount
    function assetConfig(address asset) external view returns (AssetConfig memory cfg) {
        uint256 idPlusOne = _idPlusOne[asset];
        if (idPlusOne == 0) return cfg;
        uint256 id = idPlusOne - 1;
        Market memory m = _markets[id];
        Lending memory l = _lending[id];
        Caps memory c = _caps[id];
        cfg = AssetConfig({
            vault: l.vault,
            id: uint8(id),
            listed: true,
            scale: uint64(10 ** m.decimals),
            imf: uint64(m.imfBps * BPS),
            mmf: uint64(m.mmfBps * BPS),
            collateralCap: c.collateralCap,
            debtCap: c.debtCap,
            minDiscount: uint64(m.minDiscountBps * BPS),
            maxDiscount: uint64(m.maxDiscountBps * BPS),
            minDebtValue: l.minDebtValue
        });
    }

    /// @notice Highest maxDiscount `asset` may have now, WAD (exclusive): (mmf + minMmf) / (1 + minMmf).
    /// @param asset Listed token.
    function discountBound(address asset) external view returns (uint256) {
        return _discountBound(_markets[_id(asset)].mmfBps, _minMmfBps());
    }

    /// @inheritdoc IMarginAccount
    function rawBalance(address owner, uint96 subId, address asset) external view returns (int256) {
        return _balances[_key(owner, subId)][_id(asset)];
    }

    /// @inheritdoc IMarginAccount
    function balanceOf(address owner, uint96 subId, address asset) external view returns (int256) {
        uint256 id = _id(asset);
        int256 balance = _balances[_key(owner, subId)][id];
        if (balance >= 0) return balance;
        return -int256(uint256(-balance).mulDivUp(IVault(_lending[id].vault).borrowIndex(), WAD));
    }

    /// @inheritdoc IMarginAccount
    function accountAssets(address owner, uint96 subId) external view returns (address[] memory assets) {
        uint256 mask = _assetMask[_key(owner, subId)];
        assets = new address[](_popcount(mask));
        uint256 n;
        for (uint256 id; mask != 0; ++id) {
            if (mask & 1 == 1) assets[n++] = _markets[id].asset;
            mask >>= 1;
        }
    }

    /// @inheritdoc IMarginAccount
    function accountHealth(address owner, uint96 subId)
        external
        view
        returns (int256 equity, uint256 imr, uint256 mmr, uint256 health)
    {
        (equity, imr, mmr,) = _health(_key(owner, subId), NO_ASSET);
        if (mmr == 0) health = type(uint256).max;
        else if (equity > 0) health = uint256(equity).mulDivDown(WAD, mmr);
    }

    /// @inheritdoc IMarginAccount
    function isLiquidatable(address owner, uint96 subId) external view returns (bool) {
        (int256 equity,, uint256 mmr,) = _health(_key(owner, subId), NO_ASSET);
        return equity < int256(mmr);
    }

    /// @inheritdoc IMarginAccount
    function liquidationSnapshot(address owner, uint96 subId, address debtAsset, address collateralAsset)
        external
        view
        returns (LiquidationSnapshot memory snap)
    {
        PriceCache memory cache; // empty: a single account reads each price once anyway
        _liquidationSnapshot(snap, _key(owner, subId), debtAsset, collateralAsset, oracle, cache);
    }

    /// @dev Fills `snap` for one account in one pass (its accumulators are reset, so a batch reuses
    ///      one struct). Values and requirements are rounded exactly as `_health` rounds them.
    ///      An unlisted asset reverts AssetNotListed.
    function _liquidationSnapshot(
        LiquidationSnapshot memory snap,
        uint256 account,
        address debtAsset,
        address collateralAsset,
        IPriceOracle oracle_,
        PriceCache memory cache
    ) internal view {
        (snap.equity, snap.mmr, snap.debt, snap.collateral) = (0, 0, 0, 0);
        (snap.collateralAssets, snap.debtScaled) = (0, 0);
        uint256 mask = _assetMask[account];
        for (uint256 id; mask != 0; ++id) {
            if (mask & 1 == 1) {
                Market memory m = _markets[id];
                int256 balance = _balances[account][id];
                uint256 price = _price(oracle_, m.asset, id, cache);
                uint256 scale = 10 ** m.decimals;
                uint256 mmf = uint256(m.mmfBps) * BPS;
                if (balance > 0) {
                    uint256 value = uint256(balance).mulDivDown(price, scale);
                    snap.equity += int256(value);
                    snap.mmr += value.mulDivUp(mmf, WAD);
                    ++snap.collateralAssets;
                    if (m.asset == collateralAsset) {
                        (snap.collateral, snap.collateralPrice, snap.collateralScale) = (uint256(balance), price, scale);
                        (snap.collateralMmf, snap.collateralId) = (mmf, id);
                        (snap.minDiscount, snap.maxDiscount) =
                            (uint256(m.minDiscountBps) * BPS, uint256(m.maxDiscountBps) * BPS);
                    }
                } else {
                    Lending memory l = _lending[id];
                    uint256 index;
                    if (m.asset == debtAsset && cache.indexes.length == 0) {
                        (index, snap.insuranceFund) = IVault(l.vault).indexAndInsurance();
                    } else {
                        index = _borrowIndex(l.vault, id, cache);
                    }
                    uint256 tokens = uint256(-balance).mulDivUp(index, WAD);
                    uint256 value = tokens.mulDivUp(price, scale);
                    snap.equity -= int256(value);
                    snap.mmr += value.mulDivUp(mmf, WAD);
                    if (m.asset == debtAsset) {
                        (snap.debt, snap.debtPrice, snap.debtScale, snap.debtMmf) = (tokens, price, scale, mmf);
                        (snap.minDebtValue, snap.debtIndex, snap.debtId) = (l.minDebtValue, index, id);
                        snap.debtScaled = uint256(-balance);
                    }
                }
            }
            mask >>= 1;
        }
        // Not held: say whether the asset is listed at all (only on this path, to keep liquidations cheap).
        if (snap.debt == 0) _id(debtAsset);
        if (snap.collateral == 0) _id(collateralAsset);
    }

    /// @dev Prices and borrow indexes already read in this call, by asset id (0 = not read yet).
    ///      Empty arrays disable the cache.
    struct PriceCache {
        uint256[] prices;
        uint256[] indexes;
    }

    function _price(IPriceOracle oracle_, address asset, uint256 id, PriceCache memory cache)
        internal
        view
        returns (uint256 price)
    {
        if (cache.prices.length == 0) {
            (price,) = oracle_.price(asset);
            return price;
        }
        price = cache.prices[id];
        if (price == 0) {
            (price,) = oracle_.price(asset);
            cache.prices[id] = price;
        }
    }

    function _borrowIndex(address vault, uint256 id, PriceCache memory cache) internal view returns (uint256 index) {
        if (cache.indexes.length == 0) return IVault(vault).borrowIndex();
        index = cache.indexes[id];
        if (index == 0) {
            index = IVault(vault).borrowIndex();
            cache.indexes[id] = index;
        }
    }

    // ================================================================== internal: health

    /// @dev Equity, IMR and MMR of an account, in USD WAD, and the value of its position in asset
    ///      `valueId` (NO_ASSET for none). Reads each asset's price once. Collateral values round
    ///      down; debt tokens, debt values and requirements round up.
    function _health(uint256 account, uint256 valueId)
        internal
        view
        returns (int256 equity, uint256 imr, uint256 mmr, uint256 idValue)
    {
        uint256 mask = _assetMask[account];
        IPriceOracle oracle_ = oracle; // one storage read per health check
        for (uint256 id; mask != 0; ++id) {
            if (mask & 1 == 1) {
                Market memory m = _markets[id];
                int256 balance = _balances[account][id];
                (uint256 price,) = oracle_.price(m.asset);
                uint256 scale = 10 ** m.decimals;
                uint256 value;
                if (balance > 0) {
                    value = uint256(balance).mulDivDown(price, scale);
                    equity += int256(value);
                } else {
                    uint256 index = IVault(_lending[id].vault).borrowIndex();
                    value = uint256(-balance).mulDivUp(index, WAD).mulDivUp(price, scale);
                    equity -= int256(value);
                }
                if (id == valueId) idValue = value;
                imr += value.mulDivUp(uint256(m.imfBps) * BPS, WAD);
                mmr += value.mulDivUp(uint256(m.mmfBps) * BPS, WAD);
            }
            mask >>= 1;
        }
    }

    /// @dev E >= IMR, checked only when the account owes something: with no debt, E >= IMR holds at
    ///      any positive prices because every imf < 1, so no price is read (and none can block it).
    function _requireInitialMarginIfIndebted(uint256 account) internal view {
        if (!_hasDebt(account)) return;
        (int256 equity, uint256 imr,,) = _health(account, NO_ASSET);
        if (equity < int256(imr)) revert InsufficientMargin(equity, imr);
    }

    /// @dev Whether the account owes anything.
    function _hasDebt(uint256 account) internal view returns (bool) {
        uint256 mask = _assetMask[account];
        for (uint256 id; mask != 0; ++id) {
            if (mask & 1 == 1 && _balances[account][id] < 0) return true;
            mask >>= 1;
        }
        return false;
    }

    /// @dev Whether the account holds any collateral.
    function _hasCollateral(uint256 account) internal view returns (bool) {
        uint256 mask = _assetMask[account];
        for (uint256 id; mask != 0; ++id) {
            if (mask & 1 == 1 && _balances[account][id] > 0) return true;
            mask >>= 1;
        }
        return false;
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

    function _addCollateral(address asset, uint256 id, uint256 amount) internal {
        uint256 total = totalCollateral[asset] + amount;
        uint256 cap = _caps[id].collateralCap;
        if (total > cap) revert CollateralCapExceeded(asset, total, cap);
        totalCollateral[asset] = total;
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

    // ================================================================== internal: risk parameters

    /// @dev Every asset's maxDiscount must stay below its bound (after an mmf fell or an asset was listed).
    function _checkDiscountBounds() internal view {
        uint256 n = _assetCount;
        uint256 minMmf = _minMmfBps();
        for (uint256 id; id < n; ++id) {
            Market storage m = _markets[id];
            uint256 maxDiscount = m.maxDiscountBps * BPS;
            uint256 bound = _discountBound(m.mmfBps, minMmf);
            if (maxDiscount >= bound) revert DiscountAboveBound(m.asset, maxDiscount, bound);
        }
    }

    /// @dev Lowest maintenance factor of any listed asset, basis points.
    function _minMmfBps() internal view returns (uint256 minMmf) {
        uint256 n = _assetCount;
        minMmf = type(uint256).max;
        for (uint256 id; id < n; ++id) {
            minMmf = MathLib.min(minMmf, _markets[id].mmfBps);
        }
    }

    /// @dev (mmf + minMmf) / (1 + minMmf) in WAD, rounded down: the discount at which seizing
    ///      collateral of this asset against the lowest-mmf debt stops reducing MMR - equity.
    function _discountBound(uint256 mmfBps, uint256 minMmfBps) internal pure returns (uint256) {
        return ((mmfBps + minMmfBps) * BPS).mulDivDown(WAD, WAD + minMmfBps * BPS);
    }

    // ================================================================== internal: helpers

    function _authorize(address owner) internal view {
        if (msg.sender != owner && !isOperator[owner][msg.sender]) revert NotAuthorized(msg.sender, owner);
    }

    /// @dev Id of a listed asset; reverts AssetNotListed otherwise.
    function _id(address asset) internal view returns (uint256) {
        uint256 idPlusOne = _idPlusOne[asset];
        if (idPlusOne == 0) revert AssetNotListed(asset);
        return idPlusOne - 1;
    }

    function _checkMarginFactors(uint256 imf, uint256 mmf) internal pure {
        if (
            mmf < MIN_MARGIN_FACTOR || imf > MAX_MARGIN_FACTOR || mmf >= imf || imf % BPS != 0 || mmf % BPS != 0
        ) revert InvalidMarginFactors(imf, mmf);
    }

    function _checkLiquidationParams(uint256 minDiscount, uint256 maxDiscount, uint256 minDebtValue) internal pure {
        if (
            minDiscount < MIN_DISCOUNT || minDiscount > maxDiscount || maxDiscount > MAX_DISCOUNT
                || minDiscount % BPS != 0 || maxDiscount % BPS != 0 || minDebtValue > type(uint96).max
        ) revert InvalidLiquidationParams(minDiscount, maxDiscount, minDebtValue);
    }

    /// @dev Account key: owner in the high 160 bits, sub-account id in the low 96.
    function _key(address owner, uint96 subId) internal pure returns (uint256) {
        return (uint256(uint160(owner)) << 96) | subId;
    }

    function _popcount(uint256 mask) internal pure returns (uint256 n) {
        // Kernighan: each step clears the lowest set bit.
        while (mask != 0) {
            mask &= mask - 1;
            ++n;
        }
    }
}
