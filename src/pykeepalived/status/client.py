"""A client of the control socket: HTTP/1.1 over a UNIX stream socket, for ``status`` and the supervisor."""

from __future__ import annotations

import http.client
import socket


class _UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a unix stream socket (the host name only fills the Host header)."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._unix_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def fetch(path: str, target: str = "/status", timeout: float = 5.0) -> tuple[int, bytes]:
    """GET ``target`` from the control socket at ``path``: (HTTP status, body). OSError if nobody answers."""
    conn = _UnixHTTPConnection(path, timeout)
    try:
        conn.request("GET", target, headers={"Accept": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def post(path: str, target: str, body: bytes, timeout: float = 10.0) -> tuple[int, bytes]:
    """POST a JSON ``body`` to ``target`` on the control socket at ``path``: (HTTP status, body)."""
    conn = _UnixHTTPConnection(path, timeout)
    try:
        conn.request("POST", target, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()
