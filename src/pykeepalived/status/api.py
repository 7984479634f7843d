"""The runtime API on the control socket: JSON commands, who may send them, and the HTTP route.

One request shape, ``POST /api/v1/command`` with a JSON object, one JSON answer; served on the same
HTTP-over-UNIX-socket as ``/status`` (and on the ``--listen`` TCP port, where writes need a token):

    {"command": "drain",   "service": "10.0.0.5:80", "server": "192.168.0.12:80"}
    {"command": "undrain", "service": "10.0.0.5:80", "server": "192.168.0.12:80"}
    {"command": "weight",  "service": "10.0.0.5:80", "server": "192.168.0.12:80", "weight": 5}
                                                   until ``reset``; with ``"until_reload": true`` until the
                                                   next reload (or restart of the checker process), as
                                                   keepalived's SNMP SET of realServerWeight
    {"command": "disable", "service": "10.0.0.5:80"[, "server": "192.168.0.12:80"]}   (and "enable")
    {"command": "handover", "instance": "VI_1"}    give mastership away (priority lowered, resign advert)
    {"command": "restore",  "instance": "VI_1"}    the configured priority again
    {"command": "priority", "instance": "VI_1", "priority": 200}   a new base priority (1-255), as keepalived's
                                                   SNMP SET of vrrpInstanceBasePriority; until a reload
    {"command": "preempt",  "instance": "VI_1", "preempt": false}  preemption on or off (vrrpInstancePreempt)
    {"command": "reset"}                           drop every override
    {"command": "reload"}                          as SIGHUP, answering whether the new configuration loaded

``GET /api/v1/whoami`` says what the caller may do: ``{"read": true, "write": false, "transport": "tcp",
"token": "absent"}`` (the dashboard asks it to decide whether to show its drain buttons).

Answers: ``{"ok": true, "message": "...", "overrides": {...}}``, or ``{"ok": false, "error": "..."}`` with
HTTP 400 (malformed), 403 (not allowed), 404 (no such service/server/instance), 413 (too large).

Access: on the UNIX socket the caller is known by its peer credentials (SO_PEERCRED): root and the
daemon's own user may read and write; members of the configured read group may read, of the write group
write (the socket is then mode 0666 and every request is checked here).  On TCP, reads are open (the
listener binds only where told) and writes need ``Authorization: Bearer TOKEN`` matching the token file.
Every write is logged with who asked.
"""

from __future__ import annotations

import grp
import hmac
import json
import logging
import os
import socket
import stat
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

log = logging.getLogger("pykeepalived.control")

#: the largest request body accepted (a command is a few hundred bytes)
MAX_REQUEST = 16 * 1024

#: command -> (required fields, optional fields)
COMMANDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "drain": (("service", "server"), ()),
    "undrain": (("service", "server"), ()),
    "weight": (("service", "server", "weight"), ("until_reload",)),
    "disable": (("service",), ("server",)),
    "enable": (("service",), ("server",)),
    "handover": (("instance",), ()),
    "restore": (("instance",), ()),
    "priority": (("instance", "priority"), ()),
    "preempt": (("instance", "preempt"), ()),
    "reset": ((), ()),
    "reload": ((), ()),
}
LVS_COMMANDS = frozenset({"drain", "undrain", "weight", "disable", "enable"})
VRRP_COMMANDS = frozenset({"handover", "restore", "priority", "preempt"})


