"""Dynamic margin on a real Anvil chain: size term, volatility floor from the VolatilityOracle,
ramps, stale sigma, bounds, and the liquidation target with size-dependent factors.

Every requirement is checked against the Python mirror (solvent.margin / solvent.risk) to the wei.
"""

from __future__ import annotations

import csv
import math
import random
from pathlib import Path

import ape
import pytest
from ape import chain, project
from eth_utils import keccak

from solvent.apebridge import ape_keeper
from solvent.deploy import deploy_system
from solvent.margin import (
    CURVE_FIELDS,
    MarginCurve,
    annualized_sigma,
    ewma_variance,
    ramp,
    size_multiplier,
    vol_scale,
    volatility_floor,
)
from solvent.risk import (
    MAX_UINT256,
    WAD,
    EngineParams,
    LiquidationSnapshot,
    account_health,
    price_liquidation,
    state_after,
    target_repay_cap,
)
from tests.utils.chain import ev, logs, revert_data, reverts
from tests.utils.helpers import Actions, freeze_rates

ROOT = Path(__file__).resolve().parents[1]
DAY = 86_400
BPS = 10**14
FLOOR_UNIT = 10**10  # MarginConfig.FLOOR_UNIT
THRESHOLD = 20_000 * WAD  # USD: low enough that test positions are sized


@pytest.fixture(scope="module")
def dyn(config, deployer):
    """A second deployment with dynamic margin on (config/local.yaml's dynamic_margin), WETH and
    USDC size thresholds lowered to $20,000 so that ordinary test positions are sized."""
    system = deploy_system(config, deployer, govern=False)
    ma = system.margin_account
    for symbol in ("WETH", "USDC"):
        a = system.asset(symbol)
        spec = config.dynamic_margin.assets[symbol]
        ma.setDynamicParams(a.token, THRESHOLD, spec.ramp_period, spec.stale_floor, sender=deployer)
    return system


@pytest.fixture(scope="module")
def act(dyn, deployer):
    return Actions(dyn, deployer)


@pytest.fixture
def lent(act, dyn, accounts):
    """USDC liquidity in the vault."""
    act.lend(dyn.asset("USDC"), accounts[1], "5000000")
    return act


def curve(dyn, symbol):
    return MarginCurve.from_chain(dyn.margin_account.marginCurve(dyn.asset(symbol).token))


def poke_all(dyn, who):
    for symbol in ("WETH", "WBTC"):
        dyn.volatility_oracle.poke(dyn.asset(symbol).token, sender=who)


def refused_for_margin(ma, borrow) -> None:
    """`borrow()` reverts InsufficientMargin (decoded by ape or as raw revert data)."""
    with ape.reverts() as info:
        borrow()
    err = info.value
    if type(err).__name__ != "InsufficientMargin":
        assert revert_data(err)[:4] == keccak(text=ma.InsufficientMargin.abi.selector)[:4], err


def assert_health_matches_mirror(act, owner, sub=0):
    chain_h = act.health(owner, sub)
    mirror = account_health(act.positions(owner, sub))
    assert chain_h == mirror, (chain_h, mirror)
    return chain_h


# ============================================================================ formulas


def test_size_term__position_above_threshold__mmf_grows_with_sqrt_of_size(lent, dyn, accounts):
    """s = sqrt(v / threshold): a $60,000 WETH position at a $20,000 threshold has s = sqrt(3)."""
    trader = accounts[3]
    weth = dyn.asset("WETH")
    lent.deposit(weth, trader, "20")  # $60,000 at $3,000
    p = dyn.liquidator.positionMargin(trader, 0, weth.token)
    assert int(p.value) == 60_000 * WAD
    assert int(p.sizeMultiplier) == size_multiplier(60_000 * WAD, THRESHOLD)
    assert abs(int(p.sizeMultiplier) - math.isqrt(3 * WAD * WAD)) <= 1
    c = curve(dyn, "WETH").curves()
    imf, mmf = c.factors(60_000 * WAD)
    assert (int(p.imf), int(p.mmf)) == (imf, mmf)
    assert mmf > int(dyn.margin_account.assetConfig(weth.token).mmf)
    assert_health_matches_mirror(lent, trader)


