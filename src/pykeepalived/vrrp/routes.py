"""virtual_routes and virtual_rules: config lines as rtnetlink requests, applied through :class:`Netlink`.

An instance holds its routes and rules while MASTER, as its VIPs: added after the addresses (a route may
use a VIP as its source), routes before rules; removed before them, rules first (keepalived's
``vrrp_state_become_master`` / ``vrrp_restore_interface``).  The root-level ``static_routes`` and
``static_rules`` are sent the same way by the VRRP process itself (``vrrp.reload.static_changes``); a
reload replaces a static route by the new line of the same :func:`route_key` (``ip route replace``).

:func:`route_request` and :func:`rule_request` are pure: a :class:`~pykeepalived.config.model_vrrp.Route`
or :class:`~pykeepalived.config.model_vrrp.Rule` (and the interface indexes a route names) in, one
:class:`Request` out -- the message keepalived 2.2.7's ``netlink_route`` / ``netlink_rule`` sends, field
for field and attribute for attribute: metrics with their lock bits, ``tos``, ``realms``, ``pref``,
``expires``, ``ttl-propagate``, ``encap mpls|ip|ip6|ila``, multipath nexthops (weight, onlink, realms),
source routes, tables above 255, and for rules every selector ``alloc_rule`` accepts (tos, fwmark/mask,
realms, suppressors, iif/oif, tunnel id, uid range, protocol, ip protocol, port ranges, l3mdev, goto …).
The options are read back from the words the config parser kept, by the same readers the parser used
(:mod:`pykeepalived.config.route_options`, :mod:`pykeepalived.config.rule_options`).  Defaults are
keepalived's, not ``ip route``'s: scope universe whatever the route (a ``local`` route needs ``scope host``
written, as with keepalived), an add is ``ip route prepend`` unless the line says ``add`` or ``append``.

keepalived's request also leaves things out, and so does ours (logged, with what is left out, when adding):
a nexthop's encapsulation always (its writer is given no room), and the route's encapsulation or its
nexthops when they would take the message past 128 bytes (:data:`KEEPALIVED_ROOM`).  The same config thus
gives the same kernel state under either daemon (``tests/integration/test_virtual_routes_rules.py``).

The messages are encoded by pyroute2, through message classes of our own: pyroute2 0.9's ``rtmsg`` lacks
``RTA_TTL_PROPAGATE``, ``RTAX_FASTOPEN_NO_COOKIE``, the ip/ip6/ila encapsulations and a numeric
``RTA_EXPIRES``.  (They derive from pyroute2's bases, not from ``rtmsg``: pyroute2 caches a class's compiled
attribute table on the class, and a subclass of a class already used would silently inherit the parent's;
an attribute name a class does not list is dropped silently, which ``tests/unit/vrrp/test_routes.py``
guards against.)

What the kernel refuses is logged as keepalived logs it (``Netlink: error: Operation not supported(95),
type=RTM_NEWROUTE(24), seq=…, pid=…``, then the instance and the line) and the route or rule stays unset;
nothing is raised.  As keepalived, an "add" finding the same route already there (EEXIST) has succeeded; so
has, here, an add finding the same rule (keepalived logs "File exists" and leaves it); a remove finding
nothing is skipped quietly.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import os
import socket
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyroute2.netlink import NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST, nla, nlmsg
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import RTM_DELROUTE, RTM_DELRULE, RTM_NEWROUTE, RTM_NEWRULE
from pyroute2.netlink.rtnl.fibmsg import fibmsg

from pykeepalived.config.route_options import Encap, RouteOptions, find_protocol, nexthop, route_options
from pykeepalived.config.rule_options import rule_options

from .addresses import SCOPES, IPAddress, Netlink

if TYPE_CHECKING:
    from pykeepalived.config.model_vrrp import Route, Rule

log = logging.getLogger("pykeepalived.vrrp")

#: /etc/iproute2 names keepalived accepts in virtual_routes / virtual_rules
ROUTE_TABLE_IDS = {"main": 254, "local": 255, "default": 253, "unspec": 0}
ROUTE_TYPE_IDS = {"unicast": 1, "local": 2, "broadcast": 3, "brd": 3, "anycast": 4, "multicast": 5,
                  "blackhole": 6, "unreachable": 7, "prohibit": 8, "throw": 9, "nat": 10, "xresolve": 11}
#: FR_ACT_* of the rule actions (l3mdev is a table lookup with FRA_L3MDEV)
RULE_ACTION_IDS = {"table": 1, "l3mdev": 1, "goto": 2, "nop": 3, "blackhole": 6, "unreachable": 7, "prohibit": 8}
RTPROT_KEEPALIVED = 18
RT_TABLE_MAIN = 254
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_NOWHERE = 255
RTN_UNICAST = 1
RTNH_F_ONLINK = 4
FIB_RULE_INVERT = 2
RTAX_FEATURE_ECN = 1
#: RTAX_* numbers, for the lock bits (1 << RTAX_x)
RTAX = {"mtu": 2, "window": 3, "rtt": 4, "rttvar": 5, "ssthresh": 6, "cwnd": 7, "advmss": 8, "reordering": 9,
        "hoplimit": 10, "initcwnd": 11, "features": 12, "rto_min": 13, "initrwnd": 14, "quickack": 15,
        "congctl": 16, "fastopen_no_cookie": 17}
#: the bytes keepalived 2.2.7 (and 2.4) lets a route message reach when it appends the encapsulation and the
#: nexthops: both are copied in with a 128-byte buffer's size (``ENCAP_RTA_SIZE``) as the bound for the
#: whole message, and left out, silently, when they would go past it
KEEPALIVED_ROOM = 128
#: message types by number, for keepalived's log line
MESSAGE_TYPES = {RTM_NEWROUTE: "RTM_NEWROUTE", RTM_DELROUTE: "RTM_DELROUTE", RTM_NEWRULE: "RTM_NEWRULE",
                 RTM_DELRULE: "RTM_DELRULE"}


# -- message classes ------------------------------------------------------------------------------------

class _EncapMpls(nla):  # type: ignore[misc]
    """LWTUNNEL_ENCAP_MPLS: the label stack as the kernel reads it (``MPLS_IPTUNNEL_DST``)."""

    prefix = "MPLS_IPTUNNEL_"
    nla_map = ((1, "MPLS_IPTUNNEL_DST", "cdata"),)


class _EncapIp(nla):  # type: ignore[misc]
    prefix = "LWTUNNEL_IP_"
    nla_map = ((1, "LWTUNNEL_IP_ID", "be64"), (2, "LWTUNNEL_IP_DST", "ip4addr"), (3, "LWTUNNEL_IP_SRC", "ip4addr"),
               (4, "LWTUNNEL_IP_TTL", "uint8"), (5, "LWTUNNEL_IP_TOS", "uint8"), (6, "LWTUNNEL_IP_FLAGS", "uint16"))


class _EncapIla(nla):  # type: ignore[misc]
    """LWTUNNEL_ENCAP_ILA: the locator's 8 bytes in the order keepalived (and iproute2) send them."""

    prefix = "ILA_ATTR_"
    nla_map = ((1, "ILA_ATTR_LOCATOR", "cdata"),)


