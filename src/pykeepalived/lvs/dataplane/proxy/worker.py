"""One proxy worker process: a forwarding engine plus its end of the control channel.

Started by :class:`~pykeepalived.lvs.dataplane.proxy.plane.ProxyDataPlane` as
``python -m pykeepalived.lvs.dataplane.proxy --dir DIR --index I --workers N`` in a session of
its own, so it outlives the checker process that started it (a restarted checker process finds the
workers and their table through ``DIR/worker-I.sock``, as a restarted keepalived finds the kernel's
IPVS table).  It stops on the ``stop`` request (``release()``) or on SIGTERM / SIGINT.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
from typing import Any

from .control import dkey_from, dkey_json, op_from, service_from, service_json, skey_from, skey_json
from .engine import IN, Engine

log = logging.getLogger("pykeepalived.proxy")

#: descriptors a worker asks for (soft RLIMIT_NOFILE, up to the hard limit; root raises that too)
MAX_FILES = 1 << 20


def socket_path(directory: str, index: int) -> str:
    return os.path.join(directory, f"worker-{index}.sock")


class ControlConn:
    """A connection from the checker process: JSON lines in, JSON lines out."""

    def __init__(self, worker: Worker, sock: socket.socket) -> None:
        self.worker = worker
        self.sock = sock
        self.buf = bytearray()
        sock.setblocking(False)
        worker.engine.handlers[sock.fileno()] = self.on_event
        worker.engine.ep.register(sock.fileno(), IN)

    def on_event(self, ev: int) -> None:
        try:
            data = self.sock.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.close()
            return
        self.buf += data
        while (nl := self.buf.find(b"\n")) >= 0:
            line = bytes(self.buf[:nl])
            del self.buf[:nl + 1]
            try:
                reply = self.worker.handle(json.loads(line))
            except Exception as e:  # a refused operation: the checker process logs it and retries
                reply = {"error": f"{type(e).__name__}: {e}"}
            self.sock.setblocking(True)
            self.sock.settimeout(10.0)
            try:
                self.sock.sendall(json.dumps(reply, separators=(",", ":")).encode() + b"\n")
            except OSError:
                self.close()
                return
            self.sock.setblocking(False)

    def close(self) -> None:
        self.worker.engine.forget(self.sock.fileno())
        self.sock.close()


class Worker:
    def __init__(self, directory: str, index: int, workers: int, udp_timeout: float | None = None) -> None:
        self.directory = directory
        self.index = index
        self.engine = Engine(index, workers) if udp_timeout is None else Engine(index, workers, udp_timeout=udp_timeout)
        #: moves with every change of the table: the checker process re-reads the table only when it moved
        self.generation = 0
        path = socket_path(directory, index)
        tmp = f"{path}.{os.getpid()}"
        self.control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        self.control.bind(tmp)
        self.control.listen(16)
        os.replace(tmp, path)  # appears only once it accepts
        self.path = path
        self._ino = os.stat(path).st_ino
        self.engine.handlers[self.control.fileno()] = self._accept_control
        self.engine.ep.register(self.control.fileno(), IN)

    def _accept_control(self, ev: int) -> None:
        try:
            sock, _ = self.control.accept()
        except OSError:
            return
        ControlConn(self, sock)

    def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        op = msg.get("op")
        eng = self.engine
        if op == "hello":
            return {"pid": os.getpid(), "index": self.index, "workers": eng.workers,
                    "services": len(eng.listeners), "generation": self.generation}
        if op == "table":
            return {"services": [service_json(lst.disp.service, [d.destination() for d in lst.disp.dests])
                                 for lst in eng.listeners.values()]}
        if op == "apply":
            self.generation += 1  # before: a batch refused half way changed the table too
            eng.apply([op_from(o) for o in msg["ops"]])
            return {}
        if op == "load":
            from ...reconcile import AddDest, AddService, Op
            ops: list[Op] = []
            for j in msg["services"]:
                svc = service_from(j)
                ops.append(AddService(svc))
                # kernel order arrives head first: adding in reverse rebuilds the same list
                ops.extend(AddDest(svc.key, d) for d in reversed(svc.destinations))
            self.generation += 1
            eng.apply(ops)
            return {}
        if op == "counters":
            rows = []
            for lst in eng.listeners.values():
                sk = skey_json(lst.disp.key)
                for d in lst.disp.dests:
                    rows.append([sk, dkey_json(d.key), *d.stats, d.active, d.inactive, d.persistent])
            return {"dests": rows}
        if op == "others":
            by_svc: dict[Any, dict[Any, tuple[int, int]]] = {}
            for sk, dk, a, i in msg["counts"]:
                by_svc.setdefault(skey_from(sk), {})[dkey_from(dk)] = (int(a), int(i))
            for key, lst in eng.listeners.items():
                lst.disp.set_others(by_svc.get(key, {}))
            return {}
        if op == "stop":
            eng.running = False
            return {}
        raise ValueError(f"unknown request {op!r}")

    def run(self) -> None:
        try:
            self.engine.run()
        finally:
            self.engine.close_all()
            try:
                if os.stat(self.path).st_ino == self._ino:  # still ours (not a successor's)
                    os.unlink(self.path)
            except OSError:
                pass
            self.control.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="pykeepalived-proxy-worker")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--index", type=int, required=True)
    ap.add_argument("--workers", type=int, required=True)
    ap.add_argument("--udp-timeout", type=float, default=None)
    ap.add_argument("--cpu", type=int, default=None, help="pin to this CPU")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s proxy worker {args.index}[%(process)d]: %(message)s")
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    # a connection costs two descriptors: take all the hard limit allows (the soft one is often 1,024)
    from pykeepalived.process import raise_fd_limit

    raise_fd_limit(MAX_FILES)
    worker = Worker(args.dir, args.index, args.workers, args.udp_timeout)

    def stop(signum: int, frame: Any) -> None:
        worker.engine.running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())  # the checker process may have blocked some
    log.info("serving (control %s)", worker.path)
    worker.run()
    log.info("stopped")
    return 0

