"""Helpers for the scenario, parity and invariant tests (tests/scenarios).

`Market` reads the per-asset inputs of the risk mirror (prices, borrow indices, margin factors,
liquidation parameters) and builds an account's positions keyed by asset, so a test can price
hypothetical states (a borrow or a withdrawal before it happens) with `solvent.risk`. `Keeper`
liquidates through the Liquidator and checks every liquidation against the mirror: the on-chain
quote (or the exact revert), the Liquidated event, the account's balances, the keeper's and the
vault's token balances and books afterwards, and the bad-debt write-off when the account is left
without collateral.

Exactness: anvil's views run at the latest block's timestamp, and `pin_next_block` stamps the next
transaction with that same timestamp, so no interest accrues between what a test reads and what the
transaction sees.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ape import chain, project
from eth_abi import decode
from eth_utils import keccak, to_checksum_address
from web3.exceptions import ContractCustomError

from solvent.deploy import DeployedAsset, Deployment
from solvent.rates import to_assets
from solvent.risk import (
    MAX_UINT256,
    WAD,
    AccountLens,
    EngineParams,
    Health,
    LiquidationQuote,
    LiquidationSnapshot,
    Position,
    account_health,
    debt_tokens,
    liquidation_snapshot,
    mul_div_down,
    price_liquidation,
    quote_error,
    scaled_debt_after_borrow,
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


def _decode_error(raw: bytes, contract: Any) -> tuple[str, dict[str, Any]]:
    abi = _error_abi(raw[:4], contract)
    assert abi is not None, f"unknown custom error {raw[:4].hex()}"
    values = decode([i.canonical_type for i in abi.inputs], raw[4:])
    return abi.name, {
        i.name: to_checksum_address(v) if i.canonical_type == "address" else v
        for i, v in zip(abi.inputs, values, strict=True)
    }


def outcome_of(method: Any, *args: Any, sender: Any = None) -> tuple[str, Any]:
    """eth_call `method(*args)` from `sender` at the latest block, as the transaction would run.

    Returns ("ok", outputs) when it succeeds (one output unwrapped, several as a tuple), else the
    custom error's name and inputs (decoded with the ABIs of the MarginAccount, Liquidator, Vault
    and oracle, so errors bubbling up from an inner call decode too). It bypasses ape's revert
    handling, which renders a full call-tree trace per revert (about half a second each); use it
    where a test checks many expected reverts.
    """
    contract = method.contract
    tx = {"to": contract.address, "data": method.encode_input(*args)}
    if sender is not None:
        tx["from"] = sender.address
    try:
        result = chain.provider.web3.eth.call(tx)
    except ContractCustomError as err:
        return _decode_error(bytes.fromhex(str(err.data).removeprefix("0x")), contract)
    types = [o.canonical_type for o in method.abis[0].outputs]
    values = decode(types, bytes(result))
    return "ok", values[0] if len(values) == 1 else values


def revert_of(method: Any, *args: Any, sender: Any = None) -> tuple[str, dict[str, Any]] | None:
    """The custom error (name, inputs) `method(*args)` reverts with now, or None if it succeeds
    (see `outcome_of`)."""
    outcome = outcome_of(method, *args, sender=sender)
    return None if outcome[0] == "ok" else outcome


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


@dataclass(frozen=True)
class AssetParams:
    """Risk parameters of a listed asset as the MarginAccount stores them (WAD; dust floor USD WAD)."""

    scale: int
    imf: int
    mmf: int
    min_discount: int
    max_discount: int
    min_debt_value: int


class Market:
    """Mirror inputs per asset. Parameters are read once; prices and indices on `refresh()`.

    Assets (and so positions) are kept in listing order, the order the chain iterates them in.
    """

    def __init__(self, system: Deployment) -> None:
        self.system = system
        self.ma = system.margin_account
        self.assets: dict[str, DeployedAsset] = dict(system.assets)
        self.params: dict[str, AssetParams] = {}
        self.reload_params()
        self.symbol_of = {a.token.address.lower(): s for s, a in self.assets.items()}
        self.prices: dict[str, int] = {}
        self.indices: dict[str, int] = {}
        self.insurance: dict[str, int] = {}
        self.refresh()

    def reload_params(self) -> None:
        """Re-read every asset's margin factors and liquidation parameters."""
        configs = batch_read(*((self.ma.assetConfig, a.token) for a in self.assets.values()))
        for sym, cfg in zip(self.assets, configs, strict=True):
            # AssetConfig: vault, id, listed, scale, imf, mmf, caps x2, minDiscount, maxDiscount, minDebtValue
            _, _, listed, scale, imf, mmf, _, _, min_d, max_d, min_debt = cfg
            assert listed, sym
            self.params[sym] = AssetParams(scale, imf, mmf, min_d, max_d, min_debt)

    @property
    def factors(self) -> dict[str, tuple[int, int, int]]:
        """symbol -> (scale, imf, mmf)"""
        return {s: (p.scale, p.imf, p.mmf) for s, p in self.params.items()}

    def refresh(self) -> Market:
        """Re-read prices, borrow indices and insurance funds at the latest block."""
        oracle = self.system.oracle
        calls = []
        for a in self.assets.values():
            calls += [(oracle.price, a.token), (a.vault.indexAndInsurance,)]
        values = batch_read(*calls)
        for i, sym in enumerate(self.assets):
            self.prices[sym] = values[2 * i][0]
            self.indices[sym], self.insurance[sym] = values[2 * i + 1]
        return self

    def position(self, symbol: str, raw: int) -> Position:
        p = self.params[symbol]
        return Position(
            raw=raw,
            price=self.prices[symbol],
            scale=p.scale,
            imf=p.imf,
            mmf=p.mmf,
            index=self.indices[symbol] if raw < 0 else WAD,
            insurance=self.insurance[symbol] if raw < 0 else 0,
            min_discount=p.min_discount,
            max_discount=p.max_discount,
            min_debt_value=p.min_debt_value,
        )

    def raw_balances(self, owner: Any, sub: int) -> dict[str, int]:
        """Stored balances of an account (MarginAccount.rawBalance) for every listed asset."""
        calls = [(self.ma.rawBalance, owner, sub, a.token) for a in self.assets.values()]
        return dict(zip(self.assets, batch_read(*calls), strict=True))

    def positions(
        self, owner: Any, sub: int, raws: dict[str, int] | None = None
    ) -> dict[str, Position]:
        """Non-zero positions of an account keyed by symbol, in listing order (from `raws` if given)."""
        raws = self.raw_balances(owner, sub) if raws is None else raws
        return {sym: self.position(sym, raws[sym]) for sym in self.assets if raws.get(sym, 0) != 0}

    def health(self, positions: dict[str, Position]) -> Health:
        return account_health(positions.values())

    def scaled_borrow(self, symbol: str, units: int, scaled: int = 0) -> int:
        """Scaled debt a borrow of `units` adds to `scaled` (MarginAccount.borrow: the smallest
        whole number of scaled units covering the old debt plus `units`)."""
        return scaled_debt_after_borrow(scaled, self.indices[symbol], units) - scaled

    def units_for_usd(self, symbol: str, value: int) -> int:
        """Token units worth `value` USD WAD, rounded down."""
        return mul_div_down(value, self.params[symbol].scale, self.prices[symbol])

    def chain_lens(self, liquidator: Any, accounts: list[tuple[Any, int]]) -> list[AccountLens]:
        """Liquidator.lens of `accounts` at the latest block, pairs keyed by symbol."""
        targets = [(_address(o), s) for o, s in accounts]
        entries = batch_read((liquidator.lens, targets))[0]
        return [AccountLens.from_chain(e, self.symbol) for e in entries]

    def symbol(self, address: Any) -> str:
        return self.symbol_of[str(address).lower()]


