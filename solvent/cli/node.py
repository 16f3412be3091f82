"""`solvent node`: a persistent local Anvil with the project's settings, without step tracing."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import click

from solvent.cli.env import find_tool
from solvent.sdk.signer import TEST_MNEMONIC

HARDFORK = "cancun"  # = ape-config.yaml solidity.evm_version
ACCOUNTS = 12  # = ape-config.yaml test.number_of_accounts
STATE_DIR = Path(".solvent")


def anvil_command(
    port: int, chain_id: int, block_time: int, gas_limit: int, host: str
) -> list[str]:
    cmd = [
        find_tool("anvil"),
        "--host", host,
        "--port", str(port),
        "--chain-id", str(chain_id),
        "--hardfork", HARDFORK,
        "--mnemonic", TEST_MNEMONIC,
        "--accounts", str(ACCOUNTS),
        "--gas-limit", str(gas_limit),
        "--balance", "1000000",
    ]  # fmt: skip
    if block_time > 0:
        cmd += ["--block-time", str(block_time)]
    return cmd


def wait_for_port(host: str, port: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.3)
            if s.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.1)
    return False


def _state_file(state_dir: Path, port: int) -> Path:
    return state_dir / f"node-{port}.json"


@click.command()
@click.option("--port", type=int, default=8545, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--chain-id", type=int, default=31337, show_default=True, help="11155111 plays Sepolia."
)
@click.option("--block-time", type=int, default=0, help="Seconds per block (0: mine on each tx).")
@click.option("--gas-limit", type=int, default=30_000_000, show_default=True)
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=STATE_DIR,
    show_default=True,
)
@click.option("--stop", is_flag=True, help="Stop the node started on --port.")
def node(
    port: int,
    host: str,
    chain_id: int,
    block_time: int,
    gas_limit: int,
    state_dir: Path,
    stop: bool,
) -> None:
    """Start a local Anvil chain in the background and print its URL (stop it with --stop)."""
    state = _state_file(state_dir, port)
    if stop:
        if not state.is_file():
            raise click.ClickException(f"no node recorded on port {port} ({state} not found)")
        pid = int(json.loads(state.read_text())["pid"])
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        state.unlink()
        click.echo(f"stopped the node on port {port} (pid {pid})")
        return
    if wait_for_port(host, port, timeout=0.2):
        raise click.ClickException(
            f"port {port} is in use: is a node already running? (solvent node --stop --port {port})"
        )
    state_dir.mkdir(parents=True, exist_ok=True)
    log = state_dir / f"node-{port}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            anvil_command(port, chain_id, block_time, gas_limit, host),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives this command; stopped by process group
        )
    if not wait_for_port(host, port):
        proc.kill()
        raise click.ClickException(f"anvil did not start on port {port}; see {log}")
    url = f"http://{host}:{port}"
    state.write_text(json.dumps({"pid": proc.pid, "url": url, "chain_id": chain_id}) + "\n")
    click.echo(url)
