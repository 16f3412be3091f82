"""Deploy the Solvent system and record it in a deployment file.

    ape run deploy                                   # local Anvil chain, config/local.yaml, mocks
    ape run deploy --network ethereum:sepolia:node --config config/sepolia.yaml --account <alias>

On a local chain the deployer defaults to ape's first test account. On a live network an
``--account`` alias is required and configurations with ``mocks: true`` are refused.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

import click
import yaml
from ape import accounts, chain
from ape.cli import ConnectedProviderCommand, account_option, network_option

from solvent.config import DEFAULT_CONFIG, ConfigError, SolventConfig, load_config
from solvent.deploy import Deployment, deploy_system
from solvent.governance import GovernanceError, check_governance
from solvent.sdk.signer import PASSPHRASE_ENV

DEPLOYMENTS_DIR = Path("deployments")


class LoadedConfig(NamedTuple):
    path: Path
    config: SolventConfig


def default_out(network: Any) -> Path:
    """deployments/<network-name>.json"""
    return DEPLOYMENTS_DIR / f"{network.name}.json"


def check_network(network: Any, config: SolventConfig, config_path: Path) -> None:
    """Refuse a configuration that does not belong on `network` (raises click.UsageError)."""
    if config.mocks and not network.is_dev:
        raise click.UsageError(
            f"{config_path} deploys mock tokens and mock price feeds (mocks: true); refusing to "
            f"deploy them on the live network '{network.name}'. Use a configuration with real "
            "token and feed addresses, for example config/sepolia.yaml."
        )
    if config.network == "local":
        if not network.is_dev:
            raise click.UsageError(
                f"{config_path} is for a local chain, not '{network.name}'. Pass a configuration "
                "written for this network (for example config/sepolia.yaml)."
            )
        return
    if not config.mocks and network.is_local:
        raise click.UsageError(
            f"{config_path} points at existing tokens and feeds on '{config.network}', which do "
            "not exist on a fresh local chain. Use config/local.yaml, or fork the network "
            f"(--network ethereum:{config.network}-fork)."
        )
    if network.name.removesuffix("-fork") != config.network:
        raise click.UsageError(
            f"{config_path} is for network '{config.network}' but you are connected to "
            f"'{network.name}'. Pass --network ethereum:{config.network}:<provider> or a "
            "configuration written for this network."
        )


def resolve_deployer(network: Any, account: Any | None) -> Any:
    """The --account given, else ape's first test account on a local or forked chain."""
    if account is not None:
        return account
    if network.is_dev:
        return accounts.test_accounts[0]
    raise click.UsageError(
        f"--account ALIAS is required on the live network '{network.name}' "
        "(list your accounts with `ape accounts list`)."
    )


def check_existing_contracts(config: SolventConfig) -> None:
    """On non-mock deployments every configured token and feed must have code on this chain."""
    if config.mocks:
        return
    for spec in config.assets:
        for kind, address in (("token", spec.token), ("feed", spec.feed)):
            if not address or not chain.provider.get_code(address):
                raise click.UsageError(
                    f"{spec.symbol} {kind} {address} has no code on chain {chain.chain_id}; "
                    "check the address in the configuration and the network you selected."
                )


def check_governance_config(network: Any, config: SolventConfig, deployer: str) -> None:
    """A live deployment must hand its roles over; a governance section must be complete."""
    if config.governance is None:
        if not network.is_dev:
            raise click.UsageError(
                "the configuration has no governance section: a live deployment must hand every "
                "admin role to a timelock and a guardian (see config/sepolia.yaml)"
            )
        return
    try:
        check_governance(config.governance, deployer, live=not network.is_dev)
    except GovernanceError as err:
        raise click.UsageError(str(err)) from err


def _load_config(ctx: click.Context, param: click.Parameter, value: Path) -> LoadedConfig:
    """Read the configuration while parsing options, before any chain is started."""
    try:
        return LoadedConfig(value, load_config(value))
    except (ConfigError, ValueError, OSError, yaml.YAMLError) as err:
        raise click.BadParameter(str(err), ctx=ctx, param=param) from err


def deploy_to_file(
    config: SolventConfig, deployer: Any, out: Path, log: Any = click.echo
) -> tuple[Deployment, Path]:
    """Deploy every contract with `deployer` and write the deployment file to `out`."""
    log(f"Deploying Solvent ({len(config.assets)} assets) from {deployer.address}")
    deployment = deploy_system(config, deployer, log=lambda line: log(f"  {line}"))
    path = deployment.write(out)
    log(f"Deployment written to {path} (chain id {chain.chain_id})")
    return deployment, path


@click.command(cls=ConnectedProviderCommand, short_help="Deploy the Solvent system")
@network_option()
@account_option(prompt=False)
@click.option(
    "--config",
    "loaded",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_CONFIG,
    callback=_load_config,
    show_default=True,
    help="Deployment configuration (assets, risk parameters, feeds).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Deployment file to write  [default: deployments/<network-name>.json]",
)
@click.option(
    "--force", is_flag=True, help="Overwrite an existing deployment file of a live network."
)
@click.option(
    "--autosign",
    is_flag=True,
    help=f"Sign every transaction without a prompt; the account's passphrase is read from "
    f"${PASSPHRASE_ENV} (for unattended runs).",
)
@click.option(
    "--dry-run", is_flag=True, help="Validate the config and print the plan; send nothing."
)
def cli(
    network: Any,
    account: Any,
    loaded: LoadedConfig,
    out: Path | None,
    force: bool,
    autosign: bool,
    dry_run: bool,
) -> None:
    """Deploy oracle, MarginAccount, vaults and Liquidator, and record them in a JSON file."""
    config = loaded.config
    if dry_run:
        from solvent.plan import deployment_plan

        click.echo(f"Plan for {loaded.path} on {network.name} (nothing is sent):")
        for line in deployment_plan(config):
            click.echo(f"  {line}")
        return
    if autosign and account is not None and hasattr(account, "set_autosign"):
        passphrase = os.environ.get(PASSPHRASE_ENV)
        if passphrase is None:
            raise click.UsageError(
                f"--autosign reads the passphrase from ${PASSPHRASE_ENV}; set it"
            )
        account.set_autosign(True, passphrase=passphrase)
    check_network(network, config, loaded.path)
    deployer = resolve_deployer(network, account)
    out = out or default_out(network)
    if out.exists() and not network.is_dev and not force:
        raise click.UsageError(f"{out} already exists; pass --force to overwrite it or --out PATH.")
    check_governance_config(network, config, deployer.address)
    check_existing_contracts(config)
    deploy_to_file(config, deployer, out)
