"""Governance of a deployment: the hand-over to OpenZeppelin's TimelockController and the guardian,
the roles read back from the chain, and the queue / list / execute of timelocked changes with their
calldata decoded.

Every admin role of every contract belongs to the timelock: a change waits ``getMinDelay()``
seconds between ``schedule`` and ``execute``, so users see it coming and can leave. The guardian
holds MarginAccount's GUARDIAN_ROLE only (raise margin factors, lower caps, pause borrowing and
withdrawals: risk only goes down). It cannot cancel queued changes: otherwise it could cancel its
own removal. The deployer renounces every role it held (docs/threat-model.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ape import chain, project
from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

from solvent.config import Governance
from solvent.deploy import ZERO_ADDRESS, Deployment

Log = Callable[[str], None]

#: Admin roles, by getter name, that the contracts may define (DEFAULT_ADMIN_ROLE is bytes32(0)).
ADMIN_ROLES = ("DEFAULT_ADMIN_ROLE", "RISK_ADMIN_ROLE", "ORACLE_ADMIN_ROLE", "VOL_ADMIN_ROLE")
GUARDIAN_ROLE = "GUARDIAN_ROLE"
TIMELOCK_ROLES = ("DEFAULT_ADMIN_ROLE", "PROPOSER_ROLE", "EXECUTOR_ROLE", "CANCELLER_ROLE")
#: TimelockController.OperationState, by value.
OPERATION_STATES = ("Unset", "Waiting", "Ready", "Done")
ZERO_BYTES32 = b"\x00" * 32


class GovernanceError(ValueError):
    """A governance action cannot be taken as asked (one line, with the fix)."""


def _roles(contract: Any, names: Iterable[str]) -> dict[str, bytes]:
    """Role ids of the roles `contract` defines, by name."""
    return {name: bytes(getattr(contract, name)()) for name in names if hasattr(contract, name)}


def governed_contracts(deployment: Deployment) -> dict[str, Any]:
    """Every contract whose roles matter, by name: the admin contracts and the timelock."""
    named = deployment.admin_contracts()
    if deployment.timelock is not None:
        named["Timelock"] = deployment.timelock
    return named


def read_roles(
    deployment: Deployment, candidates: Iterable[str]
) -> dict[str, dict[str, list[str]]]:
    """Who among `candidates` holds each role of each contract, read from the chain (AccessControl
    does not enumerate holders, so the candidates are the addresses the deployment knows of)."""
    people = sorted({to_checksum_address(a) for a in candidates if a and a != ZERO_ADDRESS})
    out: dict[str, dict[str, list[str]]] = {}
    for name, contract in governed_contracts(deployment).items():
        names = TIMELOCK_ROLES if name == "Timelock" else (*ADMIN_ROLES, GUARDIAN_ROLE)
        out[name] = {
            role: [a for a in people if contract.hasRole(rid, a)]
            for role, rid in _roles(contract, names).items()
        }
        if name == "Timelock" and contract.hasRole(
            _roles(contract, ["EXECUTOR_ROLE"])["EXECUTOR_ROLE"], ZERO_ADDRESS
        ):
            out[name]["EXECUTOR_ROLE"].append("anyone")
    return out


#: Shortest timelock delay accepted on a live network, seconds (users must have time to leave).
MIN_LIVE_DELAY = 24 * 3600


def check_governance(gov: Governance, deployer: str, *, live: bool = False) -> None:
    """Refuse a hand-over that would leave the deployment without governance or with the deployer
    in control, or (on a live network) with a delay too short to leave before a change applies
    (raises GovernanceError naming the config key)."""
    if live and gov.timelock_delay < MIN_LIVE_DELAY:
        raise GovernanceError(
            f"governance.timelock_delay is {gov.timelock_delay} s: a live deployment needs at "
            f"least {MIN_LIVE_DELAY} s so that users see a change coming and can leave"
        )
    if not gov.proposers:
        raise GovernanceError(
            "governance.proposers is empty: put the address that will queue changes (a multisig) "
            "in the configuration before deploying"
        )
    if not gov.guardian:
        raise GovernanceError(
            "governance.guardian is empty: put the address that may pause and reduce risk at once "
            "(a multisig) in the configuration before deploying"
        )
    for key, addresses in (("proposers", gov.proposers), ("executors", gov.executors)):
        if any(a.lower() == deployer.lower() for a in addresses):
            raise GovernanceError(
                f"governance.{key} names the deployer {deployer}: the deployer renounces every "
                "role at the end of the deployment; use another address"
            )
    if gov.guardian.lower() == deployer.lower():
        raise GovernanceError(
            f"governance.guardian is the deployer {deployer}: use another address (a multisig)"
        )


def hand_over(deployment: Deployment, gov: Governance, deployer: Any, log: Log) -> Any:
    """Deploy the timelock, give it every admin role and the guardian its role, renounce every
    role the deployer held, and record who holds what. Returns the timelock."""
    check_governance(gov, deployer.address)
    timelock = project.SolventTimelock.deploy(
        gov.timelock_delay,
        list(gov.proposers),
        list(gov.executors) or [ZERO_ADDRESS],  # zero: anyone may execute a ready operation
        deployer,  # set-up admin, renounced below
        sender=deployer,
    )
    for contract in deployment.admin_contracts().values():
        admin_roles = _roles(contract, ADMIN_ROLES)
        for rid in admin_roles.values():
            contract.grantRole(rid, timelock, sender=deployer)
        guardian = _roles(contract, [GUARDIAN_ROLE])
        if guardian:
            contract.grantRole(guardian[GUARDIAN_ROLE], gov.guardian, sender=deployer)
        # DEFAULT_ADMIN_ROLE last: it is the admin of the others.
        for name in sorted(admin_roles, key=lambda r: r == "DEFAULT_ADMIN_ROLE"):
            if contract.hasRole(admin_roles[name], deployer):
                contract.renounceRole(admin_roles[name], deployer, sender=deployer)
    timelock.renounceRole(timelock.DEFAULT_ADMIN_ROLE(), deployer, sender=deployer)
    deployment.timelock = timelock
    deployment.roles = read_roles(
        deployment,
        [deployer.address, timelock.address, gov.guardian, *gov.proposers, *gov.executors],
    )
    kept = [
        f"{name}.{role}"
        for name, roles in deployment.roles.items()
        for role, holders in roles.items()
        if deployer.address in holders
    ]
    if kept:
        raise GovernanceError(f"the deployer still holds {', '.join(kept)} after the hand-over")
    log(
        f"Timelock {timelock.address} (delay {gov.timelock_delay} s) holds every admin role; "
        f"guardian {gov.guardian}; the deployer holds none"
    )
    return timelock


# ---------------------------------------------------------------------------- timelocked changes
@dataclass(frozen=True)
class Operation:
    """A call scheduled on the timelock."""

    id: str
    target: str
    value: int
    data: bytes
    predecessor: bytes
    salt: bytes
    delay: int
    state: str
    ready_at: int  # unix time from which it may be executed (0 once done or cancelled)
    call: str  # decoded: Contract.function(arg=value, ...)


def _timelock(deployment: Deployment) -> Any:
    if deployment.timelock is None:
        raise GovernanceError(
            "this deployment has no timelock (deployed without a governance section); "
            "redeploy with one to govern it"
        )
    return deployment.timelock


def resolve_target(deployment: Deployment, name: str) -> Any:
    """A governed contract by name (MarginAccount, Liquidator, ChainlinkOracle, VolatilityOracle,
    Vault:<SYMBOL>, Timelock)."""
    named = governed_contracts(deployment)
    if name not in named:
        raise GovernanceError(f"unknown contract {name!r}; choose one of {', '.join(named)}")
    return named[name]


def encode_call(
    deployment: Deployment, contract: str, function: str, args: list[Any]
) -> tuple[str, bytes]:
    """Target address and calldata of `contract.function(*args)`."""
    target = resolve_target(deployment, contract)
    handler = getattr(target, function, None)
    if handler is None or not hasattr(handler, "encode_input"):
        raise GovernanceError(f"{contract} has no function {function!r}")
    try:
        data = bytes(handler.encode_input(*args))
    except Exception as err:  # ape raises several types for bad arguments
        raise GovernanceError(f"{contract}.{function}: bad arguments {args!r} ({err})") from err
    return target.address, data


def decode_call(deployment: Deployment, target: str, data: bytes) -> str:
    """`Contract.function(arg=value, ...)`, with asset addresses named by symbol."""
    by_address = {c.address.lower(): (n, c) for n, c in governed_contracts(deployment).items()}
    symbols = {a.token.address.lower(): a.symbol for a in deployment.assets.values()}
    name, contract = by_address.get(target.lower(), (target, None))
    if contract is None:
        return f"{target}: 0x{data.hex()}"
    try:
        if name == "MarginAccount":
            # Its registry entry points forward to MarginAdmin, whose ABI names the arguments.
            signature, args = _decode_with(project.MarginAdmin.contract_type, data)
        else:
            signature, args = contract.decode_input(data)
    except Exception:
        return f"{name}: undecodable calldata 0x{data.hex()}"

    roles = _role_names(deployment)

    def show(value: Any) -> str:
        if isinstance(value, bytes | bytearray) and bytes(value) in roles:
            return roles[bytes(value)]
        text = str(value)
        if isinstance(value, str) and len(text) == 42 and text.startswith("0x"):
            text = to_checksum_address(text)
        return f"{text} ({symbols[text.lower()]})" if text.lower() in symbols else text

    function = signature.split("(")[0]
    return f"{name}.{function}(" + ", ".join(f"{k}={show(v)}" for k, v in args.items()) + ")"


def _role_names(deployment: Deployment) -> dict[bytes, str]:
    """Role id -> name, for every role any governed contract defines."""
    names: dict[bytes, str] = {}
    for contract in governed_contracts(deployment).values():
        for name, rid in _roles(contract, (*ADMIN_ROLES, GUARDIAN_ROLE, *TIMELOCK_ROLES)).items():
            names[rid] = name
    return names


def _decode_with(contract_type: Any, data: bytes) -> tuple[str, dict[str, Any]]:
    """Decode calldata with the ABI of `contract_type` (names from its function inputs)."""
    for abi in contract_type.mutable_methods:
        if keccak(text=abi.selector)[:4] == data[:4]:
            values = abi_decode([i.canonical_type for i in abi.inputs], data[4:])
            return abi.selector, {i.name: v for i, v in zip(abi.inputs, values, strict=True)}
    raise GovernanceError(f"no function with selector 0x{data[:4].hex()}")


def schedule(
    deployment: Deployment,
    contract: str,
    function: str,
    args: list[Any],
    proposer: Any,
    *,
    delay: int | None = None,
    salt: bytes | None = None,
) -> Operation:
    """Queue `contract.function(*args)` on the timelock (at least its minimum delay)."""
    timelock = _timelock(deployment)
    target, data = encode_call(deployment, contract, function, args)
    min_delay = int(timelock.getMinDelay())
    delay = min_delay if delay is None else delay
    if delay < min_delay:
        raise GovernanceError(f"delay {delay} s is below the timelock's minimum {min_delay} s")
    salt = salt if salt is not None else os.urandom(32)
    if not timelock.hasRole(timelock.PROPOSER_ROLE(), proposer.address):
        raise GovernanceError(
            f"{proposer.address} is not a proposer of timelock {timelock.address}"
        )
    timelock.schedule(target, 0, data, ZERO_BYTES32, salt, delay, sender=proposer)
    op_id = bytes(timelock.hashOperation(target, 0, data, ZERO_BYTES32, salt)).hex()
    return operation(deployment, op_id)


def operations(deployment: Deployment) -> list[Operation]:
    """Every operation scheduled on the timelock since the deployment, with its state now."""
    timelock = _timelock(deployment)
    start = deployment.deploy_block
    salts = _salts(timelock, start)
    ops: list[Operation] = []
    for log in timelock.CallScheduled.range(start, chain.blocks.head.number + 1):
        op_id = bytes(log.id).hex()
        ops.append(_operation(deployment, timelock, op_id, log, salts.get(op_id, ZERO_BYTES32)))
    return ops


def _salts(timelock: Any, start: int) -> dict[str, bytes]:
    head = chain.blocks.head.number + 1
    return {bytes(log.id).hex(): bytes(log.salt) for log in timelock.CallSalt.range(start, head)}


def operation(deployment: Deployment, op_id: str) -> Operation:
    """One scheduled operation by id (hex, with or without 0x)."""
    op_id = op_id.removeprefix("0x").lower()
    for op in operations(deployment):
        if op.id == op_id:
            return op
    raise GovernanceError(f"no operation {op_id} on timelock {_timelock(deployment).address}")


def _operation(
    deployment: Deployment, timelock: Any, op_id: str, log: Any, salt: bytes
) -> Operation:
    state = OPERATION_STATES[int(timelock.getOperationState("0x" + op_id))]
    ready_at = int(timelock.getTimestamp("0x" + op_id))
    if state == "Unset":
        state = "Cancelled"
    return Operation(
        id=op_id,
        target=str(log.target),
        value=int(log.value),
        data=bytes(log.data),
        predecessor=bytes(log.predecessor),
        salt=salt,
        delay=int(log.delay),
        state=state,
        ready_at=ready_at if ready_at > 1 else 0,  # 1 = done (OpenZeppelin's _DONE_TIMESTAMP)
        call=decode_call(deployment, str(log.target), bytes(log.data)),
    )


def execute(deployment: Deployment, op_id: str, executor: Any) -> Any:
    """Execute a ready operation; returns the receipt."""
    timelock = _timelock(deployment)
    op = operation(deployment, op_id)
    if op.state != "Ready":
        when = f" (ready at unix time {op.ready_at})" if op.state == "Waiting" else ""
        raise GovernanceError(f"operation {op.id} is {op.state}{when}, not Ready")
    return timelock.execute(op.target, op.value, op.data, op.predecessor, op.salt, sender=executor)


def cancel(deployment: Deployment, op_id: str, canceller: Any) -> Any:
    """Cancel a pending operation (proposers may)."""
    timelock = _timelock(deployment)
    op = operation(deployment, op_id)
    if op.state not in ("Waiting", "Ready"):
        raise GovernanceError(
            f"operation {op.id} is {op.state}: only a pending one can be cancelled"
        )
    return timelock.cancel("0x" + op.id, sender=canceller)
