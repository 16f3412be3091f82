"""`Solvent`: one typed client over a deployment file.

    from solvent.sdk import Solvent, load_signer
    sol = Solvent.from_deployment("deployments/local.json", rpc="http://127.0.0.1:8545")
    me = load_signer("dev:2")
    sol.deposit(me, "WETH", 10 * 10**18)
    sol.borrow(me, "USDC", 5_000 * 10**6)
    print(sol.health(me.address))

Amounts are token units (integers). Every write is simulated first and raises the contract's
typed error (solvent.sdk.errors) without sending; approvals the action needs are made exactly
for the amount and never left larger.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from eth_account.signers.local import LocalAccount
from web3 import HTTPProvider, Web3
from web3.providers.rpc.utils import ExceptionRetryConfiguration

from solvent.risk import AccountLens
from solvent.sdk.abi import load_abi, margin_account_abi
from solvent.sdk.deployment import AssetInfo, DeploymentInfo, read_deployment
from solvent.sdk.errors import DeploymentFileError, RpcError
from solvent.sdk.tx import Sender

MAX_UINT256 = 2**256 - 1
RPC_TIMEOUT_S = 20


@dataclass(frozen=True)
class Health:
    """MarginAccount.accountHealth: equity (USD WAD, signed), IMR, MMR, health (equity/MMR WAD)."""

    equity: int
    imr: int
    mmr: int
    health: int

    @property
    def liquidatable(self) -> bool:
        return self.mmr > 0 and self.equity < self.mmr


@dataclass(frozen=True)
class VaultState:
    """One vault's books (token units) and share supply."""

    symbol: str
    total_assets: int
    total_supply: int
    cash: int
    borrows: int
    insurance: int
    utilization: int  # WAD


def connect(rpc: str, timeout: float = RPC_TIMEOUT_S) -> Web3:
    """A web3 over HTTP that retries idempotent reads on connection errors and timeouts."""
    provider = HTTPProvider(
        rpc,
        request_kwargs={"timeout": timeout},
        exception_retry_configuration=ExceptionRetryConfiguration(
            errors=(
                ConnectionError,
                requests.ConnectionError,
                requests.Timeout,
                requests.HTTPError,
            ),
            retries=3,
            backoff_factor=0.2,
        ),
    )
    return Web3(provider)


