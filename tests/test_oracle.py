"""ChainlinkOracle over MockAggregator feeds: WAD normalization, every rejection rule with its error
data, and the access-controlled, all-or-nothing setFeed.

The oracle never calls the asset, so a fixed dummy address stands in for it. View reverts are
decoded by `reverts_with` (ape leaves custom errors of eth_call undecoded on Anvil).
"""

from __future__ import annotations

from typing import Any

import pytest
from ape import chain, project
from eth_utils import to_checksum_address

from tests.utils.chain import ZERO_ADDRESS, norm_checksum, reverts_with
from tests.utils.chain import logs_named as logs

ASSET = to_checksum_address("0x" + "a5" * 20)
OTHER_ASSET = to_checksum_address("0x" + "b6" * 20)
MAX_AGE = 3600
MAX_MAX_AGE = 7 * 24 * 3600
ANSWER_8 = 2_000_12345678  # $2,000.12345678 with 8 decimals


# ---------------------------------------------------------------------------------------- helpers
def block_time(receipt: Any) -> int:
    return int(chain.blocks[receipt.block_number].timestamp)


def warp_to(timestamp: int) -> None:
    """Mine one block stamped exactly `timestamp` (views run at the head block's timestamp)."""
    chain.mine(1, timestamp=timestamp)


def feed_config(oracle: Any, asset: str) -> tuple[str, int, int]:
    f = oracle.feed(asset)
    return norm_checksum(f.aggregator), int(f.maxAge), int(f.decimals)


def price_of(oracle: Any, asset: str) -> tuple[int, int]:
    priced, updated_at = oracle.price(asset)
    return int(priced), int(updated_at)


# --------------------------------------------------------------------------------------- fixtures
@pytest.fixture
def make_feed(deployer):
    def deploy(decimals: int, answer: int) -> Any:
        return project.MockAggregator.deploy(decimals, "TEST / USD", answer, sender=deployer)

    return deploy


@pytest.fixture
def feed(oracle, deployer, make_feed):
    """An 8-decimal feed answering $2,000.12345678, set for ASSET with a one-hour maximum age."""
    aggregator = make_feed(8, ANSWER_8)
    oracle.setFeed(ASSET, aggregator, MAX_AGE, sender=deployer)
    return aggregator


# ---------------------------------------------------------------------------- price normalization
@pytest.mark.parametrize(
    ("decimals", "answer", "expected_wad"),
    [
        (0, 7, 7 * 10**18),
        (6, 1_000_123, 1_000_123 * 10**12),
        (8, ANSWER_8, 2_000_123_456_780_000_000_000),
        (18, 3_000_123_456_789_012_345_678, 3_000_123_456_789_012_345_678),
        (20, 123_456_789_012_345_678_999, 1_234_567_890_123_456_789),  # floor of ...789.99
        (36, 3 * 10**36 + 10**18 - 1, 3 * 10**18),  # floor drops 18 digits
    ],
    ids=["0dec", "6dec", "8dec", "18dec", "20dec-floors", "36dec-floors"],
)
def test_price__feed_decimals__normalized_to_exact_wad(
    oracle, deployer, make_feed, decimals, answer, expected_wad
):
    aggregator = make_feed(decimals, answer)
    stamped = int(aggregator.latestRoundData()[3])
    receipt = oracle.setFeed(ASSET, aggregator, MAX_AGE, sender=deployer)

    assert feed_config(oracle, ASSET) == (aggregator.address, MAX_AGE, decimals)
    assert price_of(oracle, ASSET) == (expected_wad, stamped)
    assert block_time(receipt) >= stamped


def test_price__new_round__returns_answer_and_its_updated_at(oracle, deployer, feed):
    receipt = feed.setAnswer(1_999_00000000, sender=deployer)

    assert price_of(oracle, ASSET) == (1_999 * 10**18, block_time(receipt))


def test_price__round_stamped_in_the_past__returns_that_updated_at(oracle, deployer, feed):
    head = int(chain.blocks.head.timestamp)
    feed.setRoundData(9, 42_00000000, head - 100, 9, sender=deployer)

    assert price_of(oracle, ASSET) == (42 * 10**18, head - 100)


def test_price__answer_below_one_wad_unit__reverts_non_positive_answer(oracle, deployer, make_feed):
    aggregator = make_feed(20, 99)  # 99e-20 USD floors to 0 WAD
    oracle.setFeed(ASSET, aggregator, MAX_AGE, sender=deployer)

    with reverts_with(oracle, "NonPositiveAnswer", asset=ASSET, answer=99):
        oracle.price(ASSET)
    aggregator.setAnswer(100, sender=deployer)
    assert price_of(oracle, ASSET)[0] == 1


def test_price__system_feeds__match_deployed_config(oracle, system):
    for deployed in system.assets.values():
        assert price_of(oracle, deployed.token.address)[0] == deployed.spec.price


