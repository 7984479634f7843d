"""A thin ctypes binding to libnftables.

Why not ``nft -f -`` or pyroute2: a subprocess costs ~16 ms per transaction and pyroute2's
nftables support has no maps (both measured here).  libnftables runs commands
in-process, atomically per call, in the network namespace of the calling thread.

Rules are written in nft *text* syntax (nft 1.0.6's JSON input has bugs, including a crash on
concatenated map data); state is read back as JSON output.

:meth:`Nft.generation` reads the ruleset's generation id (``NFT_MSG_GETGEN`` on a netfilter netlink
socket of our own, a few microseconds): the kernel adds one on every committed transaction, whoever
made it, so a reader that remembers the id of its last full read knows whether anything changed since
without listing the ruleset (``nft list …`` of a 10,000-element table costs a few hundred ms).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import os
import socket
import struct
import threading
from typing import Any

_NFT_CTX_OUTPUT_HANDLE = 1 << 3
_NFT_CTX_OUTPUT_JSON = 1 << 4

# include/uapi/linux/netlink.h, netfilter/nfnetlink.h, netfilter/nf_tables.h
_NETLINK_NETFILTER = 12
_NLMSG_ERROR = 2
_NLM_F_REQUEST = 1
_NFNL_SUBSYS_NFTABLES = 10
_NFT_MSG_NEWGEN, _NFT_MSG_GETGEN = 15, 16
_NFTA_GEN_ID = 1
_NLMSG_HDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_NFGENMSG = struct.Struct("=BBH")  # family, version, res_id (big-endian, 0 here)


class NftError(RuntimeError):
    """A command batch was rejected; the message is nft's own error text."""


class NftUnavailable(RuntimeError):
    """libnftables is not installed on this machine."""


def _load() -> ctypes.CDLL:
    name = ctypes.util.find_library("nftables") or "libnftables.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise NftUnavailable(f"libnftables not found ({exc}); install Debian's libnftables1") from exc
    lib.nft_ctx_new.restype = ctypes.c_void_p
    lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
    lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
    lib.nft_ctx_output_get_flags.restype = ctypes.c_uint
    lib.nft_ctx_output_get_flags.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
    lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
    lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
    lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
    lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    return lib


class Nft:
    """One libnftables context. Not thread-safe: one per thread (calls are serialised here)."""

    def __init__(self) -> None:
        self._lib = _load()
        ctx = self._lib.nft_ctx_new(0)
        if not ctx:
            raise NftUnavailable("nft_ctx_new failed")
        self._ctx = ctypes.c_void_p(ctx)
        self._lib.nft_ctx_buffer_output(self._ctx)
        self._lib.nft_ctx_buffer_error(self._ctx)
        self._lock = threading.Lock()
        #: the generation socket, opened here so that it lives in the same network namespace as
        #: libnftables' own (the creating thread's)
        self._gen_sock: socket.socket | None = _open_netfilter_socket()
        self._seq = 0

    def close(self) -> None:
        if self._ctx:
            self._lib.nft_ctx_free(self._ctx)
            self._ctx = ctypes.c_void_p(0)
        if self._gen_sock is not None:
            self._gen_sock.close()
            self._gen_sock = None

    def generation(self) -> int | None:
        """The ruleset's generation id (``NFT_MSG_GETGEN``): it moves on every committed transaction,
        ours or anyone's.  None when it cannot be read (no netlink socket): callers then read in full."""
        with self._lock:
            sock = self._gen_sock
            if sock is None:
                return None
            self._seq = (self._seq + 1) & 0xFFFFFFFF
            body = _NFGENMSG.pack(socket.AF_UNSPEC, 0, 0)
            msg_type = (_NFNL_SUBSYS_NFTABLES << 8) | _NFT_MSG_GETGEN
            try:
                sock.send(_NLMSG_HDR.pack(_NLMSG_HDR.size + len(body), msg_type, _NLM_F_REQUEST, self._seq, 0)
                          + body)
                while True:
                    data = sock.recv(8192)
                    gen = _parse_generation(data, self._seq)
                    if gen is not None:
                        return gen
            except OSError:
                return None

    def __enter__(self) -> Nft:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, commands: str, *, json_output: bool = False) -> str:
        """Run a batch of nft text commands as one transaction; return the output text."""
        flags = (_NFT_CTX_OUTPUT_JSON | _NFT_CTX_OUTPUT_HANDLE) if json_output else 0
        with self._lock:
            self._lib.nft_ctx_output_set_flags(self._ctx, flags)
            rc = self._lib.nft_run_cmd_from_buffer(self._ctx, commands.encode())
            out = self._lib.nft_ctx_get_output_buffer(self._ctx) or b""
            err = self._lib.nft_ctx_get_error_buffer(self._ctx) or b""
        if rc != 0:
            raise NftError(err.decode(errors="replace").strip() or f"nft failed (rc={rc})")
        return out.decode(errors="replace")

    def json(self, command: str) -> list[dict[str, Any]]:
        """Run a list command and return the ``nftables`` array of its JSON output."""
        text = self.run(command, json_output=True)
        if not text.strip():
            return []
        data = json.loads(text)
        return list(data.get("nftables", []))


def _open_netfilter_socket() -> socket.socket | None:
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, _NETLINK_NETFILTER)
    except OSError:
        return None
    sock.settimeout(2.0)  # the kernel answers at once; never hang a reconcile on it
    return sock


def _parse_generation(data: bytes, seq: int) -> int | None:
    """The NFTA_GEN_ID of the NEWGEN reply to request ``seq`` in ``data``; None if it is not there
    (a stale reply); raises OSError for the kernel's error reply."""
    off = 0
    while off + _NLMSG_HDR.size <= len(data):
        length, msg_type, _flags, mseq, _pid = _NLMSG_HDR.unpack_from(data, off)
        if length < _NLMSG_HDR.size:
            break
        if mseq == seq:
            if msg_type == _NLMSG_ERROR:
                (code,) = struct.unpack_from("=i", data, off + _NLMSG_HDR.size)
                if code:
                    raise OSError(-code, os.strerror(-code))
            elif msg_type == (_NFNL_SUBSYS_NFTABLES << 8) | _NFT_MSG_NEWGEN:
                pos = off + _NLMSG_HDR.size + _NFGENMSG.size
                end = off + length
                while pos + 4 <= end:
                    alen, atype = struct.unpack_from("=HH", data, pos)
                    if alen < 4:
                        break
                    if atype & 0x3FFF == _NFTA_GEN_ID:
                        return int(struct.unpack_from("!I", data, pos + 4)[0])
                    pos += (alen + 3) & ~3
                raise OSError(errno.EPROTO, "NEWGEN reply without a generation id")
        off += (length + 3) & ~3
    return None
