"""A keeper pass: liquidate the given accounts that are below maintenance, profitably.

The chain decides everything that matters. `Liquidator.lens` reports, per account, whether it is
liquidatable and, for every (debt, collateral) pair it holds, the largest liquidation `liquidate`
would do now (status, repay, seize, insurance fee and tip, discount), computed by the same code.
The keeper values each OK pair at the oracle prices (seized value + tip - repay - fee, the integer
mirror's rounding), subtracts the gas it would cost at the node's gas price (capped by the
configured maximum, valued at the native token's price) and picks the most profitable pair per
account; a pair earning less than `min_profit` is skipped until the auction's discount, which grows
as health falls, makes it worth it. Accounts sharing their best pair go in one `liquidateBatch`,
in chunks whose gas fits well inside a block; a chunk whose simulation reverts is split in two,
down to single liquidations. Each transaction is simulated (gas estimation, an `eth_call`) before
it is signed; a revert such as "not liquidatable" means another keeper was first: logged, not
retried. Rounds repeat for the accounts acted on, since emptying one collateral can leave an
account still below maintenance. An account left with debt and no collateral has its debt
written off.

Reads use the pending block (the block the next transaction lands in), so the lens includes the
interest accrued up to it. Approvals are for what the lens says will be pulled plus a small slack
and are revoked at the end of the pass, however it ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import BadFunctionCallOutput, ContractCustomError, ContractLogicError
from web3.logs import DISCARD as _DISCARD

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
from solvent.risk import WAD, AccountLens, Status, liquidation_profit, value_down, value_up
from solvent.sdk import Solvent
from solvent.sdk.abi import load_abi, margin_account_abi
from solvent.sdk.deployment import AssetInfo
from solvent.sdk.errors import ContractError, SolventError, TransactionFailed
from solvent.sdk.tx import OnSent, Sender, revert_of
from solvent.units import from_units

Funder = Callable[[AssetInfo, int], None]
"""Tops up the keeper with `amount` token units of an asset (local mock deployments mint)."""
Log = Callable[[str], None]

MAX_UINT256 = 2**256 - 1
PENDING = "pending"
LENS_CHUNK = 100  # accounts per lens call
LENS_WORKERS = 4  # concurrent lens calls
SLACK_BPS = 10  # approval headroom over what the lens says will be pulled (0.1%)
# Gas the keeper plans with before it has an estimate (measured: gas-snapshot.json).
LIQUIDATE_GAS = 260_000
FEE_PIPS = 1_000_000  # pool fees are in millionths
FLASH_LIQUIDATE_GAS = 280_000  # liquidate + callback + one pool swap (measured 270,105)
BATCH_BASE_GAS = 90_000
BATCH_ACCOUNT_GAS = 70_000
BLOCK_GAS_SHARE_BPS = 3_000  # a batch uses at most 30% of a block's gas limit
MAX_BATCH = 100
#: Reverts meaning the account is no longer ours to liquidate (another keeper was first).
BEATEN = frozenset({"AccountHealthy", "NotLiquidatable", "NothingToLiquidate", "NoDebt"})


class Keeper:
    """Liquidates accounts below maintenance on one deployment, signing with `signer`."""

    def __init__(
        self,
        client: Solvent,
        signer: LocalAccount,
        *,
        fund: Funder | None = None,
        log: Log | None = None,
        block_id: int | str = PENDING,
        max_rounds: int | None = None,
        min_profit: int | None = None,
        slack_bps: int = SLACK_BPS,
        max_fee_per_gas: int | None = None,
        native_symbol: str | None = None,
        max_batch: int = MAX_BATCH,
        on_sent: OnSent | None = None,
        should_stop: Callable[[], bool] | None = None,
        receipt_timeout: float = 120.0,
        flash: FlashRoute | None = None,
    ) -> None:
        self.client = client
        self.info = client.info
        self.web3: Web3 = client.web3
        self.signer = signer
        self.sender = Sender(
            self.web3,
            signer,
            max_fee_per_gas=max_fee_per_gas,
            on_sent=on_sent,
            receipt_timeout=receipt_timeout,
        )
        self.fund = fund
        self.log: Log = log or (lambda _: None)
        self.block_id = block_id
        # Each round brings an account to the target health, repays a whole debt or empties a
        # collateral, so this bound is never reached by a working pass.
        self.max_rounds = max_rounds or 2 * len(self.info.assets) + 2
        # USD WAD after gas; None: liquidate whatever the chain allows (a protocol-run keeper that
        # accepts a loss on insolvent accounts so their bad debt is written off).
        self.min_profit = min_profit
        self.slack_bps = slack_bps
        self.max_batch = max_batch
        self.native_symbol = native_symbol or ("WETH" if "WETH" in self.info.assets else None)
        self.should_stop = should_stop or (lambda: False)
        self._approved: set[str] = set()
        self._report: KeeperReport | None = None
        self._local = threading.local()
        self.rpc_calls = 0  # lens calls of the last pass (for the benchmark)
        self.flash = flash
        self._flash = (
            self.web3.eth.contract(address=flash.contract, abi=load_abi("FlashLiquidator"))
            if flash is not None
            else None
        )
        self._flash_owner_checked = False

    # ------------------------------------------------------------------ pass
    def run_pass(
        self,
        accounts: Iterable[AccountRef] | None = None,
        *,
        start_block: int | None = None,
        lenses: dict[AccountRef, AccountLens] | None = None,
    ) -> KeeperReport:
        """Check `accounts` (default: every account found in events since `start_block`, by
        default the deployment block) and liquidate the liquidatable ones until they are not, or
        can go no further. `lenses` read just before (by the caller's scan) are used as they are."""
        from solvent.keeper.discovery import discover_accounts

        report = self._report = KeeperReport()
        report.scanned = (
            list(accounts)
            if accounts is not None
            else discover_accounts(
                self.client, self.info.deploy_block if start_block is None else start_block
            )
        )
        self.log(f"keeper: {len(report.scanned)} accounts to check")
        try:
            self.poke_volatility(report)
            if lenses is None or any(a not in lenses for a in report.scanned):
                lenses = self.lens(report.scanned, report)
            lenses = dict(lenses)
            report.liquidatable = [
                a for a in report.scanned if a in lenses and lenses[a].liquidatable
            ]
            self.log(f"keeper: {len(report.liquidatable)} below maintenance")
            pending = list(report.liquidatable)
            for _ in range(self.max_rounds):
                if not pending or self.should_stop():
                    break
                acted = self._round(pending, lenses, report)
                lenses.update(self.lens(acted, report))
                pending = [a for a in acted if a in lenses and lenses[a].liquidatable]
            else:
                for account in pending:
                    report.skipped.append(
                        Skip(account, f"still liquidatable after {self.max_rounds} rounds")
                    )
        finally:
            self.revoke_approvals(report)
        if not self.should_stop():
            final = self.lens(report.liquidatable, report)
            report.remaining = [
                a for a in report.liquidatable if a in final and final[a].liquidatable
            ]
        self.log(
            f"keeper: {len(report.liquidations)} liquidations, profit "
            f"{report.profit_value / WAD:,.2f} USD before gas, gas {report.gas_used:,}"
        )
        return report

    def poke_volatility(self, report: KeeperReport) -> int:
        """Poke the VolatilityOracle for every asset whose sigma is older than half the model's
        maxSigmaAge. Returns the pokes sent; a failing poke is logged and skipped."""
        vol = self.client.volatility_oracle
        if vol is None:
            return 0
        ma = self.client.margin_account.functions
        max_age = int(ma.marginModel().call()[4])
        now = int(self.web3.eth.get_block("latest")["timestamp"])
        sent = 0
        for asset in self.info.assets.values():
            curve = ma.marginCurve(asset.token).call()
            stale_floor, updated_at = _curve_staleness(curve)
            if stale_floor == 0 or now - updated_at <= max_age // 2:
                continue
            try:
                receipt = self.sender.send(vol.functions.poke(asset.token), "poke")
            except SolventError as err:  # one asset's feed must not stop the pass
                self.log(f"keeper: poke {asset.symbol} failed: {err}")
                continue
            self._record_tx(receipt, "poke", report)
            sent += 1
        return sent

    def _round(
        self,
        accounts: list[AccountRef],
        lenses: dict[AccountRef, AccountLens],
        report: KeeperReport,
    ) -> list[AccountRef]:
        """Liquidate each account once through its best pair; returns the accounts acted on."""
        prices = self.prices()
        gas_value = self.gas_cost_value(
            LIQUIDATE_GAS if self.flash is None else FLASH_LIQUIDATE_GAS, prices
        )
        groups: dict[tuple[str, str], list[Candidate]] = {}
        acted: list[AccountRef] = []
        for account in accounts:
            if self.should_stop():
                return acted
            lens = lenses[account]
            if not lens.pairs:
                if self._write_off(account, report):
                    acted.append(account)
                continue
            best = self.best_pair(account, lens, prices, gas_value)
            if isinstance(best, str):
                report.skipped.append(Skip(account, best))
                self.log(f"keeper: skipping {account}: {best}")
                continue
            if self.flash is not None:  # one swap per liquidation: no batches
                acted += self._settle_flash(best, prices, gas_value, report)
                continue
            groups.setdefault((best.pair.debt_asset, best.pair.collateral_asset), []).append(best)
        if not groups:
            return acted
        chunk = self.batch_size()
        for (debt, collateral), group in groups.items():
            for i in range(0, len(group), chunk):
                if self.should_stop():
                    return acted
                acted += self._settle(debt, collateral, group[i : i + chunk], prices, report)
        return acted

    def _settle(
        self,
        debt: str,
        collateral: str,
        group: list[Candidate],
        prices: dict[str, int],
        report: KeeperReport,
    ) -> list[AccountRef]:
        """Liquidate `group` in one transaction; when it cannot go through, split it in two and
        try each half, down to single accounts. Returns the accounts settled."""
        try:
            if len(group) == 1:
                self._liquidate(group[0], prices, report)
            else:
                self._liquidate_batch(debt, collateral, group, prices, report)
        except (ContractError, TransactionFailed, KeeperError) as err:
            if len(group) > 1 and not isinstance(err, KeeperError):
                half = len(group) // 2
                self.log(f"keeper: batch of {len(group)} failed ({err}); splitting")
                return self._settle(debt, collateral, group[:half], prices, report) + self._settle(
                    debt, collateral, group[half:], prices, report
                )
            name = getattr(err, "error_name", "")
            beaten = name in BEATEN
            reason = (
                f"{debt}/{collateral}: already liquidated by someone else ({err})"
                if beaten
                else f"{debt}/{collateral}: {err}"
            )
            for c in group:
                report.skipped.append(Skip(c.account, reason))
            self.log(f"keeper: {len(group)} account(s) not liquidated: {reason}")
            return []
        skipped = {s.account for s in report.skipped}
        return [c.account for c in group if c.account not in skipped]

    def _settle_flash(
        self, c: Candidate, prices: dict[str, int], gas_value: int, report: KeeperReport
    ) -> list[AccountRef]:
        """Liquidate one account through the FlashLiquidator; [] when it cannot go through (the
        pool pays too little, another keeper was first: logged, not retried)."""
        try:
            self._flash_liquidate(c, prices, gas_value, report)
        except (ContractError, TransactionFailed) as err:
            name = getattr(err, "error_name", "")
            pair = f"{c.pair.debt_asset}/{c.pair.collateral_asset}"
            reason = (
                f"{pair}: already liquidated by someone else ({err})"
                if name in BEATEN
                else f"{pair} flash: {err}"
            )
            report.skipped.append(Skip(c.account, reason))
            self.log(f"keeper: {c.account} not liquidated: {reason}")
            return []
        return [c.account]

    def _flash_liquidate(
        self, c: Candidate, prices: dict[str, int], gas_value: int, report: KeeperReport
    ) -> None:
        assert self.flash is not None and self._flash is not None
        self.check_flash()
        pair = c.pair
        debt, collateral = self.info.asset(pair.debt_asset), self.info.asset(pair.collateral_asset)
        # What the swap must leave, in debt units: the configured minimum after gas, plus gas;
        # and at least the collateral's oracle value less the pool fee and the slippage bound
        # (so a sandwich cannot take the discount: the swap reverts instead).
        floor = 0 if self.min_profit is None else max(0, self.min_profit + gas_value)
        min_profit = -(-floor * debt.scale // prices[debt.symbol]) if floor else 0
        fair = value_down(pair.seize, prices[collateral.symbol], collateral.scale)
        fair_units = fair * debt.scale // prices[debt.symbol]
        expected = (
            fair_units
            * (FEE_PIPS - self.flash.pool_fee)
            // FEE_PIPS
            * (10_000 - self.flash.max_slippage_bps)
            // 10_000
        )
        min_profit = max(min_profit, expected - pair.owed)
        deadline = int(self.web3.eth.get_block("latest")["timestamp"]) + self.flash.deadline_s
        self.log(
            f"keeper: flash-liquidating {c.account}: seize {_tokens(pair.seize, collateral)}, "
            f"sell in the {self.flash.pool_fee}-pip pool for at least "
            f"{_tokens(pair.owed + min_profit, debt)}"
        )
        fn = self._flash.functions.flashLiquidate(
            c.account.owner,
            c.account.sub_id,
            debt.token,
            collateral.token,
            MAX_UINT256,
            self._min_seized(pair),
            self.flash.pool_fee,
            min_profit,
            deadline,
        )
        receipt = self.sender.send(fn, "flashLiquidate")
        before = len(report.liquidations)
        self._record(receipt, "flashLiquidate", prices, report, 1)
        done = self._flash.events.FlashLiquidated().process_receipt(receipt, errors=_DISCARD)
        if done and len(report.liquidations) == before + 1:
            profit = int(done[0]["args"]["profit"])
            liq = report.liquidations[-1]
            report.liquidations[-1] = replace(
                liq,
                flash_profit=profit,
                flash_profit_value=value_down(profit, prices.get(debt.symbol, 0), debt.scale),
            )

    def check_flash(self) -> None:
        """With a flash route: the contract must be a FlashLiquidator on this deployment's
        Liquidator, owned by the keeper's account (raises KeeperError saying which is wrong)."""
        if self._flash is None or self._flash_owner_checked:
            return
        where = f"FlashLiquidator {self.flash.contract if self.flash else ''}"
        try:
            owner = self._flash.functions.owner().call()
            engine = self._flash.functions.liquidator().call()
        except (ContractCustomError, ContractLogicError, BadFunctionCallOutput) as err:
            raise KeeperError(f"{where} does not answer as a FlashLiquidator ({err})") from None
        if engine.lower() != self.client.liquidator.address.lower():
            raise KeeperError(
                f"{where} liquidates through {engine}, not this deployment's Liquidator "
                f"{self.client.liquidator.address}"
            )
        if owner.lower() != self.signer.address.lower():
            raise KeeperError(
                f"{where} is owned by {owner}, not by the keeper {self.signer.address}; "
                "deploy one owned by the keeper"
            )
        self._flash_owner_checked = True

    # ------------------------------------------------------------------ chain reads
    def _w3(self) -> Web3:
        """A web3 per thread for concurrent reads (one HTTP session each)."""
        w3 = getattr(self._local, "w3", None)
        if w3 is None:
            if threading.current_thread() is threading.main_thread():
                w3 = self.web3
            else:
                w3 = Web3(type(self.web3.provider)(self.web3.provider.endpoint_uri))  # type: ignore[attr-defined]
            self._local.w3 = w3
        return w3

    def lens(
        self, accounts: list[AccountRef], report: KeeperReport | None = None
    ) -> dict[AccountRef, AccountLens]:
        """Liquidator.lens of `accounts`, in concurrent chunks. An account the lens cannot price
        (a stale or broken feed) is left out and reported as skipped."""
        chunks = [accounts[i : i + LENS_CHUNK] for i in range(0, len(accounts), LENS_CHUNK)]
        self.rpc_calls = 0
        out: dict[AccountRef, AccountLens] = {}
        if not chunks:
            return out
        concurrent = len(chunks) > 1 and hasattr(self.web3.provider, "endpoint_uri")
        if concurrent:
            with ThreadPoolExecutor(LENS_WORKERS) as pool:
                results = list(pool.map(self._lens_chunk, chunks))
        else:
            results = [self._lens_chunk(c) for c in chunks]
        for chunk, result in zip(chunks, results, strict=True):
            if not isinstance(result, ContractError):
                out.update(zip(chunk, result, strict=True))
                continue
            for account in chunk:  # find the account(s) the lens cannot price
                single = self._lens_chunk([account])
                if not isinstance(single, ContractError):
                    out[account] = single[0]
                    continue
                reason = f"cannot price the account (is a price feed stale?): {single}"
                if report is not None and all(s.account != account for s in report.skipped):
                    report.skipped.append(Skip(account, reason))
                self.log(f"keeper: {account}: {reason}")
        return out

    def _lens_chunk(self, chunk: list[AccountRef]) -> list[AccountLens] | ContractError:
        """One lens call; the decoded error when it reverts (the caller narrows down)."""
        lens = self._w3().eth.contract(
            address=self.client.liquidator.address, abi=self.client.liquidator.abi
        )
        self.rpc_calls += 1
        try:
            raw = lens.functions.lens([(a.owner, a.sub_id) for a in chunk]).call(
                block_identifier=self.block_id
            )
        except (ContractCustomError, ContractLogicError) as err:
            return revert_of(err) or ContractError()
        return [AccountLens.from_chain(entry, self.client._symbol) for entry in raw]

    def prices(self) -> dict[str, int]:
        """Oracle price of every asset (USD WAD per whole token); an asset whose feed reverts is
        left out (pairs in it are then skipped)."""
        out = {}
        for symbol, asset in self.info.assets.items():
            try:
                out[symbol] = int(
                    self.client.oracle.functions.price(asset.token).call(
                        block_identifier=self.block_id
                    )[0]
                )
            except Exception as err:
                if not _is_revert(err):
                    raise
        return out

    def gas_cost_value(self, gas: int, prices: dict[str, int]) -> int:
        """USD WAD of `gas` at the capped gas price (0 without a native-token price)."""
        if self.native_symbol is None or self.native_symbol not in prices:
            return 0
        return gas * self.sender.gas_price() * prices[self.native_symbol] // WAD

    def best_pair(
        self,
        account: AccountRef,
        lens: AccountLens,
        prices: dict[str, int],
        gas_value: int | None = None,
    ) -> Candidate | str:
        """The OK pair with the highest expected profit after gas (ties: first in lens order),
        or why there is none."""
        best: Candidate | None = None
        refused = []
        if gas_value is None:  # one gas-price read per round, not per account
            gas_value = self.gas_cost_value(LIQUIDATE_GAS, prices)
        for pair in lens.pairs:
            name = f"{pair.debt_asset}/{pair.collateral_asset}"
            if pair.status != Status.OK:
                refused.append(f"{name} {pair.status.name}")
                continue
            if pair.debt_asset not in prices or pair.collateral_asset not in prices:
                refused.append(f"{name} no price")
                continue
            debt, coll = self.info.asset(pair.debt_asset), self.info.asset(pair.collateral_asset)
            profit = (
                liquidation_profit(
                    pair.seize,
                    pair.max_repay,
                    pair.insurance_fee,
                    debt_price=prices[pair.debt_asset],
                    debt_scale=debt.scale,
                    collateral_price=prices[pair.collateral_asset],
                    collateral_scale=coll.scale,
                    insurance_tip=pair.insurance_tip,
                )
                - gas_value
            )
            if self.min_profit is not None and profit < self.min_profit:
                refused.append(
                    f"{name} profit {profit / WAD:,.2f} USD after gas < minimum "
                    f"{self.min_profit / WAD:,.2f}"
                )
                continue
            if best is None or profit > best.profit:
                best = Candidate(account, pair, profit)
        if best is not None:
            return best
        return "no pair worth liquidating: " + ", ".join(refused)

    def batch_size(self) -> int:
        """Accounts per batch: what fits in BLOCK_GAS_SHARE_BPS of a block, at most max_batch."""
        limit = int(self.web3.eth.get_block("latest")["gasLimit"])
        fits = (limit * BLOCK_GAS_SHARE_BPS // 10_000 - BATCH_BASE_GAS) // BATCH_ACCOUNT_GAS
        return max(1, min(self.max_batch, fits))

    # ------------------------------------------------------------------ actions
    def _liquidate(self, c: Candidate, prices: dict[str, int], report: KeeperReport) -> None:
        pair = c.pair
        debt, collateral = self.info.asset(pair.debt_asset), self.info.asset(pair.collateral_asset)
        self.ensure_funds(debt, self._with_slack(pair.owed))
        self.log(
            f"keeper: liquidating {c.account}: repay {_tokens(pair.max_repay, debt)} "
            f"(+{_tokens(pair.insurance_fee, debt)} fee, -{_tokens(pair.insurance_tip, debt)} tip), "
            f"seize {_tokens(pair.seize, collateral)} at {pair.discount / WAD:.2%} discount"
        )
        fn = self.client.liquidator.functions.liquidate(
            c.account.owner,
            c.account.sub_id,
            debt.token,
            collateral.token,
            MAX_UINT256,
            self._min_seized(pair),
            b"",
        )
        receipt = self.sender.send(fn, "liquidate")
        self._record(receipt, "liquidate", prices, report, 1)

    def _liquidate_batch(
        self,
        debt_symbol: str,
        collateral_symbol: str,
        group: list[Candidate],
        prices: dict[str, int],
        report: KeeperReport,
    ) -> None:
        debt, collateral = self.info.asset(debt_symbol), self.info.asset(collateral_symbol)
        owed = sum(c.pair.owed for c in group)
        # Slippage per target: at least the lens's worst collateral-per-debt rate, less the slack.
        rate = min(c.pair.seize * WAD // c.pair.max_repay for c in group)
        min_rate = rate - rate * self.slack_bps // 10_000
        self.ensure_funds(debt, self._with_slack(owed))
        self.log(
            f"keeper: batch-liquidating {len(group)} accounts in {debt_symbol}/{collateral_symbol}: "
            f"repay {_tokens(owed, debt)} with fees, seize "
            f"{_tokens(sum(c.pair.seize for c in group), collateral)}"
        )
        fn = self.client.liquidator.functions.liquidateBatch(
            [(c.account.owner, c.account.sub_id) for c in group],
            debt.token,
            collateral.token,
            min_rate,
        )
        receipt = self.sender.send(fn, "liquidateBatch")
        self._record(receipt, "liquidateBatch", prices, report, len(group))
        ma = self.client.margin_account
        for event in ma.events.LiquidationSkipped().process_receipt(receipt, errors=_DISCARD):
            args = event["args"]
            account = AccountRef(args["owner"], int(args["subId"]))
            status = Status(int(args["status"])).name
            report.skipped.append(Skip(account, f"skipped by the batch: {status}"))
            self.log(f"keeper: batch skipped {account}: {status}")

    def _record(
        self, receipt: Any, kind: str, prices: dict[str, int], report: KeeperReport, size: int
    ) -> None:
        self._record_tx(receipt, kind, report)
        ma = self.client.margin_account
        tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
        for event in ma.events.Liquidated().process_receipt(receipt, errors=_DISCARD):
            a = event["args"]
            debt = self.info.asset_by_token(a["debtAsset"])
            coll = self.info.asset_by_token(a["collateralAsset"])
            dp, cp = prices.get(debt.symbol, 0), prices.get(coll.symbol, 0)
            report.liquidations.append(
                Liquidation(
                    account=AccountRef(a["owner"], int(a["subId"])),
                    debt_asset=debt.symbol,
                    repaid=int(a["repaid"]),
                    collateral_asset=coll.symbol,
                    seized=int(a["seized"]),
                    insurance_fee=int(a["insuranceFee"]),
                    discount=int(a["discount"]),
                    health=int(a["health"]),
                    bad_debt=int(a["badDebt"]),
                    repaid_value=value_up(int(a["repaid"]), dp, debt.scale),
                    seized_value=value_down(int(a["seized"]), cp, coll.scale),
                    fee_value=value_up(int(a["insuranceFee"]), dp, debt.scale),
                    gas_used=int(receipt["gasUsed"]),
                    tx_hash=tx_hash,
                    batch_size=size,
                    insurance_tip=int(a["insuranceTip"]),
                    tip_value=value_down(int(a["insuranceTip"]), dp, debt.scale),
                )
            )
        self._record_bad_debt(receipt, report)

    def _record_tx(self, receipt: Any, kind: str, report: KeeperReport | None) -> None:
        if report is None:
            return
        gas = int(receipt["gasUsed"])
        price = int(receipt.get("effectiveGasPrice", 0) or 0)
        report.transactions.append(
            SentTx(kind, gas, gas * price, "0x" + bytes(receipt["transactionHash"]).hex())
        )

    def _write_off(self, account: AccountRef, report: KeeperReport) -> bool:
        """An account with debt and no collateral: write the debt off (anyone may)."""
        fn = self.client.liquidator.functions.writeOffBadDebt(account.owner, account.sub_id)
        try:
            receipt = self.sender.send(fn, "writeOffBadDebt")
        except (ContractError, TransactionFailed) as err:
            report.skipped.append(Skip(account, f"write-off: {err}"))
            return False
        self._record_tx(receipt, "writeOffBadDebt", report)
        self._record_bad_debt(receipt, report)
        return True

    def _record_bad_debt(self, receipt: Any, report: KeeperReport) -> None:
        ma = self.client.margin_account
        tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
        for event in ma.events.BadDebtWrittenOff().process_receipt(receipt, errors=_DISCARD):
            a = event["args"]
            account = AccountRef(a["owner"], int(a["subId"]))
            asset = self.info.asset_by_token(a["asset"])
            report.bad_debts.append(
                BadDebt(
                    account=account,
                    asset=asset.symbol,
                    amount=int(a["amount"]),
                    covered=int(a["covered"]),
                    socialized=int(a["socialized"]),
                    tx_hash=tx_hash,
                )
            )
            self.log(f"keeper: {account} bad debt written off: {_tokens(int(a['amount']), asset)}")

    def _min_seized(self, pair: Any) -> int:
        """The lens priced the pending block; a block later the seize can differ by interest:
        accept the lens's seize less the slack, no less."""
        return pair.seize - pair.seize * self.slack_bps // 10_000

    def _with_slack(self, amount: int) -> int:
        return amount + amount * self.slack_bps // 10_000 + 1

    def ensure_funds(self, asset: AssetInfo, amount: int) -> None:
        """Hold at least `amount` of `asset` and let the MarginAccount pull it."""
        token = self.client.token(asset.symbol).functions
        me, ma = self.signer.address, self.client.margin_account.address
        balance = int(token.balanceOf(me).call())
        if balance < amount:
            if self.fund is None:
                raise KeeperError(
                    f"keeper holds {_tokens(balance, asset)} but needs {_tokens(amount, asset)}; "
                    "fund the keeper account"
                )
            self.fund(asset, amount - balance)
            balance = int(token.balanceOf(me).call())
            if balance < amount:
                raise KeeperError(
                    f"funding left the keeper {_tokens(amount - balance, asset)} short"
                )
        if int(token.allowance(me, ma).call()) < amount:
            self._approved.add(asset.symbol)  # before sending: a revoke must follow even on error
            receipt = self.sender.send(token.approve(ma, amount), "approve")
            self._record_tx(receipt, "approve", self._report)

    def revoke_approvals(self, report: KeeperReport | None = None, every: bool = False) -> int:
        """Set what is left of this pass's approvals (or, with `every`, of any approval to the
        MarginAccount) back to zero. Returns the revocations sent."""
        ma = self.client.margin_account.address
        symbols = sorted(self.info.assets) if every else sorted(self._approved)
        sent = 0
        for symbol in symbols:
            token = self.client.token(symbol).functions
            if int(token.allowance(self.signer.address, ma).call()) > 0:
                receipt = self.sender.send(token.approve(ma, 0), "approve")
                self._record_tx(receipt, "approve", report)
                sent += 1
        self._approved.clear()
        return sent


def _curve_staleness(curve: Any) -> tuple[int, int]:
    """(staleFloor, sigmaUpdatedAt) of a MarginAccount.marginCurve result."""
    if hasattr(curve, "staleFloor"):
        return int(curve.staleFloor), int(curve.sigmaUpdatedAt)
    names = [o["name"] for o in _margin_curve_fields()]
    values = dict(zip(names, curve, strict=True))
    return int(values["staleFloor"]), int(values["sigmaUpdatedAt"])


def _margin_curve_fields() -> list[dict[str, Any]]:
    entry = next(e for e in margin_account_abi() if e.get("name") == "marginCurve")
    outputs = entry["outputs"]
    return outputs[0]["components"] if len(outputs) == 1 and "components" in outputs[0] else outputs


def _tokens(amount: int, asset: AssetInfo) -> str:
    """Whole-token amount for logs (units / 10**decimals), exact."""
    return f"{from_units(amount, asset.decimals):,f} {asset.symbol}"


def _is_revert(err: BaseException) -> bool:
    return isinstance(err, ContractCustomError | ContractLogicError)


def mint_funder(client: Solvent, signer: LocalAccount) -> Funder:
    """A funder that mints mock tokens to `signer` (local chains with MockERC20 only)."""

    def fund(asset: AssetInfo, amount: int) -> None:
        token = client.token(asset.symbol)
        Sender(client.web3, signer).send(token.functions.mint(signer.address, amount), "mint")

    return fund
