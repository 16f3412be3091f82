"""What a replay measures, as plain data that serializes to metrics.json.

Token amounts are integers in token units, USD values integers in WAD (1e18 = $1), times in
UTC seconds of the data (the chain runs the same intervals from its own start time).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class LiquidationRecord:
    step: int
    keeper: int  # index in the replay's keepers
    owner: str
    sub_id: int
    debt_asset: str
    collateral_asset: str
    repaid: int
    seized: int
    discount: int  # WAD
    health: int  # WAD, before the liquidation
    bad_debt: int  # debt-asset units written off in the same transaction
    block: int
    time: int  # data time of the block
    tx_hash: str
    gas_used: int  # of the transaction (shared by the accounts of a batch)
    profit_usd: int  # keeper's profit in USD WAD after slippage, before gas
    gas_usd: int  # this liquidation's share of the gas, at the configured gas price
    latency_s: int  # data seconds from the round that made it liquidatable
    latency_blocks: int


@dataclass(frozen=True)
class BadDebtRecord:
    step: int
    owner: str
    sub_id: int
    asset: str
    amount: int  # token units
    covered: int  # by the insurance fund
    socialized: int  # lost by the lenders
    usd: int  # WAD at the step's price
    tx_hash: str


@dataclass
class StepRecord:
    """The state after one oracle round and the keepers' reaction to it."""

    step: int
    time: int
    prices: dict[str, int]  # USD WAD per whole token (the oracle's)
    liquidatable: int  # accounts below maintenance after the round, before keepers act
    liquidated: int  # liquidations settled in this step
    remaining: int  # accounts still below maintenance after the keepers
    gas_used: int
    blocks: int  # blocks the step's keeper transactions used
    bad_debt_usd: int  # cumulative, WAD
    insurance: dict[str, int]  # token units per vault
    share_price: dict[str, int]  # assets per share, WAD
    mmf: dict[str, int]  # maintenance factor of a small position, WAD
    imf: dict[str, int]
    sigma: dict[str, int]  # VolatilityOracle sigma, WAD (empty without dynamic margin)
    health: list[int] = field(default_factory=list)  # WAD, every account with debt (capped at 10)
    late_s: int = 0  # data seconds the round reached the chain after its time (earlier rounds'
    # transactions, one per one-second block, ran past it)


@dataclass
class SimMetrics:
    window: str
    settings: dict[str, Any]
    sources: dict[str, str]
    accounts: int
    steps: list[StepRecord] = field(default_factory=list)
    liquidations: list[LiquidationRecord] = field(default_factory=list)
    bad_debts: list[BadDebtRecord] = field(default_factory=list)
    deposits_usd: int = 0  # lenders' deposits at the first prices, WAD
    decimals: dict[str, int] = field(default_factory=dict)  # token decimals by symbol
    #: Mean over the accounts of equity / collateral value when they opened, WAD (the margin
    #: actually posted: lower is more capital-efficient).
    opening_margin: int = 0
    timings: dict[str, float] = field(default_factory=dict)  # seconds by phase (not reproducible)

    def totals(self) -> dict[str, Any]:
        lat = sorted(r.latency_s for r in self.liquidations)
        bad = sum(b.usd for b in self.bad_debts)
        ever = {(r.owner, r.sub_id) for r in self.liquidations}
        return {
            "liquidations": len(self.liquidations),
            "accounts_liquidated": len(ever),
            "max_liquidatable": max((s.liquidatable for s in self.steps), default=0),
            "left_liquidatable": self.steps[-1].remaining if self.steps else 0,
            "bad_debt_usd": bad,
            "bad_debt_share_of_deposits": (
                round(bad / self.deposits_usd, 9) if self.deposits_usd else 0.0
            ),
            "socialized_usd": sum(
                b.usd * b.socialized // b.amount for b in self.bad_debts if b.amount
            ),
            "keeper_profit_usd": sum(r.profit_usd - r.gas_usd for r in self.liquidations),
            "gas_used": sum(s.gas_used for s in self.steps),
            "max_gas_per_step": max((s.gas_used for s in self.steps), default=0),
            "max_round_late_s": max((s.late_s for s in self.steps), default=0),
            "latency_s_median": lat[len(lat) // 2] if lat else None,
            "latency_s_max": lat[-1] if lat else None,
            "mean_discount": (
                sum(r.discount for r in self.liquidations) // len(self.liquidations)
                if self.liquidations
                else 0
            ),
        }

    def to_json(self, timings: bool = True) -> dict[str, Any]:
        """metrics.json; `timings=False` leaves out wall-clock figures (for comparing runs)."""
        out = {
            "window": self.window,
            "settings": self.settings,
            "sources": self.sources,
            "accounts": self.accounts,
            "deposits_usd": str(self.deposits_usd),
            "decimals": self.decimals,
            "opening_margin": str(self.opening_margin),
            "totals": _stringify(self.totals()),
            "steps": [_stringify(asdict(s)) for s in self.steps],
            "liquidations": [_stringify(asdict(r)) for r in self.liquidations],
            "bad_debts": [_stringify(asdict(b)) for b in self.bad_debts],
        }
        if timings:
            out["timings"] = self.timings
        return out


def _stringify(value: Any) -> Any:
    """Big integers as strings (JSON readers lose precision above 2**53)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return str(value) if abs(value) >= 2**53 else value
    if isinstance(value, dict):
        return {k: _stringify(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify(v) for v in value]
    return value
