"""The files keepalived 2.2.7 writes on signals, in its layouts, written without following links.

Who writes what (keepalived's core/main.c, vrrp/vrrp_print.c, vrrp/vrrp_json.c, check/check_print.c):

=================  ==========================================================================
signal             files
=================  ==========================================================================
USR1 (DATA)        parent ``keepalived_parent.data`` (global definitions), VRRP child
                   ``keepalived.data`` (global definitions, VRRP topology, sockets, scripts,
                   interfaces), checker child ``keepalived_check.data`` (global definitions,
                   LVS topology, health checkers) -- three files, none appends to another
USR2 (STATS)       VRRP child ``keepalived.stats`` (the parent forwards it to the VRRP child only)
36 (JSON)          VRRP child ``keepalived.json`` (one compact line)
63 (STATS_CLEAR)   VRRP child ``keepalived.stats``, then every counter is zeroed
=================  ==========================================================================

All go to ``$TMPDIR`` when it starts with ``/``, else /tmp.  With ``data_use_instance`` and an
``instance`` or ``net_namespace``, the ``.data`` names carry them (``keepalived.NS_INST.data``).
Every file is written by :func:`write_private`: a new 0600 file created with O_EXCL|O_NOFOLLOW
beside the target, then renamed over it, so a link planted at the target is replaced, never
followed (keepalived's ``fopen_safe``).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pykeepalived.config.model_global import GlobalDefs
from pykeepalived.files import write_private
from pykeepalived.status.snapshot import VrrpStats

log = logging.getLogger("pykeepalived")

#: keepalived's default dump directory (KA_TMP_DIR)
DEFAULT_TMP_DIR = "/tmp"
#: RT_RLIMIT_DEFAULT
RT_RLIMIT_DEFAULT = 10000
#: PARAMETER_UNSET as keepalived prints it with %u
PARAMETER_UNSET = 4294967295
#: what Debian's keepalived 2.2.7 was built with
LVS_VERSION = "1.2.1"
LIBNFTNL_VERSION = "1.2.3"


# --------------------------------------------------------------------------------------------- files


def tmp_dir() -> str:
    """keepalived's set_tmp_dir(): ``$TMPDIR`` when it is an absolute path, else /tmp."""
    tmp = os.environ.get("TMPDIR")
    return tmp if tmp and tmp.startswith("/") else DEFAULT_TMP_DIR


def tmp_file(name: str) -> Path:
    """make_tmp_filename(): ``keepalived.stats`` and ``keepalived.json``."""
    return Path(tmp_dir()) / name


def data_file(name: str, g: GlobalDefs | None = None) -> Path:
    """open_dump_file(): the ``.data`` files, named after the instance and namespace when asked."""
    if g is not None and _data_use_instance(g) and (g.instance or g.net_namespace):
        stem, dot, ext = name.rpartition(".")
        ns, inst = g.net_namespace or "", g.instance or ""
        sep = "_" if ns and inst else ""
        return Path(tmp_dir()) / f"{stem}.{ns}{sep}{inst}{dot}{ext}"
    return tmp_file(name)


class DumpWriter:
    """Renders and writes dumps on one worker thread, in the order asked, so the event loop that handled
    the signal (the VRRP child's: adverts must leave on time) never waits for netlink or the disk.

    A dump asked for while an earlier one of the same file is still queued replaces it (the newest state
    wins; a burst of signals costs one write, as the kernel coalesces the signals themselves)."""

    def __init__(self, name: str = "dumps") -> None:
        self._name = name
        self._pool: ThreadPoolExecutor | None = None
        self._pending: dict[str, Callable[[], str]] = {}
        self._lock = threading.Lock()

    def write(self, path: str | os.PathLike[str], render: Callable[[], str]) -> None:
        key = os.fspath(path)
        with self._lock:
            queued = key in self._pending
            self._pending[key] = render
        if not queued:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix=self._name)
            self._pool.submit(self._run, key)

    def _run(self, key: str) -> None:
        with self._lock:
            render = self._pending.pop(key)
        try:
            write_private(key, render())
        except OSError as e:
            log.error("Can't open %s (%d: %s)", key, e.errno or 0, e.strerror)
        except Exception:
            log.exception("Writing %s failed", key)

    def flush(self, timeout: float | None = None) -> None:
        """Wait for every dump asked for so far (tests; stopping)."""
        if self._pool is not None:
            self._pool.submit(lambda: None).result(timeout)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=False)
            self._pool = None


# --------------------------------------------------------------------------------------------- global


def _data_use_instance(g: GlobalDefs) -> bool:
    # keepalived's default is off; the config model's default is on, so only a name to add makes it count
    return bool(g.data_use_instance and (g.instance or g.net_namespace))


def _onoff(v: bool | None) -> str:
    return "unset" if v is None else "on" if v else "off"


def _tf(v: bool) -> str:
    return "true" if v else "false"


def _g(v: float) -> str:
    """C's %g."""
    return f"{v:g}"


