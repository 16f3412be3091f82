"""`solvent status`: accounts and their health, vaults and insurance funds of a deployment."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from solvent.cli.common import deployment_option, one_line_errors, open_client, rpc_option
from solvent.keeper.discovery import discover_accounts
from solvent.keeper.engine import LENS_CHUNK
from solvent.risk import WAD
from solvent.units import from_units


@click.command()
@rpc_option
@deployment_option
@click.option(
    "--limit", type=int, default=20, show_default=True, help="Accounts shown (lowest health first)."
)
@one_line_errors
def status(rpc: str, deployment_path: Path, limit: int) -> None:
    """Vaults, insurance funds and the accounts closest to liquidation."""
    client = open_client(deployment_path, rpc)
    console = Console()
    vaults = Table(
        title=f"Vaults (chain {client.info.chain_id}, block {client.web3.eth.block_number})"
    )
    for col in (
        "asset",
        "price USD",
        "total assets",
        "cash",
        "borrows",
        "utilization",
        "insurance fund",
        "share price",
    ):
        vaults.add_column(col, justify="right")
    for symbol, asset in client.info.assets.items():
        v = client.vault_state(symbol)
        try:
            price = f"{client.price(symbol) / WAD:,.4f}"
        except Exception:
            price = "unavailable"
        share = v.total_assets / v.total_supply if v.total_supply else 1.0
        vaults.add_row(
            symbol,
            price,
            f"{from_units(v.total_assets, asset.decimals):,.4f}",
            f"{from_units(v.cash, asset.decimals):,.4f}",
            f"{from_units(v.borrows, asset.decimals):,.4f}",
            f"{v.utilization / WAD:.2%}",
            f"{from_units(v.insurance, asset.decimals):,.4f}",
            f"{share:.6f}",
        )
    console.print(vaults)
    refs = discover_accounts(client, client.info.deploy_block)
    lenses = []
    for i in range(0, len(refs), LENS_CHUNK):
        chunk = refs[i : i + LENS_CHUNK]
        lenses += list(zip(chunk, client.lens([(r.owner, r.sub_id) for r in chunk]), strict=True))
    indebted = [(r, lens) for r, lens in lenses if lens.mmr > 0]
    indebted.sort(key=lambda x: x[1].health)
    table = Table(
        title=f"Accounts: {len(refs)} found, {len(indebted)} with debt, "
        f"{sum(1 for _, x in indebted if x.liquidatable)} below maintenance"
    )
    for col in ("account", "equity USD", "maintenance USD", "health", "liquidatable"):
        table.add_column(col, justify="right")
    for ref, lens in indebted[:limit]:
        table.add_row(
            str(ref),
            f"{lens.equity / WAD:,.2f}",
            f"{lens.mmr / WAD:,.2f}",
            f"{lens.health / WAD:.4f}",
            "yes" if lens.liquidatable else "",
        )
    console.print(table)
