"""The Solvent SDK: a typed client over a deployment file, usable from any folder.

from solvent.sdk import Solvent, load_signer, errors
"""

from solvent.sdk import errors
from solvent.sdk.client import MAX_UINT256, Health, Solvent, VaultState, connect
from solvent.sdk.deployment import AssetInfo, DeploymentInfo, read_deployment
from solvent.sdk.signer import dev_account, load_signer
from solvent.sdk.tx import Sender, SignedTx

__all__ = [
    "MAX_UINT256",
    "AssetInfo",
    "DeploymentInfo",
    "Health",
    "Sender",
    "SignedTx",
    "Solvent",
    "VaultState",
    "connect",
    "dev_account",
    "errors",
    "load_signer",
    "read_deployment",
]
