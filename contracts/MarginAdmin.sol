// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IMarginAccount} from "../interfaces/IMarginAccount.sol";
import {IMarginConfig} from "../interfaces/IMarginConfig.sol";
import {IPriceOracle} from "../interfaces/IPriceOracle.sol";
import {IVault} from "../interfaces/IVault.sol";
import {WAD} from "./libraries/Constants.sol";
import {MarginBooks} from "./MarginBooks.sol";
import {MarginMath} from "./libraries/MarginMath.sol";
import {MathLib} from "./libraries/MathLib.sol";

/// @title MarginAdmin
/// @notice The MarginAccount's admin module: every write to the risk registry, with its bounds,
///         and the larger views (of the registry and of accounts).
///         The MarginAccount deploys it in its constructor and runs it by delegatecall on its own
///         storage (the same MarginConfig layout), which keeps the MarginAccount under the
///         24,576-byte code limit. Called directly, it acts on its own empty storage, where no one
///         holds a role.
contract MarginAdmin is IMarginConfig, MarginBooks {
    using MathLib for uint256;

    // ================================================================== admin

    /// @notice Lists `asset`, lent by `vault`, with margin factors (WAD, whole basis points), caps
    ///         (token units) and liquidation parameters, all in one call: an asset is never listed
    ///         without the discounts a keeper is paid in. Dynamic margin starts off (setDynamicParams).
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
            maxDiscountBps: uint16(maxDiscount / BPS),
            dynamic: false,
            paused: 0,
            overCap: false
        });
        _lending[id] = Lending({vault: vault, minDebtValue: uint96(minDebtValue)});
        _caps[id] = Caps({collateralCap: SafeCast.toUint128(collateralCap), debtCap: SafeCast.toUint128(debtCap)});
        _dynamic[id].baseFromBps = uint16(mmf / BPS);
        emit AssetListed(asset, vault, uint8(id), imf, mmf, collateralCap, debtCap);
        emit LiquidationParamsSet(asset, minDiscount, maxDiscount, minDebtValue);
        _checkDiscountBounds(); // covers the new asset's cap, and a lower mmf lowers every asset's bound
    }

    /// @notice Sets the base margin factors of a listed asset, within MIN/MAX_MARGIN_FACTOR and the
    ///         model's caps, mmf < imf, whole basis points; every asset's discount cap must stay
    ///         below its bound. A higher mmf reaches liquidations over the asset's rampPeriod
    ///         (RampStarted); the imf, and a lower mmf, apply at once.
    /// @param asset Listed token.
    /// @param imf Initial margin factor, WAD.
    /// @param mmf Maintenance margin factor, WAD.
    ///         The guardian may call it only to raise both factors, and to raise the mmf only on an
    ///         asset whose rise ramps over at least GUARDIAN_MIN_RAMP, so that no healthy borrower is
    ///         liquidated by surprise. An unchanged mmf leaves a running ramp alone.
    function setMarginFactors(address asset, uint256 imf, uint256 mmf) external {
        uint256 id = _id(asset);
        Market storage m = _markets[id];
        Dynamic storage d = _dynamic[id];
        uint256 oldBps = m.mmfBps;
        uint256 newBps = mmf / BPS;
        _onlyRiskAdminOrGuardian(
            imf >= m.imfBps * BPS && mmf >= oldBps * BPS && (mmf == oldBps * BPS || d.rampPeriod >= GUARDIAN_MIN_RAMP)
        );
        _checkMarginFactors(imf, mmf);
        if (newBps != oldBps) {
            // Restart from where the ramp is now, rounded up: a restart never loses progress, so
            // repeated changes cannot hold a rise back.
            uint256 current = _rampNowUp(d.baseFromBps, oldBps, d.baseRampStart, d.rampPeriod);
            (d.baseFromBps, d.baseRampStart) = (uint16(newBps > current ? current : newBps), uint32(block.timestamp));
            if (newBps > current && d.rampPeriod != 0) {
                emit RampStarted(asset, false, current * BPS, mmf, block.timestamp, d.rampPeriod);
            }
        }
        m.imfBps = uint16(imf / BPS);
        m.mmfBps = uint16(newBps);
        emit MarginFactorsSet(asset, imf, mmf);
        _checkDiscountBounds();
    }

    /// @dev MarginMath.ramp rounded up (basis points).
    function _rampNowUp(uint256 from, uint256 to, uint256 start, uint256 period) internal view returns (uint256) {
        if (to <= from || period == 0 || block.timestamp >= start + period) return to;
        return from + (to - from).mulDivUp(block.timestamp - start, period);
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
        uint256 bound = _discountBound(_lowMmfBps(id), _minMmfBps());
        if (maxDiscount >= bound) revert DiscountAboveBound(asset, maxDiscount, bound);
        m.minDiscountBps = uint16(minDiscount / BPS);
        m.maxDiscountBps = uint16(maxDiscount / BPS);
        _lending[id].minDebtValue = uint96(minDebtValue);
        emit LiquidationParamsSet(asset, minDiscount, maxDiscount, minDebtValue);
    }

    /// @notice Sets the caps of a listed asset (token units, below 2**128). Lowering a cap never
    ///         forces anyone out, and the collateral cap never refuses a deposit into an account
    ///         that owes something; held above its cap, an asset backs no new borrowing (or
    ///         withdrawal from an indebted account). The guardian may only lower (or keep) both caps.
    /// @param asset Listed token.
    /// @param collateralCap Cap on total collateral.
    /// @param debtCap Cap on total borrows.
    function setCaps(address asset, uint256 collateralCap, uint256 debtCap) external {
        uint256 id = _id(asset);
        Caps memory c = _caps[id];
        _onlyRiskAdminOrGuardian(collateralCap <= c.collateralCap && debtCap <= c.debtCap);
        _caps[id] = Caps({collateralCap: SafeCast.toUint128(collateralCap), debtCap: SafeCast.toUint128(debtCap)});
        emit CapsSet(asset, collateralCap, debtCap);
        // Held above a lower cap, the asset backs no new risk (MarginBooks._requireWithinCap).
        uint256 total = _totalCollateral[asset];
        _markets[id].overCap = total > collateralCap;
        if (total > collateralCap) emit CollateralAboveCap(asset, total, collateralCap);
    }

    /// @inheritdoc IMarginConfig
    function pause(address asset, uint256 flags) external {
        _onlyRiskAdminOrGuardian(true);
        _setPause(asset, flags, true);
    }

    /// @inheritdoc IMarginConfig
    function unpause(address asset, uint256 flags) external onlyRole(RISK_ADMIN_ROLE) {
        _setPause(asset, flags, false);
    }

    /// @notice Sets the dynamic margin of a listed asset (all three 0 = static margin).
    /// @param asset Listed token.
    /// @param sizeThreshold Position value above which mmf grows as sqrt(value / sizeThreshold), USD
    ///        WAD, whole dollars, 0 (off) or in [MIN_SIZE_THRESHOLD, MAX_SIZE_THRESHOLD].
    /// @param rampPeriod Seconds over which a higher mmf (base or volatility floor) reaches
    ///        liquidations, at most MAX_RAMP_PERIOD (0 = at once).
    /// @param staleFloor Volatility floor used for initial margin while sigma is older than the
    ///        model's maxSigmaAge, WAD, whole basis points, at most MAX_MARGIN_FACTOR; 0 turns the
    ///        volatility floor off for this asset.
    function setDynamicParams(address asset, uint256 sizeThreshold, uint256 rampPeriod, uint256 staleFloor)
        external
        onlyRole(RISK_ADMIN_ROLE)
    {
        uint256 id = _id(asset);
        if (
            (sizeThreshold != 0 && (sizeThreshold < MIN_SIZE_THRESHOLD || sizeThreshold > MAX_SIZE_THRESHOLD))
                || sizeThreshold % WAD != 0 || rampPeriod > MAX_RAMP_PERIOD || staleFloor > MAX_MARGIN_FACTOR
                || staleFloor % BPS != 0 || (staleFloor != 0 && rampPeriod == 0)
        ) revert InvalidDynamicParams(asset, sizeThreshold, rampPeriod, staleFloor);
        Dynamic storage d = _dynamic[id];
        Market storage m = _markets[id];
        // A running base ramp keeps its position: restart it from where it is now.
        uint256 current = MarginMath.ramp(d.baseFromBps, m.mmfBps, d.baseRampStart, d.rampPeriod, block.timestamp);
        (d.baseFromBps, d.baseRampStart) = (uint16(current), uint32(block.timestamp));
        // The volatility floor liquidations use: where its ramp is now, or 0 when it was off (it
        // then ramps up from 0 to the newest floor: switching it on is a rise like any other).
        uint256 floorNow = d.staleFloorBps == 0
            ? 0
            : MarginMath.ramp(d.floorFrom, d.floorTo, d.floorRampStart, d.rampPeriod, block.timestamp);
        (d.floorFrom, d.floorRampStart) = (uint32(floorNow), uint32(block.timestamp));
        d.sizeThresholdUsd = uint40(sizeThreshold / WAD);
        d.rampPeriod = uint24(rampPeriod);
        d.staleFloorBps = uint16(staleFloor / BPS);
        m.dynamic = sizeThreshold != 0 || rampPeriod != 0 || staleFloor != 0;
        emit DynamicParamsSet(asset, sizeThreshold, rampPeriod, staleFloor);
    }

    /// @notice Sets the global dynamic-margin model.
    /// @param mmfCap Highest maintenance factor any position can reach, WAD, whole bps.
    /// @param imfCap Highest initial factor, WAD, whole bps; MIN_MARGIN_FACTOR <= mmfCap < imfCap <= MAX_MARGIN_FACTOR,
    ///        and every listed asset's base factors stay at or below them.
    /// @param k Volatility multiplier of the floor k * sigma * sqrt(horizon / YEAR), WAD, at most MAX_VOL_MULTIPLIER.
    /// @param horizon Liquidation horizon of the floor, seconds, in [MIN_HORIZON, MAX_HORIZON].
    /// @param maxSigmaAge Age past which a sigma is stale, seconds, in [MIN_SIGMA_AGE, MAX_SIGMA_AGE].
    function setMarginModel(uint256 mmfCap, uint256 imfCap, uint256 k, uint256 horizon, uint256 maxSigmaAge)
        external
        onlyRole(RISK_ADMIN_ROLE)
    {
        if (
            mmfCap < MIN_MARGIN_FACTOR || mmfCap >= imfCap || imfCap > MAX_MARGIN_FACTOR || mmfCap % BPS != 0
                || imfCap % BPS != 0 || k > MAX_VOL_MULTIPLIER || horizon < MIN_HORIZON || horizon > MAX_HORIZON
                || maxSigmaAge < MIN_SIGMA_AGE || maxSigmaAge > MAX_SIGMA_AGE
        ) revert InvalidMarginModel(mmfCap, imfCap, k, horizon, maxSigmaAge);
        uint256 volScale = k.mulDivUp(MarginMath.sqrtUp((horizon * WAD * WAD).mulDivUp(1, YEAR)), WAD);
        _model = Model({
            mmfCapBps: uint16(mmfCap / BPS),
            imfCapBps: uint16(imfCap / BPS),
            maxSigmaAge: uint32(maxSigmaAge),
            k: uint64(k),
            horizon: uint32(horizon),
            volScale: uint64(volScale)
        });
        uint256 n = _assetCount;
        for (uint256 id; id < n; ++id) {
            _checkCaps(_markets[id].imfBps, _markets[id].mmfBps);
        }
        emit MarginModelSet(mmfCap, imfCap, k, horizon, maxSigmaAge);
    }

    /// @notice Sets the VolatilityOracle allowed to push sigma (zero: none).
    /// @param oracle_ The VolatilityOracle.
    function setVolatilityOracle(address oracle_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        volatilityOracle = oracle_;
        emit VolatilityOracleSet(oracle_);
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

    /// @inheritdoc IMarginConfig
    function updateVolatility(address asset, uint256 sigma, uint256 updatedAt) external {
        if (msg.sender != volatilityOracle) revert NotVolatilityOracle(msg.sender);
        uint256 id = _id(asset);
        Dynamic storage d = _dynamic[id];
        uint256 floor = sigma.mulDivUp(_model.volScale, WAD).mulDivUp(1, FLOOR_UNIT).min(MAX_FLOOR_UNITS);
        uint256 current = MarginMath.ramp(d.floorFrom, d.floorTo, d.floorRampStart, d.rampPeriod, block.timestamp);
        if (floor != d.floorTo) {
            // Up: from where the liquidation floor is now, over rampPeriod. Down: at once.
            uint256 from = floor > current ? current : floor;
            (d.floorFrom, d.floorTo, d.floorRampStart) = (uint32(from), uint32(floor), uint32(block.timestamp));
            if (floor > current && d.rampPeriod != 0) {
                emit RampStarted(asset, true, current * FLOOR_UNIT, floor * FLOOR_UNIT, block.timestamp, d.rampPeriod);
            }
        }
        d.sigmaUpdatedAt = SafeCast.toUint32(updatedAt);
        emit VolatilityFloorSet(asset, sigma, floor * FLOOR_UNIT, updatedAt);
    }

    // ================================================================== views

    /// @inheritdoc IMarginConfig
    function pauseFlags(address asset) external view returns (uint256) {
        return asset == address(0) ? _globalPause : _markets[_id(asset)].paused;
    }

    /// @inheritdoc IMarginConfig
    function listedAssets() external view returns (address[] memory assets) {
        uint256 n = _assetCount;
        assets = new address[](n);
        for (uint256 id; id < n; ++id) {
            assets[id] = _markets[id].asset;
        }
    }

    /// @inheritdoc IMarginConfig
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

    /// @inheritdoc IMarginConfig
    function discountBound(address asset) external view returns (uint256) {
        return _discountBound(_lowMmfBps(_id(asset)), _minMmfBps());
    }

    /// @inheritdoc IMarginConfig
    function marginCurve(address asset) external view returns (MarginCurve memory c) {
        uint256 id = _id(asset);
        Market memory m = _markets[id];
        Dynamic memory d = _dynamic[id];
        Model memory g = _model;
        c.imfBase = m.imfBps * BPS;
        c.mmfBase = m.mmfBps * BPS;
        c.dynamic = m.dynamic;
        MarginMath.MmfCurve memory liq = _liqCurve(m, id);
        (c.mmfBaseLiquidation, c.floorLiquidation) = (liq.base, liq.floor);
        c.floorInitial = m.dynamic ? _initialFloor(d, g) : 0;
        (c.sizeThreshold, c.rampPeriod, c.staleFloor) = (d.sizeThresholdUsd * WAD, d.rampPeriod, d.staleFloorBps * BPS);
        (c.baseRampFrom, c.baseRampStart) = (d.baseFromBps * BPS, d.baseRampStart);
        (c.floorRampFrom, c.floorRampTo, c.floorRampStart) =
            (d.floorFrom * FLOOR_UNIT, d.floorTo * FLOOR_UNIT, d.floorRampStart);
        c.sigmaUpdatedAt = d.sigmaUpdatedAt;
        (c.mmfCap, c.imfCap) = (g.mmfCapBps * BPS, g.imfCapBps * BPS);
    }

    /// @inheritdoc IMarginConfig
    function marginModel()
        external
        view
        returns (uint256 mmfCap, uint256 imfCap, uint256 k, uint256 horizon, uint256 maxSigmaAge, uint256 volScale)
    {
        Model memory g = _model;
        return (g.mmfCapBps * BPS, g.imfCapBps * BPS, g.k, g.horizon, g.maxSigmaAge, g.volScale);
    }

    // ================================================================== account views (IMarginAccount)

    /// @notice Stored balance: collateral in token units, or minus the scaled debt (IMarginAccount).
    function rawBalance(address owner, uint96 subId, address asset) external view returns (int256) {
        return _balances[_key(owner, subId)][_id(asset)];
    }

    /// @notice Balance in token units: collateral positive, debt (with interest) negative (IMarginAccount).
    function balanceOf(address owner, uint96 subId, address asset) external view returns (int256) {
        uint256 id = _id(asset);
        int256 balance = _balances[_key(owner, subId)][id];
        if (balance >= 0) return balance;
        return -int256(uint256(-balance).mulDivUp(IVault(_lending[id].vault).borrowIndex(), WAD));
    }

    /// @notice Assets the account holds (IMarginAccount).
    function accountAssets(address owner, uint96 subId) external view returns (address[] memory assets) {
        uint256 mask = _assetMask[_key(owner, subId)];
        assets = new address[](_popcount(mask));
        uint256 n;
        for (uint256 id; mask != 0; ++id) {
            if (mask & 1 == 1) assets[n++] = _markets[id].asset;
            mask >>= 1;
        }
    }

    /// @notice Equity, IMR, MMR (USD WAD) and health = equity / MMR (WAD) at the liquidation prices (IMarginAccount).
    function accountHealth(address owner, uint96 subId)
        external
        view
        returns (int256 equity, uint256 imr, uint256 mmr, uint256 health)
    {
        (equity, imr, mmr,) = _health(_key(owner, subId), NO_ASSET, false);
        if (mmr == 0) health = type(uint256).max;
        else if (equity > 0) health = uint256(equity).mulDivDown(WAD, mmr);
    }

    /// @notice Whether equity < MMR at the liquidation prices (IMarginAccount).
    function isLiquidatable(address owner, uint96 subId) external view returns (bool) {
        (int256 equity,, uint256 mmr,) = _health(_key(owner, subId), NO_ASSET, false);
        return equity < int256(mmr);
    }

    /// @notice What a liquidation of (debtAsset, collateralAsset) is priced from (IMarginAccount).
    function liquidationSnapshot(address owner, uint96 subId, address debtAsset, address collateralAsset)
        external
        view
        returns (IMarginAccount.LiquidationSnapshot memory snap)
    {
        PriceCache memory cache; // empty: a single account reads each price once anyway
        _liquidationSnapshot(snap, _key(owner, subId), debtAsset, collateralAsset, oracle, cache);
    }

    // ================================================================== internal: roles

    /// @dev RISK_ADMIN_ROLE may do anything within bounds; GUARDIAN_ROLE only what `reducesRisk`.
    function _onlyRiskAdminOrGuardian(bool reducesRisk) internal view {
        if (hasRole(RISK_ADMIN_ROLE, msg.sender)) return;
        if (!hasRole(GUARDIAN_ROLE, msg.sender)) revert AccessControlUnauthorizedAccount(msg.sender, RISK_ADMIN_ROLE);
        if (!reducesRisk) revert GuardianCannotRaiseRisk(msg.sender);
    }

    function _setPause(address asset, uint256 flags, bool on) internal {
        if (flags == 0 || flags > (PAUSE_BORROW | PAUSE_WITHDRAW)) revert InvalidPauseFlags(flags);
        uint8 f = uint8(flags);
        uint8 next;
        if (asset == address(0)) {
            next = on ? _globalPause | f : _globalPause & ~f;
            _globalPause = next;
        } else {
            Market storage m = _markets[_id(asset)];
            next = on ? m.paused | f : m.paused & ~f;
            m.paused = next;
        }
        emit PauseSet(asset, next, msg.sender);
    }

    // ================================================================== internal: risk parameters

    /// @dev Every asset's maxDiscount must stay below its bound (after an mmf fell or an asset was listed).
    function _checkDiscountBounds() internal view {
        uint256 n = _assetCount;
        uint256 minMmf = _minMmfBps();
        for (uint256 id; id < n; ++id) {
            Market storage m = _markets[id];
            uint256 maxDiscount = m.maxDiscountBps * BPS;
            uint256 bound = _discountBound(_lowMmfBps(id), minMmf);
            if (maxDiscount >= bound) revert DiscountAboveBound(m.asset, maxDiscount, bound);
        }
    }

    /// @dev Lowest base maintenance factor of any listed asset over its current ramp, basis points.
    function _minMmfBps() internal view returns (uint256 minMmf) {
        uint256 n = _assetCount;
        minMmf = type(uint256).max;
        for (uint256 id; id < n; ++id) {
            minMmf = MathLib.min(minMmf, _lowMmfBps(id));
        }
    }

    /// @dev The lowest base mmf liquidations of asset `id` use from now on: the ramp's start while
    ///      a ramp runs. Every effective mmf is at least it, so the discount bound holds through a ramp.
    function _lowMmfBps(uint256 id) internal view returns (uint256) {
        uint256 target = _markets[id].mmfBps;
        Dynamic storage d = _dynamic[id];
        if (block.timestamp >= uint256(d.baseRampStart) + d.rampPeriod) return target;
        return MathLib.min(target, d.baseFromBps);
    }

    /// @dev (mmf + minMmf) / (1 + minMmf) in WAD, rounded down: the discount at which seizing
    ///      collateral of this asset against the lowest-mmf debt stops reducing MMR - equity.
    function _discountBound(uint256 mmfBps, uint256 minMmfBps) internal pure returns (uint256) {
        return ((mmfBps + minMmfBps) * BPS).mulDivDown(WAD, WAD + minMmfBps * BPS);
    }

    function _checkMarginFactors(uint256 imf, uint256 mmf) internal view {
        if (
            mmf < MIN_MARGIN_FACTOR || imf > MAX_MARGIN_FACTOR || mmf >= imf || imf % BPS != 0 || mmf % BPS != 0
        ) revert InvalidMarginFactors(imf, mmf);
        _checkCaps(imf / BPS, mmf / BPS);
    }

    /// @dev Base factors at or below the model's caps (so every effective mmf is at least the base).
    function _checkCaps(uint256 imfBps, uint256 mmfBps) internal view {
        Model memory g = _model;
        if (imfBps > g.imfCapBps || mmfBps > g.mmfCapBps) {
            revert FactorAboveCap(imfBps * BPS, mmfBps * BPS, g.imfCapBps * BPS, g.mmfCapBps * BPS);
        }
    }

    function _checkLiquidationParams(uint256 minDiscount, uint256 maxDiscount, uint256 minDebtValue) internal pure {
        if (
            minDiscount < MIN_DISCOUNT || minDiscount > maxDiscount || maxDiscount > MAX_DISCOUNT
                || minDiscount % BPS != 0 || maxDiscount % BPS != 0 || minDebtValue > type(uint96).max
        ) revert InvalidLiquidationParams(minDiscount, maxDiscount, minDebtValue);
    }
}