def global_lines(g: GlobalDefs, prog: str, *, script_uid_gid: tuple[int, int] | None = (0, 0),
                 umask: int = 0o177) -> list[str]:
    """dump_global_data(): ``prog`` is "parent", "vrrp" or "check" (only the VRRP child names the
    default interface).  Lines keepalived prints only for settings pykeepalived has no model of are
    left out."""
    out = ["------< Global definitions >------"]
    w = out.append
    if g.config_save_dir:
        w(f" Config save dir = {g.config_save_dir}")
    w(f" Network namespace = {g.net_namespace or '(default)'}")
    ipvs_ns = g.net_namespace_ipvs
    w(f" Network namespace ipvs = {(ipvs_ns or '(default)') if ipvs_ns is not None else '(main namespace)'}")
    if g.instance:
        w(f" Instance name = {g.instance}")
    for label, name in (("Parent process name", g.process_name), ("VRRP process name", g.vrrp_process_name),
                        ("LVS process name", g.checker_process_name), ("BFD process name", g.bfd_process_name)):
        if name:
            w(f" {label} = {name}")
    if g.router_id:
        w(f" Router ID = {g.router_id}")
    if g.smtp_server is not None:
        w(f" Smtp server = {getattr(g.smtp_server, 'host', g.smtp_server)}")
        w(f" Smtp server port = {getattr(g.smtp_server, 'port', 25)}")
    if g.smtp_helo_name:
        w(f" Smtp HELO name = {g.smtp_helo_name}")
    if g.smtp_server is not None and g.smtp_connect_timeout:
        w(f" Smtp server connection timeout = {g.smtp_connect_timeout}")
    if g.notification_email_from:
        w(f" Email notification from = {g.notification_email_from}")
        w(" Email notification to:")
        out.extend(f" Email notification = {e}" for e in g.notification_email)
    w(f" Default smtp_alert = {_onoff(g.smtp_alert)}")
    w(f" Default smtp_alert_vrrp = {_onoff(g.smtp_alert_vrrp)}")
    w(f" Default smtp_alert_checker = {_onoff(g.smtp_alert_checker)}")
    w(f" Checkers log all failures = {_tf(g.checker_log_all_failures)}")
    if g.reload_check_config:
        w(f" Test config before reload, log to {g.reload_check_config}")
    else:
        w(" No test config before reload")
    if g.reload_time_file:
        w(f" Reload time file = {g.reload_time_file}{' (repeat)' if g.reload_repeat else ''}")
        w(" No reload scheduled")
    if g.reload_file:
        w(f" Reload_file = {g.reload_file}")
    if g.tmp_config_directory:
        w(f" config save directory = {g.tmp_config_directory}")
    if _data_use_instance(g):
        w(" Use instance name in data dumps")
    if g.startup_script is not None:
        w(f" Startup script = {cmd_str(g.startup_script)}, uid:gid 0:0, timeout {g.startup_script_timeout}")
    if g.shutdown_script is not None:
        w(f" Shutdown script = {cmd_str(g.shutdown_script)}, uid:gid 0:0 timeout {g.shutdown_script_timeout}")
    w(f" Dynamic interfaces = {_tf(g.dynamic_interfaces)}")
    if g.dynamic_interfaces:
        w(f" Allow interface changes = {_tf(g.dynamic_interfaces_allow_if_changes)}")
    if g.no_email_faults:
        w(" Send emails for fault transitions = off")
    t = g.lvs_timeouts
    if t is not None:
        # keepalived labels the UDP timeout "LVS TCP timeout" too
        for label, v in (("LVS TCP timeout", t.tcp), ("LVS TCP FIN timeout", t.tcpfin), ("LVS TCP timeout", t.udp)):
            if v:
                w(f" {label} = {v}")
    if prog == "vrrp":
        w(f" Default interface = {g.default_interface}")
    w(f" Disable local IGMP = {'yes' if g.disable_local_igmp else 'no'}")
    s = g.lvs_sync_daemon
    if s is not None:
        if s.instance:
            w(f" LVS syncd vrrp instance = {s.instance}")
        w(f" LVS syncd interface = {s.interface}")
        w(f" LVS syncd syncid = {s.syncid if s.syncid is not None else PARAMETER_UNSET}")
        if s.maxlen:
            w(f" LVS syncd maxlen = {s.maxlen}")
        if s.group:
            w(f" LVS mcast group {s.group}")
        if s.port:
            w(f" LVS syncd mcast port = {s.port}")
        if s.ttl:
            w(f" LVS syncd mcast ttl = {s.ttl}")
    w(f" LVS flush = {_tf(g.lvs_flush)}")
    fos = (g.lvs_flush_on_stop or "").upper()
    w(f" LVS flush on stop = {'full' if fos in ('FULL', 'TRUE', 'ON', 'YES') else 'VS' if fos == 'VS' else 'disabled'}")
    for label, fifo, script in (("Global", g.notify_fifo, g.notify_fifo_script),
                                ("VRRP", g.vrrp_notify_fifo, g.vrrp_notify_fifo_script),
                                ("LVS", g.lvs_notify_fifo, g.lvs_notify_fifo_script)):
        if fifo is not None:
            w(f" {label} notify fifo = {getattr(fifo, 'path', fifo)}, uid:gid 0:0")
            if script is not None:
                w(f" {label} notify fifo script = {cmd_str(script)}, uid:gid 0:0")
    w(f" FIFO write vrrp states on reload = {_tf(g.fifo_write_vrrp_states_on_reload)}")
    w(f" VRRP notify priority changes = {_tf(g.vrrp_notify_priority_changes)}")
    w(f" VRRP IPv4 mcast group = {g.vrrp_mcast_group4}")
    w(f" VRRP IPv6 mcast group = {g.vrrp_mcast_group6}")
    w(f" Gratuitous ARP delay = {g.vrrp_garp_master_delay}")
    w(f" Gratuitous ARP repeat = {g.vrrp_garp_master_repeat}")
    w(f" Gratuitous ARP refresh timer = {g.vrrp_garp_master_refresh}")
    w(f" Gratuitous ARP refresh repeat = {g.vrrp_garp_master_refresh_repeat}")
    # Only the VRRP child resolves an unset lower-priority delay/repeat to the master ones; the model has
    # already resolved them, so elsewhere a value equal to the master one is taken as "unset".
    lpd, lpr = g.vrrp_garp_lower_prio_delay, g.vrrp_garp_lower_prio_repeat
    if prog != "vrrp":
        lpd = None if lpd in (None, g.vrrp_garp_master_delay) else lpd
        lpr = None if lpr in (None, g.vrrp_garp_master_repeat) else lpr
    else:
        lpd = g.vrrp_garp_master_delay if lpd is None else lpd
        lpr = g.vrrp_garp_master_repeat if lpr is None else lpr
    w(f" Gratuitous ARP lower priority delay = {PARAMETER_UNSET if lpd is None else lpd}")
    w(f" Gratuitous ARP lower priority repeat = {PARAMETER_UNSET if lpr is None else lpr}")
    w(f" Num adverts before down = {g.vrrp_down_timer_adverts}")
    w(f" Gratuitous ARP for each secondary {'i/f' if g.vrrp_garp_extra_if_all else 'VMAC'} = "
      f"{g.vrrp_garp_extra_if or 0}s")
    w(f" Send advert after receive lower priority advert = {_tf(not g.vrrp_lower_prio_no_advert)}")
    w(f" Send advert after receive higher priority advert = {_tf(g.vrrp_higher_prio_send_advert)}")
    w(f" Gratuitous ARP interval = {g.vrrp_garp_interval:f}")
    w(f" Gratuitous NA interval = {g.vrrp_gna_interval:f}")
    w(f" VRRP default protocol version = {g.vrrp_version}")
    if g.nftables is not None:
        w(f" nftables table name = {g.nftables}")
        w(f" nftables base chain priority = {g.nftables_priority if g.nftables_priority is not None else -1}")
        w(f" nftables {'' if g.nftables_ifindex else 'do not '}force use ifindex for link local IPv6")
    if g.nftables_ipvs is not None:
        w(f" ipvs nftables table name = {g.nftables_ipvs}")
        prio = g.nftables_ipvs_priority if g.nftables_ipvs_priority is not None else -1
        w(f" ipvs nftables base chain priority = {prio}")
        w(f" ipvs nftables start fwmark = {g.nftables_ipvs_start_fwmark or 1000}")
    w(f" nftables with{'' if g.nftables_counters else 'out'} counters")
    w(f" libnftnl version {LIBNFTNL_VERSION}")
    w(f" VRRP check unicast_src = {_tf(g.vrrp_check_unicast_src)}")
    w(f" VRRP skip check advert addresses = {_tf(g.vrrp_skip_check_adv_addr)}")
    w(f" VRRP strict mode = {_tf(g.vrrp_strict)}")
    max_auto = g.max_auto_priority
    w(f" Max auto priority = {'Disabled' if max_auto == -1 else max_auto or 0}")
    w(f" Min auto priority delay = {g.min_auto_priority_delay or 1000000} usecs")
    proc_prio: int | None
    for label, proc_prio, noswap, rt, cpus, rlim in (
            ("VRRP", g.vrrp_priority, g.vrrp_no_swap, g.vrrp_rt_priority, g.vrrp_cpu_affinity, g.vrrp_rlimit_rttime),
            ("Checker", g.checker_priority, g.checker_no_swap, g.checker_rt_priority, g.checker_cpu_affinity,
             g.checker_rlimit_rttime),
            ("BFD", g.bfd_priority, g.bfd_no_swap, g.bfd_rt_priority, g.bfd_cpu_affinity, g.bfd_rlimit_rttime)):
        w(f" {label} process priority = {proc_prio or 0}")
        w(f" {label} don't swap = {_tf(noswap)}")
        w(f" {label} realtime priority = {rt or 0}")
        if cpus:
            w(f" {label} CPU Affinity = {' '.join(str(c) for c in cpus)}")
        w(f" {label} realtime limit = {rlim if rlim is not None else RT_RLIMIT_DEFAULT}")
    for label, on in (("vrrp", g.enable_snmp_vrrp), ("checker", g.enable_snmp_checker),
                      ("RFCv2", g.enable_snmp_rfcv2), ("RFCv3", g.enable_snmp_rfcv3), ("traps", g.enable_traps)):
        w(f" SNMP {label} {'enabled' if on else 'disabled'}")
    w(f" SNMP socket = {g.snmp_socket or 'default (unix:/var/agentx/master)'}")
    w(f" DBus {'enabled' if g.enable_dbus else 'disabled'}")
    w(f" DBus service name = {g.dbus_service_name or ''}")
    w(f" Script security {'enabled' if g.enable_script_security else 'disabled'}")
    if script_uid_gid is not None:
        w(f" Default script uid:gid {script_uid_gid[0]}:{script_uid_gid[1]}")
    for name in ("vrrp_netlink_cmd_rcv_bufs", "vrrp_netlink_monitor_rcv_bufs", "process_monitor_rcv_bufs",
                 "lvs_netlink_cmd_rcv_bufs", "lvs_netlink_monitor_rcv_bufs"):
        w(f" {name} = {getattr(g, name) or 0}")
        w(f" {name}_force = {int(bool(getattr(g, name + '_force')))}")
    w(f" rs_init_notifies = {int(g.rs_init_notifies)}")
    w(f" no_checker_emails = {int(g.no_checker_emails)}")
    policy = [p.upper() for p in g.vrrp_rx_bufs_policy]
    if "MTU" in policy:
        w(" rx_bufs_policy = MTU")
    elif "ADVERT" in policy:
        w(" rx_bufs_policy = ADVERT")
    elif policy and policy[0].isdigit():
        w(f" rx_bufs_size = {policy[0]}")
    w(f" rx_bufs_multiples = {g.vrrp_rx_bufs_multiplier}")
    w(f" umask = 0{umask:o}")
    if g.vrrp_startup_delay:
        w(f" vrrp_startup_delay = {_g(g.vrrp_startup_delay)}")
    if g.log_unknown_vrids:
        w(" log_unknown_vrids")
    return out


