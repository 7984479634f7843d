"""One asyncio scheduling mechanism for every checker type: delay_loop, retry, delay_before_retry, warmup.

Each configured checker is a :class:`Job`: an entry in the runner's timer heap (:class:`~.net.Timers`,
one loop timer for all jobs), a probe that performs one attempt (:mod:`.probes`), and its retry state in
:mod:`.state`.  As keepalived's checkers do, every checker first runs after the bootstrap delay plus a
random part of ``warmup``, and then after delay_loop, or delay_before_retry while it is retrying.
When a job is due it starts at once if fewer than ``max_in_flight`` attempts are running, else it
waits in a FIFO; probes start their own timeouts when they connect.  So an overloaded checker process
runs checks *late* and never turns a healthy server into a false failure (the timeouts of a check that
waited start when it connects, not when it was due).  No thread, coroutine or timer handle exists per
idle check: only a heap entry.
"""

from __future__ import annotations

import asyncio
import bisect
import errno
import functools
import random
import ssl
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace

from pykeepalived.check.net import Timers, clock_of
from pykeepalived.check.probes import Done, Probe, build_probe
from pykeepalived.check.probes.http import ssl_context_for
from pykeepalived.check.state import (
    CheckerState,
    Event,
    Log,
    RealServerState,
    Result,
    Settings,
    VirtualServerState,
    VsId,
    desired_table,
    rs_key,
    vs_id,
)
from pykeepalived.config.model import Script
from pykeepalived.config.model_lvs import (
    BfdCheck,
    HttpCheck,
    RealServer,
    SslConfig,
    VirtualServer,
    VirtualServerGroup,
)
from pykeepalived.config.model_vrrp import TrackFile
from pykeepalived.lvs.model import DestKey, Table
from pykeepalived.notify.scripts import ScriptJob

EventSink = Callable[[list[Event]], None]
_random = random.random

#: errors of socket() that say the host is out of something, not that the server is down
_HOST_LIMITS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def _frame(vs: VirtualServer) -> VirtualServer:
    """A virtual server's own settings: what its real servers' probes and state may depend on."""
    return replace(vs, real_servers=())


def unsupported_checkers(virtual_servers: Iterable[VirtualServer]) -> list[str]:
    """One message per configured checker this implementation will not run (for ``-t`` and the log): none
    today (BFD_CHECK is fed by the BFD process's events: :meth:`Runner.bfd_event`)."""
    return []


#: upper bounds (seconds) of the per-checker attempt-duration histogram; the status snapshot's
#: ``CHECK_DURATION_BUCKETS`` is passed in by the checker process (the check layer imports no status)
DURATION_BOUNDS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(slots=True, eq=False)
class Job:
    """One configured checker at run time."""

    vs: VirtualServerState
    rs: DestKey
    index: int
    probe: Probe
    #: its retry state (``vs.servers[rs].checkers[index]``)
    state: CheckerState
    #: its real server's state (``vs.servers[rs]``)
    server: RealServerState
    due: float = 0.0
    started: float = 0.0
    running: bool = False
    #: ``runner._done`` bound to this job, made once (no closure per attempt)
    on_done: Done | None = None
    #: False while suspended (``ha_suspend``): the job keeps its delay_loop cadence but makes no attempt
    enabled: bool = True
    #: a reload removed or replaced this checker (with ``enabled`` False): its pending timer is ignored
    dropped: bool = False
    # -- for status and metrics, updated in place when an attempt completes (no allocation per check)
    attempts: int = 0
    failures: int = 0
    #: the loop-clock time the last attempt ended, and how long it took (None: none yet)
    ended: float | None = None
    last_duration: float | None = None
    #: attempt durations: a count per bucket of :attr:`Runner.duration_bounds` (+ one above), and their sum
    hist: list[int] = field(default_factory=list)
    hist_sum: float = 0.0


@dataclass(slots=True)
class RunnerStats:
    """What the benchmark and ``status`` want to know about the checker loop."""

    attempts: int = 0
    failures: int = 0
    #: start time minus due time, seconds (bounded reservoir)
    lateness: list[float] = field(default_factory=list)
    #: attempt durations, seconds (bounded reservoir)
    durations: list[float] = field(default_factory=list)
    max_lateness: float = 0.0
    max_queue: int = 0
    samples: int = 20_000

    def _keep(self, seq: list[float], value: float) -> None:
        if len(seq) < self.samples:
            seq.append(value)
        else:
            i = int(_random() * self.attempts)
            if i < self.samples:
                seq[i] = value


