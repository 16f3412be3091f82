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


def write_keystore(alias: str, key: LocalAccount, passphrase: str) -> Path:
    """An ape keystore (as `ape accounts import` writes it) in the project's ape data folder."""
    folder = Path(os.environ.get("APE_DATA_FOLDER") or ROOT / ".ape") / "accounts"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{alias}.json"
    path.write_text(json.dumps(Account.encrypt(key.key, passphrase)))
    return path
