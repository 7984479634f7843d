"""``ipvsadm -Ln`` / ``--stats`` / ``--rate`` (``--exact``) tables, rendered from a :class:`Snapshot`.

Operators read, grep and diff ipvsadm's output, and monitoring scripts parse it, so the text is laid out
exactly as ipvsadm 1.31 (Debian's) prints it, whichever data plane runs underneath.  The layout facts
(field widths, truncation, suffixes, sort order) were read from ipvsadm's ``print_title``,
``print_service_entry``, ``print_sched_flags``, ``print_largenum`` and libipvs's ``ipvs_cmp_services`` /
``ipvs_cmp_dests``, and from the format strings in Debian's 1.31 binary; nothing here is ipvsadm's code.

Pure functions: no I/O, no clock.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
from collections.abc import Iterable

from pykeepalived.lvs.model import Destination, IPAddress, Service
from pykeepalived.status.snapshot import Counters, Rates, Snapshot, VirtualServiceStatus

_AF = {4: 2, 6: 10}  # AF_INET, AF_INET6: the service sort compares these numbers
_PROTO = {"tcp": 6, "udp": 17, "sctp": 132, "fwm": 6}  # IPPROTO_*; fwmark services carry TCP's

_SCHED_FLAG_BITS = {
    "flag-1": 1, "sh-fallback": 1, "mh-fallback": 1,
    "flag-2": 2, "sh-port": 2, "mh-port": 2,
    "flag-3": 3,
}  # fmt: skip
# How ipvsadm 1.31 names the scheduler flag bits: sh and mh have their own words for flags 1-2 and
# print nothing for flag 3; every other scheduler prints flag-1..3.
_SCHED_FLAG_NAMES = {
    "sh": {1: "sh-fallback", 2: "sh-port"},
    "mh": {1: "mh-fallback", 2: "mh-port"},
}
_GENERIC_FLAG_NAMES = {1: "flag-1", 2: "flag-2", 3: "flag-3"}


class Mode(enum.Enum):
    """Which ipvsadm listing: ``-Ln``, ``-Ln --stats`` or ``-Ln --rate``."""

    LIST = "list"
    STATS = "stats"
    RATE = "rate"


# ---------------------------------------------------------------------------------------- numbers


def largenum(n: int, exact: bool = False) -> str:
    """A counter as ipvsadm's print_largenum: 9 columns, K/M/G/T (decimal, truncated) past 10^8."""
    if exact:
        text = str(n)
        return text.rjust(9 if len(text) <= 8 else len(text) + 1)
    if n < 100_000_000:
        return f"{n:9d}"
    for limit, div, suffix in (
        (1_000_000_000, 1_000, "K"),
        (100_000_000_000, 1_000_000, "M"),
        (100_000_000_000_000, 1_000_000_000, "G"),
    ):
        if n < limit:
            return f"{n // div:8d}{suffix}"
    return f"{n // 1_000_000_000_000:8d}T"


# ---------------------------------------------------------------------------------------- sorting


def _c_int(x: int) -> int:
    """A 32-bit unsigned difference read back as C's int, as libipvs's comparators do."""
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x & 0x80000000 else x


def _words(addr: IPAddress | None) -> tuple[int, ...]:
    if addr is None:
        return (0,)
    v = int(addr)
    if addr.version == 4:
        return (v,)
    return tuple((v >> shift) & 0xFFFFFFFF for shift in (96, 64, 32, 0))


def _cmp_addr(a: IPAddress | None, b: IPAddress | None) -> int:
    """libipvs compares addresses by subtracting host-order 32-bit words, so a difference of 2^31 or more
    wraps: 192.168.0.1 sorts *before* 10.0.0.5.  Reproduced so that the order matches ipvsadm's."""
    r = 0
    for wa, wb in zip(_words(a), _words(b), strict=False):
        r = _c_int(wa - wb)
        if r:
            break
    return r


def _cmp_services(s1: Service, s2: Service) -> int:
    # fwmark, then address family, then protocol, then address, then port (ipvs_cmp_services)
    r = _c_int(s1.key.fwmark - s2.key.fwmark)
    r = r or _AF.get(s1.key.family, 2) - _AF.get(s2.key.family, 2)
    r = r or _PROTO.get(s1.key.protocol, 0) - _PROTO.get(s2.key.protocol, 0)
    r = r or _cmp_addr(s1.key.addr, s2.key.addr)
    return r or s1.key.port - s2.key.port


def _cmp_dests(d1: Destination, d2: Destination) -> int:
    return _cmp_addr(d1.key.addr, d2.key.addr) or d1.key.port - d2.key.port


def _cmp_vs(a: VirtualServiceStatus, b: VirtualServiceStatus) -> int:
    return _cmp_services(a.service, b.service)


def sorted_services(services: Iterable[VirtualServiceStatus]) -> list[VirtualServiceStatus]:
    return sorted(services, key=functools.cmp_to_key(_cmp_vs))


def sorted_destinations(dests: Iterable[Destination]) -> list[Destination]:
    return sorted(dests, key=functools.cmp_to_key(_cmp_dests))


# ---------------------------------------------------------------------------------------- names


def _hostport(addr: IPAddress, port: int) -> str:
    # -n: numeric; IPv6 in brackets (addrport_to_anyname)
    return f"[{addr}]:{port}" if addr.version == 6 else f"{addr}:{port}"


def service_name(svc: Service) -> str:
    """The first column of a service line: ``TCP  10.0.0.5:80``, ``FWM  1``, ``FWM  1 IPv6``."""
    k = svc.key
    if k.protocol == "fwm":
        return f"FWM  {k.fwmark} IPv6" if k.family == 6 else f"FWM  {k.fwmark}"
    assert k.addr is not None
    name = f"{k.protocol.upper():<4} {_hostport(k.addr, k.port)}"
    # ipvsadm cuts IPv4 names at 33 characters (svc_name[33] = '\0'); never reached with -n
    return name if k.family == 6 else name[:33]


