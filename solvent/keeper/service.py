"""The keeper as a service: follows new blocks, keeps its state in SQLite, never crashes the loop.

Each step:
1. settles transactions sent earlier and not yet known mined (a restart or an outage): looked up
   by hash, their same signed bytes re-broadcast if the node lost them; never signed again;
2. reads account events from its cursor (less `reorg_depth` blocks) to the head;
3. marks every account due when a price feed has a new round, then scans the due accounts
   through the lens (chunked, concurrent): an account is due when an event touched it, when a
   price moved, or when its recheck comes round (every block when close to maintenance, rarely
   when far: see `recheck_blocks`); an account nothing can have changed is not read;
4. logs margin-call notices (and posts them to a webhook) for accounts within `notice_distance`
   of maintenance, once per approach;
5. liquidates what is liquidatable (solvent.keeper.engine), unless `dry_run`.
Any error of the node (connection refused, timeout, reset, bad answer) is counted, logged on one
line and retried with exponential backoff; SIGTERM/SIGINT ends the step in progress at the next
safe point, revokes allowances and exits.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import requests
from eth_account.signers.local import LocalAccount
from web3.exceptions import BlockNotFound
from web3.logs import DISCARD

from solvent.keeper.discovery import read_events
from solvent.keeper.engine import Funder, Keeper
from solvent.keeper.metrics import KeeperMetrics
from solvent.keeper.model import AccountRef, FlashRoute, KeeperReport
from solvent.keeper.store import DROPPED, MINED, REVERTED, Store
from solvent.risk import WAD, AccountLens
from solvent.sdk import Solvent
from solvent.sdk.errors import ContractError
from solvent.sdk.tx import SignedTx

BACKOFF_MAX_S = 30.0
BATCH_ATTEMPTS = 4  # a JSON-RPC batch that does not arrive is sent again, up to this many times


@dataclass(frozen=True)
class KeeperSettings:
    """How the keeper runs. Values in USD are WAD; gas price in wei."""

    poll_interval: float = 1.0  # seconds between steps when nothing happens
    reorg_depth: int = 5  # blocks re-read behind the cursor
    min_profit: int | None = 0  # USD WAD after gas; None: no minimum (accept losses)
    max_fee_per_gas: int | None = None
    notice_distance: int = WAD // 10  # margin call when health < 1 + this (and >= 1)
    webhook: str | None = None
    dry_run: bool = False
    max_batch: int = 100
    receipt_timeout: float = 120.0
    #: (health below, recheck every N blocks), first match wins; beyond the last: `far_blocks`.
    recheck_blocks: tuple[tuple[int, int], ...] = ((WAD * 5 // 4, 1), (2 * WAD, 10))
    far_blocks: int = 50
    #: Liquidate with no inventory through this FlashLiquidator route (None: the keeper's tokens).
    flash: FlashRoute | None = None


class KeeperService:
    """One keeper on one deployment, with its SQLite store."""

    def __init__(
        self,
        client: Solvent,
        signer: LocalAccount,
        store: Store,
        settings: KeeperSettings | None = None,
        *,
        logger: logging.Logger | None = None,
        metrics: KeeperMetrics | None = None,
        fund: Funder | None = None,
    ) -> None:
        self.client = client
        self.signer = signer
        self.store = store
        self.settings = settings or KeeperSettings()
        self.logger = logger or logging.getLogger("solvent.keeper")
        self.metrics = metrics or KeeperMetrics()
        self.stop_event = threading.Event()
        self.block = 0
        self.keeper = Keeper(
            client,
            signer,
            fund=fund,
            log=self._debug,
            min_profit=self.settings.min_profit,
            max_fee_per_gas=self.settings.max_fee_per_gas,
            max_batch=self.settings.max_batch,
            on_sent=self._journal,
            should_stop=self.stop_event.is_set,
            receipt_timeout=self.settings.receipt_timeout,
            flash=self.settings.flash,
        )
        self._rounds: dict[str, int] = {}
        self._noticed: set[AccountRef] = set()
        self.totals = {
            "liquidations": 0,
            "bad_debts": 0,
            "steps": 0,
            "errors": 0,
            "deep_reorgs": 0,
        }

    # ------------------------------------------------------------------ logging
    def _info(self, msg: str, **extra: Any) -> None:
        self.logger.info(msg, extra={"block": self.block, **extra})

    def _debug(self, msg: str) -> None:
        self.logger.debug(msg.removeprefix("keeper: "), extra={"block": self.block})

    def _journal(self, signed: SignedTx) -> None:
        self.store.record_sent(signed.tx_hash, signed.nonce, signed.kind, signed.raw)
        self._info(f"sent {signed.kind} {signed.tx_hash} (nonce {signed.nonce})", tx=signed.tx_hash)

    # ------------------------------------------------------------------ loop
    def run_forever(self, max_steps: int | None = None, install_signals: bool = True) -> None:
        """Step until stopped (SIGTERM/SIGINT or `stop_event`) or after `max_steps`."""
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self._on_signal)
        self._info(
            f"keeper {self.signer.address} on chain {self.client.info.chain_id}, MarginAccount "
            f"{self.client.info.margin_account}, db {self.store.path}"
            + (" (dry run: nothing is sent)" if self.settings.dry_run else "")
        )
        backoff = self.settings.poll_interval
        cleaned = self.settings.dry_run
        steps = 0
        while not self.stop_event.is_set():
            try:
                if not cleaned:  # allowances left by a killed run
                    self.keeper.revoke_approvals(every=True)
                    cleaned = True
                self.step()
                backoff = self.settings.poll_interval
            except Exception as err:  # the node, the network, anything: never crash the loop
                self.metrics.rpc_errors.inc()
                self.totals["errors"] += 1
                self.keeper.sender.reset_nonce()
                self.logger.warning(
                    f"step failed ({_one_line(err)}); retrying in {backoff:.1f}s",
                    extra={"block": self.block},
                )
                self.stop_event.wait(backoff)
                backoff = min(BACKOFF_MAX_S, max(backoff, 0.5) * 2)
                continue
            steps += 1
            if max_steps is not None and steps >= max_steps:
                break
            self.stop_event.wait(self.settings.poll_interval)
        self.shutdown()

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self._info(f"{signal.Signals(signum).name}: stopping after the current transaction")
        self.stop_event.set()

    def shutdown(self) -> None:
        """Revoke what is left of any approval (retrying a few times if the node is away)."""
        if self.settings.dry_run:
            return
        for attempt in range(5):
            try:
                revoked = self.keeper.revoke_approvals(every=True)
                self._info(f"stopped; {revoked} allowance(s) revoked")
                return
            except Exception as err:
                self.logger.warning(
                    f"revoking allowances failed ({_one_line(err)}), attempt {attempt + 1}"
                )
                time.sleep(1.0)

    # ------------------------------------------------------------------ one step
    def step(self) -> KeeperReport | None:
        w3 = self.client.web3
        head = int(w3.eth.block_number)
        self.block = head
        self.keeper.sender.reset_nonce()
        self.reconcile()
        self.follow(head)
        self._mark_price_moves()
        due = self.store.due(head)
        self.metrics.accounts.set(self.store.count())
        self.metrics.block.set(head)
        self.totals["steps"] += 1
        if not due:
            return None
        lenses = self.keeper.lens(due)
        self.metrics.scans.inc()
        self.metrics.scanned.inc(len(lenses))
        self.store.scanned(
            [(a, lenses[a].health, head + self._recheck(lenses[a])) for a in lenses], head
        )
        self._notices(lenses)
        liquidatable = [a for a in due if a in lenses and lenses[a].liquidatable]
        self.metrics.liquidatable.set(len(liquidatable))
        if not liquidatable or self.stop_event.is_set():
            return None
        if self.settings.dry_run:
            prices = self.keeper.prices()
            for a in liquidatable:
                best = self.keeper.best_pair(a, lenses[a], prices)
                what = (
                    best
                    if isinstance(best, str)
                    else (
                        f"would liquidate {best.pair.debt_asset}/{best.pair.collateral_asset}, "
                        f"profit {best.profit / WAD:,.2f} USD after gas"
                    )
                )
                self._info(f"{a} health {lenses[a].health / WAD:.4f}: {what}", account=str(a))
            return None
        report = self.keeper.run_pass(liquidatable, lenses={a: lenses[a] for a in liquidatable})
        self._settle_report(report)
        return report

    def follow(self, head: int) -> None:
        """Read account events from the cursor (minus the reorg depth) up to `head`. A reorg
        deeper than that (the anchor block's hash changed) re-reads from the deployment block."""
        cursor = self.store.cursor
        if cursor is not None and self._reorged_below_depth():
            cursor = None
        start = (
            self.client.info.deploy_block
            if cursor is None
            else max(self.client.info.deploy_block, cursor - self.settings.reorg_depth + 1)
        )
        if start > head:
            return
        # The new anchor's hash is read before the events, so a reorg while they are read
        # changes it and is caught at the next step; cursor and anchor are written together.
        anchor = max(self.client.info.deploy_block, head - self.settings.reorg_depth)
        anchor_hash = self._block_hash(anchor)
        touched = [(e.account, e.block) for e in read_events(self.client, start, head)]
        before = self.store.count()
        self.store.touch(touched)
        self.store.advance(head, (anchor, anchor_hash))
        new = self.store.count() - before
        if new:
            self._info(f"{new} new account(s); tracking {before + new}")

    def _block_hash(self, block: int) -> str:
        found = self.client.web3.eth.get_block(block)
        return "0x" + bytes(found["hash"]).hex()

    def _reorged_below_depth(self) -> bool:
        anchor = self.store.anchor
        if anchor is None:
            return False
        block, expected = anchor
        try:
            actual = self._block_hash(block)
        except BlockNotFound:
            actual = "gone"
        if actual == expected:
            return False
        self.logger.warning(
            f"block {block} changed ({expected[:10]}... -> {actual[:10]}...): a reorg deeper than "
            f"{self.settings.reorg_depth} blocks; re-reading every event from the deployment block",
            extra={"block": self.block, "event": "deep_reorg"},
        )
        self.totals["deep_reorgs"] += 1
        return True

    def _mark_price_moves(self) -> None:
        """A new round on any feed: every account is due (prices move every position). The feeds
        are read in one JSON-RPC batch."""
        symbols = list(self.client.info.assets)
        answers = self._feed_rounds(symbols)
        moved = []
        for symbol, answer in zip(symbols, answers, strict=True):
            round_id = int(answer[0])
            if self._rounds.get(symbol) != round_id:
                moved.append(symbol)
                self._rounds[symbol] = round_id
        if moved:
            self.store.db.execute("UPDATE accounts SET due_block = 0")

    def _feed_rounds(self, symbols: list[str]) -> list[Any]:
        """latestRoundData of every feed in one JSON-RPC batch. web3 retries single requests on
        connection errors but not batches, so a batch that fails to arrive is retried here (a
        revert or a bad answer is not)."""
        for attempt in range(BATCH_ATTEMPTS):
            try:
                with self.client.web3.batch_requests() as batch:
                    for symbol in symbols:
                        batch.add(self.client.feed(symbol).functions.latestRoundData())
                    return list(batch.execute())
            except (
                ConnectionError,
                requests.ConnectionError,
                requests.Timeout,
                requests.HTTPError,
            ):
                if attempt + 1 == BATCH_ATTEMPTS:
                    raise
                time.sleep(0.2 * 2**attempt)
        raise AssertionError("unreachable")

    def _recheck(self, lens: AccountLens) -> int:
        if lens.liquidatable:
            return 1
        for below, every in self.settings.recheck_blocks:
            if lens.health < below:
                return every
        return self.settings.far_blocks

    def _notices(self, lenses: dict[AccountRef, AccountLens]) -> None:
        """Margin calls: accounts above maintenance but within `notice_distance` of it."""
        at_risk = 0
        for account, lens in lenses.items():
            near = (
                not lens.liquidatable
                and lens.mmr > 0
                and lens.health < WAD + self.settings.notice_distance
            )
            if not near:
                self._noticed.discard(account)
                continue
            at_risk += 1
            if account in self._noticed:
                continue
            self._noticed.add(account)
            message = (
                f"margin call: {account} health {lens.health / WAD:.4f} (liquidation below 1.0); "
                f"equity {lens.equity / WAD:,.2f} USD, maintenance {lens.mmr / WAD:,.2f} USD"
            )
            self.logger.warning(
                message,
                extra={"block": self.block, "event": "margin_call", "account": str(account)},
            )
            self._post(
                {
                    "event": "margin_call",
                    "owner": account.owner,
                    "sub_id": account.sub_id,
                    "health": str(lens.health),
                    "equity": str(lens.equity),
                    "mmr": str(lens.mmr),
                    "block": self.block,
                }
            )
        self.metrics.at_risk.set(at_risk)

    def _post(self, payload: dict[str, Any]) -> None:
        if not self.settings.webhook:
            return
        request = urllib.request.Request(
            self.settings.webhook,
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            urllib.request.urlopen(request, timeout=2).close()
        except Exception as err:  # a notice must never stop the keeper
            self.logger.warning(f"webhook failed: {_one_line(err)}")

    # ------------------------------------------------------------------ transactions
    def _settle_report(self, report: KeeperReport) -> None:
        for tx in report.transactions:
            self.store.settle(tx.tx_hash, MINED, gas_used=tx.gas_used)
            self.metrics.gas.inc(tx.gas_used)
        self.metrics.liquidations.inc(len(report.liquidations))
        self.metrics.profit.inc(max(0, report.profit_value) / WAD)
        self.totals["liquidations"] += len(report.liquidations)
        self.totals["bad_debts"] += len(report.bad_debts)
        for liq in report.liquidations:
            self._info(
                f"liquidated {liq.account}: repaid {liq.repaid} {liq.debt_asset} units, seized "
                f"{liq.seized} {liq.collateral_asset} units, profit {liq.profit_value / WAD:,.2f} USD "
                f"before gas",
                event="liquidated",
                account=str(liq.account),
                tx=liq.tx_hash,
            )
        for skip in report.skipped:
            self._info(
                f"skipped {skip.account}: {skip.reason}", event="skipped", account=str(skip.account)
            )

    def reconcile(self) -> None:
        """Settle every transaction journaled as sent: mined, reverted, dropped or still pending
        (then its same bytes are re-broadcast)."""
        sender = self.keeper.sender
        for tx in self.store.unsettled():
            receipt = sender.receipt(tx.hash)
            if receipt is not None:
                ok = int(receipt["status"]) == 1
                self.store.settle(
                    tx.hash,
                    MINED if ok else REVERTED,
                    int(receipt["blockNumber"]),
                    int(receipt["gasUsed"]),
                )
                liquidated = len(
                    self.client.margin_account.events.Liquidated().process_receipt(
                        receipt, errors=DISCARD
                    )
                )
                self.totals["liquidations"] += liquidated
                self.metrics.liquidations.inc(liquidated)
                self._info(
                    f"{tx.kind} {tx.hash} sent earlier: {'mined' if ok else 'reverted'} in block "
                    f"{int(receipt['blockNumber'])}"
                    + (f", {liquidated} liquidation(s)" if liquidated else ""),
                    tx=tx.hash,
                )
                continue
            if sender.confirmed_nonce() > tx.nonce:
                self.store.settle(tx.hash, DROPPED)
                self._info(
                    f"{tx.kind} {tx.hash} was never mined (nonce {tx.nonce} used by another)"
                )
                continue
            sender.rebroadcast(tx.raw)
            self._info(f"{tx.kind} {tx.hash} still pending; re-broadcast the same signed bytes")

    def status_line(self) -> str:
        health = self.store.health_of()
        below = sum(1 for h in health.values() if h < WAD)
        return (
            f"block {self.block} | accounts {len(health)} | below maintenance {below} | "
            f"liquidations {self.totals['liquidations']} | errors {self.totals['errors']}"
        )


def _one_line(err: BaseException) -> str:
    if isinstance(err, ContractError):
        return str(err)
    text = str(err).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(err).__name__}: {first[:200]}" if first else type(err).__name__
