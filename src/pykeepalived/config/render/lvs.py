"""keepalived syntax for :class:`LvsConfig` with every effective value explicit, so that
``parse(render(m)) == m`` (the round-trip property test relies on it).
"""

from __future__ import annotations

from dataclasses import replace

from ..model import Script
from ..model_lvs import (
    BfdCheck,
    Checker,
    DnsCheck,
    FileCheck,
    Forwarding,
    HttpCheck,
    LvsConfig,
    MiscCheck,
    RealServer,
    SmtpCheck,
    TunnelChecksum,
    TunnelType,
    UdpCheck,
    Url,
    VirtualServer,
)
from .text import fmt_timer


def _q(text: str) -> str:
    """A single word, quoted when it would otherwise split or start a comment."""
    if text and not any(c in text for c in ' \t"#!{}\\') and text != "":
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _script(s: Script) -> str:
    words = " ".join(_q(a) for a in s.argv)
    out = '"' + words.replace('"', '\\"') + '"' if len(s.argv) != 1 else _q(s.argv[0])
    if s.user is not None:
        out += f" {s.user}" + (f" {s.group}" if s.group is not None else "")
    return out


def _fwd(f: Forwarding) -> str:
    out = f.method.value
    if f.tunnel_type is not TunnelType.IPIP:
        out += f" type {f.tunnel_type.value}"
    if f.tunnel_port:
        out += f" port {f.tunnel_port}"
    if f.tunnel_checksum is not TunnelChecksum.NOCSUM:
        out += f" {f.tunnel_checksum.value}"
    return out


def _b(v: bool) -> str:
    return "true" if v else "false"


def render(lvs: LvsConfig) -> str:
    """keepalived syntax for ``lvs`` that parses back to the same model (effective values explicit)."""
    out: list[str] = []
    if lvs.ssl is not None:
        out.append("SSL {")
        for key in ("password", "ca", "certificate", "key"):
            value = getattr(lvs.ssl, key)
            if value is not None:
                out.append(f"    {key} {_q(value)}")
        out.append("}")
    for g in lvs.virtual_server_groups:
        out.append(f"virtual_server_group {_q(g.name)} {{")
        for a in g.addresses:
            addr = str(a.first) if a.first == a.last else f"{a.first}-{a.last}"
            out.append(f"    {addr}" + (f" {a.port}" if a.port else ""))
        for f in g.fwmarks:
            out.append(f"    fwmark {f.fwmark}" + (f" {f.family.value}" if f.family else ""))
        out.append("}")
    for vs in lvs.virtual_servers:
        out.extend(_render_vs(vs))
    return "\n".join(out) + "\n"


