"""Fuzz the reader: >= 100,000 random and mutated inputs, never an exception.

Inputs are windows of a few lines cut from keepalived's sample configs and captured configs
(tests/data) and a built-in seed set, mutated with the characters and constructs the reader treats
specially.  The mutator is seeded, so a failure reproduces.  Every outcome must be a list of
well-formed LogicalLines plus located Diagnostics.  (The lead will extend this to the parser.)
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from pykeepalived.config import preprocess
from pykeepalived.config.errors import Diagnostics
from pykeepalived.config.lines import LogicalLine
from pykeepalived.config.preprocess import read_config_text
from tests.conftest import CAPTURES, SAMPLES, sample_names

ITERATIONS = 100_000
SEED = 20_261_126

BUILTIN_SEEDS = [
    "global_defs {\n  router_id LVS_DEVEL\n}\n",
    "vrrp_instance VI_1 {\n  state MASTER\n  interface eth0\n  virtual_router_id 51\n  priority 100\n"
    "  virtual_ipaddress {\n    192.168.200.16/24\n  }\n}\n",
    'vrrp_script chk { script "/bin/echo \\# x ${_HASH}" ; interval 3 }\n',
    "$IF=eth0\n@node1 $PRIO=200\n@^node1 $PRIO=100\npriority $PRIO\ninterface $IF\n",
    "$MULTI= \\\nvrrp_script m_${N} { \\\n  script /bin/true \\\n}\n$N=1\n$MULTI\n",
    "~SEQ(I, 1, 3) ip 10.0.0.${I}/24\n~LST({A,B}, {x,1},{y,2}) k ${A}_${B}\n~SEQx(H,250,260) h $H\n",
    "virtual_server 10.0.0.1 80 {\n  real_server 10.0.0.2 80 { TCP_CHECK { connect_timeout 3 } }\n}\n",
    "include inc/*.conf\nincluder {a,b}.conf\nincludew nothing*.conf\n",
]

TOKENS = [
    "{", "}", '"', "#", "!", "\\", "\\#", "$", "${", "}", "@", "@^", "~SEQ(", "~SEQx(", "~LST(", "~LST({",
    ")", ",", ";", "\n", "\t", " ", "$A=", "$M=\\\n", "${_RANDOM 1 9}", "${_PWD}", "${_ENV HOME}",
    "${_INSTANCE}", "$_HASH", "${A}", "$A", "include ", "includer ", "includeb {x,y}.conf", "node1 ",
    "0x10", "-3", "'", "\0", "\r", "é", "\udcff", "include_check", "global_defs {", "include self.conf\n",
]


def _seeds() -> list[str]:
    files = [SAMPLES / name for name in sample_names()] + sorted(CAPTURES.glob("*.conf"))
    texts = [f.read_text(errors="surrogateescape") for f in files]
    return texts + BUILTIN_SEEDS


def _mutate(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    start = rng.randrange(len(lines))
    chunk = "\n".join(lines[start:start + rng.randint(1, 8)])
    for _ in range(rng.randint(0, 6)):
        op = rng.randrange(6)
        pos = rng.randint(0, len(chunk))
        if op == 0:
            chunk = chunk[:pos] + rng.choice(TOKENS) + chunk[pos:]
        elif op == 1:
            chunk = chunk[:pos] + chunk[pos + rng.randint(1, 4):]
        elif op == 2:
            piece = chunk[pos:pos + rng.randint(1, 20)]
            chunk = chunk[:pos] + piece * rng.randint(1, 3) + chunk[pos:]
        elif op == 3:
            chunk = chunk[:pos] + chr(rng.randrange(1, 128)) + chunk[pos:]
        elif op == 4:
            chunk = chunk[:pos] + "".join(rng.choice(TOKENS) for _ in range(rng.randint(1, 5))) + chunk[pos:]
        else:
            chunk = chunk[:pos] + "\n" + chunk[pos:]
    return chunk


def _random_text(rng: random.Random) -> str:
    alphabet = 'ab01 \t{}"#!\\$@~();,=.\n'
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))


def _check(lines: list[LogicalLine], diags: Diagnostics) -> None:
    assert isinstance(lines, list)
    for ln in lines:
        assert isinstance(ln, LogicalLine) and ln.words and isinstance(ln.raw, str)
        for w in ln.words:
            assert isinstance(w.text, str) and w.loc.line >= 1 and w.loc.col >= 1
    for d in diags:
        assert d.loc is not None and d.loc.line >= 1 and isinstance(d.message, str)


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Includes resolve inside tmp_path only; generators are capped so the run stays fast."""
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "a.conf").write_text("a 1\n{\n")
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
    return tmp_path


def test_reader_never_raises(sandbox: Path) -> None:
    rng = random.Random(SEED)
    seeds = _seeds()
    for i in range(ITERATIONS):
        text = _random_text(rng) if i % 10 == 0 else _mutate(rng, rng.choice(seeds))
        diags = Diagnostics()
        try:
            lines = read_config_text(text, diags, name="fuzz.conf", config_id="node1",
                                     base_dir=str(sandbox), random_seed=i)
            _check(lines, diags)
        except Exception as e:  # pragma: no cover - the message is the point
            raise AssertionError(f"iteration {i}: {type(e).__name__}: {e}\ninput: {text!r}") from e
