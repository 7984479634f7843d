"""``global_defs`` and the root-level process keywords (keepalived's global_parser.c).

Most global keywords are a single typed value, so they are described once in :data:`SIMPLE`
(keepalived's keyword, kind, range and messages) and both the parser and the renderer are
driven from that table; only keywords with their own syntax have a handler here.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import ErrClass
from ..lines import LogicalLine, Word
from ..model_global import Fifo, GlobalDefs, LvsSyncDaemon, LvsTimeouts, SmtpServer
from ..parser import Block, Context, Draft, Handler, SkipLine
from ..script_security import user_resolves
from ..scripts import script_from_line
from .common import Scalar, garp_extra_if, install_scalars, scalar_handler

Kind = Literal["flag", "bool", "str", "int", "timer", "words", "ints"]

UINT_MAX = 4294967295


@dataclass(frozen=True)
class Simple(Scalar):
    """A single-valued global keyword; ``root``: written at the root level (outside global_defs)."""
    root: bool = False


def _simple_table() -> list[Simple]:
    s: list[Simple] = [
        Simple("net_namespace", "str", root=True, missing="net_namespace name missing - ignoring"),
        Simple("net_namespace_ipvs", "str", root=True, missing=""),
        Simple("namespace_with_ipsets", "flag", root=True),
        Simple("instance", "str", root=True, missing="instance name missing - ignoring"),
        Simple("use_pid_dir", "flag", root=True),
        Simple("linkbeat_use_polling", "flag", root=True),
        Simple("child_wait_time", "int", 0, UINT_MAX, "Invalid child_wait_time {arg}", root=True),
        Simple("router_id", "str", missing="routerid name missing - ignoring"),
        Simple("notification_email_from", "str", missing="emailfrom missing - ignoring"),
        Simple("smtp_helo_name", "str", missing=""),
        Simple("smtp_alert", "bool"),
        Simple("smtp_alert_vrrp", "bool"),
        Simple("smtp_alert_checker", "bool"),
        Simple("no_email_faults", "flag"),
        Simple("checker_log_all_failures", "bool"),
        Simple("no_checker_emails", "bool"),
        Simple("rs_init_notifies", "bool"),
        Simple("enable_script_security", "flag"),
        Simple("vrrp_notify_priority_changes", "bool"),
        Simple("fifo_write_vrrp_states_on_reload", "flag"),
        Simple("vrrp_version", "int", 2, 3, "VRRP Error: Version must be either 2 or 3"),
        Simple(
            "vrrp_garp_master_delay",
            "int",
            0,
            UINT_MAX // 1000000,
            "vrrp_garp_master_delay '{arg}' invalid - ignoring",
        ),
        Simple(
            "vrrp_garp_master_refresh",
            "int",
            0,
            UINT_MAX,
            "Invalid vrrp_garp_master_refresh '{arg}' - ignoring",
        ),
        Simple(
            "vrrp_garp_lower_prio_delay",
            "int",
            0,
            UINT_MAX // 1000000,
            "vrrp_garp_lower_prio_delay '{arg}' invalid - ignoring",
        ),
        Simple(
            "vrrp_garp_lower_prio_repeat", "int", 0, 2147483647, "Invalid vrrp_garp_lower_prio_repeat '{arg}'"
        ),
        Simple("vrrp_garp_interval", "timer", 0.000001, 4294.967295, "vrrp_garp_interval '{arg}' is invalid"),
        Simple("vrrp_gna_interval", "timer", 0.000001, 4294.967295, "vrrp_gna_interval '{arg}' is invalid"),
        Simple("vrrp_min_garp", "bool"),
        Simple("vrrp_down_timer_adverts", "int", 1, 100, "Invalid vrrp_down_timer_adverts [1:100] '{arg}'"),
        Simple("vrrp_lower_prio_no_advert", "bool"),
        Simple("vrrp_higher_prio_send_advert", "bool"),
        Simple("vrrp_check_unicast_src", "flag"),
        Simple("vrrp_skip_check_adv_addr", "flag"),
        Simple("vrrp_strict", "flag"),
        Simple("default_interface", "str", missing="default_interface requires interface name",
               shared="default_interface"),  # static addresses use it while parsing
        Simple("disable_local_igmp", "flag"),
        Simple("vrrp_startup_delay", "timer", 0.001, 4294.967295, "vrrp_startup_delay '{arg}' is invalid"),
        Simple("log_unknown_vrids", "flag"),
        Simple("vmac_prefix", "str"),
        Simple("vmac_addr_prefix", "str"),
        Simple("vrrp_rx_bufs_multiplier", "int", 1, UINT_MAX, "Invalid vrrp_rx_bufs_multiplier {arg}",
               missing="Invalid vrrp_rx_bufs_multiplier"),
        Simple(
            "nftables_priority", "int", -2147483648, 2147483647, "invalid nftables chain priority '{arg}'"
        ),
        Simple("nftables_ifindex", "flag"),
        Simple("nftables_counters", "flag"),
        Simple(
            "nftables_ipvs_priority",
            "int",
            -2147483648,
            2147483647,
            "invalid ipvs nftables chain priority '{arg}'",
        ),
        Simple(
            "nftables_ipvs_start_fwmark",
            "int",
            1,
            UINT_MAX,
            "invalid ipvs nftables start_fwmark priority '{arg}'",
        ),
        Simple("lvs_flush", "flag"),
        Simple(
            "min_auto_priority_delay",
            "int",
            1,
            10000000,
            "min_auto_priority_delay '{arg}' must be in [1, 10000000] - ignoring",
            missing="min_auto_priority_delay requires delay time",
        ),
        Simple("snmp_socket", "str", missing="SNMP error : snmp socket name missing"),
        Simple("enable_traps", "flag"),
        Simple("enable_snmp_vrrp", "flag"),
        Simple("enable_snmp_checker", "flag"),
        Simple("enable_snmp_rfcv2", "flag"),
        Simple("enable_snmp_rfcv3", "flag"),
        Simple("enable_dbus", "flag"),
        Simple("dbus_service_name", "str", missing="dbus_service_name missing - ignoring"),
        Simple("random_seed", "int", 0, UINT_MAX, "random_seed {arg} invalid"),
        Simple("reload_time_file", "str", missing="reload_time_file invalid"),
        Simple("reload_repeat", "flag"),
        Simple("config_save_dir", "str"),
        Simple("tmp_config_directory", "str", missing="tmp_config_directory missing directory name"),
        Simple("data_use_instance", "bool"),
    ]
    for proc in ("vrrp", "checker", "bfd"):
        s += [
            Simple(f"{proc}_priority", "int", -20, 19, f"Invalid {proc} process priority specified",
                   missing=f"No {proc} process priority specified"),
            Simple(f"{proc}_no_swap", "flag"),
            Simple(
                f"{proc}_rt_priority", "int", 1, 99, f"{proc} process real-time priority '{{arg}}' invalid",
                missing=f"No {proc} process real-time priority specified",
            ),
            Simple(f"{proc}_cpu_affinity", "ints", 0, 4095, missing=f"No {proc} cpu_id set specified"),
            Simple(f"{proc}_rlimit_rttime", "int", 1, UINT_MAX, f"Invalid {proc} real-time limit - {{arg}}"),
        ]
    for nl in (
        "vrrp_netlink_cmd",
        "vrrp_netlink_monitor",
        "lvs_netlink_cmd",
        "lvs_netlink_monitor",
        "process_monitor",
    ):
        s += [
            Simple(f"{nl}_rcv_bufs", "int", 0, UINT_MAX, f"{nl}_rcv_bufs size ({{arg}}) invalid",
                   missing=f"{nl}_rcv_bufs size missing"),
            Simple(f"{nl}_rcv_bufs_force", "bool"),
        ]
    return s


SIMPLE: list[Simple] = _simple_table()

#: global_defs keywords that are parsed and validated as keepalived does, but whose feature
#: pykeepalived does not have (D-Bus): a note says so where they are used.  (SNMP's keywords are
#: served by :mod:`pykeepalived.snmp`.)  keepalived as
#: Debian builds 2.2.7 has nftables but neither iptables nor ipsets: ``vrrp_iptables`` is an error
#: that selects nftables, ``vrrp_ipsets`` an unknown keyword; pykeepalived does the same.
UNSUPPORTED = ("enable_dbus", "dbus_service_name")

#: old keyword -> (current keyword, message keepalived prints, class or None for a log line only)
ALIASES: dict[str, tuple[str, str, ErrClass | None]] = {
    "lvs_process_name": (
        "checker_process_name",
        "'lvs_process_name' is deprecated - please use 'checker_process_name'",
        None,
    ),
    # keepalived 2.2.7 takes these two as plain synonyms: a note only
    "enable_snmp_keepalived": (
        "enable_snmp_vrrp",
        "enable_snmp_keepalived is deprecated - please use 'enable_snmp_vrrp'",
        None,
    ),
    "lvs_flush_onstop": (
        "lvs_flush_on_stop",
        "lvs_flush_onstop is deprecated - please use 'lvs_flush_on_stop'",
        None,
    ),
    "vrrp_vmac_garp_intvl": (
        "vrrp_garp_extra_if",
        'Keyword "vrrp_vmac_garp_intvl" is deprecated - please use "vrrp_garp_extra_if"',
        ErrClass.DEPRECATED,
    ),
    **{
        f"{p}_rlimit_rtime": (
            f"{p}_rlimit_rttime",
            f"Keyword '{p}_rlimit_rtime' is deprecated - please use '{p}_rlimit_rttime'",
            None,
        )
        for p in ("vrrp", "checker", "bfd")
    },
}

_FIELDS = {f.name: f for f in dataclasses.fields(GlobalDefs)}


def _simple_handler(spec: Simple) -> Handler:
    """Root-level keywords write into the same dict as the global_defs block."""
    return scalar_handler(dataclasses.replace(spec, into=_root_target) if spec.root else spec)


def _root_target(draft: Draft) -> Draft:
    return draft.setdefault("global", {})


# -- keywords with their own syntax ---------------------------------------------------------

GLOBAL_DEFS = Block("global_defs", begin=lambda ctx, line, parent: parent.setdefault("global", {}))


def _emails(ctx: Context, words: list[Word], draft: Draft) -> None:
    if not words:
        ctx.error(draft.get("_loc"), "Warning - empty notification_email block")
    draft["emails"] = tuple(w.text for w in words)


def _emails_end(ctx: Context, draft: Draft, parent: Draft) -> None:
    parent["notification_email"] = parent.get("notification_email", ()) + draft.get("emails", ())


NOTIFICATION_EMAIL = Block("notification_email", kind="words", words=_emails, end=_emails_end)
GLOBAL_DEFS.sub("notification_email", NOTIFICATION_EMAIL)


@GLOBAL_DEFS.keyword("smtp_server")
def _smtp_server(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    host = ctx.string(line)
    port = 25
    if len(line.words) > 2:
        try:
            port = ctx.integer(line, 2, 1, 65535)
        except SkipLine:
            ctx.error(line, f"Invalid smtp server {host} {line.words[2].text}")
            raise
    if not _smtp_host_resolves(host, port):
        ctx.error(line, f"Invalid smtp server {host} {line.words[2].text if len(line.words) > 2 else port}")
        return
    draft["smtp_server"] = SmtpServer(host, port)


def _smtp_host_resolves(host: str, port: int) -> bool:
    """keepalived takes an address, else asks the resolver (``getaddrinfo``) now, at parse time."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        return bool(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
    except (OSError, UnicodeError):
        return False


