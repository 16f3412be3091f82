// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IMarginAccount} from "../interfaces/IMarginAccount.sol";
import {IMarginConfig} from "../interfaces/IMarginConfig.sol";
import {IPriceOracle} from "../interfaces/IPriceOracle.sol";
import {MarginAdmin} from "./MarginAdmin.sol";
import {MarginConfig} from "./MarginConfig.sol";

/// @title MarginRouter
/// @notice The MarginAccount's entry points into its admin module: every risk-registry write, and
///         the registry's larger views, run in MarginAdmin's code on the MarginAccount's storage
///         (delegatecall). MarginAdmin checks roles and bounds against that storage with the real
///         caller; the views go through a static call to this contract's own fallback.
abstract contract MarginRouter is IMarginAccount, MarginConfig {
    /// @notice The admin module (MarginAdmin) every risk-registry write, and its larger views, run
    ///         in, by delegatecall.
    address public immutable ADMIN_MODULE;
    /// @dev Selector prefix of a view forwarded to ADMIN_MODULE (see `_adminView`).
    bytes4 internal constant ADMIN_VIEW = 0x684dec5e; // bytes4(keccak256("solvent.adminView"))

    constructor() {
        ADMIN_MODULE = address(new MarginAdmin());
    }

    // ================================================================== admin (MarginAdmin, by delegatecall)

    /// @inheritdoc IMarginConfig
    function listAsset(address, address, uint256, uint256, uint256, uint256, uint256, uint256, uint256) external {
        _admin();
    }

    /// @inheritdoc IMarginConfig
    function setMarginFactors(address, uint256, uint256) external {
        _admin();
    }

    /// @inheritdoc IMarginConfig
    function setLiquidationParams(address, uint256, uint256, uint256) external {
        _admin();
    }

    /// @inheritdoc IMarginConfig
    function setCaps(address, uint256, uint256) external {
        _admin();
    }

    /// @inheritdoc IMarginConfig
    function setDynamicParams(address, uint256, uint256, uint256) external {
        _admin();
    }

    /// @inheritdoc IMarginConfig
    function setMarginModel(uint256, uint256, uint256, uint256, uint256) external {
        _admin();
    }

    /// @inheritdoc IMarginConfig
    function setVolatilityOracle(address) external {
        _admin();
    }

    /// @inheritdoc IMarginConfig
    function setOracle(IPriceOracle) external {
        _admin();
    }

    /// @inheritdoc IMarginConfig
    function setLiquidator(address) external {
        _admin();
    }

    /// @inheritdoc IMarginConfig
    function updateVolatility(address, uint256, uint256) external {
        _admin();
    }

    /// @inheritdoc IMarginConfig
    function pause(address, uint256) external {
        _admin();
    }

    /// @inheritdoc IMarginConfig
    function unpause(address, uint256) external {
        _admin();
    }

    /// @inheritdoc IMarginConfig
    function pauseFlags(address) external view returns (uint256) {
        _adminView();
    }

    /// @inheritdoc IMarginConfig
    function listedAssets() external view returns (address[] memory) {
        _adminView();
    }

    /// @inheritdoc IMarginConfig
    function assetConfig(address) external view returns (AssetConfig memory) {
        _adminView();
    }

    /// @inheritdoc IMarginConfig
    function discountBound(address) external view returns (uint256) {
        _adminView();
    }

    /// @inheritdoc IMarginConfig
    function marginCurve(address) external view returns (MarginCurve memory) {
        _adminView();
    }

    /// @inheritdoc IMarginConfig
    function marginModel() external view returns (uint256, uint256, uint256, uint256, uint256, uint256) {
        _adminView();
    }

    /// @inheritdoc IMarginAccount
    function rawBalance(address, uint96, address) external view returns (int256) {
        _adminView();
    }

    /// @inheritdoc IMarginAccount
    function balanceOf(address, uint96, address) external view returns (int256) {
        _adminView();
    }

    /// @inheritdoc IMarginAccount
    function accountAssets(address, uint96) external view returns (address[] memory) {
        _adminView();
    }

    /// @inheritdoc IMarginAccount
    function accountHealth(address, uint96) external view returns (int256, uint256, uint256, uint256) {
        _adminView();
    }

    /// @inheritdoc IMarginAccount
    function isLiquidatable(address, uint96) external view returns (bool) {
        _adminView();
    }

    /// @inheritdoc IMarginAccount
    function liquidationSnapshot(address, uint96, address, address)
        external
        view
        returns (LiquidationSnapshot memory)
    {
        _adminView();
    }

    /// @dev Answers a view from ADMIN_MODULE's code on this contract's storage: a static call to
    ///      this contract's fallback, which runs it by delegatecall.
    function _adminView() internal view {
        address self = address(this);
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, shl(224, 0x684dec5e)) // ADMIN_VIEW
            calldatacopy(add(ptr, 4), 0, calldatasize())
            let ok := staticcall(gas(), self, ptr, add(calldatasize(), 4), 0, 0)
            returndatacopy(ptr, 0, returndatasize())
            if iszero(ok) { revert(ptr, returndatasize()) }
            return(ptr, returndatasize())
        }
    }

    /// @dev Only this contract's own static calls from `_adminView`: ADMIN_VIEW followed by the
    ///      view's calldata, run in ADMIN_MODULE by delegatecall.
    fallback() external {
        if (msg.sender != address(this) || msg.sig != ADMIN_VIEW) revert NotAuthorized(msg.sender, address(this));
        address module = ADMIN_MODULE;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            let n := sub(calldatasize(), 4)
            calldatacopy(ptr, 4, n)
            let ok := delegatecall(gas(), module, ptr, n, 0, 0)
            returndatacopy(ptr, 0, returndatasize())
            if iszero(ok) { revert(ptr, returndatasize()) }
            return(ptr, returndatasize())
        }
    }

    /// @dev Runs the call in ADMIN_MODULE on this contract's storage and returns or reverts with
    ///      its result (roles and bounds are checked there).
    function _admin() internal {
        address module = ADMIN_MODULE;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, 0, calldatasize())
            let ok := delegatecall(gas(), module, ptr, calldatasize(), 0, 0)
            returndatacopy(ptr, 0, returndatasize())
            if iszero(ok) { revert(ptr, returndatasize()) }
            return(ptr, returndatasize())
        }
    }
}
