"""Fixtures of the scenario tests: a mirror-checked keeper and the market reader it uses."""

from __future__ import annotations

import pytest

from tests.utils.scenarios import Keeper, Market


@pytest.fixture
def market(system) -> Market:
    return Market(system)


@pytest.fixture
def keeper_bot(system, keeper, market) -> Keeper:
    """The `keeper` account liquidating through the Liquidator, every step checked against the mirror."""
    return Keeper(system, keeper, market)
