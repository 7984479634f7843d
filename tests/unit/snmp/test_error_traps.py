"""vrrpTrapAuthFailure (RFC 2787) and vrrpv3NotifyProtoError (RFC 6527): from a bad advert to the trap's
varbinds, as keepalived 2.2.7's vrrp_check_packet() and vrrp_snmp.c send them (pure)."""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

from pykeepalived.config import load_config_text
from pykeepalived.snmp import mib, service
from pykeepalived.snmp.agentx import Counter32, Integer, IpAddress
from pykeepalived.snmp.service import Parts, TrapState, error_traps, parts, traps
from pykeepalived.status.snapshot import (
    DaemonInfo,
    PacketError,
    Snapshot,
    VrrpInstanceStatus,
    VrrpStats,
    snapshot_from_dict,
    snapshot_to_dict,
)
from pykeepalived.vrrp import packet as pkt

IFACES = {"eth0": mib.Interface(2, b"\x02" * 6, bytes([10, 9, 0, 1])),
          "vrrp.63": mib.Interface(7, b"\x00\x00\x5e\x00\x01\x3f", b"")}
PEER = ipaddress.IPv4Address("10.9.0.2")

CONF = """\
global_defs {
    enable_snmp_rfc
    enable_traps
}
vrrp_instance V2 {
    interface eth0
    virtual_router_id 61
    priority 100
    authentication {
        auth_type PASS
        auth_pass secret
    }
    virtual_ipaddress {
        10.9.0.61/24
    }
}
vrrp_instance V3 {
    version 3
    interface eth0
    virtual_router_id 62
    priority 100
    virtual_ipaddress {
        10.9.0.62/24
    }
}
vrrp_instance VMAC {
    interface eth0
    use_vmac vrrp.63
    virtual_router_id 63
    priority 100
    virtual_ipaddress {
        10.9.0.63/24
    }
}
vrrp_instance NOVIP {
    interface eth0
    virtual_router_id 64
    priority 100
}
"""


def config(text: str = CONF) -> Any:
    result = load_config_text(text, name="k.conf", config_id="n", interfaces=frozenset({"lo", "eth0"}))
    assert result.config is not None, result
    return result.config


def status(name: str, vrid: int, errors: pkt.ErrorEvents, version: int = 2) -> VrrpInstanceStatus:
    return VrrpInstanceStatus(
        name=name, interface="eth0", vrid=vrid, state="BACKUP", base_priority=100, effective_priority=100,
        version=version, auth_errors=errors.auth_errors,
        auth_error_src=None if errors.auth_error_src is None else str(errors.auth_error_src),
        auth_error_type=errors.auth_error_type, proto_errors=errors.proto_errors,
        proto_error_reason=errors.proto_error_reason,
        recent_errors=tuple(PacketError(r.kind, r.seq, r.code, None if r.src is None else str(r.src))
                            for r in errors.recent))


def events(auth: tuple[int, ...] = (), proto: tuple[int, ...] = ()) -> pkt.ErrorEvents:
    """An instance's errors after bad adverts from PEER: these auth error types, then these proto reasons."""
    errors = pkt.ErrorEvents()
    for code in auth:
        errors.note("auth", code, PEER)
    for code in proto:
        errors.note("proto", code, PEER)
    return errors


def snap(*rows: VrrpInstanceStatus) -> Snapshot:
    info = DaemonInfo(pid=1, config_file="k.conf", dataplane="none", started_at=0.0)
    return Snapshot(daemon=info, taken_at=0.0, vrrp=rows)


def v2_packet(password: str, auth_type: int = pkt.AUTH_PASS, ttl: int = 255, vrid: int = 61) -> pkt.Received:
    known = auth_type in (pkt.AUTH_NONE, pkt.AUTH_PASS)
    adv = pkt.Advert.build(version=2, vrid=vrid, priority=200, addresses=[f"10.9.0.{vrid}"],
                           auth_type=auth_type if known else pkt.AUTH_PASS, auth_pass=password)
    if not known:  # an auth type keepalived does not know
        adv = dataclasses.replace(adv, auth_type=auth_type)
    return pkt.Received(pkt.encode_ipv4(adv, PEER, pkt.VRRP_GROUP4, 1, ttl), 4, PEER, pkt.VRRP_GROUP4, ttl)


def expectation(vrid: int = 61, version: int = 2, auth: bool = True) -> pkt.Expectation:
    return pkt.Expectation(vrid=vrid, version=version, auth_type=pkt.AUTH_PASS if auth else pkt.AUTH_NONE,
                           auth_pass="secret" if auth else b"",
                           vips=(ipaddress.IPv4Address(f"10.9.0.{vrid}"),))


