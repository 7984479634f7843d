"""``/metrics`` under the names existing dashboards use (status.metrics): keepalived-exporter's VRRP series,
node_exporter's IPVS series, checker results and durations, transitions, process metrics.

The exposition of a rich snapshot (IPv4 and IPv6 VRRP instances, IPv4/IPv6/UDP/fwmark services, checkers)
is checked by name, HELP, TYPE and labels against the exporters' sources (see status.metrics), validated with
``promtool check metrics``, and scraped by a real Prometheus server on 127.0.0.1 whose PromQL answers are
compared with the snapshot.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pykeepalived.lvs.conntrack_watch import ConntrackUse
from pykeepalived.lvs.model import ConnCounts, Destination, DestKey, Forward, Service, ServiceKey
from pykeepalived.status.metrics import keepalived_address
from pykeepalived.status.server import metrics_text
from pykeepalived.status.snapshot import (
    CheckStatus,
    Counters,
    DaemonInfo,
    DestinationStatus,
    DurationHistogram,
    Health,
    QuorumStatus,
    Snapshot,
    VirtualServiceStatus,
    VrrpInstanceStatus,
    VrrpScriptStatus,
    VrrpStats,
)

from ...conftest import require_binary

T0 = 1_700_000_000.0


def _durations(*seconds: float) -> DurationHistogram:
    h = DurationHistogram()
    for s in seconds:
        h = h.observe(s)
    return h


def rich_snapshot() -> Snapshot:
    """Both VRRP families, IPv4 + IPv6 + UDP + fwmark (v4 and v6 on one mark) services, checkers, scripts."""
    vrrp = (
        VrrpInstanceStatus(
            name="VI_1", interface="eth0", vrid=51, state="MASTER", base_priority=150, effective_priority=150,
            master_address="10.0.0.3", master_priority=150, vips=("10.0.0.5/24", "10.0.0.9/32"),
            excluded_vips=("10.0.9.1/32 dev eth0", "10.0.9.2/24 dev eth3"), garp_delay=5,
            last_transition=T0 + 100.5,
            stats=VrrpStats(advert_rcvd=2, advert_sent=314, become_master=1, pri_zero_sent=1, auth_failure=4),
        ),
        VrrpInstanceStatus(
            name="VI_6", interface="eth1", vrid=61, state="BACKUP", base_priority=100, effective_priority=90,
            version=3, master_address="fe80::3", master_priority=150,
            vips=("fd00::5/64", "2001:db8::1/128 dev eth2 scope global"), last_transition=T0 + 200.25,
            stats=VrrpStats(advert_rcvd=300, release_master=2, ip_ttl_err=7),
        ),
        VrrpInstanceStatus(name="VI_NOVIP", interface="eth4", vrid=7, state="FAULT", base_priority=100,
                           effective_priority=100, faults=("eth4 down",)),
    )  # fmt: skip
    rs1, rs2 = DestKey.of("192.168.0.12", 80), DestKey.of("192.168.0.13", 80)
    tcp4 = Service(ServiceKey.inet("tcp", "10.0.0.5", 80), "wlc", frozenset(), 0, None,
                   (Destination(rs1, 20), Destination(rs2, 0)))
    vs_tcp4 = VirtualServiceStatus(
        service=tcp4,
        destinations=(
            DestinationStatus(rs1, 20, Health.ALIVE, 3, 1, Counters(120, 4500, 4300, 310_000, 5_200_000), checks=(
                CheckStatus("HTTP_GET", "192.168.0.12:80", True, T0 + 300.0, 0.004, attempts=3,
                            durations=_durations(0.004, 0.02, 0.3)),
                CheckStatus("TCP_CHECK", "192.168.0.12:8080", True, T0 + 301.0, 0.001, attempts=1,
                            durations=_durations(0.001)),
            )),
            DestinationStatus(rs2, 8, Health.INHIBITED, 0, 2, Counters(48, 1800, 1750, 124_000, 2_080_000), checks=(
                CheckStatus("HTTP_GET", "192.168.0.13:80", False, T0 + 302.0, 5.0, attempts=4, failures=4,
                            durations=_durations(5.0, 5.0, 5.0, 12.0)),
            )),
            DestinationStatus(DestKey.of("192.168.0.14", 80), 5, Health.DOWN),  # not in the table
        ),
        quorum=QuorumStatus(1, 0, 20, True),
    )
    r6a, r6b = DestKey.of("fd01::12", 443), DestKey.of("fd01::13", 443)
    tcp6 = Service(ServiceKey.inet("tcp", "fd00:0:0:0::5", 443), "rr", frozenset(), 0, None,
                   (Destination(r6a, 1, Forward.DR), Destination(r6b, 3, Forward.DR)))
    vs_tcp6 = VirtualServiceStatus.build(
        tcp6, configured=tcp6.destinations,
        conn_counts={(tcp6.key, r6a): ConnCounts(4, 0), (tcp6.key, r6b): ConnCounts(1, 6)},
        stats={r6a: Counters(10, 100, 90, 10_000, 90_000), r6b: Counters(5, 50, 45, 5_000, 45_000)},
    )
    dns = DestKey.of("192.168.0.53", 53)
    udp = Service(ServiceKey.inet("udp", "10.0.0.5", 53), "sh", frozenset(), 0, None, (Destination(dns, 2),))
    vs_udp = VirtualServiceStatus.build(udp, configured=udp.destinations,
                                        conn_counts={(udp.key, dns): ConnCounts(0, 9)})
    fw_rs = DestKey.of("192.168.0.12", 0)
    fwm4 = Service(ServiceKey.mark(1), "wlc", frozenset(), 0, None, (Destination(fw_rs, 7),))
    fw6_rs = DestKey.of("fd01::12", 0)
    fwm6 = Service(ServiceKey.mark(1, family=6), "wlc", frozenset(), 0, None, (Destination(fw6_rs, 4),))
    fwm_big = Service(ServiceKey.mark(0x10001000), "wlc", frozenset(), 0, None, (Destination(fw_rs, 1),))
    vs_fwm4 = VirtualServiceStatus.build(fwm4, configured=fwm4.destinations,
                                         conn_counts={(fwm4.key, fw_rs): ConnCounts(2, 1)},
                                         stats={fw_rs: Counters(7, 70, 0, 7000, 0)})
    vs_fwm6 = VirtualServiceStatus.build(fwm6, configured=fwm6.destinations,
                                         conn_counts={(fwm6.key, fw6_rs): ConnCounts(5, 5)})
    vs_fwm_big = VirtualServiceStatus.build(fwm_big, configured=fwm_big.destinations)
    daemon = DaemonInfo(pid=4242, config_file="/etc/keepalived/keepalived.conf", dataplane="ipvs",
                        started_at=T0, version="0.1.0")
    scripts = (VrrpScriptStatus("chk_haproxy", "GOOD", "idle"), VrrpScriptStatus("chk_disk", "BAD", "running"))
    return Snapshot(daemon=daemon, taken_at=T0 + 400, vrrp=vrrp,
                    virtual_services=(vs_tcp4, vs_tcp6, vs_udp, vs_fwm4, vs_fwm6, vs_fwm_big), vrrp_scripts=scripts,
                    conntrack=ConntrackUse(236000, 262144))


# ------------------------------------------------------------------------------------------ what is expected

#: the families, exactly as the exporters' sources define them: name -> (TYPE, HELP, label names)
KA = ["iname", "intf", "vrid"]
KA_STATE = ["iname", "intf", "vrid", "ip_address"]
IPVS = ["local_address", "local_port", "remote_address", "remote_port", "proto", "local_mark"]
KEEPALIVED_EXPORTER = {
    "keepalived_up": ("gauge", "Status", []),
    "keepalived_vrrp_state": ("gauge", "State of vrrp", KA_STATE),
    "keepalived_vrrp_excluded_state": ("gauge", "State of vrrp with excluded VIP", KA_STATE),
    "keepalived_gratuitous_arp_delay_total": ("counter", "Gratuitous ARP delay", KA),
    "keepalived_advertisements_received_total": ("counter", "Advertisements received", KA),
    "keepalived_advertisements_sent_total": ("counter", "Advertisements sent", KA),
    "keepalived_become_master_total": ("counter", "Became master", KA),
    "keepalived_release_master_total": ("counter", "Released master", KA),
    "keepalived_packet_length_errors_total": ("counter", "Packet length errors", KA),
    "keepalived_advertisements_interval_errors_total": ("counter", "Advertisement interval errors", KA),
    "keepalived_ip_ttl_errors_total": ("counter", "TTL errors", KA),
    "keepalived_invalid_type_received_total": ("counter", "Invalid type errors", KA),
    "keepalived_address_list_errors_total": ("counter", "Address list errors", KA),
    "keepalived_authentication_invalid_total": ("counter", "Authentication invalid", KA),
    "keepalived_authentication_mismatch_total": ("counter", "Authentication mismatch", KA),
    "keepalived_authentication_failure_total": ("counter", "Authentication failure", KA),
    "keepalived_priority_zero_received_total": ("counter", "Priority zero received", KA),
    "keepalived_priority_zero_sent_total": ("counter", "Priority zero sent", KA),
    "keepalived_script_status": ("gauge", "Tracker Script Status", ["name"]),
    "keepalived_script_state": ("gauge", "Tracker Script State", ["name"]),
}
NODE_EXPORTER_IPVS = {
    "node_ipvs_backend_connections_active": (
        "gauge", "The current active connections by local and remote address.", IPVS),
    "node_ipvs_backend_connections_inactive": (
        "gauge", "The current inactive connections by local and remote address.", IPVS),
    "node_ipvs_backend_weight": ("gauge", "The current backend weight by local and remote address.", IPVS),
    "node_ipvs_connections_total": ("counter", "The total number of connections made.", []),
    "node_ipvs_incoming_packets_total": ("counter", "The total number of incoming packets.", []),
    "node_ipvs_outgoing_packets_total": ("counter", "The total number of outgoing packets.", []),
    "node_ipvs_incoming_bytes_total": ("counter", "The total amount of incoming data.", []),
    "node_ipvs_outgoing_bytes_total": ("counter", "The total amount of outgoing data.", []),
}  # fmt: skip
CHECK = ["service", "destination", "checker", "target"]
OWN_NEW = {
    "pykeepalived_vrrp_last_transition_timestamp_seconds": ("gauge", None, ["iname", "intf", "vrid", "state"]),
    "pykeepalived_check_up": ("gauge", None, CHECK),
    "pykeepalived_check_last_run_timestamp_seconds": ("gauge", None, CHECK),
    "pykeepalived_check_last_duration_seconds": ("gauge", None, CHECK),
    "pykeepalived_check_attempts_total": ("counter", None, CHECK),
    "pykeepalived_check_failures_total": ("counter", None, CHECK),
    "pykeepalived_check_duration_seconds": ("histogram", None, CHECK),
    "pykeepalived_conntrack_entries": ("gauge", None, []),
    "pykeepalived_conntrack_limit": ("gauge", None, []),
}

TCP4 = {"local_address": "10.0.0.5", "local_port": "80", "proto": "TCP", "local_mark": ""}
TCP6 = {"local_address": "fd00::5", "local_port": "443", "proto": "TCP", "local_mark": ""}
FWM1 = {"local_address": "", "local_port": "0", "proto": "FWM", "local_mark": "00000001"}


def frozen(labels: dict[str, str]) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


#: (series name, labels) -> value that the rich snapshot must give; the Prometheus test queries each
EXPECTED: dict[tuple[str, frozenset[tuple[str, str]]], float] = {
    ("keepalived_up", frozen({})): 1,
    ("keepalived_vrrp_state", frozen({"iname": "VI_1", "intf": "eth0", "vrid": "51",
                                      "ip_address": "10.0.0.5/24"})): 2,
    ("keepalived_vrrp_state", frozen({"iname": "VI_1", "intf": "eth0", "vrid": "51", "ip_address": "10.0.0.9"})): 2,
    ("keepalived_vrrp_state", frozen({"iname": "VI_6", "intf": "eth1", "vrid": "61",
                                      "ip_address": "fd00::5/64"})): 1,
    ("keepalived_vrrp_state", frozen({"iname": "VI_6", "intf": "eth2", "vrid": "61",
                                      "ip_address": "2001:db8::1"})): 1,
    ("keepalived_vrrp_state", frozen({"iname": "VI_NOVIP", "intf": "eth4", "vrid": "7", "ip_address": ""})): 3,
    ("keepalived_vrrp_excluded_state", frozen({"iname": "VI_1", "intf": "eth0", "vrid": "51",
                                               "ip_address": "10.0.9.1"})): 2,
    ("keepalived_vrrp_excluded_state", frozen({"iname": "VI_1", "intf": "eth3", "vrid": "51",
                                               "ip_address": "10.0.9.2/24"})): 2,
    ("keepalived_gratuitous_arp_delay_total", frozen({"iname": "VI_1", "intf": "eth0", "vrid": "51"})): 5,
    ("keepalived_advertisements_received_total", frozen({"iname": "VI_6", "intf": "eth1", "vrid": "61"})): 300,
    ("keepalived_advertisements_sent_total", frozen({"iname": "VI_1", "intf": "eth0", "vrid": "51"})): 314,
    ("keepalived_become_master_total", frozen({"iname": "VI_1", "intf": "eth0", "vrid": "51"})): 1,
    ("keepalived_release_master_total", frozen({"iname": "VI_6", "intf": "eth1", "vrid": "61"})): 2,
    ("keepalived_ip_ttl_errors_total", frozen({"iname": "VI_6", "intf": "eth1", "vrid": "61"})): 7,
    ("keepalived_authentication_failure_total", frozen({"iname": "VI_1", "intf": "eth0", "vrid": "51"})): 4,
    ("keepalived_priority_zero_sent_total", frozen({"iname": "VI_1", "intf": "eth0", "vrid": "51"})): 1,
    ("keepalived_priority_zero_received_total", frozen({"iname": "VI_NOVIP", "intf": "eth4", "vrid": "7"})): 0,
    ("keepalived_script_status", frozen({"name": "chk_haproxy"})): 1,
    ("keepalived_script_status", frozen({"name": "chk_disk"})): 0,
    ("keepalived_script_state", frozen({"name": "chk_haproxy"})): 0,
    ("keepalived_script_state", frozen({"name": "chk_disk"})): 1,
    # node_exporter: what the data plane holds (rs2 inhibited at weight 0; 192.168.0.14 is down, absent)
    ("node_ipvs_backend_weight", frozen({**TCP4, "remote_address": "192.168.0.12", "remote_port": "80"})): 20,
    ("node_ipvs_backend_weight", frozen({**TCP4, "remote_address": "192.168.0.13", "remote_port": "80"})): 0,
    ("node_ipvs_backend_connections_active", frozen({**TCP4, "remote_address": "192.168.0.12",
                                                     "remote_port": "80"})): 3,
    ("node_ipvs_backend_connections_inactive", frozen({**TCP4, "remote_address": "192.168.0.13",
                                                       "remote_port": "80"})): 2,
    ("node_ipvs_backend_weight", frozen({**TCP6, "remote_address": "fd01::13", "remote_port": "443"})): 3,
    ("node_ipvs_backend_connections_inactive", frozen({**TCP6, "remote_address": "fd01::13",
                                                       "remote_port": "443"})): 6,
    ("node_ipvs_backend_connections_inactive", frozen({"local_address": "10.0.0.5", "local_port": "53",
                                                       "proto": "UDP", "local_mark": "",
                                                       "remote_address": "192.168.0.53", "remote_port": "53"})): 9,
    ("node_ipvs_backend_weight", frozen({**FWM1, "remote_address": "192.168.0.12", "remote_port": "0"})): 7,
    ("node_ipvs_backend_connections_active", frozen({**FWM1, "remote_address": "fd01::12", "remote_port": "0"})): 5,
    ("node_ipvs_backend_weight", frozen({**FWM1, "local_mark": "10001000", "remote_address": "192.168.0.12",
                                         "remote_port": "0"})): 1,
    ("node_ipvs_connections_total", frozen({})): 120 + 48 + 10 + 5 + 7,
    ("node_ipvs_incoming_packets_total", frozen({})): 4500 + 1800 + 100 + 50 + 70,
    ("node_ipvs_outgoing_packets_total", frozen({})): 4300 + 1750 + 90 + 45,
    ("node_ipvs_incoming_bytes_total", frozen({})): 310_000 + 124_000 + 10_000 + 5_000 + 7000,
    ("node_ipvs_outgoing_bytes_total", frozen({})): 5_200_000 + 2_080_000 + 90_000 + 45_000,
    # pykeepalived's additions
    ("pykeepalived_vrrp_last_transition_timestamp_seconds", frozen({"iname": "VI_1", "intf": "eth0", "vrid": "51",
                                                                    "state": "MASTER"})): T0 + 100.5,
    ("pykeepalived_vrrp_last_transition_timestamp_seconds", frozen({"iname": "VI_6", "intf": "eth1", "vrid": "61",
                                                                    "state": "BACKUP"})): T0 + 200.25,
}
RS1_HTTP = {"service": "TCP 10.0.0.5:80", "destination": "192.168.0.12:80", "checker": "HTTP_GET",
            "target": "192.168.0.12:80"}
RS2_HTTP = {**RS1_HTTP, "destination": "192.168.0.13:80", "target": "192.168.0.13:80"}
RS1_TCP = {**RS1_HTTP, "checker": "TCP_CHECK", "target": "192.168.0.12:8080"}
EXPECTED.update({
    ("pykeepalived_conntrack_entries", frozen({})): 236000,
    ("pykeepalived_conntrack_limit", frozen({})): 262144,
    ("pykeepalived_check_up", frozen(RS1_HTTP)): 1,
    ("pykeepalived_check_up", frozen(RS1_TCP)): 1,
    ("pykeepalived_check_up", frozen(RS2_HTTP)): 0,
    ("pykeepalived_check_last_duration_seconds", frozen(RS2_HTTP)): 5.0,
    ("pykeepalived_check_last_run_timestamp_seconds", frozen(RS1_TCP)): T0 + 301.0,
    ("pykeepalived_check_attempts_total", frozen(RS2_HTTP)): 4,
    ("pykeepalived_check_failures_total", frozen(RS2_HTTP)): 4,
    ("pykeepalived_check_duration_seconds_count", frozen(RS1_HTTP)): 3,
    ("pykeepalived_check_duration_seconds_sum", frozen(RS2_HTTP)): 27.0,
    ("pykeepalived_check_duration_seconds_bucket", frozen({**RS1_HTTP, "le": "0.025"})): 2,
    ("pykeepalived_check_duration_seconds_bucket", frozen({**RS2_HTTP, "le": "5.0"})): 3,
    ("pykeepalived_check_duration_seconds_bucket", frozen({**RS2_HTTP, "le": "+Inf"})): 4,
})


def parse(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            key = (s.name, frozen(s.labels))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return out


# ------------------------------------------------------------------------------------------ unit tests


def test_families_have_the_exporters_names_types_helps_and_labels() -> None:
    text = metrics_text(rich_snapshot()).decode()
    helps = dict(line[len("# HELP "):].split(" ", 1) for line in text.splitlines() if line.startswith("# HELP "))
    types = dict(line[len("# TYPE "):].split(" ", 1) for line in text.splitlines() if line.startswith("# TYPE "))
    labels: dict[str, set[str]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            labels.setdefault(fam.name, set()).update(k for k in s.labels if k != "le")
    for table in (KEEPALIVED_EXPORTER, NODE_EXPORTER_IPVS, OWN_NEW):
        for name, (kind, help_, label_names) in table.items():
            assert types.get(name) == kind, name
            if help_ is not None:
                assert helps.get(name) == help_, name
            base = name.removesuffix("_total") if kind == "counter" else name
            assert labels.get(base, set()) == set(label_names), name
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_start_time_seconds",
                 "process_open_fds", "python_info"):
        assert name in types, name


def test_series_values_follow_the_snapshot() -> None:
    got = parse(metrics_text(rich_snapshot()).decode())
    for key, value in EXPECTED.items():
        assert key in got, f"missing {key}"
        assert got[key] == pytest.approx(value), key
    # exactly the VIPs, excluded VIPs and table entries, nothing more
    assert sum(1 for n, _ in got if n == "keepalived_vrrp_state") == 5
    assert sum(1 for n, _ in got if n == "keepalived_vrrp_excluded_state") == 2
    assert sum(1 for n, _ in got if n == "node_ipvs_backend_weight") == 2 + 2 + 1 + 2 + 1  # fwmark 1: summed
    assert sum(1 for n, _ in got if n == "keepalived_gratuitous_arp_delay_total") == 1  # known for VI_1 only
    # one fwmark for an IPv4 and an IPv6 service: node_exporter's labels cannot tell them apart; both rows kept
    fw = frozen({**FWM1, "remote_address": "192.168.0.12", "remote_port": "0"})
    assert got[("node_ipvs_backend_connections_active", fw)] == 2


def test_the_seed_snapshot_keeps_its_own_series(seed: Snapshot) -> None:
    got = parse(metrics_text(seed).decode())
    assert got[("pykeepalived_vrrp_state", frozen({"instance": "VI_1", "state": "MASTER"}))] == 1
    assert got[("keepalived_vrrp_state", frozen({"iname": "VI_1", "intf": "eth0", "vrid": "51",
                                                 "ip_address": "10.0.0.5/24"}))] == 2
    # no last transition known, no checkers in the seed: the families are there, without series
    assert not [k for k in got if k[0].startswith(("pykeepalived_check_", "pykeepalived_vrrp_last_transition",
                                                   "pykeepalived_conntrack_"))]


@pytest.mark.parametrize(("vip", "addr", "dev"), [
    ("10.0.0.5/24", "10.0.0.5/24", None),
    ("10.0.0.5/32", "10.0.0.5", None),
    ("10.0.0.5", "10.0.0.5", None),
    ("fd00::5/128", "fd00::5", None),
    ("10.99.1.1/24 dev eth0 scope global label eth0:vip set", "10.99.1.1/24", "eth0"),
    ("10.1.1.2/24 brd 10.1.1.0 dev eth1 scope global", "10.1.1.2/24", "eth1"),
])  # fmt: skip
def test_keepalived_spelling_of_a_vip(vip: str, addr: str, dev: str | None) -> None:
    """keepalived.data prints ``10.99.2.1 dev eth0`` for a /32 and ``10.99.0.1/24 dev eth0`` otherwise
    (tests/data/keepalived-2.2.7-captures); keepalived-exporter takes the first word as ip_address and the
    third as intf."""
    assert keepalived_address(vip) == (addr, dev)


def test_exposition_is_what_generate_latest_writes() -> None:
    """metrics.exposition (the fast writer behind metrics_text) against prometheus_client's generate_latest:
    the same families, samples and values, labels sorted and escaped the same way, byte for byte on lines."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
    from prometheus_client.exposition import generate_latest
    from prometheus_client.registry import CollectorRegistry

    from pykeepalived.status.metrics import exposition
    from pykeepalived.status.server import StatusCollector

    odd = GaugeMetricFamily("odd_labels", 'help with \\ and \n and "quotes"', labels=["b", "a"])
    odd.add_metric(['back\\slash', 'new\nline "quoted"'], 1e21)
    odd.add_metric(["x", "y"], float("nan"))
    stamped = CounterMetricFamily("stamped", "A counter with a timestamp and _created.", labels=["k"], created=5.0)
    stamped.add_metric(["v"], 3, timestamp=1.5)
    info = InfoMetricFamily("build", "Build information.", value={"version": "1"})
    snap = rich_snapshot()

    class Everything(StatusCollector):
        def collect(self):  # type: ignore[no-untyped-def]
            yield from super().collect()
            yield from (odd, stamped, info)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Everything(lambda: snap))
    reference = generate_latest(registry).decode()
    ours = exposition(Everything(lambda: snap).collect()).decode()
    volatile = ("process_", "python_gc_")  # read again between the two renderings
    keep = [line for line in reference.splitlines() if not line.startswith(volatile) and volatile[0] not in line]
    assert [line for line in ours.splitlines() if not line.startswith(volatile) and volatile[0] not in line] == keep
    assert len(keep) > 300


