"""The crash demo scenario (solvent.demo) and the deploy script's logic (scripts/deploy.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType, SimpleNamespace

import click
import pytest
from ape import chain, project

from solvent.config import load_config
from solvent.demo import (
    Cast,
    DemoResult,
    PositionPlan,
    ScenarioError,
    open_position,
    percent,
    report_text,
    run_scenario,
    tokens,
    usd,
)
from solvent.keeper import AccountRef
from solvent.risk import WAD, Status, liquidation_profit

ROOT = Path(__file__).resolve().parents[1]
LIQUIDATED = {("alice", 0), ("dave", 0), ("erin", 1), ("frank", 0)}
HEALTHY = {("bob", 0), ("carol", 0), ("erin", 2)}


@pytest.fixture(scope="module")
def demo(system, accounts, config, act, ma, usdc, weth, lender, trader) -> DemoResult:
    """The scenario, run once for this module on the session deployment. It names every session
    fixture this module uses, so they exist before the scenario runs and ape's chain isolation
    never has to rebuild (and re-run) it."""
    return run_scenario(system, Cast.from_accounts(accounts))


def _key(row) -> tuple[str, int]:
    return (row.label, row.ref.sub_id)


# ================================================================== scenario outcome


def test_scenario__crash_makes_the_planned_accounts_liquidatable(demo):
    assert all(
        not row.before.liquidatable and row.before.equity >= row.before.imr for row in demo.accounts
    )
    assert {_key(r) for r in demo.accounts if r.crash.liquidatable} == LIQUIDATED
    assert {_key(r) for r in demo.accounts if not r.crash.liquidatable} == HEALTHY
    assert demo.prices_after["WETH"] == demo.prices_before["WETH"] * 6 // 10
    assert demo.account("frank").crash.equity < 0  # insolvent, not just below maintenance


def _best_pair(demo: DemoResult, system, ref: AccountRef) -> tuple[str, str]:
    """The OK pair of the lens at the crash with the largest expected profit at oracle prices."""
    prices = demo.prices_after

    def profit(p) -> int:
        return liquidation_profit(
            p.seize,
            p.max_repay,
            p.insurance_fee,
            debt_price=prices[p.debt_asset],
            debt_scale=system.asset(p.debt_asset).scale,
            collateral_price=prices[p.collateral_asset],
            collateral_scale=system.asset(p.collateral_asset).scale,
            insurance_tip=p.insurance_tip,
        )

    ok = [p for p in demo.lens_at_crash[ref].pairs if p.status == Status.OK]
    best = max(ok, key=lambda p: (profit(p), -ok.index(p)))
    return best.debt_asset, best.collateral_asset


def test_scenario__keeper_liquidates_every_liquidatable_account_and_skips_healthy(demo, ma, system):
    assert {_key(r) for r in demo.accounts if r.liquidations} == LIQUIDATED
    assert all(r.liquidations == [] for r in demo.accounts if _key(r) in HEALTHY)
    assert demo.keeper.remaining == demo.keeper.skipped == []
    for row in demo.accounts:
        assert not row.after.liquidatable
        assert not ma.isLiquidatable(row.ref.owner, row.ref.sub_id)
        assert demo.lens_at_crash[row.ref].liquidatable == row.crash.liquidatable
    # Each account went through its most profitable pair; one round was enough for every one.
    for row in demo.accounts:
        if row.liquidations:
            (liq,) = row.liquidations
            assert (liq.debt_asset, liq.collateral_asset) == _best_pair(demo, system, row.ref)
            # Health before the liquidation: the crash's, less a few seconds of interest.
            assert 0 <= row.crash.health - liq.health < 10**10
    # The cross account sells its WBTC, not its WETH; the isolated BTC sub-account is untouched.
    assert [liq.collateral_asset for liq in demo.account("dave").liquidations] == ["WBTC"]
    assert demo.account("erin", 1).liquidations and not demo.account("erin", 2).liquidations
    assert demo.account("erin", 2).after.equity == pytest.approx(
        demo.account("erin", 2).before.equity, rel=1e-6
    )
    # The three long-ETH accounts share their best pair (USDC/WETH): one liquidateBatch.
    eth = [demo.account(n, s).liquidations[0] for n, s in (("alice", 0), ("erin", 1), ("frank", 0))]
    assert len({liq.tx_hash for liq in eth}) == 1 and {liq.batch_size for liq in eth} == {3}
    kinds = [tx.kind for tx in demo.keeper.transactions if tx.kind != "approve"]
    assert sorted(kinds) == ["liquidate", "liquidateBatch"]
    # The solvent ones stop at the target health (1.05; read a few blocks of interest later) and
    # keep a smaller position.
    target = demo.engine.target_health
    for name, sub in (("alice", 0), ("dave", 0), ("erin", 1)):
        row = demo.account(name, sub)
        assert target - 10**12 < row.after.health < target + 10**12
        assert 0 < row.after.equity < row.crash.equity


def test_scenario__insolvent_account__bad_debt_written_off(demo, ma, usdc):
    frank = demo.account("frank")
    (bad,) = demo.keeper.bad_debts
    assert bad.account == frank.ref and bad.asset == "USDC"
    assert bad.amount == bad.covered + bad.socialized
    assert (
        bad.covered > 0 and bad.socialized > 0
    )  # the insurance fund ran out; lenders took the rest
    assert list(ma.accountAssets(frank.ref.owner, 0)) == []
    assert frank.after.equity == frank.after.mmr == 0
    assert frank.bad_debt_value == bad.amount * demo.prices_after["USDC"] // usdc.scale
    assert all(r.bad_debt_value == 0 for r in demo.accounts if r is not frank)


def test_scenario__results_match_liquidated_and_bad_debt_events(demo, ma, system):
    events = [
        (
            log.owner,
            int(log.subId),
            log.debtAsset,
            int(log.repaid),
            log.collateralAsset,
            int(log.seized),
            int(log.insuranceFee),
        )
        for log in ma.Liquidated.range(demo.crash_block, demo.end_block + 1)
    ]
    assert events == [
        (
            liq.account.owner,
            liq.account.sub_id,
            system.asset(liq.debt_asset).token.address,
            liq.repaid,
            system.asset(liq.collateral_asset).token.address,
            liq.seized,
            liq.insurance_fee,
        )
        for liq in demo.keeper.liquidations
    ]
    written_off = [
        (
            AccountRef(log.owner, int(log.subId)),
            int(log.amount),
            int(log.covered),
            int(log.socialized),
        )
        for log in ma.BadDebtWrittenOff.range(demo.crash_block, demo.end_block + 1)
    ]
    assert written_off == [
        (b.account, b.amount, b.covered, b.socialized) for b in demo.keeper.bad_debts
    ]
    assert demo.keeper.profit_value == sum(
        liq.seized_value + liq.tip_value - liq.repaid_value - liq.fee_value
        for liq in demo.keeper.liquidations
    )
    assert demo.keeper.profit_value > 0


def test_scenario__insurance_funds_change_exactly_as_vault_events_say(demo, system):
    for row in demo.vaults:
        vault = system.asset(row.symbol).vault
        span = (row.before.block + 1, row.after.block + 1)  # blocks after the "before" read
        booked = list(vault.LiquidationRepaid.range(*span))
        funded = sum(int(e.assets) for e in vault.InsuranceFunded.range(*span))
        funded += sum(int(e.insuranceFee) for e in booked)
        tipped = sum(int(e.insuranceTip) for e in booked)
        reserve = sum(int(e.toInsurance) for e in vault.InterestAccrued.range(*span))
        realized = list(vault.BadDebtRealized.range(*span))
        covered = sum(int(e.coveredByInsurance) for e in realized)
        assert row.after.insurance == row.before.insurance + funded + reserve - tipped - covered
        assert covered == row.covered
        assert sum(int(e.socialized) for e in realized) == row.socialized
        assert sum(int(e.amount) for e in realized) == row.bad_debt
    fees = sum(liq.insurance_fee - liq.insurance_tip for liq in demo.keeper.liquidations)
    usdc_row = demo.vault("USDC")
    assert usdc_row.covered <= usdc_row.before.insurance + fees + 10**6  # + at most $1 of reserve
    # Lenders of the USDC vault absorbed the socialized part: one share is worth less.
    assert usdc_row.after.share_price < usdc_row.before.share_price
    assert demo.vault("WBTC").after.share_price == demo.vault("WBTC").before.share_price


def test_report__contains_the_key_rows(demo):
    text = report_text(demo)

    assert "local mock chain" in text
    for title in (
        "Oracle prices",
        "Accounts before and after WETH falls 40%",
        "Keeper pass per account",
        "Liquidations (Liquidated events",
        "Bad debt per asset",
        "insurance fund and value of one share",
        "Keeper profit",
        "1 liquidateBatch",
        "Insurance cut 20% of the discount value",
        "the insurance fund tips the keeper",
        "stop at health 1.05",
    ):
        assert title in text
    for row in demo.accounts:
        assert f"{row.label}#{row.ref.sub_id}" in text
    frank = demo.account("frank")
    assert usd(frank.crash.equity) in text and usd(frank.crash.equity).startswith("-$")
    assert usd(demo.keeper.profit_value) in text
    for liq in demo.keeper.liquidations:
        assert percent(liq.discount) in text
        assert f"+{tokens(liq.insurance_fee, 6, 2)}" in text
        assert usd(liq.profit_value) in text
    # The insolvent account pays no discount (health 0); the USDC insurance fund tips the keeper
    # (1 - 20%) x 1% / 99% of the repayment (WETH's minDiscount as the keeper floor).
    (frank_liq,) = frank.liquidations
    assert frank_liq.discount == 0 and frank_liq.insurance_fee == 0
    assert frank_liq.insurance_tip == frank_liq.repaid * (WAD // 99) // WAD * 8 // 10
    assert f"-{tokens(frank_liq.insurance_tip, 6, 2)} USDC" in text
    assert f"{tokens(frank_liq.bad_debt, 6, 2)} USDC" in text
    usdc = demo.vault("USDC")
    for value in (usdc.bad_debt, usdc.covered, usdc.socialized, usdc.after.share_price):
        assert tokens(value, 6, 6) in text


# ================================================================== scenario guards


def test_open_position__over_initial_margin__refused_before_sending(
    act, system, ma, usdc, weth, lender, trader
):
    act.lend(usdc, lender, "100000")
    # 1 WETH at price p carries at most 0.88 * p / 1.04 = 0.846 p of USDC debt (WETH imf 12%,
    # USDC imf 4%): 90% of p is refused, 80% passes.
    price = act.price(weth) // 10**18
    too_much, fits = str(price * 9 // 10), str(price * 8 // 10)
    plan = PositionPlan("trader", 5, "too much", (("WETH", "1"),), (("USDC", too_much),))
    start = chain.blocks.height + 1

    with pytest.raises(ScenarioError, match="below IMR"):
        open_position(system, plan, trader)

    assert [int(log.subId) for log in ma.Deposited.range(start, chain.blocks.height + 1)] == [5]
    assert list(ma.Borrowed.range(start, chain.blocks.height + 1)) == []
    assert int(ma.balanceOf(trader, 5, usdc.token)) == 0
    ok = PositionPlan("trader", 6, "fits", (("WETH", "1"),), (("USDC", fits),))
    assert open_position(system, ok, trader) == AccountRef(trader.address, 6)
    (borrowed,) = ma.Borrowed.range(start, chain.blocks.height + 1)
    assert (int(borrowed.subId), int(borrowed.amount)) == (6, int(fits) * 10**6)
    assert int(ma.balanceOf(trader, 6, usdc.token)) <= -int(fits) * 10**6  # plus interest rounding


def test_cast__too_few_accounts__refused(accounts):
    with pytest.raises(ScenarioError, match="10 accounts"):
        Cast.from_accounts([accounts[0], accounts[1]])


# ================================================================== deploy script


def _deploy_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "solvent_deploy_script", ROOT / "scripts" / "deploy.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LOCAL = SimpleNamespace(name="local", is_local=True, is_dev=True)
SEPOLIA = SimpleNamespace(name="sepolia", is_local=False, is_dev=False)
SEPOLIA_FORK = SimpleNamespace(name="sepolia-fork", is_local=False, is_dev=True)
MAINNET = SimpleNamespace(name="mainnet", is_local=False, is_dev=False)


def test_deploy_script__writes_deployment_file(tmp_path, config, accounts):
    script = _deploy_script()
    lines: list[str] = []
    out = tmp_path / "deployments" / "local.json"

    deployment, path = script.deploy_to_file(config, accounts[0], out, log=lines.append)

    assert path == out
    data = json.loads(out.read_text())
    assert data["chain_id"] == chain.chain_id
    assert data["network"] == "local"
    contracts = data["contracts"]
    assert contracts == {
        "ChainlinkOracle": deployment.oracle.address,
        "MarginAccount": deployment.margin_account.address,
        "Liquidator": deployment.liquidator.address,
        "VolatilityOracle": deployment.volatility_oracle.address,  # config has dynamic_margin
        "Timelock": deployment.timelock.address,  # config has governance
    }
    # Who holds what, read back from the chain: the deployer holds nothing.
    roles = data["governance"]["roles"]
    assert roles["MarginAccount"]["DEFAULT_ADMIN_ROLE"] == [contracts["Timelock"]]
    assert all(
        accounts[0].address not in holders for held in roles.values() for holders in held.values()
    )
    ma = project.MarginAccount.at(contracts["MarginAccount"])
    assert ma.liquidator() == contracts["Liquidator"]
    assert ma.volatilityOracle() == contracts["VolatilityOracle"]
    assert ma.oracle() == contracts["ChainlinkOracle"]
    liquidator = project.Liquidator.at(contracts["Liquidator"])
    assert (liquidator.insuranceShare(), liquidator.targetHealth()) == (
        config.insurance_share,
        config.target_health,
    )
    assert data["liquidation"] == {
        "insurance_share_wad": str(config.insurance_share),
        "target_health_wad": str(config.target_health),
    }
    assert list(data["assets"]) == [spec.symbol for spec in config.assets]
    for symbol, entry in data["assets"].items():
        spec = config.asset(symbol)
        cfg = ma.assetConfig(entry["token"])
        assert cfg.vault == entry["vault"]
        assert (cfg.imf, cfg.mmf) == (int(entry["imf_wad"]), int(entry["mmf_wad"]))
        assert (entry["imf_wad"], entry["mmf_wad"]) == (str(spec.imf), str(spec.mmf))
        assert entry["decimals"] == spec.decimals
        assert int(entry["debt_cap"]) == int(cfg.debtCap) == spec.debt_cap(spec.decimals)
        assert entry["rate_model_wad"] == [str(x) for x in spec.rate_model.as_tuple()]
        assert (int(cfg.minDiscount), int(cfg.maxDiscount), int(cfg.minDebtValue)) == (
            int(entry["min_discount_wad"]),
            int(entry["max_discount_wad"]),
            int(entry["min_debt_value_wad"]),
        )
        assert int(entry["min_debt_value_wad"]) == spec.min_debt_value
        assert chain.provider.get_code(entry["feed"])
    assert lines[0].startswith("Deploying Solvent (3 assets)")
    assert lines[-1] == f"Deployment written to {out} (chain id {chain.chain_id})"


def test_deploy_script__network_and_config_checks():
    script = _deploy_script()
    local = load_config(ROOT / "config" / "local.yaml")
    sepolia = load_config(ROOT / "config" / "sepolia.yaml")

    script.check_network(LOCAL, local, Path("config/local.yaml"))
    script.check_network(SEPOLIA, sepolia, Path("config/sepolia.yaml"))
    script.check_network(SEPOLIA_FORK, sepolia, Path("config/sepolia.yaml"))
    with pytest.raises(click.UsageError, match="mocks: true"):
        script.check_network(SEPOLIA, local, Path("config/local.yaml"))
    with pytest.raises(click.UsageError, match="sepolia-fork"):
        script.check_network(LOCAL, sepolia, Path("config/sepolia.yaml"))
    with pytest.raises(click.UsageError, match="connected to 'mainnet'"):
        script.check_network(MAINNET, sepolia, Path("config/sepolia.yaml"))
    assert script.default_out(SEPOLIA) == Path("deployments/sepolia.json")


def test_deploy_script__deployer_resolution(accounts):
    script = _deploy_script()

    assert script.resolve_deployer(LOCAL, None) == accounts[0]
    assert script.resolve_deployer(SEPOLIA, accounts[3]) == accounts[3]
    with pytest.raises(click.UsageError, match="--account"):
        script.resolve_deployer(SEPOLIA, None)


def test_deploy_script__missing_config__plain_error(tmp_path):
    script = _deploy_script()
    missing = tmp_path / "nope.yaml"

    with pytest.raises(click.BadParameter, match="not found"):
        script._load_config(click.Context(click.Command("deploy")), None, missing)