def cmd_str(script: Any) -> str:
    """cmd_str(): every word in single quotes (a first word that is only a redirection excepted),
    the program by its real path as keepalived resolves it."""
    argv = list(getattr(script, "argv", ()) or [str(script)])
    prog = argv[0]
    if prog and prog[0] not in "<>":
        found = prog if "/" in prog else shutil.which(prog)
        if found:
            argv[0] = os.path.realpath(found)
    return " ".join(a if i == 0 and a[:1] in ("<", ">") else f"'{a}'" for i, a in enumerate(argv))


def parent_data_text(g: GlobalDefs) -> str:
    """keepalived_parent.data."""
    return "\n".join(global_lines(g, "parent")) + "\n"


# --------------------------------------------------------------------------------------------- VRRP

STATE_NAMES = {0: "INIT", 1: "BACKUP", 2: "MASTER", 3: "FAULT", 97: "STOP", 98: "DELETED"}


def ctime_us(t: float) -> str:
    """``%ld.%6.6ld (Sat Dec  5 23:47:08.658847 2026)`` as keepalived's dump writes times."""
    sec, usec = int(t), round((t - int(t)) * 1_000_000)
    if usec >= 1_000_000:
        sec, usec = sec + 1, usec - 1_000_000
    c = time.strftime("%a %b %e %H:%M:%S", time.localtime(sec))
    return f"{sec}.{usec:06d} ({c}.{usec:06d} {time.localtime(sec).tm_year})"


