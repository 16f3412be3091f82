"""Oracle hardening (docs/threat-model.md): secondary feed, price band and aggregator clamps, jump
guard and L2 sequencer uptime, each case on the oracle itself (`price` for risk-increasing
actions, `liquidationPrices` for liquidation) and through the MarginAccount: borrow, withdraw and
transfer refused with the oracle's error; repay and deposit always work; liquidation uses the rule
of the case (collateral at the low price, debt at the high one).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from ape import chain, project
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3.exceptions import ContractCustomError

from solvent.deploy import deploy_system
from tests.utils.chain import ZERO_ADDRESS, ev, fast_custom_error_decoding, logs, reverts
from tests.utils.helpers import Actions, amount, open_margin_book

ASSET = to_checksum_address("0x" + "a5" * 20)
WAD = 10**18
E8 = 10**8
MAX_AGE = 3600
GRACE = 3600


@pytest.fixture(scope="module", autouse=True)
def _fast_errors(bare_oracle, hard, act, sequencer, lender, trader, trader2, keeper, stranger):
    """Also sets the module's deployments up first, before any test's own snapshot (so that ape's
    isolation never reverts them, whichever test of the module a worker runs first)."""
    with fast_custom_error_decoding():
        yield


# ------------------------------------------------------------------------------ oracle, alone
@pytest.fixture(scope="module")
def bare_oracle(deployer):
    return project.ChainlinkOracle.deploy(deployer, ZERO_ADDRESS, 0, sender=deployer)


@pytest.fixture
def primary(bare_oracle, deployer):
    feed = project.MockAggregator.deploy(8, "P / USD", 2_000 * E8, sender=deployer)
    bare_oracle.setFeed(ASSET, feed, MAX_AGE, sender=deployer)
    return feed


@pytest.fixture
def secondary(bare_oracle, deployer, primary):
    feed = project.MockAggregator.deploy(18, "S / USD", 2_010 * WAD, sender=deployer)
    bare_oracle.setSecondaryFeed(ASSET, feed, MAX_AGE, WAD // 50, sender=deployer)  # 2%
    return feed


def prices(bare_oracle: Any) -> tuple[int, int]:
    low, high = bare_oracle.liquidationPrices(ASSET)
    return int(low), int(high)


def test_primary_only__price_and_liquidation_prices_agree(bare_oracle, primary):
    assert int(bare_oracle.price(ASSET)[0]) == 2_000 * WAD
    assert prices(bare_oracle) == (2_000 * WAD, 2_000 * WAD)


def test_secondary_within_bound__primary_price_everywhere(bare_oracle, primary, secondary):
    assert int(bare_oracle.price(ASSET)[0]) == 2_000 * WAD  # 0.5% apart: the primary is trusted
    assert prices(bare_oracle) == (2_000 * WAD, 2_000 * WAD)


def test_feeds_disagree__risk_waits__liquidation_gets_both(
    bare_oracle, deployer, primary, secondary
):
    secondary.setAnswer(1_900 * WAD, sender=deployer)  # 5% below the primary, bound 2%
    with reverts(
        bare_oracle.FeedsDisagree, asset=ASSET, primary=2_000 * WAD, secondary=1_900 * WAD
    ):
        bare_oracle.price(ASSET)
    assert prices(bare_oracle) == (1_900 * WAD, 2_000 * WAD)


def test_feeds_exactly_at_bound__agree(bare_oracle, deployer, primary, secondary):
    secondary.setAnswer(2_040 * WAD, sender=deployer)  # exactly 2% of the primary
    assert int(bare_oracle.price(ASSET)[0]) == 2_000 * WAD
    secondary.setAnswer(2_040 * WAD + 1, sender=deployer)
    with reverts(
        bare_oracle.FeedsDisagree, asset=ASSET, primary=2_000 * WAD, secondary=2_040 * WAD + 1
    ):
        bare_oracle.price(ASSET)


def test_primary_stale__secondary_prices_liquidation__risk_refused(
    bare_oracle, deployer, primary, secondary
):
    updated = int(primary.latestRoundData()[3])
    chain.mine(1, timestamp=updated + MAX_AGE + 1)
    secondary.setAnswer(1_950 * WAD, sender=deployer)  # fresh
    with reverts(bare_oracle.StaleAnswer, asset=ASSET, updatedAt=updated, maxAge=MAX_AGE):
        bare_oracle.price(ASSET)
    assert prices(bare_oracle) == (1_950 * WAD, 1_950 * WAD)


def test_primary_broken__secondary_prices_liquidation(bare_oracle, deployer, primary, secondary):
    primary.setBroken(True, sender=deployer)
    with reverts(bare_oracle.FeedCallFailed, asset=ASSET, aggregator=primary.address):
        bare_oracle.price(ASSET)
    assert prices(bare_oracle) == (2_010 * WAD, 2_010 * WAD)


def test_both_stale__no_price_at_all__primary_error(bare_oracle, primary, secondary):
    updated = int(primary.latestRoundData()[3])
    chain.mine(1, timestamp=int(secondary.latestRoundData()[3]) + MAX_AGE + 1)  # the later one
    for read in (bare_oracle.price, bare_oracle.liquidationPrices):
        with reverts(bare_oracle.StaleAnswer, asset=ASSET, updatedAt=updated, maxAge=MAX_AGE):
            read(ASSET)


def test_secondary_unusable__primary_alone(bare_oracle, deployer, primary, secondary):
    secondary.setAnswer(-1, sender=deployer)
    assert int(bare_oracle.price(ASSET)[0]) == 2_000 * WAD
    assert prices(bare_oracle) == (2_000 * WAD, 2_000 * WAD)


def test_secondary_removed__emits_and_primary_alone(bare_oracle, deployer, primary, secondary):
    secondary.setAnswer(1_000 * WAD, sender=deployer)
    tx = bare_oracle.setSecondaryFeed(ASSET, ZERO_ADDRESS, 0, 0, sender=deployer)
    assert logs(tx, bare_oracle.SecondaryFeedSet) == [
        ev(asset=ASSET, aggregator=ZERO_ADDRESS, maxAge=0, decimals=0, maxDeviation=0)
    ]
    assert int(bare_oracle.price(ASSET)[0]) == 2_000 * WAD


def test_band__outside_unusable__secondary_inside_prices_liquidation(
    bare_oracle, deployer, primary, secondary
):
    tx = bare_oracle.setBand(ASSET, 100 * WAD, 10_000 * WAD, sender=deployer)
    assert logs(tx, bare_oracle.BandSet) == [ev(asset=ASSET, min=100 * WAD, max=10_000 * WAD)]
    primary.setAnswer(50 * E8, sender=deployer)
    with reverts(
        bare_oracle.PriceOutsideBand, asset=ASSET, price=50 * WAD, min=100 * WAD, max=10_000 * WAD
    ):
        bare_oracle.price(ASSET)
    assert prices(bare_oracle) == (2_010 * WAD, 2_010 * WAD)
    secondary.setAnswer(20_000 * WAD, sender=deployer)  # outside too: no price at all
    with reverts(
        bare_oracle.PriceOutsideBand, asset=ASSET, price=50 * WAD, min=100 * WAD, max=10_000 * WAD
    ):
        bare_oracle.liquidationPrices(ASSET)


def test_aggregator_clamps__answer_at_clamp_unusable(bare_oracle, deployer, primary):
    primary.setClamps(10 * E8, 1_000_000 * E8, sender=deployer)
    tx = bare_oracle.syncBands(ASSET, sender=deployer)  # anyone may; only reads the feeds
    lo, hi = (10 * E8 + 1) * 10**10, (1_000_000 * E8 - 1) * 10**10
    assert logs(tx, bare_oracle.EffectiveBandSet) == [
        ev(asset=ASSET, secondary=False, min=lo, max=hi)
    ]
    cfg = bare_oracle.feedConfig(ASSET)
    assert (int(cfg.primaryMin), int(cfg.primaryMax)) == (lo, hi)
    primary.setAnswer(10 * E8, sender=deployer)  # the aggregator's floor: the price is below it
    with reverts(bare_oracle.PriceOutsideBand, asset=ASSET, price=10 * WAD, min=lo, max=hi):
        bare_oracle.liquidationPrices(ASSET)
    primary.setAnswer(10 * E8 + 1, sender=deployer)
    assert prices(bare_oracle)[0] == lo


def test_jump__unconfirmed_until_next_round(bare_oracle, deployer, primary):
    tx = bare_oracle.setJumpGuard(ASSET, WAD // 5, sender=deployer)  # 20%
    assert logs(tx, bare_oracle.JumpGuardSet) == [ev(asset=ASSET, maxJump=WAD // 5)]
    primary.setAnswer(1_500 * E8, sender=deployer)  # -25% in one round
    with reverts(
        bare_oracle.PriceJumpUnconfirmed, asset=ASSET, previous=2_000 * WAD, latest=1_500 * WAD
    ):
        bare_oracle.price(ASSET)
    assert prices(bare_oracle) == (1_500 * WAD, 2_000 * WAD)  # both readings, for liquidation
    primary.setAnswer(1_490 * E8, sender=deployer)  # the next round confirms
    assert int(bare_oracle.price(ASSET)[0]) == 1_490 * WAD
    assert prices(bare_oracle) == (1_490 * WAD, 1_490 * WAD)


def test_jump__exactly_at_bound_is_no_jump(bare_oracle, deployer, primary):
    bare_oracle.setJumpGuard(ASSET, WAD // 5, sender=deployer)
    primary.setAnswer(2_400 * E8, sender=deployer)  # +20% exactly
    assert int(bare_oracle.price(ASSET)[0]) == 2_400 * WAD


def test_jump__a_bad_print_is_never_the_previous_price(bare_oracle, deployer, primary):
    """Who gains if it breaks: a keeper. Round N prints $1 (outside the band: no price), round N+1
    is back at $3,000: the $1 must not become the low liquidation price."""
    bare_oracle.setJumpGuard(ASSET, WAD // 5, sender=deployer)
    bare_oracle.setBand(ASSET, 100 * WAD, 1_000_000 * WAD, sender=deployer)
    primary.setAnswer(1 * E8, sender=deployer)
    with reverts(
        bare_oracle.PriceOutsideBand, asset=ASSET, price=WAD, min=100 * WAD, max=1_000_000 * WAD
    ):
        bare_oracle.liquidationPrices(ASSET)
    primary.setAnswer(3_000 * E8, sender=deployer)
    assert prices(bare_oracle) == (3_000 * WAD, 3_000 * WAD)
    primary.setAnswer(0, sender=deployer)
    primary.setAnswer(2_000 * E8, sender=deployer)  # after a zero answer: nothing to compare with
    assert int(bare_oracle.price(ASSET)[0]) == 2_000 * WAD


def test_jump__first_round_of_a_phase_has_nothing_to_compare(bare_oracle, deployer, primary):
    bare_oracle.setJumpGuard(ASSET, WAD // 5, sender=deployer)
    primary.newPhase(1_000 * E8, sender=deployer)
    assert int(bare_oracle.price(ASSET)[0]) == 1_000 * WAD


def test_setters__bounds_refused_with_their_errors(bare_oracle, deployer, primary):
    feed = project.MockAggregator.deploy(8, "S / USD", 2_000 * E8, sender=deployer)
    for bad in (0, WAD // 10_000 * 9, WAD // 2 + 10**14, WAD // 50 + 1):
        with reverts(bare_oracle.InvalidDeviation, asset=ASSET, maxDeviation=bad):
            bare_oracle.setSecondaryFeed(ASSET, feed, MAX_AGE, bad, sender=deployer)
    other = to_checksum_address("0x" + "c7" * 20)
    with reverts(bare_oracle.UnknownAsset, asset=other):
        bare_oracle.setSecondaryFeed(other, feed, MAX_AGE, WAD // 50, sender=deployer)
    for bad in (WAD // 100 - 10**14, 5 * WAD + 10**14, WAD // 10 + 1):
        with reverts(bare_oracle.InvalidJumpBound, asset=ASSET, maxJump=bad):
            bare_oracle.setJumpGuard(ASSET, bad, sender=deployer)
    for lo, hi in ((0, WAD), (WAD, WAD), (2 * WAD, WAD), (1, 2**128)):
        with reverts(bare_oracle.InvalidBand, asset=ASSET, min=lo, max=hi):
            bare_oracle.setBand(ASSET, lo, hi, sender=deployer)
    cfg = bare_oracle.feedConfig(ASSET)
    assert (cfg.secondary.aggregator, int(cfg.maxJump), int(cfg.bandMax)) == (ZERO_ADDRESS, 0, 0)


def test_setters__outsider_refused(bare_oracle, deployer, stranger, primary):
    role = bare_oracle.ORACLE_ADMIN_ROLE()
    for call in (
        lambda: bare_oracle.setSecondaryFeed(ASSET, primary, MAX_AGE, WAD // 50, sender=stranger),
        lambda: bare_oracle.setJumpGuard(ASSET, WAD // 5, sender=stranger),
        lambda: bare_oracle.setBand(ASSET, WAD, 2 * WAD, sender=stranger),
    ):
        with reverts(
            bare_oracle.AccessControlUnauthorizedAccount, account=stranger.address, neededRole=role
        ):
            call()


def test_sequencer__constructor_bounds(deployer):
    feed = project.MockAggregator.deploy(0, "L2 Sequencer Uptime", 0, sender=deployer)
    oracle = project.ChainlinkOracle.deploy(deployer, feed, GRACE, sender=deployer)
    assert (oracle.SEQUENCER_FEED(), int(oracle.SEQUENCER_GRACE_PERIOD())) == (feed.address, GRACE)
    creation = bytes(project.ChainlinkOracle.contract_type.deployment_bytecode.to_bytes())
    selector = keccak(text="InvalidSequencer(address,uint256)")[:4]
    for seq, grace in ((feed.address, 0), (ZERO_ADDRESS, GRACE), (feed.address, 86_401)):
        args = abi_encode(["address", "address", "uint256"], [deployer.address, seq, grace])
        with pytest.raises(ContractCustomError) as info:
            chain.provider.web3.eth.call({"from": deployer.address, "data": creation + args})
        assert HexBytes(info.value.data) == selector + abi_encode(
            ["address", "uint256"], [seq, grace]
        )


def test_sequencer__down__grace__up(deployer):
    seq = project.MockAggregator.deploy(0, "L2 Sequencer Uptime", 0, sender=deployer)
    oracle = project.ChainlinkOracle.deploy(deployer, seq, GRACE, sender=deployer)
    feed = project.MockAggregator.deploy(8, "P / USD", 2_000 * E8, sender=deployer)
    oracle.setFeed(ASSET, feed, 7 * 86_400, sender=deployer)
    up_since = int(seq.latestRoundData()[2])
    chain.mine(1, timestamp=up_since + GRACE + 1)
    assert int(oracle.price(ASSET)[0]) == 2_000 * WAD
    seq.setAnswer(1, sender=deployer)  # down
    for read in (oracle.price, oracle.liquidationPrices):
        with reverts(oracle.SequencerDown):
            read(ASSET)
    tx = seq.setAnswer(0, sender=deployer)  # back up: grace period starts
    back = int(chain.blocks[tx.block_number].timestamp)
    for read in (oracle.price, oracle.liquidationPrices):
        with reverts(oracle.SequencerGracePeriod, upSince=back, gracePeriod=GRACE):
            read(ASSET)
    chain.mine(1, timestamp=back + GRACE + 1)
    assert prices(oracle) == (2_000 * WAD, 2_000 * WAD)


# ------------------------------------------------------------------ through the MarginAccount
@pytest.fixture(scope="module")
def sequencer(deployer):
    return project.MockAggregator.deploy(0, "L2 Sequencer Uptime", 0, sender=deployer)


@pytest.fixture(scope="module")
def hard(config, deployer, sequencer):
    """A deployment on an "L2": sequencer feed with a one-hour grace period, a mock secondary feed
    for WETH (2% bound) and a 20% jump guard on WETH."""
    weth = replace(
        config.asset("WETH"),
        secondary_feed="mock",
        secondary_max_age=3600,
        max_deviation=WAD // 50,
        max_jump=WAD // 5,
    )
    assets = tuple(weth if a.symbol == "WETH" else a for a in config.assets)
    cfg = replace(
        config, assets=assets, sequencer_feed=sequencer.address, sequencer_grace_period=GRACE
    )
    # Up for longer than the grace period, without moving chain time in a module fixture.
    sequencer.setAnswerAt(0, int(chain.blocks.head.timestamp) - GRACE - 1, sender=deployer)
    system = deploy_system(cfg, deployer, dynamic=False, govern=False)
    return system


@pytest.fixture(scope="module")
def act(hard, deployer):
    return Actions(hard, deployer)


@pytest.fixture
def hard_book(hard, act, lender, trader, trader2):
    """Trader: 10 WETH ($3,000 each), borrowing 15,000 USDC; trader2: 1 WETH, no debt."""
    return open_margin_book(act, hard, lender, trader, trader2)


def liquidate(
    hard: Any, act: Any, keeper: Any, owner: Any, collateral: Any, repay: str = "5000"
) -> Any:
    """The keeper (funded) liquidates `owner`'s USDC debt against `collateral`; one Liquidated."""
    usdc, ma = hard.asset("USDC"), hard.margin_account
    act.fund(usdc, keeper, "100000", spender=ma)
    tx = hard.liquidator.liquidate(
        owner, 0, usdc.token, collateral.token, amount(usdc, repay), 0, b"", sender=keeper
    )
    assert len(logs(tx, ma.Liquidated)) == 1
    return tx


