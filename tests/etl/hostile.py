"""Hostile HTTP servers on loopback: each connection is answered by a scenario writing raw bytes,
so a test can send what no well-behaved server would (a body dribbled a byte at a time, a body
cut short, bad gzip, a reset, a redirect loop, repeated JSON members, pages that never end).

    with hostile(scenario) as server:      # server.url, server.seen (requests received)
        ...

A scenario is `scenario(request, reply)`: `request` is what the client sent (path, query
parameters, headers), `reply` writes to the socket. Every answer carries `Connection: close`.
"""

from __future__ import annotations

import json
import socket
import socketserver
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Received:
    path: str
    params: dict[str, str]
    headers: dict[str, str]  # names in lower case


class Reply:
    """Writes one answer on the connection; stops quietly when the client has gone."""

    def __init__(self, sock: socket.socket, stopping: threading.Event):
        self.sock = sock
        self.stopping = stopping

    def raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def head(self, status: int = 200, headers: dict[str, str] | None = None) -> None:
        lines = [f"HTTP/1.1 {status} {'OK' if status < 300 else 'Status'}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self.raw(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def json(self, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        """A complete answer; `body` as bytes is sent verbatim (e.g. JSON with repeated members)."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.head(
            status,
            {
                "Content-Type": "application/json",
                "Content-Length": str(len(data)),
                **(headers or {}),
            },
        )
        self.raw(data)

    def dribble(self, data: bytes, every: float) -> None:
        """One byte every `every` seconds, until all is sent or the server stops."""
        for byte in data:
            if self.stopping.wait(every):
                return
            self.raw(bytes([byte]))

    def hang(self) -> None:
        """Send nothing until the server stops."""
        self.stopping.wait()

    def reset(self) -> None:
        """Close with a TCP reset instead of an orderly close."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


Scenario = Callable[[Received, Reply], None]
TLS_HANDSHAKE = b"\x16"


class _Handler(socketserver.StreamRequestHandler):
    server: HostileServer

    def handle(self) -> None:
        self.connection.settimeout(10)
        try:
            if isinstance(self.connection, ssl.SSLSocket):
                self.connection.do_handshake()
            received = self._read_request()
            if received is None:
                return
            self.server.seen.append(received)
            self.server.scenario(received, Reply(self.connection, self.server.stopping))
        except OSError:
            pass  # the client gave up (its deadline), refused the certificate, or was reset

    def _read_request(self) -> Received | None:
        if not self.server.tls and self.rfile.peek(1)[:1] == TLS_HANDSHAKE:
            # A TLS client on this plain server: answer in plain HTTP, as real servers do.
            self.connection.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
            return None
        parts = self.rfile.readline(65537).decode("latin-1").split()
        if len(parts) != 3:
            return None
        headers = {}
        while (header := self.rfile.readline(65537).decode("latin-1").strip()) != "":
            name, _, value = header.partition(":")
            headers[name.strip().lower()] = value.strip()
        url = urlsplit(parts[1])
        params = {key: values[-1] for key, values in parse_qs(url.query).items()}
        return Received(url.path, params, headers)


class HostileServer(socketserver.ThreadingTCPServer):
    """With `tls`, connections are TLS (the handshake happens in the connection's thread)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, scenario: Scenario, tls: ssl.SSLContext | None = None):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.scenario = scenario
        self.tls = tls
        self.seen: list[Received] = []
        self.stopping = threading.Event()

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"


@contextmanager
def hostile(scenario: Scenario, tls: ssl.SSLContext | None = None) -> Iterator[HostileServer]:
    server = HostileServer(scenario, tls)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
