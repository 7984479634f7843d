"""Fuzz the whole pipeline: >= 100,000 random and mutated inputs through ``load_config_text``.

Reader + parser + validation + ``render``/``config show`` of the result must never raise: every
outcome is a :class:`Config` plus diagnostics, each with a location (or none, for the few
whole-config messages keepalived prints without a line) and a non-empty message.

Inputs are mostly one top-level block cut from one of keepalived's sample configs (tests/data)
or from a built-in seed, mutated with the characters the reader treats
specially, the language's keywords and awkward values.  Small inputs keep 100k full loads
well under a minute.  The generator is seeded, so a failure reproduces; the assertion message
carries the iteration and the input.

The hostile cases the issue names (deeply nested braces, 10 MB lines, NUL bytes, include
loops, unreadable and missing include files) have their own tests below, on real files
through ``load_config`` where files matter.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykeepalived.config import load_config, load_config_text, preprocess
from pykeepalived.config.errors import Diagnostic, ErrClass
from pykeepalived.config.loader import LoadResult, root_block
from pykeepalived.config.model import Config, Script, to_jsonable
from pykeepalived.config.parser import Block
from pykeepalived.config.render import render
from pykeepalived.config.validate import scripts as validate_scripts
from tests.conftest import SAMPLES, sample_names
from tests.unit.config.test_reader_fuzz import BUILTIN_SEEDS as READER_SEEDS
from tests.unit.config.test_reader_fuzz import TOKENS as READER_TOKENS

ITERATIONS = 100_000
SEED = 20_261_127
IFACES = frozenset({"lo", "eth0", "eth1"})

BUILTIN_SEEDS = [
    *READER_SEEDS,
    "global_defs {\n  notification_email {\n    a@b.c\n  }\n  smtp_server 10.0.0.1 25\n"
    "  router_id R1\n  enable_script_security\n  script_user nobody\n  vrrp_strict\n}\n",
    "vrrp_script chk {\n  script \"/bin/true\"\n  interval 2\n  weight -10\n  rise 2\n  fall 2\n}\n",
    "vrrp_sync_group G {\n  group {\n    VI_1\n  }\n  notify_master /bin/true\n}\n",
    "vrrp_instance VI_1 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 7\n  priority 90\n"
    "  advert_int 0.5\n  version 3\n  authentication {\n    auth_type PASS\n    auth_pass secret\n  }\n"
    "  unicast_peer {\n    10.0.0.2\n  }\n  track_script {\n    chk weight 5\n  }\n"
    "  virtual_routes {\n    10.1.0.0/16 via 10.0.0.254 dev eth0\n  }\n"
    "  virtual_rules {\n    from 10.1.0.0/16 table 100\n  }\n  notify \"/bin/n a\"\n}\n",
    "virtual_server_group G {\n  10.0.0.1 80\n  10.0.0.2-5 80\n  fwmark 3\n}\n"
    "virtual_server group G {\n  lvs_sched rr\n  lvs_method DR\n  protocol TCP\n"
    "  real_server 10.0.1.1 80 {\n    MISC_CHECK {\n      misc_path \"/bin/true x\"\n"
    "      misc_dynamic\n    }\n  }\n}\n",
    "virtual_server fwmark 5 {\n  delay_loop 3\n  persistence_timeout 60\n  quorum_up /bin/true\n"
    "  sorry_server 10.0.0.9 80\n  real_server 10.0.1.1 80 {\n    SSL_GET {\n      url {\n"
    "        path /\n        digest 00112233445566778899aabbccddeeff\n      }\n    }\n"
    "    SMTP_CHECK {\n      helo_name x\n    }\n    DNS_CHECK {\n      name example.com\n    }\n"
    "    BFD_CHECK {\n      name b1\n    }\n    FILE_CHECK {\n      track_file f\n    }\n"
    "    UDP_CHECK {\n      payload 0a0b\n    }\n    PING_CHECK {\n    }\n  }\n}\n",
    "bfd_instance b1 {\n  neighbor_ip 10.0.0.2\n  min_rx 10\n  multiplier 3\n}\n"
    "track_file f {\n  file /tmp/x\n  weight 5\n}\n"
    "vrrp_track_process p {\n  process sshd\n  quorum 1\n}\n",
]

VALUES = [
    "0", "1", "-1", "255", "256", "65535", "65536", "4294967295", "4294967296", "99999999999999999999",
    "0.000001", "0.0000001", "1.5", "1e3", "nan", "inf", "-0", "+1", "0x10", "12abc", "",
    "10.0.0.1", "10.0.0.1/24", "10.0.0.1/33", "10.0.0.1-9", "::1", "fe80::1%eth0", "2001:db8::/64",
    "255.255.255.255", "eth0", "eth9", "lo", "MASTER", "BACKUP", "NAT", "DR", "TUN", "TCP", "UDP",
    "true", "false", "yes", "on", "AH", "PASS", "dev", "via", "table", "weight", "reverse", "user",
    "/bin/true", "'a b'", '"x y"', "a\\ b", "{", "}", "x" * 300,
]


def _keywords() -> list[str]:
    """Every keyword of every block of the grammar (so mutations reach the handlers)."""
    seen: set[int] = set()
    names: set[str] = set()

    def walk(block: Block) -> None:
        if id(block) in seen:
            return
        seen.add(id(block))
        for name, kw in block.keywords.items():
            names.add(name)
            if kw.block is not None:
                walk(kw.block)

    walk(root_block())
    return sorted(names)


def _blocks(text: str) -> Iterator[str]:
    """The top-level blocks (and stray root lines) of a config text."""
    depth, start = 0, 0
    lines = text.split("\n")
    for i, line in enumerate(lines):
        code = line.split("#", 1)[0].split("!", 1)[0]
        depth += code.count("{") - code.count("}")
        if depth <= 0:
            yield "\n".join(lines[start:i + 1])
            depth, start = 0, i + 1
    if start < len(lines):
        yield "\n".join(lines[start:])


def _seeds() -> list[str]:
    texts = list(BUILTIN_SEEDS)
    texts += [(SAMPLES / name).read_text(errors="surrogateescape") for name in sample_names()]
    out = []
    for t in texts:
        out.extend(b for b in _blocks(t) if b.strip())
    return out


def _mutate(rng: random.Random, text: str, keywords: list[str]) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(10)
        i = rng.randrange(len(lines))
        line = lines[i]
        pos = rng.randint(0, len(line))
        if op == 0:  # a special token
            lines[i] = line[:pos] + rng.choice(READER_TOKENS) + line[pos:]
        elif op == 1:  # replace a word by a value
            words = line.split()
            if words:
                words[rng.randrange(len(words))] = rng.choice(VALUES)
                lines[i] = " ".join(words)
        elif op == 2:  # add a value
            lines[i] = f"{line} {rng.choice(VALUES)}"
        elif op == 3:  # drop the arguments
            lines[i] = " ".join(line.split()[:1])
        elif op == 4:  # insert any keyword, maybe with a value or a block
            kw = rng.choice(keywords)
            extra = rng.choice(["", f" {rng.choice(VALUES)}", " {", " { }", f" {{ {rng.choice(VALUES)} }}"])
            lines.insert(i, kw + extra)
        elif op == 5:  # delete a line
            if len(lines) > 1:
                del lines[i]
        elif op == 6:  # duplicate a line
            lines.insert(i, line)
        elif op == 7:  # delete characters
            lines[i] = line[:pos] + line[pos + rng.randint(1, 4):]
        elif op == 8:  # a random character
            lines[i] = line[:pos] + chr(rng.randrange(0, 256)) + line[pos:]
        else:  # swap two lines
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def _random_text(rng: random.Random, keywords: list[str]) -> str:
    pieces = ["{", "}", "\n", " ", '"', "#", "$A", "~SEQ(I,1,2)", *rng.sample(keywords, 8),
              *rng.sample(VALUES, 8)]
    return " ".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))


def check_outcome(result: LoadResult) -> None:
    """A model plus well-formed diagnostics; the model renders and serialises."""
    assert isinstance(result.config, Config)
    for d in result.diagnostics:
        assert isinstance(d, Diagnostic) and isinstance(d.cls, ErrClass)
        assert isinstance(d.message, str) and d.message
        if d.loc is not None:
            assert d.loc.line >= 1 and d.loc.col >= 1 and isinstance(d.loc.file, str)
        str(d)
    assert isinstance(render(result.config), str)
    json.dumps(to_jsonable(result.config))
    result.diagnostics.config_test_exit_code()


def _fake_script_status(script: Script) -> tuple[str, str | None]:
    """Scripts exist nowhere: no file system look-ups for 100k configs."""
    return "missing", f"Cannot find script {script.argv[0] if script.argv else ''} - disabling"


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Includes resolve inside tmp_path only; generators are capped so the run stays fast."""
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "a.conf").write_text("vrrp_instance I {\n  interface eth0\n")
    (tmp_path / "x.conf").write_text("$A=x\n")
    (tmp_path / "self.conf").write_text("include self.conf\ns 1\n")
    real_glob = preprocess._glob

    def confined(pattern: str, base_dir: str) -> preprocess._GlobOutcome:
        if pattern.startswith("/") or ".." in pattern:
            return preprocess._GlobOutcome()
        return real_glob(pattern, base_dir)

    monkeypatch.setattr(preprocess, "_glob", confined)
    monkeypatch.setattr(preprocess, "MAX_GENERATED_LINES", 2_000)
    monkeypatch.setattr(preprocess, "MAX_SUBSTITUTIONS", 256)
    monkeypatch.setattr(validate_scripts, "script_status", _fake_script_status)
    return tmp_path


