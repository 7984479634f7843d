"""The proxy data plane as the checker process sees it (``--dataplane proxy``; no root needed).

It implements :class:`~pykeepalived.lvs.dataplane.contract.DataPlane` over a set of worker processes
(:mod:`.worker`), one per CPU by default, each serving every virtual service on its own event loop
(``SO_REUSEPORT``).  This object holds no table of its own: the workers hold it, and every call asks
them over the control channel (:mod:`.control`), so :meth:`observe` is what the workers really hold.

Workers run in sessions of their own and outlive the checker process: a checker process that
restarts (or crashes) finds them through their sockets in the runtime directory and adopts their
table, as keepalived finds the kernel's IPVS table; connections in flight are never cut by a
checker restart.  :meth:`release` stops them (a clean stop); :meth:`close` only lets go of them
(``-I``, or before a restart).

Runtime directory: ``$PYKEEPALIVED_PROXY_DIR`` if set, else ``/run/pykeepalived/proxy`` for root,
else ``$XDG_RUNTIME_DIR/pykeepalived-proxy`` (or ``<tmp>/pykeepalived-proxy-<uid>``), with ``-net<inode>``
appended outside the host's first network namespace (two daemons in two namespaces, as keepalived's
``-s``/``net_namespace`` runs them, must not adopt each other's workers); created mode 0700.
Workers: ``$PYKEEPALIVED_PROXY_WORKERS``, else one per CPU this process may run on (a table of workers
found running is adopted at its own size).
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ...model import Counters, DestCounters, DestKey, Forward, Rates, Service, ServiceKey, Table, TableCounters
from ...reconcile import AddDest, AddService, EditDest, EditService, Op
from ...schedulers import SCHEDULER_NAMES
from ..contract import Capabilities, normal_form
from .control import (
    ControlClient,
    ControlError,
    dkey_from,
    dkey_json,
    op_json,
    service_from,
    service_json,
    skey_from,
    skey_json,
)
from .dispatch import COUNT_DRIVEN, check_dest, check_supported
from .worker import socket_path

log = logging.getLogger(__name__)

#: how long a new worker may take to answer on its control socket
START_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0

_Key = tuple[ServiceKey, DestKey]


def default_runtime_dir() -> str:
    env = os.environ.get("PYKEEPALIVED_PROXY_DIR")
    if env:
        return env
    if os.geteuid() == 0:
        base = "/run/pykeepalived/proxy"
    else:
        xdg = os.environ.get("XDG_RUNTIME_DIR")
        base = (os.path.join(xdg, "pykeepalived-proxy") if xdg and os.access(xdg, os.W_OK)
                else os.path.join(tempfile.gettempdir(), f"pykeepalived-proxy-{os.geteuid()}"))
    return base + _netns_suffix()


#: the inode of the host's first network namespace (the kernel's PROC_NET_INIT_INO)
INIT_NETNS_INODE = 0xEFFFFFF9


def _netns_suffix() -> str:
    """``-net<inode>`` when this process is not in the host's first network namespace (else empty)."""
    try:
        mine = os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return ""
    return "" if mine == INIT_NETNS_INODE else f"-net{mine}"


def default_workers() -> int:
    env = os.environ.get("PYKEEPALIVED_PROXY_WORKERS")
    if env:
        return max(1, int(env))
    return max(1, len(os.sched_getaffinity(0)))


