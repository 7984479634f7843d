"""Per-line lexing: decomment, brace finding, tokenising, physical lines (keepalived's lib/parser.c)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pykeepalived.config.lexer import (
    EMBEDDED_NUL,
    TOO_LONG,
    PhysicalLines,
    col_at,
    decomment,
    find_brace,
    tokenize,
)


def dc(text: str) -> str:
    return decomment(text)[0]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("  priority 100   ", "priority 100"),
        ("priority 100 # comment", "priority 100"),
        ("priority 100 ! comment", "priority 100"),
        ("abc#x", "abc"),  # comments start anywhere, even mid-word
        ("abc!x", "abc"),
        ("# whole line", ""),
        ("! whole line", ""),
        ('router_id "a # b" # c', 'router_id "a # b"'),  # not inside double quotes
        ("router_id 'a # b'", "router_id 'a"),  # single quotes do not protect
        (r"echo \# not", "echo # not"),  # escaped comment characters
        (r"echo \!x", "echo !x"),
        (r'x "\# in quotes"', r'x "\# in quotes"'),  # escapes inside quotes are left alone
        (r"a\\#b", r"a\\"),  # \\ is kept as is, the # then starts a comment
        (r'a \" # b', r'a \"'),  # an escaped quote does not open a quote
        ("a b\\", "a b\\"),  # continuation marker kept
        ("a b   \\", "a b\\"),  # blanks before it removed
        ("\t\tkey\tvalue\t", "key\tvalue"),
        ("a ; b", "a ; b"),
    ],
)
def test_decomment(line: str, expected: str) -> None:
    assert dc(line) == expected


def test_decomment_unterminated_quote() -> None:
    text, _, unterminated = decomment('script "abc')
    assert unterminated and text == 'script "abc'
    assert not decomment('script "abc" "d e"')[2]


def test_decomment_columns_follow_physical_line() -> None:
    text, cols, _ = decomment(r"   a\#b c")
    assert text == "a#b c"
    assert [col_at(cols, i) for i in range(len(text))] == [4, 6, 7, 8, 9]
    text, cols, _ = decomment("    key value")
    assert col_at(cols, text.index("value")) == 9


@pytest.mark.parametrize(
    ("text", "index"),
    [
        ("a b", -1),
        ("{", 0),
        ("} x", 0),
        ("vrrp_instance VI_1 {", 19),
        ('x "{" }', 6),  # braces in quotes are skipped
        ('x "a" "b" {', 10),
        ('x "open { }', -1),  # an unclosed quote hides the rest
        ('x \\"a{', -1),  # no escape handling: \" opens a quote for the scan
    ],
)
def test_find_brace(text: str, index: int) -> None:
    assert find_brace(text) == index


def words(text: str) -> tuple[list[tuple[str, int, bool]], bool]:
    ws, unmatched = tokenize(text, 0, "f", 1)
    return [(w.text, w.loc.col, w.quoted) for w in ws], unmatched


def test_tokenize_whitespace_and_columns() -> None:
    assert words("virtual_router_id 9 ; priority 99") == (
        [("virtual_router_id", 1, False), ("9", 19, False), (";", 21, False),
         ("priority", 23, False), ("99", 32, False)], False)
    assert words("a\tb\fc\vd")[0] == [("a", 1, False), ("b", 3, False), ("c", 5, False), ("d", 7, False)]


def test_tokenize_quotes() -> None:
    assert words('router_id "quoted id with spaces"') == (
        [("router_id", 1, False), ("quoted id with spaces", 11, True)], False)
    assert words('a"b c"')[0] == [("a", 1, False), ("b c", 2, True)]  # a quote ends a word
    assert words('"x"y')[0] == [("x", 1, True), ("y", 4, False)]
    assert words('""')[0] == [("", 1, True)]
    assert words('a "b')[0] == [("a", 1, False)] and words('a "b')[1]
    assert words("a 'b c'")[0] == [("a", 1, False), ("'b", 3, False), ("c'", 6, False)]


def test_physical_lines() -> None:
    text = "a\r\n\nb\0c\n" + "x" * 1023 + "\n" + "y" * 1022 + "\nlast"
    got = list(PhysicalLines(text))
    assert got == [
        (1, "a", None), (2, "", None), (3, None, EMBEDDED_NUL), (4, None, TOO_LONG),
        (5, "y" * 1022, None), (6, "last", None)]


def test_physical_line_limit_counts_bytes() -> None:
    # 1022 bytes fit in keepalived's 1024-byte buffer with '\n' and NUL; 1023 do not
    assert next(PhysicalLines("é" * 511))[1] == "é" * 511
    assert next(PhysicalLines("é" * 511 + "a"))[2] == TOO_LONG


def test_ten_megabyte_line_is_one_message() -> None:
    got = list(PhysicalLines("a" * 10_000_000 + "\nok\n"))
    assert got == [(1, None, TOO_LONG), (2, "ok", None)]


@given(st.text(alphabet=' \t"#!\\{}abc;', max_size=40))
def test_decomment_never_grows_and_columns_are_in_range(line: str) -> None:
    text, cols, _ = decomment(line)
    assert len(text) <= len(line)
    assert all(1 <= col_at(cols, i) <= len(line) for i in range(len(text)))
    assert text == text.strip(" \t") or text.endswith("\\")


@given(st.lists(st.text(alphabet="abc{}=./", min_size=1, max_size=6), max_size=6))
def test_tokenize_round_trips_unquoted_words(ws: list[str]) -> None:
    line = "  ".join(ws)
    toks, unmatched = tokenize(line, 0, "f", 1)
    assert not unmatched
    assert [t.text for t in toks] == ws
    assert all(line[t.loc.col - 1:].startswith(t.text) for t in toks)