class Runner:
    """Runs every checker of ``virtual_servers`` on the current loop and feeds the health state.

    ``on_events`` gets each batch of :data:`~.state.Event`; :meth:`desired_table` is the data
    plane's desired state at any moment.  ``rand`` returns floats in [0, 1] for warmup jitter.
    ``tcp_half_open``: TCP_CHECK closes before the server sees the connection (see
    :class:`~.probes.tcp.TcpProbe`).
    """

    def __init__(self, virtual_servers: Iterable[VirtualServer], *, on_events: EventSink,
                 settings: Settings | None = None, max_in_flight: int = 1024,
                 groups: Iterable[VirtualServerGroup] = (), ssl_config: SslConfig | None = None,
                 track_files: Mapping[str, TrackFile] | None = None,
                 rand: Callable[[], float] = random.random, tcp_half_open: bool = False,
                 script_job: Callable[[Script], ScriptJob | None] | None = None,
                 duration_bounds: tuple[float, ...] = DURATION_BOUNDS) -> None:
        self.virtual_servers = tuple(virtual_servers)
        self.groups = tuple(groups)
        self.on_events = on_events
        self.settings = settings or Settings()
        self.max_in_flight = max_in_flight
        self.ssl_config = ssl_config
        self.track_files = dict(track_files or {})
        self.script_job = script_job
        self.rand = rand
        self.tcp_half_open = tcp_half_open
        self.health: dict[VsId, VirtualServerState] = {}
        self.jobs: list[Job] = []
        #: BFD_CHECKs by bfd_instance name: (virtual server state, real server state, checker index)
        self.bfd_checks: dict[str, list[tuple[VirtualServerState, RealServerState, int]]] = {}
        self.duration_bounds = duration_bounds
        self.unsupported = unsupported_checkers(self.virtual_servers)
        self.stats = RunnerStats()
        self._ready: deque[Job] = deque()
        self._in_flight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timers: Timers | None = None
        self._clock: Callable[[], float] = time.monotonic
        #: ``self._fire`` bound once: each timer entry would otherwise allocate a bound method
        self._fire_cb = self._fire
        self._stopping = False

    def start(self, previous: Runner | None = None,
              known_down: Mapping[VsId, Collection[DestKey]] | None = None) -> None:
        r"""Build the jobs, perform the start-up state (non-alpha RS in, quorum) and arm the first runs.

        ``previous``: the runner of the configuration before a reload (already :meth:`abandon`\ ed):
        virtual servers it had take over its health state (:meth:`.state.VirtualServerState.take_over`),
        the ones it had and this one has not are removed with their notifies.  Every checker starts
        again after the bootstrap delay and warmup jitter, as keepalived's do after a reload.
        ``known_down``: per virtual server, real servers found out of the data plane's pool at a restart
        (:meth:`.state.VirtualServerState.start`).
        """
        loop = self._loop = asyncio.get_running_loop()
        self._clock = clock_of(loop)
        self._timers = Timers(loop)
        now = loop.time()
        ssl_ctx = self._ssl_context(self.virtual_servers)
        events: list[Event] = [Log(m) for m in self.unsupported]
        old_health = previous.health if previous is not None else {}
        for vs in self.virtual_servers:
            st = VirtualServerState(vs, self.settings)
            self.health[st.id] = st
            old = old_health.get(st.id)
            self._build_jobs(st, vs.real_servers, now, ssl_ctx)
            events += st.take_over(old) if old is not None else st.start(now, (known_down or {}).get(st.id, ()))
        for vs_key, gone in old_health.items():
            if vs_key not in self.health:
                events += gone.removed()
        self._deliver(events)

    def _ssl_context(self, virtual_servers: Iterable[VirtualServer]) -> ssl.SSLContext | None:
        if any(isinstance(c, HttpCheck) and c.ssl for vs in virtual_servers
               for rs in vs.real_servers for c in rs.checkers):
            return ssl_context_for(self.ssl_config)
        return None

    def _build_jobs(self, st: VirtualServerState, real_servers: Iterable[RealServer], now: float,
                    ssl_ctx: ssl.SSLContext | None) -> int:
        """The jobs of ``real_servers`` (of ``st``), each armed for its first run; returns how many."""
        assert self._loop is not None and self._timers is not None
        vs = st.config
        made = 0
        for rs in real_servers:
            key = rs_key(rs)
            server = st.servers[key]
            index = 0
            for checker in rs.checkers:
                if isinstance(checker, BfdCheck):  # not polled: the BFD process's events feed it
                    self.bfd_checks.setdefault(checker.name, []).append((st, server, index))
                    index += 1
                    continue
                cstate = server.checkers[index]
                probe = build_probe(vs, rs, checker, self._loop, ssl_context=ssl_ctx,
                                    track_files=self.track_files, tcp_half_open=self.tcp_half_open,
                                    url_index=functools.partial(getattr, cstate, "url_it"),
                                    script_job=self.script_job)
                job = Job(st, key, index, probe, cstate, server, hist=[0] * (len(self.duration_bounds) + 1))
                job.on_done = functools.partial(self._done, job)
                job.due = cstate.first_run(now, self.rand())
                self._timers.add(job.due, self._fire_cb, job)
                self.jobs.append(job)
                index += 1
                made += 1
        return made

    def reconfigure(self, virtual_servers: Iterable[VirtualServer],
                    groups: Iterable[VirtualServerGroup] = ()) -> tuple[int, int, int]:
        """A reload in place (the settings, SSL configuration and track files unchanged: else a new runner
        is started).  A real server whose configuration is unchanged, in a virtual server whose own
        settings (all but its list of real servers) are unchanged, keeps its state object, its jobs --
        probes, retry state, counters -- and their place in the schedule: its next check runs when it was
        due.  The checkers of any other real server are built anew and start as after a reload
        (:meth:`.state.VirtualServerState.take_over` carries their health over); those of removed
        servers and virtual servers stop.  Returns (jobs kept, built, dropped).
        """
        assert self._loop is not None and self._timers is not None
        now = self._clock()
        new_vss = tuple(virtual_servers)
        old_health = self.health
        health: dict[VsId, VirtualServerState] = {}
        #: id() of each kept real server's state -> the virtual server state it now belongs to
        owner: dict[int, VirtualServerState] = {}
        rebuild: list[tuple[VirtualServerState, list[RealServer]]] = []
        events: list[Event] = []
        for vs in new_vss:
            vid = vs_id(vs)
            old = old_health.get(vid)
            if old is not None and old.config == vs:  # untouched: the same state, servers and jobs
                health[vid] = old
                for r in old.servers.values():
                    owner[id(r)] = old
                continue
            st = health[vid] = VirtualServerState(vs, self.settings)
            if old is None:
                events += st.start(now)
                rebuild.append((st, list(vs.real_servers)))
                continue
            kept: set[DestKey] = set()
            if _frame(old.config) == _frame(vs):
                for key, r in st.servers.items():
                    prev = old.servers.get(key)
                    if prev is not None and prev.config == r.config:
                        st.servers[key] = prev
                        owner[id(prev)] = st
                        kept.add(key)
            events += st.take_over(old, kept)
            rebuild.append((st, [rs for rs in vs.real_servers if rs_key(rs) not in kept]))
        for vid, gone in old_health.items():
            if vid not in health:
                events += gone.removed()
        jobs: list[Job] = []
        dropped: list[Job] = []
        for job in self.jobs:
            now_in = owner.get(id(job.server))
            if now_in is None:
                dropped.append(job)
            else:
                job.vs = now_in
                jobs.append(job)
        for job in dropped:
            job.enabled, job.dropped, job.on_done = False, True, None
            if job.running:
                job.running = False
                self._in_flight -= 1
                job.probe.cancel()
        if dropped and self._ready:
            self._ready = deque(j for j in self._ready if not j.dropped)
        self.virtual_servers, self.groups, self.health, self.jobs = new_vss, tuple(groups), health, jobs
        self.bfd_checks = {}
        for st in health.values():  # kept servers' BFD_CHECKs (the new jobs' are added as they are built)
            for rs in st.config.real_servers:
                bfd = [(index, c) for index, c in enumerate(rs.checkers) if isinstance(c, BfdCheck)]
                if not bfd:
                    continue
                server = st.servers.get(rs_key(rs))
                if server is None or id(server) not in owner:
                    continue
                for index, checker in bfd:
                    self.bfd_checks.setdefault(checker.name, []).append((st, server, index))
        ssl_ctx = self._ssl_context(vs for vs, rss in ((st.config, rss) for st, rss in rebuild) if rss)
        n_kept = len(jobs)
        built = sum(self._build_jobs(st, rss, now, ssl_ctx) for st, rss in rebuild)
        while self._ready and self._in_flight < self.max_in_flight:
            self._launch(self._ready.popleft())
        self._deliver(events)
        return n_kept, built, len(dropped)

    def bfd_event(self, name: str, up: bool) -> None:
        """A BFD session went up or down: the verdict of every BFD_CHECK following it (keepalived's
        ``bfd_check_handle_event``); events delivered as every checker's."""
        if self._stopping:
            return
        events: list[Event] = []
        for st, server, index in self.bfd_checks.get(name, ()):
            events += st.bfd_event(server, index, up)
        self._deliver(events)

    def clock(self) -> float:
        """The clock of the jobs' times (the loop's once started)."""
        return self._clock()

    def desired_table(self) -> Table:
        return desired_table(self.virtual_servers, self.health, self.groups)

    def abandon(self) -> None:
        """Stop without a word (a reload replaces this runner): timers and attempts in flight are dropped,
        no shutdown notifies; the health state stays readable for the next runner's :meth:`start`."""
        self._stopping = True
        if self._timers is not None:
            self._timers.clear()
        for job in self.jobs:
            if job.running:
                job.running = False
                job.probe.cancel()
        self._ready.clear()
        self._in_flight = 0

    async def stop(self) -> None:
        """Cancel timers and attempts in flight, then issue keepalived's shutdown notifies (omega)."""
        self.abandon()
        await asyncio.sleep(0)
        events: list[Event] = []
        for st in self.health.values():
            events += st.stop()
        self._deliver(events)

    # -- the scheduling mechanism

    def set_checkers_enabled(self, vs: VsId, enabled: bool) -> list[Job]:
        """Suspend or resume every checker of one virtual server (``ha_suspend``); returns the jobs that changed.

        As in keepalived, a suspended checker keeps its state and is rescheduled every delay_loop
        without an attempt; an attempt already in flight completes normally.
        """
        changed = [job for job in self.jobs if job.vs.id == vs and job.enabled != enabled]
        for job in changed:
            job.enabled = enabled
        return changed

    def _fire(self, job: Job) -> None:
        if self._stopping:
            return
        if not job.enabled:
            if job.dropped:
                return
            assert self._loop is not None and self._timers is not None
            delay = job.state.timing.delay_loop
            now = self._clock()
            job.due = now + delay
            self._timers.add_after(delay, self._fire_cb, job, now=now)
            return
        if self._in_flight < self.max_in_flight:
            self._launch(job)
        else:
            self._ready.append(job)
            if len(self._ready) > self.stats.max_queue:
                self.stats.max_queue = len(self._ready)

    def _launch(self, job: Job) -> None:
        assert self._loop is not None
        now = self._clock()
        self._in_flight += 1
        job.running = True
        job.started = now
        late = now - job.due
        st = self.stats
        n = st.attempts = st.attempts + 1
        lateness = st.lateness
        if len(lateness) < st.samples:  # (RunnerStats._keep, inline: this runs for every attempt)
            lateness.append(late)
        else:
            i = int(_random() * n)
            if i < st.samples:
                lateness[i] = late
        if late > st.max_lateness:
            st.max_lateness = late
        assert job.on_done is not None
        try:
            job.probe.start(job.on_done)
        except OSError as e:
            # out of descriptors or buffers is the host's state, not the server's: no verdict, tried again
            # after delay_loop (keepalived: "fail to create socket. Rescheduling.")
            skip = e.errno in _HOST_LIMITS
            self._loop.call_soon(self._done, job, Result(False, reason=str(e) or type(e).__name__, skip=skip))
        except Exception as e:  # a probe that cannot even start is a failed attempt, not a crash
            self._loop.call_soon(self._done, job, Result(False, reason=str(e) or type(e).__name__))

    def _done(self, job: Job, result: Result) -> None:
        loop = self._loop
        assert loop is not None
        if not job.running:
            return
        job.running = False
        self._in_flight -= 1
        if self._stopping:
            return
        now = self._clock()
        st = self.stats
        took = now - job.started
        durations = st.durations
        if len(durations) < st.samples:
            durations.append(took)
        else:
            i = int(_random() * st.attempts)  # (RunnerStats._keep, inline)
            if i < st.samples:
                durations[i] = took
        job.attempts += 1
        job.ended = now
        job.last_duration = took
        job.hist[bisect.bisect_left(self.duration_bounds, took)] += 1
        job.hist_sum += took
        if not result.ok and not result.skip:
            st.failures += 1
            job.failures += 1
        nxt, events = job.vs.record_for(job.server, job.index, now, result, job.started)
        job.due = nxt
        timers = self._timers
        assert timers is not None
        if job.state.from_start:
            timers.add(nxt, self._fire_cb, job)  # measured from the attempt's start: any delay
        else:
            timers.add_after(nxt - now, self._fire_cb, job, now)  # delay_loop & co: a few lanes
        if self._ready:
            while self._ready and self._in_flight < self.max_in_flight:
                self._launch(self._ready.popleft())
        if events:
            self.on_events(events)

    def _deliver(self, events: list[Event]) -> None:
        if events:
            self.on_events(events)
