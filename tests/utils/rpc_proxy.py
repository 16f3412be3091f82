"""A fault-injecting JSON-RPC HTTP proxy for keeper-bot tests (standard library only).

`RpcProxy` listens on http://127.0.0.1:<port> and forwards every POST body unchanged to an upstream
JSON-RPC endpoint (Anvil, usually), passing back the upstream status, Content-Type and body. Per
request it may instead inject a fault, chosen with a seeded `random.Random` under a lock, so a run
is reproducible for a given seed and request order:

* drop  - the request is read and the connection closed with no response (the client sees
          `http.client.RemoteDisconnected` / a connection reset);
* reset - the request is answered with an HTTP 502 or 503 error and never reaches the upstream;
* delay - the request is held for `delay_seconds` and then forwarded.

Each request draws the same three numbers whatever the fault shares are: one roll splits
[0, 1) into drop | reset | forward (so `drop` and `reset` are exact shares and must not sum over
1), one decides whether a forwarded request is delayed, one picks 502 or 503.

`stop()` closes the listening socket (clients get `ConnectionRefusedError`), shuts down the
connections that are still open (keep-alive clients, requests in flight or being delayed) and
leaves the port reserved for `start()`, which binds it again with SO_REUSEADDR. `url` therefore
stays the same across stop()/start(), which is what a keeper configured with one RPC URL needs.

    with RpcProxy(anvil_url, Faults(drop=0.2, seed=1)) as proxy:
        run_keeper(rpc_url=proxy.url)
        proxy.stop()   # RPC outage
        ...
        proxy.start()  # RPC back, same URL
    assert proxy.counts["dropped"] > 0
"""

from __future__ import annotations

import contextlib
import http.client
import random
import socket
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Literal, NamedTuple, Self, cast
from urllib.parse import urlsplit

__all__ = ["Faults", "RpcProxy"]

HOST = "127.0.0.1"
COUNT_KEYS = ("forwarded", "dropped", "delayed", "reset", "upstream_errors")
RESET_STATUSES = (502, 503)
_MAX_LINE = 65536


@dataclass
class Faults:
    """Shares (0..1) of requests that get each fault; see the module docstring for how they mix."""

    drop: float = 0.0  # share of requests answered by closing the connection with no response
    delay: float = 0.0  # share of forwarded requests delayed by delay_seconds before forwarding
    delay_seconds: float = 0.5
    reset: float = 0.0  # share answered with HTTP 502/503 errors
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("drop", "delay", "reset"):
            share = getattr(self, name)
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"Faults.{name} must be within [0, 1], got {share!r}")
        if self.drop + self.reset > 1.0:
            raise ValueError(
                f"Faults.drop + Faults.reset must not exceed 1, got {self.drop} + {self.reset}"
            )
        if self.delay_seconds < 0:
            raise ValueError(f"Faults.delay_seconds must be >= 0, got {self.delay_seconds!r}")


class _Decision(NamedTuple):
    action: Literal["forward", "drop", "reset"]
    delay: float  # seconds to hold a forwarded request, 0.0 for none
    status: int  # the error status of a reset


class _Upstream(NamedTuple):
    status: int
    reason: str
    content_type: str | None
    body: bytes


