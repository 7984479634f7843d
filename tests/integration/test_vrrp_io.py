"""VRRP sockets, link-layer frames, VIPs and link events, between real namespaces.

Packets here are built by hand (a few struct calls) so these tests prove the I/O layer alone;
the codec has its own tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import socket
import struct
import sys
import textwrap
from collections.abc import AsyncGenerator, Iterator

import pytest

from pykeepalived.lab.topology import Lab, two_node_lan
from pykeepalived.vrrp.addresses import LinkEvent, Netlink, VipSpec, watch_links
from pykeepalived.vrrp.io import Datagram, FrameSender, VrrpSocket, interface_mac, open_socket, send_frame
from tests.conftest import require_root

ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD


# -- hand-built packets -------------------------------------------------------------------

def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def vrrp3(vrid: int, prio: int, vips: list[str]) -> bytes:
    """VRRPv3 message without checksum (the IPv4 tests do not need one; IPv6: kernel fills it)."""
    packed = b"".join(ipaddress.ip_address(v).packed for v in vips)
    return struct.pack("!BBBBHH", 0x31, vrid, prio, len(vips), 100, 0) + packed


def ipv4(src: str, dst: str, payload: bytes, ttl: int = 255) -> bytes:
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 20 + len(payload), 1, 0, ttl, 112, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    return hdr[:10] + checksum(hdr).to_bytes(2, "big") + hdr[12:] + payload


def garp(mac: bytes, vip: str) -> bytes:
    ip = socket.inet_aton(vip)
    bcast = b"\xff" * 6
    return bcast + mac + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + ip + bcast + ip


def unsolicited_na(mac: bytes, vip: str) -> bytes:
    target = ipaddress.IPv6Address(vip).packed
    all_nodes = ipaddress.IPv6Address("ff02::1").packed
    icmp = bytes((136, 0, 0, 0, 0x20, 0, 0, 0)) + target + bytes((2, 1)) + mac
    pseudo = target + all_nodes + struct.pack("!I3xB", len(icmp), 58)
    icmp = icmp[:2] + checksum(pseudo + icmp).to_bytes(2, "big") + icmp[4:]
    ip6 = struct.pack("!IHBB", 6 << 28, len(icmp), 58, 255) + target + all_nodes
    return b"\x33\x33\x00\x00\x00\x01" + mac + b"\x86\xdd" + ip6 + icmp


# -- the network --------------------------------------------------------------------------

@pytest.fixture
def lan() -> Iterator[Lab]:
    """two_node_lan, plus a second segment on node b (``eth1``) to prove interface isolation."""
    require_root()
    with two_node_lan() as lab:
        lab.add_bridge("lan2")
        lab.connect("b", "eth1", "lan2", ["10.9.1.2/24"])
        yield lab


@contextlib.contextmanager
def capture(lab: Lab, node: str, ifname: str, ethertype: int) -> Iterator[socket.socket]:
    """An AF_PACKET receive socket in ``node``: what actually crossed the wire."""
    s = open_socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ethertype), lab.ns(node))
    try:
        s.bind((ifname, ethertype))
        s.settimeout(2.0)
        yield s
    finally:
        s.close()


def frames_until(sock: socket.socket, want: bytes, limit: int = 20) -> bytes:
    """The first captured frame starting with ``want`` (bounded: other traffic may interleave)."""
    for _ in range(limit):
        frame = sock.recv(2048)
        if frame[: len(want)] == want:
            return frame
    raise AssertionError(f"no frame starting with {want.hex()} among {limit}")


# -- VRRP sockets -------------------------------------------------------------------------

async def test_multicast_advert_reaches_peer_interface_only(lan: Lab) -> None:
    payload = vrrp3(42, 100, ["10.9.0.50"])
    with (VrrpSocket("eth0", netns=lan.ns("a")) as a,
          VrrpSocket("eth0", netns=lan.ns("b")) as b0,
          VrrpSocket("eth1", netns=lan.ns("b")) as b1):
        b1.start()  # also a member of 224.0.0.18, on the other segment
        a.send(ipv4("10.9.0.1", "224.0.0.18", payload))
        rx = await b0.recv(timeout=2)
        assert (rx.src, rx.dst, rx.ttl, rx.payload) == ("10.9.0.1", "224.0.0.18", 255, payload)
        assert rx.data[:1] == b"\x45" and rx.data[1] == 0xC0 and rx.ifindex == b0.ifindex
        with pytest.raises(TimeoutError):
            await b1.recv(timeout=0.3)
        assert b1.dropped == 0


async def test_unicast_advert_and_ttl_reported_for_caller_to_check(lan: Lab) -> None:
    payload = vrrp3(42, 100, ["10.9.0.50"])
    with (VrrpSocket("eth0", netns=lan.ns("a"), join=False) as a,
          VrrpSocket("eth0", netns=lan.ns("b"), join=False) as b,
          VrrpSocket("eth0", netns=lan.ns("client")) as client):
        client.start()
        a.send(ipv4("10.9.0.1", "10.9.0.2", payload, ttl=64))
        rx = await b.recv(timeout=2)
        assert (rx.src, rx.dst, rx.ttl, rx.payload) == ("10.9.0.1", "10.9.0.2", 64, payload)
        with pytest.raises(TimeoutError):
            await client.recv(timeout=0.3)


async def test_callback_delivery_and_send_socket_queues_nothing(lan: Lab) -> None:
    got: list[str] = []
    done = asyncio.Event()

    def on_packet(rx: Datagram) -> None:
        got.append(rx.src)
        if len(got) == 3:
            done.set()

    with VrrpSocket("eth0", netns=lan.ns("a")) as a, VrrpSocket("eth0", netns=lan.ns("b")) as b:
        a.start()
        b.start(on_packet)
        for _ in range(3):
            a.send(ipv4("10.9.0.1", "224.0.0.18", vrrp3(1, 100, ["10.9.0.50"])))
        await asyncio.wait_for(done.wait(), 2)
        assert got == ["10.9.0.1"] * 3
        with pytest.raises(TimeoutError):  # no loopback of our own adverts
            await a.recv(timeout=0.2)
        # unicast reaches every raw socket of the node, multicast only members: unicast proves
        # the send socket's drop-all filter (else its unread queue would fill up)
        b.send(ipv4("10.9.0.2", "10.9.0.1", vrrp3(1, 90, ["10.9.0.50"])))
        assert (await a.recv(timeout=2)).src == "10.9.0.2"
        with pytest.raises(BlockingIOError):
            a.tx.recv(2048, socket.MSG_DONTWAIT)


async def test_ipv6_advert_gets_hop_limit_checksum_and_pktinfo(lan: Lab) -> None:
    async with Netlink(lan.ns("a")) as nl:
        a_ll = await nl.link_local_ipv6("eth0")
    payload = vrrp3(42, 100, ["fd09::50"])
    with (VrrpSocket("eth0", socket.AF_INET6, netns=lan.ns("a")) as a,
          VrrpSocket("eth0", socket.AF_INET6, netns=lan.ns("b")) as b):
        a.send(payload)
        rx = await b.recv(timeout=2)
        assert (rx.src, rx.dst, rx.ttl) == (a_ll, "ff02::12", 255)
        assert rx.payload[:6] == payload[:6] and rx.payload[8:] == payload[8:]
        assert a_ll is not None
        pseudo = (ipaddress.IPv6Address(a_ll).packed + ipaddress.IPv6Address("ff02::12").packed
                  + struct.pack("!I3xB", len(rx.payload), 112))
        assert checksum(pseudo + rx.payload) == 0, "kernel must fill the VRRP checksum (IPV6_CHECKSUM)"

        a.send(payload, "fd09::2")
        rx = await b.recv(timeout=2)
        assert (rx.src, rx.dst, rx.ttl) == ("fd09::1", "fd09::2", 255)


def test_socket_made_inside_the_namespace_by_the_process_itself(lan: Lab) -> None:
    """The daemon case: the whole process runs under ``ip netns exec``; no netns argument."""
    script = textwrap.dedent("""
        import asyncio, json, sys
        from pykeepalived.vrrp.io import VrrpSocket
        async def main():
            with VrrpSocket("eth0") as s:
                print("ready", flush=True)
                rx = await s.recv(timeout=5)
                print(json.dumps([rx.src, rx.dst, rx.ttl]), flush=True)
        asyncio.run(main())
    """)
    proc = lan.popen("b", [sys.executable, "-c", script], stdout=-1, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        with VrrpSocket("eth0", netns=lan.ns("a")) as a:
            a.send(ipv4("10.9.0.1", "224.0.0.18", vrrp3(7, 200, ["10.9.0.50"])))
        out, _ = proc.communicate(timeout=10)
        assert json.loads(out) == ["10.9.0.1", "224.0.0.18", 255]
    finally:
        lan.stop(proc)


# -- GARP / NA ----------------------------------------------------------------------------

def test_garp_and_na_frames_leave_byte_for_byte(lan: Lab) -> None:
    mac = interface_mac("eth0", lan.ns("a"))
    assert len(mac) == 6 and mac != b"\0" * 6
    frame = garp(mac, "10.9.0.50")
    with capture(lan, "b", "eth0", ETH_P_ARP) as cap:
        send_frame("eth0", frame, lan.ns("a"))
        got = frames_until(cap, frame[:12])
    assert got[: len(frame)] == frame

    na = unsolicited_na(mac, "fd09::50")
    with capture(lan, "b", "eth0", ETH_P_IPV6) as cap, FrameSender("eth0", lan.ns("a")) as fs:
        assert fs.mac == mac
        fs.send(na)
        got = frames_until(cap, na[:22])  # our MACs, ethertype, and the start of our IPv6 header
    assert got[: len(na)] == na


# -- VIPs and link state ------------------------------------------------------------------

def ip_addr(lab: Lab, node: str, ifname: str) -> dict[str, dict[str, object]]:
    out = lab.run(node, ["ip", "-j", "addr", "show", "dev", ifname]).stdout
    return {a["local"]: a for link in json.loads(out) for a in link["addr_info"]}


async def test_vips_added_and_removed_idempotently_show_in_ip_addr(lan: Lab) -> None:
    v4 = VipSpec.of("10.9.0.50/24", "eth0", label="eth0:vip", broadcast="+")
    v6 = VipSpec.of("fd09::50/128", "eth0", preferred_lft=0)
    async with Netlink(lan.ns("a")) as nl:
        assert await nl.add_vip(v4) is True
        assert await nl.add_vip(v4) is False  # EEXIST tolerated
        assert await nl.add_vip(v6) is True
        shown = ip_addr(lan, "a", "eth0")
        assert shown["10.9.0.50"]["prefixlen"] == 24
        assert shown["10.9.0.50"]["label"] == "eth0:vip"
        assert shown["10.9.0.50"]["broadcast"] == "10.9.0.255"
        assert shown["10.9.0.50"].get("secondary") is True
        assert shown["fd09::50"]["preferred_life_time"] == 0
        assert shown["fd09::50"].get("nodad") is True
        assert not shown["fd09::50"].get("tentative")
        # the VIP in the same subnet is secondary: the advert source stays the node's own address
        assert await nl.primary_ipv4("eth0") == "10.9.0.1"
        listed = {str(a.address) for a in await nl.list_addresses("eth0")}
        assert {"10.9.0.1/24", "10.9.0.50/24", "fd09::50/128"} <= listed

        assert await nl.del_vip(v4) is True
        assert await nl.del_vip(v4) is False  # EADDRNOTAVAIL tolerated
        assert "10.9.0.50" not in ip_addr(lan, "a", "eth0")

        # a previous run's leftovers: only configured VIPs are removed, own addresses stay
        await nl.add_vip(v4)
        removed = await nl.remove_stale_vips([v4, v6, VipSpec.of("10.9.0.99/32", "eth0"),
                                              VipSpec.of("10.9.0.98/32", "nosuchif")])
        assert removed == [v4, v6]
        assert set(ip_addr(lan, "a", "eth0")) >= {"10.9.0.1", "fd09::1"}
        assert not {"10.9.0.50", "fd09::50"} & set(ip_addr(lan, "a", "eth0"))


async def next_event(events: AsyncGenerator[LinkEvent, None]) -> LinkEvent:
    return await asyncio.wait_for(anext(events), 3)


async def test_pulled_cable_and_admin_down_produce_link_events(lan: Lab) -> None:
    events = watch_links(lan.ns("a"), ["eth0"])
    try:
        ev = await next_event(events)  # the current state comes first
        assert (ev.ifname, ev.up) == ("eth0", True)
        lan.set_port("a", "eth0", False)  # the switch side: carrier loss
        ev = await next_event(events)
        assert (ev.ifname, ev.up) == ("eth0", False)
        lan.set_port("a", "eth0", True)
        ev = await next_event(events)
        assert (ev.ifname, ev.up) == ("eth0", True)
        lan.set_link("a", "eth0", False)
        ev = await next_event(events)
        assert (ev.ifname, ev.up) == ("eth0", False)
        async with Netlink(lan.ns("a")) as nl:
            assert await nl.link_up("eth0") is False
    finally:
        await events.aclose()
