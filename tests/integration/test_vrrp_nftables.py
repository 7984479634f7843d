"""``vrrp_strict`` / ``no_accept`` and VMAC firewall rules: keepalived 2.2.7's nftables tables, in namespaces.

* for every config of ``tests/data/keepalived-2.2.7-nftables`` (captured from Debian's keepalived, see its
  README), pykeepalived alone in the same namespace set-up builds the same ``nft list ruleset`` (counter
  values aside), and leaves nothing behind when it stops;
* with ``no_accept``, the VIPs' drop set follows the state: empty (or no table yet) while BACKUP, the VIP
  in it while MASTER, emptied again when the instance goes back to BACKUP;
* a client reaches no service on the VIP, neither through the master (non-accept mode drops what is
  addressed to the VIP while it answers ARP) nor through the backup; with accept mode the master serves.
"""

from __future__ import annotations

import difflib
import re
import signal
import time
from pathlib import Path

import pytest

from pykeepalived.lab.measure import VIP, has_vip, masters_entered, node, start_servers, vrrp_conf, wait_for
from pykeepalived.lab.topology import Lab
from tests.integration.test_vrrp_failover import lan
from tests.integration.test_vrrp_vmac import client_neigh, know_client, who_answers

__all__ = ["lan"]

DATA = Path(__file__).resolve().parent.parent / "data" / "keepalived-2.2.7-nftables"
CASES = sorted(p.stem for p in DATA.glob("*.conf"))


def normalise(ruleset: str) -> str:
    """Counter values vary between runs; handles are not listed."""
    return re.sub(r"counter packets \d+ bytes \d+", "counter", ruleset).strip()


def ruleset(lab: Lab, n: str) -> str:
    return normalise(lab.run(n, ["nft", "list", "ruleset"]).stdout)


@pytest.mark.parametrize("name", CASES)
def test_table_matches_keepalived_2_2_7(lan: tuple[Lab, Path], name: str) -> None:
    lab, tmp = lan
    want = normalise((DATA / f"{name}.nft").read_text())
    a = node(lab, tmp, "a", "py", (DATA / f"{name}.conf").read_text())
    try:
        a.start()
        try:
            wait_for(lambda: ruleset(lab, "a") == want, 8, f"{name}: keepalived's table")
        except AssertionError:
            got = ruleset(lab, "a")
            diff = "\n".join(difflib.unified_diff(want.splitlines(), got.splitlines(), "keepalived", "pykeepalived"))
            pytest.fail(f"{name}: tables differ\n{diff}\n{a.log()[-2000:]}")
        time.sleep(0.3)
        assert ruleset(lab, "a") == want
        assert a.stop() == 0
        assert ruleset(lab, "a") == ""
    finally:
        a.stop()


def vips_set(lab: Lab, n: str) -> str | None:
    """The elements line of ``ip keepalived``'s ``vips`` set ("" when empty), None without the table."""
    out = lab.run(n, ["nft", "list", "set", "ip", "keepalived", "vips"], check=False)
    if out.returncode != 0:
        return None
    m = re.search(r"elements = \{ ([^}]*) \}", out.stdout)
    return m.group(1).strip() if m else ""


def test_no_accept_drop_set_follows_state_and_client_reaches_no_service(lan: tuple[Lab, Path]) -> None:
    lab, tmp = lan
    start_servers(lab)
    know_client(lab)
    a = node(lab, tmp, "a", "py", vrrp_conf(prio=150, version=3, advert=0.1, instance_extra=["no_accept"]))
    b = node(lab, tmp, "b", "py", vrrp_conf(prio=100, version=3, advert=0.1, instance_extra=["no_accept"]))
    try:
        a.start()
        wait_for(lambda: vips_set(lab, "a") == VIP, 10, "a master with the VIP in its drop set")
        b.start()
        time.sleep(1.0)
        assert vips_set(lab, "b") is None  # keepalived too: the table comes with the first MASTER
        # the master answers ARP for the VIP with its MAC but accepts nothing addressed to it
        assert who_answers(lab).startswith("fail")
        a_mac = lab.run("a", ["cat", "/sys/class/net/eth0/address"]).stdout.strip()
        assert a_mac in client_neigh(lab)
        # the backup does not hold the VIP: a client sending it the VIP's packets reaches nothing there
        b_mac = lab.run("b", ["cat", "/sys/class/net/eth0/address"]).stdout.strip()
        lab.run("client", ["ip", "neigh", "replace", VIP, "lladdr", b_mac, "dev", "eth0", "nud", "permanent"])
        assert who_answers(lab).startswith("fail")
        lab.run("client", ["ip", "neigh", "del", VIP, "dev", "eth0"])
        # failover: b's set gets the VIP; a's set is emptied when it stops (then its table goes)
        a.signal(signal.SIGTERM)
        wait_for(lambda: vips_set(lab, "b") == VIP, 10, "b master with the VIP in its drop set")
        assert a.stop() == 0
        assert ruleset(lab, "a") == ""
        assert who_answers(lab).startswith("fail")
        # a returns and pre-empts: b back to BACKUP, its set empty, its table kept (as keepalived)
        a.start()
        wait_for(lambda: vips_set(lab, "b") == "", 5, "b's drop set emptied")
        wait_for(lambda: vips_set(lab, "a") == VIP, 5, "a's drop set with the VIP again")
    finally:
        for n in (a, b):
            n.stop()


