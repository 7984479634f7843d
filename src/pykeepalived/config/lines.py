"""Logical lines: what the reader hands to the parser.

The reader (lexer + preprocessor) turns keepalived.conf files into a flat sequence of
``LogicalLine`` objects, exactly as keepalived's ``read_line()`` does: comments removed,
includes/conditionals/definitions/sequences expanded, and every ``{`` and ``}`` split onto a
logical line of its own.  Every word keeps the file, line and column it came from, so every
diagnostic can say ``file:line:col``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from operator import itemgetter
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


class _made_once:
    """A value made at the first access and then kept in the instance (``functools.cached_property``
    without 3.11's lock, which would cost more than the value on every first access)."""

    def __init__(self, make: Any) -> None:
        self.make = make
        self.name = make.__name__

    def __get__(self, obj: Any, cls: Any = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.make(obj)
        return value


class LogicalLine(tuple):  # type: ignore[type-arg]
    """One logical line.

    ``words`` are the tokens (a brace line has exactly one word, ``{`` or ``}``), each with its
    location; ``tokens`` are their texts.  ``raw`` is the decommented, substituted text of this
    logical line (for keywords that re-parse their line with script quoting rules, e.g.
    ``notify_master``).  ``loc`` is where it starts.

    A large config has hundreds of thousands of lines and words, and most are read through without
    a complaint, so the reader's fast path (:meth:`plain`) keeps only the texts, the file, the line
    number and the columns, in one tuple made in one step; the ``Word`` objects are made when something
    asks for them (an error, a handler that keeps words) and then kept, the ``Location`` at each ask.  A
    keyword line of the bulk path (:meth:`of_physical`) keeps its physical line instead, its raw text and
    columns found in it when asked for.  Lines compare equal by words, raw text and location however they
    were made, and are immutable.
    """

    # the tuple: tokens, raw (None: see of_physical), file, line number, the first token's column (0: see
    # of_physical), the columns (see plain; a str: the physical line, see of_physical)
    tokens: tuple[str, ...] = property(itemgetter(0))  # type: ignore[assignment]

    @property
    def raw(self) -> str:
        raw = self[1]
        return raw if raw is not None else self[5].strip()

    def __new__(cls, words: tuple[Word, ...], raw: str, loc: Location) -> LogicalLine:
        self = _new(cls, (tuple([w.text for w in words]), raw, loc.file, loc.line, loc.col, None))
        self.__dict__["words"] = words
        return self

    @classmethod
    def plain(cls, tokens: tuple[str, ...], cols: tuple[int, ...] | int | None, raw: str, file: str, line: int,
              col: int) -> LogicalLine:
        """A line of unquoted tokens at 1-based columns ``cols`` of ``file``'s ``line``, starting at ``col``;
        an int ``cols``: the first token's column, the others each one past the end of the one before
        (single spaces); None: ``raw`` is exactly the tokens with the blanks between them as written, so
        their columns are found in it when asked for."""
        return _new(cls, (tokens, raw, file, line, col, cols))

    @classmethod
    def of_physical(cls, tokens: tuple[str, ...], physical: str, file: str, line: int) -> LogicalLine:
        """``file``'s ``line`` ``physical`` (or its start, up to a block's ``{``), whose tokens
        (``physical.split()``) are plain and separated by spaces and tabs only: its raw text (``physical``
        stripped) and its columns are found when asked for (the reader's bulk path makes hundreds of
        thousands of lines and asks for neither)."""
        return _new(cls, (tokens, None, file, line, 0, physical))

    @property
    def loc(self) -> Location:
        # made at each call, not kept: most lines are asked once, by the block they open, and keeping it
        # would give each of those lines an instance dict
        col = self[4]
        if not col:  # of_physical: the first token is where its text first appears (only blanks before it)
            col = self[5].find(self[0][0]) + 1
        return Location(self[2], self[3], col)

    @_made_once
    def words(self) -> tuple[Word, ...]:
        file, line, cols = self[2], self[3], self[5]
        if cols is None or isinstance(cols, str):
            # the reader's bulk path (see plain, of_physical): the tokens are where they are found in raw,
            # which starts at the first token's column
            first = self.loc.col
            cols = tuple([first + m.start() for m in _TOKEN.finditer(self.raw)])
        elif isinstance(cols, int):
            starts = []
            for t in self[0]:
                starts.append(cols)
                cols += len(t) + 1
            cols = tuple(starts)
        return tuple([Word(t, Location(file, line, c)) for t, c in zip(self[0], cols, strict=True)])

    @property
    def keyword(self) -> str:
        tokens = self[0]
        return tokens[0] if tokens else ""

    def texts(self) -> list[str]:
        return list(self[0])

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"LogicalLine is immutable: cannot set {name}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"LogicalLine is immutable: cannot delete {name}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LogicalLine):
            return NotImplemented
        return self[0] == other[0] and self.raw == other.raw and self.loc == other.loc and self.words == other.words

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        return hash((self[0], self.raw, self.loc))

    def __repr__(self) -> str:
        return f"LogicalLine(words={self.words!r}, raw={self.raw!r}, loc={self.loc!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (LogicalLine, (self.words, self.raw, self.loc))


_new = tuple.__new__
#: a token of a line that holds only blanks (space, tab) between its tokens
_TOKEN = re.compile(r"[^ \t]+")


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


type.__setattr__(Location, "__init__", _location_init())
type.__setattr__(Word, "__init__", _word_init())
