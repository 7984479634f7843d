"""Sans-I/O tracking: what trackers do to an instance's priority, and when they force FAULT.

keepalived's ``vrrp/vrrp_track.c`` rules, as pure functions and
small state objects that take the current time as an argument:

* :func:`weighted` - one track_interface / track_script / track_process / track_bfd entry:
  weight 0 -> FAULT on failure (with ``reverse``: on success); weight > 0 adds while OK
  (reverse: subtracts while OK); weight < 0 subtracts while failed (reverse: adds while failed).
* :func:`file_weighted` - one track_file entry: the file's value times the weight (negated with
  ``reverse``); weight 0 -> any non-zero value is FAULT; a result below -253 is FAULT.
* :func:`evaluate` - base priority plus every contribution, and the set of FAULT reasons.
  The FSM clamps to 1..254 and leaves an owner (255) alone; :attr:`Evaluation.effective` shows
  the same number for logs and tests.
* :class:`ScriptResult` - vrrp_script rise/fall hysteresis, including keepalived's start-up
  quirks (one success is enough at start; one failure at start is a failure even with fall > 1).
* :class:`ProcessQuorum` - vrrp_track_process quorum / quorum_max with fork and terminate
  delays, fed with process counts and the time.
* :func:`process_matches` - does one process (comm + argv) match a vrrp_track_process.
* :func:`instance_trackers` - the tracker references an instance obeys: its own plus its sync
  group's, with weights ignored for sync-group members unless ``sync_group_tracking_weight``.

Nothing here runs a script, reads /proc or looks at a clock: the runner does, and feeds results in.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pykeepalived.config.model_vrrp import SyncGroup as SyncGroupModel
    from pykeepalived.config.model_vrrp import Tracking, TrackProcess, TrackRef, VrrpInstance

PRIO_OWNER = 255
#: a track_file result below this is FAULT (keepalived: -254 means "fault")
FILE_FAULT_BELOW = -253
FILE_MAX = 253


class Status(enum.Enum):
    """A tracker's current verdict. ``INIT``: a script that has not run yet counts neither way."""

    INIT = "init"
    OK = "ok"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class TrackerRef:
    """One tracker as an instance uses it: kind (interface|script|file|process|bfd), name, weight."""

    kind: str
    name: str
    weight: int = 0
    reverse: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one tracker does right now: a priority delta, or a FAULT reason (``fault`` set)."""

    delta: int = 0
    fault: str | None = None


def weighted(ref: TrackerRef, status: Status | bool | None) -> Contribution:
    """track_interface / track_script / track_process / track_bfd (§2.4). ``None``/INIT: no effect."""
    if status is None or status is Status.INIT:
        return Contribution()
    ok = status is True or status is Status.OK
    if ref.weight == 0:
        failed = ok if ref.reverse else not ok
        return Contribution(fault=_fault_reason(ref)) if failed else Contribution()
    if ref.weight > 0:
        if not ok:
            return Contribution()
        return Contribution(-ref.weight if ref.reverse else ref.weight)
    if ok:
        return Contribution()
    return Contribution(-ref.weight if ref.reverse else ref.weight)


def file_weighted(ref: TrackerRef, value: int | None) -> Contribution:
    """track_file: value × weight (negated with reverse); weight 0 -> non-zero is FAULT; < -253 FAULT."""
    if value is None:
        return Contribution()
    if ref.weight == 0:
        return Contribution(fault=_fault_reason(ref)) if value else Contribution()
    delta = value * (-ref.weight if ref.reverse else ref.weight)
    if delta < FILE_FAULT_BELOW:
        return Contribution(fault=_fault_reason(ref))
    return Contribution(min(delta, FILE_MAX))


def _fault_reason(ref: TrackerRef) -> str:
    return f"track_{ref.kind} {ref.name}"


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Base priority plus the trackers: ``total`` (unclamped, what the FSM gets) and FAULT reasons."""

    base: int
    total: int
    faults: frozenset[str] = frozenset()

    @property
    def effective(self) -> int:
        """The priority adverts carry: clamped to 1..254; an owner's never changes."""
        if self.base == PRIO_OWNER:
            return PRIO_OWNER
        return min(max(self.total, 1), PRIO_OWNER - 1)


