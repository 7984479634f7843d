"""The dashboard's server side (status.dashboard): the page and its files, ``/events``, the peer relay, the
bounds, ``/api/v1/whoami``.  The page itself is driven in a real browser by tests/integration/test_dashboard.py."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pykeepalived.cli import UsageError, parse_daemon_args
from pykeepalived.status import dashboard
from pykeepalived.status.api import Access
from pykeepalived.status.dashboard import DashboardOptions, Peer, PeerError, parse_peer
from pykeepalived.status.server import ControlServer
from pykeepalived.status.snapshot import Snapshot
from tests.unit.status.conftest import seed_snapshot

STATIC = Path(dashboard.__file__).parent / "static"


@pytest.fixture
def ctl(tmp_path: Path) -> str:
    return str(tmp_path / "k.ctl")


class Source:
    """A snapshot the test changes while the server runs."""

    def __init__(self) -> None:
        self.snap = seed_snapshot()
        self.calls = 0

    def __call__(self) -> Snapshot:
        self.calls += 1
        return dataclasses.replace(self.snap, taken_at=time.time())

    def set_state(self, instance: str, state: str) -> None:
        vrrp = tuple(dataclasses.replace(v, state=state) if v.name == instance else v for v in self.snap.vrrp)
        self.snap = dataclasses.replace(self.snap, vrrp=vrrp)


async def events(r: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, str]]:
    async for kind, data in dashboard._sse_events(r.content):
        yield kind, data


async def next_status(stream: AsyncIterator[tuple[str, str]], source: str = "local",
                      timeout: float = 5.0) -> dict[str, Any]:
    async def get() -> dict[str, Any]:
        async for kind, data in stream:
            if kind == "status":
                sid, _, doc = data.partition("\n")
                if sid == source:
                    return json.loads(doc)  # type: ignore[no-any-return]
        raise AssertionError("stream ended")
    return await asyncio.wait_for(get(), timeout)


def test_parse_peer() -> None:
    assert parse_peer("lb1=http://10.0.0.3:8080") == Peer("lb1", "http://10.0.0.3:8080/")
    assert parse_peer("http://[fd00::3]:8080/lb/") == Peer("[fd00::3]:8080", "http://[fd00::3]:8080/lb/")
    for bad in ("10.0.0.3:8080", "lb1=ftp://x/", "http://x/?a=1", "lb1="):
        with pytest.raises(PeerError):
            parse_peer(bad)


def test_command_line() -> None:
    p = parse_daemon_args(["--dashboard-name", "lb2", "--dashboard-peer", "lb1=http://10.0.0.3:8080/",
                           "--dashboard-peer=http://10.0.0.9:8080/"])
    assert p.args.dashboard_name == "lb2"
    assert p.args.dashboard_peers == ["lb1=http://10.0.0.3:8080/", "http://10.0.0.9:8080/"]
    with pytest.raises(UsageError, match="expected"):
        parse_daemon_args(["--dashboard-peer", "10.0.0.3:8080"])


def test_the_page_uses_only_relative_urls_and_its_own_files() -> None:
    page = (STATIC / "index.html").read_text()
    urls = re.findall(r'(?:href|src)="([^"]*)"', page)
    assert urls == ["dashboard/style.css", "dashboard/app.js"]
    for name in ("index.html", "app.js", "style.css"):
        text = (STATIC / name).read_text()
        assert "http://" not in text.replace('"http://www.w3.org/2000/svg"', "") and "https://" not in text
        assert "@import" not in text and "url(" not in text
    script = (STATIC / "app.js").read_text()
    assert sorted(re.findall(r'(?:fetch|EventSource)\("([^"]+)"', script)) == ["api/v1/command", "api/v1/whoami",
                                                                                "events"]


async def test_page_assets_and_headers(ctl: str) -> None:
    async with ControlServer(Source(), ctl, tcp=("127.0.0.1", 0)) as server, aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{server.tcp_port}/"
        async with http.get(base) as r:
            assert r.status == 200 and r.content_type == "text/html"
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
        for name, ctype in (("app.js", "text/javascript"), ("style.css", "text/css")):
            async with http.get(f"{base}dashboard/{name}") as r:
                assert r.status == 200 and r.content_type == ctype
                assert await r.read() == (STATIC / name).read_bytes()
        async with http.get(f"{base}dashboard/../server.py") as r:
            assert r.status == 404
        async with http.get(f"{base}dashboard/index.py") as r:
            assert r.status == 404


async def test_events_send_changes_at_once_and_a_heartbeat(ctl: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboard, "HEARTBEAT", 0.6)
    src = Source()
    async with ControlServer(src, ctl, tcp=("127.0.0.1", 0), dashboard=DashboardOptions("lb1")) as server, \
            aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{server.tcp_port}/events") as r:
        assert r.status == 200 and r.content_type == "text/event-stream"
        stream = events(r)
        kind, data = await asyncio.wait_for(anext(stream), 5)
        assert kind == "sources"
        assert json.loads(data)[0] | {"since": 0} == {"id": "local", "name": "lb1", "url": None,
                                                       "connected": True, "error": None, "since": 0}
        first = await next_status(stream)
        assert Snapshot.from_json(json.dumps(first)).vrrp == seed_snapshot().vrrp
        beat = await next_status(stream, timeout=2)  # nothing changed: sent again within HEARTBEAT
        assert beat["taken_at"] > first["taken_at"]
        t0 = time.monotonic()
        src.set_state("VI_1", "BACKUP")
        while (await next_status(stream))["vrrp"][0]["state"] != "BACKUP":
            pass
        assert time.monotonic() - t0 < 0.6  # a state change goes out at the next poll (POLL_MIN)
    # nobody watches now: the producer stops LINGER seconds later (10 s: not waited for here)


async def test_at_most_max_streams_and_a_clean_stop(ctl: str) -> None:
    server = ControlServer(Source(), ctl, tcp=("127.0.0.1", 0))
    await server.start()
    hub = server._runner.app[dashboard._HUB_KEY]
    hub.max_streams = 3
    url = f"http://127.0.0.1:{server.tcp_port}/events"
    async with aiohttp.ClientSession() as http:
        open_ = [await http.get(url) for _ in range(3)]
        assert [r.status for r in open_] == [200, 200, 200]
        async with http.get(url) as r:
            assert r.status == 503 and r.headers["Retry-After"] == "5"
        assert hub.refused == 1
        async with http.get(f"http://127.0.0.1:{server.tcp_port}/status") as r:
            assert r.status == 200  # the rest of the socket is not held up
        t0 = time.monotonic()
        await asyncio.wait_for(server.stop(), 10)  # open streams end; they do not hold the shutdown
        assert time.monotonic() - t0 < 3
        for r in open_:
            r.close()


async def test_a_viewer_that_does_not_read_is_closed(ctl: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboard, "WRITE_TIMEOUT", 0.5)
    monkeypatch.setattr(dashboard, "COUNTER_INTERVAL", 0.0)
    src = Source()
    big = tuple(dataclasses.replace(v, name=f"VI_{i}_{'x' * 200}") for i in range(2000) for v in src.snap.vrrp[:1])
    src.snap = dataclasses.replace(src.snap, vrrp=(*src.snap.vrrp[:1], *big))  # ~1 MB a document
    async with ControlServer(src, ctl, tcp=("127.0.0.1", 0)) as server:
        hub = server._runner.app[dashboard._HUB_KEY]
        _, writer = await asyncio.open_connection("127.0.0.1", server.tcp_port)
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        writer.write(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not hub.viewers:
            await asyncio.sleep(0.05)
        assert hub.viewers
        while time.monotonic() < deadline:
            src.set_state("VI_1", "BACKUP" if int(time.monotonic() * 4) % 2 else "MASTER")
            src.snap = dataclasses.replace(src.snap, taken_at=time.time())
            if not hub.viewers:
                break
            await asyncio.sleep(0.2)
        assert not hub.viewers  # never read: closed after WRITE_TIMEOUT, its slot free again
        writer.close()


async def test_peers_are_relayed_and_their_absence_shown(tmp_path: Path) -> None:
    a_src, b_src = Source(), Source()
    b_src.set_state("VI_1", "BACKUP")
    b = ControlServer(b_src, str(tmp_path / "b.ctl"), tcp=("127.0.0.1", 0), dashboard=DashboardOptions("lb2"))
    await b.start()
    # a names b as its peer, and b names a: each asks the other for its own document only (no loop)
    a = ControlServer(a_src, str(tmp_path / "a.ctl"), tcp=("127.0.0.1", 0),
                      dashboard=DashboardOptions("lb1", (Peer("lb2", f"http://127.0.0.1:{b.tcp_port}/"),)))
    await a.start()
    try:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{a.tcp_port}/events") as r:
            stream = events(r)
            seen: dict[str, str] = {}
            while len(seen) < 2:
                kind, data = await asyncio.wait_for(anext(stream), 5)
                if kind == "status":
                    sid, _, doc = data.partition("\n")
                    seen[sid] = json.loads(doc)["vrrp"][0]["state"]
            assert seen == {"local": "MASTER", "peer1": "BACKUP"}
            b_src.set_state("VI_1", "MASTER")
            while (await next_status(stream, "peer1"))["vrrp"][0]["state"] != "MASTER":
                pass
            await b.stop()  # the peer goes away: a says so at once

            async def gone() -> dict[str, Any]:
                async for kind, data in stream:
                    if kind == "sources":
                        peer = json.loads(data)[1]
                        if not peer["connected"]:
                            return peer  # type: ignore[no-any-return]
                raise AssertionError("stream ended")
            peer = await asyncio.wait_for(gone(), 5)
            assert peer["name"] == "lb2" and peer["error"]
    finally:
        await a.stop()
        await b.stop()


async def test_whoami(ctl: str, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token-0123456789\n")
    os.chmod(token_file, 0o600)

    async def handler(cmd: Any, caller: Any) -> dict[str, Any]:
        return {"message": "ok"}

    async with aiohttp.ClientSession() as http:
        async with ControlServer(Source(), ctl, tcp=("127.0.0.1", 0), commands=handler) as server, \
                http.get(f"http://127.0.0.1:{server.tcp_port}/api/v1/whoami") as r:
            assert await r.json() == {"read": True, "write": False, "transport": "tcp", "token": "unset"}
        async with ControlServer(Source(), ctl, tcp=("127.0.0.1", 0), commands=handler,
                                 access=Access.configure(token_file=str(token_file))) as server:
            url = f"http://127.0.0.1:{server.tcp_port}/api/v1/whoami"
            for headers, write, token in (({}, False, "absent"),
                                          ({"Authorization": "Bearer wrong-token-0123456789"}, False, "refused"),
                                          ({"Authorization": "Bearer s3cret-token-0123456789"}, True, "accepted")):
                async with http.get(url, headers=headers) as r:
                    assert await r.json() == {"read": True, "write": write, "transport": "tcp", "token": token}
            async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=ctl)) as unix, \
                    unix.get("http://localhost/api/v1/whoami") as r:
                assert await r.json() == {"read": True, "write": True, "transport": "unix", "uid": os.geteuid()}