def set_both(weth: Any, deployer: Any, usd: int) -> None:
    weth.feed.setAnswer(usd * E8, sender=deployer)
    weth.secondary_feed.setAnswer(usd * E8, sender=deployer)


def risk_calls(ma: Any, usdc: Any, weth: Any, trader: Any) -> dict[str, Any]:
    return {
        "borrow": lambda: ma.borrow(
            trader, 0, usdc.token, amount(usdc, "10"), trader, sender=trader
        ),
        "withdraw": lambda: ma.withdraw(trader, 0, weth.token, 10**15, trader, sender=trader),
        "transfer": lambda: ma.transfer(trader, 0, 1, weth.token, 10**15, sender=trader),
    }


def safe_calls(ma: Any, usdc: Any, weth: Any, trader: Any, trader2: Any) -> dict[str, Any]:
    """Calls that must work in every oracle state, each with the event it must emit."""
    return {
        "repay": (
            lambda: ma.repay(trader, 0, usdc.token, amount(usdc, "100"), sender=trader),
            ma.Repaid,
        ),
        "deposit": (  # into the USDC debt: a repayment
            lambda: ma.deposit(trader, 0, usdc.token, amount(usdc, "1"), sender=trader),
            ma.Repaid,
        ),
        "debt-free withdraw": (
            lambda: ma.withdraw(trader2, 0, weth.token, 10**15, trader2, sender=trader2),
            ma.Withdrawn,
        ),
    }


