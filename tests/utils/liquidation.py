"""Helpers of the liquidation-engine tests (test_liquidation_engine.py, test_liquidation_doc.py and
scenarios/test_cascade.py): account builders, readers of the lens and of the liquidation events,
the books of every asset, a call-trace reader that says which contract raised a revert, and an
extra listed asset for tests that need more than three assets.

Every reader returns plain ints and lower-case addresses so that results compare with `==`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ape import chain, project
from eth_abi import decode
from eth_utils import keccak

from solvent import risk
from solvent.config import AssetSpec, RateModel
from solvent.deploy import DeployedAsset, Deployment
from solvent.risk import debt_tokens
from tests.utils.chain import logs, norm
from tests.utils.helpers import MAX_UINT

__all__ = [
    "MAX_UINT",
    "AccountLens",
    "Books",
    "Owner",
    "PairQuote",
    "Status",
    "account_debts",
    "books",
    "call_revert",
    "event_gain",
    "liquidated",
    "list_extra_asset",
    "mirror_snapshot",
    "pin_next_block",
    "read_lens",
    "reverting_contract",
    "selector",
    "send",
    "usd_up",
    "view",
    "written_off",
]


Status = risk.Status  # IMarginAccount.LiquidationStatus, as the mirror defines it


def pin_next_block() -> None:
    """Stamp the next block with the latest block's timestamp.

    Views (`lens`, `quote`, `accountHealth`) run at the latest block; a vault accrues interest per
    second. With the next transaction in a block of the same timestamp, it sees the borrow indices
    the views saw, so a liquidation settles exactly what the lens priced.
    """
    chain.pending_timestamp = chain.blocks.head.timestamp


# ---------------------------------------------------------------------------------- lens
@dataclass(frozen=True)
class PairQuote:
    debt: str
    collateral: str
    status: Status
    max_repay: int
    seize: int
    fee: int
    tip: int
    discount: int


@dataclass(frozen=True)
class AccountLens:
    liquidatable: bool
    equity: int
    mmr: int
    health: int
    pairs: tuple[PairQuote, ...]

    def ok_pairs(self) -> list[PairQuote]:
        return [p for p in self.pairs if p.status == Status.OK]


def read_lens(liquidator: Any, targets: Iterable[tuple[Any, int]]) -> list[AccountLens]:
    """Liquidator.lens of (owner, subId) targets as plain Python values."""
    ids = [(norm(o), s) for o, s in targets]
    out = []
    for liquidatable, equity, mmr, health, pairs in view(liquidator.lens, ids):
        quotes = tuple(
            PairQuote(norm(d), norm(c), Status(st), repay, seize, fee, tip, discount)
            for d, c, st, repay, seize, fee, tip, discount in pairs
        )
        out.append(AccountLens(bool(liquidatable), equity, mmr, health, quotes))
    return out


# ---------------------------------------------------------------------------------- events
def liquidated(tx: Any, ma: Any) -> list[dict[str, Any]]:
    """Liquidated events of the receipt (plain values)."""
    return logs(tx, ma.Liquidated)


def written_off(tx: Any, ma: Any) -> list[dict[str, Any]]:
    """BadDebtWrittenOff events of the receipt (plain values)."""
    return logs(tx, ma.BadDebtWrittenOff)


# ---------------------------------------------------------------------------------- books
@dataclass(frozen=True)
class Books:
    """What a liquidation moves for one asset."""

    ma_tokens: int  # token balance of the MarginAccount
    total_collateral: int  # MarginAccount.totalCollateral
    vault_tokens: int  # token balance of the vault
    cash: int
    total_borrows: int
    insurance: int
    total_assets: int  # the lenders' assets


def books(system: Deployment, assets: Iterable[DeployedAsset] | None = None) -> dict[str, Books]:
    ma = system.margin_account
    out = {}
    for a in assets if assets is not None else system.assets.values():
        out[a.symbol] = Books(
            ma_tokens=int(a.token.balanceOf(ma)),
            total_collateral=int(ma.totalCollateral(a.token)),
            vault_tokens=int(a.token.balanceOf(a.vault)),
            cash=int(a.vault.cash()),
            total_borrows=int(a.vault.totalBorrows()),
            insurance=int(a.vault.insuranceFund()),
            total_assets=int(a.vault.totalAssets()),
        )
    return out


def account_debts(ma: Any, asset: DeployedAsset, accounts: Iterable[tuple[Any, int]]) -> int:
    """Sum of the debts (token units, each rounded up as the chain rounds it) of `accounts`."""
    index = int(asset.vault.borrowIndex())
    total = 0
    for owner, sub in accounts:
        raw = int(ma.rawBalance(owner, sub, asset.token))
        if raw < 0:
            total += debt_tokens(-raw, index)
    return total


def mirror_snapshot(
    ma: Any, owner: Any, sub: int, debt: Any, collateral: Any
) -> risk.LiquidationSnapshot:
    """MarginAccount.liquidationSnapshot of (debt, collateral) tokens as the mirror's snapshot."""
    return risk.LiquidationSnapshot.from_chain(ma.liquidationSnapshot(owner, sub, debt, collateral))


