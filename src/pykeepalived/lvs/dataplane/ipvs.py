"""The IPVS data plane: the kernel's own load balancer, programmed over generic netlink.

This is what keepalived drives (and what ``ipvsadm`` shows): every scheduler, NAT/DR/TUN, thresholds and
persistence are the kernel's, so this module only translates.  :meth:`IpvsDataPlane.observe` reads the
kernel's whole table (services, destinations, connection counts, counters), so a restarted daemon adopts
what is there and a table cleared by ``ipvsadm -C`` is rebuilt by the same reconcile; :meth:`apply` sends
exactly one netlink command per reconciler operation (a weight change is one ``SET_DEST``).

Reading the whole table costs a netlink dump per service (a second or so for 10,000 destinations), and
IPVS sends no change notifications, so :meth:`~IpvsDataPlane.observe` remembers what it read and checks
it cheaply on every call: ``/proc/net/ip_vs`` (the kernel's own listing, a few ms) without its connection
columns must be what it was at the last read.  Any difference (``ipvsadm -C``, a service or destination
added, removed, re-weighted or re-routed by hand) reads the table again at once; what the listing does
not show (scheduler flags, thresholds) is caught by a full read every ``full_read_interval`` (30 s).  Our
own operations re-read only the services they touched, on the next observe.  :meth:`counters` reads
the whole table (and refreshes what observe remembers): the checker calls it when status asks.

We use pyroute2's generic-netlink socket (family discovery, acks, errors, dump reassembly) but our own
message classes, because pyroute2 0.9.7's ``IPVSService``/``IPVSDest`` helpers get several things wrong
(pyroute2/netlink/generic/ipvs.py): ``"update"`` sends a DELETE, destinations default to DR,
``from_message`` misreports the forwarding method, the service netmask is typed as an IPv4 address (so an
IPv6 service cannot be persistent), and there is nothing for FLUSH, GET_INFO or the sync daemon.

The socket is synchronous; the asyncio daemon calls this through ``asyncio.to_thread`` (one thread at a
time).  It works in the network namespace of the thread that first uses it.
"""

from __future__ import annotations

import dataclasses
import errno
import ipaddress
import logging
import os
import re
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, genlmsg, nla
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.generic import GenericNetlinkSocket

from ..model import (
    ConnCounts,
    Counters,
    DestCounters,
    Destination,
    DestKey,
    Forward,
    IPAddress,
    Rates,
    Service,
    ServiceKey,
    Table,
    TableCounters,
)
from ..reconcile import AddDest, AddService, DelDest, DelService, EditDest, EditService, Op, diff
from .contract import Capabilities, normal_form

Counts = dict[tuple[ServiceKey, DestKey], ConnCounts]

log = logging.getLogger(__name__)

GENL_NAME = "IPVS"
GENL_VERSION = 1

# include/uapi/linux/ip_vs.h
CMD_NEW_SERVICE, CMD_SET_SERVICE, CMD_DEL_SERVICE, CMD_GET_SERVICE = 1, 2, 3, 4
CMD_NEW_DEST, CMD_SET_DEST, CMD_DEL_DEST, CMD_GET_DEST = 5, 6, 7, 8
CMD_NEW_DAEMON, CMD_DEL_DAEMON, CMD_GET_DAEMON = 9, 10, 11
CMD_GET_INFO, CMD_ZERO, CMD_FLUSH = 15, 16, 17
CMD_NAMES = {
    1: "NEW_SERVICE", 2: "SET_SERVICE", 3: "DEL_SERVICE", 4: "GET_SERVICE", 5: "NEW_DEST", 6: "SET_DEST",
    7: "DEL_DEST", 8: "GET_DEST", 9: "NEW_DAEMON", 10: "DEL_DAEMON", 11: "GET_DAEMON", 15: "GET_INFO",
    16: "ZERO", 17: "FLUSH",
}  # fmt: skip

SVC_F_PERSISTENT = 0x0001
SVC_F_HASHED = 0x0002  # internal: the kernel sets it on every service
SVC_F_ONEPACKET = 0x0004  # keepalived's "ops"
SVC_F_SCHED1 = 0x0008  # sh-fallback / mh-fallback / flag-1
SVC_F_SCHED2 = 0x0010  # sh-port / mh-port / flag-2
SVC_F_SCHED3 = 0x0020  # flag-3

_FLAG_BITS = {
    "ops": SVC_F_ONEPACKET,
    "flag-1": SVC_F_SCHED1, "sh-fallback": SVC_F_SCHED1, "mh-fallback": SVC_F_SCHED1,
    "flag-2": SVC_F_SCHED2, "sh-port": SVC_F_SCHED2, "mh-port": SVC_F_SCHED2,
    "flag-3": SVC_F_SCHED3,
    "hashed": 0,  # keepalived accepts it; the kernel sets the bit on every service by itself
}  # fmt: skip

FWD_MASQ, FWD_LOCALNODE, FWD_TUNNEL, FWD_DROUTE = 0, 1, 2, 3
_FWD = {Forward.NAT: FWD_MASQ, Forward.DR: FWD_DROUTE, Forward.TUN: FWD_TUNNEL}
_FWD_BACK = {FWD_MASQ: Forward.NAT, FWD_DROUTE: Forward.DR, FWD_TUNNEL: Forward.TUN,
             FWD_LOCALNODE: Forward.NAT}  # a local real server: the kernel picked LOCALNODE itself

TUN_TYPES = {"ipip": 0, "gue": 1, "gre": 2}
TUN_FLAGS = {"nocsum": 0, "csum": 1, "remcsum": 2}

SYNC_MASTER, SYNC_BACKUP = 1, 2
_PROTOCOLS = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP, "sctp": 132}
_PROTOCOL_NAMES = {v: k for k, v in _PROTOCOLS.items()}
_AF = {4: socket.AF_INET, 6: socket.AF_INET6}
_AF_BACK = {socket.AF_INET: 4, socket.AF_INET6: 6}