def run_safe_calls(ma: Any, usdc: Any, weth: Any, trader: Any, trader2: Any) -> None:
    for name, (call, event) in safe_calls(ma, usdc, weth, trader, trader2).items():
        assert len(logs(call(), event)) == 1, name


def test_ma__disagreeing_feeds__risk_refused__repay_deposit_work(
    hard, act, hard_book, deployer, trader, trader2
):
    usdc, weth = hard_book
    ma, oracle = hard.margin_account, hard.oracle
    weth.secondary_feed.setAnswer(2_800 * E8, sender=deployer)  # 6.7% below the primary
    for call in risk_calls(ma, usdc, weth, trader).values():
        with reverts(
            oracle.FeedsDisagree, asset=weth.token, primary=3_000 * WAD, secondary=2_800 * WAD
        ):
            call()
    run_safe_calls(ma, usdc, weth, trader, trader2)


def test_ma__disagreeing_feeds__liquidation_values_collateral_at_the_lower(
    hard, act, hard_book, deployer, trader, keeper
):
    usdc, weth = hard_book
    ma = hard.margin_account
    # 15,000 debt against 10 WETH: liquidatable below $1,596 (mmf 6% + 2%). Primary $1,700, healthy;
    # secondary $1,560, 8% lower: the account is valued at $1,560 and can be liquidated.
    weth.feed.setAnswer(1_700 * E8, sender=deployer)
    weth.feed.setAnswer(1_700 * E8, sender=deployer)  # confirm past the jump guard
    weth.secondary_feed.setAnswer(1_560 * E8, sender=deployer)
    snap = ma.liquidationSnapshot(trader, 0, usdc.token, weth.token)
    assert int(snap.collateralPrice) == 1_560 * WAD
    assert ma.isLiquidatable(trader, 0)
    liquidate(hard, act, keeper, trader, weth)
    set_both(weth, deployer, 1_700)  # feeds agree again at the primary: healthy
    assert not ma.isLiquidatable(trader, 0)