def _render_vs(vs: VirtualServer) -> list[str]:
    if vs.group is not None:
        head = f"group {_q(vs.group)}"
    elif vs.fwmark is not None:
        head = f"fwmark {vs.fwmark}"
    else:
        head = f"{vs.address}" + (f" {vs.port}" if vs.port else "")
    out = [f"virtual_server {head} {{"]
    ind = "    "
    if vs.fwmark is not None and vs.ip_family is not None:
        out.append(f"{ind}ip_family {vs.ip_family.value}")
    if vs.protocol is not None:
        out.append(f"{ind}protocol {vs.protocol.value}")
    out.append(f"{ind}lvs_sched {vs.lvs_sched}")
    out.extend(f"{ind}{flag}" for flag in vs.sched_flags)
    out.append(f"{ind}lvs_method {_fwd(vs.forwarding)}")
    if vs.persistence_timeout:
        out.append(f"{ind}persistence_timeout {vs.persistence_timeout}")
    if vs.persistence_granularity is not None:
        out.append(f"{ind}persistence_granularity {vs.persistence_granularity}")
    if vs.persistence_engine is not None:
        out.append(f"{ind}persistence_engine {_q(vs.persistence_engine)}")
    out.append(f"{ind}delay_loop {fmt_timer(vs.delay_loop)}")
    out.append(f"{ind}connect_timeout {fmt_timer(vs.connect_timeout)}")
    if vs.retry is not None:
        out.append(f"{ind}retry {vs.retry}")
    if vs.delay_before_retry is not None:
        out.append(f"{ind}delay_before_retry {fmt_timer(vs.delay_before_retry)}")
    if vs.warmup is not None:
        out.append(f"{ind}warmup {fmt_timer(vs.warmup)}")
    out.append(f"{ind}weight {vs.weight}")
    for flag, on in (
        ("alpha", vs.alpha),
        ("omega", vs.omega),
        ("inhibit_on_failure", vs.inhibit_on_failure),
        ("ha_suspend", vs.ha_suspend),
    ):
        if on:
            out.append(f"{ind}{flag}")
    out.append(f"{ind}quorum {vs.quorum}" if vs.quorum else f"{ind}quorum 1")
    out.append(f"{ind}hysteresis {vs.hysteresis}")
    if vs.quorum_up is not None:
        out.append(f"{ind}quorum_up {_script(vs.quorum_up)}")
    if vs.quorum_down is not None:
        out.append(f"{ind}quorum_down {_script(vs.quorum_down)}")
    if vs.sorry_server is not None:
        s = vs.sorry_server
        out.append(f"{ind}sorry_server {s.ip}" + (f" {s.port}" if s.port else ""))
        out.append(f"{ind}sorry_server_lvs_method {_fwd(s.forwarding)}")
        if s.inhibit:
            out.append(f"{ind}sorry_server_inhibit")
    if vs.virtualhost is not None:
        out.append(f"{ind}virtualhost {_q(vs.virtualhost)}")
    out.append(f"{ind}smtp_alert {_b(vs.smtp_alert)}")
    if vs.snmp_name is not None:
        out.append(f"{ind}snmp_name {_q(vs.snmp_name)}")
    for rs in vs.real_servers:
        out.extend(_render_rs(rs, ind, vs.delay_loop))
    out.append("}")
    return out


def _render_rs(rs: RealServer, ind: str, vs_delay_loop: float) -> list[str]:
    i2 = ind * 2
    out = [f"{ind}real_server {rs.ip}" + (f" {rs.port}" if rs.port else "") + " {"]
    out.append(f"{i2}weight {rs.weight}")
    out.append(f"{i2}lvs_method {_fwd(rs.forwarding)}")
    out.append(f"{i2}inhibit_on_failure {_b(rs.inhibit_on_failure)}")
    out.append(f"{i2}alpha {_b(rs.alpha)}")
    out.append(f"{i2}smtp_alert {_b(rs.smtp_alert)}")
    if rs.notify_up is not None:
        out.append(f"{i2}notify_up {_script(rs.notify_up)}")
    if rs.notify_down is not None:
        out.append(f"{i2}notify_down {_script(rs.notify_down)}")
    if rs.uthreshold is not None:
        out.append(f"{i2}uthreshold {rs.uthreshold}")
    if rs.lthreshold is not None:
        out.append(f"{i2}lthreshold {rs.lthreshold}")
    if rs.virtualhost is not None:
        out.append(f"{i2}virtualhost {_q(rs.virtualhost)}")
    if rs.snmp_name is not None:
        out.append(f"{i2}snmp_name {_q(rs.snmp_name)}")
    for c in rs.checkers:
        out.extend(_render_checker(c, i2, ind, vs_delay_loop))
    out.append(f"{ind}}}")
    return out


