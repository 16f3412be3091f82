"""The sweep's picture and table: bad debt and liquidations against capital efficiency."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

MARKERS = {True: ("o", "#4c72b0", "volatility floor on"), False: ("s", "#dd8452", "static margin")}


def plot_sweep(results: list[dict[str, Any]], path: Path) -> Path:
    """One panel per window: bad debt (share of deposits) against the margin accounts posted
    when they opened (lower = more leverage); dynamic and static margin in two colours, marker
    size by liquidations, each point labelled with its margin scale."""
    results = [r for r in results if "error" not in r]
    windows = sorted({r["window"] for r in results}) or ["(no run)"]
    fig, axes = plt.subplots(1, len(windows), figsize=(6 * len(windows), 4.5), squeeze=False)
    for ax, window in zip(axes[0], windows, strict=True):
        for dynamic, (marker, color, label) in MARKERS.items():
            rows = sorted(
                (r for r in results if r["window"] == window and r["dynamic"] == dynamic),
                key=lambda r: r["opening_margin"],
            )
            if not rows:
                continue
            xs = [r["opening_margin"] * 100 for r in rows]
            ys = [r["bad_debt_share"] * 100 for r in rows]
            sizes = [20 + 2 * r["liquidations"] for r in rows]
            ax.plot(xs, ys, color=color, alpha=0.4)
            ax.scatter(xs, ys, s=sizes, marker=marker, color=color, label=label, alpha=0.8)
            for r, x, y in zip(rows, xs, ys, strict=True):
                ax.annotate(f"x{r['margin_scale']}", (x, y), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")  # fmt: skip
        ax.set_xlabel("margin posted at opening, % of collateral (lower = more leverage)")
        ax.set_ylabel("bad debt, % of deposits")
        ax.set_title(f"{window}: bad debt vs capital efficiency")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def findings(results: list[dict[str, Any]]) -> list[str]:
    """Per window and margin scale, the volatility floor against static margin at the same
    scale (the same margin posted at opening, to the accounts' sizing): what bad debt did."""
    out = []
    key = ("window", "margin_scale", "discount_scale", "target_health")
    by: dict[tuple, dict[bool, dict[str, Any]]] = {}
    for r in (r for r in results if "error" not in r):
        by.setdefault(tuple(r[k] for k in key), {})[r["dynamic"]] = r
    for k, pair in sorted(by.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
        if True not in pair or False not in pair:
            continue
        dyn, sta = pair[True], pair[False]
        change = dyn["bad_debt_usd"] - sta["bad_debt_usd"]
        verb = "did not change" if abs(change) < 1 else "cut" if change < 0 else "raised"
        out.append(
            f"{k[0]}, margin x{k[1]}: the volatility floor {verb} bad debt "
            f"(${sta['bad_debt_usd']:,.0f} static -> ${dyn['bad_debt_usd']:,.0f} with the floor; "
            f"liquidations {sta['liquidations']} -> {dyn['liquidations']}) at margin posted "
            f"{sta['opening_margin']:.2%} vs {dyn['opening_margin']:.2%}"
        )
    return out


def sweep_table(results: list[dict[str, Any]]) -> str:
    lines = [
        "# Sweep",
        "",
        "| window | settings | max leverage | margin posted | liquidations | bad debt | "
        "% of deposits | socialized | keeper profit | run s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in sorted(results, key=lambda r: (r["window"], r["label"])):
        if "error" in r:
            lines.append(f"| {r['window']} | {r['label']} | failed: {r['error']} |" + " |" * 7)
            continue
        lev = "-" if r["max_leverage"] is None else f"{r['max_leverage']:.2f}x"
        lines.append(
            f"| {r['window']} | {r['label']} | {lev} | {r['opening_margin']:.2%} | "
            f"{r['liquidations']} | ${r['bad_debt_usd']:,.0f} | {r['bad_debt_share']:.4%} | "
            f"${r['socialized_usd']:,.0f} | ${r['keeper_profit_usd']:,.0f} | {r['seconds']} |"
        )
    lines += ["", "## Findings", "", *[f"- {f}" for f in findings(results)], ""]
    return "\n".join(lines)
