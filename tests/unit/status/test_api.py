"""The runtime API on the control socket: request shapes, access by peer credentials and token, limits."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pykeepalived.status.api import MAX_REQUEST, Access, ApiError, Caller, Command, load_token
from pykeepalived.status.ctl import request as ctl_request
from pykeepalived.status.server import ControlServer
from tests.conftest import require_root

from .conftest import seed_snapshot

TOKEN = "0123456789abcdef-token"


def test_commands_parse_and_refuse_clearly() -> None:
    c = Command.from_json({"command": "weight", "service": "10.0.0.5:80", "server": "192.168.0.12:80", "weight": 5})
    assert c.describe() == "weight 10.0.0.5:80 192.168.0.12:80 5" and Command.from_json(c.to_json()) == c
    # the runtime equivalents of keepalived's SNMP SETs of vrrpInstanceBasePriority and vrrpInstancePreempt
    p = Command.from_json({"command": "priority", "instance": "VI_1", "priority": 200})
    assert p.describe() == "priority VI_1 200" and Command.from_json(p.to_json()) == p
    q = Command.from_json({"command": "preempt", "instance": "VI_1", "preempt": False})
    assert q.describe() == "preempt VI_1 off" and Command.from_json(q.to_json()) == q
    # the SNMP SET of realServerWeight: a weight until the next reload
    w = Command.from_json({"command": "weight", "service": "10.0.0.5:80", "server": "192.168.0.12:80", "weight": 7,
                           "until_reload": True})
    assert w.describe() == "weight 10.0.0.5:80 192.168.0.12:80 7 until reload" and Command.from_json(w.to_json()) == w
    assert ctl_request(["weight", "10.0.0.5:80", "192.168.0.12:80", "7", "until-reload"]) == w.to_json()
    assert ctl_request(["priority", "VI_1", "200"]) == {"command": "priority", "instance": "VI_1", "priority": 200}
    assert ctl_request(["preempt", "VI_1", "off"]) == {"command": "preempt", "instance": "VI_1", "preempt": False}
    for bad, words in (
        ([], "JSON object"),
        ({"command": "explode"}, "unknown command"),
        ({"command": "drain", "service": "10.0.0.5:80"}, "missing server"),
        ({"command": "weight", "service": "a", "server": "b", "weight": -1}, "0 to 65535"),
        ({"command": "weight", "service": "a", "server": "b", "weight": True}, "integer"),
        ({"command": "reset", "force": 1}, "unexpected field"),
        ({"command": "handover", "instance": 3}, "must be a string"),
        ({"command": "priority", "instance": "VI_1", "priority": 0}, "1 to 255"),
        ({"command": "priority", "instance": "VI_1"}, "missing priority"),
        ({"command": "preempt", "instance": "VI_1", "preempt": 2}, "true or false"),
        ({"command": "weight", "service": "a", "server": "b", "weight": 1, "until_reload": 1}, "true or false"),
        ({"command": "drain", "service": "a", "server": "b", "until_reload": True}, "unexpected field"),
    ):
        with pytest.raises(ApiError) as e:
            Command.from_json(bad)
        assert e.value.status == 400 and words in e.value.message


def test_access_rules() -> None:
    access = Access(read_gids=frozenset({100}), write_gids=frozenset({200}), token=b"x" * 16, owner_uid=0)
    root, reader, writer, stranger = (Caller("unix", uid, uid, 1, frozenset(g)) for uid, g in (
        (0, {0}), (1000, {1000, 100}), (1001, {1001, 200}), (1002, {1002})))
    assert access.may_read(root) and access.may_write(root)
    assert access.may_read(reader) and not access.may_write(reader)
    assert access.may_read(writer) and access.may_write(writer)
    assert not access.may_read(stranger) and not access.may_write(stranger)
    assert access.may_read(Caller("tcp")) and not access.may_write(Caller("tcp"))
    assert access.may_write(Caller("tcp", token_ok=True))
    assert Access().socket_mode == 0o600 and access.socket_mode == 0o666


def test_token_file_must_be_private(tmp_path: Path) -> None:
    f = tmp_path / "token"
    f.write_text(TOKEN + "\n")
    f.chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        load_token(str(f))
    f.chmod(0o600)
    assert load_token(str(f)) == TOKEN.encode()
    link = tmp_path / "link"
    link.symlink_to(f)
    with pytest.raises(ValueError, match="token file"):
        load_token(str(link))  # never through a symlink
    f.write_text("short")
    with pytest.raises(ValueError, match="16 characters"):
        load_token(str(f))


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[Command, Caller]] = []

    async def __call__(self, cmd: Command, caller: Caller) -> dict[str, Any]:
        if cmd.service == "10.9.9.9:80":
            raise ApiError(404, "no virtual server 10.9.9.9:80")
        self.seen.append((cmd, caller))
        return {"message": f"done: {cmd.describe()}"}


async def post(session: aiohttp.ClientSession, url: str, body: Any, **kw: Any) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with session.post(url, data=data, **kw) as r:
        return r.status, await r.json()


async def test_commands_over_the_unix_socket_and_tcp(tmp_path: Path) -> None:
    rec = Recorder()
    path = str(tmp_path / "x.ctl")
    access = Access(token=TOKEN.encode())
    async with ControlServer(seed_snapshot, path, tcp=("127.0.0.1", 0), commands=rec, access=access) as srv:
        drain = {"command": "drain", "service": "10.0.0.5:80", "server": "192.168.0.12:80"}
        async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=path)) as s:
            status, body = await post(s, "http://x/api/v1/command", drain)
            assert (status, body["ok"]) == (200, True) and "drain" in body["message"]
            cmd, caller = rec.seen[-1]
            assert cmd.name == "drain" and caller.transport == "unix" and caller.pid == os.getpid()
            assert await post(s, "http://x/api/v1/command", {**drain, "service": "10.9.9.9:80"}) == (
                404, {"ok": False, "error": "no virtual server 10.9.9.9:80"})
            status, body = await post(s, "http://x/api/v1/command", b"{not json")
            assert status == 400 and "not JSON" in body["error"]
            status, body = await post(s, "http://x/api/v1/command", b"[" + b" " * (MAX_REQUEST + 10) + b"]")
            assert status == 413
            async with s.get("http://x/status") as r:
                assert r.status == 200  # still serving
        url = f"http://127.0.0.1:{srv.tcp_port}/api/v1/command"
        async with aiohttp.ClientSession() as s:
            status, body = await post(s, url, drain)
            assert status == 403 and "Bearer" in body["error"]
            status, _ = await post(s, url, drain, headers={"Authorization": "Bearer wrong-token-0000000"})
            assert status == 403
            status, _ = await post(s, url, drain, headers={"Authorization": f"Bearer {TOKEN}"})
            assert status == 200 and rec.seen[-1][1].token_ok
            async with s.get(f"http://127.0.0.1:{srv.tcp_port}/status") as r:
                assert r.status == 200  # reads stay open on the listener
        assert len(rec.seen) == 2


CLIENT = """
import socket, sys
def ask(request):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.sendall(request)
    return s.recv(65536).split(b" ")[1].decode()
