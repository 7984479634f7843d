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


class LogicalLine:
    """One logical line.

    ``words`` are the tokens (a brace line has exactly one word, ``{`` or ``}``), each with its
    location; ``tokens`` are their texts.  ``raw`` is the decommented, substituted text of this
    logical line (for keywords that re-parse their line with script quoting rules, e.g.
    ``notify_master``).

    Most lines are read through and never complained about, so the reader's fast path
    (:meth:`plain`) keeps only the texts and their columns, and the ``Word`` objects are made
    when something asks for them (an error's location, a handler that keeps words): a large
    config has hundreds of thousands of words.  Lines compare equal by words, raw text and
    location however they were made.  Instances are immutable.
    """

    __slots__ = ("_cols", "_words", "loc", "raw", "tokens")

    tokens: tuple[str, ...]
    raw: str
    loc: Location
    _cols: tuple[int, ...] | int | None
    _words: tuple[Word, ...] | None

    def __init__(self, words: tuple[Word, ...], raw: str, loc: Location) -> None:
        _set_tokens(self, tuple([w.text for w in words]))
        _set_raw(self, raw)
        _set_loc(self, loc)
        _set_cols(self, None)
        _set_words(self, words)

    @classmethod
    def plain(cls, tokens: tuple[str, ...], cols: tuple[int, ...] | int, raw: str, loc: Location) -> LogicalLine:
        """A line of unquoted tokens at 1-based columns ``cols`` of ``loc``'s file and line; an int: the
        first token's column, the others each one past the end of the one before (single spaces)."""
        self = cls.__new__(cls)
        _set_tokens(self, tokens)
        _set_raw(self, raw)
        _set_loc(self, loc)
        _set_cols(self, cols)
        _set_words(self, None)
        return self

    @property
    def words(self) -> tuple[Word, ...]:
        words = self._words
        if words is None:
            file, line, cols = self.loc.file, self.loc.line, self._cols
            assert cols is not None
            if isinstance(cols, int):
                starts = []
                for t in self.tokens:
                    starts.append(cols)
                    cols += len(t) + 1
                cols = tuple(starts)
            words = tuple([Word(t, Location(file, line, c)) for t, c in zip(self.tokens, cols, strict=True)])
            _set_words(self, words)
        return words

    @property
    def keyword(self) -> str:
        return self.tokens[0] if self.tokens else ""

    def texts(self) -> list[str]:
        return list(self.tokens)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"LogicalLine is immutable: cannot set {name}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"LogicalLine is immutable: cannot delete {name}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LogicalLine):
            return NotImplemented
        return self.tokens == other.tokens and self.raw == other.raw and self.loc == other.loc \
            and self.words == other.words

    def __hash__(self) -> int:
        return hash((self.tokens, self.raw, self.loc))

    def __repr__(self) -> str:
        return f"LogicalLine(words={self.words!r}, raw={self.raw!r}, loc={self.loc!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (LogicalLine, (self.words, self.raw, self.loc))


_set_tokens, _set_raw, _set_loc, _set_cols, _set_words = (
    LogicalLine.__dict__[n].__set__ for n in ("tokens", "raw", "loc", "_cols", "_words"))


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