class IpvsError(RuntimeError):
    """A netlink command was refused; the message names the operation and the kernel's reason."""

    def __init__(self, what: str, code: int, hint: str = "") -> None:
        text = f"{what}: {os.strerror(code) if code > 0 else 'error'} (errno {code})"
        super().__init__(text + (f"; {hint}" if hint else ""))
        self.code = code


# ------------------------------------------------------------------------------------ messages
# Attribute layouts copied from include/uapi/linux/ip_vs.h.  Addresses and the netmask are raw bytes:
# the kernel sends 16-byte nf_inet_addr unions and reads the netmask as a __be32 that is a dotted mask
# for IPv4 but a prefix length (in host order, as ipvsadm writes it) for IPv6.


class _Stats(nla):
    nla_map = (
        ("IPVS_STATS_ATTR_UNSPEC", "none"),
        ("IPVS_STATS_ATTR_CONNS", "uint32"),
        ("IPVS_STATS_ATTR_INPKTS", "uint32"),
        ("IPVS_STATS_ATTR_OUTPKTS", "uint32"),
        ("IPVS_STATS_ATTR_INBYTES", "uint64"),
        ("IPVS_STATS_ATTR_OUTBYTES", "uint64"),
        ("IPVS_STATS_ATTR_CPS", "uint32"),
        ("IPVS_STATS_ATTR_INPPS", "uint32"),
        ("IPVS_STATS_ATTR_OUTPPS", "uint32"),
        ("IPVS_STATS_ATTR_INBPS", "uint32"),
        ("IPVS_STATS_ATTR_OUTBPS", "uint32"),
    )


class _Stats64(nla):
    nla_map = tuple((name, "uint64" if name != "IPVS_STATS_ATTR_UNSPEC" else "none")
                    for name, _ in _Stats.nla_map)


class IpvsMsg(genlmsg):
    """One IPVS generic-netlink message (commands 1..17)."""

    prefix = "IPVS_CMD_ATTR_"
    nla_map = (
        ("IPVS_CMD_ATTR_UNSPEC", "none"),
        ("IPVS_CMD_ATTR_SERVICE", "service"),
        ("IPVS_CMD_ATTR_DEST", "dest"),
        ("IPVS_CMD_ATTR_DAEMON", "daemon"),
        ("IPVS_CMD_ATTR_TIMEOUT_TCP", "uint32"),
        ("IPVS_CMD_ATTR_TIMEOUT_TCP_FIN", "uint32"),
        ("IPVS_CMD_ATTR_TIMEOUT_UDP", "uint32"),
    )

    class service(nla):
        prefix = "IPVS_SVC_ATTR_"
        nla_map = (
            ("IPVS_SVC_ATTR_UNSPEC", "none"),
            ("IPVS_SVC_ATTR_AF", "uint16"),
            ("IPVS_SVC_ATTR_PROTOCOL", "uint16"),
            ("IPVS_SVC_ATTR_ADDR", "cdata"),
            ("IPVS_SVC_ATTR_PORT", "be16"),
            ("IPVS_SVC_ATTR_FWMARK", "uint32"),
            ("IPVS_SVC_ATTR_SCHED_NAME", "asciiz"),
            ("IPVS_SVC_ATTR_FLAGS", "flags"),
            ("IPVS_SVC_ATTR_TIMEOUT", "uint32"),
            ("IPVS_SVC_ATTR_NETMASK", "cdata"),
            ("IPVS_SVC_ATTR_STATS", "stats"),
            ("IPVS_SVC_ATTR_PE_NAME", "asciiz"),
            ("IPVS_SVC_ATTR_STATS64", "stats64"),
        )

        class flags(nla):
            fields = (("flags", "I"), ("mask", "I"))

        stats = _Stats
        stats64 = _Stats64

    class dest(nla):
        prefix = "IPVS_DEST_ATTR_"
        nla_map = (
            ("IPVS_DEST_ATTR_UNSPEC", "none"),
            ("IPVS_DEST_ATTR_ADDR", "cdata"),
            ("IPVS_DEST_ATTR_PORT", "be16"),
            ("IPVS_DEST_ATTR_FWD_METHOD", "uint32"),
            ("IPVS_DEST_ATTR_WEIGHT", "uint32"),
            ("IPVS_DEST_ATTR_U_THRESH", "uint32"),
            ("IPVS_DEST_ATTR_L_THRESH", "uint32"),
            ("IPVS_DEST_ATTR_ACTIVE_CONNS", "uint32"),
            ("IPVS_DEST_ATTR_INACT_CONNS", "uint32"),
            ("IPVS_DEST_ATTR_PERSIST_CONNS", "uint32"),
            ("IPVS_DEST_ATTR_STATS", "stats"),
            ("IPVS_DEST_ATTR_ADDR_FAMILY", "uint16"),
            ("IPVS_DEST_ATTR_STATS64", "stats64"),
            ("IPVS_DEST_ATTR_TUN_TYPE", "uint8"),
            ("IPVS_DEST_ATTR_TUN_PORT", "be16"),
            ("IPVS_DEST_ATTR_TUN_FLAGS", "uint16"),
        )

        stats = _Stats
        stats64 = _Stats64

    class daemon(nla):
        prefix = "IPVS_DAEMON_ATTR_"
        nla_map = (
            ("IPVS_DAEMON_ATTR_UNSPEC", "none"),
            ("IPVS_DAEMON_ATTR_STATE", "uint32"),
            ("IPVS_DAEMON_ATTR_MCAST_IFN", "asciiz"),
            ("IPVS_DAEMON_ATTR_SYNC_ID", "uint32"),
            ("IPVS_DAEMON_ATTR_SYNC_MAXLEN", "uint16"),
            ("IPVS_DAEMON_ATTR_MCAST_GROUP", "cdata"),
            ("IPVS_DAEMON_ATTR_MCAST_GROUP6", "cdata"),
            ("IPVS_DAEMON_ATTR_MCAST_PORT", "uint16"),
            ("IPVS_DAEMON_ATTR_MCAST_TTL", "uint8"),
        )