class _EncapIp6(nla):  # type: ignore[misc]
    prefix = "LWTUNNEL_IP6_"
    nla_map = ((1, "LWTUNNEL_IP6_ID", "be64"), (2, "LWTUNNEL_IP6_DST", "ip6addr"),
               (3, "LWTUNNEL_IP6_SRC", "ip6addr"), (4, "LWTUNNEL_IP6_HOPLIMIT", "uint8"),
               (5, "LWTUNNEL_IP6_TC", "uint8"), (6, "LWTUNNEL_IP6_FLAGS", "uint16"))


#: LWTUNNEL_ENCAP_* -> the class of its RTA_ENCAP
_ENCAP_CLASSES = {1: _EncapMpls, 2: _EncapIp, 3: _EncapIla, 4: _EncapIp6}


def _encap_class(self: Any, *argv: Any, **kwarg: Any) -> Any:
    """RTA_ENCAP's class, by the RTA_ENCAP_TYPE before it (requests put the type first)."""
    for cell in self["attrs"]:
        if cell[0] == "RTA_ENCAP_TYPE":
            return _ENCAP_CLASSES.get(cell[1], self.hex)
    return self.hex


class _Metrics(nla):  # type: ignore[misc]
    """RTA_METRICS; ``RTAX_CC_ALGO`` without a trailing NUL, as keepalived sends it."""

    prefix = "RTAX_"
    nla_map = ((1, "RTAX_LOCK", "uint32"), (2, "RTAX_MTU", "uint32"), (3, "RTAX_WINDOW", "uint32"),
               (4, "RTAX_RTT", "uint32"), (5, "RTAX_RTTVAR", "uint32"), (6, "RTAX_SSTHRESH", "uint32"),
               (7, "RTAX_CWND", "uint32"), (8, "RTAX_ADVMSS", "uint32"), (9, "RTAX_REORDERING", "uint32"),
               (10, "RTAX_HOPLIMIT", "uint32"), (11, "RTAX_INITCWND", "uint32"), (12, "RTAX_FEATURES", "uint32"),
               (13, "RTAX_RTO_MIN", "uint32"), (14, "RTAX_INITRWND", "uint32"), (15, "RTAX_QUICKACK", "uint32"),
               (16, "RTAX_CC_ALGO", "cdata"), (17, "RTAX_FASTOPEN_NO_COOKIE", "uint32"))


