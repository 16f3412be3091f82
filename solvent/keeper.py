"""A simple keeper pass: find accounts from MarginAccount events and liquidate those the chain says
are below maintenance margin.

The chain decides everything that matters: `MarginAccount.isLiquidatable` says whether an account
may be liquidated and `Liquidator.quote` prices the liquidation. Python only ranks the positions (by
USD value at the chain's oracle prices, through the integer risk mirror) to pick which debt to repay
and which collateral to seize, and sizes the repayment to the whole debt in that asset; the
Liquidator caps it to what the collateral pays for. The Liquidator has no close factor, so this
keeper closes the largest debt against the largest collateral, then repeats while the account is
still liquidatable and holds collateral. When an account runs out of collateral the Liquidator writes
its remaining debt off (insurance fund first, then lenders) in the same transaction.

Reads are made against the pending block (the block the liquidation lands in), so the quoted
repayment includes the interest accrued up to that block and the approval covers it exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ape import chain
from ape.exceptions import ContractLogicError

from solvent.deploy import DeployedAsset, Deployment
from solvent.risk import WAD, Position, mul_div_down, mul_div_up

Funder = Callable[[DeployedAsset, int], None]
"""Tops up the keeper with `amount` token units of an asset (the demo mints mock tokens)."""
Log = Callable[[str], None]

ACCOUNT_EVENTS = ("Deposited", "Borrowed", "Transferred")
PENDING = "pending"


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

    Token amounts in token units; values in USD WAD at the oracle prices of that block.
    """

    account: AccountRef
    debt_asset: str
    repaid: int
    collateral_asset: str
    seized: int
    insurance_fee: int
    repaid_value: int
    seized_value: int
    fee_value: int
    gas_used: int
    tx_hash: str

    @property
    def profit_value(self) -> int:
        """Keeper's gain in USD WAD: collateral received minus debt tokens paid (gas excluded)."""
        return self.seized_value - self.repaid_value - self.fee_value


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
        return sum(liq.gas_used for liq in self.liquidations)


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
    ) -> None:
        self.deployment = deployment
        self.ma = deployment.margin_account
        self.liquidator = deployment.liquidator
        self.sender = sender
        self.fund = fund
        self.log: Log = log or (lambda _: None)
        self.block_id = block_id
        # Each round repays a whole debt or empties a collateral, so this bound is never reached
        # by a working pass; it only stops a loop if the contracts behave unexpectedly.
        self.max_rounds = max_rounds or 2 * len(deployment.assets) + 2

    # ------------------------------------------------------------------ pass
    def run_pass(
        self, accounts: Iterable[AccountRef] | None = None, *, start_block: int = 0
    ) -> KeeperReport:
        """Check every account (discovered from events unless given) and liquidate the
        liquidatable ones until they are not, or have no collateral left."""
        report = KeeperReport()
        report.scanned = (
            list(accounts) if accounts is not None else discover_accounts(self.ma, start_block)
        )
        self.log(f"keeper: {len(report.scanned)} accounts found")
        for account in report.scanned:
            if not self.is_liquidatable(account):
                continue
            report.liquidatable.append(account)
            self.liquidate_account(account, report)
        report.remaining = [a for a in report.scanned if self.is_liquidatable(a)]
        return report

    def is_liquidatable(self, account: AccountRef) -> bool:
        return bool(self.ma.isLiquidatable(account.owner, account.sub_id, block_id=self.block_id))

    def liquidate_account(self, account: AccountRef, report: KeeperReport) -> None:
        """Liquidate `account` round by round while the chain says it is liquidatable."""
        for _ in range(self.max_rounds):
            if not self.is_liquidatable(account):
                return
            positions = self.positions(account)
            debts = {sym: p for sym, p in positions.items() if p.raw < 0}
            collaterals = {sym: p for sym, p in positions.items() if p.raw > 0}
            if not debts:
                report.skipped.append(Skip(account, "liquidatable but owes nothing"))
                return
            if not collaterals:
                try:
                    self._write_off(account, report)
                except ContractLogicError as err:
                    report.skipped.append(Skip(account, f"write-off: {err}"))
                return
            debt = _largest(debts)
            collateral = _largest(collaterals)
            try:
                self._liquidate_pair(account, debt, collateral, debts[debt].tokens, report)
            except (ContractLogicError, KeeperError) as err:
                report.skipped.append(Skip(account, f"{debt}/{collateral}: {err}"))
                return
        report.skipped.append(Skip(account, f"still liquidatable after {self.max_rounds} rounds"))

    # ------------------------------------------------------------------ chain reads
    def positions(self, account: AccountRef) -> dict[str, Position]:
        return read_positions(self.deployment, account, block_id=self.block_id)

    def _asset(self, token: Any) -> DeployedAsset:
        return asset_by_token(self.deployment, token)

    # ------------------------------------------------------------------ actions
    def _liquidate_pair(
        self,
        account: AccountRef,
        debt_symbol: str,
        collateral_symbol: str,
        max_repay: int,
        report: KeeperReport,
    ) -> None:
        debt = self.deployment.asset(debt_symbol)
        collateral = self.deployment.asset(collateral_symbol)
        owner, sub = account.owner, account.sub_id
        repay, seize, fee = (
            int(x)
            for x in self.liquidator.quote(
                owner, sub, debt.token, collateral.token, max_repay, block_id=self.block_id
            )
        )
        snap = self.ma.liquidationSnapshot(
            owner, sub, debt.token, collateral.token, block_id=self.block_id
        )
        self.ensure_funds(debt, repay + fee)
        self.log(
            f"keeper: liquidating {account}: repay {repay} {debt.symbol} units, "
            f"seize {seize} {collateral.symbol} units"
        )
        receipt = self.liquidator.liquidate(
            owner, sub, debt.token, collateral.token, repay, seize, sender=self.sender
        )
        for event in self.ma.Liquidated.from_receipt(receipt):
            report.liquidations.append(
                Liquidation(
                    account=account,
                    debt_asset=self._asset(event.debtAsset).symbol,
                    repaid=int(event.repaid),
                    collateral_asset=self._asset(event.collateralAsset).symbol,
                    seized=int(event.seized),
                    insurance_fee=int(event.insuranceFee),
                    repaid_value=mul_div_up(int(event.repaid), snap.debtPrice, snap.debtScale),
                    seized_value=mul_div_down(
                        int(event.seized), snap.collateralPrice, snap.collateralScale
                    ),
                    fee_value=mul_div_up(int(event.insuranceFee), snap.debtPrice, snap.debtScale),
                    gas_used=int(receipt.gas_used),
                    tx_hash=str(receipt.txn_hash),
                )
            )
        self._record_bad_debt(account, receipt, report)

    def _write_off(self, account: AccountRef, report: KeeperReport) -> None:
        """An account with debt and no collateral: write the debt off (anyone may)."""
        receipt = self.liquidator.writeOffBadDebt(account.owner, account.sub_id, sender=self.sender)
        self._record_bad_debt(account, receipt, report)

    def _record_bad_debt(self, account: AccountRef, receipt: Any, report: KeeperReport) -> None:
        for event in self.ma.BadDebtWrittenOff.from_receipt(receipt):
            report.bad_debts.append(
                BadDebt(
                    account=account,
                    asset=self._asset(event.asset).symbol,
                    amount=int(event.amount),
                    covered=int(event.covered),
                    socialized=int(event.socialized),
                    tx_hash=str(receipt.txn_hash),
                )
            )
            self.log(
                f"keeper: {account} bad debt written off: {event.amount} "
                f"{self._asset(event.asset).symbol} units"
            )

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
            token.approve(self.ma, amount, sender=self.sender)


