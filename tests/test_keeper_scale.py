"""1,000 accounts, half of them liquidatable after one crash: the keeper service liquidates all of
them within a bounded number of steps, in batches that fit a block, and touches none of the rest."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from solvent.keeper import AccountRef
from solvent.keeper.engine import BATCH_ACCOUNT_GAS, BATCH_BASE_GAS, mint_funder
from solvent.keeper.service import KeeperService, KeeperSettings
from solvent.keeper.store import Store
from solvent.sdk import Solvent, dev_account
from tests.utils.testnet import ROOT, AnvilNode, Fleet

OWNERS = 5
SUBS = 200  # sub-accounts per owner: 1,000 accounts
FEED_SCALE = 10**8
MAX_STEPS = 4


@pytest.fixture(scope="module")
def scale_book(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scale")
    node = AnvilNode(log=tmp / "anvil.log")
    try:
        out = tmp / "local.json"
        run = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "solvent"), "deploy", "--rpc", node.url, "--out", str(out)],
            cwd=tmp, env=dict(os.environ), stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=600, check=False,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        client = Solvent.from_deployment(out, node.url)
        fleet = Fleet(node.web3)
        usdc, weth, ma = client.token("USDC"), client.token("WETH"), client.margin_account
        lender = dev_account(1)
        fleet.send(lender, usdc.functions.mint(lender.address, 10**8 * 10**6))
        fleet.send(lender, usdc.functions.approve(client.vault("USDC").address, 2**256 - 1))
        fleet.send(
            lender, client.vault("USDC").functions.deposit(5 * 10**7 * 10**6, lender.address)
        )
        risky, safe = [], []
        for o in range(OWNERS):
            key = dev_account(2 + o)
            fleet.send(key, weth.functions.mint(key.address, SUBS * 10**18))
            fleet.send(key, weth.functions.approve(ma.address, 2**256 - 1))
            for sub in range(SUBS):
                borrow = 2_500 if sub % 2 == 0 else 1_000
                fleet.send(
                    key, ma.functions.deposit(key.address, sub, client.asset("WETH").token, 10**18)
                )
                fleet.send(
                    key,
                    ma.functions.borrow(
                        key.address, sub, client.asset("USDC").token, borrow * 10**6, key.address
                    ),
                )
                (risky if sub % 2 == 0 else safe).append(AccountRef(key.address, sub))
        fleet.wait(timeout=600)
        yield node, client, fleet, risky, safe
    finally:
        node.stop()


def test_keeper_service__1000_accounts_half_crashed__all_liquidated_within_bounded_steps(
    scale_book,
):
    node, client, fleet, risky, safe = scale_book
    keeper = dev_account(9)
    store = Store(
        ":memory:", chain_id=client.info.chain_id, margin_account=client.info.margin_account
    )
    service = KeeperService(
        client, keeper, store, KeeperSettings(), fund=mint_funder(client, keeper)
    )
    service.step()  # discovery and a first scan: all healthy
    assert len(store.accounts()) == OWNERS * SUBS
    fleet.send(dev_account(0), client.feed("WETH").functions.setAnswer(2600 * FEED_SCALE))
    fleet.wait()
    crash_block = int(node.web3.eth.block_number)
    assert all(lens.liquidatable for lens in client.lens([(r.owner, r.sub_id) for r in risky[:50]]))

    started, steps = time.monotonic(), 0
    while steps < MAX_STEPS:
        steps += 1
        service.step()
        lenses = service.keeper.lens(risky)
        if not any(lens.liquidatable for lens in lenses.values()):
            break
    elapsed = time.monotonic() - started

    left = [r for r, lens in service.keeper.lens(risky).items() if lens.liquidatable]
    assert left == [], f"{len(left)} still liquidatable after {steps} steps ({elapsed:.0f}s)"
    logs = client.margin_account.events.Liquidated().get_logs(from_block=crash_block)
    done = {(e["args"]["owner"], int(e["args"]["subId"])) for e in logs}
    assert done == {(r.owner, r.sub_id) for r in risky}
    healthy = service.keeper.lens(safe)
    assert not any(lens.liquidatable for lens in healthy.values())
    # Every liquidation transaction fit well inside a block.
    limit = int(node.web3.eth.get_block("latest")["gasLimit"])
    per_tx = {}
    for e in logs:
        per_tx[e["transactionHash"]] = per_tx.get(e["transactionHash"], 0) + 1
    for tx_hash in per_tx:
        assert int(node.web3.eth.get_transaction_receipt(tx_hash)["gasUsed"]) < limit // 2
    assert max(per_tx.values()) <= (limit * 3 // 10 - BATCH_BASE_GAS) // BATCH_ACCOUNT_GAS
    assert len(per_tx) < len(risky) // 10  # batched, not one by one
