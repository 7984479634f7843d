"""Logical lines: the reader's fast path keeps texts and columns and makes words only when asked."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pykeepalived.config.errors import Diagnostics
from pykeepalived.config.lines import Location, LogicalLine, Word
from pykeepalived.config.preprocess import read_config_text


def test_a_plain_line_equals_the_same_line_made_of_words() -> None:
    loc = Location("k.conf", 7, 5)
    plain = LogicalLine.plain(("weight", "3"), (5, 12), "weight 3", "k.conf", 7, 5)
    made = LogicalLine((Word("weight", loc), Word("3", Location("k.conf", 7, 12))), "weight 3", loc)
    assert plain == made and hash(plain) == hash(made)
    assert plain.words == made.words
    assert plain.words[1].loc == Location("k.conf", 7, 12)
    assert plain.keyword == "weight" and plain.texts() == ["weight", "3"] and plain.tokens == made.tokens
    assert plain.words is plain.words  # made once


def test_a_line_kept_as_its_physical_line_equals_the_same_line_made_of_words() -> None:
    """The bulk reader's keyword lines (LogicalLine.of_physical) find their raw text and columns when asked."""
    physical = "  \tconnect_timeout \t 3  "
    line = LogicalLine.of_physical(tuple(physical.split()), physical, "k.conf", 9)
    made = LogicalLine((Word("connect_timeout", Location("k.conf", 9, 4)), Word("3", Location("k.conf", 9, 22))),
                       "connect_timeout \t 3", Location("k.conf", 9, 4))
    assert line == made and hash(line) == hash(made) and line.words == made.words
    assert line.raw == "connect_timeout \t 3" and line.loc == Location("k.conf", 9, 4)
    assert pickle.loads(pickle.dumps(line)) == made


def test_a_line_is_immutable_and_survives_pickling() -> None:
    loc = Location("k.conf", 1, 1)
    line = LogicalLine.plain(("router_id", "lb1"), 1, "router_id lb1", "k.conf", 1, 1)
    assert line.words[1].loc == Location("k.conf", 1, 11) and line.loc == loc
    with pytest.raises(AttributeError):
        line.raw = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del line.loc
    with pytest.raises(AttributeError):
        line.anything = 1  # type: ignore[attr-defined]
    assert pickle.loads(pickle.dumps(line)) == line


def test_the_reader_gives_every_word_its_column_on_either_path() -> None:
    text = ("global_defs {\n    router_id  lb1\n\tnotification_email_from a@b\n}\n"
            "vrrp_instance VI {\n  state \"MASTER\"\n}\n")
    lines = read_config_text(text, Diagnostics(), name="k.conf", config_id="x")
    cols = {ln.keyword: [(w.text, w.loc.line, w.loc.col) for w in ln.words] for ln in lines}
    assert cols["global_defs"] == [("global_defs", 1, 1)]
    assert cols["router_id"] == [("router_id", 2, 5), ("lb1", 2, 16)]
    assert cols["notification_email_from"] == [("notification_email_from", 3, 2), ("a@b", 3, 26)]
    assert cols["state"] == [("state", 6, 3), ("MASTER", 6, 9)]
    assert [ln.loc.col for ln in lines if ln.keyword == "{"] == [13, 18]


_ATOMS = ["{", "}", " ", "  ", "\t", "a", "bc", "real_server", "1.2.3.4", "80", "x{", "}y", "\u00e9", "\f", "weight"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_ATOMS), max_size=8).map("".join), min_size=1, max_size=6))
def test_the_fast_path_reads_a_line_as_the_general_path_does(lines: list[str]) -> None:
    """A line with no special character takes the reader's fast path; the same line with a trailing
    comment takes the general one (decomment, then the pipeline): the words, their columns, the raw
    text and the brace diagnostics must not differ."""

    def read(text: str) -> tuple[object, object]:
        diags = Diagnostics()
        got = read_config_text(text, diags, name="f", config_id="x")
        return ([([(w.text, w.loc, w.quoted) for w in ln.words], ln.raw, ln.loc) for ln in got],
                [str(d) for d in diags])

    assert read("\n".join(lines) + "\n") == read("\n".join(f"{ln} #" for ln in lines) + "\n")
