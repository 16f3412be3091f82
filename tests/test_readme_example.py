"""The README's worked margin example, checked on-chain to the wei."""

from solvent.units import to_wad


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