class ProxyDataPlane:
    """The userspace proxy: TCP/UDP virtual services served by worker processes."""

    name = "proxy"
    capabilities = Capabilities(
        forwarding=frozenset({Forward.NAT}), protocols=frozenset({"tcp", "udp"}),
        schedulers=frozenset(SCHEDULER_NAMES), native_persistence=True, service_counters=False,
        shared_table=False, needs_root=False, count_schedulers=COUNT_DRIVEN)

    def __init__(self, runtime_dir: str | None = None, workers: int | None = None, *,
                 udp_timeout: float | None = None, cpus: list[int] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.dir = runtime_dir or default_runtime_dir()
        self.want_workers = workers or default_workers()
        self.udp_timeout = udp_timeout
        #: pin worker i to cpus[i % len(cpus)] (benchmarks)
        self.cpus = cpus
        self._clock = clock
        self._clients: list[ControlClient | None] = []
        self._pids: list[int] = []
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._samples: list[tuple[float, dict[_Key, Counters]]] = []
        self._per_worker: list[dict[_Key, tuple[int, int]]] = []
        #: (pid, table generation) of each worker, and the table read when they were last
        self._gens: list[tuple[int, int]] = []
        self._seen: tuple[list[tuple[int, int]], Table] | None = None

    # -- workers --------------------------------------------------------------------------------------
    @property
    def workers(self) -> int:
        return len(self._clients)

    def open(self) -> None:
        """Adopt the workers running in the runtime directory, start those missing."""
        self._check_dir(create=True)
        n = self.want_workers
        found = self._connect(0)
        if found is not None:
            hello = found.request({"op": "hello"})
            n = int(hello["workers"])
            if n != self.want_workers:
                log.info("proxy: adopting %d running workers (%d asked for)", n, self.want_workers)
        self._clients = [found] + [None] * (n - 1) if found is not None else [None] * n
        self._pids = [0] * n
        self._gens = [(0, -1)] * n
        self._ensure()

    def _check_dir(self, *, create: bool) -> bool:
        """The runtime directory is ours alone (a directory, not a link, owned by us, mode 0700): whoever
        could plant a socket in it would be handed our table.  Returns whether it exists."""
        if create:
            os.makedirs(self.dir, mode=0o700, exist_ok=True)
        try:
            st = os.lstat(self.dir)
        except FileNotFoundError:
            return False
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
            what = "" if stat.S_ISDIR(st.st_mode) else ", not a directory"
            raise PermissionError(f"proxy runtime directory {self.dir} must be a directory owned by uid "
                                  f"{os.geteuid()} with mode 0700 (found uid {st.st_uid}, mode "
                                  f"{stat.S_IMODE(st.st_mode):o}{what})")
        return True

    def _connect(self, i: int) -> ControlClient | None:
        try:
            return ControlClient(socket_path(self.dir, i))
        except OSError:
            return None

    def _ensure(self) -> list[int]:
        """Every worker connected; returns the indexes of workers started afresh (empty tables).
        An instance used without :meth:`open` opens first (adopting the running workers)."""
        if not self._clients:
            self.open()
            return []
        fresh = []
        for i in range(len(self._clients)):
            c = self._clients[i]
            if c is not None:
                try:
                    self._hello(i, c)
                    continue
                except ControlError:
                    c.close()
            c = self._connect(i)
            if c is not None:
                try:
                    self._hello(i, c)
                    self._clients[i] = c
                    continue
                except ControlError:
                    c.close()
            self._clients[i] = self._spawn(i)
            fresh.append(i)
        if fresh and len(fresh) < len(self._clients):
            # a worker died: it starts with the table the others hold
            source = next(c for j, c in enumerate(self._clients) if j not in fresh)
            assert source is not None
            services = source.request({"op": "table"})["services"]
            for i in fresh:
                log.warning("proxy: worker %d was not running; started again with the others' table", i)
                client = self._clients[i]
                assert client is not None
                client.request({"op": "load", "services": services})
        return fresh

    def _hello(self, i: int, c: ControlClient) -> None:
        reply = c.request({"op": "hello"})
        self._pids[i] = int(reply["pid"])
        self._gens[i] = (self._pids[i], int(reply.get("generation", -1)))

    def _spawn(self, i: int) -> ControlClient:
        path = socket_path(self.dir, i)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        argv = [sys.executable, "-m", "pykeepalived.lvs.dataplane.proxy", "--dir", self.dir,
                "--index", str(i), "--workers", str(len(self._clients))]
        if self.udp_timeout:
            argv += ["--udp-timeout", str(self.udp_timeout)]
        if self.cpus:
            argv += ["--cpu", str(self.cpus[i % len(self.cpus)])]
        env = dict(os.environ)
        src = str(Path(__file__).resolve().parents[4])  # the directory holding the pykeepalived package
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        with open(os.path.join(self.dir, f"worker-{i}.log"), "ab") as logf:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=logf,
                                    start_new_session=True, close_fds=True, env=env)
        self._children[i] = proc
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            c = self._connect(i)
            if c is not None:
                self._pids[i] = proc.pid
                return c
            if proc.poll() is not None:
                raise RuntimeError(f"proxy worker {i} exited at start (status {proc.returncode}); "
                                   f"see {self.dir}/worker-{i}.log")
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"proxy worker {i} did not start within {START_TIMEOUT:g} s")
            time.sleep(0.02)

    def _all(self, msg: dict[str, Any]) -> list[dict[str, Any]]:
        if not self._clients:
            self.open()
        replies = []
        for c in self._clients:
            if c is None:
                raise ControlError("proxy data plane is not open")
            replies.append(c.request(msg))
        return replies

    # -- the contract ---------------------------------------------------------------------------------
    def claim(self, keys: Iterable[ServiceKey]) -> None:
        """Nothing to do: the workers serve the daemon's services only."""

    def canonical(self, table: Table) -> Table:
        return normal_form(table)

    def observe(self) -> Table:
        """The table the workers hold (a worker found dead is started again with the others' table).
        Read again only when a worker's table generation (or pid) moved since the last read, else the
        table read then.  Should workers disagree (one refused a batch the others took), worker 0's
        table is loaded into the others (started again) and reported."""
        self._ensure()
        if self._seen is not None and self._seen[0] == self._gens and -1 not in (g for _, g in self._gens):
            return self._seen[1]  # no worker's table moved since it was read: nothing to read again
        gens = list(self._gens)
        tables = [r["services"] for r in self._all({"op": "table"})]
        first = tables[0]
        canon = [sorted(map(_canon_json, t)) for t in tables]
        for i, t in enumerate(canon[1:], 1):
            if t != canon[0]:
                log.warning("proxy: worker %d held a table unlike worker 0's; reloading it", i)
                self._reload(i, first)
                gens = []  # read again next time
        table = normal_form(Table(tuple(sorted((_sorted_dests(service_from(j)) for j in first),
                                               key=lambda s: s.key))))
        self._seen = (gens, table) if gens else None
        return table

    def _reload(self, i: int, services: list[dict[str, Any]]) -> None:
        """Make worker ``i`` hold exactly ``services``: stopping it is the only way to empty it while
        keeping kernel order; it is started again and loaded."""
        client = self._clients[i]
        assert client is not None
        try:
            client.request({"op": "stop"})
        except ControlError:
            pass
        client.close()
        self._wait_gone(self._pids[i])
        self._clients[i] = self._spawn(i)
        self._clients[i].request({"op": "load", "services": services})  # type: ignore[union-attr]

    def apply(self, ops: list[Op]) -> None:
        """Send the operations to every worker (each applies them in order and stops at a refusal)."""
        if not ops:
            return
        for op in ops:  # refuse what the proxy cannot do before any worker changes
            if isinstance(op, AddService | EditService):
                check_supported(op.service)
            elif isinstance(op, AddDest | EditDest):
                check_dest(op.service, op.dest)
        self._ensure()
        msg = {"op": "apply", "ops": [op_json(op) for op in ops]}
        errors: list[ControlError] = []
        for c in self._clients:  # every worker gets the batch, even after one refused it: a refusal
            assert c is not None  # (a port someone else holds) stops each at the same operation,
            try:                  # so their tables stay alike and none has to be started again
                c.request(msg)
            except ControlError as e:
                errors.append(e)
        if errors:
            raise errors[0]

    def counters(self) -> TableCounters:
        """Every worker's counters, summed; rates over the interval since the previous call."""
        total: dict[_Key, list[int]] = {}
        per_worker: list[dict[_Key, tuple[int, int]]] = []
        for r in self._all({"op": "counters"}):
            mine: dict[_Key, tuple[int, int]] = {}
            for sk, dk, *vals in r["dests"]:
                key = (skey_from(sk), dkey_from(dk))
                acc = total.setdefault(key, [0] * 8)
                for j, v in enumerate(vals):
                    acc[j] += int(v)
                mine[key] = (int(vals[5]), int(vals[6]))
            per_worker.append(mine)
        self._per_worker = per_worker
        stats = {k: Counters(*v[:5]) for k, v in total.items()}
        self._samples = [*self._samples[-1:], (self._clock(), stats)]
        rates: dict[Any, Rates] = {}
        if len(self._samples) == 2:
            from ..nftables import rates_between

            (t0, before), (t1, after) = self._samples
            rates = rates_between(before, after, t1 - t0)
        return TableCounters({k: DestCounters(v[5], v[6], v[7], stats[k], rates.get(k, Rates()))
                              for k, v in total.items()})

    def maintain(self, counters: TableCounters) -> None:
        """Connection-count schedulers (lc, wlc, sed, nq, fo, ovf, twos, lblc, lblcr) in each worker add
        the other workers' connections, as of these counters, to their own."""
        if self.workers < 2 or len(self._per_worker) != self.workers:
            return
        totals = counters.connection_counts()
        if not any(True for _ in totals):
            return
        for i, c in enumerate(self._clients):
            mine = self._per_worker[i]
            rows = []
            for (sk, dk), cc in totals.items():
                a, n = mine.get((sk, dk), (0, 0))
                rows.append([skey_json(sk), dkey_json(dk), max(0, cc.active - a), max(0, cc.inactive - n)])
            assert c is not None
            c.request({"op": "others", "counts": rows})

    def release(self, *, everything: bool = False) -> None:
        """Stop every worker (their listeners and connections end) and remove their sockets (``everything``
        is the same: the workers hold nothing of anyone else's)."""
        if not self._clients and self._check_dir(create=False):  # adopt what runs, start nothing
            first = self._connect(0)
            if first is not None:
                n = int(first.request({"op": "hello"})["workers"])
                self._clients = [first, *(self._connect(i) for i in range(1, n))]
                self._pids = [0] * n
                self._gens = [(0, -1)] * n
                for i, c in enumerate(self._clients):
                    if c is not None:
                        self._pids[i] = int(c.request({"op": "hello"})["pid"])
        for i, c in enumerate(self._clients):
            if c is None:
                continue
            try:
                c.request({"op": "stop"})
            except ControlError:
                pass
            c.close()
            self._clients[i] = None
        for i, pid in enumerate(self._pids):
            proc = self._children.pop(i, None)
            if proc is not None:
                try:
                    proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            elif pid:
                self._wait_gone(pid)
        self._clients = []
        self._pids = []
        self._samples = []
        self._seen = None

    def _wait_gone(self, pid: int) -> None:
        proc = next((p for p in self._children.values() if p.pid == pid), None)
        if proc is not None:
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            return
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:  # a child of this process (started by a predecessor)
                    return
            except ChildProcessError:
                pass
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)
        log.warning("proxy: worker pid %d did not stop within %g s", pid, STOP_TIMEOUT)

    def close(self) -> None:
        """Let go of the control channels; the workers keep serving their table."""
        for c in self._clients:
            if c is not None:
                c.close()
        self._clients = []

    def worker_pids(self) -> list[int]:
        return list(self._pids)


def _sorted_dests(svc: Service) -> Service:
    return Service(svc.key, svc.scheduler, svc.flags, svc.persistence_timeout, svc.persistence_netmask,
                   tuple(sorted(svc.destinations, key=lambda d: d.key)))


def _canon_json(j: dict[str, Any]) -> str:
    return repr(service_json(_sorted_dests(service_from(j))))


__all__ = ["COUNT_DRIVEN", "ProxyDataPlane", "default_runtime_dir", "default_workers"]
