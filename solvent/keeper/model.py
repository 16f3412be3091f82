"""What the keeper sees and does, as plain data: accounts, liquidations, write-offs, skips and the
report of one pass. Token amounts in token units, values in USD WAD."""

from __future__ import annotations

from dataclasses import dataclass, field

from solvent.risk import PairQuote


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
    #: Flash liquidations: debt-asset units the swap left the keeper (FlashLiquidated.profit) and
    #: their USD WAD value; the keeper holds no collateral afterwards.
    flash_profit: int | None = None
    flash_profit_value: int | None = None

    @property
    def profit_value(self) -> int:
        """Keeper's gain in USD WAD (gas excluded): for a flash liquidation what the swap left
        it; otherwise collateral received and tip minus debt tokens paid, at oracle prices."""
        if self.flash_profit_value is not None:
            return self.flash_profit_value
        return self.seized_value + self.tip_value - self.repaid_value - self.fee_value


@dataclass(frozen=True)
class FlashRoute:
    """Liquidate with no inventory through a FlashLiquidator owned by the keeper's account: the
    seized collateral is sold in the router's `pool_fee` pool and the debt repaid from the
    proceeds, in one transaction that reverts unless the swap leaves the minimum profit."""

    contract: str  # FlashLiquidator address
    pool_fee: int = 500  # pool fee tier, pips (500 = 0.05%)
    #: Seconds a signed liquidation stays valid: longer than the keeper's receipt wait, so a
    #: transaction still pending after it is not re-sent with an expired deadline.
    deadline_s: int = 600
    #: The swap must pay at least the seized collateral's oracle value in debt tokens, less the
    #: pool fee and this much (bps): a sandwich around the keeper's transaction can take at most
    #: that, not the whole liquidation discount.
    max_slippage_bps: int = 100

    def __post_init__(self) -> None:
        if not 0 < self.pool_fee < 10**6:
            raise ValueError(f"pool fee {self.pool_fee} pips is outside (0, 1,000,000)")
        if self.deadline_s <= 0:
            raise ValueError("deadline must be positive seconds")
        if not 0 <= self.max_slippage_bps < 10_000:
            raise ValueError(f"max slippage {self.max_slippage_bps} bps is outside [0, 10,000)")


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


@dataclass(frozen=True)
class Candidate:
    """The pair the keeper chose for an account and what it expects from it (USD WAD)."""

    account: AccountRef
    pair: PairQuote
    profit: int
