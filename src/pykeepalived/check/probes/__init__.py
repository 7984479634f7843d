"""The checker kinds: one module each, registered here, built by :func:`build_probe`.

Each kind's module performs ONE attempt of a check and reports a
:class:`~pykeepalived.check.state.Result`; the runner owns scheduling, retries and state.  What the
probes share (the probe contract, one overall deadline per attempt, bounded reads) is
:mod:`.common` and :mod:`pykeepalived.check.net`.  Adding a kind is one module with a ``KIND``
(:class:`~.common.Kind`: its config model, names, dialogue steps and builder) and one line in
:data:`KINDS`.

=============  =====  ==================================================  ===========================
checker        steps  keepalived's per-step timeouts                      deadline, connect_timeout 5
=============  =====  ==================================================  ===========================
TCP_CHECK      1      connect                                             5 s
HTTP_GET/SSL   3      connect (+ TLS handshake), write, read the reply    15 s
SMTP_CHECK     6      connect, banner, HELO, reply, QUIT, reply           30 s
DNS/UDP/PING   3      connect, send, read the reply                       15 s
MISC_CHECK     -      ``misc_timeout`` (then SIGTERM, SIGKILL 2 s later)  ``misc_timeout`` + 2 s
FILE_CHECK     -      (reads a file)                                      -
=============  =====  ==================================================  ===========================
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Mapping

from pykeepalived.check.probes import dns, file, http, misc, ping, smtp, tcp, udp
from pykeepalived.check.probes.common import Done, Kind, Probe, Setup, UnsupportedChecker
from pykeepalived.config.model import Script
from pykeepalived.config.model_lvs import BfdCheck, Checker, RealServer, VirtualServer
from pykeepalived.config.model_vrrp import TrackFile
from pykeepalived.notify.scripts import ScriptJob

__all__ = ["CHECK_STEPS", "KINDS", "Done", "Kind", "Probe", "UnsupportedChecker", "build_probe"]

#: every checker kind this implementation runs (BFD_CHECK is not one of them)
KINDS: tuple[Kind, ...] = (tcp.KIND, http.KIND, misc.KIND, smtp.KIND, dns.KIND, udp.KIND, ping.KIND, file.KIND)

_BY_MODEL: dict[type, Kind] = {k.model: k for k in KINDS}

#: keepalived's steps per dialogue, each timed by connect_timeout: a check's whole budget is this many
#: connect_timeouts (the network kinds only)
CHECK_STEPS: dict[str, int] = {name: k.steps for k in KINDS if k.steps is not None for name in k.names}


def build_probe(vs: VirtualServer, rs: RealServer, checker: Checker, loop: asyncio.AbstractEventLoop, *,
                ssl_context: ssl.SSLContext | None = None,
                track_files: Mapping[str, TrackFile] | None = None, tcp_half_open: bool = False,
                url_index: Callable[[], int] | None = None,
                script_job: Callable[[Script], ScriptJob | None] | None = None) -> Probe:
    """The probe for one configured checker (raises :class:`UnsupportedChecker` for BFD_CHECK).

    ``script_job`` is the process's script security (a MISC_CHECK script runs only as it allows)."""
    kind = _BY_MODEL.get(type(checker))
    if kind is None:
        if isinstance(checker, BfdCheck):
            raise UnsupportedChecker(f"BFD_CHECK ({checker.name}) is not supported by pykeepalived")
        raise UnsupportedChecker(f"{getattr(checker, 'type', type(checker).__name__)} is not supported")
    setup = Setup(loop, ssl_context, track_files or {}, tcp_half_open, url_index, script_job)
    return kind.build(setup, vs, rs, checker)
