"""Shared fixtures: role accounts, the deployed system (once per session, isolated per test by
ape's chain snapshots), token helpers and account builders.

Every test runs against a real Anvil chain (ape-foundry). ape snapshots the chain around each test
and module, so the system is deployed once and each test starts from the same state.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from solvent.config import load_config
from solvent.deploy import Deployment, deploy_system
from tests.utils.helpers import Actions

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def deployer(accounts):
    return accounts[0]


@pytest.fixture(scope="session")
def lender(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def trader(accounts):
    return accounts[2]


@pytest.fixture(scope="session")
def trader2(accounts):
    return accounts[3]


@pytest.fixture(scope="session")
def keeper(accounts):
    return accounts[4]


@pytest.fixture(scope="session")
def stranger(accounts):
    return accounts[5]


@pytest.fixture(scope="session")
def config():
    return load_config(ROOT / "config" / "local.yaml")


@pytest.fixture(scope="session")
def system(config, deployer) -> Deployment:
    """The whole protocol on Anvil: mocks USDC (6), WBTC (8), WETH (18), feeds, oracle, vaults,
    MarginAccount and Liquidator, wired as `ape run deploy` wires them, with static margin (the
    dynamic-margin tests deploy their own)."""
    return deploy_system(config, deployer, dynamic=False, govern=False)


@pytest.fixture(scope="session")
def ma(system):
    return system.margin_account


@pytest.fixture(scope="session")
def liquidator(system):
    return system.liquidator


@pytest.fixture(scope="session")
def oracle(system):
    return system.oracle


@pytest.fixture(scope="session")
def usdc(system):
    return system.asset("USDC")


@pytest.fixture(scope="session")
def wbtc(system):
    return system.asset("WBTC")


@pytest.fixture(scope="session")
def weth(system):
    return system.asset("WETH")


@pytest.fixture(scope="session", params=["USDC", "WBTC", "WETH"])
def any_asset(request, system):
    """Parametrizes a test over the 6-, 8- and 18-decimal assets."""
    return system.asset(request.param)


@pytest.fixture(scope="session")
def act(system, deployer) -> Actions:
    """Helpers that mint, approve and act (fund vaults, open positions, move prices)."""
    return Actions(system, deployer)
