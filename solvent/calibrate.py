"""Calibrate the dynamic-margin volatility floor on historical crash windows (data/prices/).

    python -m solvent.calibrate [FILES...] [--data-dir DIR] [--tau 86400] [--horizon 86400] [--out -]
    ape run calibrate [same arguments]

Each file is one window of candles (`timestamp_utc,open,high,low,close`, timestamps are candle open
times; see data/prices/SOURCES.md). Only closes are used: returns are close-to-close log returns
r_i = ln(p_i / p_{i-1}) over dt_i = t_i - t_{i-1} (at least 1 s, as in the VolatilityOracle), and
the return of row i belongs to the day of row i (the candle it closes). A window is 3 days before
its first crash day through 3 days after its last (SOURCES.md), so the crash days of a file
spanning 7 days or more are its first day + 3 through its last day - 3; a shorter file (the 10m
CoinAPI excerpts) holds crash days only. Calm = rows before the first crash day.

Per window: realized sigma sqrt(mean(r^2 / dt) * YEAR) of the calm and crash parts, and the peak
over the window of the oracle's EWMA sigma (solvent.margin.ewma_variance, started at the first row
from the calm variance, or from the asset's median calm sigma when the file has no calm part).

Proposal: per asset the reference sigma (median calm sigma, rounded up to 4 decimals), a global k
(a multiple of 0.05, the largest for which every asset's calm floor k * sigma * sqrt(horizon/YEAR),
rounded up to whole basis points as on-chain, is at most its base mmf), and a stale floor (the floor
at the asset's median crash sigma). Floors are computed with the on-chain integer mirror
(solvent.margin.vol_scale / volatility_floor).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import TextIO

import click
from rich.console import Console
from rich.table import Table

from solvent.config import ConfigError, load_config
from solvent.margin import WAD, YEAR, annualized_sigma, ewma_variance, vol_scale, volatility_floor
from solvent.sim.prices import PriceFileError, asset_and_day, load_candles

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / "data" / "prices"
CONFIG = ROOT / "config" / "local.yaml"
DAY = 86_400
K_STEP = Decimal("0.05")
SIGMA_QUANTUM = Decimal("0.0001")
_FULL_WINDOW_DAYS = 6  # a full window spans at least first crash day - 3 .. last crash day + 3


class CalibrationError(ValueError):
    """A price file or the calibration inputs are unusable; the message is one line."""


@dataclass(frozen=True)
class PriceWindow:
    """One price file: close prices at their candle open times (UTC seconds)."""

    path: Path
    asset: str
    named_day: date  # the date in the file name
    times: tuple[int, ...]
    closes: tuple[float, ...]

    @property
    def name(self) -> str:
        return self.path.stem

    def day(self, i: int) -> date:
        return datetime.fromtimestamp(self.times[i], UTC).date()


@dataclass(frozen=True)
class WindowResult:
    """Volatility of one window; sigmas annualized, None where the window has no such part."""

    window: str
    asset: str
    crash_first: date
    crash_last: date
    calm_sigma: float | None
    crash_sigma: float
    peak_sigma: float  # maximum EWMA sigma over the window
    peak_at: int  # timestamp of the row where the EWMA peaked
    ewma_start_sigma: float  # sigma the EWMA started from (calm, or the asset's median calm)


@dataclass(frozen=True)
class AssetProposal:
    sigma: Decimal  # reference (calm) sigma
    crash_sigma: Decimal  # median crash sigma
    stale_floor: Decimal  # floor at the median crash sigma, whole basis points
    calm_floor: Decimal  # floor at the reference sigma (at most base_mmf)
    base_mmf: Decimal


@dataclass(frozen=True)
class Proposal:
    k: Decimal
    horizon: int
    tau: int
    assets: dict[str, AssetProposal]
    floor_at_peak: dict[str, Decimal]  # by window name

    def to_yaml(self) -> str:
        """The `dynamic_margin:` keys this proposal sets (config/*.yaml shape)."""
        lines = [
            "dynamic_margin:",
            f'  k: "{self.k}"',
            f"  horizon: {self.horizon}",
            f"  tau: {self.tau}",
            "  assets:",
        ]
        for symbol, a in sorted(self.assets.items()):
            lines += [
                f"    {symbol}:",
                f'      sigma: "{a.sigma}"',
                f'      stale_floor: "{a.stale_floor}"',
            ]
        return "\n".join(lines) + "\n"


# ============================================================================= loading


def load_window(path: Path | str) -> PriceWindow:
    """Read one price file (solvent.sim.prices.load_candles: rows are counted as file lines, the
    header is row 1, empty open/high/low fall back to close); only closes are kept."""
    path = Path(path)
    try:
        asset, named_day = asset_and_day(path)
        candles = load_candles(path)
    except PriceFileError as err:
        raise CalibrationError(str(err)) from None
    return PriceWindow(
        path, asset, named_day, candles.times, tuple(float(c) for c in candles.close)
    )


# ============================================================================= volatility


def crash_days(window: PriceWindow) -> tuple[date, date]:
    """First and last crash day (module docstring); the file-name date must be one of them."""
    first, last = window.day(0), window.day(len(window.times) - 1)
    if (last - first).days >= _FULL_WINDOW_DAYS:
        lo, hi = first + timedelta(days=3), last - timedelta(days=3)
    else:
        lo, hi = first, last
    if not lo <= window.named_day <= hi:
        raise CalibrationError(
            f"{window.path.name}: file date {window.named_day} is outside the crash days "
            f"{lo}..{hi} its span {first}..{last} implies"
        )
    return lo, hi


def realized_variance(window: PriceWindow, rows: Sequence[int]) -> float | None:
    """mean(r_i^2 / dt_i) over the returns into `rows` (each >= 1), per second; None if empty."""
    if not rows:
        return None
    total = 0.0
    for i in rows:
        r = math.log(window.closes[i] / window.closes[i - 1])
        total += r * r / max(window.times[i] - window.times[i - 1], 1)
    return total / len(rows)


def ewma_path(
    prices: Sequence[float], times: Sequence[int], tau: float, variance0: float
) -> list[float]:
    """The oracle's variance after each round (index 0: variance0), one step of
    solvent.margin.ewma_variance at a time."""
    path = [variance0]
    for i in range(1, len(prices)):
        path.append(ewma_variance(prices[i - 1 : i + 1], times[i - 1 : i + 1], tau, path[-1]))
    return path


def analyze(windows: Sequence[PriceWindow], tau: float = DAY) -> list[WindowResult]:
    """Calm, crash and peak-EWMA sigma of each window (module docstring)."""
    parts = []
    calm_by_asset: dict[str, list[float]] = defaultdict(list)
    for w in windows:
        lo, hi = crash_days(w)
        calm = [i for i in range(1, len(w.times)) if w.day(i) < lo]
        crash = [i for i in range(1, len(w.times)) if lo <= w.day(i) <= hi]
        calm_var = realized_variance(w, calm)
        crash_var = realized_variance(w, crash)
        if crash_var is None:
            raise CalibrationError(f"{w.path.name}: no returns on the crash days {lo}..{hi}")
        if calm_var is not None:
            calm_by_asset[w.asset].append(annualized_sigma(calm_var))
        parts.append((w, lo, hi, calm_var, crash_var))
    results = []
    for w, lo, hi, calm_var, crash_var in parts:
        if calm_var is None:
            if not calm_by_asset[w.asset]:
                raise CalibrationError(
                    f"{w.path.name}: no calm rows before {lo} and no other {w.asset} window has "
                    f"any to start the EWMA from"
                )
            start = statistics.median(calm_by_asset[w.asset]) ** 2 / YEAR
        else:
            start = calm_var
        path = ewma_path(w.closes, w.times, tau, start)
        peak = max(range(len(path)), key=path.__getitem__)
        results.append(
            WindowResult(
                window=w.name,
                asset=w.asset,
                crash_first=lo,
                crash_last=hi,
                calm_sigma=None if calm_var is None else annualized_sigma(calm_var),
                crash_sigma=annualized_sigma(crash_var),
                peak_sigma=annualized_sigma(path[peak]),
                peak_at=w.times[peak],
                ewma_start_sigma=annualized_sigma(start),
            )
        )
    return results


# ============================================================================= proposal


def _wad_up(x: float | Decimal) -> int:
    return int((Decimal(x) * WAD).to_integral_value(ROUND_CEILING))


def _floor(sigma: float | Decimal, scale: int) -> Decimal:
    """The on-chain floor (rounded up to 1e-8, as MarginAdmin stores it) of `sigma` at scale
    k*sqrt(h/YEAR)."""
    return Decimal(volatility_floor(_wad_up(sigma), scale)) / WAD


def propose(
    results: Sequence[WindowResult],
    base_mmf: Mapping[str, int],
    horizon: int = DAY,
    tau: int = DAY,
    k_step: Decimal = K_STEP,
) -> Proposal:
    """Reference sigma, stale floor and a global k (module docstring). `base_mmf`: WAD by symbol."""
    calm: dict[str, list[float]] = defaultdict(list)
    crash: dict[str, list[float]] = defaultdict(list)
    for r in results:
        crash[r.asset].append(r.crash_sigma)
        if r.calm_sigma is not None:
            calm[r.asset].append(r.calm_sigma)
    if not crash:
        raise CalibrationError("no windows to calibrate on")
    sigma: dict[str, Decimal] = {}
    for asset in crash:
        if asset not in base_mmf:
            raise CalibrationError(f"{asset}: no base mmf in the configuration")
        if not calm[asset]:
            raise CalibrationError(f"{asset}: no window has a calm part")
        median = Decimal(statistics.median(calm[asset]))
        sigma[asset] = median.quantize(SIGMA_QUANTUM, rounding=ROUND_CEILING)
    root = (Decimal(horizon) / YEAR).sqrt()
    k_max = min(Decimal(base_mmf[a]) / WAD / (s * root) for a, s in sigma.items())
    k = (k_max / k_step).to_integral_value(ROUND_FLOOR) * k_step
    while k > 0 and any(
        volatility_floor(_wad_up(s), vol_scale(_wad_up(k), horizon)) > base_mmf[a]
        for a, s in sigma.items()
    ):
        k -= k_step  # the integer mirror rounds up; step down until it agrees
    if k <= 0:
        raise CalibrationError(
            f"even k = {k_step} puts a calm floor above its base mmf (horizon {horizon} s)"
        )
    scale = vol_scale(_wad_up(k), horizon)
    assets = {
        a: AssetProposal(
            sigma=s,
            crash_sigma=Decimal(statistics.median(crash[a])).quantize(SIGMA_QUANTUM),
            # setDynamicParams takes whole basis points: round the stale floor up to one.
            stale_floor=(_floor(statistics.median(crash[a]), scale) * 10_000).to_integral_value(
                rounding=ROUND_CEILING
            )
            / 10_000,
            calm_floor=_floor(s, scale),
            base_mmf=Decimal(base_mmf[a]) / WAD,
        )
        for a, s in sigma.items()
    }
    return Proposal(
        k=k.normalize(),
        horizon=horizon,
        tau=tau,
        assets=assets,
        floor_at_peak={r.window: _floor(r.peak_sigma, scale) for r in results},
    )


# ============================================================================= CLI


def _pct(x: float | Decimal | None, digits: int = 1) -> str:
    return "-" if x is None else f"{float(x):.{digits}%}"


def render_table(results: Sequence[WindowResult], proposal: Proposal) -> Table:
    table = Table(
        title=f"Volatility floor at k = {proposal.k}, horizon {proposal.horizon} s, "
        f"tau {proposal.tau} s"
    )
    for column in ("window", "asset", "crash days", "calm sigma", "crash sigma", "peak EWMA sigma"):
        left = column in ("window", "asset")
        table.add_column(column, justify="left" if left else "right", no_wrap=left)
    table.add_column("floor at peak", justify="right")
    for r in results:
        days = f"{r.crash_first:%m-%d}" + (
            f"..{r.crash_last:%m-%d}" if r.crash_last != r.crash_first else ""
        )
        peak_at = datetime.fromtimestamp(r.peak_at, UTC)
        table.add_row(
            r.window,
            r.asset,
            days,
            _pct(r.calm_sigma)
            if r.calm_sigma is not None
            else f"- (start {_pct(r.ewma_start_sigma)})",
            _pct(r.crash_sigma),
            f"{_pct(r.peak_sigma)} ({peak_at:%m-%d %H:%M})",
            _pct(proposal.floor_at_peak[r.window], 2),
        )
    return table


def _files(files: Sequence[Path], data_dir: Path) -> list[Path]:
    if files:
        return list(files)
    found = sorted(data_dir.glob("*.csv"))
    if not found:
        raise CalibrationError(f"{data_dir}: no *.csv price files")
    return found


@click.command(name="calibrate", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("files", nargs=-1, type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=DATA_DIR,
    show_default=True,
    help="Where to find the price files when none are given.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=CONFIG,
    show_default=True,
    help="Configuration with the base mmf of each asset.",
)
@click.option(
    "--tau",
    type=click.IntRange(min=1),
    default=DAY,
    show_default=True,
    help="EWMA time constant, s.",
)
@click.option(
    "--horizon",
    type=click.IntRange(min=1),
    default=DAY,
    show_default=True,
    help="Floor horizon, s.",
)
@click.option(
    "--out",
    type=click.File("w"),
    default="-",
    show_default=True,
    help="Where to write the YAML proposal (- = stdout, after the table).",
)
def command(
    files: tuple[Path, ...], data_dir: Path, config_path: Path, tau: int, horizon: int, out: TextIO
) -> None:
    """Measure calm and crash volatility in price windows and propose k, sigma and stale floors."""
    try:
        config = load_config(config_path)
        windows = [load_window(p) for p in _files(files, data_dir)]
        results = analyze(windows, tau)
        proposal = propose(results, {a.symbol: a.mmf for a in config.assets}, horizon, tau)
    except (CalibrationError, ConfigError) as err:
        raise click.ClickException(str(err)) from err
    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 150))
    console.print(render_table(results, proposal))
    for symbol, a in sorted(proposal.assets.items()):
        console.print(
            f"{symbol}: calm sigma {_pct(a.sigma, 2)} -> floor {_pct(a.calm_floor, 2)} <= base mmf "
            f"{_pct(a.base_mmf, 2)}; median crash sigma {_pct(a.crash_sigma)} -> stale floor "
            f"{_pct(a.stale_floor, 2)}"
        )
    console.print()
    out.write(proposal.to_yaml())
    out.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI on `argv` (default: sys.argv[1:]) and return the exit status."""
    try:
        result = command.main(
            args=None if argv is None else list(argv),
            prog_name="calibrate",
            standalone_mode=False,
        )
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except click.Abort:
        click.echo("Aborted!", err=True)
        return 1
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