def record(errors: pkt.ErrorEvents, received: pkt.Received, exp: pkt.Expectation) -> pkt.DropReason:
    result = pkt.validate(received, exp)
    assert isinstance(result, pkt.Rejected), result
    errors.record(result, received.src)  # type: ignore[arg-type]
    return result.reason


def test_auth_errors_get_rfc2787_error_types() -> None:
    errors = pkt.ErrorEvents()
    assert record(errors, v2_packet("wrong"), expectation()) == pkt.DropReason.AUTH_FAILURE
    assert (errors.auth_errors, errors.auth_error_src, errors.auth_error_type) == (1, PEER, 3)  # authFailure
    assert record(errors, v2_packet("", pkt.AUTH_NONE), expectation()) == pkt.DropReason.AUTH_TYPE_MISMATCH
    assert (errors.auth_errors, errors.auth_error_type) == (2, 2)  # authTypeMismatch
    assert record(errors, v2_packet("secret", 7), expectation()) == pkt.DropReason.AUTH_TYPE_INVALID
    assert (errors.auth_errors, errors.auth_error_type) == (3, 1)  # invalidAuthType
    assert errors.proto_errors == 0


def test_protocol_errors_get_rfc6527_reasons() -> None:
    errors = pkt.ErrorEvents()
    assert record(errors, v2_packet("secret", ttl=64), expectation()) == pkt.DropReason.BAD_TTL
    assert (errors.proto_errors, errors.proto_error_reason) == (1, 1)  # ipTtlError
    wrong_version = record(errors, v2_packet("secret"), expectation(version=3, auth=False))
    assert wrong_version == pkt.DropReason.VERSION_MISMATCH
    assert (errors.proto_errors, errors.proto_error_reason) == (2, 2)  # versionError
    data = bytearray(v2_packet("secret").data)
    data[27] ^= 0xFF  # the VRRP checksum's low byte
    bad = pkt.Received(bytes(data), 4, PEER, pkt.VRRP_GROUP4, 255)
    assert record(errors, bad, expectation()) == pkt.DropReason.BAD_CHECKSUM
    assert (errors.proto_errors, errors.proto_error_reason) == (3, 3)  # checksumError
    # drops keepalived sends no trap for: a wrong address list, an interval mismatch
    other = pkt.Expectation(vrid=61, auth_type=pkt.AUTH_PASS, auth_pass="secret",
                            vips=(ipaddress.IPv4Address("10.9.0.99"),))
    assert record(errors, v2_packet("secret"), other) == pkt.DropReason.ADDR_LIST_MISMATCH
    assert (errors.auth_errors, errors.proto_errors) == (0, 3)


def test_auth_failure_trap_has_keepalived_varbinds() -> None:
    cfg = config()
    p = parts(cfg, False)
    seen = TrapState()
    errors = pkt.ErrorEvents()
    assert traps(cfg, snap(status("V2", 61, errors)), seen, p, IFACES, now=0.0) == []  # RFCs only, BACKUP: nothing
    record(errors, v2_packet("wrong"), expectation())
    out = traps(cfg, snap(status("V2", 61, errors)), seen, p, IFACES, now=0.0)
    assert [(oid, [(vb.oid, vb.value) for vb in binds]) for oid, binds in out] == [
        ((*mib.RFC2787, 0, 2), [((*mib.RFC2787, 1, 5, 2, 61), IpAddress(PEER.packed)),
                                ((*mib.RFC2787, 1, 6, 2, 61), Integer(3))])]
    # nothing new, nothing sent; two more between two snapshots: one trap each, about its own packet, as
    # keepalived sends one per bad packet
    assert error_traps(cfg, snap(status("V2", 61, errors)), seen, p, IFACES, now=0.0) == []
    record(errors, v2_packet("wrong"), expectation())
    record(errors, v2_packet("", pkt.AUTH_NONE), expectation())
    out = error_traps(cfg, snap(status("V2", 61, errors)), seen, p, IFACES, now=0.0)
    assert [binds[1].value for _, binds in out] == [Integer(3), Integer(2)]  # authFailure, authTypeMismatch
    assert (seen.suppressed, seen.unseen) == (0, 0)


