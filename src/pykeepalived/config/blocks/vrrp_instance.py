"""``vrrp_instance`` (keepalived's vrrp_parser.c), down to its block end (``vrrp_end_handler``).
Defaults and cross-checks that need the whole configuration run after parsing
(:mod:`..validate.vrrp`, keepalived's ``vrrp_complete_instance``).
"""

from __future__ import annotations

import ipaddress

from ..errors import ErrClass
from ..lines import LogicalLine
from ..model_vrrp import (
    UnicastPeer,
)
from ..parser import Block, Context, Draft, Handler, SkipLine, unsupported_note
from .addresses import parse_route, parse_rule, parse_vip
from .common import UINT_MAX, Scalar, entries_block, garp_extra_if, install_scalars, interface_exists, items, uniq_begin
from .tracking import NOTIFY_FIELDS, TRACKERS, notify_handler, track_block

INSTANCE = Block("vrrp_instance", begin=uniq_begin("vrrp instance", "vrrp_instance", "vrrp_instance"))

install_scalars(
    INSTANCE,
    [
        Scalar(
            "virtual_router_id", "int", 1, 255, "({name}): VRID '{arg}' not valid - must be between 1 & 255"
        ),
        Scalar(
            "priority",
            "int",
            1,
            255,
            "({name}) Priority not valid! must be between 1 & 255. Using default 100",
        ),
        Scalar(
            "advert_int",
            "timer",
            0.000001,
            4294.967295,
            "({name}) Advert interval ({arg}) not valid! Must be > 0 - ignoring",
        ),
        Scalar("version", "int", 2, 3, "({name}): Version must be either 2 or 3"),
        Scalar("unicast_ttl", "int", 0, 255, "({name}): TTL '{arg}' not valid - must be between 0 & 255"),
        Scalar("preempt_delay", "timer", 0, 1000, "({name}) Preempt_delay not valid! must be between 0-1000"),
        Scalar("garp_master_delay", "int", 0, 4294, "({name}): garp_master_delay '{arg}' invalid - ignoring"),
        Scalar(
            "garp_master_refresh",
            "int",
            0,
            4294967295,
            "({name}): Invalid garp_master_refresh '{arg}' - ignoring",
        ),
        Scalar(
            "garp_lower_prio_delay",
            "int",
            0,
            4294,
            "({name}): garp_lower_prio_delay '{arg}' invalid - ignoring",
        ),
        Scalar(
            "garp_lower_prio_repeat", "int", 0, 2147483647, "({name}): Invalid garp_lower_prio_repeat '{arg}'"
        ),
        Scalar("down_timer_adverts", "int", 1, 100, "({name}): Invalid down_timer_adverts [1:100] '{arg}'"),
        Scalar("kernel_rx_buf_size", "int", 0, 4294967295, "({name}) invalid kernel_rx_buf_size specified"),
        Scalar("debug", "int", 0, 4, "({name}) Debug value '{arg}' not valid; must be between 0-4"),
        Scalar("nopreempt", "flag"),
        Scalar("dont_track_primary", "flag"),
        Scalar("promote_secondaries", "flag"),
        Scalar("unicast_fault_no_peer", "flag"),
        Scalar("check_unicast_src", "flag"),
        Scalar("track_src_ip", "flag"),
        Scalar("use_vmac_addr", "flag"),
        Scalar("vmac_xmit_base", "flag"),
        Scalar("smtp_alert", "bool", invalid="Invalid vrrp_instance smtp_alert parameter {arg}"),
        Scalar(
            "notify_priority_changes",
            "bool",
            invalid="({name}) Invalid value '{arg}' for notify_priority_changes specified",
        ),
        Scalar(
            "lower_prio_no_advert", "bool", invalid="({name}) invalid lower_prio_no_advert {arg} specified"
        ),
        Scalar(
            "higher_prio_send_advert",
            "bool",
            invalid="({name}) invalid higher_prio_send_advert {arg} specified",
        ),
        Scalar("strict_mode", "bool", invalid="({name}) invalid strict_mode {arg} specified"),
        Scalar("skip_check_adv_addr", "bool", invalid="({name}) invalid skip_check_adv_addr {arg} specified"),
    ],
)