@pytest.mark.parametrize("seed", range(12))
def test_health__random_accounts_across_threshold__matches_mirror(
    lent, dyn, accounts, deployer, seed
):
    """Random sizes below and above the threshold, volatility floor on (after rounds and a poke)
    and, for odd seeds, in the middle of a ramp of WETH's base mmf: chain == mirror to the wei,
    and positionMargin == the mirror's factors."""
    rng = random.Random(seed)
    act = lent
    ma = dyn.margin_account
    weth, wbtc, usdc = dyn.asset("WETH"), dyn.asset("WBTC"), dyn.asset("USDC")
    for _ in range(rng.randint(3, 8)):
        act.move_price(weth, str(round(rng.uniform(0.97, 1.03), 4)))
        act.warp(600)
    act.refresh_feeds()
    poke_all(dyn, accounts[6])
    if seed % 3 == 0:  # volatility floor off for WETH
        ma.setDynamicParams(weth.token, THRESHOLD, DAY, 0, sender=deployer)
    if seed % 2:
        ma.setMarginFactors(weth.token, int(0.2e18), int(0.1e18), sender=deployer)
        act.warp(rng.randint(1, DAY - 1))
        act.refresh_feeds()
        poke_all(dyn, accounts[6])
    trader = accounts[3]
    act.deposit(weth, trader, str(rng.choice([1, 5, 12, 40])))
    if rng.random() < 0.6:
        act.deposit(wbtc, trader, str(rng.choice([0.1, 0.5, 2])))
    h = act.health(trader)
    room = (h.equity - h.imr) * 10**6 // WAD // 3
    if room > 200 * 10**6:
        act.borrow(usdc, trader, room)
    assert_health_matches_mirror(act, trader)
    for a in (weth, wbtc, usdc):
        if int(ma.rawBalance(trader, 0, a.token)) == 0:
            continue
        p = dyn.liquidator.positionMargin(trader, 0, a.token)
        c = MarginCurve.from_chain(p.curve).curves()
        assert c is not None
        assert (int(p.imf), int(p.mmf)) == c.factors(int(p.value))