@dataclass
class InstanceView:
    """What the VRRP dumps say about one instance, gathered by the runner at the signal."""

    name: str
    version: int
    state: int  # keepalived's numbers: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT
    wantstate: int
    interface: str
    vrid: int
    base_priority: int
    effective_priority: int
    total_priority: int
    adver_int: float  # seconds
    master_adver_int: float
    ms_down_timer: int  # usecs
    last_transition: float  # wall clock
    read_timeout: float | None  # wall clock of the next timer, None when disabled
    src_ip: str | None
    src_from_config: bool = False
    mcast_group: str | None = None  # None: unicast
    unicast_peers: tuple[str, ...] = ()
    unicast_ttl: int | None = None
    check_unicast_src: bool = False
    family: int = 4
    sync_group: str | None = None
    master_router: str | None = None
    master_priority: int = 0
    num_config_faults: int = 0
    num_faults: int = 0
    num_script_init: int = 0
    garp_delay: int = 5
    garp_rep: int = 5
    garp_refresh: int = 0
    garp_refresh_rep: int = 1
    garp_lower_prio_delay: int = 5
    garp_lower_prio_rep: int = 5
    down_timer_adverts: int = 3
    lower_prio_no_advert: bool = False
    higher_prio_send_advert: bool = False
    accept: bool = True
    nopreempt: bool = False
    preempt_delay: float = 0.0
    promote_secondaries: bool = False
    dont_track_primary: bool = False
    skip_check_adv_addr: bool = False
    strict_mode: bool = False
    auth_pass: str | None = None  # PASS authentication
    vips: tuple[str, ...] = ()  # format_ipaddress() strings
    evips: tuple[str, ...] = ()
    fds: tuple[int, int] | None = None
    tracked_interfaces: tuple[tuple[str, int], ...] = ()
    tracked_scripts: tuple[tuple[str, int, str], ...] = ()  # (name, weight, command)
    smtp_alert: bool = False
    notify_deleted: bool = False
    notify_scripts: tuple[tuple[str, str], ...] = ()  # (label, command)
    notify_priority_changes: bool = False
    vipset: bool = False
    stats: VrrpStats = field(default_factory=VrrpStats)


@dataclass
class ScriptView:
    """One vrrp_script for the ``VRRP Scripts`` section."""

    name: str
    command: str
    interval: float
    timeout: float
    weight: int
    weight_reverse: bool
    rise: int
    fall: int
    result: int
    insecure: bool
    init_state: str  # "INIT", "INIT/FAILED", "unknown"
    uid: int
    gid: int
    tracking: tuple[tuple[str, int], ...]  # (instance, weight)
    running: bool = False


@dataclass
class InterfaceView:
    """One interface for the ``Interfaces`` section."""

    name: str
    index: int
    ipv4: str | None
    ipv6: str | None
    mac: str | None
    broadcast: str | None
    up: bool
    running: bool
    loopback: bool
    broadcast_flag: bool
    multicast: bool
    mtu: int
    hw_type: str
    tracking: tuple[tuple[str, int], ...] = ()


def format_vip(address: ipaddress.IPv4Interface | ipaddress.IPv6Interface, dev: str, *, scope: str = "global",
               brd: str | None = None, label: str | None = None, peer: str | None = None, nodad: bool = False,
               no_track: bool = False, preferred_lft: int | None = None, is_set: bool = False,
               extra: Sequence[str] = ()) -> str:
    """format_ipaddress(): as its ipaddresstos(), a host address (/32, /128) without its prefix length."""
    s = str(address.ip) if address.network.prefixlen == address.max_prefixlen else \
        f"{address.ip}/{address.network.prefixlen}"
    if address.version == 4 and brd:
        s += f" brd {brd}"
    s += f" dev {dev} scope {scope}"
    if label:
        s += f" label {label}"
    if peer:
        s += f" peer {peer}/{address.network.prefixlen}"
    if nodad:
        s += " -nodad"
    s += "".join(f" {e}" for e in extra)
    if no_track:
        s += " no_track"
    if address.version == 6:
        s += " deprecated" if preferred_lft == 0 else " preferred_lft forever" if preferred_lft is None else \
            f" preferred_lft {preferred_lft}"
    if is_set:
        s += " set"
    return s