class _NextHop(nla):  # type: ignore[misc]
    """One ``struct rtnexthop`` of RTA_MULTIPATH and its attributes."""

    prefix = "RTA_"
    is_nla = False
    cell_header = (("length", "H"),)
    fields = (("flags", "B"), ("hops", "B"), ("oif", "i"))
    nla_map = ((5, "RTA_GATEWAY", "target"), (11, "RTA_FLOW", "uint32"), (21, "RTA_ENCAP_TYPE", "uint16"),
               (22, "RTA_ENCAP", "encap"))
    encap = staticmethod(_encap_class)


class RouteMessage(nlmsg):  # type: ignore[misc]
    """``struct rtmsg`` and the attributes keepalived sends with it."""

    prefix = "RTA_"
    fields = (("family", "B"), ("dst_len", "B"), ("src_len", "B"), ("tos", "B"), ("table", "B"), ("proto", "B"),
              ("scope", "B"), ("type", "B"), ("flags", "I"))
    nla_map = ((1, "RTA_DST", "target"), (2, "RTA_SRC", "target"), (4, "RTA_OIF", "uint32"),
               (5, "RTA_GATEWAY", "target"), (6, "RTA_PRIORITY", "uint32"), (7, "RTA_PREFSRC", "target"),
               (8, "RTA_METRICS", "metrics"), (9, "RTA_MULTIPATH", "*nexthop"), (11, "RTA_FLOW", "uint32"),
               (15, "RTA_TABLE", "uint32"), (20, "RTA_PREF", "uint8"), (21, "RTA_ENCAP_TYPE", "uint16"),
               (22, "RTA_ENCAP", "encap"), (23, "RTA_EXPIRES", "uint32"), (26, "RTA_TTL_PROPAGATE", "uint8"))
    metrics = _Metrics
    nexthop = _NextHop
    encap = staticmethod(_encap_class)


# -- requests -------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Request:
    """One rtnetlink request: its type and flags, the header's fields, the attributes in order (pyroute2
    names and values: addresses as text, nested attributes as ``{"attrs": [...]}``)."""

    type: int
    flags: int
    fields: Mapping[str, int]
    attrs: tuple[tuple[str, Any], ...]
    #: what the line asks for and the request leaves out, as keepalived's does (logged when adding)
    left_out: tuple[str, ...] = ()

    @property
    def adds(self) -> bool:
        return self.type in (RTM_NEWROUTE, RTM_NEWRULE)

    def message(self) -> nlmsg:
        """The pyroute2 message carrying it (not yet encoded)."""
        msg = RouteMessage() if self.type in (RTM_NEWROUTE, RTM_DELROUTE) else fibmsg()
        for key, value in self.fields.items():
            msg[key] = value
        msg["attrs"] = [list(attr) for attr in self.attrs]
        return msg


def _table_id(name: str | None) -> int | None:
    if name is None:
        return None
    return int(name) if name.isdigit() else ROUTE_TABLE_IDS.get(name)


def _route_type(name: str | None) -> int | None:
    """RTN_* of a route's type (a name or a number, as keepalived's ``find_rttables_rtntype``)."""
    if name is None:
        return None
    return ROUTE_TYPE_IDS[name] if name in ROUTE_TYPE_IDS else int(name, 0)