install_scalars(
    INSTANCE,
    [
        Scalar(kw, "int", 0, UINT_MAX, "({name}): {kw} '{arg}' invalid - ignoring",
               zero="({name}): {kw} must be greater than 0, setting to 1")
        for kw in ("garp_master_repeat", "garp_master_refresh_repeat")
    ],
)


@INSTANCE.keyword("state")
def _state(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    value = ctx.string(line)
    if value == "MASTER":
        draft["state"] = "MASTER"
    elif value == "BACKUP":
        if draft.get("state") == "MASTER":
            ctx.error(line, f"({draft['name']}) state previously set as MASTER - ignoring BACKUP")
        else:
            draft["state"] = "BACKUP"
    else:
        ctx.error(line, f"({draft['name']}) unknown state '{value}', defaulting to BACKUP")
        draft["state"] = "BACKUP"


@INSTANCE.keyword("interface")
def _interface(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    name = ctx.string(line)
    if len(name) >= 16:
        ctx.error(line, f"Interface name '{name}' too long - ignoring")
        return
    if not interface_exists(ctx, name):
        ctx.error(line, f"WARNING - interface {name} for vrrp_instance {draft['name']} doesn't exist")
        return
    if name == "lo":
        ctx.error(line, f"({draft['name']}) cannot use a loopback interface ({name}) for vrrp - ignoring")
        return
    draft["interface"] = name


@INSTANCE.keyword("vrf")
def _vrf(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    name = ctx.string(line)
    if not interface_exists(ctx, name):
        ctx.error(line, f"({draft['name']}) WARNING - VRF interface {name} doesn't exist")
        return
    draft["vrf"] = name


@INSTANCE.keyword("preempt")
def _preempt(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["nopreempt"] = False


@INSTANCE.keyword("accept", "no_accept")
def _accept(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["accept"] = line.keyword == "accept"


@INSTANCE.keyword("native_ipv6")
def _native_ipv6(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    if draft.get("_family") == 4:
        ctx.error(line, f"({draft['name']}) Cannot specify native_ipv6 with IPv4 addresses")
        return
    draft["_family"] = 6


@INSTANCE.keyword("linkbeat_use_polling")
def _linkbeat_polling(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    ctx.error(
        line,
        f"({draft['name']}) 'linkbeat_use_polling' in vrrp instance deprecated - use"
        " linkbeat_interfaces block",
    )


@INSTANCE.keyword("lvs_sync_daemon_interface")
def _lvs_syncd(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    name = draft["name"]
    ctx.error(line, f"({name}) Specifying lvs_sync_daemon_interface against a vrrp is deprecated.")
    ctx.error(line, f"      {'':{max(len(name) - 2, 0)}}Please use global lvs_sync_daemon")
    syncd = ctx.shared.get("lvs_syncd_interface")
    if syncd is not None:
        ctx.error(
            line, f"({name}) lvs_sync_daemon_interface has already been specified as {syncd} - ignoring"
        )
        return
    ctx.shared["lvs_syncd_interface"] = ctx.string(line)
    draft["_lvs_sync_daemon_interface"] = ctx.string(line)


def _same_family(inst: Draft, version: int) -> bool:
    """The instance's address family is set by the first address that says one (a VIP, a source,
    a peer, mcast_dst_ip, native_ipv6); False when ``version`` differs from it."""
    if inst.get("_family") is None:
        inst["_family"] = version
    return bool(inst["_family"] == version)


def _src_ip(field: str) -> Handler:
    def handle(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        text = ctx.string(line)
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            ctx.error(
                line,
                f"Configuration error: VRRP instance[{draft['name']}] malformed {field}"
                f" address[{text}]. Skipping...",
            )
            return
        if not _same_family(draft, ip.version):
            if field == "mcast_dst_ip":
                ctx.error(line, f"({draft['name']}) mcast dest address {text} MUST match VRRP instance family."
                                " Skipping...")
            else:
                ctx.error(line, f"Configuration error: VRRP instance[{draft['name']}] and src address[{text}]"
                                " MUST be of the same family !!! Skipping...")
            return
        if field == "mcast_dst_ip" and not ip.is_multicast:
            ctx.error(line, f"({draft['name']}) mcast_dst_ip {text} not multicast. Skipping...")
            return
        draft[field] = ip
        if field == "unicast_src_ip":
            draft["_unicast_configured"] = True

    return handle


for _f in ("mcast_src_ip", "unicast_src_ip", "mcast_dst_ip"):
    INSTANCE.keyword(_f)(_src_ip(_f))


@INSTANCE.keyword("old_unicast_checksum")
def _old_checksum(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    value = line.words[1].text if len(line.words) > 1 else "always"
    if value not in ("never", "always"):
        ctx.error(line, f"({draft['name']}) Unknown old_unicast_chksum mode {value} - ignoring")
        return
    draft["old_unicast_checksum"] = value


def _vmac_mac(ctx: Context, line: LogicalLine, text: str) -> str | None:
    """A ``use_vmac`` MAC as keepalived's ``vrrp_vmac_handler`` reads it: 6 octets, or 5 (the VRID is
    the last: returned ending in ``:``); None (reported) when invalid, multicast or a VRRP address."""
    if text.strip("0123456789ABCDEFabcdef:"):
        ctx.error(line, f"VMAC invalid MAC address {text}")
        return None
    parts = text.split(":")
    if parts and parts[-1] == "" and len(parts) == 6:
        parts = parts[:-1]
    if len(parts) not in (5, 6) or any(not 1 <= len(p) <= 2 for p in parts):
        ctx.error(line, f"VMAC invalid MAC address {text} - ignored")
        return None
    octets = [int(p, 16) for p in parts]
    if octets[0] & 1:
        ctx.error(line, f"VMAC MAC address is multicast {text} - ignoring")
        return None
    if octets[:4] == [0, 0, 0x5E, 0] and octets[4] in (1, 2):
        ctx.error(line, f"VMAC MAC address not allowed to be RFC5798 address ({text}) - ignoring")
        return None
    return ":".join(f"{o:02x}" for o in octets) + (":" if len(octets) == 5 else "")


@INSTANCE.keyword("use_vmac")
def _use_vmac(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    """``use_vmac [IFNAME] [MAC]`` (either order; keepalived reads the first two words)."""
    ifname = mac = None
    used: dict[str, str] = ctx.shared.setdefault("vmac_names", {})
    for w in line.texts()[1:3]:
        if ":" in w:
            if mac is not None:
                ctx.error(line, "VMAC interface address already specified")
                continue
            mac = _vmac_mac(ctx, line, w)
        else:
            if ifname is not None:
                ctx.error(line, "VMAC interface name already specified")
                continue
            if len(w) >= 16 or "/" in w or w in (".", "..") or any(c.isspace() for c in w):
                ctx.error(line, f"VMAC interface name '{w}' too long or invalid characters - ignoring")
                continue
            if w in used and used[w] != draft["name"]:
                ctx.error(line, f"({draft['name']}) VRRP instance {used[w]} is already using {w} - ignoring name")
                continue
            ifname = w
            used[w] = draft["name"]
    draft["_vmac"] = (ifname, mac)


#: ``use_ipvlan``'s types: IFLA_IPVLAN_FLAGS 0, IPVLAN_F_PRIVATE, IPVLAN_F_VEPA
IPVLAN_TYPES = ("bridge", "private", "vepa")


def _ip_word(text: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface | None:
    """``check_valid_ipaddress(text, true)``: an address with an optional prefix (None if not one)."""
    if "." not in text and ":" not in text:
        return None
    try:
        return ipaddress.ip_interface(text)
    except ValueError:
        return None


@INSTANCE.keyword("use_ipvlan")
def _use_ipvlan(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    """``use_ipvlan [IFNAME] [IP[/PREFIX]] [bridge|private|vepa]``, words in any order, as keepalived
    2.2.7's ``vrrp_ipvlan_handler`` reads them.  The ipvlan is always L2 mode: keepalived has no mode word,
    so ``l2`` / ``l3`` would be an interface name (noted).  The address sets the instance's family."""
    name = draft["name"]
    if "_ipvlan" in draft:
        ctx.error(line, f"({name}) use_ipvlan already specified")
        return
    ifname: str | None = None
    address = None
    kind: str | None = None
    used: dict[str, str] = ctx.shared.setdefault("vmac_names", {})
    for word in line.words[1:]:
        w = word.text
        if w in IPVLAN_TYPES:
            if kind is not None:
                ctx.error(word, f"({name}) ipvlan type already specified - ignoring '{w}'")
            else:
                kind = w
            continue
        ip = _ip_word(w)
        if ip is not None:
            if address is not None:
                ctx.error(word, f"({name}) ipvlan address already specified - ignoring '{w}'")
            elif not _same_family(draft, ip.version):
                ctx.error(word, f"({name}) ipvlan address[{w}] MUST match vrrp instance family !!! Skipping...")
            else:
                address = ip
            continue
        if ifname is not None:
            ctx.error(word, f"({name}) IPVLAN interface already specified - ignoring '{w}'")
            continue
        if len(w) >= 16:
            ctx.error(word, f"({name}) IPVLAN interface name '{w}' too long - ignoring")
            continue
        if w in used and used[w] != name:
            ctx.error(word, f"({name}) VRRP instance {used[w]} is already using {w} - ignoring name")
            continue
        if w.lower() in ("l2", "l3", "l3s"):
            ctx.note(word, f"keepalived 2.2.7 has no ipvlan mode word (its ipvlan is always L2): "
                           f"'{w}' is the interface's name")
        ifname = w
        used[w] = name
    draft["_ipvlan"] = (ifname, address, kind or "bridge")


_garp_extra_if = garp_extra_if("garp_extra_if", "({name}): ")


@INSTANCE.keyword("garp_extra_if", "vmac_garp_intvl")
def _inst_garp_extra_if(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    if line.keyword == "vmac_garp_intvl":
        ctx.warning(
            line,
            'Keyword "vmac_garp_intvl" is deprecated - please use "garp_extra_if"',
            cls=ErrClass.DEPRECATED,
        )
    _garp_extra_if(ctx, line, draft)


for _kw in (
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify",
    "notify_deleted",
    "notify_master_rx_lower_pri",
):
    INSTANCE.keyword(_kw)(notify_handler(NOTIFY_FIELDS.get(_kw, _kw.removeprefix("notify_")), "({name})"))


def _vip_list_entry(excluded: bool) -> Handler:
    def entry(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        inst = draft["_parent"]
        vip = parse_vip(ctx, line, static=False)
        if vip is None:
            return
        if not excluded and not _same_family(inst, vip.address.version):
            ctx.error(
                line,
                f"({inst['name']}): address family must match VRRP instance [{line.words[0].text}]"
                " - ignoring",
            )
            return
        items(inst, "virtual_ipaddress_excluded" if excluded else "virtual_ipaddress").append(vip)

    return entry


def child_begin(ctx: Context, line: LogicalLine, parent: Draft) -> Draft:
    return {"_parent": parent, "_loc": line.loc}


INSTANCE.sub(
    "virtual_ipaddress",
    Block("virtual_ipaddress", kind="lines", begin=child_begin, entry=_vip_list_entry(False)),
)
INSTANCE.sub(
    "virtual_ipaddress_excluded",
    Block("virtual_ipaddress_excluded", kind="lines", begin=child_begin, entry=_vip_list_entry(True)),
)
INSTANCE.sub(
    "virtual_routes",
    entries_block("virtual_routes", "virtual_routes", lambda ctx, line: parse_route(ctx, line, False)),
)
INSTANCE.sub(
    "virtual_rules",
    entries_block("virtual_rules", "virtual_rules", lambda ctx, line: parse_rule(ctx, line, False)),
)
for _kw in TRACKERS:
    INSTANCE.sub(_kw, track_block(_kw))


def _peer_entry(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    inst = draft["_parent"]
    t = line.texts()
    try:
        ip = ipaddress.ip_address(t[0])
    except ValueError:
        ctx.error(
            line,
            f"Configuration error: VRRP instance[{inst['name']}] malformed unicast peer address"
            f"[{t[0]}]. Skipping...",
        )
        return
    if not _same_family(inst, ip.version):
        ctx.error(line, f"Configuration error: VRRP instance[{inst['name']}] and unicast peer address[{t[0]}]"
                        " MUST be of the same family !!! Skipping...")
        return
    opts: dict[str, int] = {}
    i = 1
    while i < len(t):
        if t[i] in ("min_ttl", "max_ttl"):
            if i + 1 >= len(t):
                ctx.error(line, f"({inst['name']}) {t[i]} is missing a value")
                return
            try:
                opts[t[i]] = ctx.integer(line, i + 1, 0, 255)
            except SkipLine:
                return
            i += 2
            continue
        ctx.error(line, f"({inst['name']}) unknown unicast_peer option {t[i]}")
        return
    if opts.get("min_ttl", 0) > opts.get("max_ttl", 255):
        ctx.error(
            line,
            f"({inst['name']}) min_ttl {opts['min_ttl']} > max_ttl {opts['max_ttl']} - all packets"
            " will be discarded",
        )
    items(inst, "unicast_peer").append(UnicastPeer(ip, **opts))


def _peers_begin(ctx: Context, line: LogicalLine, parent: Draft) -> Draft:
    parent["_unicast_configured"] = True
    return {"_parent": parent, "_loc": line.loc}


INSTANCE.sub("unicast_peer", Block("unicast_peer", kind="lines", begin=_peers_begin, entry=_peer_entry))

AUTH = Block("authentication", begin=child_begin)


@AUTH.keyword("auth_type")
def _auth_type(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    value = ctx.string(line)
    if value not in ("PASS", "AH"):
        ctx.error(line, f"({draft['_parent']['name']}) unknown authentication type '{value}'")
        return
    if value == "AH":
        # the VRRP daemon refuses to run an instance with AH authentication
        ctx.note(line.words[1], unsupported_note("auth_type AH", "rejected"))
    draft["_parent"]["_auth_type"] = value


@AUTH.keyword("auth_pass")
def _auth_pass(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    value = ctx.string(line)
    if len(value) > 8:
        ctx.error(line, "Truncating auth_pass to 8 characters")
        value = value[:8]
    draft["_parent"]["_auth_pass"] = value


INSTANCE.sub("authentication", AUTH)


#: instance keywords that make it a unicast instance (keepalived's VRRP_FLAG_UNICAST_CONFIGURED)
_UNICAST_KEYWORDS = ("unicast_fault_no_peer", "check_unicast_src", "old_unicast_checksum")


def _instance_end(ctx: Context, draft: Draft, parent: Draft) -> None:
    """keepalived's ``vrrp_end_handler``: unicast with a VMAC, and unicast_ttl without peers."""
    name = draft["name"]
    if any(k in draft for k in _UNICAST_KEYWORDS):
        draft["_unicast_configured"] = True
    if draft.get("_unicast_configured") and ("_vmac" in draft or draft.get("_ipvlan")):
        if draft.get("interface") is None:
            ctx.error(draft["_loc"], f"({name}): Cannot use VMAC/ipvlan with unicast and no interface"
                                     " - clearing use_vmac")
            draft.pop("_vmac", None)
            draft.pop("_ipvlan", None)
        elif not draft.get("vmac_xmit_base"):
            ctx.error(draft["_loc"], f"({name}) unicast with use_vmac requires vmac_xmit_base - setting")
            draft["vmac_xmit_base"] = True
    if not draft.get("unicast_peer") and "unicast_ttl" in draft:
        ctx.error(draft["_loc"], f"({name}): Cannot use unicast_ttl without unicast peers - resetting")
        del draft["unicast_ttl"]
    items(parent, "instances").append(draft)


INSTANCE.end = _instance_end


def register(root: Block) -> None:
    root.sub("vrrp_instance", INSTANCE)
