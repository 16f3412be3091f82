"""Sending transactions: simulate, sign locally, send raw, wait; every revert decoded first.

`Sender` never prompts: it holds a local key (solvent.sdk.signer). Each transaction is simulated
by gas estimation (an `eth_call` of the same transaction): a revert raises the contract's typed
error (solvent.sdk.errors) and nothing is sent. `on_sent` hears of every transaction between
signing and waiting, so a caller can journal its hash (and raw bytes) before anything can go
wrong; `rebroadcast` re-sends those same bytes, which can never make a second transaction.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError, TransactionNotFound

from solvent.sdk.errors import ContractError, RpcError, TransactionFailed, decode_revert

GAS_HEADROOM_BPS = 12_000  # gas limit = estimate * 1.2: interest accrual can cost a little more
RECEIPT_POLL_S = 0.2


@dataclass(frozen=True)
class SignedTx:
    """A signed transaction about to be sent."""

    tx_hash: str
    raw: bytes
    nonce: int
    kind: str
    gas_limit: int


OnSent = Callable[[SignedTx], None]


def revert_of(err: BaseException) -> ContractError | None:
    """The decoded custom error of a web3 revert, or None if `err` is not a revert."""
    if isinstance(err, ContractCustomError):
        data = err.data if isinstance(err.data, str) else getattr(err, "message", "")
        return decode_revert(HexBytes(str(data)))
    if isinstance(err, ContractLogicError):
        raw = err.data
        if isinstance(raw, str) and raw.startswith("0x"):
            return decode_revert(HexBytes(raw))
        if isinstance(raw, bytes | bytearray):
            return decode_revert(bytes(raw))
        return ContractError(data=b"")
    return None


class Sender:
    """Sends contract calls from one local key."""

    def __init__(
        self,
        web3: Web3,
        account: LocalAccount,
        *,
        max_fee_per_gas: int | None = None,
        receipt_timeout: float = 120.0,
        on_sent: OnSent | None = None,
    ) -> None:
        self.web3 = web3
        self.account = account
        self.address = account.address
        self.max_fee_per_gas = max_fee_per_gas
        self.receipt_timeout = receipt_timeout
        self.on_sent = on_sent
        self._nonce: int | None = None

    # ------------------------------------------------------------------ fees
    def fees(self) -> dict[str, int]:
        """EIP-1559 fees from the node: tip as the node suggests, max fee twice the base fee plus
        the tip, both capped by `max_fee_per_gas`."""
        base = int(self.web3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
        tip = int(self.web3.eth.max_priority_fee)
        max_fee = 2 * base + tip
        if self.max_fee_per_gas is not None:
            if base > self.max_fee_per_gas:
                raise TransactionFailed(
                    f"base fee {base} wei exceeds the configured maximum {self.max_fee_per_gas}"
                )
            max_fee = min(max_fee, self.max_fee_per_gas)
            tip = min(tip, max_fee - base)
        return {"maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip}

    def gas_price(self) -> int:
        """What one unit of gas costs now (wei), capped by `max_fee_per_gas`."""
        price = int(self.web3.eth.gas_price)
        return price if self.max_fee_per_gas is None else min(price, self.max_fee_per_gas)

    # ------------------------------------------------------------------ simulate / send
    def simulate(self, fn: Any, block: str | int = "pending") -> Any:
        """eth_call of `fn` from this account: its return value, or the typed revert."""
        try:
            return fn.call({"from": self.address}, block_identifier=block)
        except (ContractCustomError, ContractLogicError) as err:
            raise revert_of(err) from err  # type: ignore[misc]

    def estimate(self, fn: Any) -> int:
        try:
            return int(fn.estimate_gas({"from": self.address}))
        except (ContractCustomError, ContractLogicError) as err:
            raise revert_of(err) from err  # type: ignore[misc]

    def sign(self, fn: Any, kind: str, gas: int | None = None) -> SignedTx:
        """Simulate `fn`, then sign it with the next nonce (nothing is sent yet)."""
        gas = gas or self.estimate(fn) * GAS_HEADROOM_BPS // 10_000
        nonce = self._next_nonce()
        tx = fn.build_transaction(
            {
                "from": self.address,
                "nonce": nonce,
                "gas": gas,
                "chainId": self.web3.eth.chain_id,
                **self.fees(),
            }
        )
        tx.pop("gasPrice", None)  # set by a node's gas-price strategy; EIP-1559 fees rule
        signed = self.account.sign_transaction(tx)
        return SignedTx(
            "0x" + bytes(signed.hash).hex(), bytes(signed.raw_transaction), nonce, kind, gas
        )

    def send(self, fn: Any, kind: str = "call", gas: int | None = None) -> Any:
        """Simulate, sign, journal (on_sent), send and wait; returns the receipt.

        Raises the typed ContractError when the simulation reverts (nothing sent), and
        TransactionFailed when the mined transaction reverted."""
        signed = self.sign(fn, kind, gas)
        if self.on_sent is not None:
            self.on_sent(signed)
        self.broadcast(signed)
        return self.wait(signed.tx_hash)

    def broadcast(self, signed: SignedTx) -> None:
        try:
            self.web3.eth.send_raw_transaction(signed.raw)
        except ValueError as err:  # "already known" / "nonce too low" after a re-send
            text = str(err).lower()
            if "already known" in text or "known transaction" in text:
                return
            self._nonce = None
            raise RpcError(f"node refused transaction {signed.tx_hash}: {err}") from err
        self._nonce = signed.nonce + 1

    def rebroadcast(self, raw: bytes) -> None:
        """Send the same signed bytes again (same hash: it can only ever be mined once)."""
        # Already known, or its nonce is spent: the lookup by hash decides.
        with contextlib.suppress(ValueError):
            self.web3.eth.send_raw_transaction(raw)

    def wait(self, tx_hash: str, timeout: float | None = None) -> Any:
        deadline = time.monotonic() + (self.receipt_timeout if timeout is None else timeout)
        while True:
            receipt = self.receipt(tx_hash)
            if receipt is not None:
                if int(receipt["status"]) != 1:
                    raise TransactionFailed(f"transaction {tx_hash} reverted", tx_hash)
                return receipt
            if time.monotonic() > deadline:
                raise TransactionFailed(f"transaction {tx_hash} not mined in time", tx_hash)
            time.sleep(RECEIPT_POLL_S)

    def receipt(self, tx_hash: str) -> Any | None:
        try:
            return self.web3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            return None

    def confirmed_nonce(self) -> int:
        """Transactions of this account mined so far."""
        return int(self.web3.eth.get_transaction_count(self.address, "latest"))

    def _next_nonce(self) -> int:
        chain_nonce = int(self.web3.eth.get_transaction_count(self.address, "pending"))
        self._nonce = max(self._nonce or 0, chain_nonce)
        return self._nonce

    def reset_nonce(self) -> None:
        self._nonce = None
