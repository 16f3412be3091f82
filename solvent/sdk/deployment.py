"""A deployment file read without ape: chain id, contract addresses and the listed assets."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import is_address, to_checksum_address

from solvent.sdk.errors import DeploymentFileError


@dataclass(frozen=True)
class AssetInfo:
    """One listed asset of a deployment."""

    symbol: str
    token: str
    vault: str
    feed: str
    decimals: int
    secondary_feed: str | None = None

    @property
    def scale(self) -> int:
        return 10**self.decimals


@dataclass(frozen=True)
class DeploymentInfo:
    """What a deployment file records, with checksummed addresses."""

    path: Path
    chain_id: int
    network: str
    mocks: bool
    deploy_block: int
    contracts: dict[str, str]
    assets: dict[str, AssetInfo] = field(default_factory=dict)

    @property
    def margin_account(self) -> str:
        return self.contracts["MarginAccount"]

    @property
    def liquidator(self) -> str:
        return self.contracts["Liquidator"]

    @property
    def oracle(self) -> str:
        return self.contracts["ChainlinkOracle"]

    def asset(self, symbol: str) -> AssetInfo:
        try:
            return self.assets[symbol]
        except KeyError:
            known = ", ".join(self.assets)
            raise DeploymentFileError(
                f"{self.path}: no asset {symbol!r} in this deployment (listed: {known})"
            ) from None

    def asset_by_token(self, token: str) -> AssetInfo:
        address = str(token).lower()
        for asset in self.assets.values():
            if asset.token.lower() == address:
                return asset
        raise DeploymentFileError(f"{self.path}: token {token} is not listed in this deployment")


REQUIRED_CONTRACTS = ("MarginAccount", "Liquidator", "ChainlinkOracle")


def read_deployment(path: Path | str) -> DeploymentInfo:
    """Parse a deployment file written by `solvent deploy` / `ape run deploy`; every problem is a
    one-line DeploymentFileError naming the file and the field."""
    path = Path(path)
    if not path.is_file():
        raise DeploymentFileError(
            f"deployment file {path} not found: run `solvent deploy` (or `ape run deploy`) first"
        )
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DeploymentFileError(f"{path} is not JSON ({err})") from err
    if not isinstance(data, dict):
        raise DeploymentFileError(f"{path} is not a Solvent deployment file (not an object)")
    try:
        contracts = {
            name: _addr(path, f"contracts.{name}", a) for name, a in data["contracts"].items()
        }
        for name in REQUIRED_CONTRACTS:
            if name not in contracts:
                raise DeploymentFileError(f"{path}: contracts.{name} is missing")
        assets = {
            symbol: AssetInfo(
                symbol=symbol,
                token=_addr(path, f"assets.{symbol}.token", raw["token"]),
                vault=_addr(path, f"assets.{symbol}.vault", raw["vault"]),
                feed=_addr(path, f"assets.{symbol}.feed", raw["feed"]),
                decimals=int(raw["decimals"]),
                secondary_feed=(
                    _addr(path, f"assets.{symbol}.secondary_feed", raw["secondary_feed"])
                    if raw.get("secondary_feed")
                    else None
                ),
            )
            for symbol, raw in data["assets"].items()
        }
        return DeploymentInfo(
            path=path,
            chain_id=int(data["chain_id"]),
            network=str(data.get("network", "")),
            mocks=bool(data.get("mocks", False)),
            deploy_block=int(data.get("deploy_block", 0)),
            contracts=contracts,
            assets=assets,
        )
    except KeyError as err:
        raise DeploymentFileError(
            f"{path} is not a Solvent deployment file: {err} is missing"
        ) from err
    except (TypeError, ValueError, AttributeError) as err:
        if isinstance(err, DeploymentFileError):
            raise
        raise DeploymentFileError(f"{path} has a malformed field ({err})") from err


def _addr(path: Path, key: str, value: Any) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise DeploymentFileError(f"{path}: {key} is not an address ({value!r})")
    return to_checksum_address(value)
