"""docs/liquidation.md's worked example, replayed on chain.

The example is the fenced block after the `<!-- worked-example: ... -->` comment, `key = value
[unit]` lines. Its inputs (collateral, debt, prices) set the chain up; its parameters must be what
config/local.yaml deploys; every result must equal what the chain computes, to the last digit
printed. When they differ, the failure shows the block as the chain computes it, ready to paste.
The discount-bound table (after `<!-- discount-bounds: ... -->`) must equal
MarginAccount.discountBound. So the doc and the engine cannot drift apart silently.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from solvent.risk import WAD, mul_div_down
from solvent.units import to_units, to_wad
from tests.utils.helpers import MAX_UINT, freeze_rates
from tests.utils.liquidation import liquidated

DOC = Path(__file__).resolve().parents[1] / "docs" / "liquidation.md"
LINE = re.compile(r"^(?P<key>[a-z_]+)\s*=\s*(?P<value>-?[0-9.]+)(?:\s+(?P<unit>[A-Z]+))?$")

Value = tuple[Decimal, str | None]  # number, unit (a token symbol, USD, or none for a factor)


def fenced_block(marker: str) -> list[str]:
    """Lines of the first fenced block after the `<!-- marker: ... -->` comment in the doc."""
    text = DOC.read_text()
    start = text.index(f"<!-- {marker}:")
    body = text.index("\n", text.index("```", start)) + 1
    return text[body : text.index("```", body)].splitlines()


def parse_example() -> dict[str, Value]:
    values: dict[str, Value] = {}
    for raw in fenced_block("worked-example"):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = LINE.match(line)
        assert m, f"unparseable line in the worked example: {raw!r}"
        assert m["key"] not in values, f"{m['key']} twice"
        values[m["key"]] = (Decimal(m["value"]), m["unit"])
    return values


def render(values: dict[str, Value]) -> str:
    width = max(map(len, values))
    return "\n".join(
        f"{k:<{width}} = {format(v.normalize(), 'f')}{' ' + u if u else ''}"
        for k, (v, u) in values.items()
    )


DOC_EXAMPLE = parse_example()


def doc_units(key: str, asset) -> int:
    value, unit = DOC_EXAMPLE[key]
    assert unit == asset.symbol, f"{key} should be in {asset.symbol}"
    return to_units(value, asset.decimals)


def doc_usd(key: str) -> Decimal:
    value, unit = DOC_EXAMPLE[key]
    assert unit == "USD", f"{key} should be in USD"
    return value


def tokens(units: int, asset) -> Value:
    return (Decimal(units) / Decimal(10) ** asset.decimals, asset.symbol)


def usd(value_wad: int) -> Value:
    return (Decimal(value_wad) / WAD, "USD")


def factor(value_wad: int) -> Value:
    return (Decimal(value_wad) / WAD, None)


@pytest.fixture(scope="module", autouse=True)
def chain_example(
    act, system, config, lender, deployer, trader, keeper, usdc, weth, ma, liquidator, oracle
) -> dict[str, Value]:
    """The example on a fresh deployment: borrow indices at 1.0 and the USDC vault's rates frozen
    before the borrow, so the debt is exactly what was borrowed (no interest at any time). Returns
    every line of the example block as the chain computes it."""
    act.lend(usdc, lender, "1000000")
    freeze_rates(usdc, deployer)
    act.set_price(weth, doc_usd("price_before"))
    act.deposit(weth, trader, doc_units("collateral", weth))
    act.borrow(usdc, trader, doc_units("debt", usdc))
    act.set_price(weth, doc_usd("price_after"))
    act.fund(usdc, keeper, "100000")
    price = act.price(weth)
    collateral = int(ma.balanceOf(trader, 0, weth.token))
    debt = -int(ma.balanceOf(trader, 0, usdc.token))
    equity, _, mmr, health = (int(v) for v in ma.accountHealth(trader, 0))
    repay, seize, fee, discount = (
        int(v) for v in liquidator.quote(trader, 0, usdc.token, weth.token, MAX_UINT)
    )

    tx = liquidator.liquidate(trader, 0, usdc.token, weth.token, MAX_UINT, 0, b"", sender=keeper)

    (event,) = liquidated(tx, ma)
    assert (event["repaid"], event["seized"], event["insuranceFee"], event["discount"]) == (
        repay,
        seize,
        fee,
        discount,
    )
    assert (event["health"], event["badDebt"]) == (health, 0)
    equity_after, _, mmr_after, health_after = (int(v) for v in ma.accountHealth(trader, 0))
    weth_cfg, usdc_cfg = ma.assetConfig(weth.token), ma.assetConfig(usdc.token)
    paid_usd = (repay + fee) * WAD // usdc.scale  # USDC at $1
    return {
        "collateral": tokens(collateral, weth),
        "debt": tokens(debt, usdc),
        "price_before": DOC_EXAMPLE["price_before"],  # an input: the account opened at it
        "price_after": usd(price),
        "mmf_weth": factor(int(weth_cfg.mmf)),
        "mmf_usdc": factor(int(usdc_cfg.mmf)),
        "min_discount_weth": factor(int(weth_cfg.minDiscount)),
        "max_discount_weth": factor(int(weth_cfg.maxDiscount)),
        "min_debt_value_usdc": usd(int(usdc_cfg.minDebtValue)),
        "insurance_share": factor(int(liquidator.insuranceShare())),
        "target_health": factor(int(liquidator.targetHealth())),
        "collateral_value": usd(mul_div_down(collateral, price, weth.scale)),
        "equity": usd(equity),
        "mmr": usd(mmr),
        "health": factor(health),
        "discount": factor(discount),
        "repay": tokens(repay, usdc),
        "seize": tokens(seize, weth),
        "insurance_fee": tokens(fee, usdc),
        "keeper_pays": tokens(repay + fee, usdc),
        "keeper_profit": usd(mul_div_down(seize, price, weth.scale) - paid_usd),
        "collateral_after": tokens(int(ma.balanceOf(trader, 0, weth.token)), weth),
        "debt_after": tokens(-int(ma.balanceOf(trader, 0, usdc.token)), usdc),
        "equity_after": usd(equity_after),
        "mmr_after": usd(mmr_after),
        "health_after": factor(health_after),
    }


def test_worked_example__every_number_in_the_doc_is_what_the_chain_computes(chain_example):
    assert list(DOC_EXAMPLE) == list(chain_example), "the doc's keys changed: update this test"
    wrong = {k for k in chain_example if DOC_EXAMPLE[k] != chain_example[k]}
    assert not wrong, (
        f"docs/liquidation.md's worked example is out of date ({sorted(wrong)}); the chain "
        f"computes:\n{render(chain_example)}"
    )


def test_worked_example__parameters_are_config_local(config, usdc, weth):
    assert to_wad(DOC_EXAMPLE["mmf_weth"][0]) == weth.spec.mmf
    assert to_wad(DOC_EXAMPLE["mmf_usdc"][0]) == usdc.spec.mmf
    assert to_wad(DOC_EXAMPLE["min_discount_weth"][0]) == weth.spec.min_discount
    assert to_wad(DOC_EXAMPLE["max_discount_weth"][0]) == weth.spec.max_discount
    assert to_wad(doc_usd("min_debt_value_usdc")) == usdc.spec.min_debt_value
    assert to_wad(DOC_EXAMPLE["insurance_share"][0]) == config.insurance_share
    assert to_wad(DOC_EXAMPLE["target_health"][0]) == config.target_health


def test_worked_example__liquidatable_before_and_at_target_after(chain_example):
    assert chain_example["health"][0] < 1
    assert chain_example["equity"][0] > 0
    assert chain_example["health_after"][0] >= chain_example["target_health"][0]


def test_discount_bounds_table__equals_margin_account_bound(system, ma):
    table = {}
    for row in fenced_block("discount-bounds"):
        if row.strip() and not row.startswith("#"):
            symbol, mmf, bound, max_discount = row.split()
            table[symbol] = (to_wad(mmf), to_wad(bound), to_wad(max_discount))
    assert set(table) == set(system.assets)
    for symbol, asset in system.assets.items():
        mmf, bound, max_discount = table[symbol]
        assert mmf == asset.spec.mmf
        assert max_discount == asset.spec.max_discount
        # Printed to six decimals, truncated: the on-chain bound rounded down.
        assert bound == int(ma.discountBound(asset.token)) // 10**12 * 10**12
        assert max_discount < bound
