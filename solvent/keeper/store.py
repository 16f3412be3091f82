"""The keeper's state in an embedded SQLite database (standard library).

- `meta`: the deployment it belongs to (chain id, MarginAccount) and the event cursor (last block
  read);
- `accounts`: every account seen, its last health and when it is next due for a scan;
- `txs`: every transaction signed, with its raw bytes, written *before* it is sent. After a
  restart or an outage each one still marked `sent` is looked up by hash (and its same bytes
  re-broadcast if the node lost it), so nothing is reported wrongly or sent twice.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from solvent.keeper.model import AccountRef

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    owner TEXT NOT NULL, sub_id INTEGER NOT NULL, first_block INTEGER NOT NULL,
    changed_block INTEGER NOT NULL, scanned_block INTEGER NOT NULL DEFAULT -1,
    health TEXT, due_block INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (owner, sub_id)
);
CREATE TABLE IF NOT EXISTS txs (
    hash TEXT PRIMARY KEY, nonce INTEGER NOT NULL, kind TEXT NOT NULL, raw BLOB NOT NULL,
    status TEXT NOT NULL, sent_at REAL NOT NULL, block INTEGER, gas_used INTEGER, note TEXT
);
"""

SENT, MINED, REVERTED, DROPPED = "sent", "mined", "reverted", "dropped"


class StoreError(RuntimeError):
    """The database belongs to another deployment or cannot be opened."""


@dataclass(frozen=True)
class StoredTx:
    hash: str
    nonce: int
    kind: str
    raw: bytes
    status: str


class Store:
    """SQLite state of one keeper for one deployment."""

    def __init__(self, path: Path | str, *, chain_id: int, margin_account: str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self.db.executescript(SCHEMA)
        except sqlite3.Error as err:
            raise StoreError(f"cannot open the keeper database {path}: {err}") from err
        owner = f"{chain_id}:{margin_account.lower()}"
        found = self.get("deployment")
        if found is None:
            self.put("deployment", owner)
        elif found != owner:
            raise StoreError(
                f"{path} holds the state of deployment {found}, not {owner}; give another --db"
            )

    # ------------------------------------------------------------------ meta
    def get(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    @property
    def cursor(self) -> int | None:
        """Last block whose events were read (None: nothing read yet)."""
        value = self.get("cursor")
        return None if value is None else int(value)

    @cursor.setter
    def cursor(self, block: int) -> None:
        self.put("cursor", str(block))

    def advance(self, cursor: int, anchor: tuple[int, str]) -> None:
        """Set the cursor and the anchor in one statement (both or neither)."""
        self.db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('cursor', ?), ('anchor', ?)",
            (str(cursor), f"{anchor[0]}:{anchor[1]}"),
        )

    @property
    def anchor(self) -> tuple[int, str] | None:
        """(block, hash) of the newest block the keeper will not re-read: if its hash changes, a
        reorg went deeper than the re-read depth."""
        value = self.get("anchor")
        if value is None:
            return None
        block, block_hash = value.split(":", 1)
        return int(block), block_hash

    @anchor.setter
    def anchor(self, value: tuple[int, str]) -> None:
        self.put("anchor", f"{value[0]}:{value[1]}")

    # ------------------------------------------------------------------ accounts
    def touch(self, accounts: Iterable[tuple[AccountRef, int]]) -> None:
        """Record that each account changed at a block (added if new; due for a scan)."""
        with self.db:
            for ref, block in accounts:
                self.db.execute(
                    "INSERT INTO accounts (owner, sub_id, first_block, changed_block) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (owner, sub_id) DO UPDATE SET "
                    "changed_block = MAX(changed_block, excluded.changed_block), due_block = 0",
                    (ref.owner, ref.sub_id, block, block),
                )

    def accounts(self) -> list[AccountRef]:
        rows = self.db.execute("SELECT owner, sub_id FROM accounts ORDER BY first_block, rowid")
        return [AccountRef(o, int(s)) for o, s in rows]

    def count(self) -> int:
        """Accounts tracked."""
        return int(self.db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0])

    def due(self, block: int) -> list[AccountRef]:
        """Accounts changed since their last scan or whose recheck is due at `block`."""
        rows = self.db.execute(
            "SELECT owner, sub_id FROM accounts WHERE changed_block > scanned_block "
            "OR due_block <= ? ORDER BY first_block, rowid",
            (block,),
        )
        return [AccountRef(o, int(s)) for o, s in rows]

    def scanned(self, results: Iterable[tuple[AccountRef, int, int]], block: int) -> None:
        """Record (account, health WAD, next due block) after a scan at `block`."""
        with self.db:
            self.db.executemany(
                "UPDATE accounts SET scanned_block = ?, health = ?, due_block = ? "
                "WHERE owner = ? AND sub_id = ?",
                [(block, str(h), due, r.owner, r.sub_id) for r, h, due in results],
            )

    def health_of(self) -> dict[AccountRef, int]:
        rows = self.db.execute(
            "SELECT owner, sub_id, health FROM accounts WHERE health IS NOT NULL"
        )
        return {AccountRef(o, int(s)): int(h) for o, s, h in rows}

    # ------------------------------------------------------------------ transactions
    def record_sent(self, tx_hash: str, nonce: int, kind: str, raw: bytes, note: str = "") -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO txs (hash, nonce, kind, raw, status, sent_at, note) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (tx_hash, nonce, kind, raw, SENT, time.time(), note),
        )

    def settle(
        self, tx_hash: str, status: str, block: int | None = None, gas_used: int | None = None
    ) -> None:
        self.db.execute(
            "UPDATE txs SET status = ?, block = ?, gas_used = ? WHERE hash = ?",
            (status, block, gas_used, tx_hash),
        )

    def unsettled(self) -> list[StoredTx]:
        rows = self.db.execute(
            "SELECT hash, nonce, kind, raw, status FROM txs WHERE status = ? ORDER BY nonce",
            (SENT,),
        )
        return [StoredTx(h, int(n), k, bytes(r), s) for h, n, k, r, s in rows]

    def txs(self) -> list[StoredTx]:
        rows = self.db.execute("SELECT hash, nonce, kind, raw, status FROM txs ORDER BY sent_at")
        return [StoredTx(h, int(n), k, bytes(r), s) for h, n, k, r, s in rows]

    def tx_counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT kind || ':' || status, COUNT(*) FROM txs GROUP BY 1")
        return {k: int(n) for k, n in rows}

    def close(self) -> None:
        self.db.close()

    def dump(self) -> str:
        return json.dumps(
            {"cursor": self.cursor, "accounts": len(self.accounts()), "txs": self.tx_counts()}
        )