class Solvent:
    """Contract handles of one deployment on one node, and the protocol's actions."""

    def __init__(self, web3: Web3, info: DeploymentInfo) -> None:
        self.web3 = web3
        self.info = info
        self.margin_account = web3.eth.contract(
            address=info.margin_account, abi=margin_account_abi()
        )
        self.liquidator = web3.eth.contract(address=info.liquidator, abi=load_abi("Liquidator"))
        self.oracle = web3.eth.contract(address=info.oracle, abi=load_abi("ChainlinkOracle"))
        vol = info.contracts.get("VolatilityOracle")
        self.volatility_oracle = (
            web3.eth.contract(address=vol, abi=load_abi("VolatilityOracle")) if vol else None
        )
        self._tokens = {
            s: web3.eth.contract(address=a.token, abi=load_abi("MockERC20"))
            for s, a in info.assets.items()
        }
        self._vaults = {
            s: web3.eth.contract(address=a.vault, abi=load_abi("Vault"))
            for s, a in info.assets.items()
        }
        self._feeds = {
            s: web3.eth.contract(address=a.feed, abi=load_abi("MockAggregator"))
            for s, a in info.assets.items()
        }

    @classmethod
    def from_deployment(
        cls, path: Path | str, rpc: str | None = None, *, web3: Web3 | None = None
    ) -> Solvent:
        """Client over the deployment file at `path`, on the node at `rpc` (or a given web3).
        Refuses a node whose chain id is not the file's."""
        info = read_deployment(path)
        if web3 is None:
            if rpc is None:
                raise DeploymentFileError("give the node's RPC URL (rpc=...) or a web3 instance")
            web3 = connect(rpc)
        try:
            chain_id = int(web3.eth.chain_id)
        except Exception as err:  # any transport failure: one line, no traceback
            raise RpcError(f"cannot reach the node: {type(err).__name__}: {err}") from err
        if chain_id != info.chain_id:
            raise DeploymentFileError(
                f"{info.path} is for chain {info.chain_id}, but the node is chain {chain_id}"
            )
        return cls(web3, info)

    # ------------------------------------------------------------------ handles
    def token(self, symbol: str) -> Any:
        self.info.asset(symbol)
        return self._tokens[symbol]

    def vault(self, symbol: str) -> Any:
        self.info.asset(symbol)
        return self._vaults[symbol]

    def feed(self, symbol: str) -> Any:
        self.info.asset(symbol)
        return self._feeds[symbol]

    def asset(self, symbol: str) -> AssetInfo:
        return self.info.asset(symbol)

    def sender(self, account: LocalAccount, **kwargs: Any) -> Sender:
        return Sender(self.web3, account, **kwargs)

    # ------------------------------------------------------------------ reads
    def health(self, owner: str, sub_id: int = 0, block: str | int = "latest") -> Health:
        e, imr, mmr, h = self.margin_account.functions.accountHealth(owner, sub_id).call(
            block_identifier=block
        )
        return Health(int(e), int(imr), int(mmr), int(h))

    def balances(self, owner: str, sub_id: int = 0, block: str | int = "latest") -> dict[str, int]:
        """Signed balance per held asset (token units, debt with interest negative)."""
        held = self.margin_account.functions.accountAssets(owner, sub_id).call(
            block_identifier=block
        )
        out = {}
        for token in held:
            symbol = self.info.asset_by_token(token).symbol
            out[symbol] = int(
                self.margin_account.functions.balanceOf(owner, sub_id, token).call(
                    block_identifier=block
                )
            )
        return out

    def lens(
        self, accounts: list[tuple[str, int]], block: str | int = "latest"
    ) -> list[AccountLens]:
        """Liquidator.lens of (owner, subId) pairs; pairs keyed by symbol."""
        raw = self.liquidator.functions.lens(list(accounts)).call(block_identifier=block)
        return [AccountLens.from_chain(entry, self._symbol) for entry in raw]

    def price(self, symbol: str, block: str | int = "latest") -> int:
        """Strict oracle price, USD WAD per whole token."""
        return int(
            self.oracle.functions.price(self.asset(symbol).token).call(block_identifier=block)[0]
        )

    def vault_state(self, symbol: str, block: str | int = "latest") -> VaultState:
        v = self.vault(symbol)
        call = {"block_identifier": block}
        return VaultState(
            symbol=symbol,
            total_assets=int(v.functions.totalAssets().call(**call)),
            total_supply=int(v.functions.totalSupply().call(**call)),
            cash=int(v.functions.cash().call(**call)),
            borrows=int(v.functions.totalBorrows().call(**call)),
            insurance=int(v.functions.insuranceFund().call(**call)),
            utilization=int(v.functions.utilization().call(**call)),
        )

    def _symbol(self, token: Any) -> str:
        return self.info.asset_by_token(str(token)).symbol

    # ------------------------------------------------------------------ writes
    def _approve_for(self, s: Sender, symbol: str, spender: str, amount: int) -> None:
        token = self.token(symbol)
        if int(token.functions.allowance(s.address, spender).call()) < amount:
            s.send(token.functions.approve(spender, amount), "approve")

    def _revoke(self, s: Sender, symbol: str, spender: str) -> None:
        token = self.token(symbol)
        if int(token.functions.allowance(s.address, spender).call()) > 0:
            s.send(token.functions.approve(spender, 0), "approve")

    def lend(self, account: LocalAccount, symbol: str, amount: int) -> Any:
        """Deposit `amount` into the asset's vault for shares (ERC-4626)."""
        s = self.sender(account)
        vault = self.vault(symbol)
        self._approve_for(s, symbol, vault.address, amount)
        try:
            return s.send(vault.functions.deposit(amount, s.address), "lend")
        finally:
            self._revoke(s, symbol, vault.address)

    def deposit(self, account: LocalAccount, symbol: str, amount: int, sub_id: int = 0) -> Any:
        """Deposit collateral (repays a debt in that asset first)."""
        s = self.sender(account)
        ma = self.margin_account
        self._approve_for(s, symbol, ma.address, amount)
        try:
            return s.send(
                ma.functions.deposit(s.address, sub_id, self.asset(symbol).token, amount), "deposit"
            )
        finally:
            self._revoke(s, symbol, ma.address)

    def repay(self, account: LocalAccount, symbol: str, amount: int, sub_id: int = 0) -> Any:
        """Repay up to `amount` of a debt (MAX_UINT256: all of it, approving its current value)."""
        s = self.sender(account)
        ma = self.margin_account
        token = self.asset(symbol).token
        allowance = amount
        if amount == MAX_UINT256:
            owed = -int(
                ma.functions.balanceOf(s.address, sub_id, token).call(block_identifier="pending")
            )
            allowance = owed + owed // 1_000 + 1  # interest until the block lands
        self._approve_for(s, symbol, ma.address, allowance)
        try:
            return s.send(ma.functions.repay(s.address, sub_id, token, amount), "repay")
        finally:
            self._revoke(s, symbol, ma.address)

    def borrow(
        self,
        account: LocalAccount,
        symbol: str,
        amount: int,
        sub_id: int = 0,
        to: str | None = None,
    ) -> Any:
        """Borrow `amount` units of `symbol` on (account, sub_id), sent to `to` (default: the
        account); refused with the contract's error unless the account stays above initial
        margin."""
        return self._take_out("borrow", account, symbol, amount, sub_id, to)

    def withdraw(
        self,
        account: LocalAccount,
        symbol: str,
        amount: int,
        sub_id: int = 0,
        to: str | None = None,
    ) -> Any:
        """Withdraw `amount` units of collateral `symbol` from (account, sub_id) to `to`."""
        return self._take_out("withdraw", account, symbol, amount, sub_id, to)

    def _take_out(
        self,
        fn: str,
        account: LocalAccount,
        symbol: str,
        amount: int,
        sub_id: int,
        to: str | None,
    ) -> Any:
        """borrow and withdraw: same arguments, tokens leave the MarginAccount, no approval."""
        s = self.sender(account)
        call = getattr(self.margin_account.functions, fn)
        return s.send(
            call(s.address, sub_id, self.asset(symbol).token, amount, to or s.address), fn
        )

    def liquidate(
        self,
        account: LocalAccount,
        owner: str,
        sub_id: int,
        debt: str,
        collateral: str,
        max_repay: int = MAX_UINT256,
        min_seized: int = 0,
    ) -> Any:
        """Liquidate (owner, subId) in (debt, collateral) paying from the keeper's inventory; the
        approval is the lens's amount plus 0.1% and is revoked afterwards."""
        s = self.sender(account)
        ma = self.margin_account
        lens = self.lens([(owner, sub_id)], "pending")[0]
        owed = next(
            (
                p.owed
                for p in lens.pairs
                if p.debt_asset == debt and p.collateral_asset == collateral
            ),
            0,
        )
        self._approve_for(s, debt, ma.address, owed + owed // 1_000 + 1)
        try:
            return s.send(
                self.liquidator.functions.liquidate(
                    owner,
                    sub_id,
                    self.asset(debt).token,
                    self.asset(collateral).token,
                    max_repay,
                    min_seized,
                    b"",
                ),
                "liquidate",
            )
        finally:
            self._revoke(s, debt, ma.address)