TrackerState = Status | bool | int | None
"""Interfaces and processes: bool (up / quorum met); scripts: :class:`Status`; files: int value."""


def evaluate(base: int, refs: Iterable[TrackerRef], states: Mapping[tuple[str, str], TrackerState]
             ) -> Evaluation:
    """Priority and FAULT reasons of one instance from its tracker references and current states.

    A tracker with no state yet (not in ``states``) has no effect.  An owner's total stays at
    255 whatever the weights (keepalived ignores weights on owners); FAULT still applies.
    """
    total = base
    faults: set[str] = set()
    for ref in refs:
        state = states.get(ref.key)
        if ref.kind == "file":
            c = file_weighted(ref, state if isinstance(state, int) and not isinstance(state, bool) else None)
        else:
            c = weighted(ref, state if isinstance(state, (Status, bool)) else None)
        if c.fault is not None:
            faults.add(c.fault)
        total += c.delta
    if base == PRIO_OWNER:
        total = base
    return Evaluation(base, total, frozenset(faults))


# --------------------------------------------------------------------------------------------- scripts


@dataclass(slots=True)
class ScriptResult:
    """vrrp_script rise/fall (``vrrp_script_child_thread``): the ``result`` counter 0..rise+fall-1.

    Starts at rise-1 (one success is enough); ``init_fail`` starts failed at 0 (``rise``
    successes needed).  :meth:`record` returns the new status when it changed, else None.
    """

    rise: int = 1
    fall: int = 1
    init_fail: bool = False
    result: int = field(init=False)
    status: Status = field(init=False)
    _first: bool = field(init=False)

    def __post_init__(self) -> None:
        self.rise = max(1, self.rise)
        self.fall = max(1, self.fall)
        self.result = 0 if self.init_fail else self.rise - 1
        self.status = Status.FAILED if self.init_fail else Status.INIT
        self._first = not self.init_fail

    def record(self, success: bool) -> Status | None:
        """One finished run (exit 0 = success; anything else, a signal or a timeout = failure)."""
        first, self._first = self._first, False
        changed: Status | None = None
        top = self.rise + self.fall - 1
        if success:
            if self.result < self.rise - 1:
                self.result += 1
            elif self.result != top:
                if self.result < self.rise:
                    changed = Status.OK
                self.result = top
        else:
            if self.result > self.rise:
                self.result -= 1
            else:
                if self.result == self.rise or first:
                    changed = Status.FAILED
                self.result = 0
        if changed is None or changed is self.status:
            return None
        self.status = changed
        return changed


# --------------------------------------------------------------------------------------------- processes


def process_matches(tp: TrackProcess, comm: str, argv: Sequence[str]) -> bool:
    """Does a process (``/proc/PID/comm``, ``/proc/PID/cmdline`` split on NUL) match ``tp``?

    keepalived 2.2.7's ``check_process`` / ``check_params``: arguments or ``param_match`` make it a full
    command, whose name is compared with argv[0]; otherwise the name is compared with comm, whole (the
    kernel keeps 15 characters of comm, so a longer name never matches without ``full_command``).
    Arguments are compared word by word: exactly (the default),
    ``partial`` (the configured ones are the first ones, whole) or ``initial`` (the same, the last one
    may be longer than configured).  ``param_match`` without arguments: ``exact`` wants none.
    """
    if tp.full_command or tp.args is not None or tp.param_match is not None:
        if not argv or argv[0] != tp.process:
            return False
    elif comm != tp.process:
        return False
    have = list(argv[1:])
    if tp.args is None:
        return tp.param_match != "exact" or not have
    want = list(tp.args)
    if tp.param_match == "partial":
        return have[:len(want)] == want
    if tp.param_match == "initial":
        n = len(want)
        return len(have) >= n and have[:n - 1] == want[:-1] and have[n - 1].startswith(want[-1])
    return have == want


