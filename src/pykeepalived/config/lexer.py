"""Per-line lexing of keepalived.conf text, as keepalived's ``lib/parser.c`` does it.

Four small jobs, each applied by the preprocessor (``preprocess.py``) at the point where
keepalived applies it:

* ``PhysicalLines``: split a file into lines and reject the ones keepalived rejects
  (longer than ``MAXBUF`` bytes, embedded NULs);
* ``decomment``: strip blanks and ``#``/``!`` comments (anywhere outside double quotes,
  ``\\#``/``\\!`` escape them), keep a trailing ``\\`` continuation marker;
* ``find_brace``: where a line must be split so every ``{``/``}`` becomes a logical line;
* ``tokenize``: whitespace split where a token *starting* with ``"`` runs to the next ``"``.

Columns.  Every piece of text travels with its column map ``Cols`` so words can say where in
the physical line they were written.  The map is either an ``int`` offset (text[i] was written
at column ``offset + i + 1``: the common, cheap case) or a list of 1-based columns, one per
character (after an escape was removed or a definition substituted).
"""

from __future__ import annotations

import re

from .lines import Location, Word

#: keepalived's line buffer (``MAXBUF``); a line must fit in it with its newline and NUL
MAXBUF = 1024
#: keepalived's WHITE_SPACE set, used when tokenising
WHITESPACE = " \t\f\n\r\v"

Cols = int | list[int]

#: keywords whose line keepalived (2.4.x) re-parses with script quoting rules; a mismatched
#: quote after their second word is allowed (``install_keyword_quoted``)
SCRIPT_KEYWORDS = frozenset({
    "lvs_notify_fifo_script", "misc_path", "notify", "notify_backup", "notify_deleted",
    "notify_down", "notify_fault", "notify_fifo_script", "notify_master",
    "notify_master_rx_lower_pri", "notify_stop", "notify_up", "quorum_down", "quorum_up",
    "script", "shutdown_script", "startup_script", "vrrp_notify_fifo_script",
})

_DECOMMENT_SPECIAL = re.compile(r'[!#"\\]')
_BRACE_OR_QUOTE = re.compile(r'[{}"]')
_TOKEN = re.compile(r"[^ \t\f\n\r\v]+")
_PLAIN_TOKEN = re.compile(r'[^ \t\f\n\r\v"]*')
_WS = re.compile(r"[ \t\f\n\r\v]*")
#: what ``str.split()`` splits on besides space, tab and newline (\r is not in a clean file)
_ODD_SPACE = re.compile("[\x0b\x0c\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")
#: those of them in ASCII (an ASCII text is searched for each with str.find, many times faster)
_ODD_ASCII_SPACE = "\x0b\x0c\x1c\x1d\x1e\x1f"

#: physical-line outcomes other than text
TOO_LONG = "line too long - ignoring"
EMBEDDED_NUL = "configuration appears to have embedded NULs - ignoring line"


def col_at(cols: Cols, pos: int) -> int:
    """1-based physical column of text position ``pos`` (positions past the end extrapolate)."""
    if isinstance(cols, int):
        return cols + pos + 1
    if pos < len(cols):
        return cols[pos]
    return (cols[-1] + 1 + pos - len(cols)) if cols else pos + 1


def slice_cols(cols: Cols, start: int, stop: int | None = None) -> Cols:
    """Column map of ``text[start:stop]``."""
    if isinstance(cols, int):
        return cols + start
    return cols[start:stop]


def expand_cols(cols: Cols, length: int) -> list[int]:
    """An explicit per-character column list (needed before text is rearranged)."""
    if isinstance(cols, int):
        return list(range(cols + 1, cols + length + 1))
    return cols


