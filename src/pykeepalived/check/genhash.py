"""``genhash``: MD5 digest of a web page, with keepalived 2.2.7's options, texts and exit codes.

Scripts parse genhash's output and operators compare it with the ``digest`` lines of their configs, so
everything observable is kept: the getopt_long parsing (argument permutation, abbreviated long options,
keepalived's own error texts), the usage text on stderr with exit 1, exit 0 for every network outcome,
the one-line failure messages, and the verbose dumps (``dump_buffer`` format, banners, per-read body
dumps) byte for byte, except the response time.

The page is never held: each read is dumped (``-v``) and digested as it arrives, so an endless page
costs no memory, and the run ends by the GET's overall deadline (``-t`` x the GET's steps, see
:mod:`.http`) where keepalived's genhash would read for ever.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import ssl
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

from pykeepalived.check.http import (
    GENHASH_DEFAULT_TIMEOUT,
    ErrorKind,
    HttpProtocol,
    ReadStep,
    build_request,
    client_ssl_context,
    host_header,
    http_get,
)
from pykeepalived.getopt import GetoptLong

# --------------------------------------------------------------------------------------------------------
# Output formats (lib/utils.c dump_buffer, check_http.c banners)

_DELIM_BEGIN = b"-----------------------["
_DELIM_END = b"]-----------------------\n"
HTTP_HEADER_HEXA = _DELIM_BEGIN + b"    HTTP Header Buffer    " + _DELIM_END
HTTP_HEADER_ASCII = _DELIM_BEGIN + b" HTTP Header Ascii Buffer " + _DELIM_END
HTML_HEADER_HEXA = _DELIM_BEGIN + b"        HTML Buffer        " + _DELIM_END
HTML_HASH = _DELIM_BEGIN + b"    HTML hash resulting    " + _DELIM_END
HTML_HASH_FINAL = _DELIM_BEGIN + b" HTML hash final resulting " + _DELIM_END

_PRINTABLE = bytes(b if 0x20 <= b <= 0x7E else 0x2E for b in range(256))


def dump_buffer(buf: bytes) -> bytes:
    """keepalived's hex dump: decimal offset, 16 bytes a row, ``-`` after 8, ASCII column, padded last row."""
    out = bytearray()
    for row in range(0, len(buf), 16):
        chunk = buf[row : row + 16]
        line = [f"{row & 0xFFFF:04d} "]
        for j in range(16):
            line.append(f" {chunk[j]:02x}" if j < len(chunk) else "   ")
            if j == 7:
                line.append(" -")
        line.append("   ")
        out += "".join(line).encode()
        out += chunk.translate(_PRINTABLE).ljust(16) + b"\n"
    return bytes(out)


# --------------------------------------------------------------------------------------------------------
# Command line: glibc getopt_long as genhash calls it (optstring ":hvSs:V:p:u:m:P:t:I")

SHORTOPTS = ":hvSs:V:p:u:m:P:t:I"
#: (name, takes an argument, value) in keepalived's order
LONGOPTS: tuple[tuple[str, int, str], ...] = (
    ("help", False, "h"),
    ("verbose", False, "v"),
    ("use-ssl", False, "S"),
    ("use-sni", False, "I"),
    ("server", True, "s"),
    ("use-virtualhost", True, "V"),
    ("port", True, "p"),
    ("url", True, "u"),
    ("fwmark", True, "m"),
    ("protocol", True, "P"),
    ("timeout", True, "t"),
)

USAGE_OPTIONS = (
    "Options:\n"
    "Either long or short options are allowed.\n"
    "   --use-ssl         -S       Use SSL connection to remote server.\n"
    "   --use-sni         -I       Use SNI during SSL handshake (uses virtualhost setting; see -V).\n"
    "   --server          -s       Use the specified remote server address.\n"
    "   --port            -p       Use the specified remote server port.\n"
    "   --url             -u       Use the specified remote server url.\n"
    "   --use-virtualhost -V       Use the specified virtualhost in GET query.\n"
    "   --verbose         -v       Use verbose mode output.\n"
    "   --help            -h       Display this short inlined help screen.\n"
    "   --fwmark          -m       Use the specified FW mark.\n"
    "   --protocol        -P       Use the specified HTTP protocol - '1.0', 1.0c', '1.1'.\n"
    "                                1.0c means 1.0 with 'Connection: close'\n"
    "   --timeout         -t       Timeout in seconds\n"
)


def usage(prog: str) -> str:
    return (
        f"Usage: {prog} COMMAND [OPTIONS]\n"
        "Commands:\n"
        "   -s server-address -p port -u url\n"
        "   -S -s server-address -p port -u url\n"
        "   -h\n\n" + USAGE_OPTIONS
    )