class IpvsInfoMsg(genlmsg):
    """The GET_INFO reply: its attributes share numbers with SERVICE/DEST, hence a class of its own."""

    prefix = "IPVS_INFO_ATTR_"
    nla_map = (
        ("IPVS_INFO_ATTR_UNSPEC", "none"),
        ("IPVS_INFO_ATTR_VERSION", "uint32"),
        ("IPVS_INFO_ATTR_CONN_TAB_SIZE", "uint32"),
    )


def _addr_bytes(addr: IPAddress) -> bytes:
    return addr.packed


def _addr_from(raw: bytes, family: int) -> IPAddress:
    return ipaddress.IPv4Address(raw[:4]) if family == 4 else ipaddress.IPv6Address(raw[:16])


def _netmask_bytes(family: int, prefix: int | None) -> bytes:
    if family == 6:
        return struct.pack("=I", 128 if prefix is None else prefix)
    return ipaddress.IPv4Network(f"0.0.0.0/{32 if prefix is None else prefix}").netmask.packed


def _netmask_from(raw: bytes, family: int) -> int | None:
    if family == 6:
        prefix = struct.unpack("=I", raw[:4])[0]
        return None if prefix in (0, 128) else prefix
    value = int.from_bytes(raw[:4], "big")
    prefix = bin(value).count("1")
    return None if prefix == 32 else prefix


def service_flag_bits(svc: Service) -> int:
    """The kernel's flag word for ``svc`` (persistence is a flag there, not only a timeout)."""
    bits = SVC_F_PERSISTENT if svc.persistence_timeout else 0
    for name in svc.flags:
        try:
            bits |= _FLAG_BITS[name.lower()]
        except KeyError:
            raise ValueError(f"{svc.key}: unknown scheduler flag {name!r}") from None
    return bits


def flag_names(scheduler: str, bits: int) -> frozenset[str]:
    """Flag bits as keepalived's words: sh-*/mh-* for sh and mh, flag-N for other schedulers."""
    names = set()
    word = {"sh": "sh", "mh": "mh"}.get(scheduler)
    if bits & SVC_F_ONEPACKET:
        names.add("ops")
    if bits & SVC_F_SCHED1:
        names.add(f"{word}-fallback" if word else "flag-1")
    if bits & SVC_F_SCHED2:
        names.add(f"{word}-port" if word else "flag-2")
    if bits & SVC_F_SCHED3:
        names.add("flag-3")
    return frozenset(names)


def canonical_flags(scheduler: str, flags: Iterable[str]) -> frozenset[str]:
    """The flag set :meth:`IpvsDataPlane.observe` will read back for these configured flags.

    The kernel stores bits, not words (``flag-1`` and ``sh-fallback`` are one bit; ``hashed`` is not
    stored at all), so a desired table should be built with canonical flags or every reconcile would
    see a difference.
    """
    bits = 0
    for name in flags:
        bits |= _FLAG_BITS.get(name.lower(), 0)
    return flag_names(scheduler, bits)


def service_attrs(key: ServiceKey) -> list[tuple[str, Any]]:
    """The attributes that identify a service (what DEL_SERVICE and the DEST commands carry)."""
    attrs: list[tuple[str, Any]] = [("IPVS_SVC_ATTR_AF", _AF[key.family])]
    if key.protocol == "fwm":
        attrs.append(("IPVS_SVC_ATTR_FWMARK", key.fwmark))
    else:
        assert key.addr is not None
        attrs += [("IPVS_SVC_ATTR_PROTOCOL", _PROTOCOLS[key.protocol]),
                  ("IPVS_SVC_ATTR_ADDR", _addr_bytes(key.addr)),
                  ("IPVS_SVC_ATTR_PORT", key.port)]
    return attrs


def full_service_attrs(svc: Service) -> list[tuple[str, Any]]:
    """Identity plus settings: what NEW_SERVICE and SET_SERVICE carry (the kernel wants them all)."""
    return [*service_attrs(svc.key),
            ("IPVS_SVC_ATTR_SCHED_NAME", svc.scheduler),
            ("IPVS_SVC_ATTR_FLAGS", {"flags": service_flag_bits(svc), "mask": 0xFFFFFFFF}),
            ("IPVS_SVC_ATTR_TIMEOUT", svc.persistence_timeout),
            ("IPVS_SVC_ATTR_NETMASK", _netmask_bytes(svc.key.family, svc.persistence_netmask))]


def dest_attrs(dest: Destination) -> list[tuple[str, Any]]:
    """A destination as NEW_DEST/SET_DEST carry it (forwarding method always explicit: NAT is 0)."""
    attrs: list[tuple[str, Any]] = [
        ("IPVS_DEST_ATTR_ADDR", _addr_bytes(dest.key.addr)),
        ("IPVS_DEST_ATTR_PORT", dest.key.port),
        ("IPVS_DEST_ATTR_ADDR_FAMILY", _AF[dest.key.addr.version]),
        ("IPVS_DEST_ATTR_FWD_METHOD", _FWD[dest.forward]),
        ("IPVS_DEST_ATTR_WEIGHT", dest.weight),
        ("IPVS_DEST_ATTR_U_THRESH", dest.u_threshold),
        ("IPVS_DEST_ATTR_L_THRESH", dest.l_threshold),
    ]
    if dest.forward is Forward.TUN:
        # the model grows tunnel fields later (config has them); send them only when not plain ipip,
        # so kernels older than 5.2 (no GUE/GRE) still accept every TUN destination they can do
        tun_type = _word(getattr(dest, "tunnel_type", None), "ipip")
        if tun_type != "ipip":
            checksum = _word(getattr(dest, "tunnel_checksum", None), "nocsum")
            attrs += [("IPVS_DEST_ATTR_TUN_TYPE", TUN_TYPES[tun_type]),
                      ("IPVS_DEST_ATTR_TUN_PORT", int(getattr(dest, "tunnel_port", 0))),
                      ("IPVS_DEST_ATTR_TUN_FLAGS", TUN_FLAGS[checksum])]
    return attrs


def _word(value: Any, default: str) -> str:
    """An enum member or a string as its lower-case word."""
    if value is None:
        return default
    return str(getattr(value, "value", value)).lower()


