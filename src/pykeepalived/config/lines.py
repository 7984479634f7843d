"""Logical lines: what the reader hands to the parser.

The reader (lexer + preprocessor) turns keepalived.conf files into a flat sequence of
``LogicalLine`` objects, exactly as keepalived's ``read_line()`` does: comments removed,
includes/conditionals/definitions/sequences expanded, and every ``{`` and ``}`` split onto a
logical line of its own.  Every word keeps the file, line and column it came from, so every
diagnostic can say ``file:line:col``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Location:
    """Where something was written: 1-based line and column in a file."""

    file: str
    line: int
    col: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Word:
    """One token of a logical line (quotes removed, as keepalived's tokeniser does)."""

    text: str
    loc: Location
    quoted: bool = False


@dataclass(frozen=True, slots=True)
class LogicalLine:
    """One logical line.

    ``words`` are the tokens (a brace line has exactly one word, ``{`` or ``}``).
    ``raw`` is the decommented, substituted text of this logical line (for keywords that
    re-parse their line with script quoting rules, e.g. ``notify_master``).
    """

    words: tuple[Word, ...]
    raw: str
    loc: Location

    @property
    def keyword(self) -> str:
        return self.words[0].text if self.words else ""

    def texts(self) -> list[str]:
        return [w.text for w in self.words]


# -- cheaper construction -----------------------------------------------------------------
#
# The reader creates a Location and a Word for every word of a config, and a LogicalLine per
# line (~650k objects for a 128k-line file).  A frozen dataclass's generated ``__init__`` sets
# each field through ``object.__setattr__``; setting the slots through their member
# descriptors does the same thing at half the cost.  The classes stay frozen (instances still
# refuse assignment) and their fields, defaults, equality, hashing and repr are unchanged.


def _location_init() -> Any:
    set_file, set_line, set_col = (Location.__dict__[n].__set__ for n in ("file", "line", "col"))

    def __init__(self: Location, file: str, line: int, col: int = 1) -> None:
        set_file(self, file)
        set_line(self, line)
        set_col(self, col)

    return __init__


def _word_init() -> Any:
    set_text, set_loc, set_quoted = (Word.__dict__[n].__set__ for n in ("text", "loc", "quoted"))

    def __init__(self: Word, text: str, loc: Location, quoted: bool = False) -> None:
        set_text(self, text)
        set_loc(self, loc)
        set_quoted(self, quoted)

    return __init__


def _logical_line_init() -> Any:
    set_words, set_raw, set_loc = (LogicalLine.__dict__[n].__set__ for n in ("words", "raw", "loc"))

    def __init__(self: LogicalLine, words: tuple[Word, ...], raw: str, loc: Location) -> None:
        set_words(self, words)
        set_raw(self, raw)
        set_loc(self, loc)

    return __init__


type.__setattr__(Location, "__init__", _location_init())
type.__setattr__(Word, "__init__", _word_init())
type.__setattr__(LogicalLine, "__init__", _logical_line_init())
