"""render(config) re-parses to the same model (samples and generated configs)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pykeepalived.config import load_config, load_config_text
from pykeepalived.config.model import to_jsonable
from pykeepalived.config.render import render
from tests.conftest import data_path, sample_names
from tests.unit.config.test_samples import LAB_INTERFACES

IFS = frozenset({"eth0", "eth1", "eth2"})


def _roundtrip(config) -> None:  # type: ignore[no-untyped-def]
    text = render(config)
    again = load_config_text(text, interfaces=IFS | LAB_INTERFACES, config_id=config.config_id)
    assert again.config is not None
    a, b = to_jsonable(config), to_jsonable(again.config)
    a.pop("files"), b.pop("files")
    assert a == b, text


@pytest.mark.parametrize("sample", sample_names())
def test_samples_roundtrip(sample: str) -> None:
    result = load_config(
        data_path("keepalived-samples", sample), interfaces=LAB_INTERFACES, config_id="nohost"
    )
    _roundtrip(result.config)


names = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,8}", fullmatch=True)
ipv4 = st.tuples(*[st.integers(1, 254)] * 4).map(lambda t: ".".join(map(str, t)))


@st.composite
def instance(draw: st.DrawFn, name: str, vrid: int) -> str:
    lines = [f"interface {draw(st.sampled_from(sorted(IFS)))}", f"virtual_router_id {vrid}"]
    if draw(st.booleans()):
        lines.append(f"state {draw(st.sampled_from(['MASTER', 'BACKUP']))}")
    if draw(st.booleans()):
        lines.append(f"priority {draw(st.integers(1, 255))}")
    if draw(st.booleans()):
        lines.append(f"advert_int {draw(st.sampled_from(['1', '2.5', '0.37', '3']))}")
    if draw(st.booleans()):
        lines.append("version 3")
    for flag in ("nopreempt", "dont_track_primary", "no_accept", "smtp_alert"):
        if draw(st.booleans()):
            lines.append(flag)
    if draw(st.booleans()):
        lines.append(f"authentication {{\nauth_type PASS\nauth_pass {draw(names)}\n}}")
    vips = draw(
        st.lists(
            st.tuples(
                ipv4,
                st.integers(8, 32),
                st.sampled_from(["", "dev eth1", "scope link", "brd +", "label eth0:1"]),
            ),
            min_size=1,
            max_size=3,
            unique_by=lambda t: t[0],
        )
    )
    lines.append("virtual_ipaddress {\n" + "\n".join(f"{a}/{p} {o}" for a, p, o in vips) + "\n}")
    if draw(st.booleans()):
        lines.append(f"virtual_routes {{\n{draw(ipv4)}/24 via {draw(ipv4)} dev eth0\n}}")
    if draw(st.booleans()):
        lines.append(f"virtual_rules {{\nfrom {draw(ipv4)}/24 table 100\n}}")
    if draw(st.booleans()):
        lines.append("track_interface {\neth2 weight 5\n}")
    if draw(st.booleans()):
        lines.append("notify_master \"/bin/echo 'a b' c\" root")
    return f"vrrp_instance {name} {{\n" + "\n".join(lines) + "\n}\n"


@st.composite
def configs(draw: st.DrawFn) -> str:
    out = ["global_defs {"]
    if draw(st.booleans()):
        out.append(f"router_id {draw(names)}")
    if draw(st.booleans()):
        out.append("vrrp_strict")
    if draw(st.booleans()):
        out.append(f"vrrp_garp_master_delay {draw(st.integers(0, 10))}")
    if draw(st.booleans()):
        out.append("vrrp_min_garp")
    if draw(st.booleans()):
        out.append("notification_email {\na@b\n}")
    out.append("}")
    n = draw(st.integers(0, 3))
    for i in range(n):
        out.append(draw(instance(f"VI_{i}", i + 1)))
    if n >= 2 and draw(st.booleans()):
        out.append("vrrp_sync_group G {\ngroup {\nVI_0\nVI_1\n}\n}")
    return "\n".join(out) + "\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs())
def test_generated_roundtrip(text: str) -> None:
    result = load_config_text(text, interfaces=IFS, config_id="x")
    assert result.config is not None
    _roundtrip(result.config)
