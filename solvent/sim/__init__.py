"""The crash simulator: replays real price windows against the real contracts and keeper.

Modules by role:
    prices      candle files, several assets aligned, the oracle rounds of a replay
    population  the seeded distribution of accounts a replay opens
    replay      one replay on its own Anvil: deploy, fund, open, publish rounds, keepers act
    metrics     what a replay measures (metrics.json)
    sweep       a grid of replays in parallel workers (process pool or Dask)
"""
