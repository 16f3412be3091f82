"""The crash demo (`make demo`): deploy Solvent on a fresh local Anvil chain, open leveraged
positions, crash ETH 40% through the mock feed, run one keeper pass and print the report.

    ape run demo
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from ape import accounts, chain
from ape.cli import ConnectedProviderCommand, network_option, verbosity_option
from rich.console import Console

from solvent.config import DEFAULT_CONFIG, ConfigError, load_config
from solvent.demo import CRASH_BPS, Cast, ScenarioError, render_report, run_scenario
from solvent.deploy import deploy_system


@click.command(cls=ConnectedProviderCommand, short_help="Run the Solvent crash demo")
@network_option()
@verbosity_option(default="WARNING")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_CONFIG,
    show_default=True,
    help="Deployment configuration with mocks: true.",
)
@click.option(
    "--crash-bps",
    type=click.IntRange(1, 9_999),
    default=CRASH_BPS,
    show_default=True,
    help="How far ETH falls, in basis points.",
)
def cli(network: Any, provider: Any, config_path: Path, crash_bps: int) -> None:
    """Deploy, open positions, crash ETH, liquidate, and print what happened."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=120)  # piped or logged: keep the tables on one line each
    if not network.is_local:
        raise click.UsageError(
            f"the demo mints mock tokens and moves mock feeds; run it on the local network, "
            f"not '{network.name}' (drop --network)"
        )
    try:
        config = load_config(config_path)
    except (ConfigError, ValueError) as err:
        raise click.UsageError(str(err)) from err
    if not config.mocks:
        raise click.UsageError(f"{config_path} has mocks: false; the demo needs mock tokens/feeds")

    started = time.monotonic()
    # Every block one second after the previous one: interest, and so every number, is the same
    # on every run.
    provider.make_request("anvil_setBlockTimestampInterval", [1])

    def step(message: str) -> None:
        console.print(f"[dim]{time.monotonic() - started:5.1f}s[/] {message}")

    cast = Cast.from_accounts(accounts.test_accounts)
    step(f"deploying Solvent on local chain {chain.chain_id} ({config_path})")
    deployment = deploy_system(config, cast.deployer, log=lambda line: step(f"  {line}"))
    try:
        result = run_scenario(deployment, cast, crash_bps=crash_bps, log=step)
    except ScenarioError as err:
        raise click.ClickException(str(err)) from err
    step("done")
    console.print()
    console.print(render_report(result))
