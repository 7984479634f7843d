"""Web servers and a web client for the lab: pages that say which server answered.

The seed's point is *which* real server a request reached, so every server answers every GET
with its own name (``rs1``, ``rs2``, ``sorry``) and the client counts answers by body.  Standard
library only, so ``pykeepalived lab`` works from any install:

* ``python -m pykeepalived.lab.web serve NAME [--port 80]`` runs inside a lab node;
* :func:`get` and :func:`probe` are the client, meant to run in the client's namespace
  (``call_in_netns`` from the lab, or ``python -m pykeepalived.lab.web get URL --count N``).

Every client request opens a new TCP connection (as a browser without keep-alive would), so
the load balancer schedules each one; each has a timeout, and every loop is bounded.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import sys
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: what the client counts a failed request as
ERRORS = "errors"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body leave in two writes: without TCP_NODELAY, keep-alive clients wait 40 ms
    # for each response (Nagle against delayed ACKs) and wrk measures the kernel, not the lab
    disable_nagle_algorithm = True
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request would drown the lab's logs under wrk


def serve(name: str, port: int = 80, host: str = "0.0.0.0") -> None:
    """Answer every GET with ``name``; threaded, so a held-open keep-alive never blocks others."""
    _Handler.body = f"{name}\n".encode()
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer((host, port), _Handler)
    print("ready", flush=True)
    server.serve_forever()


def get_one(url: str, timeout: float = 2.0, source: str | None = None) -> str | None:
    """One GET on a fresh connection: the page's first line, or None if it failed."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname or "", u.port or 80, timeout=timeout,
                                      source_address=(source, 0) if source else None)
    try:
        conn.request("GET", u.path or "/", headers={"Connection": "close"})
        resp = conn.getresponse()
        body = resp.read().decode(errors="replace").strip()
        return body if resp.status == 200 else None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def get(url: str, count: int, *, timeout: float = 2.0,
        sources: Sequence[str] | None = None) -> collections.Counter[str]:
    """``count`` requests (from each of ``sources`` in turn, if given): answers counted by page."""
    seen: collections.Counter[str] = collections.Counter()
    for i in range(count):
        source = sources[i % len(sources)] if sources else None
        seen[get_one(url, timeout, source) or ERRORS] += 1
    return seen


@dataclass(frozen=True, slots=True)
class Probe:
    """One request of :func:`probe`: when it started (monotonic), whether it worked, who answered."""

    t: float
    ok: bool
    who: str


def probe(url: str, duration: float, *, every: float = 0.05, timeout: float = 0.25,
          stop: object | None = None) -> list[Probe]:
    """A request every ``every`` s for ``duration`` s (bounded): what a user sees during a failover.

    ``stop`` may be a :class:`threading.Event` ending the loop early.
    """
    out: list[Probe] = []
    end = time.monotonic() + duration
    while time.monotonic() < end and not (stop is not None and stop.is_set()):  # type: ignore[attr-defined]
        t = time.monotonic()
        who = get_one(url, timeout)
        out.append(Probe(t, who is not None, who or "-"))
        time.sleep(max(0.0, every - (time.monotonic() - t)))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pykeepalived.lab.web",
                                description="the lab's web server (serve) and client (get)")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="answer every GET with NAME")
    s.add_argument("name")
    s.add_argument("--port", type=int, default=80)
    g = sub.add_parser("get", help="COUNT requests, each on a new connection; prints {page: count} as JSON")
    g.add_argument("url")
    g.add_argument("--count", type=int, default=10)
    g.add_argument("--timeout", type=float, default=2.0)
    g.add_argument("--source", action="append", default=None, help="source address (repeatable)")
    args = p.parse_args(argv)
    if args.cmd == "serve":
        try:
            serve(args.name, args.port)
        except KeyboardInterrupt:
            pass
        return 0
    print(json.dumps(get(args.url, args.count, timeout=args.timeout, sources=args.source)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
