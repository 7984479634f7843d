"""The daemon with ``--dataplane proxy`` on loopback (no root, no namespace): a checker process killed
with SIGKILL is started again by the supervisor and adopts the running proxy workers and their table
(nothing re-added, established connections untouched), and a clean stop ends the workers."""

from __future__ import annotations

import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

VIP, VPORT = "127.0.0.64", 18564
RS = ("127.0.0.65", 18565)

CONF = f"""\
virtual_server {VIP} {VPORT} {{
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server {RS[0]} {RS[1]} {{
        weight 1
        TCP_CHECK {{
            connect_timeout 1
        }}
    }}
}}
"""


class _Page(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"rs\n")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def real_server() -> Iterator[None]:
    http.server.ThreadingHTTPServer.daemon_threads = True
    s = http.server.ThreadingHTTPServer(RS, _Page)
    threading.Thread(target=s.serve_forever, daemon=True).start()
    yield
    s.shutdown()
    s.server_close()


def _get(conn: socket.socket) -> bytes:
    conn.sendall(f"GET / HTTP/1.1\r\nHost: {VIP}\r\n\r\n".encode())
    data = b""
    while not data.endswith(b"rs\n"):
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _workers(run: Path) -> list[int]:
    out = subprocess.run(["pgrep", "-f", "--", f"--dir {run}"], capture_output=True, text=True).stdout
    return sorted(int(p) for p in out.split())


def _wait(cond: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_a_killed_checker_process_adopts_the_proxy_workers(tmp_path: Path, real_server: None) -> None:
    run = tmp_path / "proxy"
    env = dict(os.environ, PYKEEPALIVED_PROXY_DIR=str(run), PYKEEPALIVED_PROXY_WORKERS="2")
    (tmp_path / "k.conf").write_text(CONF)
    log = open(tmp_path / "out.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([sys.executable, "-m", "pykeepalived", "-n", "-l", "-f", str(tmp_path / "k.conf"),
                             "--dataplane", "proxy", "-p", str(tmp_path / "k.pid"), "-c", str(tmp_path / "c.pid"),
                             "-r", str(tmp_path / "v.pid")], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        def answers() -> bool:
            try:
                with socket.create_connection((VIP, VPORT), timeout=1) as c:
                    return _get(c).endswith(b"rs\n")
            except OSError:
                return False

        _wait(answers, 20, "the proxy to answer")
        workers = _workers(run)
        assert len(workers) == 2
        held = socket.create_connection((VIP, VPORT), timeout=5)
        assert _get(held).endswith(b"rs\n")

        checker = int((tmp_path / "c.pid").read_text())
        os.kill(checker, signal.SIGKILL)
        _wait(lambda: (tmp_path / "c.pid").exists() and (tmp_path / "c.pid").read_text().strip()
              not in ("", str(checker)), 20, "the supervisor to start a new checker process")
        _wait(lambda: (tmp_path / "out.log").read_text().count("data plane proxy (requested") == 2, 20,
              "the new checker process to open the data plane")
        time.sleep(2.5)  # a reconcile of the new checker process
        assert _workers(run) == workers  # the same workers: adopted, not started again
        text = (tmp_path / "out.log").read_text()
        assert text.count("add service TCP") == 1, text  # the table was found, not rebuilt
        assert _get(held).endswith(b"rs\n")  # the established connection went on
        held.close()
        assert answers()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert proc.returncode == 0
    _wait(lambda: not _workers(run), 10, "the workers to stop with the daemon")
