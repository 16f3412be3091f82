"""Replay a real price window against the real contracts and the real keeper on a local Anvil.

One replay:
1. starts its own anvil (no step tracing) and deploys the protocol with `solvent deploy` from the
   base configuration plus the run's overrides (margin scale, discount caps, dynamic margin on or
   off, target health);
2. funds the vaults (lenders), opens constant-product pools of finite depth for every volatile
   asset against USDC (MockSwapRouter) and one FlashLiquidator per keeper;
3. opens the accounts of `solvent.sim.population` at the window's first prices;
4. for each oracle round of the window (`solvent.sim.prices.rounds`): moves the chain clock to the
   round's time (anvil's clock, never wall-clock sleeping; the chain keeps the data's intervals
   from its own start), publishes every feed's answer, pokes the VolatilityOracle, lets an
   arbitrageur bring every pool back to the oracle price, reads every account through the lens,
   then lets each keeper act `delay` seconds after the round, in order of delay, with the real
   keeper engine (`solvent.keeper.engine.Keeper`): without inventory each liquidation sells its
   collateral into the pool inside the liquidation (FlashLiquidator), so size meets depth;
5. with `impact` > 0, what the keepers sold moves the next prices: each volatile asset's price is
   multiplied by prod(1 - impact * sold_usd / pool_depth_usd) over the steps so far (a cascade
   model; 0 replays the data as it is).

Keepers judge profit at the configured gas price (`gas_gwei`, valued at the oracle's ETH price)
whatever anvil's base fee is; the report counts gas at that price too.
"""

from __future__ import annotations

import math
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml
from eth_account.signers.local import LocalAccount

from solvent.devnet import ROOT, AnvilNode, Fleet, new_keys
from solvent.keeper import AccountRef, FlashRoute, Keeper
from solvent.keeper.engine import mint_funder
from solvent.margin import MarginCurve
from solvent.risk import WAD, value_down
from solvent.sdk import Solvent, dev_account
from solvent.sdk.abi import load_abi
from solvent.sim.metrics import BadDebtRecord, LiquidationRecord, SimMetrics, StepRecord
from solvent.sim.population import AccountPlan, plan_accounts
from solvent.sim.prices import Round, Window, align, feed_answer, rounds

MAX_UINT = 2**256 - 1
GWEI = 10**9
POOL_FEE = 3_000  # pips: the 0.3% tier
BP = Decimal("0.0001")
LEAD_S = 60  # seconds between the last set-up block and the opening prices / the first round
OWNER_GAS_WEI = 100 * 10**18  # ETH each account owner gets for gas
KEEPER_GAS_WEI = 1_000 * 10**18  # ETH a keeper beyond anvil's funded keys gets for gas
CHAIN_START = 2_000_000_000  # chain time of the deployment (2033-05-18), whatever the wall clock
HEALTH_CAP = 10 * WAD  # healths above this are recorded as this (distribution plots)
STABLE = "USDC"
#: Lenders' deposits per vault, whole tokens.
LIQUIDITY = {"USDC": 200_000_000, "WETH": 60_000, "WBTC": 3_000}


class SimError(RuntimeError):
    """The replay cannot run (bad settings, a failed deployment); one line."""


@dataclass(frozen=True)
class KeeperSpec:
    """One keeper: reacts `delay_s` data seconds after each round."""

    delay_s: int = 12
    gas_gwei: Decimal = Decimal(20)
    inventory: str = "flash"  # flash: none (FlashLiquidator and the pool); mint: unlimited tokens
    #: USD a liquidation must earn after gas; None: a protocol-run backstop that takes every
    #: liquidation the chain allows, at a loss if need be, so insolvent accounts are written off.
    min_profit_usd: Decimal | None = Decimal(0)

    def __post_init__(self) -> None:
        if self.delay_s < 0:
            raise SimError(f"keeper delay {self.delay_s}s must be >= 0")
        if self.inventory not in ("flash", "mint"):
            raise SimError(f"keeper inventory {self.inventory!r}: use flash or mint")


@dataclass(frozen=True)
class Overrides:
    """Risk settings changed from the base configuration (the sweep's grid)."""

    margin_scale: Decimal = Decimal(1)  # imf and mmf of every asset times this
    discount_scale: Decimal = Decimal(1)  # max_discount of every asset times this
    dynamic: bool = True  # False: no dynamic_margin section (static margin)
    target_health: Decimal | None = None

    def label(self) -> str:
        parts = [f"margin x{self.margin_scale}", f"discount cap x{self.discount_scale}"]
        parts.append("vol floor on" if self.dynamic else "static margin")
        if self.target_health is not None:
            parts.append(f"target health {self.target_health}")
        return ", ".join(parts)


