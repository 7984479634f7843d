"""``--dataplane auto|ipvs|nftables|proxy``: pick the data plane this machine can run, and say why.

Operators must be able to tell from one log line which data plane is running and why it was chosen
(a missing ip_vs module silently turning into nftables would be a surprise otherwise).  ``auto``
prefers IPVS (what keepalived uses: every scheduler and DR/TUN), then nftables (NAT through kernel
DNAT).  Only data planes that exist are offered.  ``proxy`` (the userspace forwarder, which needs no
root) runs only when named: ``auto`` never turns a root daemon whose kernel data planes failed into
a userspace proxy without being asked.
"""

from __future__ import annotations

import logging
from typing import Literal

from .contract import DataPlane

__all__ = ["NAMES", "DataPlane", "DataPlaneName", "DataPlaneUnavailable", "choose_dataplane"]

log = logging.getLogger(__name__)

DataPlaneName = Literal["auto", "ipvs", "nftables", "proxy"]
NAMES: tuple[str, ...] = ("auto", "ipvs", "nftables", "proxy")


class DataPlaneUnavailable(RuntimeError):
    """The requested data plane (or, for ``auto``, every one) cannot run here; the message says why."""


def _ipvs() -> tuple[DataPlane | None, str]:
    from . import ipvs

    avail = ipvs.available()
    if not avail:
        return None, avail.reason
    return ipvs.IpvsDataPlane(scoped=True), avail.reason


def _nftables() -> tuple[DataPlane | None, str]:
    from .libnft import Nft, NftUnavailable
    from .nftables import NftablesDataPlane

    try:
        nft = Nft()
    except NftUnavailable as e:
        return None, str(e)
    except OSError as e:  # e.g. no netlink permission
        return None, f"libnftables failed to start: {e}"
    return NftablesDataPlane(nft), "libnftables is present"


def _proxy() -> tuple[DataPlane | None, str]:
    from .proxy import ProxyDataPlane

    dp = ProxyDataPlane()
    return dp, f"userspace proxy, {dp.want_workers} worker(s), runtime directory {dp.dir}"


_PROBES = {"ipvs": _ipvs, "nftables": _nftables, "proxy": _proxy}
#: what ``auto`` tries, in order (never the proxy)
_AUTO = ("ipvs", "nftables")


def choose_dataplane(name: str = "auto") -> tuple[DataPlane, str]:
    """The data plane instance for ``--dataplane NAME`` and the reason it was chosen (also logged).

    Raises :class:`DataPlaneUnavailable` when ``NAME`` (or, for ``auto``, every candidate) cannot run.
    """
    if name not in NAMES:
        raise ValueError(f"unknown data plane {name!r} (expected one of: {', '.join(NAMES)})")
    if name != "auto":
        dp, why = _PROBES[name]()
        if dp is None:
            raise DataPlaneUnavailable(f"data plane {name} is unavailable: {why}")
        reason = f"data plane {name} (requested; {why})"
        log.info("%s", reason)
        return dp, reason
    refused: list[str] = []
    for candidate in _AUTO:
        dp, why = _PROBES[candidate]()
        if dp is not None:
            reason = f"data plane {candidate} (auto: {'; '.join([*refused, why])})"
            log.info("%s", reason)
            return dp, reason
        refused.append(f"{candidate} unavailable: {why}")
    raise DataPlaneUnavailable("no data plane can run here: " + "; ".join(refused))