def instance_lines(v: InstanceView) -> list[str]:
    """dump_vrrp() for one instance."""
    out = [f" VRRP Instance = {v.name}", f"   VRRP Version = {v.version}"]
    w = out.append
    if v.sync_group:
        w(f"   Sync group = {v.sync_group}")
    if v.family == 6:
        w("   Using Native IPv6")
    w(f"   State = {STATE_NAMES.get(v.state, 'unknown')}")
    if v.state == 1:
        w(f"   Master router = {v.master_router or '(none)'}")
        w(f"   Master priority = {v.master_priority}")
        if v.version == 3:
            w(f"   Master advert int = {v.master_adver_int:.2f} sec")
    if v.unicast_peers:
        w("   Flags:")
        w("     Using unicast")
    else:
        w("   Flags: none")
    w(f"   Wantstate = {STATE_NAMES.get(v.wantstate, 'unknown')}")
    w(f"   Number of config faults = {v.num_config_faults}")
    w(f"   Number of interface and track script faults = {v.num_faults}")
    w(f"   Number of track scripts init = {v.num_script_init}")
    w(f"   Last transition = {ctime_us(v.last_transition)}")
    w(f"   Read timeout = {'DISABLED' if v.read_timeout is None else ctime_us(v.read_timeout)}")
    w(f"   Master down timer = {v.ms_down_timer} usecs")
    w(f"   Interface = {v.interface}")
    if v.dont_track_primary:
        w("   VRRP interface tracking disabled")
    if v.skip_check_adv_addr:
        w("   Skip checking advert IP addresses")
    if v.strict_mode:
        w("   Enforcing strict VRRP compliance")
    w(f"   Using src_ip = {v.src_ip or '(none)'}{' (from configuration)' if v.src_from_config else ''}")
    if not v.unicast_peers and v.mcast_group is not None:
        w(f"   Multicast address {v.mcast_group}" if v.family == 4 else
          f"   Multicast address {v.mcast_group}, ifindex 0")
    w(f"   Gratuitous ARP delay = {v.garp_delay}")
    w(f"   Gratuitous ARP repeat = {v.garp_rep}")
    w(f"   Gratuitous ARP refresh = {v.garp_refresh}")
    w(f"   Gratuitous ARP refresh repeat = {v.garp_refresh_rep}")
    w(f"   Gratuitous ARP lower priority delay = {v.garp_lower_prio_delay}")
    w(f"   Gratuitous ARP lower priority repeat = {v.garp_lower_prio_rep}")
    w(f"   Down timer adverts = {v.down_timer_adverts}")
    w(f"   Send advert after receive lower priority advert = {_tf(not v.lower_prio_no_advert)}")
    w(f"   Send advert after receive higher priority advert = {_tf(v.higher_prio_send_advert)}")
    w(f"   Virtual Router ID = {v.vrid}")
    w(f"   Priority = {v.base_priority}")
    w(f"   Effective priority = {v.effective_priority}")
    w(f"   Total priority = {v.total_priority}")
    if v.version == 2:
        w(f"   Advert interval = {int(v.adver_int)} sec")
    else:
        w(f"   Advert interval = {round(v.adver_int * 1000)} milli-sec")
    if v.state == 1 and v.version == 3:
        w(f"   Master advert interval = {round(v.master_adver_int * 1000)} milli-sec")
    w(f"   Accept = {'enabled' if v.accept else 'disabled'}")
    w(f"   Preempt = {'disabled' if v.nopreempt else 'enabled'}")
    if v.preempt_delay:
        w(f"   Preempt delay = {_g(v.preempt_delay)} secs")
    w(f"   Promote_secondaries = {'enabled' if v.promote_secondaries else 'disabled'}")
    if v.auth_pass is not None:
        w("   Authentication type = SIMPLE_PASSWORD")
        w(f"   Password = {v.auth_pass}")
    elif v.version == 2:
        w("   Authentication type = none")
    if v.vips:
        w(f"   Virtual IP ({len(v.vips)}):")
        out.extend(f"     {a}" for a in v.vips)
    if v.evips:
        w("   Virtual IP Excluded :")
        out.extend(f"     {a}" for a in v.evips)
    if v.unicast_peers:
        if v.unicast_ttl is not None:
            w(f"   Unicast TTL = {v.unicast_ttl}")
        w(f"   Check unicast src : {'yes' if v.check_unicast_src else 'no'}")
        w("   Unicast Peer :")
        out.extend(f"     {p}" for p in v.unicast_peers)
        w("   Unicast checksum compatibility = no")
    w(f"   fd_in {v.fds[0]}, fd_out {v.fds[1]}" if v.fds else "   No sockets allocated")
    if v.tracked_interfaces:
        w("   Tracked interfaces :")
        out.extend(f"     {name} weight {weight}" for name, weight in v.tracked_interfaces)  # dump_track_if
    if v.tracked_scripts:
        w("   Tracked scripts :")
        out.extend(f"     {name} weight {weight}" for name, weight, _ in v.tracked_scripts)
    w(f"   Using smtp notification = {'yes' if v.smtp_alert else 'no'}")
    w(f"   Notify deleted = {'Deleted' if v.notify_deleted else 'Fault'}")
    for label, cmd in v.notify_scripts:
        w(f"   {label} state transition script = {cmd}, uid:gid 0:0")
    w(f"   Notify priority changes = {_tf(v.notify_priority_changes)}")
    return out


def script_lines(s: ScriptView) -> list[str]:
    """dump_vscript()."""
    out = [
        f" VRRP Script = {s.name}",
        f"   Command = {s.command}",
        f"   Interval = {int(s.interval)} sec",
        f"   Timeout = {int(s.timeout)} sec",
        f"   Weight = {s.weight}{' reverse' if s.weight_reverse else ''}",
        f"   Rise = {s.rise}",
        f"   Fall = {s.fall}",
        f"   Result = {s.result}",
        f"   Insecure = {'yes' if s.insecure else 'no'}",
        f"   Init state = {s.init_state}",
        f"   Status = {'GOOD' if s.result >= s.rise else 'BAD'}",
        f"   Script uid:gid = {s.uid}:{s.gid}",
        "   VRRP instances :",
    ]
    if s.tracking:
        out.append("   Tracking instances :")
        out.extend(f"     {name}, weight {weight}" for name, weight in s.tracking)
    out.append(f"   State = {'running' if s.running else 'idle'}")
    return out


def interface_lines(i: InterfaceView) -> list[str]:
    """dump_if() for an interface keepalived knows (no VMAC, no linkbeat polling)."""
    out = [f" Name = {i.name}", f"   index = {i.index}",
           f"   IPv4 address = {i.ipv4 or '(none)'}", f"   IPv6 address = {i.ipv6 or '(none)'}"]
    if i.mac and not i.loopback:
        out.append(f"   MAC = {i.mac}")
        out.append(f"   MAC broadcast = {i.broadcast or 'ff:ff:ff:ff:ff:ff'}")
    state = ["UP" if i.up else "DOWN"]
    if i.running:
        state.append("RUNNING")
    if not i.broadcast_flag:
        state.append("no broadcast")
    if i.loopback:
        state.append("loopback")
    if not i.multicast:
        state.append("no multicast")
    out += [f"   State = {', '.join(state)}", f"   Seen up = {int(i.up)}",
            "   Delayed state change running = false", "   Up debounce timer = 0us", "   Down debounce timer = 0us",
            f"   MTU = {i.mtu}", f"   HW Type = {i.hw_type}", "   NIC netlink status update",
            "   Reset ARP config counter 0", "   Original arp_ignore 0", "   Original arp_filter 0",
            "   Original promote_secondaries 0", "   Reset promote_secondaries counter 0"]
    if i.tracking:
        out.append("   Tracking VRRP instances :")
        out.extend(f"     {name}, weight {weight}" for name, weight in i.tracking)
    return out


