"""Logical lines: what the reader hands to the parser.

The reader (lexer + preprocessor) turns keepalived.conf files into a flat sequence of
``LogicalLine`` objects, exactly as keepalived's ``read_line()`` does: comments removed,
includes/conditionals/definitions/sequences expanded, and every ``{`` and ``}`` split onto a
logical line of its own.  Every word keeps the file, line and column it came from, so every
diagnostic can say ``file:line:col``.
"""

from __future__ import annotations

from dataclasses import dataclass


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
