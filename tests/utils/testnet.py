"""Test helpers for a second node playing a testnet: its config and keystores (solvent.devnet has
the node and the bulk sender)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml
from eth_account import Account
from eth_account.signers.local import LocalAccount

from solvent.devnet import ROOT, AnvilNode, Fleet, artifact, free_port, new_keys
from solvent.sdk import dev_account

SEPOLIA = 11155111
WAD = 10**18

__all__ = ["ROOT", "SEPOLIA", "WAD", "AnvilNode", "Fleet", "artifact", "free_port", "new_keys"]


def ape_data_folder(out: Path, block_time: int) -> Path:
    """An ape data folder whose global ape-config.yaml describes the local "testnet" as its
    operator would: Sepolia's chain id with `block_time`-second blocks and one confirmation (ape's
    Sepolia defaults, 15 s blocks and two confirmations, made the deploy wait about 7 s per
    transaction: 6 of the module's 7.5 minutes)."""
    (out / "accounts").mkdir(parents=True, exist_ok=True)
    (out / "ape-config.yaml").write_text(
        yaml.safe_dump(
            {"ethereum": {"sepolia": {"block_time": block_time, "required_confirmations": 1}}}
        )
    )
    return out


def make_testnet_config(tokens: dict[str, tuple[str, str]], out: Path) -> Path:
    """config/local.yaml turned into a testnet config: network sepolia, no mocks, the given
    (token, feed) per symbol, a one-day timelock with anvil's accounts 10 and 11."""
    raw = yaml.safe_load((ROOT / "config" / "local.yaml").read_text())
    raw["network"] = "sepolia"
    raw["mocks"] = False
    raw.pop("feed_decimals", None)
    raw["assets"] = [a for a in raw["assets"] if a["symbol"] in tokens]
    for asset in raw["assets"]:
        asset.pop("price", None)
        asset.pop("name", None)
        asset.pop("decimals", None)
        asset["token"], asset["feed"] = tokens[asset["symbol"]]
    dm = raw.get("dynamic_margin")
    if dm:
        dm["assets"] = {k: v for k, v in dm["assets"].items() if k in tokens}
    raw["governance"] = {
        "timelock_delay": 86400,
        "proposers": [dev_account(10).address],
        "executors": [],
        "guardian": dev_account(11).address,
    }
    out.write_text(yaml.safe_dump(raw, sort_keys=False))
    return out


def write_keystore(
    alias: str, key: LocalAccount, passphrase: str, data_folder: Path | None = None
) -> Path:
    """An ape keystore (as `ape accounts import` writes it) in an ape data folder (default: the
    project's)."""
    folder = (data_folder or Path(os.environ.get("APE_DATA_FOLDER") or ROOT / ".ape")) / "accounts"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{alias}.json"
    path.write_text(json.dumps(Account.encrypt(key.key, passphrase)))
    return path
