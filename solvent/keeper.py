"""A keeper pass: find accounts from MarginAccount events and liquidate those below maintenance.

The chain decides everything that matters. `Liquidator.lens` reports, per account, whether it is
liquidatable and, for every (debt, collateral) pair it holds, the largest liquidation `liquidate`
would do now (status, repay, seize, insurance fee, discount), computed by the same code. The keeper
values each OK pair at the oracle prices (seized value - repay - insurance fee, solvent.risk's
rounding) and picks the most profitable one per account. Accounts whose best pair is the same are
liquidated together with one `liquidateBatch`; a lone account with `liquidate`. Non-OK pairs
(DUST: the liquidation would leave a debt below the dust floor while other collateral remains) are
never sent. Liquidations go round by round: after each round the lens is read again for the
accounts just liquidated, because emptying one collateral can leave an account still below
maintenance. An account left with debt and no collateral has its debt written off (the
Liquidator does this in the same transaction when it takes the last collateral; `writeOffBadDebt`
otherwise).

Reads are made against the pending block (the block the next transaction lands in), so what the
lens reports includes the interest accrued up to that block. The keeper approves the MarginAccount
for what the lens says it will pull plus a small slack (interest of a second or two if a block
lands later than expected) and revokes what is left at the end of the pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ape import chain
from ape.exceptions import ApeException
from eth_abi import decode
from eth_utils import keccak
from web3.exceptions import ContractCustomError as Web3ContractCustomError
from web3.exceptions import ContractLogicError as Web3ContractLogicError

from solvent.deploy import DeployedAsset, Deployment
from solvent.margin import MarginCurve
from solvent.risk import (
    MAX_UINT256,
    WAD,
    AccountLens,
    PairQuote,
    Position,
    Status,
    liquidation_profit,
    value_down,
    value_up,
)

Funder = Callable[[DeployedAsset, int], None]
"""Tops up the keeper with `amount` token units of an asset (the demo mints mock tokens)."""
Log = Callable[[str], None]

ACCOUNT_EVENTS = ("Deposited", "Borrowed", "Transferred")
PENDING = "pending"
LENS_CHUNK = 50  # accounts per lens call
SLACK_BPS = 10  # approval headroom over what the lens says will be pulled (0.1%)


class KeeperError(RuntimeError):
    """The keeper cannot act (for example it lacks the debt token and has no funder)."""


@dataclass(frozen=True, order=True)
class AccountRef:
    """A margin account: (owner, sub-account id)."""

    owner: str
    sub_id: int

    def __str__(self) -> str:
        return f"{self.owner}#{self.sub_id}"


@dataclass(frozen=True)
class Liquidation:
    """One settled liquidation, as the Liquidated event reports it.

    Token amounts in token units; discount and health WAD; values in USD WAD at the oracle prices
    the keeper read for the block it sent the transaction to.
    """

    account: AccountRef
    debt_asset: str
    repaid: int
    collateral_asset: str
    seized: int
    insurance_fee: int
    discount: int
    health: int  # account health before the liquidation (equity / MMR, WAD)
    bad_debt: int  # debt-asset units written off in the same transaction
    repaid_value: int
    seized_value: int
    fee_value: int
    gas_used: int  # of the whole transaction (shared by the liquidations of one batch)
    tx_hash: str
    batch_size: int = 1  # accounts settled by the transaction
    insurance_tip: int = 0  # debt-asset units the insurance fund paid the keeper
    tip_value: int = 0

    @property
    def profit_value(self) -> int:
        """Keeper's gain in USD WAD: collateral received and tip minus debt tokens paid (gas
        excluded)."""
        return self.seized_value + self.tip_value - self.repaid_value - self.fee_value


@dataclass(frozen=True)
class BadDebt:
    """Debt written off after an account ran out of collateral (BadDebtWrittenOff event)."""

    account: AccountRef
    asset: str
    amount: int
    covered: int
    socialized: int
    tx_hash: str


@dataclass(frozen=True)
class Skip:
    """A liquidatable account the keeper could not (fully) liquidate, and why."""

    account: AccountRef
    reason: str


@dataclass(frozen=True)
class SentTx:
    """A transaction the keeper sent: liquidate, liquidateBatch, writeOffBadDebt, approve."""

    kind: str
    gas_used: int
    gas_cost_wei: int
    tx_hash: str


@dataclass
class KeeperReport:
    """What one keeper pass saw and did."""

    scanned: list[AccountRef] = field(default_factory=list)
    liquidatable: list[AccountRef] = field(default_factory=list)
    liquidations: list[Liquidation] = field(default_factory=list)
    bad_debts: list[BadDebt] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    remaining: list[AccountRef] = field(default_factory=list)
    """Accounts still liquidatable after the pass (should be empty)."""
    transactions: list[SentTx] = field(default_factory=list)

    def liquidations_of(self, account: AccountRef) -> list[Liquidation]:
        return [liq for liq in self.liquidations if liq.account == account]

    def bad_debts_of(self, account: AccountRef) -> list[BadDebt]:
        return [bad for bad in self.bad_debts if bad.account == account]

    @property
    def profit_value(self) -> int:
        """Sum of the keeper's gains, USD WAD (gas excluded)."""
        return sum(liq.profit_value for liq in self.liquidations)

    @property
    def gas_used(self) -> int:
        """Gas of the liquidation and write-off transactions of the pass."""
        return sum(tx.gas_used for tx in self.transactions if tx.kind != "approve")

    @property
    def total_gas_used(self) -> int:
        """Gas of every transaction the keeper sent in the pass (approvals included)."""
        return sum(tx.gas_used for tx in self.transactions)

    @property
    def gas_cost_wei(self) -> int:
        """What every transaction of the pass cost in the chain's native token (wei)."""
        return sum(tx.gas_cost_wei for tx in self.transactions)