def asset_by_token(deployment: Deployment, token: Any) -> DeployedAsset:
    """The deployed asset whose token is at address `token`."""
    for asset in deployment.assets.values():
        if asset.token.address == str(token):
            return asset
    raise KeeperError(f"asset {token} is listed on chain but not in the deployment")


def read_positions(
    deployment: Deployment, account: AccountRef, *, block_id: int | str = "latest"
) -> dict[str, Position]:
    """The account's non-zero balances with the chain's prices, borrow indices and margin factors,
    keyed by symbol, for the integer risk mirror."""
    ma = deployment.margin_account
    owner, sub = account.owner, account.sub_id
    out: dict[str, Position] = {}
    for token in ma.accountAssets(owner, sub, block_id=block_id):
        asset = asset_by_token(deployment, token)
        raw = int(ma.rawBalance(owner, sub, token, block_id=block_id))
        if raw == 0:
            continue
        cfg = ma.assetConfig(token, block_id=block_id)
        out[asset.symbol] = Position(
            raw=raw,
            price=int(deployment.oracle.price(token, block_id=block_id)[0]),
            scale=int(cfg.scale),
            imf=int(cfg.imf),
            mmf=int(cfg.mmf),
            index=int(asset.vault.borrowIndex(block_id=block_id)) if raw < 0 else WAD,
        )
    return out


def _largest(positions: dict[str, Position]) -> str:
    """Symbol of the position with the largest USD value (ties: alphabetical, for determinism)."""
    return max(sorted(positions), key=lambda sym: abs(positions[sym].value))


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
