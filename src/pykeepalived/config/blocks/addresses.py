"""Addresses, routes and rules: one line each, shared by ``virtual_ipaddress``/``virtual_routes``/
``virtual_rules`` inside a vrrp_instance and the root ``static_ipaddress``/``static_routes``/
``static_rules`` blocks (keepalived's ``alloc_ipaddress``, ``alloc_route``, ``alloc_rule``).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ..errors import ErrClass
from ..lines import LogicalLine
from ..model_vrrp import (
    Route,
    Rule,
    VirtualAddress,
)
from ..parser import Block, Context
from ..route_options import RouteOptionParser, _strtoul, find_protocol, parse_nexthops, read_unsigned
from ..rule_options import RuleOptionParser
from .common import entries_block, interface_exists

#: the protocol keepalived gives its routes and rules (``RTPROT_KEEPALIVED``)
RTPROT_KEEPALIVED = 18
ROUTE_TABLES = {"main": 254, "local": 255, "default": 253, "unspec": 0}
SCOPES = ("global", "universe", "site", "link", "host", "nowhere")
ROUTE_TYPES = (
    "unicast",
    "local",
    "broadcast",
    "multicast",
    "throw",
    "unreachable",
    "prohibit",
    "blackhole",
    "nat",
    "anycast",
)


def parse_address(ctx: Context, where: LogicalLine, text: str, allow_prefix: bool = True) -> Any:
    """keepalived's ``parse_ipaddress``: ``ADDR[/PREFIX]``, family by the presence of ``:``."""
    v6 = ":" in text
    maxlen = 128 if v6 else 32
    addr, _, prefix = text.partition("/") if allow_prefix else (text, "", "")
    plen = maxlen
    if prefix:
        if prefix.isdigit() and int(prefix) <= maxlen:
            plen = int(prefix)
        else:
            ctx.error(where, f"Invalid address prefix len {prefix} for address {text} - using {maxlen}")
    try:
        ip = ipaddress.IPv6Address(addr) if v6 else ipaddress.IPv4Address(addr)
    except ValueError:
        ctx.error(where, f"VRRP parsed invalid IP {text}. skipping IP...")
        return None
    return ipaddress.ip_interface(f"{ip}/{plen}")


