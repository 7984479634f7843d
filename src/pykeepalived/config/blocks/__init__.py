"""The keyword tables of keepalived.conf, one module per kind of block.

Each module describes its blocks with :class:`~..parser.Block` tables and handlers that store
what was written in a draft (keepalived's parse-time checks included); ``register`` installs
them on the root block.  What needs the whole configuration runs after parsing, in
:mod:`..validate`.
"""

from __future__ import annotations

from ..parser import Block
from . import (
    addresses,
    bgp_announce,
    global_defs,
    interfaces,
    lvs_ssl,
    trackers,
    virtual_server,
    virtual_server_group,
    vrrp_instance,
    vrrp_sync_group,
)


def register(root: Block) -> None:
    """Install every root-level keyword and block."""
    global_defs.register(root)
    trackers.register_scripts(root)
    vrrp_sync_group.register(root)
    interfaces.register(root)
    addresses.register(root)
    trackers.register_bfd(root)
    vrrp_instance.register(root)
    lvs_ssl.register(root)
    virtual_server_group.register(root)
    virtual_server.register(root)
    bgp_announce.register(root)
