"""The keeper: finds accounts below maintenance and liquidates them, as a pass or as a service.

Modules by role:
    model      plain data: accounts, liquidations, write-offs, skips, the report of a pass
    engine     one pass: lens, best pair after gas, batches that fit a block, approvals
    discovery  accounts from MarginAccount events (eth_getLogs in ranges)
    store      SQLite state: cursor, accounts, every signed transaction
    service    the unattended loop: follow blocks, rescan what can have changed, survive faults
    metrics    Prometheus metrics; logs: structured logs
"""

from solvent.keeper.discovery import discover_accounts
from solvent.keeper.engine import Funder, Keeper, mint_funder
from solvent.keeper.model import (
    AccountRef,
    BadDebt,
    Candidate,
    FlashRoute,
    KeeperError,
    KeeperReport,
    Liquidation,
    SentTx,
    Skip,
)

__all__ = [
    "AccountRef",
    "BadDebt",
    "Candidate",
    "FlashRoute",
    "Funder",
    "Keeper",
    "KeeperError",
    "KeeperReport",
    "Liquidation",
    "SentTx",
    "Skip",
    "discover_accounts",
    "mint_funder",
]