def test_bounds__every_parameter__custom_error_and_no_change(dyn, deployer, stranger):
    ma, vol = dyn.margin_account, dyn.volatility_oracle
    weth = dyn.asset("WETH").token
    before = ma.marginCurve(weth)
    model = ma.marginModel()
    bad = [
        (THRESHOLD // 2, DAY, 0),  # below MIN_SIZE_THRESHOLD
        (THRESHOLD + 1, DAY, 0),  # not whole dollars
        (THRESHOLD, 31 * DAY, 0),  # ramp too long
        (THRESHOLD, DAY, int(0.96e18)),  # stale floor above 95%
        (THRESHOLD, DAY, int(0.15e18) + 1),  # not whole bps
        (THRESHOLD, 0, int(0.15e18)),  # a volatility floor needs a ramp
    ]
    for args in bad:
        if args[0] == THRESHOLD // 2:
            args = (500 * WAD, *args[1:])
        with reverts(
            ma.InvalidDynamicParams,
            asset=weth,
            sizeThreshold=args[0],
            rampPeriod=args[1],
            staleFloor=args[2],
        ):
            ma.setDynamicParams(weth, *args, sender=deployer)
    for m in [
        (int(0.6e18), int(0.6e18), WAD, DAY, 7200),  # mmfCap == imfCap
        (int(0.5e18), int(0.96e18), WAD, DAY, 7200),  # imfCap > 95%
        (int(0.5e18), int(0.75e18), 11 * WAD, DAY, 7200),  # k too large
        (int(0.5e18), int(0.75e18), WAD, 60, 7200),  # horizon too short
        (int(0.5e18), int(0.75e18), WAD, DAY, 60),  # sigma age too short
    ]:
        with reverts(
            ma.InvalidMarginModel, mmfCap=m[0], imfCap=m[1], k=m[2], horizon=m[3], maxSigmaAge=m[4]
        ):
            ma.setMarginModel(*m, sender=deployer)
    # Caps below a listed asset's base factors (WETH imf 12%).
    with reverts(
        ma.FactorAboveCap,
        imf=int(0.12e18),
        mmf=int(0.06e18),
        imfCap=int(0.1e18),
        mmfCap=int(0.05e18),
    ):
        ma.setMarginModel(int(0.05e18), int(0.1e18), WAD, DAY, 7200, sender=deployer)
    with reverts(ma.NotVolatilityOracle, caller=stranger):
        ma.updateVolatility(weth, 0, 0, sender=stranger)
    with reverts(
        ma.AccessControlUnauthorizedAccount, account=stranger, neededRole=ma.RISK_ADMIN_ROLE()
    ):
        ma.setDynamicParams(weth, 0, 0, 0, sender=stranger)
    with reverts(vol.InvalidTau, tau=60):
        vol.setTau(60, sender=deployer)
    with reverts(vol.InvalidSigma, sigma=21 * WAD):
        vol.track(weth, 21 * WAD, sender=deployer)
    with reverts(vol.NotTracked, asset=dyn.asset("USDC").token):
        vol.poke(dyn.asset("USDC").token, sender=stranger)
    # Stored parameters unchanged (the ramped levels move with time by design).
    moving = {
        "dynamic",
        "imfBase",
        "mmfBase",
        "mmfBaseLiquidation",
        "floorInitial",
        "floorLiquidation",
    }
    stored = [f for f in CURVE_FIELDS if f not in moving]
    after = ma.marginCurve(weth)
    assert [getattr(after, f) for f in stored] == [getattr(before, f) for f in stored]
    assert ma.marginModel() == model


# ============================================================================ volatility oracle


def whipsaw(act, weth, rounds=20):
    """A violent back-and-forth, a minute per round: large squared returns, the price ends near
    where it was."""
    for i in range(rounds):
        act.warp(60)
        act.move_price(weth, "0.85" if i % 2 == 0 else "1.1765")


def test_poke__after_every_round_or_once__same_sigma(lent, dyn, accounts):
    """Every round is read once whoever pokes and whenever: a poke after each of 30 rounds and one
    poke at the end give the same variance, to the wei. Poking only at calm moments (here: never
    during the drop) cannot lower it."""
    act, vol = lent, dyn.volatility_oracle
    weth = dyn.asset("WETH")
    t0 = chain.pending_timestamp + 60
    _, answer, *_ = weth.feed.latestRoundData()
    answers = []
    for i in range(30):
        answer = answer * (97 if i % 3 else 101) // 100
        answers.append(answer)

    def publish(i: int) -> None:
        # Rounds stamped explicitly: both runs see the same feed history.
        chain.mine(1, timestamp=t0 + 300 * i)
        weth.feed.setAnswerAt(answers[i], t0 + 300 * i, sender=act.deployer)

    snap = chain.snapshot()
    every = []
    for i in range(30):
        publish(i)
        vol.poke(weth.token, sender=accounts[6])
        every.append(int(vol.volatility(weth.token)[1]))
    chain.restore(snap)
    for i in range(30):
        publish(i)
    tx = vol.poke(weth.token, sender=accounts[7])
    assert tx.return_value[1] == 30
    once = vol.volatility(weth.token)
    assert int(once[1]) == every[-1]
    (event,) = logs(tx, vol.VolatilityUpdated)
    assert int(event["rounds"]) == 30 and int(event["variance"]) == every[-1]


def test_poke__rounds_match_offline_ewma_within_1pct(lent, dyn, accounts, config):
    act, vol = lent, dyn.volatility_oracle
    weth = dyn.asset("WETH")
    _, _, _, t0 = vol.volatility(weth.token)
    v0 = int(vol.volatility(weth.token)[1]) / WAD
    prices, times = [float(weth.feed.latestRoundData()[1])], [float(t0)]
    rng = random.Random(7)
    for _ in range(40):
        act.warp(rng.choice([60, 300, 900, 3600]))
        act.move_price(weth, str(round(rng.uniform(0.95, 1.05), 4)))
        _, answer, _, updated, _ = weth.feed.latestRoundData()
        prices.append(float(answer))
        times.append(float(updated))
    vol.poke(weth.token, sender=accounts[6])
    offline = annualized_sigma(ewma_variance(prices, times, config.dynamic_margin.tau, v0))
    onchain = int(vol.volatility(weth.token)[0]) / WAD
    assert onchain == pytest.approx(offline, rel=0.01)


def test_poke__across_a_phase_change__every_round_counted_once(lent, dyn, accounts):
    act, vol = lent, dyn.volatility_oracle
    weth = dyn.asset("WETH")
    for _ in range(3):
        act.warp(300)
        act.move_price(weth, "0.98")
    act.warp(300)
    _, answer, *_ = weth.feed.latestRoundData()
    weth.feed.newPhase(int(answer * 0.97), sender=act.deployer)
    for _ in range(2):
        act.warp(300)
        act.move_price(weth, "0.98")
    tx = vol.poke(weth.token, sender=accounts[6])
    # 3 + 1 (the probe past the old phase's last round) + 1 (new phase round 1) + 2
    assert tx.return_value[1] == 7
    assert int(vol.volatility(weth.token)[2]) == int(weth.feed.latestRoundData()[0])
    assert int(weth.feed.latestRoundData()[0]) >> 64 == 1


def test_poke__backlog_above_the_bound__stale_until_read(lent, dyn, accounts):
    act, vol, ma = lent, dyn.volatility_oracle, dyn.margin_account
    weth = dyn.asset("WETH")
    n = int(vol.MAX_ROUNDS_PER_POKE()) + 5
    for _ in range(n):
        act.move_price(weth, "1.001")
    act.warp(600)
    tx = vol.poke(weth.token, sender=accounts[6])
    assert tx.return_value[1] == n - 5
    (event,) = logs(tx, vol.VolatilityUpdated)
    assert int(event["updatedAt"]) <= chain.blocks.head.timestamp - 600  # as of its last round
    tx = vol.poke(weth.token, sender=accounts[6])
    assert tx.return_value[1] == 5
    assert int(ma.marginCurve(weth.token).sigmaUpdatedAt) == chain.blocks.head.timestamp


# ============================================================================ ramps


def _healthy_borrower(act, dyn, trader, weth_amount="10", borrow_usd=None):
    weth, usdc = dyn.asset("WETH"), dyn.asset("USDC")
    act.deposit(weth, trader, weth_amount)
    h = act.health(trader)
    # The debt's own requirement grows with it: borrow half of the room.
    borrow = borrow_usd if borrow_usd is not None else (h.equity - h.imr) * 10**6 // WAD // 2
    act.borrow(usdc, trader, borrow)
    return weth, usdc


def test_ramp__governance_raises_mmf__initial_at_once_liquidation_ramped(
    lent, dyn, accounts, deployer
):
    act, ma = lent, dyn.margin_account
    trader = accounts[3]
    weth, usdc = _healthy_borrower(act, dyn, trader, "10", 17_000 * 10**6)
    tx = ma.setMarginFactors(weth.token, int(0.6e18), int(0.45e18), sender=deployer)
    (event,) = logs(tx, ma.RampStarted)
    assert not event["volatility"] and int(event["to"]) == int(0.45e18)
    # New borrowing is refused at once; the account is not liquidatable by the change alone.
    refused_for_margin(dyn.margin_account, lambda: act.borrow(usdc, trader, "200"))
    assert not ma.isLiquidatable(trader, 0)
    assert_health_matches_mirror(act, trader)
    c0 = curve(dyn, "WETH")
    act.warp(DAY // 2)
    act.refresh_feeds()
    poke_all(dyn, accounts[6])
    c1 = curve(dyn, "WETH")
    assert c0.mmf_base_liquidation < c1.mmf_base_liquidation < int(0.45e18)
    assert_health_matches_mirror(act, trader)
    act.warp(DAY)
    act.refresh_feeds()
    poke_all(dyn, accounts[6])
    assert curve(dyn, "WETH").mmf_base_liquidation == int(0.45e18)
    assert ma.isLiquidatable(trader, 0)  # 45% base on a sized position: above its equity


def test_ramp__volatility_spike__not_liquidatable_by_the_spike_alone(lent, dyn, accounts):
    act, ma, vol = lent, dyn.margin_account, dyn.volatility_oracle
    trader = accounts[3]
    usdc = dyn.asset("USDC")
    weth, _ = _healthy_borrower(act, dyn, trader, "10")
    floor_before = curve(dyn, "WETH").floor_initial
    whipsaw(act, weth)
    act.refresh_feeds()
    tx = vol.poke(weth.token, sender=accounts[6])
    ramp_events = logs(tx, ma.RampStarted)
    c = curve(dyn, "WETH")
    # The floor pushed is k * sigma * sqrt(horizon / YEAR), as the mirror computes it.
    (pushed,) = logs(tx, ma.VolatilityFloorSet)
    scale = int(ma.marginModel()[5])
    dm = lent.system.config.dynamic_margin
    assert scale == vol_scale(dm.k, dm.horizon)
    assert int(pushed["sigma"]) == int(vol.volatility(weth.token)[0])
    assert int(pushed["floor"]) == volatility_floor(int(pushed["sigma"]), scale) == c.floor_ramp_to
    assert c.floor_initial > floor_before and c.floor_initial > c.mmf_base
    assert ramp_events and bool(ramp_events[0]["volatility"])
    assert c.floor_liquidation < c.floor_initial  # ramping
    assert not ma.isLiquidatable(trader, 0)
    refused_for_margin(dyn.margin_account, lambda: act.borrow(usdc, trader, "200"))
    assert_health_matches_mirror(act, trader)


def test_stale_sigma__past_max_age__initial_uses_stale_floor_liquidation_unchanged(
    lent, dyn, accounts, config
):
    act = lent
    trader = accounts[3]
    _, usdc = _healthy_borrower(act, dyn, trader, "10", 17_000 * 10**6)
    c0 = curve(dyn, "WETH")
    act.warp(config.dynamic_margin.max_sigma_age + 60)
    act.refresh_feeds()
    c1 = curve(dyn, "WETH")
    assert c1.floor_initial == max(
        c0.floor_initial, config.dynamic_margin.assets["WETH"].stale_floor
    )
    # Liquidation keeps its ramp (it does not see the stale floor).
    assert c1.floor_liquidation == ramp(
        c1.floor_ramp_from,
        c1.floor_ramp_to,
        c1.floor_ramp_start,
        c1.ramp_period,
        chain.blocks.head.timestamp,
    )
    assert c1.floor_liquidation <= c0.floor_ramp_to
    assert_health_matches_mirror(act, trader)
    refused_for_margin(dyn.margin_account, lambda: act.borrow(usdc, trader, "200"))
    poke_all(dyn, accounts[6])  # anyone brings it back
    assert curve(dyn, "WETH").floor_initial < c1.floor_initial


# ============================================================================ liquidation


@pytest.mark.parametrize(
    ("crash", "kind"),
    [("0.60", "insolvent"), ("0.63", "full"), ("0.66", "partial"), ("0.69", "partial")],
)
def test_liquidation__sized_factors__reaches_target_within_1pct(
    lent, dyn, accounts, deployer, crash, kind
):
    """With sqrt size terms on both sides the cap is the smallest repayment reaching the target
    (within 1%, not the linear overshoot), the target is reached, and lens == liquidate."""
    act, ma, liq = lent, dyn.margin_account, dyn.liquidator
    trader, keeper = accounts[3], accounts[4]
    weth, usdc = _healthy_borrower(act, dyn, trader, "30", 55_000 * 10**6)
    freeze_rates(usdc, deployer)  # the snapshot read now is the one liquidate sees next block
    act.fund(usdc, keeper, "10000000")
    act.move_price(weth, crash)
    assert ma.isLiquidatable(trader, 0)
    params = EngineParams.from_chain(liq)
    snap = LiquidationSnapshot.from_chain(ma.liquidationSnapshot(trader, 0, usdc.token, weth.token))
    assert snap.sized
    mirror = price_liquidation(snap, MAX_UINT256, params)
    (lens,) = liq.lens([(trader.address, 0)])
    pair = next(p for p in lens.pairs if p.debtAsset == usdc.token.address)
    assert int(pair.maxRepay) == mirror.repay
    tx = liq.liquidate(trader, 0, usdc.token, weth.token, MAX_UINT256, 0, b"", sender=keeper)
    repay, seize = (int(x) for x in tx.return_value)
    assert (repay, seize) == (mirror.repay, mirror.seize)
    # Insolvent: all of the collateral (the rest is bad debt); deep: the whole debt; else partial.
    assert kind != "insolvent" or (snap.equity < 0 and seize == snap.collateral)
    assert kind != "full" or repay == snap.debt
    if kind == "partial":
        assert repay < snap.debt
        # The linear cap (exact for static factors) would have over-liquidated by more than 1%.
        assert target_repay_cap(snap, mirror.discount, params.target_health) > repay * 101 // 100
        h = act.health(trader)
        assert h.equity * WAD >= params.target_health * h.mmr - WAD * WAD  # target reached
        # 1% less does not reach it: the cap is within 1% of the smallest repayment that does.
        less = price_liquidation(snap, repay * 99 // 100, params)
        eq, mmr = state_after(snap, less.repay_scaled, less.seize)
        assert eq * WAD < params.target_health * mmr


def test_worked_example__readme_numbers__on_chain(dyn, deployer, accounts, config):
    """README "Dynamic margin" example: WETH mmf 6% / imf 12%, threshold $20,000, a $80,000
    position: s = 2, mmf = 12%, imf = 24% (volatility floor below base)."""
    ma = dyn.margin_account
    act = Actions(dyn, deployer)
    trader = accounts[3]
    weth = dyn.asset("WETH")
    act.set_price(weth, "4000")
    act.deposit(weth, trader, "20")
    p = dyn.liquidator.positionMargin(trader, 0, weth.token)
    assert int(p.value) // WAD == 80_000
    assert int(p.sizeMultiplier) == 2 * WAD
    assert int(p.mmf) == int(0.12e18) and int(p.imf) == int(0.24e18)
    assert int(ma.marginCurve(weth.token).floorInitial) < int(0.06e18)


def test_replay__eth_2021_05_19_10m__sigma_tracks_numpy_and_margin_rises(
    lent, dyn, accounts, config
):
    """The real ETH/USD 10-minute candles of 2021-05-19 (data/prices, CoinAPI), close by close,
    as mock Chainlink rounds with block time following the data: the on-chain sigma tracks the
    offline EWMA within 1%, and the ETH volatility floor rises during the crash."""
    act, vol, ma = lent, dyn.volatility_oracle, dyn.margin_account
    weth = dyn.asset("WETH")
    rows = list(
        csv.DictReader((ROOT / "data" / "prices" / "eth_usd_coinapi_2021-05-19_10m.csv").open())
    )
    closes = [float(r["close"]) for r in rows]
    v0 = int(vol.volatility(weth.token)[1]) / WAD
    _, _, _, last = vol.volatility(weth.token)
    start = chain.pending_timestamp + 60
    prices, times = [float(weth.feed.latestRoundData()[1])], [float(last)]
    floors = []
    for i, close in enumerate(closes):
        ts = start + 600 * i
        chain.mine(1, timestamp=ts)
        answer = round(close * 10**8)
        weth.feed.setAnswerAt(answer, ts, sender=act.deployer)
        prices.append(float(answer))
        times.append(float(ts))
        if i % 12 == 11:
            vol.poke(weth.token, sender=accounts[6])
            floors.append(int(ma.marginCurve(weth.token).floorInitial))
    vol.poke(weth.token, sender=accounts[6])
    offline = annualized_sigma(ewma_variance(prices, times, config.dynamic_margin.tau, v0))
    assert int(vol.volatility(weth.token)[0]) / WAD == pytest.approx(offline, rel=0.01)
    assert max(floors) > floors[0]
    assert max(floors) > int(ma.assetConfig(weth.token).mmf)  # the floor binds in the crash
    assert max(floors) >= int(0.2e18)  # README: about 26 %


def test_keeper__sigma_older_than_half_max_age__pass_pokes_it(lent, dyn, accounts, config):
    """The keeper keeps sigma fresh: a pass pokes every tracked asset whose sigma is older than
    maxSigmaAge / 2, and none that is fresh."""
    act = lent
    keeper = ape_keeper(dyn, accounts[4])
    assert [t.kind for t in keeper.run_pass([]).transactions] == []  # just tracked: fresh
    act.warp(config.dynamic_margin.max_sigma_age // 2 + 60)
    act.refresh_feeds()
    report = keeper.run_pass([])
    assert sorted(t.kind for t in report.transactions) == ["poke", "poke"]  # WETH and WBTC
    now = chain.blocks.head.timestamp
    for symbol in ("WETH", "WBTC"):
        assert now - curve(dyn, symbol).sigma_updated_at < 60


def test_ramp__poked_every_block__liquidation_floor_keeps_moving(lent, dyn, accounts):
    """Review finding: a ramp restarted by every poke must not freeze. After a spike, 30 pokes
    12 s apart (each with a new round that moves sigma a little) move the liquidation floor at
    least 90% as far as an undisturbed linear ramp would in those 6 minutes."""
    act, vol = lent, dyn.volatility_oracle
    weth = dyn.asset("WETH")
    whipsaw(act, weth)
    vol.poke(weth.token, sender=accounts[6])
    c0 = curve(dyn, "WETH")
    gap = c0.floor_ramp_to - c0.floor_liquidation
    assert gap > 0
    for i in range(30):
        act.warp(12)
        act.move_price(weth, "1.0001" if i % 2 else "0.9999")
        vol.poke(weth.token, sender=accounts[6])
    c1 = curve(dyn, "WETH")
    elapsed = c1.floor_ramp_start - c0.floor_ramp_start
    assert c1.floor_liquidation - c0.floor_liquidation >= gap * elapsed // DAY * 9 // 10


def test_dynamic_params__volatility_floor_switched_on__ramps_from_zero(
    lent, dyn, accounts, deployer
):
    """Review finding: switching the floor on is a rise like any other: liquidations start from
    0 and ramp, initial margin uses the newest floor at once."""
    act, ma, vol = lent, dyn.margin_account, dyn.volatility_oracle
    weth = dyn.asset("WETH")
    ma.setDynamicParams(weth.token, THRESHOLD, DAY, 0, sender=deployer)  # floor off
    whipsaw(act, weth)
    vol.poke(weth.token, sender=accounts[6])
    off = curve(dyn, "WETH")
    assert off.floor_liquidation == 0 and off.floor_initial == 0
    ma.setDynamicParams(weth.token, THRESHOLD, DAY, int(0.2232e18), sender=deployer)
    on = curve(dyn, "WETH")
    assert on.floor_liquidation == 0  # no jump
    assert on.floor_initial == on.floor_ramp_to > int(0.06e18)
    act.warp(DAY // 2)
    mid = curve(dyn, "WETH")
    assert 0 < mid.floor_liquidation < on.floor_ramp_to


def test_volatility_oracle__feed_replaced__pokes_refused_until_tracked_again(
    dyn, deployer, accounts
):
    """Review finding: round ids and answers of a new feed are not comparable with the old one's."""
    vol, oracle = dyn.volatility_oracle, dyn.oracle
    weth = dyn.asset("WETH")
    new_feed = project.MockAggregator.deploy(18, "WETH / USD", 3000 * WAD, sender=deployer)
    oracle.setFeed(weth.token, new_feed, 3600, sender=deployer)
    with reverts(
        vol.FeedChanged, asset=weth.token, tracked=weth.feed.address, current=new_feed.address
    ):
        vol.poke(weth.token, sender=accounts[6])
    vol.track(weth.token, int(0.8e18), sender=deployer)
    new_feed.setAnswer(3100 * WAD, sender=deployer)
    assert vol.poke(weth.token, sender=accounts[6]).return_value[1] == 1


def test_ramp__governance_lowers_mmf__applies_at_once(dyn, deployer):
    """A fall applies at once, to liquidations as to initial margin; a raise after it ramps from
    the lower value (no jump)."""
    ma = dyn.margin_account
    weth = dyn.asset("WETH").token
    tx = ma.setMarginFactors(weth, int(0.11e18), int(0.055e18), sender=deployer)
    assert not logs(tx, ma.RampStarted)
    c = MarginCurve.from_chain(ma.marginCurve(weth))
    assert c.mmf_base_liquidation == c.mmf_base == int(0.055e18)
    ma.setMarginFactors(weth, int(0.12e18), int(0.06e18), sender=deployer)
    c = MarginCurve.from_chain(ma.marginCurve(weth))
    assert c.mmf_base == int(0.06e18) and c.mmf_base_liquidation < int(0.0551e18)


def test_admin__dynamic_params_and_model__set_with_their_events(dyn, deployer):
    ma = dyn.margin_account
    weth = dyn.asset("WETH").token
    tx = ma.setDynamicParams(weth, 50_000 * WAD, 2 * DAY, int(0.3e18), sender=deployer)
    assert logs(tx, ma.DynamicParamsSet) == [
        ev(asset=weth, sizeThreshold=50_000 * WAD, rampPeriod=2 * DAY, staleFloor=int(0.3e18))
    ]
    c = MarginCurve.from_chain(ma.marginCurve(weth))
    assert (c.size_threshold, c.ramp_period, c.stale_floor) == (50_000 * WAD, 2 * DAY, int(0.3e18))
    tx = ma.setMarginModel(int(0.4e18), int(0.7e18), int(1.5e18), 2 * DAY, 3600, sender=deployer)
    assert logs(tx, ma.MarginModelSet) == [
        ev(mmfCap=int(0.4e18), imfCap=int(0.7e18), k=int(1.5e18), horizon=2 * DAY, maxSigmaAge=3600)
    ]
    assert tuple(ma.marginModel()) == (
        int(0.4e18),
        int(0.7e18),
        int(1.5e18),
        2 * DAY,
        3600,
        vol_scale(int(1.5e18), 2 * DAY),
    )


def _levels(dyn):
    c = curve(dyn, "WETH")
    return (
        (c.mmf_base_liquidation, c.mmf_base, c.base_ramp_from),
        (c.floor_liquidation, c.floor_ramp_to, c.floor_ramp_from),
    )


@pytest.mark.parametrize("seed", range(4))
def test_sequence__actions_pokes_governance_and_time__no_self_liquidation_no_jump(
    lent, dyn, accounts, deployer, seed
):
    """Random sequences of the owner's borrows, withdrawals and repayments, price rounds (poked
    or not), time passing (sigma going stale), and governance raising or lowering WETH's mmf:
    - an action of the owner that goes through never leaves the account liquidatable;
    - the maintenance levels liquidations use never rise faster than their ramp allows (no jump:
      at most (target - ramp start) * elapsed / rampPeriod, plus one unit), whatever the order;
    - chain and mirror agree on the account's requirements after every step."""
    rng = random.Random(1_000 + seed)
    act, ma, vol = lent, dyn.margin_account, dyn.volatility_oracle
    weth, usdc = dyn.asset("WETH"), dyn.asset("USDC")
    trader = accounts[3]
    act.deposit(weth, trader, "30")
    act.fund(usdc, trader, "1000000")
    period = curve(dyn, "WETH").ramp_period
    before, t_before = _levels(dyn), chain.blocks.head.timestamp
    own_actions = 0
    for _ in range(14):
        kind = rng.choice(
            ["borrow", "borrow", "withdraw", "repay", "price", "time", "raise", "lower"]
        )
        acted = False
        try:
            if kind == "borrow":
                h = act.health(trader)
                room = (h.equity - h.imr) * 10**6 // WAD
                if room > 300 * 10**6:
                    act.borrow(usdc, trader, room * rng.choice([30, 60, 95]) // 100)
                    acted = True
            elif kind == "withdraw":
                held = int(ma.rawBalance(trader, 0, weth.token))
                ma.withdraw(
                    trader,
                    0,
                    weth.token,
                    held * rng.choice([5, 20, 50]) // 100,
                    trader,
                    sender=trader,
                )
                acted = True
            elif kind == "repay" and int(ma.rawBalance(trader, 0, usdc.token)) < 0:
                ma.repay(trader, 0, usdc.token, MAX_UINT256, sender=trader)
                acted = True
        except ape.exceptions.ContractLogicError as err:
            # Refused for margin or dust is the rule working; anything else is a failure.
            assert type(err).__name__ in ("InsufficientMargin", "DustRemaining") or revert_data(
                err
            )[:4] in (
                keccak(text=ma.InsufficientMargin.abi.selector)[:4],
                keccak(text=ma.DustRemaining.abi.selector)[:4],
            ), err
        if kind == "price":
            act.move_price(weth, str(round(rng.uniform(0.9, 1.1), 4)))
            if rng.random() < 0.7:
                vol.poke(weth.token, sender=accounts[6])
        elif kind == "time":
            act.warp(rng.choice([60, 3600, 4 * 3600, DAY // 2]))
            act.refresh_feeds()
            if rng.random() < 0.5:
                vol.poke(weth.token, sender=accounts[6])
        elif kind in ("raise", "lower"):
            mmf = rng.choice([55, 70, 100, 150]) * 10**15 if kind == "raise" else int(0.055e18)
            ma.setMarginFactors(weth.token, 2 * mmf, mmf, sender=deployer)
        if acted:
            own_actions += 1
            assert not ma.isLiquidatable(trader, 0), kind
        after, t_after = _levels(dyn), chain.blocks.head.timestamp
        dt = t_after - t_before
        for (old, old_target, old_from), (new, target, new_from), unit, name in zip(
            before, after, (BPS, FLOOR_UNIT), ("base", "floor"), strict=True
        ):
            # A ramp from `from` to `target` rises (target - from) / period per second; a
            # restart within the step starts from the level it had reached (towards either target).
            top = max(old_target, target)
            allowed = old + max(0, top - min(old_from, new_from)) * dt // period + unit
            assert new <= allowed, (kind, name, old, new, target, dt)
        assert_health_matches_mirror(act, trader)
        before, t_before = after, t_after
    assert own_actions > 0
