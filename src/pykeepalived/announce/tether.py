"""Announced routes tethered to the process that announces them.

The checker process opens a tun device (``bgp_announce { device pka0 }``) and points one host route per
announced prefix at it (``ip route show proto 252``).  The node's routing daemon exports those routes by BGP:
FRR with ``network 10.0.0.5/32`` under ``router bgp`` (``bgp network import-check``, FRR's default, announces a
``network`` only while zebra has the route), BIRD with ``protocol kernel { learn; }`` and an export filter on
``krt_source = 252``.

A tun device that is not persistent lives as long as the descriptor that created it: when the checker process
ends in any way (stop, crash, SIGKILL, out-of-memory kill) the kernel deletes the device and every route through
it, zebra/BIRD see the routes go (netlink) and withdraw them from their BGP peers.  Nothing has to run for the
withdrawal to happen; the time is the routing daemon's (measured in the lab: see docs/scaleout.md).

Traffic for the VIP is not delivered to the device: the data plane takes it first (nftables DNAT in prerouting;
IPVS and the proxy need the VIP as a local address, which the local table finds before this route).
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
from typing import Any

from pykeepalived.config.model_announce import AnnounceConfig, IPNetwork

log = logging.getLogger("pykeepalived.announce")

_TUNSETIFF = 0x400454CA
_IFF_TUN = 0x0001
_IFF_NO_PI = 0x1000


class Tether:
    """The tun device and the routes through it; every call blocks (netlink): run it off the event loop."""

    def __init__(self, config: AnnounceConfig) -> None:
        self.config = config
        self.fd: int | None = None
        self.index: int | None = None
        self._ipr: Any = None

    def open(self) -> None:
        from pyroute2 import IPRoute  # imported here: only nodes that announce need it

        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
        try:
            ifr = struct.pack("16sH", self.config.device.encode(), _IFF_TUN | _IFF_NO_PI)
            fcntl.ioctl(fd, _TUNSETIFF, ifr)
            self._ipr = IPRoute()
            idx = self._ipr.link_lookup(ifname=self.config.device)
            if not idx:
                raise OSError(f"tun device {self.config.device} not found after creating it")
            self.index = idx[0]
            self._ipr.link("set", index=self.index, state="up")
            # routes a previous holder left (it cannot have: the device died with it), and none of ours yet
        except BaseException:
            os.close(fd)
            if self._ipr is not None:
                self._ipr.close()
                self._ipr = None
            raise
        self.fd = fd
        log.info("Announcing through tun device %s (routes proto %d)", self.config.device, self.config.proto)

    def announce(self, prefix: IPNetwork) -> None:
        assert self._ipr is not None and self.index is not None
        self._ipr.route("replace", dst=str(prefix), oif=self.index, proto=self.config.proto,
                        family=10 if prefix.version == 6 else 2)
        log.info("Announcing %s", prefix)

    def withdraw(self, prefix: IPNetwork) -> None:
        assert self._ipr is not None and self.index is not None
        try:
            self._ipr.route("del", dst=str(prefix), oif=self.index, proto=self.config.proto,
                            family=10 if prefix.version == 6 else 2)
        except Exception as e:  # already gone (someone deleted it by hand): withdrawn either way
            if getattr(e, "code", None) != 3:  # ESRCH
                raise
        log.info("Withdrawing %s", prefix)

    def close(self) -> None:
        """Closing the descriptor deletes the device and every route through it."""
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
            self.index = None
