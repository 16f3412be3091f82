"""Test helpers: minting and approvals, funding vaults, opening positions and moving mock prices.

Amounts passed as strings are whole tokens (``"1.5"`` WETH) and converted exactly; ints are base units.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ape import chain

from solvent.deploy import DeployedAsset, Deployment
from solvent.fixed import YEAR
from solvent.margin import MarginCurve
from solvent.risk import WAD, Health, Position, account_health, debt_tokens
from solvent.units import to_units

MAX_UINT = 2**256 - 1


def amount(asset: DeployedAsset, value: str | int) -> int:
    """Whole-token decimal string -> base units; ints pass through as base units."""
    return value if isinstance(value, int) else to_units(value, asset.decimals)


class Actions:
    """Acts on the deployed system on behalf of test accounts."""

    def __init__(self, system: Deployment, deployer: Any) -> None:
        self.system = system
        self.deployer = deployer

    # ------------------------------------------------------------------ tokens
    def mint(self, asset: DeployedAsset, who: Any, value: str | int) -> int:
        units = amount(asset, value)
        asset.token.mint(who, units, sender=self.deployer)
        return units

    def fund(self, asset: DeployedAsset, who: Any, value: str | int, spender: Any = None) -> int:
        """Mint `value` to `who` and approve `spender` (default: the MarginAccount) for everything."""
        units = self.mint(asset, who, value)
        asset.token.approve(spender or self.system.margin_account, MAX_UINT, sender=who)
        return units

    # ------------------------------------------------------------------ vaults
    def lend(self, asset: DeployedAsset, lender: Any, value: str | int) -> int:
        """Lender deposits `value` into the asset's vault; returns shares minted."""
        units = self.fund(asset, lender, value, spender=asset.vault)
        tx = asset.vault.deposit(units, lender, sender=lender)
        return tx.return_value if tx.return_value is not None else asset.vault.balanceOf(lender)

    # ------------------------------------------------------------------ accounts
    def deposit(self, asset: DeployedAsset, trader: Any, value: str | int, sub: int = 0) -> int:
        units = self.fund(asset, trader, value)
        self.system.margin_account.deposit(trader, sub, asset.token, units, sender=trader)
        return units

    def borrow(self, asset: DeployedAsset, trader: Any, value: str | int, sub: int = 0) -> Any:
        units = amount(asset, value)
        return self.system.margin_account.borrow(
            trader, sub, asset.token, units, trader, sender=trader
        )

    # ------------------------------------------------------------------ prices
    def price(self, asset: DeployedAsset) -> int:
        return int(self.system.oracle.price(asset.token)[0])

    def set_price(self, asset: DeployedAsset, usd: str | Decimal) -> None:
        """Push a new mock feed answer (USD per whole token)."""
        dec = int(asset.feed.decimals())
        answer = int(Decimal(str(usd)) * (Decimal(10) ** dec))
        asset.feed.setAnswer(answer, sender=self.deployer)

    def move_price(self, asset: DeployedAsset, factor: str) -> None:
        """Multiply the asset's feed answer by `factor` (e.g. "0.6" for a 40% crash)."""
        _, answer, *_ = asset.feed.latestRoundData()
        new = int(Decimal(answer) * Decimal(factor))
        asset.feed.setAnswer(new, sender=self.deployer)

    def refresh_feeds(self) -> None:
        """Re-stamp every feed at the current time (after chain time travel)."""
        for a in self.system.assets.values():
            _, answer, *_ = a.feed.latestRoundData()
            a.feed.setAnswer(answer, sender=self.deployer)

    def warp(self, seconds: int) -> None:
        """Advance chain time and mine a block."""
        chain.mine(1, timestamp=chain.pending_timestamp + seconds)

    # ------------------------------------------------------------------ mirror
    def position(self, owner: Any, sub: int, asset: DeployedAsset) -> Position:
        """One asset of an account as a mirror Position (raw may be 0; the vault's live index is
        read either way, so a test can turn the position into debt with dataclasses.replace)."""
        ma = self.system.margin_account
        cfg = ma.assetConfig(asset.token)
        index, insurance = (int(x) for x in asset.vault.indexAndInsurance())
        return Position(
            raw=int(ma.rawBalance(owner, sub, asset.token)),
            price=self.price(asset),
            scale=int(cfg.scale),
            imf=int(cfg.imf),
            mmf=int(cfg.mmf),
            index=index,
            insurance=insurance,
            curves=MarginCurve.from_chain(ma.marginCurve(asset.token)).curves(),
        )

    def positions(self, owner: Any, sub: int = 0) -> list[Position]:
        """The account's non-zero positions, for the Python risk mirror. Only the prices of held
        assets are read (as on-chain), so a stale feed of another asset does not get in the way."""
        ma = self.system.margin_account
        return [
            self.position(owner, sub, a)
            for a in self.system.assets.values()
            if int(ma.rawBalance(owner, sub, a.token)) != 0
        ]

    def mirror_health(self, owner: Any, sub: int = 0) -> Health:
        return account_health(self.positions(owner, sub))

    def health(self, owner: Any, sub: int = 0) -> Health:
        equity, imr, mmr, _ = self.system.margin_account.accountHealth(owner, sub)
        return Health(equity=int(equity), imr=int(imr), mmr=int(mmr))


