// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20, IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IMarginAccount} from "../interfaces/IMarginAccount.sol";
import {IPriceOracle} from "../interfaces/IPriceOracle.sol";
import {IVault} from "../interfaces/IVault.sol";
import {WAD} from "./libraries/Constants.sol";
import {MathLib} from "./libraries/MathLib.sol";

/// @title MarginAccount
/// @notice Holds every trader's collateral and debt as signed per-asset balances and enforces the
///         initial margin requirement on every risk-increasing action. See IMarginAccount for the
///         formulas and units.
/// @dev Storage of a balance: positive = collateral in token units; negative = scaled debt, where
///      debt in tokens = ceil(-balance * vault.borrowIndex / WAD). An account is keyed by
///      `owner << 96 | subId`; the assets it holds are the set bits of a 256-bit mask (bit = asset id).
contract MarginAccount is IMarginAccount, AccessControl, ReentrancyGuard {
    using SafeERC20 for IERC20;
    using MathLib for uint256;

    /// @notice Role allowed to list assets and change margin factors and caps.
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

    /// @inheritdoc IMarginAccount
    IPriceOracle public oracle;
    /// @inheritdoc IMarginAccount
    address public liquidator;

    address[] internal _assets;
    mapping(address asset => AssetConfig) internal _config;
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

    /// @notice Lists `asset`, lent by `vault`, with margin factors (WAD) and caps (token units).
    /// @param asset Token to list.
    /// @param vault Vault of `asset` whose borrower is this contract.
    /// @param imf Initial margin factor, WAD.
    /// @param mmf Maintenance margin factor, WAD.
    /// @param collateralCap Cap on total collateral of `asset`, token units.
    /// @param debtCap Cap on total borrows of `vault`, token units.
    function listAsset(address asset, address vault, uint256 imf, uint256 mmf, uint256 collateralCap, uint256 debtCap)
        external
        onlyRole(RISK_ADMIN_ROLE)
    {
        if (_config[asset].listed) revert AssetAlreadyListed(asset);
        if (_assets.length >= MAX_LISTED_ASSETS) revert TooManyListedAssets();
        if (IVault(vault).asset() != asset || IVault(vault).marginAccount() != address(this)) {
            revert VaultMismatch(vault, asset);
        }
        uint8 decimals = IERC20Metadata(asset).decimals();
        if (decimals > MAX_DECIMALS) revert UnsupportedDecimals(asset, decimals);
        _checkMarginFactors(imf, mmf);
        uint8 id = uint8(_assets.length);
        _assets.push(asset);
        _config[asset] = AssetConfig({
            vault: vault,
            id: id,
            listed: true,
            scale: uint64(10 ** decimals),
            imf: uint64(imf),
            mmf: uint64(mmf),
            collateralCap: SafeCast.toUint128(collateralCap),
            debtCap: SafeCast.toUint128(debtCap)
        });
        emit AssetListed(asset, vault, id, imf, mmf, collateralCap, debtCap);
    }

    /// @notice Sets the margin factors of a listed asset, within MIN/MAX_MARGIN_FACTOR and mmf < imf.
    /// @param asset Listed token.
    /// @param imf Initial margin factor, WAD.
    /// @param mmf Maintenance margin factor, WAD.
    function setMarginFactors(address asset, uint256 imf, uint256 mmf) external onlyRole(RISK_ADMIN_ROLE) {
        AssetConfig storage cfg = _listed(asset);
        _checkMarginFactors(imf, mmf);
        cfg.imf = uint64(imf);
        cfg.mmf = uint64(mmf);
        emit MarginFactorsSet(asset, imf, mmf);
    }

    /// @notice Sets the caps of a listed asset (token units, below 2**128). Lowering a cap never
    ///         forces anyone out.
    /// @param asset Listed token.
    /// @param collateralCap Cap on total collateral.
    /// @param debtCap Cap on total borrows.
    function setCaps(address asset, uint256 collateralCap, uint256 debtCap) external onlyRole(RISK_ADMIN_ROLE) {
        AssetConfig storage cfg = _listed(asset);
        cfg.collateralCap = SafeCast.toUint128(collateralCap);
        cfg.debtCap = SafeCast.toUint128(debtCap);
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
        AssetConfig memory cfg = _listedMemory(asset);
        uint256 account = _key(owner, subId);
        int256 balance = _balances[account][cfg.id];
        // Only the owner or an operator may add a new asset to an account: a stranger's dust could
        // otherwise fill its asset slots and tie its margin checks to more price feeds.
        if (balance == 0 && msg.sender != owner && !isOperator[owner][msg.sender]) {
            revert NotAuthorized(msg.sender, owner);
        }
        uint256 toCollateral = amount;
        if (balance < 0) {
            uint256 repaid;
            (balance, repaid) = _repayDebt(owner, subId, account, asset, cfg, balance, amount, msg.sender);
            toCollateral = amount - repaid;
        }
        if (toCollateral > 0) {
            balance += int256(toCollateral);
            _setBalance(account, cfg.id, balance);
            _addCollateral(asset, cfg, toCollateral);
            emit Deposited(owner, subId, asset, msg.sender, toCollateral);
            IERC20(asset).safeTransferFrom(msg.sender, address(this), toCollateral);
        }
    }

    /// @inheritdoc IMarginAccount
    function repay(address owner, uint96 subId, address asset, uint256 amount)
        external
        nonReentrant
        returns (uint256 repaid)
    {
        if (amount == 0) revert ZeroAmount();
        AssetConfig memory cfg = _listedMemory(asset);
        uint256 account = _key(owner, subId);
        int256 balance = _balances[account][cfg.id];
        if (balance >= 0) revert NoDebt(asset);
        (, repaid) = _repayDebt(owner, subId, account, asset, cfg, balance, amount, msg.sender);
    }

    /// @inheritdoc IMarginAccount
    function withdraw(address owner, uint96 subId, address asset, uint256 amount, address to) external nonReentrant {
        _authorize(owner);
        if (amount == 0) revert ZeroAmount();
        if (to == address(0)) revert ZeroAddress();
        AssetConfig memory cfg = _listedMemory(asset);
        uint256 account = _key(owner, subId);
        _takeCollateral(account, asset, cfg, amount);
        totalCollateral[asset] -= amount;
        _requireInitialMargin(account);
        emit Withdrawn(owner, subId, asset, to, amount);
        IERC20(asset).safeTransfer(to, amount);
    }

    /// @inheritdoc IMarginAccount
    function borrow(address owner, uint96 subId, address asset, uint256 amount, address to) external nonReentrant {
        _authorize(owner);
        if (amount == 0) revert ZeroAmount();
        if (to == address(0)) revert ZeroAddress();
        AssetConfig memory cfg = _listedMemory(asset);
        uint256 account = _key(owner, subId);
        int256 balance = _balances[account][cfg.id];
        if (balance > 0) revert BorrowAgainstOwnCollateral(asset, uint256(balance));
        (uint256 index, uint256 borrows) = IVault(cfg.vault).accrueInterest();
        if (borrows + amount > cfg.debtCap) revert DebtCapExceeded(asset, borrows + amount, cfg.debtCap);
        // Scaled debt rounds up: the account never owes less than it received.
        _setBalance(account, cfg.id, balance - int256(amount.mulDivUp(WAD, index)));
        _requireInitialMargin(account);
        emit Borrowed(owner, subId, asset, to, amount);
        IVault(cfg.vault).borrow(amount, to);
    }

    /// @inheritdoc IMarginAccount
    function transfer(address owner, uint96 fromSubId, uint96 toSubId, address asset, uint256 amount)
        external
        nonReentrant
    {
        _authorize(owner);
        if (amount == 0) revert ZeroAmount();
        if (fromSubId == toSubId) revert SameSubAccount(fromSubId);
        AssetConfig memory cfg = _listedMemory(asset);
        uint256 from = _key(owner, fromSubId);
        _takeCollateral(from, asset, cfg, amount);
        _requireInitialMargin(from);
        emit Transferred(owner, fromSubId, toSubId, asset, amount);

        uint256 to = _key(owner, toSubId);
        int256 balance = _balances[to][cfg.id];
        if (balance < 0) {
            // The moved collateral repays the destination's debt first; those tokens leave for the vault.
            uint256 repaid;
            (balance, repaid) = _repayDebt(owner, toSubId, to, asset, cfg, balance, amount, address(this));
            totalCollateral[asset] -= repaid;
            amount -= repaid;
        }
        if (amount > 0) _setBalance(to, cfg.id, balance + int256(amount));
    }

    // ================================================================== liquidation (Liquidator only)

    /// @inheritdoc IMarginAccount
    function settleLiquidation(
        address owner,
        uint96 subId,
        address debtAsset,
        uint256 repayAmount,
        uint256 insuranceFee,
        address collateralAsset,
        uint256 seize,
        address liquidator_
    ) external onlyLiquidator nonReentrant returns (bool bankrupt) {
        uint256 account = _key(owner, subId);
        address debtVault = _liquidateDebt(account, debtAsset, repayAmount, insuranceFee, liquidator_);
        AssetConfig memory collCfg = _listedMemory(collateralAsset);
        _takeCollateral(account, collateralAsset, collCfg, seize);
        totalCollateral[collateralAsset] -= seize;
        emit Liquidated(owner, subId, liquidator_, debtAsset, repayAmount, collateralAsset, seize, insuranceFee);

        IERC20(debtAsset).safeTransferFrom(liquidator_, debtVault, repayAmount + insuranceFee);
        IERC20(collateralAsset).safeTransfer(liquidator_, seize);
        (bool hasCollateral, bool hasDebt) = _composition(account);
        return hasDebt && !hasCollateral;
    }

    /// @dev Debt side of a liquidation: reduces the account's debt by `repayAmount` and books the
    ///      repayment and the insurance fee in the vault. Returns the vault (token receiver).
    function _liquidateDebt(uint256 account, address debtAsset, uint256 repayAmount, uint256 insuranceFee, address payer)
        internal
        returns (address vault)
    {
        AssetConfig memory cfg = _listedMemory(debtAsset);
        int256 balance = _balances[account][cfg.id];
        if (balance >= 0) revert NoDebt(debtAsset);
        (uint256 index,) = IVault(cfg.vault).accrueInterest();
        uint256 debt = uint256(-balance).mulDivUp(index, WAD);
        // A full repayment clears the scaled debt exactly; a partial one burns scaled debt rounded down.
        _setBalance(account, cfg.id, repayAmount >= debt ? int256(0) : balance + int256(repayAmount.mulDivDown(WAD, index)));
        if (insuranceFee > 0) IVault(cfg.vault).repayWithInsuranceFee(repayAmount, insuranceFee, payer);
        else IVault(cfg.vault).repay(repayAmount);
        return cfg.vault;
    }

    /// @inheritdoc IMarginAccount
    function writeOffBadDebt(address owner, uint96 subId)
        external
        onlyLiquidator
        nonReentrant
        returns (uint256 assetsWrittenOff)
    {
        uint256 account = _key(owner, subId);
        (bool hasCollateral,) = _composition(account);
        if (hasCollateral) revert AccountHasCollateral(owner, subId);
        uint256 mask = _assetMask[account];
        for (uint256 id; mask != 0; ++id) {
            if (mask & 1 == 1) {
                int256 balance = _balances[account][id];
                address asset = _assets[id];
                IVault vault = IVault(_config[asset].vault);
                (uint256 index,) = vault.accrueInterest();
                uint256 debt = uint256(-balance).mulDivUp(index, WAD);
                _balances[account][id] = 0;
                (uint256 covered, uint256 socialized) = vault.realizeBadDebt(debt);
                emit BadDebtWrittenOff(owner, subId, asset, debt, covered, socialized);
                ++assetsWrittenOff;
            }
            mask >>= 1;
        }
        _assetMask[account] = 0;
    }

    // ================================================================== views

    /// @inheritdoc IMarginAccount
    function listedAssets() external view returns (address[] memory) {
        return _assets;
    }

    /// @inheritdoc IMarginAccount
    function assetConfig(address asset) external view returns (AssetConfig memory) {
        return _config[asset];
    }

    /// @inheritdoc IMarginAccount
    function rawBalance(address owner, uint96 subId, address asset) external view returns (int256) {
        AssetConfig memory cfg = _listedMemory(asset);
        return _balances[_key(owner, subId)][cfg.id];
    }

    /// @inheritdoc IMarginAccount
    function balanceOf(address owner, uint96 subId, address asset) external view returns (int256) {
        AssetConfig memory cfg = _listedMemory(asset);
        int256 balance = _balances[_key(owner, subId)][cfg.id];
        if (balance >= 0) return balance;
        return -int256(uint256(-balance).mulDivUp(IVault(cfg.vault).borrowIndex(), WAD));
    }

    /// @inheritdoc IMarginAccount
    function accountAssets(address owner, uint96 subId) external view returns (address[] memory assets) {
        uint256 mask = _assetMask[_key(owner, subId)];
        assets = new address[](_popcount(mask));
        uint256 n;
        for (uint256 id; mask != 0; ++id) {
            if (mask & 1 == 1) assets[n++] = _assets[id];
            mask >>= 1;
        }
    }

    /// @inheritdoc IMarginAccount
    function accountHealth(address owner, uint96 subId)
        external
        view
        returns (int256 equity, uint256 imr, uint256 mmr, uint256 health)
    {
        (equity, imr, mmr) = _health(_key(owner, subId));
        if (mmr == 0) health = type(uint256).max;
        else if (equity > 0) health = uint256(equity).mulDivDown(WAD, mmr);
    }

    /// @inheritdoc IMarginAccount
    function isLiquidatable(address owner, uint96 subId) external view returns (bool) {
        (int256 equity,, uint256 mmr) = _health(_key(owner, subId));
        return equity < int256(mmr);
    }

    /// @inheritdoc IMarginAccount
    function liquidationSnapshot(address owner, uint96 subId, address debtAsset, address collateralAsset)
        external
        view
        returns (LiquidationSnapshot memory snap)
    {
        AssetConfig memory debtCfg = _listedMemory(debtAsset);
        AssetConfig memory collCfg = _listedMemory(collateralAsset);
        uint256 account = _key(owner, subId);
        uint256 mask = _assetMask[account];
        snap.debtScale = debtCfg.scale;
        snap.collateralScale = collCfg.scale;
        snap.debtMmf = debtCfg.mmf;
        snap.collateralMmf = collCfg.mmf;
        uint256 imr;
        for (uint256 id; mask != 0; ++id) {
            if (mask & 1 == 1) {
                (int256 value, uint256 price, uint256 tokens, uint256 imf, uint256 mmf) = _position(oracle, account, id);
                (snap.equity, imr, snap.mmr) = _accumulate(snap.equity, imr, snap.mmr, value, imf, mmf);
                if (id == debtCfg.id && value < 0) (snap.debtPrice, snap.debt) = (price, tokens);
                if (id == collCfg.id && value > 0) (snap.collateralPrice, snap.collateral) = (price, tokens);
            }
            mask >>= 1;
        }
    }

    // ================================================================== internal: health

    /// @dev Equity, IMR and MMR of an account, in USD WAD. Reads each asset's price once.
    function _health(uint256 account) internal view returns (int256 equity, uint256 imr, uint256 mmr) {
        uint256 mask = _assetMask[account];
        IPriceOracle oracle_ = oracle; // one storage read per health check
        for (uint256 id; mask != 0; ++id) {
            if (mask & 1 == 1) {
                (int256 value,,, uint256 imf, uint256 mmf) = _position(oracle_, account, id);
                (equity, imr, mmr) = _accumulate(equity, imr, mmr, value, imf, mmf);
            }
            mask >>= 1;
        }
    }

    /// @dev Signed USD value (WAD) of one position, its price and its size in tokens.
    ///      Collateral value rounds down, debt (tokens and value) rounds up.
    function _position(IPriceOracle oracle_, uint256 account, uint256 id)
        internal
        view
        returns (int256 value, uint256 price, uint256 tokens, uint256 imf, uint256 mmf)
    {
        address asset = _assets[id];
        AssetConfig storage cfg = _config[asset];
        int256 balance = _balances[account][id];
        (price,) = oracle_.price(asset);
        if (balance > 0) {
            tokens = uint256(balance);
            value = int256(tokens.mulDivDown(price, cfg.scale));
        } else {
            tokens = uint256(-balance).mulDivUp(IVault(cfg.vault).borrowIndex(), WAD);
            value = -int256(tokens.mulDivUp(price, cfg.scale));
        }
        (imf, mmf) = (cfg.imf, cfg.mmf);
    }

    /// @dev Adds one position's value to equity and |value| * factor (rounded up) to IMR and MMR.
    function _accumulate(int256 equity, uint256 imr, uint256 mmr, int256 value, uint256 imf, uint256 mmf)
        internal
        pure
        returns (int256, uint256, uint256)
    {
        uint256 absValue = value >= 0 ? uint256(value) : uint256(-value);
        return (equity + value, imr + absValue.mulDivUp(imf, WAD), mmr + absValue.mulDivUp(mmf, WAD));
    }

    function _requireInitialMargin(uint256 account) internal view {
        (int256 equity, uint256 imr,) = _health(account);
        if (equity < int256(imr)) revert InsufficientMargin(equity, imr);
    }

    /// @dev Whether the account holds any collateral and any debt.
    function _composition(uint256 account) internal view returns (bool hasCollateral, bool hasDebt) {
        uint256 mask = _assetMask[account];
        for (uint256 id; mask != 0; ++id) {
            if (mask & 1 == 1) {
                if (_balances[account][id] > 0) hasCollateral = true;
                else hasDebt = true;
            }
            mask >>= 1;
        }
    }

    // ================================================================== internal: balances

    /// @dev Repays up to `amount` of the account's debt (balance < 0), paid by `payer` (this contract
    ///      for internal transfers). Returns the new balance and the tokens repaid.
    function _repayDebt(
        address owner,
        uint96 subId,
        uint256 account,
        address asset,
        AssetConfig memory cfg,
        int256 balance,
        uint256 amount,
        address payer
    ) internal returns (int256 newBalance, uint256 repaid) {
        (uint256 index,) = IVault(cfg.vault).accrueInterest();
        uint256 debt = uint256(-balance).mulDivUp(index, WAD);
        if (amount >= debt) {
            (newBalance, repaid) = (0, debt);
        } else {
            // Partial repayment burns scaled debt rounded down: the payer never clears more than paid.
            (newBalance, repaid) = (balance + int256(amount.mulDivDown(WAD, index)), amount);
        }
        _setBalance(account, cfg.id, newBalance);
        IVault(cfg.vault).repay(repaid);
        emit Repaid(owner, subId, asset, payer, repaid);
        if (payer == address(this)) IERC20(asset).safeTransfer(cfg.vault, repaid);
        else IERC20(asset).safeTransferFrom(payer, cfg.vault, repaid);
    }

    /// @dev Removes `amount` of collateral from the account's balance (not from totalCollateral).
    function _takeCollateral(uint256 account, address asset, AssetConfig memory cfg, uint256 amount) internal {
        int256 balance = _balances[account][cfg.id];
        uint256 held = balance > 0 ? uint256(balance) : 0;
        if (amount > held) revert InsufficientCollateral(asset, held, amount);
        _setBalance(account, cfg.id, balance - int256(amount));
    }

    function _addCollateral(address asset, AssetConfig memory cfg, uint256 amount) internal {
        uint256 total = totalCollateral[asset] + amount;
        if (total > cfg.collateralCap) revert CollateralCapExceeded(asset, total, cfg.collateralCap);
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

    // ================================================================== internal: helpers

    function _authorize(address owner) internal view {
        if (msg.sender != owner && !isOperator[owner][msg.sender]) revert NotAuthorized(msg.sender, owner);
    }

    function _listed(address asset) internal view returns (AssetConfig storage cfg) {
        cfg = _config[asset];
        if (!cfg.listed) revert AssetNotListed(asset);
    }

    function _listedMemory(address asset) internal view returns (AssetConfig memory cfg) {
        cfg = _config[asset];
        if (!cfg.listed) revert AssetNotListed(asset);
    }

    function _checkMarginFactors(uint256 imf, uint256 mmf) internal pure {
        if (mmf < MIN_MARGIN_FACTOR || imf > MAX_MARGIN_FACTOR || mmf >= imf) revert InvalidMarginFactors(imf, mmf);
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