def make_msg(cmd: int, *, service: list[tuple[str, Any]] | None = None,
             dest: list[tuple[str, Any]] | None = None,
             daemon: list[tuple[str, Any]] | None = None) -> IpvsMsg:
    """A request message; pure (no socket), so encoding is testable without a kernel."""
    msg = IpvsMsg()
    msg["cmd"] = cmd
    msg["version"] = GENL_VERSION
    attrs: list[tuple[str, Any]] = []
    if service is not None:
        attrs.append(("IPVS_CMD_ATTR_SERVICE", {"attrs": service}))
    if dest is not None:
        attrs.append(("IPVS_CMD_ATTR_DEST", {"attrs": dest}))
    if daemon is not None:
        attrs.append(("IPVS_CMD_ATTR_DAEMON", {"attrs": daemon}))
    msg["attrs"] = attrs
    return msg


def op_message(op: Op) -> IpvsMsg:
    """The one netlink command that carries out a reconciler operation."""
    if isinstance(op, AddService):
        return make_msg(CMD_NEW_SERVICE, service=full_service_attrs(op.service))
    if isinstance(op, EditService):
        return make_msg(CMD_SET_SERVICE, service=full_service_attrs(op.service))
    if isinstance(op, DelService):
        return make_msg(CMD_DEL_SERVICE, service=service_attrs(op.key))
    if isinstance(op, AddDest):
        return make_msg(CMD_NEW_DEST, service=service_attrs(op.service), dest=dest_attrs(op.dest))
    if isinstance(op, EditDest):
        return make_msg(CMD_SET_DEST, service=service_attrs(op.service), dest=dest_attrs(op.dest))
    if isinstance(op, DelDest):
        key = op.key
        return make_msg(CMD_DEL_DEST, service=service_attrs(op.service),
                        dest=[("IPVS_DEST_ATTR_ADDR", _addr_bytes(key.addr)),
                              ("IPVS_DEST_ATTR_PORT", key.port),
                              ("IPVS_DEST_ATTR_ADDR_FAMILY", _AF[key.addr.version])])
    raise TypeError(f"not a reconciler operation: {op!r}")


# ------------------------------------------------------------------------------------ decoding


def _attrs(obj: Any) -> dict[str, Any]:
    return dict(obj["attrs"]) if obj is not None else {}


def _stats(attrs: dict[str, Any]) -> tuple[Counters, Rates]:
    raw = attrs.get("IPVS_SVC_ATTR_STATS64") or attrs.get("IPVS_DEST_ATTR_STATS64") \
        or attrs.get("IPVS_SVC_ATTR_STATS") or attrs.get("IPVS_DEST_ATTR_STATS")
    s = _attrs(raw)

    def g(name: str) -> int:
        return int(s.get(f"IPVS_STATS_ATTR_{name}", 0) or 0)

    return (Counters(g("CONNS"), g("INPKTS"), g("OUTPKTS"), g("INBYTES"), g("OUTBYTES")),
            Rates(g("CPS"), g("INPPS"), g("OUTPPS"), g("INBPS"), g("OUTBPS")))


def decode_service(attrs: dict[str, Any]) -> Service:
    """A dumped service's key and settings (destinations are dumped separately)."""
    family = _AF_BACK[attrs["IPVS_SVC_ATTR_AF"]]
    if attrs.get("IPVS_SVC_ATTR_FWMARK"):
        key = ServiceKey.mark(attrs["IPVS_SVC_ATTR_FWMARK"], family)
    else:
        proto = attrs["IPVS_SVC_ATTR_PROTOCOL"]
        key = ServiceKey(_PROTOCOL_NAMES.get(proto, str(proto)),
                         _addr_from(attrs["IPVS_SVC_ATTR_ADDR"], family), attrs["IPVS_SVC_ATTR_PORT"],
                         0, family)
    scheduler = attrs.get("IPVS_SVC_ATTR_SCHED_NAME", "")
    bits = attrs["IPVS_SVC_ATTR_FLAGS"]["flags"] if "IPVS_SVC_ATTR_FLAGS" in attrs else 0
    persistent = bool(bits & SVC_F_PERSISTENT)
    mask = _netmask_from(attrs["IPVS_SVC_ATTR_NETMASK"], family) if "IPVS_SVC_ATTR_NETMASK" in attrs else None
    return Service(key, scheduler, flag_names(scheduler, bits),
                   attrs.get("IPVS_SVC_ATTR_TIMEOUT", 0) if persistent else 0,
                   mask if persistent else None)


_DEST_FIELDS = frozenset(f.name for f in dataclasses.fields(Destination))


def decode_dest(attrs: dict[str, Any], service_family: int) -> Destination:
    fam = attrs.get("IPVS_DEST_ATTR_ADDR_FAMILY")
    family = _AF_BACK.get(fam, service_family) if fam is not None else service_family
    fwd = attrs.get("IPVS_DEST_ATTR_FWD_METHOD", FWD_MASQ) & 0x7
    kw: dict[str, Any] = {
        "key": DestKey(_addr_from(attrs["IPVS_DEST_ATTR_ADDR"], family), attrs["IPVS_DEST_ATTR_PORT"]),
        "weight": attrs.get("IPVS_DEST_ATTR_WEIGHT", 0),
        "forward": _FWD_BACK.get(fwd, Forward.DR),
        "u_threshold": attrs.get("IPVS_DEST_ATTR_U_THRESH", 0),
        "l_threshold": attrs.get("IPVS_DEST_ATTR_L_THRESH", 0),
    }
    if "tunnel_type" in _DEST_FIELDS and kw["forward"] is Forward.TUN:  # once the model has them
        kw["tunnel_type"] = {v: k for k, v in TUN_TYPES.items()}.get(attrs.get("IPVS_DEST_ATTR_TUN_TYPE", 0))
        kw["tunnel_port"] = attrs.get("IPVS_DEST_ATTR_TUN_PORT", 0)
        kw["tunnel_checksum"] = {v: k for k, v in TUN_FLAGS.items()}.get(
            attrs.get("IPVS_DEST_ATTR_TUN_FLAGS", 0), "nocsum")
    return Destination(**{k: v for k, v in kw.items() if k in _DEST_FIELDS})


