// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title SolventTimelock
/// @notice OpenZeppelin 5's TimelockController, unchanged: the named artifact the deploy script
///         deploys. It holds every admin role of the protocol; each risk-raising change waits
///         `getMinDelay()` seconds between `schedule` and `execute` (docs/threat-model.md).
contract SolventTimelock is TimelockController {
    /// @param minDelay Seconds every operation waits (only the timelock itself can change it).
    /// @param proposers May schedule and cancel operations.
    /// @param executors May execute ready operations (address zero: anyone).
    /// @param admin Optional set-up admin, renounced at the end of the deployment (zero: none).
    constructor(uint256 minDelay, address[] memory proposers, address[] memory executors, address admin)
        TimelockController(minDelay, proposers, executors, admin)
    {}
}