@dataclass
class SocketView:
    """One VRRP socket (the ``VRRP Sockpool`` section)."""

    fds: tuple[int, int]
    interface: str
    family: int
    unicast: bool
    instances: tuple[tuple[str, int], ...]  # (name, vrid)
    rx_buf_size: int = 0


def sockpool_lines(s: SocketView) -> list[str]:
    """dump_sock_pool()."""
    return [f" fd_in {s.fds[0]} fd_out = {s.fds[1]}", f"   Interface = {s.interface}",
            f"   Family = {'IPv4' if s.family == 4 else 'IPv6'}", "   Protocol = VRRP",
            f"   Type = {'Unicast' if s.unicast else 'Multicast'}", f"   Rx buf size = {s.rx_buf_size}",
            "   VRRP instances", *(f"     {n} vrid {vrid}" for n, vrid in s.instances)]


def vrrp_data_text(g: GlobalDefs, instances: Sequence[InstanceView], sockets: Sequence[SocketView],
                   scripts: Sequence[ScriptView], interfaces: Sequence[InterfaceView],
                   sync_groups: Sequence[SyncGroupView] = (),
                   static_addresses: Sequence[str] = ()) -> str:
    """keepalived.data (dump_data_vrrp)."""
    out = global_lines(g, "vrrp")
    if static_addresses:
        out.append("------< Static Addresses >------")
        out.extend(f"     {a}" for a in static_addresses)
    if instances:
        out.append("------< VRRP Topology >------")
        for v in instances:
            out += instance_lines(v)
    if sockets:
        out.append("------< VRRP Sockpool >------")
        for s in sockets:
            out += sockpool_lines(s)
    if sync_groups:
        out.append("------< VRRP Sync groups >------")
        for sg in sync_groups:
            out += sync_group_lines(sg, instances)
    if scripts:
        out.append("------< VRRP Scripts >------")
        for sc in scripts:
            out += script_lines(sc)
    if interfaces:
        out.append("------< Interfaces >------")
        for i in interfaces:
            out += interface_lines(i)
    return "\n".join(out) + "\n"


@dataclass
class SyncGroupView:
    """One vrrp_sync_group (the ``VRRP Sync groups`` section)."""

    name: str
    state: int
    members: tuple[str, ...]
    tracking_weight: bool = False
    smtp_alert: bool = False
    notify_priority_changes: bool | None = None
    notify_scripts: tuple[tuple[str, str], ...] = ()  # (label, command)


def sync_group_lines(sg: SyncGroupView, instances: Sequence[InstanceView] = ()) -> list[str]:
    """dump_sync_group()."""
    members = [v for v in instances if v.name in sg.members]
    out = [f" VRRP Sync Group = {sg.name}, {STATE_NAMES.get(sg.state, 'unknown')}",
           f"   Num member fault {sum(v.state == 3 for v in members)}, "
           f"num member init {sum(v.state == 0 for v in members)}"]
    if sg.members:
        out.append("   VRRP member instances :")
        out.extend(f"     {m}" for m in sg.members)
    if sg.tracking_weight:
        out.append("   sync group tracking weight set")
    out.append(f"   Using smtp notification = {'yes' if sg.smtp_alert else 'no'}")
    if sg.notify_priority_changes is not None:
        out.append(f"   Notify priority changes = {'yes' if sg.notify_priority_changes else 'no'}")
    out.extend(f"   {label} state transition script = {cmd}, uid:gid 0:0" for label, cmd in sg.notify_scripts)
    return out


def stats_text(instances: Iterable[tuple[str, VrrpStats]]) -> str:
    """keepalived.stats (vrrp_print_stats)."""
    out: list[str] = []
    for name, s in instances:
        out += [
            f"VRRP Instance: {name}",
            "  Advertisements:",
            f"    Received: {s.advert_rcvd}",
            f"    Sent: {s.advert_sent}",
            f"  Became master: {s.become_master}",
            f"  Released master: {s.release_master}",
            "  Packet Errors:",
            f"    Length: {s.packet_len_err}",
            f"    TTL: {s.ip_ttl_err}",
            f"    Invalid Type: {s.invalid_type_rcvd}",
            f"    Advertisement Interval: {s.advert_interval_err}",
            f"    Address List: {s.addr_list_err}",
            "  Authentication Errors:",
            f"    Invalid Type: {s.invalid_authtype}",
            f"    Type Mismatch: {s.authtype_mismatch}",
            f"    Failure: {s.auth_failure}",
            "  Priority Zero:",
            f"    Received: {s.pri_zero_rcvd}",
            f"    Sent: {s.pri_zero_sent}",
        ]
    return "".join(line + "\n" for line in out)


def _num(v: float) -> int | float:
    """jsonw_float_field(): %g, so whole numbers print without a fraction."""
    return int(v) if float(v).is_integer() else v


