"""The BFD process on loopback (127.0.0.x, no root): two processes bring a session Up, the event stream
tells a BfdWatch, stopping one peer takes the other Down within the detection time; reload keeps state."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from pykeepalived.bfd.packet import State
from pykeepalived.bfd.process import BfdOptions, BfdProcess, reports_to, session_config
from pykeepalived.bfd.watch import BfdEvent, BfdWatch, EventHub
from pykeepalived.config.model_vrrp import BfdInstance

A, B = "127.0.0.41", "127.0.0.42"


def inst(name: str, neighbor: str, source: str, **kw: object) -> BfdInstance:
    base: dict[str, object] = {"min_rx": 20.0, "min_tx": 20.0, "multiplier": 3}
    base.update(kw)
    return BfdInstance(name=name, neighbor_ip=ipaddress.ip_address(neighbor),  # type: ignore[arg-type]
                       source_ip=ipaddress.ip_address(source), **base)


def test_session_config_has_keepalived_defaults() -> None:
    cfg = session_config(BfdInstance(name="d", neighbor_ip=ipaddress.ip_address("10.0.0.1")), 9)
    assert (cfg.min_rx, cfg.min_tx, cfg.idle_tx, cfg.multiplier, cfg.ttl, cfg.max_hops) == (
        10_000, 10_000, 1_000_000, 5, 255, 0)
    v6 = session_config(BfdInstance(name="d", neighbor_ip=ipaddress.ip_address("fd00::1")), 9)
    assert v6.ttl == 64  # keepalived's BFD_CONTROL_HOPLIMIT
    odd = session_config(BfdInstance(name="d", neighbor_ip=ipaddress.ip_address("10.0.0.1"), min_rx=0.5,
                                     ttl=10, max_hops=20), 9)
    assert odd.min_rx == 500 and odd.max_hops == 10  # max_hops above ttl is ttl
    off = session_config(BfdInstance(name="d", neighbor_ip=ipaddress.ip_address("10.0.0.1"), max_hops=-1), 9)
    assert off.max_hops == 255  # -1: no TTL check


def test_reports_to_both_unless_one_is_named() -> None:
    i = BfdInstance(name="d")
    assert reports_to(i) == (True, True)
    assert reports_to(replace(i, vrrp=True)) == (True, False)
    assert reports_to(replace(i, checker=True)) == (False, True)


async def next_event(watch: BfdWatch, timeout: float = 5.0) -> BfdEvent:
    return await asyncio.wait_for(watch.__anext__(), timeout)


async def test_two_processes_on_loopback(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "pykeepalived")
    pa = BfdProcess([inst("to_b", B, A)], BfdOptions(str(tmp_path / "a.events"), listen_v4=A))
    pb = BfdProcess([inst("to_a", A, B)], BfdOptions(str(tmp_path / "b.events"), listen_v4=B))
    await pa.start()
    watch = BfdWatch(str(tmp_path / "a.events"), role="vrrp", retry=0.05)
    try:
        first = await next_event(watch)
        assert first == BfdEvent("to_b", False, "Down", "", first.sent, snapshot=True)
        await pb.start()
        up = await next_event(watch)
        assert up.name == "to_b" and up.up and not up.snapshot
        session = pa.sessions.by_name["to_b"]
        assert session.state is State.UP and session.detection_time == 60_000
        await asyncio.sleep(0.3)  # the Poll Sequence is done; packets every 15-20 ms
        assert not session.poll and session.tx_interval == 20_000
        await pb.close()
        t0 = asyncio.get_running_loop().time()
        last_rx = session.last_rx
        down = await next_event(watch)
        assert not down.up and down.state == "Down" and down.diag == "Control Detection Time Expired"
        assert last_rx is not None
        took = asyncio.get_running_loop().time() - (session.last_rx or last_rx)
        assert took < 0.5 and asyncio.get_running_loop().time() - t0 < 0.5
        assert "(to_b) Entering Up state" in caplog.text
        assert "(to_b) Expired after" in caplog.text
        assert "(to_b) Entering Down state (Local diagnostic - Control Detection Time Expired" in caplog.text
    finally:
        await watch.aclose()
        await pa.close()
        await pb.close()


async def test_reload_keeps_a_session_that_did_not_move(tmp_path: Path) -> None:
    pa = BfdProcess([inst("to_b", B, A)], BfdOptions(str(tmp_path / "a.events"), listen_v4=A))
    pb = BfdProcess([inst("to_a", A, B)], BfdOptions(str(tmp_path / "b.events"), listen_v4=B))
    await pa.start()
    await pb.start()
    try:
        for _ in range(100):
            if pa.sessions.by_name["to_b"].up:
                break
            await asyncio.sleep(0.05)
        before = pa.sessions.by_name["to_b"]
        assert before.up
        text = pa.data_text()  # SIGUSR1's keepalived_bfd.data
        for line in (" BFD Instance = to_b", "   Neighbor IP = 127.0.0.42", "   Required min RX interval = 20000 us",
                     "   local state = Up", "   remote state = Up", "   send event to VRRP process = Yes"):
            assert line in text.splitlines(), text
        pa.reload([inst("to_b", B, A, min_tx=40.0), inst("extra", "127.0.0.43", A)])
        after = pa.sessions.by_name["to_b"]
        assert after is before and after.up and after.min_tx == 40_000 and after.poll
        assert set(pa.sessions.by_name) == {"to_b", "extra"}
        pa.reload([inst("to_b", B, A, min_tx=40.0)])
        assert set(pa.sessions.by_name) == {"to_b"} and set(pa.hub.sessions) == {"to_b"}
    finally:
        await pa.close()
        await pb.close()


async def test_watch_skips_other_roles_and_repeats_and_reconnects(tmp_path: Path) -> None:
    path = str(tmp_path / "h.events")
    hub = EventHub(path)
    hub.declare("v", up=False, state="Down", vrrp=True, checker=False)
    hub.declare("c", up=False, state="Down", vrrp=False, checker=True)
    await hub.start()
    watch = BfdWatch(path, role="checker", retry=0.02)
    try:
        assert (await next_event(watch)).name == "c"
        hub.publish("v", up=True, state="Up")  # not the checker's
        hub.publish("c", up=True, state="Up")
        ev = await next_event(watch)
        assert ev.name == "c" and ev.up
        # the BFD process restarts: the subscriber reconnects and the snapshot resynchronises it
        await hub.stop()
        hub2 = EventHub(path)
        hub2.declare("c", up=True, state="Up", vrrp=False, checker=True)
        await hub2.start()
        hub2.publish("c", up=False, state="Down")
        ev = await next_event(watch)
        assert ev.name == "c" and not ev.up  # the Up of the snapshot was no change: not repeated
        await hub2.stop()
    finally:
        await watch.aclose()


async def test_hub_stream_is_json_lines(tmp_path: Path) -> None:
    path = str(tmp_path / "j.events")
    hub = EventHub(path)
    hub.declare("x", up=False, state="Down")
    await hub.start()
    try:
        reader, writer = await asyncio.open_unix_connection(path)
        snap = json.loads(await reader.readline())
        assert snap["type"] == "snapshot" and snap["sessions"]["x"] == {
            "up": False, "state": "Down", "vrrp": True, "checker": True}
        hub.publish("x", up=True, state="Up", diag="No Diagnostic")
        ev = json.loads(await reader.readline())
        assert {k: ev[k] for k in ("type", "name", "up", "state", "diag")} == {
            "type": "event", "name": "x", "up": True, "state": "Up", "diag": "No Diagnostic"}
        assert Path(path).stat().st_mode & 0o077 == 0
        writer.close()
    finally:
        await hub.stop()
