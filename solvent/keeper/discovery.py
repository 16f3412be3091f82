"""Accounts from MarginAccount events, read with `eth_getLogs` in block ranges.

One `eth_getLogs` per range covers every event that names an account (Deposited, Borrowed,
Repaid, Withdrawn, Transferred, Liquidated, BadDebtWrittenOff): owner and subId are topics 1 and 2
of all but Transferred, whose sub-account ids are in its data. A keeper keeps a cursor (the last
block read) and re-reads `reorg_depth` blocks behind it each time, so logs of a block replaced by
a reorg are seen again; accounts are a set, so reading a block twice is harmless.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from eth_abi import decode
from eth_utils import keccak, to_checksum_address

from solvent.keeper.model import AccountRef
from solvent.sdk import Solvent
from solvent.sdk.abi import canonical_signature, margin_account_abi

ACCOUNT_EVENTS = (
    "Deposited",
    "Borrowed",
    "Repaid",
    "Withdrawn",
    "Transferred",
    "Liquidated",
    "BadDebtWrittenOff",
)
#: Events that create an account (a first deposit, a borrow or a transfer in).
OPENING_EVENTS = frozenset({"Deposited", "Borrowed", "Transferred"})
LOG_RANGE = 10_000  # blocks per eth_getLogs (public nodes cap ranges; lower it for them)


@cache
def topics() -> dict[bytes, str]:
    """topic0 -> event name, for every account event."""
    out = {}
    for entry in margin_account_abi():
        if entry.get("type") == "event" and entry["name"] in ACCOUNT_EVENTS:
            out[keccak(text=canonical_signature(entry))] = entry["name"]
    return out


@dataclass(frozen=True)
class AccountEvent:
    """One event naming an account, where it is on chain."""

    name: str
    account: AccountRef
    block: int
    log_index: int


def read_events(
    client: Solvent, start: int, stop: int, step: int = LOG_RANGE
) -> Iterator[AccountEvent]:
    """Every account event of the MarginAccount in blocks start..stop (inclusive), in order."""
    address = client.margin_account.address
    topic0 = ["0x" + t.hex() for t in topics()]
    block = start
    while block <= stop:
        end = min(stop, block + step - 1)
        logs = client.web3.eth.get_logs(
            {"address": address, "fromBlock": block, "toBlock": end, "topics": [topic0]}
        )
        for log in logs:
            name = topics().get(bytes(log["topics"][0]))
            if name is None:
                continue
            owner = to_checksum_address(bytes(log["topics"][1])[-20:])
            where = int(log["blockNumber"]), int(log["logIndex"])
            if name == "Transferred":
                from_sub, to_sub, _amount = decode(
                    ["uint96", "uint96", "uint256"], bytes(log["data"])
                )
                yield AccountEvent(name, AccountRef(owner, int(from_sub)), *where)
                yield AccountEvent(name, AccountRef(owner, int(to_sub)), *where)
            else:
                sub = int.from_bytes(bytes(log["topics"][2]), "big")
                yield AccountEvent(name, AccountRef(owner, sub), *where)
        block = end + 1


def discover_accounts(
    client: Solvent, start_block: int = 0, stop_block: int | None = None
) -> list[AccountRef]:
    """Every account an opening event names since `start_block`, in order of first appearance."""
    head = int(client.web3.eth.block_number)
    stop = head if stop_block is None else min(stop_block, head)
    seen: dict[AccountRef, None] = {}
    for event in read_events(client, start_block, stop):
        if event.name in OPENING_EVENTS:
            seen.setdefault(event.account, None)
    return list(seen)
