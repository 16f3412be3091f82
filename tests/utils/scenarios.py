"""Helpers for the scenario, parity and invariant tests (tests/scenarios).

`Market` reads the per-asset inputs of the risk mirror (prices, borrow indices, margin factors) and
builds an account's positions keyed by asset, so a test can price hypothetical states (a borrow or a
withdrawal before it happens) with `solvent.risk`. `Keeper` liquidates through the Liquidator and
checks every liquidation against the mirror: the on-chain quote, the Liquidated event, the account's
balances afterwards and the bad-debt write-off when the account is left without collateral.

Exactness: anvil's views run at the latest block's timestamp, and `pin_next_block` stamps the next
transaction with that same timestamp, so no interest accrues between what a test reads and what the
transaction sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ape import chain, project
from eth_abi import decode
from eth_utils import keccak, to_checksum_address
from web3.exceptions import ContractCustomError

from solvent.deploy import DeployedAsset, Deployment
from solvent.rates import to_assets
from solvent.risk import (
    WAD,
    Health,
    LiquidationQuote,
    Position,
    account_health,
    debt_tokens,
    mul_div_down,
    quote_liquidation,
    scaled_debt_for_borrow,
)


def pin_next_block() -> None:
    """Stamp the next block with the latest block's timestamp (no interest accrues in between)."""
    chain.pending_timestamp = chain.blocks.head.timestamp


_ERRORS: dict[bytes, Any] = {}


def _error_abi(selector: bytes, contract: Any) -> Any:
    """Custom error ABI by selector, over the protocol's contracts and `contract`."""
    if not _ERRORS:
        for name in ("MarginAccount", "Liquidator", "Vault", "ChainlinkOracle"):
            for abi in getattr(project, name).contract_type.errors:
                _ERRORS[keccak(text=abi.selector)[:4]] = abi
    if selector not in _ERRORS:
        for abi in contract.contract_type.errors:
            _ERRORS[keccak(text=abi.selector)[:4]] = abi
    return _ERRORS.get(selector)


def revert_of(method: Any, *args: Any, sender: Any = None) -> tuple[str, dict[str, Any]] | None:
    """eth_call `method(*args)` from `sender` at the latest block, as the transaction would run.

    Returns None when it succeeds, else the custom error's name and inputs (decoded with the ABIs
    of the MarginAccount, Liquidator and Vault, so errors bubbling up from an inner call decode
    too). It bypasses ape's revert handling, which renders a full call-tree trace per revert
    (about half a second each); use it where a test checks many expected reverts.
    """
    contract = method.contract
    tx = {"to": contract.address, "data": method.encode_input(*args)}
    if sender is not None:
        tx["from"] = sender.address
    try:
        chain.provider.web3.eth.call(tx)
    except ContractCustomError as err:
        raw = bytes.fromhex(str(err.data).removeprefix("0x"))
        abi = _error_abi(raw[:4], contract)
        assert abi is not None, f"unknown custom error {raw[:4].hex()}"
        values = decode([i.canonical_type for i in abi.inputs], raw[4:])
        return abi.name, {
            i.name: to_checksum_address(v) if i.canonical_type == "address" else v
            for i, v in zip(abi.inputs, values, strict=True)
        }
    return None


def batch_read(*calls: tuple[Any, ...]) -> list[Any]:
    """Run view calls `(method, *args)` in one JSON-RPC batch at the latest block.

    Same results as calling each ape method handler, without ape's per-call overhead; single
    outputs are unwrapped, several come back as a tuple.
    """
    requests, abis = [], []
    for method, *args in calls:
        data = "0x" + bytes(method.encode_input(*args)).hex()
        requests.append(("eth_call", [{"to": method.contract.address, "data": data}, "latest"]))
        abis.append(method.abis[0])
    responses = chain.provider.web3.provider.make_batch_request(requests)
    out = []
    for abi, response in zip(abis, responses, strict=True):
        assert "error" not in response, (abi.name, response["error"])
        types = [o.canonical_type for o in abi.outputs]
        values = decode(types, bytes.fromhex(response["result"].removeprefix("0x")))
        out.append(values[0] if len(values) == 1 else values)
    return out


def usd(units: int, price: int, scale: int) -> int:
    """USD WAD value of `units` token units at `price` (USD WAD per whole token), rounded down."""
    return mul_div_down(units, price, scale)


def share_price(vault: Any) -> int:
    """Assets one whole vault share (10**vault.decimals() shares) is worth now."""
    return int(vault.convertToAssets(10 ** int(vault.decimals())))


