// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {ILiquidationCallback} from "../../interfaces/ILiquidationCallback.sol";
import {ILiquidator} from "../../interfaces/ILiquidator.sol";
import {IMarginAccount} from "../../interfaces/IMarginAccount.sol";
import {MockDex} from "./MockDex.sol";

/// @title FlashKeeper
/// @notice TEST ONLY. A keeper contract that liquidates with no inventory: in the callback it swaps
///         the seized collateral for the debt asset on a MockDex. Other modes try to re-enter the
///         protocol during the callback (which must fail) or do nothing (gas measurement).
contract FlashKeeper is ILiquidationCallback {
    using SafeERC20 for IERC20;

    /// @notice What the callback does.
    enum Mode {
        NOOP, // pay from inventory (approve set up front)
        SWAP, // swap all seized collateral for the debt asset, approve what is owed
        REENTER_LIQUIDATE, // call Liquidator.liquidate again
        REENTER_WITHDRAW, // call MarginAccount.withdraw on the keeper's own account
        REENTER_DEPOSIT, // call MarginAccount.deposit into the liquidated account
        REENTER_BATCH // call Liquidator.liquidateBatch
    }

    ILiquidator public immutable liquidator;
    IMarginAccount public immutable marginAccount;
    MockDex public immutable dex;

    /// @notice The callback came from an address other than the MarginAccount.
    error UnexpectedCaller(address caller);
    /// @notice The callback came without this contract having started the liquidation.
    error NotInitiated();

    /// @dev Set while this contract's own flashLiquidate runs: the callback acts only then (anyone
    ///      can make the MarginAccount call a keeper's callback through another engine or account).
    bool internal transient _initiated;

    /// @notice The callback ran (for tests).
    event Called(address owner, uint96 subId, uint256 amountOwed, uint256 seized, Mode mode);

    /// @param liquidator_ Liquidator to call.
    /// @param dex_ Where seized collateral is swapped.
    constructor(ILiquidator liquidator_, MockDex dex_) {
        liquidator = liquidator_;
        marginAccount = liquidator_.marginAccount();
        dex = dex_;
    }

    /// @notice Approves `spender` for `token` (set-up for NOOP mode and own deposits).
    function approve(address token, address spender, uint256 amount) external {
        IERC20(token).forceApprove(spender, amount);
    }

    /// @notice Flash-liquidates through the Liquidator with `mode` as callback data.
    function flashLiquidate(
        address owner,
        uint96 subId,
        address debtAsset,
        address collateralAsset,
        uint256 maxRepay,
        uint256 minSeized,
        Mode mode
    ) external returns (uint256 repay, uint256 seize) {
        _initiated = true;
        (repay, seize) =
            liquidator.liquidate(owner, subId, debtAsset, collateralAsset, maxRepay, minSeized, abi.encode(mode));
        _initiated = false;
    }

    /// @inheritdoc ILiquidationCallback
    function onLiquidation(
        address owner,
        uint96 subId,
        address debtAsset,
        uint256 amountOwed,
        address collateralAsset,
        uint256 seized,
        bytes calldata data
    ) external {
        if (msg.sender != address(marginAccount)) revert UnexpectedCaller(msg.sender);
        if (!_initiated) revert NotInitiated();
        Mode mode = abi.decode(data, (Mode));
        emit Called(owner, subId, amountOwed, seized, mode);
        if (mode == Mode.SWAP) {
            IERC20(collateralAsset).forceApprove(address(dex), seized);
            dex.swap(collateralAsset, debtAsset, seized, amountOwed);
            IERC20(debtAsset).forceApprove(address(marginAccount), amountOwed);
        } else if (mode == Mode.REENTER_LIQUIDATE) {
            liquidator.liquidate(owner, subId, debtAsset, collateralAsset, 1, 0, "");
        } else if (mode == Mode.REENTER_WITHDRAW) {
            marginAccount.withdraw(address(this), 0, collateralAsset, 1, address(this));
        } else if (mode == Mode.REENTER_DEPOSIT) {
            marginAccount.deposit(owner, subId, collateralAsset, 1);
        } else if (mode == Mode.REENTER_BATCH) {
            IMarginAccount.AccountId[] memory targets = new IMarginAccount.AccountId[](1);
            targets[0] = IMarginAccount.AccountId(owner, subId);
            liquidator.liquidateBatch(targets, debtAsset, collateralAsset, 0);
        }
    }

    /// @notice Sends `amount` of `token` held here to `to` (the keeper's profit).
    function sweep(address token, address to, uint256 amount) external {
        IERC20(token).safeTransfer(to, amount);
    }
}
