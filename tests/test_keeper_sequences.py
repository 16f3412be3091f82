"""The keeper over sequences of events rather than one pass: a rival liquidating one target
between the keeper's read and its batch, the keeper killed at random points (after a transaction
is journaled and before it is broadcast, in the middle of a pass) and restarted on the same
database, and a reorg deeper than the keeper's re-read depth.

Properties, whatever the sequence:
- every account below maintenance ends liquidated, and no healthy account is touched;
- the journal is complete: every transaction the keeper's key sent is in its database, settled
  (mined or reverted), and nothing was signed twice for one nonce that both landed;
- a clean stop leaves no allowance.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from ape import chain
from web3.exceptions import TransactionNotFound

from solvent.apebridge import local_signer, sdk_client
from solvent.keeper import AccountRef, Keeper
from solvent.keeper.service import KeeperService, KeeperSettings
from solvent.keeper.store import MINED, REVERTED, Store
from solvent.sdk.deployment import AssetInfo
from tests.utils.helpers import MAX_UINT


class Killed(BaseException):
    """The process dies: not an Exception, so the service's retry loop does not catch it."""


def open_longs(act, usdc, weth, lender, owners: list[Any], subs: int) -> list[AccountRef]:
    """`subs` sub-accounts per owner, each 10 WETH against 24,000 USDC at ETH $3,000 (health
    about 0.98 at $2,600)."""
    act.lend(usdc, lender, "2000000")
    refs = []
    for owner in owners:
        for sub in range(subs):
            act.deposit(weth, owner, "10", sub=sub)
            act.borrow(usdc, owner, "24000", sub=sub)
            refs.append(AccountRef(owner.address, sub))
    return refs


def liquidatable(system, refs: list[AccountRef]) -> list[AccountRef]:
    ma = system.margin_account
    return [r for r in refs if ma.isLiquidatable(r.owner, r.sub_id)]


def liquidations(system, start: int) -> list[Any]:
    return list(system.margin_account.Liquidated.range(start, chain.blocks.height + 1))


def tx_hash(log: Any) -> str:
    h = log.transaction_hash
    return (h if isinstance(h, str) else "0x" + bytes(h).hex()).lower()


def allowances(system, who: Any) -> list[int]:
    ma = system.margin_account
    return [int(a.token.allowance(who, ma)) for a in system.assets.values()]


# ====================================================================== a rival inside a batch
def test_keeper_batch__rival_takes_one_target_between_read_and_send__the_rest_settle(
    system, act, usdc, weth, lender, trader, keeper, stranger
):
    refs = open_longs(act, usdc, weth, lender, [trader], subs=4)
    act.set_price(weth, "2600")
    assert liquidatable(system, refs) == refs
    act.fund(usdc, stranger, "1000000")
    victim = refs[2]
    client, signer = sdk_client(system), local_signer(keeper)
    struck = []

    def fund(asset: AssetInfo, units: int) -> None:
        """Mints the keeper's USDC; the rival strikes in the same moment, after the keeper read
        the lens and before its batch is sent."""
        usdc.token.mint(keeper, units, sender=act.deployer)
        if not struck:
            tx = system.liquidator.liquidate(
                victim.owner,
                victim.sub_id,
                usdc.token,
                weth.token,
                MAX_UINT,
                0,
                b"",
                sender=stranger,
            )
            struck.append(tx.txn_hash)

    start = chain.blocks.height + 1
    report = Keeper(client, signer, fund=fund).run_pass(refs)

    assert struck, "the keeper never needed funds: the rival never struck"
    done = {liq.account for liq in report.liquidations}
    assert done == set(refs) - {victim}
    assert [liq.batch_size for liq in report.liquidations] == [4, 4, 4]  # one batch, not split
    assert [s.account for s in report.skipped] == [victim]
    assert "skipped by the batch" in report.skipped[0].reason
    assert liquidatable(system, refs) == [] and report.remaining == []
    events = liquidations(system, start)
    by = {(e.owner, int(e.subId)): e.liquidator.lower() for e in events}
    assert by[(victim.owner, victim.sub_id)] == stranger.address.lower()  # once, by the rival
    assert all(by[(r.owner, r.sub_id)] == keeper.address.lower() for r in done)
    assert len(events) == len(refs)
    assert allowances(system, keeper) == [0] * len(system.assets)