def _address(text: str, family: int) -> tuple[str, int]:
    """``10.0.0.0/8`` -> (address as written, length); ``default``/``any``/``all`` -> the zero address, length 0
    (keepalived sends it too).  As keepalived, host bits are not cleared: the kernel judges them."""
    if text in ("default", "any", "all", "default6"):
        return ("::" if family == socket.AF_INET6 else "0.0.0.0"), 0
    iface = ipaddress.ip_interface(text)
    return str(iface.ip), iface.network.prefixlen


def _encap_attrs(encap: Encap) -> list[tuple[str, Any]]:
    """RTA_ENCAP_TYPE and RTA_ENCAP of ``encap`` (keepalived's ``add_encap``)."""
    inner: list[tuple[str, Any]] = []
    if encap.kind == "mpls":
        stack = b"".join(((label << 12) | (0x100 if n == len(encap.labels) - 1 else 0)).to_bytes(4, "big")
                         for n, label in enumerate(encap.labels))
        if stack:
            inner.append(("MPLS_IPTUNNEL_DST", stack))
    elif encap.kind == "ila":
        if encap.locator is not None:
            inner.append(("ILA_ATTR_LOCATOR", encap.locator))
    else:
        pre = "LWTUNNEL_IP6_" if encap.kind == "ip6" else "LWTUNNEL_IP_"
        tos, ttl = ("TC", "HOPLIMIT") if encap.kind == "ip6" else ("TOS", "TTL")
        for key, value in (("ID", encap.id), ("DST", encap.dst), ("SRC", encap.src), (tos, encap.tos),
                           (ttl, encap.ttl), ("FLAGS", encap.flags)):
            if value is not None:
                inner.append((pre + key, str(value) if key in ("DST", "SRC") else value))
    return [("RTA_ENCAP_TYPE", encap.type), ("RTA_ENCAP", {"attrs": inner})]


def _metrics(opts: RouteOptions) -> list[tuple[str, Any]]:
    """RTA_METRICS' attributes in keepalived's order, RTAX_LOCK last (only with another metric)."""
    out: list[tuple[str, Any]] = []
    if opts.congctl is not None:
        out.append(("RTAX_CC_ALGO", opts.congctl.encode()))
    for name in ("rtt", "rttvar", "rto_min"):
        if getattr(opts, name) is not None:
            out.append((f"RTAX_{name.upper()}", getattr(opts, name)))
    if opts.ecn:
        out.append(("RTAX_FEATURES", RTAX_FEATURE_ECN))
    for name in ("mtu", "window", "ssthresh", "cwnd", "advmss", "reordering", "hoplimit", "initcwnd", "initrwnd",
                 "quickack"):
        if getattr(opts, name) is not None:
            out.append((f"RTAX_{name.upper()}", getattr(opts, name)))
    if opts.fastopen_no_cookie is not None:
        out.append(("RTAX_FASTOPEN_NO_COOKIE", int(opts.fastopen_no_cookie)))
    lock = sum(1 << RTAX[name] for name in opts.locked)
    if out and lock:
        out.append(("RTAX_LOCK", lock))
    return out


def route_devices(route: Route) -> list[str]:
    """The interfaces a route names (``dev`` and its nexthops'), whose indexes :func:`route_request` needs."""
    names = [route.dev] if route.dev else []
    for words in route.nexthops:
        dev = nexthop(words).dev
        if dev and dev not in names:
            names.append(dev)
    return names


