"""status.dumps: keepalived 2.2.7's signal dump files, compared with Debian keepalived's own output for the same
config (tests/data/signal-dumps, captured as its README says), and written without following links."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from pykeepalived.config import load_config
from pykeepalived.config.model import Config
from pykeepalived.daemon.checker import CheckerOptions, CheckerProcess
from pykeepalived.status import dumps
from pykeepalived.status.snapshot import VrrpStats

from .dump_layout import REFERENCE, json_keys, layout, reference, stats_values


@pytest.fixture(scope="module")
def config() -> Config:
    result = load_config(str(REFERENCE / "keepalived.conf"))
    assert result.config is not None
    return result.config


def _instance(**kw: object) -> dumps.InstanceView:
    base: dict[str, object] = dict(
        name="VI_1", version=2, state=2, wantstate=2, interface="eth0", vrid=51, base_priority=150,
        effective_priority=160, total_priority=160, adver_int=1.0, master_adver_int=1.0, ms_down_timer=3375000,
        last_transition=1796522721.973295, read_timeout=1796522725.977733, src_ip="10.9.0.2",
        mcast_group="224.0.0.18", auth_pass="secret", vipset=True,
        vips=("10.9.0.5/24 dev eth0 scope global set",), fds=(12, 13),
        tracked_scripts=(("chk_true", 10, "'/usr/bin/true'"),))
    base.update(kw)
    return dumps.InstanceView(**base)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------- layouts


def test_parent_data_is_keepalived_parent_data_byte_for_byte(config: Config) -> None:
    assert dumps.parent_data_text(config.global_defs) == reference("keepalived_parent.data")


def test_vrrp_child_global_section_names_the_default_interface_and_resolves_lower_prio(config: Config) -> None:
    ref = reference("keepalived.data").split("------< Static Addresses >------")[0]
    assert "\n".join(dumps.global_lines(config.global_defs, "vrrp")) + "\n" == ref


def test_vrrp_topology_lines_match_keepalived_for_a_master(config: Config) -> None:
    ref = reference("keepalived.data")
    section = ref[ref.index(" VRRP Instance = VI_1"):ref.index("------< VRRP Sockpool >------")]
    assert "\n".join(dumps.instance_lines(_instance())) + "\n" == section


def test_backup_instance_names_its_master() -> None:
    lines = dumps.instance_lines(_instance(state=1, wantstate=1, master_router="10.9.0.3", master_priority=200,
                                           version=3, master_adver_int=0.1, adver_int=0.1))
    assert "   State = BACKUP" in lines
    assert lines[lines.index("   State = BACKUP") + 1:][:3] == [
        "   Master router = 10.9.0.3", "   Master priority = 200", "   Master advert int = 0.10 sec"]
    assert "   Advert interval = 100 milli-sec" in lines and "   Master advert interval = 100 milli-sec" in lines


def test_whole_vrrp_data_layout_matches_keepalived(config: Config) -> None:
    sock = dumps.SocketView(fds=(12, 13), interface="eth0", family=4, unicast=False, instances=(("VI_1", 51),))
    script = dumps.ScriptView(name="chk_true", command="'/usr/bin/true'", interval=1, timeout=0, weight=10,
                              weight_reverse=False, rise=1, fall=1, result=1, insecure=False, init_state="unknown",
                              uid=0, gid=0, tracking=(("VI_1", 10),))
    ifs = [dumps.InterfaceView("lo", 1, "127.0.0.1", None, "00:00:00:00:00:00", "00:00:00:00:00:00", True, True,
                               True, False, False, 65536, "LOOPBACK"),
           dumps.InterfaceView("eth0", 2, "10.9.0.2", "fe80::1", "02:00:00:00:00:01", "ff:ff:ff:ff:ff:ff", True,
                               True, False, True, True, 1500, "ETHERNET", tracking=(("VI_1", 0),))]
    text = dumps.vrrp_data_text(config.global_defs, [_instance()], [sock], [script], ifs,
                                static_addresses=["192.168.77.1/24 dev eth0 scope global set"])
    assert layout(text) == layout(reference("keepalived.data"))


def test_stats_layout_is_keepalived_stats() -> None:
    counters = VrrpStats(**{k: v for k, v in (("advert_sent", 5), ("become_master", 1))})
    assert dumps.stats_text([("VI_1", counters)]) == reference("keepalived.stats")
    assert stats_values(reference("keepalived.stats.after-clear"))["Became master"] == 0


def test_json_is_one_compact_line_in_keepalived_field_order() -> None:
    text = dumps.json_text([_instance(stats=VrrpStats(advert_sent=6, become_master=1))])
    assert json_keys(text) == json_keys(reference("keepalived.json"))
    assert list(json.loads(text)[0]["data"]) == list(json.loads(reference("keepalived.json"))[0]["data"])
    assert text.count("\n") == 1 and text.endswith("]\n")
    assert '"10.9.0.5\\/24 dev eth0 scope global set"' in text  # keepalived escapes '/'
    assert '"last_transition":1796522721.973295,' in text  # %f, not a rounded float


def test_checker_data_layout_matches_keepalived(config: Config) -> None:
    proc = CheckerProcess(config, CheckerOptions(config_file=str(REFERENCE / "keepalived.conf")))
    assert layout(proc.data_text()) == layout(reference("keepalived_check.data"))


def test_cmd_str_quotes_every_word_and_resolves_the_program() -> None:
    from pykeepalived.config.model import Script

    assert dumps.cmd_str(Script(("/bin/echo", "a b", "c"))) == \
        f"'{os.path.realpath('/bin/echo')}' 'a b' 'c'"
    assert dumps.cmd_str(Script(("</etc/passwd",))) == "</etc/passwd"


# ------------------------------------------------------------------------------------------- where


def test_tmp_dir_is_tmpdir_only_when_absolute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", "/var/tmp/x")
    assert dumps.tmp_file("keepalived.stats") == Path("/var/tmp/x/keepalived.stats")
    monkeypatch.setenv("TMPDIR", "relative")
    assert dumps.tmp_file("keepalived.json") == Path("/tmp/keepalived.json")
    monkeypatch.delenv("TMPDIR")
    assert dumps.tmp_dir() == "/tmp"


def test_data_files_carry_namespace_and_instance(config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    monkeypatch.setenv("TMPDIR", "/t")
    assert dumps.data_file("keepalived.data", config.global_defs) == Path("/t/keepalived.data")
    g = replace(config.global_defs, net_namespace="blue", instance="lb1", data_use_instance=True)
    assert dumps.data_file("keepalived_check.data", g) == Path("/t/keepalived_check.blue_lb1.data")
    assert dumps.data_file("keepalived.data", replace(g, net_namespace=None)) == Path("/t/keepalived.lb1.data")


# ------------------------------------------------------------------------------------------- how


def test_write_private_replaces_a_planted_symlink_instead_of_following_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    target = tmp_path / "keepalived.stats"
    target.symlink_to(victim)
    dumps.write_private(target, "VRRP Instance: VI_1\n")
    assert victim.read_text() == "precious\n"
    assert not target.is_symlink()
    assert target.read_text() == "VRRP Instance: VI_1\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keepalived.stats", "victim"]


def test_write_private_never_opens_an_existing_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[int] = []
    real_open = os.open

    def spy(path: str, flags: int, mode: int = 0o777) -> int:
        opened.append(flags)
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", spy)
    dumps.write_private(tmp_path / "f", "x")
    assert opened and all(f & os.O_EXCL and f & os.O_NOFOLLOW and f & os.O_CREAT for f in opened)


def test_write_private_leaves_nothing_behind_when_the_rename_fails(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_text("")
    with pytest.raises(OSError):
        dumps.write_private(tmp_path / "d", "text")  # a non-empty directory cannot be replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_dump_writer_writes_in_order_off_the_calling_thread(tmp_path: Path) -> None:
    import threading

    writer = dumps.DumpWriter("test")
    threads: list[str] = []

    def render(text: str) -> str:
        threads.append(threading.current_thread().name)
        return text

    writer.write(tmp_path / "a", lambda: render("1"))
    writer.write(tmp_path / "b", lambda: render("2"))
    writer.flush(10)
    assert (tmp_path / "a").read_text() == "1" and (tmp_path / "b").read_text() == "2"
    assert threads and all(name.startswith("test") for name in threads)
    writer.close()


def test_dump_writer_coalesces_a_burst_to_the_newest_state(tmp_path: Path) -> None:
    import threading

    writer = dumps.DumpWriter("test")
    gate = threading.Event()
    writer.write(tmp_path / "block", lambda: gate.wait(10) and "x")  # keeps the worker busy
    calls: list[int] = []
    for i in range(100):
        writer.write(tmp_path / "keepalived.stats", lambda i=i: calls.append(i) or f"{i}\n")  # type: ignore[misc]
    gate.set()
    writer.flush(10)
    assert calls == [99]
    assert (tmp_path / "keepalived.stats").read_text() == "99\n"
    writer.close()


def test_unicast_instance_and_sync_group_sections_follow_keepalived() -> None:
    v = _instance(name="VI_U", unicast_peers=("10.9.0.3 min_ttl 0 max_ttl 255",), mcast_group=None,
                  unicast_ttl=None, sync_group="G1")
    lines = dumps.instance_lines(v)
    assert lines[2] == "   Sync group = G1"
    assert "   Flags:" in lines and "     Using unicast" in lines and not any("Multicast" in x for x in lines)
    i = lines.index("   Unicast Peer :")
    assert lines[i - 1:i + 3] == ["   Check unicast src : no", "   Unicast Peer :",
                                  "     10.9.0.3 min_ttl 0 max_ttl 255", "   Unicast checksum compatibility = no"]
    sg = dumps.SyncGroupView(name="G1", state=2, members=("VI_U",), notify_scripts=(("Master", "'/bin/m'"),))
    assert dumps.sync_group_lines(sg, [v]) == [
        " VRRP Sync Group = G1, MASTER", "   Num member fault 0, num member init 0", "   VRRP member instances :",
        "     VI_U", "   Using smtp notification = no", "   Master state transition script = '/bin/m', uid:gid 0:0"]