def _load(text: str, sandbox: Path, i: int) -> LoadResult:
    return load_config_text(text, name="fuzz.conf", config_id="node1",
                            interfaces=IFACES if i % 3 else None, base_dir=str(sandbox))


def test_config_never_raises(sandbox: Path) -> None:
    rng = random.Random(SEED)
    seeds = _seeds()
    keywords = _keywords()
    for i in range(ITERATIONS):
        if i % 10 == 0:
            text = _random_text(rng, keywords)
        else:
            text = _mutate(rng, rng.choice(seeds), keywords)
        try:
            check_outcome(_load(text, sandbox, i))
        except Exception as e:  # pragma: no cover - the message is the point
            raise AssertionError(f"iteration {i}: {type(e).__name__}: {e}\ninput: {text!r}") from e


def test_the_parsers_fast_paths_give_what_its_general_path_gives(sandbox: Path) -> None:
    """The parser's fast paths (a block's plain keywords, a nested block's opening line) against its general path
    alone, over mutated inputs: the same configuration and the same diagnostics."""
    from pykeepalived.config import parser

    rng = random.Random(SEED + 1)
    seeds = _seeds()
    keywords = _keywords()
    edges = [  # nested blocks opened every way the general path knows
        "vrrp_instance V {\n  authentication extra words {\n    auth_type PASS\n  }\n}\n",
        "vrrp_instance V {\n  authentication\n    auth_type PASS\n  }\n}\n",
        "vrrp_instance V {\n  authentication\n",
        "vrrp_instance V {\n  authentication {",
        "virtual_server 10.0.0.1 80 {\n  real_server bad 80 {\n    weight 1\n  }\n  real_server 10.0.1.1 80 {\n"
        "    TCP_CHECK {\n      connect_timeout 3\n    }\n  }\n}\n",
        "virtual_server 10.0.0.1 80 {\n  real_server 10.0.1.1 80\n    weight 2\n  }\n}\n",
        "virtual_server 10.0.0.1 80 {\n  real_server 10.0.1.1 80 {\n    HTTP_GET {\n      url {\n        path /\n"
        "      }\n      url\n      {\n        status_code 200\n      }\n    }\n  }\n}\n",
        "vrrp_instance V {\n  virtual_ipaddress {\n    10.0.0.1\n  }\n  track_script {\n    c\n  }\n}\n",
        "global_defs {\n  notification_email {\n    a@b.c\n  }\n}\n",
    ]
    for i in range(3_000 + len(edges)):
        if i < len(edges):
            text = edges[i]
        else:
            text = _mutate(rng, rng.choice(seeds), keywords) if i % 10 else _random_text(rng, keywords)
        if "_RANDOM" in text:  # a different value at each read
            continue
        fast = _load(text, sandbox, i)
        with pytest.MonkeyPatch.context() as m:
            m.setattr(parser, "_plain_handlers", lambda block: {})
            m.setattr(parser, "_plain_blocks", lambda block: {})
            general = _load(text, sandbox, i)
        assert [str(d) for d in fast.diagnostics] == [str(d) for d in general.diagnostics], (i, text)
        assert json.dumps(to_jsonable(fast.config)) == json.dumps(to_jsonable(general.config)), (i, text)


