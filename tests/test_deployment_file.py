"""Deployment files: written by `ape run deploy`, read back by `ape run keeper` (load_deployment)."""

from __future__ import annotations

import json

import pytest

from solvent.apebridge import ape_keeper
from solvent.deploy import DeploymentFileError, load_deployment
from solvent.keeper import AccountRef


def test_load_deployment__written_file__same_contracts_and_parameters(system, tmp_path):
    path = system.write(tmp_path / "local.json")

    loaded = load_deployment(path)

    assert loaded.margin_account.address == system.margin_account.address
    assert loaded.liquidator.address == system.liquidator.address
    assert loaded.oracle.address == system.oracle.address
    assert list(loaded.assets) == list(system.assets)
    for symbol, asset in system.assets.items():
        got = loaded.asset(symbol)
        assert (got.token.address, got.vault.address, got.feed.address) == (
            asset.token.address,
            asset.vault.address,
            asset.feed.address,
        )
        assert got.decimals == asset.decimals
        assert got.spec == asset.spec
    assert loaded.config == system.config
    assert loaded.config.insurance_share == int(loaded.liquidator.insuranceShare())
    assert loaded.config.target_health == int(loaded.liquidator.targetHealth())


def test_write__liquidation_parameters__as_deployed_on_chain(system, tmp_path):
    data = json.loads(system.write(tmp_path / "local.json").read_text())

    assert data["liquidation"] == {
        "insurance_share_wad": str(int(system.liquidator.insuranceShare())),
        "target_health_wad": str(int(system.liquidator.targetHealth())),
    }
    assert "penalty_wad" not in json.dumps(data)
    for symbol, entry in data["assets"].items():
        cfg = system.margin_account.assetConfig(entry["token"])
        spec = system.asset(symbol).spec
        assert (entry["min_discount_wad"], entry["max_discount_wad"]) == (
            str(int(cfg.minDiscount)),
            str(int(cfg.maxDiscount)),
        )
        assert entry["min_debt_value_wad"] == str(int(cfg.minDebtValue))
        assert (spec.min_discount, spec.max_discount, spec.min_debt_value) == (
            int(cfg.minDiscount),
            int(cfg.maxDiscount),
            int(cfg.minDebtValue),
        )


def test_load_deployment__file_of_the_fixed_penalty_engine__refused_with_redeploy_hint(
    system, tmp_path
):
    path = system.write(tmp_path / "local.json")
    data = json.loads(path.read_text())
    data["liquidation"] = {"penalty_wad": "50000000000000000", "insurance_share_wad": "1"}
    path.write_text(json.dumps(data))

    with pytest.raises(DeploymentFileError, match=r"another version of Solvent.*ape run deploy"):
        load_deployment(path)


def test_load_deployment__keeper_on_loaded_file__liquidates_the_crashed_account(
    system, act, usdc, weth, lender, trader, keeper, tmp_path
):
    act.lend(usdc, lender, "100000")
    act.deposit(weth, trader, "10")
    act.borrow(usdc, trader, "24000")
    act.set_price(weth, "2500")
    loaded = load_deployment(system.write(tmp_path / "local.json"))
    assert loaded.margin_account.isLiquidatable(trader, 0)

    report = ape_keeper(loaded, keeper, mint=True).run_pass()

    assert report.liquidatable == [AccountRef(trader.address, 0)]
    assert report.remaining == []
    assert not system.margin_account.isLiquidatable(trader, 0)


def test_load_deployment__missing_file__says_to_deploy_first(tmp_path):
    with pytest.raises(DeploymentFileError, match="run `ape run deploy` first"):
        load_deployment(tmp_path / "nope.json")


def test_load_deployment__other_chain_id__refused(system, tmp_path):
    path = system.write(tmp_path / "local.json")
    data = json.loads(path.read_text())
    data["chain_id"] = 11155111
    path.write_text(json.dumps(data))
    with pytest.raises(DeploymentFileError, match="is for chain 11155111"):
        load_deployment(path)


def test_load_deployment__not_a_deployment_file__refused(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("{}")
    with pytest.raises(DeploymentFileError, match="not a Solvent deployment file"):
        load_deployment(path)
