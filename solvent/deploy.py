"""Deploy the whole Solvent system with ape and record it in a deployment file.

Order: oracle -> MarginAccount -> one Vault per asset -> list assets -> Liquidator -> wire, then
(when the config has a ``dynamic_margin`` section) VolatilityOracle -> model -> per-asset settings,
then (with a ``governance`` section) the hand-over: a TimelockController receives every admin role,
the guardian its role, and the deployer renounces every role it held (solvent.governance).
With ``config.mocks`` (local chains) it first deploys mock tokens and mock Chainlink-style feeds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ape import chain, project

from solvent.config import (
    AssetSpec,
    DynamicAsset,
    DynamicMargin,
    Governance,
    RateModel,
    SolventConfig,
)

ZERO_ADDRESS = "0x" + "00" * 20

Log = Callable[[str], None]


@dataclass
class DeployedAsset:
    """A listed asset and the contracts around it."""

    spec: AssetSpec
    token: Any
    vault: Any
    feed: Any
    decimals: int
    secondary_feed: Any = None

    @property
    def symbol(self) -> str:
        return self.spec.symbol

    @property
    def scale(self) -> int:
        return 10**self.decimals


@dataclass
class Deployment:
    """Handles on every deployed contract."""

    config: SolventConfig
    oracle: Any
    margin_account: Any
    liquidator: Any
    assets: dict[str, DeployedAsset] = field(default_factory=dict)
    volatility_oracle: Any = None
    timelock: Any = None
    #: Who holds what, read back from the chain after the hand-over (solvent.governance.read_roles).
    roles: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    deploy_block: int = 0

    def admin_contracts(self) -> dict[str, Any]:
        """Every contract with admin roles, by name (vaults as Vault:<symbol>)."""
        named = {
            "ChainlinkOracle": self.oracle,
            "MarginAccount": self.margin_account,
            "Liquidator": self.liquidator,
        }
        if self.volatility_oracle is not None:
            named["VolatilityOracle"] = self.volatility_oracle
        for a in self.assets.values():
            named[f"Vault:{a.symbol}"] = a.vault
        return named

    def asset(self, symbol: str) -> DeployedAsset:
        try:
            return self.assets[symbol]
        except KeyError:
            raise KeyError(f"no deployed asset {symbol!r}; have {sorted(self.assets)}") from None

    def to_json(self) -> dict[str, Any]:
        """Deployment file content: chain id, addresses and parameters."""
        return {
            "chain_id": chain.chain_id,
            "network": self.config.network,
            "mocks": self.config.mocks,
            "feed_decimals": self.config.feed_decimals,
            "block": chain.blocks.head.number,
            "deploy_block": self.deploy_block,
            "contracts": {
                "ChainlinkOracle": self.oracle.address,
                "MarginAccount": self.margin_account.address,
                "Liquidator": self.liquidator.address,
                **(
                    {"VolatilityOracle": self.volatility_oracle.address}
                    if self.volatility_oracle is not None
                    else {}
                ),
                **({"Timelock": self.timelock.address} if self.timelock is not None else {}),
            },
            "governance": (
                {**asdict(self.config.governance), "roles": self.roles}
                if self.config.governance is not None and self.timelock is not None
                else None
            ),
            "liquidation": {
                "insurance_share_wad": str(self.config.insurance_share),
                "target_health_wad": str(self.config.target_health),
            },
            "dynamic_margin": (
                asdict(self.config.dynamic_margin)
                if self.config.dynamic_margin is not None and self.volatility_oracle is not None
                else None
            ),
            "assets": {
                a.symbol: {
                    "token": a.token.address,
                    "vault": a.vault.address,
                    "feed": a.feed.address,
                    **(
                        {"secondary_feed": a.secondary_feed.address}
                        if a.secondary_feed is not None
                        else {}
                    ),
                    "decimals": a.decimals,
                    "imf_wad": str(a.spec.imf),
                    "mmf_wad": str(a.spec.mmf),
                    "collateral_cap": str(a.spec.collateral_cap(a.decimals)),
                    "debt_cap": str(a.spec.debt_cap(a.decimals)),
                    "reserve_factor_wad": str(a.spec.reserve_factor),
                    "rate_model_wad": list(map(str, a.spec.rate_model.as_tuple())),
                    "max_age_s": a.spec.max_age,
                    "min_discount_wad": str(a.spec.min_discount),
                    "max_discount_wad": str(a.spec.max_discount),
                    "min_debt_value_wad": str(a.spec.min_debt_value),
                    "spec": asdict(a.spec),
                }
                for a in self.assets.values()
            },
        }

    def write(self, path: Path | str) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return path


def _quiet(_: str) -> None:
    return None


def deploy_system(
    config: SolventConfig,
    deployer: Any,
    log: Log = _quiet,
    *,
    dynamic: bool = True,
    govern: bool = True,
) -> Deployment:
    """Deploy and wire every contract; returns handles. `deployer` is an ape account. With
    `dynamic` and a ``dynamic_margin`` config section, dynamic margin is switched on too (without
    it the deployment's config records none). With `govern` and a ``governance`` section, every
    admin role goes to a new TimelockController and the guardian, and the deployer renounces
    every role it held; without, the deployer stays the admin (the unit tests' set-up)."""
    if not dynamic:
        config = replace(config, dynamic_margin=None)
    if not govern:
        config = replace(config, governance=None)
    start_block = chain.blocks.head.number + 1
    tokens: dict[str, Any] = {}
    feeds: dict[str, Any] = {}
    secondaries: dict[str, Any] = {}
    for spec in config.assets:
        if config.mocks:
            assert spec.decimals is not None and spec.price is not None
            tokens[spec.symbol] = project.MockERC20.deploy(
                spec.name, spec.symbol, spec.decimals, sender=deployer
            )
            answer = spec.price * 10**config.feed_decimals // 10**18
            feeds[spec.symbol] = project.MockAggregator.deploy(
                config.feed_decimals, f"{spec.symbol} / USD", answer, sender=deployer
            )
            if spec.secondary_feed == "mock":
                secondaries[spec.symbol] = project.MockAggregator.deploy(
                    config.feed_decimals, f"{spec.symbol} / USD (2)", answer, sender=deployer
                )
            log(f"mock {spec.symbol} ({spec.decimals} decimals) and its feed deployed")
        else:
            assert spec.token is not None and spec.feed is not None
            tokens[spec.symbol] = project.MockERC20.at(spec.token)  # ERC20 ABI is enough
            feeds[spec.symbol] = project.MockAggregator.at(spec.feed)  # AggregatorV3 ABI
            if spec.secondary_feed is not None:
                secondaries[spec.symbol] = project.MockAggregator.at(spec.secondary_feed)

    oracle = project.ChainlinkOracle.deploy(
        deployer,
        config.sequencer_feed or ZERO_ADDRESS,
        config.sequencer_grace_period,
        sender=deployer,
    )
    margin_account = project.MarginAccount.deploy(deployer, oracle, sender=deployer)
    log(f"ChainlinkOracle {oracle.address}, MarginAccount {margin_account.address}")

    deployment = Deployment(
        config=config,
        oracle=oracle,
        margin_account=margin_account,
        liquidator=None,
        deploy_block=start_block,
    )
    for spec in config.assets:
        token = tokens[spec.symbol]
        decimals = int(token.decimals())
        vault = project.Vault.deploy(
            token,
            f"Solvent {spec.symbol} Vault",
            f"sv{spec.symbol}",
            margin_account,
            deployer,
            spec.rate_model.as_tuple(),
            spec.reserve_factor,
            sender=deployer,
        )
        _set_feeds(oracle, token, spec, feeds[spec.symbol], secondaries.get(spec.symbol), deployer)
        margin_account.listAsset(
            token,
            vault,
            spec.imf,
            spec.mmf,
            spec.collateral_cap(decimals),
            spec.debt_cap(decimals),
            spec.min_discount,
            spec.max_discount,
            spec.min_debt_value,
            sender=deployer,
        )
        deployment.assets[spec.symbol] = DeployedAsset(
            spec=spec,
            token=token,
            vault=vault,
            feed=feeds[spec.symbol],
            decimals=decimals,
            secondary_feed=secondaries.get(spec.symbol),
        )
        log(f"{spec.symbol}: vault {vault.address} listed")

    liquidator = project.Liquidator.deploy(
        margin_account, deployer, config.insurance_share, config.target_health, sender=deployer
    )
    margin_account.setLiquidator(liquidator, sender=deployer)
    deployment.liquidator = liquidator
    log(f"Liquidator {liquidator.address} wired")
    if dynamic and config.dynamic_margin is not None:
        enable_dynamic_margin(deployment, config.dynamic_margin, deployer, log)
    if config.governance is not None:
        from solvent.governance import hand_over  # governance imports this module

        hand_over(deployment, config.governance, deployer, log)
    return deployment


def _set_feeds(
    oracle: Any, token: Any, spec: AssetSpec, feed: Any, secondary: Any, deployer: Any
) -> None:
    """Primary feed, then the optional secondary, jump guard and band of one asset."""
    oracle.setFeed(token, feed, spec.max_age, sender=deployer)
    if secondary is not None:
        oracle.setSecondaryFeed(
            token, secondary, spec.secondary_max_age, spec.max_deviation, sender=deployer
        )
    if spec.max_jump:
        oracle.setJumpGuard(token, spec.max_jump, sender=deployer)
    if spec.band_max:
        oracle.setBand(token, spec.band_min, spec.band_max, sender=deployer)


def enable_dynamic_margin(
    deployment: Deployment, dm: DynamicMargin, deployer: Any, log: Log = _quiet
) -> Any:
    """Deploy the VolatilityOracle, set the model and each configured asset's size threshold,
    ramp and stale floor, and start tracking its volatility. Returns the VolatilityOracle."""
    ma = deployment.margin_account
    vol = project.VolatilityOracle.deploy(ma, deployer, dm.tau, sender=deployer)
    ma.setVolatilityOracle(vol, sender=deployer)
    ma.setMarginModel(dm.mmf_cap, dm.imf_cap, dm.k, dm.horizon, dm.max_sigma_age, sender=deployer)
    for symbol, a in dm.assets.items():
        token = deployment.asset(symbol).token
        ma.setDynamicParams(token, a.size_threshold, a.ramp_period, a.stale_floor, sender=deployer)
        if a.stale_floor != 0:
            vol.track(token, a.sigma, sender=deployer)
    deployment.volatility_oracle = vol
    log(f"VolatilityOracle {vol.address}: dynamic margin on for {', '.join(dm.assets)}")
    return vol


class DeploymentFileError(ValueError):
    """The deployment file is missing, malformed or for another chain."""


def load_deployment(path: Path | str) -> Deployment:
    """Rebuild contract handles from a deployment file written by `ape run deploy`.

    The connected chain must be the one the file was written for.
    """
    path = Path(path)
    if not path.is_file():
        raise DeploymentFileError(f"deployment file {path} not found: run `ape run deploy` first")
    try:
        data = json.loads(path.read_text())
        contracts = data["contracts"]
        raw_assets = data["assets"]
    except (json.JSONDecodeError, KeyError) as err:
        raise DeploymentFileError(f"{path} is not a Solvent deployment file ({err})") from err
    if int(data["chain_id"]) != chain.chain_id:
        raise DeploymentFileError(
            f"{path} is for chain {data['chain_id']}, but the connected chain is {chain.chain_id}"
        )
    try:
        specs = []
        for raw in raw_assets.values():
            spec = dict(raw["spec"])
            spec["rate_model"] = RateModel(**spec["rate_model"])
            specs.append(AssetSpec(**spec))
        liquidation = data["liquidation"]
        dm = data.get("dynamic_margin")
        dynamic_margin = (
            DynamicMargin(
                **{k: int(v) for k, v in dm.items() if k != "assets"},
                assets={sym: DynamicAsset(**a) for sym, a in dm["assets"].items()},
            )
            if dm
            else None
        )
        gov = data.get("governance")
        governance = (
            Governance(
                timelock_delay=int(gov["timelock_delay"]),
                proposers=tuple(gov["proposers"]),
                executors=tuple(gov["executors"]),
                guardian=gov["guardian"],
            )
            if gov
            else None
        )
        config = SolventConfig(
            network=str(data["network"]),
            mocks=bool(data.get("mocks", False)),
            feed_decimals=int(data.get("feed_decimals", 8)),
            insurance_share=int(liquidation["insurance_share_wad"]),
            target_health=int(liquidation["target_health_wad"]),
            assets=tuple(specs),
            dynamic_margin=dynamic_margin,
            governance=governance,
        )
    except (KeyError, TypeError, ValueError) as err:
        raise DeploymentFileError(
            f"{path} was written by another version of Solvent (missing or unexpected field "
            f"{err}); redeploy with `ape run deploy` to write a current deployment file"
        ) from err
    deployment = Deployment(
        config=config,
        oracle=project.ChainlinkOracle.at(contracts["ChainlinkOracle"]),
        margin_account=project.MarginAccount.at(contracts["MarginAccount"]),
        liquidator=project.Liquidator.at(contracts["Liquidator"]),
        volatility_oracle=(
            project.VolatilityOracle.at(contracts["VolatilityOracle"])
            if "VolatilityOracle" in contracts
            else None
        ),
        timelock=(
            project.SolventTimelock.at(contracts["Timelock"]) if "Timelock" in contracts else None
        ),
        roles=(data.get("governance") or {}).get("roles", {}),
        deploy_block=int(data.get("deploy_block", 0)),
    )
    for spec, (symbol, raw) in zip(specs, raw_assets.items(), strict=True):
        deployment.assets[symbol] = DeployedAsset(
            spec=spec,
            token=project.MockERC20.at(raw["token"]),
            vault=project.Vault.at(raw["vault"]),
            feed=project.MockAggregator.at(raw["feed"]),
            decimals=int(raw["decimals"]),
            secondary_feed=(
                project.MockAggregator.at(raw["secondary_feed"])
                if "secondary_feed" in raw
                else None
            ),
        )
    return deployment