@GLOBAL_DEFS.keyword("vrrp_iptables")
def _vrrp_iptables(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    ctx.error(line, "iptables not supported, using nftables instead. Please replace 'vrrp_iptables and"
                    " 'vrrp_ipsets' with 'nftables' config option")
    draft["nftables"] = "keepalived"


#: sched_get_priority_max(SCHED_RR) on Linux: max_auto_priority's value when none is given
MAX_RT_PRIORITY = 99


@GLOBAL_DEFS.keyword("max_auto_priority")
def _max_auto_priority(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    if len(line.words) < 2:
        draft["max_auto_priority"] = MAX_RT_PRIORITY
        return
    try:
        draft["max_auto_priority"] = ctx.integer(line, 1, -1, MAX_RT_PRIORITY)
    except SkipLine:
        ctx.error(line, f"max_auto_priority '{line.words[1].text}' must be in [0, {MAX_RT_PRIORITY}]"
                        " (or -1 to disable) - ignoring")
        raise


install_scalars(
    GLOBAL_DEFS,
    [
        *(Scalar(kw, "int", 1, 1000, "{kw} '{arg}' must be in [1, 1000] - ignoring", missing="{kw} requires value")
          for kw in ("startup_script_timeout", "shutdown_script_timeout")),
        Scalar("smtp_connect_timeout", "int", 0, UINT_MAX // 1000000,
               f"smtp_connect_timeout '{{arg}}' must be in [0, {UINT_MAX // 1000000}] - ignoring",
               zero="smtp_conect_timeout must be greater than 0, setting to 1"),
        # 0 is corrected to 1 as keepalived does
        *(Scalar(kw, "int", 0, UINT_MAX, "{kw} '{arg}' invalid - ignoring",
                 zero="{kw} must be greater than 0, setting to 1")
          for kw in ("vrrp_garp_master_repeat", "vrrp_garp_master_refresh_repeat")),
    ],
)


#: the kernel's TASK_COMM_LEN: a process name is at most 15 characters
TASK_COMM_LEN = 16
#: the names ``process_names`` gives the children (keepalived 2.2.7's process_names_handler; the parent keeps its own)
DEFAULT_PROCESS_NAMES = {"vrrp_process_name": "keepalived_vrrp", "checker_process_name": "keepalived_lvs",
                         "bfd_process_name": "keepalived_bfd"}


@GLOBAL_DEFS.keyword("process_names")
def _process_names(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["process_names"] = True
    draft.update(DEFAULT_PROCESS_NAMES)  # a name given before is replaced, one given after wins: keyword order


def _process_name(key: str) -> Callable[[Context, LogicalLine, Draft], None]:
    def handler(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        name = ctx.string(line)  # keepalived's parser refuses the line without a name (MISSING_PARAMETER)
        if len(name) >= TASK_COMM_LEN:
            ctx.error(line, f"Process name {name} more than {TASK_COMM_LEN - 1} characters, truncating")
            name = name[:TASK_COMM_LEN - 1]
        draft[key] = name

    return handler


for _key in ("process_name", "vrrp_process_name", "checker_process_name", "bfd_process_name"):
    GLOBAL_DEFS.keyword(_key)(_process_name(_key))


@GLOBAL_DEFS.keyword("script_user")
def _script_user(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    if len(line.words) < 2:
        ctx.error(line, "No script username specified")
        return
    user = draft["script_user"] = line.words[1].text
    group = line.words[2].text if len(line.words) > 2 else None
    if group is not None:
        draft["script_group"] = group
    if not user_resolves(user, group):
        ctx.error(line, "Error setting global script uid/gid")
        ctx.shared["script_user_failed"] = True


def _script_kw(field: str) -> Callable[[Context, LogicalLine, Draft], None]:
    def handle(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        if draft.get(field) is not None:
            ctx.error(line, f"{field.split('_')[0]} script already specified")
            return
        if len(line.words) < 2:
            if field in ("startup_script", "shutdown_script"):
                ctx.error(line, f"{field.split('_')[0]} script missing")
            else:
                ctx.error(line, f"No {field.removesuffix('notify_fifo_script')}notify_fifo_script specified")
            return
        draft[field] = script_from_line(ctx, line)

    return handle


for _f in (
    "startup_script",
    "shutdown_script",
    "notify_fifo_script",
    "vrrp_notify_fifo_script",
    "lvs_notify_fifo_script",
):
    GLOBAL_DEFS.keyword(_f)(_script_kw(_f))


def _fifo(field: str) -> Callable[[Context, LogicalLine, Draft], None]:
    def handle(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        prefix = field[: -len("notify_fifo")]
        if len(line.words) < 2:
            ctx.error(line, f"No {prefix}notify_fifo name specified")
            return
        if draft.get(field) is not None:
            ctx.error(line, f"{prefix}notify_fifo already specified - ignoring {line.words[1].text}")
            return
        t = line.texts()
        draft[field] = Fifo(t[1], t[2] if len(t) > 2 else None, t[3] if len(t) > 3 else None)

    return handle


for _f in ("notify_fifo", "vrrp_notify_fifo", "lvs_notify_fifo"):
    GLOBAL_DEFS.keyword(_f)(_fifo(_f))


def _mcast_group(version: int) -> Callable[[Context, LogicalLine, Draft], None]:
    kw = f"vrrp_mcast_group{4 if version == 4 else 6}"

    def handle(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        text = ctx.string(line)
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            ctx.error(line, f"Can't parse {kw} [{text}]. Skipping")
            return
        if addr.version != version:
            ctx.error(line, f"{kw} [{text}] is not IPv{version}. Skipping")
            return
        if not addr.is_multicast:
            ctx.error(line, f"{kw} [{text}] is not multicast. Skipping")
            return
        if version == 6 and not str(addr).startswith("ff02"):
            ctx.warning(line, f"{kw} [{text}] should be link-local multicast.")
        draft[kw] = addr

    return handle


GLOBAL_DEFS.keyword("vrrp_mcast_group4")(_mcast_group(4))
GLOBAL_DEFS.keyword("vrrp_mcast_group6")(_mcast_group(6))


GLOBAL_DEFS.keyword("vrrp_garp_extra_if")(garp_extra_if("vrrp_garp_extra_if"))


@GLOBAL_DEFS.keyword("dynamic_interfaces")
def _dynamic_interfaces(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["dynamic_interfaces"] = True
    ctx.shared["dynamic_interfaces"] = True
    if len(line.words) > 1:
        if line.words[1].text == "allow_if_changes":
            draft["dynamic_interfaces_allow_if_changes"] = True
        else:
            ctx.error(line, f"Unknown dynamic_interfaces option '{line.words[1].text}'")


@GLOBAL_DEFS.keyword("nftables", "nftables_ipvs")
def _nftables(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    field = line.keyword
    if draft.get(field) is not None:
        what = "ipvs nftables" if field == "nftables_ipvs" else "nftables"
        ctx.error(line, f"{what} already specified - ignoring")
        return
    name = (
        line.words[1].text if len(line.words) > 1 else "keepalived" + ("_ipvs" if field != "nftables" else "")
    )
    draft[field] = name


@GLOBAL_DEFS.keyword("lvs_timeouts")
def _lvs_timeouts(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    t = line.texts()
    if len(t) < 2:
        ctx.error(line, "lvs_timeouts requires at least one option")
        return
    values: dict[str, int] = {}
    i = 1
    while i < len(t):
        opt = t[i]
        if opt in ("tcp", "tcpfin", "udp"):
            if i + 1 >= len(t):
                ctx.error(line, f"No value specified for lvs_timeout {opt} - ignoring")
                break
            try:
                values[opt] = ctx.integer(line, i + 1, 0, 86400 * 31)
            except SkipLine:
                ctx.error(line, f"Invalid lvs_timeout {opt} ({t[i + 1]}) - ignoring")
            i += 2
            continue
        ctx.error(line, f"Unknown option {opt} specified for lvs_timeouts")
        i += 1
    draft["lvs_timeouts"] = LvsTimeouts(**values)


@GLOBAL_DEFS.keyword("lvs_flush_on_stop", "lvs_flush_onstop")
def _lvs_flush_on_stop(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    if line.keyword == "lvs_flush_onstop":
        ctx.note(line, ALIASES["lvs_flush_onstop"][1])
    if len(line.words) < 2:
        draft["lvs_flush_on_stop"] = "ALL"
    elif line.words[1].text == "VS":
        draft["lvs_flush_on_stop"] = "VS"
    else:
        ctx.error(line, f"Unknown lvs_flush_on_stop type {line.words[1].text}")


@GLOBAL_DEFS.keyword("lvs_sync_daemon")
def _lvs_sync_daemon(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    t = line.texts()
    if draft.get("lvs_sync_daemon") is not None:
        cur = draft["lvs_sync_daemon"]
        ctx.error(
            line,
            f"lvs_sync_daemon has already been specified as {cur.interface} {cur.instance or ''} - ignoring",
        )
        return
    if len(t) < 2:
        ctx.error(line, "lvs_sync_daemon requires interface")
        return
    if len(t[1]) >= 16:
        ctx.error(line, f"lvs_sync_daemon interface name '{t[1]}' too long - ignoring")
        return
    opts: dict[str, Any] = {}
    limits = {
        "id": ("syncid", 0, 255),
        "maxlen": ("maxlen", 1, 65535 - 28),
        "port": ("port", 1, 65535),
        "ttl": ("ttl", 1, 255),
    }
    i = 2
    while i < len(t):
        opt = t[i]
        if opt in limits or opt in ("inst", "group"):
            if i + 1 >= len(t):
                ctx.error(line, f"No value specified for lvs_sync_daemon {opt} - ignoring")
                break
            if opt == "inst":
                opts["instance"] = t[i + 1]
            elif opt == "group":
                opts["group"] = t[i + 1]
            else:
                field, lo, hi = limits[opt]
                try:
                    opts[field] = ctx.integer(line, i + 1, lo, hi)
                except SkipLine:
                    ctx.error(line, f"Invalid lvs_sync_daemon {opt} ({t[i + 1]}) - ignoring")
            i += 2
            continue
        if i == 2:  # old syntax: IF VRRP_INSTANCE [SYNCID]
            opts["instance"] = opt
            if len(t) > 3 and t[3].isdigit():
                opts["syncid"] = int(t[3])
                ctx.error(line, 'Please use keyword "id" before lvs_sync_daemon SYNCID')
                i += 1
            i += 1
            continue
        ctx.error(line, f"Unknown option {opt} specified for lvs_sync_daemon")
        i += 1
    draft["lvs_sync_daemon"] = LvsSyncDaemon(t[1], **opts)


@GLOBAL_DEFS.keyword("enable_snmp_rfc")
def _snmp_rfc(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["enable_snmp_rfcv2"] = draft["enable_snmp_rfcv3"] = True


@GLOBAL_DEFS.keyword("umask")
def _umask(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    """``umask 022`` (C ``strtol`` base 0) or ``umask IWGRP|IWOTH`` (symbolic bits, ``|``-joined)."""
    mask = ctx.arg(line, 1).text  # keepalived reads the value before it counts the words
    t = line.texts()
    if mask[0].isdigit():
        if len(t) != 2:
            ctx.error(line, "Extra parameter(s) to umask option")
            return
        value = _strtol0(mask)
        if value is None or value & ~0o777:
            ctx.error(line, f"invalid umask value {mask}")
            return
    else:
        need_or = False
        for w in t[1:]:
            p = 0
            while p < len(w):
                if need_or:
                    if w[p] == "|":
                        need_or, p = False, p + 1
                        continue
                    ctx.error(line, f"Invalid umask syntax {w}")
                    return
                if w[p:p + 5] not in _UMASK_BITS:
                    ctx.error(line, f"Unknown umask bit {w[p:]}")
                    return
                p, need_or = p + 5, True
        if not need_or:
            ctx.error(line, "umask missing bit value")
            return
    draft["umask"] = " ".join(t[1:])


_UMASK_BITS = ("IRUSR", "IWUSR", "IXUSR", "IRGRP", "IWGRP", "IXGRP", "IROTH", "IWOTH", "IXOTH")


def _strtol0(text: str) -> int | None:
    """C ``strtol(text, &end, 0)`` that must consume everything: 0x.. hex, 0.. octal, else decimal."""
    low = text.lower()
    try:
        if low.startswith("0x"):
            return int(low[2:], 16)
        if low.startswith("0") and len(low) > 1:
            return int(low[1:], 8)
        return int(low, 10)
    except ValueError:
        return None


@GLOBAL_DEFS.keyword("vrrp_rx_bufs_policy")
def _rx_bufs_policy(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    """``MTU``, ``ADVERT`` or a size.  keepalived reads a size from the first word whichever word
    it is looking at, so ``MTU 4096`` calls 4096 invalid; the same here."""
    t = line.texts()
    if len(t) < 2:
        ctx.error(line, "vrrp_rx_bufs_policy missing")
        return
    mtu = advert = size = False
    for w in t[1:]:
        if w.upper() == "MTU":
            mtu = True
        elif w.upper() == "ADVERT":
            advert = True
        elif t[1].isdigit() and int(t[1]) <= UINT_MAX:
            size = True
        else:
            ctx.error(line, f"Invalid vrrp_rx_bufs_policy {w}")
    if size and (mtu or advert):
        ctx.error(line, "Cannot set vrrp_rx_bufs_policy size and policy, ignoring policy")
    elif mtu and advert:
        ctx.error(line, "Cannot set both vrrp_rx_bufs_policy MTU and ADVERT, ignoring ADVERT")
    draft["vrrp_rx_bufs_policy"] = tuple(t[1:])


@GLOBAL_DEFS.keyword("reload_check_config", "reload_file")
def _optional_path(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft[line.keyword] = line.words[1].text if len(line.words) > 1 else ""


@GLOBAL_DEFS.keyword("include_check")
def _include_check(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["include_check"] = tuple(line.texts()[1:])


def register(root: Block) -> None:
    """Install global_defs and the root-level process keywords."""
    for spec in SIMPLE:
        handler = _simple_handler(spec)
        if spec.root:
            root.keyword(spec.keyword)(handler)
        else:
            GLOBAL_DEFS.keyword(spec.keyword)(handler)
    for old, (new, message, cls) in ALIASES.items():
        if old in GLOBAL_DEFS.keywords:
            continue
        target = GLOBAL_DEFS.keywords[new].handler
        assert target is not None
        GLOBAL_DEFS.keyword(old)(_alias(target, message, cls))
    for name in UNSUPPORTED:
        GLOBAL_DEFS.unsupported(name)
    root.sub("global_defs", GLOBAL_DEFS)


def _alias(
    target: Callable[[Context, LogicalLine, Draft], None], message: str, cls: ErrClass | None
) -> Callable[[Context, LogicalLine, Draft], None]:
    def handle(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        if cls is None:
            ctx.note(line, message)
        else:
            ctx.warning(line, message, cls=cls)
        target(ctx, line, draft)

    return handle


