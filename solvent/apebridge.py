"""From ape's handles to the SDK: scripts and tests that run under ape (deploy, demo, `ape test`)
drive the protocol through the same typed client and keeper as the `solvent` CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ape import chain
from eth_account import Account
from eth_account.signers.local import LocalAccount

from solvent.deploy import Deployment
from solvent.keeper.engine import Keeper, mint_funder
from solvent.sdk import Solvent
from solvent.sdk.deployment import AssetInfo, DeploymentInfo


def sdk_info(deployment: Deployment) -> DeploymentInfo:
    """The SDK's view of an ape deployment."""
    contracts = {
        "MarginAccount": deployment.margin_account.address,
        "Liquidator": deployment.liquidator.address,
        "ChainlinkOracle": deployment.oracle.address,
    }
    if deployment.volatility_oracle is not None:
        contracts["VolatilityOracle"] = deployment.volatility_oracle.address
    if deployment.timelock is not None:
        contracts["Timelock"] = deployment.timelock.address
    assets = {
        a.symbol: AssetInfo(
            symbol=a.symbol,
            token=a.token.address,
            vault=a.vault.address,
            feed=a.feed.address,
            decimals=a.decimals,
            secondary_feed=a.secondary_feed.address if a.secondary_feed is not None else None,
        )
        for a in deployment.assets.values()
    }
    return DeploymentInfo(
        path=Path("<ape deployment>"),
        chain_id=int(chain.chain_id),
        network=deployment.config.network,
        mocks=deployment.config.mocks,
        deploy_block=deployment.deploy_block,
        contracts=contracts,
        assets=assets,
    )


def sdk_client(deployment: Deployment) -> Solvent:
    """A Solvent client on ape's connected node."""
    return Solvent(chain.provider.web3, sdk_info(deployment))


def local_signer(account: Any) -> LocalAccount:
    """The local key of an ape test account (they carry their private key)."""
    return Account.from_key(account.private_key)


def ape_keeper(
    deployment: Deployment, account: Any, *, mint: bool = False, **kwargs: Any
) -> Keeper:
    """A Keeper on ape's node signing as `account`; `mint` funds it by minting mock tokens."""
    client = sdk_client(deployment)
    signer = local_signer(account)
    fund = mint_funder(client, signer) if mint else None
    return Keeper(client, signer, fund=fund, **kwargs)
