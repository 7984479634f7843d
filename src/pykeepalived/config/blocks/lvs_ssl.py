"""The root ``SSL`` block: the client context SSL_GET checkers use."""

from __future__ import annotations

from ..lines import LogicalLine
from ..model_lvs import (
    SslConfig,
)
from ..parser import Block, Context, Draft

SSL = Block("SSL")


@SSL.keyword("password", "ca", "certificate", "key")
def _ssl_file(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    kind = {"password": "password", "ca": "cafile", "certificate": "certfile", "key": "keyfile"}[line.keyword]
    w = ctx.opt(line, 1)
    if w is None:
        ctx.error(line, f"SSL {kind} missing")
        return
    if draft.get(line.keyword) is not None:
        ctx.error(line, f"SSL {kind} already specified - replacing")
    draft[line.keyword] = w.text


def _ssl_end(ctx: Context, draft: Draft, parent: Draft) -> None:
    if parent.get("lvs_ssl") is not None:
        ctx.error(draft["_loc"], "SSL context already specified - replacing")
    parent["lvs_ssl"] = SslConfig(
        draft.get("password"), draft.get("ca"), draft.get("certificate"), draft.get("key")
    )


SSL.end = _ssl_end


def register(root: Block) -> None:
    root.sub("SSL", SSL)
