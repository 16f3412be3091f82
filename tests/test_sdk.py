"""The SDK: shipped ABIs equal the build, typed errors, use from another folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from eth_abi import encode
from eth_utils import keccak

from solvent.sdk import errors
from solvent.sdk.abi import SHIPPED, load_abi

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_abi__equals_the_build(name):
    built = json.loads((ROOT / ".build" / "__local__.json").read_text())["contractTypes"][name][
        "abi"
    ]
    canon = sorted(json.dumps(e, sort_keys=True) for e in built)
    assert sorted(json.dumps(e, sort_keys=True) for e in load_abi(name)) == canon, (
        "run `ape run export_abis` and commit solvent/sdk/abis/"
    )


def test_decode_revert__custom_error__typed_exception_with_named_inputs():
    entry = next(
        e
        for e in load_abi("MarginAccount")
        if e["type"] == "error"
        and len(e.get("inputs", [])) >= 2
        and all(
            i["type"] == "address" or i["type"].startswith(("uint", "int")) for i in e["inputs"]
        )
    )
    types = [i["type"] for i in entry["inputs"]]
    values = [
        1 if t.startswith("uint") or t.startswith("int") else ("0x" + "11" * 20) for t in types
    ]
    selector = keccak(text=f"{entry['name']}({','.join(types)})")[:4]
    err = errors.decode_revert(selector + encode(types, values))

    assert isinstance(err, errors.ContractError) and isinstance(err, getattr(errors, entry["name"]))
    assert list(err.args_by_name) == [i["name"] for i in entry["inputs"]]
    assert str(err).startswith(f"{entry['name']}(")


def test_decode_revert__unknown_and_plain__still_an_sdk_error():
    assert "0xdeadbeef" in str(errors.decode_revert(bytes.fromhex("deadbeef")))
    reason = bytes.fromhex("08c379a0") + encode(["string"], ["nope"])
    assert str(errors.decode_revert(reason)) == "reverted: nope"
    with pytest.raises(AttributeError):
        errors.NoSuchErrorAnywhere  # noqa: B018


def test_sdk__from_another_folder__loads_abis_from_the_package(tmp_path):
    code = "from solvent.sdk import errors; from solvent.sdk.abi import load_abi; print(len(load_abi('Liquidator')))"
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0 and int(run.stdout) > 10, run.stderr
