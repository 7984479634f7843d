"""The root-namespace leak capture (tests/conftest.py) catches lab packets: its tcpdump filter, run offline over
a pcap written here, matches every kind of packet a lab sends (VRRP v2/v3 over IPv4 and IPv6, ARP for a lab
address, IPv4 and IPv6 TCP to lab ranges) and none of a host's own traffic (loopback, a public address).

The capture runs during every test session; without this test nothing showed that it would ever fire.
"""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
from pathlib import Path

import pytest

from tests.conftest import IN_CI, leak_filter

MAC_A, MAC_B = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")


def ether(ethertype: int, payload: bytes, dst: bytes = MAC_B) -> bytes:
    return dst + MAC_A + struct.pack("!H", ethertype) + payload


def ipv4(src: str, dst: str, proto: int, payload: bytes, ttl: int = 64) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0, ttl, proto, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
    return ether(0x0800, header + payload)


def ipv6(src: str, dst: str, next_header: int, payload: bytes) -> bytes:
    header = struct.pack("!IHBB16s16s", 6 << 28, len(payload), next_header, 255,
                         socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst))
    return ether(0x86DD, header + payload)


def arp_request(sender: str, target: str) -> bytes:
    body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, MAC_A, socket.inet_aton(sender), b"\0" * 6,
                       socket.inet_aton(target))
    return ether(0x0806, body, dst=b"\xff" * 6)


VRRP = bytes([0x31, 51, 100, 1, 0, 100, 0, 0]) + socket.inet_aton("10.9.0.50")
TCP_SYN = struct.pack("!HHIIBBHHH", 40000, 80, 1, 0, 5 << 4, 0x02, 65535, 0, 0)

LAB_PACKETS = {
    "vrrp-v4": ipv4("10.9.0.1", "224.0.0.18", 112, VRRP, ttl=255),
    "vrrp-v4-unicast-public-peer": ipv4("203.0.113.7", "198.51.100.9", 112, VRRP, ttl=255),
    "vrrp-v6": ipv6("fe80::1", "ff02::12", 112, VRRP),
    "arp-for-a-vip": arp_request("10.9.0.1", "10.9.0.50"),
    "garp-192.168": arp_request("192.168.0.1", "192.168.0.1"),
    "tcp-10/8": ipv4("10.0.0.100", "10.0.0.5", 6, TCP_SYN),
    "tcp-172.16/12": ipv4("172.16.3.4", "172.16.3.5", 6, TCP_SYN),
    "tcp-fd09::": ipv6("fd09::100", "fd09::50", 6, TCP_SYN),
}
HOST_PACKETS = {
    "loopback": ipv4("127.0.0.1", "127.0.0.1", 6, TCP_SYN),
    "public": ipv4("203.0.113.7", "198.51.100.9", 6, TCP_SYN),
    "public-v6": ipv6("2001:db8::1", "2001:db8::2", 6, TCP_SYN),
}


def write_pcap(path: Path, frames: list[bytes]) -> None:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]  # LINKTYPE_ETHERNET
    for i, frame in enumerate(frames):
        out.append(struct.pack("<IIII", 1_700_000_000 + i, 0, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))


def matched(tmp_path: Path, frames: dict[str, bytes]) -> int:
    """How many of ``frames`` the conftest's leak filter matches (tcpdump reading them offline)."""
    tcpdump = shutil.which("tcpdump")
    if tcpdump is None:
        if IN_CI:
            pytest.fail("tcpdump is not installed; .ci/run must install it")
        pytest.skip("tcpdump is not installed")
    pcap = tmp_path / "frames.pcap"
    write_pcap(pcap, list(frames.values()))
    out = subprocess.run([tcpdump, "-n", "-r", str(pcap), leak_filter()], capture_output=True, text=True,
                         check=True, timeout=30)
    return len(out.stdout.splitlines())


@pytest.mark.parametrize("kind", list(LAB_PACKETS))
def test_the_leak_filter_matches_every_kind_of_lab_packet(tmp_path: Path, kind: str) -> None:
    assert matched(tmp_path, {kind: LAB_PACKETS[kind]}) == 1


def test_the_leak_filter_leaves_the_host_s_own_traffic_alone(tmp_path: Path) -> None:
    assert matched(tmp_path, HOST_PACKETS) == 0
