"""Fixed-point integer helpers shared by the contracts' Python mirrors (risk, margin, rates):
the MarginAccount's MathLib and MarginMath.sqrtUp, with the rounding direction in the name."""

from __future__ import annotations

import math

WAD = 10**18
YEAR = 365 * 24 * 3600  # seconds, as the contracts count a year


def mul_div_down(a: int, b: int, d: int) -> int:
    """floor(a * b / d) for non-negative integers (MathLib.mulDivDown)."""
    return a * b // d


def mul_div_up(a: int, b: int, d: int) -> int:
    """ceil(a * b / d) for non-negative integers (MathLib.mulDivUp)."""
    return (a * b + d - 1) // d


def isqrt_up(x: int) -> int:
    """ceil(sqrt(x)) for an integer x >= 0 (MarginMath.sqrtUp)."""
    r = math.isqrt(x)
    return r if r * r == x else r + 1
