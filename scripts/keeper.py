"""Run the keeper under ape, on the network ape connects to (the same keeper as `solvent keeper`).

    ape run keeper                                        # one pass, local chain
    ape run keeper --interval 1                           # as a service (SQLite state, retries)
    ape run keeper --network ethereum:sepolia:node --account keeper --interval 12

`--account` names the signing key as the SDK does: dev:N, env:VAR, or an ape alias whose
passphrase is in $SOLVENT_PASSPHRASE (no prompt, ever).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from ape import chain
from ape.cli import ConnectedProviderCommand, network_option

from solvent.keeper import KeeperReport, logs
from solvent.keeper.engine import Keeper, mint_funder
from solvent.keeper.service import KeeperService, KeeperSettings
from solvent.keeper.store import Store
from solvent.sdk import Solvent
from solvent.sdk.errors import SolventError
from solvent.sdk.signer import load_signer
from solvent.units import from_wad


def summary(report: KeeperReport) -> str:
    """One line per pass: what was scanned, liquidated, written off, earned and spent on gas."""
    bad = sum(b.amount for b in report.bad_debts)
    txs = sum(1 for tx in report.transactions if tx.kind in ("liquidate", "liquidateBatch"))
    return (
        f"scanned {len(report.scanned)}, liquidatable {len(report.liquidatable)}, "
        f"liquidations {len(report.liquidations)} in {txs} tx, "
        f"bad-debt write-offs {len(report.bad_debts)} ({bad} units), "
        f"still liquidatable {len(report.remaining)}, skipped {len(report.skipped)}, "
        f"profit ${from_wad(report.profit_value):,.2f} before gas, "
        f"gas {report.gas_used:,} ({report.total_gas_used:,} with approvals, "
        f"{from_wad(report.gas_cost_wei):.6f} native)"
    )


@click.command(cls=ConnectedProviderCommand, short_help="Liquidate accounts below maintenance")
@network_option()
@click.option(
    "--deployment",
    "deployment_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="[default: deployments/<network-name>.json]",
)
@click.option(
    "--account", default=None, help="dev:N, env:VAR or an ape alias  [local default: dev:9]"
)
@click.option("--interval", type=float, default=0.0, help="Seconds between steps (0: one pass).")
@click.option("--db", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.option(
    "--mint-mocks", is_flag=True, help="Local mock deployments only: mint the debt tokens needed."
)
def cli(
    network: Any,
    deployment_path: Path | None,
    account: str | None,
    interval: float,
    db: Path | None,
    mint_mocks: bool,
) -> None:
    """Find and liquidate accounts whose equity is below their maintenance margin."""
    path = deployment_path or Path("deployments") / f"{network.name}.json"
    try:
        client = Solvent.from_deployment(path, web3=chain.provider.web3)
        if account is None and not network.is_dev:
            raise click.UsageError(f"--account is required on the live network '{network.name}'")
        signer = load_signer(account or "dev:9")
    except SolventError as err:
        raise click.UsageError(str(err)) from None
    if mint_mocks and not client.info.mocks:
        raise click.UsageError("--mint-mocks needs a deployment with mock tokens (mocks: true)")
    fund = mint_funder(client, signer) if mint_mocks else None
    if interval <= 0:
        report = Keeper(client, signer, fund=fund, log=click.echo).run_pass()
        click.echo(summary(report))
        for skip in report.skipped:
            click.echo(f"  skipped {skip.account}: {skip.reason}", err=True)
        return
    store = Store(
        db or path.with_suffix(".keeper.sqlite"),
        chain_id=client.info.chain_id,
        margin_account=client.info.margin_account,
    )
    service = KeeperService(
        client,
        signer,
        store,
        KeeperSettings(poll_interval=interval),
        logger=logs.setup(),
        fund=fund,
    )
    service.run_forever()
