"""load_config refuses a bad configuration before anything is sent: every problem one line, naming
the key path and the fix; the bounds mirror the contracts' constants. Pure Python, no chain."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from solvent import config as cfg
from solvent.config import ConfigError, load_config
from solvent.plan import deployment_plan

ROOT = Path(__file__).resolve().parents[1]
LOCAL = ROOT / "config" / "local.yaml"
SEPOLIA = ROOT / "config" / "sepolia.yaml"
ADDRESS = "0xBcd4042DE499D14e55001CcbB24a551F3b954096"  # anvil account 10 (checksummed)

Mutation = Callable[[dict[str, Any]], object]


def _local() -> dict[str, Any]:
    return yaml.safe_load(LOCAL.read_text())


def _sepolia() -> dict[str, Any]:
    return yaml.safe_load(SEPOLIA.read_text())


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _error(tmp_path: Path, data: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, data))
    message = str(info.value)
    assert "\n" not in message and message.strip() == message, message
    return info.value


def _asset(data: dict[str, Any], symbol: str) -> dict[str, Any]:
    return next(a for a in data["assets"] if a["symbol"] == symbol)


def _set(symbol: str, /, **values: Any) -> Mutation:
    return lambda d: _asset(d, symbol).update(values)


def _set_rate(symbol: str, /, **values: Any) -> Mutation:
    return lambda d: _asset(d, symbol)["rate_model"].update(values)


def _set_in(section: str, /, **values: Any) -> Mutation:
    return lambda d: d[section].update(values)


def _set_dynamic(symbol: str, /, **values: Any) -> Mutation:
    return lambda d: d["dynamic_margin"]["assets"][symbol].update(values)


# ---------------------------------------------------------------------------- shipped configs
def test_shipped_local_config__loads_with_its_values():
    config = load_config(LOCAL)

    assert [a.symbol for a in config.assets] == ["USDC", "WBTC", "WETH"]
    weth = config.asset("WETH")
    assert (weth.imf, weth.mmf, weth.decimals, weth.price) == (
        12 * 10**16,
        6 * 10**16,
        18,
        3000 * 10**18,
    )
    assert weth.rate_model.as_tuple() == (0, 3 * 10**16, 8 * 10**17, 8 * 10**17)
    assert config.asset("USDC").collateral_cap(6) == 100_000_000 * 10**6
    assert (config.insurance_share, config.target_health) == (2 * 10**17, 105 * 10**16)
    assert config.dynamic_margin is not None and set(config.dynamic_margin.assets) == {
        "WETH",
        "WBTC",
        "USDC",
    }
    assert config.governance is not None and config.governance.proposers == (ADDRESS,)


def test_shipped_sepolia_config__loads_though_governance_is_still_to_fill_in():
    config = load_config(SEPOLIA)

    assert not config.mocks and [a.symbol for a in config.assets] == ["USDC", "WETH"]
    assert config.asset("WETH").token == "0xfFf9976782d46CC05630D1f6eBAb18b2324d6B14"
    assert config.asset("USDC").band_max == 2 * 10**18
    # deploy (solvent.governance.check_governance) refuses these; loading does not.
    assert config.governance is not None
    assert config.governance.proposers == () and config.governance.guardian is None


# ---------------------------------------------------------------------------- unknown keys
@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(
            lambda d: d.update(asets=[]),
            "unknown top-level key 'asets' (did you mean 'assets'?); known keys: network,",
            id="top-level",
        ),
        pytest.param(
            _set("WBTC", imff="0.1"),
            "assets[1] (WBTC): unknown key 'imff' (did you mean 'imf'?); known keys: symbol,",
            id="asset",
        ),
        pytest.param(
            _set_rate("USDC", knik="0.8"),
            "assets[0] (USDC).rate_model: unknown key 'knik' (did you mean 'kink'?)",
            id="rate_model",
        ),
        pytest.param(
            _set("WETH", price_band={"min": "100", "max": "1000000", "mx": "1"}),
            "assets[2] (WETH).price_band: unknown key 'mx' (did you mean 'max'?)",
            id="price_band",
        ),
        pytest.param(
            _set_in("liquidation", target_heath="1.05"),
            "liquidation: unknown key 'target_heath' (did you mean 'target_health'?)",
            id="liquidation",
        ),
        pytest.param(
            _set_in("dynamic_margin", horizn=86400),
            "dynamic_margin: unknown key 'horizn' (did you mean 'horizon'?)",
            id="dynamic_margin",
        ),
        pytest.param(
            _set_dynamic("WETH", sigmaa="1"),
            "dynamic_margin.assets.WETH: unknown key 'sigmaa' (did you mean 'sigma'?)",
            id="dynamic_margin.assets",
        ),
        pytest.param(
            _set_in("governance", guardians=[]),
            "governance: unknown key 'guardians' (did you mean 'guardian'?)",
            id="governance",
        ),
        pytest.param(
            lambda d: d.update(sequencer={"feed": ADDRESS, "grace": 3600}),
            "sequencer: unknown key 'grace' (did you mean 'grace_period'?)",
            id="sequencer",
        ),
    ],
)
def test_unknown_key__refused_with_its_path_and_the_closest_known_key(tmp_path, mutate, expected):
    data = _local()
    mutate(data)

    err = _error(tmp_path, data)

    assert expected in err.problems[0], err.problems


def test_unknown_key__a_far_off_name__lists_the_known_keys_without_a_guess(tmp_path):
    data = _local()
    _set("USDC", colour="blue")(data)

    message = str(_error(tmp_path, data))

    assert message.startswith("assets[0] (USDC): unknown key 'colour'; known keys: symbol, name,")
    assert "did you mean" not in message


def test_dynamic_margin_asset__not_listed__refused_with_the_closest_symbol(tmp_path):
    data = _local()
    data["dynamic_margin"]["assets"]["WETHH"] = {"size_threshold": "5000000"}

    message = str(_error(tmp_path, data))

    assert message.startswith('dynamic_margin.assets.WETHH: "WETHH" is not a listed asset;')
    assert "did you mean 'WETH'?" in message


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(
            _set("USDC", token=ADDRESS),
            "assets[0] (USDC).token: only used with mocks: false",
            id="token-with-mocks",
        ),
        pytest.param(
            lambda d: d.update(feed_decimals=8),
            "feed_decimals: only used with mocks: true",
            id="feed_decimals-without-mocks",
        ),
    ],
)
def test_key_of_the_other_mode__refused_not_silently_ignored(tmp_path, mutate, expected):
    data = _local() if "token" in expected else _sepolia()
    mutate(data)

    assert expected in str(_error(tmp_path, data))


def test_price_without_mocks__refused(tmp_path):
    data = _sepolia()
    _set("WETH", price="3000")(data)

    message = str(_error(tmp_path, data))

    assert message.startswith("assets[1] (WETH).price: only used with mocks: true")


# ---------------------------------------------------------------------------- values
@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(
            _set("USDC", imf="10%"),
            'assets[0] (USDC).imf: "10%" is not a decimal; write 0.1 (fractions are plain '
            "decimals, 1 = 100%)",
            id="percent",
        ),
        pytest.param(
            _set("WBTC", min_discount="5 bps"),
            'assets[1] (WBTC).min_discount: "5 bps" is not a decimal; write 0.0005',
            id="bps",
        ),
        pytest.param(
            _set_in("liquidation", target_health="105%"),
            'liquidation.target_health: "105%" is not a decimal; write 1.05',
            id="percent-above-one",
        ),
        pytest.param(
            _set("WETH", collateral_cap="50000 WETH"),
            'assets[2] (WETH).collateral_cap: "50000 WETH" is not a decimal; write 50000 (whole '
            "tokens",
            id="token-unit",
        ),
        pytest.param(
            _set("USDC", min_debt_value="$100"),
            'assets[0] (USDC).min_debt_value: "$100" is not a decimal; write 100 (US dollars',
            id="dollar-sign",
        ),
        pytest.param(
            _set("USDC", mmf="-0.02"),
            'assets[0] (USDC).mmf: "-0.02" is negative;',
            id="negative-string",
        ),
        pytest.param(
            _set_rate("WETH", slope1=-0.03),
            "assets[2] (WETH).rate_model.slope1: -0.03 is negative;",
            id="negative-number",
        ),
        pytest.param(
            _set("USDC", imf="abc"),
            'assets[0] (USDC).imf: "abc" is not a decimal; write a number such as',
            id="not-a-number",
        ),
        pytest.param(
            _set("USDC", reserve_factor=True),
            "assets[0] (USDC).reserve_factor: true is a boolean, not a number;",
            id="boolean",
        ),
        pytest.param(
            _set("USDC", imf=None),
            "assets[0] (USDC).imf: no value; write a number such as",
            id="null",
        ),
        pytest.param(
            _set("USDC", imf=[0.04]),
            "assets[0] (USDC).imf: expected a number, got a list;",
            id="list",
        ),
        pytest.param(
            _set("USDC", imf=".inf"),
            'assets[0] (USDC).imf: ".inf" is not a decimal;',
            id="infinity",
        ),
        pytest.param(
            _set("WETH", max_age="1h"),
            'assets[2] (WETH).max_age: "1h" is not a whole number; write 3600 (durations are '
            "whole seconds)",
            id="duration-unit",
        ),
        pytest.param(
            _set_in("governance", timelock_delay="2 days"),
            'governance.timelock_delay: "2 days" is not a whole number; write 172800',
            id="duration-days",
        ),
        pytest.param(
            _set("WETH", max_age=3600.5),
            "assets[2] (WETH).max_age: 3600.5 is not a whole number;",
            id="fractional-seconds",
        ),
        pytest.param(
            _set("WETH", decimals=-1),
            "assets[2] (WETH).decimals: -1 is negative;",
            id="negative-integer",
        ),
        pytest.param(
            _set("USDC", imf="0.04005"),
            'assets[0] (USDC).imf: "0.04005" is not a whole basis point',
            id="not-whole-bps",
        ),
        pytest.param(
            _set("USDC", collateral_cap="1.0000001"),
            'assets[0] (USDC).collateral_cap: "1.0000001" has more than 6 decimals',
            id="cap-finer-than-token",
        ),
        pytest.param(
            _set("USDC", price="1.000000001"),
            "assets[0] (USDC).price: 1.000000001 has more than feed_decimals (8) decimals",
            id="price-finer-than-feed",
        ),
        pytest.param(
            lambda d: d.update(mocks="yes please"),
            'mocks: "yes please" is not a boolean;',
            id="mocks-not-boolean",
        ),
        pytest.param(
            _set("WETH", symbol=True),
            "assets[2].symbol: true is not a ticker;",
            id="symbol-not-text",
        ),
        pytest.param(
            _set_in("governance", guardian="0x123"),
            'governance.guardian: "0x123" is not an address',
            id="address",
        ),
        pytest.param(
            _set_in("governance", guardian="0x71bE63f3384f5fb98995898A86B02Fb2426c5789"),
            "governance.guardian: ",  # one digit changed: the EIP-55 checksum catches it
            id="checksum",
        ),
        pytest.param(
            _set_in("governance", proposers=ADDRESS),
            f'governance.proposers: "{ADDRESS}" is not a list; write proposers: ["0x..."]',
            id="proposers-not-a-list",
        ),
        pytest.param(
            _set_in("governance", proposers=["0x" + "0" * 40]),
            "governance.proposers[0]: the zero address",
            id="zero-proposer",
        ),
    ],
)
def test_bad_value__refused_with_its_path_and_the_fix(tmp_path, mutate, expected):
    data = _local()
    mutate(data)

    err = _error(tmp_path, data)

    assert expected in str(err), str(err)
    assert str(err).startswith(expected.split(":")[0])
    assert len(err.problems) == 1, err.problems


def test_missing_key__refused_with_where_to_add_it(tmp_path):
    data = _local()
    del _asset(data, "WBTC")["mmf"]

    assert str(_error(tmp_path, data)) == "assets[1] (WBTC): missing 'mmf'; add mmf: \"0.05\""


def test_missing_section__refused(tmp_path):
    data = _local()
    del data["liquidation"]

    assert str(_error(tmp_path, data)).startswith("liquidation: missing; add liquidation:")


def test_assets__empty_or_not_a_list__refused(tmp_path):
    data = _local()
    data["assets"] = []
    assert str(_error(tmp_path, data)) == "assets: no assets listed; list at least one"

    data["assets"] = {"symbol": "USDC"}
    assert str(_error(tmp_path, data)).startswith("assets: expected a list of asset mappings")


# ---------------------------------------------------------------------------- on-chain bounds
@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(
            _set("USDC", imf="1.2"),
            "assets[0] (USDC).imf: 1.2 is above the maximum 0.95 (MarginConfig.MAX_MARGIN_FACTOR)",
            id="imf-above-one",
        ),
        pytest.param(
            _set("USDC", imf="0.96", mmf="0.5"),
            "assets[0] (USDC).imf: 0.96 is above the maximum 0.95",
            id="imf-above-max-margin-factor",
        ),
        pytest.param(
            _set("WBTC", mmf="0.1"),
            "assets[1] (WBTC).mmf: 0.1 is not below imf 0.1 (MarginAdmin: mmf < imf)",
            id="mmf-equal-imf",
        ),
        pytest.param(
            _set("WBTC", mmf="0.2"),
            "assets[1] (WBTC).mmf: 0.2 is not below imf 0.1",
            id="mmf-above-imf",
        ),
        pytest.param(
            _set("USDC", mmf="0"),
            "assets[0] (USDC).mmf: 0 is below the minimum 0.005 (MarginConfig.MIN_MARGIN_FACTOR)",
            id="mmf-zero",
        ),
        pytest.param(
            _set("WETH", min_discount="0.08", max_discount="0.07"),
            "assets[2] (WETH).min_discount: 0.08 is above max_discount 0.07",
            id="min-discount-above-max",
        ),
        pytest.param(
            _set("WETH", min_discount="0"),
            "assets[2] (WETH).min_discount: 0 is below the minimum 0.0001 "
            "(MarginConfig.MIN_DISCOUNT)",
            id="min-discount-zero",
        ),
        pytest.param(
            _set("USDC", max_discount="0.0393"),
            "assets[0] (USDC).max_discount: 0.0393 is not below the on-chain cap (mmf + lowest "
            "mmf) / (1 + lowest mmf) = (0.02 + 0.02) / (1 + 0.02) = 0.039215... "
            "(MarginAdmin._checkDiscountBounds); write at most 0.0392 or raise the mmf",
            id="max-discount-above-cap",
        ),
        pytest.param(
            _set("WETH", max_discount="0.0785"),
            "assets[2] (WETH).max_discount: 0.0785 is not below the on-chain cap",
            id="max-discount-cap-uses-lowest-mmf",
        ),
        pytest.param(
            _set_in("liquidation", target_health="0.99"),
            "liquidation.target_health: 0.99 is below the minimum 1 (Liquidator.MIN_TARGET_HEALTH)",
            id="target-health-low",
        ),
        pytest.param(
            _set_in("liquidation", target_health="1.6"),
            "liquidation.target_health: 1.6 is above the maximum 1.5 "
            "(Liquidator.MAX_TARGET_HEALTH)",
            id="target-health-high",
        ),
        pytest.param(
            _set_in("liquidation", insurance_share="0.51"),
            "liquidation.insurance_share: 0.51 is above the maximum 0.5 "
            "(Liquidator.MAX_INSURANCE_SHARE)",
            id="insurance-share",
        ),
        pytest.param(
            _set_rate("USDC", kink="0"),
            "assets[0] (USDC).rate_model.kink: 0 must be above 0",
            id="kink-zero",
        ),
        pytest.param(
            # Vault._setRateModel reverts on kink >= WAD: 1 is refused too.
            _set_rate("USDC", kink="1"),
            "assets[0] (USDC).rate_model.kink: 1 must be below 1 (Vault._setRateModel",
            id="kink-one",
        ),
        pytest.param(
            _set_rate("WBTC", slope2="9.97"),
            "assets[1] (WBTC).rate_model: base + slope1 + slope2 = 10.01 is above 10 a year "
            "(Vault.MAX_BORROW_RATE)",
            id="max-borrow-rate",
        ),
        pytest.param(
            _set("WETH", reserve_factor="0.55"),
            "assets[2] (WETH).reserve_factor: 0.55 is above the maximum 0.5 "
            "(Vault.MAX_RESERVE_FACTOR)",
            id="reserve-factor",
        ),
        pytest.param(
            _set("WETH", decimals=19),
            "assets[2] (WETH).decimals: 19 is above the maximum 18 (MarginConfig.MAX_DECIMALS)",
            id="token-decimals",
        ),
        pytest.param(
            lambda d: d.update(feed_decimals=37),
            "feed_decimals: 37 is above the maximum 36 (ChainlinkOracle.MAX_FEED_DECIMALS)",
            id="feed-decimals",
        ),
        pytest.param(
            _set("WETH", max_age=0),
            "assets[2] (WETH).max_age: 0 s is below the minimum 1 s",
            id="max-age-zero",
        ),
        pytest.param(
            _set("WETH", max_age=7 * 86400 + 1),
            "assets[2] (WETH).max_age: 604801 s is above the maximum 604800 s "
            "(ChainlinkOracle.MAX_MAX_AGE)",
            id="max-age-long",
        ),
        pytest.param(
            _set("USDC", collateral_cap=str(2**128)),
            "assets[0] (USDC).collateral_cap: ",
            id="cap-above-uint128",
        ),
        pytest.param(
            _set("USDC", price="0"),
            "assets[0] (USDC).price: 0 is not a price",
            id="mock-price-zero",
        ),
        pytest.param(
            _set("WETH", max_jump="0.005"),
            "assets[2] (WETH).max_jump: 0.005 is below the minimum 0.01 (ChainlinkOracle.MIN_JUMP",
            id="max-jump",
        ),
        pytest.param(
            _set("WETH", price_band={"min": "5000", "max": "4000"}),
            "assets[2] (WETH).price_band: min 5000 must be above 0 and below max 4000",
            id="band-inverted",
        ),
        pytest.param(
            _set("WETH", price_band={"min": "100", "max": "0"}),
            "assets[2] (WETH).price_band: min 100 must be above 0 and below max 0",
            id="band-half",
        ),
        pytest.param(
            _set("WETH", price_band={"min": "4000", "max": "5000"}),
            "assets[2] (WETH).price_band: the mock price 3000 is outside [4000, 5000]",
            id="band-excludes-mock-price",
        ),
        pytest.param(
            _set("WETH", secondary_feed="mock", max_deviation="0.02"),
            "assets[2] (WETH): missing 'secondary_max_age'",
            id="secondary-without-age",
        ),
        pytest.param(
            _set("WETH", secondary_feed="mock", secondary_max_age=3600, max_deviation="0.6"),
            "assets[2] (WETH).max_deviation: 0.6 is above the maximum 0.5 "
            "(ChainlinkOracle.MAX_DEVIATION)",
            id="max-deviation",
        ),
        pytest.param(
            _set("WETH", max_deviation="0.02"),
            "assets[2] (WETH).max_deviation: only used with a secondary_feed",
            id="deviation-without-secondary",
        ),
        pytest.param(
            _set_in("dynamic_margin", mmf_cap="0.8", imf_cap="0.75"),
            "dynamic_margin.mmf_cap: 0.8 is not below imf_cap 0.75",
            id="mmf-cap-above-imf-cap",
        ),
        pytest.param(
            _set_in("dynamic_margin", mmf_cap="0.055"),
            "assets[2] (WETH).mmf: 0.06 is above dynamic_margin.mmf_cap 0.055 "
            "(MarginAdmin._checkCaps)",
            id="asset-mmf-above-model-cap",
        ),
        pytest.param(
            _set_in("dynamic_margin", k="11"),
            "dynamic_margin.k: 11 is above the maximum 10 (MarginConfig.MAX_VOL_MULTIPLIER)",
            id="k",
        ),
        pytest.param(
            _set_in("dynamic_margin", horizon=60),
            "dynamic_margin.horizon: 60 s is below the minimum 3600 s (MarginConfig.MIN_HORIZON)",
            id="horizon",
        ),
        pytest.param(
            _set_in("dynamic_margin", max_sigma_age=8 * 86400),
            "dynamic_margin.max_sigma_age: 691200 s is above the maximum 604800 s "
            "(MarginConfig.MAX_SIGMA_AGE)",
            id="max-sigma-age",
        ),
        pytest.param(
            _set_in("dynamic_margin", tau=91 * 86400),
            "dynamic_margin.tau: 7862400 s is above the maximum 7776000 s "
            "(VolatilityOracle.MAX_TAU)",
            id="tau",
        ),
        pytest.param(
            _set_dynamic("USDC", size_threshold="999"),
            "dynamic_margin.assets.USDC.size_threshold: 999 is below the minimum 1000",
            id="size-threshold",
        ),
        pytest.param(
            _set_dynamic("USDC", size_threshold="1000.5"),
            'dynamic_margin.assets.USDC.size_threshold: "1000.5" has more than 0 decimals',
            id="size-threshold-whole-dollars",
        ),
        pytest.param(
            _set_dynamic("WETH", ramp_period=31 * 86400),
            "dynamic_margin.assets.WETH.ramp_period: 2678400 s is above the maximum 2592000 s "
            "(MarginConfig.MAX_RAMP_PERIOD)",
            id="ramp-period",
        ),
        pytest.param(
            _set_dynamic("WETH", ramp_period=0),
            "dynamic_margin.assets.WETH: a stale_floor needs a ramp_period above 0",
            id="stale-floor-without-ramp",
        ),
        pytest.param(
            _set_dynamic("WETH", sigma="21"),
            "dynamic_margin.assets.WETH.sigma: 21 is above the maximum 20 "
            "(VolatilityOracle.MAX_SIGMA)",
            id="sigma",
        ),
        pytest.param(
            _set_dynamic("USDC", sigma="0.1"),
            "dynamic_margin.assets.USDC.sigma: only used with a stale_floor above 0",
            id="sigma-without-floor",
        ),
        pytest.param(
            _set_in("governance", timelock_delay=31 * 86400),
            "governance.timelock_delay: 2678400 s is above the maximum 2592000 s",
            id="timelock-delay",
        ),
        pytest.param(
            lambda d: d.update(sequencer={"feed": ADDRESS, "grace_period": 86401}),
            "sequencer.grace_period: 86401 s is above the maximum 86400 s "
            "(ChainlinkOracle.MAX_GRACE_PERIOD)",
            id="grace-period-long",
        ),
        pytest.param(
            lambda d: d.update(sequencer={"feed": ADDRESS}),
            "sequencer.grace_period: 0 s is below the minimum 1 s",
            id="sequencer-without-grace-period",
        ),
        pytest.param(
            lambda d: d.update(sequencer={"grace_period": 3600}),
            "sequencer.grace_period: only used with a sequencer feed",
            id="grace-period-without-feed",
        ),
    ],
)
def test_out_of_onchain_bounds__refused_citing_the_bound(tmp_path, mutate, expected):
    data = _local()
    mutate(data)

    err = _error(tmp_path, data)

    assert expected in str(err), str(err)
    assert len(err.problems) == 1, err.problems


def test_max_discount__just_below_the_onchain_cap__accepted(tmp_path):
    data = _local()
    _set("USDC", max_discount="0.0392")(data)  # cap (0.02 + 0.02) / 1.02 = 0.039215...

    assert load_config(_write(tmp_path, data)).asset("USDC").max_discount == 392 * 10**14


def test_max_discount_cap__falls_for_every_asset_when_a_lower_mmf_is_listed(tmp_path):
    """The cap uses the lowest mmf of all assets: listing a low-mmf asset tightens the others."""
    data = _local()
    low = copy.deepcopy(_asset(data, "USDC"))
    low.update(symbol="DAI", name="Dai (mock)", decimals=18, imf="0.01", mmf="0.005")
    low.update(min_discount="0.001", max_discount="0.009")
    data["assets"].append(low)

    err = _error(tmp_path, data)

    # WETH: (0.06 + 0.005) / 1.005 = 0.06467... < 0.07.
    assert any(p.startswith("assets[2] (WETH).max_discount: 0.07 is not") for p in err.problems)


def test_duplicate_symbol__refused(tmp_path):
    data = _local()
    _set("WBTC", symbol="usdc")(data)
    data["dynamic_margin"]["assets"].pop("WBTC")

    err = _error(tmp_path, data)

    assert str(err).startswith('assets[1] (usdc).symbol: "usdc" is also assets[0]\'s symbol')
    assert len(err.problems) == 1


def test_duplicate_token__refused(tmp_path):
    data = _sepolia()
    _set("WETH", token=_asset(data, "USDC")["token"])(data)

    message = str(_error(tmp_path, data))

    assert message.startswith("assets[1] (WETH).token: 0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238")
    assert "AssetAlreadyListed" in message


def test_duplicate_yaml_key__refused_with_its_line(tmp_path):
    text = LOCAL.read_text().replace('    mmf: "0.05"\n', '    mmf: "0.05"\n    mmf: "0.09"\n', 1)
    path = tmp_path / "config.yaml"
    path.write_text(text)
    line = text.splitlines().index('    mmf: "0.09"') + 1

    with pytest.raises(ConfigError, match=rf"^line {line}: duplicate key 'mmf' \(first on line"):
        load_config(path)


def test_invalid_yaml__one_line(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("assets: [1, 2\nnetwork: local\n")

    with pytest.raises(ConfigError) as info:
        load_config(path)

    assert str(info.value).startswith("not valid YAML: ") and "\n" not in str(info.value)


def test_missing_or_empty_file__one_line(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(ConfigError, match="is empty"):
        load_config(tmp_path / "empty.yaml")


def test_several_problems__all_reported_on_one_line(tmp_path):
    data = _local()
    _set("USDC", imf="10%")(data)
    _set("WBTC", imff="0.1")(data)
    _set_in("liquidation", target_health="2")(data)

    err = _error(tmp_path, data)

    assert len(err.problems) == 3
    assert str(err).startswith("3 problems: (1) liquidation.target_health: 2 is above")
    assert "(2) assets[0] (USDC).imf:" in str(err) and "(3) assets[1] (WBTC): unknown key" in str(
        err
    )


def test_mock_secondary_feed__needs_mocks(tmp_path):
    data = _sepolia()
    _set("WETH", secondary_feed="mock", secondary_max_age=4500, max_deviation="0.02")(data)

    assert str(_error(tmp_path, data)).startswith(
        "assets[1] (WETH).secondary_feed: 'mock' needs mocks: true"
    )


def test_optional_sections__absent_or_empty__accepted(tmp_path):
    data = _local()
    for key in ("dynamic_margin", "governance"):
        data.pop(key)
    data["sequencer"] = None

    config = load_config(_write(tmp_path, data))

    assert config.dynamic_margin is None and config.governance is None
    assert config.sequencer_feed is None and config.sequencer_grace_period == 0


def test_sequencer__feed_and_grace_period__accepted(tmp_path):
    data = _local()
    data["sequencer"] = {"feed": ADDRESS, "grace_period": 3600}

    config = load_config(_write(tmp_path, data))

    assert (config.sequencer_feed, config.sequencer_grace_period) == (ADDRESS, 3600)


def test_numbers__yaml_numbers_and_decimal_strings_agree(tmp_path):
    data = _local()
    _set("WETH", imf=0.12, mmf="0.06", max_age="3600", collateral_cap=50000)(data)

    weth = load_config(_write(tmp_path, data)).asset("WETH")

    assert (weth.imf, weth.mmf, weth.max_age, weth.collateral_cap(18)) == (
        12 * 10**16,
        6 * 10**16,
        3600,
        50000 * 10**18,
    )


# ---------------------------------------------------------------------------- mirrors
_SOLIDITY = {
    "MarginConfig.sol": (
        "BPS",
        "MAX_LISTED_ASSETS",
        "MIN_MARGIN_FACTOR",
        "MAX_MARGIN_FACTOR",
        "MAX_DECIMALS",
        "MIN_DISCOUNT",
        "MAX_DISCOUNT",
        "MIN_SIZE_THRESHOLD",
        "MAX_SIZE_THRESHOLD",
        "MAX_RAMP_PERIOD",
        "MAX_VOL_MULTIPLIER",
        "MIN_HORIZON",
        "MAX_HORIZON",
        "MIN_SIGMA_AGE",
        "MAX_SIGMA_AGE",
        "DEFAULT_MMF_CAP",
    ),
    "Vault.sol": ("MAX_RESERVE_FACTOR", "MAX_BORROW_RATE"),
    "Liquidator.sol": ("MAX_INSURANCE_SHARE", "MIN_TARGET_HEALTH", "MAX_TARGET_HEALTH"),
    "ChainlinkOracle.sol": (
        "BPS",
        "MAX_FEED_DECIMALS",
        "MAX_MAX_AGE",
        "MIN_DEVIATION",
        "MAX_DEVIATION",
        "MIN_JUMP",
        "MAX_JUMP",
        "MAX_GRACE_PERIOD",
    ),
    "VolatilityOracle.sol": ("MIN_TAU", "MAX_TAU", "MAX_SIGMA"),
}
_UNITS = {"minutes": 60, "hours": 3600, "days": 86400}


def _solidity_value(source: str, name: str) -> int:
    """A Solidity constant's value: literals such as 0.005e18, 1 days, (2 ** 40 - 1) * 1e18."""
    match = re.search(rf"constant {name}\s*=\s*([^;]+);", source)
    assert match, f"{name} not found"
    expr = match.group(1).replace("_", "")
    expr = re.sub(
        r"(\d+(?:\.\d+)?)e(\d+)", lambda m: str(int(Decimal(m.group(1)).scaleb(int(m[2])))), expr
    )
    expr = re.sub(r"(\d+)\s+(minutes|hours|days)", lambda m: f"({m[1]} * {_UNITS[m[2]]})", expr)
    expr = re.sub(r"\b(WAD)\b", str(10**18), expr)
    expr = re.sub(r"\bBPS\b", str(10**14), expr)
    assert re.fullmatch(r"[\d\s()*+\-]+", expr), f"{name} = {match.group(1)}: cannot evaluate"
    return int(eval(expr, {"__builtins__": {}}))


