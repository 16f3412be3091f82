// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IMarginAccount} from "../interfaces/IMarginAccount.sol";
import {IPriceOracle} from "../interfaces/IPriceOracle.sol";
import {IVault} from "../interfaces/IVault.sol";
import {WAD} from "./libraries/Constants.sol";
import {MarginConfig} from "./MarginConfig.sol";
import {MarginMath} from "./libraries/MarginMath.sol";
import {MathLib} from "./libraries/MathLib.sol";

/// @title MarginViews
/// @notice The MarginAccount's accounts as the outside and its own checks read them: balances,
///         equity and requirements (`_health`), and the one-pass snapshot a liquidation is priced
///         from. Storage of a balance: positive = collateral in token units; negative = scaled
///         debt, debt in tokens = ceil(-balance * vault.borrowIndex / WAD). An account is keyed by
///         `owner << 96 | subId`; the assets it holds are the set bits of a 256-bit mask.
abstract contract MarginViews is IMarginAccount, MarginConfig {
    using MathLib for uint256;

    /// @dev "No asset" for `_health`'s value report (ids are below MAX_LISTED_ASSETS).
    uint256 internal constant NO_ASSET = type(uint256).max;

    mapping(uint256 account => uint256 mask) internal _assetMask;
    mapping(uint256 account => mapping(uint256 assetId => int256)) internal _balances;

    // ================================================================== views

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
                (uint256 imrOf, uint256 mmrOf) = _requirements(m, id, value);
                (imr, mmr) = (imr + imrOf, mmr + mmrOf);
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
