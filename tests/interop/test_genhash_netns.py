"""``genhash -v`` on a 70,000-byte page over a real link (veth between two namespaces), several runs, against
Debian's keepalived 2.2.7 ``/usr/bin/genhash``: the verbose dump (each read's ``HTML Buffer`` block) must be
split at the same offsets as keepalived's, and keepalived's split must be the same on every run against
the same server.

Two servers: one writes the whole reply at once (the reads are keepalived's 4095-byte buffer fills), one
writes it in 1000-byte pieces 20 ms apart (each piece is a read of its own in keepalived's genhash, which
sends its ACKs at once; a client delaying its ACKs lets the sender's Nagle merge pieces, which is how
pykeepalived's genhash once split this page in 2000-byte reads).  The loopback case is in
test_genhash_compat.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from pykeepalived.lab.topology import Lab
from tests.conftest import require_binary, require_root

pytestmark = pytest.mark.interop

SERVER_IP = "10.123.0.1"
RUNS = 3
PAGE_SIZE = 70_000

SERVER = r"""
import socket, sys, threading, time
body = bytes((i * 7) & 0xFF for i in range(int(sys.argv[4])))
page = b"HTTP/1.0 200 OK\r\nServer: test\r\nContent-type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body) + body
piece, pause = int(sys.argv[2]), float(sys.argv[3])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 80))
s.listen(16)
def serve(c):
    data = b""
    while b"\r\n\r\n" not in data:
        more = c.recv(4096)
        if not more:
            break
        data += more
    if piece == 0:
        c.sendall(page)
    else:
        for i in range(0, len(page), piece):
            c.sendall(page[i:i + piece])
            time.sleep(pause)
    c.close()
while True:
    conn, _ = s.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""

OURS = "import sys; from pykeepalived.check.genhash import main; sys.exit(main(sys.argv[1:], 'genhash'))"
MASK = re.compile(rb"(Global response time for \[.*\] = )\d+( usecs)")
ROW = re.compile(r"^(\d{4})  ")


def read_sizes(out: bytes) -> list[int]:
    """The size of each read genhash dumped after the ``HTML Buffer`` banner (a dump restarts at 0000)."""
    text = out.decode(errors="replace").split("HTML Buffer", 1)[1]
    sizes: list[int] = []
    for line in text.splitlines()[1:]:
        if "HTML hash" in line:
            break
        m = ROW.match(line)
        if m is None:
            continue
        count = len(re.findall(r" ([0-9a-f]{2})", line[5:56]))
        if m.group(1) == "0000" or not sizes:
            sizes.append(0)
        sizes[-1] += count
    return sizes


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    require_root()
    require_binary("genhash")
    with Lab() as lab:
        lab.add_node("srv")
        lab.add_node("cli")
        lab.run("srv", ["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", lab.ns("cli")])
        for node, cidr in (("srv", f"{SERVER_IP}/24"), ("cli", "10.123.0.2/24")):
            lab.run(node, ["ip", "addr", "add", cidr, "dev", "eth0"])
            lab.run(node, ["ip", "link", "set", "eth0", "up"])
        yield lab


def genhash(lab: Lab, argv: list[str], port: int) -> tuple[int, bytes, bytes]:
    p = subprocess.run(["ip", "netns", "exec", lab.ns("cli"), *argv, "-v", "-s", SERVER_IP, "-p", str(port),
                        "-u", "/"], capture_output=True, timeout=60)
    return p.returncode, MASK.sub(rb"\1N\2", p.stdout), p.stderr


@pytest.mark.parametrize(("piece", "pause"), [(0, 0.0), (1000, 0.02)], ids=["whole-page-at-once", "1000-byte-writes"])
def test_genhash_v_splits_a_70000_byte_page_as_keepalived_s_on_every_run(lab: Lab, piece: int, pause: float) -> None:
    port = 80
    server = lab.popen("srv", [sys.executable, "-c", SERVER, SERVER_IP, str(piece), str(pause), str(PAGE_SIZE)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while f"{SERVER_IP}:{port}" not in lab.run("srv", ["ss", "-Htln"]).stdout:
            assert time.monotonic() < deadline and server.poll() is None, "test server did not start"
            time.sleep(0.05)
        ref_exe = require_binary("genhash")
        refs, ours = [], []
        for _ in range(RUNS):
            refs.append(genhash(lab, [ref_exe], port))
            ours.append(genhash(lab, [sys.executable, "-c", OURS], port))
    finally:
        lab.stop(server)
    ref = refs[0]
    assert ref[0] == 0 and ref[1].endswith(b"\n") and b"HTML hash final resulting" in ref[1]
    sizes = read_sizes(ref[1])
    assert sum(sizes) == PAGE_SIZE
    if piece == 0:
        assert sizes[1:-1] == [4095] * (len(sizes) - 2), sizes  # keepalived's buffer fills
    else:
        assert sizes[1:-1] == [piece] * (len(sizes) - 2), sizes  # one read per piece the server wrote
    # keepalived's split is the same on every run against the same server ...
    assert [r[1] for r in refs] == [ref[1]] * RUNS, [read_sizes(r[1]) for r in refs]
    # ... and ours is keepalived's, byte for byte (exit code, stdout, stderr), on every run
    for i, (mine, theirs) in enumerate(zip(ours, refs, strict=True)):
        assert mine[0] == theirs[0], f"run {i}: exit code"
        assert mine[2] == theirs[2], f"run {i}: stderr"
        assert read_sizes(mine[1]) == read_sizes(theirs[1]), f"run {i}: reads"
        assert mine[1] == theirs[1], f"run {i}: stdout"


def test_read_sizes() -> None:
    dump = (b"-----------------------[        HTML Buffer        ]-----------------------\n"
            b"0000  61 62 63 64 65 66 67 68 - 69 6a 6b 6c 6d 6e 6f 70   abcdefghijklmnop\n"
            b"0016  71 72                                              qr              \n"
            b"0000  73                                                 s               \n")
    assert read_sizes(dump) == [18, 1]