def event_gain(e: dict, debt_price: int, debt_scale: int, coll_price: int, coll_scale: int) -> int:
    """The liquidator's gain of one Liquidated event at these prices (risk.liquidation_profit)."""
    return risk.liquidation_profit(
        e["seized"],
        e["repaid"],
        e["insuranceFee"],
        debt_price=debt_price,
        debt_scale=debt_scale,
        collateral_price=coll_price,
        collateral_scale=coll_scale,
        insurance_tip=e["insuranceTip"],
    )


usd_up = risk.value_up  # USD WAD value rounded up (how a debt is valued)


# ---------------------------------------------------------------------------------- accounts
def _rpc(method: str, params: list[Any]) -> dict[str, Any]:
    """One raw JSON-RPC request (no web3 middleware: one HTTP round trip)."""
    return chain.provider.web3.provider.make_request(method, params)


def view(method: Any, *args: Any) -> Any:
    """eth_call `method(*args)` at the latest block with raw JSON-RPC and decode the outputs (one
    output unwrapped, several as a tuple; addresses lower-case). A fast path for the hundreds of
    reads a scenario makes; it fails on a revert."""
    request = {
        "to": method.contract.address,
        "data": "0x" + bytes(method.encode_input(*args)).hex(),
    }
    response = _rpc("eth_call", [request, "latest"])
    assert "error" not in response, f"{method.abis[0].name}{args}: {response['error']}"
    outputs = method.abis[0].outputs
    values = decode([o.canonical_type for o in outputs], bytes.fromhex(response["result"][2:]))
    values = _plain(values)
    return values[0] if len(values) == 1 else values


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return tuple(_plain(v) for v in value)
    return norm(value)


def send(method: Any, *args: Any, sender: Any) -> None:
    """Send `method(*args)` from one of anvil's unlocked accounts with raw JSON-RPC: a set-up step
    without ape's and web3's per-transaction requests (the hundreds of transactions that build a
    book of accounts take a second instead of ten). A revert fails with its custom error."""
    request = {
        "from": sender.address,
        "to": method.contract.address,
        "data": "0x" + bytes(method.encode_input(*args)).hex(),
        "gas": hex(3_000_000),
    }
    response = _rpc("eth_sendTransaction", [request])
    assert "error" not in response, response["error"]
    receipt = None
    while receipt is None:  # anvil mines each transaction as it arrives, answering just before
        receipt = _rpc("eth_getTransactionReceipt", [response["result"]])["result"]
    if int(receipt["status"], 16) != 1:
        raise AssertionError(
            f"{method.abis[0].name}{args}: {call_revert(method, *args, sender=sender)}"
        )


class Owner:
    """An address that opens many sub-accounts: each token is minted and approved once, in bulk,
    so opening an account costs one transaction per deposit and per borrow."""

    def __init__(self, system: Deployment, account: Any, minter: Any) -> None:
        self.system = system
        self.account = account
        self.minter = minter
        self._funded: dict[str, int] = {}
        self._approved: set[str] = set()

    @property
    def address(self) -> str:
        return self.account.address

    def ensure(self, asset: DeployedAsset, units: int) -> None:
        """Hold at least `units` of `asset` with the MarginAccount approved."""
        if asset.symbol not in self._approved:
            send(asset.token.approve, self.system.margin_account, MAX_UINT, sender=self.account)
            self._approved.add(asset.symbol)
        have = self._funded.get(asset.symbol, 0)
        if have < units:
            top_up = max(units - have, 10**6 * asset.scale)
            send(asset.token.mint, self.account, top_up, sender=self.minter)
            have += top_up
        self._funded[asset.symbol] = have

    def open(
        self,
        sub: int,
        collateral: Iterable[tuple[DeployedAsset, int]],
        debt: Iterable[tuple[DeployedAsset, int]] = (),
    ) -> tuple[str, int]:
        """Deposit each (asset, units) of `collateral`, then borrow each of `debt`, in sub `sub`."""
        ma = self.system.margin_account
        for asset, units in collateral:
            self.ensure(asset, units)
            send(ma.deposit, self.account, sub, asset.token, units, sender=self.account)
            self._funded[asset.symbol] -= units
        for asset, units in debt:
            send(
                ma.borrow, self.account, sub, asset.token, units, self.account, sender=self.account
            )
            self._funded[asset.symbol] = self._funded.get(asset.symbol, 0) + units
        return (self.address, sub)


# ---------------------------------------------------------------------------------- reverts
_ERROR_ABIS: dict[bytes, Any] = {}


