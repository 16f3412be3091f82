"""Local Anvil chains for tests, benchmarks and simulations, and bulk set-up through the SDK.

`AnvilNode` starts anvil the way `solvent node` does (no step tracing), optionally with a
testnet chain id and fixed block times. `Fleet` sends many transactions at once with explicit
nonces and gas (no simulation: each may depend on the one before), then waits for all of them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from solvent.cli.node import anvil_command, wait_for_port
from solvent.sdk import connect

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / ".build" / "__local__.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AnvilNode:
    """anvil in its own process group on a free port."""

    def __init__(self, chain_id: int = 31337, block_time: int = 0, log: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = anvil_command(self.port, chain_id, block_time, 30_000_000, "127.0.0.1")
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        if not wait_for_port("127.0.0.1", self.port):
            self.stop()
            raise RuntimeError(f"anvil did not start on {self.port}")
        self.web3 = connect(self.url)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=10)

    def mine(self, blocks: int = 1) -> None:
        self.web3.provider.make_request("anvil_mine", [blocks])

    def set_time(self, timestamp: int) -> None:
        self.web3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])


def artifact(name: str) -> dict[str, Any]:
    return json.loads(BUILD.read_text())["contractTypes"][name]


class Fleet:
    """Signs and sends transactions from many local keys without waiting in between.

    Signed transactions are buffered and go to the node in JSON-RPC batches of up to `BATCH` (one
    HTTP request each) of one sender's consecutive transactions; `wait` sends what is left and
    reads the receipts in batches too.
    """

    BATCH = 250  # transactions or receipt reads per HTTP request

    def __init__(self, web3: Web3, sequential: bool = False) -> None:
        """`sequential`: send each transaction alone and wait until it is mined (one per block
        under automine, so the same sends make the same blocks: reproducible replays)."""
        self.web3 = web3
        self.sequential = sequential
        self.nonces: dict[str, int] = {}
        self.pending: list[str] = []
        self._unsent: list[str] = []  # raw signed transactions, hex
        self._unsent_from = ""
        self.chain_id = int(web3.eth.chain_id)
        self.max_fee = 50 * 10**9

    def _nonce(self, address: str) -> int:
        if address not in self.nonces:
            self.nonces[address] = int(self.web3.eth.get_transaction_count(address, "pending"))
        nonce = self.nonces[address]
        self.nonces[address] += 1
        return nonce

    def _queue(self, signer: LocalAccount, tx: dict[str, Any]) -> str:
        # A node may run the requests of one batch in any order: only one sender's transactions
        # (ordered by their nonces) share a batch, so a transaction that depends on another
        # sender's (a mint before a deposit) is sent after it.
        if self._unsent and self._unsent_from != signer.address:
            self.flush()
        self._unsent_from = signer.address
        signed = signer.sign_transaction(tx)
        self._unsent.append("0x" + bytes(signed.raw_transaction).hex())
        self.pending.append("0x" + bytes(signed.hash).hex())
        if self.sequential:
            self.flush()
            self._mined(self.pending[-1])
        elif len(self._unsent) >= self.BATCH:
            self.flush()
        return self.pending[-1]

    def _mined(self, tx_hash: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.web3.provider.make_request("eth_getTransactionReceipt", [tx_hash]).get(
            "result"
        ):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{tx_hash} not mined")
            time.sleep(0.002)

    def send(self, signer: LocalAccount, fn: Any, gas: int = 600_000) -> str:
        """Queue `fn` from `signer` (its next nonce, fixed gas); returns the transaction hash."""
        me = signer.address
        tx = fn.build_transaction(
            {
                "from": me,
                "nonce": self._nonce(me),
                "gas": gas,
                "chainId": self.chain_id,
                "maxFeePerGas": self.max_fee,
                "maxPriorityFeePerGas": 10**9,
            }
        )
        tx.pop("gasPrice", None)
        return self._queue(signer, tx)

    def pay(self, signer: LocalAccount, to: str, wei: int) -> None:
        tx = {
            "to": to, "value": wei, "gas": 21_000, "nonce": self._nonce(signer.address),
            "chainId": self.chain_id, "maxFeePerGas": self.max_fee, "maxPriorityFeePerGas": 10**9,
        }  # fmt: skip
        self._queue(signer, tx)

    def flush(self) -> None:
        """Send every queued transaction, in order, in batches."""
        while self._unsent:
            chunk = self._unsent[: self.BATCH]
            answers = self.web3.provider.make_batch_request(
                [("eth_sendRawTransaction", [raw]) for raw in chunk]
            )
            if not isinstance(answers, list):  # one error object for the whole batch
                raise RuntimeError(f"node refused the batch: {answers.get('error')}")
            for answer in answers:
                if answer.get("error"):
                    raise RuntimeError(f"node refused a transaction: {answer['error']}")
            self._unsent = self._unsent[len(chunk) :]  # only once the node took them

    def deploy(self, signer: LocalAccount, name: str, *args: Any) -> str:
        art = artifact(name)
        factory = self.web3.eth.contract(
            abi=art["abi"], bytecode=art["deploymentBytecode"]["bytecode"]
        )
        self.send(signer, factory.constructor(*args), gas=5_000_000)
        receipt = self.wait()[-1]
        return Web3.to_checksum_address(receipt["contractAddress"])

    def wait(self, timeout: float = 120.0) -> list[dict[str, Any]]:
        """Receipts (as the node returns them: hex strings) of everything sent since the last
        wait; each must have succeeded."""
        self.flush()
        deadline = time.monotonic() + timeout
        found: dict[str, Any] = {}
        while True:
            missing = [h for h in self.pending if h not in found]
            for i in range(0, len(missing), self.BATCH):
                answers = self.web3.provider.make_batch_request(
                    [("eth_getTransactionReceipt", [h]) for h in missing[i : i + self.BATCH]]
                )
                for tx_hash, answer in zip(missing[i : i + self.BATCH], answers, strict=True):
                    if answer.get("result"):
                        found[tx_hash] = answer["result"]
            if len(found) == len(self.pending):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.pending) - len(found)} transaction(s) not mined")
            time.sleep(0.05)
        receipts = [found[h] for h in self.pending]
        for tx_hash, receipt in zip(self.pending, receipts, strict=True):
            assert int(receipt["status"], 16) == 1, f"{tx_hash} reverted"
        self.pending = []
        return receipts


def new_keys(n: int, seed: int) -> list[LocalAccount]:
    """n deterministic fresh keys (not anvil's), for owners of many accounts."""
    return [Account.from_key(Web3.keccak(text=f"solvent-test-{seed}-{i}")) for i in range(n)]