# ------------------------------------------------------------------------------------ rejections
def test_price__answer_too_large_to_normalize__reverts_answer_out_of_range(
    oracle, deployer, make_feed
):
    aggregator = make_feed(0, 2**255 - 1)  # 0 decimals: scaled by 1e18, overflows uint256
    oracle.setFeed(OTHER_ASSET, aggregator, MAX_AGE, sender=deployer)
    with reverts_with(oracle, "AnswerOutOfRange", asset=OTHER_ASSET, answer=2**255 - 1):
        oracle.price(OTHER_ASSET)
    # Normalized prices stay below 2**128 (so differences and bounds cannot overflow).
    largest = (2**128 - 1) // 10**18
    aggregator.setAnswer(largest + 1, sender=deployer)
    with reverts_with(oracle, "AnswerOutOfRange", asset=OTHER_ASSET, answer=largest + 1):
        oracle.price(OTHER_ASSET)
    aggregator.setAnswer(largest, sender=deployer)
    assert price_of(oracle, OTHER_ASSET)[0] == largest * 10**18


def test_price__unknown_asset__reverts_unknown_asset(oracle, feed):
    assert feed_config(oracle, OTHER_ASSET) == (ZERO_ADDRESS, 0, 0)

    with reverts_with(oracle, "UnknownAsset", asset=OTHER_ASSET):
        oracle.price(OTHER_ASSET)


@pytest.mark.parametrize(
    "answer",
    [0, -1, -2_000_00000000, -(2**255)],
    ids=["zero", "minus1", "minus2000", "int_min"],
)
def test_price__non_positive_answer__reverts_non_positive_answer(oracle, deployer, feed, answer):
    feed.setAnswer(answer, sender=deployer)

    with reverts_with(oracle, "NonPositiveAnswer", asset=ASSET, answer=answer):
        oracle.price(ASSET)
    assert feed_config(oracle, ASSET) == (feed.address, MAX_AGE, 8)


def test_price__age_exactly_max_age__accepted(oracle, deployer, feed):
    stamped = block_time(feed.setAnswer(ANSWER_8, sender=deployer))
    warp_to(stamped + MAX_AGE)

    assert int(chain.blocks.head.timestamp) - stamped == MAX_AGE
    assert price_of(oracle, ASSET) == (ANSWER_8 * 10**10, stamped)


def test_price__age_max_age_plus_one__reverts_stale_answer(oracle, deployer, feed):
    stamped = block_time(feed.setAnswer(ANSWER_8, sender=deployer))
    warp_to(stamped + MAX_AGE + 1)

    with reverts_with(oracle, "StaleAnswer", asset=ASSET, updatedAt=stamped, maxAge=MAX_AGE):
        oracle.price(ASSET)


def test_price__stale_feed_gets_new_round__accepted_again(oracle, deployer, feed):
    stamped = block_time(feed.setAnswer(ANSWER_8, sender=deployer))
    warp_to(stamped + 10 * MAX_AGE)
    with reverts_with(oracle, "StaleAnswer", asset=ASSET, updatedAt=stamped, maxAge=MAX_AGE):
        oracle.price(ASSET)

    restamped = block_time(feed.setAnswer(2_100_00000000, sender=deployer))

    assert price_of(oracle, ASSET) == (2_100 * 10**18, restamped)


def test_price__answered_in_round_below_round_id__reverts_incomplete_round(oracle, deployer, feed):
    head = int(chain.blocks.head.timestamp)
    feed.setRoundData(5, ANSWER_8, head, 4, sender=deployer)

    with reverts_with(oracle, "IncompleteRound", asset=ASSET, roundId=5, answeredInRound=4):
        oracle.price(ASSET)


def test_price__updated_at_zero__reverts_incomplete_round(oracle, deployer, feed):
    feed.setRoundData(3, ANSWER_8, 0, 3, sender=deployer)

    with reverts_with(oracle, "IncompleteRound", asset=ASSET, roundId=3, answeredInRound=3):
        oracle.price(ASSET)


def test_price__answered_in_round_above_round_id__accepted(oracle, deployer, feed):
    head = int(chain.blocks.head.timestamp)
    feed.setRoundData(5, ANSWER_8, head, 6, sender=deployer)

    assert price_of(oracle, ASSET) == (ANSWER_8 * 10**10, head)


def test_price__updated_at_after_block_time__reverts_future_answer(oracle, deployer, feed):
    head = int(chain.blocks.head.timestamp)
    chain.pending_timestamp = head + 5
    feed.setRoundData(7, ANSWER_8, head + 6, 7, sender=deployer)

    assert int(chain.blocks.head.timestamp) == head + 5
    with reverts_with(oracle, "FutureAnswer", asset=ASSET, updatedAt=head + 6):
        oracle.price(ASSET)


def test_price__updated_at_equal_block_time__accepted(oracle, deployer, feed):
    head = int(chain.blocks.head.timestamp)
    chain.pending_timestamp = head + 5
    feed.setRoundData(7, ANSWER_8, head + 5, 7, sender=deployer)

    assert int(chain.blocks.head.timestamp) == head + 5
    assert price_of(oracle, ASSET) == (ANSWER_8 * 10**10, head + 5)


