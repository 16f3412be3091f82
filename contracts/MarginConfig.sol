// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

import {IMarginConfig} from "../interfaces/IMarginConfig.sol";
import {IPriceOracle} from "../interfaces/IPriceOracle.sol";
import {WAD} from "./libraries/Constants.sol";
import {MarginMath} from "./libraries/MarginMath.sol";
import {MathLib} from "./libraries/MathLib.sol";

/// @title MarginConfig
/// @notice The MarginAccount's risk registry, as storage both the MarginAccount and its admin
///         module (MarginAdmin, run by delegatecall) share: listed assets, their margin factors,
///         liquidation parameters and caps, the dynamic-margin model (size term, volatility floor,
///         ramps), the views of it and the margin factors of a position (MarginMath).
///         MarginAdmin writes it, within bounds, whatever the admin sends.
/// @dev Per asset id: `Market` (one slot a valuation reads), `Lending` (what a debt also reads),
///      `Caps` (deposit and borrow only), `Dynamic` (read only when Market.dynamic is set).
abstract contract MarginConfig is IMarginConfig, AccessControl {
    using MathLib for uint256;

    /// @notice Role allowed to list assets and change margin factors, liquidation parameters and caps.
    bytes32 public constant RISK_ADMIN_ROLE = keccak256("RISK_ADMIN_ROLE");
    /// @notice Role that may act at once, but only to reduce risk (see MarginAdmin).
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");
    /// @notice Pause flag: no new borrowing.
    uint8 public constant PAUSE_BORROW = 1;
    /// @notice Pause flag: no withdrawal or transfer out of an account that owes something.
    uint8 public constant PAUSE_WITHDRAW = 2;
    /// @notice Shortest ramp on which the guardian may raise a maintenance factor, seconds.
    uint256 public constant GUARDIAN_MIN_RAMP = 1 days;
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
    /// @notice Lowest minDiscount an admin may set, WAD: the keeper floor must pay something.
    uint256 public constant MIN_DISCOUNT = BPS; // 0.01%
    /// @notice Highest maxDiscount an admin may set, WAD (the bound below is usually lower).
    uint256 public constant MAX_DISCOUNT = 0.5e18; // 50%
    /// @notice Smallest non-zero size threshold, USD WAD.
    uint256 public constant MIN_SIZE_THRESHOLD = 1_000e18;
    /// @notice Largest size threshold, USD WAD (whole dollars in 40 bits).
    uint256 public constant MAX_SIZE_THRESHOLD = (2 ** 40 - 1) * 1e18;
    /// @notice Resolution of a stored volatility floor, WAD (1e-8).
    uint256 public constant FLOOR_UNIT = 1e10;
    /// @notice Largest volatility floor, in FLOOR_UNITs (100%).
    uint256 public constant MAX_FLOOR_UNITS = 1e8;
    /// @notice Longest ramp an admin may set, seconds.
    uint256 public constant MAX_RAMP_PERIOD = 30 days;
    /// @notice Largest volatility multiplier k, WAD.
    uint256 public constant MAX_VOL_MULTIPLIER = 10e18;
    /// @notice Horizon bounds of the volatility floor, seconds.
    uint256 public constant MIN_HORIZON = 1 hours;
    uint256 public constant MAX_HORIZON = 30 days;
    /// @notice Bounds of the age past which a sigma counts as stale, seconds.
    uint256 public constant MIN_SIGMA_AGE = 10 minutes;
    uint256 public constant MAX_SIGMA_AGE = 7 days;
    /// @notice mmfCap before setMarginModel (the imfCap starts at MAX_MARGIN_FACTOR), WAD.
    uint256 public constant DEFAULT_MMF_CAP = 0.9e18;
    /// @notice Horizon before setMarginModel, seconds.
    uint256 public constant DEFAULT_HORIZON = 1 days;
    /// @notice Seconds per year of the annualized volatility.
    uint256 public constant YEAR = 365 days;

    /// @dev Everything a position valuation reads, one slot per asset id. Factors in basis points.
    struct Market {
        address asset;
        uint8 decimals;
        uint16 imfBps;
        uint16 mmfBps;
        uint16 minDiscountBps;
        uint16 maxDiscountBps;
        bool dynamic;
        uint8 paused; // PAUSE_BORROW | PAUSE_WITHDRAW
        bool overCap; // total collateral went above the cap (through an indebted account's deposit, or a lower cap)
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

    /// @dev The dynamic part of an asset's margin, one slot: size threshold (whole USD), the ramp
    ///      of the base mmf (from, start; the target is Market.mmfBps), the ramp of the volatility
    ///      floor (from, to, start; in FLOOR_UNITs, fine enough that a ramp restarted every block
    ///      still moves), the ramp period, the time of the last sigma and the stale floor
    ///      (0 = no volatility floor).
    struct Dynamic {
        uint40 sizeThresholdUsd;
        uint16 baseFromBps;
        uint32 baseRampStart;
        uint32 floorFrom;
        uint32 floorTo;
        uint32 floorRampStart;
        uint24 rampPeriod;
        uint32 sigmaUpdatedAt;
        uint16 staleFloorBps;
    }

    /// @dev Global dynamic-margin parameters: caps (bps), sigma max age (s), k (WAD), horizon (s)
    ///      and volScale = k * sqrt(horizon / YEAR) (WAD).
    struct Model {
        uint16 mmfCapBps;
        uint16 imfCapBps;
        uint32 maxSigmaAge;
        uint64 k;
        uint32 horizon;
        uint64 volScale;
    }

    /// @inheritdoc IMarginConfig
    IPriceOracle public oracle;
    /// @dev Global pause flags, in the oracle's slot (which every margin check reads anyway).
    uint8 internal _globalPause;
    /// @inheritdoc IMarginConfig
    address public liquidator;
    /// @inheritdoc IMarginConfig
    address public volatilityOracle;

    uint256 internal _assetCount;
    Model internal _model = Model({
        mmfCapBps: uint16(DEFAULT_MMF_CAP / BPS),
        imfCapBps: uint16(MAX_MARGIN_FACTOR / BPS),
        maxSigmaAge: uint32(MAX_SIGMA_AGE),
        k: 0, // no volatility floor until setMarginModel
        horizon: uint32(DEFAULT_HORIZON),
        volScale: 0
    });
    mapping(uint256 id => Market) internal _markets;
    mapping(uint256 id => Lending) internal _lending;
    mapping(uint256 id => Caps) internal _caps;
    mapping(uint256 id => Dynamic) internal _dynamic;
    /// @dev asset => id + 1 (0 = not listed).
    mapping(address asset => uint256) internal _idPlusOne;

    // ================================================================== internal: factors

    /// @dev IMR and MMR contributions of a position of value `value` (USD WAD) in asset `id`:
    ///      value * imf(value) and value * mmf(value), rounded up. The initial factor uses the
    ///      newest levels (at once), the maintenance factor the ramped ones.
    function _requirements(Market memory m, uint256 id, uint256 value) internal view returns (uint256, uint256) {
        if (!m.dynamic) return (value.mulDivUp(m.imfBps * BPS, WAD), value.mulDivUp(m.mmfBps * BPS, WAD));
        Dynamic memory d = _dynamic[id];
        Model memory g = _model;
        MarginMath.MmfCurve memory c =
            MarginMath.MmfCurve(m.mmfBps * BPS, _initialFloor(d, g), d.sizeThresholdUsd * WAD, g.mmfCapBps * BPS);
        uint256 imf = MarginMath.imf(MarginMath.mmf(c, value), m.imfBps * BPS, m.mmfBps * BPS, g.imfCapBps * BPS);
        (c.base, c.floor) = _liqLevels(m, d);
        return (value.mulDivUp(imf, WAD), MarginMath.requirement(c, value));
    }

    /// @dev The maintenance curve liquidations use for asset `id` now (static: base only, cap 1).
    function _liqCurve(Market memory m, uint256 id) internal view returns (MarginMath.MmfCurve memory c) {
        if (!m.dynamic) return MarginMath.MmfCurve(m.mmfBps * BPS, 0, 0, WAD);
        Dynamic memory d = _dynamic[id];
        (c.base, c.floor) = _liqLevels(m, d);
        (c.threshold, c.cap) = (d.sizeThresholdUsd * WAD, _model.mmfCapBps * BPS);
    }

    /// @dev Ramped base mmf and volatility floor, WAD.
    function _liqLevels(Market memory m, Dynamic memory d) internal view returns (uint256 base, uint256 floor) {
        base = MarginMath.ramp(d.baseFromBps * BPS, m.mmfBps * BPS, d.baseRampStart, d.rampPeriod, block.timestamp);
        if (d.staleFloorBps != 0) {
            floor = MarginMath.ramp(
                d.floorFrom * FLOOR_UNIT, d.floorTo * FLOOR_UNIT, d.floorRampStart, d.rampPeriod, block.timestamp
            );
        }
    }

    /// @dev The volatility floor of initial margin: the newest, or at least the stale floor once
    ///      sigma is older than maxSigmaAge; 0 when the asset has no volatility floor.
    function _initialFloor(Dynamic memory d, Model memory g) internal view returns (uint256) {
        if (d.staleFloorBps == 0) return 0;
        uint256 floor = d.floorTo * FLOOR_UNIT;
        if (block.timestamp > uint256(d.sigmaUpdatedAt) + g.maxSigmaAge) floor = floor.max(d.staleFloorBps * BPS);
        return floor;
    }

    /// @dev Reverts when `flag` is paused for asset `id` or globally.
    function _requireNotPaused(uint256 id, uint8 flag) internal view {
        if ((_markets[id].paused | _globalPause) & flag == 0) return;
        address asset = _markets[id].asset;
        if (flag == PAUSE_BORROW) revert BorrowPaused(asset);
        revert WithdrawPaused(asset);
    }

    /// @dev Id of a listed asset; reverts AssetNotListed otherwise.
    function _id(address asset) internal view returns (uint256) {
        uint256 idPlusOne = _idPlusOne[asset];
        if (idPlusOne == 0) revert AssetNotListed(asset);
        return idPlusOne - 1;
    }

}
