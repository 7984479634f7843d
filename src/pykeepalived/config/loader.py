"""``load_config``: file -> logical lines -> keyword tables -> validated model.

The block modules (:mod:`.blocks`) register their keywords on the root block; after parsing,
each section's ``finish`` (:mod:`.validate`) turns its part of the root draft into a model and
validates it (keepalived's ``init_global_data`` / ``vrrp_complete_init`` /
``validate_check_config``).  Cross-section checks (script security) run last, on the finished
model.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..gcpause import gc_paused
from . import blocks
from .block_cache import BlockCache, StaleReuse
from .errors import Diagnostics, ErrClass
from .lines import LogicalLine
from .model import Config
from .parser import Block, Context, parse_lines
from .preprocess import IncludeCheck, read_config_text, streamed_config
from .validate import global_defs as validate_global_defs
from .validate import lvs as validate_lvs
from .validate import scripts as validate_scripts
from .validate import vrrp as validate_vrrp


@dataclass
class LoadResult:
    config: Config | None
    diagnostics: Diagnostics = field(default_factory=Diagnostics)


def default_config_id() -> str:
    """keepalived's default config id: the host name up to its first dot."""
    return socket.gethostname().split(".")[0]


def system_interfaces() -> frozenset[str]:
    """Interface names of this process's network namespace (asked of the kernel: /sys/class/net shows the
    namespace sysfs was mounted in, which is not this one after ``-s``/``net_namespace``)."""
    try:
        return frozenset(name for _, name in socket.if_nameindex())
    except OSError:
        return frozenset()


def root_block() -> Block:
    root = Block("root")
    blocks.register(root)
    return root


@functools.cache
def _shared_root() -> Block:
    """The keyword tables, built once: parsing only reads them."""
    return root_block()


@functools.cache
def _reusable() -> frozenset[str]:
    """The top-level keywords whose blocks a reload may take from the block cache."""
    return frozenset(name for name, spec in _shared_root().keywords.items()
                     if spec.block is not None and spec.block.reuse is not None)


def build(lines: Iterable[LogicalLine], diags: Diagnostics, *, config_id: str | None,
          interfaces: frozenset[str] | None, files: tuple[str, ...] = (),
          block_cache: BlockCache | None = None) -> Config:
    ctx = Context(diags=diags, config_id=config_id, interfaces=interfaces, block_cache=block_cache)
    draft: dict = {}
    parse_lines(lines, _shared_root(), ctx, draft)
    global_defs = validate_global_defs.finish(ctx, draft)
    vrrp = validate_vrrp.finish(ctx, draft, global_defs)
    lvs = validate_lvs.finish(ctx, draft, global_defs)
    config = Config(global_defs=global_defs, vrrp=vrrp, lvs=lvs, files=files, config_id=config_id,
                    announce=draft.get("bgp_announce"))
    validate_scripts.check_scripts(ctx, config)
    return config


def load_config(path: str | os.PathLike[str], *, config_id: str | None = None,
                interfaces: frozenset[str] | set[str] | None = None, all_config: bool = False,
                block_cache: BlockCache | None = None) -> LoadResult:
    """Read, parse and validate ``path``. Never raises on bad input: problems are diagnostics.

    ``all_config`` is ``-e``: every include must exist and match (keepalived's ``include_check``).
    ``block_cache`` (the daemon's, kept from load to load) lets a reload take the blocks it did not change
    as the last load built them (:mod:`.block_cache`)."""
    return _through(block_cache, lambda: _load_config(path, config_id, interfaces, all_config, block_cache))


def _through(block_cache: BlockCache | None, load: Callable[[], LoadResult]) -> LoadResult:
    """``load()`` with ``block_cache`` (if any) started before and finished after it."""
    if block_cache is None:
        return load()
    block_cache.start()
    try:
        result = load()
    except StaleReuse:  # what the reused blocks were validated with has changed: a fresh load
        block_cache.forget()
        result = load()
    block_cache.finish()
    return result


