// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IPriceOracle} from "./IPriceOracle.sol";

/// @title IMarginConfig
/// @notice The MarginAccount's risk registry: listed assets, base margin factors, liquidation
///         parameters, caps and the dynamic-margin model (size term, volatility floor, ramps).
/// @dev Factors WAD (stored in whole basis points), values USD WAD, times in seconds.
interface IMarginConfig {
    /// @notice Risk configuration of a listed asset (all factors WAD; stored in basis points).
    /// @param vault ERC-4626 vault that lends this asset.
    /// @param id Index of the asset in the listing order (bit position in an account's asset mask).
    /// @param listed True once listed.
    /// @param scale 10**decimals of the token.
    /// @param imf Initial margin factor, WAD.
    /// @param mmf Maintenance margin factor, WAD (0 < mmf < imf < 1).
    /// @param collateralCap Maximum total collateral of this asset over all accounts, token units.
    /// @param debtCap Maximum total borrows of the vault by this MarginAccount, token units.
    /// @param minDiscount Liquidation discount on this asset as collateral when health is just
    ///        below 1, WAD.
    /// @param maxDiscount Cap of the liquidation discount on this asset as collateral, WAD.
    /// @param minDebtValue Dust floor: no borrow, repayment, transfer or liquidation may leave a debt
    ///        of this asset worth less, USD WAD (docs/liquidation.md for the liquidation exceptions).
    struct AssetConfig {
        address vault;
        uint8 id;
        bool listed;
        uint64 scale;
        uint64 imf;
        uint64 mmf;
        uint128 collateralCap;
        uint128 debtCap;
        uint64 minDiscount;
        uint64 maxDiscount;
        uint96 minDebtValue;
    }


    /// @notice The margin curve of a listed asset now (factors WAD, values USD WAD, times seconds).
    ///         For a position of value v: s(v) = max(1, sqrt(v / sizeThreshold)),
    ///         initial mmf(v) = min(mmfCap, max(mmfBase * s(v), floorInitial)),
    ///         imf(v) = min(imfCap, initial mmf(v) * imfBase / mmfBase), and the maintenance factor
    ///         liquidations use is min(mmfCap, max(mmfBaseLiquidation * s(v), floorLiquidation)).
    /// @param dynamic False: imfBase and mmfBase apply as they are (static margin).
    /// @param mmfBaseLiquidation The base mmf on its ramp towards mmfBase.
    /// @param floorInitial Volatility floor of initial margin (the stale floor once sigma is stale).
    /// @param floorLiquidation Volatility floor on its ramp towards the newest floor.
    struct MarginCurve {
        bool dynamic;
        uint256 imfBase;
        uint256 mmfBase;
        uint256 mmfBaseLiquidation;
        uint256 floorInitial;
        uint256 floorLiquidation;
        uint256 sizeThreshold;
        uint256 rampPeriod;
        uint256 staleFloor;
        uint256 baseRampFrom;
        uint256 baseRampStart;
        uint256 floorRampFrom;
        uint256 floorRampTo;
        uint256 floorRampStart;
        uint256 sigmaUpdatedAt;
        uint256 mmfCap;
        uint256 imfCap;
    }