def dest_name(dest: Destination) -> str:
    name = _hostport(dest.key.addr, dest.key.port)
    return name if dest.key.addr.version == 6 else name[:28]


def sched_flags(svc: Service) -> str:
    """``sh-fallback,sh-port`` etc. as ipvsadm 1.31 prints them inside the parentheses ('' when none)."""
    bits = {_SCHED_FLAG_BITS[f.lower()] for f in svc.flags if f.lower() in _SCHED_FLAG_BITS}
    names = _SCHED_FLAG_NAMES.get(svc.scheduler, _GENERIC_FLAG_NAMES)
    return ",".join(names[b] for b in (1, 2, 3) if b in bits and b in names)


def _has_sched_flags(svc: Service) -> bool:
    return any(f.lower() in _SCHED_FLAG_BITS for f in svc.flags)


def _netmask_text(svc: Service) -> str | None:
    """`` mask 255.255.255.0`` (IPv4, dotted) / `` mask 64`` (IPv6, prefix) unless the whole address."""
    prefix = svc.persistence_netmask
    if prefix is None:
        return None
    if svc.key.family == 6:
        return None if prefix == 128 else str(prefix)
    if prefix == 32:
        return None
    return str(ipaddress.IPv4Network(f"0.0.0.0/{prefix}").netmask)


def service_line(svc: Service) -> str:
    """``TCP  10.0.0.5:80 wlc persistent 50`` (the default listing's service line)."""
    out = f"{service_name(svc)} {svc.scheduler}"
    if _has_sched_flags(svc):
        # 1.31 prints " (" + flags + ")" even when the set bits have no name for this scheduler
        out += f" ({sched_flags(svc)})"
    if svc.persistence_timeout:
        out += f" persistent {svc.persistence_timeout}"
        mask = _netmask_text(svc)
        if mask is not None:
            out += f" mask {mask}"
    if any(f.lower() == "ops" for f in svc.flags):
        out += " ops"
    return out


# ---------------------------------------------------------------------------------------- tables


def header(version: str = "1.2.1", size: int = 4096) -> str:
    return f"IP Virtual Server version {version} (size={size})"


def title(mode: Mode) -> list[str]:
    if mode is Mode.STATS:
        cols = ("Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
    elif mode is Mode.RATE:
        cols = ("CPS", "InPPS", "OutPPS", "InBPS", "OutBPS")
    else:
        return [
            "Prot LocalAddress:Port Scheduler Flags",
            "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
        ]
    return [f"{'Prot LocalAddress:Port':<33}" + "".join(f" {c:>8}" for c in cols), "  -> RemoteAddress:Port"]


def _stats_cells(c: Counters, exact: bool) -> str:
    return "".join(largenum(v, exact) for v in (c.conns, c.inpkts, c.outpkts, c.inbytes, c.outbytes))


def _rate_cells(r: Rates, exact: bool) -> str:
    return "".join(largenum(v, exact) for v in (r.cps, r.inpps, r.outpps, r.inbps, r.outbps))


def service_block(vs: VirtualServiceStatus, mode: Mode = Mode.LIST, exact: bool = False) -> list[str]:
    """The service line and its destination lines, destinations as the data plane holds them."""
    svc = vs.service
    if mode is Mode.STATS:
        lines = [f"{service_name(svc):<33}" + _stats_cells(vs.total_stats(), exact)]
    elif mode is Mode.RATE:
        lines = [f"{service_name(svc):<33}" + _rate_cells(vs.total_rates(), exact)]
    else:
        lines = [service_line(svc)]
    for d in sorted_destinations(svc.destinations):
        st = vs.dest_status(d.key)
        name = dest_name(d)
        if mode is Mode.STATS:
            lines.append(f"  -> {name:<28}" + _stats_cells(st.stats if st else Counters(), exact))
        elif mode is Mode.RATE:
            r = st.rates if st else Rates()
            # a destination's CPS/InPPS/OutPPS are plain %8llu (no suffix, not --exact), the byte rates are
            # print_largenum
            lines.append(
                f"  -> {name:<28} {r.cps:8d} {r.inpps:8d} {r.outpps:8d}"
                + largenum(r.inbps, exact)
                + largenum(r.outbps, exact)
            )
        else:
            active = st.active_conns if st else 0
            inactive = st.inactive_conns if st else 0
            # "  -> %-28s %-7s %-6d %-10u %-10u": left-aligned, so the line ends in spaces
            fwd = d.forward.ipvsadm
            lines.append(f"  -> {name:<28} {fwd:<7} {d.weight:<6d} {active:<10d} {inactive:<10d}")
    return lines


def render_services(
    services: Iterable[VirtualServiceStatus],
    mode: Mode = Mode.LIST,
    exact: bool = False,
    version: str = "1.2.1",
    size: int = 4096,
) -> str:
    """``ipvsadm -Ln [--stats|--rate] [--exact]`` for these services (sorted as ipvsadm sorts)."""
    lines = [header(version, size), *title(mode)]
    for vs in sorted_services(services):
        lines.extend(service_block(vs, mode, exact))
    return "\n".join(lines) + "\n"


def render(snap: Snapshot, mode: Mode = Mode.LIST, exact: bool = False) -> str:
    """The ipvsadm table of a snapshot, with the header the snapshot's data plane reports."""
    return render_services(snap.virtual_services, mode, exact, snap.ipvs_version, snap.ipvs_table_size)