def _byte_len(line: str) -> int:
    """Length in bytes as keepalived's ``fgets`` sees it (undecodable bytes count as one)."""
    try:
        return len(line.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:
        return len(line.encode("utf-8", "surrogatepass"))


def splits_as_keepalived(text: str, ascii: bool) -> bool:
    """Whether ``str.split()`` splits ``text`` (``ascii``: all of it ASCII) only where keepalived's reader does:
    it holds none of the blanks Python alone counts (``_ODD_SPACE``)."""
    if ascii:
        return not any(c in text for c in _ODD_ASCII_SPACE)
    return _ODD_SPACE.search(text) is None


class PhysicalLines:
    """Iterate ``(line_no, line, problem)`` per physical line of ``text``.

    ``line`` has its ``\\n`` and trailing ``\\r`` removed; when keepalived would ignore the line,
    ``line`` is None and ``problem`` is its message.  Unlike keepalived, an overlong line is
    reported once and skipped whole (keepalived reads it in 1023-byte chunks and miscounts
    lines), so a 10 MB line costs one message.

    ``clean`` says that no line needs any of that (no NUL, no ``\\r``, none too long): the reader
    then takes the lines straight from ``lines`` and advances ``pos`` (the next line's index, which
    is also the line number of the one just taken) itself, a tuple and a generator step less per line.
    """

    __slots__ = ("_ascii", "_has_nul", "_offset", "_offset_pos", "_plain_stop", "blank_split", "clean", "lines", "pos",
                 "text")

    def __init__(self, text: str) -> None:
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        self.text = text
        self.lines = lines
        self.pos = 0
        self._has_nul = "\0" in text
        self._ascii = text.isascii()
        limit = MAXBUF - 1
        self.clean = (not self._has_nul and "\r" not in text
                      and (not lines or max(map(len, lines)) * (1 if self._ascii else 4) < limit))
        #: ``str.split()`` tokenises every line as keepalived does: the only blanks are spaces and tabs
        #: (no \f or \v, which keepalived splits on too, and none of the characters Python alone counts as
        #: white space)
        self.blank_split = self.clean and splits_as_keepalived(text, self._ascii)
        #: the offset in text of line ``_offset_pos``
        self._offset = self._offset_pos = 0
        #: the last answer of first_match: it holds for every position up to it
        self._plain_stop = -1

    def first_match(self, needles: tuple[str, ...]) -> int:
        """The index of the first line from ``pos`` on in which any of ``needles`` is found (the number of
        lines if none), found by searching the text rather than each line (``str.find`` each, every search
        bounded by the nearest found so far).  Always asked with the same ``needles``: the answer is kept."""
        pos, done = self.pos, self._offset_pos
        if done <= pos < self._plain_stop:  # the line found from an earlier position is still the first
            return self._plain_stop
        if pos < done:
            done = self._offset = 0
        if pos > done:
            self._offset += sum(map(len, self.lines[done:pos])) + (pos - done)
        self._offset_pos = pos
        text, offset = self.text, self._offset
        end = len(text)
        for needle in needles:
            found = text.find(needle, offset, end)
            if found >= 0:
                end = found
        self._plain_stop = len(self.lines) if end == len(text) else pos + text.count("\n", offset, end)
        return self._plain_stop

    def __iter__(self) -> PhysicalLines:
        return self

    def __next__(self) -> tuple[int, str | None, str | None]:
        pos = self.pos
        if pos >= len(self.lines):
            raise StopIteration
        line = self.lines[pos]
        self.pos = no = pos + 1
        if self._has_nul and "\0" in line:
            return no, None, EMBEDDED_NUL
        n = len(line)
        limit = MAXBUF - 1
        if n >= limit or (n * 4 >= limit and not self._ascii and _byte_len(line) >= limit):
            return no, None, TOO_LONG
        if n and line[-1] == "\r":
            line = line.rstrip("\r")
        return no, line, None


def decomment(text: str, cols: Cols = 0) -> tuple[str, Cols, bool]:
    """keepalived's ``decomment()``: returns ``(text, cols, unterminated_quote)``.

    Leading blanks go; ``#`` or ``!`` outside double quotes ends the line; ``\\#``/``\\!``
    outside quotes lose their backslash; any other ``\\X`` is kept (and hides a ``"``); a
    final lone ``\\`` is kept as the continuation marker after trailing blanks are removed.
    """
    stripped = text.lstrip(" \t")
    start = len(text) - len(stripped)
    if _DECOMMENT_SPECIAL.search(stripped) is None:
        return stripped.rstrip(" \t"), slice_cols(cols, start), False

    out: list[str] = []
    out_cols: list[int] = []
    quote = False
    cont_col = 0
    i, n = start, len(text)

    def keep(a: int, b: int) -> None:
        out.append(text[a:b])
        if isinstance(cols, int):
            out_cols.extend(range(cols + a + 1, cols + b + 1))
        else:
            out_cols.extend(cols[a:b])

    while True:
        m = _DECOMMENT_SPECIAL.search(text, i)
        if m is None:
            keep(i, n)
            break
        j = m.start()
        keep(i, j)
        c = text[j]
        if c == '"':
            quote = not quote
            keep(j, j + 1)
            i = j + 1
        elif c == "\\":
            if j + 1 < n:
                if not quote and text[j + 1] in "#!":
                    keep(j + 1, j + 2)
                else:
                    keep(j, j + 2)
                i = j + 2
            else:
                cont_col = col_at(cols, j)
                break
        elif quote:
            keep(j, j + 1)
            i = j + 1
        else:
            cont_col = _comment_continuation(text, j, cols)
            break
    result = "".join(out)
    trimmed = result.rstrip(" \t")
    del out_cols[len(trimmed):]
    if cont_col:
        trimmed += "\\"
        out_cols.append(cont_col)
    return trimmed, out_cols, quote


def _comment_continuation(text: str, start: int, cols: Cols) -> int:
    """keepalived's ``decomment`` goes on scanning a comment for backslashes: each ``\\X`` is skipped
    as a pair and a final lone ``\\`` still marks a continuation, so ``! ... \\`` leaves the line
    ``\\``.  Returns that backslash's column (0: none)."""
    i = text.find("\\", start)
    while i >= 0:
        if i + 1 == len(text):
            return col_at(cols, i)
        i = text.find("\\", i + 2)
    return 0


def find_brace(text: str) -> int:
    """Index of the first ``{`` or ``}`` not inside ``"..."`` (keepalived's scan), or -1.

    The scan does not honour escapes, and an unclosed ``"`` hides everything after it.
    """
    if not text:
        return -1
    if text[0] in "{}":
        return 0
    if "{" not in text and "}" not in text:
        return -1
    i = 0
    while True:
        m = _BRACE_OR_QUOTE.search(text, i)
        if m is None:
            return -1
        if m.group() != '"':
            return m.start()
        close = text.find('"', m.start() + 1)
        if close < 0:
            return -1
        i = close + 1


def tokenize(text: str, cols: Cols, file: str, line: int) -> tuple[list[Word], bool]:
    """keepalived's ``alloc_strvec_r``: returns ``(words, unmatched_quote)``.

    Words split on whitespace; a word starting with ``"`` runs to the next ``"`` (quotes
    removed, no escapes); a ``"`` inside a word ends it.  On an unmatched ``"`` the rest of
    the line is dropped and ``unmatched_quote`` is True.
    """
    if '"' not in text:
        if isinstance(cols, int):
            return [Word(m.group(), Location(file, line, cols + m.start() + 1))
                    for m in _TOKEN.finditer(text)], False
        return [Word(m.group(), Location(file, line, col_at(cols, m.start())))
                for m in _TOKEN.finditer(text)], False

    words: list[Word] = []
    n = len(text)
    i = _WS.match(text, 0).end()  # type: ignore[union-attr]
    while i < n:
        loc = Location(file, line, col_at(cols, i))
        if text[i] == '"':
            close = text.find('"', i + 1)
            if close < 0:
                return words, True
            words.append(Word(text[i + 1:close], loc, True))
            i = close + 1
        else:
            end = _PLAIN_TOKEN.match(text, i).end()  # type: ignore[union-attr]
            words.append(Word(text[i:end], loc))
            i = end
        i = _WS.match(text, i).end()  # type: ignore[union-attr]
    return words, False