def parse_vip(ctx: Context, line: LogicalLine, static: bool) -> VirtualAddress | None:
    """One virtual_ipaddress / static_ipaddress line (``alloc_ipaddress``)."""
    t = line.texts()
    addr = parse_address(ctx, line, t[0])
    if addr is None:
        return None
    v: dict[str, Any] = {"address": addr}
    brd: str | None = None
    i = 1
    while i < len(t):
        opt = t[i]
        has_param = i + 1 < len(t)
        if opt in ("dev", "scope", "broadcast", "brd", "label", "peer", "preferred_lft") or (
            static and opt == "track_group"
        ):
            if not has_param:
                ctx.error(line, f"No {opt} parameter specified for {t[0]}")
                return None
            param = t[i + 1]
            i += 1
            if opt == "dev":
                if "dev" in v:
                    ctx.error(line, f"Cannot specify ipaddress device more than once for {t[0]}")
                    return None
                if not interface_exists(ctx, param):
                    ctx.error(line, f"WARNING - interface {param} for ip address {t[0]} doesn't exist")
                    return None
                v["dev"] = param
            elif opt == "scope":
                if param in SCOPES or (param.isdigit() and int(param) < 256):
                    v["scope"] = param
                else:
                    ctx.error(line, f"Invalid scope '{param}' specified for {t[0]} - ignoring")
            elif opt in ("broadcast", "brd"):
                if addr.version == 6:
                    ctx.error(
                        line,
                        f"VRRP is trying to assign a broadcast {opt} to the IPv6 address {t[0]} !!?? "
                        "WTF... skipping VIP...",
                    )
                    return None
                if param not in ("+", "-"):
                    try:
                        ipaddress.IPv4Address(param)
                    except ValueError:
                        ctx.error(
                            line, f"VRRP is trying to assign invalid broadcast {param}. skipping VIP..."
                        )
                        return None
                brd = param
            elif opt == "label":
                if len(param) >= 16:
                    ctx.error(
                        line, f"Address label {param} is longer than maximum length 15 - removing address"
                    )
                    return None
                v["label"] = param
            elif opt == "peer":
                if "peer" in v:
                    ctx.error(line, f"Peer {param} - another peer has already been specified")
                else:
                    peer = parse_address(ctx, line, param)
                    if peer is None:
                        ctx.error(line, f"Invalid peer address {param}")
                    elif peer.version != addr.version:
                        ctx.error(line, f"Peer address {param} does not match address family")
                    else:
                        if addr.network.prefixlen != addr.max_prefixlen:
                            ctx.error(
                                line, "Cannot specify address prefix when specifying peer address - ignoring"
                            )
                        v["peer"] = peer
                        v["address"] = addr = ipaddress.ip_interface(f"{addr.ip}/{peer.network.prefixlen}")
            elif opt == "preferred_lft":
                if param == "forever":
                    v["preferred_lft"] = 0xFFFFFFFF
                elif param.isdigit() and int(param) <= 0xFFFFFFFF:
                    v["preferred_lft"] = int(param)
                else:
                    ctx.error(line, f"preferred_lft {param} is invalid")
            else:  # track_group
                if "track_group" in v:
                    ctx.error(line, f"track_group {param} is a duplicate")
                    break
                if param not in ctx.shared.get("names:track_group", set()):
                    ctx.error(line, f"track_group {param} not found")
                else:
                    v["track_group"] = param
        elif opt in ("home", "mngtmpaddr", "noprefixroute", "autojoin", "no_track"):
            v[opt] = True
        elif opt == "-nodad":
            v["nodad"] = True
        elif not static and opt == "use_vmac":
            v["use_vmac"] = True
        else:
            ctx.error(line, f"Unknown configuration entry '{opt}' for ip address - ignoring")
        i += 1
    if brd is not None:
        if "peer" in v:
            ctx.error(line, "Cannot specify broadcast and peer addresses - ignoring broadcast address")
        elif brd in ("+", "-"):
            if addr.network.prefixlen <= 30:
                net = ipaddress.ip_network(
                    f"{(v.get('peer') or addr).ip}/{addr.network.prefixlen}", strict=False
                )
                v["broadcast"] = net.broadcast_address if brd == "+" else net.network_address
            else:
                ctx.error(line, f"Address prefix length {addr.network.prefixlen} too long for broadcast")
        else:
            v["broadcast"] = ipaddress.IPv4Address(brd)
    if static and "dev" not in v:
        default_if = ctx.shared.get("default_interface", "eth0")
        if (
            ctx.interfaces is not None
            and default_if not in ctx.interfaces
            and not ctx.shared.get("dynamic_interfaces")
        ):
            ctx.error(
                line,
                f"Static address {t[0]} requires either an interface or default interface must exist",
                cls=ErrClass.FATAL,
            )
            return None
        v["dev"] = default_if
    if addr.version == 6:
        if "scope" in v:
            ctx.error(line, f"Cannot specify scope for IPv6 addresses ({t[0]}) - ignoring scope")
            del v["scope"]
        if "label" in v:
            ctx.error(line, f"Cannot specify label for IPv6 addresses ({t[0]}) - ignoring label")
            del v["label"]
        v.setdefault("preferred_lft", 0 if addr.network.prefixlen == 128 else 0xFFFFFFFF)
    return VirtualAddress(**v)


