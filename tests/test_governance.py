"""Governance after the hand-over (docs/threat-model.md): the TimelockController holds every admin
role, the guardian may only reduce risk, the deployer holds nothing. Every path: an outsider (and
the deployer) refused, a change before its delay refused and after it applied, the guardian
reducing but never raising risk, and no guardian action blocking repay, deposit or liquidation.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from ape import chain

from solvent import governance as gov
from solvent.deploy import deploy_system
from tests.utils.chain import ev, fast_custom_error_decoding, logs, reverts
from tests.utils.helpers import Actions, amount, open_margin_book

WAD = 10**18
BPS = 10**14
PAUSE_BORROW, PAUSE_WITHDRAW = 1, 2


@pytest.fixture(scope="module", autouse=True)
def _fast_errors(gsys, act, lender, trader, trader2, keeper, stranger):
    """Also sets the module's deployments up first, before any test's own snapshot (so that ape's
    isolation never reverts them, whichever test of the module a worker runs first)."""
    with fast_custom_error_decoding():
        yield


@pytest.fixture(scope="module")
def governor(accounts):
    return accounts[10]  # config/local.yaml: governance.proposers


@pytest.fixture(scope="module")
def guardian(accounts):
    return accounts[11]  # config/local.yaml: governance.guardian


@pytest.fixture(scope="module")
def gsys(config, deployer, governor, guardian):
    assert config.governance is not None
    assert governor.address in config.governance.proposers
    assert guardian.address == config.governance.guardian
    return deploy_system(config, deployer, dynamic=False)


@pytest.fixture(scope="module")
def act(gsys, deployer):
    return Actions(gsys, deployer)  # the deployer only mints mock tokens and moves mock feeds


def warp(seconds: int) -> None:
    chain.mine(1, timestamp=chain.pending_timestamp + seconds)


def queue_and_wait(
    gsys: Any, governor: Any, contract: str, fn: str, args: list[Any]
) -> gov.Operation:
    op = gov.schedule(gsys, contract, fn, args, governor)
    warp(gsys.config.governance.timelock_delay + 1)
    return op


# ------------------------------------------------------------------------------ roles after deploy
def test_roles__deployer_holds_none__timelock_every_admin_role(gsys, deployer, governor, guardian):
    timelock = gsys.timelock
    everyone = [deployer.address, timelock.address, guardian.address, governor.address]
    roles = gov.read_roles(gsys, everyone)
    assert roles == gsys.roles  # what the deployment recorded is what the chain says
    for name, held in roles.items():
        for role, holders in held.items():
            assert deployer.address not in holders, f"deployer holds {name}.{role}"
    for name, contract in gsys.admin_contracts().items():
        for role in gov.ADMIN_ROLES:
            if hasattr(contract, role):
                assert roles[name][role] == [timelock.address], (name, role)
    assert roles["MarginAccount"]["GUARDIAN_ROLE"] == [guardian.address]
    assert roles["Timelock"]["PROPOSER_ROLE"] == [governor.address]
    # Only proposers cancel: a guardian that could would cancel its own removal.
    assert roles["Timelock"]["CANCELLER_ROLE"] == [governor.address]
    assert roles["Timelock"]["EXECUTOR_ROLE"] == ["anyone"]
    assert roles["Timelock"]["DEFAULT_ADMIN_ROLE"] == [timelock.address]  # self-governed
    assert int(timelock.getMinDelay()) == gsys.config.governance.timelock_delay


def test_roles__deployment_file_records_who_holds_what(gsys, tmp_path):
    data = json.loads(gsys.write(tmp_path / "d.json").read_text())
    assert data["contracts"]["Timelock"] == gsys.timelock.address
    assert data["governance"]["roles"] == gsys.roles
    assert data["governance"]["timelock_delay"] == gsys.config.governance.timelock_delay


# ------------------------------------------------------------------------------ outsiders
def outsider_calls(gsys: Any, who: Any) -> dict[str, tuple[Any, str, Any]]:
    """name -> (contract, role it needs, call)."""
    ma, oracle, liq = gsys.margin_account, gsys.oracle, gsys.liquidator
    weth = gsys.asset("WETH")
    vault = weth.vault
    return {
        "setMarginFactors": (
            ma,
            "RISK_ADMIN_ROLE",
            lambda: ma.setMarginFactors(weth.token, WAD // 10, WAD // 20, sender=who),
        ),
        "setCaps": (
            ma,
            "RISK_ADMIN_ROLE",
            lambda: ma.setCaps(weth.token, 10**30, 10**30, sender=who),
        ),
        "setLiquidationParams": (
            ma,
            "RISK_ADMIN_ROLE",
            lambda: ma.setLiquidationParams(
                weth.token, WAD // 100, WAD // 20, 100 * WAD, sender=who
            ),
        ),
        "pause": (ma, "RISK_ADMIN_ROLE", lambda: ma.pause(weth.token, PAUSE_BORROW, sender=who)),
        "unpause": (
            ma,
            "RISK_ADMIN_ROLE",
            lambda: ma.unpause(weth.token, PAUSE_BORROW, sender=who),
        ),
        "setOracle": (ma, "DEFAULT_ADMIN_ROLE", lambda: ma.setOracle(oracle, sender=who)),
        "setLiquidator": (ma, "DEFAULT_ADMIN_ROLE", lambda: ma.setLiquidator(liq, sender=who)),
        "setFeed": (
            oracle,
            "ORACLE_ADMIN_ROLE",
            lambda: oracle.setFeed(weth.token, weth.feed, 3600, sender=who),
        ),
        "setParams": (liq, "RISK_ADMIN_ROLE", lambda: liq.setParams(WAD // 5, WAD, sender=who)),
        "setRateModel": (
            vault,
            "RISK_ADMIN_ROLE",
            lambda: vault.setRateModel((0, 0, 0, WAD // 2), sender=who),
        ),
        "setReserveFactor": (
            vault,
            "RISK_ADMIN_ROLE",
            lambda: vault.setReserveFactor(0, sender=who),
        ),
        "withdrawInsurance": (
            vault,
            "DEFAULT_ADMIN_ROLE",
            lambda: vault.withdrawInsurance(1, who, sender=who),
        ),
    }


@pytest.mark.parametrize("who", ["deployer", "stranger"])
def test_outsider__every_admin_function_refused__state_unchanged(gsys, who, deployer, stranger):
    caller = {"deployer": deployer, "stranger": stranger}[who]
    ma, weth = gsys.margin_account, gsys.asset("WETH")
    before = (ma.assetConfig(weth.token), ma.oracle(), ma.liquidator(), weth.vault.reserveFactor())
    for contract, role, call in outsider_calls(gsys, caller).values():
        with reverts(
            contract.AccessControlUnauthorizedAccount,
            account=caller.address,
            neededRole=getattr(contract, role)(),
        ):
            call()
    after = (ma.assetConfig(weth.token), ma.oracle(), ma.liquidator(), weth.vault.reserveFactor())
    assert before == after
    assert int(ma.pauseFlags(weth.token)) == 0


def test_outsider__cannot_schedule_on_the_timelock(gsys, stranger):
    with pytest.raises(gov.GovernanceError, match="not a proposer"):
        gov.schedule(gsys, "MarginAccount", "setCaps", [gsys.asset("WETH").token, 1, 1], stranger)
    tl = gsys.timelock
    with reverts(
        tl.AccessControlUnauthorizedAccount, account=stranger.address, neededRole=tl.PROPOSER_ROLE()
    ):
        tl.schedule(gsys.margin_account, 0, b"", b"\x00" * 32, b"\x00" * 32, 60, sender=stranger)


# ------------------------------------------------------------------------------ the timelock path
def test_timelock__change_before_delay_refused__after_delay_applied(gsys, governor, stranger):
    ma, weth = gsys.margin_account, gsys.asset("WETH")
    args = [weth.token, 11 * WAD // 100, 55 * WAD // 1000]  # lower both factors: raises risk
    op = gov.schedule(gsys, "MarginAccount", "setMarginFactors", args, governor)
    assert op.state == "Waiting"
    assert op.call == (
        f"MarginAccount.setMarginFactors(asset={weth.token.address} (WETH), imf={args[1]}, mmf={args[2]})"
    )
    with pytest.raises(gov.GovernanceError, match="Waiting"):
        gov.execute(gsys, op.id, stranger)
    tl = gsys.timelock
    ready = (1 << 2).to_bytes(32, "big")  # OpenZeppelin's state bitmap of OperationState.Ready
    with reverts(
        tl.TimelockUnexpectedOperationState, operationId=bytes.fromhex(op.id), expectedStates=ready
    ):
        tl.execute(op.target, 0, op.data, op.predecessor, op.salt, sender=stranger)
    assert int(ma.assetConfig(weth.token).mmf) == 6 * WAD // 100
    warp(gsys.config.governance.timelock_delay + 1)
    tx = gov.execute(gsys, op.id, stranger)  # executors: anyone
    assert logs(tx, ma.MarginFactorsSet) == [ev(asset=weth.token, imf=args[1], mmf=args[2])]
    executed = logs(tx, tl.CallExecuted)
    assert [(e["id"], e["target"], e["data"]) for e in executed] == [
        (bytes.fromhex(op.id), ma.address.lower(), op.data)
    ]
    assert int(ma.assetConfig(weth.token).mmf) == 55 * WAD // 1000
    listed = [o for o in gov.operations(gsys) if o.id == op.id]
    assert [o.state for o in listed] == ["Done"]


def test_timelock__proposer_cancels__guardian_cannot(gsys, governor, guardian, stranger):
    op = gov.schedule(gsys, "Liquidator", "setParams", [WAD // 2, WAD], governor)
    tl = gsys.timelock
    with reverts(
        tl.AccessControlUnauthorizedAccount,
        account=guardian.address,
        neededRole=tl.CANCELLER_ROLE(),
    ):
        tl.cancel(bytes.fromhex(op.id), sender=guardian)
    tx = gov.cancel(gsys, op.id, governor)
    assert logs(tx, tl.Cancelled) == [ev(id=bytes.fromhex(op.id))]
    assert gov.operation(gsys, op.id).state == "Cancelled"
    warp(gsys.config.governance.timelock_delay + 1)
    with pytest.raises(gov.GovernanceError, match="Cancelled"):
        gov.execute(gsys, op.id, stranger)


def test_timelock__guardian_removal_is_queued_and_applies(gsys, governor, guardian):
    """The guardian cannot stop its own removal: revokeRole goes through the timelock, decoded."""
    ma = gsys.margin_account
    role = ma.GUARDIAN_ROLE()
    op = queue_and_wait(gsys, governor, "MarginAccount", "revokeRole", [role, guardian.address])
    assert op.call == f"MarginAccount.revokeRole(role=GUARDIAN_ROLE, account={guardian.address})"
    gov.execute(gsys, op.id, governor)
    assert not ma.hasRole(role, guardian)
    with reverts(
        ma.AccessControlUnauthorizedAccount,
        account=guardian.address,
        neededRole=ma.RISK_ADMIN_ROLE(),
    ):
        ma.pause(gsys.asset("WETH").token, PAUSE_BORROW, sender=guardian)


def test_timelock__delay_changes_only_through_itself(gsys, governor):
    tl = gsys.timelock
    with reverts(tl.TimelockUnauthorizedCaller, caller=governor.address):
        tl.updateDelay(0, sender=governor)
    op = queue_and_wait(gsys, governor, "Timelock", "updateDelay", [120])
    gov.execute(gsys, op.id, governor)
    assert int(tl.getMinDelay()) == 120


def test_timelock__unknown_contract_or_function__one_line_error(gsys, governor):
    with pytest.raises(gov.GovernanceError, match="unknown contract 'Nope'"):
        gov.schedule(gsys, "Nope", "x", [], governor)
    with pytest.raises(gov.GovernanceError, match="has no function 'nope'"):
        gov.schedule(gsys, "MarginAccount", "nope", [], governor)


# ------------------------------------------------------------------------------ the guardian
def test_guardian__raises_imf_at_once(gsys, guardian):
    ma, weth = gsys.margin_account, gsys.asset("WETH")
    tx = ma.setMarginFactors(weth.token, 15 * WAD // 100, 6 * WAD // 100, sender=guardian)
    assert logs(tx, ma.MarginFactorsSet) == [
        ev(asset=weth.token, imf=15 * WAD // 100, mmf=6 * WAD // 100)
    ]


@pytest.mark.parametrize(
    ("imf", "mmf"),
    [(11, 6), (12, 5), (13, 7)],  # percent: lower imf; lower mmf; higher mmf without a ramp
    ids=["lower-imf", "lower-mmf", "raise-mmf-no-ramp"],
)
def test_guardian__cannot_raise_risk_or_surprise_borrowers(gsys, guardian, imf, mmf):
    ma, weth = gsys.margin_account, gsys.asset("WETH")
    before = ma.assetConfig(weth.token)
    with reverts(ma.GuardianCannotRaiseRisk, guardian=guardian.address):
        ma.setMarginFactors(weth.token, imf * WAD // 100, mmf * WAD // 100, sender=guardian)
    assert ma.assetConfig(weth.token) == before


def _set_ramp(gsys: Any, governor: Any, ramp: int) -> None:
    weth = gsys.asset("WETH")
    op = queue_and_wait(
        gsys, governor, "MarginAccount", "setDynamicParams", [weth.token, 0, ramp, 0]
    )
    gov.execute(gsys, op.id, governor)


def test_guardian__raises_mmf_only_where_it_ramps_over_a_day(gsys, governor, guardian):
    ma, weth = gsys.margin_account, gsys.asset("WETH")
    _set_ramp(gsys, governor, 3_600)  # an hour: too short for the guardian
    with reverts(ma.GuardianCannotRaiseRisk, guardian=guardian.address):
        ma.setMarginFactors(weth.token, 14 * WAD // 100, 7 * WAD // 100, sender=guardian)
    _set_ramp(gsys, governor, 86_400)
    tx = ma.setMarginFactors(weth.token, 14 * WAD // 100, 7 * WAD // 100, sender=guardian)
    assert len(logs(tx, ma.RampStarted)) == 1  # reaches liquidations over a day, not at once


def test_guardian__repeated_calls_cannot_hold_a_ramp_back(gsys, governor, guardian):
    """Who gains if a ramp can be frozen: the borrowers the higher mmf is for. Re-sending the same
    factors leaves the ramp alone; a 1 bp rise every block restarts it from where it is, rounded up,
    so the liquidation mmf still moves forward."""
    ma, weth = gsys.margin_account, gsys.asset("WETH")
    _set_ramp(gsys, governor, 86_400)
    ma.setMarginFactors(weth.token, 14 * WAD // 100, 10 * WAD // 100, sender=guardian)  # 6% -> 10%
    start = ma.marginCurve(weth.token)
    for _ in range(5):
        warp(12)
        tx = ma.setMarginFactors(weth.token, 14 * WAD // 100, 10 * WAD // 100, sender=guardian)
        assert logs(tx, ma.RampStarted) == []
    assert ma.marginCurve(weth.token).baseRampStart == start.baseRampStart
    froms = []
    mmf = 10 * WAD // 100
    for _ in range(5):
        warp(12)
        mmf += BPS
        ma.setMarginFactors(weth.token, 14 * WAD // 100, mmf, sender=guardian)
        froms.append(int(ma.marginCurve(weth.token).baseRampFrom))
    assert (
        froms == sorted(froms) and froms[-1] >= froms[0] + 4 * BPS
    )  # moves at least 1 bp a restart


def test_guardian__lowers_caps__cannot_raise_them(gsys, guardian):
    ma, weth = gsys.margin_account, gsys.asset("WETH")
    cfg = ma.assetConfig(weth.token)
    tx = ma.setCaps(weth.token, int(cfg.collateralCap) // 2, int(cfg.debtCap) // 2, sender=guardian)
    assert logs(tx, ma.CapsSet) == [
        ev(
            asset=weth.token,
            collateralCap=int(cfg.collateralCap) // 2,
            debtCap=int(cfg.debtCap) // 2,
        )
    ]
    with reverts(ma.GuardianCannotRaiseRisk, guardian=guardian.address):
        ma.setCaps(weth.token, int(cfg.collateralCap), 0, sender=guardian)


def test_guardian__cannot_touch_oracle_liquidator_or_unpause(gsys, guardian):
    calls = outsider_calls(gsys, guardian)
    for name in ("setOracle", "setLiquidator", "unpause", "setLiquidationParams", "setFeed"):
        contract, role, call = calls[name]
        with reverts(
            contract.AccessControlUnauthorizedAccount,
            account=guardian.address,
            neededRole=getattr(contract, role)(),
        ):
            call()


def test_guardian__pause_flags_bounded(gsys, guardian):
    ma = gsys.margin_account
    for flags in (0, 4, 7):
        with reverts(ma.InvalidPauseFlags, flags=flags):
            ma.pause(gsys.asset("WETH").token, flags, sender=guardian)


@pytest.fixture
def gov_book(gsys, act, lender, trader, trader2):
    """Trader: 10 WETH, 15,000 USDC debt (and 10 WETH more in hand); trader2: 1 WETH, no debt."""
    usdc, weth = open_margin_book(act, gsys, lender, trader, trader2)
    act.fund(weth, trader, "10")
    return usdc, weth


@pytest.mark.parametrize("scope", ["asset", "global"])
def test_guardian__pauses_borrow_and_indebted_withdrawals__debt_free_withdraw_works(
    gsys, gov_book, guardian, governor, trader, trader2, scope
):
    usdc, weth = gov_book
    ma = gsys.margin_account
    tx = ma.pause(
        usdc.token if scope == "asset" else "0x" + "00" * 20, PAUSE_BORROW, sender=guardian
    )
    assert logs(tx, ma.PauseSet)[0]["flags"] == PAUSE_BORROW
    with reverts(ma.BorrowPaused, asset=usdc.token):
        ma.borrow(trader, 0, usdc.token, amount(usdc, "10"), trader, sender=trader)
    ma.pause(weth.token if scope == "asset" else "0x" + "00" * 20, PAUSE_WITHDRAW, sender=guardian)
    with reverts(ma.WithdrawPaused, asset=weth.token):
        ma.withdraw(trader, 0, weth.token, 10**15, trader, sender=trader)
    with reverts(ma.WithdrawPaused, asset=weth.token):
        ma.transfer(trader, 0, 1, weth.token, 10**15, sender=trader)
    ma.withdraw(trader2, 0, weth.token, 10**15, trader2, sender=trader2)  # owes nothing: leaves
    target = usdc.token if scope == "asset" else "0x" + "00" * 20
    op = queue_and_wait(gsys, governor, "MarginAccount", "unpause", [target, PAUSE_BORROW])
    gov.execute(gsys, op.id, governor)
    ma.borrow(trader, 0, usdc.token, amount(usdc, "10"), trader, sender=trader)


GUARDIAN_ACTIONS = ("pause-global", "pause-each-asset", "raise-imf", "caps-to-zero")


def guardian_act(gsys: Any, guardian: Any, action: str) -> None:
    ma, zero = gsys.margin_account, "0x" + "00" * 20
    assets = list(gsys.assets.values())
    if action == "pause-global":
        ma.pause(zero, PAUSE_BORROW | PAUSE_WITHDRAW, sender=guardian)
    elif action == "pause-each-asset":
        for a in assets:
            ma.pause(a.token, PAUSE_BORROW | PAUSE_WITHDRAW, sender=guardian)
    elif action == "raise-imf":
        for a in assets:
            cfg = ma.assetConfig(a.token)
            ma.setMarginFactors(
                a.token, int(cfg.imf) + 5 * WAD // 100, int(cfg.mmf), sender=guardian
            )
    elif action == "caps-to-zero":
        for a in assets:
            ma.setCaps(a.token, 0, 0, sender=guardian)


@pytest.mark.parametrize(
    "actions",
    [*([a] for a in GUARDIAN_ACTIONS), list(GUARDIAN_ACTIONS)],
    ids=[*GUARDIAN_ACTIONS, "all"],
)
def test_guardian__no_action_blocks_repay_deposit_or_liquidation(
    gsys, gov_book, act, guardian, trader, keeper, stranger, actions
):
    """Each guardian power, and all of them at once (global and per-asset pauses of both kinds, a
    higher imf everywhere, every cap at zero): repay, a deposit
    into the indebted account and its liquidation still work; only a debt-free account's new
    collateral meets a zero cap (no new exposure)."""
    usdc, weth = gov_book
    ma = gsys.margin_account
    for action in actions:
        guardian_act(gsys, guardian, action)
    tx = ma.repay(trader, 0, usdc.token, amount(usdc, "100"), sender=trader)
    assert len(logs(tx, ma.Repaid)) == 1
    tx = ma.deposit(trader, 0, weth.token, amount(weth, "1"), sender=trader)  # owes: over any cap
    assert len(logs(tx, ma.Deposited)) == 1
    if "caps-to-zero" in actions:
        act.fund(weth, stranger, "1")
        total = int(ma.totalCollateral(weth.token)) + WAD
        with reverts(ma.CollateralCapExceeded, asset=weth.token, total=total, cap=0):
            ma.deposit(stranger, 0, weth.token, WAD, sender=stranger)
    act.set_price(weth, "1400")  # 11 WETH against ~14,900 USDC: below maintenance
    assert ma.isLiquidatable(trader, 0)
    act.fund(usdc, keeper, "100000")
    tx = gsys.liquidator.liquidate(
        trader, 0, usdc.token, weth.token, amount(usdc, "5000"), 0, b"", sender=keeper
    )
    assert len(logs(tx, ma.Liquidated)) == 1


def test_caps__a_small_debt_is_no_way_around_the_collateral_cap(
    gsys, gov_book, act, guardian, stranger, lender
):
    """Who gains if it breaks: a borrower piling an illiquid collateral past its cap. Borrow the
    dust floor, then deposit past the cap: accepted (it defends the position), but the asset backs
    no new borrowing or withdrawal until it is back under its cap; repay still works."""
    usdc, weth = gov_book
    ma = gsys.margin_account
    act.deposit(weth, stranger, "1")
    ma.borrow(stranger, 0, usdc.token, amount(usdc, "200"), stranger, sender=stranger)
    total = int(ma.totalCollateral(weth.token))
    ma.setCaps(weth.token, total, int(ma.assetConfig(weth.token).debtCap), sender=guardian)
    act.fund(weth, stranger, "100")
    tx = ma.deposit(stranger, 0, weth.token, amount(weth, "100"), sender=stranger)
    assert logs(tx, ma.CollateralAboveCap) == [
        ev(asset=weth.token, total=total + 100 * WAD, cap=total)
    ]
    over = ma.CollateralCapExceeded
    with reverts(over, asset=weth.token, total=total + 100 * WAD, cap=total):
        ma.borrow(stranger, 0, usdc.token, amount(usdc, "100000"), stranger, sender=stranger)
    with reverts(
        over, asset=weth.token, total=total + 99 * WAD, cap=total
    ):  # checked after it left
        ma.withdraw(stranger, 0, weth.token, WAD, stranger, sender=stranger)
    act.fund(usdc, stranger, "1000")
    ma.repay(stranger, 0, usdc.token, 2**256 - 1, sender=stranger)  # repay all: owes nothing now
    ma.withdraw(stranger, 0, weth.token, 100 * WAD, stranger, sender=stranger)  # debt-free: leaves


# ------------------------------------------------------------------------------ deploy refusals
@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("proposers", (), "proposers is empty"),
        ("guardian", None, "guardian is empty"),
        ("proposers", ("DEPLOYER",), "proposers names the deployer"),
        ("guardian", "DEPLOYER", "guardian is the deployer"),
    ],
)
def test_check_governance__refuses_configs_that_leave_control_behind(
    config, deployer, field, value, match
):
    from dataclasses import replace

    if value == "DEPLOYER":
        value = deployer.address
    elif value == ("DEPLOYER",):
        value = (deployer.address,)
    with pytest.raises(gov.GovernanceError, match=match):
        gov.check_governance(replace(config.governance, **{field: value}), deployer.address)


# ------------------------------------------------------------------------------ `ape run govern`
def test_govern_script__arguments_parsed_exactly(gsys):
    import importlib.util

    from tests.conftest import ROOT

    spec = importlib.util.spec_from_file_location(
        "solvent_govern_script", ROOT / "scripts" / "govern.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    weth = gsys.asset("WETH").token.address
    parsed = [script.parse_arg(gsys, a) for a in ("WETH", "0.15", "15%", "1.5%", "86400", "true")]
    assert parsed == [weth, 15 * WAD // 100, 15 * WAD // 100, 15 * WAD // 1000, 86_400, True]
