"""``global_defs`` and the other root-level settings, as the daemon will use them.

Field names are keepalived's keyword names (so ``config show`` reads like the config file);
defaults are keepalived 2.2.7's after ``init_global_data()`` (keepalived/core/global_data.c).
A ``None`` default means "not configured" where keepalived distinguishes that from any value
(e.g. ``smtp_alert`` unset lets ``smtp_alert_vrrp`` / the instance decide).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .model_script import Script


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int = 25


@dataclass(frozen=True, slots=True)
class Fifo:
    """A notify FIFO: path plus the owner keepalived creates it with."""

    path: str
    user: str | None = None
    group: str | None = None


@dataclass(frozen=True, slots=True)
class LvsTimeouts:
    tcp: int | None = None
    tcpfin: int | None = None
    udp: int | None = None


@dataclass(frozen=True, slots=True)
class LvsSyncDaemon:
    """``lvs_sync_daemon IF [inst VRRP_INSTANCE] [id N] [maxlen N] [port N] [ttl N] [group IP]``."""

    interface: str
    instance: str | None = None
    syncid: int | None = None
    maxlen: int | None = None
    port: int | None = None
    ttl: int | None = None
    group: str | None = None


@dataclass(frozen=True, slots=True)
class GlobalDefs:
    """Everything from ``global_defs { }`` plus root-level process settings."""

    # root level (outside global_defs)
    net_namespace: str | None = None
    net_namespace_ipvs: str | None = None
    namespace_with_ipsets: bool = False
    instance: str | None = None
    use_pid_dir: bool = False
    linkbeat_use_polling: bool = False
    child_wait_time: int | None = None

    # identity and mail
    router_id: str | None = None
    notification_email: tuple[str, ...] = ()
    notification_email_from: str | None = None
    smtp_server: SmtpServer | None = None
    smtp_helo_name: str | None = None
    smtp_connect_timeout: int = 30
    smtp_alert: bool | None = None
    smtp_alert_vrrp: bool | None = None
    smtp_alert_checker: bool | None = None
    no_email_faults: bool = False
    checker_log_all_failures: bool = False
    no_checker_emails: bool = False
    rs_init_notifies: bool = False

    # scripts
    script_user: str | None = None
    script_group: str | None = None
    enable_script_security: bool = False
    startup_script: Script | None = None
    startup_script_timeout: int = 10
    shutdown_script: Script | None = None
    shutdown_script_timeout: int = 10

    # notify FIFOs
    notify_fifo: Fifo | None = None
    notify_fifo_script: Script | None = None
    vrrp_notify_fifo: Fifo | None = None
    vrrp_notify_fifo_script: Script | None = None
    lvs_notify_fifo: Fifo | None = None
    lvs_notify_fifo_script: Script | None = None
    vrrp_notify_priority_changes: bool = False
    fifo_write_vrrp_states_on_reload: bool = False

    # VRRP defaults
    vrrp_mcast_group4: ipaddress.IPv4Address = ipaddress.IPv4Address("224.0.0.18")  # noqa: RUF009 (immutable)
    vrrp_mcast_group6: ipaddress.IPv6Address = ipaddress.IPv6Address("ff02::12")  # noqa: RUF009 (immutable)
    vrrp_version: int = 2
    vrrp_garp_master_delay: int = 5
    vrrp_garp_master_repeat: int = 5
    vrrp_garp_master_refresh: int = 0
    vrrp_garp_master_refresh_repeat: int = 1
    vrrp_garp_lower_prio_delay: int | None = None
    vrrp_garp_lower_prio_repeat: int | None = None
    vrrp_garp_interval: float = 0.0
    vrrp_gna_interval: float = 0.0
    vrrp_min_garp: bool = False
    vrrp_garp_extra_if: int | None = None
    vrrp_garp_extra_if_all: bool = False
    vrrp_down_timer_adverts: int = 3
    vrrp_lower_prio_no_advert: bool = False
    vrrp_higher_prio_send_advert: bool = False
    vrrp_check_unicast_src: bool = False
    vrrp_skip_check_adv_addr: bool = False
    vrrp_strict: bool = False
    default_interface: str = "eth0"
    dynamic_interfaces: bool = False
    dynamic_interfaces_allow_if_changes: bool = False
    disable_local_igmp: bool = False
    vrrp_startup_delay: float = 0.0
    log_unknown_vrids: bool = False
    vmac_prefix: str = "vrrp"
    vmac_addr_prefix: str | None = None
    vrrp_rx_bufs_policy: tuple[str, ...] = ()
    vrrp_rx_bufs_multiplier: int = 3

    # firewall
    vrrp_iptables: tuple[str, ...] | None = None
    vrrp_ipsets: tuple[str, ...] | None = None
    nftables: str | None = None
    nftables_priority: int | None = None
    nftables_ifindex: bool = False
    nftables_counters: bool = False
    nftables_ipvs: str | None = None
    nftables_ipvs_priority: int | None = None
    nftables_ipvs_start_fwmark: int | None = None

    # LVS
    lvs_timeouts: LvsTimeouts | None = None
    lvs_flush: bool = False
    lvs_flush_on_stop: str | None = None
    lvs_sync_daemon: LvsSyncDaemon | None = None

    # process tuning
    process_names: bool = False
    process_name: str | None = None
    vrrp_process_name: str | None = None
    checker_process_name: str | None = None
    bfd_process_name: str | None = None
    vrrp_priority: int | None = None
    checker_priority: int | None = None
    bfd_priority: int | None = None
    vrrp_no_swap: bool = False
    checker_no_swap: bool = False
    bfd_no_swap: bool = False
    vrrp_rt_priority: int | None = None
    checker_rt_priority: int | None = None
    bfd_rt_priority: int | None = None
    vrrp_cpu_affinity: tuple[int, ...] = ()
    checker_cpu_affinity: tuple[int, ...] = ()
    bfd_cpu_affinity: tuple[int, ...] = ()
    vrrp_rlimit_rttime: int | None = None
    checker_rlimit_rttime: int | None = None
    bfd_rlimit_rttime: int | None = None
    max_auto_priority: int | None = None
    min_auto_priority_delay: int | None = None
    vrrp_netlink_cmd_rcv_bufs: int | None = None
    vrrp_netlink_cmd_rcv_bufs_force: bool = False
    vrrp_netlink_monitor_rcv_bufs: int | None = None
    vrrp_netlink_monitor_rcv_bufs_force: bool = False
    lvs_netlink_cmd_rcv_bufs: int | None = None
    lvs_netlink_cmd_rcv_bufs_force: bool = False
    lvs_netlink_monitor_rcv_bufs: int | None = None
    lvs_netlink_monitor_rcv_bufs_force: bool = False
    process_monitor_rcv_bufs: int | None = None
    process_monitor_rcv_bufs_force: bool = False

    # SNMP / DBus
    snmp_socket: str | None = None
    enable_traps: bool = False
    enable_snmp_vrrp: bool = False
    enable_snmp_checker: bool = False
    enable_snmp_rfcv2: bool = False
    enable_snmp_rfcv3: bool = False
    enable_dbus: bool = False
    dbus_service_name: str | None = None

    # misc
    umask: str | None = None
    random_seed: int | None = None
    reload_check_config: str | None = None
    reload_time_file: str | None = None
    reload_repeat: bool = False
    reload_file: str | None = None
    include_check: tuple[str, ...] | None = None
    config_save_dir: str | None = None
    tmp_config_directory: str | None = None
    data_use_instance: bool = True
