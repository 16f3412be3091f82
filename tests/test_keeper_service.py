"""The keeper as a service, on a second Anvil node playing a testnet (chain id 11155111, one
block a second), deployed with `solvent deploy` against configured token and feed addresses.

Each test opens its own accounts on the shared deployment, crashes WETH and checks that the
keeper(s) liquidate every liquidatable account within a bounded number of blocks, whatever is
done to them (a competitor, RPC faults and an outage, a restart, SIGTERM)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from solvent.keeper import AccountRef
from solvent.keeper.service import KeeperService, KeeperSettings
from solvent.keeper.store import MINED, Store
from solvent.sdk import Solvent, dev_account
from solvent.sdk.signer import PASSPHRASE_ENV
from tests.utils.rpc_proxy import Faults, RpcProxy
from tests.utils.testnet import (
    ROOT,
    SEPOLIA,
    WAD,
    AnvilNode,
    Fleet,
    ape_data_folder,
    free_port,
    make_testnet_config,
    new_keys,
    write_keystore,
)

PASSPHRASE = "correct horse battery staple"
DEPLOYER_ALIAS = "solvent-test-deployer"
KEEPER_ALIAS = "solvent-test-keeper"
SOLVENT = str(ROOT / ".venv" / "bin" / "solvent")
FEED_SCALE = 10**8
BLOCK_BOUND = 20  # blocks from the crash by which every account must be liquidated
USDC, WETH = 10**6, 10**18


@dataclass
class Net:
    node: AnvilNode
    client: Solvent
    deployment: Path
    tmp: Path
    fleet: Fleet
    deploy_seconds: float


@pytest.fixture(scope="module")
def testnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    tmp = tmp_path_factory.mktemp("testnet")
    node = AnvilNode(chain_id=SEPOLIA, block_time=1, log=tmp / "anvil.log")
    keystores = []
    try:
        fleet = Fleet(node.web3)
        owner = dev_account(0)
        # The "testnet's" own tokens and Chainlink-style feeds, deployed by someone else first.
        tokens = {
            "USDC": (
                fleet.deploy(owner, "MockERC20", "USD Coin", "USDC", 6),
                fleet.deploy(owner, "MockAggregator", 8, "USDC / USD", FEED_SCALE),
            ),
            "WETH": (
                fleet.deploy(owner, "MockERC20", "Wrapped Ether", "WETH", 18),
                fleet.deploy(owner, "MockAggregator", 8, "ETH / USD", 3000 * FEED_SCALE),
            ),
        }
        config = make_testnet_config(tokens, tmp / "testnet.yaml")
        ape_data = ape_data_folder(tmp / "ape-data", block_time=1)
        keystores.append(write_keystore(DEPLOYER_ALIAS, dev_account(1), PASSPHRASE, ape_data))
        keystores.append(write_keystore(KEEPER_ALIAS, dev_account(9), PASSPHRASE))
        out = tmp / "deployments" / "sepolia.json"
        started = time.monotonic()
        run = subprocess.run(
            [SOLVENT, "deploy", "--rpc", node.url, "--config", str(config), "--out", str(out),
             "--account", DEPLOYER_ALIAS, "--autosign"],
            cwd=tmp, env={**os.environ, PASSPHRASE_ENV: PASSPHRASE, "APE_DATA_FOLDER": str(ape_data)},
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        client = Solvent.from_deployment(out, node.url)
        lender = dev_account(2)
        fleet.send(lender, client.token("USDC").functions.mint(lender.address, 10_000_000 * USDC))
        fleet.send(
            lender, client.token("USDC").functions.approve(client.vault("USDC").address, 2**256 - 1)
        )
        fleet.send(lender, client.vault("USDC").functions.deposit(5_000_000 * USDC, lender.address))
        keeper = dev_account(9)
        fleet.send(keeper, client.token("USDC").functions.mint(keeper.address, 5_000_000 * USDC))
        fleet.wait()
        yield Net(node, client, out, tmp, fleet, time.monotonic() - started)
    finally:
        for path in keystores:
            path.unlink(missing_ok=True)
        node.stop()


def set_weth(net: Net, usd: int) -> None:
    feed = net.client.feed("WETH")
    net.fleet.send(dev_account(0), feed.functions.setAnswer(usd * FEED_SCALE))
    net.fleet.wait()


def open_book(
    net: Net, seed: int, risky: int, safe: int
) -> tuple[list[AccountRef], list[AccountRef]]:
    """`risky` accounts that a WETH fall to 2,600 puts below maintenance, `safe` that it does not;
    WETH is set back to 3,000 first."""
    set_weth(net, 3000)
    c, fleet = net.client, net.fleet
    owners = new_keys(risky + safe, seed)
    for key in owners:
        fleet.pay(dev_account(3), key.address, 10**18)
    fleet.wait()
    weth, usdc, ma = c.token("WETH"), c.asset("USDC"), c.margin_account
    refs = []
    for i, key in enumerate(owners):
        borrow = 25_000 if i < risky else 12_000
        fleet.send(key, weth.functions.mint(key.address, 10 * WETH))
        fleet.send(key, weth.functions.approve(ma.address, 10 * WETH))
        fleet.send(key, ma.functions.deposit(key.address, 0, c.asset("WETH").token, 10 * WETH))
        fleet.send(key, ma.functions.borrow(key.address, 0, usdc.token, borrow * USDC, key.address))
        refs.append(AccountRef(key.address, 0))
    fleet.wait()
    return refs[:risky], refs[risky:]


def liquidatable(net: Net, refs: list[AccountRef]) -> list[AccountRef]:
    lenses = net.client.lens([(r.owner, r.sub_id) for r in refs])
    return [r for r, lens in zip(refs, lenses, strict=True) if lens.liquidatable]


def wait_until_none_liquidatable(net: Net, refs: list[AccountRef], start_block: int) -> int:
    """Blocks it took (fails past BLOCK_BOUND)."""
    while True:
        block = int(net.node.web3.eth.block_number)
        if not liquidatable(net, refs):
            return block - start_block
        assert block - start_block <= BLOCK_BOUND, f"{len(liquidatable(net, refs))} left"
        time.sleep(0.3)


def liquidated_accounts(net: Net, start_block: int) -> list[AccountRef]:
    logs = net.client.margin_account.events.Liquidated().get_logs(from_block=start_block)
    return [AccountRef(e["args"]["owner"], int(e["args"]["subId"])) for e in logs]


def keeper_process(net: Net, rpc: str, db: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [SOLVENT, "keeper", "--rpc", rpc, "--deployment", str(net.deployment), "--account",
         KEEPER_ALIAS, "--db", str(db), "--interval", "0.3", "--json", *extra],
        cwd=net.tmp, env={**os.environ, PASSPHRASE_ENV: PASSPHRASE}, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def stop(proc: subprocess.Popen[str]) -> list[dict]:
    """SIGTERM, then the JSON log lines it wrote."""
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out[-3000:]
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def allowance(net: Net) -> int:
    return int(
        net.client.token("USDC")
        .functions.allowance(dev_account(9).address, net.client.margin_account.address)
        .call()
    )


# ================================================================== unattended process
def test_keeper_process__testnet_crash__liquidates_every_account_then_stops_clean(testnet):
    net = testnet
    risky, safe = open_book(net, seed=1, risky=6, safe=3)
    metrics_port = free_port()
    proc = keeper_process(
        net, net.node.url, net.tmp / "k1.sqlite", "--metrics-port", str(metrics_port)
    )
    try:
        time.sleep(3)  # the keeper has caught up with the chain: nothing to do yet
        assert liquidatable(net, risky) == []
        crash_block = int(net.node.web3.eth.block_number)
        set_weth(net, 2600)
        assert liquidatable(net, risky) == risky and liquidatable(net, safe) == []

        blocks = wait_until_none_liquidatable(net, risky, crash_block)
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics").read().decode()
    finally:
        lines = stop(proc)

    assert blocks <= BLOCK_BOUND
    assert set(liquidated_accounts(net, crash_block)) == set(risky)  # the safe ones untouched
    assert allowance(net) == 0  # SIGTERM: allowances revoked
    assert (
        "solvent_keeper_liquidations_total" in metrics and "solvent_keeper_accounts 9.0" in metrics
    )
    assert all({"ts", "level", "msg"} <= set(line) for line in lines)
    assert any(line.get("event") == "liquidated" for line in lines)
    assert any("allowance(s) revoked" in line["msg"] for line in lines)


# ================================================================== competition
def test_two_keepers__compete__each_account_liquidated_once_and_no_funds_lost(testnet):
    net = testnet
    risky, _safe = open_book(net, seed=2, risky=8, safe=2)
    rival_key = dev_account(8)
    net.fleet.send(
        rival_key, net.client.token("USDC").functions.mint(rival_key.address, 5_000_000 * USDC)
    )
    net.fleet.wait()
    rival = KeeperService(
        net.client,
        rival_key,
        Store(":memory:", chain_id=SEPOLIA, margin_account=net.client.info.margin_account),
        KeeperSettings(poll_interval=0.3),
    )
    thread = threading.Thread(target=rival.run_forever, kwargs={"install_signals": False})
    thread.start()
    proc = keeper_process(net, net.node.url, net.tmp / "k2.sqlite")
    try:
        time.sleep(3)
        crash_block = int(net.node.web3.eth.block_number)
        set_weth(net, 2600)
        wait_until_none_liquidatable(net, risky, crash_block)
    finally:
        lines = stop(proc)
        rival.stop_event.set()
        thread.join(timeout=60)

    done = liquidated_accounts(net, crash_block)
    assert set(done) == set(risky)
    assert len(done) == len(risky)  # once each: one liquidation restores health
    # The keepers' USDC and the collateral they seized account for every liquidation.
    seized = {
        e["args"]["liquidator"]
        for e in net.client.margin_account.events.Liquidated().get_logs(from_block=crash_block)
    }
    assert seized <= {dev_account(9).address, rival_key.address}
    assert allowance(net) == 0
    assert not any(line["level"] == "error" for line in lines)


# ================================================================== faults
def test_keeper_process__rpc_faults_and_outage__still_liquidates_everything(testnet):
    net = testnet
    risky, _ = open_book(net, seed=3, risky=6, safe=2)
    with RpcProxy(
        net.node.url, Faults(drop=0.1, reset=0.1, delay=0.1, delay_seconds=0.3, seed=7)
    ) as proxy:
        proc = keeper_process(net, proxy.url, net.tmp / "k3.sqlite")
        try:
            time.sleep(3)
            proxy.stop()  # the RPC endpoint goes away
            crash_block = int(net.node.web3.eth.block_number)
            set_weth(net, 2600)
            time.sleep(3)
            assert proc.poll() is None  # still running
            proxy.start()  # back, same URL
            wait_until_none_liquidatable(net, risky, crash_block)
        finally:
            lines = stop(proc)
        counts = proxy.counts
    assert counts["dropped"] + counts["reset"] > 0
    assert any("retrying" in line["msg"] for line in lines)
    assert set(liquidated_accounts(net, crash_block)) == set(risky)
    assert allowance(net) == 0


# ================================================================== restart
def test_restart__journaled_transaction__looked_up_by_hash_never_sent_twice(testnet):
    """A keeper killed between journaling a signed liquidation and sending it: the next run finds
    the transaction in its database, sends those same bytes (same hash) and reports it mined; its
    cursor survives; no second transaction is signed for that account."""
    net = testnet
    (target,), _ = open_book(net, seed=4, risky=1, safe=0)
    crash_block = int(net.node.web3.eth.block_number)
    set_weth(net, 2600)
    db = net.tmp / "k4.sqlite"
    keeper_key = dev_account(9)
    first = KeeperService(
        net.client,
        keeper_key,
        Store(db, chain_id=SEPOLIA, margin_account=net.client.info.margin_account),
    )
    first.follow(int(net.node.web3.eth.block_number))
    cursor = first.store.cursor
    usdc = net.client.token("USDC")
    # The first run approves and signs its liquidation, journals it, then dies before sending.
    lens = net.client.lens([(target.owner, 0)])[0]
    pair = next(p for p in lens.pairs if p.ok)
    first.keeper.sender.send(
        usdc.functions.approve(net.client.margin_account.address, pair.owed * 2), "approve"
    )
    signed = first.keeper.sender.sign(
        net.client.liquidator.functions.liquidate(
            target.owner,
            0,
            net.client.asset("USDC").token,
            net.client.asset("WETH").token,
            2**256 - 1,
            0,
            b"",
        ),
        "liquidate",
    )
    first.store.record_sent(signed.tx_hash, signed.nonce, signed.kind, signed.raw)
    first.store.close()

    second = KeeperService(
        net.client,
        keeper_key,
        Store(db, chain_id=SEPOLIA, margin_account=net.client.info.margin_account),
    )
    assert second.store.cursor == cursor
    second.reconcile()  # not known to the node: re-broadcast, same bytes
    net.node.mine(1)
    second.reconcile()
    second.run_forever(max_steps=3, install_signals=False)

    txs = second.store.txs()
    assert [t.hash for t in txs if t.kind == "liquidate"] == [signed.tx_hash]
    assert all(t.status == MINED for t in txs)
    assert liquidated_accounts(net, crash_block) == [target]
    assert allowance(net) == 0  # the restarted keeper revoked the dead run's allowance


# ================================================================== profitability
def test_unprofitable_liquidation__skipped__taken_once_the_discount_pays(testnet):
    net = testnet
    (target,), _ = open_book(net, seed=5, risky=1, safe=0)
    service = KeeperService(
        net.client,
        dev_account(9),
        Store(":memory:", chain_id=SEPOLIA, margin_account=net.client.info.margin_account),
    )
    set_weth(net, 2700)  # just below maintenance: the auction's discount is small
    keeper = service.keeper
    lens = keeper.lens([target])[target]
    first = keeper.best_pair(target, lens, keeper.prices())
    assert lens.liquidatable and not isinstance(first, str)
    keeper.min_profit = first.profit + WAD  # the keeper's minimum is one dollar above it

    service.step()
    assert liquidatable(net, [target]) == [target]  # skipped: not worth it
    set_weth(net, 2600)  # deeper: the discount grows with the shortfall
    deeper = keeper.best_pair(target, keeper.lens([target])[target], keeper.prices())
    assert not isinstance(deeper, str) and deeper.profit > keeper.min_profit
    for _ in range(3):  # taken at the next step (a step retries what a new block changed)
        service.step()
        if not liquidatable(net, [target]):
            break
    assert liquidatable(net, [target]) == []
    service.shutdown()
    assert allowance(net) == 0


# ================================================================== bad input
@pytest.mark.parametrize(
    "content, expected",
    [
        (None, "not found"),
        ("{not json", "is not JSON"),
        ('{"chain_id": 1}', "is missing"),
    ],
)
def test_keeper_cli__bad_deployment_file__one_line_error(testnet, tmp_path, content, expected):
    path = tmp_path / "dep.json"
    if content is not None:
        path.write_text(content)
    run = subprocess.run(
        [SOLVENT, "keeper", "--rpc", testnet.node.url, "--deployment", str(path), "--steps", "1"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0]


def test_keeper_cli__wrong_chain_and_missing_passphrase__one_line_errors(testnet, tmp_path):
    other = AnvilNode()
    try:
        run = subprocess.run(
            [SOLVENT, "keeper", "--rpc", other.url, "--deployment", str(testnet.deployment)],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
    finally:
        other.stop()
    assert run.returncode == 1 and f"is for chain {SEPOLIA}" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    env = {k: v for k, v in os.environ.items() if k != PASSPHRASE_ENV}
    write_keystore("solvent-test-nopass", dev_account(7), PASSPHRASE)
    try:
        run = subprocess.run(
            [SOLVENT, "keeper", "--rpc", testnet.node.url, "--deployment", str(testnet.deployment),
             "--account", "solvent-test-nopass"],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, env=env, check=False,
        )  # fmt: skip
    finally:
        (
            Path(os.environ.get("APE_DATA_FOLDER", ROOT / ".ape"))
            / "accounts"
            / "solvent-test-nopass.json"
        ).unlink()
    assert run.returncode == 1 and PASSPHRASE_ENV in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--pool-fee", "500"], "--pool-fee only applies with --flash"),
        (["--flash", "0x1234"], "is not an address"),
        (["--flash", "{liquidator}"], "does not answer as a FlashLiquidator"),
        (["--flash", "{margin_account}", "--pool-fee", "0"], "--pool-fee: pool fee 0 pips"),
    ],
)
def test_keeper_cli__bad_flash_route__one_line_error_nothing_sent(testnet, extra, expected):
    """Checked before the first step: a route that could only revert on every liquidation."""
    info = Solvent.from_deployment(testnet.deployment, testnet.node.url).info
    extra = [
        e.format(liquidator=info.liquidator, margin_account=info.margin_account) for e in extra
    ]
    nonce = int(testnet.node.web3.eth.get_transaction_count(dev_account(9).address))
    run = subprocess.run(
        [SOLVENT, "keeper", "--rpc", testnet.node.url, "--deployment", str(testnet.deployment),
         "--steps", "1", *extra],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0], lines
    assert int(testnet.node.web3.eth.get_transaction_count(dev_account(9).address)) == nonce


def test_deploy_cli__bad_config__one_line_error_nothing_sent(testnet, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "config" / "local.yaml").read_text().replace('imf: "0.04"', 'imf: "4%"'))
    run = subprocess.run(
        [SOLVENT, "deploy", "--dry-run", "--config", str(bad)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert run.returncode == 1
    assert len(run.stderr.strip().splitlines()) == 1 and "imf" in run.stderr
    good = subprocess.run(
        [SOLVENT, "deploy", "--dry-run", "--config", str(ROOT / "config" / "local.yaml")],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert good.returncode == 0 and "WETH" in good.stdout and "USDC" in good.stdout


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
