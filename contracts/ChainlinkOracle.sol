// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

import {IPriceOracle} from "../interfaces/IPriceOracle.sol";

/// @notice What a Chainlink proxy (`aggregator`) and its OCR aggregator (`minAnswer`, `maxAnswer`)
///         expose beyond AggregatorV3Interface; read by low-level calls, since not every feed has them.
interface IChainlinkAggregatorClamps {
    function aggregator() external view returns (address);
    function minAnswer() external view returns (int192);
    function maxAnswer() external view returns (int192);
}

/// @title ChainlinkOracle
/// @notice IPriceOracle over Chainlink AggregatorV3 feeds quoted in USD: a primary feed per asset,
///         an optional secondary feed, a price band, a price-jump guard and, on an L2, the
///         sequencer-uptime feed. Every answer is normalized from any feed decimals (up to 36) to WAD.
///         An answer is usable when it is positive, from a complete round, not stamped in the
///         future, at most maxAge old, below 2**128 once normalized, and inside the asset's band
///         (which also excludes the aggregator's own minAnswer/maxAnswer clamps).
///
///         Two readings (docs/threat-model.md gives the rule for each case):
///         - `price`: for risk-increasing actions. Reverts unless the primary is usable, agrees with
///           a usable secondary within the asset's deviation bound and did not jump past the
///           asset's jump bound since the previous round.
///         - `liquidationPrices`: for liquidation and the health views. The lowest and highest price
///           the oracle cannot rule out: the primary (or, when it is unusable, the secondary) and,
///           while the feeds disagree or a jump is unconfirmed, the other reading too. Collateral is
///           valued at the low price and debt at the high one. Reverts only when neither feed is
///           usable.
///         Both revert while the sequencer is down and for `SEQUENCER_GRACE_PERIOD` after it is back.
contract ChainlinkOracle is IPriceOracle, AccessControl {
    /// @notice Role allowed to set feeds, bands and guards.
    bytes32 public constant ORACLE_ADMIN_ROLE = keccak256("ORACLE_ADMIN_ROLE");
    /// @notice Decimals of the normalized price (WAD).
    uint8 internal constant PRICE_DECIMALS = 18;
    /// @notice Largest feed decimals accepted (keeps the normalization factor in range).
    uint8 internal constant MAX_FEED_DECIMALS = 36;
    /// @notice Longest maximum age an admin may set, seconds.
    uint256 internal constant MAX_MAX_AGE = 7 days;
    /// @notice One basis point in WAD: deviation and jump bounds are whole basis points.
    uint256 internal constant BPS = 1e14;
    /// @notice Bounds of the primary/secondary deviation an admin may set, WAD.
    uint256 internal constant MIN_DEVIATION = 0.001e18; // 0.1%
    uint256 internal constant MAX_DEVIATION = 0.5e18; // 50%
    /// @notice Bounds of the jump guard an admin may set, WAD (0 turns it off).
    uint256 internal constant MIN_JUMP = 0.01e18; // 1%
    uint256 internal constant MAX_JUMP = 5e18; // 500%
    /// @notice Longest sequencer grace period, seconds.
    uint256 internal constant MAX_GRACE_PERIOD = 1 days;

    /// @notice L2 sequencer-uptime feed (answer 0 = up, 1 = down; startedAt = time of the last
    ///         change), or zero on a chain without one.
    AggregatorV3Interface public immutable SEQUENCER_FEED;
    /// @notice Seconds after the sequencer comes back up during which no price is given.
    uint256 public immutable SEQUENCER_GRACE_PERIOD;

    /// @notice See `limits()`: decimals of a price (WAD) and of a feed, longest max age (s),
    ///         deviation and jump bounds (WAD) and longest sequencer grace period (s).
    struct Limits {
        uint8 priceDecimals;
        uint8 maxFeedDecimals;
        uint256 maxMaxAge;
        uint256 minDeviation;
        uint256 maxDeviation;
        uint256 minJump;
        uint256 maxJump;
        uint256 maxGracePeriod;
    }

    /// @notice Primary feed configuration (the shape VolatilityOracle reads).
    struct Feed {
        AggregatorV3Interface aggregator;
        uint32 maxAge;
        uint8 decimals;
    }

    /// @notice Everything configured for an asset. Bands in WAD (0/0 = none); bounds in WAD.
    struct FeedConfig {
        Feed primary;
        Feed secondary;
        uint256 maxDeviation;
        uint256 maxJump;
        uint256 bandMin;
        uint256 bandMax;
        uint256 primaryMin;
        uint256 primaryMax;
        uint256 secondaryMin;
        uint256 secondaryMax;
    }

    /// @dev What every price reads, one slot: the primary feed, the bounds and the flags.
    struct Head {
        AggregatorV3Interface primary;
        uint32 primaryMaxAge;
        uint8 primaryDecimals;
        uint16 deviationBps; // non-zero iff a secondary is set
        uint16 jumpBps; // 0 = no jump guard
        uint8 flags; // PRIMARY_BANDED | SECONDARY_BANDED
    }

    /// @dev Slot 0 (`head`) is all a primary-only price reads; the others only when a flag or a
    ///      bound says so.
    struct Feeds {
        Head head;
        Feed secondary;
        Band primaryBand; // effective bands: the configured band and the aggregator's clamps
        Band secondaryBand;
        Band band; // the configured band
    }

    struct Band {
        uint128 min;
        uint128 max;
    }

    /// @dev Why an answer is not usable (OK: it is).
    enum Status {
        OK,
        CALL_FAILED,
        NON_POSITIVE,
        INCOMPLETE,
        FUTURE,
        STALE,
        OUT_OF_RANGE,
        OUT_OF_BAND
    }

    uint8 internal constant PRIMARY_BANDED = 1;
    uint8 internal constant SECONDARY_BANDED = 2;
    /// @dev Sequencer-uptime answer meaning "down".
    int256 internal constant SEQUENCER_DOWN = 1;

    /// @notice The feed answered zero or a negative number.
    error NonPositiveAnswer(address asset, int256 answer);
    /// @notice The answer is older than the feed's maximum age.
    error StaleAnswer(address asset, uint256 updatedAt, uint256 maxAge);
    /// @notice The answer comes from a round that has not completed.
    error IncompleteRound(address asset, uint80 roundId, uint80 answeredInRound);
    /// @notice The answer is stamped after the current block.
    error FutureAnswer(address asset, uint256 updatedAt);
    /// @notice The answer, normalized to WAD, would be 2**128 or more.
    error AnswerOutOfRange(address asset, int256 answer);
    /// @notice The feed's latestRoundData reverted or returned malformed data.
    error FeedCallFailed(address asset, address aggregator);
    /// @notice The answer, in WAD, lies outside the asset's band (which excludes the aggregator's clamps).
    error PriceOutsideBand(address asset, uint256 price, uint256 min, uint256 max);
    /// @notice Primary and secondary differ by more than the asset's bound (risk-increasing actions wait).
    error FeedsDisagree(address asset, uint256 primary, uint256 secondary);
    /// @notice The primary moved more than the asset's bound since its previous round; the next
    ///         round confirms it (risk-increasing actions wait).
    error PriceJumpUnconfirmed(address asset, uint256 previous, uint256 latest);
    /// @notice The L2 sequencer is reported down.
    error SequencerDown();
    /// @notice The sequencer is back up since `upSince`; prices resume after the grace period.
    error SequencerGracePeriod(uint256 upSince, uint256 gracePeriod);
    /// @notice Feed address zero, max age zero or above MAX_MAX_AGE, or feed decimals above MAX_FEED_DECIMALS.
    error InvalidFeed(address asset, address aggregator, uint256 maxAge);
    /// @notice A secondary needs a primary, and a deviation bound within [MIN_DEVIATION, MAX_DEVIATION] in whole bps.
    error InvalidDeviation(address asset, uint256 maxDeviation);
    /// @notice A jump bound is 0 or within [MIN_JUMP, MAX_JUMP], in whole bps, on an asset with a primary.
    error InvalidJumpBound(address asset, uint256 maxJump);
    /// @notice A band is 0/0 or 0 < min < max <= 2**128 - 1, on an asset with a primary.
    error InvalidBand(address asset, uint256 min, uint256 max);
    /// @notice Sequencer feed and grace period must both be set (grace at most MAX_GRACE_PERIOD) or both zero.
    error InvalidSequencer(address feed, uint256 gracePeriod);

    /// @notice `asset` is priced by `aggregator`, answers older than `maxAge` seconds rejected.
    event FeedSet(address indexed asset, address indexed aggregator, uint256 maxAge, uint8 decimals);
    /// @notice `asset`'s secondary feed (zero: removed), and the deviation from the primary beyond
    ///         which risk-increasing actions wait (WAD).
    event SecondaryFeedSet(
        address indexed asset, address indexed aggregator, uint256 maxAge, uint8 decimals, uint256 maxDeviation
    );
    /// @notice `asset`'s jump bound (WAD, 0 = off).
    event JumpGuardSet(address indexed asset, uint256 maxJump);
    /// @notice The configured band of `asset` (WAD; 0/0 = none).
    event BandSet(address indexed asset, uint256 min, uint256 max);
    /// @notice The effective band of one of `asset`'s feeds (configured band and the aggregator's clamps), WAD.
    event EffectiveBandSet(address indexed asset, bool secondary, uint256 min, uint256 max);

    mapping(address asset => Feeds) internal _feeds;

    /// @param admin Receives DEFAULT_ADMIN_ROLE and ORACLE_ADMIN_ROLE.
    /// @param sequencerFeed Chainlink L2 sequencer-uptime feed, or zero on L1.
    /// @param gracePeriod Seconds without prices after the sequencer is back up (0 iff no feed).
    constructor(address admin, AggregatorV3Interface sequencerFeed, uint256 gracePeriod) {
        if ((address(sequencerFeed) == address(0)) != (gracePeriod == 0) || gracePeriod > MAX_GRACE_PERIOD) {
            revert InvalidSequencer(address(sequencerFeed), gracePeriod);
        }
        SEQUENCER_FEED = sequencerFeed;
        SEQUENCER_GRACE_PERIOD = gracePeriod;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ORACLE_ADMIN_ROLE, admin);
    }

    // ================================================================== admin

    /// @notice Sets (or replaces) the primary feed of `asset`; reads the aggregator's clamps.
    /// @param asset Token priced.
    /// @param aggregator Chainlink AggregatorV3 feed of asset/USD.
    /// @param maxAge Maximum age of an answer in seconds (the feed's heartbeat plus a margin).
    function setFeed(address asset, AggregatorV3Interface aggregator, uint256 maxAge)
        external
        onlyRole(ORACLE_ADMIN_ROLE)
    {
        uint8 dec = _checkFeed(asset, aggregator, maxAge);
        Feeds storage f = _feeds[asset];
        (f.head.primary, f.head.primaryMaxAge, f.head.primaryDecimals) = (aggregator, uint32(maxAge), dec);
        emit FeedSet(asset, address(aggregator), maxAge, dec);
        _syncBands(asset, f);
    }

    /// @notice Sets, replaces or (aggregator zero) removes the secondary feed of `asset`.
    /// @param asset Token with a primary feed.
    /// @param aggregator Independent AggregatorV3 feed of asset/USD, or zero to remove it.
    /// @param maxAge Maximum age of its answers, seconds (ignored when removing).
    /// @param maxDeviation Relative difference from the primary beyond which risk-increasing
    ///        actions wait, WAD, whole bps, in [MIN_DEVIATION, MAX_DEVIATION] (ignored when removing).
    function setSecondaryFeed(address asset, AggregatorV3Interface aggregator, uint256 maxAge, uint256 maxDeviation)
        external
        onlyRole(ORACLE_ADMIN_ROLE)
    {
        Feeds storage f = _feeds[asset];
        if (address(f.head.primary) == address(0)) revert UnknownAsset(asset);
        if (address(aggregator) == address(0)) {
            delete f.secondary;
            f.head.deviationBps = 0;
            f.head.flags &= ~SECONDARY_BANDED;
            emit SecondaryFeedSet(asset, address(0), 0, 0, 0);
            return;
        }
        uint8 dec = _checkFeed(asset, aggregator, maxAge);
        if (maxDeviation < MIN_DEVIATION || maxDeviation > MAX_DEVIATION || maxDeviation % BPS != 0) {
            revert InvalidDeviation(asset, maxDeviation);
        }
        f.secondary = Feed(aggregator, uint32(maxAge), dec);
        f.head.deviationBps = uint16(maxDeviation / BPS);
        emit SecondaryFeedSet(asset, address(aggregator), maxAge, dec, maxDeviation);
        _syncBands(asset, f);
    }

    /// @notice Sets the jump guard of `asset`: a primary answer that moved more than `maxJump`
    ///         from the previous round is unconfirmed until the next round.
    /// @param asset Token with a primary feed.
    /// @param maxJump Relative move, WAD, whole bps, 0 (off) or in [MIN_JUMP, MAX_JUMP].
    function setJumpGuard(address asset, uint256 maxJump) external onlyRole(ORACLE_ADMIN_ROLE) {
        Feeds storage f = _feeds[asset];
        if (
            address(f.head.primary) == address(0)
                || (maxJump != 0 && (maxJump < MIN_JUMP || maxJump > MAX_JUMP)) || maxJump % BPS != 0
        ) revert InvalidJumpBound(asset, maxJump);
        f.head.jumpBps = uint16(maxJump / BPS);
        emit JumpGuardSet(asset, maxJump);
    }

    /// @notice Sets the sane price band of `asset` (0/0: none); answers outside it are unusable.
    /// @param asset Token with a primary feed.
    /// @param min Lowest usable price, WAD.
    /// @param max Highest usable price, WAD.
    function setBand(address asset, uint256 min, uint256 max) external onlyRole(ORACLE_ADMIN_ROLE) {
        Feeds storage f = _feeds[asset];
        if (
            address(f.head.primary) == address(0) || (min | max != 0 && (min == 0 || min >= max))
                || max > type(uint128).max
        ) revert InvalidBand(asset, min, max);
        f.band = Band(uint128(min), uint128(max));
        emit BandSet(asset, min, max);
        _syncBands(asset, f);
    }

    /// @notice Re-reads the aggregators' minAnswer/maxAnswer clamps (after a Chainlink proxy moved
    ///         to a new aggregator). Anyone may call it: it only reads the configured feeds.
    /// @param asset Token with a primary feed.
    function syncBands(address asset) external {
        Feeds storage f = _feeds[asset];
        if (address(f.head.primary) == address(0)) revert UnknownAsset(asset);
        _syncBands(asset, f);
    }

    // ================================================================== views

    /// @notice The bounds every setting is checked against (internal constants, one getter: every
    ///         extra external function lengthens the dispatch of each price read).
    function limits() external pure returns (Limits memory) {
        return Limits({
            priceDecimals: PRICE_DECIMALS,
            maxFeedDecimals: MAX_FEED_DECIMALS,
            maxMaxAge: MAX_MAX_AGE,
            minDeviation: MIN_DEVIATION,
            maxDeviation: MAX_DEVIATION,
            minJump: MIN_JUMP,
            maxJump: MAX_JUMP,
            maxGracePeriod: MAX_GRACE_PERIOD
        });
    }

    /// @notice Primary feed configuration of `asset` (aggregator zero if none).
    function feed(address asset) external view returns (Feed memory) {
        Head memory h = _feeds[asset].head;
        return Feed(h.primary, h.primaryMaxAge, h.primaryDecimals);
    }

    /// @notice Everything configured for `asset`.
    function feedConfig(address asset) external view returns (FeedConfig memory c) {
        Feeds storage f = _feeds[asset];
        Head memory h = f.head;
        c.primary = Feed(h.primary, h.primaryMaxAge, h.primaryDecimals);
        c.secondary = f.secondary;
        (c.maxDeviation, c.maxJump) = (uint256(h.deviationBps) * BPS, uint256(h.jumpBps) * BPS);
        (c.bandMin, c.bandMax) = (f.band.min, f.band.max);
        if (h.flags & PRIMARY_BANDED != 0) (c.primaryMin, c.primaryMax) = (f.primaryBand.min, f.primaryBand.max);
        if (h.flags & SECONDARY_BANDED != 0) {
            (c.secondaryMin, c.secondaryMax) = (f.secondaryBand.min, f.secondaryBand.max);
        }
    }

    /// @inheritdoc IPriceOracle
    function price(address asset) external view returns (uint256 priceWad, uint256 updatedAt) {
        _checkSequencer();
        Feeds storage f = _feeds[asset];
        Head memory h = f.head;
        (Status st, uint256 p, uint80 roundId, uint256 updated) = _readPrimary(asset, h, f);
        if (st != Status.OK) _revertWith(asset, h, f, st);
        if (h.jumpBps != 0) {
            uint256 previous = _previous(h.primary, roundId, h.primaryDecimals, h, f);
            if (previous != 0 && _apart(previous, p, h.jumpBps)) revert PriceJumpUnconfirmed(asset, previous, p);
        }
        if (h.deviationBps != 0) {
            (Status sst, uint256 sp) = _readSecondary(h, f);
            if (sst == Status.OK && _apart(p, sp, h.deviationBps)) revert FeedsDisagree(asset, p, sp);
        }
        return (p, updated);
    }

    /// @inheritdoc IPriceOracle
    function liquidationPrices(address asset) external view returns (uint256 low, uint256 high) {
        _checkSequencer();
        Feeds storage f = _feeds[asset];
        Head memory h = f.head;
        (Status st, uint256 p, uint80 roundId,) = _readPrimary(asset, h, f);
        Status sst = Status.CALL_FAILED; // no secondary
        uint256 sp;
        if (h.deviationBps != 0) (sst, sp) = _readSecondary(h, f);
        if (st != Status.OK) {
            if (sst != Status.OK) _revertWith(asset, h, f, st);
            return (sp, sp);
        }
        (low, high) = (p, p);
        if (h.jumpBps != 0) {
            uint256 previous = _previous(h.primary, roundId, h.primaryDecimals, h, f);
            if (previous != 0 && _apart(previous, p, h.jumpBps)) (low, high) = _widen(low, high, previous);
        }
        if (sst == Status.OK && _apart(p, sp, h.deviationBps)) (low, high) = _widen(low, high, sp);
    }

    // ================================================================== internal

    function _checkSequencer() internal view {
        AggregatorV3Interface seq = SEQUENCER_FEED;
        if (address(seq) == address(0)) return;
        (, int256 answer, uint256 startedAt,,) = seq.latestRoundData();
        // startedAt 0: the feed is not initialized yet (Chainlink's note for Arbitrum): treat as down.
        if (answer == SEQUENCER_DOWN || startedAt == 0) revert SequencerDown();
        if (block.timestamp - startedAt <= SEQUENCER_GRACE_PERIOD) {
            revert SequencerGracePeriod(startedAt, SEQUENCER_GRACE_PERIOD);
        }
    }

    function _readPrimary(address asset, Head memory h, Feeds storage f)
        internal
        view
        returns (Status st, uint256 p, uint80 roundId, uint256 updated)
    {
        if (address(h.primary) == address(0)) revert UnknownAsset(asset);
        (st, p, roundId, updated) = _read(h.primary, h.primaryMaxAge, h.primaryDecimals);
        if (st == Status.OK && h.flags & PRIMARY_BANDED != 0) st = _inBand(p, f.primaryBand);
    }

    function _readSecondary(Head memory h, Feeds storage f) internal view returns (Status st, uint256 p) {
        Feed memory s = f.secondary;
        (st, p,,) = _read(s.aggregator, s.maxAge, s.decimals);
        if (st == Status.OK && h.flags & SECONDARY_BANDED != 0) st = _inBand(p, f.secondaryBand);
    }

    /// @dev The status of `agg`'s latest round and, when usable, its price in WAD. Kept on the
    ///      stack (the hot path); the errors re-read the round (`_revertWith`).
    function _read(AggregatorV3Interface agg, uint256 maxAge, uint8 decimals)
        internal
        view
        returns (Status st, uint256 p, uint80 roundId, uint256 updated)
    {
        (bool ok, uint80 id, int256 answer, uint256 upd, uint80 inRound) = _latestRound(agg);
        (roundId, updated) = (id, upd);
        if (!ok) return (Status.CALL_FAILED, 0, id, upd);
        if (answer <= 0) return (Status.NON_POSITIVE, 0, id, upd);
        if (upd == 0 || inRound < id) return (Status.INCOMPLETE, 0, id, upd);
        if (upd > block.timestamp) return (Status.FUTURE, 0, id, upd);
        if (block.timestamp - upd > maxAge) return (Status.STALE, 0, id, upd);
        bool inRange;
        (inRange, p) = _normalize(uint256(answer), decimals);
        if (!inRange) st = Status.OUT_OF_RANGE;
        else if (p == 0) st = Status.NON_POSITIVE;
    }

    function _inBand(uint256 p, Band storage band) internal view returns (Status) {
        return p < band.min || p > band.max ? Status.OUT_OF_BAND : Status.OK;
    }

    /// @dev `agg.latestRoundData()` by a plain static call: a revert, a short answer or round ids
    ///      beyond uint80 give ok = false instead of reverting (the secondary then gets its turn).
    function _latestRound(AggregatorV3Interface agg)
        internal
        view
        returns (bool ok, uint80 roundId, int256 answer, uint256 updatedAt, uint80 answeredInRound)
    {
        return _round(agg, AggregatorV3Interface.latestRoundData.selector, 0);
    }

    /// @dev `agg.getRoundData(roundArg)` or `agg.latestRoundData()` (by `selector`), checked as
    ///      `_latestRound` says.
    function _round(AggregatorV3Interface agg, bytes4 selector, uint256 roundArg)
        internal
        view
        returns (bool ok, uint80 roundId, int256 answer, uint256 updatedAt, uint80 answeredInRound)
    {
        uint256 id;
        uint256 inRound;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, selector)
            mstore(add(ptr, 4), roundArg)
            ok := staticcall(gas(), agg, ptr, 0x24, ptr, 0xa0)
            ok := and(ok, iszero(lt(returndatasize(), 0xa0))) // after the call (Yul evaluates right to left)
            if ok {
                id := mload(ptr)
                answer := mload(add(ptr, 0x20))
                updatedAt := mload(add(ptr, 0x60))
                inRound := mload(add(ptr, 0x80))
            }
        }
        if (id > type(uint80).max || inRound > type(uint80).max) return (false, 0, 0, 0, 0);
        return (ok, uint80(id), answer, updatedAt, uint80(inRound));
    }

    /// @dev The previous round's answer in WAD, or 0 when there is none to compare with: the
    ///      first round of a phase, a round the feed does not return, or an answer that would not
    ///      be usable now but for its age (non-positive, incomplete, out of range or outside the
    ///      primary's band: a bad print is never a price, not even a previous one).
    function _previous(AggregatorV3Interface agg, uint80 roundId, uint8 decimals, Head memory h, Feeds storage f)
        internal
        view
        returns (uint256)
    {
        if (uint64(roundId) <= 1) return 0; // the first round of its phase
        (bool ok,, int256 answer, uint256 updated, uint80 inRound) = _round(agg, AggregatorV3Interface.getRoundData.selector, roundId - 1);
        if (!ok || answer <= 0 || updated == 0 || inRound < roundId - 1) return 0;
        (bool inRange, uint256 p) = _normalize(uint256(answer), decimals);
        if (!inRange || p == 0) return 0;
        if (h.flags & PRIMARY_BANDED != 0 && _inBand(p, f.primaryBand) != Status.OK) return 0;
        return p;
    }

    /// @dev Whether a and b differ by more than `bps` basis points of a.
    function _apart(uint256 a, uint256 b, uint256 bps) internal pure returns (bool) {
        uint256 diff = a > b ? a - b : b - a;
        return diff * 1e4 > a * bps; // a, b < 2**128 here (normalized answers of realistic feeds)
    }

    function _widen(uint256 low, uint256 high, uint256 p) internal pure returns (uint256, uint256) {
        return (p < low ? p : low, p > high ? p : high);
    }

    /// @dev `raw` feed units to WAD: exact when scaling up, rounded down when scaling down.
    function _normalize(uint256 raw, uint8 decimals) internal pure returns (bool ok, uint256 wad) {
        if (decimals <= PRICE_DECIMALS) {
            uint256 factor = 10 ** (PRICE_DECIMALS - decimals);
            if (raw > type(uint128).max / factor) return (false, 0);
            return (true, raw * factor);
        }
        wad = raw / 10 ** (decimals - PRICE_DECIMALS);
        return (wad <= type(uint128).max, wad);
    }

    /// @dev Reverts with the primary's error for status `st` (re-reading its round for the data).
    function _revertWith(address asset, Head memory h, Feeds storage f, Status st) internal view {
        (, uint80 roundId, int256 answer, uint256 updated, uint80 inRound) = _latestRound(h.primary);
        if (st == Status.CALL_FAILED) revert FeedCallFailed(asset, address(h.primary));
        if (st == Status.NON_POSITIVE) revert NonPositiveAnswer(asset, answer);
        if (st == Status.INCOMPLETE) revert IncompleteRound(asset, roundId, inRound);
        if (st == Status.FUTURE) revert FutureAnswer(asset, updated);
        if (st == Status.STALE) revert StaleAnswer(asset, updated, h.primaryMaxAge);
        if (st == Status.OUT_OF_RANGE) revert AnswerOutOfRange(asset, answer);
        (, uint256 p) = _normalize(uint256(answer), h.primaryDecimals);
        revert PriceOutsideBand(asset, p, f.primaryBand.min, f.primaryBand.max);
    }

    function _checkFeed(address asset, AggregatorV3Interface aggregator, uint256 maxAge) internal view returns (uint8) {
        if (address(aggregator) == address(0) || maxAge == 0 || maxAge > MAX_MAX_AGE) {
            revert InvalidFeed(asset, address(aggregator), maxAge);
        }
        uint8 dec = aggregator.decimals();
        if (dec > MAX_FEED_DECIMALS) revert InvalidFeed(asset, address(aggregator), maxAge);
        return dec;
    }

    /// @dev Effective band of each feed: the configured band narrowed to strictly inside the
    ///      aggregator's minAnswer/maxAnswer (an answer at a clamp is the clamp, not the price).
    function _syncBands(address asset, Feeds storage f) internal {
        Band memory configured = f.band;
        uint8 before = f.head.flags;
        uint8 flags;
        Band memory b = _effectiveBand(asset, configured, address(f.head.primary), f.head.primaryDecimals);
        if (b.max != 0) {
            (f.primaryBand, flags) = (b, PRIMARY_BANDED);
            emit EffectiveBandSet(asset, false, b.min, b.max);
        } else if (before & PRIMARY_BANDED != 0) {
            emit EffectiveBandSet(asset, false, 0, 0);
        }
        Feed memory s = f.secondary;
        if (address(s.aggregator) != address(0)) {
            b = _effectiveBand(asset, configured, address(s.aggregator), s.decimals);
            if (b.max != 0) {
                (f.secondaryBand, flags) = (b, flags | SECONDARY_BANDED);
                emit EffectiveBandSet(asset, true, b.min, b.max);
            }
        }
        if (before & SECONDARY_BANDED != 0 && flags & SECONDARY_BANDED == 0) emit EffectiveBandSet(asset, true, 0, 0);
        f.head.flags = flags;
    }

    function _effectiveBand(address asset, Band memory configured, address agg, uint8 decimals)
        internal
        view
        returns (Band memory b)
    {
        b = configured;
        (uint256 minAnswer, uint256 maxAnswer) = _clamps(agg);
        if (maxAnswer == 0) return b;
        // Usable answers lie strictly between the clamps. Scaled up, the bounds are exact; scaled
        // down (decimals > 18) they are taken inwards, so that every WAD price in [lo, hi] comes
        // from an answer strictly between the clamps.
        uint256 lo;
        uint256 hi;
        if (decimals <= PRICE_DECIMALS) {
            uint256 factor = 10 ** (PRICE_DECIMALS - decimals);
            (lo, hi) = ((minAnswer + 1) * factor, (maxAnswer - 1) * factor);
        } else {
            uint256 divisor = 10 ** (decimals - PRICE_DECIMALS);
            (lo, hi) = (minAnswer / divisor + 1, maxAnswer / divisor);
            hi = hi == 0 ? 0 : hi - 1;
        }
        if (lo > type(uint128).max) lo = type(uint128).max;
        if (hi > type(uint128).max) hi = type(uint128).max;
        if (lo > b.min) b.min = uint128(lo);
        if (b.max == 0 || hi < b.max) b.max = uint128(hi);
        if (b.min > b.max) revert InvalidBand(asset, b.min, b.max); // nothing could ever be usable
    }

    /// @dev The aggregator's clamps, read through a proxy's `aggregator()` when it has one; 0/0
    ///      when it exposes none (any call that fails or returns something else counts as none).
    function _clamps(address agg) internal view returns (uint256 minAnswer, uint256 maxAnswer) {
        (bool ok, uint256 word) = _readWord(agg, IChainlinkAggregatorClamps.aggregator.selector);
        if (ok && word != 0 && word >> 160 == 0) agg = address(uint160(word));
        (bool okMin, uint256 lo) = _readWord(agg, IChainlinkAggregatorClamps.minAnswer.selector);
        (bool okMax, uint256 hi) = _readWord(agg, IChainlinkAggregatorClamps.maxAnswer.selector);
        // int192 answers: a positive clamp pair only (a negative min is no clamp on prices).
        if (!okMin || !okMax || int256(hi) <= 0 || int256(hi) > type(int192).max) return (0, 0);
        minAnswer = int256(lo) < 0 ? 0 : lo;
        if (minAnswer + 1 >= hi) return (0, 0);
        return (minAnswer, hi);
    }

    function _readWord(address target, bytes4 selector) internal view returns (bool ok, uint256 word) {
        if (target.code.length == 0) return (false, 0);
        bytes memory ret;
        (ok, ret) = target.staticcall(abi.encodeWithSelector(selector));
        if (!ok || ret.length != 32) return (false, 0);
        word = abi.decode(ret, (uint256));
    }
}
