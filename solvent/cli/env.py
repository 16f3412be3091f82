"""Where the project is and the environment its tools need, wherever `solvent` is typed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import click

#: The Solvent checkout this package was installed from (editable install), or $SOLVENT_HOME.
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def project_root() -> Path:
    root = Path(os.environ.get("SOLVENT_HOME") or PACKAGE_ROOT)
    if not (root / "ape-config.yaml").is_file():
        raise click.ClickException(
            f"{root} is not a Solvent checkout (no ape-config.yaml); set SOLVENT_HOME to one"
        )
    return root


def tool_env(root: Path | None = None) -> dict[str, str]:
    """The Makefile's environment: project-local compilers, ape data folder and node binaries."""
    root = root or project_root()
    env = dict(os.environ)
    env.setdefault("SOLCX_BINARY_PATH", str(root / ".solcx"))
    env.setdefault("APE_DATA_FOLDER", str(root / ".ape"))
    paths = [root / ".foundry-bin", root / ".venv" / "bin", root / "node_modules" / ".bin"]
    env["PATH"] = os.pathsep.join([*map(str, paths), env.get("PATH", "")])
    return env


def find_tool(name: str) -> str:
    """A native tool (anvil) from the project's toolchain, else from PATH."""
    found = shutil.which(name, path=tool_env()["PATH"])
    if found is None:
        raise click.ClickException(f"{name} not found: run `make setup` in {project_root()}")
    return found


def resolve(path: Path | None, cwd: Path) -> Path | None:
    """A path the user typed, made absolute against the folder they typed it in."""
    if path is None:
        return None
    return path if path.is_absolute() else (cwd / path).resolve()
