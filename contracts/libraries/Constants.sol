// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @dev Fixed-point unit: 1e18 = 1.0 = 100%. Prices and USD values are WAD.
uint256 constant WAD = 1e18;
/// @dev Seconds in a (365-day) year: annual rates are divided by this to get per-second rates.
uint256 constant SECONDS_PER_YEAR = 365 days;