def route_request(route: Route, ifindex: Mapping[str, int], *, add: bool = True, replace: bool = False) -> Request:
    """The RTM_NEWROUTE (``add``) or RTM_DELROUTE keepalived sends for a virtual_routes line.

    ``ifindex`` maps each of :func:`route_devices` to its index.  Defaults as keepalived's: table main,
    scope universe (nowhere when removing), type unicast, protocol keepalived (18) unless configured;
    ``add``/``append`` on the line make the add exclusive / appended, else it is ``ip route prepend``.
    ``replace``: the add is ``ip route replace`` whatever the line says (a reload's route taking the place
    of the one of the same :func:`route_key`).
    """
    family = socket.AF_INET6 if route.family == 6 else socket.AF_INET
    opts = route_options(route.options)
    route_type = _route_type(route.type)
    table = _table_id(route.table)
    table = RT_TABLE_MAIN if table is None else table
    fields = {"family": family, "dst_len": 0, "src_len": 0, "tos": opts.tos or 0,
              "table": table if table < 256 else 0,
              "proto": RTPROT_KEEPALIVED if route.protocol is None else (find_protocol(route.protocol) or 0),
              "scope": RT_SCOPE_UNIVERSE if add else RT_SCOPE_NOWHERE,
              "type": (route_type or RTN_UNICAST) if add else (route_type or 0),
              "flags": RTNH_F_ONLINK if opts.onlink else 0}
    if route.scope is not None:
        fields["scope"] = int(route.scope) if route.scope.isdigit() else SCOPES.get(route.scope, 0)
    attrs: list[tuple[str, Any]] = []
    left_out: list[str] = []
    if table >= 256:
        attrs.append(("RTA_TABLE", table))
    attrs.append(("RTA_DST", (dst := _address(route.dest, family))[0]))
    fields["dst_len"] = dst[1]
    if route.from_:
        attrs.append(("RTA_SRC", (src := _address(route.from_, family))[0]))
        fields["src_len"] = src[1]
    if route.src:
        attrs.append(("RTA_PREFSRC", route.src))
    if route.via:
        attrs.append(("RTA_GATEWAY", route.via))
    if opts.encap is not None:
        encap = _encap_attrs(opts.encap)
        if _encoded_length(fields, [*attrs, *encap]) <= KEEPALIVED_ROOM:
            attrs += encap
        else:
            left_out.append("encap")
    if route.dev:
        attrs.append(("RTA_OIF", ifindex[route.dev]))
    if route.metric is not None:
        attrs.append(("RTA_PRIORITY", route.metric))
    if opts.realms:
        attrs.append(("RTA_FLOW", opts.realms))
    if opts.expires is not None:
        attrs.append(("RTA_EXPIRES", opts.expires))
    metrics = _metrics(opts)
    if opts.pref is not None:
        attrs.append(("RTA_PREF", opts.pref))
    if opts.ttl_propagate is not None:
        attrs.append(("RTA_TTL_PROPAGATE", int(opts.ttl_propagate)))
    if metrics:
        attrs.append(("RTA_METRICS", {"attrs": metrics}))
    if route.nexthops:
        hops = ("RTA_MULTIPATH", [_hop(nexthop(words), route.family, ifindex) for words in route.nexthops])
        if _encoded_length(fields, [*attrs, hops]) <= KEEPALIVED_ROOM:
            attrs.append(hops)
        else:
            left_out.append("nexthops")
    if any(nexthop(words).encap is not None for words in route.nexthops):
        left_out.append("nexthop encap")
    flags = NLM_F_REQUEST | NLM_F_ACK
    if add and replace:
        flags |= NLM_F_CREATE | NLM_F_REPLACE
    elif add:
        flags |= NLM_F_CREATE
        if "add" in route.options or "append" in route.options:  # the last of add/prepend/append counts
            last = max((i for i, w in enumerate(route.options) if w in ("add", "prepend", "append")))
            flags |= {"add": NLM_F_EXCL, "append": NLM_F_APPEND, "prepend": 0}[route.options[last]]
    return Request(RTM_NEWROUTE if add else RTM_DELROUTE, flags, fields, tuple(attrs), tuple(left_out))


def _encoded_length(fields: Mapping[str, int], attrs: list[tuple[str, Any]]) -> int:
    """The length of a route message with these fields and attributes, as encoded (pure)."""
    msg = RouteMessage()
    for key, value in fields.items():
        msg[key] = value
    msg["attrs"] = [list(attr) for attr in attrs]
    msg.encode()
    return len(msg.data)


def _hop(hop: Any, family: int, ifindex: Mapping[str, int]) -> dict[str, Any]:
    """One ``struct rtnexthop`` (keepalived's ``add_nexthop``): weight N is sent as N - 1.

    A hop's ``encap`` is read but not sent: keepalived 2.2.7 (and 2.4) hands its encapsulation writer the
    multipath attribute's current length as the room left, so the nested attribute never fits and the hop
    is installed without it.  Sending it would route differently from keepalived with the same config."""
    attrs: list[tuple[str, Any]] = []
    if hop.via is not None and hop.via.version == family:
        attrs.append(("RTA_GATEWAY", str(hop.via)))
    if hop.realms:
        attrs.append(("RTA_FLOW", hop.realms))
    return {"flags": RTNH_F_ONLINK if hop.onlink else 0, "hops": (hop.weight - 1) & 0xFF if hop.weight else 0,
            "oif": ifindex[hop.dev] if hop.dev else 0, "attrs": [list(a) for a in attrs]}


