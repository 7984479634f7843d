"""Script keyword argv splitting, as keepalived 2.4.x (keepalived's lib/notify.c: set_script_params_array())."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pykeepalived.config.argv import ArgvError, split_command, split_script_line
from pykeepalived.config.errors import ErrClass


def test_man_page_example() -> None:
    # notify_master "/etc/keepalived/notify_event.sh ' spaces\\x20f\x69le ' '\"s p a c e \"'
    #                ${SG_NAME}.$INST master" $USER group   (after $SG_NAME=SG1, $INST=low)
    raw = ('"/etc/keepalived/notify_event.sh \' spaces\\\\x20f\\x69le \' \'\\"s p a c e \\"\' SG1.low master"'
           " $USER group")
    command, user, group = split_script_line(raw)
    assert (user, group) == ("$USER", "group")
    assert split_command(command) == ["/etc/keepalived/notify_event.sh", " spaces\\x20file ",
                                      '"s p a c e "', "SG1.low", "master"]


def test_verified_echo_example_2_4_behaviour() -> None:
    # raw line of: script "/bin/echo \# not a comment ${_HASH} ${_BANG} 'single q' \"dq\"" ; interval 3
    raw = '"/bin/echo \\# not a comment # ! \'single q\' \\"dq\\"" ; interval 3'
    command, user, group = split_script_line(raw)
    assert command == "/bin/echo \\# not a comment # ! 'single q' \\\"dq\\\""
    assert (user, group) == (";", "interval")
    assert split_command(command) == ["/bin/echo", "#", "not", "a", "comment", "#", "!", "single q", '"dq"']


def test_script_line_forms() -> None:
    assert split_script_line("/bin/true") == ("/bin/true", None, None)
    assert split_script_line("'/bin/x a' root :wheel") == ("/bin/x a", "root", ":wheel")
    assert split_script_line('  "a b"c  u') == ("a bc", "u", None)  # quotes group inside a word


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        ("a b\tc", ["a", "b", "c"]),
        ("'a b' \"c d\" e'f g'h", ["a b", "c d", "ef gh"]),
        ("'it\"s' \"it's\"", ['it"s', "it's"]),
        (r"\a\b\E\f\n\r\t\v", ["\a\b\x1b\f\n\r\t\v"]),
        (r"\101\60\0619", ["A0" + "19"]),
        (r"\x41\x4a\x4Bz \xZ", ["AJKz", "xZ"]),
        (r"\cA\c[ \c", ["\x01\x1b", "c"]),
        (r"\q\\ \'\"", ["q\\", "'\""]),
        (r"a\ b", ["a b"]),
        (r"'\x41'", ["A"]),  # escapes work inside quotes too
        (r"a\0b c", ["a", "c"]),  # NUL ends the word, as in C
        (r"\xff", ["\udcff"]),  # bytes >= 0x80 survive as surrogates
        ("", []),
    ],
)
def test_split_command(command: str, argv: list[str]) -> None:
    assert split_command(command) == argv


def test_high_bytes_round_trip_through_fsencode() -> None:
    assert os.fsencode(split_command(r"\xe9\303\251")[0]) == b"\xe9\xc3\xa9"


def test_errors() -> None:
    with pytest.raises(ArgvError) as e:
        split_command("'abc")
    assert e.value.cls is ErrClass.UNMATCHED_QUOTE
    assert e.value.message == "String ''abc': missing terminating '"
    with pytest.raises(ArgvError, match="Missing escape char at end"):
        split_command("abc\\")
    with pytest.raises(ArgvError):
        split_script_line('"abc')
    with pytest.raises(ArgvError) as e:
        split_script_line("   ")
    assert e.value.cls is ErrClass.MISSING_PARAMETER


@given(st.lists(st.text(alphabet="abc xyz/.-_'\"\\", max_size=8), max_size=6))
def test_never_crashes_on_arbitrary_input(parts: list[str]) -> None:
    text = " ".join(parts)
    for fn in (split_command, split_script_line):
        try:
            fn(text)
        except ArgvError:
            pass


@given(st.lists(st.text(alphabet="abcXYZ019/.-_ ", min_size=1, max_size=8), min_size=1, max_size=6))
def test_single_quoted_words_round_trip(words: list[str]) -> None:
    assert split_command(" ".join(f"'{w}'" for w in words)) == words
