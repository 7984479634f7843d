"""Checker/real-server/virtual-server health logic against a virtual clock (keepalived's check/ipwrapper.c)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

from pykeepalived.check.state import (
    FifoLine,
    Log,
    MailAlert,
    QuorumChanged,
    RealServerChanged,
    Result,
    RunScript,
    Settings,
    VirtualServerState,
    WeightChanged,
    desired_table,
    vs_id,
)
from pykeepalived.config.loader import load_config_text
from pykeepalived.config.model_lvs import VirtualServer
from pykeepalived.lvs.model import DestKey, ServiceKey

OK, FAIL = Result(True), Result(False)


def vss(text: str) -> tuple[VirtualServer, ...]:
    res = load_config_text(text)
    return res.config.lvs.virtual_servers


def one_vs(body: str, head: str = "10.0.0.5 80") -> VirtualServer:
    return vss(f"virtual_server {head} {{\n protocol TCP\n lb_algo rr\n{body}\n}}\n")[0]


def rs_block(ip: str, port: int = 80, extra: str = "", check: str = "TCP_CHECK { connect_timeout 1 }") -> str:
    return f" real_server {ip} {port} {{\n  {extra}\n  {check}\n }}\n"


def key(ip: str, port: int = 80) -> DestKey:
    return DestKey(ipaddress.ip_address(ip), port)


def logs(ev: list) -> list[str]:
    return [e.text for e in ev if isinstance(e, Log)]


# ------------------------------------------------------------------------------- retry algorithm


def tcp_vs(retry: int = 2, dbr: float = 0.5, delay_loop: float = 10.0, alpha: str = "") -> VirtualServer:
    check = f"TCP_CHECK {{\n connect_timeout 1\n retry {retry}\n delay_before_retry {dbr}\n }}"
    return one_vs(f" delay_loop {delay_loop}\n {alpha}\n" + rs_block("192.168.0.12", check=check))


def test_first_run_is_bootstrap_plus_warmup_jitter() -> None:
    st = VirtualServerState(tcp_vs())
    c = st.servers[key("192.168.0.12")].checkers[0]
    assert c.timing.warmup == 10.0  # warmup defaults to the checker's delay_loop
    assert c.first_run(100.0, 0.0) == 101.0
    assert c.first_run(100.0, 0.25) == pytest.approx(103.5)


def test_first_failure_after_start_marks_down_immediately() -> None:
    st = VirtualServerState(tcp_vs(retry=2))
    st.start(0.0)
    rs = key("192.168.0.12")
    assert st.servers[rs].alive  # non-alpha: alive before the first check
    nxt, ev = st.record(rs, 0, 1.0, FAIL)
    assert not st.servers[rs].alive
    assert RealServerChanged(st.id, rs, False) in ev
    assert "TCP_CHECK on service [192.168.0.12]:tcp:80 failed." in logs(ev)
    assert "Removing service [192.168.0.12]:tcp:80 from VS [10.0.0.5]:tcp:80" in logs(ev)
    assert FifoLine("RS [192.168.0.12]:tcp:80 [10.0.0.5]:tcp:80 DOWN\n") in ev
    assert nxt == 11.0  # delay_loop after a verdict


def test_down_after_retry_plus_one_failures_spaced_delay_before_retry() -> None:
    st = VirtualServerState(tcp_vs(retry=2, dbr=0.5, delay_loop=10.0))
    st.start(0.0)
    rs = key("192.168.0.12")
    t, ev = st.record(rs, 0, 1.0, OK)  # first success: logged, no RS change
    assert "TCP connection to [192.168.0.12]:tcp:80 success." in logs(ev)
    assert not any(isinstance(e, RealServerChanged) for e in ev)
    assert t == 11.0
    t, ev = st.record(rs, 0, t, FAIL)
    assert t == 11.5 and st.servers[rs].alive
    t, ev = st.record(rs, 0, t, FAIL)
    assert t == 12.0 and st.servers[rs].alive
    t, ev = st.record(rs, 0, t, FAIL)  # retry+1 = 3rd consecutive failure
    assert not st.servers[rs].alive
    assert "TCP_CHECK on service [192.168.0.12]:tcp:80 failed after 2 retries." in logs(ev)
    assert t == 22.0
    # while down, keep polling at delay_loop; failures change nothing
    t, ev = st.record(rs, 0, t, FAIL)
    assert t == 32.0 and ev == []
    # one success brings it up
    t, ev = st.record(rs, 0, t, OK)
    assert st.servers[rs].alive and t == 42.0
    assert "Adding service [192.168.0.12]:tcp:80 to VS [10.0.0.5]:tcp:80" in logs(ev)
    assert FifoLine("RS [192.168.0.12]:tcp:80 [10.0.0.5]:tcp:80 UP\n") in ev


def test_a_success_between_failures_resets_the_count() -> None:
    st = VirtualServerState(tcp_vs(retry=1))
    st.start(0.0)
    rs = key("192.168.0.12")
    t, _ = st.record(rs, 0, 1.0, OK)
    t, _ = st.record(rs, 0, t, FAIL)
    t, _ = st.record(rs, 0, t, OK)
    t, _ = st.record(rs, 0, t, FAIL)
    assert st.servers[rs].alive
    t, _ = st.record(rs, 0, t, FAIL)
    assert not st.servers[rs].alive


def test_retry_zero_goes_down_on_first_failure() -> None:
    st = VirtualServerState(tcp_vs(retry=0))
    st.start(0.0)
    rs = key("192.168.0.12")
    t, _ = st.record(rs, 0, 1.0, OK)
    st.record(rs, 0, t, FAIL)
    assert not st.servers[rs].alive


def test_detection_bound_virtual_clock() -> None:
    """Server dies right after a good check: down exactly delay_loop + retry × delay_before_retry later."""
    st = VirtualServerState(tcp_vs(retry=3, dbr=2.0, delay_loop=6.0))
    st.start(0.0)
    rs = key("192.168.0.12")
    t, _ = st.record(rs, 0, 1.0, OK)
    died = 1.0
    while st.servers[rs].alive:
        t, _ = st.record(rs, 0, t, FAIL)  # refused at once: attempts take no time
    down_at = 6.0 + 1.0 + 3 * 2.0
    assert t - 6.0 == down_at  # the last failing attempt ran at down_at
    assert down_at - died == 6.0 + 3 * 2.0


# ----------------------------------------------------------------------------------------- alpha


def test_alpha_rs_absent_until_first_success_and_first_failure_notifies_down() -> None:
    notify = "notify_down /bin/down.sh\n notify_up /bin/up.sh"
    vs = one_vs(" alpha\n" + rs_block("192.168.0.12", extra=notify))
    st = VirtualServerState(vs)
    ev = st.start(0.0)
    rs = key("192.168.0.12")
    assert not st.servers[rs].alive
    assert desired_table([vs], {st.id: st}).services[0].destinations == ()
    _, ev = st.record(rs, 0, 1.0, FAIL)
    assert [e.why for e in ev if isinstance(e, RunScript)] == ["notify_down"]
    assert FifoLine("RS [192.168.0.12]:tcp:80 [10.0.0.5]:tcp:80 DOWN\n") in ev
    _, ev = st.record(rs, 0, 7.0, FAIL)
    assert not [e for e in ev if isinstance(e, RunScript)]  # only once
    _, ev = st.record(rs, 0, 13.0, OK)
    assert st.servers[rs].alive
    assert [e.why for e in ev if isinstance(e, RunScript)] == ["notify_up"]
    dests = desired_table([vs], {st.id: st}).services[0].destinations
    assert [d.key for d in dests] == [rs]


def test_rs_alive_only_when_all_checkers_up() -> None:
    check = "TCP_CHECK {\n retry 0\n }\n  TCP_CHECK {\n connect_port 81\n retry 0\n }"
    vs = one_vs(rs_block("192.168.0.12", check=check) + rs_block("192.168.0.13", check=""))
    st = VirtualServerState(vs)
    st.start(0.0)
    rs = key("192.168.0.12")
    st.record(rs, 0, 1.0, FAIL)
    assert not st.servers[rs].alive
    st.record(rs, 1, 1.0, FAIL)
    st.record(rs, 0, 2.0, OK)
    assert not st.servers[rs].alive  # checker 1 still down
    st.record(rs, 1, 2.0, OK)
    assert st.servers[rs].alive
    assert st.servers[key("192.168.0.13")].alive  # no checkers: always alive


# --------------------------------------------------------------------------------------- inhibit


def test_inhibit_on_failure_keeps_rs_with_weight_zero() -> None:
    vs = one_vs(rs_block("192.168.0.12", extra="weight 3\n inhibit_on_failure"))
    st = VirtualServerState(vs)
    st.start(0.0)
    rs = key("192.168.0.12")
    _, ev = st.record(rs, 0, 1.0, FAIL)
    assert "Disabling service [192.168.0.12]:tcp:80 of VS [10.0.0.5]:tcp:80" in logs(ev)
    (svc,) = desired_table([vs], {st.id: st}).services
    assert [(d.key, d.weight) for d in svc.destinations] == [(rs, 0)]
    _, ev = st.record(rs, 0, 2.0, OK)
    assert "Enabling service [192.168.0.12]:tcp:80 of VS [10.0.0.5]:tcp:80" in logs(ev)
    (svc,) = desired_table([vs], {st.id: st}).services
    assert [(d.key, d.weight) for d in svc.destinations] == [(rs, 3)]


# ---------------------------------------------------------------------------------------- quorum


def quorum_sample(sorry: str = "") -> VirtualServer:
    rss = "".join(rs_block(f"10.0.0.{i}", 8080, "weight 1",
                           "TCP_CHECK {\n connect_port 80\n connect_timeout 3\n }") for i in range(1, 11))
    body = (" delay_loop 6\n persistence_timeout 900\n alpha\n omega\n quorum 7\n hysteresis 2\n"
            " quorum_up /bin/quorum-up.sh\n quorum_down /bin/quorum-down.sh\n smtp_alert\n" + sorry + rss)
    return vss(f"virtual_server 10.0.1.1 80 {{\n protocol TCP\n lb_algo wrr\n{body}}}\n")[0]


def test_quorum_sample_up_at_9_down_below_5() -> None:
    vs = quorum_sample()
    assert (vs.quorum, vs.hysteresis) == (7, 2)
    st = VirtualServerState(vs, Settings(router_id="lb1"))
    ev = st.start(0.0)
    assert not st.quorum_up and not [e for e in ev if isinstance(e, QuorumChanged)]
    keys = [key(f"10.0.0.{i}", 8080) for i in range(1, 11)]
    for i, k in enumerate(keys[:9], start=1):
        _, ev = st.record(k, 0, 1.0, OK)
        assert st.quorum_up == (i >= 9), i
    assert "Gained quorum 7+2=9 <= 9 for VS [10.0.1.1]:tcp:80" in logs(ev)
    assert RunScript(vs.quorum_up, "quorum_up") in ev  # type: ignore[arg-type]
    assert FifoLine("VS [10.0.1.1]:tcp:80 UP\n") in ev
    assert MailAlert("[lb1] Virtualserver [10.0.1.1]:tcp:80 - UP", "=> Gained quorum 7+2=9 <= 9 <=") in ev
    st.record(keys[9], 0, 1.0, OK)
    # go down one by one: quorum holds while >= 5 alive
    alive = 10
    for k in keys:
        t, ev = st.record(k, 0, 7.0, FAIL)  # retry 1 (TCP default): two failures
        assert st.servers[k].alive and t == 8.0
        _, ev = st.record(k, 0, t, FAIL)
        alive -= 1
        assert st.quorum_up == (alive >= 5), alive
        if alive == 4:
            break
    assert "Lost quorum 7-2=5 > 4 for VS [10.0.1.1]:tcp:80" in logs(ev)
    assert MailAlert("[lb1] Virtualserver [10.0.1.1]:tcp:80 - DOWN", "=> Lost quorum 7+2=5 <= 4 <=") in ev
    assert FifoLine("VS [10.0.1.1]:tcp:80 DOWN\n") in ev
    # 7 -> 6 -> 7 around the threshold does not flap: regain needs 9 again
    for k in keys[:4]:
        st.record(k, 0, 20.0, OK)
    assert not st.quorum_up  # 8 alive


def test_quorum_up_at_start_without_alpha() -> None:
    vs = one_vs("".join(rs_block(f"192.168.0.{i}") for i in (12, 13)) + " quorum 2\n smtp_alert")
    st = VirtualServerState(vs)
    ev = st.start(0.0)
    assert st.quorum_up
    assert "Gained quorum 2+0=2 <= 2 for VS [10.0.0.5]:tcp:80" in logs(ev)
    body = "=> Starting with quorum up 2+0=2 <= 2 <="
    assert MailAlert("[] Virtualserver [10.0.0.5]:tcp:80 - UP", body) in ev


def test_omega_stop_notifies() -> None:
    vs = quorum_sample()
    st = VirtualServerState(vs)
    st.start(0.0)
    for i in range(1, 11):
        st.record(key(f"10.0.0.{i}", 8080), 0, 1.0, OK)
    ev = st.stop()
    assert RunScript(vs.quorum_down, "quorum_down", 1.0) in ev  # type: ignore[arg-type]
    assert FifoLine("VS [10.0.1.1]:tcp:80 DOWN\n") in ev
    assert sum(isinstance(e, FifoLine) and e.line.startswith("RS ") for e in ev) == 10


# ------------------------------------------------------------------------------------ sorry server


def test_sorry_server_only_while_quorum_lost() -> None:
    vs = one_vs(" sorry_server 192.168.0.99 8080\n quorum 2\n"
                + rs_block("192.168.0.12") + rs_block("192.168.0.13"))
    st = VirtualServerState(vs)
    st.start(0.0)
    h = {st.id: st}

    def dests() -> list[tuple[str, int]]:
        return [(str(d.key), d.weight) for d in desired_table([vs], h).services[0].destinations]

    assert dests() == [("192.168.0.12:80", 1), ("192.168.0.13:80", 1)]
    _, ev = st.record(key("192.168.0.12"), 0, 1.0, FAIL)
    assert "Adding sorry server [192.168.0.99]:tcp:8080 to VS [10.0.0.5]:tcp:80" in logs(ev)
    assert "Removing alive servers from the pool for VS [10.0.0.5]:tcp:80" in logs(ev)
    assert dests() == [("192.168.0.99:8080", 1)]
    st.record(key("192.168.0.12"), 0, 2.0, OK)
    assert dests() == [("192.168.0.12:80", 1), ("192.168.0.13:80", 1)]


def test_sorry_server_inhibit_always_present_weight_zero_when_unused() -> None:
    vs = one_vs(" sorry_server 192.168.0.99 8080\n sorry_server_inhibit\n" + rs_block("192.168.0.12"))
    st = VirtualServerState(vs)
    st.start(0.0)
    h = {st.id: st}
    w = {str(d.key): d.weight for d in desired_table([vs], h).services[0].destinations}
    assert w == {"192.168.0.12:80": 1, "192.168.0.99:8080": 0}
    _, ev = st.record(key("192.168.0.12"), 0, 1.0, FAIL)
    assert "Enabling sorry server [192.168.0.99]:tcp:8080 to VS [10.0.0.5]:tcp:80" in logs(ev)
    w = {str(d.key): d.weight for d in desired_table([vs], h).services[0].destinations}
    assert w == {"192.168.0.99:8080": 1}


def test_alpha_with_sorry_server_starts_with_quorum_down() -> None:
    vs = one_vs(" alpha\n sorry_server 192.168.0.99 80\n" + rs_block("192.168.0.12"))
    st = VirtualServerState(vs)
    ev = st.start(0.0)
    assert "Starting with quorum down 1-0=1 > 0 for VS [10.0.0.5]:tcp:80" in logs(ev)
    dests = desired_table([vs], {st.id: st}).services[0].destinations
    assert [str(d.key) for d in dests] == ["192.168.0.99:80"]


# ---------------------------------------------------------------------------------- dynamic weights


def misc_vs(weight: int = 1) -> VirtualServer:
    check = "MISC_CHECK {\n misc_path /bin/true\n misc_dynamic\n }"
    return one_vs(rs_block("192.168.0.12", extra=f"weight {weight}", check=check))


@pytest.mark.parametrize(("status", "weight"), [(255, 253), (10, 8), (2, 0)])
def test_misc_dynamic_exit_code_sets_weight(status: int, weight: int) -> None:
    vs = misc_vs(weight=5)
    st = VirtualServerState(vs)
    st.start(0.0)
    rs = key("192.168.0.12")
    _, ev = st.record(rs, 0, 1.0, Result(True, weight_delta=status - 2 - 5))
    assert st.servers[rs].weight == weight
    assert WeightChanged(st.id, rs, 5, weight) in ev
    assert f"Changing weight from 5 to {weight} for active service [192.168.0.12]:tcp:80 " \
           "of VS [10.0.0.5]:tcp:80" in logs(ev)
    assert desired_table([vs], {st.id: st}).services[0].destinations[0].weight == weight
    # exit 0: back to the configured weight; failure drops the contribution
    st.record(rs, 0, 2.0, Result(True, weight_delta=0))
    assert st.servers[rs].weight == 5


def test_misc_log_lines_and_from_start_timing() -> None:
    vs = one_vs(rs_block("192.168.0.12", check="MISC_CHECK {\n misc_path \"/bin/chk a\"\n retry 2\n }"))
    st = VirtualServerState(vs)
    st.start(0.0)
    rs = key("192.168.0.12")
    t, ev = st.record(rs, 0, 1.5, OK, started=1.0)
    head = "Misc check for [[192.168.0.12]:tcp:80 VS [10.0.0.5]:tcp:80] by [/bin/chk]"
    assert logs(ev) == [f"{head} succeeded."]
    assert t == 61.0  # from the start time, not the end
    t, ev = st.record(rs, 0, 61.2, Result(False, reason="exited with status 1"), started=61.0)
    assert t == 62.0 and logs(ev) == []
    t, ev = st.record(rs, 0, 62.1, Result(False, reason="timed out"), started=62.0)
    t, ev = st.record(rs, 0, 63.1, Result(False, reason="exited with status 3"), started=63.0)
    assert logs(ev)[0] == ("Misc check for [[192.168.0.12]:tcp:80 VS [10.0.0.5]:tcp:80] by [/bin/chk] "
                           "failed after 2 retries (exited with status 3).")


def test_file_check_weight_and_fault() -> None:
    check = "FILE_CHECK {\n track_file f1\n weight 3\n }"
    vs = one_vs(rs_block("192.168.0.12", extra="weight 2", check=check))
    st = VirtualServerState(vs)
    st.start(0.0)
    rs = key("192.168.0.12")
    st.record(rs, 0, 1.0, Result(True, weight_delta=4 * 3))
    assert st.servers[rs].weight == 14
    st.record(rs, 0, 2.0, Result(False))
    assert not st.servers[rs].alive
    st.record(rs, 0, 3.0, Result(True, weight_delta=0))
    assert st.servers[rs].alive and st.servers[rs].weight == 2


# ------------------------------------------------------------------------------------ notifications


def test_rs_mail_subject_and_no_checker_emails() -> None:
    check = "TCP_CHECK {\n retry 0\n }\n  TCP_CHECK {\n connect_port 81\n retry 0\n }"
    vs = one_vs(rs_block("192.168.0.12", check=check))
    for no_checker, expected in ((False, 2), (True, 1)):
        st = VirtualServerState(vs, Settings(router_id="lb1", no_checker_emails=no_checker))
        st.start(0.0)
        rs = key("192.168.0.12")
        mails = []
        for i in (0, 1):
            _, ev = st.record(rs, i, 1.0, FAIL)
            mails += [e for e in ev if isinstance(e, MailAlert)]
        assert len(mails) == expected
        assert mails[0] == MailAlert("[lb1] Realserver [192.168.0.12]:tcp:80 of virtual server "
                                     "[10.0.0.5]:tcp:80 - DOWN", "=> TCP CHECK failed on service <=")


def test_fwmark_fifo_form() -> None:
    vs = vss("virtual_server fwmark 7 {\n lb_algo rr\n lb_kind DR\n"
             + rs_block("192.168.0.12") + "}\n")[0]
    st = VirtualServerState(vs)
    st.start(0.0)
    _, ev = st.record(DestKey(ipaddress.ip_address("192.168.0.12"), vs.real_servers[0].port), 0, 1.0, FAIL)
    line = next(e.line for e in ev if isinstance(e, FifoLine))
    assert line.startswith("RS [192.168.0.12]:") and line.endswith(" FWM 7 DOWN\n")


# ----------------------------------------------------------------------------------- desired table


def test_desired_table_before_any_check_and_after_heal() -> None:
    vs = one_vs(" lb_algo wrr\n persistence_timeout 300\n"
                + rs_block("192.168.0.12", extra="weight 2") + rs_block("192.168.0.13"))
    t0 = desired_table([vs], {})
    (svc,) = t0.services
    assert svc.key == ServiceKey.inet("tcp", "10.0.0.5", 80)
    assert svc.scheduler == "wrr" and svc.persistence_timeout == 300
    assert [(str(d.key), d.weight) for d in svc.destinations] == [("192.168.0.12:80", 2),
                                                                   ("192.168.0.13:80", 1)]
    st = VirtualServerState(vs)
    st.start(0.0)
    st.record(key("192.168.0.12"), 0, 1.0, FAIL)
    (svc,) = desired_table([vs], {vs_id(vs): st}).services
    assert [str(d.key) for d in svc.destinations] == ["192.168.0.13:80"]
    st.record(key("192.168.0.12"), 0, 2.0, OK)
    assert desired_table([vs], {vs_id(vs): st}) == t0


def test_desired_table_expands_groups() -> None:
    cfg = load_config_text("virtual_server_group G {\n 10.0.0.5-6 80\n fwmark 3\n}\n"
                           "virtual_server group G {\n protocol TCP\n lb_algo rr\n"
                           + rs_block("192.168.0.12") + "}\n").config.lvs
    t = desired_table(cfg.virtual_servers, {}, cfg.virtual_server_groups)
    assert sorted(str(s.key) for s in t.services) == ["FWM 3", "TCP 10.0.0.5:80", "TCP 10.0.0.6:80"]
    assert all(len(s.destinations) == 1 for s in t.services)


# ------------------------------------------------------------------- HTTP_GET: one url per attempt


def http_vs(urls: tuple[str, ...] = ("/",), retry: int = 1, dbr: float = 2.0, delay_loop: float = 10.0,
            extra: str = "") -> VirtualServer:
    blocks = "".join(f" url {{\n path {u}\n }}\n" for u in urls)
    check = f"HTTP_GET {{\n connect_timeout 1\n retry {retry}\n delay_before_retry {dbr}\n {extra}\n{blocks} }}"
    return one_vs(f" delay_loop {delay_loop}\n" + rs_block("192.168.0.12", check=check))


HTTP_OK = Result(True, reason="HTTP status code")
HTTP_404 = Result(False, reason="HTTP status code error to")


def test_http_walks_urls_one_per_delay_loop_and_is_up_when_all_passed() -> None:
    st = VirtualServerState(http_vs(urls=("/a", "/b", "/c")))
    st.start(0.0)
    rs = key("192.168.0.12")
    c = st.servers[rs].checkers[0]
    assert c.url_it == 0
    t, ev = st.record(rs, 0, 1.0, HTTP_OK)
    assert (t, c.url_it, ev) == (11.0, 1, [])
    t, ev = st.record(rs, 0, t, HTTP_OK)
    assert (t, c.url_it, ev) == (21.0, 2, [])
    t, ev = st.record(rs, 0, t, HTTP_OK)  # the last url: a full pass, the checker has run
    assert (t, c.url_it) == (31.0, 0) and c.has_run
    assert logs(ev) == ["Remote Web server [192.168.0.12]:tcp:80 succeed on service."]


def test_http_failure_before_first_full_pass_is_down_at_once() -> None:
    st = VirtualServerState(http_vs(urls=("/a", "/b"), retry=3))
    st.start(0.0)
    rs = key("192.168.0.12")
    t, _ = st.record(rs, 0, 1.0, HTTP_OK)  # /a passes: not a full pass yet, so one failure is enough
    t, ev = st.record(rs, 0, t, HTTP_404)
    assert not st.servers[rs].alive
    assert "HTTP_CHECK on service [192.168.0.12]:tcp:80 failed after 3 retries." in logs(ev)
    assert st.servers[rs].checkers[0].failed_url == 1
    assert t == 11.0 + 10.0  # down: the failed url is polled every max(delay_before_retry, delay_loop)


def test_http_down_after_retries_then_recovery_needs_the_failed_url_and_a_full_pass() -> None:
    st = VirtualServerState(http_vs(retry=1, dbr=2.0, delay_loop=10.0))
    st.start(0.0)
    rs = key("192.168.0.12")
    c = st.servers[rs].checkers[0]
    t, _ = st.record(rs, 0, 1.0, HTTP_OK)
    t, ev = st.record(rs, 0, t, HTTP_404)  # first failure while up: retry after delay_before_retry
    assert t == 13.0 and st.servers[rs].alive and ev == []
    t, ev = st.record(rs, 0, t, HTTP_404)  # retry + 1 failures: down
    assert not st.servers[rs].alive and t == 23.0 and c.failed_url == 0
    assert "HTTP_CHECK on service [192.168.0.12]:tcp:80 failed after 1 retries." in logs(ev)
    t, ev = st.record(rs, 0, t, HTTP_404)  # already down: no retry counting, same cadence
    assert t == 33.0 and ev == []
    t, ev = st.record(rs, 0, t, HTTP_OK)  # the failed url passes: logged, but not up yet
    assert logs(ev) == ["HTTP status code success to [192.168.0.12]:tcp:80 url(/)"]
    assert not st.servers[rs].alive and c.failed_url is None and t == 43.0
    t, ev = st.record(rs, 0, t, HTTP_OK)  # a full pass: up
    assert st.servers[rs].alive and t == 53.0
    assert logs(ev)[:2] == ["HTTP status code success to [192.168.0.12]:tcp:80 url(/)",
                            "Remote Web server [192.168.0.12]:tcp:80 succeed on service."]
    assert "Adding service [192.168.0.12]:tcp:80 to VS [10.0.0.5]:tcp:80" in logs(ev)


def test_http_fast_recovery_skips_the_delays_while_unsure() -> None:
    st = VirtualServerState(http_vs(urls=("/a", "/b"), extra="fast_recovery"))
    st.start(0.0)
    rs = key("192.168.0.12")
    t, _ = st.record(rs, 0, 1.0, HTTP_OK)  # has not run yet: the next url at once
    assert t == 1.0
    t, _ = st.record(rs, 0, t, HTTP_OK)  # full pass: normal cadence from now on
    assert t == 11.0
    t, _ = st.record(rs, 0, t, HTTP_404)
    t, _ = st.record(rs, 0, t, HTTP_404)  # down, failed url known: max(dbr, delay_loop)
    assert not st.servers[rs].alive and t == 23.0
    t, _ = st.record(rs, 0, t, HTTP_OK)  # failed url passes: walk the urls again at once
    assert t == 23.0
    t, _ = st.record(rs, 0, t, HTTP_OK)
    assert t == 23.0 and not st.servers[rs].alive
    t, _ = st.record(rs, 0, t, HTTP_OK)
    assert st.servers[rs].alive and t == 33.0


def test_http_log_all_failures_uses_keepalived_words() -> None:
    st = VirtualServerState(http_vs(retry=2, extra="log_all_failures"))
    st.start(0.0)
    rs = key("192.168.0.12")
    t, _ = st.record(rs, 0, 1.0, HTTP_OK)
    _, ev = st.record(rs, 0, t, Result(False, reason="Timeout connecting"))
    assert logs(ev) == ["Timeout connecting server [192.168.0.12]:tcp:80."]


# ------------------------------------------------------------------------- reload: state migrates


def two_rs_vs(rs13: bool = True, retry: int = 3, port13: int = 80, extra: str = "") -> VirtualServer:
    check = f"TCP_CHECK {{\n connect_timeout 1\n retry {retry}\n delay_before_retry 1\n }}"
    check13 = f"TCP_CHECK {{\n connect_timeout 1\n connect_port {port13}\n }}"
    rss = rs_block("192.168.0.12", check=check, extra="notify_down /bin/down.sh")
    if rs13:
        rss += rs_block("192.168.0.13", check=check13, extra="notify_down /bin/down.sh")
    return one_vs(" delay_loop 10\n smtp_alert\n" + extra + rss)


def test_reload_keeps_a_dead_server_out_and_a_live_one_in_without_events() -> None:
    old = VirtualServerState(two_rs_vs())
    old.start(0.0)
    r12, r13 = key("192.168.0.12"), key("192.168.0.13")
    old.record(r12, 0, 1.0, OK)
    old.record(r13, 0, 1.0, FAIL)  # first failure after start: down at once
    assert old.servers[r12].alive and not old.servers[r13].alive
    new = VirtualServerState(two_rs_vs())
    ev = new.take_over(old)
    assert ev == []  # nothing changed: no notify, no table change
    assert new.servers[r12].alive and not new.servers[r13].alive
    c13 = new.servers[r13].checkers[0]
    assert (c13.is_up, c13.has_run) == (False, True)
    _, ev = new.record(r13, 0, 20.0, OK)  # one success brings it back, as before the reload
    assert new.servers[r13].alive and RealServerChanged(new.id, r13, True) in ev


def test_reload_clips_the_retry_count_to_the_new_retry() -> None:
    old = VirtualServerState(two_rs_vs(retry=3))
    old.start(0.0)
    r12 = key("192.168.0.12")
    t, _ = old.record(r12, 0, 1.0, OK)
    for _ in range(3):
        t, _ = old.record(r12, 0, t, FAIL)  # 3 of the 4 failures that would take it down
    assert old.servers[r12].checkers[0].retry_it == 3
    new = VirtualServerState(two_rs_vs(retry=2))  # timing differs: still the same checker
    new.take_over(old)
    assert new.servers[r12].checkers[0].retry_it == 1  # one more failure than the new retry allows: retry - 1
    t, _ = new.record(r12, 0, t, FAIL)
    assert new.servers[r12].alive
    new.record(r12, 0, t, FAIL)
    assert not new.servers[r12].alive


def test_reload_removes_a_server_no_longer_configured_with_its_notifies() -> None:
    old = VirtualServerState(two_rs_vs(), Settings(router_id="lb1"))
    old.start(0.0)
    new = VirtualServerState(two_rs_vs(rs13=False), Settings(router_id="lb1"))
    ev = new.take_over(old)
    assert logs(ev) == ["service [192.168.0.13]:tcp:80 no longer exist",
                        "Removing service [192.168.0.13]:tcp:80 from VS [10.0.0.5]:tcp:80"]
    assert RealServerChanged(old.id, key("192.168.0.13"), False) in ev
    assert FifoLine("RS [192.168.0.13]:tcp:80 [10.0.0.5]:tcp:80 DOWN\n") in ev
    assert any(isinstance(e, RunScript) and e.why == "notify_down" for e in ev)
    assert MailAlert("[lb1] Realserver [192.168.0.13]:tcp:80 of virtual server [10.0.0.5]:tcp:80 - DOWN",
                     "=> Removing <=") in ev
    assert list(new.servers) == [key("192.168.0.12")]


def test_reload_new_server_joins_at_once_and_changed_checker_starts_fresh() -> None:
    old = VirtualServerState(two_rs_vs(rs13=False))
    old.start(0.0)
    old.record(key("192.168.0.12"), 0, 1.0, FAIL)
    new = VirtualServerState(two_rs_vs(retry=3, port13=81))
    ev = new.take_over(old)
    assert RealServerChanged(new.id, key("192.168.0.13"), True) in ev  # new, non-alpha: in the pool at once
    assert not new.servers[key("192.168.0.12")].alive  # unchanged checker: still down


def test_reload_checker_with_other_options_does_not_inherit_state() -> None:
    old = VirtualServerState(two_rs_vs())
    old.start(0.0)
    r13 = key("192.168.0.13")
    old.record(r13, 0, 1.0, FAIL)
    new = VirtualServerState(two_rs_vs(port13=81))  # connect_port changed: another checker
    ev = new.take_over(old)
    c = new.servers[r13].checkers[0]
    assert not c.has_run and c.retry_it == c.retry  # "one failure is enough" for a server that is down
    # keepalived puts a server back whose checkers are all new (non-alpha) until they say otherwise
    assert new.servers[r13].alive and RealServerChanged(new.id, r13, True) in ev


def test_reload_takes_the_new_weight_and_keeps_the_alive_flag() -> None:
    old = VirtualServerState(one_vs(rs_block("192.168.0.12", extra="weight 3") + rs_block("192.168.0.13")))
    old.start(0.0)
    r12, r13 = key("192.168.0.12"), key("192.168.0.13")
    old.record(r12, 0, 1.0, OK)
    old.record(r13, 0, 1.0, FAIL)
    vs = one_vs(rs_block("192.168.0.12", extra="weight 7") + rs_block("192.168.0.13", extra="weight 4"))
    new = VirtualServerState(vs)
    new.take_over(old)
    assert (new.servers[r12].alive, new.servers[r12].weight) == (True, 7)
    assert (new.servers[r13].alive, new.servers[r13].weight) == (False, 4)
    assert [(str(d.key), d.weight) for d in desired_table([vs], {new.id: new}).services[0].destinations] \
        == [("192.168.0.12:80", 7)]
    new.record(r13, 0, 20.0, OK)  # back in the pool with its new weight
    assert new.servers[r13].weight == 4 and new.weight_sum() == 11


def test_reload_of_a_dynamic_weight_keeps_the_checkers_part_on_the_new_weight() -> None:
    old = VirtualServerState(misc_vs(weight=5))
    old.start(0.0)
    rs = key("192.168.0.12")
    old.record(rs, 0, 1.0, Result(True, weight_delta=3))
    assert old.servers[rs].weight == 8
    new = VirtualServerState(misc_vs(weight=10))
    new.take_over(old)
    assert new.servers[rs].weight == 13
    new.record(rs, 0, 2.0, Result(True, weight_delta=0))  # exit 0: the new configured weight
    assert new.servers[rs].weight == 10


def test_reload_keeps_quorum_and_a_removed_vs_goes_with_its_notifies() -> None:
    vs = one_vs("".join(rs_block(f"192.168.0.{i}") for i in (12, 13)) + " quorum 2\n quorum_down /bin/qd.sh")
    old = VirtualServerState(vs)
    old.start(0.0)
    assert old.quorum_up
    new = VirtualServerState(vs)
    assert new.take_over(old) == []  # no second "Gained quorum"
    assert new.quorum_up
    ev = new.removed()
    assert logs(ev)[0] == "Removing Virtual Server [10.0.0.5]:tcp:80"
    assert QuorumChanged(new.id, False) in ev and FifoLine("VS [10.0.0.5]:tcp:80 DOWN\n") in ev
    assert any(isinstance(e, RunScript) and e.why == "quorum_down" for e in ev)


def test_a_checker_note_is_logged_before_the_verdict() -> None:
    st = VirtualServerState(http_vs())
    st.start(0.0)
    rs = key("192.168.0.12")
    _, ev = st.record(rs, 0, 1.0, Result(True, reason="HTTP status code", note="content_length differs"))
    assert logs(ev) == ["content_length differs", "Remote Web server [192.168.0.12]:tcp:80 succeed on service."]


def test_an_attempt_that_could_not_start_changes_nothing() -> None:
    st = VirtualServerState(tcp_vs(retry=0, delay_loop=10.0))
    st.start(0.0)
    rs = key("192.168.0.12")
    skip = Result(False, reason="TCP socket bind failed. Rescheduling.", note="Checker bind failed: x", skip=True)
    t, ev = st.record(rs, 0, 1.0, skip)
    assert t == 11.0 and st.servers[rs].alive  # retry 0, first attempt: a real failure would take it down
    assert logs(ev) == ["Checker bind failed: x", "TCP socket bind failed. Rescheduling."]
    c = st.servers[rs].checkers[0]
    assert (c.is_up, c.has_run, c.retry_it) == (True, False, 0)


# -------------------------------------------------------------------------- restart after a crash


def test_a_server_the_previous_process_had_removed_starts_down_until_its_check_passes() -> None:
    """The checker process restarted after a crash finds rs out of the table: it is not put back before a
    check has run (keepalived would put it back and remove it again at its first failed check)."""
    st = VirtualServerState(tcp_vs(retry=2))
    rs = key("192.168.0.12")
    ev = st.start(0.0, known_down={rs})
    assert not st.servers[rs].alive
    assert RealServerChanged(st.id, rs, True) not in ev
    _nxt, ev = st.record(rs, 0, 1.0, OK)
    assert st.servers[rs].alive and RealServerChanged(st.id, rs, True) in ev


def test_known_down_is_read_from_the_table_left_behind() -> None:
    from pykeepalived.daemon.checker import known_down
    from pykeepalived.lvs.model import Destination, Service, ServiceKey, Table

    vs = tcp_vs()
    svc_key = ServiceKey.inet("tcp", "10.0.0.5", 80)
    rs = key("192.168.0.12")
    assert known_down([vs], {}, Table()) == {}  # a first start: the table tells nothing
    empty = Table((Service(svc_key, "wlc"),))
    assert known_down([vs], {}, empty) == {vs_id(vs): {rs}}
    inhibited = Table((Service(svc_key, "wlc", destinations=(Destination(rs, 0),)),))
    assert known_down([vs], {}, inhibited) == {vs_id(vs): {rs}}
    alive = Table((Service(svc_key, "wlc", destinations=(Destination(rs, 1),)),))
    assert known_down([vs], {}, alive) == {}


# ---------------------------------------------------------------------- the desired table, remade on change

_CACHE_VS = one_vs(
    " delay_loop 5\n quorum 2\n sorry_server 192.168.0.99 80\n"
    + rs_block("192.168.0.1", extra="weight 3")
    + rs_block("192.168.0.2", extra="inhibit_on_failure")
    + rs_block("192.168.0.3", extra="weight 2",
               check="MISC_CHECK { misc_path /bin/true\n misc_dynamic }")
)


@settings(max_examples=200, deadline=None)
@given(hst.lists(hst.tuples(hst.integers(0, 2), hst.booleans(), hst.none() | hst.integers(0, 40)), max_size=30))
def test_destinations_made_once_equal_destinations_made_afresh_after_any_results(
        steps: list[tuple[int, bool, int | None]]) -> None:
    """destinations() and services() keep what they made while nothing changed: after any sequence of
    results (up, down, dynamic weights; quorum and the sorry server following) they equal a fresh make."""
    state = VirtualServerState(_CACHE_VS)
    state.start(0.0)
    servers = list(state.servers)
    now = 1.0
    for server, ok, delta in steps:
        index = 0
        state.record(servers[server], index, now, Result(ok, weight_delta=delta if server == 2 and ok else None))
        now += 1.0
        kept = state.destinations()
        services = state.services({})
        state._dest_signature = None  # forget what was made: the next call makes it again
        assert state.destinations() == kept
        assert state.services({}) == services
        assert desired_table([_CACHE_VS], {state.id: state}) == desired_table(
            [_CACHE_VS], {state.id: _fresh_copy(state)})


def _fresh_copy(state: VirtualServerState) -> VirtualServerState:
    copy = VirtualServerState(state.config)
    copy.servers, copy.sorry_alive = state.servers, state.sorry_alive
    return copy