def json_text(instances: Sequence[InstanceView]) -> str:
    """keepalived.json (vrrp_json_dump): one compact line, '/' escaped, ended by a newline."""
    arr = []
    for v in instances:
        data: dict[str, Any] = {
            "iname": v.name, "dont_track_primary": int(v.dont_track_primary),
            "skip_check_adv_addr": int(v.skip_check_adv_addr), "strict_mode": int(v.strict_mode),
            "vmac_ifname": "", "ifp_ifname": v.interface, "master_priority": v.master_priority,
            "last_transition": _Raw(f"{v.last_transition:f}"),
            "garp_delay": v.garp_delay, "garp_refresh": v.garp_refresh, "garp_rep": v.garp_rep,
            "garp_refresh_rep": v.garp_refresh_rep, "garp_lower_prio_delay": v.garp_lower_prio_delay,
            "garp_lower_prio_rep": v.garp_lower_prio_rep, "lower_prio_no_advert": int(v.lower_prio_no_advert),
            "higher_prio_send_advert": int(v.higher_prio_send_advert), "vrid": v.vrid,
            "base_priority": v.base_priority, "effective_priority": v.effective_priority, "vipset": v.vipset,
            "promote_secondaries": v.promote_secondaries, "adver_int": _num(v.adver_int),
            "master_adver_int": _num(v.master_adver_int), "accept": int(v.accept), "nopreempt": v.nopreempt,
            "preempt_delay": int(v.preempt_delay), "state": v.state, "wantstate": v.wantstate,
            "version": v.version, "smtp_alert": v.smtp_alert, "notify_deleted": v.notify_deleted,
        }
        labels = {"Backup": "script_backup", "Master": "script_master", "Fault": "script_fault",
                  "Stop": "script_stop", "Deleted": "script_deleted", "Generic": "script",
                  "Master rx lower pri": "script_master_rx_lower_pri"}
        for label, key in labels.items():
            for lab, cmd in v.notify_scripts:
                if lab == label:
                    data[key] = cmd
        if v.vips:
            data["vips"] = list(v.vips)
        if v.evips:
            data["evips"] = list(v.evips)
        if v.tracked_interfaces:
            data["track_ifp"] = [name for name, _ in v.tracked_interfaces]
        if v.tracked_scripts:
            data["track_script"] = [cmd for _, _, cmd in v.tracked_scripts]
        data["auth_type"] = 1 if v.auth_pass is not None else 0
        if v.auth_pass is not None:
            data["auth_data"] = v.auth_pass
        s = v.stats
        stats = {k: getattr(s, k) for k in (
            "advert_rcvd", "advert_sent", "become_master", "release_master", "packet_len_err",
            "advert_interval_err", "ip_ttl_err", "invalid_type_rcvd", "addr_list_err", "invalid_authtype",
            "authtype_mismatch", "auth_failure", "pri_zero_rcvd", "pri_zero_sent")}
        arr.append({"data": data, "stats": stats})
    return _dumps(arr) + "\n"


class _Raw:
    """A number already formatted as keepalived prints it (``%f``)."""

    def __init__(self, text: str) -> None:
        self.text = text


