"""`ape run calibrate`: calibrate the volatility floor on the historical windows in data/prices/.

    ape run calibrate [FILES...] [--data-dir DIR] [--tau 86400] [--horizon 86400] [--out -]

A thin wrapper: every argument goes to solvent.calibrate.main (`ape run calibrate --help` shows its
options). Pure Python, no chain.
"""

from __future__ import annotations

import sys

import click

from solvent.calibrate import main


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def cli(args: tuple[str, ...]) -> None:
    """Propose k, sigma and stale floors from historical crash windows."""
    status = main(args)
    if status:
        sys.exit(status)
