"""The fixed gas scenario behind `gas-snapshot.json` (`make gas`) and its regression test.

Scenario (fresh local chain, the system deployed from config/local.yaml by the first test account,
prices USDC $1, WBTC $60,000, WETH $3,000; every figure is one transaction's `gas_used`):

    deploy_<Contract>      deployment of each core contract (USDC vault for Vault)
    lp_deposit             second lender deposits 100,000 USDC into the USDC vault (vault not empty)
    deposit                trader deposits 10 WETH into a new sub-account (first asset of the account)
    deposit_again          trader deposits 1 more WETH (existing balance)
    borrow                 trader borrows 25,000 USDC against the WETH (first debt, one hour later)
    withdraw               trader withdraws 1 WETH (IMR check over WETH + USDC)
    repay                  trader repays 1,000 USDC (partial)
    repay_all              trader2 repays its whole 1,000 USDC debt (balance cleared)
    lp_withdraw            second lender withdraws 50,000 USDC
    liquidate_partial_1x1  ETH falls to $2,600; the keeper (already holding USDC and WETH) liquidates
                           the 10 WETH / 24,000 USDC account as far as the target health allows
    liquidate_batch20_per_account
                           one liquidateBatch of 20 sub-accounts (1 WETH / 2,400 USDC each), gas / 20
    liquidate_batch100_per_account
                           the same for 100 sub-accounts of another owner, gas / 100 (per-target cost
                           is constant, so this is at most the batch-20 figure)
    liquidate_flash_1x1    a flash liquidation (FlashKeeper, callback that pays from inventory)
    liquidate_8_assets     an account holding 7 collateral assets and a USDC debt, WETH seized
    liquidate_bad_debt     ETH falls to $1,000; keeper takes trader3's last WETH, debt written off
    borrow_dynamic, liquidate_partial_1x1_dynamic
                           a fresh deployment with config/local.yaml's dynamic margin (volatility
                           floor, ramps, sigma just poked; size thresholds of millions): a trader
                           with 10 WETH borrows 20,000 USDC, ETH falls to $2,150, a partial liquidation
    borrow_sized, liquidate_partial_1x1_sized
                           the same with $10,000 size thresholds on WETH and USDC (ETH to $2,200):
                           size term and the liquidation's target search active on both sides

Five extra mock assets (X1..X5, copies of WETH's parameters) are listed so that an account can
hold 8 assets. Blocks are one second apart (anvil_setBlockTimestampInterval), so gas is deterministic and so the test requires every figure to be at most its snapshot.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ape import chain, project

from solvent.config import SolventConfig
from solvent.deploy import deploy_system
from solvent.units import to_units

SNAPSHOT_PATH = Path("gas-snapshot.json")
MAX_UINT = 2**256 - 1
ZERO_ADDRESS = "0x" + "00" * 20
HOUR = 3600

Progress = Callable[[str], None]


def _noop(_: str) -> None:
    return None


def run_gas_scenario(
    config: SolventConfig, accounts: Any, progress: Progress = _noop
) -> dict[str, int]:
    """Run the documented scenario on the connected (fresh) chain; return operation -> gas used."""
    deployer, lender, lender2, trader, trader2, keeper, trader3 = (accounts[i] for i in range(7))
    # accounts[7]: owner of the batch and flash sub-accounts; accounts[8]: the 8-asset account;
    # accounts[9]: owner of the 100 batch sub-accounts.
    gas: dict[str, int] = {}
    # Every block exactly one second after the previous one: interest accrual (and so gas) must not
    # depend on how fast this machine sends transactions.
    chain.provider.make_request("anvil_setBlockTimestampInterval", [1])
    weth_spec = config.asset("WETH")
    extra = tuple(replace(weth_spec, symbol=f"X{i}", name=f"Extra {i} (mock)") for i in range(1, 6))
    system = deploy_system(
        replace(config, assets=config.assets + extra), deployer, dynamic=False, govern=False
    )
    ma, liq = system.margin_account, system.liquidator
    usdc, weth = system.asset("USDC"), system.asset("WETH")
    gas["deploy_MarginAccount"] = ma.creation_metadata.receipt.gas_used
    gas["deploy_Vault"] = usdc.vault.creation_metadata.receipt.gas_used
    gas["deploy_Liquidator"] = liq.creation_metadata.receipt.gas_used
    gas["deploy_ChainlinkOracle"] = system.oracle.creation_metadata.receipt.gas_used
    progress("deployed")

    def units(asset: Any, value: str) -> int:
        return to_units(value, asset.decimals)

    def fund(asset: Any, who: Any, value: str, spender: Any) -> int:
        amount = units(asset, value)
        asset.token.mint(who, amount, sender=deployer)
        asset.token.approve(spender, MAX_UINT, sender=who)
        return amount

    # Liquidity: the first deposit of each vault is set-up, the second is measured.
    usdc.vault.deposit(fund(usdc, lender, "500000", usdc.vault), lender, sender=lender)
    weth.vault.deposit(fund(weth, lender, "1000", weth.vault), lender, sender=lender)
    amount = fund(usdc, lender2, "100000", usdc.vault)
    gas["lp_deposit"] = usdc.vault.deposit(amount, lender2, sender=lender2).gas_used
    progress("lp_deposit")

    fund(weth, trader, "11", ma)
    gas["deposit"] = ma.deposit(trader, 0, weth.token, units(weth, "10"), sender=trader).gas_used
    gas["deposit_again"] = ma.deposit(
        trader, 0, weth.token, units(weth, "1"), sender=trader
    ).gas_used
    # Side accounts: trader2 (small debt, repaid in full) and trader3 (ends insolvent).
    fund(weth, trader2, "1", ma)
    ma.deposit(trader2, 0, weth.token, units(weth, "1"), sender=trader2)
    ma.borrow(trader2, 0, usdc.token, units(usdc, "1000"), trader2, sender=trader2)
    fund(weth, trader3, "1", ma)
    ma.deposit(trader3, 0, weth.token, units(weth, "1"), sender=trader3)
    ma.borrow(trader3, 0, usdc.token, units(usdc, "2400"), trader3, sender=trader3)

    chain.mine(1, timestamp=chain.pending_timestamp + HOUR)
    _restamp(system, deployer)
    tx = ma.borrow(trader, 0, usdc.token, units(usdc, "25000"), trader, sender=trader)
    gas["borrow"] = tx.gas_used
    gas["withdraw"] = ma.withdraw(
        trader, 0, weth.token, units(weth, "1"), trader, sender=trader
    ).gas_used
    usdc.token.approve(ma, MAX_UINT, sender=trader)
    gas["repay"] = ma.repay(trader, 0, usdc.token, units(usdc, "1000"), sender=trader).gas_used
    fund(usdc, trader2, "10", ma)  # interest on top of the 1,000 borrowed
    gas["repay_all"] = ma.repay(trader2, 0, usdc.token, MAX_UINT, sender=trader2).gas_used
    gas["lp_withdraw"] = usdc.vault.withdraw(
        units(usdc, "50000"), lender2, lender2, sender=lender2
    ).gas_used
    progress("account operations")

    # Liquidation set-up, all before the crash.
    fund(usdc, keeper, "200000", ma)
    fund(weth, keeper, "1", ma)  # the keeper already holds both tokens
    batch_owner = accounts[7]
    fund(weth, batch_owner, "22", ma)
    targets = []
    for sub in range(1, 21):
        ma.deposit(batch_owner, sub, weth.token, units(weth, "1"), sender=batch_owner)
        ma.borrow(
            batch_owner, sub, usdc.token, units(usdc, "2400"), batch_owner, sender=batch_owner
        )
        targets.append((batch_owner.address, sub))
    big_owner = accounts[9]
    fund(weth, big_owner, "100", ma)
    big_targets = []
    for sub in range(1, 101):
        ma.deposit(big_owner, sub, weth.token, units(weth, "1"), sender=big_owner)
        ma.borrow(big_owner, sub, usdc.token, units(usdc, "2400"), big_owner, sender=big_owner)
        big_targets.append((big_owner.address, sub))
    ma.deposit(batch_owner, 100, weth.token, units(weth, "1"), sender=batch_owner)
    ma.borrow(batch_owner, 100, usdc.token, units(usdc, "2400"), batch_owner, sender=batch_owner)
    flash = project.FlashKeeper.deploy(liq, ZERO_ADDRESS, sender=deployer)
    usdc.token.mint(flash, units(usdc, "10000"), sender=deployer)
    weth.token.mint(flash, units(weth, "1"), sender=deployer)
    flash.approve(usdc.token, ma, MAX_UINT, sender=deployer)
    multi = accounts[8]
    fund(weth, multi, "4", ma)
    ma.deposit(multi, 0, weth.token, units(weth, "4"), sender=multi)
    for symbol in ("WBTC", "X1", "X2", "X3", "X4", "X5"):
        other = system.asset(symbol)
        ma.deposit(multi, 0, other.token, fund(other, multi, "0.01", ma), sender=multi)
    ma.borrow(multi, 0, usdc.token, units(usdc, "10500"), multi, sender=multi)
    if len(ma.accountAssets(multi, 0)) != 8:
        raise RuntimeError("gas scenario drifted: the multi-asset account should hold 8 assets")

    _set_price(system.asset("WETH"), "2600", deployer)
    if not ma.isLiquidatable(trader, 0):
        raise RuntimeError("gas scenario drifted: trader should be liquidatable at ETH $2,600")
    tx = liq.liquidate(trader, 0, usdc.token, weth.token, MAX_UINT, 0, b"", sender=keeper)
    gas["liquidate_partial_1x1"] = tx.gas_used
    if ma.balanceOf(trader, 0, usdc.token) >= 0:
        raise RuntimeError("gas scenario drifted: the 1x1 liquidation should be partial")
    tx = liq.liquidateBatch(targets, usdc.token, weth.token, 0, sender=keeper)
    if tx.return_value[2] != len(targets):
        raise RuntimeError("gas scenario drifted: every batch account should be liquidated")
    gas["liquidate_batch20_per_account"] = tx.gas_used // len(targets)
    tx = liq.liquidateBatch(big_targets, usdc.token, weth.token, 0, sender=keeper)
    if tx.return_value[2] != len(big_targets):
        raise RuntimeError("gas scenario drifted: every batch-100 account should be liquidated")
    gas["liquidate_batch100_per_account"] = tx.gas_used // len(big_targets)
    tx = flash.flashLiquidate(
        batch_owner, 100, usdc.token, weth.token, MAX_UINT, 0, 0, sender=keeper
    )
    gas["liquidate_flash_1x1"] = tx.gas_used
    tx = liq.liquidate(multi, 0, usdc.token, weth.token, MAX_UINT, 0, b"", sender=keeper)
    gas["liquidate_8_assets"] = tx.gas_used

    _set_price(system.asset("WETH"), "1000", deployer)
    tx = liq.liquidate(trader3, 0, usdc.token, weth.token, MAX_UINT, 0, b"", sender=keeper)
    if ma.accountAssets(trader3, 0):
        raise RuntimeError("gas scenario drifted: trader3 should end with nothing")
    gas["liquidate_bad_debt"] = tx.gas_used
    progress("liquidations")
    gas.update(_dynamic_scenario(config, accounts))
    progress("dynamic margin")
    return gas


SIZED_THRESHOLD = 10_000 * 10**18  # USD: every position of the sized scenario is above it


def _dynamic_scenario(config: SolventConfig, accounts: Any) -> dict[str, int]:
    """borrow and a partial 1x1 liquidation with dynamic margin on, twice: `*_dynamic` with
    config/local.yaml's settings (volatility floor, ramps, size thresholds of millions, so the
    account is below them), `*_sized` with size thresholds of $10,000 on both assets (the size
    term and the liquidation's target search active on both sides: the most expensive case)."""
    gas: dict[str, int] = {}
    for suffix, threshold in (("dynamic", None), ("sized", SIZED_THRESHOLD)):
        borrow, liquidate = _dynamic_run(config, accounts, threshold)
        gas[f"borrow_{suffix}"] = borrow
        gas[f"liquidate_partial_1x1_{suffix}"] = liquidate
    return gas


def _dynamic_run(config: SolventConfig, accounts: Any, threshold: int | None) -> tuple[int, int]:
    deployer, lender, trader, keeper = accounts[0], accounts[1], accounts[3], accounts[5]
    dm = config.dynamic_margin
    if dm is None:
        raise RuntimeError("config has no dynamic_margin section for the dynamic gas scenario")
    system = deploy_system(config, deployer, govern=False)
    ma, liq = system.margin_account, system.liquidator
    usdc, weth = system.asset("USDC"), system.asset("WETH")
    if threshold is not None:
        for a in (usdc, weth):
            spec = dm.assets[a.symbol]
            ma.setDynamicParams(
                a.token, threshold, spec.ramp_period, spec.stale_floor, sender=deployer
            )
    funding = (
        (usdc, lender, "500000"),
        (weth, trader, "10"),
        (usdc, keeper, "100000"),
        (weth, keeper, "1"),  # the keeper already holds both tokens, as in the static scenario
    )
    for a, who, value in funding:
        amount = to_units(value, a.decimals)
        a.token.mint(who, amount, sender=deployer)
        a.token.approve(a.vault if who == lender else ma, MAX_UINT, sender=who)
    usdc.vault.deposit(to_units("500000", 6), lender, sender=lender)
    ma.deposit(trader, 0, weth.token, to_units("10", 18), sender=trader)
    chain.mine(1, timestamp=chain.pending_timestamp + HOUR)
    _restamp(system, deployer)
    for a in (usdc, weth):
        if dm.assets[a.symbol].stale_floor != 0:  # tracked: sigma fresh
            system.volatility_oracle.poke(a.token, sender=keeper)
    borrow = ma.borrow(trader, 0, usdc.token, to_units("20000", 6), trader, sender=trader).gas_used
    _set_price(weth, "2200" if threshold else "2150", deployer)
    if not ma.isLiquidatable(trader, 0):
        raise RuntimeError("dynamic gas scenario drifted: trader should be liquidatable")
    tx = liq.liquidate(trader, 0, usdc.token, weth.token, MAX_UINT, 0, b"", sender=keeper)
    if ma.balanceOf(trader, 0, usdc.token) >= 0:
        raise RuntimeError("dynamic gas scenario drifted: the liquidation should be partial")
    return borrow, tx.gas_used


def _restamp(system: Any, sender: Any) -> None:
    for asset in system.assets.values():
        _, answer, *_ = asset.feed.latestRoundData()
        asset.feed.setAnswer(answer, sender=sender)


def _set_price(asset: Any, usd: str, sender: Any) -> None:
    asset.feed.setAnswer(to_units(usd, int(asset.feed.decimals())), sender=sender)


def load_snapshot(path: Path = SNAPSHOT_PATH) -> dict[str, int]:
    return {k: int(v) for k, v in json.loads(path.read_text()).items()}


def write_snapshot(gas: dict[str, int], path: Path = SNAPSHOT_PATH) -> None:
    path.write_text(json.dumps(dict(sorted(gas.items())), indent=2) + "\n")


def compare(measured: dict[str, int], snapshot: dict[str, int]) -> list[str]:
    """Problems: operations over their snapshot, missing from it, or no longer measured."""
    problems = []
    for op, used in sorted(measured.items()):
        if op not in snapshot:
            problems.append(f"{op}: {used} gas has no snapshot entry (run `make gas`)")
        elif used > snapshot[op]:
            problems.append(f"{op}: {used} gas > snapshot {snapshot[op]} (+{used - snapshot[op]})")
    problems += [
        f"{op}: in the snapshot but not measured" for op in sorted(set(snapshot) - set(measured))
    ]
    return problems
