"""Vault unit tests: ERC-4626 flows with the 6-decimal share offset, idle-cash caps, the
first-depositor inflation attack, kinked-rate interest accrual checked to the wei against a Python
mirror of Vault._accrued, the insurance fund, and access control.

Views run at the head block's timestamp. Before a transaction whose result is predicted from views,
`at_head_time()` stamps the next block with the head's timestamp, so it sees exactly those views.
Borrows go through the real MarginAccount (`act.deposit` / `act.borrow`); MarginAccount-only entry
points are also driven directly by impersonating the MarginAccount address.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest
from ape import chain, project

from solvent.config import RateModel
from solvent.rates import (
    VaultBooks,
    accrue,
    rate_per_second,
    to_assets,
    to_shares,
    utilization,
)
from solvent.risk import mul_div_down, mul_div_up
from tests.utils.chain import ZERO_ADDRESS, norm_checksum
from tests.utils.chain import logs_named as logs
from tests.utils.chain import reverts_with as _reverts_with
from tests.utils.helpers import MAX_UINT, amount

WAD = 10**18
DAY = 24 * 3600
SECONDS_PER_YEAR = 365 * DAY
OFFSET = 10**6  # virtual shares: 10**DECIMALS_OFFSET
MAX_RESERVE_FACTOR = WAD // 2
MAX_BORROW_RATE = 10 * WAD
DEFAULT_ADMIN_ROLE = b"\x00" * 32

# Whole tokens lent in each vault (about $1.2M each) and collateral backing the trader's borrows.
LEND = {"USDC": "1000000", "WBTC": "20", "WETH": "400"}


# ---------------------------------------------------------------------------- revert/event helpers
def event_names(receipt: Any, contract: Any) -> list[str]:
    return [
        log.event_name
        for log in receipt.events
        if norm_checksum(log.contract_address) == norm_checksum(contract)
    ]


@contextmanager
def reverts_with(contract: Any, error: str, **expected: Any) -> Iterator[None]:
    """tests.utils.chain.reverts_with, with the failing block stamped at the head's timestamp:
    Anvil mines failing transactions too, and accrued views must stay comparable."""
    at_head_time()
    with _reverts_with(contract, error, **expected):
        yield


def block_time(receipt: Any) -> int:
    return int(chain.blocks[receipt.block_number].timestamp)


def head_time() -> int:
    return int(chain.blocks.head.timestamp)


def at_head_time() -> int:
    """Stamp the next block with the head's timestamp: the next transaction sees the views now."""
    now = head_time()
    chain.pending_timestamp = now
    return now


def at_time(timestamp: int) -> int:
    chain.pending_timestamp = timestamp
    return timestamp


# ----------------------------------------------------------------------------------- the mirror
Books = VaultBooks


def rate_model_of(vault: Any) -> RateModel:
    m = vault.rateModel()
    return RateModel(int(m.baseRate), int(m.slope1), int(m.slope2), int(m.kink))


def read_books(vault: Any) -> Books:
    """Books accrued to the head block's timestamp."""
    return Books(
        cash=int(vault.cash()),
        borrows=int(vault.totalBorrows()),
        insurance=int(vault.insuranceFund()),
        index=int(vault.borrowIndex()),
    )


# ------------------------------------------------------------------------------- state snapshots
def vault_state(asset: Any, *holders: Any) -> dict[str, Any]:
    """Everything a failed call must leave untouched."""
    vault, token = asset.vault, asset.token
    state: dict[str, Any] = {
        "books": read_books(vault),
        "total_assets": int(vault.totalAssets()),
        "supply": int(vault.totalSupply()),
        "vault_tokens": int(token.balanceOf(vault)),
        "model": rate_model_of(vault),
        "reserve_factor": int(vault.reserveFactor()),
        "rate": int(vault.borrowRatePerSecond()),
    }
    for h in holders:
        state[f"shares:{norm_checksum(h)}"] = int(vault.balanceOf(h))
        state[f"tokens:{norm_checksum(h)}"] = int(token.balanceOf(h))
    return state


# ------------------------------------------------------------------------------------- fixtures
def collateral_for(system: Any, asset: Any) -> tuple[Any, str]:
    """About $6M of collateral in another asset (an account cannot borrow its own collateral)."""
    if asset.symbol == "USDC":
        return system.asset("WETH"), "2000"
    return system.asset("USDC"), "6000000"


def open_borrow(
    act: Any, system: Any, asset: Any, lender: Any, trader: Any, lent: int, borrowed: int
) -> Any:
    """Lender deposits `lent`; the trader posts collateral and borrows `borrowed` (base units)."""
    act.lend(asset, lender, lent)
    collateral, qty = collateral_for(system, asset)
    act.deposit(collateral, trader, qty)
    return act.borrow(asset, trader, borrowed)


