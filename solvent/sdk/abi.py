"""Contract ABIs shipped inside the package (exported from the build by `ape run export_abis`).

The SDK, the keeper and the CLI read these files, so they work from any folder without the ape
project or a compiled `.build`. tests/test_sdk.py checks they equal what the contracts compile to.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

#: Every contract whose ABI ships, in the order `export_abis` writes them.
SHIPPED = (
    "MarginAccount",
    "MarginAdmin",
    "Liquidator",
    "Vault",
    "ChainlinkOracle",
    "VolatilityOracle",
    "SolventTimelock",
    "MockERC20",
    "MockAggregator",
    "FlashLiquidator",
    "MockSwapRouter",
)

Abi = list[dict[str, Any]]


@cache
def load_abi(name: str) -> Abi:
    """The ABI of contract `name` (one of SHIPPED)."""
    if name not in SHIPPED:
        raise KeyError(f"no ABI shipped for {name!r}; shipped: {', '.join(SHIPPED)}")
    text = resources.files("solvent.sdk.abis").joinpath(f"{name}.json").read_text()
    return json.loads(text)


@cache
def margin_account_abi() -> Abi:
    """MarginAccount's ABI with MarginAdmin's entries it forwards (the account views, the risk
    setters and their errors and events): one handle at the MarginAccount address calls both."""
    seen: set[tuple[str, str, str]] = set()
    out: Abi = []
    for entry in load_abi("MarginAccount") + load_abi("MarginAdmin"):
        if entry.get("type") in ("constructor", "fallback", "receive"):
            continue
        key = (entry["type"], entry.get("name", ""), _signature(entry))
        if key not in seen:
            seen.add(key)
            out.append(entry)
    return out


def _signature(entry: dict[str, Any]) -> str:
    return ",".join(canonical_type(i) for i in entry.get("inputs", []))


def canonical_type(param: dict[str, Any]) -> str:
    """Canonical ABI type of a parameter (tuples spelled out), as selectors are computed."""
    kind = param["type"]
    if kind.startswith("tuple"):
        inner = ",".join(canonical_type(c) for c in param["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def canonical_signature(entry: dict[str, Any]) -> str:
    """`Name(type,...)` of an ABI function, event or error."""
    return f"{entry['name']}({_signature(entry)})"
