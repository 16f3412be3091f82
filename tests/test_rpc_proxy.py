"""The fault-injecting RPC proxy against a tiny local echo server: no chain, no ape fixtures."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import pytest

from tests.utils.rpc_proxy import Faults, RpcProxy


class _EchoHandler(BaseHTTPRequestHandler):
    """Answers a JSON-RPC request with the request itself as the result; method "fail" -> 500."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        server = cast(_EchoServer, self.server)
        server.bodies.append(body)
        request = json.loads(body)
        status = 500 if request.get("method") == "fail" else 200
        payload = json.dumps({"jsonrpc": "2.0", "id": request.get("id"), "result": request})
        data = payload.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Echo", "1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _EchoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        super().__init__(("127.0.0.1", 0), _EchoHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def _echo_server() -> Iterator[_EchoServer]:
    server = _EchoServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _rpc(method: str = "eth_blockNumber", id_: int = 1) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": id_, "method": method, "params": []}).encode()


def _post(
    url: str, body: bytes, timeout: float = 5.0
) -> tuple[int, http.client.HTTPMessage, bytes]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def _outcome(url: str, id_: int) -> Any:
    try:
        return _post(url, _rpc(id_=id_))[0]
    except ConnectionError:
        return "dropped"


def test_forwards_body_status_and_content_type_unchanged():
    with _echo_server() as upstream, RpcProxy(upstream.url) as proxy:
        body = b'{"jsonrpc":"2.0","id":7,"method":"eth_chainId","params":[ ]}'
        status, headers, reply = _post(proxy.url, body)
        assert status == 200
        assert headers["Content-Type"] == "application/json"
        assert headers["X-Echo"] is None  # only status, Content-Type and body come back
        assert json.loads(reply) == {"jsonrpc": "2.0", "id": 7, "result": json.loads(body)}
        assert upstream.bodies == [body]  # byte for byte

        status, _, reply = _post(proxy.url, _rpc("fail", 8))
        assert status == 500
        assert json.loads(reply)["id"] == 8
        assert proxy.counts == {
            "forwarded": 2,
            "dropped": 0,
            "delayed": 0,
            "reset": 0,
            "upstream_errors": 0,
        }


def test_keep_alive_connection_serves_several_requests():
    with _echo_server() as upstream, RpcProxy(upstream.url) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
        try:
            for i in range(3):
                conn.request("POST", "/", body=_rpc(id_=i))
                response = conn.getresponse()
                assert response.status == 200
                assert json.loads(response.read())["id"] == i
        finally:
            conn.close()
        assert proxy.counts["forwarded"] == 3


def test_drop__client_gets_a_connection_error_and_upstream_nothing():
    with _echo_server() as upstream, RpcProxy(upstream.url, Faults(drop=1.0)) as proxy:
        for _ in range(3):
            with pytest.raises(ConnectionError):  # http.client.RemoteDisconnected
                _post(proxy.url, _rpc())
        assert upstream.bodies == []
        assert proxy.counts["dropped"] == 3
        assert proxy.counts["forwarded"] == 0


def test_reset__client_gets_502_or_503_and_upstream_nothing():
    with _echo_server() as upstream, RpcProxy(upstream.url, Faults(reset=1.0)) as proxy:
        statuses = {_post(proxy.url, _rpc())[0] for _ in range(20)}
        assert statuses <= {502, 503}
        assert statuses == {502, 503}  # seed 0 happens to give both within 20 requests
        assert upstream.bodies == []
        assert proxy.counts["reset"] == 20


def test_delay__holds_the_request_then_forwards_it():
    faults = Faults(delay=1.0, delay_seconds=0.2)
    with _echo_server() as upstream, RpcProxy(upstream.url, faults) as proxy:
        started = time.monotonic()
        status, _, _ = _post(proxy.url, _rpc())
        assert status == 200
        assert time.monotonic() - started >= 0.2
        assert proxy.counts["delayed"] == 1
        assert proxy.counts["forwarded"] == 1


def test_faults_are_deterministic_for_a_seed():
    faults = Faults(drop=0.3, reset=0.3, seed=42)
    runs = []
    with _echo_server() as upstream:
        for _ in range(2):
            with RpcProxy(upstream.url, faults) as proxy:
                runs.append([_outcome(proxy.url, i) for i in range(30)])
                counts = proxy.counts
            assert counts["dropped"] + counts["reset"] + counts["forwarded"] == 30
    assert runs[0] == runs[1]
    assert {"dropped", 200} <= set(runs[0])
    assert set(runs[0]) & {502, 503}


def test_set_faults_switches_behaviour_and_reseeds():
    with _echo_server() as upstream, RpcProxy(upstream.url, Faults(drop=1.0)) as proxy:
        with pytest.raises(ConnectionError):
            _post(proxy.url, _rpc())
        proxy.set_faults(Faults())
        assert _post(proxy.url, _rpc())[0] == 200
        proxy.set_faults(Faults(reset=0.5, seed=3))
        first = [_outcome(proxy.url, i) for i in range(10)]
        proxy.set_faults(Faults(reset=0.5, seed=3))
        assert [_outcome(proxy.url, i) for i in range(10)] == first


def test_stop_refuses_connections_and_start_rebinds_the_same_port():
    with _echo_server() as upstream:
        proxy = RpcProxy(upstream.url)
        with pytest.raises(RuntimeError):
            _ = proxy.url  # port 0: chosen by the first start()
        proxy.start()
        url = proxy.url
        try:
            assert _post(url, _rpc())[0] == 200
            proxy.stop()
            assert not proxy.running
            with pytest.raises(ConnectionRefusedError):
                _post(url, _rpc())
            proxy.stop()  # idempotent
            proxy.start()
            assert proxy.url == url
            assert _post(url, _rpc())[0] == 200
            proxy.stop()
            proxy.start()  # a second cycle, right away (SO_REUSEADDR)
            assert _post(url, _rpc())[0] == 200
        finally:
            proxy.stop()
        assert proxy.counts["forwarded"] == 3


def test_stop_closes_open_keep_alive_connections():
    with _echo_server() as upstream, RpcProxy(upstream.url) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
        try:
            conn.request("POST", "/", body=_rpc())
            assert conn.getresponse().read()
            proxy.stop()
            with pytest.raises(ConnectionError):  # reset/EOF on the old socket, not a reply
                conn.request("POST", "/", body=_rpc())
                conn.getresponse()
        finally:
            conn.close()
        assert len(upstream.bodies) == 1


def test_stop_during_a_delay_abandons_the_request_quickly():
    faults = Faults(delay=1.0, delay_seconds=10.0)
    with _echo_server() as upstream, RpcProxy(upstream.url, faults) as proxy:
        errors: list[BaseException] = []

        def client() -> None:
            try:
                _post(proxy.url, _rpc())
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=client)
        started = time.monotonic()
        thread.start()
        while proxy.counts["delayed"] == 0 and time.monotonic() - started < 2:
            time.sleep(0.01)
        proxy.stop()
        thread.join(timeout=5)
        assert time.monotonic() - started < 3
        assert len(errors) == 1
        assert isinstance(errors[0], ConnectionError)
        assert upstream.bodies == []


def test_upstream_down__502_and_counted():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, never listening: refused
        with RpcProxy(dead) as proxy:
            status, _, body = _post(proxy.url, _rpc())
    assert status == 502
    assert b"upstream unavailable" in body
    assert proxy.counts["upstream_errors"] == 1
    assert proxy.counts["forwarded"] == 0


@pytest.mark.parametrize(
    "kwargs",
    [{"drop": 1.5}, {"delay": -0.1}, {"drop": 0.6, "reset": 0.5}, {"delay_seconds": -1.0}],
)
def test_faults_reject_impossible_shares(kwargs: dict[str, float]):
    with pytest.raises(ValueError):
        Faults(**kwargs)
