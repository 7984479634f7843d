"""Named network namespaces through iproute2, with a per-run prefix.

Everything the lab sends (VRRP, ARP, test traffic) must stay inside namespaces it created, and
parallel runs (several test sessions, a benchmark, ``pykeepalived lab``) must never touch each
other's.  So every name carries a prefix, by default ``pk<pid>-``; :func:`cleanup_prefix` removes
what a crashed run left behind, and :func:`stale_prefixes` finds runs whose process is gone.

We drive ``ip`` rather than pyroute2 here: topology set-up is not hot, and ``ip`` commands are
what a person debugging a failed test would type, so errors read the same.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pykeepalived.daemon.runtime import enter_netns, pid_alive

#: how long one ``ip``/``sysctl`` command may take before we call it stuck
COMMAND_TIMEOUT = 10.0

_PREFIX_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*-$")
_PID_PREFIX_RE = re.compile(r"^(?P<tag>[A-Za-z]+)(?P<pid>[0-9]+)-")


class LabError(RuntimeError):
    """A lab command failed; the message holds the command line and its stderr."""


def default_prefix(tag: str = "pk") -> str:
    """``pk<pid>-``: unique among live processes, so parallel runs never collide."""
    return f"{tag}{os.getpid()}-"


_serial = itertools.count(1)


def unique_prefix(tag: str = "pk") -> str:
    """``pk<pid>-<n>-``: a fresh prefix for each lab of this process, so a lab a failed test did
    not close never collides with the next one; ``cleanup_prefix(default_prefix())`` still
    sweeps them all."""
    return f"{default_prefix(tag)}{next(_serial)}-"


def check_prefix(prefix: str) -> str:
    """Refuse prefixes that could match someone else's namespaces (empty, no trailing ``-``)."""
    if not _PREFIX_RE.match(prefix) or len(prefix) < 3:
        raise ValueError(f"namespace prefix {prefix!r} must look like 'pk1234-' "
                         "(letters and digits, ending in '-')")
    return prefix


def run(argv: Sequence[str], *, check: bool = True, timeout: float = COMMAND_TIMEOUT,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run one command, returning its output; on failure raise :class:`LabError` with stderr."""
    try:
        cp = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, input=input)
    except subprocess.TimeoutExpired as e:
        raise LabError(f"{' '.join(argv)}: timed out after {timeout} s") from e
    if check and cp.returncode != 0:
        raise LabError(f"{' '.join(argv)}: exit {cp.returncode}: {cp.stderr.strip()}")
    return cp


def ip(netns: str | None, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``ip [-n NETNS] ARGS``."""
    argv = ["ip"] + (["-n", netns] if netns else []) + list(args)
    return run(argv, check=check)


def ip_batch(netns: str | None, lines: Iterable[str]) -> None:
    """Several ``ip`` commands in one process (``ip -batch -``): one fork instead of dozens."""
    text = "\n".join(lines) + "\n"
    if text.strip():
        run(["ip"] + (["-n", netns] if netns else []) + ["-batch", "-"], input=text)


def list_netns() -> list[str]:
    """Names of all named network namespaces (``ip netns list``, without the ``(id: N)`` suffix)."""
    out = run(["ip", "netns", "list"]).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def add_netns(name: str) -> None:
    run(["ip", "netns", "add", name])


def netns_pids(name: str) -> list[int]:
    """PIDs of processes living in the namespace (``ip netns pids``)."""
    cp = run(["ip", "netns", "pids", name], check=False)
    return [int(p) for p in cp.stdout.split() if p.isdigit()]


def kill_pids(pids: Iterable[int], grace: float = 2.0) -> None:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL the ones still there (by PID only)."""
    pending = set(pids) - {os.getpid()}
    for pid in pending:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pending and time.monotonic() < deadline:
        pending = {p for p in pending if pid_alive(p)}
        if pending:
            time.sleep(0.05)
    for pid in pending:
        _signal(pid, signal.SIGKILL)


def del_netns(name: str, *, kill: bool = True) -> None:
    """Delete a namespace; with ``kill``, first stop the processes in it (else it outlives its name)."""
    if kill:
        kill_pids(netns_pids(name))
    run(["ip", "netns", "del", name], check=False)


def cleanup_prefix(prefix: str, *, kill: bool = True) -> list[str]:
    """Remove every namespace whose name starts with ``prefix``; returns the names removed.

    Deleting a namespace destroys the veths and bridges inside it, so this is the whole cleanup.
    """
    check_prefix(prefix)
    gone = [n for n in list_netns() if n.startswith(prefix)]
    for name in gone:
        del_netns(name, kill=kill)
    return gone


def stale_prefixes(tag: str = "pk") -> list[str]:
    """Prefixes ``<tag><pid>-`` of existing namespaces whose creating process no longer runs."""
    found: set[str] = set()
    for name in list_netns():
        m = _PID_PREFIX_RE.match(name)
        if m and m["tag"] == tag and not pid_alive(int(m["pid"])):
            found.add(m.group(0))
    return sorted(found)


def exec_argv(netns: str, argv: Sequence[str]) -> list[str]:
    """The command line that runs ``argv`` inside ``netns``."""
    return ["ip", "netns", "exec", netns, *argv]


def popen(netns: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """Start ``argv`` inside ``netns``; ``ip netns exec`` execs it, so the PID is the command's own."""
    return subprocess.Popen(exec_argv(netns, argv), **kwargs)


def stop(proc: subprocess.Popen[Any], grace: float = 2.0) -> int | None:
    """Terminate one process we started, then kill it if it ignores SIGTERM; returns its exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                return None
    return proc.returncode


def set_sysctls(netns: str, values: Mapping[str, str | int]) -> None:
    """Write ``net.*`` sysctls in ``netns`` (one ``sysctl`` process for all of them)."""
    if values:
        run(exec_argv(netns, ["sysctl", "-q", "-w", *(f"{k}={v}" for k, v in values.items())]))


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass




class InNetns(threading.Thread):
    """``fn(*args)`` on a daemon thread moved into namespace ``ns``; :meth:`result` waits for it.

    Sockets a thread opens belong to the thread's namespace, so the client's requests need no
    subprocess (Python 3.11 has no ``os.setns``: libc's, on this thread only).  A daemon thread,
    so an interrupted demo never waits for a request loop to finish.
    """

    def __init__(self, ns: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__(name=f"netns-{ns}", daemon=True)
        self.ns, self.fn, self.args, self.kwargs = ns, fn, args, kwargs
        self.value: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            enter_netns(self.ns)
            self.value = self.fn(*self.args, **self.kwargs)
        except BaseException as exc:  # handed to result()
            self.error = exc

    def result(self, timeout: float = 120.0) -> Any:
        deadline = time.monotonic() + timeout
        while self.is_alive():  # short joins: Ctrl-C is delivered between them
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.fn.__name__} in {self.ns} still running after {timeout} s")
            self.join(0.1)
        if self.error is not None:
            raise self.error
        return self.value


def call_in_netns(name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn(*args, **kwargs)`` in a fresh thread moved into namespace ``name``; return its result.

    libnftables and netlink sockets work in the namespace of the calling *thread*, so a test can
    drive a data plane inside a lab node without a subprocess (the caller's thread is untouched).
    """
    t = InNetns(name, fn, *args, **kwargs)
    t.start()
    return t.result(timeout=math.inf)
