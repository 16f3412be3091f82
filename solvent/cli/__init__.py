"""The `solvent` command: node, deploy, keeper, status.

solvent node                       # a local Anvil on :8545 (no step tracing), in the background
solvent deploy                     # deploy to it, write deployments/local.json
solvent keeper                     # liquidate, unattended, until stopped
solvent status                     # vaults, insurance funds, accounts by health
"""

from __future__ import annotations

import click

from solvent import __version__
from solvent.cli.deploy import deploy
from solvent.cli.keeper import keeper
from solvent.cli.node import node
from solvent.cli.status import status


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="solvent")
def main() -> None:
    """Solvent: on-chain margin with initial and maintenance requirements."""


main.add_command(node)
main.add_command(deploy)
main.add_command(keeper)
main.add_command(status)
