// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @title MockAggregator
/// @notice TEST ONLY. A Chainlink AggregatorV3-compatible feed (as seen through a proxy) whose round
///         data anyone can set, with its round history and phases: round ids are
///         `phaseId << 64 | aggregatorRoundId`, as Chainlink proxies number them; a new phase (a new
///         aggregator behind the proxy) starts again at aggregator round 1.
/// @dev The latest round is packed in two slots (answer; round ids and timestamp), close to how
///      Chainlink's OCR aggregators pack a transmission, so gas measured against it is realistic.
///      `startedAt` is reported equal to `updatedAt`. `getRoundData` of a round never set reverts,
///      as Chainlink's does ("No data present").
contract MockAggregator is AggregatorV3Interface {
    uint8 public immutable decimals;
    string public description;
    uint256 public constant version = 4;

    int256 internal _answer;
    uint80 internal _roundId;
    uint80 internal _answeredInRound;
    uint64 internal _updatedAt;
    /// @notice When set, latestRoundData reverts (a deprecated or broken feed). Packed with the
    ///         round ids, so the latest round still costs what Chainlink's does.
    bool public broken;

    struct Round {
        int256 answer;
        uint64 updatedAt;
        uint80 answeredInRound;
    }

    mapping(uint80 roundId => Round) internal _rounds;

    /// @notice The aggregator's answer clamps, as Chainlink's OCR aggregators expose them (0/0 here
    ///         until `setClamps`; the oracle treats a pair with max <= 0 as no clamps).
    int192 public minAnswer;
    int192 public maxAnswer;

    /// @notice A round was set.
    event RoundSet(uint80 roundId, int256 answer, uint256 updatedAt, uint80 answeredInRound);

    /// @param decimals_ Feed decimals (Chainlink USD feeds use 8).
    /// @param description_ For example "ETH / USD".
    /// @param initialAnswer First answer, stamped now, round 1 (phase 0).
    constructor(uint8 decimals_, string memory description_, int256 initialAnswer) {
        decimals = decimals_;
        description = description_;
        _set(1, initialAnswer, block.timestamp, 1);
    }

    /// @notice New complete round with `answer`, stamped now, next in the current phase.
    function setAnswer(int256 answer) external {
        _set(_roundId + 1, answer, block.timestamp, _roundId + 1);
    }

    /// @notice New complete round with `answer` stamped `updatedAt` (a replay of history).
    function setAnswerAt(int256 answer, uint256 updatedAt) external {
        _set(_roundId + 1, answer, updatedAt, _roundId + 1);
    }

    /// @notice A new phase (a new aggregator behind the proxy): its first round is `answer`, now.
    function newPhase(int256 answer) external {
        uint80 id = uint80(((_roundId >> 64) + 1) << 64) | 1;
        _set(id, answer, block.timestamp, id);
    }

    /// @notice Arbitrary round data (stale, incomplete or future rounds for tests); becomes the latest.
    function setRoundData(uint80 roundId, int256 answer, uint256 updatedAt, uint80 answeredInRound) external {
        _set(roundId, answer, updatedAt, answeredInRound);
    }

    /// @notice Sets the answer clamps the aggregator reports.
    function setClamps(int192 min, int192 max) external {
        (minAnswer, maxAnswer) = (min, max);
    }

    /// @notice Makes latestRoundData revert (or work again).
    function setBroken(bool broken_) external {
        broken = broken_;
    }

    /// @notice Latest round, as Chainlink returns it.
    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        require(!broken, "feed broken");
        return (_roundId, _answer, _updatedAt, _updatedAt, _answeredInRound);
    }

    /// @notice A past round; reverts for a round never set.
    function getRoundData(uint80 roundId) external view returns (uint80, int256, uint256, uint256, uint80) {
        Round memory r = _rounds[roundId];
        require(r.updatedAt != 0, "No data present");
        return (roundId, r.answer, r.updatedAt, r.updatedAt, r.answeredInRound);
    }

    function _set(uint80 roundId, int256 answer, uint256 updatedAt, uint80 answeredInRound) internal {
        _answer = answer;
        _roundId = roundId;
        _answeredInRound = answeredInRound;
        _updatedAt = SafeCast.toUint64(updatedAt);
        _rounds[roundId] = Round(answer, SafeCast.toUint64(updatedAt), answeredInRound);
        emit RoundSet(roundId, answer, updatedAt, answeredInRound);
    }
}