@dataclass(frozen=True)
class SimSettings:
    files: tuple[Path, ...]
    accounts: int = 300
    seed: int = 1
    start: str | None = None  # first candle to replay, YYYY-MM-DDTHH:MM:SSZ (default: the first)
    hours: float | None = None  # replay this many hours (default: to the end)
    intrabar: bool = False
    keepers: tuple[KeeperSpec, ...] = (
        KeeperSpec(12),
        KeeperSpec(120),
        KeeperSpec(600, inventory="mint", min_profit_usd=None),
    )
    insurance_bps: int = 10  # each vault's insurance fund at the start, bps of its deposits
    pool_depth_usd: int = 50_000_000  # each pool, both sides together
    impact: Decimal = Decimal(0)
    overrides: Overrides = field(default_factory=Overrides)
    config: Path = ROOT / "config" / "local.yaml"

    def describe(self) -> dict[str, Any]:
        out = asdict(self)
        out["files"] = [p.name for p in self.files]
        out["config"] = self.config.name
        return _plain(out)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


Progress = Callable[[int, int, str], None]


# ============================================================================= configuration
def write_config(
    base: Path, overrides: Overrides, out: Path, opening: dict[str, Decimal] | None = None
) -> Path:
    """The base YAML with the overrides applied (validated later by `solvent deploy`); each mock
    feed starts at the window's `opening` price, so the VolatilityOracle's first round is not a
    jump from the configuration's price."""
    data = yaml.safe_load(base.read_text())
    if not data.get("mocks"):
        raise SimError(f"{base}: a replay needs mocks: true (it mints tokens and moves feeds)")
    for a in data["assets"]:
        if opening and a["symbol"] in opening:
            a["price"] = str(opening[a["symbol"]])
        imf = _bps(Decimal(str(a["imf"])) * overrides.margin_scale)
        mmf = min(_bps(Decimal(str(a["mmf"])) * overrides.margin_scale), imf - BP)
        a["imf"], a["mmf"] = str(imf.normalize()), str(mmf.normalize())
        a["max_discount"] = str(
            _bps(Decimal(str(a["max_discount"])) * overrides.discount_scale).normalize()
        )
    _fit_discounts(data["assets"])
    if not overrides.dynamic:
        data.pop("dynamic_margin", None)
    if overrides.target_health is not None:
        data["liquidation"]["target_health"] = str(overrides.target_health)
    data.pop("governance", None)  # the replay changes nothing after deployment
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def _fit_discounts(assets: list[dict[str, Any]]) -> None:
    """Lower margins also lower the contracts' cap on each asset's discount: max_discount <
    (mmf + lowest mmf) / (1 + lowest mmf) (MarginAdmin._checkDiscountBounds). A discount cap the
    scaled margins no longer allow is lowered to the largest whole basis point below that bound
    (and min_discount with it), so every grid point deploys; the config written says what ran."""
    bp = BP
    lowest = min(Decimal(str(a["mmf"])) for a in assets)
    for a in assets:
        bound = (Decimal(str(a["mmf"])) + lowest) / (1 + lowest)
        cap = Decimal(str(a["max_discount"]))
        if cap >= bound:
            cap = ((bound - Decimal("1e-9")) / bp).to_integral_value(rounding="ROUND_FLOOR") * bp
            a["max_discount"] = str(cap.normalize())
        if Decimal(str(a["min_discount"])) > cap:
            a["min_discount"] = str(cap.normalize())


def _bps(value: Decimal) -> Decimal:
    """Whole basis points, as the contracts require of every factor (at least 1 bp)."""
    return max(BP, (value / BP).to_integral_value(rounding=ROUND_HALF_EVEN) * BP)


def deploy(rpc: str, config: Path, out: Path) -> Solvent:
    run = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "solvent"), "deploy", "--rpc", rpc, "--config", str(config),
         "--out", str(out)],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False, timeout=900,
        env=dict(os.environ),
    )  # fmt: skip
    if run.returncode != 0:
        lines = (run.stderr.strip() or run.stdout.strip() or "no output").splitlines()
        raise SimError(f"deployment failed: {lines[-1]}")
    return Solvent.from_deployment(out, rpc)


