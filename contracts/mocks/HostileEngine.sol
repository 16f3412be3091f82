// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {ILiquidationEngine} from "../../interfaces/ILiquidationEngine.sol";
import {IMarginAccount} from "../../interfaces/IMarginAccount.sol";

/// @title HostileEngine
/// @notice TEST ONLY. A liquidation engine an admin could install with `setLiquidator` that prices
///         whatever it is told to: the MarginAccount's own bounds must refuse every quote that
///         takes more than the protocol allows, whatever the engine says.
contract HostileEngine is ILiquidationEngine {
    using SafeERC20 for IERC20;

    IMarginAccount public immutable marginAccount;
    IMarginAccount.LiquidationQuote internal _quote;

    /// @param marginAccount_ The MarginAccount to attack.
    constructor(IMarginAccount marginAccount_) {
        marginAccount = marginAccount_;
    }

    /// @notice Sets the quote `price` returns, whatever the snapshot.
    function setQuote(IMarginAccount.LiquidationQuote calldata q) external {
        _quote = q;
    }

    /// @inheritdoc ILiquidationEngine
    function price(IMarginAccount.LiquidationSnapshot calldata, uint256)
        external
        view
        returns (IMarginAccount.LiquidationQuote memory)
    {
        return _quote;
    }

    /// @notice Approves `spender` for `token` (so this contract can pay a settlement).
    function approve(address token, address spender, uint256 amount) external {
        IERC20(token).forceApprove(spender, amount);
    }

    /// @notice Asks the MarginAccount to settle (owner, subId) with this contract as the liquidator.
    function attack(
        address owner,
        uint96 subId,
        address debtAsset,
        address collateralAsset,
        uint256 maxRepay
    ) external returns (uint256 repaid, uint256 seized) {
        return attackAs(address(this), owner, subId, debtAsset, collateralAsset, maxRepay, "");
    }

    /// @notice The same, naming `payer` as the liquidator (who pays and receives the collateral),
    ///         with callback `data`: an engine chooses both.
    function attackAs(
        address payer,
        address owner,
        uint96 subId,
        address debtAsset,
        address collateralAsset,
        uint256 maxRepay,
        bytes memory data
    ) public returns (uint256 repaid, uint256 seized) {
        return marginAccount.settleLiquidation(
            IMarginAccount.LiquidationOrder({
                owner: owner,
                subId: subId,
                liquidator: payer,
                debtAsset: debtAsset,
                collateralAsset: collateralAsset,
                maxRepay: maxRepay,
                minSeized: 0
            }),
            data
        );
    }
}
