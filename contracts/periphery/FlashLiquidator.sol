// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {ILiquidationCallback} from "../../interfaces/ILiquidationCallback.sol";
import {ILiquidator} from "../../interfaces/ILiquidator.sol";
import {IMarginAccount} from "../../interfaces/IMarginAccount.sol";
import {ISwapRouter} from "../../interfaces/ISwapRouter.sol";

/// @title FlashLiquidator
/// @notice A keeper's liquidation contract that needs no inventory. The owner (the keeper's EOA)
///         calls `flashLiquidate`; the MarginAccount sends the seized collateral here and calls
///         `onLiquidation`, which sells all of it for the debt asset in one Uniswap-v3-style pool and
///         approves the MarginAccount for exactly what it is owed; the MarginAccount pulls that, and
///         the rest of the swap proceeds go to the owner in the same transaction.
/// @dev Flow and guarantees:
///        1. Only the owner starts a liquidation, and the callback acts only while one of its own
///           runs (a transient flag, consumed by the callback) and only when called by the
///           MarginAccount, so nobody else can make this contract swap or approve.
///        2. The swap's minimum out is amountOwed + minProfit: a pool too shallow or too far from
///           the oracle price reverts the whole liquidation, which leaves every book untouched.
///        3. After the liquidation no allowance given here survives (the router's and the
///           MarginAccount's are reset to 0 if anything is left) and the whole debt-asset balance
///           goes to the owner. The contract holds nothing between calls; tokens sent to it by
///           mistake are recovered with `sweep`.
///      The MarginAccount and the Liquidator are locked against reentrancy while the callback runs,
///      so the callback can only swap elsewhere.
contract FlashLiquidator is ILiquidationCallback, Ownable2Step {
    using SafeERC20 for IERC20;

    // ================================================================== constants and immutables

    /// @notice sqrtPriceLimitX96 passed to the router: 0 = no price limit (the minimum out bounds
    ///         the swap instead).
    uint160 public constant NO_PRICE_LIMIT = 0;

    /// @notice The liquidation engine called by `flashLiquidate`.
    ILiquidator public immutable liquidator;
    /// @notice The MarginAccount the engine settles on: the only caller `onLiquidation` accepts and
    ///         the spender of the repayment.
    IMarginAccount public immutable marginAccount;
    /// @notice Where the seized collateral is sold.
    ISwapRouter public immutable router;

    // ================================================================== transient storage

    /// @dev True from `flashLiquidate` sending its liquidation until the callback of that liquidation
    ///      runs (then consumed), so the callback acts once and only for a liquidation started here.
    bool internal transient _initiated;

    // ================================================================== errors and events

    /// @notice A constructor address is zero (the owner's is checked by Ownable).
    error ZeroAddress();
    /// @notice `onLiquidation` was called by `caller`, not by the MarginAccount.
    error UnexpectedCaller(address caller);
    /// @notice `onLiquidation` was called without a liquidation started by this contract's owner.
    error NotInitiated();
    /// @notice `deadline` (unix seconds) is before the block's `timestamp`.
    error DeadlinePassed(uint256 deadline, uint256 timestamp);
    /// @notice The liquidation left `profit` debt-asset units, below the owner's `minProfit` (only a
    ///         router that pays less than it reports reaches this: the swap minimum covers it).
    error ProfitBelowMinimum(uint256 profit, uint256 minProfit);

    /// @notice A flash liquidation settled and its profit went to the owner.
    /// @param accountOwner Owner of the liquidated account.
    /// @param subId Sub-account liquidated.
    /// @param debtAsset Asset repaid (and in which the profit is paid).
    /// @param collateralAsset Asset seized and sold.
    /// @param repay Debt repaid, debt-token units.
    /// @param seize Collateral seized and sold, collateral-token units.
    /// @param profit Debt-token units sent to the owner.
    event FlashLiquidated(
        address indexed accountOwner,
        uint96 indexed subId,
        address indexed debtAsset,
        address collateralAsset,
        uint256 repay,
        uint256 seize,
        uint256 profit
    );

    /// @notice The owner recovered a token balance held here.
    /// @param token Token sent.
    /// @param to Receiver.
    /// @param amount Token units sent (the whole balance).
    event Swept(address indexed token, address indexed to, uint256 amount);

    // ================================================================== constructor

    /// @param liquidator_ Liquidation engine (its MarginAccount is read once and fixed).
    /// @param router_ Uniswap v3 SwapRouter (or one with the same `exactInputSingle`).
    /// @param owner_ The keeper's EOA: the only address that may liquidate and sweep.
    constructor(ILiquidator liquidator_, ISwapRouter router_, address owner_) Ownable(owner_) {
        if (address(liquidator_) == address(0) || address(router_) == address(0)) revert ZeroAddress();
        liquidator = liquidator_;
        marginAccount = liquidator_.marginAccount();
        router = router_;
    }

    // ================================================================== owner actions

    /// @notice Liquidates (accountOwner, subId) with no inventory: the seized collateral is sold for
    ///         the debt asset in the `poolFee` pool, the MarginAccount is repaid from the proceeds and
    ///         the rest goes to the owner. Reverts, leaving every book untouched, unless the swap
    ///         buys at least what is owed plus `minProfit`.
    /// @param accountOwner Owner of the account to liquidate.
    /// @param subId Sub-account to liquidate.
    /// @param debtAsset Asset to repay.
    /// @param collateralAsset Asset to seize and sell.
    /// @param maxRepay Most debt to repay, token units (type(uint256).max = as much as allowed).
    /// @param minSeized Revert unless at least this much collateral is seized.
    /// @param poolFee Fee tier of the (collateralAsset, debtAsset) pool, pips (500 = 0.05%).
    /// @param minProfit Least debt-asset units left for the owner after repaying.
    /// @param deadline Unix time after which neither the liquidation nor the swap goes through.
    /// @return repay Debt repaid, debt-token units.
    /// @return seize Collateral seized and sold, collateral-token units.
    /// @return profit Debt-token units sent to the owner.
    function flashLiquidate(
        address accountOwner,
        uint96 subId,
        address debtAsset,
        address collateralAsset,
        uint256 maxRepay,
        uint256 minSeized,
        uint24 poolFee,
        uint256 minProfit,
        uint256 deadline
    ) external onlyOwner returns (uint256 repay, uint256 seize, uint256 profit) {
        // Checked here too (the router checks it again) so a late transaction fails before pricing.
        if (block.timestamp > deadline) revert DeadlinePassed(deadline, block.timestamp);
        _initiated = true;
        (repay, seize) = liquidator.liquidate(
            accountOwner,
            subId,
            debtAsset,
            collateralAsset,
            maxRepay,
            minSeized,
            abi.encode(poolFee, minProfit, deadline)
        );
        // Both are 0 after an honest router and the MarginAccount's pull; reset whatever is left.
        _resetAllowance(IERC20(collateralAsset), address(router));
        _resetAllowance(IERC20(debtAsset), address(marginAccount));
        profit = IERC20(debtAsset).balanceOf(address(this));
        if (profit < minProfit) revert ProfitBelowMinimum(profit, minProfit);
        emit FlashLiquidated(accountOwner, subId, debtAsset, collateralAsset, repay, seize, profit);
        if (profit > 0) IERC20(debtAsset).safeTransfer(owner(), profit);
    }

    /// @notice Sends this contract's whole balance of `token` to `to` (tokens sent here by mistake,
    ///         or collateral left by a failed operation).
    /// @param token Token to recover.
    /// @param to Receiver (non-zero).
    /// @return amount Token units sent.
    function sweep(address token, address to) external onlyOwner returns (uint256 amount) {
        if (to == address(0)) revert ZeroAddress();
        amount = IERC20(token).balanceOf(address(this));
        emit Swept(token, to, amount);
        IERC20(token).safeTransfer(to, amount);
    }

    // ================================================================== callback

    /// @notice Called by the MarginAccount during a liquidation started by `flashLiquidate`, after
    ///         sending `seized` collateral here: sells all of it for at least `amountOwed` plus the
    ///         owner's minimum profit and approves the MarginAccount for exactly `amountOwed`.
    /// @param debtAsset Asset to pay.
    /// @param amountOwed Debt-asset units the MarginAccount pulls right after this call.
    /// @param collateralAsset Asset received.
    /// @param seized Collateral units received, all sold.
    /// @param data abi.encode(uint24 poolFee, uint256 minProfit, uint256 deadline) from `flashLiquidate`.
    function onLiquidation(
        address, /* accountOwner */
        uint96, /* subId */
        address debtAsset,
        uint256 amountOwed,
        address collateralAsset,
        uint256 seized,
        bytes calldata data
    ) external {
        if (msg.sender != address(marginAccount)) revert UnexpectedCaller(msg.sender);
        if (!_initiated) revert NotInitiated();
        _initiated = false; // one callback per liquidation started
        (uint24 poolFee, uint256 minProfit, uint256 deadline) = abi.decode(data, (uint24, uint256, uint256));
        IERC20(collateralAsset).forceApprove(address(router), seized);
        router.exactInputSingle(
            ISwapRouter.ExactInputSingleParams({
                tokenIn: collateralAsset,
                tokenOut: debtAsset,
                fee: poolFee,
                recipient: address(this),
                deadline: deadline,
                amountIn: seized,
                amountOutMinimum: amountOwed + minProfit,
                sqrtPriceLimitX96: NO_PRICE_LIMIT
            })
        );
        IERC20(debtAsset).forceApprove(address(marginAccount), amountOwed);
    }

    // ================================================================== internal

    /// @dev Sets `spender`'s allowance of `token` to 0 if any is left (no approval call when none).
    function _resetAllowance(IERC20 token, address spender) internal {
        if (token.allowance(address(this), spender) != 0) token.forceApprove(spender, 0);
    }
}