def open_margin_book(
    act: Actions, system: Deployment, lender: Any, trader: Any, trader2: Any
) -> tuple[DeployedAsset, DeployedAsset]:
    """1,000,000 USDC lent; trader: 10 WETH of collateral and 15,000 USDC of debt, with 100,000
    USDC in hand (approved) to repay with; trader2: 1 WETH, no debt. Returns (USDC, WETH)."""
    usdc, weth = system.asset("USDC"), system.asset("WETH")
    act.lend(usdc, lender, "1000000")
    act.deposit(weth, trader, "10")
    act.borrow(usdc, trader, "15000")
    act.deposit(weth, trader2, "1")
    act.fund(usdc, trader, "100000")
    return usdc, weth


def seed_frozen_market(act: Actions, lender: Any, seeder: Any, admin: Any) -> None:
    """Liquidity in every vault, a year of interest on `seeder`'s borrows (every borrow index above
    1.0, a small insurance fund in every vault), then rates frozen at zero so that debts and
    quotes in the tests that follow are exact integers."""
    system = act.system
    usdc, wbtc, weth = (system.asset(s) for s in ("USDC", "WBTC", "WETH"))
    act.lend(usdc, lender, "1000000")
    act.lend(wbtc, lender, "100")
    act.lend(weth, lender, "1000")
    act.deposit(usdc, seeder, "10000000")
    act.borrow(wbtc, seeder, "10")
    act.borrow(weth, seeder, "100")
    act.deposit(weth, seeder, "1000", sub=1)
    act.borrow(usdc, seeder, "500000", sub=1)
    act.warp(YEAR)
    act.refresh_feeds()
    for a in system.assets.values():
        freeze_rates(a, admin)
        assert a.vault.borrowIndex() > WAD
        assert a.vault.insuranceFund() > 0


def debt_of(
    ma: Any, asset: DeployedAsset, owner: Any, sub: int = 0, *, must_owe: bool = False
) -> int:
    """Debt in tokens of (owner, sub) in `asset` from the stored scaled debt and the live index
    (0 when it owes nothing; with `must_owe`, assert that it does)."""
    raw = int(ma.rawBalance(owner, sub, asset.token))
    assert raw < 0 or not must_owe, f"{owner}#{sub} owes no {asset.symbol}"
    return debt_tokens(-raw, int(asset.vault.borrowIndex())) if raw < 0 else 0


def freeze_rates(asset: DeployedAsset, admin: Any) -> None:
    """Set the asset's vault rates to zero (kink kept)."""
    asset.vault.setRateModel((0, 0, 0, asset.spec.rate_model.kink), sender=admin)


def chain_state(system: Deployment, owner: Any, others: list[Any]) -> tuple[Any, ...]:
    """The books a failed action could have touched: the owner's sub-accounts 0 and 1, totals,
    vault accounting, and the token balances of the MarginAccount, the owner and `others`."""
    ma = system.margin_account
    return tuple(
        (
            int(ma.rawBalance(owner, 0, a.token)),
            int(ma.rawBalance(owner, 1, a.token)),
            int(ma.totalCollateral(a.token)),
            int(a.vault.cash()),
            int(a.vault.totalBorrows()),
            int(a.vault.insuranceFund()),
            tuple(int(a.token.balanceOf(h)) for h in [ma, owner, *others]),
        )
        for a in system.assets.values()
    )