@dataclass
class GenhashOptions:
    server: str = ""
    port: int = 0
    url: str | None = None
    use_ssl: bool = False
    use_sni: bool = False
    virtualhost: str | None = None
    verbose: bool = False
    fwmark: int = 0
    protocol: HttpProtocol = "1.0"
    #: seconds (keepalived keeps microseconds in an unsigned int, so -t wraps like it does)
    timeout: float = GENHASH_DEFAULT_TIMEOUT


def _c_strtoul(text: str) -> tuple[int, str]:
    """C strtoul(text, &end, 10) on a command-line string: (value as unsigned long, rest)."""
    i = 0
    while i < len(text) and text[i] in " \t\n\v\f\r":
        i += 1
    neg = i < len(text) and text[i] == "-"
    if i < len(text) and text[i] in "+-":
        i += 1
    j = i
    while j < len(text) and "0" <= text[j] <= "9":
        j += 1
    if j == i:
        return 0, text
    value = min(int(text[i:j]), (1 << 64) - 1)
    if neg:
        value = (-value) & ((1 << 64) - 1)
    return value, text[j:]


def _c_strtol(text: str) -> tuple[int, str]:
    """C strtol(text, &end, 10): (value, rest); saturates like glibc."""
    stripped = text.lstrip(" \t\n\v\f\r")
    sign = -1 if stripped[:1] == "-" else 1
    body = stripped[1:] if stripped[:1] in ("+", "-") else stripped
    j = 0
    while j < len(body) and "0" <= body[j] <= "9":
        j += 1
    if j == 0:
        return 0, text
    value = sign * int(body[:j])
    value = max(min(value, (1 << 63) - 1), -(1 << 63))
    return value, body[j:]


def _valid_ip(text: str) -> str | None:
    """keepalived's inet_stosockaddr: ':' means IPv6; a '-range' or '/mask' suffix is ignored."""
    family = socket.AF_INET6 if ":" in text else socket.AF_INET
    for sep in ("-", "/"):
        if sep in text:
            text = text[: text.index(sep)]
            break
    try:
        return socket.inet_ntop(family, socket.inet_pton(family, text))
    except (OSError, ValueError):
        return None


def parse_command_line(argv: Sequence[str], err: list[str]) -> GenhashOptions | None:
    """genhash's ``check_genhash_parse_cmdline``: None means print usage and exit 1 (messages in ``err``)."""
    args = list(argv)
    if len(args) <= 2:
        return None
    opts = GenhashOptions()
    got = set()
    bad = False
    g = GetoptLong(args, SHORTOPTS, LONGOPTS)
    while (o := g.next()) is not None:
        arg = o.optarg or ""
        c = o.c
        if c == "h":
            bad = True
        elif c == "v":
            opts.verbose = True
        elif c == "S":
            opts.use_ssl = True
            got.add("S")
        elif c == "I":
            opts.use_sni = True
        elif c == "s":
            ip = _valid_ip(arg)
            if ip is None:
                err.append(f"server should be an IP, not {arg}\n")
                return None
            opts.server = ip
            got.add("s")
        elif c == "V":
            opts.virtualhost = arg
        elif c == "p":
            port, rest = _c_strtol(arg)
            if rest or port <= 0 or port > 65535:
                err.append(f"invalid port number '{arg}'\n")
                return None
            opts.port = port
            got.add("p")
        elif c == "u":
            opts.url = arg
            got.add("u")
        elif c == "m":
            start = arg.lstrip(" \t")
            mark, rest = _c_strtoul(start)
            if rest or start[:1] in ("-", " "):
                err.append(f"invalid fwmark '{arg}'\n")
                return None
            opts.fwmark = mark & 0xFFFFFFFF
        elif c == "P":
            if arg == "1.0":
                opts.protocol = "1.0"
            elif arg in ("1.0c", "1.0C"):
                opts.protocol = "1.0C"
            elif arg == "1.1":
                opts.protocol = "1.1"
            else:
                err.append(f"invalid HTTP protocol version '{arg}'\n")
                return None
        elif c == "t":
            start = arg.lstrip(" \t")
            secs, rest = _c_strtoul(start)
            if rest or start[:1] == "-" or not start:
                err.append(f"invalid timeout '{arg}'\n")
                return None
            # unsigned connection_to = (unsigned)secs * TIMER_HZ, wrapping at 32 bits
            opts.timeout = (((secs & 0xFFFFFFFF) * 1_000_000) & 0xFFFFFFFF) / 1_000_000
        elif c in ("?", ":"):
            here = g.argv[o.curind]
            long_form = here[1:2] == "-"
            if c == "?":
                if o.optopt and not long_form:
                    err.append(f"Unknown option -{o.optopt}\n")
                else:
                    err.append(f"Unknown option {here}\n")
            elif o.optopt and not long_form:
                err.append(f"Missing parameter for option -{o.optopt}\n")
            else:
                # genhash indexes its option table with getopt's longindex, which glibc leaves at -1 here
                name = LONGOPTS[o.longindex][0] if o.longindex >= 0 else ""
                err.append(f"Missing parameter for option --{name}\n")
            bad = True
    if bad:
        return None
    if g.optind < len(args):
        err.append("Unexpected argument(s):" + "".join(f" {a}" for a in args[g.optind :]) + "\n")
        return None
    if not {"s", "p", "u"} <= got:
        return None
    return opts


