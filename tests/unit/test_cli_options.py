"""The daemon's command line: every option of keepalived 2.2.7's ``--help``, parsed as keepalived parses it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pykeepalived.cli import LONGOPTS, USAGE, UsageError, main, parse_daemon_args
from pykeepalived.daemon.options import DaemonOptions

#: keepalived 2.2.7 --help (Debian), one line per option: short, long, argument (recorded with
#: ``keepalived --help``; the interop test below checks the list against the installed binary)
KEEPALIVED_HELP_OPTIONS = [
    ("f", "use-file", "FILE"), ("P", "vrrp", None), ("C", "check", None), ("B", "no_bfd", None),
    (None, "all", None), ("l", "log-console", None), ("D", "log-detail", None),
    ("S", "log-facility", "local3"), ("G", "no-syslog", None), ("u", "umask", "022"),
    ("X", "release-vips", None), ("V", "dont-release-vrrp", None), ("I", "dont-release-ipvs", None),
    ("R", "dont-respawn", None), ("n", "dont-fork", None), ("d", "dump-conf", None), ("p", "pid", "FILE"),
    ("r", "vrrp_pid", "FILE"), ("c", "checkers_pid", "FILE"), ("a", "address-monitoring", None),
    ("b", "bfd_pid", "FILE"), ("x", "snmp", None), ("A", "snmp-agent-socket", "FILE"),
    ("s", "namespace", "NAME"), ("m", "core-dump", None), ("e", "all-config", None), ("i", "config-id", "lb1"),
]

CONF = """vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        192.168.200.16
    }
}
"""


@pytest.mark.parametrize(("short", "long", "arg"), KEEPALIVED_HELP_OPTIONS)
def test_every_keepalived_option_parses_short_and_long(short: str | None, long: str, arg: str | None) -> None:
    forms = [[f"--{long}"] if arg is None else [f"--{long}={arg}"]]
    if arg is not None:
        forms.append([f"--{long}", arg])
    if short is not None:
        forms.append([f"-{short}"] if arg is None else [f"-{short}", arg])
        if arg is not None:
            forms.append([f"-{short}{arg}"])
    for form in forms:
        parsed = parse_daemon_args(form)
        assert parsed.action == "run" and not parsed.unexpected, form
        DaemonOptions.from_args(parsed.args)  # and the daemon takes what was parsed


def test_optional_arguments_only_attached() -> None:
    """``-M``/``--core-dump-pattern`` and ``-t``/``--config-test`` take a value only attached (getopt ``::``)."""
    assert parse_daemon_args(["-Mcore.%p"]).args.core_dump_pattern == "core.%p"
    assert parse_daemon_args(["--core-dump-pattern=x"]).args.core_dump_pattern == "x"
    parsed = parse_daemon_args(["-M", "x"])
    assert parsed.args.core_dump_pattern == "core" and parsed.unexpected == ["x"]
    assert parse_daemon_args(["-tlog"]).args.config_test == "log"
    assert parse_daemon_args(["--config-test=log"]).args.config_test == "log"
    parsed = parse_daemon_args(["-t", "log"])
    assert parsed.args.config_test == "-" and parsed.unexpected == ["log"]


def test_options_keep_keepalived_meaning() -> None:
    a = parse_daemon_args(["-PnlDRVIX", "-S", "local3", "-u", "027", "-s", "blue", "-e", "-d", "-a",
                           "-p", "/run/x.pid", "-r", "/run/v.pid", "-c", "/run/c.pid", "--all", "-M"]).args
    opts = DaemonOptions.from_args(a)
    assert opts.vrrp_only and opts.log_console and opts.log_detail and opts.dont_respawn
    assert opts.dont_release_vrrp and opts.dont_release_ipvs and opts.release_vips and a.dont_fork
    assert opts.log_facility == (16 + 3) << 3 and opts.umask == 0o27 and opts.namespace == "blue"
    assert opts.all_config and opts.dump_conf and opts.address_monitoring and opts.run_all
    assert (opts.pid_file, opts.vrrp_pid_file, opts.checkers_pid_file) == ("/run/x.pid", "/run/v.pid", "/run/c.pid")
    assert opts.core_dump and opts.core_dump_pattern == "core"
    assert parse_daemon_args(["-u", "0x12"]).args.umask == 0x12
    assert parse_daemon_args(["-u", "18"]).args.umask == 18
    assert parse_daemon_args(["-S", "user"]).args.log_facility == 1 << 3


def test_snmp_and_bfd_options_are_taken_without_notes() -> None:
    parsed = parse_daemon_args(["-x", "-A", "/run/agentx", "-b", "/run/bfd.pid", "-B", "-n"])
    assert parsed.action == "run"
    assert parsed.args.snmp is True and parsed.args.snmp_socket == "/run/agentx"
    assert not any("SNMP" in m or "BFD" in m for m in parsed.messages)


def test_bfd_options() -> None:
    """-b FILE: the BFD child's pid file; -B: no BFD child (keepalived's -P and -C leave it running)."""
    opts = DaemonOptions.from_args(parse_daemon_args(["-b", "/run/b.pid", "-B", "-f", "k.conf"]).args)
    assert opts.bfd_pid_file == "/run/b.pid" and opts.no_bfd
    assert opts.child_pid_file("bfd") == "/run/b.pid"
    default = DaemonOptions.from_args(parse_daemon_args(["-f", "k.conf"]).args)
    assert not default.no_bfd and default.child_pid_file("bfd") == "/run/bfd.pid"
    assert default.bfd_events_path == "/run/keepalived_bfd.events"
    lb1 = DaemonOptions.from_args(parse_daemon_args(["-p", "/run/lb1.pid", "-f", "k.conf"]).args)
    assert lb1.child_pid_file("bfd") == "/run/lb1_bfd.pid" and lb1.bfd_events_path == "/run/lb1_bfd.events"


def test_invalid_values_warn_as_keepalived_and_go_on() -> None:
    parsed = parse_daemon_args(["-S", "local9", "-u", "9999"])
    assert parsed.messages == ["Invalid log facility 'local9'", "Invalid --umask option 9999"]
    assert parsed.args.log_facility is None and parsed.args.umask is None


@pytest.mark.parametrize(("argv", "message"), [
    (["-q"], "Unknown option -q"),
    (["--bogus"], "Unknown option --bogus"),
    (["-f"], "Missing parameter for option -f"),
    (["--use-file="], "Missing parameter for option --use-file"),
    (["--use-file"], "Missing parameter for option --use-file"),
    (["-g"], "-g requires configure option --enable-log-file"),
    (["--dataplane", "userspace"], "Invalid --dataplane userspace (one of: auto, ipvs, nftables, proxy)"),
])
def test_usage_errors_exit_1(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UsageError):
        parse_daemon_args(argv)
    assert main(argv) == 1
    assert message in capsys.readouterr().err


def test_config_test_log_file_only_attached(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``-t copy.conf`` must never write into copy.conf: keepalived takes -t's file only attached."""
    conf = tmp_path / "k.conf"
    conf.write_text(CONF.replace("priority 100", "priorty 100"))
    copy = tmp_path / "copy.conf"
    copy.write_text(CONF)
    before = copy.read_bytes()
    rc = main(["-t", str(copy), "-f", str(conf), "--interfaces", "lo,eth0"])
    out = capsys.readouterr()
    assert copy.read_bytes() == before
    assert f"Unexpected argument(s): {copy} " in out.out
    assert rc == 5 and "Unknown keyword 'priorty'" in out.err
    # the same with the long form
    rc = main(["--config-test", str(copy), "-f", str(conf), "--interfaces", "lo,eth0"])
    assert copy.read_bytes() == before and rc == 5


