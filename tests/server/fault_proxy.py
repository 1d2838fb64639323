"""Proxies the fault tests put between a client and a service, in the test process (threads):

- ``TcpProxy``: bytes both ways to one upstream (PostgreSQL); ``cut()`` closes every connection and
  stops listening (the database is unreachable), ``restore()`` listens again on the same port.
- ``HttpProxy``: an HTTP/1.1 proxy to one or more trackkit servers, taken in turn per request (round
  robin), with a ``fault(number, method, path)`` hook deciding what happens to each request: passed
  on, answered 500 without reaching a server, passed on and then answered 500 (the server committed,
  the client sees an error), passed on and then the connection dropped, or held before it is passed
  on (the client times out, then the stale request still arrives). Status codes are counted.
"""

from __future__ import annotations

import collections
import http.client
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["HttpProxy", "TcpProxy"]


class TcpProxy:
    """A TCP relay on 127.0.0.1:<free port> to ``upstream`` that can be cut and restored."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.cut_at: float | None = None

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut or stopped
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:  # cut while connecting
                    client.close()
                    server.close()
                    return
                self._sockets.update((client, server))
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        for sock in (source, target):
            self._close(sock)

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    def cut(self) -> None:
        """Stop listening and reset every relayed connection: the service is unreachable."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets = list(self._sockets)
        if listener is not None:
            listener.close()
        for sock in sockets:
            self._close(sock)
        self.cut_at = time.monotonic()

    def restore(self) -> None:
        """Listen again on the same port."""
        self.start()

    stop = cut


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy: HttpProxy

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass

    def _relay(self) -> None:
        proxy = self.proxy
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        number, upstream = proxy._next()
        action = proxy.fault(number, self.command, self.path)
        if action == "500":
            self._answer(500, b'{"error": {"code": "internal", "message": "injected by the test proxy"}}')
            return
        if action.startswith("hold:"):  # the client gives up first; the request arrives late all the same
            time.sleep(float(action.split(":", 1)[1]))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection", "keep-alive")}
        connection = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
        try:
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except OSError:
            self._answer(502, b'{"error": {"code": "bad_gateway", "message": "upstream did not answer"}}')
            return
        finally:
            connection.close()
        proxy._count(response.status, upstream)
        if action == "500-after":
            self._answer(500, b'{"error": {"code": "internal", "message": "injected after the server answered"}}')
            return
        if action == "drop-after" or action.startswith("hold:"):
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response_only(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _answer(self, status: int, body: bytes) -> None:
        self.proxy._count(status, None)
        self.send_response_only(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _relay


class HttpProxy:
    """An HTTP proxy on 127.0.0.1:<free port> over ``upstreams`` (ports of trackkit servers), in turn.

    Args:
        upstreams: the servers' ports; request ``n`` goes to ``upstreams[n % len(upstreams)]``.
        fault: ``fault(n, method, path) -> "pass" | "500" | "500-after" | "drop-after" | "hold:<seconds>"``.
    """

    def __init__(self, upstreams: list[int], fault: Callable[[int, str, str], str] | None = None) -> None:
        self.upstreams = upstreams
        self.fault = fault or (lambda n, method, path: "pass")
        self.statuses: collections.Counter[int] = collections.Counter()  # what the servers answered
        self.injected: collections.Counter[int] = collections.Counter()  # what the proxy answered itself
        self.by_upstream: collections.Counter[int] = collections.Counter()
        self._number = 0
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"proxy": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _next(self) -> tuple[int, int]:
        with self._lock:
            number = self._number
            self._number += 1
        return number, self.upstreams[number % len(self.upstreams)]

    def _count(self, status: int, upstream: int | None) -> None:
        with self._lock:
            if upstream is None:
                self.injected[status] += 1
            else:
                self.statuses[status] += 1
                self.by_upstream[upstream] += 1

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