def _address(who: Any) -> str:
    return str(who.address) if hasattr(who, "address") else str(who)


def chain_health(ma: Any, owner: Any, sub: int) -> tuple[int, int, int, int]:
    """accountHealth as a plain tuple (equity, imr, mmr, health)."""
    equity, imr, mmr, health = ma.accountHealth(owner, sub)
    return int(equity), int(imr), int(mmr), int(health)


def as_tuple(h: Health) -> tuple[int, int, int, int]:
    return h.equity, h.imr, h.mmr, h.health


@dataclass
class Liquidation:
    """One executed liquidation: the mirror's quote (equal to the chain's), its receipt, the bad
    debt written off (symbol -> (amount, covered, socialized)) and the account before and after
    (positions at the same prices, and their health)."""

    owner: str
    sub: int
    debt: str
    collateral: str
    quote: LiquidationQuote
    receipt: Any
    bad_debt: dict[str, tuple[int, int, int]]
    before: dict[str, Position]
    after: dict[str, Position]

    @property
    def owner_key(self) -> tuple[str, int]:
        return (self.owner, self.sub)

    @property
    def health_before(self) -> Health:
        return account_health(self.before.values())

    @property
    def health_after(self) -> Health:
        return account_health(self.after.values())


@dataclass(frozen=True)
class _Books:
    """Per asset: (insurance fund, total borrows, cash) of its vault, the keeper's and the
    MarginAccount's token balances."""

    vaults: dict[str, tuple[int, int, int]]
    keeper: dict[str, int]
    margin_account: dict[str, int]


