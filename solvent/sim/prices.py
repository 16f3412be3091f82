"""Price windows for replays: candle files, several assets aligned on time, and the path of
oracle rounds a replay publishes.

A file has the columns `timestamp_utc,open,high,low,close` (timestamps are candle open times, UTC,
`YYYY-MM-DDTHH:MM:SSZ`, strictly increasing); empty open/high/low fall back to close (the
`*_close.csv` files hold closes only). Prices stay exact decimals (`Decimal`) until they become a
feed's integer answer. Any unusable row is refused with one line naming the file, row (file line,
header = 1) and column.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from itertools import pairwise
from pathlib import Path

COLUMNS = ("timestamp_utc", "open", "high", "low", "close")
#: File-name base -> listed asset symbol.
ASSETS = {"eth": "WETH", "btc": "WBTC", "usdc": "USDC"}
_NAME = re.compile(r"^(?P<base>[a-z]+)_[a-z]+_[a-z0-9-]+_(?P<day>\d{4}-\d{2}-\d{2})_")
_STAMP = "%Y-%m-%dT%H:%M:%SZ"


class PriceFileError(ValueError):
    """A price file is unusable; the message is one line naming file, row and column."""


@dataclass(frozen=True)
class Candles:
    """One price file: candles at their open times (UTC seconds), exact decimal prices."""

    path: Path
    times: tuple[int, ...]
    open: tuple[Decimal, ...]
    high: tuple[Decimal, ...]
    low: tuple[Decimal, ...]
    close: tuple[Decimal, ...]

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def interval(self) -> int:
        """The most common spacing between candles, seconds."""
        gaps = [b - a for a, b in pairwise(self.times)]
        return max(set(gaps), key=gaps.count)


def asset_and_day(path: Path) -> tuple[str, date]:
    """(listed symbol, named day) from a file name `<base>_<quote>_<source>_<YYYY-MM-DD>_...`."""
    m = _NAME.match(path.name)
    if m is None:
        raise PriceFileError(
            f"{path.name}: file name is not <base>_<quote>_<source>_<YYYY-MM-DD>_<interval>.csv"
        )
    base = m.group("base")
    if base not in ASSETS:
        raise PriceFileError(
            f"{path.name}: no listed asset for {base!r} (known: {', '.join(ASSETS)})"
        )
    return ASSETS[base], date.fromisoformat(m.group("day"))


def _price(path: Path, row: int, column: str, text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not (value.is_finite() and value > 0):
        raise PriceFileError(
            f"{path.name}: row {row}, column {column}: {text!r} is not a positive price"
        )
    return value


def load_candles(path: Path | str) -> Candles:
    """Read one candle file (module docstring for the format and the errors)."""
    path = Path(path)
    times: list[int] = []
    cols: dict[str, list[Decimal]] = {c: [] for c in COLUMNS[1:]}
    try:
        with path.open(newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None or tuple(h.strip() for h in header) != COLUMNS:
                raise PriceFileError(
                    f"{path.name}: row 1, column header: expected {','.join(COLUMNS)}, got "
                    f"{','.join(header or [])!r}"
                )
            for fields in reader:
                row = reader.line_num
                if not fields:
                    continue
                if len(fields) != len(COLUMNS):
                    column = COLUMNS[min(len(fields), len(COLUMNS) - 1)]
                    raise PriceFileError(
                        f"{path.name}: row {row}, column {column}: {len(fields)} fields, expected "
                        f"{len(COLUMNS)}"
                    )
                stamp = fields[0].strip()
                try:
                    moment = datetime.strptime(stamp, _STAMP).replace(tzinfo=UTC)
                except ValueError:
                    raise PriceFileError(
                        f"{path.name}: row {row}, column timestamp_utc: {stamp!r} is not "
                        f"YYYY-MM-DDTHH:MM:SSZ"
                    ) from None
                t = int(moment.timestamp())
                if times and t <= times[-1]:
                    raise PriceFileError(
                        f"{path.name}: row {row}, column timestamp_utc: {stamp} is not after the "
                        f"previous row"
                    )
                close = _price(path, row, "close", fields[4].strip())
                for column, text in zip(COLUMNS[1:4], fields[1:4], strict=True):
                    text = text.strip()
                    cols[column].append(_price(path, row, column, text) if text else close)
                cols["close"].append(close)
                times.append(t)
    except OSError as err:
        raise PriceFileError(f"{path}: cannot read ({err.strerror})") from None
    except (csv.Error, UnicodeDecodeError) as err:
        raise PriceFileError(f"{path.name}: not a CSV file ({err})") from None
    if len(times) < 2:
        raise PriceFileError(f"{path.name}: row {len(times) + 1}: fewer than 2 price rows")
    for i in range(len(times)):
        lo, hi = cols["low"][i], cols["high"][i]
        if (
            not lo
            <= min(cols["open"][i], cols["close"][i])
            <= max(cols["open"][i], cols["close"][i])
            <= hi
        ):
            raise PriceFileError(
                f"{path.name}: row {i + 2}, column low/high: low {lo} and high {hi} do not "
                f"bracket open and close"
            )
    return Candles(
        path,
        tuple(times),
        tuple(cols["open"]),
        tuple(cols["high"]),
        tuple(cols["low"]),
        tuple(cols["close"]),
    )


# ============================================================================= several assets


@dataclass(frozen=True)
class Window:
    """Several assets' candles on their common timestamps (a replay's input)."""

    name: str
    times: tuple[int, ...]
    interval: int  # seconds between candles
    candles: dict[str, Candles]  # by symbol, each cut to `times`
    sources: dict[str, str]  # symbol -> file name

    @property
    def start(self) -> str:
        return datetime.fromtimestamp(self.times[0], UTC).strftime(_STAMP)

    @property
    def hours(self) -> float:
        return (self.times[-1] - self.times[0] + self.interval) / 3600


def _cut(c: Candles, keep: Sequence[int]) -> Candles:
    index = {t: i for i, t in enumerate(c.times)}
    rows = [index[t] for t in keep]
    return Candles(
        c.path,
        tuple(keep),
        tuple(c.open[i] for i in rows),
        tuple(c.high[i] for i in rows),
        tuple(c.low[i] for i in rows),
        tuple(c.close[i] for i in rows),
    )


def align(
    files: Sequence[Path | str],
    name: str | None = None,
    hours: float | None = None,
    start: str | None = None,
) -> Window:
    """Load `files` (one per asset; the asset comes from the file name) and keep the timestamps
    they all have, from `start` (YYYY-MM-DDTHH:MM:SSZ) on, optionally only `hours` of them."""
    loaded: dict[str, Candles] = {}
    for f in files:
        path = Path(f)
        symbol, _ = asset_and_day(path)
        if symbol in loaded:
            raise PriceFileError(
                f"{path.name}: a second file for {symbol} (first: {loaded[symbol].path.name})"
            )
        loaded[symbol] = load_candles(path)
    if not loaded:
        raise PriceFileError("no price file given")
    common = sorted(set.intersection(*(set(c.times) for c in loaded.values())))
    if start is not None:
        try:
            first = int(datetime.strptime(start, _STAMP).replace(tzinfo=UTC).timestamp())
        except ValueError:
            raise PriceFileError(f"start {start!r} is not YYYY-MM-DDTHH:MM:SSZ") from None
        common = [t for t in common if t >= first]
    if hours is not None:
        common = [t for t in common if t < common[0] + int(hours * 3600)] if common else []
    if len(common) < 2:
        names = ", ".join(c.path.name for c in loaded.values())
        raise PriceFileError(f"{names}: fewer than 2 common timestamps to replay")
    cut = {s: _cut(c, common) for s, c in loaded.items()}
    gaps = [b - a for a, b in pairwise(common)]
    interval = max(set(gaps), key=gaps.count)  # of the rounds replayed, not of the files
    label = name or next(iter(loaded.values())).name.split("_")[3]
    return Window(label, tuple(common), interval, cut, {s: c.path.name for s, c in loaded.items()})


# ============================================================================= oracle rounds


@dataclass(frozen=True)
class Round:
    """Prices published at one moment: `offset` seconds after the window start."""

    offset: int
    time: int  # UTC seconds (data time)
    prices: dict[str, Decimal]  # USD per whole token
    candle: int  # index of the candle it comes from


def rounds(window: Window, intrabar: bool = False) -> list[Round]:
    """The oracle rounds a replay publishes: one per candle at its close, or with `intrabar`
    four per candle (open, low, high, close at quarter intervals): the low first, so a crash
    inside one candle reaches the chain before any recovery within it (the order that hurts the
    longs, which a crash liquidates)."""
    out: list[Round] = []
    t0 = window.times[0]
    step = window.interval
    for i, t in enumerate(window.times):
        c = window.candles
        if intrabar:
            quarter = step // 4
            for k, field in enumerate(("open", "low", "high", "close")):
                prices = {s: getattr(cs, field)[i] for s, cs in c.items()}
                out.append(Round(t - t0 + k * quarter, t + k * quarter, prices, i))
        else:
            prices = {s: cs.close[i] for s, cs in c.items()}
            out.append(Round(t - t0 + step - 1, t + step - 1, prices, i))
    return out


def feed_answer(price: Decimal, decimals: int) -> int:
    """A feed's integer answer for `price` USD (half-even at the feed's resolution)."""
    return int((price * (Decimal(10) ** decimals)).to_integral_value(rounding=ROUND_HALF_EVEN))


# ============================================================================= shipped windows
DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "prices"


@dataclass(frozen=True)
class Preset:
    """A shipped crash window: its ETH and BTC files and the 72 hours a default replay covers
    (the day before the first crash day through the day after it)."""

    files: tuple[str, ...]
    start: str
    hours: float = 72


WINDOWS = {
    "2020-03-12": Preset(
        ("eth_usd_gemini_2020-03-12_1h.csv", "btc_usdt_binance_2020-03-12_1h.csv"),
        "2020-03-11T00:00:00Z",
    ),
    "2021-05-19": Preset(
        ("eth_usd_gemini_2021-05-19_1h.csv", "btc_usdt_binance_2021-05-19_1h.csv"),
        "2021-05-18T00:00:00Z",
    ),
    "2022-05-12": Preset(
        ("eth_usd_gemini_2022-05-12_1h.csv", "btc_usd_bitfinex_2022-05-12_1h.csv"),
        "2022-05-11T00:00:00Z",
    ),
    "2022-06-13": Preset(
        ("eth_usd_gemini_2022-06-13_1h.csv", "btc_usd_bitfinex_2022-06-13_1h.csv"),
        "2022-06-12T00:00:00Z",
    ),
}


def preset_files(name: str) -> tuple[Path, ...]:
    if name not in WINDOWS:
        raise PriceFileError(f"no shipped window {name!r} (known: {', '.join(WINDOWS)})")
    return tuple(DATA_DIR / f for f in WINDOWS[name].files)
