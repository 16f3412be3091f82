"""The `solvent` command: node, deploy, keeper, status.

solvent node                       # a local Anvil on :8545 (no step tracing), in the background
solvent deploy                     # deploy to it, write deployments/local.json
solvent keeper                     # liquidate, unattended, until stopped
solvent status                     # vaults, insurance funds, accounts by health
solvent simulate                   # replay a real crash on a local chain, write a report
solvent sweep                      # the same over a grid of risk settings, in parallel
"""

from __future__ import annotations

import click

from solvent import __version__
from solvent.cli.deploy import deploy
from solvent.cli.keeper import keeper
from solvent.cli.node import node
from solvent.cli.simulate import simulate
from solvent.cli.status import status
from solvent.cli.sweep import sweep


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="solvent")
def main() -> None:
    """Solvent: on-chain margin with initial and maintenance requirements."""


main.add_command(node)
main.add_command(deploy)
main.add_command(keeper)
main.add_command(status)
main.add_command(simulate)
main.add_command(sweep)