class Keeper:
    """Liquidates through the Liquidator, checking each step against solvent.risk exactly."""

    def __init__(self, system: Deployment, account: Any, market: Market | None = None) -> None:
        self.system = system
        self.account = account
        self.market = market or Market(system)
        self.ma = system.margin_account
        self.liquidator = system.liquidator
        self.params = EngineParams.from_chain(self.liquidator)

    # ------------------------------------------------------------------ mirror
    def snapshot(
        self, positions: dict[str, Position], debt: DeployedAsset, collateral: DeployedAsset
    ) -> LiquidationSnapshot:
        return liquidation_snapshot(positions, debt.symbol, collateral.symbol)

    def mirror_quote(
        self,
        positions: dict[str, Position],
        debt: DeployedAsset,
        collateral: DeployedAsset,
        max_repay: int,
    ) -> LiquidationQuote:
        return price_liquidation(self.snapshot(positions, debt, collateral), max_repay, self.params)

    def expected_error(
        self,
        positions: dict[str, Position],
        debt: DeployedAsset,
        collateral: DeployedAsset,
        max_repay: int,
    ) -> tuple[str, dict[str, Any]] | None:
        snap = self.snapshot(positions, debt, collateral)
        return quote_error(
            price_liquidation(snap, max_repay, self.params),
            snap,
            debt_asset=debt.token.address,
            collateral_asset=collateral.token.address,
            max_repay=max_repay,
        )

    def check_quote(
        self, owner: Any, sub: int, debt: DeployedAsset, collateral: DeployedAsset, max_repay: int
    ) -> tuple[LiquidationQuote, tuple[str, dict[str, Any]] | None]:
        """Mirror quote of the account as it stands, asserted equal to Liquidator.quote (or to its
        revert, exactly); returns the quote and the expected error (None when it goes through)."""
        positions = self.market.positions(owner, sub)
        q = self.mirror_quote(positions, debt, collateral, max_repay)
        err = self.expected_error(positions, debt, collateral, max_repay)
        outcome = outcome_of(
            self.liquidator.quote, owner, sub, debt.token, collateral.token, max_repay
        )
        if err is None:
            assert outcome == ("ok", q.as_chain_quote()), (owner, sub, debt.symbol, max_repay)
        else:
            assert outcome == err, (owner, sub, debt.symbol, collateral.symbol, max_repay)
        return q, err

    # ------------------------------------------------------------------ books
    def _books(self) -> _Books:
        assets = self.market.assets
        calls: list[tuple[Any, ...]] = []
        for a in assets.values():
            calls += [
                (a.vault.insuranceFund,),
                (a.vault.totalBorrows,),
                (a.vault.cash,),
                (a.token.balanceOf, self.account.address),
                (a.token.balanceOf, self.ma.address),
            ]
        v = batch_read(*calls)
        return _Books(
            vaults={s: (v[5 * i], v[5 * i + 1], v[5 * i + 2]) for i, s in enumerate(assets)},
            keeper={s: v[5 * i + 3] for i, s in enumerate(assets)},
            margin_account={s: v[5 * i + 4] for i, s in enumerate(assets)},
        )

    @staticmethod
    def _after_raws(
        before: dict[str, Position], debt: str, collateral: str, q: LiquidationQuote
    ) -> dict[str, int]:
        """Stored balances after settlement: the quote's whole scaled units are burnt (all of them
        on a full repayment); the seized collateral leaves the account."""
        d, c = before[debt], before[collateral]
        raws = {sym: p.raw for sym, p in before.items()}
        raws[debt] = min(d.raw + q.repay_scaled, 0)
        raws[collateral] = c.raw - q.seize
        return raws

    def _write_off(
        self, raws: dict[str, int], vaults: dict[str, list[int]]
    ) -> tuple[dict[str, int], dict[str, tuple[int, int, int]]]:
        """An account left without collateral has every debt written off, asset by asset: each
        vault realizes at most its total borrows, insurance fund first, the rest from lenders.
        Settlement books the repayment and the fee (of the whole batch) first (`_book_repayment`),
        so the fee just paid is in the insurance fund that covers the bad debt."""
        if any(r > 0 for r in raws.values()) or not any(r < 0 for r in raws.values()):
            return raws, {}
        bad: dict[str, tuple[int, int, int]] = {}
        for sym, r in raws.items():
            if r >= 0:
                continue
            amount = debt_tokens(-r, self.market.indices[sym])
            insurance, borrows, _ = vaults[sym]
            written_off = min(amount, borrows)
            covered = min(written_off, insurance)
            bad[sym] = (amount, covered, written_off - covered)
            vaults[sym][0] -= covered
            vaults[sym][1] -= written_off
        return dict.fromkeys(raws, 0), bad

    def _bad_debt_events(
        self, tx: Any
    ) -> list[tuple[str, str, int, dict[str, tuple[int, int, int]]]]:
        out: dict[tuple[str, int], dict[str, tuple[int, int, int]]] = {}
        for e in tx.events.filter(self.ma.BadDebtWrittenOff):
            key = (str(e.owner), int(e.subId))
            out.setdefault(key, {})[self.market.symbol(e.asset)] = (
                int(e.amount),
                int(e.covered),
                int(e.socialized),
            )
        return out  # type: ignore[return-value]

    @staticmethod
    def _book_repayment(
        vaults: dict[str, list[int]], debt: str, repay: int, fee: int, tip: int = 0
    ) -> None:
        """The vault books a repayment: total borrows fall by it (at most to zero), the fee goes to
        the insurance fund and the tip comes out of it, repay + fee - tip into cash."""
        vaults[debt][0] += fee - tip
        vaults[debt][1] -= min(repay, vaults[debt][1])
        vaults[debt][2] += repay + fee - tip

    def _check_books(
        self,
        before: _Books,
        vaults: dict[str, list[int]],
        debt: str,
        collateral: str,
        repay: int,
        fee: int,
        seize: int,
        tip: int = 0,
    ) -> None:
        """Vault books (`vaults`: the expected ones), keeper and MarginAccount token balances
        after a settlement."""
        after = self._books()
        assert after.vaults == {s: tuple(v) for s, v in vaults.items()}
        expected_keeper = dict(before.keeper)
        expected_keeper[debt] -= repay + fee - tip
        expected_keeper[collateral] += seize
        assert after.keeper == expected_keeper
        expected_ma = dict(before.margin_account)
        expected_ma[collateral] -= seize
        assert after.margin_account == expected_ma

    # ------------------------------------------------------------------ actions
    def liquidate(
        self, owner: Any, sub: int, debt: DeployedAsset, collateral: DeployedAsset, max_repay: int
    ) -> Liquidation | None:
        """Liquidate (owner, sub) once, pinned to the latest block's timestamp. Returns None (after
        checking that quote and liquidate revert exactly as the mirror says) when it cannot."""
        market = self.market.refresh()
        before = market.positions(owner, sub)
        chain_snap = batch_read(
            (self.ma.liquidationSnapshot, owner, sub, debt.token, collateral.token)
        )[0]
        assert LiquidationSnapshot.from_chain(chain_snap) == self.snapshot(before, debt, collateral)
        q, err = self.check_quote(owner, sub, debt, collateral, max_repay)
        args = (owner, sub, debt.token, collateral.token, max_repay, q.seize, b"")
        if err is not None:
            assert revert_of(self.liquidator.liquidate, *args, sender=self.account) == err
            return None
        if q.seize > 0:  # the slippage bound is checked against the quote, to the unit
            assert revert_of(
                self.liquidator.liquidate, *args[:5], q.seize + 1, b"", sender=self.account
            ) == ("SlippageExceeded", {"seized": q.seize, "minSeized": q.seize + 1})
        books = self._books()
        pin_next_block()
        tx = self.liquidator.liquidate(*args, sender=self.account)

        vaults = {s: list(v) for s, v in books.vaults.items()}
        self._book_repayment(vaults, debt.symbol, q.repay, q.insurance_fee, q.insurance_tip)
        raws, bad = self._write_off(
            self._after_raws(before, debt.symbol, collateral.symbol, q), vaults
        )
        [ev] = tx.events.filter(self.ma.Liquidated)
        assert (
            ev.owner,
            int(ev.subId),
            ev.liquidator,
            ev.debtAsset,
            int(ev.repaid),
            ev.collateralAsset,
            int(ev.seized),
            int(ev.insuranceFee),
            int(ev.insuranceTip),
            int(ev.discount),
            int(ev.health),
            int(ev.badDebt),
        ) == (
            _address(owner),
            sub,
            self.account.address,
            debt.token.address,
            q.repay,
            collateral.token.address,
            q.seize,
            q.insurance_fee,
            q.insurance_tip,
            q.discount,
            q.health,
            bad.get(debt.symbol, (0, 0, 0))[0],
        )
        assert self._bad_debt_events(tx) == ({(_address(owner), sub): bad} if bad else {})
        self._check_books(
            books,
            vaults,
            debt.symbol,
            collateral.symbol,
            q.repay,
            q.insurance_fee,
            q.seize,
            q.insurance_tip,
        )
        actual = market.raw_balances(owner, sub)
        assert {s: r for s, r in actual.items() if r} == {s: r for s, r in raws.items() if r}
        return Liquidation(
            owner=_address(owner),
            sub=sub,
            debt=debt.symbol,
            collateral=collateral.symbol,
            quote=q,
            receipt=tx,
            bad_debt=bad,
            before=before,
            after=market.positions(owner, sub, raws),
        )

    def liquidate_batch(
        self,
        targets: list[tuple[Any, int]],
        debt: DeployedAsset,
        collateral: DeployedAsset,
        min_rate: int = 0,
    ) -> list[Liquidation]:
        """liquidateBatch of `targets`, pinned to the latest block's timestamp, simulated by the
        mirror in order as the MarginAccount settles it: each target priced (MAX_UINT256 repay) on
        the balances the earlier ones left and on the insurance fund they left (tips), skipped with
        its status (SLIPPAGE below `min_rate` collateral units per debt unit, WAD) or settled; an
        account left without collateral has what the batch repaid so far booked, then its debts
        written off. Events, balances and books checked."""
        market = self.market.refresh()
        books = self._books()
        vaults = {s: list(v) for s, v in books.vaults.items()}
        fund = vaults[debt.symbol][0]
        pending = [0, 0, 0]  # repay, fee, tip settled but not booked yet
        state: dict[tuple[str, int], dict[str, int]] = {}
        plan = []  # (key, before, quote, raws after, bad debt) of the targets settled
        skipped = []
        for owner, sub in targets:
            key = (_address(owner), sub)
            raws = state.get(key) or market.raw_balances(owner, sub)
            before = market.positions(owner, sub, raws)
            if debt.symbol in before and before[debt.symbol].raw < 0:
                before[debt.symbol] = replace(before[debt.symbol], insurance=fund)
            q = self.mirror_quote(before, debt, collateral, MAX_UINT256)
            status = int(q.status)
            if q.ok and q.seize * WAD // q.repay < min_rate:
                status = 6  # SLIPPAGE
            if status != 0:
                skipped.append((key, status))
                continue
            after = self._after_raws(before, debt.symbol, collateral.symbol, q)
            pending = [
                pending[0] + q.repay,
                pending[1] + q.insurance_fee,
                pending[2] + q.insurance_tip,
            ]
            fund += q.insurance_fee - q.insurance_tip
            bad: dict[str, tuple[int, int, int]] = {}
            if not any(r > 0 for r in after.values()):
                self._book_repayment(vaults, debt.symbol, *pending)
                pending = [0, 0, 0]
                after, bad = self._write_off(after, vaults)
                fund = vaults[debt.symbol][0]
            state[key] = after
            plan.append((key, before, q, after, bad))
        self._book_repayment(vaults, debt.symbol, *pending)
        repaid = sum(q.repay for _, _, q, _, _ in plan)
        seized = sum(q.seize for _, _, q, _, _ in plan)
        fees = sum(q.insurance_fee for _, _, q, _, _ in plan)
        tips = sum(q.insurance_tip for _, _, q, _, _ in plan)
        call_args = ([(_address(o), s) for o, s in targets], debt.token, collateral.token, min_rate)
        outcome = outcome_of(self.liquidator.liquidateBatch, *call_args, sender=self.account)
        assert outcome == ("ok", (repaid, seized, len(plan)))
        pin_next_block()
        tx = self.liquidator.liquidateBatch(*call_args, sender=self.account)

        skip_events = [
            ((str(e.owner), int(e.subId)), int(e.status))
            for e in tx.events.filter(self.ma.LiquidationSkipped)
        ]
        assert skip_events == skipped
        events = list(tx.events.filter(self.ma.Liquidated))
        bad_events = self._bad_debt_events(tx)
        assert len(events) == len(plan)
        done = []
        for ev, (key, before, q, after, bad) in zip(events, plan, strict=True):
            assert (
                (str(ev.owner), int(ev.subId)),
                ev.liquidator,
                ev.debtAsset,
                int(ev.repaid),
                ev.collateralAsset,
                int(ev.seized),
                int(ev.insuranceFee),
                int(ev.insuranceTip),
                int(ev.discount),
                int(ev.health),
                int(ev.badDebt),
            ) == (
                key,
                self.account.address,
                debt.token.address,
                q.repay,
                collateral.token.address,
                q.seize,
                q.insurance_fee,
                q.insurance_tip,
                q.discount,
                q.health,
                bad.get(debt.symbol, (0, 0, 0))[0],
            )
            done.append(
                Liquidation(
                    owner=key[0],
                    sub=key[1],
                    debt=debt.symbol,
                    collateral=collateral.symbol,
                    quote=q,
                    receipt=tx,
                    bad_debt=bad,
                    before=before,
                    after=market.positions(*key, after),
                )
            )
        assert bad_events == {d.owner_key: d.bad_debt for d in done if d.bad_debt}
        for key, after in state.items():
            actual = market.raw_balances(*key)
            assert {s: r for s, r in actual.items() if r} == {s: r for s, r in after.items() if r}
        self._check_books(books, vaults, debt.symbol, collateral.symbol, repaid, fees, seized, tips)
        return done

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
            assert step is not None, "a liquidation was refused"
            done.append(step)
        raise AssertionError(f"still liquidatable after {max_steps} liquidations")
