"""solvent.calibrate on the shipped price windows (pure Python: no chain)."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

import pytest

from solvent import calibrate, margin
from solvent.calibrate import (
    DATA_DIR,
    CalibrationError,
    analyze,
    ewma_path,
    load_window,
    main,
    propose,
)
from solvent.margin import WAD, YEAR

ETH_2021 = DATA_DIR / "eth_usd_gemini_2021-05-19_1h.csv"
ETH_2020 = DATA_DIR / "eth_usd_gemini_2020-03-12_1h.csv"
BASE_MMF = {"WETH": 6 * 10**16, "WBTC": 5 * 10**16, "USDC": 2 * 10**16}
HEADER = "timestamp_utc,open,high,low,close\n"


@pytest.fixture(scope="module")
def results() -> list[calibrate.WindowResult]:
    return analyze([load_window(p) for p in sorted(DATA_DIR.glob("*.csv"))])


def test_load_shipped_window():
    w = load_window(ETH_2021)
    assert w.asset == "WETH"
    assert len(w.times) == len(w.closes) == 168  # 2021-05-16 00:00 .. 2021-05-22 23:00 (SOURCES.md)
    assert w.times[0] == 1621123200  # 2021-05-16T00:00:00Z
    assert all(b - a == 3600 for a, b in zip(w.times, w.times[1:], strict=False))
    assert min(w.closes) == 2227.57  # the SOURCES.md summary's min close
    assert calibrate.crash_days(w) == (w.named_day, w.named_day)


def test_empty_ohlc_falls_back_to_close(tmp_path: Path):
    f = tmp_path / "eth_usd_test_2021-05-19_1h_close.csv"
    f.write_text(HEADER + "2021-05-19T00:00:00Z,,,,3000\n2021-05-19T01:00:00Z,,,,2900.5\n")
    w = load_window(f)
    assert w.closes == (3000.0, 2900.5)
    assert w.times[1] - w.times[0] == 3600


@pytest.mark.parametrize(
    ("line", "row", "column"),
    [
        ("2021-05-19 01:00,1,1,1,1", 3, "timestamp_utc"),
        ("2021-05-19T01:00:00Z,1,1,1,abc", 3, "close"),
        ("2021-05-19T01:00:00Z,1,1,1,-5", 3, "close"),
        ("2021-05-19T01:00:00Z,1,x,1,1", 3, "high"),
        ("2021-05-19T00:00:00Z,1,1,1,1", 3, "timestamp_utc"),  # not after the previous row
        ("2021-05-19T01:00:00Z,1,1", 3, "low"),  # missing fields
    ],
)
def test_bad_file_names_file_row_column(tmp_path: Path, line: str, row: int, column: str):
    f = tmp_path / "eth_usd_test_2021-05-19_1h.csv"
    f.write_text(HEADER + "2021-05-19T00:00:00Z,1,1,1,1\n" + line + "\n")
    with pytest.raises(CalibrationError) as err:
        load_window(f)
    message = str(err.value)
    assert "\n" not in message
    assert f.name in message and f"row {row}" in message and f"column {column}" in message


def test_bad_header_and_bad_name(tmp_path: Path):
    f = tmp_path / "eth_usd_test_2021-05-19_1h.csv"
    f.write_text("time,close\n2021-05-19T00:00:00Z,1\n")
    with pytest.raises(CalibrationError, match=r"eth_usd_test_2021-05-19_1h.csv: row 1, column"):
        load_window(f)
    g = tmp_path / "prices.csv"
    g.write_text(HEADER)
    with pytest.raises(CalibrationError, match=r"prices\.csv"):
        load_window(g)


@pytest.mark.parametrize("path", [ETH_2021, ETH_2020])
def test_calm_vol_below_crash_vol(path: Path):
    (r,) = analyze([load_window(path)])
    assert r.calm_sigma is not None
    assert 0 < r.calm_sigma < r.crash_sigma
    assert r.peak_sigma > r.calm_sigma


def test_crash_days_from_window_definition(results):
    days = {r.window: (r.crash_first.isoformat(), r.crash_last.isoformat()) for r in results}
    assert days["eth_usd_gemini_2020-03-12_1h"] == ("2020-03-12", "2020-03-13")
    assert days["eth_usd_gemini_2022-06-13_1h"] == ("2022-06-13", "2022-06-18")
    assert days["eth_usd_coinapi_2020-03-12_10m"] == ("2020-03-12", "2020-03-12")


def test_proposal_k_keeps_calm_floors_below_base(results):
    horizon = 86_400
    p = propose(results, BASE_MMF, horizon)
    assert p.k > 0 and p.k % Decimal("0.05") == 0
    scale = margin.vol_scale(int(p.k * WAD), horizon)
    bigger = margin.vol_scale(int((p.k + Decimal("0.05")) * WAD), horizon)
    assert set(p.assets) == {"WETH", "WBTC"}
    over = False
    for symbol, a in p.assets.items():
        sigma = int(a.sigma * WAD)
        assert float(p.k * a.sigma) * math.sqrt(horizon / YEAR) <= BASE_MMF[symbol] / WAD
        assert margin.volatility_floor(sigma, scale) <= BASE_MMF[symbol]
        assert a.calm_floor * WAD <= BASE_MMF[symbol]
        assert a.stale_floor > a.base_mmf  # a crash-level sigma puts the floor above the base
        assert a.stale_floor * 10_000 == int(a.stale_floor * 10_000)  # whole basis points
        over |= margin.volatility_floor(sigma, bigger) > BASE_MMF[symbol]
    assert over  # k is the largest multiple of 0.05 that works
    assert all(p.floor_at_peak[r.window] >= p.assets[r.asset].calm_floor for r in results)
    assert "dynamic_margin:" in p.to_yaml() and f'k: "{p.k}"' in p.to_yaml()


def test_ewma_is_solvent_margin_ewma_variance(monkeypatch):
    assert calibrate.ewma_variance is margin.ewma_variance
    w = load_window(ETH_2021)
    v0 = 1e-7
    path = ewma_path(w.closes, w.times, 86_400, v0)
    assert path[-1] == margin.ewma_variance(w.closes, w.times, 86_400, v0)
    calls = []

    def spy(*args):
        calls.append(args)
        return margin.ewma_variance(*args)

    monkeypatch.setattr(calibrate, "ewma_variance", spy)
    (r,) = analyze([w])
    assert len(calls) == len(w.times) - 1
    assert r.peak_sigma == pytest.approx(margin.annualized_sigma(max(path_of(w, r))))


def path_of(w: calibrate.PriceWindow, r: calibrate.WindowResult) -> list[float]:
    return ewma_path(w.closes, w.times, 86_400, r.ewma_start_sigma**2 / YEAR)


def test_cli_prints_table_and_yaml(tmp_path: Path, capsys):
    out = tmp_path / "proposal.yaml"
    assert main([str(ETH_2021), str(ETH_2020), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "eth_usd_gemini_2021-05-19_1h" in printed and "floor at peak" in printed
    text = out.read_text()
    assert text.startswith("dynamic_margin:\n") and "WETH:" in text and "stale_floor:" in text
    assert main([str(tmp_path / "missing.csv")]) != 0
