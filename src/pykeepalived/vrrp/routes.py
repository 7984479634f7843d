"""virtual_routes and virtual_rules: config lines as rtnetlink requests, applied through :class:`Netlink`.

An instance holds its routes and rules while MASTER, as its VIPs: added after the addresses
(a route may use a VIP as its source), removed before them.  Requests are pyroute2 ``route()`` /
``rule()`` arguments; :class:`~pykeepalived.vrrp.addresses.Netlink` carries them out
(``replace_route``, ``del_route``, ``add_rule``, ``del_rule``), idempotently.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .addresses import SCOPES, Netlink

if TYPE_CHECKING:
    from pykeepalived.config.model_vrrp import Route, Rule

log = logging.getLogger("pykeepalived.vrrp")

#: /etc/iproute2 names keepalived accepts in virtual_routes / virtual_rules
ROUTE_TABLE_IDS = {"main": 254, "local": 255, "default": 253}
ROUTE_PROTOCOL_IDS = {"redirect": 1, "kernel": 2, "boot": 3, "static": 4, "keepalived": 18}
ROUTE_TYPE_IDS = {"unicast": 1, "local": 2, "broadcast": 3, "anycast": 4, "multicast": 5,
                  "blackhole": 6, "unreachable": 7, "prohibit": 8, "throw": 9, "nat": 10}
RULE_ACTION_IDS = {"table": 1, "goto": 2, "nop": 3, "blackhole": 6, "unreachable": 7, "prohibit": 8}
RTPROT_KEEPALIVED = 18
FIB_RULE_INVERT = 2


def _table_id(name: str | None) -> int | None:
    if name is None:
        return None
    return int(name) if name.isdigit() else ROUTE_TABLE_IDS.get(name)


def _prefix(text: str, family: int) -> tuple[str, int] | None:
    """``10.0.0.0/8`` -> (address, length); ``default``/``any``/``all`` -> None."""
    if text in ("default", "any", "all", "default6"):
        return None
    net = ipaddress.ip_network(text, strict=False)
    return str(net.network_address), net.prefixlen


async def route_request(route: Route, nl: Netlink) -> dict[str, Any]:
    """A virtual_routes line as pyroute2 ``route()`` arguments (the common ``ip route`` options).

    Routes carry ``proto keepalived`` (18) unless another protocol is configured, as keepalived's.
    Multipath ``nexthop`` lists and rarer options are not handled (logged by the caller's error).
    """
    family = socket.AF_INET6 if route.family == 6 else socket.AF_INET
    req: dict[str, Any] = {"family": family}
    dst = _prefix(route.dest, route.family)
    if dst is not None:
        req["dst"], req["dst_len"] = dst
    else:
        req["dst_len"] = 0
    if route.type:
        req["type"] = ROUTE_TYPE_IDS.get(route.type, 1)
    if route.via:
        req["gateway"] = route.via
    if route.src:
        req["prefsrc"] = route.src
    if route.dev:
        req["oif"] = await nl.ifindex(route.dev)
    table = _table_id(route.table)
    if table is not None:
        req["table"] = table
    if route.metric is not None:
        req["priority"] = route.metric
    if route.scope:
        req["scope"] = int(route.scope) if route.scope.isdigit() else SCOPES.get(route.scope, 0)
    elif route.type in (None, "unicast") and not route.via and not route.nexthops:
        req["scope"] = SCOPES["link"]  # what ``ip route add`` picks for a route without a gateway
    elif route.type == "local":
        req["scope"] = SCOPES["host"]
    proto = route.protocol
    req["proto"] = (int(proto) if proto and proto.isdigit()
                    else ROUTE_PROTOCOL_IDS.get(proto or "keepalived", RTPROT_KEEPALIVED))
    if route.nexthops:
        raise ValueError("multipath (nexthop) routes are not supported yet")
    return req


async def rule_request(rule: Rule, nl: Netlink) -> dict[str, Any]:
    """A virtual_rules line as pyroute2 ``rule()`` arguments: from, to, table/action, preference,
    fwmark[/mask], iif, oif, not."""
    req: dict[str, Any] = {"family": socket.AF_INET6 if rule.family == 6 else socket.AF_INET,
                           "priority": rule.preference}
    for attr, text in (("src", rule.from_), ("dst", rule.to)):
        if text is not None:
            pfx = _prefix(text, rule.family)
            if pfx is not None:
                req[attr], req[f"{attr}_len"] = pfx
    action = rule.action or "table"
    if action == "table":
        table = _table_id(rule.table)
        if table is None:
            raise ValueError(f"unknown table {rule.table}")
        req["table"] = table
        req["action"] = RULE_ACTION_IDS["table"]
    elif action.startswith("goto "):
        req["action"] = RULE_ACTION_IDS["goto"]
        req["goto"] = int(action.split()[1])
    else:
        req["action"] = RULE_ACTION_IDS.get(action, 1)
    if rule.iif:
        req["iifname"] = rule.iif
    if rule.oif:
        req["oifname"] = rule.oif
    if rule.invert:
        req["flags"] = FIB_RULE_INVERT
    opts = list(rule.options)
    for i in range(0, len(opts) - 1, 2):
        if opts[i] == "fwmark":
            mark, _, mask = opts[i + 1].partition("/")
            req["fwmark"] = int(mark, 0)
            if mask:
                req["fwmask"] = int(mask, 0)
        else:
            raise ValueError(f"rule option {opts[i]} is not supported yet")
    return req


async def change_routes_rules(nl: Netlink, owner: str, routes: Sequence[Route], rules: Sequence[Rule], *,
                              add: bool) -> tuple[list[Route], list[Rule]]:
    """Add (replace) or remove ``routes``, then ``rules``; removal in reverse order, and what is
    already gone is skipped.  Failures are logged for ``owner`` (an instance name), not raised.

    Returns the routes and rules that were added, or removed (that were there).
    """
    route_op: Callable[[Mapping[str, Any]], Awaitable[object]] = nl.replace_route if add else nl.del_route
    rule_op: Callable[[Mapping[str, Any]], Awaitable[object]] = nl.add_rule if add else nl.del_rule
    done_routes = [route for route in (routes if add else reversed(routes))
                   if await _change(owner, add, f"route {route.dest}", route_request(route, nl), route_op)]
    done_rules = [rule for rule in (rules if add else reversed(rules))
                  if await _change(owner, add, f"rule (preference {rule.preference})", rule_request(rule, nl),
                                   rule_op)]
    return done_routes, done_rules


async def _change(owner: str, add: bool, what: str, request: Awaitable[dict[str, Any]],
                  op: Callable[[Mapping[str, Any]], Awaitable[object]]) -> bool:
    """One route or rule: True if added, or removed (it was there); a failure is logged."""
    try:
        present = await op(await request)
    except Exception as e:
        log.error("(%s) cannot %s %s: %s", owner, "add" if add else "remove", what, e)
        return False
    return add or bool(present)
