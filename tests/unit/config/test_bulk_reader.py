"""The reader's bulk path (``_Reader._plain_stretch``, taken when ``str.split()`` tokenises a file as
keepalived does) against its per-line path: the same logical lines, words, columns and diagnostics."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pykeepalived.config import lexer, preprocess
from pykeepalived.config.blocks.lvs_common import TIMER_MAX
from pykeepalived.config.errors import Diagnostics
from pykeepalived.config.lines import LogicalLine
from pykeepalived.config.loader import load_config
from pykeepalived.config.parser import Context, SkipLine
from pykeepalived.config.preprocess import read_config, read_config_text, streamed_config


def read(text: str) -> tuple[list[tuple[object, ...]], list[str]]:
    diags = Diagnostics()
    lines = read_config_text(text, diags, name="k.conf", config_id="lb1")
    return [described(line) for line in lines], [str(d) for d in diags]


def described(line: LogicalLine) -> tuple[object, ...]:
    return (line.tokens, line.raw, line.loc, line.words)


def per_line(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[list[tuple[object, ...]], list[str]]:
    with monkeypatch.context() as m:
        m.setattr(lexer, "splits_as_keepalived", lambda text, ascii: False)  # no file qualifies: every line alone
        return read(text)


WORD = st.sampled_from(["real_server", "10.0.0.1", "80", "weight", "TCP_CHECK", "x", "{", "}", "{x", "a}b",
                        "virtual_server", "connect_timeout", "3"])
BLANK = st.sampled_from([" ", "  ", "\t", " \t "])
LINE = st.builds(lambda lead, words, gaps, trail: lead + "".join(map(str.__add__, words, gaps)) + trail,
                 st.sampled_from(["", " ", "    ", "\t", "\t  "]), st.lists(WORD, max_size=5),
                 st.lists(BLANK, min_size=5, max_size=5), st.sampled_from(["", " ", "\t"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(LINE, max_size=12), st.sampled_from(["", "# a comment\n", "line \"quoted\"\n"]))
def test_the_bulk_path_reads_as_the_per_line_path(lines: list[str], tail: str) -> None:
    text = "\n".join(lines) + "\n" + tail
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert read(text) == per_line(text, monkeypatch)


def test_a_large_block_structure_reads_alike_with_its_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    text = ("virtual_server 10.0.0.1 80 {\n    lb_algo  wrr\n\treal_server 10.0.0.2 80 {\n        weight 2\n"
            "        TCP_CHECK {\n            connect_timeout\t3\n        }\n    }\n}\n}\n")
    bulk = read(text)
    assert bulk == per_line(text, monkeypatch)
    lines = {line[0][0]: line for line in bulk[0]}
    assert [w.loc.col for w in lines["lb_algo"][3]] == [5, 14]
    assert [w.loc.col for w in lines["connect_timeout"][3]] == [13, 29]
    assert any("Extra '}'" in d for d in bulk[1])


def test_odd_space_is_every_character_python_splits_on_but_space_tab_newline_and_return() -> None:
    splits = {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()} - set(" \t\n\r")
    assert {c for c in splits if lexer._ODD_SPACE.match(c)} == splits
    assert not lexer._ODD_SPACE.search("".join(chr(c) for c in range(0x3001) if chr(c) not in splits))
    assert set(lexer._ODD_ASCII_SPACE) == {c for c in splits if c.isascii()}
    for c in sorted(splits):
        for text in (f"a{c}b", f"\u00e9 a{c}b"):
            assert not lexer.splits_as_keepalived(text, text.isascii())
    assert lexer.splits_as_keepalived("a \tb\n", True) and lexer.splits_as_keepalived("\u00e9 a\tb", False)


@given(st.integers(min_value=0, max_value=10**16), st.floats(min_value=0, max_value=1e16))
def test_an_integer_is_within_a_float_bound_exactly_when_within_its_shortest_decimal_text(n: int, hi: float) -> None:
    """What lets Context.timer check a plain integer against the float bounds (keepalived compares with the
    bound's decimal text)."""
    assert (n <= hi) == (n <= Decimal(str(hi)))
    assert (hi <= n) == (Decimal(str(hi)) <= n)


def test_an_integer_timer_at_the_bound() -> None:
    ctx = Context(diags=Diagnostics())
    line = LogicalLine.plain(("t", "18446744073709"), 1, "t 18446744073709", "f", 1, 1)
    assert ctx.timer(line, hi=TIMER_MAX) == 18446744073709.0
    over = LogicalLine.plain(("t", "18446744073710"), 1, "t 18446744073710", "f", 1, 1)
    with pytest.raises(SkipLine):
        ctx.timer(over, hi=TIMER_MAX)
    assert "outside range" in str(ctx.diags.items[-1])


# -- the streamed read: what load_config parses ---------------------------------------------------------------

STREAM_FILE = st.lists(st.one_of(LINE, st.sampled_from(["# a comment", "@lb1 weight 3", "@other x", "$V=1",
                                                         "weight $V", "x \"q y\""])), max_size=40)


@settings(max_examples=200, deadline=None)
@given(lines=STREAM_FILE, chunk=st.integers(min_value=1, max_value=7))
def test_a_read_streamed_in_small_chunks_gives_the_lines_and_problems_of_the_whole_read(
        lines: list[str], chunk: int, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("stream") / "k.conf"
    path.write_text("\n".join(lines) + "\n")
    whole_diags, streamed_diags = Diagnostics(), Diagnostics()
    whole = [described(line) for line in read_config(path, whole_diags, config_id="lb1")]
    with pytest.MonkeyPatch.context() as m:
        m.setattr(preprocess, "STREAM_CHUNK", chunk)
        with streamed_config(path, streamed_diags, config_id="lb1") as stream:
            streamed = [described(line) for line in stream]
    assert streamed == whole
    assert [str(d) for d in streamed_diags] == [str(d) for d in whole_diags]


def test_load_config_parses_the_lines_as_they_are_read_and_lists_the_readers_problems_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The parser never holds more than a chunk of the read (a large file's lines weigh more than what is parsed
    from them); the problems still come reader first, as when the whole file was read before the parse."""
    blocks = "".join(f"virtual_server 10.0.0.{i} 80 {{\n    real_server 10.1.0.{i} 80 {{\n        weight 1\n"
                     f"    }}\n}}\n" for i in range(1, 200))
    path = tmp_path / "k.conf"
    path.write_text("global_defs {\n    no_such_keyword\n}\n" + blocks + "}\n")
    held: list[int] = []
    stream = preprocess._Reader.stream

    def watched(self: preprocess._Reader):  # type: ignore[no-untyped-def]
        for out in stream(self):
            held.append(len(out))
            yield out

    monkeypatch.setattr(preprocess, "STREAM_CHUNK", 16)
    monkeypatch.setattr(preprocess._Reader, "stream", watched)
    result = load_config(path, config_id="lb1", interfaces={"lo"})
    assert result.config is not None and len(result.config.lvs.virtual_servers) == 199
    assert len(held) > 50 and max(held) < 3 * 16, held  # a chunk of physical lines: a few logical lines each
    messages = [d.message for d in result.diagnostics]
    assert messages.index("Extra '}' found") < next(i for i, m in enumerate(messages) if "no_such_keyword" in m)
