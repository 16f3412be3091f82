"""Deployment configuration: assets, risk parameters and feeds, read from a YAML file.

`load_config` checks the whole file before anything is sent: unknown keys at every level, values
that are not plain numbers ("10%", "5 bps", "1h", booleans, negatives), and every bound the
contracts enforce that can be checked offline, mirrored below from the Solidity constants (each
named where it is used). Every problem is one line naming the key path and the fix; a file with
several problems raises one ConfigError listing them all, still on one line.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Context, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from eth_utils import is_checksum_address

from solvent.units import WAD, to_units

DEFAULT_CONFIG = Path("config/local.yaml")


class ConfigError(ValueError):
    """The configuration file is missing a field or has a bad value. The message is one line;
    `problems` holds every problem found (each naming its key path and the fix)."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[str, ...] = tuple(problems) or (message,)


@dataclass(frozen=True)
class RateModel:
    """Kinked rate model, WAD per year (kink: utilization in WAD)."""

    base: int
    slope1: int
    slope2: int
    kink: int

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.base, self.slope1, self.slope2, self.kink)


@dataclass(frozen=True)
class AssetSpec:
    """One listed asset. Amounts in token units, factors and prices in WAD."""

    symbol: str
    name: str
    decimals: int | None
    imf: int
    mmf: int
    collateral_cap_tokens: str
    debt_cap_tokens: str
    reserve_factor: int
    rate_model: RateModel
    max_age: int
    min_discount: int  # liquidation discount floor on this collateral, WAD
    max_discount: int  # liquidation discount cap on this collateral, WAD
    min_debt_value: int  # dust floor of a debt in this asset, USD WAD
    price: int | None = None  # mock feed initial price, WAD
    token: str | None = None  # existing token (testnets)
    feed: str | None = None  # existing Chainlink feed (testnets)
    # Oracle hardening (docs/threat-model.md); 0 / None = off.
    secondary_feed: str | None = None  # address, or "mock" to deploy a second mock feed
    secondary_max_age: int = 0  # seconds
    max_deviation: int = 0  # primary/secondary difference beyond which risk waits, WAD
    max_jump: int = 0  # move from the previous round that needs confirming, WAD
    band_min: int = 0  # sane price band, USD WAD (0/0 = none)
    band_max: int = 0

    def collateral_cap(self, decimals: int) -> int:
        return to_units(self.collateral_cap_tokens, decimals)

    def debt_cap(self, decimals: int) -> int:
        return to_units(self.debt_cap_tokens, decimals)


@dataclass(frozen=True)
class DynamicAsset:
    """Dynamic margin of one asset: size threshold (USD WAD, 0 = off), ramp period (s), stale floor
    (WAD, 0 = no volatility floor) and the initial sigma the VolatilityOracle starts from (WAD)."""

    size_threshold: int
    ramp_period: int
    stale_floor: int
    sigma: int


@dataclass(frozen=True)
class DynamicMargin:
    """The dynamic-margin model: caps (WAD), volatility multiplier k (WAD), horizon, sigma max age
    and EWMA time constant tau (seconds), and per-asset settings by symbol."""

    mmf_cap: int
    imf_cap: int
    k: int
    horizon: int
    max_sigma_age: int
    tau: int
    assets: dict[str, DynamicAsset]


@dataclass(frozen=True)
class Governance:
    """Who controls a deployment: the TimelockController's delay (seconds), its proposers (who
    may queue and cancel), executors (empty: anyone may execute a ready operation) and the
    guardian, who may act at once but only to reduce risk (and cancel queued operations)."""

    timelock_delay: int
    proposers: tuple[str, ...]
    executors: tuple[str, ...]
    guardian: str | None


@dataclass(frozen=True)
class SolventConfig:
    network: str
    mocks: bool
    feed_decimals: int
    insurance_share: int  # share of the liquidation discount paid to the insurance fund, WAD
    target_health: int  # health a partial liquidation restores, WAD
    assets: tuple[AssetSpec, ...]
    dynamic_margin: DynamicMargin | None = None
    governance: Governance | None = None
    sequencer_feed: str | None = None  # L2 sequencer-uptime feed (Chainlink), None on L1
    sequencer_grace_period: int = 0  # seconds without prices after the sequencer is back

    def asset(self, symbol: str) -> AssetSpec:
        for spec in self.assets:
            if spec.symbol == symbol:
                return spec
        raise ConfigError(f"no asset {symbol!r} in the configuration")


# ============================================================================ on-chain bounds
# Mirrored from the contracts (same names; tests/test_config_validation.py compares them with
# the Solidity source). WAD = 1e18 = 1.0 = 100% (libraries/Constants.sol).
_MINUTE, _HOUR, _DAY = 60, 3600, 86400
UINT96_MAX = 2**96 - 1
UINT128_MAX = 2**128 - 1

# MarginConfig.sol (bounds checked by MarginAdmin.listAsset / setMarginModel / setDynamicParams)
BPS = 10**14  # factors, discounts, caps and stale floors are whole basis points
MAX_LISTED_ASSETS = 256
MIN_MARGIN_FACTOR = 5 * 10**15  # 0.5%: lowest mmf
MAX_MARGIN_FACTOR = 95 * 10**16  # 95%: highest imf (and imf_cap, stale_floor)
MAX_DECIMALS = 18  # most decimals a listed token may have
MIN_DISCOUNT = BPS  # lowest min_discount
MAX_DISCOUNT = 5 * 10**17  # 50%: highest max_discount
MIN_SIZE_THRESHOLD = 1_000 * WAD
MAX_SIZE_THRESHOLD = (2**40 - 1) * WAD
MAX_RAMP_PERIOD = 30 * _DAY
MAX_VOL_MULTIPLIER = 10 * WAD
MIN_HORIZON = _HOUR
MAX_HORIZON = 30 * _DAY
MIN_SIGMA_AGE = 10 * _MINUTE
MAX_SIGMA_AGE = 7 * _DAY
DEFAULT_MMF_CAP = 9 * 10**17  # 90%: the mmf cap until setMarginModel (no dynamic_margin)
# Vault.sol (constructor / _setRateModel / _setReserveFactor)
MAX_RESERVE_FACTOR = 5 * 10**17  # 50%
MAX_BORROW_RATE = 10 * WAD  # base + slope1 + slope2, 1000% a year
# Liquidator.sol (_setParams)
MAX_INSURANCE_SHARE = 5 * 10**17  # 50%
MIN_TARGET_HEALTH = WAD
MAX_TARGET_HEALTH = 15 * 10**17
# ChainlinkOracle.sol (constructor / setFeed / setSecondaryFeed / setJumpGuard / setBand)
MAX_FEED_DECIMALS = 36
MAX_MAX_AGE = 7 * _DAY
MIN_DEVIATION = 10**15  # 0.1%
MAX_DEVIATION = 5 * 10**17  # 50%
MIN_JUMP = 10**16  # 1%
MAX_JUMP = 5 * WAD  # 500%
MAX_GRACE_PERIOD = _DAY
# VolatilityOracle.sol (constructor / track)
MIN_TAU = _HOUR
MAX_TAU = 90 * _DAY
MAX_SIGMA = 20 * WAD