def test_ma__primary_stale__liquidation_on_secondary__risk_refused(
    hard, act, hard_book, deployer, trader, trader2, keeper
):
    usdc, weth = hard_book
    ma, oracle = hard.margin_account, hard.oracle
    updated = int(weth.feed.latestRoundData()[3])
    chain.mine(1, timestamp=updated + 3601)
    act.refresh_feeds()  # every feed fresh again ...
    weth.feed.setRoundData(99, 3_000 * E8, updated, 99, sender=deployer)  # ... but WETH's primary
    weth.secondary_feed.setAnswer(1_500 * E8, sender=deployer)
    for call in risk_calls(ma, usdc, weth, trader).values():
        with reverts(oracle.StaleAnswer, asset=weth.token, updatedAt=updated, maxAge=3600):
            call()
    run_safe_calls(ma, usdc, weth, trader, trader2)
    assert (
        int(ma.liquidationSnapshot(trader, 0, usdc.token, weth.token).collateralPrice)
        == 1_500 * WAD
    )
    liquidate(hard, act, keeper, trader, weth)


def test_ma__no_price_at_all__repay_deposit_debt_free_withdraw_work(
    hard, act, hard_book, deployer, trader, trader2, keeper
):
    usdc, weth = hard_book
    ma, oracle = hard.margin_account, hard.oracle
    weth.feed.setAnswer(0, sender=deployer)
    weth.secondary_feed.setAnswer(0, sender=deployer)
    for call in risk_calls(ma, usdc, weth, trader).values():
        with reverts(oracle.NonPositiveAnswer, asset=weth.token, answer=0):
            call()
    run_safe_calls(ma, usdc, weth, trader, trader2)
    act.fund(usdc, keeper, "100000", spender=ma)
    with reverts(oracle.NonPositiveAnswer, asset=weth.token, answer=0):
        hard.liquidator.liquidate(trader, 0, usdc.token, weth.token, 1, 0, b"", sender=keeper)