def test_accept_mode_master_serves_the_vip(lan: tuple[Lab, Path]) -> None:
    lab, tmp = lan
    start_servers(lab, ("a",))
    know_client(lab, ("a",))
    a = node(lab, tmp, "a", "py", vrrp_conf(prio=150, version=3, advert=0.1))
    try:
        a.start()
        wait_for(lambda: who_answers(lab) == "a", 5, "a serving the VIP")
        assert ruleset(lab, "a") == ""  # no firewall needed: no table at all
    finally:
        a.stop()


@pytest.mark.parametrize("kind", ["py", "ka"])
def test_a_kept_masters_drop_set_follows_its_reloads(lan: tuple[Lab, Path], kind: str) -> None:
    """keepalived's ``clear_diff_vrrp_vip`` and ``restore_vrrp_state``: a reload of a non-accept MASTER that
    adds an address blocks it, one that removes an address unblocks it, and turning accept mode on empties
    the set so the master serves the VIP; the instance stays MASTER throughout.  keepalived 2.2.7 ("ka") does
    the same in the same steps but the one turning accept mode on (see there)."""
    lab, tmp = lan
    start_servers(lab, ("a",))
    know_client(lab, ("a",))
    extra_vip = "10.9.0.51"

    def conf(accept: str, evip: bool) -> str:
        evips = ["virtual_ipaddress_excluded {", f"  {extra_vip}/24", "}"] if evip else []
        return vrrp_conf(prio=150, version=3, advert=0.1, instance_extra=[accept, *evips])

    def elements() -> set[str]:
        got = vips_set(lab, "a")
        return set() if not got else set(got.split(", "))

    a = node(lab, tmp, "a", kind, conf("no_accept", evip=False))
    try:
        a.start()
        wait_for(lambda: elements() == {VIP}, 10, "a master with the VIP in its drop set")
        a.reload(conf("no_accept", evip=True))
        wait_for(lambda: elements() == {VIP, extra_vip}, 5, "the added eVIP in the drop set")
        assert has_vip(lab, "a", extra_vip)
        assert who_answers(lab, extra_vip).startswith("fail")
        a.reload(conf("no_accept", evip=False))
        wait_for(lambda: elements() == {VIP} and not has_vip(lab, "a", extra_vip), 5, "the removed eVIP unblocked")
        a.reload(conf("accept", evip=False))
        if kind == "ka":
            # keepalived 2.2.7 means to (clear_diff_vrrp_vip removes the old instance's elements when accept
            # mode is turned on), but does nothing when no instance of the new configuration needs a firewall:
            # its nftables table name is only set while one does.  Its master keeps dropping the VIP's traffic.
            time.sleep(1.0)
            assert elements() == {VIP}
        else:
            wait_for(lambda: elements() == set(), 5, "accept mode: the drop set emptied")
            wait_for(lambda: who_answers(lab) == "a", 5, "a serving the VIP in accept mode")
        a.reload(conf("no_accept", evip=False))
        wait_for(lambda: elements() == {VIP}, 5, "no_accept again: the VIP blocked")
        assert who_answers(lab).startswith("fail")
        assert masters_entered(a) == 1, a.log()[-2000:]
    finally:
        a.stop()
