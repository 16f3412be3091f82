"""Options and error handling shared by the subcommands: one-line errors, never a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from solvent.sdk import Solvent
from solvent.sdk.errors import SolventError

DEFAULT_RPC = "http://127.0.0.1:8545"


def rpc_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--rpc",
        envvar="SOLVENT_RPC_URL",
        default=DEFAULT_RPC,
        show_default=True,
        help="Node URL (env SOLVENT_RPC_URL).",
    )(fn)


def deployment_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--deployment",
        "deployment_path",
        type=click.Path(path_type=Path, dir_okay=False),
        default=Path("deployments/local.json"),
        show_default=True,
        help="Deployment file written by `solvent deploy`.",
    )(fn)


def one_line_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """SDK errors become click's one-line `Error: ...` (exit 1)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SolventError as err:
            raise click.ClickException(str(err)) from None

    return wrapper


def open_client(deployment_path: Path, rpc: str) -> Solvent:
    return Solvent.from_deployment(deployment_path, rpc)
