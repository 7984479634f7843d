"""The configuration the supervisor hands each child, at start and on every reload: one mechanism.

The supervisor parses and validates the file (at start, and once per SIGHUP); each child runs what the
supervisor loaded, never the file.  So a file broken after the supervisor's parse changes nothing, a
child restarted after a crash runs the running configuration, and a reload of a large file costs the
children no parse (at 2,284 virtual servers x 37,298 real servers each parse took 12-15 s).

The channel is a ``SOCK_SEQPACKET`` socket pair per child, made when the supervisor starts that child:
the child inherits its end (descriptor number in ``PYKEEPALIVED_CONFIG_FD``).  Each configuration goes
as one message carrying a memfd (``SCM_RIGHTS``) that holds it pickled: complete or not at all, whatever
its size, and never a stream to resynchronise.  The first message is there before the child starts;
later ones arrive while it runs, and a child busy with one applies only the newest of those that
queued meanwhile.

Each child gets its part (:func:`part_for`): the VRRP and BFD children everything but the virtual
servers (a few hundred bytes instead of megabytes: nothing of the LVS part to unpickle while adverts
are due); the checker child all of it.  Pickling uses :class:`_Pickler`, which rebuilds the model's
frozen, slotted dataclasses without ``dataclasses``' per-object ``fields()`` walk, and unpickling runs
with the garbage collector paused: 2-5 s become about 0.5 s for the LVS part of the file above.

A reload sends only what changed: every virtual server equal to one of the configuration the child got
last (its *base*) goes as a reference to it (pickle's persistent ids), and the child takes its own object
for it (equal in everything but ``loc``, the place in the file, which nothing past the parse reads).
At 2,284 virtual servers a reload that changes a few of them is pickled in about 0.1 s instead
of 0.3, unpickled in milliseconds instead of 0.23 s, and the child's unchanged virtual servers stay the
very objects its checkers hold.  Each message names its configuration's generation and its base's
(``config GEN BASE``, base 0: complete), so the child decodes every message in order, each against the
one before, and still applies only the newest.  A child that cannot decode one (its base is not the one
named) asks for a complete configuration on the same socket (``full``), and the supervisor sends one.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import io
import logging
import operator
import os
import pickle
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from pykeepalived.config.model import Config
from pykeepalived.config.model_lvs import LvsConfig, VirtualServer
from pykeepalived.gcpause import gc_paused

log = logging.getLogger("pykeepalived")

#: the environment variable naming the child's end of its channel
CONFIG_FD_ENV = "PYKEEPALIVED_CONFIG_FD"
_TAG = b"config"
#: a message is the tag, the configuration's generation and its base's; anything longer is not ours
_MAX_MESSAGE = 64
#: the child's request for a complete configuration (its base is not the one a message named)
FULL_REQUEST = b"full"


# -- the codec ------------------------------------------------------------------------------------------

_FIELDS: dict[type, tuple[str, ...] | None] = {}
_SETTERS: dict[type, tuple[Any, ...]] = {}
_new = object.__new__


def _fields(cls: type) -> tuple[str, ...] | None:
    """The field names of a slotted dataclass (pickled by :func:`_rebuild`), None for any other type."""
    try:
        return _FIELDS[cls]
    except KeyError:
        names = (tuple(f.name for f in dataclasses.fields(cls))
                 if dataclasses.is_dataclass(cls) and "__slots__" in cls.__dict__ else None)
        _FIELDS[cls] = names
        return names


def _setters(cls: type) -> tuple[Any, ...]:
    """The slot descriptors' setters of ``cls``'s fields, in field order (half the cost of ``object.__setattr__``,
    which frozen dataclasses otherwise need)."""
    try:
        return _SETTERS[cls]
    except KeyError:
        names = _fields(cls)
        assert names is not None
        setters = _SETTERS[cls] = tuple(cls.__dict__[n].__set__ for n in names)
        return setters


def _rebuild(cls: type, values: tuple[Any, ...]) -> Any:
    """One model object back: its fields set as ``__init__`` would, without running it (no validation to
    redo, and frozen dataclasses refuse plain attribute assignment)."""
    obj: Any = _new(cls)
    for set_field, value in zip(_setters(cls), values, strict=True):
        set_field(obj, value)
    return obj


_GETTERS: dict[type, Any] = {}


def _values_of(cls: type) -> Any:
    """A function giving the tuple of an object's field values (None: ``cls`` is not a slotted dataclass)."""
    try:
        return _GETTERS[cls]
    except KeyError:
        names = _fields(cls)
        getter: Any
        if names is None:
            getter = None
        elif len(names) == 1:
            one = operator.attrgetter(names[0])
            getter = lambda obj: (one(obj),)  # noqa: E731
        else:
            getter = operator.attrgetter(*names) if names else (lambda obj: ())
        _GETTERS[cls] = getter
        return getter


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        cls = type(obj)
        values = _values_of(cls)
        if values is None:
            return NotImplemented
        return _rebuild, (cls, values(obj))