# ------------------------------------------------------------------------------------ counters


@dataclass(frozen=True, slots=True)
class IpvsInfo:
    """GET_INFO: what the ``IP Virtual Server version 1.2.1 (size=4096)`` header says."""

    version: str
    conn_tab_size: int


# ------------------------------------------------------------------------------------ availability


@dataclass(frozen=True, slots=True)
class Availability:
    """Whether IPVS can be used here, and why (or why not): true in a boolean context when usable."""

    ok: bool
    reason: str

    def __bool__(self) -> bool:
        return self.ok


PROC_IP_VS = Path("/proc/net/ip_vs")


def available(*, load: bool = True) -> Availability:
    """Is ip_vs loaded, or loadable with ``modprobe ip_vs`` (tried when ``load`` and we are root)?"""
    if PROC_IP_VS.exists():
        return Availability(True, "ip_vs is loaded (/proc/net/ip_vs exists)")
    if not load:
        return Availability(False, "ip_vs is not loaded (no /proc/net/ip_vs)")
    modprobe = shutil.which("modprobe") or ("/sbin/modprobe" if Path("/sbin/modprobe").exists() else None)
    if os.geteuid() != 0:
        return Availability(False, "ip_vs is not loaded and loading it needs root (modprobe ip_vs)")
    if modprobe is None:
        return Availability(False, "ip_vs is not loaded and modprobe is not installed (package kmod)")
    try:
        cp = subprocess.run([modprobe, "ip_vs"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return Availability(False, f"ip_vs is not loaded and modprobe ip_vs failed: {e}")
    if PROC_IP_VS.exists():
        return Availability(True, "ip_vs was loadable (modprobe ip_vs succeeded)")
    err = (cp.stderr or cp.stdout).strip() or f"exit {cp.returncode}"
    return Availability(False, f"this kernel has no ip_vs (modprobe ip_vs: {err})")


# ------------------------------------------------------------------------------------ socket


class IpvsSocket:
    """The generic-netlink socket, opened lazily; every command goes through :meth:`command`."""

    def __init__(self) -> None:
        self._sock: GenericNetlinkSocket | None = None
        #: commands sent, by name (GET_* dumps included): tests count operations with it
        self.sent: list[str] = []

    def _socket(self) -> GenericNetlinkSocket:
        if self._sock is None:
            sock = GenericNetlinkSocket()
            try:
                sock.bind(GENL_NAME, IpvsMsg)
            except NetlinkError as e:
                sock.close()
                raise IpvsError("generic netlink family IPVS", e.code,
                                "the kernel has no ip_vs (modprobe ip_vs)") from e
            self._sock = sock
        return self._sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def command(self, msg: IpvsMsg, what: str, *, create: bool = False) -> None:
        """Send one command and wait for the kernel's ack."""
        sock = self._socket()
        flags = NLM_F_REQUEST | NLM_F_ACK | (NLM_F_CREATE | NLM_F_EXCL if create else 0)
        self.sent.append(CMD_NAMES.get(msg["cmd"], str(msg["cmd"])))
        try:
            sock.nlm_request(msg, msg_type=sock.prid, msg_flags=flags)
        except NetlinkError as e:
            raise IpvsError(what, e.code, _hint(msg["cmd"], e.code, msg)) from e

    def get(self, msg: IpvsMsg, what: str) -> list[Any]:
        """One GET request (not a dump): the kernel's replies."""
        sock = self._socket()
        self.sent.append(CMD_NAMES.get(msg["cmd"], str(msg["cmd"])))
        try:
            return list(sock.nlm_request(msg, msg_type=sock.prid, msg_flags=NLM_F_REQUEST | NLM_F_ACK))
        except NetlinkError as e:
            raise IpvsError(what, e.code) from e

    def dump(self, msg: IpvsMsg, what: str) -> list[Any]:
        sock = self._socket()
        self.sent.append(CMD_NAMES.get(msg["cmd"], str(msg["cmd"])))
        try:
            return list(sock.nlm_request(msg, msg_type=sock.prid, msg_flags=NLM_F_REQUEST | NLM_F_DUMP))
        except NetlinkError as e:
            raise IpvsError(what, e.code) from e

    def info(self) -> IpvsInfo:
        """GET_INFO on a short-lived socket parsing replies as :class:`IpvsInfoMsg`."""
        sock = GenericNetlinkSocket()
        try:
            sock.bind(GENL_NAME, IpvsInfoMsg)
            self.sent.append("GET_INFO")
            msg = IpvsInfoMsg()
            msg["cmd"] = CMD_GET_INFO
            msg["version"] = GENL_VERSION
            replies = list(sock.nlm_request(msg, msg_type=sock.prid, msg_flags=NLM_F_REQUEST | NLM_F_ACK))
        except NetlinkError as e:
            raise IpvsError("get IPVS info", e.code) from e
        finally:
            sock.close()
        for r in replies:
            v = r.get_attr("IPVS_INFO_ATTR_VERSION")
            if v is not None:
                return IpvsInfo(f"{v >> 16}.{(v >> 8) & 0xFF}.{v & 0xFF}",
                                r.get_attr("IPVS_INFO_ATTR_CONN_TAB_SIZE") or 0)
        raise IpvsError("get IPVS info", errno.EPROTO, "no reply")


def _hint(cmd: int, code: int, msg: IpvsMsg) -> str:
    if cmd in (CMD_NEW_SERVICE, CMD_SET_SERVICE) and code == errno.ENOENT:
        svc = dict(msg.get_attr("IPVS_CMD_ATTR_SERVICE")["attrs"])
        name = svc.get("IPVS_SVC_ATTR_SCHED_NAME")
        if cmd == CMD_NEW_SERVICE or name:
            return f"scheduler {name!r} is not available in this kernel (modprobe ip_vs_{name})"
    if code == errno.EEXIST:
        return "it exists already (the table changed behind our back: observe() again)"
    if code == errno.ESRCH:
        return "it does not exist (the table changed behind our back: observe() again)"
    return ""


# ------------------------------------------------------------------------------------ data plane


def _addr_order(addr: IPAddress | None) -> tuple[int, int]:
    return (0, 0) if addr is None else (addr.version, int(addr))


def _service_order(svc: Service) -> tuple[Any, ...]:
    """The model's key order, also defined when IPv4 and IPv6 keys meet (the dataclass order raises)."""
    k = svc.key
    return (k.protocol, _addr_order(k.addr), k.port, k.fwmark, k.family)


def _dest_order(d: Destination) -> tuple[Any, ...]:
    return (_addr_order(d.key.addr), d.key.port)



#: observe() reads the whole table at least this often (the /proc listing shows neither scheduler flags
#: nor thresholds, so a hand edit of those is repaired within this period)
FULL_READ_INTERVAL = 30.0
#: the kernel's listing of the calling thread's namespace (/proc/net follows the process, not the thread)
PROC_TABLE = "/proc/thread-self/net/ip_vs"
#: a destination line's connection columns (ActiveConn InActConn): they move all the time
_CONN_COLUMNS = re.compile(r"^(  -> \S+\s+\S+\s+\S+)\s+\d+\s+\d+\s*$", re.MULTILINE)


def table_fingerprint(listing: str) -> str:
    """``/proc/net/ip_vs`` without the connection columns: equal as long as nobody changed a service or a
    destination's address, forwarding method or weight."""
    return _CONN_COLUMNS.sub(r"\1", listing)


class IpvsDataPlane:
    """observe() / apply(ops) / counters() over the kernel's IPVS table.

    IPVS has one table per network namespace, shared with every other program that uses it (kube-proxy,
    a hand-made ``ipvsadm -A``, another keepalived).  With ``scoped`` (what the daemon uses) this data
    plane sees and changes only the services it owns: those it was asked to :meth:`claim` (the
    configuration's, which adopts a service of the same address left by a previous run, as keepalived
    does) and keeps owning until it deletes them, so a service removed from the configuration by a reload
    is still removed.  Anything else in the kernel is left alone, on every reconcile and on stop.
    Unscoped (tools and tests), it sees the whole table.
    """

    name = "ipvs"
    capabilities = Capabilities(
        forwarding=frozenset({Forward.NAT, Forward.DR, Forward.TUN}),
        protocols=frozenset({"tcp", "udp", "sctp", "fwm"}),
        schedulers=frozenset({"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf",
                              "mh", "twos"}),
        native_persistence=True, service_counters=True, shared_table=True, needs_root=True,
        count_schedulers=frozenset())

    def __init__(self, sock: IpvsSocket | None = None, *, scoped: bool = False,
                 full_read_interval: float = FULL_READ_INTERVAL, proc_table: str | None = PROC_TABLE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.sock = sock or IpvsSocket()
        self.scoped = scoped
        self.owned: set[ServiceKey] = set()
        self.full_read_interval = full_read_interval
        self.proc_table = proc_table
        self._clock = clock
        #: every service of the kernel's table (others' too) as last read, with their counters; None:
        #: not known (read everything on the next observe)
        self._cache: dict[ServiceKey, Service] | None = None
        self._svc_counters: dict[ServiceKey, tuple[Counters, Rates]] = {}
        self._dest_counters: dict[ServiceKey, dict[DestKey, DestCounters]] = {}
        #: the /proc listing's fingerprint when the cache was last known to be the kernel's table
        self._cache_fp: str | None = None
        #: services our apply() changed since: re-read (alone) by the next observe
        self._stale: set[ServiceKey] = set()
        self._full_at = -float("inf")
        self._view: tuple[tuple[int, int], Table] | None = None
        self._version = 0
        #: observe() answered from memory / re-read the services we changed / read the whole table
        self.reads_skipped = 0
        self.reads_partial = 0
        self.reads_full = 0

    def claim(self, keys: Iterable[ServiceKey]) -> None:
        """Own these services from now on (the configuration's): observe() shows them, diffs may change them."""
        self.owned.update(keys)

    def open(self) -> None:
        """Nothing to create: the kernel's IPVS table exists wherever ip_vs is loaded."""

    def canonical(self, table: Table) -> Table:
        """IPVS keeps scheduler flags as bits: the names it reads back for each (see canonical_flags)."""
        return Table(tuple(dataclasses.replace(svc, flags=canonical_flags(svc.scheduler, svc.flags))
                           for svc in normal_form(table).services))

    def release(self, *, everything: bool = False) -> None:
        """Delete the services this data plane owns; other programs' services stay, unless ``everything``
        (``ipvsadm -C``: keepalived's lvs_flush / lvs_flush_on_stop)."""
        if everything:
            self.flush()
            return
        self.apply(diff(Table(), self.observe()))

    def maintain(self, counters: TableCounters) -> None:
        """Nothing to do: the kernel's schedulers read their connection counts themselves
        (``capabilities.count_schedulers`` is empty)."""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> IpvsDataPlane:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- observe -------------------------------------------------------------------------------
    def observe(self) -> Table:
        """The kernel's table (of the services we own, when scoped): from memory while the /proc listing
        is what it was at the last read and the last full read is younger than ``full_read_interval``;
        the services our own operations touched since are read again alone; anything else reads all."""
        fp = self._fingerprint()
        if (self._cache is not None and fp is not None
                and self._clock() - self._full_at < self.full_read_interval):
            if self._stale:  # apply() found the listing unchanged before it ran: only ours moved since
                for key in sorted(self._stale, key=lambda k: k.sort_key()):
                    self._read_service(key)
                self._stale.clear()
                self._cache_fp = fp
                self._version += 1
                self.reads_partial += 1
                return self._table()
            if fp == self._cache_fp:
                self.reads_skipped += 1
                return self._table()
        self._read_all(fp)
        return self._table()

    def _fingerprint(self) -> str | None:
        if self.proc_table is None:
            return None
        try:
            with open(self.proc_table, encoding="ascii", errors="replace") as f:
                return table_fingerprint(f.read())
        except OSError:  # no ip_vs in this namespace's /proc, or no /proc: read in full every time
            return None

    def _read_all(self, fp: str | None) -> None:
        """Dump every service and its destinations (and their counters); remember them with ``fp``."""
        cache: dict[ServiceKey, Service] = {}
        self._svc_counters, self._dest_counters = {}, {}
        for reply in self.sock.dump(make_msg(CMD_GET_SERVICE), "dump IPVS services"):
            sattrs = _attrs(reply.get_attr("IPVS_CMD_ATTR_SERVICE"))
            if sattrs:
                svc = decode_service(sattrs)
                cache[svc.key] = self._with_dests(svc, sattrs)
        self._cache, self._cache_fp = cache, fp
        self._stale.clear()
        self._full_at = self._clock()
        self._version += 1
        self.reads_full += 1

    def _read_service(self, key: ServiceKey) -> None:
        """Read one service again (GET_SERVICE and its destinations), or forget it if it is gone."""
        assert self._cache is not None
        try:
            replies = self.sock.get(make_msg(CMD_GET_SERVICE, service=service_attrs(key)), f"get service {key}")
        except IpvsError as e:
            if e.code not in (errno.ESRCH, errno.ENOENT):
                raise
            replies = []
        for reply in replies:
            sattrs = _attrs(reply.get_attr("IPVS_CMD_ATTR_SERVICE"))
            if sattrs:
                self._cache[key] = self._with_dests(decode_service(sattrs), sattrs)
                return
        self._cache.pop(key, None)
        self._svc_counters.pop(key, None)
        self._dest_counters.pop(key, None)

    def _with_dests(self, svc: Service, sattrs: dict[str, Any]) -> Service:
        """``svc`` with its destinations dumped; their counters (and the service's) remembered."""
        self._svc_counters[svc.key] = _stats(sattrs)
        dests = []
        counters: dict[DestKey, DestCounters] = {}
        dump = make_msg(CMD_GET_DEST, service=service_attrs(svc.key))
        for dreply in self.sock.dump(dump, f"dump destinations of {svc.key}"):
            dattrs = _attrs(dreply.get_attr("IPVS_CMD_ATTR_DEST"))
            if not dattrs:
                continue
            d = decode_dest(dattrs, svc.key.family)
            dests.append(d)
            st, rt = _stats(dattrs)
            counters[d.key] = DestCounters(
                dattrs.get("IPVS_DEST_ATTR_ACTIVE_CONNS", 0), dattrs.get("IPVS_DEST_ATTR_INACT_CONNS", 0),
                dattrs.get("IPVS_DEST_ATTR_PERSIST_CONNS", 0), st, rt)
        self._dest_counters[svc.key] = counters
        return dataclasses.replace(svc, destinations=tuple(sorted(dests, key=_dest_order)))

    def _visible(self, key: ServiceKey) -> bool:
        return not self.scoped or key in self.owned

    def _table(self) -> Table:
        """The remembered table as observe() returns it (sorted; only what we own when scoped)."""
        assert self._cache is not None
        stamp = (self._version, len(self.owned))  # owned only grows between our own changes
        if self._view is None or self._view[0] != stamp:
            services = [svc for key, svc in self._cache.items() if self._visible(key)]
            self._view = (stamp, Table(tuple(sorted(services, key=_service_order))))
        return self._view[1]

    # -- apply ---------------------------------------------------------------------------------
    def apply(self, ops: list[Op]) -> None:
        """One netlink command per operation, in the reconciler's order; stops at the first refusal.

        When the /proc listing is still what observe() last saw, the next observe() re-reads only the
        services touched here; otherwise (someone else changed the table meanwhile) it reads them all."""
        if not ops:
            return
        if self._cache is not None and (self._stale or self._fingerprint() != self._cache_fp):
            self._cache = None
        try:
            for op in ops:
                msg = op_message(op)
                self.sock.command(msg, str(op), create=isinstance(op, AddService | AddDest))
                if isinstance(op, AddService):
                    self.owned.add(op.service.key)
                elif isinstance(op, DelService):
                    self.owned.discard(op.key)
                self._stale.add(op.service.key if isinstance(op, AddService | EditService)
                                else op.key if isinstance(op, DelService) else op.service)
        except BaseException:
            self._cache = None  # refused half way: read everything again
            raise
        finally:
            self._version += 1

    def flush(self) -> None:
        """``ipvsadm -C``: remove every service (only on an explicit request, e.g. lvs_flush)."""
        self._cache = None
        self.sock.command(make_msg(CMD_FLUSH), "flush the IPVS table")

    def zero(self, key: ServiceKey | None = None) -> None:
        """``ipvsadm -Z``: zero the counters of one service, or of all."""
        msg = make_msg(CMD_ZERO, service=service_attrs(key)) if key is not None else make_msg(CMD_ZERO)
        self.sock.command(msg, f"zero counters of {key or 'all services'}")

    # -- counters ------------------------------------------------------------------------------
    def counters(self, refresh: bool = True) -> TableCounters:
        """Connection counts, cumulative counters and rates of every service and real server: the whole
        table is dumped (which also refreshes what observe() remembers); ``refresh=False``: as read by
        the last dump."""
        if refresh or self._cache is None:
            self._read_all(self._fingerprint())
        dests = {(skey, dkey): c for skey, per in self._dest_counters.items() if self._visible(skey)
                 for dkey, c in per.items()}
        services = {k: v for k, v in self._svc_counters.items() if self._visible(k)}
        return TableCounters(dests, services)

    def connection_counts(self) -> Counts:
        """ActiveConn / InActConn per (service, destination): the nftables data plane's shape."""
        return self.counters(refresh=True).connection_counts()

    def info(self) -> IpvsInfo:
        return self.sock.info()


# ------------------------------------------------------------------------------------ sync daemon


@dataclass(frozen=True, slots=True)
class SyncDaemonConfig:
    """keepalived's ``lvs_sync_daemon IF [inst I] [id N] [maxlen N] [port N] [ttl N] [group IP]``.

    Unset values are left to the kernel's defaults (syncid 0, maxlen from the MTU, group 224.0.0.81 /
    ff02::8000:81, port 8848, ttl 1), as keepalived does.
    """

    interface: str
    syncid: int = 0
    maxlen: int | None = None
    port: int | None = None
    ttl: int | None = None
    group: str | None = None

    @classmethod
    def from_config(cls, cfg: Any) -> SyncDaemonConfig:
        """From ``config.model_global.LvsSyncDaemon`` (duck-typed)."""
        return cls(cfg.interface, cfg.syncid or 0, cfg.maxlen, cfg.port, cfg.ttl, cfg.group)

    def attrs(self, state: int) -> list[tuple[str, Any]]:
        attrs: list[tuple[str, Any]] = [("IPVS_DAEMON_ATTR_STATE", state),
                                        ("IPVS_DAEMON_ATTR_MCAST_IFN", self.interface),
                                        ("IPVS_DAEMON_ATTR_SYNC_ID", self.syncid)]
        if self.maxlen:
            attrs.append(("IPVS_DAEMON_ATTR_SYNC_MAXLEN", self.maxlen))
        if self.group:
            group = ipaddress.ip_address(self.group)
            name = "IPVS_DAEMON_ATTR_MCAST_GROUP" if group.version == 4 else "IPVS_DAEMON_ATTR_MCAST_GROUP6"
            attrs.append((name, group.packed))
        if self.port:
            attrs.append(("IPVS_DAEMON_ATTR_MCAST_PORT", self.port))
        if self.ttl:
            attrs.append(("IPVS_DAEMON_ATTR_MCAST_TTL", self.ttl))
        return attrs


@dataclass(frozen=True, slots=True)
class SyncDaemonStatus:
    state: str  # "master" | "backup"
    interface: str
    syncid: int


_STATE_WORD = {SYNC_MASTER: "master", SYNC_BACKUP: "backup"}


def start_sync_daemon(state: int, cfg: SyncDaemonConfig, sock: IpvsSocket | None = None) -> None:
    """Start the kernel's master (``SYNC_MASTER``) or backup (``SYNC_BACKUP``) sync thread."""
    s = sock or IpvsSocket()
    try:
        s.command(make_msg(CMD_NEW_DAEMON, daemon=cfg.attrs(state)),
                  f"start {_STATE_WORD[state]} sync daemon on {cfg.interface}")
    finally:
        if sock is None:
            s.close()


def stop_sync_daemon(state: int, sock: IpvsSocket | None = None) -> bool:
    """Stop one sync thread; False when it was not running (not an error: keepalived ignores it too)."""
    s = sock or IpvsSocket()
    try:
        s.command(make_msg(CMD_DEL_DAEMON, daemon=[("IPVS_DAEMON_ATTR_STATE", state)]),
                  f"stop {_STATE_WORD[state]} sync daemon")
        return True
    except IpvsError as e:
        if e.code == errno.ESRCH:
            return False
        raise
    finally:
        if sock is None:
            s.close()


def sync_daemons(sock: IpvsSocket | None = None) -> list[SyncDaemonStatus]:
    """The running sync threads (``ipvsadm -L --daemon``)."""
    s = sock or IpvsSocket()
    try:
        out = []
        for reply in s.dump(make_msg(CMD_GET_DAEMON), "list sync daemons"):
            d = _attrs(reply.get_attr("IPVS_CMD_ATTR_DAEMON"))
            if d:
                out.append(SyncDaemonStatus(_STATE_WORD.get(d.get("IPVS_DAEMON_ATTR_STATE", 0), "?"),
                                            d.get("IPVS_DAEMON_ATTR_MCAST_IFN", ""),
                                            d.get("IPVS_DAEMON_ATTR_SYNC_ID", 0)))
        return out
    finally:
        if sock is None:
            s.close()


def follow_vrrp_state(vrrp_state: str, cfg: SyncDaemonConfig, sock: IpvsSocket | None = None) -> None:
    """What keepalived does when the instance named by ``lvs_sync_daemon`` changes state.

    MASTER: stop the backup thread, start the master thread (``ipvs_syncd_master``); BACKUP or FAULT:
    stop the master thread, start the backup thread (``ipvs_syncd_backup``); STOP: stop both.
    """
    s = sock or IpvsSocket()
    try:
        state = vrrp_state.upper()
        if state == "MASTER":
            stop_sync_daemon(SYNC_BACKUP, s)
            _start_once(SYNC_MASTER, cfg, s)
        elif state in ("BACKUP", "FAULT"):
            stop_sync_daemon(SYNC_MASTER, s)
            _start_once(SYNC_BACKUP, cfg, s)
        else:
            stop_sync_daemon(SYNC_MASTER, s)
            stop_sync_daemon(SYNC_BACKUP, s)
    finally:
        if sock is None:
            s.close()


def run_both_sync_daemons(cfg: SyncDaemonConfig | None, sock: IpvsSocket | None = None) -> None:
    """``lvs_sync_daemon IF`` naming no VRRP instance, as keepalived 2.2.7's checker process does it
    (``checker_ipvs_syncd_needed``, ``IPVS_MASTER_BACKUP``): stop both threads, then, with ``cfg``, start the
    master and the backup thread together, so that the node sends its connections and receives the other
    nodes' (several active load balancers); ``cfg`` None only stops them (the checker's stop)."""
    s = sock or IpvsSocket()
    try:
        stop_sync_daemon(SYNC_MASTER, s)
        stop_sync_daemon(SYNC_BACKUP, s)
        if cfg is not None:
            _start_once(SYNC_MASTER, cfg, s)
            _start_once(SYNC_BACKUP, cfg, s)
    finally:
        if sock is None:
            s.close()


def _start_once(state: int, cfg: SyncDaemonConfig, sock: IpvsSocket) -> None:
    try:
        start_sync_daemon(state, cfg, sock)
    except IpvsError as e:
        if e.code != errno.EEXIST:  # already running (e.g. BACKUP -> FAULT -> BACKUP)
            raise
        log.debug("%s sync daemon already running", _STATE_WORD[state])


def iter_ops_messages(ops: Iterable[Op]) -> Iterator[IpvsMsg]:
    """The messages :meth:`IpvsDataPlane.apply` would send, for ``plan --verbose``-style output."""
    for op in ops:
        yield op_message(op)
