// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {ISwapRouter} from "../../interfaces/ISwapRouter.sol";

/// @title MockSwapRouter
/// @notice TEST/SIM ONLY. A Uniswap-v3-style router over constant-product pools of finite depth, one
///         pool per token pair, all in one fee tier set at deployment. Selling `amountIn` of token X
///         into a pool with reserves (x, y) buys
///           amountInAfterFee = amountIn * (FEE_DENOMINATOR - fee) / FEE_DENOMINATOR   (rounded down)
///           amountOut        = y * amountInAfterFee / (x + amountInAfterFee)          (rounded down)
///         and leaves reserves (x + amountIn, y - amountOut): the fee stays in the pool, and each
///         swap moves the price, so a large sale gets a worse average price than a small one.
/// @dev No LP shares and no removal: `addLiquidity` only deepens a pool. Reserves are the pool's
///      book, not this contract's token balances, so tokens sent here directly change nothing.
contract MockSwapRouter is ISwapRouter {
    using SafeERC20 for IERC20;

    /// @notice Fees are in pips: FEE_DENOMINATOR = 100%.
    uint24 public constant FEE_DENOMINATOR = 1e6;

    /// @notice The fee tier of every pool, pips (500 = 0.05%).
    uint24 public immutable fee;

    /// @dev Reserves of one pool, in the order of the sorted token addresses.
    struct Pool {
        uint256 reserve0;
        uint256 reserve1;
    }

    /// @dev token0 < token1.
    mapping(address token0 => mapping(address token1 => Pool)) internal _pools;

    /// @notice The fee tier is not below 100%.
    error InvalidFee(uint24 fee);
    /// @notice A pool needs two different tokens.
    error IdenticalTokens(address token);
    /// @notice Both liquidity amounts must be non-zero.
    error ZeroAmount();
    /// @notice No (tokenIn, tokenOut) pool in tier `fee`: the tier differs or the pool is empty.
    error NoPool(address tokenIn, address tokenOut, uint24 fee);
    /// @notice The swap's deadline (unix seconds) is before the block's timestamp.
    error DeadlinePassed(uint256 deadline, uint256 timestamp);
    /// @notice The swap would buy `amountOut`, below the caller's `amountOutMinimum`.
    error InsufficientOutput(uint256 amountOut, uint256 amountOutMinimum);
    /// @notice A price limit was given; this mock only supports 0 (no limit).
    error PriceLimitUnsupported(uint160 sqrtPriceLimitX96);
    /// @notice Ether was sent; the mock swaps ERC20 tokens only.
    error EtherNotAccepted(uint256 value);

    /// @notice `provider` added `amountA` of `tokenA` and `amountB` of `tokenB` to their pool.
    /// @param provider Address the tokens were pulled from.
    /// @param tokenA First token as given.
    /// @param tokenB Second token as given.
    /// @param amountA `tokenA` units added.
    /// @param amountB `tokenB` units added.
    event LiquidityAdded(
        address indexed provider, address indexed tokenA, address indexed tokenB, uint256 amountA, uint256 amountB
    );

    /// @notice `sender` sold `amountIn` of `tokenIn` for `amountOut` of `tokenOut`, sent to `recipient`.
    /// @param sender Address the input was pulled from.
    /// @param recipient Receiver of the output.
    /// @param tokenIn Token sold.
    /// @param tokenOut Token bought.
    /// @param amountIn `tokenIn` units sold (fee included).
    /// @param amountOut `tokenOut` units bought.
    event Swapped(
        address indexed sender,
        address indexed recipient,
        address tokenIn,
        address tokenOut,
        uint256 amountIn,
        uint256 amountOut
    );

    /// @param fee_ Fee tier of every pool, pips (below FEE_DENOMINATOR).
    constructor(uint24 fee_) {
        if (fee_ >= FEE_DENOMINATOR) revert InvalidFee(fee_);
        fee = fee_;
    }

    /// @notice Pulls `amountA` of `tokenA` and `amountB` of `tokenB` from the caller into their pool
    ///         (creating it), at whatever ratio is given: the first deposit sets the price.
    /// @param tokenA One token of the pair.
    /// @param tokenB The other token.
    /// @param amountA `tokenA` units to add.
    /// @param amountB `tokenB` units to add.
    function addLiquidity(address tokenA, address tokenB, uint256 amountA, uint256 amountB) external {
        if (tokenA == tokenB) revert IdenticalTokens(tokenA);
        if (amountA == 0 || amountB == 0) revert ZeroAmount();
        (Pool storage pool, bool aIsToken0) = _pool(tokenA, tokenB);
        if (aIsToken0) {
            pool.reserve0 += amountA;
            pool.reserve1 += amountB;
        } else {
            pool.reserve0 += amountB;
            pool.reserve1 += amountA;
        }
        emit LiquidityAdded(msg.sender, tokenA, tokenB, amountA, amountB);
        IERC20(tokenA).safeTransferFrom(msg.sender, address(this), amountA);
        IERC20(tokenB).safeTransferFrom(msg.sender, address(this), amountB);
    }

    /// @inheritdoc ISwapRouter
    function exactInputSingle(ExactInputSingleParams calldata params) external payable returns (uint256 amountOut) {
        if (msg.value != 0) revert EtherNotAccepted(msg.value);
        if (block.timestamp > params.deadline) revert DeadlinePassed(params.deadline, block.timestamp);
        if (params.sqrtPriceLimitX96 != 0) revert PriceLimitUnsupported(params.sqrtPriceLimitX96);
        if (params.fee != fee) revert NoPool(params.tokenIn, params.tokenOut, params.fee);
        (uint256 reserveIn, uint256 reserveOut) = reserves(params.tokenIn, params.tokenOut);
        amountOut = _amountOut(reserveIn, reserveOut, params.amountIn);
        if (amountOut < params.amountOutMinimum) revert InsufficientOutput(amountOut, params.amountOutMinimum);
        (Pool storage pool, bool inIsToken0) = _pool(params.tokenIn, params.tokenOut);
        // amountOut < reserveOut (the formula's denominator exceeds its multiplier of reserveOut).
        if (inIsToken0) {
            pool.reserve0 = reserveIn + params.amountIn;
            pool.reserve1 = reserveOut - amountOut;
        } else {
            pool.reserve1 = reserveIn + params.amountIn;
            pool.reserve0 = reserveOut - amountOut;
        }
        emit Swapped(msg.sender, params.recipient, params.tokenIn, params.tokenOut, params.amountIn, amountOut);
        IERC20(params.tokenIn).safeTransferFrom(msg.sender, address(this), params.amountIn);
        IERC20(params.tokenOut).safeTransfer(params.recipient, amountOut);
    }

    /// @notice What selling `amountIn` of `tokenIn` for `tokenOut` would buy now (reverts NoPool if
    ///         the pool is empty).
    /// @param tokenIn Token sold.
    /// @param tokenOut Token bought.
    /// @param amountIn `tokenIn` units sold (fee included).
    /// @return amountOut `tokenOut` units bought, as `exactInputSingle` would pay them.
    function quote(address tokenIn, address tokenOut, uint256 amountIn) external view returns (uint256 amountOut) {
        (uint256 reserveIn, uint256 reserveOut) = reserves(tokenIn, tokenOut);
        return _amountOut(reserveIn, reserveOut, amountIn);
    }

    /// @notice Reserves of the (tokenIn, tokenOut) pool in that order; reverts NoPool if it is empty.
    /// @param tokenIn Token sold into the pool.
    /// @param tokenOut Token bought from it.
    /// @return reserveIn `tokenIn` units in the pool.
    /// @return reserveOut `tokenOut` units in the pool.
    function reserves(address tokenIn, address tokenOut) public view returns (uint256 reserveIn, uint256 reserveOut) {
        if (tokenIn == tokenOut) revert IdenticalTokens(tokenIn);
        (Pool storage pool, bool inIsToken0) = _pool(tokenIn, tokenOut);
        (reserveIn, reserveOut) = inIsToken0 ? (pool.reserve0, pool.reserve1) : (pool.reserve1, pool.reserve0);
        if (reserveIn == 0 || reserveOut == 0) revert NoPool(tokenIn, tokenOut, fee);
    }

    /// @dev The pool of {tokenA, tokenB} and whether tokenA is its token0.
    function _pool(address tokenA, address tokenB) internal view returns (Pool storage pool, bool aIsToken0) {
        aIsToken0 = tokenA < tokenB;
        pool = aIsToken0 ? _pools[tokenA][tokenB] : _pools[tokenB][tokenA];
    }

    /// @dev Constant-product output, both divisions rounded down (in the pool's favour).
    function _amountOut(uint256 reserveIn, uint256 reserveOut, uint256 amountIn) internal view returns (uint256) {
        uint256 amountInAfterFee = amountIn * (FEE_DENOMINATOR - fee) / FEE_DENOMINATOR;
        return reserveOut * amountInAfterFee / (reserveIn + amountInAfterFee);
    }
}