def test_duration_histogram() -> None:
    h = _durations(0.001, 0.005, 0.0051, 3.0, 60.0)
    assert h.count == 5 and h.sum == pytest.approx(63.0111)
    cum = dict(h.cumulative())
    assert cum[0.005] == 2 and cum[0.01] == 3 and cum[5.0] == 4 and cum[10.0] == 4 and cum[float("inf")] == 5
    assert DurationHistogram().cumulative()[-1] == (float("inf"), 0)


def test_new_snapshot_fields_survive_json() -> None:
    snap = rich_snapshot()
    back = Snapshot.from_json(snap.to_json())
    assert back == snap
    doc = json.loads(snap.to_json())
    assert doc["vrrp_scripts"][1] == {"name": "chk_disk", "status": "BAD", "state": "running", "init_state": "done"}
    check = doc["virtual_services"][0]["destinations"][1]["checks"][0]
    assert check["durations"]["counts"][-1] == 1 and check["up"] is False
    # an older document (no new keys) still reads, with the defaults
    for v in doc["vrrp"]:
        v.pop("excluded_vips"), v.pop("garp_delay")
    doc.pop("vrrp_scripts")
    old = Snapshot.from_json(json.dumps(doc))
    assert old.vrrp[0].excluded_vips == () and old.vrrp[0].garp_delay is None and old.vrrp_scripts == ()