def test_ma__unpriceable_collateral_counts_zero__no_dust_shield(
    hard, act, hard_book, deployer, trader, keeper
):
    """Who gains if it breaks: a borrower who holds dust of an asset whose feed fails, to make
    itself unliquidatable. That collateral counts 0; the account is liquidated through the rest."""
    usdc, weth = hard_book
    ma, wbtc = hard.margin_account, hard.asset("WBTC")
    act.deposit(wbtc, trader, 1_000)  # dust: 0.00001 WBTC
    set_both(weth, deployer, 1_500)
    set_both(weth, deployer, 1_500)
    wbtc.feed.setAnswer(0, sender=deployer)  # WBTC has no price at all now
    assert ma.isLiquidatable(trader, 0)
    snap = ma.liquidationSnapshot(trader, 0, usdc.token, weth.token)
    assert int(snap.collateralAssets) == 2
    liquidate(hard, act, keeper, trader, weth)
    with reverts(hard.oracle.NonPositiveAnswer, asset=wbtc.token, answer=0):  # it is not seized
        hard.liquidator.liquidate(trader, 0, usdc.token, wbtc.token, 1, 0, b"", sender=keeper)


def test_ma__jump__borrow_waits__crash_liquidated_at_the_new_price(
    hard, act, hard_book, deployer, trader, trader2, keeper
):
    usdc, weth = hard_book
    ma, oracle = hard.margin_account, hard.oracle
    set_both(weth, deployer, 1_450)  # -52% in one round (both feeds agree: only the jump guard)
    for call in risk_calls(ma, usdc, weth, trader).values():
        with reverts(
            oracle.PriceJumpUnconfirmed, asset=weth.token, previous=3_000 * WAD, latest=1_450 * WAD
        ):
            call()
    run_safe_calls(ma, usdc, weth, trader, trader2)
    # Collateral at the low reading (the new one): the crash is liquidated at once.
    assert (
        int(ma.liquidationSnapshot(trader, 0, usdc.token, weth.token).collateralPrice)
        == 1_450 * WAD
    )
    liquidate(hard, act, keeper, trader, weth)
    set_both(weth, deployer, 1_450)  # the next round confirms: borrowing is priced again
    assert int(oracle.price(weth.token)[0]) == 1_450 * WAD