# ============================================================================= the replay
@dataclass
class _Account:
    ref: AccountRef
    plan: AccountPlan
    since: tuple[int, int] | None = None  # (data time, block) it became liquidatable


class Replay:
    """One replay (module docstring). `run()` returns the metrics; the chain is stopped after."""

    def __init__(
        self,
        settings: SimSettings,
        workdir: Path,
        progress: Progress | None = None,
        before_stop: Callable[[Replay], None] | None = None,
    ) -> None:
        self.s = settings
        self.before_stop = before_stop  # called with the chain still up (tests read it)
        self.workdir = workdir
        self.progress = progress or (lambda done, total, what: None)
        self.window: Window = align(settings.files, hours=settings.hours, start=settings.start)
        self.rounds: list[Round] = rounds(self.window, settings.intrabar)
        self.volatile = [s for s in ("WETH", "WBTC") if s in self.window.candles]
        if not self.volatile:
            raise SimError("the window prices no volatile asset (give an ETH or BTC file)")
        if len(settings.keepers) < 1:
            raise SimError("a replay needs at least one keeper")
        self.impact_factor = {s: Decimal(1) for s in self.volatile}
        spacing = min(
            (b.offset - a.offset for a, b in pairwise(self.rounds)),
            default=self.window.interval,
        )
        slowest = max(k.delay_s for k in settings.keepers)
        if slowest >= spacing:
            raise SimError(
                f"keeper delay {slowest}s is not below the {spacing}s between rounds; give "
                "shorter delays (--keepers, --backstop)"
            )

    # ------------------------------------------------------------------ set-up
    def run(self) -> SimMetrics:
        self.workdir.mkdir(parents=True, exist_ok=True)
        timings: dict[str, float] = {}
        started = time.perf_counter()
        node = AnvilNode(log=self.workdir / "anvil.log")
        try:
            self.node = node
            opening = {s: c.open[0] for s, c in self.window.candles.items()}
            cfg = write_config(
                self.s.config, self.s.overrides, self.workdir / "config.yaml", opening
            )
            self.progress(0, len(self.rounds), "deploying")
            # A fixed clock: every block one second after the previous one, from a fixed start,
            # so the same inputs give the same blocks, interest and metrics on every run.
            node.web3.provider.make_request("anvil_setBlockTimestampInterval", [1])
            node.set_time(CHAIN_START)
            self.client = deploy(node.url, cfg, self.workdir / "deployment.json")
            timings["deploy_s"] = time.perf_counter() - started
            mark = time.perf_counter()
            self.fleet = Fleet(node.web3, sequential=True)  # one transaction per block
            self.metrics = SimMetrics(
                window=self.window.name,
                settings=self.s.describe(),
                sources=self.window.sources,
                accounts=self.s.accounts,
            )
            self._setup()
            # The rounds start once everything is open, however many blocks that took.
            self.rounds_base = int(self.client.web3.eth.get_block("latest")["timestamp"]) + LEAD_S
            timings["setup_s"] = time.perf_counter() - mark
            mark = time.perf_counter()
            for i, rnd in enumerate(self.rounds):
                self.progress(i, len(self.rounds), f"round {i + 1}/{len(self.rounds)}")
                self._step(i, rnd)
            self.progress(len(self.rounds), len(self.rounds), "done")
            timings["replay_s"] = time.perf_counter() - mark
            timings["chain_wait_s"] = self._chain_s
            timings["keeper_s"] = self._keeper_s
            self.metrics.timings = {k: round(v, 2) for k, v in timings.items()}
            self._final_check()
            if self.before_stop is not None:
                self.before_stop(self)
            return self.metrics
        finally:
            node.stop()

    def _setup(self) -> None:
        c, fleet = self.client, self.fleet
        self._chain_s = 0.0
        self._keeper_s = 0.0
        self.deployer = dev_account(0)
        self.base = int(c.web3.eth.get_block("latest")["timestamp"]) + LEAD_S
        self.t0 = self.window.times[0]
        self.symbols = list(c.info.assets)
        self.feed_decimals = {s: int(c.feed(s).functions.decimals().call()) for s in self.symbols}
        opening = {s: self.window.candles[s].open[0] for s in self.window.candles}
        self._set_time(self.base)
        self._publish(opening)
        prices = self._prices()
        # Lenders.
        lender = dev_account(1)
        deposits = 0
        for s in self.symbols:
            units = LIQUIDITY.get(s, 1_000_000) * c.asset(s).scale
            fleet.send(self.deployer, c.token(s).functions.mint(lender.address, units))
            fleet.send(lender, c.token(s).functions.approve(c.vault(s).address, MAX_UINT))
            fleet.send(lender, c.vault(s).functions.deposit(units, lender.address))
            deposits += value_down(units, prices[s], c.asset(s).scale)
            insurance = units * self.s.insurance_bps // 10_000
            if insurance:
                vault = c.vault(s).functions
                fleet.send(
                    self.deployer, c.token(s).functions.mint(self.deployer.address, insurance)
                )
                fleet.send(
                    self.deployer, c.token(s).functions.approve(c.vault(s).address, insurance)
                )
                fleet.send(self.deployer, vault.fundInsurance(insurance))
        self.metrics.deposits_usd = deposits
        self.metrics.decimals = {s: c.asset(s).decimals for s in self.symbols}
        # Pools and keepers.
        self.router = fleet.deploy(self.deployer, "MockSwapRouter", POOL_FEE)
        self.router_c = c.web3.eth.contract(address=self.router, abi=load_abi("MockSwapRouter"))
        for s in self.volatile:
            half = self.s.pool_depth_usd * WAD // 2
            a_units = half * c.asset(s).scale // prices[s]
            u_units = half * c.asset(STABLE).scale // prices[STABLE]
            for sym, units in ((s, a_units), (STABLE, u_units)):
                fleet.send(self.deployer, c.token(sym).functions.mint(self.deployer.address, units))
                fleet.send(self.deployer, c.token(sym).functions.approve(self.router, MAX_UINT))
            fleet.send(
                self.deployer,
                self.router_c.functions.addLiquidity(
                    c.asset(s).token, c.asset(STABLE).token, a_units, u_units
                ),
            )
        self.arb = dev_account(6)
        for s in [*self.volatile, STABLE]:
            fleet.send(self.arb, c.token(s).functions.approve(self.router, MAX_UINT))
        fleet.wait()
        self.keepers = [self._keeper(k, spec) for k, spec in enumerate(self.s.keepers)]
        self.observer = Keeper(c, dev_account(5))
        self._open_accounts(prices)

    def _keeper(self, index: int, spec: KeeperSpec) -> Keeper:
        signer = dev_account(9 - index) if index < 3 else new_keys(1, 7_000 + index)[0]
        if index >= 3:
            self.fleet.pay(self.deployer, signer.address, KEEPER_GAS_WEI)
            self.fleet.wait()
        flash = None
        if spec.inventory == "flash":
            address = self.fleet.deploy(
                self.deployer, "FlashLiquidator", self.client.liquidator.address, self.router,
                signer.address,
            )  # fmt: skip
            flash = FlashRoute(address, POOL_FEE)
        keeper = Keeper(
            self.client,
            signer,
            fund=mint_funder(self.client, signer) if spec.inventory == "mint" else None,
            min_profit=None if spec.min_profit_usd is None else int(spec.min_profit_usd * WAD),
            flash=flash,
        )
        gas_price = int(spec.gas_gwei * GWEI)
        keeper.sender.gas_price = lambda: gas_price  # type: ignore[method-assign]  # see docstring
        return keeper

    def _open_accounts(self, prices: dict[str, int]) -> None:
        c, fleet = self.client, self.fleet
        plans = plan_accounts(self.s.accounts, self.s.seed, self.volatile, STABLE)
        owners = new_keys(-(-len(plans) // 5) if plans else 0, self.s.seed)
        for o in owners:
            fleet.pay(self.deployer, o.address, OWNER_GAS_WEI)
        fleet.wait()
        ma = c.margin_account
        self.accounts: list[_Account] = []
        by_owner: dict[int, dict[str, int]] = {}
        for plan in plans:
            need = by_owner.setdefault(plan.owner, {})
            for s, usd in plan.collateral.items():
                need[s] = need.get(s, 0) + _units(usd, prices[s], c.asset(s).scale)
        for o, need in by_owner.items():
            key = owners[o]
            for s, units in need.items():
                fleet.send(self.deployer, c.token(s).functions.mint(key.address, units))
                fleet.send(key, c.token(s).functions.approve(ma.address, MAX_UINT))
        for plan in plans:
            key = owners[plan.owner]
            for s, usd in plan.collateral.items():
                units = _units(usd, prices[s], c.asset(s).scale)
                fleet.send(
                    key, ma.functions.deposit(key.address, plan.sub_id, c.asset(s).token, units)
                )
        fleet.wait(timeout=600)
        for plan in plans:
            key = owners[plan.owner]
            units = self._borrow_size(key, plan, prices)
            if units > 0:
                fleet.send(
                    key,
                    ma.functions.borrow(
                        key.address, plan.sub_id, c.asset(plan.debt).token, units, key.address
                    ),
                )
            self.accounts.append(_Account(AccountRef(key.address, plan.sub_id), plan))
        fleet.wait(timeout=600)
        lenses = self.observer.lens([a.ref for a in self.accounts])
        margins = [
            lenses[a.ref].equity * WAD // int(a.plan.size_usd * WAD)
            for a in self.accounts
            if a.ref in lenses and a.plan.size_usd > 0
        ]
        self.metrics.opening_margin = sum(margins) // len(margins) if margins else 0

    def _borrow_size(self, key: LocalAccount, plan: AccountPlan, prices: dict[str, int]) -> int:
        """`plan.use` of the largest borrow initial margin allows, checked with eth_call."""
        c = self.client
        ma = c.margin_account.functions
        equity, imr, _, _ = ma.accountHealth(key.address, plan.sub_id).call()
        imf = self._imf(plan.debt, max(0, int(equity)))
        room = (int(equity) - int(imr)) * WAD // (WAD + imf)
        value = room * int(plan.use * 10_000) // 10_000
        asset = c.asset(plan.debt)
        units = value * asset.scale // prices[plan.debt]
        for _ in range(8):
            if units <= 0:
                return 0
            try:
                ma.borrow(key.address, plan.sub_id, asset.token, units, key.address).call(
                    {"from": key.address}
                )
                return units
            except Exception:  # InsufficientMargin (a size term), a cap: borrow less
                units = units * 9 // 10
        return 0

    def _imf(self, symbol: str, value: int) -> int:
        curve = MarginCurve.from_chain(
            self.client.margin_account.functions.marginCurve(self.client.asset(symbol).token).call()
        )
        curves = curve.curves()
        return curve.imf_base if curves is None else curves.factors(value)[0]

    # ------------------------------------------------------------------ one round
    def _step(self, i: int, rnd: Round) -> None:
        c = self.client
        at = self.rounds_base + rnd.offset
        self._set_time(at)
        published = {s: p * self.impact_factor.get(s, Decimal(1)) for s, p in rnd.prices.items()}
        self._publish(published)
        prices = self._prices()
        self._rebalance(prices)
        refs = [a.ref for a in self.accounts]
        lenses = self.observer.lens(refs)
        block = int(c.web3.eth.block_number)
        late = self._data_time(int(c.web3.eth.get_block(block)["timestamp"])) - rnd.time
        self._round = (rnd.time, block)
        liquidatable = 0
        healths = []
        for a in self.accounts:
            lens = lenses.get(a.ref)
            if lens is None:
                continue
            if lens.mmr > 0:
                healths.append(min(lens.health, HEALTH_CAP))
            if lens.liquidatable:
                liquidatable += 1
                if a.since is None:
                    a.since = (rnd.time, block)
            else:
                a.since = None
        gas = 0
        settled = 0
        blocks_before = int(c.web3.eth.block_number)
        sold: dict[str, int] = {}
        order = sorted(range(len(self.keepers)), key=lambda k: self.s.keepers[k].delay_s)
        sent = 0
        for k in order:  # every round: a ramp or interest can cross maintenance between reads
            self._set_time(at + self.s.keepers[k].delay_s)
            mark = time.perf_counter()
            report = self.keepers[k].run_pass(refs)
            self._keeper_s += time.perf_counter() - mark
            gas += sum(tx.gas_used for tx in report.transactions)
            sent += len(report.transactions)
            settled += len(report.liquidations)
            self._record(i, k, report, prices, sold)
        after = self.observer.lens(refs) if sent else lenses
        remaining = sum(1 for lens in after.values() if lens.liquidatable)
        for a in self.accounts:
            lens = after.get(a.ref)
            if lens is not None and not lens.liquidatable:
                a.since = None
        self._impact(sold, prices)
        self.metrics.steps.append(
            StepRecord(
                step=i,
                time=rnd.time,
                prices=prices,
                liquidatable=liquidatable,
                liquidated=settled,
                remaining=remaining,
                gas_used=gas,
                blocks=int(c.web3.eth.block_number) - blocks_before,
                bad_debt_usd=sum(b.usd for b in self.metrics.bad_debts),
                insurance={
                    s: int(c.vault(s).functions.insuranceFund().call()) for s in self.symbols
                },
                share_price={
                    s: int(c.vault(s).functions.convertToAssets(c.asset(s).scale).call())
                    * WAD
                    // c.asset(s).scale
                    for s in self.symbols
                },
                **self._factors(),
                health=sorted(healths),
                late_s=max(0, late),
            )
        )

    def _record(
        self, step: int, k: int, report: Any, prices: dict[str, int], sold: dict[str, int]
    ) -> None:
        c = self.client
        spec = self.s.keepers[k]
        eth = prices.get("WETH", 0)
        times: dict[str, tuple[int, int]] = {}
        per_tx: dict[str, int] = {}
        for liq in report.liquidations:
            per_tx[liq.tx_hash] = per_tx.get(liq.tx_hash, 0) + 1
        for liq in report.liquidations:
            if liq.tx_hash not in times:
                receipt = c.web3.eth.get_transaction_receipt(liq.tx_hash)
                bn = int(receipt["blockNumber"])
                ts = int(c.web3.eth.get_block(bn)["timestamp"])
                times[liq.tx_hash] = (bn, self._data_time(ts))
            bn, t = times[liq.tx_hash]
            account = next(a for a in self.accounts if a.ref == liq.account)
            # Not seen below maintenance by the round's read (a ramp or interest crossed it
            # since): counted from the round.
            since_t, since_b = account.since or self._round
            share = liq.gas_used // per_tx[liq.tx_hash]  # the liquidations it really settled
            coll = c.asset(liq.collateral_asset)
            if spec.inventory == "flash":  # sold into the pool (the backstop keeps it)
                sold[liq.collateral_asset] = sold.get(liq.collateral_asset, 0) + value_down(
                    liq.seized, prices[liq.collateral_asset], coll.scale
                )
            self.metrics.liquidations.append(
                LiquidationRecord(
                    step=step,
                    keeper=k,
                    owner=liq.account.owner,
                    sub_id=liq.account.sub_id,
                    debt_asset=liq.debt_asset,
                    collateral_asset=liq.collateral_asset,
                    repaid=liq.repaid,
                    seized=liq.seized,
                    discount=liq.discount,
                    health=liq.health,
                    bad_debt=liq.bad_debt,
                    block=bn,
                    time=t,
                    tx_hash=liq.tx_hash,
                    gas_used=liq.gas_used,
                    profit_usd=liq.profit_value,
                    gas_usd=share * int(spec.gas_gwei * GWEI) * eth // WAD,
                    latency_s=t - since_t,
                    latency_blocks=bn - since_b,
                )
            )
        for bad in report.bad_debts:
            asset = c.asset(bad.asset)
            self.metrics.bad_debts.append(
                BadDebtRecord(
                    step=step,
                    owner=bad.account.owner,
                    sub_id=bad.account.sub_id,
                    asset=bad.asset,
                    amount=bad.amount,
                    covered=bad.covered,
                    socialized=bad.socialized,
                    usd=value_down(bad.amount, prices[bad.asset], asset.scale),
                    tx_hash=bad.tx_hash,
                )
            )

    def _factors(self) -> dict[str, dict[str, int]]:
        c = self.client
        mmf, imf, sigma = {}, {}, {}
        vol = c.volatility_oracle
        for s in self.symbols:
            token = c.asset(s).token
            curve = MarginCurve.from_chain(c.margin_account.functions.marginCurve(token).call())
            curves = curve.curves()
            if curves is None:
                imf[s], mmf[s] = curve.imf_base, curve.mmf_base
            else:
                imf[s], mmf[s] = curves.factors(0)
            if s in self._tracked():
                sigma[s] = int(vol.functions.volatility(token).call()[0])
        return {"mmf": mmf, "imf": imf, "sigma": sigma}

    # ------------------------------------------------------------------ chain helpers
    def _data_time(self, chain_ts: int) -> int:
        return self.t0 + (chain_ts - self.rounds_base)

    def _set_time(self, at: int) -> None:
        latest = int(self.client.web3.eth.get_block("latest")["timestamp"])
        self.node.set_time(max(at, latest + 1))

    def _publish(self, usd: dict[str, Decimal]) -> None:
        """One round on every feed the window prices (a feed it does not price keeps its
        answer, refreshed so it never goes stale), then a poke of the VolatilityOracle."""
        c, fleet = self.client, self.fleet
        mark = time.perf_counter()
        for s in self.symbols:
            feed = c.feed(s).functions
            if s in usd:
                answer = feed_answer(usd[s], self.feed_decimals[s])
            else:
                answer = int(feed.latestRoundData().call()[1])
            fleet.send(self.deployer, feed.setAnswer(answer))
        fleet.wait()
        vol = c.volatility_oracle
        if vol is not None:
            for s in self._tracked():
                fleet.send(self.deployer, vol.functions.poke(c.asset(s).token))
            fleet.wait()
        self._chain_s += time.perf_counter() - mark

    def _tracked(self) -> list[str]:
        """Assets the VolatilityOracle tracks (a stable asset may have none)."""
        if not hasattr(self, "_tracked_cache"):
            vol = self.client.volatility_oracle
            found = []
            for s in self.symbols if vol is not None else []:
                try:
                    vol.functions.volatility(self.client.asset(s).token).call()
                    found.append(s)
                except Exception:  # NotTracked
                    continue
            self._tracked_cache = found
        return self._tracked_cache

    def _prices(self) -> dict[str, int]:
        oracle = self.client.oracle.functions
        return {s: int(oracle.price(self.client.asset(s).token).call()[0]) for s in self.symbols}

    def _rebalance(self, prices: dict[str, int]) -> None:
        """The arbitrageur trades every pool back to the oracle price (fee ignored: it sells a
        little more to cover it), keeping the pool's depth."""
        c, fleet = self.client, self.fleet
        stable = c.asset(STABLE)
        sent = False
        for s in self.volatile:
            a = c.asset(s)
            x, y = (int(v) for v in self.router_c.functions.reserves(a.token, stable.token).call())
            # target y/x in units: price_a / price_stable * stable.scale / a.scale
            k = x * y
            num = prices[s] * stable.scale
            den = prices[STABLE] * a.scale
            x_target = math.isqrt(k * den // num)
            if x_target > x * 1_0005 // 1_0000:  # pool short of the asset: sell it in
                sell, token_in, token_out = x_target - x, a, stable
            elif x_target < x * 9_995 // 10_000:  # too much of it: buy it with USDC
                y_target = k // max(x_target, 1)
                sell, token_in, token_out = y_target - y, stable, a
            else:
                continue
            sell = sell * 1_000_000 // (1_000_000 - POOL_FEE)
            fleet.send(
                self.deployer, c.token(token_in.symbol).functions.mint(self.arb.address, sell)
            )
            fleet.send(
                self.arb,
                self.router_c.functions.exactInputSingle(
                    (
                        token_in.token,
                        token_out.token,
                        POOL_FEE,
                        self.arb.address,
                        MAX_UINT,
                        sell,
                        0,
                        0,
                    )
                ),
            )
            sent = True
        if sent:
            fleet.wait()

    def _impact(self, sold: dict[str, int], prices: dict[str, int]) -> None:
        if self.s.impact <= 0:
            return
        depth = Decimal(self.s.pool_depth_usd)
        for s, usd in sold.items():
            if s in self.impact_factor:
                moved = self.s.impact * Decimal(usd) / Decimal(WAD) / depth
                self.impact_factor[s] *= max(Decimal(0), Decimal(1) - moved)

    def _final_check(self) -> None:
        """Every Liquidated and BadDebtWrittenOff event of the replay is in the metrics."""
        events = self.client.margin_account.events
        head = int(self.client.web3.eth.block_number)
        start = self.client.info.deploy_block
        liq = events.Liquidated().get_logs(from_block=start, to_block=head)
        bad = events.BadDebtWrittenOff().get_logs(from_block=start, to_block=head)
        if len(liq) != len(self.metrics.liquidations) or len(bad) != len(self.metrics.bad_debts):
            raise SimError(
                f"metrics out of step with the chain: {len(liq)} Liquidated events vs "
                f"{len(self.metrics.liquidations)} recorded, {len(bad)} write-offs vs "
                f"{len(self.metrics.bad_debts)}"
            )


def _units(usd: Decimal, price: int, scale: int) -> int:
    return int(usd * WAD) * scale // price
