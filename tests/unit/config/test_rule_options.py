"""Rule selectors and table options read as keepalived 2.2.7's ``alloc_rule`` reads them
(``config.rule_options``), and what the config parser keeps of them."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from pykeepalived.config.loader import load_config_text
from pykeepalived.config.model_vrrp import Rule
from pykeepalived.config.rule_options import (
    RuleOptionParser,
    RuleOptions,
    inet_proto,
    read_fwmark,
    rule_options,
    scan_range,
)

NAMES = {"dsfield": {"AF11": 0x28}, "realms": {"cosmos": 0, "inr.ac": 1}, "group": {"default": 0, "blue": 7}}


def names(kind: str) -> Mapping[str, int]:
    return NAMES[kind]


def protocols(name: str) -> int | None:
    return {"tcp": 6, "udp": 17, "sctp": 132}.get(name)


def opts(text: str) -> RuleOptions:
    return rule_options(tuple(text.split()), names)


def test_every_option_is_folded() -> None:
    got = opts("tos AF11 fwmark 0x5/0xff realms inr.ac/cosmos sup_pl 8 sup_group blue tunnel-id 42 "
               "uidrange 100-200 protocol 3 sport 1000-2000 dport 80-80")
    assert got == RuleOptions(tos=0x28, fwmark=5, fwmask=0xFF, realms=1 << 16, suppress_prefixlength=8,
                              suppress_ifgroup=7, tunnel_id=42, uidrange=(100, 200), protocol=3, sport=(1000, 2000),
                              dport=(80, 80), table_options=frozenset({"realms", "suppress_prefixlength",
                                                                       "suppress_ifgroup"}))
    assert opts("ipproto 17").ipproto == 17
    assert opts("dsfield 0x10 suppress_prefixlength 0 suppress_ifgroup 3").tos == 0x10


@pytest.mark.parametrize(("text", "want"), [
    ("5", (5, None)), ("0x10/0xff", (16, 255)), ("/5", (0, 5)), ("5/", (5, 0)), (" 7", (7, None)),
    ("5/-1", None), ("-5", None), ("5/ 1", None), ("5x", None), ("0x100000000", None), ("5/0x1ffffffff", None),
])
def test_fwmark_as_keepalived_reads_it(text: str, want: tuple[int, int | None] | None) -> None:
    assert read_fwmark(text) == want


@pytest.mark.parametrize(("text", "bits", "want"), [
    ("100-200", 32, (100, 200)), ("1-x", 32, None), ("5", 32, None), ("-1-+2junk", 32, (0xFFFFFFFF, 2)),
    ("70000-1", 16, (4464, 1)), ("80-80", 16, (80, 80)), ("80", 16, None), (" 1- 2", 16, (1, 2)), ("+-1", 16, None),
])
def test_ranges_are_read_as_sscanf_reads_them(text: str, bits: int, want: tuple[int, int] | None) -> None:
    assert scan_range(text, bits) == want


@pytest.mark.parametrize(("text", "want"), [
    ("6", 6), ("127", 127), ("128", None), ("tcp", 6), ("sctp", 132), ("-1", None), ("", None), ("nosuch", None),
])
def test_ipproto_is_a_small_number_or_a_protocol_name(text: str, want: int | None) -> None:
    assert inet_proto(text, protocols) == want


@pytest.mark.parametrize(("words", "drop", "message"), [
    ("tos 300", True, "TOS value 300 is invalid"),
    ("fwmark 5/-1", True, "Invalid rule fwmark 5/-1 specified"),
    ("realms nosuch", True, "invalid realms nosuch for rule"),
    ("sup_pl -1", True, "Invalid suppress_prefixlength sup_pl specified"),
    ("suppress_ifgroup nosuch", True, "suppress_group nosuch is invalid"),
    ("tunnel-id x", True, "Invalid tunnel-id tunnel-id specified"),
    ("uidrange 5", True, "Invalid uidrange uidrange specified"),
    ("protocol 300", False, "Invalid protocol 300"),
    ("ipproto 128", False, "Invalid ipproto 128"),
    ("sport 80", False, "invalid sport range 80"),
    ("dport 80-x", False, "invalid dport range 80-x"),
])
def test_bad_values_are_reported_as_keepalived_reports_them(words: str, drop: bool, message: str) -> None:
    step = RuleOptionParser(names, protocols).take(words.split(), 0, None)
    assert step is not None and step.drop is drop and step.end == 2
    assert step.messages[-1][1] == message


def test_realms_make_the_rule_ipv4() -> None:
    parser = RuleOptionParser(names, protocols)
    step = parser.take(["realms", "3"], 0, None)
    assert step is not None and step.family == 4
    step = parser.take(["realms", "3"], 0, 6)
    assert step is not None and step.drop and step.messages[-1][1] == "realms is only valid for IPv4"


def test_a_missing_value_is_a_missing_parameter() -> None:
    step = RuleOptionParser(names, protocols).take(["dport"], 0, None)
    assert step is not None and step.missing


def _rules(body: str) -> tuple[list[Rule], list[str]]:
    text = ("vrrp_instance V {\n interface eth0\n virtual_router_id 1\n priority 100\n"
            " virtual_ipaddress {\n  10.0.0.1\n }\n virtual_rules {\n" + body + "\n }\n}\n")
    result = load_config_text(text, name="k.conf", config_id="n", interfaces=frozenset({"lo", "eth0", "eth1"}))
    assert result.config is not None
    return list(result.config.vrrp.instances[0].virtual_rules), [d.message for d in result.diagnostics]


def test_the_parser_keeps_the_words_keepalived_installs() -> None:
    rules, messages = _rules("  from 10.1.0.0/24 sport 80 dport 80-81 ipproto tcp protocol 300 table 5 preference 7\n"
                             "  l3mdev realms 4 preference 0x20\n  type 6 preference 9")
    assert [r.options for r in rules] == [("dport", "80-81", "ipproto", "tcp"), ("realms", "4"), ()]
    assert [r.action for r in rules] == ["table", "l3mdev", "blackhole"]
    assert rules[1].preference == 32
    assert "invalid sport range 80" in messages and "Invalid protocol 300" in messages


def test_a_protocol_other_than_keepalived_cannot_be_tracked() -> None:
    rules, messages = _rules("  protocol 3 table 5 preference 7\n  protocol 3 table 5 preference 8 no_track")
    assert len(rules) == 2
    expected = "Rule cannot be tracked if protocol is not RTPROT_KEEPALIVED(18), resetting protocol"
    assert messages.count(expected) == 1
