"""`solvent simulate`: replay a real crash window against the protocol and write a report."""

from __future__ import annotations

import tempfile
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from solvent.cli.env import project_root, resolve
from solvent.sim.prices import WINDOWS, PriceFileError, align, preset_files


def _decimal(value: str, name: str) -> Decimal:
    try:
        out = Decimal(value)
    except InvalidOperation:
        raise click.ClickException(f"{name}: {value!r} is not a number") from None
    if not out.is_finite() or out < 0:
        raise click.ClickException(f"{name}: {value!r} must be a number >= 0")
    return out


def _keepers(text: str, gas_gwei: Decimal, backstop: int | None) -> tuple:
    from solvent.sim.replay import KeeperSpec, SimError

    specs = []
    try:
        for part in (p.strip() for p in text.split(",") if p.strip()):
            if not part.isdigit():
                raise click.ClickException(f"--keepers: {part!r} is not a delay in whole seconds")
            specs.append(KeeperSpec(int(part), gas_gwei))
        if backstop is not None:
            specs.append(KeeperSpec(backstop, gas_gwei, inventory="mint", min_profit_usd=None))
    except SimError as err:
        raise click.ClickException(str(err)) from None
    if not specs:
        raise click.ClickException("--keepers: give at least one delay (seconds), e.g. 12,120")
    return tuple(specs)


@click.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--window",
    type=click.Choice(sorted(WINDOWS)),
    default="2020-03-12",
    show_default=True,
    help="A shipped crash window (ETH and BTC), used when no FILES are given.",
)
@click.option("--accounts", type=click.IntRange(1, 5_000), default=300, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the accounts.")
@click.option("--start", default=None, help="First candle, YYYY-MM-DDTHH:MM:SSZ.")
@click.option("--hours", type=float, default=None, help="Hours to replay from --start.")
@click.option("--intrabar", is_flag=True, help="Four rounds per candle: open, low, high, close.")
@click.option(
    "--keepers",
    "keeper_delays",
    default="12,120",
    show_default=True,
    help="Reaction delay of each flash keeper, seconds after a round.",
)
@click.option(
    "--backstop",
    type=int,
    default=None,
    help="Delay of a protocol backstop keeper that also takes loss-making liquidations "
    "(negative: none)  [default: 600 s, or half the time between rounds if shorter]",
)
@click.option("--gas-gwei", default="20", show_default=True, help="Gas price keepers pay.")
@click.option("--pool-depth", type=int, default=50_000_000, show_default=True, help="USD per pool.")
@click.option(
    "--impact",
    default="0",
    show_default=True,
    help="Price impact of liquidation selling on the oracle (0: the data as it is).",
)
@click.option("--margin-scale", default="1", show_default=True, help="imf and mmf times this.")
@click.option("--discount-scale", default="1", show_default=True, help="max_discount times this.")
@click.option("--static", is_flag=True, help="No volatility floor (static margin).")
@click.option("--target-health", default=None, help="Liquidations restore this health.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Report folder  [default: reports/<window>/]",
)
def simulate(
    files: tuple[Path, ...],
    window: str,
    accounts: int,
    seed: int,
    start: str | None,
    hours: float | None,
    intrabar: bool,
    keeper_delays: str,
    backstop: int | None,
    gas_gwei: str,
    pool_depth: int,
    impact: str,
    margin_scale: str,
    discount_scale: str,
    static: bool,
    target_health: str | None,
    out: Path | None,
) -> None:
    """Replay a real crash (price CSVs or a shipped window) on a local chain with the real
    contracts and keepers; write report.md, report.html, metrics.json and plots."""
    from solvent.report.render import summary_rows, write_report
    from solvent.sim.replay import Overrides, Replay, SimError, SimSettings

    cwd = Path.cwd()
    if files:
        paths = tuple(resolve(f, cwd) or f for f in files)
    else:
        paths = preset_files(window)
        preset = WINDOWS[window]
        start = start or preset.start
        hours = hours if hours is not None else preset.hours
    if backstop is None:
        try:
            window_ = align(paths, hours=hours, start=start)
        except PriceFileError as err:
            raise click.ClickException(str(err)) from None
        spacing = window_.interval // 4 if intrabar else window_.interval
        backstop = min(600, spacing // 2)
    settings = SimSettings(
        files=paths,
        accounts=accounts,
        seed=seed,
        start=start,
        hours=hours,
        intrabar=intrabar,
        keepers=_keepers(
            keeper_delays, _decimal(gas_gwei, "--gas-gwei"), backstop if backstop >= 0 else None
        ),
        pool_depth_usd=pool_depth,
        impact=_decimal(impact, "--impact"),
        overrides=Overrides(
            margin_scale=_decimal(margin_scale, "--margin-scale"),
            discount_scale=_decimal(discount_scale, "--discount-scale"),
            dynamic=not static,
            target_health=None
            if target_health is None
            else _decimal(target_health, "--target-health"),
        ),
        config=project_root() / "config" / "local.yaml",
    )
    scratch = tempfile.TemporaryDirectory(prefix="solvent-sim-")
    try:
        replay = Replay(settings, Path(scratch.name))
    except (PriceFileError, SimError) as err:
        raise click.ClickException(str(err)) from None
    folder = out or cwd / "reports" / replay.window.name
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=console, transient=False,
    ) as bar:  # fmt: skip
        task = bar.add_task("setting up", total=len(replay.rounds))

        def progress(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=what)

        replay.progress = progress
        try:
            metrics = replay.run()
        except SimError as err:
            raise click.ClickException(str(err)) from None
        finally:
            scratch.cleanup()
    report = write_report(metrics, folder)
    for k, v in summary_rows(metrics):
        console.print(f"  {k}: {v}")
    click.echo(f"report: {report.parent}")