def _dumps(v: Any) -> str:
    if isinstance(v, _Raw):
        return v.text
    if isinstance(v, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_dumps(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(_dumps(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False).replace("/", "\\/")  # keepalived's json_writer escapes '/'


# --------------------------------------------------------------------------------------------- checker


@dataclass
class CheckerView:
    """One health checker (the ``Health checkers`` section)."""

    vs: str  # "[10.9.0.5]:tcp:80"
    rs: str
    kind: str  # "TCP_CHECK", "HTTP_GET" ...
    enabled: bool
    up: bool
    has_run: bool
    current_weight: int
    alpha: bool
    delay_loop: float
    warmup: float
    retries: int
    delay_before_retry: float
    retry_it: int
    log_all_failures: bool
    dest: str  # "[10.9.0.12]:80"
    connect_timeout: float
    bind: str | None = None


@dataclass
class RealServerView:
    ip: str
    port: int
    weight: int
    effective_weight: int
    forwarding: str
    alpha: bool
    connect_timeout: float
    delay_loop: float
    inhibit: bool
    smtp_alert: bool
    alive: bool
    num_failed: int
    previous_weight: int = 0
    rs_set: bool = False
    notify_up: str | None = None
    notify_down: str | None = None


@dataclass
class VirtualServerView:
    address: str | None  # None: fwmark
    port: int
    fwmark: int | None
    family: str  # "inet" | "inet6"
    connect_timeout: float
    delay_loop: float
    sched: str
    protocol: str
    alpha: bool
    omega: bool
    inhibit: bool
    quorum: int
    hysteresis: int
    smtp_alert: bool
    forwarding: str
    alive: bool
    quorum_up: bool
    persistence_timeout: int = 0
    virtualhost: str | None = None
    sorry_server: str | None = None
    real_servers: tuple[RealServerView, ...] = ()
    flags: tuple[str, ...] = ()


def _f(v: float) -> str:
    return f"{v:f}"


def vs_lines(vs: VirtualServerView) -> list[str]:
    """dump_vs()."""
    out = [" ------< Virtual server >------"]
    w = out.append
    if vs.fwmark is not None:
        w(f" VS FWMARK = {vs.fwmark}")
    else:
        w(f" VS VIP = {vs.address}, VPORT = {vs.port}")
    if vs.virtualhost:
        w(f"   VirtualHost = {vs.virtualhost}")
    w(f"   Address family = {vs.family}")
    w(f"   connection timeout = {_f(vs.connect_timeout)}")
    w(f"   delay_loop = {_f(vs.delay_loop)}")
    w(f"   lvs_sched = {vs.sched}")
    w(f"   Hashed = {'enabled' if 'sh-port' in vs.flags else 'disabled'}")
    for n in (1, 2, 3):
        w(f"   flag-{n} = {'enabled' if f'flag-{n}' in vs.flags else 'disabled'}")
    w(f"   One packet scheduling = {'enabled' if 'ops' in vs.flags else 'disabled'}")
    if vs.persistence_timeout:
        w(f"   persistence timeout = {vs.persistence_timeout}")
    w(f"   protocol = {vs.protocol}")
    w(f"   alpha is {'ON' if vs.alpha else 'OFF'}")
    w(f"   omega is {'ON' if vs.omega else 'OFF'}")
    w(f"   Inhibit on failure is {'ON' if vs.inhibit else 'OFF'}")
    w(f"   quorum = {vs.quorum}, hysteresis = {vs.hysteresis}")
    w(f"   Using smtp notification = {'yes' if vs.smtp_alert else 'no'}")
    if vs.sorry_server:
        w(f"   sorry server = {vs.sorry_server}")
    w(f"   default forwarding method = {vs.forwarding}")
    w(f"   alive = {int(vs.alive)}")
    w(f"   quorum_state_up = {int(vs.quorum_up)}")
    w("   reloaded = 0")
    for rs in vs.real_servers:
        out += rs_lines(rs)
    return out


def rs_lines(rs: RealServerView) -> list[str]:
    """dump_rs()."""
    out = ["   ------< Real server >------",
           f"   RIP = {rs.ip}, RPORT = {rs.port}, WEIGHT = {rs.weight} EFF WEIGHT = {rs.effective_weight}",
           f"   forwarding method = {rs.forwarding}",
           f"   Alpha is {'ON' if rs.alpha else 'OFF'}",
           f"   connection timeout = {_f(rs.connect_timeout)}",
           "   connection limit range = 0 -> 0",
           f"   Delay loop = {_f(rs.delay_loop)}",
           f"   Inhibit on failure is {'ON' if rs.inhibit else 'OFF'}"]
    if rs.notify_up:
        out.append(f"   RS up notify script = {rs.notify_up}, uid:gid 0:0")
    if rs.notify_down:
        out.append(f"   RS down notify script = {rs.notify_down}, uid:gid 0:0")
    out += [f"   Using smtp notification = {'yes' if rs.smtp_alert else 'no'}",
            f"   initial weight = {rs.weight}",
            f"   effective weight = {rs.effective_weight}",
            f"   previous effective_weight = {rs.previous_weight}",
            f"   alive = {int(rs.alive)}",
            f"   num failed checkers = {rs.num_failed}",
            f"   RS set = {int(rs.rs_set)}",
            "   reloaded = 0"]
    return out


def checker_lines(c: CheckerView) -> list[str]:
    """dump_checker() for a connection-based checker."""
    out = [f" {c.vs} -> {c.rs}",
           f"   Enabled = {'yes' if c.enabled else 'no'}",
           f"   Up = {'yes' if c.up else 'no'}",
           f"   Has run = {'yes' if c.has_run else 'no'}",
           f"   Current weight = {c.current_weight}",
           f"   Alpha = {'yes' if c.alpha else 'no'}",
           f"   Delay loop = {round(c.delay_loop * 1_000_000)} us",
           f"   Warmup = {round(c.warmup * 1_000_000)} us",
           f"   Retries = {c.retries}",
           f"   Delay before retry = {round(c.delay_before_retry * 1_000_000)} us",
           f"   Retries iterations = {c.retry_it}",
           f"   Default delay before retry = {round(c.delay_before_retry * 1_000_000)} us",
           f"   Log all failures = {'yes' if c.log_all_failures else 'no'}",
           "   Connection",
           f"     Dest = {c.dest}"]
    if c.bind:
        out.append(f"     Bind to = {c.bind}")
    out += [f"     Timeout = {_f(c.connect_timeout)}", f"   Keepalive method = {c.kind}"]
    return out


def check_data_text(g: GlobalDefs, virtual_servers: Sequence[VirtualServerView],
                    checkers: Sequence[CheckerView]) -> str:
    """keepalived_check.data (dump_data_check)."""
    out = global_lines(g, "check")
    if virtual_servers:
        out.append("------< LVS Topology >------")
        out.append(f" System is compiled with LVS v{LVS_VERSION}")
        for vs in virtual_servers:
            out += vs_lines(vs)
    if checkers:
        out.append("------< Health checkers >------")
        for c in checkers:
            out += checker_lines(c)
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------- interfaces

_IFF_UP, _IFF_BROADCAST, _IFF_LOOPBACK, _IFF_RUNNING, _IFF_MULTICAST = 0x1, 0x2, 0x8, 0x40, 0x1000
_HW_TYPES = {1: "ETHERNET", 772: "LOOPBACK", 768: "IPIP", 776: "SIT", 778: "GRE", 65534: "NONE"}


def read_interfaces(tracking: dict[str, list[tuple[str, int]]] | None = None,
                    netns: str | None = None) -> list[InterfaceView]:
    """The interfaces of this process's network namespace (or ``netns``) as keepalived's VRRP child
    knows them: the first IPv4 address, the first link-local IPv6 address.  Empty when netlink fails.
    Runs in a short-lived thread: pyroute2's synchronous API refuses to run inside an event loop."""
    result: list[InterfaceView] = []
    worker = threading.Thread(target=lambda: result.extend(_read_interfaces(tracking, netns)),
                              name="dump-interfaces", daemon=True)
    worker.start()
    worker.join(5.0)
    return result


def _read_interfaces(tracking: dict[str, list[tuple[str, int]]] | None, netns: str | None) -> list[InterfaceView]:
    try:
        if netns is None:
            from pyroute2 import IPRoute

            nl: Any = IPRoute()
        else:
            from pyroute2 import NetNS

            nl = NetNS(netns)
    except Exception:  # a dump without interfaces beats no dump
        return []
    try:
        links = nl.get_links()
        addrs = nl.get_addr()
    except Exception:
        return []
    finally:
        nl.close()
    v4: dict[int, str] = {}
    v6: dict[int, str] = {}
    for a in addrs:
        ip = a.get_attr("IFA_ADDRESS")
        if ip is None:
            continue
        if a["family"] == 2:
            v4.setdefault(a["index"], ip)
        elif a["family"] == 10 and ipaddress.ip_address(ip).is_link_local:
            v6.setdefault(a["index"], ip)
    out = []
    for link in sorted(links, key=lambda x: x["index"]):
        flags = link["flags"]
        name = link.get_attr("IFLA_IFNAME")
        out.append(InterfaceView(
            name=name, index=link["index"], ipv4=v4.get(link["index"]), ipv6=v6.get(link["index"]),
            mac=link.get_attr("IFLA_ADDRESS"), broadcast=link.get_attr("IFLA_BROADCAST"),
            up=bool(flags & _IFF_UP), running=bool(flags & _IFF_RUNNING), loopback=bool(flags & _IFF_LOOPBACK),
            broadcast_flag=bool(flags & _IFF_BROADCAST), multicast=bool(flags & _IFF_MULTICAST),
            mtu=link.get_attr("IFLA_MTU") or 0, hw_type=_HW_TYPES.get(link["ifi_type"], "UNKNOWN"),
            tracking=tuple((tracking or {}).get(name, ()))))
    return out