    // ------------------------------------------------------------------ errors
    /// @notice The asset is not listed.
    error AssetNotListed(address asset);
    /// @notice The asset is already listed.
    error AssetAlreadyListed(address asset);
    /// @notice No more assets can be listed (the account asset mask has 256 bits).
    error TooManyListedAssets();
    /// @notice Tokens with more than MAX_DECIMALS decimals are not supported.
    error UnsupportedDecimals(address asset, uint8 decimals);
    /// @notice The vault's asset or MarginAccount does not match.
    error VaultMismatch(address vault, address asset);
    /// @notice Margin factors outside 0 < MIN_MARGIN_FACTOR <= mmf < imf <= MAX_MARGIN_FACTOR < 1,
    ///         or not a whole number of basis points (multiples of 1e14).
    error InvalidMarginFactors(uint256 imf, uint256 mmf);
    /// @notice Discounts not whole basis points, outside MIN_DISCOUNT <= minDiscount <= maxDiscount
    ///         <= MAX_DISCOUNT, or minDebtValue above 2**96 - 1.
    error InvalidLiquidationParams(uint256 minDiscount, uint256 maxDiscount, uint256 minDebtValue);
    /// @notice The discount cap of `asset` reaches the discount at which a liquidation would lower
    ///         an account's health: maxDiscount must stay below (mmf + minMmf) / (1 + minMmf), where
    ///         minMmf is the lowest maintenance factor of any listed asset.
    error DiscountAboveBound(address asset, uint256 maxDiscount, uint256 bound);
    /// @notice Address must be non-zero.
    error ZeroAddress();
    /// @notice sizeThreshold (0 or in [MIN_SIZE_THRESHOLD, MAX_SIZE_THRESHOLD], whole dollars),
    ///         rampPeriod (<= MAX_RAMP_PERIOD) or staleFloor (<= MAX_MARGIN_FACTOR, whole bps) out of bounds.
    error InvalidDynamicParams(address asset, uint256 sizeThreshold, uint256 rampPeriod, uint256 staleFloor);
    /// @notice Model out of bounds: MIN_MARGIN_FACTOR <= mmfCap < imfCap <= MAX_MARGIN_FACTOR (whole
    ///         bps), k <= MAX_VOL_MULTIPLIER, horizon in [MIN_HORIZON, MAX_HORIZON], maxSigmaAge in
    ///         [MIN_SIGMA_AGE, MAX_SIGMA_AGE].
    error InvalidMarginModel(uint256 mmfCap, uint256 imfCap, uint256 k, uint256 horizon, uint256 maxSigmaAge);
    /// @notice A base factor above the model's cap (imfCap, mmfCap).
    error FactorAboveCap(uint256 imf, uint256 mmf, uint256 imfCap, uint256 mmfCap);
    /// @notice Only the VolatilityOracle pushes sigma.
    error NotVolatilityOracle(address caller);
    /// @notice The guardian may only reduce risk: raise margin factors (an mmf only on an asset
    ///         whose rise ramps), lower caps, pause borrowing and withdrawals.
    error GuardianCannotRaiseRisk(address guardian);
    /// @notice Pause flags must be a non-empty subset of PAUSE_BORROW | PAUSE_WITHDRAW.
    error InvalidPauseFlags(uint256 flags);
    /// @notice Borrowing `asset` is paused (per asset or globally).
    error BorrowPaused(address asset);
    /// @notice Withdrawing (or moving) `asset` out of an account that owes something is paused.
    error WithdrawPaused(address asset);

    // ------------------------------------------------------------------ events
    /// @notice `asset` was listed with its vault, margin factors and caps.
    event AssetListed(address indexed asset, address indexed vault, uint8 id, uint256 imf, uint256 mmf, uint256 collateralCap, uint256 debtCap);
    /// @notice Margin factors of `asset` changed.
    event MarginFactorsSet(address indexed asset, uint256 imf, uint256 mmf);
    /// @notice Liquidation parameters of `asset` changed (discounts WAD, dust floor USD WAD).
    event LiquidationParamsSet(address indexed asset, uint256 minDiscount, uint256 maxDiscount, uint256 minDebtValue);
    /// @notice Caps of `asset` changed (token units).
    event CapsSet(address indexed asset, uint256 collateralCap, uint256 debtCap);
    /// @notice The price oracle changed.
    event OracleSet(address indexed oracle);
    /// @notice The Liquidator changed.
    event LiquidatorSet(address indexed liquidator);
    /// @notice Dynamic margin of `asset` set (USD WAD, seconds, WAD).
    event DynamicParamsSet(address indexed asset, uint256 sizeThreshold, uint256 rampPeriod, uint256 staleFloor);
    /// @notice Global dynamic-margin model set.
    event MarginModelSet(uint256 mmfCap, uint256 imfCap, uint256 k, uint256 horizon, uint256 maxSigmaAge);
    /// @notice The VolatilityOracle allowed to push sigma changed.
    event VolatilityOracleSet(address indexed volatilityOracle);
    /// @notice The VolatilityOracle pushed sigma (annualized, WAD) of `asset`, as of its round at
    ///         `updatedAt`; `floor` = k * sigma * sqrt(horizon / YEAR) in WAD (at most 1).
    event VolatilityFloorSet(address indexed asset, uint256 sigma, uint256 floor, uint256 updatedAt);
    /// @notice Pause flags of `asset` (zero address: global) are now `flags` (PAUSE_BORROW = 1,
    ///         PAUSE_WITHDRAW = 2), set by `by`.
    event PauseSet(address indexed asset, uint256 flags, address indexed by);
    /// @notice `asset`'s collateral is above its cap (a deposit into an indebted account, or a
    ///         lower cap): it still defends the positions it backs, but backs no new risk until
    ///         it is back under.
    event CollateralAboveCap(address indexed asset, uint256 total, uint256 cap);
    /// @notice A higher maintenance level of `asset` (the volatility floor if `volatility`, else the
    ///         base mmf) reaches liquidations linearly from `from` at `start` to `to` at start + period.
    event RampStarted(address indexed asset, bool volatility, uint256 from, uint256 to, uint256 start, uint256 period);