# -- the hostile cases the issue names -------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "a {\n" * 20_000 + "}\n" * 20_000,
        "{\n" * 20_000,
        "}\n" * 20_000,
        "{ " * 500 + "\n" + "} " * 500 + "\n",
        "global_defs {\n" * 5_000,
        "vrrp_instance V {\n" + "virtual_ipaddress {\n" * 5_000 + "}\n" * 5_001,
        "virtual_server 10.0.0.1 80 {\n" + "real_server 10.0.0.2 80 {\n" * 3_000 + "}\n" * 3_001,
        "vrrp_instance V {\n track_script {\n" + "{ x }\n" * 5_000 + "}\n}\n",
    ],
    ids=["unknown", "open", "close", "one-line", "global_defs", "vip", "real_server", "words"],
)
def test_deeply_nested_braces(text: str, sandbox: Path) -> None:
    check_outcome(_load(text, sandbox, 1))


@pytest.mark.parametrize(
    "text",
    [
        "x" * 10_000_000,
        "global_defs {\n  router_id " + "r" * 10_000_000 + "\n}\n",
        "vrrp_instance V {\n" + "{ " * 5_000_000 + "\n}\n",
        'vrrp_script s {\n  script "' + "a " * 5_000_000 + '"\n}\n',
        "é" * 3_000_000 + "\nglobal_defs {\n router_id x\n}\n",
    ],
    ids=["plain", "router_id", "braces", "script", "multibyte"],
)
def test_10mb_lines(text: str, sandbox: Path) -> None:
    result = _load(text, sandbox, 1)
    check_outcome(result)
    assert any("line too long" in d.message for d in result.diagnostics)