@pytest.fixture
def lent_out(any_asset, act, system, lender, trader):
    """60% of the vault lent out, 30 days of interest accrued and stored."""
    lent = amount(any_asset, LEND[any_asset.symbol])
    receipt = open_borrow(act, system, any_asset, lender, trader, lent, lent * 6 // 10)
    at_time(block_time(receipt) + 30 * DAY)
    any_asset.vault.accrueInterest(sender=lender)
    assert int(any_asset.vault.totalAssets()) > lent
    return any_asset


@pytest.fixture
def usdc_market(usdc, act, system, lender, trader):
    """USDC vault with 1,000,000 lent and 600,000 borrowed (no time elapsed)."""
    lent = amount(usdc, LEND["USDC"])
    open_borrow(act, system, usdc, lender, trader, lent, lent * 6 // 10)
    return usdc


@pytest.fixture
def ma_signer(accounts, ma):
    """The MarginAccount address, impersonated, to call MarginAccount-only entry points."""
    chain.set_balance(ma.address, 10**20)
    return accounts[ma.address]


# ============================================================================ ERC-4626 lender flows
def test_deposit__empty_vault__mints_offset_scaled_shares_and_emits_deposit(
    any_asset, act, lender, stranger
):
    vault, token = any_asset.vault, any_asset.token
    units = act.fund(any_asset, lender, "1234.5", spender=vault)

    receipt = vault.deposit(units, stranger, sender=lender)

    shares = units * OFFSET
    assert logs(receipt, vault, "Deposit") == [
        {"sender": lender.address, "owner": stranger.address, "assets": units, "shares": shares}
    ]
    assert int(vault.balanceOf(stranger)) == shares
    assert int(vault.balanceOf(lender)) == 0
    assert int(vault.totalSupply()) == shares
    assert int(vault.totalAssets()) == units
    assert int(vault.cash()) == units == int(token.balanceOf(vault))
    assert int(token.balanceOf(lender)) == 0


def test_deposit__after_interest__mints_floor_shares_at_current_price(lent_out, act, stranger):
    vault, token = lent_out.vault, lent_out.token
    units = act.fund(lent_out, stranger, "3.333333", spender=vault)
    before = read_books(vault)
    supply, total = int(vault.totalSupply()), int(vault.totalAssets())
    at_head_time()

    receipt = vault.deposit(units, stranger, sender=stranger)

    shares = to_shares(units, supply, total)
    assert shares < units * OFFSET  # a share is worth more than at launch
    assert logs(receipt, vault, "Deposit") == [
        {"sender": stranger.address, "owner": stranger.address, "assets": units, "shares": shares}
    ]
    assert int(vault.balanceOf(stranger)) == shares
    assert int(vault.totalAssets()) == total + units
    assert read_books(vault) == replace(before, cash=before.cash + units)
    assert int(token.balanceOf(vault)) == before.cash + units


def test_mint__fractional_shares__pulls_ceil_assets_and_emits_deposit(any_asset, act, lender):
    vault, token = any_asset.vault, any_asset.token
    shares = 5 * 10 ** (any_asset.decimals + 6) + 1  # one share unit above 5 whole assets
    assets = 5 * 10**any_asset.decimals + 1  # ceil(shares / 10**6)
    act.fund(any_asset, lender, assets, spender=vault)

    receipt = vault.mint(shares, lender, sender=lender)

    assert logs(receipt, vault, "Deposit") == [
        {"sender": lender.address, "owner": lender.address, "assets": assets, "shares": shares}
    ]
    assert int(token.balanceOf(lender)) == 0
    assert int(vault.balanceOf(lender)) == shares
    assert int(vault.cash()) == assets == int(token.balanceOf(vault))
    assert int(vault.totalAssets()) == assets


def test_mint__after_interest__pulls_ceil_assets(lent_out, act, stranger):
    vault, token = lent_out.vault, lent_out.token
    act.fund(lent_out, stranger, "10", spender=vault)
    funded = int(token.balanceOf(stranger))
    supply, total, cash = int(vault.totalSupply()), int(vault.totalAssets()), int(vault.cash())
    shares = 10 ** (lent_out.decimals + 6) + 12_345
    at_head_time()

    receipt = vault.mint(shares, stranger, sender=stranger)

    assets = to_assets(shares, supply, total, up=True)
    assert logs(receipt, vault, "Deposit") == [
        {"sender": stranger.address, "owner": stranger.address, "assets": assets, "shares": shares}
    ]
    assert int(token.balanceOf(stranger)) == funded - assets
    assert int(vault.balanceOf(stranger)) == shares
    assert int(vault.cash()) == cash + assets == int(token.balanceOf(vault))


def test_withdraw__after_interest__burns_ceil_shares_and_emits_withdraw(lent_out, lender, stranger):
    vault, token = lent_out.vault, lent_out.token
    before = read_books(vault)
    supply, total = int(vault.totalSupply()), int(vault.totalAssets())
    held = int(vault.balanceOf(lender))
    assets = before.cash // 3
    at_head_time()

    receipt = vault.withdraw(assets, stranger, lender, sender=lender)

    shares = to_shares(assets, supply, total, up=True)
    assert logs(receipt, vault, "Withdraw") == [
        {
            "sender": lender.address,
            "receiver": stranger.address,
            "owner": lender.address,
            "assets": assets,
            "shares": shares,
        }
    ]
    assert int(vault.balanceOf(lender)) == held - shares
    assert int(vault.totalSupply()) == supply - shares
    assert int(token.balanceOf(stranger)) == assets
    assert read_books(vault) == replace(before, cash=before.cash - assets)
    assert int(token.balanceOf(vault)) == before.cash - assets
    assert int(vault.totalAssets()) == total - assets


def test_redeem__after_interest__returns_floor_assets_and_emits_withdraw(lent_out, lender):
    vault, token = lent_out.vault, lent_out.token
    before = read_books(vault)
    supply, total = int(vault.totalSupply()), int(vault.totalAssets())
    shares = int(vault.balanceOf(lender)) // 5
    at_head_time()

    receipt = vault.redeem(shares, lender, lender, sender=lender)

    assets = to_assets(shares, supply, total)
    assert assets > shares // OFFSET  # interest earned
    assert logs(receipt, vault, "Withdraw") == [
        {
            "sender": lender.address,
            "receiver": lender.address,
            "owner": lender.address,
            "assets": assets,
            "shares": shares,
        }
    ]
    assert int(token.balanceOf(lender)) == assets
    assert read_books(vault) == replace(before, cash=before.cash - assets)
    assert int(token.balanceOf(vault)) == before.cash - assets


def test_redeem__all_shares_no_borrows__returns_every_asset(any_asset, act, lender):
    vault, token = any_asset.vault, any_asset.token
    shares = act.lend(any_asset, lender, "777.25")
    units = amount(any_asset, "777.25")

    receipt = vault.redeem(shares, lender, lender, sender=lender)

    assert logs(receipt, vault, "Withdraw")[0]["assets"] == units
    assert int(token.balanceOf(lender)) == units
    assert int(vault.totalSupply()) == 0
    assert int(vault.cash()) == 0 == int(token.balanceOf(vault))


def test_redeem__spender_without_allowance__reverts_insufficient_allowance_and_keeps_state(
    any_asset, act, lender, stranger
):
    vault = any_asset.vault
    shares = act.lend(any_asset, lender, "100")
    before = vault_state(any_asset, lender, stranger)

    with reverts_with(
        vault, "ERC20InsufficientAllowance", spender=stranger, allowance=0, needed=shares
    ):
        vault.redeem(shares, stranger, lender, sender=stranger)

    assert vault_state(any_asset, lender, stranger) == before


# ========================================================================== idle-cash withdraw caps
def test_max_withdraw__funds_lent_out__capped_by_idle_cash(lent_out, lender):
    vault = lent_out.vault
    cash = int(vault.cash())
    supply, total = int(vault.totalSupply()), int(vault.totalAssets())
    own_assets = to_assets(int(vault.balanceOf(lender)), supply, total)
    assert own_assets > cash
    assert cash == int(lent_out.token.balanceOf(vault))

    assert int(vault.maxWithdraw(lender)) == cash
    assert int(vault.maxRedeem(lender)) == to_shares(cash, supply, total)
    assert int(vault.maxRedeem(lender)) < int(vault.balanceOf(lender))


def test_max_withdraw__small_lender__not_capped(lent_out, act, stranger):
    vault = lent_out.vault
    shares = act.lend(lent_out, stranger, "0.5")
    supply, total = int(vault.totalSupply()), int(vault.totalAssets())

    assert int(vault.maxRedeem(stranger)) == shares
    assert int(vault.maxWithdraw(stranger)) == to_assets(shares, supply, total)
    assert int(vault.maxWithdraw(stranger)) < int(vault.cash())


def test_withdraw__exactly_max_withdraw__drains_idle_cash(lent_out, lender):
    vault, token = lent_out.vault, lent_out.token
    before = read_books(vault)
    max_assets = int(vault.maxWithdraw(lender))
    at_head_time()

    vault.withdraw(max_assets, lender, lender, sender=lender)

    assert int(token.balanceOf(lender)) == max_assets == before.cash
    assert read_books(vault) == replace(before, cash=0)
    assert int(token.balanceOf(vault)) == 0
    assert int(vault.maxWithdraw(lender)) == 0
    assert int(vault.maxRedeem(lender)) == 0
    assert int(vault.balanceOf(lender)) > 0  # the lent-out part stays as shares


def test_withdraw__above_max_withdraw__reverts_exceeded_max_withdraw_and_keeps_state(
    lent_out, lender
):
    vault = lent_out.vault
    cash = int(vault.cash())
    before = vault_state(lent_out, lender)

    with reverts_with(vault, "ERC4626ExceededMaxWithdraw", owner=lender, assets=cash + 1, max=cash):
        vault.withdraw(cash + 1, lender, lender, sender=lender)

    assert vault_state(lent_out, lender) == before


def test_redeem__above_max_redeem__reverts_exceeded_max_redeem_and_keeps_state(lent_out, lender):
    vault = lent_out.vault
    max_shares = int(vault.maxRedeem(lender))
    before = vault_state(lent_out, lender)

    with reverts_with(
        vault, "ERC4626ExceededMaxRedeem", owner=lender, shares=max_shares + 1, max=max_shares
    ):
        vault.redeem(max_shares + 1, lender, lender, sender=lender)

    assert vault_state(lent_out, lender) == before


# =========================================================================== inflation attack
@pytest.mark.parametrize("decimals", [6, 18])
def test_inflation_attack__donation_before_victim_deposit__victim_whole_attacker_loses(
    deployer, lender, stranger, decimals
):
    token = project.MockERC20.deploy("Fresh", "FRSH", decimals, sender=deployer)
    vault = project.Vault.deploy(
        token,
        "Fresh Vault",
        "fvFRSH",
        deployer,  # any non-zero borrower: no borrows here
        deployer,
        (0, 4 * 10**16, 75 * 10**16, 8 * 10**17),
        10**17,
        sender=deployer,
    )
    attacker, victim = stranger, lender
    one = 10**decimals
    donation, deposit = 10_000 * one, 1_000 * one
    for who, units in ((attacker, 1 + donation), (victim, deposit)):
        token.mint(who, units, sender=deployer)
        token.approve(vault, MAX_UINT, sender=who)

    vault.deposit(1, attacker, sender=attacker)
    attacker_shares = int(vault.balanceOf(attacker))
    price_before = int(vault.convertToAssets(10 ** int(vault.decimals())))
    token.transfer(vault, donation, sender=attacker)

    assert attacker_shares == OFFSET
    assert int(vault.totalAssets()) == 1 == int(vault.cash())  # the donation is not an asset
    assert int(token.balanceOf(vault)) == 1 + donation
    assert int(vault.convertToAssets(10 ** int(vault.decimals()))) == price_before == one

    receipt = vault.deposit(deposit, victim, sender=victim)

    victim_shares = deposit * OFFSET  # exactly what an undisturbed vault would mint
    assert logs(receipt, vault, "Deposit")[0]["shares"] == victim_shares
    assert int(vault.balanceOf(victim)) == victim_shares
    assert int(vault.previewRedeem(victim_shares)) == deposit
    assert int(vault.previewRedeem(attacker_shares)) == 1

    vault.redeem(victim_shares, victim, victim, sender=victim)
    vault.redeem(attacker_shares, attacker, attacker, sender=attacker)

    assert int(token.balanceOf(victim)) == deposit  # lost nothing
    assert int(token.balanceOf(attacker)) == 1  # got its 1 wei back, the donation is gone
    assert int(vault.totalSupply()) == 0
    assert int(vault.cash()) == 0
    assert int(token.balanceOf(vault)) == donation  # stranded outside the books


# ======================================================================= interest rate and accrual
def _borrow_for(region: str, lent: int, kink: int) -> int:
    if region == "below":
        return lent * kink // WAD // 2
    if region == "at":
        return lent * kink // WAD
    return lent * (kink + (WAD - kink) // 2) // WAD


@pytest.mark.parametrize("region", ["below", "at", "above"])
def test_borrow_rate__utilization_vs_kink__matches_kinked_model(
    any_asset, act, system, lender, trader, region
):
    vault = any_asset.vault
    model = rate_model_of(vault)
    assert model == RateModel(*any_asset.spec.rate_model.as_tuple())
    lent = amount(any_asset, LEND[any_asset.symbol])
    borrowed = _borrow_for(region, lent, model.kink)

    open_borrow(act, system, any_asset, lender, trader, lent, borrowed)

    util = mul_div_down(borrowed, WAD, lent)
    assert int(vault.utilization()) == util
    if region == "below":
        assert util < model.kink
        annual = model.base + mul_div_up(model.slope1, util, model.kink)
    elif region == "at":
        assert util == model.kink
        annual = model.base + model.slope1
    else:
        assert util > model.kink
        annual = model.base + model.slope1 + model.slope2 // 2  # halfway up the steep slope
    assert int(vault.borrowRatePerSecond()) == -(-annual // SECONDS_PER_YEAR)
    assert int(vault.borrowRatePerSecond()) == rate_per_second(model, util)


def test_borrow_rate__empty_vault__is_base_rate(any_asset):
    model = rate_model_of(any_asset.vault)

    assert int(any_asset.vault.utilization()) == 0
    assert int(any_asset.vault.borrowRatePerSecond()) == rate_per_second(model, 0)
    assert int(any_asset.vault.borrowRatePerSecond()) == -(-model.base // SECONDS_PER_YEAR)


@pytest.mark.parametrize("region", ["below", "above"])
def test_accrue__time_passes__books_match_python_mirror(
    any_asset, act, system, lender, trader, stranger, region
):
    vault = any_asset.vault
    model = rate_model_of(vault)
    rf = int(vault.reserveFactor())
    assert rf == any_asset.spec.reserve_factor
    lent = amount(any_asset, LEND[any_asset.symbol])
    borrowed = _borrow_for(region, lent, model.kink)
    t0 = block_time(open_borrow(act, system, any_asset, lender, trader, lent, borrowed))
    stored = read_books(vault)
    assert stored == Books(cash=lent - borrowed, borrows=borrowed, insurance=0, index=WAD)

    # Views accrue without writing: 30 days later.
    chain.mine(1, timestamp=t0 + 30 * DAY)
    viewed, interest, to_insurance = accrue(stored, model, rf, 30 * DAY)
    assert interest > 0 and to_insurance == interest * rf // WAD
    assert read_books(vault) == viewed
    assert int(vault.totalAssets()) == viewed.lender_assets
    assert int(vault.borrowRatePerSecond()) == rate_per_second(
        model, utilization(viewed.cash, viewed.borrows)
    )  # like every view, the rate reads the books accrued up to now

    # Accrual transactions compound from the stored books; 1 second may floor interest to zero.
    last = t0
    insured = 0
    for elapsed in (30 * DAY + 3600, 1, 17, 365 * DAY):
        expected, interest, to_insurance = accrue(stored, model, rf, elapsed)
        last = at_time(last + elapsed)

        receipt = vault.accrueInterest(sender=stranger)

        assert block_time(receipt) == last
        want = (
            [
                {
                    "interest": interest,
                    "toInsurance": to_insurance,
                    "borrowIndex": expected.index,
                    "totalBorrows": expected.borrows,
                }
            ]
            if interest > 0
            else []
        )
        assert logs(receipt, vault, "InterestAccrued") == want
        assert read_books(vault) == expected
        assert expected.index > stored.index  # the index always grows (rounded up)
        stored = expected
        insured += to_insurance

    assert stored.insurance == insured
    assert int(vault.totalAssets()) == stored.cash + stored.borrows - insured
    assert int(vault.cash()) == lent - borrowed == int(any_asset.token.balanceOf(vault))


def test_accrue__no_borrows__time_passes_without_interest(any_asset, act, lender, stranger):
    vault = any_asset.vault
    act.lend(any_asset, lender, "50")
    before = read_books(vault)
    at_time(head_time() + 365 * DAY)

    receipt = vault.accrueInterest(sender=stranger)

    assert logs(receipt, vault, "InterestAccrued") == []
    assert read_books(vault) == before == Books(amount(any_asset, "50"), 0, 0, WAD)


def test_accrue__twice_in_one_block_time__second_is_noop(usdc_market, stranger):
    vault = usdc_market.vault
    t = at_time(head_time() + 10 * DAY)
    first = vault.accrueInterest(sender=stranger)
    books = read_books(vault)
    at_time(t)

    second = vault.accrueInterest(sender=stranger)

    assert len(logs(first, vault, "InterestAccrued")) == 1
    assert block_time(second) == block_time(first)
    assert logs(second, vault, "InterestAccrued") == []
    assert read_books(vault) == books


def test_share_price__offset_six__one_whole_share_tracks_one_whole_asset(
    any_asset, act, system, lender, trader
):
    vault = any_asset.vault
    share_decimals = int(vault.decimals())
    one_share, one_asset = 10**share_decimals, 10**any_asset.decimals
    assert (
        share_decimals
        == any_asset.decimals + 6
        == any_asset.decimals + int(vault.DECIMALS_OFFSET())
    )
    assert int(vault.convertToAssets(one_share)) == one_asset  # empty vault
    assert int(vault.convertToShares(one_asset)) == one_share

    lent = amount(any_asset, LEND[any_asset.symbol])
    receipt = open_borrow(act, system, any_asset, lender, trader, lent, lent // 2)
    assert int(vault.convertToAssets(one_share)) == one_asset  # deposits do not move the price

    chain.mine(1, timestamp=block_time(receipt) + 90 * DAY)
    supply, total = int(vault.totalSupply()), int(vault.totalAssets())
    price = int(vault.convertToAssets(one_share))
    assert price == to_assets(one_share, supply, total)
    assert price > one_asset


# =================================================================================== rate admin
def test_set_rate_model__open_borrows__accrues_at_old_model_then_switches(usdc_market, deployer):
    vault = usdc_market.vault
    old, rf = rate_model_of(vault), int(vault.reserveFactor())
    new = RateModel(10**16, 5 * 10**16, 10**18, 9 * 10**17)
    stored = read_books(vault)
    at_time(head_time() + 10 * DAY)

    receipt = vault.setRateModel(new.as_tuple(), sender=deployer)

    expected, interest, to_insurance = accrue(stored, old, rf, 10 * DAY)
    assert event_names(receipt, vault) == ["InterestAccrued", "RateModelSet"]
    assert logs(receipt, vault, "InterestAccrued") == [
        {
            "interest": interest,
            "toInsurance": to_insurance,
            "borrowIndex": expected.index,
            "totalBorrows": expected.borrows,
        }
    ]
    assert logs(receipt, vault, "RateModelSet") == [
        {"baseRate": new.base, "slope1": new.slope1, "slope2": new.slope2, "kink": new.kink}
    ]
    assert rate_model_of(vault) == new
    assert read_books(vault) == expected
    assert int(vault.borrowRatePerSecond()) == rate_per_second(
        new, utilization(expected.cash, expected.borrows)
    )


def test_set_rate_model__sum_exactly_max_borrow_rate__accepted(usdc, deployer):
    vault = usdc.vault
    assert int(vault.MAX_BORROW_RATE()) == MAX_BORROW_RATE
    new = RateModel(2 * WAD, 3 * WAD, 5 * WAD, WAD // 2)

    receipt = vault.setRateModel(new.as_tuple(), sender=deployer)

    assert len(logs(receipt, vault, "RateModelSet")) == 1
    assert rate_model_of(vault) == new
    assert int(vault.borrowRatePerSecond()) == -(-2 * WAD // SECONDS_PER_YEAR)


@pytest.mark.parametrize(
    "bad",
    [
        RateModel(0, 4 * 10**16, 75 * 10**16, 0),
        RateModel(0, 4 * 10**16, 75 * 10**16, WAD),
        RateModel(0, 4 * 10**16, 75 * 10**16, WAD + 1),
        RateModel(1, 4 * WAD, 6 * WAD, 8 * 10**17),
    ],
    ids=["kink_zero", "kink_one", "kink_above_one", "sum_above_max"],
)
def test_set_rate_model__out_of_bounds__reverts_invalid_rate_model_and_keeps_model(
    usdc_market, deployer, bad
):
    before = vault_state(usdc_market)

    with reverts_with(usdc_market.vault, "InvalidRateModel"):
        usdc_market.vault.setRateModel(bad.as_tuple(), sender=deployer)

    assert vault_state(usdc_market) == before


def test_set_rate_model__stranger__reverts_unauthorized_and_keeps_model(usdc, stranger):
    vault = usdc.vault
    before = vault_state(usdc)

    with reverts_with(
        vault,
        "AccessControlUnauthorizedAccount",
        account=stranger,
        neededRole=vault.RISK_ADMIN_ROLE(),
    ):
        vault.setRateModel((0, 0, 0, WAD // 2), sender=stranger)

    assert vault_state(usdc) == before


def test_set_reserve_factor__open_borrows__accrues_at_old_factor_then_switches(
    usdc_market, deployer, stranger
):
    vault = usdc_market.vault
    model, old_rf = rate_model_of(vault), int(vault.reserveFactor())
    stored = read_books(vault)
    t = at_time(head_time() + 10 * DAY)

    receipt = vault.setReserveFactor(MAX_RESERVE_FACTOR, sender=deployer)

    expected, interest, to_insurance = accrue(stored, model, old_rf, 10 * DAY)
    assert event_names(receipt, vault) == ["InterestAccrued", "ReserveFactorSet"]
    assert logs(receipt, vault, "InterestAccrued")[0]["toInsurance"] == to_insurance
    assert logs(receipt, vault, "ReserveFactorSet") == [{"reserveFactor": MAX_RESERVE_FACTOR}]
    assert int(vault.reserveFactor()) == MAX_RESERVE_FACTOR
    assert read_books(vault) == expected

    at_time(t + 10 * DAY)
    receipt = vault.accrueInterest(sender=stranger)

    later, interest, to_insurance = accrue(expected, model, MAX_RESERVE_FACTOR, 10 * DAY)
    assert to_insurance == interest // 2
    assert logs(receipt, vault, "InterestAccrued")[0]["toInsurance"] == to_insurance
    assert read_books(vault) == later


def test_set_reserve_factor__above_max__reverts_invalid_reserve_factor_and_keeps_it(usdc, deployer):
    vault = usdc.vault
    assert int(vault.MAX_RESERVE_FACTOR()) == MAX_RESERVE_FACTOR
    before = vault_state(usdc)

    with reverts_with(vault, "InvalidReserveFactor", reserveFactor=MAX_RESERVE_FACTOR + 1):
        vault.setReserveFactor(MAX_RESERVE_FACTOR + 1, sender=deployer)

    assert vault_state(usdc) == before


def test_set_reserve_factor__zero__accepted_and_emits(usdc, deployer):
    receipt = usdc.vault.setReserveFactor(0, sender=deployer)

    assert logs(receipt, usdc.vault, "ReserveFactorSet") == [{"reserveFactor": 0}]
    assert int(usdc.vault.reserveFactor()) == 0


def test_set_reserve_factor__stranger__reverts_unauthorized_and_keeps_it(usdc, stranger):
    vault = usdc.vault
    before = vault_state(usdc)

    with reverts_with(
        vault,
        "AccessControlUnauthorizedAccount",
        account=stranger,
        neededRole=vault.RISK_ADMIN_ROLE(),
    ):
        vault.setReserveFactor(0, sender=stranger)

    assert vault_state(usdc) == before


def test_risk_admin_role__granted__sets_rate_model_but_cannot_withdraw_insurance(
    usdc, act, deployer, keeper
):
    vault = usdc.vault
    vault.grantRole(vault.RISK_ADMIN_ROLE(), keeper, sender=deployer)
    act.fund(usdc, deployer, "100", spender=vault)
    vault.fundInsurance(amount(usdc, "100"), sender=deployer)
    new = RateModel(0, 10**16, 10**17, WAD // 2)

    vault.setRateModel(new.as_tuple(), sender=keeper)
    before = vault_state(usdc, keeper)
    with reverts_with(
        vault, "AccessControlUnauthorizedAccount", account=keeper, neededRole=DEFAULT_ADMIN_ROLE
    ):
        vault.withdrawInsurance(1, keeper, sender=keeper)

    assert rate_model_of(vault) == new
    assert vault_state(usdc, keeper) == before


# =================================================================================== insurance
def test_fund_insurance__any_caller__grows_fund_and_cash_not_lender_assets(
    any_asset, act, lender, stranger
):
    vault, token = any_asset.vault, any_asset.token
    lent = amount(any_asset, "1000")
    act.lend(any_asset, lender, lent)
    funded = act.fund(any_asset, stranger, "100", spender=vault)
    one_share = 10 ** int(vault.decimals())
    price = int(vault.convertToAssets(one_share))

    receipt = vault.fundInsurance(funded, sender=stranger)

    assert logs(receipt, vault, "InsuranceFunded") == [
        {"from": stranger.address, "assets": funded, "insuranceFund": funded}
    ]
    assert read_books(vault) == Books(cash=lent + funded, borrows=0, insurance=funded, index=WAD)
    assert int(vault.totalAssets()) == lent
    assert int(vault.convertToAssets(one_share)) == price
    assert int(token.balanceOf(vault)) == lent + funded
    assert int(token.balanceOf(stranger)) == 0


def test_fund_insurance__zero__reverts_zero_amount_and_keeps_state(usdc, act, stranger):
    act.fund(usdc, stranger, "1", spender=usdc.vault)
    before = vault_state(usdc, stranger)

    with reverts_with(usdc.vault, "ZeroAmount"):
        usdc.vault.fundInsurance(0, sender=stranger)

    assert vault_state(usdc, stranger) == before


def test_withdraw_insurance__admin__pays_receiver_and_emits(any_asset, act, deployer, keeper):
    vault, token = any_asset.vault, any_asset.token
    act.lend(any_asset, deployer, "500")
    funded = act.fund(any_asset, deployer, "100", spender=vault)
    vault.fundInsurance(funded, sender=deployer)
    before = read_books(vault)
    total = int(vault.totalAssets())
    taken = funded // 4 + 1

    receipt = vault.withdrawInsurance(taken, keeper, sender=deployer)

    assert logs(receipt, vault, "InsuranceWithdrawn") == [
        {"to": keeper.address, "assets": taken, "insuranceFund": funded - taken}
    ]
    assert int(token.balanceOf(keeper)) == taken
    assert read_books(vault) == replace(before, cash=before.cash - taken, insurance=funded - taken)
    assert int(vault.totalAssets()) == total
    assert int(token.balanceOf(vault)) == before.cash - taken


def test_withdraw_insurance__more_than_fund__reverts_insufficient_insurance_and_keeps_state(
    usdc, act, deployer, lender, keeper
):
    vault = usdc.vault
    act.lend(usdc, lender, "1000")
    funded = act.fund(usdc, deployer, "100", spender=vault)
    vault.fundInsurance(funded, sender=deployer)
    before = vault_state(usdc, keeper)

    with reverts_with(vault, "InsufficientInsurance", available=funded, requested=funded + 1):
        vault.withdrawInsurance(funded + 1, keeper, sender=deployer)

    assert vault_state(usdc, keeper) == before


def test_withdraw_insurance__fund_lent_out__capped_by_idle_cash(
    usdc, act, system, deployer, lender, trader, keeper
):
    vault, token = usdc.vault, usdc.token
    funded = act.fund(usdc, deployer, "100", spender=vault)
    vault.fundInsurance(funded, sender=deployer)
    lent, borrowed = amount(usdc, "1000"), amount(usdc, "1050")
    open_borrow(act, system, usdc, lender, trader, lent, borrowed)
    cash = int(vault.cash())
    assert cash == amount(usdc, "50") < int(vault.insuranceFund())
    before = vault_state(usdc, keeper)

    with reverts_with(vault, "InsufficientInsurance", available=cash, requested=cash + 1):
        vault.withdrawInsurance(cash + 1, keeper, sender=deployer)
    assert vault_state(usdc, keeper) == before

    insurance = int(vault.insuranceFund())
    at_head_time()
    receipt = vault.withdrawInsurance(cash, keeper, sender=deployer)

    assert logs(receipt, vault, "InsuranceWithdrawn") == [
        {"to": keeper.address, "assets": cash, "insuranceFund": insurance - cash}
    ]
    assert int(vault.cash()) == 0 == int(token.balanceOf(vault))
    assert int(token.balanceOf(keeper)) == cash


@pytest.mark.parametrize(
    ("assets", "to_zero", "error"),
    [(0, False, "ZeroAmount"), (1, True, "ZeroAddress"), (0, True, "ZeroAmount")],
    ids=["zero_amount", "zero_address", "both_amount_first"],
)
def test_withdraw_insurance__zero_input__reverts_and_keeps_state(
    usdc, act, deployer, keeper, assets, to_zero, error
):
    vault = usdc.vault
    act.fund(usdc, deployer, "100", spender=vault)
    vault.fundInsurance(amount(usdc, "100"), sender=deployer)
    before = vault_state(usdc, keeper)

    with reverts_with(vault, error):
        vault.withdrawInsurance(assets, ZERO_ADDRESS if to_zero else keeper, sender=deployer)

    assert vault_state(usdc, keeper) == before


def test_withdraw_insurance__stranger__reverts_unauthorized_and_keeps_state(
    usdc, act, deployer, stranger
):
    vault = usdc.vault
    act.fund(usdc, deployer, "100", spender=vault)
    vault.fundInsurance(amount(usdc, "100"), sender=deployer)
    before = vault_state(usdc, stranger)

    with reverts_with(
        vault,
        "AccessControlUnauthorizedAccount",
        account=stranger,
        neededRole=DEFAULT_ADMIN_ROLE,
    ):
        vault.withdrawInsurance(1, stranger, sender=stranger)

    assert vault_state(usdc, stranger) == before


# ============================================================================ MarginAccount only
@pytest.mark.parametrize("caller_name", ["stranger", "deployer"])
@pytest.mark.parametrize("call", ["borrow", "repay", "repayLiquidation", "realizeBadDebt"])
def test_margin_account_entry__other_caller__reverts_not_margin_account_and_keeps_state(
    usdc_market, request, call, caller_name
):
    vault = usdc_market.vault
    caller = request.getfixturevalue(caller_name)
    args: dict[str, tuple[Any, ...]] = {
        "borrow": (1, caller),
        "repay": (1,),
        "repayLiquidation": (1, 1, 0, caller),
        "realizeBadDebt": (1,),
    }
    before = vault_state(usdc_market, caller)

    with reverts_with(vault, "NotMarginAccount", caller=caller):
        getattr(vault, call)(*args[call], sender=caller)

    assert vault_state(usdc_market, caller) == before


def test_borrow__margin_account_above_cash__reverts_insufficient_cash(usdc_market, ma_signer):
    vault = usdc_market.vault
    cash = int(vault.cash())
    before = vault_state(usdc_market, ma_signer)

    with reverts_with(vault, "InsufficientCash", available=cash, requested=cash + 1):
        vault.borrow(cash + 1, ma_signer, sender=ma_signer)

    assert vault_state(usdc_market, ma_signer) == before


def test_borrow__margin_account__moves_cash_to_borrows_and_emits(usdc_market, ma_signer, keeper):
    vault, token = usdc_market.vault, usdc_market.token
    before = read_books(vault)
    at_head_time()

    receipt = vault.borrow(1_234, keeper, sender=ma_signer)

    assert logs(receipt, vault, "Borrowed") == [
        {"receiver": keeper.address, "assets": 1_234, "totalBorrows": before.borrows + 1_234}
    ]
    assert read_books(vault) == replace(
        before, cash=before.cash - 1_234, borrows=before.borrows + 1_234
    )
    assert int(token.balanceOf(keeper)) == 1_234
    assert int(token.balanceOf(vault)) == before.cash - 1_234


def test_repay__more_than_total_borrows__clears_borrows_and_keeps_excess_as_cash(
    usdc_market, ma_signer
):
    vault = usdc_market.vault
    before = read_books(vault)
    total = int(vault.totalAssets())
    paid = before.borrows + 7
    at_head_time()

    receipt = vault.repay(paid, sender=ma_signer)

    assert logs(receipt, vault, "Repaid") == [{"assets": paid, "totalBorrows": 0}]
    assert logs(receipt, vault, "InsuranceFunded") == []  # no fee, no insurance event
    assert read_books(vault) == replace(before, cash=before.cash + paid, borrows=0)
    assert int(vault.totalAssets()) == total + 7  # the excess belongs to the lenders


def test_realize_bad_debt__fund_too_small__insurance_first_then_lenders(
    usdc_market, act, ma_signer, stranger
):
    vault = usdc_market.vault
    funded = act.fund(usdc_market, stranger, "1000", spender=vault)
    vault.fundInsurance(funded, sender=stranger)
    before = read_books(vault)
    total = int(vault.totalAssets())
    loss = amount(usdc_market, "5000")
    at_head_time()

    receipt = vault.realizeBadDebt(loss, sender=ma_signer)

    # The fund is the top-up plus any reserve-factor interest accrued before it; all of it pays.
    fund = before.insurance
    assert funded <= fund < loss
    assert logs(receipt, vault, "BadDebtRealized") == [
        {"amount": loss, "coveredByInsurance": fund, "socialized": loss - fund}
    ]
    assert read_books(vault) == replace(before, borrows=before.borrows - loss, insurance=0)
    assert int(vault.totalAssets()) == total - (loss - fund)


def test_realize_bad_debt__above_total_borrows__writes_off_only_borrows(usdc_market, ma_signer):
    vault = usdc_market.vault
    before = read_books(vault)
    total = int(vault.totalAssets())
    at_head_time()

    receipt = vault.realizeBadDebt(before.borrows + 99, sender=ma_signer)

    covered = before.insurance
    assert logs(receipt, vault, "BadDebtRealized") == [
        {
            "amount": before.borrows,
            "coveredByInsurance": covered,
            "socialized": before.borrows - covered,
        }
    ]
    assert read_books(vault) == replace(before, borrows=0, insurance=0)
    assert int(vault.totalAssets()) == total - (before.borrows - covered)


@pytest.mark.parametrize(
    ("fee", "tip"), [(321, 0), (0, 250), (40, 250)], ids=["fee", "tip", "fee_and_tip"]
)
def test_repay_liquidation__fee_and_tip__books_repayment_fee_in_tip_out(
    usdc_market, act, ma_signer, keeper, stranger, fee, tip
):
    """The vault receives repay + fee - tip: borrows fall by repay, the insurance fund gains the
    fee and pays the tip, lenders' assets do not move."""
    vault = usdc_market.vault
    vault.fundInsurance(act.fund(usdc_market, stranger, 1_000, spender=vault), sender=stranger)
    before = read_books(vault)
    assert before.insurance >= tip
    total = int(vault.totalAssets())
    at_head_time()

    receipt = vault.repayLiquidation(1_000, fee, tip, keeper, sender=ma_signer)

    assert logs(receipt, vault, "LiquidationRepaid") == [
        {
            "payer": keeper.address,
            "repaid": 1_000,
            "insuranceFee": fee,
            "insuranceTip": tip,
            "totalBorrows": before.borrows - 1_000,
            "insuranceFund": before.insurance + fee - tip,
        }
    ]
    assert logs(receipt, vault, "Repaid") == logs(receipt, vault, "InsuranceFunded") == []
    assert read_books(vault) == replace(
        before,
        cash=before.cash + 1_000 + fee - tip,
        borrows=before.borrows - 1_000,
        insurance=before.insurance + fee - tip,
    )
    assert int(vault.totalAssets()) == total  # repaid debt became cash; fee and tip are insurance's


def test_fund_insurance__above_max_total_assets__reverts_and_keeps_state(usdc, act, stranger):
    """A donation to the insurance fund may not take the books past MAX_TOTAL_ASSETS either: the
    headroom above it is what keeps repayments and liquidations from overflowing."""
    vault = usdc.vault
    cap = int(vault.MAX_TOTAL_ASSETS())
    books = int(vault.cash()) + int(vault.totalBorrows())
    over = cap - books + 1
    act.fund(usdc, stranger, over, spender=vault)
    before = read_books(vault)
    with reverts_with(vault, "AboveMaxTotalAssets", total=cap + 1, max=cap):
        vault.fundInsurance(over, sender=stranger)
    assert read_books(vault) == before
    vault.fundInsurance(over - 1, sender=stranger)  # exactly to the bound: accepted


def test_repay_liquidation__tip_above_fund_and_fee__reverts_insufficient_insurance(
    usdc_market, ma_signer, keeper
):
    vault = usdc_market.vault
    before = read_books(vault)
    fund = before.insurance + 5
    with reverts_with(vault, "InsufficientInsurance", available=fund, requested=fund + 1):
        vault.repayLiquidation(1_000, 5, fund + 1, keeper, sender=ma_signer)
    assert read_books(vault) == before


# ------------------------------------------------------------------------------------------ skim
def test_skim__tokens_sent_outside_the_books__admin_recovers_them_books_unchanged(
    any_asset, act, lender, deployer, stranger
):
    vault, token = any_asset.vault, any_asset.token
    act.lend(any_asset, lender, "100")
    donated = act.mint(any_asset, stranger, "3")
    token.transfer(vault, donated, sender=stranger)
    before, total = read_books(vault), int(vault.totalAssets())
    admin_before = int(token.balanceOf(deployer))
    at_head_time()

    receipt = vault.skim(deployer, sender=deployer)

    assert logs(receipt, vault, "Skimmed") == [{"to": deployer.address, "assets": donated}]
    assert int(token.balanceOf(deployer)) == admin_before + donated
    assert read_books(vault) == before
    assert int(vault.totalAssets()) == total
    assert int(token.balanceOf(vault)) == before.cash


def test_skim__nothing_outside_the_books__reverts_zero_amount(any_asset, act, lender, deployer):
    act.lend(any_asset, lender, "100")
    before = read_books(any_asset.vault)
    with reverts_with(any_asset.vault, "ZeroAmount"):
        any_asset.vault.skim(deployer, sender=deployer)
    assert read_books(any_asset.vault) == before


def test_skim__by_stranger__reverts_access_control(any_asset, act, stranger):
    vault = any_asset.vault
    donated = act.mint(any_asset, stranger, "1")
    any_asset.token.transfer(vault, donated, sender=stranger)
    with reverts_with(
        vault, "AccessControlUnauthorizedAccount", account=stranger, neededRole=DEFAULT_ADMIN_ROLE
    ):
        vault.skim(stranger, sender=stranger)
    assert int(any_asset.token.balanceOf(vault)) == int(vault.cash()) + donated