def test_vrrp_child_fills_last_transition_and_excluded_vips() -> None:
    """daemon.child.vrrp_snapshot takes what the VRRP process's instance runtime holds."""
    from pykeepalived.daemon.child import vrrp_snapshot

    fsm = SimpleNamespace(name="VI_1", params=SimpleNamespace(vrid=51, version=2, sync_group=None),
                          state=SimpleNamespace(name="MASTER"), base_priority=150, effective_priority=150,
                          master_address=None, faults=set(), stats=SimpleNamespace(advert_sent=3))
    vip = SimpleNamespace(address="10.0.0.5/24", dev="eth0")
    evip = SimpleNamespace(address="10.0.9.2/24", dev="eth3")
    rt = SimpleNamespace(fsm=fsm, ifname="eth0", vips=[vip], evips=[evip], drops=None, last_transition=T0 + 1,
                         model=SimpleNamespace(garp_master_delay=5))
    proc = SimpleNamespace(instances={"VI_1": rt},
                           script_statuses=lambda: [VrrpScriptStatus("chk", "BAD", "idle")])
    options = SimpleNamespace(config_file="/etc/keepalived/keepalived.conf")
    snap = vrrp_snapshot(proc, options, T0)  # type: ignore[arg-type]
    v = snap.vrrp[0]
    assert v.last_transition == T0 + 1 and v.garp_delay == 5 and v.stats.advert_sent == 3
    assert v.vips == ("10.0.0.5/24",) and v.excluded_vips == ("10.0.9.2/24 dev eth3",)
    assert snap.vrrp_scripts == (VrrpScriptStatus("chk", "BAD", "idle"),)
    got = parse(metrics_text(snap).decode())
    assert got[("keepalived_vrrp_excluded_state", frozen({"iname": "VI_1", "intf": "eth3", "vrid": "51",
                                                          "ip_address": "10.0.9.2/24"}))] == 2


