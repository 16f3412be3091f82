"""The compiler toolchain: the solc-js launcher that ape-solidity runs as `solc-v<version>`.

(a) it reports the pinned version like native solc; (b) a Standard-JSON compile of Vault through it
equals a direct solc-js compile and, with ape's exact settings, the artifact ape stored (bytecode
including the metadata hash); its >64 KiB output reaches the caller whole; (c) every interface
compiles through it, is an input of ape's build and is imported and implemented by a contract.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from ape import project

ROOT = Path(__file__).resolve().parents[1]
APE_CONFIG = yaml.safe_load((ROOT / "ape-config.yaml").read_text())
SOLC_VERSION: str = str(APE_CONFIG["solidity"]["version"])
SOLCX_DIR = Path(os.environ.get("SOLCX_BINARY_PATH") or ROOT / ".solcx")
LAUNCHER = SOLCX_DIR / f"solc-v{SOLC_VERSION}"
LAUNCHER_SCRIPT = ROOT / "tools" / "solcjs-cli.js"
INTERFACES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "interfaces").glob("*.sol"))
VAULT_SOURCE = "contracts/Vault.sol"
PIPE_BUFFER = 64 * 1024

# Compiles a Standard-JSON input (stdin) with solc-js directly, imports resolved from argv[1].
DIRECT_SOLCJS = """
const fs = require("fs");
const path = require("path");
const solc = require("solc");
const root = process.argv[1];
function findImports(p) {
  const file = path.resolve(root, p);
  if (fs.existsSync(file)) return { contents: fs.readFileSync(file, "utf8") };
  return { error: "File not found: " + p };
}
process.stdout.write(solc.compile(fs.readFileSync(0, "utf8"), { import: findImports }));
"""


def run(args: list[str], stdin: str = "", cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, input=stdin, capture_output=True, text=True, cwd=cwd, check=False, timeout=300
    )


def launcher_compile(input_json: dict[str, Any], cwd: Path) -> str:
    """Standard JSON through the launcher as ape-solidity runs it (input on stdin)."""
    proc = run(
        [str(LAUNCHER), "--standard-json", "--base-path", str(ROOT)], json.dumps(input_json), cwd
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return proc.stdout


def errors_of(output: dict[str, Any]) -> list[str]:
    return [
        e.get("formattedMessage", e["message"])
        for e in output.get("errors", [])
        if e["severity"] == "error"
    ]


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def ipfs_multihash(content: bytes) -> bytes:
    """sha2-256 multihash of a single-chunk IPFS file (a UnixFS File in a DAG-PB node), as solc
    computes it for the metadata (files up to 256 KiB)."""
    assert len(content) <= 256 * 1024
    unixfs = (
        b"\x08\x02" + b"\x12" + _varint(len(content)) + content + b"\x18" + _varint(len(content))
    )
    node = b"\x0a" + _varint(len(unixfs)) + unixfs
    return b"\x12\x20" + hashlib.sha256(node).digest()


def abi_signature(entry: dict[str, Any]) -> dict[str, Any]:
    """An ABI entry without what implementations may rename: function parameter names and the
    Solidity-level internalType (events and errors keep their names, which decoders rely on)."""

    def params(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                k: (params(v) if k == "components" else v)
                for k, v in item.items()
                if k != "internalType" and not (k == "name" and entry["type"] == "function")
            }
            for item in items
        ]

    return {k: (params(v) if k in ("inputs", "outputs") else v) for k, v in entry.items()}


def cbor_metadata(runtime_hex: str) -> bytes:
    """The CBOR metadata solc appends to runtime code (its length is in the last two bytes)."""
    code = bytes.fromhex(runtime_hex.removeprefix("0x"))
    length = int.from_bytes(code[-2:], "big")
    return code[-2 - length : -2]


# -------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def ape_build() -> dict[str, Any]:
    """ape's build manifest after a full (non-incremental) compile of the current sources.

    An incremental compile records only the settings of the files it recompiled (output selection,
    the remappings those files use), so the comparison needs every source compiled together."""
    project.load_contracts(use_cache=False)
    assert project.Vault.contract_type.name == "Vault"
    manifest_path = Path(getattr(project, "manifest_path", ROOT / ".build" / "__local__.json"))
    return json.loads(manifest_path.read_text())


@pytest.fixture(scope="module")
def ape_compiler(ape_build) -> dict[str, Any]:
    (solidity,) = [c for c in ape_build["compilers"] if c["name"] == "solidity"]
    return solidity


@pytest.fixture(scope="module")
def vault_input(ape_compiler) -> dict[str, Any]:
    """Vault alone, with ape's exact settings (outputs: ape's selection plus the metadata)."""
    settings = dict(ape_compiler["settings"])
    selection = settings["outputSelection"][VAULT_SOURCE]
    settings["outputSelection"] = {VAULT_SOURCE: {**selection, "*": [*selection["*"], "metadata"]}}
    return {
        "language": "Solidity",
        "sources": {VAULT_SOURCE: {"content": (ROOT / VAULT_SOURCE).read_text()}},
        "settings": settings,
    }


@pytest.fixture(scope="module")
def launcher_raw(vault_input, tmp_path_factory) -> str:
    # From an unrelated directory: imports must resolve through --base-path alone.
    return launcher_compile(vault_input, tmp_path_factory.mktemp("elsewhere"))


@pytest.fixture(scope="module")
def direct_raw(vault_input) -> str:
    proc = run(["node", "-e", DIRECT_SOLCJS, str(ROOT)], json.dumps(vault_input))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def launcher_vault(launcher_raw) -> dict[str, Any]:
    out = json.loads(launcher_raw)
    assert errors_of(out) == []
    return out["contracts"][VAULT_SOURCE]["Vault"]


@pytest.fixture(scope="module")
def interfaces_output(ape_compiler, tmp_path_factory) -> dict[str, Any]:
    settings = {k: v for k, v in ape_compiler["settings"].items() if k != "outputSelection"}
    settings["outputSelection"] = {"*": {"*": ["abi", "evm.bytecode.object"]}}
    input_json = {
        "language": "Solidity",
        "sources": {p: {"content": (ROOT / p).read_text()} for p in INTERFACES},
        "settings": settings,
    }
    return json.loads(launcher_compile(input_json, tmp_path_factory.mktemp("interfaces")))


# ------------------------------------------------------------------------------------- (a) version
def test_launcher_version__pinned_solc__prints_native_style_version_line():
    proc = run([str(LAUNCHER), "--version"])
    solcjs = run(["node", "-e", "process.stdout.write(require('solc').version())"])

    assert proc.returncode == 0 and proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert lines[0] == "solc, the solidity compiler commandline interface"
    assert re.fullmatch(rf"Version: {re.escape(SOLC_VERSION)}\+commit\.[0-9a-f]{{8}}\S*", lines[1])
    assert lines[1] == f"Version: {solcjs.stdout}"


def test_launcher__compiler_ape_runs__is_the_solcjs_cli():
    if LAUNCHER.resolve() != LAUNCHER_SCRIPT.resolve():
        pytest.skip(f"{LAUNCHER} is a native solc, not the solc-js launcher")

    assert os.access(LAUNCHER, os.X_OK)
    assert LAUNCHER.is_symlink()


def test_ape_build__compiler_version__is_the_launchers(ape_compiler):
    proc = run([str(LAUNCHER), "--version"])

    version_line = proc.stdout.splitlines()[1]
    assert version_line.startswith(f"Version: {ape_compiler['version']}")
    assert ape_compiler["version"].startswith(f"{SOLC_VERSION}+commit.")


# ------------------------------------------------------------------ (b) launcher vs solc-js vs ape
def test_launcher_standard_json__vault__identical_to_direct_solcjs(launcher_raw, direct_raw):
    via_launcher, direct = json.loads(launcher_raw), json.loads(direct_raw)

    assert errors_of(via_launcher) == errors_of(direct) == []
    ours = via_launcher["contracts"][VAULT_SOURCE]["Vault"]
    theirs = direct["contracts"][VAULT_SOURCE]["Vault"]
    assert ours["abi"] == theirs["abi"]
    assert ours["evm"]["bytecode"]["object"] == theirs["evm"]["bytecode"]["object"]
    assert ours["evm"]["deployedBytecode"]["object"] == theirs["evm"]["deployedBytecode"]["object"]
    assert ours["metadata"] == theirs["metadata"]
    assert via_launcher == direct  # every output, warnings and ASTs included


def test_ape_build__settings__match_ape_config(ape_compiler):
    settings = ape_compiler["settings"]
    solidity = APE_CONFIG["solidity"]

    assert settings["evmVersion"] == solidity["evm_version"] == "cancun"
    assert settings["optimizer"] == {"enabled": True, "runs": solidity["optimization_runs"]}
    assert (
        settings["optimizer"]["runs"] == 1000
    )  # hot paths; bytecode limit (docs/dynamic-margin.md)
    assert sorted(settings["remappings"]) == sorted(solidity["import_remapping"])
    # The IR pipeline: about 4-8% less gas on the liquidation paths, for ~20 s more compile time.
    assert settings["viaIR"] is solidity["via_ir"] is True


def test_launcher_standard_json__vault_with_ape_settings__equals_ape_artifact(
    launcher_vault, ape_build
):
    stored = ape_build["contractTypes"]["Vault"]
    in_memory = project.Vault.contract_type

    creation = "0x" + launcher_vault["evm"]["bytecode"]["object"]
    runtime = "0x" + launcher_vault["evm"]["deployedBytecode"]["object"]
    assert stored["sourceId"] == VAULT_SOURCE
    assert creation == stored["deploymentBytecode"]["bytecode"]
    assert runtime == stored["runtimeBytecode"]["bytecode"]
    assert creation == in_memory.deployment_bytecode.bytecode
    assert runtime == in_memory.runtime_bytecode.bytecode
    assert launcher_vault["abi"] == stored["abi"]


def test_launcher_standard_json__vault__metadata_hash_commits_to_metadata(launcher_vault):
    # Equal bytecode means equal metadata hash, which commits to the compiler, the settings and
    # every source's keccak: check that the CBOR tail really is the IPFS hash of this metadata
    # and the solc version.
    cbor = cbor_metadata(launcher_vault["evm"]["deployedBytecode"]["object"])
    metadata = json.loads(launcher_vault["metadata"])
    major, minor, patch = (int(x) for x in SOLC_VERSION.split("."))

    assert cbor == (
        bytes.fromhex("a2" + "64" + b"ipfs".hex() + "5822")
        + ipfs_multihash(launcher_vault["metadata"].encode())
        + bytes.fromhex("64" + b"solc".hex() + "43")
        + bytes([major, minor, patch])
    )
    assert metadata["compiler"]["version"].startswith(f"{SOLC_VERSION}+commit.")
    assert metadata["settings"]["compilationTarget"] == {VAULT_SOURCE: "Vault"}
    assert metadata["settings"]["evmVersion"] == "cancun"
    assert metadata["settings"]["optimizer"] == {"enabled": True, "runs": 1000}
    assert (
        "node_modules/@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol"
        in (metadata["sources"])
    )
    assert "interfaces/IVault.sol" in metadata["sources"]


def test_launcher_standard_json__output_over_64_kib__arrives_whole(launcher_raw, direct_raw):
    size = len(launcher_raw.encode())

    assert size > 4 * PIPE_BUFFER
    assert size == len(direct_raw.encode())
    assert launcher_raw.rstrip().endswith("}")
    assert json.loads(launcher_raw)["contracts"][VAULT_SOURCE]["Vault"]["evm"]["bytecode"]


# --------------------------------------------------------------------------------- (c) interfaces
def test_interfaces__folder__holds_the_protocol_interfaces():
    assert INTERFACES == [
        "interfaces/ILiquidationCallback.sol",
        "interfaces/ILiquidationEngine.sol",
        "interfaces/ILiquidator.sol",
        "interfaces/IMarginAccount.sol",
        "interfaces/IMarginConfig.sol",
        "interfaces/IPriceOracle.sol",
        "interfaces/ISwapRouter.sol",
        "interfaces/IVault.sol",
    ]


@pytest.mark.parametrize("source", INTERFACES)
def test_interface__compiled_through_launcher__no_errors_and_no_bytecode(interfaces_output, source):
    name = Path(source).stem
    file_errors = [
        e
        for e in interfaces_output.get("errors", [])
        if e["severity"] == "error" and e.get("sourceLocation", {}).get("file") == source
    ]

    assert errors_of(interfaces_output) == []
    assert file_errors == []
    compiled = interfaces_output["contracts"][source][name]
    assert compiled["abi"] != []
    assert compiled["evm"]["bytecode"]["object"] == ""  # an interface deploys nothing


@pytest.mark.parametrize("source", INTERFACES)
def test_interface__ape_build__is_a_compiler_input(ape_compiler, source):
    assert source in ape_compiler["settings"]["outputSelection"]


@pytest.mark.parametrize("source", INTERFACES)
def test_interface__contracts__import_it_and_one_implements_its_abi(
    interfaces_output, ape_build, source
):
    name = Path(source).stem
    importers = [
        p.relative_to(ROOT).as_posix()
        for p in sorted((ROOT / "contracts").rglob("*.sol"))
        if re.search(
            rf'import\s*\{{[^}}]*\b{name}\b[^}}]*\}}\s*from\s*"[./]*{re.escape(source)}"',
            p.read_text(),
        )
    ]

    def implementing(paths) -> list[str]:
        return [
            m[1]
            for p in paths
            # concrete contracts only: an abstract base implements a part
            for m in re.finditer(
                r"(?<!abstract )\bcontract\s+(\w+)\s+is\s+([^{]+)\{", p.read_text()
            )
            if name in re.findall(r"\w+", m[2])
        ]

    # The protocol contract that implements it; test mocks only where none does (the callback).
    implementers = implementing(sorted((ROOT / "contracts").glob("*.sol"))) or implementing(
        sorted((ROOT / "contracts" / "mocks").glob("*.sol"))
    )

    assert importers, f"no contract imports {source}"
    assert len(implementers) == 1, implementers
    implemented = [abi_signature(e) for e in ape_build["contractTypes"][implementers[0]]["abi"]]
    missing = [
        entry
        for entry in map(abi_signature, interfaces_output["contracts"][source][name]["abi"])
        if entry not in implemented
    ]
    assert missing == []