    // ------------------------------------------------------------------ views
    /// @notice Price source.
    function oracle() external view returns (IPriceOracle);
    /// @notice The only address allowed to settle liquidations and write off bad debt.
    function liquidator() external view returns (address);
    /// @notice The VolatilityOracle allowed to push sigma (zero: none).
    function volatilityOracle() external view returns (address);
    /// @notice The margin curve of a listed asset now (AssetNotListed otherwise).
    function marginCurve(address asset) external view returns (MarginCurve memory);
    /// @notice Global model: caps (WAD), k (WAD), horizon and maxSigmaAge (s), volScale = k * sqrt(horizon / YEAR) (WAD).
    function marginModel()
        external
        view
        returns (uint256 mmfCap, uint256 imfCap, uint256 k, uint256 horizon, uint256 maxSigmaAge, uint256 volScale);
    /// @notice Listed assets, in listing order (index = asset id).
    function listedAssets() external view returns (address[] memory);
    /// @notice Risk configuration of `asset`.
    function assetConfig(address asset) external view returns (AssetConfig memory);

    /// @notice Highest maxDiscount `asset` may have now, WAD (exclusive): (mmf + minMmf) / (1 + minMmf),
    ///         with each mmf the lowest base the asset's running ramp passes through.
    function discountBound(address asset) external view returns (uint256);

    // ------------------------------------------------------------------ admin
    /// @notice Lists an asset with its margin factors, caps and liquidation parameters (MarginAdmin).
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
    ) external;
    /// @notice Sets the base margin factors of a listed asset (MarginAdmin).
    function setMarginFactors(address asset, uint256 imf, uint256 mmf) external;
    /// @notice Sets the liquidation parameters of a listed asset (MarginAdmin).
    function setLiquidationParams(address asset, uint256 minDiscount, uint256 maxDiscount, uint256 minDebtValue)
        external;
    /// @notice Sets the caps of a listed asset (MarginAdmin).
    function setCaps(address asset, uint256 collateralCap, uint256 debtCap) external;
    /// @notice Sets the dynamic margin of a listed asset (MarginAdmin).
    function setDynamicParams(address asset, uint256 sizeThreshold, uint256 rampPeriod, uint256 staleFloor) external;
    /// @notice Sets the global dynamic-margin model (MarginAdmin).
    function setMarginModel(uint256 mmfCap, uint256 imfCap, uint256 k, uint256 horizon, uint256 maxSigmaAge)
        external;
    /// @notice Sets the VolatilityOracle allowed to push sigma (MarginAdmin).
    function setVolatilityOracle(address volatilityOracle_) external;
    /// @notice Replaces the price oracle (MarginAdmin).
    function setOracle(IPriceOracle oracle_) external;
    /// @notice Replaces the Liquidator (MarginAdmin).
    function setLiquidator(address liquidator_) external;
    /// @notice VolatilityOracle only: the newest annualized sigma (WAD) of `asset`, as of the round
    ///         stamped `updatedAt`. Sets the volatility floor: a higher one reaches liquidations over
    ///         the asset's rampPeriod (RampStarted), a lower one at once.
    function updateVolatility(address asset, uint256 sigma, uint256 updatedAt) external;
    /// @notice Pauses borrowing and/or collateral withdrawals from indebted accounts, of `asset` or
    ///         (zero address) of every asset. GUARDIAN_ROLE or RISK_ADMIN_ROLE. Repay, deposit and
    ///         liquidation are never paused.
    /// @param asset Listed token, or zero for the global flags.
    /// @param flags PAUSE_BORROW (1) and/or PAUSE_WITHDRAW (2) to add.
    function pause(address asset, uint256 flags) external;
    /// @notice Lifts pause flags (RISK_ADMIN_ROLE only: unpausing raises risk, so it goes through
    ///         the timelock).
    /// @param asset Listed token, or zero for the global flags.
    /// @param flags Flags to clear.
    function unpause(address asset, uint256 flags) external;
    /// @notice Pause flags of `asset` (zero address: the global flags).
    function pauseFlags(address asset) external view returns (uint256);
}
