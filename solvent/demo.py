"""The crash demo behind `make demo`: lenders fund the vaults, traders open leveraged positions, ETH
falls 40% through the mock feed, one keeper pass liquidates every account below maintenance (each
through its most profitable pair, several accounts sharing a pair in one batch), and a report shows
what happened to accounts, vaults and the insurance funds: the discount each liquidation paid (a
Dutch auction in the account's health), the insurance fund's cut of it, and the bad debt of the
insolvent account.

`run_scenario` acts on an existing Deployment and returns a `DemoResult` (no printing);
`render_report` turns a result into rich tables. Every number is read from the chain; money math
is integer (USD values in WAD) and Decimal is used only to display.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from ape import chain
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

from solvent.apebridge import ape_keeper
from solvent.deploy import DeployedAsset, Deployment
from solvent.keeper import AccountRef, KeeperError, KeeperReport, Liquidation
from solvent.margin import MarginCurve
from solvent.risk import (
    MAX_UINT256,
    WAD,
    AccountLens,
    EngineParams,
    Position,
    account_health,
    scaled_debt_after_borrow,
)
from solvent.units import from_units, from_wad, to_units

BPS = 10_000
CRASH_ASSET = "WETH"
CRASH_BPS = 4_000  # ETH falls 40%
MAX_UINT = 2**256 - 1
Log = Callable[[str], None]


class ScenarioError(RuntimeError):
    """The scenario cannot run as planned (a position would fail the IMR check, too few accounts)."""


# ---------------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class PositionPlan:
    """One account to open: collateral deposited, then debt borrowed (whole-token strings)."""

    trader: str
    sub_id: int
    description: str
    collateral: tuple[tuple[str, str], ...]
    debt: tuple[tuple[str, str], ...]


# Prices in config/local.yaml: USDC $1, WBTC $60,000, WETH $3,000 (ETH goes to $1,800).
POSITIONS: tuple[PositionPlan, ...] = (
    PositionPlan("alice", 0, "long ETH", (("WETH", "10"),), (("USDC", "16800"),)),
    PositionPlan("bob", 0, "short ETH", (("USDC", "30000"),), (("WETH", "6"),)),
    PositionPlan("carol", 0, "long BTC", (("WBTC", "1"),), (("USDC", "40000"),)),
    PositionPlan(
        "dave", 0, "cross ETH+BTC", (("WETH", "10"), ("WBTC", "0.5")), (("USDC", "45600"),)
    ),
    PositionPlan("erin", 1, "isolated long ETH", (("WETH", "5"),), (("USDC", "8500"),)),
    PositionPlan("erin", 2, "isolated long BTC", (("WBTC", "0.5"),), (("USDC", "20000"),)),
    PositionPlan("frank", 0, "max-leverage long ETH", (("WETH", "8"),), (("USDC", "19500"),)),
)
# (lender, asset, whole tokens)
LENDING: tuple[tuple[str, str, str], ...] = (
    ("lena", "USDC", "1000000"),
    ("lena", "WETH", "100"),
    ("leo", "WBTC", "10"),
    ("leo", "USDC", "500000"),
)
# The protocol seeds the USDC insurance fund before trading starts (whole tokens).
INSURANCE_SEED: tuple[tuple[str, str], ...] = (("USDC", "2500"),)


@dataclass(frozen=True)
class Cast:
    """Who plays which role."""

    deployer: Any
    keeper: Any
    lenders: dict[str, Any]
    traders: dict[str, Any]

    LABELS = ("alice", "bob", "carol", "dave", "erin", "frank")

    @classmethod
    def from_accounts(cls, accounts: Sequence[Any]) -> Cast:
        """deployer = accounts[0], lenders lena/leo = 1 and 8, traders 2..7, keeper = 9."""
        if len(accounts) < 10:
            raise ScenarioError(f"the demo needs 10 accounts, got {len(accounts)}")
        return cls(
            deployer=accounts[0],
            keeper=accounts[9],
            lenders={"lena": accounts[1], "leo": accounts[8]},
            traders={label: accounts[2 + i] for i, label in enumerate(cls.LABELS)},
        )

    def labels(self) -> dict[str, str]:
        """address -> role name"""
        named = {"deployer": self.deployer, **self.lenders, **self.traders, "keeper": self.keeper}
        return {acct.address: name for name, acct in named.items()}

    def relabel(self, text: str) -> str:
        """Replace every cast address in `text` by its role name."""
        for address, name in self.labels().items():
            text = text.replace(address, name)
        return text


# ---------------------------------------------------------------------------------------- result


@dataclass(frozen=True)
class AccountState:
    """Equity, IMR, MMR and health (USD WAD; health WAD) as the chain reports them."""

    equity: int
    imr: int
    mmr: int
    health: int
    liquidatable: bool


@dataclass
class AccountRow:
    label: str
    description: str
    ref: AccountRef
    before: AccountState
    crash: AccountState
    after: AccountState
    liquidations: list[Liquidation] = field(default_factory=list)
    bad_debt_value: int = 0  # USD WAD at post-crash prices

    @property
    def seized_value(self) -> int:
        return sum(liq.seized_value for liq in self.liquidations)

    @property
    def repaid_value(self) -> int:
        return sum(liq.repaid_value for liq in self.liquidations)


@dataclass(frozen=True)
class VaultState:
    block: int  # block of the interest accrual this state was read at
    insurance: int  # token units
    share_price: int  # token units per whole share (convertToAssets(10**share_decimals))
    total_assets: int
    total_borrows: int


@dataclass
class VaultRow:
    symbol: str
    decimals: int
    before: VaultState
    after: VaultState
    bad_debt: int = 0
    covered: int = 0
    socialized: int = 0


@dataclass
class DemoResult:
    chain_id: int
    crash_asset: str
    crash_bps: int
    prices_before: dict[str, int]
    prices_after: dict[str, int]
    accounts: list[AccountRow]
    vaults: list[VaultRow]
    keeper: KeeperReport
    start_block: int
    crash_block: int
    end_block: int
    engine: EngineParams  # the Liquidator's insurance share and target health
    lens_at_crash: dict[AccountRef, AccountLens] = field(default_factory=dict)

    def account(self, label: str, sub_id: int = 0) -> AccountRow:
        for row in self.accounts:
            if row.label == label and row.ref.sub_id == sub_id:
                return row
        raise KeyError(f"no account {label}#{sub_id}")

    def vault(self, symbol: str) -> VaultRow:
        for row in self.vaults:
            if row.symbol == symbol:
                return row
        raise KeyError(symbol)


# ---------------------------------------------------------------------------------------- scenario


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


def _quiet(_: str) -> None:
    return None


def account_state(deployment: Deployment, ref: AccountRef) -> AccountState:
    ma = deployment.margin_account
    equity, imr, mmr, health = ma.accountHealth(ref.owner, ref.sub_id)
    return AccountState(
        equity=int(equity),
        imr=int(imr),
        mmr=int(mmr),
        health=int(health),
        liquidatable=bool(ma.isLiquidatable(ref.owner, ref.sub_id)),
    )


def vault_state(asset: DeployedAsset, sender: Any) -> VaultState:
    """Accrue the vault's interest (anyone may), then read it in that block, so the stored state
    and the views agree and later events account for every change."""
    vault = asset.vault
    vault.accrueInterest(sender=sender)
    one_share = 10 ** int(vault.decimals())
    return VaultState(
        block=chain.blocks.height,
        insurance=int(vault.insuranceFund()),
        share_price=int(vault.convertToAssets(one_share)),
        total_assets=int(vault.totalAssets()),
        total_borrows=int(vault.totalBorrows()),
    )


def prices(deployment: Deployment) -> dict[str, int]:
    return {s: int(deployment.oracle.price(a.token)[0]) for s, a in deployment.assets.items()}


def vault_states(deployment: Deployment, sender: Any) -> dict[str, VaultState]:
    return {s: vault_state(a, sender) for s, a in deployment.assets.items()}


def _mint_approve(asset: DeployedAsset, who: Any, units: int, spender: Any) -> None:
    asset.token.mint(who, units, sender=who)
    if int(asset.token.allowance(who, spender)) < units:
        asset.token.approve(spender, MAX_UINT, sender=who)


def _preflight(deployment: Deployment, ref: AccountRef, symbol: str, units: int) -> tuple[int, int]:
    """Equity and IMR the risk mirror predicts after borrowing `units` of `symbol`; raises
    ScenarioError when the borrow would fail the chain's initial margin check."""
    positions = read_positions(deployment, ref)
    asset = deployment.asset(symbol)
    current = positions.get(symbol)
    if current is None:
        cfg = deployment.margin_account.assetConfig(asset.token)
        current = Position(
            raw=0,
            price=int(deployment.oracle.price(asset.token)[0]),
            scale=int(cfg.scale),
            imf=int(cfg.imf),
            mmf=int(cfg.mmf),
        )
    index = int(asset.vault.borrowIndex())
    positions[symbol] = Position(
        raw=-scaled_debt_after_borrow(max(-current.raw, 0), index, units),
        price=current.price,
        scale=current.scale,
        imf=current.imf,
        mmf=current.mmf,
        index=index,
    )
    health = account_health(positions.values())
    if not health.meets_initial:
        raise ScenarioError(
            f"{ref}: borrowing {units} {symbol} units leaves equity {health.equity} below "
            f"IMR {health.imr} (USD WAD); lower the borrow in the plan"
        )
    return health.equity, health.imr


