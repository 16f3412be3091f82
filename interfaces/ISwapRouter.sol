// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ISwapRouter
/// @notice The single-pool exact-input swap of the Uniswap v3 SwapRouter (the original router,
///         whose parameters carry a `deadline`; SwapRouter02 drops that field, so its
///         `exactInputSingle` has another selector and does not fit this interface).
/// @dev The router pulls `amountIn` of `tokenIn` from `msg.sender` (approve it first) and sends the
///      output to `recipient`. Fees are in hundredths of a basis point (pips): 500 = 0.05%,
///      3000 = 0.3%, 10000 = 1%; a (tokenIn, tokenOut, fee) triple names one pool.
interface ISwapRouter {
    /// @notice Parameters of one exact-input swap through a single pool.
    /// @param tokenIn Token sold.
    /// @param tokenOut Token bought.
    /// @param fee Fee tier of the pool, pips (1e6 = 100%).
    /// @param recipient Receiver of `tokenOut`.
    /// @param deadline Unix time after which the swap reverts.
    /// @param amountIn Exact `tokenIn` units sold.
    /// @param amountOutMinimum The swap reverts unless it buys at least this many `tokenOut` units.
    /// @param sqrtPriceLimitX96 Price (sqrt, Q64.96) at which the swap stops; 0 = no limit.
    struct ExactInputSingleParams {
        address tokenIn;
        address tokenOut;
        uint24 fee;
        address recipient;
        uint256 deadline;
        uint256 amountIn;
        uint256 amountOutMinimum;
        uint160 sqrtPriceLimitX96;
    }

    /// @notice Sells exactly `params.amountIn` of `params.tokenIn` for as much `params.tokenOut` as
    ///         the pool gives, reverting below `params.amountOutMinimum` or after `params.deadline`.
    /// @param params The swap (see ExactInputSingleParams).
    /// @return amountOut `tokenOut` units sent to `params.recipient`.
    function exactInputSingle(ExactInputSingleParams calldata params) external payable returns (uint256 amountOut);
}