def route_key(route: Route) -> tuple[object, ...]:
    """What keepalived compares to pair a route of the running config with one of the new on reload
    (``route_exist``): destination, tos, metric, table, scope, type, gateway, device and nexthops.  Two
    routes with the same key are one route to it, whatever else differs (source, metrics, protocol ...):
    the new one replaces the old."""
    family = socket.AF_INET6 if route.family == 6 else socket.AF_INET
    dst, dst_len = _address(route.dest, family)
    table = _table_id(route.table)
    via = route.via
    if via is not None:
        with contextlib.suppress(ValueError):
            via = str(ipaddress.ip_address(via))
    scope = route.scope
    scope_id = RT_SCOPE_UNIVERSE if scope is None else int(scope) if scope.isdigit() else SCOPES.get(scope, 0)
    return (family, dst, dst_len, route_options(route.options).tos or 0, route.metric,
            RT_TABLE_MAIN if table is None else table, scope_id, _route_type(route.type) or RTN_UNICAST, via,
            route.dev, tuple(nexthop(words) for words in route.nexthops))


def route_identity(route: Route) -> tuple[int, IPAddress, int, int, int, int, str | None]:
    """(family, destination, its length, tos, metric, table, device) of a configured route: what keepalived's
    ``route_is_ours`` compares with a route the kernel reports deleted (``addresses.RouteGone``)."""
    family = socket.AF_INET6 if route.family == 6 else socket.AF_INET
    dst, dst_len = _address(route.dest, family)
    table = _table_id(route.table)
    return (family, ipaddress.ip_address(dst), dst_len, route_options(route.options).tos or 0, route.metric or 0,
            RT_TABLE_MAIN if table is None else table, route.dev)


def rule_key(rule: Rule) -> tuple[object, ...]:
    """What keepalived compares to pair a rule of the running config with one of the new on reload
    (``rule_is_equal``: every selector and the action): the request that adds it, field for field."""
    req = rule_request(rule)
    return tuple(sorted(req.fields.items())), req.attrs


def rule_request(rule: Rule, *, add: bool = True) -> Request:
    """The RTM_NEWRULE (``add``) or RTM_DELRULE keepalived sends for a virtual_rules line.

    The protocol is keepalived's (18) unless the rule is ``no_track`` (then only a configured one is sent).
    """
    family = socket.AF_INET6 if rule.family == 6 else socket.AF_INET
    opts = rule_options(rule.options)
    action = (rule.action or "table").split()[0]
    fields = {"family": family, "dst_len": 0, "src_len": 0, "tos": opts.tos or 0, "table": 0,
              "action": RULE_ACTION_IDS.get(action, 0), "flags": FIB_RULE_INVERT if rule.invert else 0}
    attrs: list[tuple[str, Any]] = []
    if action == "table":
        table = _table_id(rule.table) or 0
        if table < 256:
            fields["table"] = table or RT_TABLE_MAIN
        else:
            attrs.append(("FRA_TABLE", table))
    for attr, text in (("FRA_SRC", rule.from_), ("FRA_DST", rule.to)):
        if text:
            attrs.append((attr, (pfx := _address(text, family))[0]))
            fields["src_len" if attr == "FRA_SRC" else "dst_len"] = pfx[1]
    attrs.append(("FRA_PRIORITY", rule.preference))
    # the selectors sent when set (realms, interfaces and tunnel id only when not 0 or empty, as keepalived)
    attrs += [(name, value) for name, value, sent in (
        ("FRA_FWMARK", opts.fwmark, opts.fwmark is not None),
        ("FRA_FWMASK", opts.fwmask, opts.fwmask is not None),
        ("FRA_FLOW", opts.realms, bool(opts.realms)),
        ("FRA_SUPPRESS_PREFIXLEN", opts.suppress_prefixlength, opts.suppress_prefixlength is not None),
        ("FRA_SUPPRESS_IFGROUP", opts.suppress_ifgroup, opts.suppress_ifgroup is not None),
        ("FRA_IIFNAME", rule.iif, bool(rule.iif)),
        ("FRA_OIFNAME", rule.oif, bool(rule.oif)),
        ("FRA_TUN_ID", opts.tunnel_id, bool(opts.tunnel_id))) if sent]
    if opts.uidrange is not None:
        attrs.append(("FRA_UID_RANGE", "{}:{}".format(*opts.uidrange)))
    if action == "l3mdev":
        attrs.append(("FRA_L3MDEV", 1))
    protocol = opts.protocol if rule.no_track else RTPROT_KEEPALIVED
    if protocol is not None:
        attrs.append(("FRA_PROTOCOL", protocol))
    if opts.ipproto is not None:
        attrs.append(("FRA_IP_PROTO", opts.ipproto))
    for attr, rng in (("FRA_SPORT_RANGE", opts.sport), ("FRA_DPORT_RANGE", opts.dport)):
        if rng is not None:
            attrs.append((attr, "{}:{}".format(*rng)))
    if action == "goto":
        attrs.append(("FRA_GOTO", int((rule.action or "").split()[1])))
    flags = NLM_F_REQUEST | NLM_F_ACK | (NLM_F_CREATE | NLM_F_EXCL if add else 0)
    return Request(RTM_NEWRULE if add else RTM_DELRULE, flags, fields, tuple(attrs))


