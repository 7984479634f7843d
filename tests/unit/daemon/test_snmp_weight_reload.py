"""A weight set until reload (an SNMP SET of realServerWeight) against a lasting one (``ctl weight``) in the
checker process: keepalived 2.2.7's reload, and its respawned checker process, put the configured weight back;
the runtime API's override lasts until ``ctl reset``."""

from __future__ import annotations

from pykeepalived.config import load_config_text
from pykeepalived.daemon.checker import CheckerOptions, CheckerProcess
from pykeepalived.lvs.model import DestKey
from pykeepalived.lvs.overrides import Overrides
from pykeepalived.status.api import Caller, Command

from .test_counters_on_demand import CountingDataPlane

CONF = """\
virtual_server 10.0.0.5 80 {
 protocol TCP
 delay_loop 60
 real_server 192.168.0.12 80 {
  weight 20
  TCP_CHECK {
   connect_timeout 1
  }
 }
 real_server 192.168.0.13 80 {
  weight 8
  TCP_CHECK {
   connect_timeout 1
  }
 }
}
"""
RS1, RS2 = DestKey.of("192.168.0.12", 80), DestKey.of("192.168.0.13", 80)


def weights(proc: CheckerProcess) -> dict[DestKey, int]:
    assert proc.dp is not None
    return {d.key: d.weight for s in proc.dp.observe().services for d in s.destinations}


async def test_an_snmp_weight_lasts_until_the_reload_a_ctl_weight_until_reset() -> None:
    cfg = load_config_text(CONF).config
    assert cfg is not None
    proc = CheckerProcess(cfg, CheckerOptions(reconcile_interval=30), dataplane=CountingDataPlane(None))  # type: ignore[arg-type]
    proc._start_runner(cfg)
    try:
        await proc.reconcile()
        assert weights(proc) == {RS1: 20, RS2: 8}
        snmp = Caller("snmp")
        reply = await proc.command(Command("weight", service="10.0.0.5:80", server="192.168.0.12:80", weight=7,
                                           until_reload=True), snmp)
        assert reply["message"].endswith("set to 7 until reload")
        await proc.command(Command("weight", service="10.0.0.5:80", server="192.168.0.13:80", weight=3),
                           Caller("unix", uid=0))
        await proc.command(Command("weight", service="10.0.0.5:80", server="192.168.0.13:80", weight=4,
                                   until_reload=True), snmp)
        assert weights(proc) == {RS1: 7, RS2: 4}
        status = {d.key: d.override for d in proc.snapshot().virtual_services[0].destinations}
        assert status == {RS1: "weight 7 until reload", RS2: "weight 4 until reload, weight 3"}
        handed = proc.overrides.to_json()  # what the supervisor keeps for a restart
        proc.reload(cfg)  # the same configuration: still a reload
        await proc.reconcile()
        assert weights(proc) == {RS1: 20, RS2: 3}
        # a checker process started again (after a crash) with what the supervisor kept: as keepalived's
        # respawned one, no weight set until reload
        again = CheckerProcess(cfg, CheckerOptions(), dataplane=CountingDataPlane(None),  # type: ignore[arg-type]
                               overrides=Overrides.from_json(handed))
        assert again.overrides == proc.overrides
        # a lasting weight ends a weight set until reload
        await proc.command(Command("weight", service="10.0.0.5:80", server="192.168.0.12:80", weight=9,
                                   until_reload=True), snmp)
        await proc.command(Command("weight", service="10.0.0.5:80", server="192.168.0.12:80", weight=6),
                           Caller("unix", uid=0))
        assert weights(proc) == {RS1: 6, RS2: 3}
    finally:
        assert proc.runner is not None
        await proc.runner.stop()
