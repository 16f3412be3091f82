// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title MockDex
/// @notice TEST ONLY. Swaps from its own inventory at a fixed rate per token pair:
///         amountOut = amountIn * numerator / denominator (token units, rounded down).
contract MockDex {
    using SafeERC20 for IERC20;

    /// @dev Rate of one ordered pair.
    struct Rate {
        uint256 numerator;
        uint256 denominator;
    }

    mapping(address tokenIn => mapping(address tokenOut => Rate)) public rates;

    /// @notice No rate is set for this pair.
    error NoRate(address tokenIn, address tokenOut);
    /// @notice The swap would pay out less than the caller's minimum.
    error InsufficientOutput(uint256 amountOut, uint256 minOut);

    /// @notice `amountIn` of `tokenIn` from `trader` swapped for `amountOut` of `tokenOut`.
    event Swapped(address indexed trader, address tokenIn, address tokenOut, uint256 amountIn, uint256 amountOut);

    /// @notice Sets the rate of tokenIn -> tokenOut (anyone; test contract).
    function setRate(address tokenIn, address tokenOut, uint256 numerator, uint256 denominator) external {
        rates[tokenIn][tokenOut] = Rate(numerator, denominator);
    }

    /// @notice Swaps `amountIn` of `tokenIn` (pulled from the caller) for `tokenOut`.
    function swap(address tokenIn, address tokenOut, uint256 amountIn, uint256 minOut)
        external
        returns (uint256 amountOut)
    {
        Rate memory r = rates[tokenIn][tokenOut];
        if (r.denominator == 0) revert NoRate(tokenIn, tokenOut);
        amountOut = amountIn * r.numerator / r.denominator;
        if (amountOut < minOut) revert InsufficientOutput(amountOut, minOut);
        emit Swapped(msg.sender, tokenIn, tokenOut, amountIn, amountOut);
        IERC20(tokenIn).safeTransferFrom(msg.sender, address(this), amountIn);
        IERC20(tokenOut).safeTransfer(msg.sender, amountOut);
    }
}
