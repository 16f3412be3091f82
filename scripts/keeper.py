"""Run keeper passes against a deployed Solvent system.

    ape run keeper                                              # local chain, deployments/local.json
    ape run keeper --network ethereum:sepolia:node --account keeper --interval 30

Each pass finds accounts from MarginAccount events, reads `Liquidator.lens` to see which are below
maintenance and how far each can be liquidated, picks the most profitable (debt, collateral) pair
per account and liquidates (one `liquidateBatch` for accounts sharing a pair; solvent.keeper). The
keeper account must hold the debt tokens it repays; it approves the MarginAccount for what the lens
says will be pulled (plus 0.1% for interest) and revokes what is left at the end of the pass.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from ape import accounts
from ape.cli import ConnectedProviderCommand, account_option, network_option
from ape.exceptions import ApeException

from solvent.deploy import DeploymentFileError, load_deployment
from solvent.keeper import Keeper, KeeperReport, mint_funder
from solvent.units import from_wad


def summary(report: KeeperReport) -> str:
    """One line per pass: what was scanned, liquidated, written off, earned and spent on gas."""
    bad = sum(b.amount for b in report.bad_debts)
    return (
        f"scanned {len(report.scanned)}, liquidatable {len(report.liquidatable)}, "
        f"liquidations {len(report.liquidations)} in {report_liquidation_txs(report)} tx, "
        f"bad-debt write-offs {len(report.bad_debts)} ({bad} units), "
        f"still liquidatable {len(report.remaining)}, skipped {len(report.skipped)}, "
        f"profit ${from_wad(report.profit_value):,.2f} before gas, "
        f"gas {report.gas_used:,} ({report.total_gas_used:,} with approvals, "
        f"{from_wad(report.gas_cost_wei):.6f} native)"
    )


def report_liquidation_txs(report: KeeperReport) -> int:
    return sum(1 for tx in report.transactions if tx.kind in ("liquidate", "liquidateBatch"))


@click.command(cls=ConnectedProviderCommand, short_help="Liquidate accounts below maintenance")
@network_option()
@account_option(prompt=False)
@click.option(
    "--deployment",
    "deployment_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Deployment file  [default: deployments/<network-name>.json]",
)
@click.option("--interval", type=float, default=0.0, help="Seconds between passes (0: one pass).")
@click.option("--passes", type=int, default=0, help="Stop after this many passes (0: no limit).")
@click.option("--start-block", type=int, default=0, help="First block to read account events from.")
@click.option(
    "--mint-mocks",
    is_flag=True,
    help="Local mock deployments only: mint the debt tokens the keeper needs.",
)
def cli(
    network: Any,
    account: Any,
    deployment_path: Path | None,
    interval: float,
    passes: int,
    start_block: int,
    mint_mocks: bool,
) -> None:
    """Find and liquidate accounts whose equity is below their maintenance margin."""
    path = deployment_path or Path("deployments") / f"{network.name}.json"
    try:
        deployment = load_deployment(path)
    except DeploymentFileError as err:
        raise click.UsageError(str(err)) from err
    if account is None:
        if not network.is_dev:
            raise click.UsageError(
                f"--account ALIAS is required on the live network '{network.name}'"
            )
        account = accounts.test_accounts[0]
    if mint_mocks and not deployment.config.mocks:
        raise click.UsageError("--mint-mocks needs a deployment with mock tokens (mocks: true)")
    keeper = Keeper(
        deployment, account, fund=mint_funder(account) if mint_mocks else None, log=click.echo
    )
    done = 0
    while True:
        done += 1
        try:
            report = keeper.run_pass(start_block=start_block)
        except ApeException as err:
            # A node failure outside any one liquidation: one pass stops, a loop keeps polling.
            if interval <= 0:
                raise click.ClickException(f"pass {done} failed: {err}") from err
            click.echo(f"pass {done} failed: {err}", err=True)
        else:
            click.echo(f"pass {done}: {summary(report)}")
            for skip in report.skipped:
                click.echo(f"  skipped {skip.account}: {skip.reason}", err=True)
        if interval <= 0 or (passes and done >= passes):
            return
        time.sleep(interval)
