"""Keys for unattended signing: no prompt, ever.

An account is named one of three ways:
- ``dev:N`` — account N of the local test mnemonic (Anvil's accounts; local chains only);
- ``env:VAR`` — a hex private key held in the environment variable VAR;
- an ape account alias — the keystore ``<ape data folder>/accounts/<alias>.json`` (as written by
  ``ape accounts import``), decrypted with the passphrase in ``$SOLVENT_PASSPHRASE`` (or the
  variable given by ``passphrase_env``). This is what a keeper run as a service uses.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from solvent.sdk.errors import SignerError

TEST_MNEMONIC = "test test test test test test test test test test test junk"
PASSPHRASE_ENV = "SOLVENT_PASSPHRASE"


def ape_data_folder() -> Path:
    return Path(os.environ.get("APE_DATA_FOLDER") or Path.home() / ".ape")


def dev_account(index: int, mnemonic: str = TEST_MNEMONIC) -> LocalAccount:
    """Account `index` of the test mnemonic (m/44'/60'/0'/0/index)."""
    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{index}")


def load_signer(name: str, *, passphrase_env: str = PASSPHRASE_ENV) -> LocalAccount:
    """The key for `name` (see the module doc); a one-line SignerError when it cannot be had."""
    if name.startswith("dev:"):
        try:
            return dev_account(int(name[4:]))
        except ValueError:
            raise SignerError(f"bad dev account {name!r}: write dev:N with N a number") from None
    if name.startswith("env:"):
        var = name[4:]
        key = os.environ.get(var)
        if not key:
            raise SignerError(f"environment variable {var} is empty: set it to the private key")
        try:
            return Account.from_key(key)
        except (ValueError, TypeError) as err:
            raise SignerError(f"{var} does not hold a private key ({err})") from None
    path = ape_data_folder() / "accounts" / f"{name}.json"
    if not path.is_file():
        raise SignerError(
            f"no account {name!r} ({path} not found): import it with `ape accounts import {name}`"
            ", or use dev:N / env:VAR"
        )
    passphrase = os.environ.get(passphrase_env)
    if passphrase is None:
        raise SignerError(
            f"account {name!r} is encrypted: set {passphrase_env} to its passphrase for unattended "
            "signing"
        )
    try:
        key = Account.decrypt(json.loads(path.read_text()), passphrase)
    except ValueError:
        raise SignerError(f"wrong passphrase in {passphrase_env} for account {name!r}") from None
    return Account.from_key(key)
