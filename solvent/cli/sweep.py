"""`solvent sweep`: replay windows over a grid of risk settings in parallel; plot the trade-off."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from solvent.cli.env import project_root
from solvent.sim.prices import WINDOWS, preset_files


def _list(text: str, name: str) -> list[Decimal]:
    out = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            value = Decimal(part)
        except InvalidOperation:
            raise click.ClickException(f"{name}: {part!r} is not a number") from None
        if not value.is_finite() or value <= 0:
            raise click.ClickException(f"{name}: {part!r} must be a number > 0")
        out.append(value)
    if not out:
        raise click.ClickException(f"{name}: give at least one value, e.g. 1")
    return out


@click.command()
@click.option(
    "--windows",
    default="2020-03-12,2021-05-19",
    show_default=True,
    help=f"Shipped windows, comma-separated ({', '.join(sorted(WINDOWS))}).",
)
@click.option("--margin-scales", default="0.75,1,1.5", show_default=True, help="imf/mmf x.")
@click.option("--discount-scales", default="1", show_default=True, help="max_discount x.")
@click.option(
    "--dynamic",
    type=click.Choice(["both", "on", "off"]),
    default="both",
    show_default=True,
    help="Volatility floor on, off (static margin) or both.",
)
@click.option("--target-healths", default=None, help="Comma-separated target healths.")
@click.option("--accounts", type=click.IntRange(1, 5_000), default=150, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--hours", type=float, default=None, help="Hours per replay [default: 72].")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option(
    "--scheduler",
    default=None,
    help="Dask scheduler address (tcp://host:8786): run the grid on that cluster.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("reports/sweep"),
    show_default=True,
)
def sweep(
    windows: str,
    margin_scales: str,
    discount_scales: str,
    dynamic: str,
    target_healths: str | None,
    accounts: int,
    seed: int,
    hours: float | None,
    workers: int,
    scheduler: str | None,
    out: Path,
) -> None:
    """Replay the windows over the grid (one Anvil per worker) and write sweep.md/.json/.png."""
    from solvent.report.sweep import findings
    from solvent.sim.replay import SimSettings
    from solvent.sim.sweep import grid, run_dask, run_local, write_sweep

    names = [w.strip() for w in windows.split(",") if w.strip()]
    unknown = [w for w in names if w not in WINDOWS]
    if unknown or not names:
        raise click.ClickException(
            f"--windows: unknown {', '.join(unknown) or '(none given)'} (known: {', '.join(WINDOWS)})"
        )
    config = project_root() / "config" / "local.yaml"
    bases = {
        w: SimSettings(
            files=preset_files(w),
            accounts=accounts,
            seed=seed,
            start=WINDOWS[w].start,
            hours=hours if hours is not None else WINDOWS[w].hours,
            config=config,
        )
        for w in names
    }
    points = grid(
        bases,
        _list(margin_scales, "--margin-scales"),
        _list(discount_scales, "--discount-scales"),
        {"both": (True, False), "on": (True,), "off": (False,)}[dynamic],
        [None] if target_healths is None else _list(target_healths, "--target-healths"),
    )
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=console,
    ) as bar:  # fmt: skip
        task = bar.add_task(f"{len(points)} replays", total=len(points))

        def done(result: dict) -> None:
            bar.advance(task)
            if "error" in result:
                console.print(f"  {result['window']} {result['label']}: failed: {result['error']}")
                return
            console.print(
                f"  {result['window']} {result['label']}: bad debt ${result['bad_debt_usd']:,.0f}, "
                f"{result['liquidations']} liquidations ({result['seconds']} s)"
            )

        if scheduler:
            results = run_dask(points, scheduler, done)
        else:
            results = run_local(points, workers, done)
    path = write_sweep(results, out)
    for line in findings(results):
        console.print(f"  {line}")
    click.echo(f"sweep: {path.parent}")