def expected_convert_to_assets(shares: int, total_assets: int, total_supply: int) -> int:
    """OpenZeppelin ERC4626 `_convertToAssets` (floor) with the vault's 6 virtual-share decimals."""
    return to_assets(shares, total_supply, total_assets)


class Market:
    """Mirror inputs per asset. Margin factors are read once; prices and indices on `refresh()`."""

    def __init__(self, system: Deployment) -> None:
        self.system = system
        self.ma = system.margin_account
        self.assets: dict[str, DeployedAsset] = dict(system.assets)
        self.factors: dict[str, tuple[int, int, int]] = {}
        for sym, a in self.assets.items():
            cfg = self.ma.assetConfig(a.token)
            self.factors[sym] = (int(cfg.scale), int(cfg.imf), int(cfg.mmf))
        self.prices: dict[str, int] = {}
        self.indices: dict[str, int] = {}
        self.refresh()

    def refresh(self) -> Market:
        """Re-read prices and borrow indices at the latest block."""
        oracle = self.system.oracle
        calls = []
        for a in self.assets.values():
            calls += [(oracle.price, a.token), (a.vault.borrowIndex,)]
        values = batch_read(*calls)
        for i, sym in enumerate(self.assets):
            self.prices[sym] = values[2 * i][0]
            self.indices[sym] = values[2 * i + 1]
        return self

    def position(self, symbol: str, raw: int) -> Position:
        scale, imf, mmf = self.factors[symbol]
        return Position(
            raw=raw,
            price=self.prices[symbol],
            scale=scale,
            imf=imf,
            mmf=mmf,
            index=self.indices[symbol] if raw < 0 else WAD,
        )

    def raw_balances(self, owner: Any, sub: int) -> dict[str, int]:
        """Stored balances of an account (MarginAccount.rawBalance) for every listed asset."""
        calls = [(self.ma.rawBalance, owner, sub, a.token) for a in self.assets.values()]
        return dict(zip(self.assets, batch_read(*calls), strict=True))

    def positions(
        self, owner: Any, sub: int, raws: dict[str, int] | None = None
    ) -> dict[str, Position]:
        """Non-zero positions of an account keyed by symbol (from `raws` if given)."""
        raws = self.raw_balances(owner, sub) if raws is None else raws
        return {sym: self.position(sym, raw) for sym, raw in raws.items() if raw != 0}

    def health(self, positions: dict[str, Position]) -> Health:
        return account_health(positions.values())

    def scaled_borrow(self, symbol: str, units: int) -> int:
        """Scaled debt a borrow of `units` adds (MarginAccount.borrow rounds it up)."""
        return scaled_debt_for_borrow(units, self.indices[symbol])

    def units_for_usd(self, symbol: str, value: int) -> int:
        """Token units worth `value` USD WAD, rounded down."""
        return mul_div_down(value, self.factors[symbol][0], self.prices[symbol])


def chain_health(ma: Any, owner: Any, sub: int) -> tuple[int, int, int, int]:
    """accountHealth as a plain tuple (equity, imr, mmr, health)."""
    equity, imr, mmr, health = ma.accountHealth(owner, sub)
    return int(equity), int(imr), int(mmr), int(health)


def as_tuple(h: Health) -> tuple[int, int, int, int]:
    return h.equity, h.imr, h.mmr, h.health


@dataclass
class Liquidation:
    """One executed liquidation: the mirror's quote (equal to the chain's) and its receipt."""

    quote: LiquidationQuote
    receipt: Any
    bad_debt: dict[str, tuple[int, int, int]]  # symbol -> (amount, covered, socialized)