def _render_checker(c: Checker, ind: str, step: str, vs_delay_loop: float) -> list[str]:
    i2 = ind + step
    out = [f"{ind}{c.type} {{"]
    if isinstance(c, FileCheck):
        out.append(f"{i2}track_file {_q(c.track_file)}")
        if c.weight is not None:
            out.append(f"{i2}weight {c.weight}" + (" reverse" if c.reverse else ""))
        out.append(f"{ind}}}")
        return out
    if isinstance(c, BfdCheck):
        out += [f"{i2}name {_q(c.name)}", f"{i2}alpha {_b(c.alpha)}", f"{ind}}}"]
        return out
    t = c.timing
    out += [
        f"{i2}delay_loop {fmt_timer(t.delay_loop)}",
        f"{i2}retry {t.retry}",
        f"{i2}delay_before_retry {fmt_timer(t.delay_before_retry)}",
        f"{i2}warmup {fmt_timer(t.warmup)}",
        f"{i2}alpha {_b(t.alpha)}",
        f"{i2}log_all_failures {_b(t.log_all_failures)}",
    ]
    if isinstance(c, MiscCheck):
        out.append(f"{i2}misc_path {_script(replace(c.misc_path, user=None, group=None))}")
        if c.misc_timeout != vs_delay_loop:  # the default; it may have decimals misc_timeout cannot take
            out.append(f"{i2}misc_timeout {int(c.misc_timeout)}")
        if c.misc_dynamic:
            out.append(f"{i2}misc_dynamic")
        if c.misc_path.user is not None:
            out.append(
                f"{i2}user {c.misc_path.user}" + (f" {c.misc_path.group}" if c.misc_path.group else "")
            )
        out.append(f"{ind}}}")
        return out
    co = c.connection
    out.append(f"{i2}connect_ip {co.connect_ip}")
    if co.connect_port:
        out.append(f"{i2}connect_port {co.connect_port}")
    out.append(f"{i2}connect_timeout {fmt_timer(co.connect_timeout)}")
    if co.bindto is not None:
        out.append(f"{i2}bindto {co.bindto}")
    if co.bind_port:
        out.append(f"{i2}bind_port {co.bind_port}")
    if co.bind_if is not None:
        out.append(f"{i2}bind_if {_q(co.bind_if)}")
    if co.fwmark:
        out.append(f"{i2}fwmark {co.fwmark}")
    if isinstance(c, HttpCheck):
        if c.virtualhost is not None:
            out.append(f"{i2}virtualhost {_q(c.virtualhost)}")
        out.append(f"{i2}http_protocol {c.http_protocol.value}")
        out.append(f"{i2}fast_recovery {_b(c.fast_recovery)}")
        out.append(f"{i2}enable_sni {_b(c.enable_sni)}")
        for u in c.urls:
            out.extend(_render_url(u, i2, step))
    elif isinstance(c, SmtpCheck):
        out.append(f"{i2}helo_name {_q(c.helo_name)}")
    elif isinstance(c, DnsCheck):
        out.append(f"{i2}type {c.query_type.value}")
        if c.name:
            out.append(f"{i2}name {_q(c.name)}")
    elif isinstance(c, UdpCheck):
        if c.payload is not None:
            out.append(f"{i2}payload {c.payload}")
        if c.require_reply:
            out.append(f"{i2}require_reply" + (f" {c.reply_pattern}" if c.reply_pattern else ""))
        out.append(f"{i2}min_reply_length {c.min_reply_length}")
        out.append(f"{i2}max_reply_length {c.max_reply_length}")
    out.append(f"{ind}}}")
    return out


def _render_url(u: Url, ind: str, step: str) -> list[str]:
    i2 = ind + step
    out = [f"{ind}url {{", f"{i2}path {_q(u.path)}"]
    if u.digest is not None:
        out.append(f"{i2}digest {u.digest}")
    codes = " ".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in u.status_codes)
    out.append(f"{i2}status_code {codes}")
    if u.virtualhost is not None:
        out.append(f"{i2}virtualhost {_q(u.virtualhost)}")
    if u.regex is not None:
        out.append(f"{i2}regex {_q(u.regex)}")
        if u.regex_no_match:
            out.append(f"{i2}regex_no_match")
        if u.regex_options:
            out.append(f"{i2}regex_options {' '.join(u.regex_options)}")
        if u.regex_min_offset:
            out.append(f"{i2}regex_min_offset {u.regex_min_offset}")
        if u.regex_max_offset is not None:
            out.append(f"{i2}regex_max_offset {u.regex_max_offset}")
        if u.regex_stack is not None:
            out.append(f"{i2}regex_stack {u.regex_stack[0]} {u.regex_stack[1]}")
    out.append(f"{ind}}}")
    return out