@pytest.mark.parametrize(
    "text",
    [
        "\0",
        "\0" * 10_000,
        "global_defs {\n  router_id a\0b\n}\n",
        "vrrp_instance V\0 {\n  interface eth0\n  virtual_router_id 1\n}\n",
        "virtual_server 10.0.0.1 80 {\n  real_server 10.0.0.2 80 {\n\0\n  }\n}\n",
        "$A=\0\n$A\n",
    ],
)
def test_nul_bytes(text: str, sandbox: Path) -> None:
    result = _load(text, sandbox, 1)
    check_outcome(result)
    assert any("embedded NULs" in d.message for d in result.diagnostics)


def test_file_including_itself(tmp_path: Path) -> None:
    main = tmp_path / "keepalived.conf"
    main.write_text("global_defs {\n  router_id a\n}\ninclude keepalived.conf\n")
    result = load_config(main, config_id="n", interfaces=IFACES)
    check_outcome(result)
    loops = [d for d in result.diagnostics if "include loop" in d.message]
    assert len(loops) == 1 and loops[0].loc is not None and loops[0].loc.line == 4


def test_include_cycle_through_other_files(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("include b.conf\nvrrp_script a {\n  script /bin/true\n}\n")
    (tmp_path / "b.conf").write_text("include *.conf\n")
    main = tmp_path / "keepalived.conf"
    main.write_text("include a.conf\n")
    result = load_config(main, config_id="n", interfaces=IFACES)
    check_outcome(result)
    assert any("include loop" in d.message for d in result.diagnostics)
    # a.conf is read on after the loop was cut (keepalived drops the unused script)
    assert any(d.message == "Warning - script a is not used" for d in result.diagnostics)


def test_include_inside_a_block_of_itself(tmp_path: Path) -> None:
    main = tmp_path / "keepalived.conf"
    main.write_text("vrrp_instance V {\n  include keepalived.conf\n")
    check_outcome(load_config(main, config_id="n", interfaces=IFACES))


@pytest.mark.parametrize("keyword", ["include", "includer", "includem", "includew", "includeb", "includea"])
def test_missing_and_unreadable_includes(tmp_path: Path, keyword: str) -> None:
    (tmp_path / "dir.conf").mkdir()
    (tmp_path / "exec.conf").write_text("x 1\n")
    (tmp_path / "exec.conf").chmod(0o755)
    (tmp_path / "noperm.conf").write_text("y 1\n")
    (tmp_path / "noperm.conf").chmod(0)
    (tmp_path / "dangling.conf").symlink_to(tmp_path / "nowhere.conf")
    (tmp_path / "bad-utf8.conf").write_bytes(b"global_defs {\n router_id \xff\xfe\n}\n")
    os.mkfifo(tmp_path / "fifo.conf")
    main = tmp_path / "keepalived.conf"
    main.write_text("".join(
        f"{keyword} {name}\n"
        for name in ["missing.conf", "missing*.conf", "{missing,exec}.conf", "dir.conf", "exec.conf",
                     "noperm.conf", "dangling.conf", "bad-utf8.conf", "fifo.conf", "nodir/*.conf", ""]
    ))
    result = load_config(main, config_id="n", interfaces=IFACES)
    check_outcome(result)
    assert result.diagnostics.items, "include problems are reported"


def test_unreadable_include_open_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An include that passes the checks but then cannot be read (e.g. EACCES as a non-root user)."""
    (tmp_path / "locked.conf").write_text("z 1\n")
    main = tmp_path / "keepalived.conf"
    main.write_text("include locked.conf\nglobal_defs {\n  router_id r\n}\n")
    real_read = preprocess._read_text

    def read(path: str) -> str:
        if path.endswith("locked.conf"):
            raise PermissionError(13, "Permission denied")
        return real_read(path)

    monkeypatch.setattr(preprocess, "_read_text", read)
    result = load_config(main, config_id="n", interfaces=IFACES)
    check_outcome(result)
    assert any("Permission denied" in d.message for d in result.diagnostics)
    assert result.config is not None and result.config.global_defs.router_id == "r"


@pytest.mark.parametrize("name", ["missing.conf", "dir", "exec.conf", "noperm.conf"])
def test_unusable_main_file(tmp_path: Path, name: str) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "exec.conf").write_text("x\n")
    (tmp_path / "exec.conf").chmod(0o755)
    (tmp_path / "noperm.conf").write_text("x\n")
    (tmp_path / "noperm.conf").chmod(0)
    check_outcome(load_config(tmp_path / name, config_id="n", interfaces=IFACES))


# -- crashes the fuzzer found (each was an exception out of load_config_text) ------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("global_defs {\n  smtp_connect_timeout\n}\n", None),
        ("global_defs {\n  vrrp_garp_master_repeat\n}\n", None),
        ("global_defs {\n  vrrp_garp_master_refresh_repeat\n}\n", None),
        ("vrrp_script s {\n  script /bin/true\n  interval\n}\n", None),
        ("vrrp_script s {\n  script /bin/true\n  timeout\n}\n", None),
        ("vrrp_script s {\n  script /bin/true\n  rise\n}\n", None),
        ("vrrp_script s {\n  script /bin/true\n  fall\n}\n", None),
        ("garp_group {\n  garp_interval\n  gna_interval\n}\n", None),
        ("vrrp_instance V {\n  garp_master_repeat\n  garp_master_refresh_repeat\n}\n", None),
        ("vrrp_script s {\n  script /bin/true \\\n}\n", "Missing escape char at end: '/bin/true\\'"),
        ("vrrp_instance V {\n  notify_backup a b\"\n}\n", "String 'a b\"': missing terminating \""),
        ("virtual_server 10.0.0.1 80 {\n  quorum_up 'x\n}\n", "String ''x': missing terminating '"),
    ],
)
def test_fuzz_regressions(text: str, message: str | None, sandbox: Path) -> None:
    result = _load(text, sandbox, 1)
    check_outcome(result)
    if message is None:
        # the missing value is reported once, as keepalived does, and -t exits 2
        assert [d.cls for d in result.diagnostics if not d.info].count(ErrClass.MISSING_PARAMETER) >= 1
        assert result.diagnostics.config_test_exit_code() == 2
    else:
        hits = [d for d in result.diagnostics if d.message == message]
        got = [str(d) for d in result.diagnostics]
        assert hits and hits[0].loc is not None and hits[0].loc.line == 2, got