class Keeper:
    """Liquidates through the Liquidator, checking each step against solvent.risk exactly."""

    def __init__(self, system: Deployment, account: Any, market: Market | None = None) -> None:
        self.system = system
        self.account = account
        self.market = market or Market(system)
        self.ma = system.margin_account
        self.liquidator = system.liquidator
        self.penalty = int(self.liquidator.penalty())
        self.insurance_share = int(self.liquidator.insuranceShare())

    def mirror_quote(
        self,
        positions: dict[str, Position],
        debt: DeployedAsset,
        collateral: DeployedAsset,
        max_repay: int,
    ) -> LiquidationQuote:
        return quote_liquidation(
            health=account_health(positions.values()),
            debt=positions[debt.symbol],
            collateral=positions[collateral.symbol],
            max_repay=max_repay,
            penalty=self.penalty,
            insurance_share=self.insurance_share,
        )

    def liquidate(
        self, owner: Any, sub: int, debt: DeployedAsset, collateral: DeployedAsset, max_repay: int
    ) -> Liquidation | None:
        """Liquidate (owner, sub) once. Returns None (after checking the revert) when the mirror
        says the liquidation would increase the shortfall."""
        market = self.market.refresh()
        before = market.positions(owner, sub)
        q = self.mirror_quote(before, debt, collateral, max_repay)
        on_chain = self.liquidator.quote(owner, sub, debt.token, collateral.token, max_repay)
        assert tuple(int(x) for x in on_chain) == (q.repay, q.seize, q.insurance_fee)

        if q.shortfall_after > q.shortfall_before:
            assert revert_of(
                self.liquidator.liquidate,
                *(owner, sub, debt.token, collateral.token, max_repay, 0),
                sender=self.account,
            ) == (
                "LiquidationIncreasesRisk",
                {"shortfallBefore": q.shortfall_before, "shortfallAfter": q.shortfall_after},
            )
            return None
        vaults = batch_read(
            *(
                call
                for a in market.assets.values()
                for call in ((a.vault.insuranceFund,), (a.vault.totalBorrows,))
            )
        )
        pin_next_block()
        tx = self.liquidator.liquidate(
            owner, sub, debt.token, collateral.token, max_repay, q.seize, sender=self.account
        )
        [ev] = tx.events.filter(self.ma.Liquidated)
        assert (int(ev.repaid), int(ev.seized), int(ev.insuranceFee)) == (
            q.repay,
            q.seize,
            q.insurance_fee,
        )
        assert ev.liquidator == self.account.address

        # Expected balances: the repayment burns scaled debt rounded down (all of it when it
        # covers the debt); the seized collateral leaves the account.
        d, c = before[debt.symbol], before[collateral.symbol]
        raws = {sym: p.raw for sym, p in before.items()}
        raws[debt.symbol] = 0 if q.repay >= d.tokens else d.raw + q.repay * WAD // d.index
        raws[collateral.symbol] = c.raw - q.seize
        expected_bad: dict[str, int] = {}
        if not any(r > 0 for r in raws.values()) and any(r < 0 for r in raws.values()):
            expected_bad = {
                sym: debt_tokens(-r, market.indices[sym]) for sym, r in raws.items() if r < 0
            }
            raws = dict.fromkeys(raws, 0)
        bad_debt = {}
        for e in tx.events.filter(self.ma.BadDebtWrittenOff):
            sym = next(s for s, a in market.assets.items() if a.token.address == e.asset)
            bad_debt[sym] = (int(e.amount), int(e.covered), int(e.socialized))
        assert {s: v[0] for s, v in bad_debt.items()} == expected_bad
        # Each vault writes off at most its total borrows, insurance fund first (which already
        # holds this liquidation's fee), the rest from the lenders.
        for i, sym in enumerate(market.assets):
            if sym not in bad_debt:
                continue
            insurance, borrows = vaults[2 * i], vaults[2 * i + 1]
            if sym == debt.symbol:
                insurance += q.insurance_fee
                borrows -= min(q.repay, borrows)
            amount, covered, socialized = bad_debt[sym]
            written_off = min(amount, borrows)
            assert covered == min(written_off, insurance)
            assert socialized == written_off - covered
        actual = market.raw_balances(owner, sub)
        assert {s: r for s, r in actual.items() if r} == {s: r for s, r in raws.items() if r}
        return Liquidation(quote=q, receipt=tx, bad_debt=bad_debt)

    def liquidate_until_safe(
        self,
        owner: Any,
        sub: int,
        debt: DeployedAsset,
        collateral: DeployedAsset,
        chunk: int,
        max_steps: int = 25,
    ) -> list[Liquidation]:
        """Liquidate in chunks of at most `chunk` debt units until the account is no longer
        liquidatable or holds no more of `collateral`."""
        done: list[Liquidation] = []
        for _ in range(max_steps):
            if not self.ma.isLiquidatable(owner, sub):
                return done
            if int(self.ma.rawBalance(owner, sub, collateral.token)) <= 0:
                return done
            step = self.liquidate(owner, sub, debt, collateral, chunk)
            assert step is not None, "a liquidation was refused as risk-increasing"
            done.append(step)
        raise AssertionError(f"still liquidatable after {max_steps} liquidations")
