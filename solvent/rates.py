"""Integer mirror of the Vault's interest and share math (Vault._accrued, OpenZeppelin ERC-4626
with Solvent's 6-decimal virtual-share offset). Same formulas and rounding as the contract, so the
crash simulator and the tests can predict a vault to the wei.

Units: assets in token base units; rates, factors, the borrow index and utilization in WAD; the
rate model's values are per year, accrual is per second (annual / 365 days, rounded up).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from solvent.config import RateModel
from solvent.fixed import WAD, YEAR, mul_div_down, mul_div_up

SECONDS_PER_YEAR = YEAR
DECIMALS_OFFSET = 6
VIRTUAL_SHARES = 10**DECIMALS_OFFSET


@dataclass(frozen=True)
class VaultBooks:
    """A vault's accounting (Vault.State without the timestamp)."""

    cash: int
    borrows: int
    insurance: int
    index: int

    @property
    def lender_assets(self) -> int:
        """totalAssets = cash + borrows - insurance (never negative)."""
        return max(self.cash + self.borrows - self.insurance, 0)


def utilization(cash: int, borrows: int) -> int:
    """borrows / (cash + borrows), WAD rounded down; 0 for an empty vault."""
    total = cash + borrows
    return 0 if total == 0 else mul_div_down(borrows, WAD, total)


def rate_per_second(model: RateModel, util: int) -> int:
    """Kinked model: base + slope1 * u / kink below the kink, base + slope1 + slope2 * (u - kink) /
    (1 - kink) above it (each slope term rounded up); per year -> per second, rounded up."""
    if util <= model.kink:
        annual = model.base + mul_div_up(model.slope1, util, model.kink)
    else:
        annual = (
            model.base
            + model.slope1
            + mul_div_up(model.slope2, util - model.kink, WAD - model.kink)
        )
    return mul_div_up(annual, 1, SECONDS_PER_YEAR)


def accrue(
    books: VaultBooks, model: RateModel, reserve_factor: int, elapsed: int
) -> tuple[VaultBooks, int, int]:
    """Books after `elapsed` seconds, the interest and the insurance share: interest rounds down,
    the borrow index grows rounded up, insurance takes floor(interest * reserve factor)."""
    if elapsed == 0 or books.borrows == 0:
        return books, 0, 0
    growth = rate_per_second(model, utilization(books.cash, books.borrows)) * elapsed
    interest = mul_div_down(books.borrows, growth, WAD)
    to_insurance = mul_div_down(interest, reserve_factor, WAD)
    accrued = replace(
        books,
        borrows=books.borrows + interest,
        insurance=books.insurance + to_insurance,
        index=books.index + mul_div_up(books.index, growth, WAD),
    )
    return accrued, interest, to_insurance


def to_shares(assets: int, supply: int, total_assets: int, *, up: bool = False) -> int:
    """ERC-4626 assets -> shares with 10**6 virtual shares and 1 virtual asset."""
    f = mul_div_up if up else mul_div_down
    return f(assets, supply + VIRTUAL_SHARES, total_assets + 1)


def to_assets(shares: int, supply: int, total_assets: int, *, up: bool = False) -> int:
    """ERC-4626 shares -> assets with 10**6 virtual shares and 1 virtual asset."""
    f = mul_div_up if up else mul_div_down
    return f(shares, total_assets + 1, supply + VIRTUAL_SHARES)
