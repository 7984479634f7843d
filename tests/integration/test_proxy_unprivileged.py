"""``pykeepalived -n -l -f CONF --dataplane proxy`` runs as an unprivileged user and forwards.

The daemon runs as ``nobody`` (``setpriv --reuid=nobody --regid=nogroup --clear-groups``), with its pid
files, control sockets and the proxy's runtime directory in a directory of its own; the virtual server is
on 127.0.0.x and a high port, the real servers are HTTP servers of this test on 127.0.0.x.  Loopback
only: no network namespace is needed.  Root is needed only to change user (and, where this Python, its
base installation or the repository lives under a directory ``nobody`` cannot enter, e.g. pyenv under
/root, to show them to ``nobody`` in a private mount namespace, ``unshare --mount``).  It never skips
for lack of reach: a CI clone's venv whose python links into /root runs too.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_binary

VIP, VPORT = "127.0.0.61", 18561
RS = [("127.0.0.62", 18562), ("127.0.0.63", 18563)]

CONF = """\
global_defs {{
    router_id unprivileged
}}
virtual_server {vip} {vport} {{
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
{servers}
}}
"""
SERVER = """\
    real_server {ip} {port} {{
        weight 1
        TCP_CHECK {{
            connect_timeout 1
        }}
    }}
"""


class _Named(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"{self.server.server_address[0]}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def real_servers() -> Iterator[None]:
    servers = [http.server.ThreadingHTTPServer(addr, _Named) for addr in RS]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    yield
    for s in servers:
        s.shutdown()
        s.server_close()


SETPRIV = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def _nobody_can(test: str, path: str) -> bool:
    return subprocess.run([*SETPRIV, "test", test, path], check=False).returncode == 0


def _blocker(path: str) -> str | None:
    """The outermost directory on ``path``'s way that nobody cannot enter (e.g. /root, mode 0700), or None."""
    parts = Path(path).parts
    for i in range(1, len(parts) + 1):
        d = str(Path(*parts[:i]))
        if os.path.isdir(d) and not _nobody_can("-x", d):
            return d
    return None


def reach_script(needed: list[str], keep: Path) -> list[str]:
    """Shell lines for a private mount namespace in which nobody reaches every path of ``needed`` at its own
    name: each blocking directory gets a tmpfs (mode 0755) over it and the needed paths under it are bound
    back in place.  Nothing changes outside the namespace; the paths stay the same, so a venv's symlinked
    python and its pyvenv.cfg ``home`` resolve as they do for root."""
    under = {p: b for p in dict.fromkeys(os.path.realpath(n) for n in needed) if (b := _blocker(p))}
    lines = []
    for i, p in enumerate(under):
        lines += [f"mkdir -p {keep}/{i}", f"mount --bind {p} {keep}/{i}"]
    for b in dict.fromkeys(under.values()):
        lines.append(f"mount -t tmpfs -o mode=0755 pk-reach {b}")
    for i, p in enumerate(under):
        lines += [f"mkdir -p {p}", f"mount --bind {keep}/{i} {p}"]
    return lines


def daemon_argv(work: Path) -> list[str]:
    """The command line that starts the daemon as nobody.  Where this Python, its base installation or the
    repository lie under a directory nobody cannot enter (pyenv under /root, a CI clone's venv whose python
    links there), they are shown to nobody in a private mount namespace (``unshare --mount``)."""
    opts = ["-m", "pykeepalived", "-n", "-l", "-f", str(work / "k.conf"), "--dataplane", "proxy",
            "-p", str(work / "k.pid"), "-c", str(work / "c.pid"), "-r", str(work / "v.pid")]
    repo = str(Path(__file__).resolve().parents[2])
    lines = reach_script([sys.prefix, sys.base_prefix, os.path.dirname(sys.executable), repo], work / "keep")
    if not lines:
        return [*SETPRIV, sys.executable, *opts]
    require_binary("unshare")
    script = " && ".join([*lines, f"exec {' '.join(SETPRIV)} {sys.executable} {' '.join(opts)}"])
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]


def test_proxy_daemon_runs_as_nobody_and_forwards(real_servers: None) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to change to user nobody")
    require_binary("setpriv")
    work = Path(tempfile.mkdtemp(prefix="pyk-unpriv-", dir="/tmp"))
    work.chmod(0o777)
    proc = None
    try:
        (work / "k.conf").write_text(CONF.format(vip=VIP, vport=VPORT,
                                                 servers="".join(SERVER.format(ip=i, port=p) for i, p in RS)))
        (work / "k.conf").chmod(0o644)
        env = dict(os.environ, PYKEEPALIVED_PROXY_DIR=str(work / "proxy"), PYKEEPALIVED_PROXY_WORKERS="2",
                   PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
        proc = subprocess.Popen(daemon_argv(work), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                cwd=work)
        seen: set[str] = set()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(seen) < 2:
            assert proc.poll() is None, proc.communicate()[0].decode(errors="replace")
            try:
                with urllib.request.urlopen(f"http://{VIP}:{VPORT}/", timeout=1) as r:
                    seen.add(r.read().decode().strip())
            except OSError:
                time.sleep(0.2)
        assert seen == {ip for ip, _ in RS}

        # every process of the daemon, the proxy workers included, runs as nobody
        nobody = int(subprocess.run(["id", "-u", "nobody"], capture_output=True, text=True).stdout)
        workers = [int(p) for p in subprocess.run(["pgrep", "-f", "--", f"--dir {work}/proxy"], capture_output=True,
                                                   text=True).stdout.split()]
        assert len(workers) == 2
        for pid in workers:
            assert os.stat(f"/proc/{pid}").st_uid == nobody

        # `status` reads the proxy's table and counters (refreshed on every reconcile, 2 s)
        deadline = time.monotonic() + 10
        while True:
            status = subprocess.run([sys.executable, "-m", "pykeepalived", "status", "--json", "-p",
                                     str(work / "k.pid")], capture_output=True, text=True, timeout=10)
            assert status.returncode == 0, status.stderr
            doc = json.loads(status.stdout)
            (vs,) = doc["virtual_services"]
            conns = sum(d.get("stats", {}).get("conns", 0) for d in vs["destinations"] if d.get("stats"))
            if conns >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert doc["daemon"]["dataplane"] == "proxy"
        assert conns >= 2, vs
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                out = proc.communicate(timeout=15)[0].decode(errors="replace")
            except subprocess.TimeoutExpired:
                proc.kill()
                out = proc.communicate()[0].decode(errors="replace")
            assert proc.returncode == 0, out
            assert "Stopped pykeepalived" in out
        left = subprocess.run(["pgrep", "-f", "--", f"--dir {work}/proxy"], capture_output=True, text=True).stdout
        shutil.rmtree(work, ignore_errors=True)
    assert not left.strip(), "proxy workers outlived a clean stop"
