"""Deployment configuration: assets, risk parameters and feeds, read from a YAML file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from solvent.units import to_units, to_wad

DEFAULT_CONFIG = Path("config/local.yaml")


class ConfigError(ValueError):
    """The configuration file is missing a field or has a bad value."""


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


def _require(data: dict[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise ConfigError(f"{where}: missing '{key}'")
    return data[key]


def _asset(raw: dict[str, Any], mocks: bool, index: int) -> AssetSpec:
    where = f"assets[{index}]"
    symbol = str(_require(raw, "symbol", where))
    where = f"asset {symbol}"
    rm = _require(raw, "rate_model", where)
    if mocks:
        decimals = int(_require(raw, "decimals", where))
        price = to_wad(_require(raw, "price", where))
        token = feed = None
    else:
        decimals = int(raw["decimals"]) if "decimals" in raw else None
        price = None
        token = str(_require(raw, "token", where))
        feed = str(_require(raw, "feed", where))
    return AssetSpec(
        symbol=symbol,
        name=str(raw.get("name", symbol)),
        decimals=decimals,
        imf=to_wad(_require(raw, "imf", where)),
        mmf=to_wad(_require(raw, "mmf", where)),
        collateral_cap_tokens=str(_require(raw, "collateral_cap", where)),
        debt_cap_tokens=str(_require(raw, "debt_cap", where)),
        reserve_factor=to_wad(_require(raw, "reserve_factor", where)),
        rate_model=RateModel(
            base=to_wad(_require(rm, "base", where)),
            slope1=to_wad(_require(rm, "slope1", where)),
            slope2=to_wad(_require(rm, "slope2", where)),
            kink=to_wad(_require(rm, "kink", where)),
        ),
        max_age=int(_require(raw, "max_age", where)),
        min_discount=to_wad(_require(raw, "min_discount", where)),
        max_discount=to_wad(_require(raw, "max_discount", where)),
        min_debt_value=to_wad(_require(raw, "min_debt_value", where)),
        price=price,
        token=token,
        feed=feed,
        **_oracle_guards(raw, mocks, where),
    )


_HEX = frozenset("0123456789abcdefABCDEF")

#: Longest timelock delay a configuration may ask for, seconds.
MAX_TIMELOCK_DELAY = 30 * 24 * 3600


def _address(value: Any, key: str) -> str:
    text = str(value)
    digits = text[2:]
    if not (text.startswith("0x") and len(digits) == 40 and all(c in _HEX for c in digits)):
        raise ConfigError(f"{key}: {text!r} is not an address (0x followed by 40 hex digits)")
    return text


def _oracle_guards(raw: dict[str, Any], mocks: bool, where: str) -> dict[str, Any]:
    """The asset's optional secondary feed, deviation and jump bounds and price band."""
    out: dict[str, Any] = {}
    secondary = raw.get("secondary_feed")
    if secondary is not None:
        if secondary == "mock":
            if not mocks:
                raise ConfigError(f"{where}.secondary_feed: 'mock' needs mocks: true")
        else:
            secondary = _address(secondary, f"{where}.secondary_feed")
        out["secondary_feed"] = secondary
        out["secondary_max_age"] = int(_require(raw, "secondary_max_age", where))
        out["max_deviation"] = to_wad(_require(raw, "max_deviation", where))
    if "max_jump" in raw:
        out["max_jump"] = to_wad(raw["max_jump"])
    band = raw.get("price_band")
    if band is not None:
        out["band_min"] = to_wad(_require(band, "min", f"{where}.price_band"))
        out["band_max"] = to_wad(_require(band, "max", f"{where}.price_band"))
    return out


def _governance(raw: dict[str, Any]) -> Governance:
    where = "governance"
    delay = int(_require(raw, "timelock_delay", where))
    if not 0 <= delay <= MAX_TIMELOCK_DELAY:
        raise ConfigError(f"{where}.timelock_delay: {delay} s is outside 0..{MAX_TIMELOCK_DELAY}")
    guardian = raw.get("guardian")
    return Governance(
        timelock_delay=delay,
        proposers=tuple(_address(a, f"{where}.proposers") for a in (raw.get("proposers") or [])),
        executors=tuple(_address(a, f"{where}.executors") for a in (raw.get("executors") or [])),
        guardian=_address(guardian, f"{where}.guardian") if guardian else None,
    )


def _dynamic_margin(raw: dict[str, Any], symbols: set[str]) -> DynamicMargin:
    where = "dynamic_margin"
    assets: dict[str, DynamicAsset] = {}
    for symbol, a in (_require(raw, "assets", where) or {}).items():
        if symbol not in symbols:
            raise ConfigError(f"{where}.assets: {symbol!r} is not a listed asset")
        at = f"{where}.assets.{symbol}"
        assets[str(symbol)] = DynamicAsset(
            size_threshold=to_wad(a.get("size_threshold", "0")),
            ramp_period=int(a.get("ramp_period", 0)),
            stale_floor=to_wad(a.get("stale_floor", "0")),
            sigma=to_wad(
                a.get("sigma", "0") if "stale_floor" not in a else _require(a, "sigma", at)
            ),
        )
    return DynamicMargin(
        mmf_cap=to_wad(_require(raw, "mmf_cap", where)),
        imf_cap=to_wad(_require(raw, "imf_cap", where)),
        k=to_wad(_require(raw, "k", where)),
        horizon=int(_require(raw, "horizon", where)),
        max_sigma_age=int(_require(raw, "max_sigma_age", where)),
        tau=int(_require(raw, "tau", where)),
        assets=assets,
    )


def load_config(path: Path | str = DEFAULT_CONFIG) -> SolventConfig:
    """Read and validate a deployment configuration file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"configuration file {path} not found (see config/local.yaml for an example)"
        )
    data = yaml.safe_load(path.read_text()) or {}
    mocks = bool(data.get("mocks", False))
    liquidation = _require(data, "liquidation", str(path))
    assets = tuple(
        _asset(raw, mocks, i) for i, raw in enumerate(_require(data, "assets", str(path)))
    )
    if not assets:
        raise ConfigError(f"{path}: no assets listed")
    return SolventConfig(
        network=str(data.get("network", "local")),
        mocks=mocks,
        feed_decimals=int(data.get("feed_decimals", 8)),
        insurance_share=to_wad(_require(liquidation, "insurance_share", "liquidation")),
        target_health=to_wad(_require(liquidation, "target_health", "liquidation")),
        assets=assets,
        dynamic_margin=(
            _dynamic_margin(data["dynamic_margin"], {a.symbol for a in assets})
            if data.get("dynamic_margin")
            else None
        ),
        governance=_governance(data["governance"]) if data.get("governance") else None,
        sequencer_feed=(
            _address(data["sequencer"]["feed"], "sequencer.feed")
            if (data.get("sequencer") or {}).get("feed")
            else None
        ),
        sequencer_grace_period=int((data.get("sequencer") or {}).get("grace_period", 0)),
    )
