"""Typed Python exceptions for the contracts' custom errors, and the SDK's own errors.

Every custom error in the shipped ABIs becomes a subclass of `ContractError` named after it, so
callers write ``except errors.InsufficientMargin as err: err.args_by_name["equity"]``. The SDK
simulates each transaction before sending it and raises the decoded error instead of sending.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from eth_abi import decode
from eth_utils import keccak

from solvent.sdk.abi import SHIPPED, canonical_signature, canonical_type, load_abi


class SolventError(Exception):
    """Base of every error the SDK raises."""


class DeploymentFileError(SolventError, ValueError):
    """The deployment file is missing, malformed or for another chain."""


class SignerError(SolventError):
    """No key could be loaded for the requested account (missing passphrase, unknown alias)."""


class RpcError(SolventError):
    """The node could not be reached or answered with an error that is not a contract revert."""


class TransactionFailed(SolventError):
    """A sent transaction was mined but reverted, or was not mined in time."""

    def __init__(self, message: str, tx_hash: str | None = None) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash


class ContractError(SolventError):
    """A call or transaction reverted with one of the contracts' custom errors (or a plain
    revert when `name` is empty). `args_by_name` holds its decoded inputs."""

    error_name = ""

    def __init__(self, args_by_name: dict[str, Any] | None = None, data: bytes = b"") -> None:
        self.args_by_name = dict(args_by_name or {})
        self.data = data
        inner = ", ".join(f"{k}={_show(v)}" for k, v in self.args_by_name.items())
        text = f"{self.error_name}({inner})" if self.error_name else _plain_reason(data)
        super().__init__(text)


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


def _plain_reason(data: bytes) -> str:
    if data[:4] == bytes.fromhex("08c379a0"):  # Error(string)
        return f"reverted: {decode(['string'], data[4:])[0]}"
    if data[:4] == bytes.fromhex("4e487b71"):  # Panic(uint256)
        return f"panic 0x{decode(['uint256'], data[4:])[0]:02x}"
    return f"reverted with data 0x{data.hex()}" if data else "reverted without a reason"


@cache
def _registry() -> dict[bytes, tuple[type[ContractError], list[dict[str, Any]]]]:
    """selector -> (exception class, inputs), over every shipped ABI."""
    out: dict[bytes, tuple[type[ContractError], list[dict[str, Any]]]] = {}
    for contract in SHIPPED:
        for entry in load_abi(contract):
            if entry.get("type") != "error":
                continue
            selector = keccak(text=canonical_signature(entry))[:4]
            if selector not in out:
                out[selector] = (_error_class(entry["name"]), entry.get("inputs", []))
    return out


@cache
def _error_class(name: str) -> type[ContractError]:
    return type(name, (ContractError,), {"error_name": name, "__module__": __name__})


def error_class(name: str) -> type[ContractError]:
    """The exception class of custom error `name` (KeyError if no shipped contract declares it)."""
    if not any(cls.error_name == name for cls, _ in _registry().values()):
        raise KeyError(f"no shipped contract declares the error {name!r}")
    return _error_class(name)


def decode_revert(data: bytes) -> ContractError:
    """The typed exception for raw revert data."""
    known = _registry().get(bytes(data[:4]))
    if known is None:
        return ContractError(data=bytes(data))
    cls, inputs = known
    types = [canonical_type(i) for i in inputs]
    try:
        values = decode(types, bytes(data[4:]))
    except Exception:  # malformed data from a hostile or mismatched contract
        return cls({"data": bytes(data[4:])}, bytes(data))
    names = [i.get("name") or f"arg{n}" for n, i in enumerate(inputs)]
    return cls(dict(zip(names, values, strict=True)), bytes(data))


def __getattr__(name: str) -> type[ContractError]:
    """`errors.InsufficientMargin` and the like: the class of a declared custom error."""
    if name.startswith("_"):
        raise AttributeError(name)
    try:
        return error_class(name)
    except KeyError as err:
        raise AttributeError(str(err)) from None
