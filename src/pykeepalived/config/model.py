"""The immutable configuration model: what the daemon will run, not just what the file says.

Section models live beside this file (``model_global``, ``model_vrrp``, ``model_lvs``, and
``model_script`` for :class:`Script`, which all sections share); this module holds the top-level
:class:`Config` and re-exports :class:`Script`.
Every model class is a frozen, slotted dataclass; :func:`to_jsonable` turns any of them into
plain JSON data with a stable key order (field order), for ``pykeepalived config show``.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .lines import Location
from .model_script import Script

__all__ = ["Config", "Script", "to_jsonable"]

if TYPE_CHECKING:
    from .model_announce import AnnounceConfig
    from .model_global import GlobalDefs
    from .model_lvs import LvsConfig
    from .model_vrrp import VrrpConfig


@dataclass(frozen=True, slots=True)
class Config:
    """The whole effective configuration."""

    global_defs: GlobalDefs
    vrrp: VrrpConfig
    lvs: LvsConfig
    #: the main file, and every file that was read (main first)
    files: tuple[str, ...] = ()
    config_id: str | None = None
    #: ``bgp_announce`` (an extension): announce virtual-server addresses while they can be served
    announce: AnnounceConfig | None = None


#: types ``to_jsonable`` returns unchanged (exact types: enums and other subclasses are not)
_ATOMIC = frozenset({str, int, float, bool, type(None)})
#: dataclass -> the field names ``to_jsonable`` emits, in order
_JSON_FIELDS: dict[type, tuple[str, ...]] = {}


def to_jsonable(obj: Any) -> Any:
    """Plain JSON data for a model object (dataclasses, enums, addresses, tuples …).

    Keys keep dataclass field order; ``loc`` fields and ``_``-prefixed fields are left out so
    two configs that mean the same thing produce the same JSON.
    """
    cls = type(obj)
    if cls in _ATOMIC:
        return obj
    names = _JSON_FIELDS.get(cls)
    if names is None and dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        names = _JSON_FIELDS[cls] = tuple(
            f.name for f in dataclasses.fields(obj) if f.name != "loc" and not f.name.startswith("_")
        )
    if names is not None:
        return {name: to_jsonable(getattr(obj, name)) for name in names}
    if isinstance(obj, enum.Enum):
        return obj.value if isinstance(obj.value, str | int) else obj.name
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, tuple | list | frozenset | set):
        items = [to_jsonable(v) for v in obj]
        if isinstance(obj, frozenset | set):
            items.sort(key=repr)
        return items
    if isinstance(obj, ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Network
                  | ipaddress.IPv6Network | ipaddress.IPv4Interface | ipaddress.IPv6Interface):
        return str(obj)
    if isinstance(obj, Location):
        return str(obj)
    return obj
