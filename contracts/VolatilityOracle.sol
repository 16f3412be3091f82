// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {FixedPointMathLib} from "solady/utils/FixedPointMathLib.sol";

import {IMarginAccount} from "../interfaces/IMarginAccount.sol";
import {WAD} from "./libraries/Constants.sol";
import {MarginMath} from "./libraries/MarginMath.sol";

/// @notice The part of ChainlinkOracle the VolatilityOracle reads: the aggregator behind an asset.
interface IChainlinkFeeds {
    struct Feed {
        AggregatorV3Interface aggregator;
        uint32 maxAge;
        uint8 decimals;
    }

    function feed(address asset) external view returns (Feed memory);
}

/// @title VolatilityOracle
/// @notice Realized volatility per asset, from every Chainlink round of the protocol's price feed:
///         an exponentially weighted estimate of the variance of log returns per second,
///           r_k = ln(p_k / p_{k-1}),  dt_k = t_k - t_{k-1} (at least 1 s),
///           w_k = exp(-dt_k / tau),   V_k = w_k * V_{k-1} + (1 - w_k) * r_k^2 / dt_k,
///         and sigma = sqrt(V * YEAR) annualized. Each round is read once with `getRoundData`, in
///         order from the last one processed (phase-aware round ids), so the estimate does not
///         depend on who pokes or when: poking after every round and once an hour give the same
///         sigma, and poking only at calm moments cannot lower it. After each poke the sigma is
///         pushed to the MarginAccount, which turns it into a volatility floor of the margin factors.
/// @dev Units: V in WAD per second, sigma WAD (1e18 = 100% a year), times in seconds. Rounds with a
///      non-positive answer, an answer from an older round, a timestamp before the previous round's,
///      an answer above 2^128 or below 1e-18 of the previous one are skipped (their successors are
///      measured from the last good one). A replaced feed stops pokes (FeedChanged) until re-tracked.
contract VolatilityOracle is AccessControl {
    /// @notice Role allowed to track assets and set tau.
    bytes32 public constant VOL_ADMIN_ROLE = keccak256("VOL_ADMIN_ROLE");
    /// @notice Most rounds one poke reads (bounds its gas; a backlog takes several pokes).
    uint256 public constant MAX_ROUNDS_PER_POKE = 100;
    /// @notice Bounds of the EWMA time constant tau, seconds.
    uint256 public constant MIN_TAU = 1 hours;
    uint256 public constant MAX_TAU = 90 days;
    /// @notice Highest initial sigma an admin may set, WAD (2000% a year).
    uint256 public constant MAX_SIGMA = 20e18;
    /// @notice Seconds per year of the annualized sigma.
    uint256 public constant YEAR = 365 days;

    /// @dev Per asset: the last round read (cursor), the last good answer and its time, the
    ///      variance estimate (WAD per second) and whether the asset is tracked.
    struct Track {
        uint80 cursor;
        uint64 lastTime;
        bool tracked;
        uint128 lastAnswer;
        uint128 variance;
        address aggregator;
    }

    /// @notice The MarginAccount the sigma is pushed to (its oracle is where prices come from).
    IMarginAccount public immutable marginAccount;
    /// @notice EWMA time constant, seconds.
    uint256 public tau;

    mapping(address asset => Track) internal _tracks;

    /// @notice The asset is not tracked.
    error NotTracked(address asset);
    /// @notice The asset's oracle has no Chainlink feed, or its latest round is unusable.
    error NoFeed(address asset);
    /// @notice tau out of [MIN_TAU, MAX_TAU].
    error InvalidTau(uint256 tau);
    /// @notice Initial sigma above MAX_SIGMA.
    error InvalidSigma(uint256 sigma);
    /// @notice Zero address.
    error ZeroAddress();
    /// @notice The asset's price feed was replaced since it was tracked: its round ids and answers
    ///         are not comparable with the old ones; the admin must `track` it again.
    error FeedChanged(address asset, address tracked, address current);

    /// @notice `asset` is tracked from round `roundId` on, starting at `sigma`.
    event Tracked(address indexed asset, uint256 sigma, uint80 roundId);
    /// @notice tau set.
    event TauSet(uint256 tau);
    /// @notice A poke read `rounds` rounds up to `roundId`: sigma (WAD), variance (WAD per second),
    ///         and the time the estimate is current as of.
    event VolatilityUpdated(
        address indexed asset, uint256 sigma, uint256 variance, uint80 roundId, uint256 updatedAt, uint256 rounds
    );

    /// @param marginAccount_ The MarginAccount (its oracle must be a ChainlinkOracle).
    /// @param admin Receives DEFAULT_ADMIN_ROLE and VOL_ADMIN_ROLE.
    /// @param tau_ EWMA time constant, seconds.
    constructor(IMarginAccount marginAccount_, address admin, uint256 tau_) {
        if (address(marginAccount_) == address(0) || admin == address(0)) revert ZeroAddress();
        marginAccount = marginAccount_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(VOL_ADMIN_ROLE, admin);
        _setTau(tau_);
    }

    /// @notice Sets the EWMA time constant (applies to rounds read from now on).
    /// @param tau_ Seconds, in [MIN_TAU, MAX_TAU].
    function setTau(uint256 tau_) external onlyRole(VOL_ADMIN_ROLE) {
        _setTau(tau_);
    }

    /// @notice Starts (or restarts) tracking `asset` from its latest round, at `sigma`, and pushes it.
    /// @param asset A listed asset priced by a Chainlink feed.
    /// @param sigma Initial annualized sigma, WAD, at most MAX_SIGMA (e.g. a calibrated calm value).
    function track(address asset, uint256 sigma) external onlyRole(VOL_ADMIN_ROLE) {
        if (sigma > MAX_SIGMA) revert InvalidSigma(sigma);
        AggregatorV3Interface agg = _aggregator(asset);
        (uint80 roundId, int256 answer,, uint256 updatedAt,) = agg.latestRoundData();
        if (answer <= 0 || updatedAt == 0 || uint256(answer) > type(uint128).max) revert NoFeed(asset);
        _tracks[asset] = Track({
            cursor: roundId,
            lastTime: SafeCast.toUint64(updatedAt),
            tracked: true,
            lastAnswer: uint128(uint256(answer)),
            variance: SafeCast.toUint128(FixedPointMathLib.mulDivUp(sigma, sigma, YEAR * WAD)),
            aggregator: address(agg)
        });
        emit Tracked(asset, sigma, roundId);
        marginAccount.updateVolatility(asset, sigma, block.timestamp);
    }

    /// @notice Reads the rounds of `asset` since the last one read (at most MAX_ROUNDS_PER_POKE),
    ///         updates the estimate and pushes sigma to the MarginAccount. Anyone may call it.
    /// @return sigma Annualized sigma, WAD.
    /// @return rounds Rounds read.
    function poke(address asset) external returns (uint256 sigma, uint256 rounds) {
        Track memory t = _tracks[asset];
        if (!t.tracked) revert NotTracked(asset);
        AggregatorV3Interface agg = _aggregator(asset);
        if (address(agg) != t.aggregator) revert FeedChanged(asset, t.aggregator, address(agg));
        (uint80 latest,,,,) = agg.latestRoundData();
        uint256 tau_ = tau;
        while (t.cursor != latest && rounds < MAX_ROUNDS_PER_POKE) {
            ++rounds;
            uint80 next = t.cursor + 1;
            (bool found, int256 answer, uint256 updatedAt, uint80 answeredIn) = _round(agg, next);
            if (!found) {
                // The phase ended before `next`: go on with the next phase's first round.
                if (t.cursor >> 64 < latest >> 64) {
                    t.cursor = uint80(((t.cursor >> 64) + 1) << 64);
                    continue;
                }
                break; // not published yet
            }
            t.cursor = next;
            if (
                answer <= 0 || answeredIn < next || updatedAt < t.lastTime || uint256(answer) > type(uint128).max
                    || FixedPointMathLib.mulDiv(uint256(answer), WAD, t.lastAnswer) == 0
            ) continue; // unusable (a ratio below 1e-18 has no logarithm): skipped
            _update(t, uint256(answer), updatedAt, tau_);
        }
        _tracks[asset] = t;
        sigma = _sigma(t.variance);
        // Current as of now when every round is read; otherwise as of the last round read.
        uint256 asOf = t.cursor == latest ? block.timestamp : t.lastTime;
        emit VolatilityUpdated(asset, sigma, t.variance, t.cursor, asOf, rounds);
        marginAccount.updateVolatility(asset, sigma, asOf);
    }

    /// @notice The estimate of `asset`: annualized sigma (WAD), variance per second (WAD), the last
    ///         round read and the time of the last good answer.
    function volatility(address asset)
        external
        view
        returns (uint256 sigma, uint256 variance, uint80 cursor, uint256 lastTime)
    {
        Track memory t = _tracks[asset];
        if (!t.tracked) revert NotTracked(asset);
        return (_sigma(t.variance), t.variance, t.cursor, t.lastTime);
    }

    // ================================================================== internal

    /// @dev One EWMA step with the round (answer, updatedAt): exact for any gap.
    function _update(Track memory t, uint256 answer, uint256 updatedAt, uint256 tau_) internal pure {
        uint256 dt = updatedAt - t.lastTime;
        if (dt == 0) dt = 1;
        int256 r = FixedPointMathLib.lnWad(SafeCast.toInt256(FixedPointMathLib.mulDiv(answer, WAD, t.lastAnswer)));
        uint256 r2 = FixedPointMathLib.mulDivUp(uint256(r < 0 ? -r : r), uint256(r < 0 ? -r : r), WAD);
        uint256 sample = FixedPointMathLib.divUp(r2, dt); // variance per second, WAD
        uint256 w = uint256(FixedPointMathLib.expWad(-SafeCast.toInt256(FixedPointMathLib.mulDiv(dt, WAD, tau_))));
        if (w > WAD) w = WAD;
        uint256 v = FixedPointMathLib.mulDivUp(t.variance, w, WAD) + FixedPointMathLib.mulDivUp(sample, WAD - w, WAD);
        t.variance = SafeCast.toUint128(v);
        t.lastAnswer = uint128(answer);
        t.lastTime = uint64(updatedAt);
    }

    /// @dev sqrt(V * YEAR) in WAD, rounded up.
    function _sigma(uint256 variance) internal pure returns (uint256) {
        return MarginMath.sqrtUp(variance * YEAR * WAD);
    }

    function _round(AggregatorV3Interface agg, uint80 id)
        internal
        view
        returns (bool found, int256 answer, uint256 updatedAt, uint80 answeredIn)
    {
        try agg.getRoundData(id) returns (uint80, int256 a, uint256, uint256 u, uint80 ai) {
            return (u != 0, a, u, ai);
        } catch {
            return (false, 0, 0, 0);
        }
    }

    function _aggregator(address asset) internal view returns (AggregatorV3Interface agg) {
        agg = IChainlinkFeeds(address(marginAccount.oracle())).feed(asset).aggregator;
        if (address(agg) == address(0)) revert NoFeed(asset);
    }

    function _setTau(uint256 tau_) internal {
        if (tau_ < MIN_TAU || tau_ > MAX_TAU) revert InvalidTau(tau_);
        tau = tau_;
        emit TauSet(tau_);
    }
}
