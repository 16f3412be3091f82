"""docs/liquidation.md's worked examples, replayed on chain.

Each example is the fenced block after a `<!-- worked-example: ... -->` or `<!-- incentive-example:
... -->` comment, `key = value [unit]` lines. Its inputs (collateral, debt, prices) set the chain
up; its parameters must be what config/local.yaml deploys; every result must equal what the chain
computes, to the last digit printed. When they differ, the failure shows the block as the chain
computes it, ready to paste. The discount-bound table (after `<!-- discount-bounds: ... -->`) must
equal MarginAccount.discountBound. So the doc and the engine cannot drift apart silently.
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


def parse_example(marker: str = "worked-example") -> dict[str, Value]:
    values: dict[str, Value] = {}
    for raw in fenced_block(marker):
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
DOC_INCENTIVE = parse_example("incentive-example")


def doc_units(key: str, asset, example: dict[str, Value] = DOC_EXAMPLE) -> int:
    value, unit = example[key]
    assert unit == asset.symbol, f"{key} should be in {asset.symbol}"
    return to_units(value, asset.decimals)


def doc_usd(key: str, example: dict[str, Value] = DOC_EXAMPLE) -> Decimal:
    value, unit = example[key]
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
    repay, seize, fee, tip, discount = (
        int(v) for v in liquidator.quote(trader, 0, usdc.token, weth.token, MAX_UINT)
    )
    assert tip == 0  # health 0.98: the account's discount pays the keeper

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


# ====================================================================== the incentive example
@pytest.fixture(scope="module")
def incentive_example(
    act, system, lender, deployer, trader, keeper, usdc, weth, ma, liquidator, chain_example
) -> dict[str, Value]:
    """The incentive example on a fresh account (sub-account 1) with frozen USDC rates and the
    USDC insurance fund topped up as the block says: the same account at three prices (a snapshot
    restored between them), and the split at the first price. Returns every line as computed."""
    from ape import chain

    # Top the fund up to exactly the block's amount (the first example's fee is already in it).
    top_up = doc_units("insurance_fund", usdc, DOC_INCENTIVE) - int(usdc.vault.insuranceFund())
    act.fund(usdc, deployer, top_up, spender=usdc.vault)
    usdc.vault.fundInsurance(top_up, sender=deployer)
    fund = int(usdc.vault.insuranceFund())
    act.set_price(weth, DOC_INCENTIVE["price_before"][0])
    act.deposit(weth, trader, doc_units("collateral", weth, DOC_INCENTIVE), sub=1)
    act.borrow(usdc, trader, doc_units("debt", usdc, DOC_INCENTIVE), sub=1)
    out: dict[str, Value] = {
        "collateral": tokens(int(ma.balanceOf(trader, 1, weth.token)), weth),
        "debt": tokens(-int(ma.balanceOf(trader, 1, usdc.token)), usdc),
        "price_before": DOC_INCENTIVE["price_before"],
        "insurance_fund": tokens(fund, usdc),
        "insurance_share": factor(int(liquidator.insuranceShare())),
        "min_discount_weth": factor(int(ma.assetConfig(weth.token).minDiscount)),
    }
    usdc_mmf, weth_mmf = int(ma.assetConfig(usdc.token).mmf), int(ma.assetConfig(weth.token).mmf)
    cfg = ma.assetConfig(weth.token)

    def at(case: str, *, split: bool = False) -> None:
        snap = chain.snapshot()
        act.set_price(weth, doc_usd(f"price_{case}", DOC_INCENTIVE))
        price = act.price(weth)
        equity, _, _, health = (int(v) for v in ma.accountHealth(trader, 1))
        auction = int(cfg.minDiscount) + mul_div_down(
            int(cfg.maxDiscount) - int(cfg.minDiscount), WAD - health, WAD
        )
        preserving = mul_div_down(health, weth_mmf + usdc_mmf, WAD + -(-health * usdc_mmf // WAD))
        tx = liquidator.liquidate(
            trader, 1, usdc.token, weth.token, MAX_UINT, 0, b"", sender=keeper
        )
        (e,) = liquidated(tx, ma)
        paid = e["repaid"] + e["insuranceFee"] - e["insuranceTip"]
        profit = mul_div_down(e["seized"], price, weth.scale) - paid * WAD // usdc.scale
        out.update(
            {
                f"price_{case}": usd(price),
                f"equity_{case}": usd(equity),
                f"health_{case}": factor(health),
                f"auction_{case}": factor(auction),
                f"preserving_{case}": factor(preserving),
                f"discount_{case}": factor(e["discount"]),
                f"repay_{case}": tokens(e["repaid"], usdc),
                f"seize_{case}": tokens(e["seized"], weth),
                f"fee_{case}": tokens(e["insuranceFee"], usdc),
                f"tip_{case}": tokens(e["insuranceTip"], usdc),
                f"keeper_profit_{case}": usd(profit),
                f"bad_debt_{case}": tokens(e["badDebt"], usdc),
            }
        )
        chain.restore(snap)
        if not split:
            return
        snap = chain.snapshot()
        act.set_price(weth, doc_usd(f"price_{case}", DOC_INCENTIVE))
        first = liquidator.liquidate(
            trader,
            1,
            usdc.token,
            weth.token,
            doc_units("split_repay_first", usdc, DOC_INCENTIVE),
            0,
            b"",
            sender=keeper,
        )
        health_mid = int(ma.accountHealth(trader, 1)[3])
        second = liquidator.liquidate(
            trader, 1, usdc.token, weth.token, MAX_UINT, 0, b"", sender=keeper
        )
        events = liquidated(first, ma) + liquidated(second, ma)
        seized = sum(e["seized"] for e in events)
        paid = sum(e["repaid"] + e["insuranceFee"] - e["insuranceTip"] for e in events)
        out.update(
            {
                "split_repay_first": tokens(events[0]["repaid"], usdc),
                "split_seize_first": tokens(events[0]["seized"], weth),
                "split_health_between": factor(health_mid),
                "split_keeper_profit": usd(
                    mul_div_down(seized, price, weth.scale) - paid * WAD // usdc.scale
                ),
                "split_bad_debt": tokens(sum(e["badDebt"] for e in events), usdc),
            }
        )
        chain.restore(snap)

    at("solvent", split=True)
    at("deep")
    at("insolvent")
    return {k: out[k] for k in DOC_INCENTIVE if k in out} | {
        k: v for k, v in out.items() if k not in DOC_INCENTIVE
    }


def test_incentive_example__every_number_in_the_doc_is_what_the_chain_computes(
    incentive_example,
):
    assert list(DOC_INCENTIVE) == list(incentive_example), (
        "the doc's keys changed: update this test; the chain computes:\n"
        + render(incentive_example)
    )
    wrong = {k for k in incentive_example if DOC_INCENTIVE[k] != incentive_example[k]}
    assert not wrong, (
        f"docs/liquidation.md's incentive example is out of date ({sorted(wrong)}); the chain "
        f"computes:\n{render(incentive_example)}"
    )


def test_incentive_example__split_equals_one_and_no_jump_at_zero_equity(incentive_example):
    ex = {k: v for k, (v, _) in incentive_example.items()}
    assert ex["split_keeper_profit"] <= ex["keeper_profit_solvent"]
    assert ex["split_bad_debt"] == ex["bad_debt_solvent"] == 0
    assert ex["split_health_between"] >= ex["health_solvent"]
    assert ex["discount_solvent"] == ex["preserving_solvent"] < ex["auction_solvent"]
    # Deep and insolvent: the keeper earns the same floor per unit repaid, tip included.
    deep = ex["keeper_profit_deep"] / ex["repay_deep"]
    insolvent = ex["keeper_profit_insolvent"] / ex["repay_insolvent"]
    assert abs(deep - insolvent) < Decimal("0.00001")
    assert ex["bad_debt_insolvent"] == -ex["equity_insolvent"]
