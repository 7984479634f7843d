"""``/metrics`` under the names existing tools use, next to pykeepalived's own (status.server).

Everything is rendered from one :class:`~pykeepalived.status.snapshot.Snapshot` at scrape time, like the
rest of ``/metrics``.  Three groups of families, documented in docs/metrics.md:

**keepalived's VRRP series, as mehdy/keepalived-exporter names them.**  Of the keepalived exporters, the one
chosen is mehdy/keepalived-exporter (formerly cafebazaar/keepalived-exporter; Go module
``github.com/mehdy/keepalived-exporter``): it is the maintained, widely deployed one, its series are the ones
the issue's dashboards name (``keepalived_vrrp_state{iname,intf,vrid,ip_address}``,
``keepalived_script_status{name}``, ``*_total`` counters) and it ships a Grafana dashboard built on them.
gen2brain/keepalived_exporter, the other candidate, is older, unmaintained, and names its counters
``keepalived_vrrp_advert_rcvd{name,intf,vrid,state}`` (no ``_total``, the state as a label).  Names, HELP
texts, types and label sets below are those of mehdy/keepalived-exporter's
``internal/collector/collector.go`` (``fillMetrics`` and ``Collect``, commit 5aedbfb of 2026-07-01):

- ``keepalived_vrrp_state`` / ``keepalived_vrrp_excluded_state``: one series per (excluded) VIP with the VIP's
  device as ``intf`` and keepalived's spelling of the address as ``ip_address`` (``10.0.0.5/24``, the prefix
  left out when it is /32 or /128: ``format_ipaddress``); an instance without VIPs gets one series with its
  own interface and ``ip_address=""``.  The value is keepalived's state number (INIT 0, BACKUP 1, MASTER 2,
  FAULT 3; STOP 97 as keepalived's JSON dump says it).
- the fourteen per-instance counters of keepalived.stats and ``keepalived_gratuitous_arp_delay_total``
  (labels ``iname``, ``intf``, ``vrid``).
- ``keepalived_script_status`` (BAD 0, GOOD 1) and ``keepalived_script_state`` (idle 0, running 1, requested
  termination 2, forcing termination 3), ``name`` = the vrrp_script.
- ``keepalived_up`` 1 (the daemon answering is the daemon up).
  Not produced: ``keepalived_exporter_check_script_status`` (the exporter runs a script of its own per VIP)
  and ``keepalived_exporter_build_info`` (the exporter's build).

**node_exporter's IPVS series** (prometheus/node_exporter ``collector/ipvs_linux.go``; label values as
prometheus/procfs ``ipvs.go`` parses /proc/net/ip_vs): per destination in the data plane's table
``node_ipvs_backend_connections_active``, ``..._inactive`` and ``node_ipvs_backend_weight`` with
``local_address``, ``local_port``, ``remote_address``, ``remote_port``, ``proto`` (``TCP``/``UDP``/``FWM``) and
``local_mark`` (``%08X`` of the fwmark for FWM services, else ""; ``local_address`` "" and ``local_port`` 0
for them); series with equal labels are summed, as node_exporter does (an IPv4 and an IPv6 service on one
fwmark).  The totals ``node_ipvs_{connections,incoming_packets,outgoing_packets,incoming_bytes,
outgoing_bytes}_total`` are the sum over the table's services (node_exporter reads the kernel-wide
/proc/net/ip_vs_stats, which also counts services pykeepalived does not own).

**pykeepalived's additions**: the time of each instance's last transition, per-checker verdict, attempts and
a duration histogram, and the serving process's own metrics (prometheus_client's process, platform and GC
collectors: ``process_*``, ``python_*``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from pykeepalived.lvs.model import ServiceKey
from pykeepalived.status.dumps import STATE_NAMES
from pykeepalived.status.snapshot import Snapshot, VrrpInstanceStatus

__all__ = ["KEEPALIVED_STATE", "collect", "exposition", "keepalived_address", "process_metrics", "service_label"]

#: keepalived's state numbers (vrrp.h VRRP_STATE_*), the value of keepalived_vrrp_state
KEEPALIVED_STATE: dict[str, int] = {name: number for number, name in STATE_NAMES.items()}
#: keepalived-exporter's VRRPScriptStatuses / VRRPScriptStates: a status or state is its index
SCRIPT_STATUSES = ("BAD", "GOOD")
SCRIPT_STATES = ("idle", "running", "requested termination", "forcing termination")

#: (metric name, HELP, VrrpStats field): keepalived-exporter's counters, in its order
KEEPALIVED_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("keepalived_advertisements_received_total", "Advertisements received", "advert_rcvd"),
    ("keepalived_advertisements_sent_total", "Advertisements sent", "advert_sent"),
    ("keepalived_become_master_total", "Became master", "become_master"),
    ("keepalived_release_master_total", "Released master", "release_master"),
    ("keepalived_packet_length_errors_total", "Packet length errors", "packet_len_err"),
    ("keepalived_advertisements_interval_errors_total", "Advertisement interval errors", "advert_interval_err"),
    ("keepalived_ip_ttl_errors_total", "TTL errors", "ip_ttl_err"),
    ("keepalived_invalid_type_received_total", "Invalid type errors", "invalid_type_rcvd"),
    ("keepalived_address_list_errors_total", "Address list errors", "addr_list_err"),
    ("keepalived_authentication_invalid_total", "Authentication invalid", "invalid_authtype"),
    ("keepalived_authentication_mismatch_total", "Authentication mismatch", "authtype_mismatch"),
    ("keepalived_authentication_failure_total", "Authentication failure", "auth_failure"),
    ("keepalived_priority_zero_received_total", "Priority zero received", "pri_zero_rcvd"),
    ("keepalived_priority_zero_sent_total", "Priority zero sent", "pri_zero_sent"),
)  # fmt: skip

_COMMON = ["iname", "intf", "vrid"]
_STATE_LABELS = ["iname", "intf", "vrid", "ip_address"]
#: node_exporter's fullIpvsBackendLabels, in its order (its default --collector.ipvs.backend-labels)
IPVS_BACKEND_LABELS = ["local_address", "local_port", "remote_address", "remote_port", "proto", "local_mark"]


def service_label(key: ServiceKey) -> str:
    """The ``service`` label of pykeepalived's own families: ``TCP 10.0.0.5:80``, ``FWM 1``; an IPv6 fwmark
    service is ``FWM 1 IPv6`` (as ipvsadm prints it), or it would be the same series as the IPv4 one."""
    if key.protocol == "fwm" and key.family == 6:
        return f"{key} IPv6"
    return str(key)


def collect(snap: Snapshot) -> Iterator[Metric]:
    """Every family this module adds, from one snapshot (process metrics apart: :func:`process_metrics`)."""
    yield from keepalived_metrics(snap)
    yield from ipvs_metrics(snap)
    yield from transition_metrics(snap)
    yield from check_metrics(snap)
    yield from conntrack_metrics(snap)


# ---------------------------------------------------------------------------------- keepalived-exporter


def keepalived_address(vip: str) -> tuple[str, str | None]:
    """(address as keepalived prints it, device or None) of a VIP as the snapshot holds it: either the
    address alone (``10.0.0.5/24``, ``10.0.0.9``, ``fd00::5/64``) or keepalived's ``format_ipaddress`` text
    (``10.0.0.5/24 dev eth0 scope global``).  keepalived omits a /32 (/128) prefix: so does this."""
    words = vip.split()
    if not words:
        return "", None
    dev = words[words.index("dev") + 1] if "dev" in words[:-1] else None
    try:
        iface = ipaddress.ip_interface(words[0])
    except ValueError:
        return words[0], dev
    if iface.network.prefixlen == iface.max_prefixlen:
        return str(iface.ip), dev
    return f"{iface.ip}/{iface.network.prefixlen}", dev


def _state_series(fam: GaugeMetricFamily, v: VrrpInstanceStatus, vips: tuple[str, ...], value: float,
                  seen: set[tuple[str, ...]]) -> None:
    for vip in vips:
        addr, dev = keepalived_address(vip)
        labels = (v.name, dev or v.interface, str(v.vrid), addr)
        if labels not in seen:  # the same address twice would be two equal series: one is enough
            seen.add(labels)
            fam.add_metric(list(labels), value)


def keepalived_metrics(snap: Snapshot) -> Iterator[Metric]:
    up = GaugeMetricFamily("keepalived_up", "Status")
    up.add_metric([], 1)
    state = GaugeMetricFamily("keepalived_vrrp_state", "State of vrrp", labels=_STATE_LABELS)
    excluded = GaugeMetricFamily("keepalived_vrrp_excluded_state", "State of vrrp with excluded VIP",
                                 labels=_STATE_LABELS)
    garp = CounterMetricFamily("keepalived_gratuitous_arp_delay_total", "Gratuitous ARP delay", labels=_COMMON)
    counters = [(CounterMetricFamily(name, help_, labels=_COMMON), field) for name, help_, field in
                KEEPALIVED_COUNTERS]
    seen: set[tuple[str, ...]] = set()
    seen_excluded: set[tuple[str, ...]] = set()
    for v in snap.vrrp:
        common = [v.name, v.interface, str(v.vrid)]
        number = KEEPALIVED_STATE.get(v.state, -1)
        _state_series(state, v, v.vips, number, seen)
        if not v.vips:
            labels = (*common, "")
            if labels not in seen:
                seen.add(labels)
                state.add_metric(list(labels), number)
        _state_series(excluded, v, v.excluded_vips, number, seen_excluded)
        if v.garp_delay is not None:
            garp.add_metric(common, v.garp_delay)
        for fam, field in counters:
            fam.add_metric(common, getattr(v.stats, field))
    status = GaugeMetricFamily("keepalived_script_status", "Tracker Script Status", labels=["name"])
    script_state = GaugeMetricFamily("keepalived_script_state", "Tracker Script State", labels=["name"])
    for s in snap.vrrp_scripts:
        if s.status in SCRIPT_STATUSES:
            status.add_metric([s.name], SCRIPT_STATUSES.index(s.status))
        if s.state in SCRIPT_STATES:
            script_state.add_metric([s.name], SCRIPT_STATES.index(s.state))
    yield from (up, state, excluded, garp)
    yield from (fam for fam, _ in counters)
    yield from (status, script_state)


# ---------------------------------------------------------------------------------- node_exporter IPVS


def ipvs_metrics(snap: Snapshot) -> Iterator[Metric]:
    totals = {name: CounterMetricFamily(name, help_) for name, help_ in (
        ("node_ipvs_connections_total", "The total number of connections made."),
        ("node_ipvs_incoming_packets_total", "The total number of incoming packets."),
        ("node_ipvs_outgoing_packets_total", "The total number of outgoing packets."),
        ("node_ipvs_incoming_bytes_total", "The total amount of incoming data."),
        ("node_ipvs_outgoing_bytes_total", "The total amount of outgoing data."),
    )}  # fmt: skip
    conns = inpkts = outpkts = inbytes = outbytes = 0
    # label values -> [active, inactive, weight], summed like node_exporter's `sums`
    backends: dict[tuple[str, ...], list[int]] = {}
    for vs in snap.virtual_services:
        tot = vs.total_stats()
        conns += tot.conns
        inpkts += tot.inpkts
        outpkts += tot.outpkts
        inbytes += tot.inbytes
        outbytes += tot.outbytes
        key = vs.service.key
        if key.protocol == "fwm":
            local = ("", "0")
            proto, mark = "FWM", f"{key.fwmark:08X}"
        else:
            local = ("" if key.addr is None else str(key.addr), str(key.port))
            proto, mark = key.protocol.upper(), ""
        checked = {d.key: d for d in vs.destinations}
        for dest in vs.service.destinations:  # what the data plane holds: /proc/net/ip_vs
            status = checked.get(dest.key)
            acc = backends.setdefault((*local, str(dest.key.addr), str(dest.key.port), proto, mark), [0, 0, 0])
            acc[0] += status.active_conns if status is not None else 0
            acc[1] += status.inactive_conns if status is not None else 0
            acc[2] += dest.weight
    for fam, value in zip(totals.values(), (conns, inpkts, outpkts, inbytes, outbytes), strict=True):
        fam.add_metric([], value)
    active = GaugeMetricFamily("node_ipvs_backend_connections_active",
                               "The current active connections by local and remote address.",
                               labels=IPVS_BACKEND_LABELS)
    inactive = GaugeMetricFamily("node_ipvs_backend_connections_inactive",
                                 "The current inactive connections by local and remote address.",
                                 labels=IPVS_BACKEND_LABELS)
    weight = GaugeMetricFamily("node_ipvs_backend_weight", "The current backend weight by local and remote address.",
                               labels=IPVS_BACKEND_LABELS)
    for label_values, (a, i, w) in backends.items():
        values = list(label_values)
        active.add_metric(values, a)
        inactive.add_metric(values, i)
        weight.add_metric(values, w)
    yield from (active, inactive, weight, *totals.values())


# ---------------------------------------------------------------------------------- pykeepalived's own


def transition_metrics(snap: Snapshot) -> Iterator[Metric]:
    last = GaugeMetricFamily("pykeepalived_vrrp_last_transition_timestamp_seconds",
                             "When the VRRP instance entered its current state (unix time; absent while unknown).",
                             labels=["iname", "intf", "vrid", "state"])
    for v in snap.vrrp:
        if v.last_transition is not None:
            last.add_metric([v.name, v.interface, str(v.vrid), v.state], v.last_transition)
    yield last


def check_metrics(snap: Snapshot) -> Iterator[Metric]:
    labels = ["service", "destination", "checker", "target"]
    up = GaugeMetricFamily("pykeepalived_check_up",
                           "1 when the checker says the real server is up, 0 when down (absent before its "
                           "first verdict).", labels=labels)
    last_run = GaugeMetricFamily("pykeepalived_check_last_run_timestamp_seconds",
                                 "When the checker's last attempt ended (unix time).", labels=labels)
    last_duration = GaugeMetricFamily("pykeepalived_check_last_duration_seconds",
                                      "How long the checker's last attempt took.", labels=labels)
    attempts = CounterMetricFamily("pykeepalived_check_attempts", "Checker attempts.", labels=labels)
    failures = CounterMetricFamily("pykeepalived_check_failures", "Checker attempts that failed.", labels=labels)
    durations = HistogramMetricFamily("pykeepalived_check_duration_seconds", "How long checker attempts took.",
                                      labels=labels)
    for vs in snap.virtual_services:
        service = service_label(vs.service.key)
        for d in vs.destinations:
            seen: dict[tuple[str, str], int] = {}
            for c in d.checks:
                n = seen.get((c.kind, c.target), 0)
                seen[(c.kind, c.target)] = n + 1
                values = [service, str(d.key), c.kind, c.target if n == 0 else f"{c.target}#{n + 1}"]
                if c.up is not None:
                    up.add_metric(values, 1.0 if c.up else 0.0)
                if c.last_run is not None:
                    last_run.add_metric(values, c.last_run)
                if c.last_duration is not None:
                    last_duration.add_metric(values, c.last_duration)
                attempts.add_metric(values, c.attempts)
                failures.add_metric(values, c.failures)
                h = c.durations
                durations.add_metric(values, [(floatToGoString(b), n) for b, n in h.cumulative()], h.sum)
    yield from (up, last_run, last_duration, attempts, failures, durations)


def conntrack_metrics(snap: Snapshot) -> Iterator[Metric]:
    """The checker process's conntrack table (absent where conntrack is not loaded): a full table drops every
    new connection (lvs.conntrack_watch)."""
    if snap.conntrack is None:
        return
    entries = GaugeMetricFamily("pykeepalived_conntrack_entries",
                                "Entries in the connection-tracking table of the checker process's namespace.")
    entries.add_metric([], snap.conntrack.entries)
    limit = GaugeMetricFamily("pykeepalived_conntrack_limit",
                              "The most entries the connection-tracking table may hold (nf_conntrack_max).")
    limit.add_metric([], snap.conntrack.limit)
    yield from (entries, limit)


# ---------------------------------------------------------------------------------- exposition


def exposition(families: Iterable[Metric]) -> bytes:
    """The Prometheus text format (0.0.4) of ``families``: what prometheus_client's ``generate_latest`` writes
    (labels sorted, counters' ``_total``, values as Go prints them), about twice as fast on a large table
    (bench/metrics.py): a label set is formatted once per scrape however many families carry it, where
    ``generate_latest`` escapes and sorts every sample's labels and checks every name.  Anything but plain
    gauges, counters and histograms (timestamps, ``_created``, info, summaries) goes through the library."""
    out: list[str] = []
    w = out.append
    label_text: dict[tuple[tuple[str, str], ...], str] = {}
    for m in families:
        mtype = m.type
        special = (m.name + "_created", m.name + "_gsum", m.name + "_gcount")
        if mtype not in _PLAIN_TYPES or any(s.timestamp is not None or s.name in special for s in m.samples):
            w(generate_latest(_One(m)).decode())
            continue
        mname = m.name + "_total" if mtype == "counter" else m.name
        w(f"# HELP {mname} {_escape_help(m.documentation)}\n# TYPE {mname} {mtype}\n")
        for s in m.samples:
            if s.labels:
                key = tuple(s.labels.items())
                text = label_text.get(key)
                if text is None:
                    text = label_text[key] = "{" + ",".join(
                        f'{k}="{_escape_value(v)}"' for k, v in sorted(key)) + "}"
                w(f"{s.name}{text} {floatToGoString(s.value)}\n")
            else:
                w(f"{s.name} {floatToGoString(s.value)}\n")
    return "".join(out).encode()


_PLAIN_TYPES = frozenset(("gauge", "counter", "histogram"))


def _escape_help(doc: str) -> str:
    return doc.replace("\\", r"\\").replace("\n", r"\n")


def _escape_value(v: str) -> str:
    if "\\" in v or "\n" in v or '"' in v:
        return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return v


class _One(Collector):
    def __init__(self, metric: Metric) -> None:
        self.metric = metric

    def collect(self) -> Iterator[Metric]:
        yield self.metric


def process_metrics() -> Iterator[Metric]:
    """The serving process's own metrics: ``process_*`` (CPU, memory, descriptors, start time; Linux /proc),
    ``python_info`` and ``python_gc_*``, as prometheus_client's default registry would serve them."""
    yield from _PROCESS.collect()


#: built once (they read /proc and the interpreter at each collect, never anything stale); registered in a
#: registry of their own, as GCCollector insists on one, so the default registry stays untouched
_PROCESS = CollectorRegistry(auto_describe=False)
ProcessCollector(registry=_PROCESS)
PlatformCollector(registry=_PROCESS)
GCCollector(registry=_PROCESS)
