"""The checker process out of file descriptors: no crash, checks late but never a false failure.

``a`` runs pykeepalived with one virtual server and 200 real servers (TCP_CHECK and HTTP_GET, every
second) all answered by one HTTP server on ``b``.  Once every real server is alive, the checker child's
RLIMIT_NOFILE is cut (``prlimit --pid``) to a few descriptors above what it holds at rest, so most
attempts fail to get a socket (EMFILE), and so does the data plane's own work each second.  A check that
cannot even start gives no verdict (keepalived's connect_error), so for the whole starved period every
real server must stay alive, the checker and the daemon must run on without a traceback, and once the
limit is lifted checks go on as before.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from bench.fault_suite import Daemon, crashes_in

from pykeepalived.lab.measure import node_ip, wait_for
from pykeepalived.lab.topology import Lab

pytestmark = pytest.mark.root

SERVERS = 200
HTTP_PORT = 8080
STARVED = 8.0

#: one process answering every check: a large backlog, so 200 connects a second never see a SYN dropped
HTTP_SERVER = """
import asyncio, sys
async def serve(r, w):
    try:
        await asyncio.wait_for(r.readuntil(b"\\r\\n\\r\\n"), 5)
        w.write(b"HTTP/1.0 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")
        await w.drain()
    except Exception:
        pass
    w.close()
async def main():
    s = await asyncio.start_server(serve, sys.argv[1], int(sys.argv[2]), backlog=1024)
    print("ready", flush=True)
    await s.serve_forever()
asyncio.run(main())
"""


def checker_conf(n: int) -> str:
    out = ["global_defs {", "  router_id emfile", "}", "virtual_server 10.9.0.50 80 {", "  delay_loop 1",
           "  lb_algo rr", "  lb_kind NAT", "  protocol TCP"]
    for i in range(n):
        port = 10000 + i
        out += [f"  real_server {node_ip('b')} {port} {{", "    weight 1"]
        if i % 2:
            out += ["    HTTP_GET {", "      url {", "        path /", "        status_code 200", "      }",
                    f"      connect_port {HTTP_PORT}", "      connect_timeout 3", "      retry 1",
                    "      delay_before_retry 1", "    }"]
        else:
            out += ["    TCP_CHECK {", f"      connect_port {HTTP_PORT}", "      connect_timeout 3", "      retry 1",
                    "      delay_before_retry 1", "    }"]
        out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def test_checker_out_of_file_descriptors_keeps_running_and_never_fails_a_live_server(
        lan: tuple[Lab, Path]) -> None:
    from tests.conftest import require_binary

    prlimit = require_binary("prlimit")
    lab, tmp = lan
    web = lab.popen("b", [sys.executable, "-c", HTTP_SERVER, node_ip("b"), str(HTTP_PORT)])
    a = Daemon(lab, "a", tmp / "a-daemon", checker_conf(SERVERS)).start()
    try:
        wait_for(lambda: len(a.health()) == SERVERS and set(a.health().values()) == {"alive"}, 30,
                 "every real server alive")
        checker = a.child_pid("checkers")
        rest = open_fds(checker)
        soft = int(lab.run("a", [prlimit, "--pid", str(checker), "--nofile", "-o", "SOFT",
                                 "--noheadings"]).stdout.split()[0])
        lab.run("a", [prlimit, "--pid", str(checker), f"--nofile={rest + 4}:"])
        t_end = time.monotonic() + STARVED
        seen: dict[str, str] = {}
        while time.monotonic() < t_end:
            health = a.health()
            assert health, "the daemon stopped answering"
            seen.update({k: v for k, v in health.items() if v != "alive"})
            time.sleep(0.2)
        assert seen == {}, f"live servers failed under EMFILE: {len(seen)} e.g. {list(seen.items())[:3]}"
        assert a.alive() and a.child_pid("checkers") == checker
        log = a.log()
        assert "Too many open files" in log, "the checker never ran out of descriptors: the test proves nothing"
        lab.run("a", [prlimit, "--pid", str(checker), f"--nofile={soft}:"])
        time.sleep(3)
        assert set(a.health().values()) == {"alive"}
        # not crashes: a reconcile that failed for want of descriptors (logged, retried), the chained
        # tracebacks under it (preceded by a blank line), Python's note that pyroute2's half-made event
        # loop (its selector could not be opened) was collected, and asyncio's own report that accept() on
        # the control socket is paused for want of descriptors
        benign = ("Reconcile failed; will retry", "Exception ignored in: <function BaseEventLoop.__del__",
                  "socket: <asyncio.TransportSocket")
        crashes = [c for c in crashes_in(a.log()) if c.strip() and not any(b in c for b in benign)]
        assert crashes == [], crashes
    finally:
        a.stop()
        lab.stop(web)
