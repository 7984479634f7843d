"""``bgp_announce { … }`` (a pykeepalived extension; keepalived reports it as an unknown keyword and skips it).

::

    bgp_announce {
        device pka0            # the tun device the announced host routes point at
        prefix 10.0.0.5        # repeatable; none: every IP virtual server's address
        proto 252              # kernel route protocol of those routes
        withdraw_delay 1       # seconds between withdrawal and the data plane's release at stop
    }
"""

from __future__ import annotations

import ipaddress

from ..lines import LogicalLine
from ..model_announce import DEFAULT_DEVICE, DEFAULT_PROTO, AnnounceConfig
from ..parser import Block, Context, Draft

BGP_ANNOUNCE = Block("bgp_announce")


def _begin(ctx: Context, line: LogicalLine, parent: Draft) -> Draft:
    if parent.get("bgp_announce") is not None:
        ctx.error(line, "bgp_announce already specified - replacing")
    return {"_loc": line.loc}


BGP_ANNOUNCE.begin = _begin


@BGP_ANNOUNCE.keyword("device")
def _device(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    name = ctx.string(line)
    if not name or len(name) > 15 or "/" in name or name in (".", ".."):
        ctx.error(line, f"bgp_announce device '{name}' is not a valid interface name")
        return
    draft["device"] = name


@BGP_ANNOUNCE.keyword("prefix")
def _prefix(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    text = ctx.string(line)
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError:
        ctx.error(line, f"bgp_announce prefix '{text}' is not an address or a network")
        return
    draft.setdefault("prefixes", []).append(net)


@BGP_ANNOUNCE.keyword("proto")
def _proto(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["proto"] = ctx.integer(line, 1, 1, 255)


@BGP_ANNOUNCE.keyword("withdraw_delay")
def _delay(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["withdraw_delay"] = ctx.timer(line, 1, 0.0, 60.0)


def _end(ctx: Context, draft: Draft, parent: Draft) -> None:
    parent["bgp_announce"] = AnnounceConfig(
        device=draft.get("device", DEFAULT_DEVICE),
        prefixes=tuple(dict.fromkeys(draft.get("prefixes", ()))),
        proto=draft.get("proto", DEFAULT_PROTO),
        withdraw_delay=draft.get("withdraw_delay", 0.0),
        loc=draft.get("_loc"),
    )


BGP_ANNOUNCE.end = _end


def register(root: Block) -> None:
    root.sub("bgp_announce", BGP_ANNOUNCE)