def _error_abi(selector: bytes) -> Any:
    if not _ERROR_ABIS:
        for name in ("MarginAccount", "Liquidator", "Vault", "ChainlinkOracle", "MockERC20"):
            for abi in getattr(project, name).contract_type.errors:
                _ERROR_ABIS[keccak(text=abi.selector)[:4]] = abi
    return _ERROR_ABIS.get(selector)


def call_revert(method: Any, *args: Any, sender: Any = None) -> tuple[str, dict[str, Any]] | None:
    """eth_call `method(*args)` at the latest block; None if it succeeds, else the custom error's
    name and arguments (plain values). Cheaper than `ape.reverts`, which renders a call trace."""
    request = {
        "to": method.contract.address,
        "data": "0x" + bytes(method.encode_input(*args)).hex(),
    }
    if sender is not None:
        request["from"] = sender.address
    response = _rpc("eth_call", [request, "latest"])
    if "error" not in response:
        return None
    data = response["error"].get("data")
    assert isinstance(data, str) and len(data) >= 10, f"not a custom error: {response['error']}"
    raw = bytes.fromhex(data.removeprefix("0x"))
    abi = _error_abi(raw[:4])
    assert abi is not None, f"unknown custom error {raw[:4].hex()}"
    values = decode([i.canonical_type for i in abi.inputs], raw[4:])
    return abi.name, {i.name: norm(v) for i, v in zip(abi.inputs, values, strict=True)}


def reverting_contract(method: Any, *args: Any, sender: Any) -> tuple[str, bytes]:
    """Replays `method(*args)` from `sender` with anvil's call tracer and returns the address of the
    contract that raised the revert (the innermost reverted frame; outer frames only bubble it up)
    and the revert data it raised."""
    request = {
        "from": sender.address,
        "to": method.contract.address,
        "data": "0x" + bytes(method.encode_input(*args)).hex(),
    }
    trace = chain.provider.make_request(
        "debug_traceCall", [request, "latest", {"tracer": "callTracer"}]
    )
    assert trace.get("error"), "the call did not revert"

    def innermost(frame: dict[str, Any]) -> dict[str, Any]:
        for child in frame.get("calls", []):
            if child.get("error"):
                return innermost(child)
        return frame

    frame = innermost(trace)
    return norm(frame["to"]), bytes.fromhex(frame.get("output", "0x").removeprefix("0x"))


def selector(error: Any) -> bytes:
    """4-byte selector of a contract error class (e.g. `liquidator.ReentrancyGuardReentrantCall`)."""
    return keccak(text=error.abi.selector)[:4]


# ---------------------------------------------------------------------------------- listing
def list_extra_asset(
    system: Deployment,
    admin: Any,
    *,
    symbol: str,
    decimals: int,
    price: str,
    imf: str,
    mmf: str,
    min_discount: str,
    max_discount: str,
    min_debt_value: str = "100",
    rate_model: RateModel | None = None,
    feed_decimals: int = 8,
) -> DeployedAsset:
    """Deploy a mock token, its feed and its vault and list it on the MarginAccount (not added to
    `system.assets`: the session deployment object stays as conftest built it). Default rates:
    base 2%, slope1 10% to an 80% kink, slope2 100%."""
    from solvent.units import to_units, to_wad

    ma, oracle = system.margin_account, system.oracle
    token = project.MockERC20.deploy(f"{symbol} (mock)", symbol, decimals, sender=admin)
    feed = project.MockAggregator.deploy(
        feed_decimals, f"{symbol} / USD", to_units(price, feed_decimals), sender=admin
    )
    if rate_model is None:
        rate_model = RateModel(
            base=to_wad("0.02"), slope1=to_wad("0.1"), slope2=to_wad("1"), kink=to_wad("0.8")
        )
    vault = project.Vault.deploy(
        token,
        f"Solvent {symbol} Vault",
        f"sv{symbol}",
        ma,
        admin,
        rate_model.as_tuple(),
        to_wad("0.1"),
        sender=admin,
    )
    oracle.setFeed(token, feed, 3600, sender=admin)
    spec = AssetSpec(
        symbol=symbol,
        name=f"{symbol} (mock)",
        decimals=decimals,
        imf=to_wad(imf),
        mmf=to_wad(mmf),
        collateral_cap_tokens="1000000000",
        debt_cap_tokens="1000000000",
        reserve_factor=to_wad("0.1"),
        rate_model=rate_model,
        max_age=3600,
        min_discount=to_wad(min_discount),
        max_discount=to_wad(max_discount),
        min_debt_value=to_wad(min_debt_value),
        price=to_wad(price),
    )
    ma.listAsset(
        token,
        vault,
        spec.imf,
        spec.mmf,
        spec.collateral_cap(decimals),
        spec.debt_cap(decimals),
        spec.min_discount,
        spec.max_discount,
        spec.min_debt_value,
        sender=admin,
    )
    return DeployedAsset(spec=spec, token=token, vault=vault, feed=feed, decimals=decimals)
