"""Write the ABIs the SDK ships (solvent/sdk/abis/*.json) from the compiled project.

    ape run export_abis          # after changing a contract's interface; commit the result

tests/test_sdk.py fails when a shipped ABI differs from what the contracts compile to.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from ape import project

from solvent.sdk.abi import SHIPPED

OUT = Path(__file__).resolve().parents[1] / "solvent" / "sdk" / "abis"


def abi_json(abi: list[dict]) -> str:
    """An ABI as the SDK ships it: one sorted entry per line (stable diffs)."""
    return "[\n" + ",\n".join(json.dumps(e, sort_keys=True) for e in abi) + "\n]\n"


def built_abi(name: str) -> list[dict]:
    """The ABI of `name` in the project's build (.build/__local__.json)."""
    return [
        e.model_dump(mode="json", by_alias=True) for e in getattr(project, name).contract_type.abi
    ]


@click.command()
def cli() -> None:
    """Export every shipped ABI."""
    for name in SHIPPED:
        path = OUT / f"{name}.json"
        text = abi_json(built_abi(name))
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            click.echo(f"wrote {path}")
