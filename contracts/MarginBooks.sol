// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IMarginAccount} from "../interfaces/IMarginAccount.sol";
import {IPriceOracle} from "../interfaces/IPriceOracle.sol";
import {IVault} from "../interfaces/IVault.sol";
import {WAD} from "./libraries/Constants.sol";
import {MarginConfig} from "./MarginConfig.sol";
import {MarginMath} from "./libraries/MarginMath.sol";
import {MathLib} from "./libraries/MathLib.sol";

/// @title MarginBooks
/// @notice The MarginAccount's accounts as its own checks and its views (in MarginAdmin) read
///         them: balances, equity and requirements (`_health`), and the one-pass snapshot a
///         liquidation is priced from. Storage of a balance: positive = collateral in token units; negative = scaled
///         debt, debt in tokens = ceil(-balance * vault.borrowIndex / WAD). An account is keyed by
///         `owner << 96 | subId`; the assets it holds are the set bits of a 256-bit mask.
abstract contract MarginBooks is MarginConfig {
    using MathLib for uint256;

    /// @dev "No asset" for `_health`'s value report (ids are below MAX_LISTED_ASSETS).
    uint256 internal constant NO_ASSET = type(uint256).max;

    mapping(uint256 account => uint256 mask) internal _assetMask;
    mapping(uint256 account => mapping(uint256 assetId => int256)) internal _balances;
    /// @dev Collateral held, per asset, token units.
    mapping(address asset => uint256) internal _totalCollateral;

    /// @dev Fills `snap` for one account in one pass (its accumulators are reset, so a batch reuses
    ///      one struct). Values and requirements are rounded exactly as `_health` rounds them.
    ///      An unlisted asset reverts AssetNotListed.
    function _liquidationSnapshot(
        IMarginAccount.LiquidationSnapshot memory snap,
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
                // Collateral at the lowest price the oracle cannot rule out, debt at the highest.
                // A collateral other than the one seized counts 0 while it has no usable price
                // (no dust of an unpriceable asset can shield an account from liquidation).
                uint256 price = _price(oracle_, m.asset, id, cache, balance > 0, m.asset != collateralAsset);
                uint256 scale = 10 ** m.decimals;
                if (balance > 0) {
                    uint256 value = uint256(balance).mulDivDown(price, scale);
                    (uint256 mmf, uint256 curve) = _liqMmf(m, id, value);
                    snap.equity += int256(value);
                    snap.mmr += value.mulDivUp(mmf, WAD);
                    ++snap.collateralAssets;
                    if (m.asset == collateralAsset) {
                        (snap.collateral, snap.collateralPrice, snap.collateralScale) = (uint256(balance), price, scale);
                        (snap.collateralMmf, snap.collateralId) = (mmf, id);
                        snap.collateralCurve = curve;
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
                    (uint256 mmf, uint256 curve) = _liqMmf(m, id, value);
                    snap.equity -= int256(value);
                    snap.mmr += value.mulDivUp(mmf, WAD);
                    if (m.asset == debtAsset) {
                        (snap.debt, snap.debtPrice, snap.debtScale, snap.debtMmf) = (tokens, price, scale, mmf);
                        snap.debtCurve = curve;
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

    /// @dev The maintenance factor liquidations use for a position of value `value`, and its curve
    ///      packed (0 for a static asset: its mmf at any size).
    function _liqMmf(Market memory m, uint256 id, uint256 value) internal view returns (uint256, uint256) {
        if (!m.dynamic) return (m.mmfBps * BPS, 0);
        MarginMath.MmfCurve memory c = _liqCurve(m, id);
        return (MarginMath.mmf(c, value), MarginMath.pack(c));
    }

    /// @dev Liquidation prices (low, high) and borrow indexes already read in this call, by asset
    ///      id (0 = not read yet). Empty arrays disable the cache.
    struct PriceCache {
        uint256[] lows;
        uint256[] highs;
        uint256[] indexes;
    }

    /// @dev The liquidation price of `asset`: its low price for collateral, its high price for
    ///      debt; with `tolerant` (collateral only), 0 instead of the oracle's revert.
    function _price(
        IPriceOracle oracle_,
        address asset,
        uint256 id,
        PriceCache memory cache,
        bool collateral,
        bool tolerant
    ) internal view returns (uint256) {
        tolerant = tolerant && collateral;
        if (cache.lows.length == 0) {
            (uint256 low, uint256 high) = _prices(oracle_, asset, false, tolerant);
            return collateral ? low : high;
        }
        // A tolerant 0 is not cached: a later target may seize this asset and need its error.
        if (cache.lows[id] == 0) (cache.lows[id], cache.highs[id]) = _prices(oracle_, asset, false, tolerant);
        return collateral ? cache.lows[id] : cache.highs[id];
    }

    /// @dev `oracle_.liquidationPrices(asset)`, or with `strict` `oracle_.price(asset)` as both
    ///      prices; the oracle's revert is passed on, or with `tolerant` turned into (0, 0). One
    ///      call site for every price read (code size).
    function _prices(IPriceOracle oracle_, address asset, bool strict, bool tolerant)
        internal
        view
        returns (uint256 low, uint256 high)
    {
        bytes4 selector = strict ? IPriceOracle.price.selector : IPriceOracle.liquidationPrices.selector;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, selector)
            mstore(add(ptr, 4), asset)
            let ok := staticcall(gas(), oracle_, ptr, 0x24, ptr, 0x40)
            switch ok
            case 0 {
                if iszero(tolerant) {
                    returndatacopy(ptr, 0, returndatasize())
                    revert(ptr, returndatasize())
                }
            }
            default {
                if lt(returndatasize(), 0x40) { revert(0, 0) }
                low := mload(ptr)
                high := mload(add(ptr, 0x20))
            }
        }
        if (strict) high = low;
    }

    /// @dev Over its cap, an asset still defends the positions it backs but backs no new risk.
    function _requireWithinCap(Market memory m, uint256 id) internal view {
        uint256 total = _totalCollateral[m.asset];
        uint256 cap = _caps[id].collateralCap;
        if (total > cap) revert IMarginAccount.CollateralCapExceeded(m.asset, total, cap);
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
    ///      `valueId` (NO_ASSET for none). Reads each asset's price once: with `strict`, the price
    ///      a risk-increasing action needs (the oracle reverts when it does not trust it);
    ///      otherwise the liquidation prices (collateral low, debt high). Collateral values round
    ///      down; debt tokens, debt values and requirements round up.
    function _health(uint256 account, uint256 valueId, bool strict)
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
                // Lenient: an unpriceable collateral counts 0, as in a liquidation.
                (uint256 low, uint256 high) = _prices(oracle_, m.asset, strict, !strict && balance > 0);
                uint256 price = balance > 0 ? low : high;
                if (strict && balance > 0 && m.overCap) _requireWithinCap(m, id);
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
                (uint256 imrOf, uint256 mmrOf) = _requirements(m, id, value);
                (imr, mmr) = (imr + imrOf, mmr + mmrOf);
            }
            mask >>= 1;
        }
    }

    /// @dev E >= IMR after collateral of asset `id` left the account, checked only when the
    ///      account owes something: with no debt, E >= IMR holds at any positive prices because
    ///      every imf < 1, so no price is read and no pause applies (debt-free funds always leave).
    function _requireInitialMarginIfIndebted(uint256 account, uint256 id) internal view {
        if (!_holds(account, true)) return;
        _requireNotPaused(id, PAUSE_WITHDRAW);
        (int256 equity, uint256 imr,,) = _health(account, NO_ASSET, true);
        if (equity < int256(imr)) revert IMarginAccount.InsufficientMargin(equity, imr);
    }

    /// @dev Whether the account owes anything (`debt`) or holds any collateral (`!debt`).
    function _holds(uint256 account, bool debt) internal view returns (bool) {
        uint256 mask = _assetMask[account];
        for (uint256 id; mask != 0; ++id) {
            if (mask & 1 == 1 && (_balances[account][id] < 0) == debt) return true;
            mask >>= 1;
        }
        return false;
    }

    // ================================================================== internal: helpers

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
