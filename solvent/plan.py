"""What `deploy` would do with a configuration, as lines for `--dry-run` (nothing is sent).

The steps follow solvent.deploy.deploy_system and solvent.governance.hand_over: mock tokens and
feeds (mocks: true), ChainlinkOracle, MarginAccount, one Vault per asset with its feeds and
listing, the Liquidator, dynamic margin, then the hand-over of every role to the timelock. Pure
Python: nothing here imports ape or touches a chain.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from solvent.config import AssetSpec, Governance, SolventConfig

WAD = 10**18

#: solvent.governance.MIN_LIVE_DELAY (not imported: that module needs ape): the shortest
#: timelock delay deploy accepts on a live network, seconds.
MIN_LIVE_DELAY = 24 * 3600
#: solvent.governance.ADMIN_ROLES: the admin roles the hand-over moves to the timelock.
ADMIN_ROLES = ("DEFAULT_ADMIN_ROLE", "RISK_ADMIN_ROLE", "ORACLE_ADMIN_ROLE", "VOL_ADMIN_ROLE")


def _num(value: Decimal) -> str:
    """A Decimal as a plain number: no exponent, no trailing zeros, thousands separated."""
    text = format(value.normalize(), ",f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _wad(value: int) -> str:
    return _num(Decimal(value) / WAD)


def _pct(value: int) -> str:
    return _num(Decimal(value) * 100 / WAD) + "%"


def _pct_down(value: int) -> str:
    """A percentage cut (not rounded up) to 4 decimals, for a bound that must not be reached."""
    return _num((Decimal(value) * 100 / WAD).quantize(Decimal("0.0001"), ROUND_DOWN)) + "%"


def _usd(value: int) -> str:
    return "$" + _wad(value)


def _tokens(text: str, symbol: str) -> str:
    return f"{_num(Decimal(text))} {symbol}"


def _duration(seconds: int) -> str:
    """Seconds, and the same in days / hours / minutes where that reads better."""
    if seconds < 60:
        return f"{seconds} s"
    parts = []
    rest = seconds
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size} {unit}")
            rest %= size
    return f"{seconds} s ({' '.join(parts)})"


def _discount_cap(spec: AssetSpec, lowest_mmf: int) -> int:
    """MarginAdmin._discountBound: (mmf + lowest mmf) / (1 + lowest mmf), WAD, rounded down;
    max_discount must stay below it."""
    return (spec.mmf + lowest_mmf) * WAD // (WAD + lowest_mmf)


def _rate_model(spec: AssetSpec) -> str:
    rm = spec.rate_model
    top = rm.base + rm.slope1 + rm.slope2
    return (
        f"borrow rate {_pct(rm.base)} + {_pct(rm.slope1)} up to {_pct(rm.kink)} utilization, "
        f"then + {_pct(rm.slope2)} up to {_pct(top)} a year at 100%"
    )


def _asset_lines(config: SolventConfig, spec: AssetSpec, lowest_mmf: int) -> list[str]:
    s = spec.symbol
    if config.mocks:
        token = f"mock ERC20 {spec.name!r} ({spec.decimals} decimals)"
        feed = f"mock feed '{s} / USD' ({config.feed_decimals} decimals), first answer "
        feed += _usd(spec.price or 0)
    else:
        decimals = f"; the config says {spec.decimals}" if spec.decimals is not None else ""
        token = f"existing token {spec.token} (decimals read from the token{decimals})"
        feed = f"existing Chainlink feed {spec.feed}"
    lines = [f"{s}: token: {token}", f"{s}: price: {feed}, max age {_duration(spec.max_age)}"]
    if spec.secondary_feed is not None:
        where = "a second mock feed" if spec.secondary_feed == "mock" else spec.secondary_feed
        lines.append(
            f"{s}: secondary feed {where}, max age {_duration(spec.secondary_max_age)}; risk "
            f"waits while the two differ by more than {_pct(spec.max_deviation)}"
        )
    if spec.max_jump:
        lines.append(
            f"{s}: jump guard: a move above {_pct(spec.max_jump)} waits for the next round"
        )
    if spec.band_max:
        lines.append(
            f"{s}: price band {_usd(spec.band_min)} to {_usd(spec.band_max)} (prices outside "
            "are unusable)"
        )
    lines.append(
        f"{s}: deploy Vault 'Solvent {s} Vault' (sv{s}): {_rate_model(spec)}; reserve factor "
        f"{_pct(spec.reserve_factor)}"
    )
    lines.append(
        f"{s}: list on MarginAccount: imf {_pct(spec.imf)}, mmf {_pct(spec.mmf)}, liquidation "
        f"discount {_pct(spec.min_discount)} to {_pct(spec.max_discount)} (the cap stays "
        f"below the on-chain bound {_pct_down(_discount_cap(spec, lowest_mmf))}), min debt {_usd(spec.min_debt_value)}, caps: "
        f"collateral {_tokens(spec.collateral_cap_tokens, s)}, debt {_tokens(spec.debt_cap_tokens, s)}"
    )
    return lines


def _governance_lines(config: SolventConfig, gov: Governance | None, contracts: str) -> list[str]:
    if gov is None:
        return [
            "no governance section: the deployer keeps every admin role (deploy refuses this on "
            "a live network)"
        ]
    proposers = ", ".join(gov.proposers) if gov.proposers else "none"
    executors = ", ".join(gov.executors) if gov.executors else "anyone"
    lines = [
        f"deploy SolventTimelock: delay {_duration(gov.timelock_delay)} between queue and "
        f"execute; proposers (queue, cancel): {proposers}; executors: {executors}",
        f"grant every admin role ({', '.join(ADMIN_ROLES)}) of {contracts} to the timelock",
        f"grant GUARDIAN_ROLE on MarginAccount to the guardian {gov.guardian or '(none)'}: it may "
        "act at once, only to reduce risk (raise margin, lower caps, pause)",
        "hand-over: the deployer renounces every role it held (and the timelock's set-up "
        "admin); afterwards it holds none",
    ]
    # What deploy checks with the deployer's address and the network (solvent.governance.
    # check_governance); the configuration loads without them, the deployment stops.
    if not gov.proposers:
        lines.append(
            "deploy will refuse: governance.proposers is empty; add the address (a multisig) "
            "that will queue changes"
        )
    if not gov.guardian:
        lines.append(
            "deploy will refuse: governance.guardian is empty; add the address (a multisig) "
            "that may pause and reduce risk"
        )
    if not config.mocks and gov.timelock_delay < MIN_LIVE_DELAY:
        lines.append(
            f"deploy will refuse on a live network: timelock_delay is below {MIN_LIVE_DELAY} s"
        )
    return lines


def deployment_plan(config: SolventConfig) -> list[str]:
    """Human-readable lines, in order, describing what `deploy` would do with `config`:
    contracts, each asset's token, feed and risk parameters, dynamic margin and governance."""
    n = len(config.assets)
    symbols = ", ".join(a.symbol for a in config.assets)
    source = (
        f"mock tokens and mock Chainlink-style feeds ({config.feed_decimals} decimals) are "
        "deployed first"
        if config.mocks
        else "existing tokens and Chainlink feeds (deploy checks they have code)"
    )
    sequencer = (
        f"L2 sequencer-uptime feed {config.sequencer_feed}, grace period "
        f"{_duration(config.sequencer_grace_period)}"
        if config.sequencer_feed
        else "no L2 sequencer feed"
    )
    lines = [
        f"network {config.network}: {n} asset{'s' if n != 1 else ''} ({symbols}); {source}",
        f"deploy ChainlinkOracle ({sequencer})",
        "deploy MarginAccount (with its MarginAdmin module), priced by the ChainlinkOracle",
    ]
    lowest_mmf = min(a.mmf for a in config.assets)
    for spec in config.assets:
        lines += _asset_lines(config, spec, lowest_mmf)
    lines.append(
        f"deploy Liquidator: {_pct(config.insurance_share)} of each liquidation discount to the "
        f"insurance fund, a partial liquidation stops at health {_wad(config.target_health)}; "
        "set it on MarginAccount"
    )
    dm = config.dynamic_margin
    if dm is None:
        lines.append("no dynamic_margin section: static margin factors")
    else:
        lines.append(
            f"deploy VolatilityOracle, EWMA time constant {_duration(dm.tau)}, and set it on "
            "MarginAccount"
        )
        lines.append(
            f"margin model: mmf cap {_pct(dm.mmf_cap)}, imf cap {_pct(dm.imf_cap)}, k "
            f"{_wad(dm.k)}, horizon {_duration(dm.horizon)}, sigma max age "
            f"{_duration(dm.max_sigma_age)}"
        )
        for symbol, a in dm.assets.items():
            size = (
                f"size threshold {_usd(a.size_threshold)}" if a.size_threshold else "no size term"
            )
            floor = (
                f"stale floor {_pct(a.stale_floor)}; track volatility from sigma {_pct(a.sigma)}"
                if a.stale_floor
                else "no volatility floor"
            )
            lines.append(f"dynamic {symbol}: {size}, ramp {_duration(a.ramp_period)}, {floor}")
        static = [a.symbol for a in config.assets if a.symbol not in dm.assets]
        if static:
            lines.append(f"static margin (no dynamic settings): {', '.join(static)}")
    contracts = "ChainlinkOracle, MarginAccount, Liquidator, "
    contracts += "VolatilityOracle, " if dm is not None else ""
    contracts += f"{n} Vault{'s' if n != 1 else ''}"
    lines += _governance_lines(config, config.governance, contracts)
    lines.append("write the deployment file: every address and parameter, read back by the tools")
    return lines