def test_proto_error_notify_has_keepalived_varbinds() -> None:
    cfg = config()
    p = parts(cfg, False)
    errors = pkt.ErrorEvents()
    record(errors, v2_packet("secret", ttl=1, vrid=62), expectation(vrid=62, version=3, auth=False))
    out = error_traps(cfg, snap(status("V3", 62, errors, 3)), TrapState(), p, IFACES, now=0.0)
    assert [(oid, [(vb.oid, vb.value) for vb in binds]) for oid, binds in out] == [
        ((*mib.RFC6527, 0, 2), [((*mib.RFC6527, 1, 2, 5, 1, 6, 2, 62, 1), Integer(1))])]
    # a VRRPv2 instance sends it too (keepalived's SNMP_V3_FOR_V2); an auth error never goes to RFC 6527
    v2 = events(proto=(3,))
    out = error_traps(cfg, snap(status("V2", 61, v2)), TrapState(), p, IFACES, now=0.0)
    assert [oid for oid, _ in out] == [(*mib.RFC6527, 0, 2)]


def test_which_instances_and_switches_send_them() -> None:
    both = events(auth=(3,), proto=(1,))
    cfg = config()
    p = parts(cfg, False)
    # a VMAC instance: indexed by the VMAC's interface, as keepalived's IF_INDEX(vrrp->ifp)
    out = error_traps(cfg, snap(status("VMAC", 63, both)), TrapState(), p, IFACES, now=0.0)
    assert [vb.oid for _, binds in out for vb in binds] == [
        (*mib.RFC2787, 1, 5, 7, 63), (*mib.RFC2787, 1, 6, 7, 63), (*mib.RFC6527, 1, 2, 5, 1, 6, 7, 63, 1)]
    # no virtual address: keepalived's suitable_for_rfc2787/6527 refuse the instance
    assert error_traps(cfg, snap(status("NOVIP", 64, both)), TrapState(), p, IFACES, now=0.0) == []
    # RFC 2787 only for a VRRPv2 instance
    assert [oid for oid, _ in error_traps(cfg, snap(status("V3", 62, both, 3)), TrapState(), p, IFACES, now=0.0)] == [
        (*mib.RFC6527, 0, 2)]
    # each RFC's switch; no enable_traps, no trap (but the count is taken: no late trap once turned on)
    only2 = dataclasses.replace(p, rfcv3=False)
    assert [oid for oid, _ in error_traps(cfg, snap(status("V2", 61, both)), TrapState(), only2, IFACES, now=0.0)] == [
        (*mib.RFC2787, 0, 2)]
    only3 = dataclasses.replace(p, rfcv2=False)
    assert [oid for oid, _ in error_traps(cfg, snap(status("V2", 61, both)), TrapState(), only3, IFACES, now=0.0)] == [
        (*mib.RFC6527, 0, 2)]
    seen = TrapState()
    assert traps(cfg, snap(status("V2", 61, both)), seen, Parts(rfcv2=True, rfcv3=True), IFACES, now=0.0) == []
    assert seen.auth_errors == {"V2": 1} and seen.proto_errors == {"V2": 1}


def test_snapshot_carries_the_errors_and_the_view_shows_the_reason() -> None:
    errors = events(auth=(1, 2, 3, 3), proto=(1, 2))
    s = snap(status("V2", 61, errors))
    back = snapshot_from_dict(snapshot_to_dict(s)).vrrp[0]
    assert (back.auth_errors, back.auth_error_src, back.auth_error_type, back.proto_errors,
            back.proto_error_reason) == (4, "10.9.0.2", 3, 2, 2)
    assert back.recent_errors == s.vrrp[0].recent_errors and [(e.kind, e.seq, e.code) for e in back.recent_errors] == [
        ("auth", 1, 1), ("auth", 2, 2), ("auth", 3, 3), ("auth", 4, 3), ("proto", 1, 1), ("proto", 2, 2)]
    view = mib.build(config(), s, IFACES, started=0.0, vrrp=False, checker=False, rfcv2=False, rfcv3=True)
    assert view.get((*mib.RFC6527, 1, 2, 5, 1, 6, 2, 61, 1)) == Integer(2)