#: Longest timelock delay a configuration may ask for, seconds (a policy of this tool: the
#: TimelockController itself accepts any delay).
MAX_TIMELOCK_DELAY = 30 * 24 * 3600

# ============================================================================ keys
_TOP_KEYS = (
    "network",
    "mocks",
    "feed_decimals",
    "liquidation",
    "assets",
    "dynamic_margin",
    "governance",
    "sequencer",
)
_LIQUIDATION_KEYS = ("insurance_share", "target_health")
_ASSET_KEYS = (
    "symbol",
    "name",
    "decimals",
    "max_age",
    "imf",
    "mmf",
    "min_discount",
    "max_discount",
    "min_debt_value",
    "collateral_cap",
    "debt_cap",
    "reserve_factor",
    "rate_model",
    "secondary_feed",
    "secondary_max_age",
    "max_deviation",
    "max_jump",
    "price_band",
)
_MOCK_ASSET_KEYS = ("price",)
_LIVE_ASSET_KEYS = ("token", "feed")
_RATE_MODEL_KEYS = ("base", "slope1", "slope2", "kink")
_BAND_KEYS = ("min", "max")
_DYNAMIC_KEYS = ("mmf_cap", "imf_cap", "k", "horizon", "max_sigma_age", "tau", "assets")
_DYNAMIC_ASSET_KEYS = ("size_threshold", "ramp_period", "stale_floor", "sigma")
_GOVERNANCE_KEYS = ("timelock_delay", "proposers", "executors", "guardian")
_SEQUENCER_KEYS = ("feed", "grace_period")

# What each value is, for the fix in a message.
_FRACTION = "fractions are plain decimals, 1 = 100%"
_USD = "US dollars, a plain number without units"
_PRICE = "US dollars per token, a plain number without units"
_TOKENS = "whole tokens, a plain number without units"
_SECONDS = "durations are whole seconds"
_COUNT = "a whole number"

_ZERO_ADDRESS = "0x" + "0" * 40
_HEX = frozenset("0123456789abcdefABCDEF")
_EXACT = Context(prec=200)  # enough digits for any uint256 in WAD, so nothing rounds
_NUMBER = r"[+-]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)"
_UNIT_FRACTION = re.compile(rf"\s*({_NUMBER})\s*(%|percent|bps|bp|basis\s+points?)\s*", re.I)
_WITH_UNIT = re.compile(rf"\s*[$€]?\s*({_NUMBER})\s*(?:[$€]|[A-Za-z%][A-Za-z /%]*)?\s*")
_DURATION = re.compile(rf"\s*({_NUMBER})\s*([a-z]+)\s*", re.I)
_DURATION_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), _MINUTE),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), _HOUR),
    **dict.fromkeys(("d", "day", "days"), _DAY),
    **dict.fromkeys(("w", "week", "weeks"), 7 * _DAY),
}