def _load_config(path: str | os.PathLike[str], config_id: str | None,
                 interfaces: frozenset[str] | set[str] | None, all_config: bool,
                 block_cache: BlockCache | None) -> LoadResult:
    diags, parse_diags = Diagnostics(), Diagnostics()
    cid = config_id if config_id is not None else default_config_id()
    ifaces = frozenset(interfaces) if interfaces is not None else system_interfaces()
    # the parser takes the lines as they are read (a large file's lines never all exist at once); the
    # reader's problems are listed before the parser's all the same.  The garbage collector stays paused for
    # the whole load (streamed_config's pause covers the body): only acyclic objects are made
    with streamed_config(path, diags, config_id=cid,
                         include_check=IncludeCheck.all() if all_config else IncludeCheck.NONE,
                         block_cache=block_cache, reusable=_reusable()) as lines:
        config = build(lines, parse_diags, config_id=cid, interfaces=ifaces, files=(str(Path(path)),),
                       block_cache=block_cache)
    diags.extend(parse_diags)
    return LoadResult(config, diags)


NETNS_DIR = "/var/run/netns"


def load_for_config_test(path: str | os.PathLike[str], *, config_id: str | None = None,
                         interfaces: frozenset[str] | set[str] | None = None, namespace: str | None = None,
                         all_config: bool = False) -> LoadResult:
    """:func:`load_config` as ``keepalived -t`` sees it.  keepalived's parent reads the config, then
    enters the network namespace (``-s`` ``namespace``, else the config's ``net_namespace``) before
    validating in it.  When it cannot enter it, it stops ("Unable to set network namespace X -
    exiting") and ``-t`` exits 0.  Interfaces are those of that namespace unless given."""
    result = load_config(path, config_id=config_id, interfaces=interfaces, all_config=all_config)
    if namespace is None and result.config is not None:
        namespace = result.config.global_defs.net_namespace
    if not namespace:
        return result
    ifaces = namespace_interfaces(namespace)
    if ifaces is None:
        result.diagnostics.add(None, ErrClass.OK, f"Unable to set network namespace {namespace} - exiting "
                                                  "(keepalived validates no further)", info=True)
        result.diagnostics.stopped = True
        return result
    if interfaces is not None:
        return result
    return load_config(path, config_id=config_id, interfaces=ifaces, all_config=all_config)


def namespace_interfaces(name: str) -> frozenset[str] | None:
    """Interface names in the network namespace ``name`` (``/var/run/netns/NAME``), read by a thread that
    enters it (``setns`` changes only the calling thread); None when it cannot be entered."""
    import ctypes
    import threading

    found: list[frozenset[str]] = []

    def read() -> None:
        try:
            fd = os.open(os.path.join(NETNS_DIR, name), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return
        try:
            if ctypes.CDLL(None, use_errno=True).setns(fd, _CLONE_NEWNET) != 0:
                return
        finally:
            os.close(fd)
        found.append(system_interfaces())

    if "/" in name or not os.path.exists(os.path.join(NETNS_DIR, name)):
        return None
    reader = threading.Thread(target=read, name="netns-interfaces", daemon=True)
    reader.start()
    reader.join()
    return found[0] if found else None


_CLONE_NEWNET = 0x40000000


def load_config_text(text: str, *, name: str = "<string>", config_id: str | None = None,
                     interfaces: frozenset[str] | set[str] | None = None,
                     base_dir: str | None = None, block_cache: BlockCache | None = None) -> LoadResult:
    """Like :func:`load_config` for a config held in a string (tests, generated configs)."""
    cid = config_id if config_id is not None else default_config_id()
    ifaces = frozenset(interfaces) if interfaces is not None else None

    def load() -> LoadResult:
        diags = Diagnostics()
        with gc_paused():
            lines = read_config_text(text, diags, name=name, config_id=cid, base_dir=base_dir,
                                     block_cache=block_cache, reusable=_reusable())
            config = build(lines, diags, config_id=cid, interfaces=ifaces, block_cache=block_cache)
        return LoadResult(config, diags)

    return _through(block_cache, load)
