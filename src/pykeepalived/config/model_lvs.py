"""The LVS side of the model: virtual servers, real servers and their health checkers.

Every value here is the *effective* one, after keepalived's defaults and the timing
inheritance of its ``validate_check_config`` (keepalived/check/check_data.c: checker <-
real_server <- virtual_server <- built-in default), so the checker runner and the data plane
use the model as is and never re-implement an inheritance rule.  Times are seconds (floats, microsecond resolution).
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, field

from .fastinit import fast_init
from .lines import Location
from .model_script import Script

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Protocol(enum.Enum):
    TCP = "TCP"
    UDP = "UDP"
    SCTP = "SCTP"


class IpFamily(enum.Enum):
    INET = "inet"
    INET6 = "inet6"


class LvsMethod(enum.Enum):
    NAT = "NAT"
    DR = "DR"
    TUN = "TUN"


class TunnelType(enum.Enum):
    IPIP = "ipip"
    GUE = "gue"
    GRE = "gre"


class TunnelChecksum(enum.Enum):
    NOCSUM = "nocsum"
    CSUM = "csum"
    REMCSUM = "remcsum"


class HttpProtocol(enum.Enum):
    """``http_protocol``: 1.0 sends no Connection header, 1.0C and 1.1 send ``Connection: close``."""

    HTTP_1_0 = "1.0"
    HTTP_1_0C = "1.0C"
    HTTP_1_1 = "1.1"


class DnsType(enum.Enum):
    A = "A"
    NS = "NS"
    CNAME = "CNAME"
    SOA = "SOA"
    MX = "MX"
    TXT = "TXT"
    AAAA = "AAAA"
    RRSIG = "RRSIG"
    DNSKEY = "DNSKEY"


@fast_init
@dataclass(frozen=True, slots=True)
class Forwarding:
    """``lvs_method`` with its tunnel options (only meaningful for TUN, but kept as written)."""

    method: LvsMethod = LvsMethod.NAT
    tunnel_type: TunnelType = TunnelType.IPIP
    #: GUE destination port (0 for other tunnel types)
    tunnel_port: int = 0
    tunnel_checksum: TunnelChecksum = TunnelChecksum.NOCSUM


@fast_init
@dataclass(frozen=True, slots=True)
class SslConfig:
    """The global ``SSL {}`` client context used by SSL_GET (all optional)."""

    password: str | None = None
    ca: str | None = None
    certificate: str | None = None
    key: str | None = None


# --- virtual_server_group ------------------------------------------------------------------


@fast_init
@dataclass(frozen=True, slots=True)
class VsgAddressRange:
    """One address entry of a group: a single address (first == last) or an inclusive range.

    ``IP-LASTOCTET``, ``IP-IP`` and ``IP/PREFIX`` forms are all stored as first..last.
    ``port`` 0 means no port (valid only for persistent services).
    """

    first: IPAddress
    last: IPAddress
    port: int = 0


@fast_init
@dataclass(frozen=True, slots=True)
class VsgFwmark:
    fwmark: int
    #: None: no family given (then the group cannot mix IPv4 and IPv6 addresses)
    family: IpFamily | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class VirtualServerGroup:
    name: str
    addresses: tuple[VsgAddressRange, ...] = ()
    fwmarks: tuple[VsgFwmark, ...] = ()
    loc: Location | None = field(default=None, compare=False)


# --- checkers --------------------------------------------------------------------------------


@fast_init
@dataclass(frozen=True, slots=True)
class CheckTiming:
    """The scheduling knobs every queued checker has, already inherited (see the module docstring)."""

    delay_loop: float
    retry: int
    delay_before_retry: float
    warmup: float
    alpha: bool = False
    log_all_failures: bool = False


@fast_init
@dataclass(frozen=True, slots=True)
class CheckConnection:
    """Where a network checker connects to and from.

    ``connect_ip``/``connect_port`` default to the real server as written on its
    ``real_server`` line (keepalived copies it when the checker block opens, before the
    real server's port is inherited from the virtual server; 0 = no port).
    """

    connect_ip: IPAddress
    connect_port: int
    connect_timeout: float
    bindto: IPAddress | None = None
    #: 0: any source port
    bind_port: int = 0
    bind_if: str | None = None
    #: SO_MARK for the checker's socket (0: none)
    fwmark: int = 0


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class TcpCheck:
    type: str = field(default="TCP_CHECK", init=False)
    timing: CheckTiming
    connection: CheckConnection


@fast_init
@dataclass(frozen=True, slots=True)
class Url:
    """One ``url {}`` of an HTTP_GET/SSL_GET: all of them must pass."""

    path: str
    #: lowercase hex MD5 of the body, or None
    digest: str | None = None
    #: accepted status codes as merged inclusive ranges (default 200-299)
    status_codes: tuple[tuple[int, int], ...] = ((200, 299),)
    virtualhost: str | None = None
    regex: str | None = None
    regex_no_match: bool = False
    regex_options: tuple[str, ...] = ()
    regex_min_offset: int = 0
    #: last acceptable offset as written (None: unlimited)
    regex_max_offset: int | None = None
    #: JIT stack (start, max) or None
    regex_stack: tuple[int, int] | None = None

    def accepts_status(self, status: int) -> bool:
        """Whether ``status`` is one of the url's accepted status codes."""
        return any(lo <= status <= hi for lo, hi in self.status_codes)


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class HttpCheck:
    """HTTP_GET, or SSL_GET when ``type == "SSL_GET"``."""

    type: str = "HTTP_GET"
    timing: CheckTiming
    connection: CheckConnection
    urls: tuple[Url, ...]
    virtualhost: str | None = None
    http_protocol: HttpProtocol = HttpProtocol.HTTP_1_0
    fast_recovery: bool = False
    enable_sni: bool = False

    @property
    def ssl(self) -> bool:
        return self.type == "SSL_GET"


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class MiscCheck:
    type: str = field(default="MISC_CHECK", init=False)
    timing: CheckTiming
    #: the command (``user USER [GROUP]`` is carried in Script.user/group)
    misc_path: Script
    #: seconds; default the virtual server's delay_loop
    misc_timeout: float
    misc_dynamic: bool = False


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpCheck:
    type: str = field(default="SMTP_CHECK", init=False)
    timing: CheckTiming
    connection: CheckConnection
    helo_name: str = "smtpchecker.keepalived.org"


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class DnsCheck:
    type: str = field(default="DNS_CHECK", init=False)
    timing: CheckTiming
    connection: CheckConnection
    query_type: DnsType = DnsType.SOA
    #: query name; "" is the root (keepalived's default)
    name: str = ""


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class UdpCheck:
    type: str = field(default="UDP_CHECK", init=False)
    timing: CheckTiming
    connection: CheckConnection
    #: payload as lowercase hex (None: random payload)
    payload: str | None = None
    require_reply: bool = False
    #: expected reply as lowercase hex, ``x`` = wildcard nibble (None: any reply)
    reply_pattern: str | None = None
    min_reply_length: int = 0
    max_reply_length: int = 255


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class PingCheck:
    type: str = field(default="PING_CHECK", init=False)
    timing: CheckTiming
    connection: CheckConnection


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class FileCheck:
    """Weight/state from a ``track_file``; not a polled checker (no timing)."""

    type: str = field(default="FILE_CHECK", init=False)
    track_file: str
    #: None: the track_file's own weight applies
    weight: int | None = None
    reverse: bool = False


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class BfdCheck:
    """RS down while the named ``bfd_instance`` session is down."""

    type: str = field(default="BFD_CHECK", init=False)
    name: str
    alpha: bool = False


Checker = (
    TcpCheck | HttpCheck | MiscCheck | SmtpCheck | DnsCheck | UdpCheck | PingCheck | FileCheck | BfdCheck
)


# --- servers ---------------------------------------------------------------------------------


@fast_init
@dataclass(frozen=True, slots=True)
class SorryServer:
    ip: IPAddress
    port: int = 0
    forwarding: Forwarding = Forwarding()
    inhibit: bool = False


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class RealServer:
    ip: IPAddress
    #: effective port (NAT: inherited from the VS when omitted; non-NAT: the VS port; fwmark: 0)
    port: int
    weight: int
    forwarding: Forwarding
    inhibit_on_failure: bool = False
    alpha: bool = False
    notify_up: Script | None = None
    notify_down: Script | None = None
    uthreshold: int | None = None
    lthreshold: int | None = None
    smtp_alert: bool = True
    virtualhost: str | None = None
    snmp_name: str | None = None
    checkers: tuple[Checker, ...] = ()


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class VirtualServer:
    """One virtual service: exactly one of ``address``, ``fwmark`` or ``group`` is set."""

    address: IPAddress | None = None
    #: 0 with ``address`` means "any port" (persistent services only)
    port: int = 0
    fwmark: int | None = None
    group: str | None = None
    #: None for fwmark services (the kernel ignores it)
    protocol: Protocol | None = None
    #: address family of the service (resolved as keepalived does)
    ip_family: IpFamily = IpFamily.INET
    lvs_sched: str = "wlc"
    #: scheduler flags that took effect (ops, flag-1..3, sh-port, sh-fallback, mh-port, mh-fallback)
    sched_flags: tuple[str, ...] = ()
    forwarding: Forwarding = Forwarding()
    #: seconds, 0 = not persistent
    persistence_timeout: int = 0
    #: IPv4 netmask, or IPv6 prefix length; None: not set
    persistence_granularity: ipaddress.IPv4Address | int | None = None
    persistence_engine: str | None = None
    delay_loop: float = 60.0
    connect_timeout: float = 5.0
    #: VS-level defaults for the checkers as written (None: not set); already applied to checkers
    retry: int | None = None
    delay_before_retry: float | None = None
    warmup: float | None = None
    #: default real server weight
    weight: int = 1
    alpha: bool = False
    omega: bool = False
    inhibit_on_failure: bool = False
    ha_suspend: bool = False
    quorum: int = 1
    hysteresis: int = 0
    quorum_up: Script | None = None
    quorum_down: Script | None = None
    sorry_server: SorryServer | None = None
    virtualhost: str | None = None
    smtp_alert: bool = False
    snmp_name: str | None = None
    real_servers: tuple[RealServer, ...] = ()

    def describe(self) -> str:
        """keepalived's FMT_VS text: ``[ip]:tcp:80``, ``FWM 1`` or ``[GROUP]:0``."""
        return format_vs(self.address, self.port, self.fwmark, self.group, self.protocol)


@fast_init
@dataclass(frozen=True, slots=True)
class LvsConfig:
    ssl: SslConfig | None = None
    virtual_server_groups: tuple[VirtualServerGroup, ...] = ()
    virtual_servers: tuple[VirtualServer, ...] = ()


def format_vs(
    address: IPAddress | None,
    port: int,
    fwmark: int | None,
    group: str | None,
    protocol: Protocol | None,
    group_index: int = 0,
) -> str:
    """keepalived's FMT_VS: the way virtual servers are named in messages, FIFO lines and mails."""
    if group is not None:
        return f"[{group}]:{group_index}"
    if fwmark is not None:
        return f"FWM {fwmark}"
    return format_trio(address, port, protocol)


def format_trio(address: IPAddress | None, port: int, protocol: Protocol | None) -> str:
    """``inet_sockaddrtotrio``: ``[addr]:proto:port`` with proto tcp|udp|sctp|none."""
    proto = protocol.value.lower() if protocol is not None else "none"
    return f"[{address}]:{proto}:{port}"