def test_rfc2787_global_error_counters_sum_the_instances_checksum_and_version_errors() -> None:
    """vrrpRouterChecksumErrors / vrrpRouterVersionErrors: keepalived's per-instance chk_err and vers_err summed over
    the RFC 2787 instances; vrrpRouterVrIdErrors stays 0 (2.2.7 never counts it)."""
    drops = pkt.DropCounters()
    drops[pkt.DropReason.BAD_CHECKSUM] += 3
    drops[pkt.DropReason.VERSION_MISMATCH] += 2
    drops[pkt.DropReason.AUTH_FAILURE] += 5
    stats = VrrpStats.collect(None, drops.keepalived_stats())
    assert (stats.chk_err, stats.vers_err, stats.auth_failure) == (3, 2, 5)
    rows = [dataclasses.replace(status("V2", 61, pkt.ErrorEvents()), stats=stats),
            dataclasses.replace(status("VMAC", 63, pkt.ErrorEvents()), stats=stats)]
    s = snapshot_from_dict(snapshot_to_dict(snap(*rows)))  # as the supervisor gets it from the VRRP child
    view = mib.build(config(), s, IFACES, started=0.0, vrrp=False, checker=False, rfcv2=True, rfcv3=False)
    assert [view.get((*mib.RFC2787, 2, n, 0)) for n in (1, 2, 3)] == [Counter32(6), Counter32(4), Counter32(0)]


def test_a_flood_of_bad_adverts_is_trapped_up_to_the_rate_limit_and_the_rest_counted() -> None:
    """keepalived traps every bad packet; here one trap per bad advert up to ERROR_TRAP_BURST per instance and
    kind in ERROR_TRAP_INTERVAL (then counted as suppressed), and a new interval sends again."""
    cfg = config()
    p = parts(cfg, False)
    seen = TrapState()
    errors = pkt.ErrorEvents()
    sent = 0
    for i in range(service.ERROR_TRAP_BURST + 10):  # one bad advert per snapshot, 10 ms apart
        errors.note("auth", 3, PEER)
        sent += len(error_traps(cfg, snap(status("V2", 61, errors)), seen, p, IFACES, now=i * 0.01))
    assert sent == service.ERROR_TRAP_BURST and seen.suppressed == 10 and seen.unseen == 0
    # the other kind, and the other instance, have their own allowance
    v3 = pkt.ErrorEvents()
    v3.note("proto", 1, PEER)
    assert len(error_traps(cfg, snap(status("V2", 61, errors), status("V3", 62, v3, 3)), seen, p, IFACES,
                           now=0.5)) == 1
    # an interval later: trapped again
    errors.note("auth", 1, PEER)
    out = error_traps(cfg, snap(status("V2", 61, errors), status("V3", 62, v3, 3)), seen, p, IFACES,
                      now=service.ERROR_TRAP_INTERVAL + 0.5)
    assert [binds[1].value for _, binds in out] == [Integer(1)]


def test_more_bad_adverts_than_the_ring_between_two_snapshots_are_counted_unseen() -> None:
    cfg = config()
    p = parts(cfg, False)
    seen = TrapState()
    errors = events(proto=(1,) * (pkt.ERROR_RING + 3))
    out = error_traps(cfg, snap(status("V3", 62, errors, 3)), seen, p, IFACES, now=0.0)
    assert len(out) == pkt.ERROR_RING and seen.unseen == 3 and seen.suppressed == 0


def test_the_total_of_error_traps_is_bounded_too(monkeypatch: Any) -> None:
    monkeypatch.setattr(service, "ERROR_TRAP_TOTAL", 3)
    cfg = config()
    p = parts(cfg, False)
    seen = TrapState()  # made after the patch: its limits take the patched values
    out = error_traps(cfg, snap(status("V2", 61, events(auth=(3, 3), proto=(1, 1))),
                                status("VMAC", 63, events(auth=(3,)))), seen, p, IFACES, now=0.0)
    assert len(out) == 3 and seen.suppressed == 2


def test_a_restarted_vrrp_process_counting_from_zero_is_trapped_again() -> None:
    cfg = config()
    p = parts(cfg, False)
    seen = TrapState()
    assert len(error_traps(cfg, snap(status("V2", 61, events(auth=(3, 3, 3)))), seen, p, IFACES, now=0.0)) == 3
    # the new process has seen one bad advert: count 1, below the 3 the last snapshot showed
    assert len(error_traps(cfg, snap(status("V2", 61, events(auth=(2,)))), seen, p, IFACES, now=1.0)) == 1
    assert seen.auth_errors == {"V2": 1}


def test_bad_adverts_keepalived_does_not_trap_are_not_counted_as_suppressed() -> None:
    cfg = config()
    seen = TrapState()
    off = dataclasses.replace(parts(cfg, False), traps=False)
    assert error_traps(cfg, snap(status("V2", 61, events(auth=(3,) * 50))), seen, off, IFACES, now=0.0) == []
    assert (seen.suppressed, seen.unseen) == (0, 0)
