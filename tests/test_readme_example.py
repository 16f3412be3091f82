"""The README's worked margin example, checked on-chain to the wei."""

from solvent.risk import WAD, mul_div_down, mul_div_up
from solvent.units import to_wad
from tests.utils.helpers import freeze_rates


def _open_readme_position(act, usdc, weth, lender, trader):
    act.lend(usdc, lender, "100000")
    act.deposit(weth, trader, "10")
    return act.borrow(usdc, trader, "20000")


def test_readme_example__10_weth_20000_usdc_debt__equity_imr_mmr_as_documented(
    act, ma, usdc, weth, lender, trader
):
    receipt = _open_readme_position(act, usdc, weth, lender, trader)
    # Read in the borrow's own block: no interest has accrued yet, so the numbers are exact.
    equity, imr, mmr, health = ma.accountHealth(trader, 0, block_id=receipt.block_number)
    assert (equity, imr, mmr) == (to_wad("10000"), to_wad("4400"), to_wad("2200"))
    assert health == to_wad("10000") * 10**18 // to_wad("2200")


def test_readme_example__eth_at_2171_vs_2170__liquidatable_only_below_threshold(
    act, ma, usdc, weth, lender, trader
):
    _open_readme_position(act, usdc, weth, lender, trader)
    act.set_price(weth, "2171")
    assert not ma.isLiquidatable(trader, 0)
    act.set_price(weth, "2170")
    assert ma.isLiquidatable(trader, 0)


def test_readme_liquidation_rules__example_at_2100__discount_seizure_fee_and_target_as_documented(
    act, ma, liquidator, usdc, weth, lender, trader, keeper
):
    """README, Liquidation: d = min(minDiscount + (maxDiscount - minDiscount) * (1 - H),
    H * (mmf_c + mmf_d) / (1 + H * mmf_d)) of the seized asset; seized = repaid / (1 - d) in USD;
    fee = insuranceShare * repaid * d / (1 - d) on top; no tip above minDiscount; one liquidation
    stops at targetHealth * MMR (1.05)."""
    for asset in (
        usdc,
        weth,
    ):  # no interest, from before the borrow: the README's numbers stay exact
        freeze_rates(asset, act.deployer)
    _open_readme_position(act, usdc, weth, lender, trader)
    act.set_price(weth, "2100")
    equity, _, mmr, health = ma.accountHealth(trader, 0)
    # E = 21,000 - 20,000 = 1,000; MMR = 0.06 * 21,000 + 0.02 * 20,000 = 1,660.
    assert (equity, mmr) == (to_wad("1000"), to_wad("1660"))
    assert health == to_wad("1000") * 10**18 // to_wad("1660") < 10**18

    repaid, seized, fee, tip, discount = liquidator.quote(
        trader, 0, usdc.token, weth.token, 2**256 - 1
    )

    cfg, usdc_cfg = ma.assetConfig(weth.token), ma.assetConfig(usdc.token)
    auction = cfg.minDiscount + mul_div_down(cfg.maxDiscount - cfg.minDiscount, WAD - health, WAD)
    preserving = mul_div_down(
        health, cfg.mmf + usdc_cfg.mmf, WAD + mul_div_up(health, usdc_cfg.mmf, WAD)
    )
    # At H = 0.60 the auction (3.39%) is below the health-preserving cap (4.76%).
    assert discount == auction < preserving
    assert tip == 0
    # seized value = repaid value / (1 - d), rounded down to a WETH unit ($2,100 per 1e18 units).
    repaid_value = repaid * 10**12  # USDC units -> USD WAD
    seized_value = seized * 2100
    assert 0 <= mul_div_down(repaid_value, WAD, WAD - discount) - seized_value < 2100
    assert fee == mul_div_up(
        mul_div_up(repaid, discount, WAD - discount), liquidator.insuranceShare(), WAD
    )

    act.fund(usdc, keeper, "20000")
    liquidator.liquidate(trader, 0, usdc.token, weth.token, 2**256 - 1, seized, b"", sender=keeper)

    equity, _, mmr, health = ma.accountHealth(trader, 0)
    target = liquidator.targetHealth()
    assert target == to_wad("1.05")
    assert not ma.isLiquidatable(trader, 0)
    assert equity * WAD >= target * mmr
    assert health < target + 10**12
