// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @title MockAggregator
/// @notice TEST ONLY. A Chainlink AggregatorV3-compatible feed whose round data anyone can set.
/// @dev The latest round is packed in two slots (answer; round ids and timestamp), close to how
///      Chainlink's OCR aggregators pack a transmission, so gas measured against it is realistic.
///      `startedAt` is reported equal to `updatedAt`.
contract MockAggregator is AggregatorV3Interface {
    uint8 public immutable decimals;
    string public description;
    uint256 public constant version = 4;

    int256 internal _answer;
    uint80 internal _roundId;
    uint80 internal _answeredInRound;
    uint64 internal _updatedAt;

    /// @notice A round was set.
    event RoundSet(uint80 roundId, int256 answer, uint256 updatedAt, uint80 answeredInRound);

    /// @param decimals_ Feed decimals (Chainlink USD feeds use 8).
    /// @param description_ For example "ETH / USD".
    /// @param initialAnswer First answer, stamped now, round 1.
    constructor(uint8 decimals_, string memory description_, int256 initialAnswer) {
        decimals = decimals_;
        description = description_;
        _set(1, initialAnswer, block.timestamp, 1);
    }

    /// @notice New complete round with `answer`, stamped now.
    function setAnswer(int256 answer) external {
        _set(_roundId + 1, answer, block.timestamp, _roundId + 1);
    }

    /// @notice Arbitrary round data (stale, incomplete or future rounds for tests).
    function setRoundData(uint80 roundId, int256 answer, uint256 updatedAt, uint80 answeredInRound) external {
        _set(roundId, answer, updatedAt, answeredInRound);
    }

    /// @notice Latest round, as Chainlink returns it.
    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        return (_roundId, _answer, _updatedAt, _updatedAt, _answeredInRound);
    }

    /// @notice Only the latest round is kept; any round id returns it.
    function getRoundData(uint80) external view returns (uint80, int256, uint256, uint256, uint80) {
        return (_roundId, _answer, _updatedAt, _updatedAt, _answeredInRound);
    }

    function _set(uint80 roundId, int256 answer, uint256 updatedAt, uint80 answeredInRound) internal {
        _answer = answer;
        _roundId = roundId;
        _answeredInRound = answeredInRound;
        _updatedAt = SafeCast.toUint64(updatedAt);
        emit RoundSet(roundId, answer, updatedAt, answeredInRound);
    }
}