def test_ma__sequencer_down_and_grace__no_borrow_no_liquidation__repay_deposit_work(
    hard, act, hard_book, deployer, trader, trader2, keeper, sequencer
):
    usdc, weth = hard_book
    ma, oracle = hard.margin_account, hard.oracle
    set_both(weth, deployer, 1_500)
    set_both(weth, deployer, 1_500)  # below maintenance, confirmed
    act.fund(usdc, keeper, "100000", spender=ma)
    attempt = lambda: hard.liquidator.liquidate(  # noqa: E731
        trader, 0, usdc.token, weth.token, amount(usdc, "5000"), 0, b"", sender=keeper
    )
    sequencer.setAnswer(1, sender=deployer)
    for call in (*risk_calls(ma, usdc, weth, trader).values(), attempt):
        with reverts(oracle.SequencerDown):
            call()
    run_safe_calls(ma, usdc, weth, trader, trader2)
    tx = sequencer.setAnswer(0, sender=deployer)
    back = int(chain.blocks[tx.block_number].timestamp)
    for call in (*risk_calls(ma, usdc, weth, trader).values(), attempt):
        with reverts(oracle.SequencerGracePeriod, upSince=back, gracePeriod=GRACE):
            call()
    run_safe_calls(ma, usdc, weth, trader, trader2)
    chain.mine(1, timestamp=back + GRACE + 1)
    act.refresh_feeds()
    weth.secondary_feed.setAnswer(int(weth.feed.latestRoundData()[1]), sender=deployer)
    liquidate(hard, act, keeper, trader, weth)


