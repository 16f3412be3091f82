"""The crash simulator end to end: a short piece of the real 2020-03-12 window replays on its own
Anvil with the real contracts and keepers, and what it reports reconciles with the chain.

- every Liquidated and BadDebtWrittenOff event is in the metrics, field for field;
- bad debt written off equals what the vaults realized (BadDebtRealized: covered by insurance,
  socialized), asset by asset;
- token balances reconcile: every token's supply is held by the parties the replay knows
  (lenders, owners, keepers, their contracts, the pool, the arbitrageur, vaults, MarginAccount);
  the MarginAccount holds exactly its accounts' collateral, every vault exactly its cash;
- the same seed and inputs give the same metrics; a bad CSV row gives one clear line; the report
  folder holds every plot, each a valid PNG.
"""

from __future__ import annotations

import json
import struct
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from solvent.report.plots import FIGURES
from solvent.report.render import write_report
from solvent.sim.metrics import SimMetrics
from solvent.sim.prices import PriceFileError, align, preset_files, rounds
from solvent.sim.replay import Overrides, Replay, SimSettings

ROOT = Path(__file__).resolve().parents[1]
SOLVENT = str(ROOT / ".venv" / "bin" / "solvent")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# 2020-03-12 from 06:00: ETH $183 -> $132 by 10:00, then lower in the evening.
CRASH = {"start": "2020-03-12T06:00:00Z", "hours": 10.0}


def settings(**kw) -> SimSettings:
    base = dict(files=preset_files("2020-03-12"), accounts=40, seed=3, **CRASH)
    base.update(kw)
    return SimSettings(**base)


def _addr(a: str) -> str:
    return a.lower()


def reconcile(replay: Replay) -> dict:
    """Read the chain (still running) and compare it with the replay's metrics."""
    c, m = replay.client, replay.metrics
    start, head = c.info.deploy_block, int(c.web3.eth.block_number)
    ev = c.margin_account.events
    liq = ev.Liquidated().get_logs(from_block=start, to_block=head)
    bad = ev.BadDebtWrittenOff().get_logs(from_block=start, to_block=head)
    on_chain = sorted(
        (
            "0x" + bytes(e["transactionHash"]).hex(), _addr(e["args"]["owner"]),
            int(e["args"]["subId"]), int(e["args"]["repaid"]), int(e["args"]["seized"]),
            int(e["args"]["badDebt"]),
        )
        for e in liq
    )  # fmt: skip
    recorded = sorted(
        (r.tx_hash, _addr(r.owner), r.sub_id, r.repaid, r.seized, r.bad_debt)
        for r in m.liquidations
    )
    assert on_chain == recorded
    chain_bad = sorted(
        (
            "0x" + bytes(e["transactionHash"]).hex(), _addr(e["args"]["owner"]),
            c.info.asset_by_token(e["args"]["asset"]).symbol, int(e["args"]["amount"]),
            int(e["args"]["covered"]), int(e["args"]["socialized"]),
        )
        for e in bad
    )  # fmt: skip
    recorded_bad = sorted(
        (b.tx_hash, _addr(b.owner), b.asset, b.amount, b.covered, b.socialized) for b in m.bad_debts
    )
    assert chain_bad == recorded_bad
    # Bad debt written off = what each vault realized, split the same way.
    for s in c.info.assets:
        realized = c.vault(s).events.BadDebtRealized().get_logs(from_block=start, to_block=head)
        mine = [b for b in m.bad_debts if b.asset == s]
        assert sum(int(e["args"]["amount"]) for e in realized) == sum(b.amount for b in mine)
        assert sum(int(e["args"]["coveredByInsurance"]) for e in realized) == sum(
            b.covered for b in mine
        )
        assert sum(int(e["args"]["socialized"]) for e in realized) == sum(
            b.socialized for b in mine
        )
    # Token conservation over every party of the replay.
    ma = c.margin_account.functions
    holders = {c.margin_account.address, replay.router, replay.arb.address, replay.deployer.address}
    holders |= {c.vault(s).address for s in c.info.assets}
    holders |= {k.signer.address for k in replay.keepers}
    holders |= {k.flash.contract for k in replay.keepers if k.flash is not None}
    holders |= {a.ref.owner for a in replay.accounts}
    from solvent.sdk import dev_account

    holders.add(dev_account(1).address)  # the lender
    for s in c.info.assets:
        token = c.token(s).functions
        held = sum(int(token.balanceOf(h).call()) for h in holders)
        assert held == int(token.totalSupply().call()), s
        collateral = sum(
            max(0, int(ma.rawBalance(a.ref.owner, a.ref.sub_id, c.asset(s).token).call()))
            for a in replay.accounts
        )
        assert int(token.balanceOf(c.margin_account.address).call()) == collateral, s
        vault = c.vault(s).functions
        assert int(token.balanceOf(c.vault(s).address).call()) == int(vault.cash().call()), s
    return {"liquidations": len(liq), "bad_debts": len(bad)}