def parse_route(ctx: Context, line: LogicalLine, static: bool) -> Route | None:
    """One virtual_routes / static_routes line (``alloc_route``)."""
    t = line.texts()
    r: dict[str, Any] = {}
    family: int | None = None
    options: list[str] = []
    nexthops: list[tuple[str, ...]] = []
    dest: str | None = None
    metrics = RouteOptionParser()

    def fam(ip: Any) -> bool:
        nonlocal family
        if family is None:
            family = ip.version
            return True
        if family != ip.version:
            ctx.error(line, "Cannot mix IPv4 and IPv6 addresses for route")
            return False
        return True

    i = 0
    while i < len(t):
        opt = t[i]
        nxt = t[i + 1] if i + 1 < len(t) else None
        if opt in ("inet", "inet6"):
            want = 6 if opt == "inet6" else 4
            if family is not None and family != want:
                ctx.error(line, f"{opt} specified for IPv{family} route")
                return None
            family = want
            i += 1  # keepalived 2.2.7 steps over the word after inet/inet6 as well
        elif opt in ("src", "via", "gw", "from"):
            if nxt is None:
                ctx.error(line, f"No {opt} parameter specified for route")
                return None
            if opt == "gw":
                ctx.error(line, '"gw" for routes is deprecated. Please use "via"')
            i += 1
            if opt in ("via", "gw") and nxt in ("inet", "inet6") and i + 1 < len(t):
                i += 1
                nxt = t[i]
            ip = parse_address(ctx, line, nxt, allow_prefix=opt == "from")
            if ip is None:
                ctx.error(line, f"invalid route {'via' if opt == 'gw' else opt} address {nxt}")
                return None
            if not fam(ip):
                return None
            r["via" if opt == "gw" else "from_" if opt == "from" else opt] = nxt
        elif opt == "table":
            if nxt is None or not (nxt.isdigit() or nxt in ROUTE_TABLES):
                ctx.error(line, f"Routing table {nxt} not found for route")
                return None
            r["table"] = nxt
            i += 1
        elif opt == "protocol":
            if find_protocol(ctx.arg(line, i + 1).text) is None:
                ctx.error(line, f"Protocol {nxt} not found or invalid for route")
                return None
            r["protocol"] = nxt
            i += 1
        elif opt == "scope":
            if nxt is None or not (nxt in SCOPES or nxt.isdigit()):
                ctx.error(line, f"Scope {nxt} not found or invalid for route")
                return None
            r["scope"] = nxt
            i += 1
        elif opt in ("metric", "priority", "preference"):
            if nxt is None or not nxt.isdigit() or int(nxt) > 0xFFFFFFFF:
                ctx.error(line, f"Invalid metric {nxt} specified for route")
                return None
            r["metric"] = int(nxt)
            i += 1
        elif opt in ("dev", "oif"):
            if nxt is None:
                ctx.error(line, f"No {opt} parameter specified for route")
                return None
            if not interface_exists(ctx, nxt):
                ctx.error(line, f"WARNING - interface {nxt} for VROUTE nexthop doesn't exist")
                return None
            r["dev"] = nxt
            i += 1
        elif (step := metrics.take(t, i, family)) is not None:
            if step.missing:
                ctx.arg(line, step.end)  # keepalived exits: a missing parameter
            for cls, message in step.messages:
                if cls is ErrClass.OK:
                    ctx.note(line, message)
                else:
                    ctx.error(line, message, cls=cls)
            if step.drop:
                return None
            if opt != "encap":  # the encapsulation is kept as words that read back alone, last
                options += t[i : step.end]
            family = step.family
            i = step.end
            continue
        elif opt == "or":
            ctx.error(line, '"or" for routes is deprecated. Please use "nexthop"')
            if nexthops:
                ctx.error(line, '"or" route already specified - ignoring subsequent')
                i += 2
                continue
            ip = parse_address(ctx, line, nxt or "", allow_prefix=False) if nxt else None
            if ip is None:
                ctx.error(line, f'Invalid "or" address {nxt}')
                return None
            assert nxt is not None
            first: list[tuple[str, ...]] = [("via", r.pop("via"))] if "via" in r else []
            nexthops = [*first, ("via", nxt)]
            i += 1
        elif opt == "nexthop":
            if nexthops:
                ctx.error(line, 'Cannot specify nexthops with "or" route')
                break
            hops = parse_nexthops(t, i, family, lambda name: interface_exists(ctx, name))
            for cls, message in hops.messages:
                ctx.error(line, message, cls=cls)
            if hops.missing:
                ctx.arg(line, len(t))
            nexthops = [words for words, _ in hops.hops]
            family = hops.family
            i = len(t)
            break
        elif opt == "no_track":
            r["no_track"] = True
        elif static and opt == "track_group":
            if nxt not in ctx.shared.get("names:track_group", set()):
                ctx.error(line, f"track_group {nxt} not found")
            else:
                r["track_group"] = nxt
            i += 1
        else:
            if opt == "to":
                i += 1
                opt = t[i] if i < len(t) else ""
            if (opt in ROUTE_TYPES and opt != "unicast") or (opt == "unicast" and i + 1 < len(t)):
                r["type"] = opt
                i += 1
                opt = t[i] if i < len(t) else ""
            dest = opt
            if dest in ("default", "any", "all"):
                pass
            elif dest == "default6":
                ctx.note(line, "'default6' is deprecated - please replace with 'inet6 default'")
                family = 6
            else:
                ip = parse_address(ctx, line, dest)
                if ip is None:
                    ctx.error(line, f"unknown route keyword {dest}")
                    return None
                if family is not None and family != ip.version:
                    ctx.error(line, f"Cannot mix IPv4 and IPv6 addresses for route ({dest})")
                    return None
                family = ip.version
        i += 1
    if dest is None:
        ctx.error(line, "Route must have a destination")
        return None
    if not r.get("no_track"):
        if r.get("protocol") is not None and find_protocol(r["protocol"]) != RTPROT_KEEPALIVED:
            ctx.error(
                line, "Route cannot be tracked if protocol is not RTPROT_KEEPALIVED(18), resetting protocol"
            )
            r["protocol"] = None
        if "dev" not in r:
            ctx.error(line, f"Warning - cannot track route {dest} with no interface specified, not tracking")
            r["no_track"] = True
            # keepalived gave it its own protocol before giving up tracking (only ``no_track`` leaves it unset)
            r["protocol"] = r.get("protocol") or "keepalived"
    if r.get("track_group") and "dev" not in r:
        ctx.error(line, "Static route cannot have track group if no oif specified")
        r["track_group"] = None
    encap = metrics.result().encap
    if encap is not None:
        options += encap.words()
    return Route(dest=dest, family=family or 4, nexthops=tuple(nexthops), options=tuple(options), **r)


