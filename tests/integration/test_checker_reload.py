"""SIGHUP reload of the checker process on the nftables data plane, at the size of a large site.

The checker process (:class:`CheckerProcess`) reconciles its data plane through the contract
(observe -> diff -> apply); these tests drive its reload and reconcile steps in a namespace of their
own, with no event-loop turn in between (so no check runs: every real server keeps the state the
reload gave it), and count the operations it applied.  The daemon-level test runs the whole daemon.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykeepalived.config.loader import load_config_text
from pykeepalived.daemon.checker import CheckerOptions, CheckerProcess
from pykeepalived.lab.measure import wait_for
from pykeepalived.lab.netns import call_in_netns
from pykeepalived.lab.topology import Lab
from pykeepalived.lvs.dataplane.nftables import NftablesDataPlane
from pykeepalived.lvs.model import ServiceKey
from pykeepalived.lvs.reconcile import diff
from tests.conftest import require_root
from tests.integration.test_daemon_options import start_in_namespace

#: 2,000 virtual servers of 4 real servers each: 8,000 destinations
SERVICES, SERVERS = 2000, 4


def big_conf(weights: dict[tuple[int, int], int] | None = None) -> str:
    """``weights``: (service, server) -> weight, others 1."""
    weights = weights or {}
    out = ["global_defs {", "  router_id lb1", "}"]
    for i in range(SERVICES):
        out += [f"virtual_server 10.{20 + i // 250}.0.{i % 250 + 1} 80 {{", "  delay_loop 6", "  lb_algo wrr",
                "  protocol TCP"]
        for j in range(SERVERS):
            out += [f"  real_server 192.168.{j}.{i % 250 + 1} {8000 + i // 250} {{",
                    f"    weight {weights.get((i, j), 1)}", "    TCP_CHECK {", "      connect_timeout 2", "    }",
                    "  }"]
        out.append("}")
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    require_root()
    with Lab() as lab:
        lab.add_node("lb")
        yield lab


def reload_steps(ns: str, changes: list[str], hand_edit: bool = False) -> dict[str, object]:
    """Start a checker process on ``big_conf()``, reconcile, reload each config of ``changes`` (after a
    hand edit of the kernel table when ``hand_edit``) and reconcile: the ops applied by each step."""
    async def work() -> dict[str, object]:
        dp = NftablesDataPlane(table="pkreload")
        dp.open()
        try:
            proc = CheckerProcess(load_config_text(big_conf()).config, CheckerOptions(dataplane="nftables"),
                                  dataplane=dp)
            proc._start_runner(proc.config)
            proc._reconcile_sync(proc.desired(), counters=False)
            first = proc.ops_applied
            steps: list[int] = []
            for text in changes:
                if hand_edit:  # an operator empties one service's destination map with nft
                    victim = ServiceKey.inet("tcp", "10.20.0.7", 80)
                    sid = dp._installed[victim].sid
                    subprocess.run(["nft", "flush", "map", "ip", "pkreload", f"dst_{sid}"], check=True)
                before = proc.ops_applied
                proc.reload(load_config_text(text).config)
                proc._reconcile_sync(proc.desired(), counters=False)
                steps.append(proc.ops_applied - before)
            left = diff(proc.desired(), NftablesDataPlane(table="pkreload").observe())
            assert proc.runner is not None
            proc.runner.abandon()
            return {"first": first, "steps": steps, "left": [str(op) for op in left]}
        finally:
            dp.release()

    return call_in_netns(ns, lambda: asyncio.run(work()))  # type: ignore[no-any-return]


def test_a_reload_that_changes_one_weight_in_a_large_table_applies_exactly_one_operation(lab: Lab) -> None:
    got = reload_steps(lab.ns("lb"), [big_conf({(1234, 2): 5}), big_conf({(1234, 2): 5})])
    assert got["first"] == SERVICES * (1 + SERVERS)  # every service and destination added
    assert got["steps"] == [1, 0]  # the weight, then nothing: the same file again
    assert got["left"] == []


def test_a_reload_while_the_kernel_table_was_changed_by_hand_repairs_the_drift(lab: Lab) -> None:
    got = reload_steps(lab.ns("lb"), [big_conf({(17, 0): 3})], hand_edit=True)
    assert got["steps"] == [1 + SERVERS]  # the new weight, and the emptied service's servers back
    assert got["left"] == []


SMALL = """global_defs {{
  router_id lb1
}}
virtual_server 10.79.0.5 80 {{
  delay_loop 6
  lb_algo wrr
  protocol TCP
  real_server 10.79.0.9 80 {{
    weight {weight}
    TCP_CHECK {{
      connect_timeout 1
    }}
  }}
}}
"""


def test_a_reload_with_a_broken_file_changes_nothing_and_says_where_the_error_is(tmp_path: Path) -> None:
    require_root()
    with Lab() as lab:
        proc = start_in_namespace(lab, tmp_path, SMALL.format(weight=3), "krel", "--dataplane", "nftables")
        log = tmp_path / "daemon.log"

        def table() -> str:
            out = lab.run("a", ["nft", "list", "table", "ip", "pykeepalived"], check=False)
            return out.stdout if out.returncode == 0 else ""

        try:
            wait_for(lambda: 'comment "w=3' in table(), 15, "the service in the table")
            before = table()
            broken = SMALL.format(weight=7).replace("lb_algo wrr", "lb_algo wrr\n  delay_loop")
            (tmp_path / "keepalived.conf").write_text(broken)
            line = broken.splitlines().index("  delay_loop") + 1
            proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "Reload aborted" in log.read_text(), 10, "the reload refused")
            text = log.read_text()
            assert re.search(rf"keepalived\.conf:{line}:\d+: ", text), text
            assert "health checkers restart" not in text
            assert table() == before and 'comment "w=3' in before
            assert proc.poll() is None
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
