"""Property: a generated LVS config, parsed, rendered to keepalived syntax and re-parsed, is the same model.

The generator writes config *text* (including things validation fixes up: missing schedulers,
protocols, mismatched ports, oversized quorums …), so the property covers the effective model,
not just what was written.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pykeepalived.config.errors import Diagnostics
from pykeepalived.config.model import to_jsonable
from pykeepalived.config.render import lvs as render_lvs
from tests.unit.config.test_lvs_keywords import parse_lvs

timers = st.sampled_from(["1", "2.5", "0.25", "10", "3.000001", "60"])
small = st.integers(min_value=0, max_value=20)
bools = st.sampled_from(["", " true", " false", " on", " no"])
words = st.from_regex(r"[a-z][a-z0-9._-]{0,10}", fullmatch=True)
methods = st.sampled_from(
    ["NAT", "DR", "TUN", "TUN type gue port 6080", "TUN type gre csum", "TUN type ipip"]
)


def opt(strategy: st.SearchStrategy[str], p: float = 0.5) -> st.SearchStrategy[str]:
    return st.one_of(st.just(""), strategy) if p else strategy


@st.composite
def timing_lines(draw: st.DrawFn, keywords: tuple[str, ...]) -> str:
    out = []
    for kw in keywords:
        if draw(st.booleans()):
            value = draw(small.filter(lambda x: x > 0)) if kw == "retry" else draw(timers)
            out.append(f"{kw} {value}")
    return "\n".join(out)


@st.composite
def connection_lines(draw: st.DrawFn, v6: bool) -> str:
    out = []
    if draw(st.booleans()):
        out.append(f"connect_ip {'fd00::' if v6 else '10.9.0.'}{draw(st.integers(1, 250))}")
    if draw(st.booleans()):
        out.append(f"connect_port {draw(st.integers(1, 65535))}")
    if draw(st.booleans()):
        out.append(f"bindto {'fd00::1:' if v6 else '10.8.0.'}{draw(st.integers(1, 250))}")
    if draw(st.booleans()):
        out.append(f"bind_port {draw(st.integers(1, 65535))}")
    if draw(st.booleans()):
        out.append(f"bind_if eth{draw(st.integers(0, 3))}")
    if draw(st.booleans()):
        out.append(f"fwmark {draw(st.integers(0, 100))}")
    if draw(st.booleans()):
        out.append(f"connect_timeout {draw(timers)}")
    return "\n".join(out)


CHECK_TIMING = ("retry", "delay_before_retry", "warmup", "delay_loop")


@st.composite
def checker(draw: st.DrawFn, v6: bool) -> str:
    kind = draw(
        st.sampled_from(
            [
                "TCP_CHECK",
                "HTTP_GET",
                "SSL_GET",
                "MISC_CHECK",
                "SMTP_CHECK",
                "DNS_CHECK",
                "UDP_CHECK",
                "PING_CHECK",
                "FILE_CHECK",
                "BFD_CHECK",
            ]
        )
    )
    body = []
    if kind not in ("FILE_CHECK", "BFD_CHECK"):
        body.append(draw(timing_lines(CHECK_TIMING)))
        if draw(st.booleans()):
            body.append(f"retry {draw(small)}")
        body.append(
            draw(opt(st.sampled_from(["alpha", "alpha false", "log_all_failures", "log_all_failures on"])))
        )
    if kind not in ("MISC_CHECK", "FILE_CHECK", "BFD_CHECK"):
        body.append(draw(connection_lines(v6)))
    if kind in ("HTTP_GET", "SSL_GET"):
        for _ in range(draw(st.integers(1, 3))):
            url = [f"path /{draw(words)}"]
            if draw(st.booleans()):
                url.append(f"digest {draw(st.from_regex(r'[0-9a-fA-F]{32}', fullmatch=True))}")
            if draw(st.booleans()):
                url.append(
                    "status_code "
                    + " ".join(
                        draw(
                            st.lists(
                                st.sampled_from(["200", "301-302", "404", "500-599", "100-199"]),
                                min_size=1,
                                max_size=3,
                            )
                        )
                    )
                )
            url.append(draw(opt(words.map(lambda w: f"virtualhost {w}"))))
            if draw(st.booleans()):
                url += [
                    f"regex {draw(words)}",
                    draw(opt(st.just("regex_no_match"))),
                    draw(opt(st.just("regex_options caseless multiline"))),
                    "regex_min_offset 1",
                    "regex_max_offset 40",
                    draw(opt(st.just("regex_stack 32 64"))),
                ]
            body.append("url {\n" + "\n".join(url) + "\n}")
        body.append(
            draw(
                opt(
                    st.sampled_from(
                        [
                            "http_protocol 1.1",
                            "http_protocol 1.0C",
                            "fast_recovery",
                            "enable_sni",
                            "virtualhost www.example.com",
                            "nb_get_retry 2",
                        ]
                    )
                )
            )
        )
    elif kind == "MISC_CHECK":
        body.append(draw(st.sampled_from(["misc_path /bin/true", 'misc_path "/bin/check -x 3"'])))
        body.append(draw(opt(st.integers(0, 30).map(lambda n: f"misc_timeout {n}"))))
        body.append(draw(opt(st.sampled_from(["misc_dynamic", "user nobody", "user nobody nogroup"]))))
    elif kind == "SMTP_CHECK":
        body.append(draw(opt(words.map(lambda w: f"helo_name {w}"))))
        for _ in range(draw(st.integers(0, 2))):
            body.append("host {\n" + draw(connection_lines(v6)) + "\n}")
    elif kind == "DNS_CHECK":
        body.append(draw(opt(st.sampled_from(["type A", "type aaaa", "type TXT"]))))
        body.append(draw(opt(st.sampled_from(["name example.com", "name .", "name a.b.c"]))))
    elif kind == "UDP_CHECK":
        body.append(draw(opt(st.sampled_from(["payload 0a0b0c", "payload 1 2 ff"]))))
        body.append(draw(opt(st.sampled_from(["require_reply", "require_reply 0Xx1"]))))
        body.append(draw(opt(st.integers(0, 10).map(lambda n: f"min_reply_length {n}"))))
        body.append(draw(opt(st.integers(10, 300).map(lambda n: f"max_reply_length {n}"))))
    elif kind == "FILE_CHECK":
        body.append(f"track_file {draw(words)}")
        body.append(draw(opt(st.sampled_from(["weight 5", "weight -3 reverse", "weight 0 noreverse"]))))
    elif kind == "BFD_CHECK":
        body.append(f"name {draw(words)}")
        body.append(draw(opt(st.just("alpha"))))
    return f"{kind} {{\n" + "\n".join(b for b in body if b) + "\n}"


@st.composite
def real_server(draw: st.DrawFn, index: int, v6: bool) -> str:
    addr = f"fd00::{index + 1:x}" if v6 else f"10.1.{index // 200}.{index % 200 + 1}"
    port = draw(opt(st.integers(1, 65535).map(lambda p: f" {p}")))
    body = [
        draw(opt(st.integers(0, 20).map(lambda w: f"weight {w}"))),
        draw(opt(methods.map(lambda m: f"lvs_method {m}"))),
        draw(opt(bools.map(lambda b: f"inhibit_on_failure{b}"))),
        draw(opt(bools.map(lambda b: f"alpha{b}"))),
        draw(opt(bools.map(lambda b: f"smtp_alert{b}"))),
        draw(opt(st.just('notify_up "/bin/up rs"'))),
        draw(opt(st.just("notify_down /bin/down root"))),
        draw(opt(st.integers(0, 1000).map(lambda n: f"uthreshold {n}"))),
        draw(opt(st.integers(0, 1000).map(lambda n: f"lthreshold {n}"))),
        draw(opt(words.map(lambda w: f"virtualhost {w}"))),
        draw(opt(words.map(lambda w: f"snmp_name {w}"))),
        draw(timing_lines(("retry", "delay_before_retry", "warmup", "delay_loop", "connect_timeout"))),
    ]
    body += draw(st.lists(checker(v6), max_size=3))
    return f"real_server {addr}{port} {{\n" + "\n".join(b for b in body if b) + "\n}"


@st.composite
def virtual_server(draw: st.DrawFn, index: int, groups: list[str]) -> str:
    kind = draw(st.sampled_from(["v4", "v6", "fwmark"] + (["group"] if groups else [])))
    v6 = kind == "v6"
    if kind == "v4":
        head = f"10.0.{index // 250}.{index % 250 + 1}" + draw(
            opt(st.integers(1, 65535).map(lambda p: f" {p}"))
        )
    elif kind == "v6":
        head = f"fc00::{index + 1:x}" + draw(opt(st.integers(1, 65535).map(lambda p: f" {p}")))
    elif kind == "fwmark":
        head = f"fwmark {index + 1}"
    else:
        head = f"group {draw(st.sampled_from(groups))}"
    sched = draw(st.sampled_from(["", "lvs_sched rr", "lb_algo wlc", "lvs_sched sh", "lvs_sched mh"]))
    body = [
        sched,
        draw(opt(st.sampled_from(["sh-port", "mh-fallback", "ops", "flag-2"]))),
        draw(opt(methods.map(lambda m: f"lvs_method {m}"))),
        draw(opt(st.sampled_from(["protocol TCP", "protocol udp", "protocol SCTP"]))),
        draw(opt(st.sampled_from(["persistence_timeout", "persistence_timeout 50"]))),
        draw(opt(st.just("persistence_granularity " + ("64" if v6 else "255.255.0.0")))),
        draw(opt(st.just("persistence_engine sip"))),
        draw(timing_lines(("retry", "delay_before_retry", "warmup", "delay_loop", "connect_timeout"))),
        draw(opt(st.integers(1, 5).map(lambda w: f"weight {w}"))),
        draw(opt(st.sampled_from(["alpha", "omega", "inhibit_on_failure", "ha_suspend"]))),
        draw(opt(st.integers(1, 30).map(lambda q: f"quorum {q}"))),
        draw(opt(st.integers(0, 30).map(lambda h: f"hysteresis {h}"))),
        draw(opt(st.just('quorum_up "/bin/q up" nobody'))),
        draw(opt(st.just("quorum_down /bin/qdown"))),
        draw(opt(st.sampled_from(["smtp_alert", "smtp_alert false"]))),
        draw(opt(words.map(lambda w: f"virtualhost {w}"))),
        draw(opt(words.map(lambda w: f"snmp_name {w}"))),
    ]
    if draw(st.booleans()):
        body.append(
            f"sorry_server {'fd00::ff' if v6 else '10.1.255.1'}"
            + draw(opt(st.integers(1, 65535).map(lambda p: f" {p}")))
        )
        body.append(draw(opt(st.just("sorry_server_inhibit"))))
        body.append(draw(opt(methods.map(lambda m: f"sorry_server_lvs_method {m}"))))
    body += [draw(real_server(i, v6)) for i in range(draw(st.integers(0, 4)))]
    return f"virtual_server {head} {{\n" + "\n".join(b for b in body if b) + "\n}"


@st.composite
def lvs_config(draw: st.DrawFn) -> str:
    parts = []
    if draw(st.booleans()):
        parts.append("SSL {\n" + draw(opt(st.just("password secret"))) + "\nca /etc/ca.pem\n}")
    groups = []
    for g in range(draw(st.integers(0, 2))):
        entries = draw(
            st.lists(
                st.sampled_from(
                    [
                        "10.20.0.1 80",
                        "10.20.0.5-9 443",
                        "10.20.1.0/30",
                        "10.21.0.1-10.21.0.7 8080",
                        "fwmark 9",
                        "fwmark 10 inet",
                    ]
                ),
                min_size=1,
                max_size=4,
                unique=True,
            )
        )
        groups.append(f"G{g}")
        parts.append(f"virtual_server_group G{g} {{\n" + "\n".join(entries) + "\n}")
    parts += [draw(virtual_server(i, groups)) for i in range(draw(st.integers(1, 4)))]
    return "\n".join(parts) + "\n"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lvs_config())
def test_render_reparse_is_identity(text: str) -> None:
    first, first_diags = parse_lvs(text)
    rendered = render_lvs.render(first)
    second, diags = parse_lvs(rendered)
    assert to_jsonable(second) == to_jsonable(first), rendered
    # rendering adds no problem of its own (what keepalived only reports, without a fix-up, stays);
    # a quorum of 0 (all real servers weigh 0) cannot be written, only derived again
    if all(vs.quorum for vs in first.virtual_servers):
        assert _texts(diags) <= _texts(first_diags), rendered
    assert render_lvs.render(second) == rendered


def _texts(diags: Diagnostics) -> set[str]:
    """Messages without group member numbers (they shift when an empty service is dropped)."""
    return {re.sub(r"\]:\d+", "]:N", d.message) for d in diags}
