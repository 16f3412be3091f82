"""Prometheus metrics of a keeper (prometheus-client), in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


class KeeperMetrics:
    """Accounts tracked and at risk, liquidations, profit, gas and RPC errors."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.accounts = Gauge("solvent_keeper_accounts", "Accounts tracked", registry=r)
        self.at_risk = Gauge(
            "solvent_keeper_accounts_at_risk",
            "Accounts within the margin-call distance",
            registry=r,
        )
        self.liquidatable = Gauge(
            "solvent_keeper_accounts_liquidatable",
            "Accounts below maintenance at the last scan",
            registry=r,
        )
        self.block = Gauge("solvent_keeper_block", "Last block processed", registry=r)
        self.liquidations = Counter(
            "solvent_keeper_liquidations", "Liquidations settled", registry=r
        )
        self.profit = Counter(
            "solvent_keeper_profit_usd", "Profit before gas, USD at the oracle prices", registry=r
        )
        self.gas = Counter(
            "solvent_keeper_gas", "Gas used by the keeper's transactions", registry=r
        )
        self.rpc_errors = Counter("solvent_keeper_rpc_errors", "Failed node requests", registry=r)
        self.scans = Counter("solvent_keeper_scans", "Health scans", registry=r)
        self.scanned = Counter("solvent_keeper_accounts_scanned", "Account lens reads", registry=r)

    def serve(self, port: int, addr: str = "127.0.0.1") -> None:
        """Expose /metrics on `addr:port` (a daemon thread)."""
        start_http_server(port, addr=addr, registry=self.registry)