# ------------------------------------------------------------------------------------------ promtool


def test_promtool_accepts_the_exposition(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    text = metrics_text(rich_snapshot())
    assert b"keepalived_vrrp_state{" in text and b"node_ipvs_backend_weight{" in text  # not an empty pass
    res = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=60, check=False)
    assert res.returncode == 0, (res.stdout + res.stderr).decode(errors="replace")
    assert not res.stdout.strip() and not res.stderr.strip(), (res.stdout + res.stderr).decode(errors="replace")


# ------------------------------------------------------------------------------------------ a real Prometheus


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Metrics(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/metrics" else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def metrics_server() -> Iterator[int]:
    """A tiny HTTP server on 127.0.0.1 serving metrics_text(rich_snapshot()) at /metrics."""
    handler = type("Handler", (_Metrics,), {"body": metrics_text(rich_snapshot())})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _query(api: str, promql: str) -> list[dict[str, Any]]:
    url = f"{api}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as r:  # loopback only
        doc = json.loads(r.read())
    assert doc["status"] == "success", doc
    return list(doc["data"]["result"])


def test_a_real_prometheus_scrapes_every_family(tmp_path: Path, metrics_server: int) -> None:
    prometheus = require_binary("prometheus")
    web_port = _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: pykeepalived\n    scrape_interval: 1s\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{metrics_server}']\n"
    )
    log = tmp_path / "prometheus.log"
    with open(log, "wb") as logf:
        proc = subprocess.Popen(
            [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{web_port}", "--log.level=warn"],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, cwd=tmp_path)
    api = f"http://127.0.0.1:{web_port}"
    try:
        deadline = time.monotonic() + 60
        up: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"prometheus exited: {log.read_text(errors='replace')}"
            try:
                up = _query(api, 'up{job="pykeepalived"}')
            except OSError:
                up = []
            if up and up[0]["value"][1] == "1":
                break
            time.sleep(0.3)
        assert up and up[0]["value"][1] == "1", f"no successful scrape in 60 s: {log.read_text(errors='replace')}"

        # every expected series, by PromQL, with its value (Prometheus adds job and instance)
        by_name: dict[str, dict[frozenset[tuple[str, str]], float]] = {}
        for name in sorted({n for n, _ in EXPECTED}):
            result = _query(api, name)
            assert result, f"PromQL {name} returned nothing"
            series = {}
            for r in result:
                labels = dict(r["metric"])
                assert labels.pop("__name__") == name
                assert labels.pop("job") == "pykeepalived"
                assert labels.pop("instance") == f"127.0.0.1:{metrics_server}"
                series[frozen(labels)] = float(r["value"][1])
            by_name[name] = series
        for (name, labels), value in EXPECTED.items():
            stored = frozenset((k, v) for k, v in labels if v)  # Prometheus drops empty labels (ip_address="")
            assert by_name[name].get(stored) == pytest.approx(value), (name, dict(labels), by_name[name])
        # the families a dashboard aggregates: one answer per family, from one scrape
        assert _query(api, 'count(keepalived_vrrp_state)')[0]["value"][1] == "5"
        assert _query(api, 'sum(node_ipvs_backend_weight{proto="TCP"})')[0]["value"][1] == "24"
        assert _query(api, 'histogram_quantile(0.5, sum by (le) (pykeepalived_check_duration_seconds_bucket))')
        assert _query(api, 'process_resident_memory_bytes')
        # every sample served was ingested: none dropped as a duplicate or out of order
        served = sum(1 for line in metrics_text(rich_snapshot()).decode().splitlines() if line and line[0] != "#")
        assert _query(api, 'scrape_samples_scraped{job="pykeepalived"}')[0]["value"][1] == str(served)
        assert "Error on ingesting" not in log.read_text(errors="replace")
        # pykeepalived's own families still come through (their `instance` label becomes exported_instance)
        own = _query(api, 'pykeepalived_vrrp_state{state="MASTER"} == 1')
        assert [r["metric"]["exported_instance"] for r in own] == ["VI_1"]
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, 9)
            proc.wait(5)
