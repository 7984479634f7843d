"""The repository stands on its own: nothing in it points at files outside it.

A user's clone has only this repository.  Tests read their data from tests/data, the VM runner is
``scripts/run-in-vm``, and docs and docstrings state what keepalived does or cite keepalived's own
source (``keepalived's vrrp/vrrp.c: vrrp_state_leave_master()``), never a document of the workspace
the project was developed in.  Every tracked text file is checked, the source tree included
(``src/pykeepalived/vrrp/runner.py``, ``config/``, ``check/`` too).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import DATA, REPO

#: strings that only make sense in the development workspace (the "shared" directory beside the
#: checkout, its documents and tools, and absolute paths of that machine)
_WORKSPACE = "shared"  # the directory beside the checkout (spelled apart so this file names no such path)
OUTSIDE = (
    f"../{_WORKSPACE}",
    f"{_WORKSPACE}/corpus",
    f"{_WORKSPACE}/reference",
    f"{_WORKSPACE}/tools",
    "keepalived-behaviour.md",
    "python-building-blocks.md",
    "run-in-vm.sh",
    "DESIGN.md",
    "STYLE.md",
    "STYLE §",
    "/work/",
)

THIS = Path(__file__).resolve()
#: directories never searched when the tree is walked instead of asking git
SKIP_DIRS = {".git", ".venv", "venv", "build", "dist", "__pycache__", ".pytest_cache", ".mypy_cache",
             ".ruff_cache", ".hypothesis"}


def tracked_files() -> list[Path]:
    """The repository's files: git's list in a checkout, else every file under the tree (an sdist)."""
    try:
        out = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, check=True,
                             timeout=60).stdout
    except (OSError, subprocess.CalledProcessError):
        found = []
        for root, dirs, files in os.walk(REPO):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
            found += [Path(root, f) for f in files]
        return sorted(found)
    return sorted(REPO / name for name in out.decode().split("\0") if name)


def checked(path: Path) -> bool:
    """Text written for readers.  Under tests/data only the READMEs: the rest is captured output of real
    runs (a keepalived log quoting the path its config had on the capture machine is data, not a pointer)."""
    if path.resolve() == THIS or not path.is_file():
        return False
    if path.is_relative_to(DATA):
        return path.suffix == ".md"
    return True


def offenders() -> list[str]:
    found = []
    for path in tracked_files():
        if not checked(path):
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary
        for n, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
            hits = [s for s in OUTSIDE if s in line]
            if hits:
                found.append(f"{path.relative_to(REPO)}:{n}: {', '.join(hits)}: {line.strip()[:120]}")
    return found


def test_nothing_points_outside_the_repository() -> None:
    bad = offenders()
    assert not bad, (f"{len(bad)} line(s) point outside the repository; state what keepalived does or cite "
                     "keepalived's own source file/function instead:\n" + "\n".join(bad))


def test_the_check_sees_the_files_it_must() -> None:
    """The search really covers source, tests, docs and scripts (a broken file list would pass silently)."""
    names = {p.relative_to(REPO).as_posix() for p in tracked_files() if checked(p)}
    for must in ("README.md", "src/pykeepalived/vrrp/runner.py", "src/pykeepalived/config/parser.py",
                 "tests/conftest.py", "scripts/run-in-vm", "tests/data/keepalived-samples/README.md"):
        assert must in names, must
