"""Dependencies point one way: pure cores import no adapter and no process module, and the packages
form the layers drawn in docs/architecture.md.  Read from the source (every import, lazy ones too)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
ROOT = SRC / "pykeepalived"

#: the sans-I/O cores: state machines, models, schedulers, the reconciler, the configuration
PURE_CORES = (
    "pykeepalived.vrrp.fsm",
    "pykeepalived.lvs.model",
    "pykeepalived.lvs.schedulers",
    "pykeepalived.lvs.reconcile",
    "pykeepalived.lvs.dataplane.contract",
    "pykeepalived.lvs.dataplane.dispatch",
    "pykeepalived.lvs.overrides",
    "pykeepalived.bfd.packet",
    "pykeepalived.bfd.session",
    "pykeepalived.snmp.agentx",
    "pykeepalived.check.state",
    "pykeepalived.config",
    "pykeepalived.gcpause",
)
#: what a pure core may not import (beyond other packages' adapters): I/O and concurrency
IO_MODULES = ("asyncio", "socket", "subprocess", "selectors", "threading", "pyroute2", "nftables", "aiohttp")
IO_EXEMPT = ("pykeepalived.config",)  # reads files and looks up users: no sockets, no event loop

#: which packages each package may import (the layers of docs/architecture.md, lowest first)
ALLOWED: dict[str, set[str]] = {
    "config": {"gcpause"},
    "gcpause": set(),
    "lvs": {"process"},  # the proxy data plane's worker processes (file limits); pure lvs modules: none
    "paths": set(),
    "files": set(),
    "ratelimit": set(),
    "getopt": set(),
    "process": {"files"},
    "signals": set(),
    "timer": set(),
    "notify": {"config", "files", "ratelimit", "process"},
    "status": {"config", "lvs", "files", "paths"},
    "bfd": {"config", "files", "ratelimit", "process", "signals", "paths", "timer"},
    "vrrp": {"config", "lvs", "notify", "status", "files", "ratelimit", "process", "signals", "paths",
             "bfd.watch", "timer"},
    "check": {"config", "lvs", "notify", "getopt", "files", "ratelimit", "process", "vrrp.addresses",
              "bfd.watch"},
    "snmp": {"config", "lvs", "status", "ratelimit"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Every module's imports (absolute names; ``from X import Y`` gives X.Y when Y is a module)."""
    out: dict[str, set[str]] = defaultdict(set)
    for path in ROOT.rglob("*.py"):
        name = module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                out[name].update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    target = node.module or ""
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    is_module = (SRC / sub.replace(".", "/")).with_suffix(".py").exists() or \
                        (SRC / sub.replace(".", "/")).is_dir()
                    out[name].add(sub if is_module else target)
    return out


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


GRAPH = imports()


@pytest.mark.parametrize("core", PURE_CORES)
def test_pure_cores_import_only_pure_cores(core: str) -> None:
    bad = []
    for mod, targets in GRAPH.items():
        if not under(mod, core):
            continue
        for t in targets:
            if t.startswith("pykeepalived") and not any(under(t, c) for c in PURE_CORES):
                bad.append(f"{mod} imports {t}")
            if not any(under(mod, e) for e in IO_EXEMPT) and any(under(t, io) for io in IO_MODULES):
                bad.append(f"{mod} imports {t}")
    assert bad == []


def package_of(name: str) -> str:
    return name.split(".")[1] if name.count(".") >= 1 else name


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_packages_import_only_lower_layers(package: str) -> None:
    allowed = ALLOWED[package]
    bad = []
    for mod, targets in GRAPH.items():
        if package_of(mod) != package:
            continue
        for t in targets:
            if not t.startswith("pykeepalived.") or package_of(t) == package:
                continue
            rel = t.removeprefix("pykeepalived.")
            if not any(rel == a or rel.startswith(a + ".") for a in allowed):
                bad.append(f"{mod} imports {t}")
    assert bad == []


def test_the_package_graph_has_no_cycle() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for mod, targets in GRAPH.items():
        for t in targets:
            if t.startswith("pykeepalived.") and package_of(t) != package_of(mod):
                edges[package_of(mod)].add(package_of(t))
    seen: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state = seen.get(node)
        if state == 1:
            raise AssertionError("import cycle: " + " -> ".join([*path, node]))
        if state == 2:
            return
        seen[node] = 1
        for nxt in sorted(edges[node]):
            visit(nxt, [*path, node])
        seen[node] = 2

    for node in sorted(edges):
        visit(node, [])