# ============================================================================ display
def _fmt(value: Decimal) -> str:
    """A Decimal as a plain decimal string, no exponent, no trailing zeros."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _dec(units: int, decimals: int = 18) -> str:
    """An integer amount of 10**-decimals units as a plain decimal string (WAD by default)."""
    return _fmt(Decimal(units).scaleb(-decimals, context=_EXACT))


def _show(value: Any) -> str:
    """A value from the file, quoted like YAML and always on one line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 60 else text[:56] + '..."'
    text = " ".join(str(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


# ============================================================================ the checks
class _Reader:
    """Reads values out of the parsed YAML, recording every problem instead of stopping."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def bad(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}" if path else message)

    def mark(self) -> int:
        return len(self.problems)

    def clean_since(self, mark: int) -> bool:
        return len(self.problems) == mark

    # ------------------------------------------------------------------ structure
    def mapping(self, value: Any, path: str, what: str) -> dict[str, Any] | None:
        if isinstance(value, Mapping):
            return dict(value)
        self.bad(path, f"expected {what} (key: value lines), got {_show(value)}")
        return None

    def keys(
        self,
        raw: Mapping[Any, Any],
        where: str,
        known: Sequence[str],
        elsewhere: Mapping[str, str] | None = None,
    ) -> None:
        """Refuse unknown keys (suggesting the closest known one), and keys that only apply in
        another mode (`elsewhere`: key -> why it does not apply here)."""
        elsewhere = elsewhere or {}
        for key in raw:
            name = str(key)
            if name in known:
                continue
            if name in elsewhere:
                self.bad(_join(where, name), elsewhere[name])
                continue
            hint = _closest(name, [*known, *elsewhere])
            label = f"{where}: unknown key" if where else "unknown top-level key"
            self.problems.append(f"{label} '{name}'{hint}; known keys: {', '.join(known)}")

    def missing(self, raw: Mapping[str, Any], key: str, where: str, example: str) -> bool:
        if key in raw:
            return False
        self.bad(
            where or key,
            f"missing '{key}'; add {key}: {example}" if where else f"missing; add {key}: {example}",
        )
        return True

    # ------------------------------------------------------------------ numbers
    def number(
        self, raw: Mapping[str, Any], key: str, where: str, *, hint: str, example: str
    ) -> Decimal | None:
        """A non-negative decimal (YAML number or decimal string), or None after a problem."""
        if self.missing(raw, key, where, f'"{example}"'):
            return None
        path = _join(where, key)
        value = raw[key]
        fix = f"write a number such as {example} ({hint})"
        if value is None:
            self.bad(path, f"no value; {fix}")
            return None
        if isinstance(value, bool):
            self.bad(path, f"{_show(value)} is a boolean, not a number; {fix}")
            return None
        if isinstance(value, int):
            number = Decimal(value)
        elif isinstance(value, float):
            number = Decimal(repr(value))
        elif isinstance(value, str):
            try:
                number = Decimal(value.strip())
            except InvalidOperation:
                self.bad(
                    path, f"{_show(value)} is not a decimal; {_unit_fix(value, hint, example)}"
                )
                return None
        else:
            self.bad(path, f"expected a number, got {_show(value)}; {fix}")
            return None
        if not number.is_finite():
            self.bad(path, f"{_show(value)} is not a finite number; {fix}")
            return None
        if number < 0:
            self.bad(path, f"{_show(value)} is negative; {fix}")
            return None
        if number.adjusted() > 40:  # beyond any uint128 amount, and too big to scale safely
            self.bad(path, f"{_show(value)} is far too large; {fix}")
            return None
        return number

    def wad(
        self,
        raw: Mapping[str, Any],
        key: str,
        where: str,
        *,
        example: str,
        hint: str = _FRACTION,
        bps: bool = False,
        decimals: int = 18,
        places: str = "",
    ) -> int | None:
        """A non-negative decimal as an integer of 10**-decimals units (WAD by default), exact;
        with `bps`, in whole basis points (how MarginConfig and ChainlinkOracle store it)."""
        number = self.number(raw, key, where, hint=hint, example=example)
        if number is None:
            return None
        path = _join(where, key)
        scaled = number.scaleb(decimals, context=_EXACT)
        if scaled != scaled.to_integral_value():
            self.bad(path, f"{_show(raw[key])} has more than {decimals} decimals{places}; round it")
            return None
        units = int(scaled)
        if bps and units % BPS:
            rounded = _fmt(number.quantize(Decimal("0.0001"), context=_EXACT))
            self.bad(
                path,
                f"{_show(raw[key])} is not a whole basis point (the contracts store whole bps, "
                f"BPS = 1e14); round it to 4 decimals, e.g. {rounded}",
            )
            return None
        return units

    def integer(
        self,
        raw: Mapping[str, Any],
        key: str,
        where: str,
        *,
        example: str,
        hint: str = _SECONDS,
        required: bool = True,
        default: int = 0,
    ) -> int | None:
        """A non-negative whole number (seconds, decimals), or None after a problem."""
        if key not in raw and not required:
            return default
        if self.missing(raw, key, where, example):
            return None
        path = _join(where, key)
        value = raw[key]
        fix = f"write a whole number such as {example} ({hint})"
        if value is None:
            self.bad(path, f"no value; {fix}")
            return None
        if isinstance(value, bool):
            self.bad(path, f"{_show(value)} is a boolean, not a number; {fix}")
            return None
        number: int | None = None
        if isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d[\d_]{0,40}\s*", value):
            number = int(value.strip())
        if number is None:
            if isinstance(value, str) and hint == _SECONDS:
                fix = _duration_fix(value) or fix
            self.bad(path, f"{_show(value)} is not a whole number; {fix}")
            return None
        if number < 0:
            self.bad(path, f"{_show(value)} is negative; {fix}")
            return None
        return number

    def bound(
        self,
        path: str,
        value: int,
        *,
        lo: int | None = None,
        hi: int | None = None,
        lo_open: bool = False,
        hi_open: bool = False,
        source: str | tuple[str, str],
        show: Any = _dec,
        unit: str = "",
    ) -> bool:
        """Check lo <= value <= hi (strict where open); record a problem citing `source` (one
        for both bounds, or the lower's and the upper's)."""
        lo_source, hi_source = (source, source) if isinstance(source, str) else source
        v = f"{show(value)}{unit}"
        if lo is not None and (value < lo or (lo_open and value == lo)):
            limit = f"{show(lo)}{unit}"
            if lo_open:
                self.bad(path, f"{v} must be above {limit} ({lo_source}); write more than {limit}")
            else:
                self.bad(
                    path, f"{v} is below the minimum {limit} ({lo_source}); write at least {limit}"
                )
            return False
        if hi is not None and (value > hi or (hi_open and value == hi)):
            limit = f"{show(hi)}{unit}"
            if hi_open:
                self.bad(path, f"{v} must be below {limit} ({hi_source}); write less than {limit}")
            else:
                self.bad(
                    path, f"{v} is above the maximum {limit} ({hi_source}); write at most {limit}"
                )
            return False
        return True

    def seconds(
        self,
        raw: Mapping[str, Any],
        key: str,
        where: str,
        *,
        lo: int,
        hi: int,
        source: str | tuple[str, str],
        example: str,
        required: bool = True,
    ) -> int | None:
        value = self.integer(raw, key, where, example=example, required=required)
        if value is None or (not required and key not in raw):
            return value
        ok = self.bound(_join(where, key), value, lo=lo, hi=hi, source=source, show=str, unit=" s")
        return value if ok else None

    # ------------------------------------------------------------------ addresses
    def address(self, value: Any, path: str, *, zero_ok: bool = False) -> str | None:
        if not isinstance(value, str):
            self.bad(
                path,
                f'{_show(value)} is not an address; write it quoted: "0x..." (0x and 40 hex digits)',
            )
            return None
        text = value.strip()
        digits = text[2:]
        if not (text.startswith("0x") and len(digits) == 40 and all(c in _HEX for c in digits)):
            self.bad(path, f"{_show(value)} is not an address (0x followed by 40 hex digits)")
            return None
        if text.lower() == _ZERO_ADDRESS and not zero_ok:
            self.bad(path, "the zero address is not a usable address; write the real one")
            return None
        if digits != digits.lower() and digits != digits.upper() and not is_checksum_address(text):
            self.bad(
                path,
                f"{_show(value)} has mixed case but a wrong EIP-55 checksum (a typo?); copy the "
                "address again from its source",
            )
            return None
        return text


def _closest(name: str, known: Sequence[str]) -> str:
    """' (did you mean ...?)' with the known key closest to a misspelt `name`, or ''."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if not close and len(name) >= 3:
        close = [k for k in known if k.startswith(name) or name.startswith(k)][:1]
    return f" (did you mean '{close[0]}'?)" if close else ""


def _unit_fix(text: str, hint: str, example: str) -> str:
    """The fix for a decimal written with units: the plain number to write instead."""
    match = _UNIT_FRACTION.fullmatch(text)
    if match and hint == _FRACTION:
        number = Decimal(match.group(1).replace("_", ""))
        per = 100 if match.group(2).lower() in ("%", "percent") else 10_000
        return f"write {_fmt(number / per)} ({hint})"
    match = _WITH_UNIT.fullmatch(text)
    if match and not match.group(0).strip().endswith("%"):
        return f"write {_fmt(Decimal(match.group(1).replace('_', '')))} ({hint})"
    return f"write a number such as {example} ({hint})"


def _duration_fix(text: str) -> str | None:
    match = _DURATION.fullmatch(text)
    if not match or match.group(2).lower() not in _DURATION_UNITS:
        return None
    seconds = Decimal(match.group(1).replace("_", "")) * _DURATION_UNITS[match.group(2).lower()]
    return f"write {_fmt(seconds)} ({_SECONDS})"


# ============================================================================ sections
def _ticker(symbol: Any) -> bool:
    return isinstance(symbol, str) and bool(symbol) and not any(c.isspace() for c in symbol)


def _asset_label(raw: Any, index: int) -> str:
    symbol = raw.get("symbol") if isinstance(raw, Mapping) else None
    if isinstance(symbol, str) and symbol.strip():
        return f"assets[{index}] ({symbol})"
    return f"assets[{index}]"


def _asset(
    r: _Reader, raw: Any, mocks: bool, index: int, feed_decimals: int | None
) -> AssetSpec | None:
    where = _asset_label(raw, index)
    data = r.mapping(raw, where, "an asset mapping")
    if data is None:
        return None
    start = r.mark()
    if mocks:
        elsewhere = {
            k: f"only used with mocks: false (mocks: true deploys a mock {'token' if k == 'token' else 'feed'}); remove it or set mocks: false"
            for k in _LIVE_ASSET_KEYS
        }
        r.keys(data, where, (*_ASSET_KEYS, *_MOCK_ASSET_KEYS), elsewhere)
    else:
        elsewhere = {
            "price": "only used with mocks: true (the first answer of a mock feed); remove it or set mocks: true"
        }
        r.keys(data, where, (*_ASSET_KEYS, *_LIVE_ASSET_KEYS), elsewhere)

    symbol = data.get("symbol")
    if "symbol" not in data:
        r.bad(where, "missing 'symbol'; add symbol: USDC (the token's ticker)")
    elif not _ticker(symbol):
        r.bad(
            f"{where}.symbol",
            f'{_show(symbol)} is not a ticker; write it quoted, without spaces, e.g. "USDC"',
        )
    name = data.get("name", symbol)
    if "name" in data and not isinstance(name, str):
        r.bad(f"{where}.name", f'{_show(name)} is not a text; write it quoted, e.g. "USD Coin"')

    # Token decimals (mocks: false may leave them out: deploy reads them from the token);
    # listAsset reverts UnsupportedDecimals above MarginConfig.MAX_DECIMALS.
    decimals: int | None = None
    if mocks or "decimals" in data:
        decimals = r.integer(data, "decimals", where, example="18", hint="the token's decimals")
        if decimals is not None and not r.bound(
            f"{where}.decimals",
            decimals,
            hi=MAX_DECIMALS,
            source="MarginConfig.MAX_DECIMALS",
            show=str,
        ):
            decimals = None

    price = token = feed = None
    if mocks:
        price = r.wad(data, "price", where, example="3000", hint=_PRICE)
        if price is not None:
            price = _check_mock_price(r, f"{where}.price", price, feed_decimals)
    else:
        if not r.missing(data, "token", where, '"0x..." (the token\'s address)'):
            token = r.address(data["token"], f"{where}.token")
        if not r.missing(data, "feed", where, '"0x..." (its Chainlink asset/USD feed)'):
            feed = r.address(data["feed"], f"{where}.feed")

    # Feed age: ChainlinkOracle._checkFeed reverts on 0 or above MAX_MAX_AGE.
    max_age = r.seconds(
        data,
        "max_age",
        where,
        lo=1,
        hi=MAX_MAX_AGE,
        source=("ChainlinkOracle._checkFeed: 0 reverts", "ChainlinkOracle.MAX_MAX_AGE"),
        example="3600",
    )

    # Margin factors: MarginAdmin._checkMarginFactors.
    imf = r.wad(data, "imf", where, example="0.1", bps=True)
    mmf = r.wad(data, "mmf", where, example="0.05", bps=True)
    if imf is not None:
        imf = (
            imf
            if r.bound(
                f"{where}.imf",
                imf,
                lo=0,
                lo_open=True,
                hi=MAX_MARGIN_FACTOR,
                source=("MarginAdmin: imf > mmf > 0", "MarginConfig.MAX_MARGIN_FACTOR"),
            )
            else None
        )
    if mmf is not None:
        mmf = (
            mmf
            if r.bound(
                f"{where}.mmf", mmf, lo=MIN_MARGIN_FACTOR, source="MarginConfig.MIN_MARGIN_FACTOR"
            )
            else None
        )
    if imf is not None and mmf is not None and mmf >= imf:
        r.bad(
            f"{where}.mmf",
            f"{_dec(mmf)} is not below imf {_dec(imf)} (MarginAdmin: mmf < imf); lower mmf or raise imf",
        )

    # Liquidation parameters: MarginAdmin._checkLiquidationParams (the discount bound, which
    # depends on every asset's mmf, is checked in _check_assets).
    min_discount = r.wad(data, "min_discount", where, example="0.01", bps=True)
    max_discount = r.wad(data, "max_discount", where, example="0.05", bps=True)
    if min_discount is not None and not r.bound(
        f"{where}.min_discount", min_discount, lo=MIN_DISCOUNT, source="MarginConfig.MIN_DISCOUNT"
    ):
        min_discount = None
    if max_discount is not None and not r.bound(
        f"{where}.max_discount", max_discount, hi=MAX_DISCOUNT, source="MarginConfig.MAX_DISCOUNT"
    ):
        max_discount = None
    if min_discount is not None and max_discount is not None and min_discount > max_discount:
        r.bad(
            f"{where}.min_discount",
            f"{_dec(min_discount)} is above max_discount {_dec(max_discount)} (MarginAdmin: "
            "min_discount <= max_discount); lower min_discount or raise max_discount",
        )
    min_debt_value = r.wad(data, "min_debt_value", where, example="100", hint=_USD)
    if min_debt_value is not None:
        r.bound(f"{where}.min_debt_value", min_debt_value, hi=UINT96_MAX, source="stored as uint96")

    # Caps: token units, SafeCast.toUint128 in listAsset. Without decimals (mocks: false), the
    # precision and size are checked for the largest listable decimals.
    caps: dict[str, str] = {}
    cap_decimals = decimals if decimals is not None else MAX_DECIMALS
    for key in ("collateral_cap", "debt_cap"):
        units = r.wad(
            data,
            key,
            where,
            example="1000000",
            hint=_TOKENS,
            decimals=cap_decimals,
            places=" (the token's)" if decimals is not None else " (the most a token may have)",
        )
        if units is None:
            continue
        if not r.bound(
            f"{where}.{key}",
            units,
            hi=UINT128_MAX,
            source=f"token units stored as uint128, at {cap_decimals} decimals",
            show=lambda u, d=cap_decimals: _dec(u, d),
        ):
            continue
        caps[key] = str(data[key])

    # Vault: _setReserveFactor and _setRateModel.
    reserve_factor = r.wad(data, "reserve_factor", where, example="0.1")
    if reserve_factor is not None:
        r.bound(
            f"{where}.reserve_factor",
            reserve_factor,
            hi=MAX_RESERVE_FACTOR,
            source="Vault.MAX_RESERVE_FACTOR",
        )
    rate_model = _rate_model(r, data, where)

    guards = _oracle_guards(r, data, mocks, where, price)
    if not r.clean_since(start):
        return None
    assert (
        imf is not None and mmf is not None and max_age is not None and reserve_factor is not None
    )
    assert min_discount is not None and max_discount is not None and min_debt_value is not None
    assert rate_model is not None and isinstance(symbol, str)
    return AssetSpec(
        symbol=symbol,
        name=str(name),
        decimals=decimals,
        imf=imf,
        mmf=mmf,
        collateral_cap_tokens=caps["collateral_cap"],
        debt_cap_tokens=caps["debt_cap"],
        reserve_factor=reserve_factor,
        rate_model=rate_model,
        max_age=max_age,
        min_discount=min_discount,
        max_discount=max_discount,
        min_debt_value=min_debt_value,
        price=price,
        token=token,
        feed=feed,
        **guards,
    )


def _check_mock_price(r: _Reader, path: str, price: int, feed_decimals: int | None) -> int | None:
    """The mock feed's first answer, price * 10**feed_decimals / 1e18, must be exact, positive
    (ChainlinkOracle: a non-positive answer is unusable) and in range (uint128 for the oracle's
    normalization and VolatilityOracle.track)."""
    if price == 0:
        r.bad(
            path, "0 is not a price (a feed answer must be positive); write the token's USD price"
        )
        return None
    if feed_decimals is None:
        return price
    raw = price * 10**feed_decimals
    if raw % WAD:
        r.bad(
            path, f"{_dec(price)} has more than feed_decimals ({feed_decimals}) decimals; round it"
        )
        return None
    if max(raw // WAD, price) > UINT128_MAX:
        r.bad(path, f"{_dec(price)} is too large for a feed answer (uint128); write the USD price")
        return None
    return price


def _rate_model(r: _Reader, data: Mapping[str, Any], where: str) -> RateModel | None:
    if r.missing(
        data, "rate_model", where, '{base: "0", slope1: "0.04", slope2: "0.75", kink: "0.8"}'
    ):
        return None
    at = f"{where}.rate_model"
    rm = r.mapping(data["rate_model"], at, "a mapping {base, slope1, slope2, kink}")
    if rm is None:
        return None
    start = r.mark()
    r.keys(rm, at, _RATE_MODEL_KEYS)
    base = r.wad(rm, "base", at, example="0")
    slope1 = r.wad(rm, "slope1", at, example="0.04")
    slope2 = r.wad(rm, "slope2", at, example="0.75")
    kink = r.wad(rm, "kink", at, example="0.8")
    # Vault._setRateModel: reverts when kink == 0 || kink >= WAD (the slope above the kink
    # divides by 1 - kink), or base + slope1 + slope2 > MAX_BORROW_RATE.
    if kink is not None:
        r.bound(
            f"{at}.kink",
            kink,
            lo=0,
            lo_open=True,
            hi=WAD,
            hi_open=True,
            source="Vault._setRateModel: 0 < kink < 1",
        )
    if base is not None and slope1 is not None and slope2 is not None:
        total = base + slope1 + slope2
        if total > MAX_BORROW_RATE:
            r.bad(
                at,
                f"base + slope1 + slope2 = {_dec(total)} is above {_dec(MAX_BORROW_RATE)} a year "
                "(Vault.MAX_BORROW_RATE); lower the slopes",
            )
    if not r.clean_since(start):
        return None
    assert base is not None and slope1 is not None and slope2 is not None and kink is not None
    return RateModel(base=base, slope1=slope1, slope2=slope2, kink=kink)


def _oracle_guards(
    r: _Reader, data: Mapping[str, Any], mocks: bool, where: str, price: int | None
) -> dict[str, Any]:
    """The asset's optional secondary feed, deviation and jump bounds and price band
    (ChainlinkOracle.setSecondaryFeed / setJumpGuard / setBand)."""
    out: dict[str, Any] = {}
    secondary = data.get("secondary_feed")
    if "secondary_feed" in data and secondary is not None:
        if secondary == "mock":
            if not mocks:
                r.bad(
                    f"{where}.secondary_feed", "'mock' needs mocks: true; write the feed's address"
                )
        else:
            secondary = r.address(secondary, f"{where}.secondary_feed")
        out["secondary_feed"] = secondary
        out["secondary_max_age"] = r.seconds(
            data,
            "secondary_max_age",
            where,
            lo=1,
            hi=MAX_MAX_AGE,
            source=("ChainlinkOracle._checkFeed: 0 reverts", "ChainlinkOracle.MAX_MAX_AGE"),
            example="3600",
        )
        deviation = r.wad(data, "max_deviation", where, example="0.02", bps=True)
        if deviation is not None:
            r.bound(
                f"{where}.max_deviation",
                deviation,
                lo=MIN_DEVIATION,
                hi=MAX_DEVIATION,
                source=("ChainlinkOracle.MIN_DEVIATION", "ChainlinkOracle.MAX_DEVIATION"),
            )
        out["max_deviation"] = deviation
    else:
        for key in ("secondary_max_age", "max_deviation"):
            if key in data:
                r.bad(
                    f"{where}.{key}",
                    "only used with a secondary_feed; add secondary_feed or remove it",
                )
    if "max_jump" in data:
        jump = r.wad(data, "max_jump", where, example="0.2", bps=True)
        if jump:  # 0 turns the guard off
            r.bound(
                f"{where}.max_jump",
                jump,
                lo=MIN_JUMP,
                hi=MAX_JUMP,
                source=(
                    "ChainlinkOracle.MIN_JUMP; 0 turns the guard off",
                    "ChainlinkOracle.MAX_JUMP",
                ),
            )
        out["max_jump"] = jump
    band = data.get("price_band")
    if "price_band" in data and band is not None:
        at = f"{where}.price_band"
        raw = r.mapping(band, at, 'a mapping {min: "...", max: "..."}')
        if raw is not None:
            r.keys(raw, at, _BAND_KEYS)
            lo = r.wad(raw, "min", at, example="100", hint=_PRICE)
            hi = r.wad(raw, "max", at, example="1000000", hint=_PRICE)
            if lo is not None and hi is not None and (lo or hi):
                # setBand: min | max != 0 needs 0 < min < max <= type(uint128).max.
                if lo == 0 or lo >= hi:
                    r.bad(
                        at,
                        f"min {_dec(lo)} must be above 0 and below max {_dec(hi)} (ChainlinkOracle.setBand); fix the band or write min: 0, max: 0 for none",
                    )
                elif hi > UINT128_MAX:
                    r.bad(
                        f"{at}.max",
                        f"{_dec(hi)} is above the uint128 a band is stored in; lower it",
                    )
                elif price is not None and not lo <= price <= hi:
                    r.bad(
                        at,
                        f"the mock price {_dec(price)} is outside [{_dec(lo)}, {_dec(hi)}]: its answers would be unusable; widen the band or change the price",
                    )
            out["band_min"], out["band_max"] = lo, hi
    return out


def _liquidation(r: _Reader, data: Mapping[str, Any]) -> tuple[int, int] | None:
    if r.missing(data, "liquidation", "", '{insurance_share: "0.2", target_health: "1.05"}'):
        return None
    raw = r.mapping(
        data["liquidation"], "liquidation", "a mapping {insurance_share, target_health}"
    )
    if raw is None:
        return None
    start = r.mark()
    r.keys(raw, "liquidation", _LIQUIDATION_KEYS)
    share = r.wad(raw, "insurance_share", "liquidation", example="0.2")
    health = r.wad(raw, "target_health", "liquidation", example="1.05")
    # Liquidator._setParams.
    if share is not None:
        r.bound(
            "liquidation.insurance_share",
            share,
            hi=MAX_INSURANCE_SHARE,
            source="Liquidator.MAX_INSURANCE_SHARE",
        )
    if health is not None:
        r.bound(
            "liquidation.target_health",
            health,
            lo=MIN_TARGET_HEALTH,
            hi=MAX_TARGET_HEALTH,
            source=("Liquidator.MIN_TARGET_HEALTH", "Liquidator.MAX_TARGET_HEALTH"),
        )
    if not r.clean_since(start):
        return None
    assert share is not None and health is not None
    return share, health


def _dynamic_margin(r: _Reader, value: Any, symbols: set[str] | None) -> DynamicMargin | None:
    where = "dynamic_margin"
    raw = r.mapping(value, where, "a mapping (or remove the section for static margin)")
    if raw is None:
        return None
    start = r.mark()
    r.keys(raw, where, _DYNAMIC_KEYS)
    # MarginAdmin.setMarginModel: MIN_MARGIN_FACTOR <= mmf_cap < imf_cap <= MAX_MARGIN_FACTOR,
    # whole bps, k <= MAX_VOL_MULTIPLIER, horizon and max_sigma_age within their bounds.
    mmf_cap = r.wad(raw, "mmf_cap", where, example="0.5", bps=True)
    imf_cap = r.wad(raw, "imf_cap", where, example="0.75", bps=True)
    if mmf_cap is not None:
        r.bound(
            f"{where}.mmf_cap",
            mmf_cap,
            lo=MIN_MARGIN_FACTOR,
            source="MarginConfig.MIN_MARGIN_FACTOR",
        )
    if imf_cap is not None:
        r.bound(
            f"{where}.imf_cap",
            imf_cap,
            hi=MAX_MARGIN_FACTOR,
            source="MarginConfig.MAX_MARGIN_FACTOR",
        )
    if mmf_cap is not None and imf_cap is not None and mmf_cap >= imf_cap:
        r.bad(
            f"{where}.mmf_cap",
            f"{_dec(mmf_cap)} is not below imf_cap {_dec(imf_cap)} (MarginAdmin.setMarginModel); lower mmf_cap",
        )
    k = r.wad(raw, "k", where, example="0.9", hint="a plain decimal multiplier")
    if k is not None:
        r.bound(f"{where}.k", k, hi=MAX_VOL_MULTIPLIER, source="MarginConfig.MAX_VOL_MULTIPLIER")
    horizon = r.seconds(
        raw,
        "horizon",
        where,
        lo=MIN_HORIZON,
        hi=MAX_HORIZON,
        source=("MarginConfig.MIN_HORIZON", "MarginConfig.MAX_HORIZON"),
        example="86400",
    )
    max_sigma_age = r.seconds(
        raw,
        "max_sigma_age",
        where,
        lo=MIN_SIGMA_AGE,
        hi=MAX_SIGMA_AGE,
        source=("MarginConfig.MIN_SIGMA_AGE", "MarginConfig.MAX_SIGMA_AGE"),
        example="7200",
    )
    # VolatilityOracle constructor: MIN_TAU <= tau <= MAX_TAU.
    tau = r.seconds(
        raw,
        "tau",
        where,
        lo=MIN_TAU,
        hi=MAX_TAU,
        source=("VolatilityOracle.MIN_TAU", "VolatilityOracle.MAX_TAU"),
        example="86400",
    )

    assets: dict[str, DynamicAsset] = {}
    if not r.missing(
        raw, "assets", where, '{WETH: {size_threshold: "5000000", ramp_period: 86400}}'
    ):
        listed = raw["assets"]
        if listed is None:
            listed = {}
        table = r.mapping(listed, f"{where}.assets", "a mapping of listed symbols")
        for symbol, a in (table or {}).items():
            at = f"{where}.assets.{symbol}"
            if symbols is not None and symbol not in symbols:
                close = difflib.get_close_matches(str(symbol), sorted(symbols), n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                r.bad(
                    at,
                    f"{_show(symbol)} is not a listed asset; {hint}listed: {', '.join(sorted(symbols))}",
                )
                continue
            dyn = _dynamic_asset(r, a, at)
            if dyn is not None:
                assets[str(symbol)] = dyn
    if not r.clean_since(start):
        return None
    assert mmf_cap is not None and imf_cap is not None and k is not None
    assert horizon is not None and max_sigma_age is not None and tau is not None
    return DynamicMargin(
        mmf_cap=mmf_cap,
        imf_cap=imf_cap,
        k=k,
        horizon=horizon,
        max_sigma_age=max_sigma_age,
        tau=tau,
        assets=assets,
    )


def _dynamic_asset(r: _Reader, value: Any, at: str) -> DynamicAsset | None:
    a = r.mapping(
        {} if value is None else value,
        at,
        "a mapping {size_threshold, ramp_period, stale_floor, sigma}",
    )
    if a is None:
        return None
    start = r.mark()
    r.keys(a, at, _DYNAMIC_ASSET_KEYS)
    # MarginAdmin.setDynamicParams: size threshold 0 or MIN..MAX_SIZE_THRESHOLD in whole dollars,
    # ramp <= MAX_RAMP_PERIOD, stale floor <= MAX_MARGIN_FACTOR in whole bps and only with a ramp.
    size = (
        r.wad(a, "size_threshold", at, example="5000000", hint=_USD, decimals=0)
        if "size_threshold" in a
        else 0
    )
    if size:
        r.bound(
            f"{at}.size_threshold",
            size,
            lo=MIN_SIZE_THRESHOLD // WAD,
            hi=MAX_SIZE_THRESHOLD // WAD,
            source=(
                "MarginConfig.MIN_SIZE_THRESHOLD in whole dollars; 0 = off",
                "MarginConfig.MAX_SIZE_THRESHOLD in whole dollars",
            ),
            show=str,
        )
    ramp = r.seconds(
        a,
        "ramp_period",
        at,
        lo=0,
        hi=MAX_RAMP_PERIOD,
        source="MarginConfig.MAX_RAMP_PERIOD",
        example="86400",
        required=False,
    )
    floor = r.wad(a, "stale_floor", at, example="0.2", bps=True) if "stale_floor" in a else 0
    if floor:
        r.bound(
            f"{at}.stale_floor",
            floor,
            hi=MAX_MARGIN_FACTOR,
            source="MarginConfig.MAX_MARGIN_FACTOR",
        )
        if ramp == 0:
            r.bad(
                at,
                "a stale_floor needs a ramp_period above 0 (MarginAdmin.setDynamicParams); add ramp_period: 86400",
            )
    sigma: int | None = 0
    if floor:
        # The VolatilityOracle starts tracking from it: VolatilityOracle.track, sigma <= MAX_SIGMA.
        sigma = r.wad(a, "sigma", at, example="0.8")
        if sigma is not None:
            r.bound(f"{at}.sigma", sigma, hi=MAX_SIGMA, source="VolatilityOracle.MAX_SIGMA")
    elif "sigma" in a:
        r.bad(
            f"{at}.sigma",
            "only used with a stale_floor above 0 (no volatility floor is tracked without one); add stale_floor or remove sigma",
        )
    if not r.clean_since(start):
        return None
    assert size is not None and ramp is not None and floor is not None and sigma is not None
    return DynamicAsset(size_threshold=size * WAD, ramp_period=ramp, stale_floor=floor, sigma=sigma)


def _addresses(
    r: _Reader, raw: Mapping[str, Any], key: str, where: str, *, zero_ok: bool
) -> tuple[str, ...] | None:
    value = raw.get(key)
    if value is None:
        return ()
    path = _join(where, key)
    if not isinstance(value, list):
        r.bad(path, f'{_show(value)} is not a list; write {key}: ["0x..."]')
        return None
    out = [r.address(a, f"{path}[{i}]", zero_ok=zero_ok) for i, a in enumerate(value)]
    if None in out:
        return None
    return tuple(a for a in out if a is not None)


def _governance(r: _Reader, value: Any) -> Governance | None:
    where = "governance"
    raw = r.mapping(value, where, "a mapping {timelock_delay, proposers, executors, guardian}")
    if raw is None:
        return None
    start = r.mark()
    r.keys(raw, where, _GOVERNANCE_KEYS)
    delay = r.seconds(
        raw,
        "timelock_delay",
        where,
        lo=0,
        hi=MAX_TIMELOCK_DELAY,
        source="solvent.config.MAX_TIMELOCK_DELAY",
        example="172800",
    )
    proposers = _addresses(r, raw, "proposers", where, zero_ok=False)
    executors = _addresses(r, raw, "executors", where, zero_ok=True)  # zero: anyone may execute
    guardian = raw.get("guardian")
    if guardian is not None:
        guardian = r.address(guardian, f"{where}.guardian")
    if not r.clean_since(start):
        return None
    assert delay is not None and proposers is not None and executors is not None
    return Governance(
        timelock_delay=delay, proposers=proposers, executors=executors, guardian=guardian
    )


def _sequencer(r: _Reader, value: Any) -> tuple[str | None, int]:
    where = "sequencer"
    if value is None:
        return None, 0
    raw = r.mapping(value, where, "a mapping {feed, grace_period}")
    if raw is None:
        return None, 0
    r.keys(raw, where, _SEQUENCER_KEYS)
    feed = raw.get("feed")
    if feed is not None:
        feed = r.address(feed, f"{where}.feed")
    grace = r.integer(raw, "grace_period", where, example="3600", required=False)
    # ChainlinkOracle constructor: (feed == 0) != (gracePeriod == 0) or gracePeriod > MAX_GRACE_PERIOD reverts.
    if grace is not None:
        if "feed" in raw and raw["feed"] is not None:
            r.bound(
                f"{where}.grace_period",
                grace,
                lo=1,
                hi=MAX_GRACE_PERIOD,
                source=(
                    "ChainlinkOracle constructor: a sequencer feed needs a grace period",
                    "ChainlinkOracle.MAX_GRACE_PERIOD",
                ),
                show=str,
                unit=" s",
            )
        elif grace:
            r.bad(
                f"{where}.grace_period",
                "only used with a sequencer feed (ChainlinkOracle reverts InvalidSequencer); add sequencer.feed or remove it",
            )
    return feed, grace or 0


def _check_unique(
    r: _Reader,
    specs: Sequence[AssetSpec | None],
    raws: Sequence[Any],
) -> None:
    """Every symbol and token listed once (listAsset reverts AssetAlreadyListed), at most
    MarginConfig.MAX_LISTED_ASSETS assets."""
    if len(raws) > MAX_LISTED_ASSETS:
        r.bad(
            "assets",
            f"{len(raws)} assets listed, more than MarginConfig.MAX_LISTED_ASSETS ({MAX_LISTED_ASSETS}); list fewer",
        )
    seen: dict[str, int] = {}
    tokens: dict[str, int] = {}
    for i, raw in enumerate(raws):
        symbol = raw.get("symbol") if isinstance(raw, Mapping) else None
        if isinstance(symbol, str) and symbol.strip():
            first = seen.setdefault(symbol.upper(), i)
            if first != i:
                r.bad(
                    f"{_asset_label(raw, i)}.symbol",
                    f"{_show(symbol)} is also assets[{first}]'s symbol; every asset needs its own symbol",
                )
    for i, spec in enumerate(specs):
        if spec is not None and spec.token is not None:
            first = tokens.setdefault(spec.token.lower(), i)
            if first != i:
                r.bad(
                    f"{_asset_label(raws[i], i)}.token",
                    f"{spec.token} is also assets[{first}]'s token (MarginAdmin: AssetAlreadyListed); list each token once",
                )


def _check_assets(
    r: _Reader,
    specs: Sequence[AssetSpec | None],
    raws: Sequence[Any],
    dm: DynamicMargin | None,
    *,
    caps_known: bool,
) -> None:
    """Checks across assets: the discount bound every listing re-checks and (`caps_known`: no
    dynamic_margin section, or a valid one) the caps of the margin model."""
    valid = [(i, s) for i, s in enumerate(specs) if s is not None]
    if not valid or len(valid) != len(specs):
        return  # the bounds below depend on every asset's mmf
    # MarginAdmin._checkDiscountBounds, after the last listing (the strictest: the lowest mmf
    # only falls as assets are listed): max_discount < (mmf + lowest mmf) / (1 + lowest mmf),
    # MarginAdmin._discountBound rounds down.
    low = min(s.mmf for _, s in valid)
    for i, s in valid:
        bound = (s.mmf + low) * WAD // (WAD + low)
        if s.max_discount >= bound:
            best = (bound - 1) // BPS * BPS
            exact = Decimal(bound).scaleb(-18, context=_EXACT)
            cut = exact.quantize(Decimal("1e-6"), ROUND_DOWN)
            shown = _fmt(cut) + ("..." if cut != exact else "")
            r.bad(
                f"{_asset_label(raws[i], i)}.max_discount",
                f"{_dec(s.max_discount)} is not below the on-chain cap (mmf + lowest mmf) / (1 + lowest mmf) "
                f"= ({_dec(s.mmf)} + {_dec(low)}) / (1 + {_dec(low)}) = {shown} "
                f"(MarginAdmin._checkDiscountBounds); write at most {_dec(best)} or raise the mmf",
            )
    # MarginAdmin._checkCaps: base factors at or below the model's caps (setMarginModel checks
    # every listed asset; before it, MAX_MARGIN_FACTOR and DEFAULT_MMF_CAP apply).
    if not caps_known:
        return
    if dm is not None:
        imf_cap, mmf_cap, src = dm.imf_cap, dm.mmf_cap, "dynamic_margin.{}"
    else:
        imf_cap, mmf_cap, src = MAX_MARGIN_FACTOR, DEFAULT_MMF_CAP, "MarginConfig.{}"
    for i, s in valid:
        where = _asset_label(raws[i], i)
        if s.imf > imf_cap:
            name = src.format("imf_cap" if dm else "MAX_MARGIN_FACTOR")
            r.bad(
                f"{where}.imf",
                f"{_dec(s.imf)} is above {name} {_dec(imf_cap)} (MarginAdmin._checkCaps); lower imf or raise the cap",
            )
        if s.mmf > mmf_cap:
            name = src.format("mmf_cap" if dm else "DEFAULT_MMF_CAP")
            r.bad(
                f"{where}.mmf",
                f"{_dec(s.mmf)} is above {name} {_dec(mmf_cap)} (MarginAdmin._checkCaps); lower mmf or raise the cap",
            )


# ============================================================================ YAML
class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""


def _construct_mapping(
    loader: _Loader, node: yaml.MappingNode, deep: bool = False
) -> dict[Any, Any]:
    first: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            line = first.setdefault(key, key_node.start_mark.line + 1)
        except TypeError:
            continue  # an unhashable key: the constructor below reports it
        if line != key_node.start_mark.line + 1:
            raise ConfigError(
                f"line {key_node.start_mark.line + 1}: duplicate key '{key}' (first on line "
                f"{line}; YAML would silently keep the last); keep one"
            )
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(), Loader=_Loader)  # _Loader is a SafeLoader
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"not valid YAML: {err.problem or err.context}{where}") from None
    except ConfigError:
        raise
    except (yaml.YAMLError, ValueError) as err:  # ValueError: e.g. an int too long to read
        raise ConfigError(f"not valid YAML: {' '.join(str(err).split())}") from None


# ============================================================================ entry point
def load_config(path: Path | str = DEFAULT_CONFIG) -> SolventConfig:
    """Read and validate a deployment configuration file; raise ConfigError (one line, every
    problem with its key path and fix) before anything could be sent."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"configuration file {path} not found (see config/local.yaml for an example)"
        )
    data = _read_yaml(path)
    if data is None:
        raise ConfigError(f"{path} is empty (see config/local.yaml for an example)")
    r = _Reader()
    data = r.mapping(data, "", "the top level to be a mapping")
    if data is None:
        raise ConfigError(r.problems[0])

    r.keys(data, "", _TOP_KEYS)
    network = data.get("network", "local")
    if not isinstance(network, str) or not network.strip():
        r.bad("network", f"{_show(network)} is not a network name; write e.g. local or sepolia")
    mocks = data.get("mocks", False)
    if not isinstance(mocks, bool):
        r.bad(
            "mocks",
            f"{_show(mocks)} is not a boolean; write true (deploy mock tokens and feeds) or false",
        )
        # Which asset keys apply depends on it: checking them now would only add noise.
        raise ConfigError("; ".join(r.problems), r.problems)
    feed_decimals: int | None = 8
    if "feed_decimals" in data:
        if not mocks:
            r.bad(
                "feed_decimals",
                "only used with mocks: true (real feeds report their own decimals); remove it",
            )
        else:
            # MockAggregator takes uint8 decimals; ChainlinkOracle._checkFeed: <= MAX_FEED_DECIMALS.
            feed_decimals = r.integer(
                data, "feed_decimals", "", example="8", hint="the mock feeds' decimals"
            )
            if feed_decimals is not None and not r.bound(
                "feed_decimals",
                feed_decimals,
                hi=MAX_FEED_DECIMALS,
                source="ChainlinkOracle.MAX_FEED_DECIMALS",
                show=str,
            ):
                feed_decimals = None

    liquidation = _liquidation(r, data)

    raws: list[Any] = []
    if not r.missing(data, "assets", "", "a list of asset mappings (see config/local.yaml)"):
        listed = data["assets"]
        if not isinstance(listed, list):
            r.bad(
                "assets",
                f"expected a list of asset mappings (lines starting with '- symbol:'), got {_show(listed)}",
            )
        elif not listed:
            r.bad("assets", "no assets listed; list at least one")
        else:
            raws = listed
    specs = [_asset(r, raw, bool(mocks), i, feed_decimals) for i, raw in enumerate(raws)]
    _check_unique(r, specs, raws)
    named = [
        raw["symbol"] for raw in raws if isinstance(raw, Mapping) and _ticker(raw.get("symbol"))
    ]
    # With an asset without a usable symbol, which symbols are listed is not known.
    symbols = set(named) if raws and len(named) == len(raws) else None

    dynamic_margin = None
    section = data.get("dynamic_margin")
    if section is not None and section != {}:
        dynamic_margin = _dynamic_margin(r, section, symbols)
    # The model's caps bound every asset's factors; with a broken section they are unknown.
    caps_known = section is None or section == {} or dynamic_margin is not None
    _check_assets(r, specs, raws, dynamic_margin, caps_known=caps_known)

    governance = None
    if data.get("governance") is not None and data.get("governance") != {}:
        governance = _governance(r, data["governance"])
    sequencer_feed, grace = _sequencer(r, data.get("sequencer"))

    if r.problems:
        p = r.problems
        message = (
            p[0]
            if len(p) == 1
            else f"{len(p)} problems: " + "; ".join(f"({i}) {x}" for i, x in enumerate(p, 1))
        )
        raise ConfigError(message, p)
    assert liquidation is not None and feed_decimals is not None
    return SolventConfig(
        network=str(network),
        mocks=bool(mocks),
        feed_decimals=feed_decimals,
        insurance_share=liquidation[0],
        target_health=liquidation[1],
        assets=tuple(s for s in specs if s is not None),
        dynamic_margin=dynamic_margin,
        governance=governance,
        sequencer_feed=sequencer_feed,
        sequencer_grace_period=grace,
    )
