"""What the command line tells the daemon, and where its runtime files go.

The defaults are keepalived's, ``/run/keepalived.pid``, ``/run/vrrp.pid`` and ``/run/checkers.pid``, so
the tools that signal keepalived by its pid file (``kill -USR1 $(cat /run/keepalived.pid)``) keep
working; the control socket is ``/run/keepalived.ctl``.  Several pykeepalived daemons run on one
machine in different network namespaces (the tests, the lab), so with ``-p`` every runtime file is
derived from the main pid file unless given explicitly:
``-p /run/lb1.pid`` gives ``/run/lb1_vrrp.pid``, ``/run/lb1_checkers.pid`` and the control
socket ``/run/lb1.ctl`` (its children's sockets ``/run/lb1_vrrp.ctl`` and
``/run/lb1_checkers.ctl``; the BFD child's event stream ``/run/lb1_bfd.events``).  Nothing else is
shared between daemons.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from pykeepalived.paths import DEFAULT_CHILD_PID_FILES, DEFAULT_PID_FILE

__all__ = ["DEFAULT_CHILD_PID_FILES", "DEFAULT_PID_FILE", "DaemonOptions"]


@dataclass(frozen=True, slots=True)
class DaemonOptions:
    config_file: str
    config_id: str | None = None
    pid_file: str = DEFAULT_PID_FILE
    vrrp_pid_file: str | None = None
    checkers_pid_file: str | None = None
    #: ``-b``: the BFD child's pid file; ``-B``: no BFD child
    bfd_pid_file: str | None = None
    no_bfd: bool = False
    control: str | None = None
    listen: str | None = None
    #: who may read / write on the control socket (groups), and the token file for writes on --listen
    control_read_group: str | None = None
    control_write_group: str | None = None
    listen_token_file: str | None = None
    #: ``--dashboard-name``, ``--dashboard-peer`` (status.dashboard)
    dashboard_name: str | None = None
    dashboard_peers: tuple[str, ...] = ()
    dataplane: str = "auto"
    vrrp_only: bool = False
    check_only: bool = False
    log_console: bool = False
    log_detail: bool = False
    dont_release_vrrp: bool = False
    dont_release_ipvs: bool = False
    dont_respawn: bool = False
    #: ``--all``: start both children even when the configuration has nothing for one of them
    run_all: bool = False
    #: ``-S``: syslog facility (the ``LOG_*`` number shifted as syslog wants it); None = daemon
    log_facility: int | None = None
    #: ``-G``
    no_syslog: bool = False
    #: ``-X``: remove an instance's VIPs whenever it leaves MASTER, even where keepalived would keep them
    release_vips: bool = False
    #: ``-d``: log the effective configuration (JSON) after each load
    dump_conf: bool = False
    #: ``-a``: log every address added or removed on the host
    address_monitoring: bool = False
    #: ``-s``: network namespace to run in (overrides ``net_namespace``)
    namespace: str | None = None
    #: ``-e``: a missing or unmatched include is an error
    all_config: bool = False
    #: ``-u``: umask for the files the daemon creates
    umask: int | None = None
    #: ``-m``: no core-size limit; ``-M``: also this ``/proc/sys/kernel/core_pattern`` while running
    core_dump: bool = False
    core_dump_pattern: str | None = None
    #: ``-x``: every SNMP part on; ``-A``: the AgentX master's socket (overrides ``snmp_socket``)
    snmp: bool = False
    snmp_socket: str | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> DaemonOptions:
        return cls(
            config_file=args.config_file, config_id=args.config_id,
            pid_file=args.pid_file or DEFAULT_PID_FILE, vrrp_pid_file=args.vrrp_pid_file,
            checkers_pid_file=args.checkers_pid_file, control=getattr(args, "control", None),
            bfd_pid_file=getattr(args, "bfd_pid_file", None), no_bfd=getattr(args, "no_bfd", False),
            listen=getattr(args, "listen", None), dataplane=getattr(args, "dataplane", "auto"),
            control_read_group=getattr(args, "control_read_group", None),
            control_write_group=getattr(args, "control_write_group", None),
            listen_token_file=getattr(args, "listen_token_file", None),
            dashboard_name=getattr(args, "dashboard_name", None),
            dashboard_peers=tuple(getattr(args, "dashboard_peers", ())),
            vrrp_only=args.vrrp, check_only=args.check, log_console=args.log_console,
            log_detail=args.log_detail, dont_release_vrrp=getattr(args, "dont_release_vrrp", False),
            dont_release_ipvs=getattr(args, "dont_release_ipvs", False),
            dont_respawn=getattr(args, "dont_respawn", False),
            run_all=getattr(args, "run_all", False), log_facility=getattr(args, "log_facility", None),
            no_syslog=getattr(args, "no_syslog", False), release_vips=getattr(args, "release_vips", False),
            dump_conf=getattr(args, "dump_conf", False),
            address_monitoring=getattr(args, "address_monitoring", False),
            namespace=getattr(args, "namespace", None), all_config=getattr(args, "all_config", False),
            umask=getattr(args, "umask", None), core_dump=getattr(args, "core_dump", False),
            core_dump_pattern=getattr(args, "core_dump_pattern", None), snmp=getattr(args, "snmp", False),
            snmp_socket=getattr(args, "snmp_socket", None))

    def _stem(self) -> Path:
        p = Path(self.pid_file)
        return p.with_suffix("") if p.suffix == ".pid" else p

    def child_pid_file(self, kind: str) -> str:
        explicit = {"vrrp": self.vrrp_pid_file, "checkers": self.checkers_pid_file, "bfd": self.bfd_pid_file}[kind]
        if explicit:
            return explicit
        if self.pid_file == DEFAULT_PID_FILE:
            return DEFAULT_CHILD_PID_FILES[kind]
        stem = self._stem()
        return str(stem.with_name(f"{stem.name}_{kind}.pid"))

    @property
    def control_path(self) -> str:
        return self.control or str(self._stem().with_suffix(".ctl"))

    def child_control_path(self, kind: str) -> str:
        base = Path(self.control_path)
        stem = base.with_suffix("") if base.suffix == ".ctl" else base
        return str(stem.with_name(f"{stem.name}_{kind}.ctl"))

    @property
    def bfd_events_path(self) -> str:
        """The BFD child's event stream (pykeepalived.bfd.watch), beside the control socket:
        ``/run/keepalived_bfd.events``; ``-p /run/lb1.pid`` gives ``/run/lb1_bfd.events``."""
        base = Path(self.control_path)
        stem = base.with_suffix("") if base.suffix == ".ctl" else base
        return str(stem.with_name(f"{stem.name}_bfd.events"))
