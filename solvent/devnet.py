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
    """Signs and sends transactions from many local keys without waiting in between."""

    def __init__(self, web3: Web3) -> None:
        self.web3 = web3
        self.nonces: dict[str, int] = {}
        self.pending: list[str] = []
        self.chain_id = int(web3.eth.chain_id)
        self.max_fee = 50 * 10**9

    def send(self, signer: LocalAccount, fn: Any, gas: int = 600_000) -> str:
        me = signer.address
        if me not in self.nonces:
            self.nonces[me] = int(self.web3.eth.get_transaction_count(me, "pending"))
        tx = fn.build_transaction(
            {
                "from": me,
                "nonce": self.nonces[me],
                "gas": gas,
                "chainId": self.chain_id,
                "maxFeePerGas": self.max_fee,
                "maxPriorityFeePerGas": 10**9,
            }
        )
        tx.pop("gasPrice", None)
        signed = signer.sign_transaction(tx)
        self.nonces[me] += 1
        tx_hash = self.web3.eth.send_raw_transaction(signed.raw_transaction)
        self.pending.append("0x" + bytes(tx_hash).hex())
        return self.pending[-1]

    def pay(self, signer: LocalAccount, to: str, wei: int) -> None:
        me = signer.address
        if me not in self.nonces:
            self.nonces[me] = int(self.web3.eth.get_transaction_count(me, "pending"))
        tx = {
            "to": to, "value": wei, "gas": 21_000, "nonce": self.nonces[me], "chainId": self.chain_id,
            "maxFeePerGas": self.max_fee, "maxPriorityFeePerGas": 10**9,
        }  # fmt: skip
        self.nonces[me] += 1
        self.pending.append(
            "0x"
            + bytes(
                self.web3.eth.send_raw_transaction(signer.sign_transaction(tx).raw_transaction)
            ).hex()
        )

    def deploy(self, signer: LocalAccount, name: str, *args: Any) -> str:
        art = artifact(name)
        factory = self.web3.eth.contract(
            abi=art["abi"], bytecode=art["deploymentBytecode"]["bytecode"]
        )
        self.send(signer, factory.constructor(*args), gas=5_000_000)
        receipt = self.wait()[-1]
        return str(receipt["contractAddress"])

    def wait(self, timeout: float = 120.0) -> list[Any]:
        """Receipts of everything sent since the last wait; each must have succeeded."""
        deadline = time.monotonic() + timeout
        receipts = []
        for tx_hash in self.pending:
            while True:
                try:
                    receipt = self.web3.eth.get_transaction_receipt(tx_hash)
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{tx_hash} not mined") from None
                    time.sleep(0.05)
            assert int(receipt["status"]) == 1, f"{tx_hash} reverted"
            receipts.append(receipt)
        self.pending = []
        return receipts


def new_keys(n: int, seed: int) -> list[LocalAccount]:
    """n deterministic fresh keys (not anvil's), for owners of many accounts."""
    return [Account.from_key(Web3.keccak(text=f"solvent-test-{seed}-{i}")) for i in range(n)]