# ====================================================================== killed and restarted
@pytest.mark.parametrize("seed", range(4))
def test_keeper_service__killed_at_random_points_and_restarted__journal_complete_all_liquidated(
    seed, system, act, usdc, weth, wbtc, lender, trader, trader2, keeper, tmp_path
):
    """Six accounts below maintenance; the keeper's process dies at random, right after it has
    journaled a transaction and before broadcasting it (the worst moment: signed, recorded, not
    sent), and restarts on the same database, until a life ends cleanly. The keeper holds its
    inventory up front, so every transaction from its key is one the keeper journaled."""
    rng = random.Random(seed)
    refs = open_longs(act, usdc, weth, lender, [trader, trader2], subs=3)
    act.set_price(weth, "2600")
    assert liquidatable(system, refs) == refs
    act.mint(usdc, keeper, "1000000")
    client, signer = sdk_client(system), local_signer(keeper)
    nonce0 = int(client.web3.eth.get_transaction_count(keeper.address))
    start = chain.blocks.height + 1
    db = tmp_path / "keeper.sqlite"
    ident = {"chain_id": client.info.chain_id, "margin_account": client.info.margin_account}
    settings = KeeperSettings(poll_interval=0.0, max_batch=2)  # several transactions per pass
    kills = 0
    for _life in range(20):
        store = Store(db, **ident)
        service = KeeperService(client, signer, store, settings)
        sender = service.keeper.sender
        journal, broadcast = sender.on_sent, sender.broadcast
        assert journal is not None
        dead: list[str] = []

        def die_sometimes(signed: Any, journal: Any = journal, dead: list = dead) -> None:
            if dead:  # a dead process signs and sends nothing more (no clean-up either)
                raise Killed("already dead")
            journal(signed)
            if rng.random() < 0.4:
                dead.append(signed.kind)
                raise Killed(signed.kind)

        def send_unless_dead(signed: Any, broadcast: Any = broadcast, dead: list = dead) -> None:
            if dead:
                raise Killed("already dead")
            broadcast(signed)

        sender.on_sent = die_sometimes
        sender.broadcast = send_unless_dead  # type: ignore[method-assign]
        try:
            service.run_forever(max_steps=2, install_signals=False)
        except Killed:
            kills += 1
            store.close()
            continue
        store.close()
        if not liquidatable(system, refs):
            break
    # A last life, nobody killing it: settles what the last death left and stops cleanly.
    store = Store(db, **ident)
    KeeperService(client, signer, store, settings).run_forever(max_steps=2, install_signals=False)

    assert kills > 0, "no death in this sequence: the test proved nothing"
    assert liquidatable(system, refs) == []
    assert store.unsettled() == []
    sent = int(client.web3.eth.get_transaction_count(keeper.address)) - nonce0
    landed = [tx for tx in store.txs() if tx.status in (MINED, REVERTED)]
    assert len(landed) == sent  # every transaction of the key is journaled and settled
    for tx in store.txs():  # a transaction called dropped was never mined
        if tx.status not in (MINED, REVERTED):
            with pytest.raises(TransactionNotFound):
                client.web3.eth.get_transaction_receipt(tx.hash)
    events = liquidations(system, start)
    mined = {tx.hash.lower() for tx in landed if tx.status == MINED}
    assert {(e.owner, int(e.subId)) for e in events} == {(r.owner, r.sub_id) for r in refs}
    assert all(tx_hash(e) in mined for e in events)
    assert allowances(system, keeper) == [0] * len(system.assets)
    store.close()


# ====================================================================== reorgs
REORG_DEPTH = 3


@pytest.mark.parametrize(
    ("fork_back", "deep"),
    [(REORG_DEPTH, False), (REORG_DEPTH + 1, True), (REORG_DEPTH + 5, True)],
    ids=["exactly_the_reread_depth", "one_block_deeper", "much_deeper"],
)
def test_keeper_service__reorg__account_of_the_new_branch_found_deep_ones_detected(
    fork_back, deep, system, act, usdc, weth, lender, trader, trader2, keeper
):
    """The keeper follows to block F + fork_back with a re-read depth of 3; the chain then
    reorganizes from block F, and an account opens in the new branch at F + 1 onwards. A reorg
    of at most the depth is covered by the normal re-read (no alarm); a deeper one changes the
    anchor block's hash and sends the keeper back to the deployment block. Either way the
    account is found, and liquidated after a crash; a deep reorg is counted once."""
    refs = open_longs(act, usdc, weth, lender, [trader], subs=1)
    client, signer = sdk_client(system), local_signer(keeper)
    ident = {"chain_id": client.info.chain_id, "margin_account": client.info.margin_account}
    store = Store(":memory:", **ident)
    service = KeeperService(client, signer, store, KeeperSettings(reorg_depth=REORG_DEPTH))
    act.mint(usdc, keeper, "1000000")
    service.step()
    assert store.accounts() == refs
    fork = chain.snapshot()
    chain.mine(fork_back)
    service.step()
    assert store.cursor == chain.blocks.height
    chain.restore(fork)  # the blocks after F are gone
    act.deposit(weth, trader2, "10")
    act.borrow(usdc, trader2, "24000")
    chain.mine(2)
    newcomer = AccountRef(trader2.address, 0)

    service.step()

    assert service.totals["deep_reorgs"] == int(deep)
    assert newcomer in store.accounts()
    act.set_price(weth, "2600")
    service.step()
    assert liquidatable(system, [*refs, newcomer]) == []
    service.step()
    assert service.totals["deep_reorgs"] == int(deep)  # once: the new anchor holds
