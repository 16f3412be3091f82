"""`solvent keeper`: the liquidation keeper as an unattended service."""

from __future__ import annotations

import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click
from web3 import Web3

from solvent.cli.common import deployment_option, one_line_errors, open_client, rpc_option
from solvent.keeper import logs
from solvent.keeper.engine import mint_funder
from solvent.keeper.metrics import KeeperMetrics
from solvent.keeper.model import FlashRoute, KeeperError
from solvent.keeper.service import KeeperService, KeeperSettings
from solvent.keeper.store import Store, StoreError
from solvent.sdk.signer import PASSPHRASE_ENV, load_signer
from solvent.units import WAD

GWEI = 10**9


def _wad(value: str, name: str, *, signed: bool = False) -> int:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(
            f"{value!r} is not a number (write a plain decimal such as 0.1)", param_hint=name
        ) from None
    if amount < 0 and not signed:
        raise click.BadParameter("must be >= 0", param_hint=name)
    return int(amount * WAD)


def _min_profit(value: str) -> int | None:
    return None if value == "any" else _wad(value, "--min-profit", signed=True)


def _flash_route(contract: str | None, pool_fee: int | None) -> FlashRoute | None:
    if contract is None:
        if pool_fee is not None:
            raise click.ClickException("--pool-fee only applies with --flash CONTRACT")
        return None
    if not Web3.is_address(contract):
        raise click.ClickException(f"--flash: {contract!r} is not an address")
    try:
        return FlashRoute(Web3.to_checksum_address(contract), 500 if pool_fee is None else pool_fee)
    except ValueError as err:
        raise click.ClickException(f"--pool-fee: {err}") from None


@click.command()
@rpc_option
@deployment_option
@click.option(
    "--account",
    default="dev:9",
    show_default=True,
    help=f"dev:N (local test key), env:VAR (key in $VAR) or an ape account alias (passphrase "
    f"in ${PASSPHRASE_ENV}).",
)
@click.option(
    "--db",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="SQLite state  [default: <deployment>.keeper.sqlite]",
)
@click.option(
    "--min-profit",
    default="0",
    show_default=True,
    help="USD after gas a liquidation must earn (negative: accept a loss; any: no check).",
)
@click.option("--max-gas-price", "max_gwei", default=None, help="Cap on the fee per gas, gwei.")
@click.option(
    "--interval", type=float, default=1.0, show_default=True, help="Seconds between steps."
)
@click.option(
    "--notice-distance",
    default="0.1",
    show_default=True,
    help="Margin call when health < 1 + this.",
)
@click.option("--webhook", default=None, help="URL that receives margin-call notices (JSON POST).")
@click.option(
    "--metrics-port", type=int, default=None, help="Serve Prometheus metrics on this port."
)
@click.option("--json", "json_logs", is_flag=True, help="JSON log lines.")
@click.option("--verbose", is_flag=True, help="Log every decision (debug level).")
@click.option(
    "--dry-run", is_flag=True, help="Scan and say what would be liquidated; send nothing."
)
@click.option(
    "--steps",
    type=int,
    default=None,
    help="Stop after this many steps (default: run until stopped).",
)
@click.option(
    "--mint-mocks", is_flag=True, help="Local mock deployments only: mint the debt tokens needed."
)
@click.option(
    "--flash",
    "flash_contract",
    default=None,
    help="Liquidate with no inventory through this FlashLiquidator (owned by --account).",
)
@click.option(
    "--pool-fee",
    type=int,
    default=None,
    help="With --flash: fee tier of the pools the seized collateral is sold in, pips  [default: 500]",
)
@one_line_errors
def keeper(
    rpc: str,
    deployment_path: Path,
    account: str,
    db: Path | None,
    min_profit: str,
    max_gwei: str | None,
    interval: float,
    notice_distance: str,
    webhook: str | None,
    metrics_port: int | None,
    json_logs: bool,
    verbose: bool,
    dry_run: bool,
    steps: int | None,
    mint_mocks: bool,
    flash_contract: str | None,
    pool_fee: int | None,
) -> None:
    """Liquidate accounts below maintenance, unattended: SQLite state, retries, metrics."""
    import logging

    logger = logs.setup(json_lines=json_logs, level=logging.DEBUG if verbose else logging.INFO)
    client = open_client(deployment_path, rpc)
    signer = load_signer(account)
    if mint_mocks and not client.info.mocks:
        raise click.UsageError("--mint-mocks needs a deployment with mock tokens (mocks: true)")
    flash = _flash_route(flash_contract, pool_fee)
    if (
        flash is not None
        and (settings_min := _min_profit(min_profit)) is not None
        and settings_min < 0
    ):
        raise click.ClickException(
            "--flash cannot take a loss (the swap must repay the debt): give --min-profit >= 0; "
            "a keeper that writes off insolvent accounts at a loss needs inventory"
        )
    if flash is not None and min_profit == "any":
        raise click.ClickException(
            "--flash with --min-profit any: the swap must repay the debt; give --min-profit >= 0"
        )
    try:
        store = Store(
            db or deployment_path.with_suffix(".keeper.sqlite"),
            chain_id=client.info.chain_id,
            margin_account=client.info.margin_account,
        )
    except StoreError as err:
        raise click.ClickException(str(err)) from None
    settings = KeeperSettings(
        poll_interval=interval,
        min_profit=_min_profit(min_profit),
        max_fee_per_gas=None if max_gwei is None else int(Decimal(max_gwei) * GWEI),
        notice_distance=_wad(notice_distance, "--notice-distance"),
        webhook=webhook,
        dry_run=dry_run,
        flash=flash,
    )
    metrics = KeeperMetrics()
    if metrics_port is not None:
        metrics.serve(metrics_port)
        logger.info(f"metrics on http://127.0.0.1:{metrics_port}/metrics")
    service = KeeperService(
        client,
        signer,
        store,
        settings,
        logger=logger,
        metrics=metrics,
        fund=mint_funder(client, signer) if mint_mocks else None,
    )
    try:
        service.keeper.check_flash()  # a wrong contract or owner stops here, not every step
    except KeeperError as err:
        raise click.ClickException(str(err)) from None
    service.run_forever(max_steps=steps)
    logger.info(service.status_line())
    sys.stdout.flush()