def open_position(deployment: Deployment, plan: PositionPlan, trader: Any) -> AccountRef:
    ma = deployment.margin_account
    ref = AccountRef(trader.address, plan.sub_id)
    for symbol, whole in plan.collateral:
        asset = deployment.asset(symbol)
        units = to_units(whole, asset.decimals)
        _mint_approve(asset, trader, units, ma)
        ma.deposit(trader, plan.sub_id, asset.token, units, sender=trader)
    for symbol, whole in plan.debt:
        asset = deployment.asset(symbol)
        units = to_units(whole, asset.decimals)
        _preflight(deployment, ref, symbol, units)
        ma.borrow(trader, plan.sub_id, asset.token, units, trader, sender=trader)
    return ref


def crash(asset: DeployedAsset, crash_bps: int, sender: Any) -> None:
    """Push a mock feed answer `crash_bps` basis points below the current one."""
    _, answer, *_ = asset.feed.latestRoundData()
    asset.feed.setAnswer(int(answer) * (BPS - crash_bps) // BPS, sender=sender)


def run_scenario(
    deployment: Deployment,
    cast: Cast,
    *,
    crash_asset: str = CRASH_ASSET,
    crash_bps: int = CRASH_BPS,
    log: Log = _quiet,
) -> DemoResult:
    """Fund vaults, open POSITIONS, crash `crash_asset`, run one keeper pass; return the numbers."""
    if not deployment.config.mocks:
        raise ScenarioError("the demo mints mock tokens and moves mock feeds: use a mocks config")
    start_block = chain.blocks.height + 1

    log("lenders fund the vaults")
    for lender, symbol, whole in LENDING:
        asset = deployment.asset(symbol)
        units = to_units(whole, asset.decimals)
        _mint_approve(asset, cast.lenders[lender], units, asset.vault)
        asset.vault.deposit(units, cast.lenders[lender], sender=cast.lenders[lender])
    for symbol, whole in INSURANCE_SEED:
        asset = deployment.asset(symbol)
        units = to_units(whole, asset.decimals)
        _mint_approve(asset, cast.deployer, units, asset.vault)
        asset.vault.fundInsurance(units, sender=cast.deployer)

    log(f"{len(POSITIONS)} accounts open leveraged positions")
    refs = [open_position(deployment, plan, cast.traders[plan.trader]) for plan in POSITIONS]

    vaults_before = vault_states(deployment, cast.deployer)
    prices_before = prices(deployment)
    before = {ref: account_state(deployment, ref) for ref in refs}

    log(f"{crash_asset} falls {Decimal(crash_bps) / 100}% on its mock feed")
    crash(deployment.asset(crash_asset), crash_bps, cast.deployer)
    crash_block = chain.blocks.height
    at_crash = {ref: account_state(deployment, ref) for ref in refs}

    log("keeper pass")
    keeper = ape_keeper(
        deployment, cast.keeper, mint=True, log=lambda line: log(cast.relabel(line))
    )
    lens_at_crash = keeper.lens(refs)
    report = keeper.run_pass(start_block=start_block)

    vaults_after = vault_states(deployment, cast.deployer)
    prices_after = prices(deployment)
    accounts = []
    for plan, ref in zip(POSITIONS, refs, strict=True):
        bad_value = 0
        for bad in report.bad_debts_of(ref):
            asset = deployment.asset(bad.asset)
            bad_value += bad.amount * prices_after[bad.asset] // asset.scale
        accounts.append(
            AccountRow(
                label=plan.trader,
                description=plan.description,
                ref=ref,
                before=before[ref],
                crash=at_crash[ref],
                after=account_state(deployment, ref),
                liquidations=report.liquidations_of(ref),
                bad_debt_value=bad_value,
            )
        )
    vaults = []
    for symbol, asset in deployment.assets.items():
        bad = [b for b in report.bad_debts if b.asset == symbol]
        vaults.append(
            VaultRow(
                symbol=symbol,
                decimals=asset.decimals,
                before=vaults_before[symbol],
                after=vaults_after[symbol],
                bad_debt=sum(b.amount for b in bad),
                covered=sum(b.covered for b in bad),
                socialized=sum(b.socialized for b in bad),
            )
        )
    return DemoResult(
        chain_id=int(chain.chain_id),
        crash_asset=crash_asset,
        crash_bps=crash_bps,
        prices_before=prices_before,
        prices_after=prices_after,
        accounts=accounts,
        vaults=vaults,
        keeper=report,
        start_block=start_block,
        crash_block=crash_block,
        end_block=chain.blocks.height,
        engine=EngineParams.from_chain(deployment.liquidator),
        lens_at_crash=lens_at_crash,
    )


# ---------------------------------------------------------------------------------------- report

CENT = Decimal("0.01")


def usd(wad: int) -> str:
    """USD WAD -> "$1,234.56" / "-$12.00" (display only)."""
    value = from_wad(wad).quantize(CENT, rounding=ROUND_HALF_EVEN)
    return f"{'-' if value < 0 else ''}${abs(value):,.2f}"


def tokens(units: int, decimals: int, places: int = 4) -> str:
    """Token units -> whole tokens with `places` decimals (display only)."""
    value = from_units(units, decimals).quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN)
    return f"{value:,.{places}f}"