def test_price__negative_answer_in_incomplete_round__reports_answer_check_first(
    oracle, deployer, feed
):
    feed.setRoundData(5, -1, 0, 4, sender=deployer)

    with reverts_with(oracle, "NonPositiveAnswer", asset=ASSET, answer=-1):
        oracle.price(ASSET)


# -------------------------------------------------------------------------------------- setFeed
def test_set_feed__oracle_admin__emits_feed_set_and_stores_config(oracle, deployer, make_feed):
    aggregator = make_feed(18, 5 * 10**18)

    receipt = oracle.setFeed(ASSET, aggregator, MAX_MAX_AGE, sender=deployer)

    assert logs(receipt, oracle, "FeedSet") == [
        {"asset": ASSET, "aggregator": aggregator.address, "maxAge": MAX_MAX_AGE, "decimals": 18}
    ]
    assert feed_config(oracle, ASSET) == (aggregator.address, MAX_MAX_AGE, 18)
    assert price_of(oracle, ASSET)[0] == 5 * 10**18


def test_set_feed__replacing_feed__prices_from_new_feed(oracle, deployer, feed, make_feed):
    assert price_of(oracle, ASSET)[0] == ANSWER_8 * 10**10
    replacement = make_feed(6, 1_500_000000)

    receipt = oracle.setFeed(ASSET, replacement, 60, sender=deployer)

    assert logs(receipt, oracle, "FeedSet") == [
        {"asset": ASSET, "aggregator": replacement.address, "maxAge": 60, "decimals": 6}
    ]
    assert feed_config(oracle, ASSET) == (replacement.address, 60, 6)
    assert price_of(oracle, ASSET)[0] == 1_500 * 10**18


@pytest.mark.parametrize(
    "case", ["zero_aggregator", "zero_max_age", "max_age_above_limit", "decimals_37"]
)
def test_set_feed__invalid_feed__reverts_invalid_feed_and_keeps_previous(
    oracle, deployer, feed, make_feed, case
):
    before = (feed_config(oracle, ASSET), price_of(oracle, ASSET))
    aggregator: str = make_feed(8, ANSWER_8).address
    max_age = MAX_AGE
    if case == "zero_aggregator":
        aggregator = ZERO_ADDRESS
    elif case == "zero_max_age":
        max_age = 0
    elif case == "max_age_above_limit":
        max_age = MAX_MAX_AGE + 1
    else:
        aggregator = make_feed(37, ANSWER_8).address

    with reverts_with(oracle, "InvalidFeed", asset=ASSET, aggregator=aggregator, maxAge=max_age):
        oracle.setFeed(ASSET, aggregator, max_age, sender=deployer)

    assert (feed_config(oracle, ASSET), price_of(oracle, ASSET)) == before


def test_set_feed__limits_max_age_and_36_decimals__accepted(oracle, deployer, make_feed):
    limits = oracle.limits()
    assert (int(limits.maxMaxAge), int(limits.maxFeedDecimals)) == (MAX_MAX_AGE, 36)
    aggregator = make_feed(36, 10**36)

    receipt = oracle.setFeed(ASSET, aggregator, MAX_MAX_AGE, sender=deployer)

    assert logs(receipt, oracle, "FeedSet")[0]["decimals"] == 36
    assert feed_config(oracle, ASSET) == (aggregator.address, MAX_MAX_AGE, 36)
    assert price_of(oracle, ASSET)[0] == 10**18


def test_set_feed__stranger__reverts_unauthorized_and_keeps_previous(
    oracle, stranger, feed, make_feed
):
    before = (feed_config(oracle, ASSET), price_of(oracle, ASSET))
    intruder = make_feed(8, 1)

    with reverts_with(
        oracle,
        "AccessControlUnauthorizedAccount",
        account=stranger,
        neededRole=oracle.ORACLE_ADMIN_ROLE(),
    ):
        oracle.setFeed(ASSET, intruder, MAX_AGE, sender=stranger)

    assert (feed_config(oracle, ASSET), price_of(oracle, ASSET)) == before


def test_set_feed__granted_oracle_admin_role__can_set_feed(oracle, deployer, keeper, make_feed):
    role = oracle.ORACLE_ADMIN_ROLE()
    assert not oracle.hasRole(role, keeper)
    oracle.grantRole(role, keeper, sender=deployer)
    aggregator = make_feed(8, 1_00000000)

    receipt = oracle.setFeed(OTHER_ASSET, aggregator, MAX_AGE, sender=keeper)

    assert len(logs(receipt, oracle, "FeedSet")) == 1
    assert feed_config(oracle, OTHER_ASSET) == (aggregator.address, MAX_AGE, 8)
    assert price_of(oracle, OTHER_ASSET)[0] == 10**18