@pytest.mark.parametrize("contract", sorted(_SOLIDITY))
def test_mirrored_bounds__equal_the_solidity_constants(contract):
    source = (ROOT / "contracts" / contract).read_text()

    for name in _SOLIDITY[contract]:
        assert getattr(cfg, name) == _solidity_value(source, name), f"{contract} {name}"


# ---------------------------------------------------------------------------- the plan
def test_deployment_plan__local__mentions_every_asset_and_the_hand_over():
    config = load_config(LOCAL)

    plan = deployment_plan(config)
    text = "\n".join(plan)

    assert all(isinstance(line, str) and line and "\n" not in line for line in plan)
    for spec in config.assets:
        assert any(line.startswith(f"{spec.symbol}: list on MarginAccount") for line in plan)
        assert f"mock ERC20 {spec.name!r}" in text
    assert "USDC: list on MarginAccount: imf 4%, mmf 2%, liquidation discount 0.5% to 3%" in text
    assert "collateral 100,000,000 USDC, debt 80,000,000 USDC" in text
    assert "collateral 2,000 WBTC, debt 1,000 WBTC" in text
    assert "first answer $60,000" in text
    assert "deploy VolatilityOracle" in text and "dynamic WETH: size threshold $5,000,000" in text
    assert "delay 60 s (1 min)" in text
    assert f"proposers (queue, cancel): {ADDRESS}" in text
    assert "0x71bE63f3384f5fb98995898A86B02Fb2426c5788" in text
    assert "the deployer renounces every role" in text
    assert "deploy will refuse" not in text


def test_deployment_plan__sepolia__existing_addresses_and_what_deploy_will_refuse():
    config = load_config(SEPOLIA)

    text = "\n".join(deployment_plan(config))

    for spec in config.assets:
        assert f"existing token {spec.token}" in text
        assert f"existing Chainlink feed {spec.feed}" in text
    assert "mock" not in text
    assert "price band $100 to $1,000,000" in text
    assert "delay 172800 s (2 d)" in text
    assert "deploy will refuse: governance.proposers is empty" in text
    assert "deploy will refuse: governance.guardian is empty" in text


def test_deployment_plan__without_optional_sections(tmp_path):
    data = _local()
    data.pop("dynamic_margin")
    data.pop("governance")

    text = "\n".join(deployment_plan(load_config(_write(tmp_path, data))))

    assert "static margin factors" in text and "VolatilityOracle" not in text
    assert "the deployer keeps every admin role" in text
