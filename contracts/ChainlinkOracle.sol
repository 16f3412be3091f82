// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

import {IPriceOracle} from "../interfaces/IPriceOracle.sol";

/// @title ChainlinkOracle
/// @notice IPriceOracle over one Chainlink AggregatorV3 feed per asset (feeds quoted in USD).
///         Rejects non-positive answers, answers older than the asset's maximum age, answers from
///         incomplete rounds, answers stamped in the future and answers too large to normalize;
///         normalizes any feed decimals (up to 36) to WAD.
contract ChainlinkOracle is IPriceOracle, AccessControl {
    /// @notice Role allowed to set feeds.
    bytes32 public constant ORACLE_ADMIN_ROLE = keccak256("ORACLE_ADMIN_ROLE");
    /// @notice Decimals of the normalized price (WAD).
    uint8 public constant PRICE_DECIMALS = 18;
    /// @notice Largest feed decimals accepted (keeps the normalization factor in range).
    uint8 public constant MAX_FEED_DECIMALS = 36;
    /// @notice Longest maximum age an admin may set.
    uint256 public constant MAX_MAX_AGE = 7 days;

    /// @notice Feed configuration. `scaleUp` or `scaleDown` turns an answer into WAD.
    struct Feed {
        AggregatorV3Interface aggregator;
        uint32 maxAge;
        uint8 decimals;
    }

    /// @notice The feed answered zero or a negative number.
    error NonPositiveAnswer(address asset, int256 answer);
    /// @notice The answer is older than the asset's maximum age.
    error StaleAnswer(address asset, uint256 updatedAt, uint256 maxAge);
    /// @notice The answer comes from a round that has not completed.
    error IncompleteRound(address asset, uint80 roundId, uint80 answeredInRound);
    /// @notice The answer is stamped after the current block.
    error FutureAnswer(address asset, uint256 updatedAt);
    /// @notice The answer is too large to normalize to WAD.
    error AnswerOutOfRange(address asset, int256 answer);
    /// @notice Feed address zero, max age zero or above MAX_MAX_AGE, or feed decimals above MAX_FEED_DECIMALS.
    error InvalidFeed(address asset, address aggregator, uint256 maxAge);

    /// @notice `asset` is priced by `aggregator`, answers older than `maxAge` seconds rejected.
    event FeedSet(address indexed asset, address indexed aggregator, uint256 maxAge, uint8 decimals);

    mapping(address asset => Feed) internal _feeds;

    /// @param admin Receives DEFAULT_ADMIN_ROLE and ORACLE_ADMIN_ROLE.
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ORACLE_ADMIN_ROLE, admin);
    }

    /// @notice Sets (or replaces) the feed of `asset`.
    /// @param asset Token priced.
    /// @param aggregator Chainlink AggregatorV3 feed of asset/USD.
    /// @param maxAge Maximum age of an answer in seconds (the feed's heartbeat plus a margin).
    function setFeed(address asset, AggregatorV3Interface aggregator, uint256 maxAge)
        external
        onlyRole(ORACLE_ADMIN_ROLE)
    {
        if (address(aggregator) == address(0) || maxAge == 0 || maxAge > MAX_MAX_AGE) {
            revert InvalidFeed(asset, address(aggregator), maxAge);
        }
        uint8 dec = aggregator.decimals();
        if (dec > MAX_FEED_DECIMALS) revert InvalidFeed(asset, address(aggregator), maxAge);
        _feeds[asset] = Feed({aggregator: aggregator, maxAge: uint32(maxAge), decimals: dec});
        emit FeedSet(asset, address(aggregator), maxAge, dec);
    }

    /// @notice Feed configuration of `asset` (aggregator zero if none).
    function feed(address asset) external view returns (Feed memory) {
        return _feeds[asset];
    }

    /// @inheritdoc IPriceOracle
    function price(address asset) external view returns (uint256 priceWad, uint256 updatedAt) {
        Feed memory f = _feeds[asset];
        if (address(f.aggregator) == address(0)) revert UnknownAsset(asset);
        (uint80 roundId, int256 answer,, uint256 updated, uint80 answeredInRound) = f.aggregator.latestRoundData();
        if (answer <= 0) revert NonPositiveAnswer(asset, answer);
        if (updated == 0 || answeredInRound < roundId) revert IncompleteRound(asset, roundId, answeredInRound);
        if (updated > block.timestamp) revert FutureAnswer(asset, updated);
        if (block.timestamp - updated > f.maxAge) revert StaleAnswer(asset, updated, f.maxAge);
        uint256 raw = uint256(answer);
        if (f.decimals <= PRICE_DECIMALS) {
            uint256 factor = 10 ** (PRICE_DECIMALS - f.decimals);
            if (raw > type(uint256).max / factor) revert AnswerOutOfRange(asset, answer);
            priceWad = raw * factor;
        } else {
            priceWad = raw / 10 ** (f.decimals - PRICE_DECIMALS); // rounds down
            if (priceWad == 0) revert NonPositiveAnswer(asset, answer);
        }
        return (priceWad, updated);
    }
}