# ------------------------------------------------------------------ random sequences vs the rules
BAND = (100 * WAD, 10_000 * WAD)
JUMP_BPS, DEVIATION_BPS = 2_000, 200


def _usable(
    answer: int, updated: int, now: int, scale: int, banded: bool
) -> tuple[str | None, int]:
    """(error name or None, price WAD) of one reading, by the documented rules."""
    if answer <= 0:
        return "NonPositiveAnswer", 0
    if updated > now:
        return "FutureAnswer", 0
    if now - updated > MAX_AGE:
        return "StaleAnswer", 0
    price = answer * scale
    if banded and not BAND[0] <= price <= BAND[1]:
        return "PriceOutsideBand", price
    return None, price


def _apart(a: int, b: int, bps: int) -> bool:
    return abs(a - b) * 10_000 > a * bps


def expected_readings(now: int, rounds: list[tuple[int, int]], sec: tuple[int, int], banded: bool):
    """The model of docs/threat-model.md: what `price` and `liquidationPrices` must answer."""
    err, p = _usable(*rounds[-1], now, 10**10, banded)
    serr, s = _usable(*sec, now, 1, banded)
    # The previous round counts when it would be usable but for its age (a bad print never does).
    prev = rounds[-2][0] * 10**10 if len(rounds) > 1 and rounds[-2][0] > 0 else 0
    if banded and not BAND[0] <= prev <= BAND[1]:
        prev = 0
    jumped = err is None and prev != 0 and _apart(prev, p, JUMP_BPS)
    disagree = err is None and serr is None and _apart(p, s, DEVIATION_BPS)
    if err is not None:
        strict = ("error", err)
        liq = ("ok", (s, s)) if serr is None else ("error", err)
    else:
        strict = (
            ("error", "PriceJumpUnconfirmed")
            if jumped
            else (("error", "FeedsDisagree") if disagree else ("ok", p))
        )
        lo = hi = p
        for other, on in ((prev, jumped), (s, disagree)):
            if on:
                lo, hi = min(lo, other), max(hi, other)
        liq = ("ok", (lo, hi))
    return strict, liq