class ApiError(Exception):
    """A request refused with an HTTP status and a message the caller can act on."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    service: str | None = None
    server: str | None = None
    weight: int | None = None
    instance: str | None = None
    priority: int | None = None
    preempt: bool | None = None
    #: ``weight``: until the next reload (an SNMP SET), not until ``reset``
    until_reload: bool | None = None

    @classmethod
    def from_json(cls, data: Any) -> Command:
        if not isinstance(data, dict):
            raise ApiError(400, "the request must be a JSON object with a 'command'")
        name = data.get("command")
        if name not in COMMANDS:
            raise ApiError(400, f"unknown command {name!r} (one of: {', '.join(COMMANDS)})")
        required, optional = COMMANDS[name]
        unknown = set(data) - {"command", *required, *optional}
        if unknown:
            raise ApiError(400, f"{name}: unexpected field(s) {', '.join(sorted(unknown))}")
        missing = [f for f in required if data.get(f) in (None, "")]
        if missing:
            raise ApiError(400, f"{name}: missing {', '.join(missing)}")
        for f in ("service", "server", "instance"):
            if f in data and not isinstance(data[f], str):
                raise ApiError(400, f"{name}: {f} must be a string")
        weight = data.get("weight")
        if weight is not None and (isinstance(weight, bool) or not isinstance(weight, int)
                                   or not 0 <= weight <= 65535):
            raise ApiError(400, f"{name}: weight must be an integer from 0 to 65535")
        priority = data.get("priority")
        if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)
                                     or not 1 <= priority <= 255):
            raise ApiError(400, f"{name}: priority must be an integer from 1 to 255")
        preempt = data.get("preempt")
        if preempt is not None and not isinstance(preempt, bool):
            raise ApiError(400, f"{name}: preempt must be true or false")
        until_reload = data.get("until_reload")
        if until_reload is not None and not isinstance(until_reload, bool):
            raise ApiError(400, f"{name}: until_reload must be true or false")
        return cls(name, data.get("service"), data.get("server"), weight, data.get("instance"), priority, preempt,
                   until_reload)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"command": self.name}
        for f in ("service", "server", "weight", "instance", "priority", "preempt", "until_reload"):
            if getattr(self, f) is not None:
                out[f] = getattr(self, f)
        return out

    def describe(self) -> str:
        parts = [self.name, self.instance, self.service, self.server,
                 None if self.weight is None else str(self.weight),
                 None if self.priority is None else str(self.priority),
                 None if self.preempt is None else ("on" if self.preempt else "off"),
                 "until reload" if self.until_reload else None]
        return " ".join(p for p in parts if p)


# ------------------------------------------------------------------------------------ who is asking


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a request: peer credentials on the UNIX socket, the address (and token) on TCP."""

    transport: str  # "unix" | "tcp" | "snmp" (the daemon's own subagent)
    uid: int | None = None
    gid: int | None = None
    pid: int | None = None
    groups: frozenset[int] = frozenset()
    address: str | None = None
    token_ok: bool = False

    def describe(self) -> str:
        if self.transport == "snmp":
            return "an SNMP SET"
        if self.transport == "unix":
            return f"uid {self.uid} ({_user(self.uid)}) pid {self.pid} on the control socket"
        return f"{self.address} on TCP{' with the token' if self.token_ok else ''}"


def _user(uid: int | None) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name if uid is not None else "?"
    except KeyError:
        return str(uid)


def peer_groups(pid: int, gid: int) -> frozenset[int]:
    """The caller's primary and supplementary groups, read from /proc (SO_PEERCRED gives only the gid)."""
    groups = {gid}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Groups:"):
                    groups.update(int(g) for g in line.split()[1:] if g.isdigit())
                    break
    except OSError:  # the caller is gone: its primary group is all we know
        pass
    return frozenset(groups)


def caller_of(request: web.Request, token: bytes | None) -> Caller:
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None and sock.family == socket.AF_UNIX:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, gid = struct.unpack("3i", raw)
        return Caller("unix", uid, gid, pid, peer_groups(pid, gid))
    peer = transport.get_extra_info("peername") if transport is not None else None
    address = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
    offered = request.headers.get("Authorization", "")
    ok = token is not None and offered.startswith("Bearer ") and hmac.compare_digest(
        offered[len("Bearer "):].strip().encode(), token)
    return Caller("tcp", address=address, token_ok=ok)


@dataclass(frozen=True, slots=True)
class Access:
    """Who may read and who may write (see the module docstring)."""

    read_gids: frozenset[int] = frozenset()
    write_gids: frozenset[int] = frozenset()
    token: bytes | None = None
    owner_uid: int = field(default_factory=os.geteuid)

    @property
    def socket_mode(self) -> int:
        """0600 (root only) unless groups are configured: then anyone may connect and each request is checked."""
        return 0o666 if self.read_gids or self.write_gids else 0o600

    def _privileged(self, c: Caller) -> bool:
        return c.uid == 0 or c.uid == self.owner_uid

    def may_read(self, c: Caller) -> bool:
        if c.transport == "tcp":
            return True
        return self._privileged(c) or bool(c.groups & (self.read_gids | self.write_gids))

    def may_write(self, c: Caller) -> bool:
        if c.transport == "tcp":
            return c.token_ok
        return self._privileged(c) or bool(c.groups & self.write_gids)

    @classmethod
    def configure(cls, read_group: str | None = None, write_group: str | None = None,
                  token_file: str | None = None) -> Access:
        """From the command line: group names (or numbers) and the token file (checked: see load_token)."""
        return cls(frozenset({_gid(read_group)} if read_group else ()),
                   frozenset({_gid(write_group)} if write_group else ()),
                   load_token(token_file) if token_file else None)


def _gid(name: str) -> int:
    if name.isdigit():
        return int(name)
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise ValueError(f"no such group {name!r}") from None