# --------------------------------------------------------------------------------------------------------
# Running


class _VerboseDumper:
    """Prints each read as keepalived's http_process_response does in genhash verbose mode."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out

    def __call__(self, step: ReadStep) -> None:
        w = self.out.write
        if not step.was_extracted:
            w(HTTP_HEADER_HEXA)
        if step.header is not None:
            w(dump_buffer(step.header))
            w(HTTP_HEADER_ASCII)
            nul = step.header.find(b"\0")  # printed with %.*s
            w((step.header if nul < 0 else step.header[:nul]) + b"\n")
            if step.digested:
                w(HTML_HEADER_HEXA)
                w(dump_buffer(step.digested))
        elif step.was_extracted and step.digested:
            w(dump_buffer(step.digested))


async def fetch(opts: GenhashOptions, out: BinaryIO, err: BinaryIO) -> None:
    """One genhash run after option parsing: the GET and what genhash prints about it."""
    assert opts.url is not None
    request = build_request(opts.url, host_header(opts.virtualhost, opts.server, opts.port), opts.protocol)
    ctx: ssl.SSLContext | None = client_ssl_context() if opts.use_ssl else None
    sni = opts.virtualhost if (opts.use_ssl and opts.use_sni and opts.virtualhost) else None
    result = await http_get(
        opts.server, opts.port, request,
        timeout=opts.timeout, ssl_context=ctx, server_hostname=sni,
        fwmark=opts.fwmark or None, on_chunk=_VerboseDumper(out) if opts.verbose else None, keep=False,
        delayed_ack=False,  # ACKs as keepalived's genhash sends them, so a server's writes arrive as they do
    )
    if opts.verbose and result.eof_clean:
        digest = bytes.fromhex(result.parsed.md5)
        out.write(b"\n" + HTML_HASH + dump_buffer(digest) + HTML_HASH_FINAL)
    if result.error is ErrorKind.NO_DATA:
        out.flush()
        err.write(b"no data received from remote webserver\n")
        err.flush()
    elif result.error is not None:
        out.write(result.error.message.encode() + b"\n")
    else:
        out.write(result.parsed.md5.encode() + b"\n")


def run_argv(argv: Sequence[str], prog: str, out: BinaryIO | None = None, err: BinaryIO | None = None) -> int:
    """genhash with a full argv (argv[0] included); ``prog`` is what the usage line names."""
    out = out if out is not None else sys.stdout.buffer
    err = err if err is not None else sys.stderr.buffer
    messages: list[str] = []
    opts = parse_command_line(argv, messages)
    if opts is None:
        sys.stdout.flush()
        err.write("".join(messages).encode("utf-8", "surrogateescape"))
        err.write(usage(prog).encode("utf-8", "surrogateescape"))
        err.flush()
        return 1
    start = time.monotonic()
    try:
        asyncio.run(fetch(opts, out, err))
    except KeyboardInterrupt:  # keepalived's SIGINT handler just ends the run
        pass
    if opts.verbose:
        usecs = int((time.monotonic() - start) * 1_000_000)
        line = f"\nGlobal response time for [{opts.url}] = {usecs} usecs\n"
        out.write(line.encode("utf-8", "surrogateescape"))
    out.flush()
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Hook for ``pykeepalived genhash``: genhash parses its own argv the getopt way, so argparse must not.

    argparse would print its own usage and errors (and take ``-h``); instead ``parse_args`` is replaced on
    this parser to hand the raw arguments to :func:`run`.
    """
    prog = parser.prog

    def parse_args(args: Sequence[str] | None = None,
                   namespace: argparse.Namespace | None = None) -> argparse.Namespace:
        ns = namespace if namespace is not None else argparse.Namespace()
        ns.genhash_argv = [prog, *(sys.argv[1:] if args is None else args)]
        ns.genhash_prog = prog
        return ns

    parser.parse_args = parse_args  # type: ignore[method-assign,assignment]


def run(args: argparse.Namespace) -> int:
    argv = getattr(args, "genhash_argv", None) or ["genhash"]
    return run_argv(argv, getattr(args, "genhash_prog", argv[0]))


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """The ``genhash-py`` console script: usage names argv[0] verbatim, as keepalived's genhash does."""
    full = [sys.argv[0], *sys.argv[1:]] if argv is None else [prog or "genhash", *argv]
    return run_argv(full, prog or full[0])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
