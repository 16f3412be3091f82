"""Queue, list, execute and cancel timelocked changes of a deployment (solvent.governance).

    ape run govern list
    ape run govern queue MarginAccount setMarginFactors WETH 0.15 0.07 --account governor
    ape run govern execute <operation id> --account anyone
    ape run govern cancel <operation id> --account governor

Arguments are given as the function takes them, with two conveniences: an asset symbol of the
deployment (WETH) stands for its token address, and a decimal with a point (0.15) or a percentage
(15%) is converted to WAD exactly. On a local chain the proposer defaults to anvil's account 10
(config/local.yaml) and the executor to the first test account; on a live network --account is
required. Every queued change is listed with its calldata decoded and the time it becomes ready.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from ape import accounts, chain
from ape.cli import ConnectedProviderCommand, account_option, network_option

from solvent import governance as gov
from solvent.deploy import Deployment, DeploymentFileError, load_deployment
from solvent.units import to_wad

LOCAL_PROPOSER = 10  # anvil test account index of config/local.yaml's proposer


def _deployment(network: Any, path: Path | None) -> Deployment:
    path = path or Path("deployments") / f"{network.name}.json"
    try:
        return load_deployment(path)
    except DeploymentFileError as err:
        raise click.UsageError(str(err)) from err


def _signer(network: Any, account: Any, local_index: int) -> Any:
    if account is not None:
        return account
    if network.is_dev:
        return accounts.test_accounts[local_index]
    raise click.UsageError(f"--account ALIAS is required on the live network '{network.name}'")


def parse_arg(deployment: Deployment, text: str) -> Any:
    """A command-line argument: symbol -> token address, 0.15 / 15% -> WAD, digits -> int."""
    if text in deployment.assets:
        return deployment.asset(text).token.address
    if text.endswith("%"):
        return to_wad(str(Decimal(text[:-1]) / 100))
    if "." in text:
        return to_wad(text)
    if text.lstrip("-").isdigit():
        return int(text)
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def _when(timestamp: int) -> str:
    if timestamp == 0:
        return "-"
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _show(op: gov.Operation) -> str:
    return f"{op.id}  {op.state:<9}  ready {_when(op.ready_at)}\n    {op.call}"


deployment_option = click.option(
    "--deployment",
    "deployment_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Deployment file  [default: deployments/<network-name>.json]",
)


@click.group(short_help="Queue, list and execute timelocked changes")
def cli() -> None:
    """Timelocked governance of a Solvent deployment."""


@cli.command("list", cls=ConnectedProviderCommand)
@network_option()
@deployment_option
def list_cmd(network: Any, deployment_path: Path | None) -> None:
    """Every operation scheduled on the timelock, with its state and decoded call."""
    deployment = _deployment(network, deployment_path)
    try:
        ops = gov.operations(deployment)
    except gov.GovernanceError as err:
        raise click.UsageError(str(err)) from err
    now = int(chain.blocks.head.timestamp)
    click.echo(f"timelock {deployment.timelock.address}, chain time {_when(now)}")
    for op in ops:
        click.echo(_show(op))
    if not ops:
        click.echo("no operations")


@cli.command(cls=ConnectedProviderCommand)
@network_option()
@account_option(prompt=False)
@deployment_option
@click.option("--delay", type=int, default=None, help="Seconds (default: the timelock's minimum).")
@click.argument("contract")
@click.argument("function")
@click.argument("args", nargs=-1)
def queue(
    network: Any,
    account: Any,
    deployment_path: Path | None,
    delay: int | None,
    contract: str,
    function: str,
    args: tuple[str, ...],
) -> None:
    """Schedule CONTRACT.FUNCTION(ARGS...) (CONTRACT: MarginAccount, Liquidator, ChainlinkOracle,
    VolatilityOracle, Vault:<SYMBOL>, Timelock)."""
    deployment = _deployment(network, deployment_path)
    proposer = _signer(network, account, LOCAL_PROPOSER)
    try:
        op = gov.schedule(
            deployment,
            contract,
            function,
            [parse_arg(deployment, a) for a in args],
            proposer,
            delay=delay,
        )
    except gov.GovernanceError as err:
        raise click.UsageError(str(err)) from err
    click.echo(f"queued\n{_show(op)}")


def _on_operation(
    network: Any,
    account: Any,
    deployment_path: Path | None,
    operation_id: str,
    *,
    action: Any,
    local_signer: int,
    done: str,
) -> None:
    """Run `action(deployment, operation_id, signer)` and report its transaction."""
    deployment = _deployment(network, deployment_path)
    signer = _signer(network, account, local_signer)
    try:
        tx = action(deployment, operation_id, signer)
    except gov.GovernanceError as err:
        raise click.UsageError(str(err)) from err
    click.echo(f"{done} {operation_id} in tx {tx.txn_hash}")


@cli.command(cls=ConnectedProviderCommand)
@network_option()
@account_option(prompt=False)
@deployment_option
@click.argument("operation_id")
def execute(network: Any, account: Any, deployment_path: Path | None, operation_id: str) -> None:
    """Execute a ready operation (anyone may, unless the config names executors)."""
    _on_operation(
        network,
        account,
        deployment_path,
        operation_id,
        action=gov.execute,
        local_signer=0,
        done="executed",
    )


@cli.command(cls=ConnectedProviderCommand)
@network_option()
@account_option(prompt=False)
@deployment_option
@click.argument("operation_id")
def cancel(network: Any, account: Any, deployment_path: Path | None, operation_id: str) -> None:
    """Cancel a pending operation (a proposer)."""
    _on_operation(
        network,
        account,
        deployment_path,
        operation_id,
        action=gov.cancel,
        local_signer=LOCAL_PROPOSER,
        done="cancelled",
    )