def _call(bare_oracle: Any, fn: str) -> tuple[str, Any]:
    from ape.exceptions import ContractLogicError

    from tests.utils.chain import decode_custom_error

    try:
        out = getattr(bare_oracle, fn)(ASSET)
    except ContractLogicError as err:
        return "error", decode_custom_error(bare_oracle, err)[0]
    if fn == "price":
        return "ok", int(out[0])
    return "ok", (int(out[0]), int(out[1]))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_feed_sequences__readings_follow_the_documented_rules(bare_oracle, deployer, seed):
    """Random rounds of both feeds (crashes, spikes, bad answers), time passing past the max age,
    a band switched on and off: after every step both readings are what the rules say, low <=
    high, and `price` only ever answers when both readings agree on one number."""
    import random

    rng = random.Random(seed)
    primary = project.MockAggregator.deploy(8, "P / USD", 2_000 * E8, sender=deployer)
    secondary = project.MockAggregator.deploy(18, "S / USD", 2_000 * WAD, sender=deployer)
    bare_oracle.setFeed(ASSET, primary, MAX_AGE, sender=deployer)
    bare_oracle.setSecondaryFeed(ASSET, secondary, MAX_AGE, DEVIATION_BPS * 10**14, sender=deployer)
    bare_oracle.setJumpGuard(ASSET, JUMP_BPS * 10**14, sender=deployer)
    rounds = [(2_000 * E8, int(primary.latestRoundData()[3]))]
    sec = (2_000 * WAD, int(secondary.latestRoundData()[3]))
    banded = False
    for _ in range(30):
        step = rng.choice(["primary", "primary", "secondary", "both", "time", "band", "bad"])
        usd = rng.choice([rng.randint(1_500, 2_500), rng.randint(50, 20_000)])
        if step in ("primary", "both", "bad"):
            answer = rng.choice([0, -1]) if step == "bad" else usd * E8
            tx = primary.setAnswer(answer, sender=deployer)
            rounds.append((answer, int(chain.blocks[tx.block_number].timestamp)))
        if step in ("secondary", "both"):
            answer = usd * WAD + rng.randint(-50, 50) * WAD
            tx = secondary.setAnswer(answer, sender=deployer)
            sec = (answer, int(chain.blocks[tx.block_number].timestamp))
        if step == "time":
            chain.mine(1, timestamp=chain.pending_timestamp + rng.choice([60, 1_800, 3_700]))
        if step == "band":
            banded = not banded
            bare_oracle.setBand(ASSET, *(BAND if banded else (0, 0)), sender=deployer)
        now = int(chain.blocks.head.timestamp)
        strict, liq = expected_readings(now, rounds, sec, banded)
        assert _call(bare_oracle, "price") == strict, (step, rounds[-2:], sec, now)
        got = _call(bare_oracle, "liquidationPrices")
        assert got == liq, (step, rounds[-2:], sec, now)
        if got[0] == "ok":
            assert got[1][0] <= got[1][1]
            if strict[0] == "ok":
                assert got[1] == (strict[1], strict[1])
