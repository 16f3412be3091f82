"""The report folder of one replay: metrics.json, the PNG plots, report.md and a self-contained
report.html (the plots embedded)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from solvent.report.plots import FIGURES
from solvent.sim.metrics import SimMetrics

WAD = 10**18
CAPTIONS = {
    "price_path.png": "Oracle prices (relative to the first) with a marker at each liquidation.",
    "health.png": "Health of indebted accounts after each round (median and bands); bars: "
    "accounts below maintenance before the keepers act.",
    "bad_debt.png": "Cumulative bad debt and the insurance funds, USD.",
    "latency.png": "Seconds from becoming liquidatable to being liquidated.",
    "margin.png": "Maintenance factor of a small position per asset, and sigma (dotted).",
}


def _usd(wad: int | str | None) -> str:
    return "-" if wad is None else f"${int(wad) / WAD:,.2f}"


def summary_rows(m: SimMetrics) -> list[tuple[str, str]]:
    t = m.totals()
    return [
        ("accounts", f"{m.accounts}"),
        ("oracle rounds", f"{len(m.steps)}"),
        ("most accounts below maintenance at once", f"{t['max_liquidatable']}"),
        ("liquidations (accounts)", f"{t['liquidations']} ({t['accounts_liquidated']})"),
        ("left below maintenance at the end", f"{t['left_liquidatable']}"),
        (
            "bad debt",
            f"{_usd(t['bad_debt_usd'])} ({t['bad_debt_share_of_deposits']:.4%} of deposits)",
        ),
        ("of which socialized (lenders)", _usd(t["socialized_usd"])),
        ("keeper profit after gas and slippage", _usd(t["keeper_profit_usd"])),
        ("mean discount", f"{int(t['mean_discount']) / WAD:.2%}"),
        (
            "latency median / max",
            "-"
            if t["latency_s_median"] is None
            else f"{t['latency_s_median']} s / {t['latency_s_max']} s",
        ),
        ("gas: total / most in one step", f"{t['gas_used']:,} / {t['max_gas_per_step']:,}"),
    ]


def write_report(m: SimMetrics, folder: Path) -> Path:
    """Write every file of the report into `folder`; returns report.md's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(m.to_json(), indent=1) + "\n")
    for name, draw in FIGURES.items():
        draw(m, folder / name)
    rows = summary_rows(m)
    settings = m.settings
    md = [
        f"# Crash replay: {m.window}",
        "",
        f"Window: {', '.join(f'{s} from `{f}`' for s, f in sorted(m.sources.items()))} "
        "(real candles, provenance in data/prices/SOURCES.md); "
        f"{len(m.steps)} oracle rounds, {m.accounts} accounts, seed {settings.get('seed')}, "
        f"{len(settings.get('keepers', []))} keepers.",
        "",
        "| measure | value |",
        "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in rows],
        "",
        "Settings: `" + json.dumps(settings, sort_keys=True) + "`",
        "",
    ]
    for name in FIGURES:
        md += [f"![{CAPTIONS[name]}]({name})", "", f"*{CAPTIONS[name]}*", ""]
    path = folder / "report.md"
    path.write_text("\n".join(md))
    imgs = "".join(
        f'<figure><img alt="{html.escape(CAPTIONS[n])}" src="data:image/png;base64,'
        f'{base64.b64encode((folder / n).read_bytes()).decode()}"/>'
        f"<figcaption>{html.escape(CAPTIONS[n])}</figcaption></figure>"
        for n in FIGURES
    )
    table = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in rows)
    (folder / "report.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Crash replay {html.escape(m.window)}</title>"
        "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}"
        "td{padding:2px 12px;border-bottom:1px solid #ddd}img{max-width:100%}</style></head>"
        f"<body><h1>Crash replay: {html.escape(m.window)}</h1>"
        f"<p>{html.escape(md[2])}</p><table>{table}</table>{imgs}"
        f"<p><code>{html.escape(json.dumps(settings, sort_keys=True))}</code></p></body></html>\n"
    )
    return path