class RpcProxy:
    """Fault-injecting HTTP proxy in front of one JSON-RPC endpoint; see the module docstring.

    `counts` has the keys forwarded (answered by the upstream), dropped, delayed (a subset of the
    forwarded ones, counted when the delay starts), reset and upstream_errors (forwarding failed:
    the client got 502, or 504 on an upstream timeout).
    """

    def __init__(
        self,
        upstream: str,
        faults: Faults | None = None,
        port: int = 0,
        *,
        upstream_timeout: float = 30.0,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream must be an http(s) URL, got {upstream!r}")
        self.upstream = upstream
        self._up_https = parts.scheme == "https"
        self._up_host = parts.hostname
        self._up_port = parts.port
        self._up_target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._up_has_path = parts.path not in ("", "/") or bool(parts.query)
        self._upstream_timeout = upstream_timeout
        self._port = port
        self._lock = threading.Lock()  # faults, rng and counts
        self._state_lock = threading.Lock()  # start/stop
        self._faults = faults if faults is not None else Faults()
        self._rng = random.Random(self._faults.seed)
        self._counts = dict.fromkeys(COUNT_KEYS, 0)
        self._server: _ProxyServer | None = None
        self._thread: threading.Thread | None = None

    # -- public API -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The listening port; with port=0 it is chosen by the first start() and then kept."""
        if self._port == 0:
            raise RuntimeError("RpcProxy(port=0) has no port before the first start()")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def faults(self) -> Faults:
        with self._lock:
            return self._faults

    @property
    def counts(self) -> dict[str, int]:
        """A snapshot of the counters (a copy; see the class docstring for the keys)."""
        with self._lock:
            return dict(self._counts)

    def set_faults(self, faults: Faults) -> None:
        """Use `faults` from the next request on, with a fresh generator seeded by faults.seed."""
        with self._lock:
            self._faults = faults
            self._rng = random.Random(faults.seed)

    def reset_counts(self) -> None:
        with self._lock:
            self._counts = dict.fromkeys(COUNT_KEYS, 0)

    def start(self) -> None:
        """Bind 127.0.0.1:<port> (SO_REUSEADDR) and serve in a daemon thread; no-op if running."""
        with self._state_lock:
            if self._server is not None:
                return
            server = _ProxyServer((HOST, self._port), self)
            self._port = server.server_address[1]
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"rpc-proxy-{self._port}",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread

    def stop(self) -> None:
        """Close the listening socket and every open client connection; no-op if stopped.

        Requests being delayed are abandoned without a response; a request already waiting on the
        upstream finishes there, but its client connection is gone.
        """
        with self._state_lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            if server is None or thread is None:
                return
            server.stopping.set()
            server.shutdown()
            server.server_close()
            server.close_connections()
            thread.join()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._port else "unbound"
        state = "running" if self.running else "stopped"
        return f"RpcProxy({where} -> {self.upstream}, {state}, {self.faults})"

    # -- used by the request handler --------------------------------------------------------

    def _decide(self) -> _Decision:
        with self._lock:
            faults = self._faults
            roll = self._rng.random()
            delay_roll = self._rng.random()
            status = self._rng.choice(RESET_STATUSES)
            if roll < faults.drop:
                self._counts["dropped"] += 1
                return _Decision("drop", 0.0, status)
            if roll < faults.drop + faults.reset:
                self._counts["reset"] += 1
                return _Decision("reset", 0.0, status)
            if delay_roll < faults.delay:
                self._counts["delayed"] += 1
                return _Decision("forward", faults.delay_seconds, status)
            return _Decision("forward", 0.0, status)

    def _count(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    def _forward(self, path: str, body: bytes, content_type: str | None) -> _Upstream:
        target = self._up_target if self._up_has_path or not path.startswith("/") else path
        conn: http.client.HTTPConnection
        if self._up_https:
            conn = http.client.HTTPSConnection(
                self._up_host, self._up_port, timeout=self._upstream_timeout
            )
        else:
            conn = http.client.HTTPConnection(
                self._up_host, self._up_port, timeout=self._upstream_timeout
            )
        try:
            conn.request(
                "POST",
                target,
                body=body,
                headers={
                    "Content-Type": content_type or "application/json",
                    "Content-Length": str(len(body)),
                },
            )
            response = conn.getresponse()
            payload = response.read()
            return _Upstream(
                response.status, response.reason, response.getheader("Content-Type"), payload
            )
        finally:
            conn.close()


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], proxy: RpcProxy) -> None:
        self.proxy = proxy
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: object
    ) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket | tuple[bytes, socket.socket]) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down every accepted connection; their handler threads then see EOF and exit."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client or its handler
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: object
    ) -> None:
        if isinstance(sys.exception(), OSError):
            return  # the client went away, or stop() closed the connection under the handler
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as web3/requests clients expect

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        server = cast(_ProxyServer, self.server)
        proxy = server.proxy
        try:
            body = self._read_body()
        except ValueError:
            self.send_error(400, "rpc_proxy: malformed request body")
            return
        decision = proxy._decide()
        if decision.action == "drop":
            self.close_connection = True  # no status line, no headers: the client sees EOF
            return
        if decision.action == "reset":
            self._reply(decision.status, "text/plain", b"rpc_proxy: injected error")
            return
        if decision.delay and server.stopping.wait(decision.delay):
            self.close_connection = True  # stop() during the delay: abandon the request
            return
        try:
            upstream = proxy._forward(self.path, body, self.headers.get("Content-Type"))
        except TimeoutError:
            proxy._count("upstream_errors")
            self._reply(504, "text/plain", b"rpc_proxy: upstream timed out")
            return
        except (OSError, http.client.HTTPException) as exc:
            proxy._count("upstream_errors")
            message = f"rpc_proxy: upstream unavailable: {exc!r}".encode()
            self._reply(502, "text/plain", message)
            return
        proxy._count("forwarded")
        self._reply(upstream.status, upstream.content_type, upstream.body, upstream.reason)

    def _reply(
        self, status: int, content_type: str | None, body: bytes, reason: str | None = None
    ) -> None:
        self.send_response(status, reason)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        size = int(length)
        if size < 0:
            raise ValueError(f"negative Content-Length {size}")
        body = self.rfile.read(size)
        if len(body) != size:
            raise ValueError("request body shorter than its Content-Length")
        return body

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            line = self.rfile.readline(_MAX_LINE)
            if not line:
                raise ValueError("request body ended inside the chunked encoding")
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self.rfile.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(_MAX_LINE)
