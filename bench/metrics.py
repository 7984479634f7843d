"""Cost of ``/metrics`` on a large table: 1,000 virtual servers x 10 real servers (one checker each).

Run: ``python bench/metrics.py [--services 1000] [--reals 10] [--repeat 7]``.

Times ``status.server.metrics_text(snapshot)`` (what one scrape of ``/metrics`` costs the daemon: every
family, pykeepalived's own, keepalived-exporter's, node_exporter's IPVS, checkers, process) and, in the same
run, two baselines:

- ``json.dumps`` of the same snapshot's status document (what one ``GET /status`` costs);
- prometheus_client's own ``generate_latest`` over plain gauges holding as many samples as the scrape has
  (the floor for any exposition of that size with this library).

It prints the best time per scrape of ``--repeat`` runs in ms (other load on a shared machine only adds time),
the exposition's size and sample count, the time of each group of families, and the ratios to the baselines
(and to the same families written by ``generate_latest``, which ``metrics_text`` no longer uses:
status.metrics.exposition writes the same text faster).
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from pykeepalived.lvs.model import ConnCounts, Counters, Destination, DestKey, Service, ServiceKey
from pykeepalived.status import metrics
from pykeepalived.status.server import StatusCollector, metrics_text
from pykeepalived.status.snapshot import (
    CheckStatus,
    DaemonInfo,
    DurationHistogram,
    Snapshot,
    VirtualServiceStatus,
    VrrpInstanceStatus,
    VrrpStats,
    snapshot_to_dict,
)


def big_snapshot(services: int, reals: int) -> Snapshot:
    vss = []
    hist = DurationHistogram()
    for s in (0.002, 0.004, 0.004, 0.01, 0.3):
        hist = hist.observe(s)
    for i in range(services):
        vip = IPv4Address(0x0A000000 + i + 1)
        key = ServiceKey.inet("tcp", vip, 80 + i % 3)
        dests = tuple(Destination(DestKey(IPv4Address(0xC0A80000 + i * reals + j + 1), 8080), 1 + j % 5)
                      for j in range(reals))
        svc = Service(key, "wlc", frozenset(), 0, None, dests)
        vs = VirtualServiceStatus.build(
            svc, configured=dests,
            conn_counts={(key, d.key): ConnCounts(j, 2 * j) for j, d in enumerate(dests)},
            stats={d.key: Counters(1000 + j, 50_000, 48_000, 3_000_000, 60_000_000) for j, d in enumerate(dests)},
        )
        checks = [(CheckStatus("HTTP_GET", str(d.key), True, 1.7e9, 0.004, 5, 0, hist),) for d in vs.destinations]
        vs = VirtualServiceStatus(vs.service, tuple(
            type(d)(d.key, d.weight, d.health, d.active_conns, d.inactive_conns, d.stats, d.rates, checks=c)
            for d, c in zip(vs.destinations, checks, strict=True)), vs.quorum, vs.stats, vs.rates)
        vss.append(vs)
    vrrp = tuple(VrrpInstanceStatus(f"VI_{n}", "eth0", 50 + n, "MASTER", 150, 150, vips=(f"10.255.0.{n}/24",),
                                    last_transition=1.7e9, garp_delay=5, stats=VrrpStats(advert_sent=100))
                 for n in range(1, 3))
    daemon = DaemonInfo(pid=1, config_file="/etc/keepalived/keepalived.conf", dataplane="ipvs", started_at=1.7e9)
    return Snapshot(daemon=daemon, taken_at=1.7e9 + 60, vrrp=vrrp, virtual_services=tuple(vss))


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    """The best of ``repeat`` runs, in ms: on a shared machine the other load only ever adds time."""
    fn()  # warm up
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


class PlainGauges(Collector):
    """``samples`` plain gauge samples with two labels each, spread over 20 families."""

    def __init__(self, samples: int) -> None:
        self.samples = samples

    def collect(self) -> Iterator[Metric]:
        per = -(-self.samples // 20)
        n = 0
        for f in range(20):
            fam = GaugeMetricFamily(f"plain_gauge_{f}", "A plain gauge.", labels=["service", "destination"])
            for i in range(min(per, self.samples - n)):
                fam.add_metric([f"TCP 10.0.{i >> 8}.{i & 255}:80", f"192.168.{i >> 8}.{i & 255}:8080"], float(i))
            n += per
            yield fam


def registry_of(*collectors: Collector) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    for c in collectors:
        reg.register(c)
    return reg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--reals", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()

    snap = big_snapshot(args.services, args.reals)
    text = metrics_text(snap)
    samples = sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))
    print(f"table: {args.services} virtual servers x {args.reals} real servers, one checker each")
    print(f"exposition: {len(text) / 1e6:.1f} MB, {samples} samples")

    scrape = best_ms(lambda: metrics_text(snap), args.repeat)
    status_json = best_ms(lambda: json.dumps(snapshot_to_dict(snap)), args.repeat)
    plain_reg = registry_of(PlainGauges(samples))
    plain = best_ms(lambda: generate_latest(plain_reg), args.repeat)
    library = best_ms(lambda: generate_latest(registry_of(StatusCollector(lambda: snap))), args.repeat)

    groups: dict[str, Callable[[], Iterator[Metric]]] = {
        "keepalived-exporter VRRP": lambda: metrics.keepalived_metrics(snap),
        "node_exporter IPVS": lambda: metrics.ipvs_metrics(snap),
        "checkers (result, duration histogram)": lambda: metrics.check_metrics(snap),
        "process, platform, gc": metrics.process_metrics,
    }
    group_ms = {name: best_ms(lambda fn=fn: metrics.exposition(fn()), args.repeat)  # type: ignore[misc]
                for name, fn in groups.items()}
    print()
    print(f"/metrics, one scrape (best of {args.repeat}):              {scrape:9.1f} ms")
    for name, ms in group_ms.items():
        print(f"  of which {name + ':':44s} {ms:9.1f} ms")
    print("  (pykeepalived's own families: the rest)")
    print(f"baseline json.dumps of the /status document:         {status_json:9.1f} ms")
    print(f"baseline generate_latest, {samples} plain gauges:       {plain:9.1f} ms")
    print(f"the same families through generate_latest:           {library:9.1f} ms")
    print()
    print(f"ratio /metrics : /status JSON                        = {scrape / status_json:.2f}")
    print(f"ratio /metrics : plain gauges (generate_latest), same n = {scrape / plain:.2f}")
    print(f"ratio /metrics : its families through generate_latest = {scrape / library:.2f}")


if __name__ == "__main__":
    main()