def test_config_test_attached_log_file(tmp_path: Path) -> None:
    conf = tmp_path / "k.conf"
    conf.write_text(CONF.replace("priority 100", "priorty 100"))
    log = tmp_path / "t.log"
    assert main([f"-t{log}", "-f", str(conf), "--interfaces", "lo,eth0"]) == 5
    assert "Unknown keyword 'priorty'" in log.read_text()


def test_config_test_log_file_is_not_followed_through_a_symlink(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "k.conf"
    conf.write_text(CONF)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    link = tmp_path / "t.log"
    link.symlink_to(victim)
    assert main([f"--config-test={link}", "-f", str(conf), "--interfaces", "lo,eth0"]) == 1
    assert victim.read_text() == "precious\n"
    assert "Unable to open config-test log file" in capsys.readouterr().err


def test_help_lists_every_option_and_the_proxy_data_plane(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    err = capsys.readouterr().err
    for short, long, _ in KEEPALIVED_HELP_OPTIONS:
        assert f"--{long}" in err
        if short:
            assert f"-{short}, --{long}" in err
    assert "proxy (userspace TCP/UDP proxy, no root needed" in USAGE


def test_dataplanes_offered_are_the_ones_that_exist() -> None:
    from pykeepalived.cli import DATAPLANES
    from pykeepalived.lvs.dataplane.select import NAMES

    assert DATAPLANES == NAMES


def test_long_option_table_covers_help() -> None:
    names = {name for name, _, _ in LONGOPTS}
    assert {long for _, long, _ in KEEPALIVED_HELP_OPTIONS} <= names
    assert {"signum", "config-test", "genhash", "version", "help"} <= names


def test_genhash_mode(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-T"]) == 1
    assert "Usage: pykeepalived --genhash COMMAND" in capsys.readouterr().err


@pytest.mark.interop
def test_option_list_matches_installed_keepalived() -> None:
    """The table above against the installed keepalived's --help (skips where keepalived is absent)."""
    exe = shutil.which("keepalived")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("keepalived is not installed; .ci/run must install it")
        pytest.skip("keepalived not installed")
    text = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=10).stderr
    longs = set(re.findall(r"--([a-z_-]+)", text)) - {"signum", "config-test", "version", "help", "genhash"}
    assert longs == {long for _, long, _ in KEEPALIVED_HELP_OPTIONS} | {"core-dump-pattern"}


def test_default_pid_files_are_keepalived_s() -> None:
    """``kill -USR1 $(cat /run/keepalived.pid)`` reaches pykeepalived as it reached keepalived."""
    opts = DaemonOptions.from_args(parse_daemon_args([]).args)
    assert opts.pid_file == "/run/keepalived.pid"
    assert (opts.child_pid_file("vrrp"), opts.child_pid_file("checkers")) == ("/run/vrrp.pid", "/run/checkers.pid")
    assert opts.control_path == "/run/keepalived.ctl"
    lab = DaemonOptions.from_args(parse_daemon_args(["-p", "/tmp/lb1.pid"]).args)
    assert lab.child_pid_file("vrrp") == "/tmp/lb1_vrrp.pid"


def test_signum_prints_keepalived_s_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    for name, number in (("STOP", 15), ("RELOAD", 1), ("DATA", 10), ("STATS", 12), ("JSON", 36),
                         ("STATS_CLEAR", 63)):
        assert main([f"--signum={name}"]) == 0
        assert capsys.readouterr().out == f"{number}\n"
    assert main(["--signum", "TDATA"]) == 1
    assert capsys.readouterr().err == "Unknown sigfunc TDATA\n"


@pytest.mark.parametrize("form", [["-t", "{copy}"], ["--config-test", "{copy}"], ["{copy}", "-t"],
                                  ["-t", "-f", "{copy}"], ["-t", "-f", "{copy}", "{copy}"]])
def test_config_test_never_touches_a_file_it_names_as_input(tmp_path: Path, form: list[str]) -> None:
    """The command as an operator types it (a process of its own, the console entry): whatever place the
    file takes, as a stray argument or as the configuration, its bytes, size and mtime stay as they were."""
    copy = tmp_path / "copy.conf"
    copy.write_text(CONF.replace("priority 100", "priorty 100"))  # an error to report: something to write
    os.utime(copy, ns=(1_000_000_000, 1_000_000_000))
    before = copy.read_bytes(), copy.stat().st_mtime_ns, copy.stat().st_size
    argv = [arg.format(copy=copy) for arg in form]
    if "-f" not in argv:
        argv += ["-f", str(tmp_path / "missing.conf")]
    cp = subprocess.run([sys.executable, "-m", "pykeepalived", *argv, "--interfaces", "lo,eth0"],
                        capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert (copy.read_bytes(), copy.stat().st_mtime_ns, copy.stat().st_size) == before, cp
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.conf"]  # and nothing written beside it
    assert cp.returncode != 0
