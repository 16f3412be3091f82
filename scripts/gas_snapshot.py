"""`ape run gas_snapshot` (make gas): run the fixed gas scenario and write gas-snapshot.json.

With --check, compare instead and exit 1 when any operation costs more than its snapshot.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from ape import accounts, networks

from solvent.config import DEFAULT_CONFIG, load_config
from solvent.gas import SNAPSHOT_PATH, compare, load_snapshot, run_gas_scenario, write_snapshot


@click.command()
@click.option("--check", is_flag=True, help="Compare with the snapshot instead of rewriting it.")
@click.option(
    "--snapshot", type=click.Path(path_type=Path), default=SNAPSHOT_PATH, show_default=True
)
def cli(check: bool, snapshot: Path) -> None:
    """Measure gas per operation in the documented scenario (see solvent/gas.py)."""
    config = load_config(DEFAULT_CONFIG)
    with networks.ethereum.local.use_provider("foundry"):
        measured = run_gas_scenario(
            config, accounts.test_accounts, progress=lambda s: click.echo(f"  {s}")
        )
    for op, used in sorted(measured.items()):
        click.echo(f"{op:24s} {used:>10,d}")
    if check:
        if not snapshot.is_file():
            raise click.ClickException(f"{snapshot} not found: run `make gas` to create it")
        problems = compare(measured, load_snapshot(snapshot))
        if problems:
            click.echo("gas regression:\n  " + "\n  ".join(problems), err=True)
            sys.exit(1)
        click.echo("gas: every operation within its snapshot")
        return
    write_snapshot(measured, snapshot)
    click.echo(f"wrote {snapshot}")
