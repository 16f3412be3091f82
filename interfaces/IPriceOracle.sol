// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IPriceOracle
/// @notice Price source for Solvent. Every price is the USD value of ONE WHOLE token (10**decimals
///         base units), scaled by 1e18 (WAD). Example: 1 WETH at $2,000 -> 2_000e18; 1 USDC -> 1e18.
interface IPriceOracle {
    /// @notice The asset has no price source configured.
    error UnknownAsset(address asset);

    /// @notice USD price of one whole `asset` token, in WAD, and the time it was observed, trusted
    ///         enough for a risk-increasing action (borrow, withdraw, transfer).
    /// @dev MUST revert for unknown assets and for prices it does not trust; MUST NOT return 0.
    /// @param asset The ERC20 token to price.
    /// @return priceWad USD per whole token, 18 decimals.
    /// @return updatedAt Unix time (seconds) of the observation.
    function price(address asset) external view returns (uint256 priceWad, uint256 updatedAt);

    /// @notice The lowest and highest USD price of one whole `asset` token (WAD) the oracle cannot
    ///         rule out: equal when its sources agree. Liquidation and the health views value
    ///         collateral at `low` and debt at `high`; risk-increasing actions use `price`.
    /// @dev MUST revert for unknown assets and when no source is usable; MUST NOT return 0.
    /// @param asset The ERC20 token to price.
    /// @return low Lowest price, WAD.
    /// @return high Highest price, WAD.
    function liquidationPrices(address asset) external view returns (uint256 low, uint256 high);
}
