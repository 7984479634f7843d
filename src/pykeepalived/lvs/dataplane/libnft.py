"""A thin ctypes binding to libnftables.

Why not ``nft -f -`` or pyroute2: a subprocess costs ~16 ms per transaction and pyroute2's
nftables support has no maps (both measured here).  libnftables runs commands
in-process, atomically per call, in the network namespace of the calling thread.

Rules are written in nft *text* syntax (nft 1.0.6's JSON input has bugs, including a crash on
concatenated map data); state is read back as JSON output.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import threading
from typing import Any

_NFT_CTX_OUTPUT_HANDLE = 1 << 3
_NFT_CTX_OUTPUT_JSON = 1 << 4


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

    def close(self) -> None:
        if self._ctx:
            self._lib.nft_ctx_free(self._ctx)
            self._ctx = ctypes.c_void_p(0)

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
