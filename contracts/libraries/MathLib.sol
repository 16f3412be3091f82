// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title MathLib
/// @notice Multiply-then-divide with the rounding direction in the name. Inputs in Solvent stay far
///         below 2**128 (token amounts, WAD prices), so a * b never overflows 256 bits.
library MathLib {
    /// @dev floor(a * b / d).
    function mulDivDown(uint256 a, uint256 b, uint256 d) internal pure returns (uint256) {
        return (a * b) / d;
    }

    /// @dev ceil(a * b / d).
    function mulDivUp(uint256 a, uint256 b, uint256 d) internal pure returns (uint256) {
        return (a * b + (d - 1)) / d;
    }

    /// @dev min(a, b).
    function min(uint256 a, uint256 b) internal pure returns (uint256) {
        return a < b ? a : b;
    }

    /// @dev max(a, b).
    function max(uint256 a, uint256 b) internal pure returns (uint256) {
        return a > b ? a : b;
    }
}