@pytest.fixture(scope="module")
def crash_replay(tmp_path_factory):
    """One replay of the crash hours with price impact on (a cascade), reconciled on its chain."""
    checked: dict = {}
    work = tmp_path_factory.mktemp("replay")
    replay = Replay(
        settings(impact=Decimal("0.5")),
        work / "run",
        before_stop=lambda r: checked.update(reconcile(r)),
    )
    metrics = replay.run()
    return replay, metrics, checked, work


def test_replay__crash_hours__liquidations_and_bad_debt_reconcile_with_the_chain(crash_replay):
    _, metrics, checked, _ = crash_replay
    assert checked["liquidations"] == len(metrics.liquidations) > 0
    assert checked["bad_debts"] == len(metrics.bad_debts) > 0  # the reconciliation is not empty
    totals = metrics.totals()
    assert totals["left_liquidatable"] == 0  # the keepers (and the backstop) closed every one
    assert totals["bad_debt_usd"] == sum(b.usd for b in metrics.bad_debts) > 0
    assert len(metrics.steps) == 10
    assert all(r.latency_s >= 0 and r.latency_blocks >= 0 for r in metrics.liquidations)
    assert {r.keeper for r in metrics.liquidations} >= {0}  # the fastest keeper took some


def test_report__folder__every_plot_a_valid_png_and_metrics_json(crash_replay):
    _, metrics, _, work = crash_replay
    folder = work / "report"
    write_report(metrics, folder)
    for name in FIGURES:
        data = (folder / name).read_bytes()
        assert data[:8] == PNG_MAGIC, name
        width, height = struct.unpack(">II", data[16:24])  # IHDR
        assert width > 300 and height > 200, name
    html = (folder / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(FIGURES)
    md = (folder / "report.md").read_text()
    assert all(f"]({name})" in md for name in FIGURES)
    data = json.loads((folder / "metrics.json").read_text())
    assert len(data["liquidations"]) == len(metrics.liquidations)
    assert data["totals"]["liquidations"] == len(metrics.liquidations)


def test_replay__same_seed_and_inputs__same_metrics(tmp_path):
    """Two fresh chains, intra-candle rounds (open, low, high, close), a few hours."""
    quick = settings(accounts=15, hours=5.0, intrabar=True, start="2020-03-12T07:00:00Z")
    runs = [Replay(quick, tmp_path / f"run{i}").run() for i in range(2)]
    first, second = (r.to_json(timings=False) for r in runs)
    assert len(runs[0].steps) == 20  # four rounds per candle
    assert runs[0].liquidations and runs[0].bad_debts is not None  # not an empty comparison
    assert first == second
    other = Replay(
        settings(accounts=15, hours=5.0, intrabar=True, start=quick.start, seed=4),
        tmp_path / "run-other",
    ).run()
    # The seed draws the accounts: their healths differ (not only their owners' addresses).
    assert other.steps[0].health != runs[0].steps[0].health


def test_rounds__intrabar__low_before_high_within_each_candle():
    window = align(preset_files("2020-03-12"), hours=3, start="2020-03-12T08:00:00Z")
    out = rounds(window, intrabar=True)
    assert len(out) == 12
    eth = window.candles["WETH"]
    for i in range(3):
        o, lo, hi, cl = (r.prices["WETH"] for r in out[4 * i : 4 * i + 4])
        assert (o, lo, hi, cl) == (eth.open[i], eth.low[i], eth.high[i], eth.close[i])
        assert [r.time for r in out[4 * i : 4 * i + 4]] == [
            window.times[i] + k * 900 for k in range(4)
        ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("2020-03-12T00:00:00Z,1,2,0.5,1.5\n2020-03-12T01:00:00Z,1,2,0.5,abc\n",
         "row 3, column close: 'abc' is not a positive price"),
        ("2020-03-12T00:00:00Z,1,2,0.5,1.5\n2020-03-12T00:00:00Z,1,2,0.5,1.5\n",
         "row 3, column timestamp_utc: 2020-03-12T00:00:00Z is not after the previous row"),
        ("2020-03-12T00:00:00Z,1,2,0.5,1.5\n2020-03-12T01:00:00Z,1,1.2,1.1,1.5\n",
         "row 3, column low/high"),
        ("2020-03-12T00:00:00Z,1,2,0.5\n", "row 2, column close: 4 fields, expected 5"),
    ],
)  # fmt: skip
def test_simulate_cli__bad_csv_row__one_line_error_naming_file_row_and_column(
    tmp_path, body, expected
):
    bad = tmp_path / "eth_usd_mine_2020-03-12_1h.csv"
    bad.write_text("timestamp_utc,open,high,low,close\n" + body)
    run = subprocess.run(
        [SOLVENT, "simulate", str(bad), "--accounts", "2"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {bad.name}: ") and expected in lines[0]


def test_align__empty_open_high_low__fall_back_to_close(tmp_path):
    f = tmp_path / "eth_usdt_mine_2020-03-12_1h_close.csv"
    f.write_text(
        "timestamp_utc,open,high,low,close\n2020-03-12T00:00:00Z,,,,150\n"
        "2020-03-12T01:00:00Z,,,,140.5\n"
    )
    window = align([f])
    eth = window.candles["WETH"]
    assert eth.open == eth.high == eth.low == eth.close == (Decimal(150), Decimal("140.5"))
    with pytest.raises(PriceFileError, match="a second file for WETH"):
        align([f, f])


def test_metrics_json__big_integers_as_strings():
    m = SimMetrics(window="w", settings={}, sources={}, accounts=0, deposits_usd=10**30)
    assert m.to_json()["deposits_usd"] == str(10**30)


def test_overrides__static_and_scaled__written_into_the_deployed_config(tmp_path):
    from solvent.sim.replay import write_config

    out = write_config(
        ROOT / "config" / "local.yaml",
        Overrides(margin_scale=Decimal("1.5"), dynamic=False, target_health=Decimal("1.1")),
        tmp_path / "c.yaml",
        {"WETH": Decimal("183.5")},
    )
    import yaml

    data = yaml.safe_load(out.read_text())
    weth = next(a for a in data["assets"] if a["symbol"] == "WETH")
    assert (weth["imf"], weth["mmf"], weth["price"]) == ("0.18", "0.09", "183.5")
    assert "dynamic_margin" not in data and data["liquidation"]["target_health"] == "1.1"


@pytest.mark.parametrize("scale", ["0.5", "0.75", "1", "2"])
def test_overrides__scaled_margins__discount_caps_fitted_so_the_config_validates(tmp_path, scale):
    """Lower margins lower the contracts' discount bound; the written config always loads (the
    validator mirrors MarginAdmin._checkDiscountBounds) and keeps each cap when it still fits."""
    import yaml

    from solvent.config import load_config
    from solvent.sim.replay import write_config

    out = write_config(
        ROOT / "config" / "local.yaml", Overrides(margin_scale=Decimal(scale)), tmp_path / "c.yaml"
    )
    load_config(out)  # raises ConfigError on any bound the contracts would refuse
    base = {
        a["symbol"]: a
        for a in yaml.safe_load((ROOT / "config" / "local.yaml").read_text())["assets"]
    }
    for a in yaml.safe_load(out.read_text())["assets"]:
        assert Decimal(a["min_discount"]) <= Decimal(a["max_discount"])
        if Decimal(scale) >= 1:
            assert a["max_discount"] == base[a["symbol"]]["max_discount"]  # untouched