def health_text(health: int) -> str:
    return "∞" if health == MAX_UINT256 else f"{from_wad(health):.2f}"


def percent(wad: int, places: int = 2) -> str:
    """WAD fraction -> "2.56%" (display only)."""
    value = (from_wad(wad) * 100).quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN)
    return f"{value}%"


def _yes(flag: bool) -> str:
    return "[bold red]yes[/]" if flag else "no"


def _accounts_table(result: DemoResult) -> Table:
    pct = Decimal(result.crash_bps) / 100
    table = Table(
        title=f"Accounts before and after {result.crash_asset} falls {pct}% (chain views)"
    )
    table.add_column("Account")
    table.add_column("Position")
    table.add_column("Stage")
    for col in ("Equity", "IMR", "MMR", "Health", "Liquidatable"):
        table.add_column(col, justify="right")
    for row in result.accounts:
        stages = (("before", row.before), ("after crash", row.crash), ("after keeper", row.after))
        for i, (stage, state) in enumerate(stages):
            table.add_row(
                f"{row.label}#{row.ref.sub_id}" if i == 0 else "",
                row.description if i == 0 else "",
                stage,
                usd(state.equity),
                usd(state.imr),
                usd(state.mmr),
                health_text(state.health),
                _yes(state.liquidatable),
                end_section=i == len(stages) - 1,
            )
    return table