def _service_of(vs: VirtualServer) -> tuple[Any, ...]:
    """What names a virtual server (a few small fields): hashing a whole one walks its real servers."""
    return vs.address, vs.port, vs.fwmark, vs.group, vs.protocol, vs.ip_family


class _DeltaPickler(_Pickler):
    """Pickles each virtual server equal to one of the base's as its index there.

    The base's are found by what names them, then compared: a dict of whole virtual servers would hash
    every real server of both configurations (0.2 s a reload at 37,298 of them)."""

    def __init__(self, file: io.BytesIO, base: Config) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._base = base.lvs.virtual_servers
        self._index: dict[tuple[Any, ...], int] = {}
        for i, vs in enumerate(self._base):
            self._index.setdefault(_service_of(vs), i)

    def persistent_id(self, obj: Any) -> int | None:
        if type(obj) is not VirtualServer:
            return None
        i = self._index.get(_service_of(obj))
        return i if i is not None and self._base[i] == obj else None


class _DeltaUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, base: Config | None) -> None:
        super().__init__(file)
        self._base = base.lvs.virtual_servers if base is not None else ()

    def persistent_load(self, pid: Any) -> VirtualServer:
        if type(pid) is not int or not 0 <= pid < len(self._base):
            raise pickle.UnpicklingError(f"no virtual server {pid!r} in the base configuration")
        return self._base[pid]


def encode(config: Config, base: Config | None = None) -> bytes:
    """``config`` pickled; with ``base`` (the configuration the receiver decoded last), its virtual servers
    equal to the base's as references to those."""
    buf = io.BytesIO()
    with gc_paused():
        (_Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL) if base is None else _DeltaPickler(buf, base)).dump(config)
    return buf.getvalue()


def decode(data: bytes, base: Config | None = None) -> Config:
    """What :func:`encode` made, against the same ``base``."""
    with gc_paused():
        # from our parent, over a socket only it and we hold
        config = _DeltaUnpickler(io.BytesIO(data), base).load()
    if not isinstance(config, Config):
        raise TypeError(f"expected a Config, got {type(config).__name__}")
    return config


def part_for(kind: str, config: Config) -> Config:
    """What child ``kind`` gets: the checker child the whole configuration (its virtual servers are the
    bulk; the few vrrp_instances cost it nothing), the VRRP and BFD children all but the virtual servers."""
    if kind == "checkers" or not config.lvs.virtual_servers:
        return config
    return dataclasses.replace(config, lvs=LvsConfig())


# -- the supervisor's end ----------------------------------------------------------------------------------

def data_memfd(name: str, data: bytes) -> int:
    """An anonymous file holding ``data``, positioned at its start."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def channel() -> tuple[socket.socket, socket.socket]:
    """(the supervisor's end, the child's end): the child's end is passed in ``pass_fds`` and closed here
    once the child started; the supervisor's never blocks."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    parent.setblocking(False)
    return parent, child


def send(sock: socket.socket, data: bytes, generation: int = 1, base: int = 0) -> None:
    """One configuration (``encode``'s bytes, against the configuration of generation ``base``; 0: none)
    to the child at the other end.  OSError: it cannot take it (gone, or so many queued that the socket
    is full)."""
    fd = data_memfd("pykeepalived-config", data)
    try:
        socket.send_fds(sock, [b"%s %d %d" % (_TAG, generation, base)], [fd])
    finally:
        os.close(fd)


def read_requests(sock: socket.socket) -> tuple[bool, bool]:
    """What the child at the other end sent: (it asked for a complete configuration, its end is closed)."""
    asked = False
    while True:
        try:
            msg = sock.recv(_MAX_MESSAGE)
        except (BlockingIOError, InterruptedError):
            return asked, False
        except OSError:
            return asked, True
        if not msg:
            return asked, True
        asked = asked or msg == FULL_REQUEST


# -- the child's end ---------------------------------------------------------------------------------------

def _load_fd(fd: int, base: Config | None = None) -> Config:
    """The configuration in a memfd (closed afterwards), pickled against ``base``."""
    with os.fdopen(fd, "rb") as f:
        return decode(f.read(), base)


def _header(msg: bytes) -> tuple[int, int] | None:
    """(generation, base) of a message's tag, None for anything else."""
    words = msg.split(b" ")
    if len(words) != 3 or words[0] != _TAG or not (words[1].isdigit() and words[2].isdigit()):
        return None
    return int(words[1]), int(words[2])


