"""`solvent deploy`: validate the config, then deploy through ape on the node at --rpc."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import click

from solvent.cli.common import DEFAULT_RPC
from solvent.cli.env import project_root, resolve, tool_env
from solvent.config import ConfigError, load_config
from solvent.sdk.signer import PASSPHRASE_ENV

#: Chain ids and the ape network whose settings (confirmations, config file) apply.
NETWORKS = {31337: "local", 11155111: "sepolia"}


def chain_id_of(rpc: str) -> int:
    from solvent.sdk import connect

    try:
        return int(connect(rpc).eth.chain_id)
    except Exception as err:
        raise click.ClickException(
            f"cannot reach the node at {rpc}: {type(err).__name__}"
        ) from None


@click.command()
@click.option("--rpc", envvar="SOLVENT_RPC_URL", default=DEFAULT_RPC, show_default=True)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="[default: config/<network>.yaml of the project]",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="[default: deployments/<network>.json]",
)
@click.option(
    "--account",
    default=None,
    help="ape account alias (live networks); local: the first test account.",
)
@click.option(
    "--autosign", is_flag=True, help=f"Sign without prompting, passphrase from ${PASSPHRASE_ENV}."
)
@click.option(
    "--dry-run", is_flag=True, help="Validate the config and print the plan; send nothing."
)
@click.option(
    "--force", is_flag=True, help="Overwrite an existing deployment file of a live network."
)
def deploy(
    rpc: str,
    config_path: Path | None,
    out: Path | None,
    account: str | None,
    autosign: bool,
    dry_run: bool,
    force: bool,
) -> None:
    """Deploy oracle, MarginAccount, vaults, Liquidator and governance; write the deployment file."""
    cwd = Path.cwd()
    root = project_root()
    chain_id = None if dry_run and config_path is not None else chain_id_of(rpc)
    network = NETWORKS.get(chain_id or 0, "sepolia" if chain_id else "local")
    config = resolve(config_path, cwd) or root / "config" / f"{network}.yaml"
    try:
        loaded = load_config(config)
    except (ConfigError, ValueError, ArithmeticError, OSError) as err:
        raise click.ClickException(f"{config}: {err}") from None
    if dry_run:
        from solvent.plan import deployment_plan

        click.echo(f"Plan for {config} (nothing is sent):")
        for line in deployment_plan(loaded):
            click.echo(f"  {line}")
        return
    out = resolve(out, cwd) or cwd / "deployments" / f"{network}.json"
    env = tool_env(root)
    if network == "local":
        # ape-foundry connects to the node already running at APE_FOUNDRY_HOST instead of
        # starting its own (which would trace every step).
        env["APE_FOUNDRY_HOST"] = rpc
        choice = "ethereum:local:foundry"
    else:
        choice = f"ethereum:{network}:{rpc}"
    cmd = [str(root / ".venv" / "bin" / "ape"), "run", "deploy", "--network", choice,
           "--config", str(config), "--out", str(out)]  # fmt: skip
    if account:
        cmd += ["--account", account]
    if autosign:
        if PASSPHRASE_ENV not in os.environ:
            raise click.UsageError(
                f"--autosign reads the passphrase from ${PASSPHRASE_ENV}; set it"
            )
        cmd.append("--autosign")
    if force:
        cmd.append("--force")
    result = subprocess.run(cmd, cwd=root, env=env, stdin=subprocess.DEVNULL, check=False)
    if result.returncode != 0:
        raise click.ClickException(f"deploy failed (ape exited {result.returncode})")