def discover_accounts(
    margin_account: Any, start_block: int = 0, stop_block: int | None = None
) -> list[AccountRef]:
    """Every (owner, subId) named by a Deposited, Borrowed or Transferred event, in order of first
    appearance on chain."""
    stop = chain.blocks.height if stop_block is None else min(stop_block, chain.blocks.height)
    if start_block > stop:
        return []  # ContractEvent.range would clamp the start to the head block
    first_seen: dict[AccountRef, tuple[int, int]] = {}

    def see(owner: str, sub_id: int, log: Any) -> None:
        ref = AccountRef(str(owner), int(sub_id))
        position = (int(log.block_number), int(log.log_index))
        first_seen[ref] = min(first_seen.get(ref, position), position)

    for name in ACCOUNT_EVENTS:
        # ContractEvent.range(start, stop) covers blocks start .. stop - 1.
        for log in getattr(margin_account, name).range(start_block, stop + 1):
            args = log.event_arguments
            if name == "Transferred":
                see(args["owner"], args["fromSubId"], log)
                see(args["owner"], args["toSubId"], log)
            else:
                see(args["owner"], args["subId"], log)
    return sorted(first_seen, key=first_seen.__getitem__)


@dataclass(frozen=True)
class Candidate:
    """The pair the keeper chose for an account and what it expects from it (USD WAD)."""

    account: AccountRef
    pair: PairQuote
    profit: int


class CallReverted(RuntimeError):
    """A view call reverted; `data` is the raw revert data (custom error selector and inputs)."""

    def __init__(self, message: str, data: bytes | None = None) -> None:
        super().__init__(message)
        self.data = data


def _revert_data(err: Exception) -> bytes | None:
    """Raw revert data of a failed call or transaction, when the node returned it."""
    if isinstance(err, CallReverted):
        return err.data
    message = str(getattr(err, "revert_message", "") or "").strip()
    if match := re.fullmatch(r"custom error (0x[0-9a-fA-F]{8}):\s*([0-9a-fA-F]*)", message):
        return bytes.fromhex(match[1][2:] + match[2])
    if re.fullmatch(r"0x[0-9a-fA-F]{8,}", message):
        return bytes.fromhex(message[2:])
    return None