# -- applying them --------------------------------------------------------------------------------------

#: errors that mean "already there" for an add, "not there" for a remove
_PRESENT = {RTM_NEWROUTE: (errno.EEXIST,), RTM_NEWRULE: (errno.EEXIST,),
            RTM_DELROUTE: (errno.ESRCH, errno.ENOENT, errno.ENODEV), RTM_DELRULE: (errno.ESRCH, errno.ENOENT)}


async def change_routes_rules(nl: Netlink, owner: str, routes: Sequence[Route], rules: Sequence[Rule], *,
                              add: bool, replace: bool = False) -> tuple[list[Route], list[Rule]]:
    """Add ``routes`` then ``rules``, or remove ``rules`` then ``routes`` (keepalived's order); what is
    already there (adding) or already gone (removing) is skipped.  Failures are logged, not raised.
    ``replace`` (adding): the routes replace those of the same :func:`route_key`; as keepalived, an
    EINVAL (a source address not there yet) is not logged: the caller removes the old route instead.

    Returns the routes and rules that were added (or replaced), or removed (that were there).
    """
    quiet = (errno.EINVAL,) if add and replace else ()

    async def route_req(route: Route) -> Request:
        return route_request(route, {name: await nl.ifindex(name) for name in route_devices(route)}, add=add,
                             replace=replace)

    async def rule_req(rule: Rule) -> Request:
        return rule_request(rule, add=add)

    async def do_rules() -> list[Rule]:
        return [rule for rule in rules
                if await _change(nl, owner, add, f"rule (preference {rule.preference})", rule_req(rule))]

    done_rules = [] if add else await do_rules()
    done_routes = [route for route in routes
                   if await _change(nl, owner, add, f"route {route.dest}", route_req(route), quiet)]
    if add:
        done_rules = await do_rules()
    return done_routes, done_rules


async def _change(nl: Netlink, owner: str, add: bool, what: str, build: Awaitable[Request],
                  quiet: tuple[int, ...] = ()) -> bool:
    """One request: True if it added (or found) the route or rule, or removed it.  A refusal is logged as
    keepalived logs it, the instance and the line after it (unless its errno is ``quiet``); anything else
    (an interface that is gone) as ours."""
    try:
        req = await build
        if add and req.left_out:
            log.warning("(%s) %s: %s not installed, as keepalived 2.2.7 leaves %s out of its request", owner, what,
                        " and ".join(req.left_out), "it" if len(req.left_out) == 1 else "them")
        msg = req.message()
        await nl.request(msg, req.type, req.flags)
    except NetlinkError as e:
        if e.code in _PRESENT[req.type]:
            return add
        if e.code in quiet:
            return False
        header = msg.get("header") or {}
        log.error("Netlink: error: %s(%d), type=%s(%d), seq=%s, pid=%s - (%s) %s", os.strerror(e.code), e.code,
                  MESSAGE_TYPES[req.type], req.type, header.get("sequence_number", 0), header.get("pid", 0),
                  owner, what)
        return False
    except (LookupError, OSError, ValueError, TypeError) as e:
        log.error("(%s) cannot %s %s: %s", owner, "add" if add else "remove", what, e)
        return False
    return True
