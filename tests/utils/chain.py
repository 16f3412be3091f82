"""Strict revert and event helpers shared by the unit tests.

ape 0.8's `ape.reverts(contract.Error)` accepts any revert when the error comes from another
contract in the call (the oracle under the MarginAccount) or from an eth_call (Anvil reports
"custom error 0x...: ..." text there), and it ignores misspelled argument names. These helpers
decode the revert data themselves and compare the error and every argument exactly.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ape
from ape.exceptions import ContractLogicError, CustomError
from eth_abi import decode
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

ZERO_ADDRESS = "0x" + "00" * 20
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def norm(value: Any) -> Any:
    """Comparable form of an event/error argument: addresses lower-case, bytes as bytes."""
    if hasattr(value, "address"):
        value = value.address
    if isinstance(value, str) and value.startswith("0x"):
        return value.lower()
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return value


def norm_checksum(value: Any) -> Any:
    """Accounts, contracts and hex addresses -> checksummed address; anything else as it is."""
    if hasattr(value, "address"):
        return to_checksum_address(str(value.address))
    if isinstance(value, str) and _ADDRESS.fullmatch(value):
        return to_checksum_address(value)
    return value


def ev(**fields: Any) -> dict[str, Any]:
    """Expected event arguments (`from_` stands for the `from` field)."""
    return {("from" if k == "from_" else k): norm(v) for k, v in fields.items()}


def logs(tx: Any, event: Any) -> list[dict[str, Any]]:
    """Arguments of every `event` (e.g. `ma.Deposited`) in the receipt, in log order."""
    return [{k: norm(v) for k, v in log.event_arguments.items()} for log in event.from_receipt(tx)]


def logs_named(receipt: Any, contract: Any, event: str) -> list[dict[str, Any]]:
    """Arguments of every `event` emitted by `contract` in `receipt`, addresses checksummed."""
    return [
        {k: norm_checksum(v) for k, v in log.event_arguments.items()}
        for log in receipt.events
        if log.event_name == event
        and norm_checksum(log.contract_address) == norm_checksum(contract)
    ]


def event_names(tx: Any, contract: Any) -> list[str]:
    """Names of the events `contract` emitted in the receipt, in order."""
    return [log.event_name for log in tx.events if norm(log.contract_address) == norm(contract)]


def _text_bytes(text: str) -> bytes | None:
    """ABI words (a multiple of 32 bytes) that were decoded to `text`, latin-1 or UTF-8."""
    for encoding in ("latin-1", "utf-8"):
        with contextlib.suppress(UnicodeEncodeError):
            body = text.encode(encoding)
            if len(body) % 32 == 0:
                return body
    return None


def revert_data(err: ContractLogicError) -> bytes:
    """Raw revert data of a failed transaction or eth_call."""
    # The node's answer as web3 raised it (hex), when ape kept it as the cause: exact.
    cause = err.__cause__
    data = getattr(cause, "data", None)
    if isinstance(data, str) and re.fullmatch(r"0x(?:[0-9a-fA-F]{2}){4,}", data):
        return bytes(HexBytes(data))
    raw = err.revert_message or ""
    message = raw.strip()
    if match := re.fullmatch(r"custom error (0x[0-9a-fA-F]{8}):\s*([0-9a-fA-F]*)", message):
        return bytes(HexBytes(match[1] + match[2]))
    if re.fullmatch(r"0x[0-9a-fA-F]{8,}", message):
        return bytes(HexBytes(message))
    # "custom error 0x<selector>: " followed by the arguments as raw bytes decoded to text (byte
    # for byte, or as UTF-8 where the bytes happen to form UTF-8 sequences).
    match = re.match(r"custom error (0x[0-9a-fA-F]{8}): ", raw)
    if match and (args := _text_bytes(raw[match.end() :])) is not None:
        return bytes(HexBytes(match[1])) + args
    # Some nodes' answers reach ape as the revert data itself, decoded to text byte for byte (an
    # error whose arguments are small numbers is mostly NUL bytes).
    if len(raw) >= 4 and any(ord(c) < 0x20 and c not in "\t\n\r" for c in raw):
        for encoding in ("latin-1", "utf-8"):
            with contextlib.suppress(UnicodeEncodeError):
                return raw.encode(encoding)
    raise AssertionError(f"revert is not a custom error: {message!r}")


@contextmanager
def reverts(error: Any, **inputs: Any) -> Iterator[None]:
    """Expect exactly `error` (a contract's error class, e.g. `ma.InsufficientMargin` or
    `oracle.StaleAnswer`) with exactly these arguments, all of them."""
    abi = error.abi
    selector = keccak(text=abi.selector)[:4]
    with ape.reverts() as info:
        yield
    err = info.value
    if isinstance(err, CustomError):
        actual_selector, actual = keccak(text=err.abi.selector)[:4], dict(err.inputs)
    else:
        data = revert_data(err)
        actual_selector = data[:4]
        values = decode([i.canonical_type for i in abi.inputs], data[4:]) if abi.inputs else ()
        actual = {i.name: v for i, v in zip(abi.inputs, values, strict=True)}
    assert actual_selector == selector, f"expected {abi.selector}, got {err!r}"
    got = {k: norm(v) for k, v in actual.items()}
    expected = {k: norm(v) for k, v in inputs.items()}
    assert got == expected, f"{abi.name}: got {got}, expected {expected}"


def decode_custom_error(contract: Any, err: ContractLogicError) -> tuple[str, dict[str, Any]]:
    """Name and inputs of the custom error `err`, decoded with `contract`'s ABI."""
    if isinstance(err, CustomError):
        return err.abi.name, {k: norm_checksum(v) for k, v in err.inputs.items()}
    data = HexBytes(revert_data(err))
    errors = contract.contract_type.errors
    selector = data[:4]
    assert selector in errors, f"selector {selector.hex()} not in {contract.contract_type.name} ABI"
    abi = errors[selector]
    inputs = contract.provider.network.ecosystem.decode_calldata(abi, data[4:])
    return abi.name, {k: norm_checksum(v) for k, v in inputs.items()}


@contextmanager
def reverts_with(contract: Any, error: str, **expected: Any) -> Iterator[None]:
    """Expect a revert with the custom error named `error` in `contract`'s ABI, exactly these inputs."""
    with ape.reverts() as info:
        yield
    name, inputs = decode_custom_error(contract, info.value)
    assert name == error, f"expected {error}, got {name}({inputs})"
    assert inputs == {k: norm_checksum(v) for k, v in expected.items()}


@contextmanager
def fast_custom_error_decoding() -> Iterator[None]:
    """ape searches a full struct-log trace for a custom error the called contract's ABI lacks (the
    oracle's StaleAnswer under MarginAccount.borrow, a token's under Liquidator.liquidate), which
    costs seconds per revert. `reverts` decodes those from the revert data itself, so modules that
    use it can skip the search: `with fast_custom_error_decoding(): yield` in a module fixture."""
    from ape_ethereum.ecosystem import Ethereum

    original = Ethereum.decode_custom_error

    def decode_custom_error(self, data, address, **kwargs):
        kwargs.pop("txn", None)  # without a transaction ape does not search the trace
        return original(self, data, address, **kwargs)

    Ethereum.decode_custom_error = decode_custom_error
    try:
        yield
    finally:
        Ethereum.decode_custom_error = original