def describe_error(err: Exception, contracts: Iterable[Any] = ()) -> str:
    """A one-line description of a failed call or transaction: the custom error and its inputs
    decoded with the ABIs of `contracts` (the protocol's errors bubble up from inner calls, which
    the node reports as raw data), else ape's message."""
    inputs = getattr(err, "inputs", None)
    abi = getattr(err, "abi", None)
    if abi is not None and isinstance(inputs, dict):
        return f"{abi.name}({', '.join(f'{k}={v}' for k, v in inputs.items())})"
    data = _revert_data(err)
    if data is not None:
        for contract in contracts:
            for error in contract.contract_type.errors:
                if keccak(text=error.selector)[:4] == data[:4]:
                    values = decode([i.canonical_type for i in error.inputs], data[4:])
                    args = ", ".join(
                        f"{i.name}={v}" for i, v in zip(error.inputs, values, strict=True)
                    )
                    return f"{error.name}({args})"
    text = str(getattr(err, "message", "") or err).strip().splitlines()
    return text[0] if text else type(err).__name__


class Keeper:
    """Liquidates accounts below maintenance on one deployment, sending from `sender`."""

    def __init__(
        self,
        deployment: Deployment,
        sender: Any,
        *,
        fund: Funder | None = None,
        log: Log | None = None,
        block_id: int | str = PENDING,
        max_rounds: int | None = None,
        min_profit: int = 0,
        slack_bps: int = SLACK_BPS,
    ) -> None:
        self.deployment = deployment
        self.ma = deployment.margin_account
        self.liquidator = deployment.liquidator
        self.sender = sender
        self.fund = fund
        self.log: Log = log or (lambda _: None)
        self.block_id = block_id
        # Each round brings an account to the target health, repays a whole debt or empties a
        # collateral, so this bound is never reached by a working pass; it only stops a loop if
        # the contracts behave unexpectedly.
        self.max_rounds = max_rounds or 2 * len(deployment.assets) + 2
        self.min_profit = min_profit  # USD WAD; pairs expected to earn less are not liquidated
        self.slack_bps = slack_bps
        self._approved: set[str] = set()  # assets approved during the current pass
        self._report: KeeperReport | None = None  # the pass under way

    # ------------------------------------------------------------------ pass
    def run_pass(
        self, accounts: Iterable[AccountRef] | None = None, *, start_block: int = 0
    ) -> KeeperReport:
        """Check every account (discovered from events unless given) and liquidate the
        liquidatable ones until they are not, or can go no further."""
        report = self._report = KeeperReport()
        report.scanned = (
            list(accounts) if accounts is not None else discover_accounts(self.ma, start_block)
        )
        self.log(f"keeper: {len(report.scanned)} accounts found")
        self.poke_volatility(report)
        lenses = self.lens(report.scanned, report)
        report.liquidatable = [a for a in report.scanned if a in lenses and lenses[a].liquidatable]
        self.log(f"keeper: {len(report.liquidatable)} below maintenance")
        pending = list(report.liquidatable)
        try:
            for _ in range(self.max_rounds):
                if not pending:
                    break
                acted = self._round(pending, lenses, report)
                lenses.update(self.lens(acted, report))
                pending = [a for a in acted if a in lenses and lenses[a].liquidatable]
            for account in pending:
                report.skipped.append(
                    Skip(account, f"still liquidatable after {self.max_rounds} rounds")
                )
        finally:
            self._revoke_approvals(report)
        final = self.lens(report.scanned, report)
        report.remaining = [a for a in report.scanned if a in final and final[a].liquidatable]
        self.log(
            f"keeper: {len(report.liquidations)} liquidations, profit "
            f"{report.profit_value / WAD:,.2f} USD before gas, gas {report.gas_used:,}"
        )
        return report

    def poke_volatility(self, report: KeeperReport) -> int:
        """Poke the VolatilityOracle for every tracked asset whose sigma is older than half the
        model's maxSigmaAge (past maxSigmaAge, initial margin uses the stale floor). Returns the
        number of pokes sent; a failing poke is logged and skipped."""
        vol = self.deployment.volatility_oracle
        if vol is None:
            return 0
        max_age = int(self.ma.marginModel()[4])
        now = int(chain.blocks.head.timestamp)
        sent = 0
        for asset in self.deployment.assets.values():
            curve = self.ma.marginCurve(asset.token)
            if int(curve.staleFloor) == 0 or now - int(curve.sigmaUpdatedAt) <= max_age // 2:
                continue
            try:
                receipt = vol.poke(asset.token, sender=self.sender)
            except Exception as err:  # one asset's feed must not stop the pass
                self.log(f"keeper: poke {asset.symbol} failed: {self._describe(err)}")
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
        groups: dict[tuple[str, str], list[Candidate]] = {}
        acted: list[AccountRef] = []
        for account in accounts:
            lens = lenses[account]
            if not lens.pairs:
                # Below maintenance with no pair: it owes but holds no collateral.
                if self._write_off(account, report):
                    acted.append(account)
                continue
            best = self.best_pair(account, lens, prices)
            if isinstance(best, str):
                report.skipped.append(Skip(account, best))
                self.log(f"keeper: skipping {account}: {best}")
                continue
            groups.setdefault((best.pair.debt_asset, best.pair.collateral_asset), []).append(best)
        for (debt, collateral), group in groups.items():
            try:
                if len(group) == 1:
                    self._liquidate(group[0], prices, report)
                else:
                    self._liquidate_batch(debt, collateral, group, prices, report)
            except (ApeException, KeeperError, CallReverted) as err:
                reason = f"{debt}/{collateral}: {self._describe(err)}"
                for c in group:
                    report.skipped.append(Skip(c.account, reason))
                self.log(f"keeper: {len(group)} account(s) not liquidated: {reason}")
                continue
            skipped = {s.account for s in report.skipped}
            acted += [c.account for c in group if c.account not in skipped]
        return acted

    # ------------------------------------------------------------------ chain reads
    def lens(
        self, accounts: list[AccountRef], report: KeeperReport | None = None
    ) -> dict[AccountRef, AccountLens]:
        """Liquidator.lens of `accounts` (pairs keyed by symbol). An account whose lens reverts
        (a stale or broken price feed) is left out and reported as skipped."""
        out: dict[AccountRef, AccountLens] = {}
        for i in range(0, len(accounts), LENS_CHUNK):
            chunk = accounts[i : i + LENS_CHUNK]
            try:
                out.update(zip(chunk, self._lens_call(chunk), strict=True))
                continue
            except CallReverted:
                pass
            for account in chunk:  # find the account(s) the lens cannot price
                try:
                    out[account] = self._lens_call([account])[0]
                except CallReverted as err:
                    reason = (
                        f"cannot price the account (is a price feed stale?): {self._describe(err)}"
                    )
                    if report is not None and all(s.account != account for s in report.skipped):
                        report.skipped.append(Skip(account, reason))
                    self.log(f"keeper: {account}: {reason}")
        return out

    def _lens_call(self, accounts: list[AccountRef]) -> list[AccountLens]:
        raw = self._view(self.liquidator.lens, [(a.owner, a.sub_id) for a in accounts])
        return [AccountLens.from_chain(entry, self._symbol) for entry in raw]

    def _view(self, method: Any, *args: Any) -> Any:
        """eth_call of a view at `block_id`, decoded; raises CallReverted with the revert data.

        A plain eth_call rather than ape's call: ape renders a call-tree trace for every revert
        (slow, and printed on the console), and the keeper reports reverts itself."""
        tx = {"to": method.contract.address, "data": method.encode_input(*args)}
        block = self.block_id
        try:
            result = chain.provider.web3.eth.call(tx, block_identifier=block)
        except Web3ContractCustomError as err:
            data = bytes.fromhex(str(err.data).removeprefix("0x"))
            raise CallReverted(f"custom error 0x{data[:4].hex()}", data) from err
        except Web3ContractLogicError as err:
            raise CallReverted(str(err)) from err
        values = decode([o.canonical_type for o in method.abis[0].outputs], bytes(result))
        return values[0] if len(values) == 1 else values

    def prices(self) -> dict[str, int]:
        """Oracle price of every deployed asset (USD WAD per whole token); an asset whose feed
        reverts is left out (pairs in it are then skipped)."""
        out = {}
        for symbol, asset in self.deployment.assets.items():
            try:
                out[symbol] = int(self._view(self.deployment.oracle.price, asset.token.address)[0])
            except CallReverted:
                continue
        return out

    def best_pair(
        self, account: AccountRef, lens: AccountLens, prices: dict[str, int]
    ) -> Candidate | str:
        """The OK pair with the highest expected profit at `prices` (ties: first in lens order),
        or why there is none."""
        best: Candidate | None = None
        refused = []
        for pair in lens.pairs:
            if pair.status != Status.OK:
                refused.append(f"{pair.debt_asset}/{pair.collateral_asset} {pair.status.name}")
                continue
            debt, coll = (
                self.deployment.asset(pair.debt_asset),
                self.deployment.asset(pair.collateral_asset),
            )
            if pair.debt_asset not in prices or pair.collateral_asset not in prices:
                refused.append(f"{pair.debt_asset}/{pair.collateral_asset} no price")
                continue
            profit = liquidation_profit(
                pair.seize,
                pair.max_repay,
                pair.insurance_fee,
                debt_price=prices[pair.debt_asset],
                debt_scale=debt.scale,
                collateral_price=prices[pair.collateral_asset],
                collateral_scale=coll.scale,
                insurance_tip=pair.insurance_tip,
            )
            if profit < self.min_profit:
                refused.append(f"{pair.debt_asset}/{pair.collateral_asset} profit {profit} < min")
                continue
            if best is None or profit > best.profit:
                best = Candidate(account, pair, profit)
        if best is not None:
            return best
        return "no pair can be liquidated: " + ", ".join(refused)

    def _describe(self, err: Exception) -> str:
        d = self.deployment
        vaults = [a.vault for a in d.assets.values()]
        return describe_error(err, [self.liquidator, self.ma, d.oracle, *vaults])

    def _symbol(self, token: Any) -> str:
        return asset_by_token(self.deployment, token).symbol

    # ------------------------------------------------------------------ actions
    def _liquidate(self, c: Candidate, prices: dict[str, int], report: KeeperReport) -> None:
        pair = c.pair
        debt = self.deployment.asset(pair.debt_asset)
        collateral = self.deployment.asset(pair.collateral_asset)
        self.ensure_funds(debt, self._with_slack(pair.owed))
        self.log(
            f"keeper: liquidating {c.account}: repay {pair.max_repay} {debt.symbol} units "
            f"(+{pair.insurance_fee} insurance fee, -{pair.insurance_tip} insurance tip), seize "
            f"{pair.seize} {collateral.symbol} units at "
            f"{pair.discount / WAD:.2%} discount"
        )
        receipt = self.liquidator.liquidate(
            c.account.owner,
            c.account.sub_id,
            debt.token,
            collateral.token,
            MAX_UINT256,
            pair.seize,
            b"",
            sender=self.sender,
        )
        self._record(receipt, "liquidate", prices, report, 1)

    def _liquidate_batch(
        self,
        debt_symbol: str,
        collateral_symbol: str,
        group: list[Candidate],
        prices: dict[str, int],
        report: KeeperReport,
    ) -> None:
        debt = self.deployment.asset(debt_symbol)
        collateral = self.deployment.asset(collateral_symbol)
        owed = sum(c.pair.owed for c in group)
        seize = sum(c.pair.seize for c in group)
        # Slippage per target: at least the lens's worst collateral-per-debt rate, less the slack.
        # A target a rival liquidated first is skipped, not the whole batch.
        rate = min(c.pair.seize * WAD // c.pair.max_repay for c in group)
        min_rate = rate - rate * self.slack_bps // 10_000
        self.ensure_funds(debt, self._with_slack(owed))
        self.log(
            f"keeper: batch-liquidating {len(group)} accounts in {debt.symbol}/"
            f"{collateral.symbol}: repay {owed} {debt.symbol} units with insurance, seize {seize} "
            f"{collateral.symbol} units"
        )
        receipt = self.liquidator.liquidateBatch(
            [(c.account.owner, c.account.sub_id) for c in group],
            debt.token,
            collateral.token,
            min_rate,
            sender=self.sender,
        )
        self._record(receipt, "liquidateBatch", prices, report, len(group))
        for event in self.ma.LiquidationSkipped.from_receipt(receipt):
            account = AccountRef(str(event.owner), int(event.subId))
            status = Status(int(event.status)).name
            report.skipped.append(Skip(account, f"skipped by the batch: {status}"))
            self.log(f"keeper: batch skipped {account}: {status}")

    def _record(
        self, receipt: Any, kind: str, prices: dict[str, int], report: KeeperReport, size: int
    ) -> None:
        self._record_tx(receipt, kind, report)
        for event in self.ma.Liquidated.from_receipt(receipt):
            debt = asset_by_token(self.deployment, event.debtAsset)
            coll = asset_by_token(self.deployment, event.collateralAsset)
            dp, cp = prices[debt.symbol], prices[coll.symbol]
            liq = Liquidation(
                account=AccountRef(str(event.owner), int(event.subId)),
                debt_asset=debt.symbol,
                repaid=int(event.repaid),
                collateral_asset=coll.symbol,
                seized=int(event.seized),
                insurance_fee=int(event.insuranceFee),
                discount=int(event.discount),
                health=int(event.health),
                bad_debt=int(event.badDebt),
                repaid_value=value_up(int(event.repaid), dp, debt.scale),
                seized_value=value_down(int(event.seized), cp, coll.scale),
                fee_value=value_up(int(event.insuranceFee), dp, debt.scale),
                gas_used=int(receipt.gas_used),
                tx_hash=str(receipt.txn_hash),
                batch_size=size,
                insurance_tip=int(event.insuranceTip),
                tip_value=value_down(int(event.insuranceTip), dp, debt.scale),
            )
            report.liquidations.append(liq)
        self._record_bad_debt(receipt, report)

    def _record_tx(self, receipt: Any, kind: str, report: KeeperReport) -> None:
        gas = int(receipt.gas_used)
        price = int(getattr(receipt, "gas_price", 0) or 0)
        report.transactions.append(SentTx(kind, gas, gas * price, str(receipt.txn_hash)))

    def _write_off(self, account: AccountRef, report: KeeperReport) -> bool:
        """An account with debt and no collateral: write the debt off (anyone may)."""
        try:
            receipt = self.liquidator.writeOffBadDebt(
                account.owner, account.sub_id, sender=self.sender
            )
        except ApeException as err:
            report.skipped.append(Skip(account, f"write-off: {self._describe(err)}"))
            return False
        self._record_tx(receipt, "writeOffBadDebt", report)
        self._record_bad_debt(receipt, report)
        return True

    def _record_bad_debt(self, receipt: Any, report: KeeperReport) -> None:
        for event in self.ma.BadDebtWrittenOff.from_receipt(receipt):
            account = AccountRef(str(event.owner), int(event.subId))
            symbol = asset_by_token(self.deployment, event.asset).symbol
            report.bad_debts.append(
                BadDebt(
                    account=account,
                    asset=symbol,
                    amount=int(event.amount),
                    covered=int(event.covered),
                    socialized=int(event.socialized),
                    tx_hash=str(receipt.txn_hash),
                )
            )
            self.log(f"keeper: {account} bad debt written off: {event.amount} {symbol} units")

    def _with_slack(self, amount: int) -> int:
        return amount + amount * self.slack_bps // 10_000 + 1

    def ensure_funds(self, asset: DeployedAsset, amount: int) -> None:
        """Hold at least `amount` of `asset` and let the MarginAccount pull it."""
        token = asset.token
        balance = int(token.balanceOf(self.sender))
        if balance < amount:
            if self.fund is None:
                raise KeeperError(
                    f"keeper holds {balance} {asset.symbol} units but needs {amount}; "
                    "fund the keeper account"
                )
            self.fund(asset, amount - balance)
            balance = int(token.balanceOf(self.sender))
            if balance < amount:
                raise KeeperError(
                    f"funding left the keeper {amount - balance} {asset.symbol} short"
                )
        if int(token.allowance(self.sender, self.ma)) < amount:
            receipt = token.approve(self.ma, amount, sender=self.sender)
            self._approved.add(asset.symbol)
            if self._report is not None:
                self._record_tx(receipt, "approve", self._report)

    def _revoke_approvals(self, report: KeeperReport) -> None:
        """Approvals never outlive the pass: set what is left of them back to zero."""
        for symbol in sorted(self._approved):
            token = self.deployment.asset(symbol).token
            if int(token.allowance(self.sender, self.ma)) > 0:
                receipt = token.approve(self.ma, 0, sender=self.sender)
                self._record_tx(receipt, "approve", report)
        self._approved.clear()


def asset_by_token(deployment: Deployment, token: Any) -> DeployedAsset:
    """The deployed asset whose token is at address `token`."""
    address = str(getattr(token, "address", token)).lower()
    for asset in deployment.assets.values():
        if asset.token.address.lower() == address:
            return asset
    raise KeeperError(f"asset {token} is listed on chain but not in the deployment")


def read_positions(
    deployment: Deployment, account: AccountRef, *, block_id: int | str = "latest"
) -> dict[str, Position]:
    """The account's non-zero balances with the chain's prices, borrow indices and risk
    parameters, keyed by symbol in listing order, for the integer risk mirror."""
    ma = deployment.margin_account
    owner, sub = account.owner, account.sub_id
    held = {str(t).lower() for t in ma.accountAssets(owner, sub, block_id=block_id)}
    out: dict[str, Position] = {}
    for token in ma.listedAssets(block_id=block_id):
        if str(token).lower() not in held:
            continue
        asset = asset_by_token(deployment, token)
        raw = int(ma.rawBalance(owner, sub, token, block_id=block_id))
        if raw == 0:
            continue
        cfg = ma.assetConfig(token, block_id=block_id)
        index, insurance = (
            (int(x) for x in asset.vault.indexAndInsurance(block_id=block_id))
            if raw < 0
            else (WAD, 0)
        )
        out[asset.symbol] = Position(
            raw=raw,
            price=int(deployment.oracle.price(token, block_id=block_id)[0]),
            scale=int(cfg.scale),
            imf=int(cfg.imf),
            mmf=int(cfg.mmf),
            index=index,
            insurance=insurance,
            min_discount=int(cfg.minDiscount),
            max_discount=int(cfg.maxDiscount),
            min_debt_value=int(cfg.minDebtValue),
            curves=MarginCurve.from_chain(ma.marginCurve(token, block_id=block_id)).curves(),
        )
    return out


def run_keeper_pass(
    deployment: Deployment,
    sender: Any,
    *,
    fund: Funder | None = None,
    start_block: int = 0,
    log: Log | None = None,
) -> KeeperReport:
    """One keeper pass over every account found in events since `start_block`."""
    return Keeper(deployment, sender, fund=fund, log=log).run_pass(start_block=start_block)


def mint_funder(sender: Any) -> Funder:
    """A funder that mints mock tokens to `sender` (local chains with MockERC20 only)."""

    def fund(asset: DeployedAsset, amount: int) -> None:
        asset.token.mint(sender, amount, sender=sender)

    return fund
