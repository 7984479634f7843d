"""How often ``pykeepalived -t`` exits as ``keepalived -t`` does, over a directory of configs.

    sudo python3 bench/configtest_agreement.py DIR [-v] [--only NAME...]

Every regular file in DIR (a directory of keepalived.conf files, e.g. real-world configurations
collected from public repositories; not recursive) is checked by both tools inside a
private network namespace holding lo, eth0 and eth1 (a veth pair, all up) with config id ``lb1``:
``keepalived -t -i lb1 -f FILE`` and ``pykeepalived -t -i lb1 -f FILE``.  Prints the agreement
percentage and, for each file where the exit codes differ, both outputs.  The namespace is the
script's own and is deleted at the end; nothing touches the root namespace's interfaces.
Needs root and keepalived on PATH.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PYKEEPALIVED = [sys.executable, "-c", "import sys; from pykeepalived.cli import main; sys.exit(main())"]
TIMEOUT = 30


def make_namespace(name: str) -> None:
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1"], check=True)
    for dev in ("lo", "eth0", "eth1"):
        subprocess.run(["ip", "-n", name, "link", "set", dev, "up"], check=True)


def run_in(ns: str, argv: list[str]) -> tuple[int, str]:
    try:
        p = subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=TIMEOUT,
                           stdin=subprocess.DEVNULL, errors="replace")
    except subprocess.TimeoutExpired:
        return -1, "timeout"
    return p.returncode, (p.stdout + p.stderr).strip()


def check(ns: str, path: Path) -> tuple[Path, int, str, int, str]:
    k_rc, k_out = run_in(ns, ["keepalived", "-t", "-i", "lb1", "-f", str(path)])
    p_rc, p_out = run_in(ns, [*PYKEEPALIVED, "-t", "-i", "lb1", "-f", str(path)])
    return path, k_rc, k_out, p_rc, p_out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("directory", help="a directory of keepalived configuration files")
    ap.add_argument("-v", "--verbose", action="store_true", help="print both outputs of each disagreement")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--only", nargs="*", default=None, help="file names to check (default: all)")
    args = ap.parse_args()

    files = sorted(p for p in Path(args.directory).iterdir() if p.is_file())
    if args.only:
        files = [p for p in files if p.name in args.only]
    if not files:
        print(f"no files in {args.directory}", file=sys.stderr)
        return 1
    ns = f"pkacfg{os.getpid()}"
    make_namespace(ns)
    try:
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(lambda p: check(ns, p), files))
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)

    bad = [r for r in results if r[1] != r[3]]
    for path, k_rc, k_out, p_rc, p_out in bad:
        print(f"=== {path.name}: keepalived {k_rc}, pykeepalived {p_rc}")
        if args.verbose:
            print("--- keepalived\n" + k_out + "\n--- pykeepalived\n" + p_out)
    agree = len(results) - len(bad)
    print(f"agreement: {agree}/{len(results)} = {100.0 * agree / len(results):.1f} %")
    # keepalived 2.2.7 -t kills itself (SIGTERM) when it checks a script run by a non-root user, and
    # crashes (SIGSEGV) on a few malformed configs: no exit status to agree with
    killed = [r for r in results if r[1] < 0]
    if killed:
        exited = len(results) - len(killed)
        agree_exited = sum(1 for r in results if r[1] >= 0 and r[1] == r[3])
        print(f"keepalived killed by a signal on {len(killed)} files; agreement where it exited: "
              f"{agree_exited}/{exited} = {100.0 * agree_exited / max(exited, 1):.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
