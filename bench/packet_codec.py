"""Micro-benchmark of vrrp.packet: µs per advert encoded / decoded (reference: 6.5 µs per build).

Run: python bench/packet_codec.py [-n ITERATIONS]
"""

from __future__ import annotations

import argparse
import ipaddress
import timeit
from collections.abc import Callable

from pykeepalived.vrrp.packet import (
    AUTH_PASS,
    VRRP_GROUP4,
    VRRP_GROUP6,
    Advert,
    Expectation,
    Received,
    build_garp,
    decode_ipv4,
    decode_payload,
    encode_ipv4,
    encode_payload,
    validate,
)


def per_call_us(fn: Callable[[], object], n: int) -> float:
    """Best of 5 runs, in µs per call (best-of filters out the other processes on the machine)."""
    return min(timeit.repeat(fn, number=n, repeat=5)) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=20_000, help="calls per timing run")
    n = ap.parse_args().n

    src4 = ipaddress.IPv4Address("10.50.0.2")
    src6 = ipaddress.IPv6Address("fe80::1")
    v2 = Advert.build(version=2, vrid=42, priority=100, addresses=["10.50.0.100", "10.50.0.101"],
                      auth_type=AUTH_PASS, auth_pass="secret12")
    v3 = Advert.build(version=3, vrid=42, priority=100, addresses=["10.50.0.100"])
    v6 = Advert.build(version=3, vrid=42, priority=100, addresses=["2001:db8::100"])
    raw2 = encode_ipv4(v2, src4, VRRP_GROUP4, 1)
    raw3 = encode_ipv4(v3, src4, VRRP_GROUP4, 1)
    pay6 = encode_payload(v6, src6, VRRP_GROUP6)
    exp2 = Expectation(vrid=42, version=2, auth_type=AUTH_PASS, auth_pass="secret12", vips=v2.addresses)
    adv2 = decode_ipv4(raw2)
    assert isinstance(adv2, Advert)
    rx2 = Received(raw2)

    cases: list[tuple[str, Callable[[], object]]] = [
        ("encode v2 IPv4 (IP hdr + PASS, 2 VIPs)", lambda: encode_ipv4(v2, src4, VRRP_GROUP4, 7)),
        ("encode v3 IPv4 (IP hdr, 1 VIP)", lambda: encode_ipv4(v3, src4, VRRP_GROUP4, 7)),
        ("encode v3 IPv6 payload (1 VIP)", lambda: encode_payload(v6, src6, VRRP_GROUP6)),
        ("decode v2 IPv4", lambda: decode_ipv4(raw2)),
        ("decode v3 IPv4", lambda: decode_ipv4(raw3)),
        ("decode v3 IPv6 payload", lambda: decode_payload(pay6, src6, VRRP_GROUP6, 255, 6)),
        ("validate(Advert) v2 PASS", lambda: validate(adv2, exp2)),
        ("validate(Received) v2 PASS (full pipeline)", lambda: validate(rx2, exp2)),
        ("build_garp", lambda: build_garp(b"\x0a\x71\xa1\xdd\xe8\xb4", "10.50.0.100")),
    ]
    width = max(len(name) for name, _ in cases)
    for name, fn in cases:
        print(f"{name:<{width}}  {per_call_us(fn, n):6.2f} µs")


if __name__ == "__main__":
    main()
