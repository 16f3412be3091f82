"""Exact unit conversions. Money math in Solvent's Python is integer-only; decimals enter as strings."""

from __future__ import annotations

from decimal import Decimal

WAD = 10**18


def to_wad(value: str | int | Decimal) -> int:
    """Convert a decimal string such as ``"0.05"`` to WAD (``5 * 10**16``), refusing lost precision."""
    return to_units(value, 18)


def to_units(value: str | int | Decimal, decimals: int) -> int:
    """Convert a decimal amount of whole tokens to base units; raise if it has too many decimals."""
    scaled = Decimal(str(value)) * (Decimal(10) ** decimals)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value!r} has more than {decimals} decimals")
    return int(scaled)


def from_wad(value: int) -> Decimal:
    """WAD integer to Decimal (for display only)."""
    return Decimal(value) / WAD


def from_units(value: int, decimals: int) -> Decimal:
    """Base units to Decimal whole tokens (for display only)."""
    return Decimal(value) / (Decimal(10) ** decimals)