def _keeper_table(result: DemoResult) -> Table:
    table = Table(title="Keeper pass per account")
    table.add_column("Account")
    for col in ("Liquidations", "Repaid", "Seized", "Bad debt written off"):
        table.add_column(col, justify="right")
    for row in result.accounts:
        table.add_row(
            f"{row.label}#{row.ref.sub_id}",
            str(len(row.liquidations)),
            usd(row.repaid_value),
            usd(row.seized_value),
            usd(row.bad_debt_value),
        )
    return table


def _liquidations_table(result: DemoResult, labels: dict[str, str]) -> Table:
    table = Table(
        title="Liquidations (Liquidated events; health before, discount on the seized asset, "
        "insurance: +fee paid on top, -tip paid to the keeper)"
    )
    table.add_column("#", justify="right")
    table.add_column("Account")
    for col in ("Health", "Discount", "Repaid", "Seized", "Insurance", "Profit", "Bad debt", "Tx"):
        table.add_column(col, justify="right", no_wrap=True)
    decimals = {row.symbol: row.decimals for row in result.vaults}
    for i, liq in enumerate(result.keeper.liquidations, 1):
        debt_dec, coll_dec = decimals[liq.debt_asset], decimals[liq.collateral_asset]
        kind = f"batch/{liq.batch_size}" if liq.batch_size > 1 else "single"
        table.add_row(
            str(i),
            f"{labels.get(liq.account.owner, liq.account.owner)}#{liq.account.sub_id}",
            health_text(liq.health),
            percent(liq.discount),
            f"{tokens(liq.repaid, debt_dec, 2)} {liq.debt_asset}",
            f"{tokens(liq.seized, coll_dec)} {liq.collateral_asset}",
            f"+{tokens(liq.insurance_fee, debt_dec, 2)}"
            + (f" -{tokens(liq.insurance_tip, debt_dec, 2)}" if liq.insurance_tip else "")
            + f" {liq.debt_asset}",
            usd(liq.profit_value),
            f"{tokens(liq.bad_debt, debt_dec, 2)} {liq.debt_asset}" if liq.bad_debt else "-",
            kind,
        )
    return table