#: rule actions by name (``type`` NAME or the name alone); a route type number 6/7/8 is the same action
_RULE_ACTIONS = {"nop": "nop", "blackhole": "blackhole", "unreachable": "unreachable", "prohibit": "prohibit",
                 "6": "blackhole", "7": "unreachable", "8": "prohibit"}
_ACTIONS_CLASH = "Cannot specify more than one of table/nop/goto/blackhole/prohibit/unreachable"


def _rule_action(text: str) -> str | None:
    """keepalived's reading of a rule action word: nop, or a route type that is an action (None: not
    an action; "" : a route type that is not one)."""
    if text in _RULE_ACTIONS:
        return _RULE_ACTIONS[text]
    if text in ROUTE_TYPES or text in ("brd", "xresolve"):
        return ""
    value, rest, _ = _strtoul(text, 0)
    if value is not None and not rest and text[:1] != "-" and value <= 255:
        return _RULE_ACTIONS.get(str(value), "")
    return None


def parse_rule(ctx: Context, line: LogicalLine, static: bool) -> Rule | None:
    """One virtual_rules / static_rules line (``alloc_rule``); assigns a preference if missing.

    Selectors and table options are read by :class:`~pykeepalived.config.rule_options.RuleOptionParser`
    and kept as words (only those keepalived keeps: a bad ``protocol``, ``ipproto`` or port range is
    reported and left out)."""
    t = line.texts()
    r: dict[str, Any] = {}
    family: int | None = None
    options: list[str] = []
    opts = RuleOptionParser()
    i = 0
    while i < len(t):
        opt = t[i]
        nxt = t[i + 1] if i + 1 < len(t) else None
        if opt in ("inet", "inet6"):
            want = 6 if opt == "inet6" else 4
            if family is not None and family != want:
                ctx.error(line, f"{opt} specified for IPv{family} rule")
                return None
            family = want
            i += 1  # keepalived 2.2.7 steps over the word after inet/inet6 as well
        elif opt in ("from", "to"):
            i += 1
            if nxt in ("all", "any", "default"):
                r["from_" if opt == "from" else "to"] = nxt
            else:
                ip = parse_address(ctx, line, nxt or "")
                if ip is None:
                    ctx.error(line, f"Invalid rule {opt} address {nxt}")
                    return None
                if family is not None and family != ip.version:
                    ctx.error(line, "rule specification has mixed IPv4 and IPv6")
                    return None
                family = ip.version
                r["from_" if opt == "from" else "to"] = nxt
        elif opt in ("table", "lookup"):
            i += 1
            if nxt is None or not (nxt.isdigit() or nxt in ROUTE_TABLES):
                ctx.error(line, f"Routing table {nxt} not found for rule")
                return None
            if nxt in ("0", "unspec"):
                ctx.error(line, "Table 0 is not valid")
                return None
            if r.get("action"):
                ctx.error(line, f"{_ACTIONS_CLASH} for rule")
                return None
            r["table"], r["action"] = nxt, "table"
        elif opt == "not":
            r["invert"] = True
        elif opt in ("preference", "order", "priority"):
            i += 1
            pref, msgs = read_unsigned(ctx.arg(line, i).text, 0xFFFFFFFF, base=0)
            for cls, message in msgs:
                ctx.error(line, message, cls=cls)
            if pref is None:
                ctx.error(line, f"Invalid rule preference {opt} specified")  # keepalived names the keyword
                return None
            r["preference"] = pref
        elif opt in ("dev", "iif", "oif"):
            i += 1
            if nxt is None or not interface_exists(ctx, nxt):
                ctx.error(line, f"WARNING - interface {nxt} for rule doesn't exist")
                return None
            r["oif" if opt == "oif" else "iif"] = nxt
        elif (step := opts.take(t, i, family)) is not None:
            if step.missing:
                ctx.arg(line, step.end)  # keepalived exits: a missing parameter
            for cls, message in step.messages:
                ctx.error(line, message, cls=cls)
            if step.drop:
                return None
            if not step.messages:  # a value keepalived reported is not installed: not kept
                options += t[i : step.end]
            family = step.family
            i = step.end
            continue
        elif opt == "l3mdev":
            if r.get("action"):
                ctx.error(line, "Cannot specify l3mdev with other action")
                return None
            r["action"] = "l3mdev"
        elif opt == "no_track":
            r["no_track"] = True
        elif static and opt == "track_group":
            i += 1
            if nxt not in ctx.shared.get("names:track_group", set()):
                ctx.error(line, f"track_group {nxt} not found")
            else:
                r["track_group"] = nxt
        else:
            if opt == "type":
                i += 1
                opt = ctx.arg(line, i).text
            if opt == "goto":
                i += 1
                target, msgs = read_unsigned(ctx.arg(line, i).text, 0xFFFFFFFF)
                for cls, message in msgs:
                    ctx.error(line, message, cls=cls)
                if target is None:
                    ctx.error(line, f"Invalid target {opt} specified")
                    return None
                rule_action = f"goto {target}"
            else:
                found = _rule_action(opt)
                if found is None:
                    ctx.error(line, f"Unknown rule option {opt}")
                    return None
                if not found:
                    ctx.error(line, f"Invalid rule action {opt}")
                    return None
                rule_action = found
            if r.get("action"):
                ctx.error(line, f"{_ACTIONS_CLASH}/l3mdev for rule")
                return None
            r["action"] = rule_action
        i += 1
    action = r.get("action")
    if action and action.startswith("goto "):
        target = int(action.split()[1])
        if "preference" not in r:
            ctx.error(line, f"Invalid rule - goto target {target} specified without preference")
            return None
        if r["preference"] >= target:
            ctx.error(line, f"Invalid rule - preference {r['preference']} >= goto target {target}")
            return None
    if not action:
        ctx.error(line, "No action specified for rule - ignoring")
        return None
    if action not in ("table", "l3mdev") and opts.table_options:
        ctx.error(line, "suppressor/realm specified for non table action - skipping")
        return None
    protocol = opts.result().protocol
    if not r.get("no_track") and protocol not in (None, RTPROT_KEEPALIVED):
        ctx.error(line, "Rule cannot be tracked if protocol is not RTPROT_KEEPALIVED(18), resetting protocol")
    if r.get("track_group") and "iif" not in r:
        ctx.error(line, "Static rule cannot have track_group if dev/iif not specified")
        r["track_group"] = None
    fam = family or 4
    if "preference" not in r:
        key = f"next_rule_priority{fam}"
        pref = ctx.shared.get(key, 16384)
        ctx.shared[key] = pref - 1
        r["preference"] = pref
        ctx.error(
            line, f"Rule has no preference specified - setting to {pref}. This is probably not what you want."
        )
    return Rule(family=fam, options=tuple(options), **r)


STATIC_IPADDRESS = entries_block(
    "static_ipaddress", "static_ipaddress", lambda ctx, line: parse_vip(ctx, line, static=True)
)
STATIC_ROUTES = entries_block(
    "static_routes", "static_routes", lambda ctx, line: parse_route(ctx, line, True)
)
STATIC_RULES = entries_block("static_rules", "static_rules", lambda ctx, line: parse_rule(ctx, line, True))


def register(root: Block) -> None:
    root.sub("static_ipaddress", STATIC_IPADDRESS)
    root.sub("static_routes", STATIC_ROUTES)
    root.sub("static_rules", STATIC_RULES)
