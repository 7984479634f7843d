"""The control channel between the checker process and the proxy's workers.

Each worker listens on a UNIX stream socket ``worker-<i>.sock`` in the runtime directory (mode 0700,
so only the daemon's user reaches it).  One request, one reply, each a line of JSON:

==================================  ==================================================================
request                             reply
==================================  ==================================================================
``{"op": "hello"}``                 ``{"pid", "index", "workers", "services"}``
``{"op": "table"}``                 ``{"services": [service…]}``, destinations in kernel list order
``{"op": "apply", "ops": [op…]}``   ``{}``; the first refused operation stops the batch with an error
``{"op": "load", "services": […]}`` ``{}``: replace the whole table (a worker started afresh)
``{"op": "counters"}``              ``{"dests": [[svc, dest, conns, inpkts, outpkts, inbytes,
                                    outbytes, active, inactive, persistent]…]}``
``{"op": "others", "counts": […]}`` ``{}``: the other workers' connection counts (lc-type schedulers)
``{"op": "stop"}``                  ``{}``, then the worker closes everything and exits
==================================  ==================================================================

Errors reply ``{"error": "text"}``.  Service and destination keys travel as ``[proto, addr, port]``
and ``[addr, port]``.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from ...model import Destination, DestKey, Forward, Service, ServiceKey
from ...reconcile import AddDest, AddService, DelDest, DelService, EditDest, EditService, Op

#: a reply larger than this is refused (a table of 10,000 services is well under it)
MAX_LINE = 64 * 1024 * 1024


class ControlError(RuntimeError):
    """A worker refused a request or could not be reached."""


# -- codec ----------------------------------------------------------------------------------------

def skey_json(key: ServiceKey) -> list[Any]:
    return [key.protocol, str(key.addr), key.port]


def skey_from(j: list[Any]) -> ServiceKey:
    return ServiceKey.inet(j[0], j[1], int(j[2]))


def dkey_json(key: DestKey) -> list[Any]:
    return [str(key.addr), key.port]


def dkey_from(j: list[Any]) -> DestKey:
    return DestKey.of(j[0], int(j[1]))


def dest_json(d: Destination) -> list[Any]:
    return [str(d.key.addr), d.key.port, d.weight, d.forward.value, d.u_threshold, d.l_threshold]


def dest_from(j: list[Any]) -> Destination:
    return Destination(DestKey.of(j[0], int(j[1])), int(j[2]), Forward(j[3]), int(j[4]), int(j[5]))


def service_json(svc: Service, dests: tuple[Destination, ...] | list[Destination] | None = None) -> dict[str, Any]:
    return {"key": skey_json(svc.key), "sched": svc.scheduler, "flags": sorted(svc.flags),
            "timeout": svc.persistence_timeout, "netmask": svc.persistence_netmask,
            "dests": [dest_json(d) for d in (svc.destinations if dests is None else dests)]}


def service_from(j: dict[str, Any]) -> Service:
    return Service(skey_from(j["key"]), j["sched"], frozenset(j["flags"]), int(j["timeout"]),
                   None if j["netmask"] is None else int(j["netmask"]),
                   tuple(dest_from(d) for d in j["dests"]))


def op_json(op: Op) -> dict[str, Any]:
    if isinstance(op, AddService | EditService):
        return {"op": type(op).__name__, "service": service_json(op.service, ())}
    if isinstance(op, DelService):
        return {"op": "DelService", "key": skey_json(op.key)}
    if isinstance(op, AddDest | EditDest):
        return {"op": type(op).__name__, "service": skey_json(op.service), "dest": dest_json(op.dest)}
    return {"op": "DelDest", "service": skey_json(op.service), "key": dkey_json(op.key)}


def op_from(j: dict[str, Any]) -> Op:
    kind = j["op"]
    if kind == "AddService":
        return AddService(service_from(j["service"]))
    if kind == "EditService":
        return EditService(service_from(j["service"]))
    if kind == "DelService":
        return DelService(skey_from(j["key"]))
    if kind == "AddDest":
        return AddDest(skey_from(j["service"]), dest_from(j["dest"]))
    if kind == "EditDest":
        return EditDest(skey_from(j["service"]), dest_from(j["dest"]))
    if kind == "DelDest":
        return DelDest(skey_from(j["service"]), dkey_from(j["key"]))
    raise ValueError(f"unknown operation {kind!r}")


# -- the checker process's side ----------------------------------------------------------------------

class ControlClient:
    """A blocking connection to one worker (the data plane's calls run on a thread of their own)."""

    def __init__(self, path: str, timeout: float = 10.0) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise
        self._buf = bytearray()

    def request(self, msg: dict[str, Any]) -> dict[str, Any]:
        try:
            self.sock.sendall(json.dumps(msg, separators=(",", ":")).encode() + b"\n")
            while True:
                nl = self._buf.find(b"\n")
                if nl >= 0:
                    line = bytes(self._buf[:nl])
                    del self._buf[:nl + 1]
                    break
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    raise ControlError(f"{self.path}: the worker closed the control channel")
                self._buf += chunk
                if len(self._buf) > MAX_LINE:
                    raise ControlError(f"{self.path}: reply too long")
        except OSError as e:
            raise ControlError(f"{self.path}: {e}") from e
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise ControlError(f"{self.path}: {reply['error']}")
        return reply

    def close(self) -> None:
        self.sock.close()