def _bad_debt_table(result: DemoResult) -> Table:
    table = Table(title="Bad debt per asset (BadDebtWrittenOff events)")
    table.add_column("Asset")
    for col in ("Written off", "Covered by insurance", "Socialized to lenders"):
        table.add_column(col, justify="right")
    for v in result.vaults:
        places = min(v.decimals, 6)
        table.add_row(
            v.symbol,
            tokens(v.bad_debt, v.decimals, places),
            tokens(v.covered, v.decimals, places),
            tokens(v.socialized, v.decimals, places),
        )
    return table


def _vaults_table(result: DemoResult) -> Table:
    table = Table(title="Vaults: insurance fund and value of one share (asset tokens)")
    table.add_column("Asset")
    for col in ("Insurance before", "Insurance after", "Share before", "Share after"):
        table.add_column(col, justify="right")
    for v in result.vaults:
        places = min(v.decimals, 6)
        table.add_row(
            v.symbol,
            tokens(v.before.insurance, v.decimals, places),
            tokens(v.after.insurance, v.decimals, places),
            tokens(v.before.share_price, v.decimals, places),
            tokens(v.after.share_price, v.decimals, places),
        )
    return table


def _prices_table(result: DemoResult) -> Table:
    table = Table(title="Oracle prices (USD)")
    table.add_column("Asset")
    table.add_column("Before", justify="right")
    table.add_column("After", justify="right")
    for symbol, before in result.prices_before.items():
        table.add_row(symbol, usd(before), usd(result.prices_after[symbol]))
    return table


def render_report(result: DemoResult, labels: dict[str, str] | None = None) -> Group:
    """The whole report as one rich renderable."""
    labels = labels or {row.ref.owner: row.label for row in result.accounts}
    report = result.keeper
    liquidated = sorted({(labels.get(a.owner, a.owner), a.sub_id) for a in report.liquidatable})
    liquidation_txs = [tx for tx in report.transactions if tx.kind != "approve"]
    batches = sum(1 for tx in report.transactions if tx.kind == "liquidateBatch")
    summary = "\n".join(
        (
            f"Accounts scanned (from events): {len(report.scanned)}",
            f"Liquidatable after the crash: {len(report.liquidatable)} "
            f"({', '.join(f'{n}#{s}' for n, s in liquidated) or 'none'})",
            f"Liquidations: {len(report.liquidations)} in {len(liquidation_txs)} transactions "
            f"({batches} liquidateBatch); still liquidatable: {len(report.remaining)}; "
            f"skipped: {len(report.skipped)}",
            f"Keeper profit: {usd(report.profit_value)} "
            "(seized value + insurance tip - repaid value - insurance cut, at oracle prices)",
            f"Gas: {report.gas_used:,} for the liquidations, {report.total_gas_used:,} with "
            "approvals (not in the profit)",
            "Engine: discount = min(min + (max - min) x (1 - health), the discount that keeps "
            "health unchanged) of the seized asset",
            f"Insurance cut {percent(result.engine.insurance_share, 0)} of the discount value; "
            "below the min discount, the insurance fund tips the keeper up to it",
            f"Partial liquidations stop at health {health_text(result.engine.target_health)}",
        )
    )
    notice = (
        f"Local Anvil chain (chain id {result.chain_id}), mock tokens and mock Chainlink-style "
        "feeds.\nEvery number below was read from this local mock chain; none is a market price "
        "or a live-network result."
    )
    return Group(
        Panel(notice, title="Solvent crash demo", expand=False),
        _prices_table(result),
        _accounts_table(result),
        _keeper_table(result),
        _liquidations_table(result, labels),
        _bad_debt_table(result),
        _vaults_table(result),
        Panel(summary, title="Keeper", expand=False),
    )


def report_text(result: DemoResult, width: int = 120) -> str:
    """The report as plain text (for tests and logs)."""
    console = Console(file=io.StringIO(), width=width, color_system=None, record=True)
    console.print(render_report(result))
    return console.export_text()
