"""Keeper benchmark (make bench): one health scan through the lens for 100 ... 10,000 accounts.

    .venv/bin/python scripts/bench_keeper.py [--max-accounts 10000]

Starts its own anvil (no step tracing), deploys with `solvent deploy`, opens the accounts as
sub-accounts of a few owners, then times `Keeper.lens` (chunks of 100, 4 concurrent requests)
against sequential chunks of 50 (the previous keeper), counts lens calls per scan and times event
discovery. Figures go to bench/results.json under "keeper"; nothing here is asserted.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import click

from solvent.devnet import ROOT, AnvilNode, Fleet
from solvent.keeper import AccountRef
from solvent.keeper.discovery import discover_accounts
from solvent.keeper.engine import Keeper
from solvent.sdk import Solvent, dev_account

RESULTS = ROOT / "bench" / "results.json"
SUBS = 200


def _median(fn, repeat: int = 3) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return round(statistics.median(samples), 3)


@click.command()
@click.option("--max-accounts", type=int, default=10_000, show_default=True)
def main(max_accounts: int) -> None:
    node = AnvilNode()
    try:
        out = Path("/tmp") / f"solvent-bench-{node.port}.json"
        subprocess.run(
            [str(ROOT / ".venv" / "bin" / "solvent"), "deploy", "--rpc", node.url, "--out", str(out)],
            check=True, stdin=subprocess.DEVNULL, capture_output=True,
        )  # fmt: skip
        client = Solvent.from_deployment(out, node.url)
        fleet = Fleet(node.web3)
        usdc, weth, ma = client.token("USDC"), client.token("WETH"), client.margin_account
        lender = dev_account(1)
        fleet.send(lender, usdc.functions.mint(lender.address, 10**9 * 10**6))
        fleet.send(lender, usdc.functions.approve(client.vault("USDC").address, 2**256 - 1))
        fleet.send(lender, client.vault("USDC").functions.deposit(10**9 * 10**6, lender.address))
        refs: list[AccountRef] = []
        owners = -(-max_accounts // SUBS)
        click.echo(f"opening {max_accounts} accounts ...", err=True)
        for o in range(owners):
            key = dev_account(2 + o % 10) if o < 10 else None
            if key is None:
                from solvent.devnet import new_keys

                key = new_keys(1, 1000 + o)[0]
                fleet.pay(dev_account(0), key.address, 10**20)
                fleet.wait()
            fleet.send(key, weth.functions.mint(key.address, SUBS * 10**18))
            fleet.send(key, weth.functions.approve(ma.address, 2**256 - 1))
            for sub in range(SUBS):
                if len(refs) >= max_accounts:
                    break
                fleet.send(
                    key, ma.functions.deposit(key.address, sub, client.asset("WETH").token, 10**18)
                )
                fleet.send(
                    key,
                    ma.functions.borrow(
                        key.address, sub, client.asset("USDC").token, 1_500 * 10**6, key.address
                    ),
                )
                refs.append(AccountRef(key.address, sub))
            fleet.wait(timeout=900)
        keeper = Keeper(client, dev_account(9))
        results: dict[str, object] = {}
        for n in (100, 1_000, 2_000, 10_000):
            if n > len(refs):
                break
            subset = refs[:n]
            results[f"keeper_scan_seconds_{n}"] = _median(lambda s=subset: keeper.lens(s))
            results[f"keeper_scan_lens_calls_{n}"] = keeper.rpc_calls
            results[f"keeper_scan_sequential50_seconds_{n}"] = _median(
                lambda s=subset: [
                    client.lens([(r.owner, r.sub_id) for r in s[i : i + 50]])
                    for i in range(0, len(s), 50)
                ]
            )
            click.echo(f"{n}: {results[f'keeper_scan_seconds_{n}']} s", err=True)
        start = time.perf_counter()
        found = discover_accounts(client, client.info.deploy_block)
        results[f"keeper_discovery_seconds_{len(found)}"] = round(time.perf_counter() - start, 3)
        results["keeper_discovery_blocks"] = (
            int(node.web3.eth.block_number) - client.info.deploy_block
        )
    finally:
        node.stop()
    data = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    data["keeper"] = results
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    json.dump(results, sys.stdout, indent=2)


if __name__ == "__main__":
    main()