class ConfigFeed:
    """The child's end: :meth:`first` at start (blocking), then :meth:`follow` for every reload."""

    #: messages queued unread at most; past it the child drops them and asks for a complete configuration
    MAX_QUEUED = 16

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        #: (generation, base, memfd) of the messages not decoded yet, in order
        self._queue: collections.deque[tuple[int, int, int]] = collections.deque()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._apply: Callable[[Config], Awaitable[object] | object] | None = None
        #: the configuration decoded last and its generation: what the next message is pickled against
        self._base: Config | None = None
        self._base_generation = 0
        #: a complete configuration was asked for and has not come yet
        self._asked = False
        #: configurations applied since :meth:`follow` (for tests and the log)
        self.applied = 0

    @classmethod
    def inherited(cls) -> ConfigFeed | None:
        """The channel the supervisor gave this process, or None (run by hand: the file is read)."""
        value = os.environ.pop(CONFIG_FD_ENV, "")  # not passed on to the scripts the child runs
        if not value.isdigit():
            return None
        try:
            return cls(socket.socket(fileno=int(value)))
        except OSError as e:
            log.warning("The configuration channel from the parent is unusable (%s)", e)
            return None

    def _receive(self) -> tuple[int, int, int] | None:
        """(generation, base, memfd) of the next message (None: none queued); EOFError when the supervisor's
        end closed."""
        try:
            msg, fds, _flags, _addr = socket.recv_fds(self.sock, _MAX_MESSAGE, 4)
        except (BlockingIOError, InterruptedError):
            return None
        if not msg and not fds:
            raise EOFError
        header = _header(msg)
        if header is None or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            log.warning("Ignored a malformed message on the configuration channel")
            return None
        return (*header, fds[0])

    def first(self, timeout: float = 30.0) -> Config | None:
        """At start: the configuration the supervisor queued before starting us (None, logged, if there is
        none usable: the caller reads the file)."""
        self.sock.settimeout(timeout)
        try:
            got = self._receive()
            if got is None:
                raise EOFError
            generation, base, fd = got
            if base:
                os.close(fd)
                raise ValueError("the first configuration refers to another")
            config = _load_fd(fd)
            self._base, self._base_generation = config, generation
            return config
        except (OSError, EOFError, ValueError, pickle.UnpicklingError, AttributeError, ImportError,
                TypeError) as e:
            log.warning("The configuration handed over by the parent could not be read (%r); reading the file", e)
            return None
        finally:
            self.sock.setblocking(False)

    def follow(self, apply: Callable[[Config], Awaitable[object] | object]) -> None:
        """Call ``apply(config)`` for each configuration the supervisor sends from now on (one at a time;
        read and unpickled on a thread, so the event loop keeps its timers meanwhile)."""
        self._loop = asyncio.get_running_loop()
        self._apply = apply
        self.sock.setblocking(False)
        self._loop.add_reader(self.sock.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            while (got := self._receive()) is not None:
                self._queue.append(got)
                if len(self._queue) > self.MAX_QUEUED:
                    self._drop_queue()
                    self._ask_full("more configurations queued than this process keeps")
        except EOFError:
            assert self._loop is not None
            self._loop.remove_reader(self.sock.fileno())
            log.info("The parent closed the configuration channel")
        except OSError as e:
            log.warning("Reading the configuration channel failed: %s", e)
        if self._queue and (self._task is None or self._task.done()):
            assert self._loop is not None
            self._task = self._loop.create_task(self._run())

    def _drop_queue(self) -> None:
        while self._queue:
            os.close(self._queue.popleft()[2])

    def _ask_full(self, why: str) -> None:
        """Ask the supervisor for a complete configuration (once until one comes)."""
        if self._asked:
            return
        log.warning("Configuration from the parent not usable (%s): asking it for the whole configuration", why)
        try:
            self.sock.send(FULL_REQUEST)
            self._asked = True
        except OSError as e:
            log.warning("Asking the parent for the whole configuration failed: %s", e)

    async def _decode_queued(self) -> Config | None:
        """Decode every queued message in order, each against the one before; the newest (None: none usable)."""
        newest = None
        while self._queue:
            generation, base, fd = self._queue.popleft()
            if base and (self._base is None or base != self._base_generation):
                os.close(fd)
                self._ask_full(f"it refers to configuration {base}, this process has {self._base_generation}")
                continue
            try:
                config = await asyncio.to_thread(_load_fd, fd, self._base if base else None)
            except Exception as e:
                log.error("The configuration sent by the parent could not be read (%r): keeping the running one", e)
                self._ask_full("it could not be read")
                continue
            if not base:
                self._asked = False
            self._base, self._base_generation = config, generation
            newest = config
        return newest

    async def _run(self) -> None:
        assert self._apply is not None
        while self._queue:
            config = await self._decode_queued()
            if config is None:
                continue
            try:
                result = self._apply(config)
                if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:  # a reload must never take the running process down
                log.exception("Applying the new configuration failed; keeping what is running")
            self.applied += 1

    async def close(self) -> None:
        if self._loop is not None:
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(self.sock.fileno())
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._drop_queue()
        self.sock.close()