def load_token(path: str) -> bytes:
    """The TCP write token: a file not reached through a symlink, owned by root or this user, and readable by
    nobody else (like ssh's keys); at least 16 characters.  Raises ValueError saying what is wrong."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        raise ValueError(f"token file {path}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"token file {path}: not a regular file")
        if st.st_uid not in (0, os.geteuid()):
            raise ValueError(f"token file {path}: owned by uid {st.st_uid}, not root")
        if st.st_mode & 0o077:
            raise ValueError(f"token file {path}: readable or writable by others (mode {st.st_mode & 0o777:o});"
                             " chmod 600 it")
        token = os.read(fd, 4096).strip()
    finally:
        os.close(fd)
    if len(token) < 16:
        raise ValueError(f"token file {path}: the token must be at least 16 characters")
    return token


# ------------------------------------------------------------------------------------ the HTTP side

CommandHandler = Callable[[Command, Caller], Awaitable[dict[str, Any]]]
_HANDLER_KEY = web.AppKey("command_handler", object)
_ACCESS_KEY = web.AppKey("access", Access)
_CALLER_KEY = web.RequestKey("caller", Caller)


def answer(status: int, **body: Any) -> web.Response:
    return web.json_response(body, status=status)


@web.middleware
async def access_check(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                       ) -> web.StreamResponse:
    """Every request, read or write, passes the access rules first."""
    access = request.app.get(_ACCESS_KEY) or Access()
    caller = caller_of(request, access.token)
    request[_CALLER_KEY] = caller
    allowed = access.may_write(caller) if request.method not in ("GET", "HEAD") else access.may_read(caller)
    if not allowed:
        what = "write" if request.method not in ("GET", "HEAD") else "read"
        log.warning("control: refused a %s (%s %s) from %s", what, request.method, request.path, caller.describe())
        hint = " (writes on TCP need 'Authorization: Bearer TOKEN')" if caller.transport == "tcp" else ""
        return answer(403, ok=False, error=f"not allowed to {what}{hint}")
    return await handler(request)


async def _command(request: web.Request) -> web.Response:
    handler: Any = request.app.get(_HANDLER_KEY)
    if handler is None:
        return answer(404, ok=False, error="this socket takes no commands")
    if (request.content_length or 0) > MAX_REQUEST:
        return answer(413, ok=False, error=f"request larger than {MAX_REQUEST} bytes")
    body = await request.content.read(MAX_REQUEST + 1)
    if len(body) > MAX_REQUEST:
        return answer(413, ok=False, error=f"request larger than {MAX_REQUEST} bytes")
    try:
        cmd = Command.from_json(json.loads(body or b"null"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        return answer(400, ok=False, error=f"not JSON: {e}")
    except ApiError as e:
        return answer(e.status, ok=False, error=e.message)
    caller = request[_CALLER_KEY]
    log.info("control: %s, asked by %s", cmd.describe(), caller.describe())
    try:
        result = await handler(cmd, caller)
    except ApiError as e:
        log.info("control: %s refused: %s", cmd.describe(), e.message)
        return answer(e.status, ok=False, error=e.message)
    return answer(200, ok=True, **result)


async def _whoami(request: web.Request) -> web.Response:
    """What this caller may do here (the dashboard shows its drain buttons only when ``write`` is true).

    ``token`` (TCP only): ``"unset"`` when the listener has no token file (read-only), else whether the
    request offered one and whether it matched (``"absent"``, ``"refused"``, ``"accepted"``)."""
    access = request.app.get(_ACCESS_KEY) or Access()
    caller = request[_CALLER_KEY]
    takes_commands = request.app.get(_HANDLER_KEY) is not None
    body: dict[str, Any] = {"read": True, "write": takes_commands and access.may_write(caller),
                            "transport": caller.transport}
    if caller.transport == "tcp":
        offered = request.headers.get("Authorization", "").startswith("Bearer ")
        body["token"] = ("unset" if access.token is None else "accepted" if caller.token_ok
                         else "refused" if offered else "absent")
    else:
        body["uid"] = caller.uid
    return web.json_response(body, headers={"Cache-Control": "no-store"})


def add_api(app: web.Application, handler: CommandHandler | None, access: Access) -> None:
    """Mount ``POST /api/v1/command`` and ``GET /api/v1/whoami`` (and the access rules, for every route) on a
    control application."""
    app[_HANDLER_KEY] = handler
    app[_ACCESS_KEY] = access
    app.middlewares.append(access_check)
    app.router.add_post("/api/v1/command", _command)
    app.router.add_get("/api/v1/whoami", _whoami)