body = b'{"command": "reset"}'
read = ask(b"GET /status HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
write = ask(b"POST /api/v1/command HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\nContent-Length: %d\\r\\n\\r\\n%s"
            % (len(body), body))
print(read, write)
"""


async def test_a_non_root_user_cannot_write() -> None:
    require_root()
    rec = Recorder()
    where = Path(tempfile.mkdtemp(prefix="pk-api-"))  # pytest's tmp_path is under a 0700 directory
    where.chmod(0o755)
    path = str(where / "x.ctl")
    nogroup = 65534
    for access, want in ((Access(), None), (Access(read_gids=frozenset({nogroup})), "200 403"),
                         (Access(write_gids=frozenset({nogroup})), "200 200")):
        async with ControlServer(seed_snapshot, path, commands=rec, access=access):
            cp = await asyncio.to_thread(
                subprocess.run, ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                 "/usr/bin/python3", "-c", CLIENT, path], capture_output=True, text=True, timeout=30)
        if want is None:  # root-only socket (0600): nobody cannot even connect
            assert cp.returncode != 0 and "Permission denied" in cp.stderr, cp
        else:
            assert cp.stdout.strip() == want, cp
    where.rmdir()
    assert [c.name for c, _ in rec.seen] == ["reset"]
    assert rec.seen[0][1].uid == 65534