@dataclass(slots=True)
class ProcessQuorum:
    """Quorum of one vrrp_track_process with its delays (``delay`` sets both, as keepalived).

    :meth:`observe` takes a process count and the time; the verdict changes only after the
    count has stayed on the other side for ``fork_delay`` (becoming OK) or ``terminate_delay``
    (becoming failed).  The first observation decides at once (keepalived's initial scan).
    """

    quorum: int = 1
    quorum_max: int | None = None
    fork_delay: float = 0.0
    terminate_delay: float = 0.0
    ok: bool | None = None
    _pending: tuple[bool, float] | None = None
    count: int = 0  # the last count fed (keepalived's num_cur_proc; SNMP's vrrpProcessCurProc)

    def within(self, count: int) -> bool:
        return count >= self.quorum and (self.quorum_max is None or count <= self.quorum_max)

    def observe(self, now: float, count: int) -> bool | None:
        """Feed a count; returns the new verdict when it changed, else None."""
        self.count = count
        want = self.within(count)
        if self.ok is None:
            self.ok = want
            return want
        if want == self.ok:
            self._pending = None
            return None
        delay = self.fork_delay if want else self.terminate_delay
        if self._pending is None or self._pending[0] != want:
            self._pending = (want, now + delay)
        if now >= self._pending[1]:
            self.ok, self._pending = want, None
            return want
        return None

    def next_deadline(self) -> float | None:
        """When a pending change becomes due (so the caller can look again then)."""
        return None if self._pending is None else self._pending[1]


# --------------------------------------------------------------------------------------------- references


def instance_trackers(inst: VrrpInstance, group: SyncGroupModel | None = None,
                      track_interfaces: bool = True, group_has_owner: bool = False) -> list[TrackerRef]:
    """Every tracker ``inst`` obeys: its own blocks plus its sync group's, merged as keepalived 2.2.7 does.

    * The instance's own weighted trackers are ignored in a sync group without
      ``sync_group_tracking_weight`` (the config layer already dropped them); the *group's* weights
      apply to every member, unless a member is the address owner (``group_has_owner``: then 0).
    * keepalived keeps one tracking entry per (tracked object, instance): an object the instance and
      its group both track gets the group's weight, unless the instance's entry is unweighted.
    * An interface that carries one of the instance's VIPs, virtual routes or rules is tracked
      unweighted by keepalived, and that entry is the same one: a weighted track_interface on it
      loses its weight (``add_vrrp_to_interface``, keepalived's reference walk shows it in
      vrrpInstanceEffectivePriority).  The group's track_interface of such an interface, or of the
      member's own interface, is unweighted for the same reason.
    """
    refs: dict[tuple[str, str], TrackerRef] = {}
    pinned = _interfaces_in_use(inst)
    for kind, entries in _blocks(inst.track, track_interfaces):
        for t in entries:
            ref = TrackerRef(kind, t.name, t.weight, t.reverse)
            if kind == "interface" and t.name in pinned and t.weight:
                ref = TrackerRef(kind, t.name, 0, False)
            refs.setdefault(ref.key, ref)
    if group is not None:
        for kind, entries in _blocks(group.track, track_interfaces):
            for t in entries:
                weight = 0 if group_has_owner else t.weight
                if kind == "interface" and (t.name in pinned or (t.name == inst.interface
                                                                 and not inst.dont_track_primary)):
                    weight = 0
                ref = TrackerRef(kind, t.name, weight, t.reverse if weight else False)
                old = refs.get(ref.key)
                if old is None or old.weight:
                    refs[ref.key] = ref
    return list(refs.values())


def _blocks(track: Tracking, track_interfaces: bool) -> list[tuple[str, Sequence[TrackRef]]]:
    return [("interface", track.interfaces if track_interfaces else ()), ("script", track.scripts),
            ("file", track.files), ("process", track.processes), ("bfd", track.bfds)]


def _interfaces_in_use(inst: VrrpInstance) -> set[str]:
    """The interfaces keepalived tracks unweighted for ``inst``: those of its tracked VIPs, routes, rules."""
    out: set[str] = set()
    for vip in (*inst.virtual_ipaddress, *inst.virtual_ipaddress_excluded):
        dev = vip.dev or inst.interface
        if vip.no_track or dev is None or (inst.dont_track_primary and dev == inst.interface):
            continue
        out.add(dev)
    for route in inst.virtual_routes:
        if not route.no_track and route.dev:
            out.add(route.dev)
    for rule in inst.virtual_rules:
        if not rule.no_track:
            out.update(d for d in (rule.iif, rule.oif) if d)
    return out
