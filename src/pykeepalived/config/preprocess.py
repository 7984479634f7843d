"""The config reader: files in, ``LogicalLine``s out, as keepalived's ``read_line()`` does it.

keepalived reads its configuration through one function that mixes file handling, ``@id``
conditionals, ``$NAME=VALUE`` definitions, ``~SEQ``/``~LST`` generators, ``include`` and brace
splitting, with a fixed priority between its line sources.  We keep the same model, because
the quirks of a real config depend on it: a *work stack* of pending lines (brace residue,
multi-line definition continuation, ``~SEQ`` values) is always served before the next
physical line of the innermost open file.  Every line from any source runs through the same
pipeline (``_Reader._process``).

Deliberate differences from keepalived 2.2.7, each to stay safe on hostile input:

* include loops (a file including itself, directly or not) are reported and skipped;
* a definition that expands to itself forever, or nests multi-line expansions / generators
  more than ``MAX_NESTING`` deep, or generates more than ``MAX_GENERATED_LINES`` lines, is
  reported and cut short (keepalived would loop forever or exhaust memory);
* an overlong physical line is reported once and skipped whole;
* ``${_RANDOM MIN MAX}`` followed by text is substituted correctly (fixed after 2.2.7).

The main file.  keepalived checks the main file before reading it (``check_conf_file``); when
that fails it logs e.g. ``Config files missing '...'.`` and stops, and ``keepalived -t`` then
exits with the class keepalived recorded, which for a missing file or a directory is *OK*
(exit 0 in 2.2.7) and for an unreadable file FILE_NOT_FOUND (exit 4).  ``read_config`` records
the message with ``ErrClass.FILE_NOT_FOUND`` and marks the result: ``result.main_file_missing``
is True and ``result.main_file_status`` is the class keepalived itself would have recorded, so
the CLI can mirror keepalived's exit code.
"""

from __future__ import annotations

import glob
import os
import random
import re
import socket
import stat
import string
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import IntFlag
from functools import partial
from itertools import chain, islice
from typing import Any

from pykeepalived.gcpause import gc_paused

from .block_cache import BlockCache, ReusedBlock, digest
from .errors import Diagnostics, ErrClass
from .lexer import (
    MAXBUF,
    SCRIPT_KEYWORDS,
    Cols,
    PhysicalLines,
    col_at,
    decomment,
    expand_cols,
    find_brace,
    slice_cols,
    tokenize,
)
from .lines import Location, LogicalLine

#: cap on lines produced by ~SEQ/~LST and multi-line definitions in one read
MAX_GENERATED_LINES = 1_000_000
#: cap on nested multi-line expansions / generators (a definition that uses itself)
MAX_NESTING = 64
#: cap on substitutions in one line (``$A=$B``, ``$B=$A`` would never finish)
MAX_SUBSTITUTIONS = 4096
#: the logical lines :meth:`_Reader.stream` hands over at a time
STREAM_CHUNK = 4096
#: ~SEQ parameters are substituted into a buffer this size (keepalived's ``seq_buf``)
_SEQ_BUF = 3 * 20 + 3 + 1

_ALPHA = frozenset(string.ascii_letters + "_")
_ALNUM = frozenset(string.ascii_letters + string.digits + "_")
_NAME_END = frozenset(" \t,)")
_C_SPACE = frozenset(" \t\n\v\f\r")
_DIGITS = frozenset(string.digits)


class IncludeCheck(IntFlag):
    """keepalived's ``include_t`` flags: which include problems are errors."""

    NONE = 0
    READABLE = 0x01  # directory / not regular / unreadable
    MATCH = 0x02  # nothing matched a pattern without wildcards
    WILDCARD_MATCH = 0x04  # nothing matched, even with wildcards
    BRACE_MATCH = 0x08  # some {a,b} alternative matched nothing

    @classmethod
    def all(cls) -> IncludeCheck:
        """What ``-e/--all-config`` and a bare ``include_check`` select."""
        return cls.READABLE | cls.MATCH | cls.WILDCARD_MATCH | cls.BRACE_MATCH


_INCLUDE_VARIANTS = {
    "r": IncludeCheck.READABLE,
    "m": IncludeCheck.READABLE | IncludeCheck.MATCH,
    "w": IncludeCheck.READABLE | IncludeCheck.MATCH | IncludeCheck.WILDCARD_MATCH,
    "b": IncludeCheck.READABLE | IncludeCheck.BRACE_MATCH,
    "a": IncludeCheck.all(),
}
_INCLUDE_CHECK_WORDS = {
    "read": IncludeCheck.READABLE,
    "match": IncludeCheck.MATCH,
    "wildcard_match": IncludeCheck.WILDCARD_MATCH,
    "brace_match": IncludeCheck.BRACE_MATCH,
}


class ReadResult(list[LogicalLine]):
    """The logical lines, plus what the CLI needs to know about the files behind them."""

    def __init__(self) -> None:
        super().__init__()
        #: the main file could not be used (missing, a directory, unreadable, no match)
        self.main_file_missing = False
        #: the class keepalived 2.2.7 records for that (OK -> ``-t`` exits 0)
        self.main_file_status = ErrClass.OK
        #: an include problem that the include checks make an error (``-e`` makes it fatal)
        self.file_error = False
        #: every file read, in order (for reload watching and ``config show``)
        self.files: list[str] = []


#: a physical line containing none of these goes through ``_Reader._plain_line``: nothing
#: in it is a comment, quote, escape, definition, conditional, generator or include
#: the one token of a brace line
_BRACE_TOKENS = {"{": ("{",), "}": ("}",)}
_OPEN_TOKENS = _BRACE_TOKENS["{"]
_new_line = tuple.__new__
_NOT_PLAIN = re.compile(r'[$~@"#!\\]|include')
#: _NOT_PLAIN's characters and word, each searched for through a whole file with str.find (many times faster
#: than the alternation)
_NOT_PLAIN_NEEDLES = (*'$~@"#!\\', "include")
_BRACE = re.compile(r"[{}]")
_TOKEN = re.compile(r"[^ \t\f\n\r\v]+")

# --------------------------------------------------------------------------------------
# definitions


@dataclass(slots=True)
class _Def:
    name: str
    value: str = ""
    multiline: bool = False
    fn: Callable[[str | None, _Ctx, Location], str] | None = None
    min_params: int = 0
    max_params: int = 0
    numbers_only: bool = False


@dataclass(slots=True)
class _Ctx:
    """Where a line comes from: display file name, directory for ``${_PWD}`` and includes."""

    file: str
    base_dir: str
    pwd: str


def _strtol(s: str, i: int) -> tuple[int, int]:
    """C ``strtol(s + i, &end, 0)``: (value, end index); no digits -> (0, i)."""
    n = len(s)
    j = i
    while j < n and s[j] in _C_SPACE:
        j += 1
    neg = False
    if j < n and s[j] in "+-":
        neg = s[j] == "-"
        j += 1
    base = 10
    if j + 1 < n and s[j] == "0" and s[j + 1] in "xX" and j + 2 < n and s[j + 2] in string.hexdigits:
        base = 16
        j += 2
    elif j < n and s[j] == "0":
        base = 8
    digits = {10: string.digits, 16: string.hexdigits, 8: "01234567"}[base]
    k = j
    while k < n and s[k] in digits:
        k += 1
    if k == j:
        return 0, i
    value = int(s[j:k], base)
    value = -value if neg else value
    return max(-(2**63), min(2**63 - 1, value)), k


def _skip_blanks(s: str, i: int) -> int:
    n = len(s)
    while i < n and s[i] in " \t":
        i += 1
    return i


# --------------------------------------------------------------------------------------
# work items


@dataclass(slots=True)
class _Line:
    """A line waiting to go through the pipeline."""

    text: str
    cols: Cols
    ctx: _Ctx
    line: int
    depth: int


@dataclass(slots=True)
class _Gen:
    """A ~SEQ/~LST generator: each step sets the variables and yields ``text`` once."""

    assignments: Iterator[list[tuple[str, str]]]
    text: str
    cols: Cols
    ctx: _Ctx
    line: int
    depth: int


@dataclass(slots=True)
class _OpenGlob:
    """One ``include`` (or the main file): its matches, read one after another."""

    pattern: str
    include_type: IncludeCheck
    saved_check: IncludeCheck
    base_dir: str
    matches: list[str]
    loc: Location | None
    index: int = 0
    # the file currently read from this glob
    lines: PhysicalLines | None = None
    ctx: _Ctx | None = None
    ident: tuple[int, int] | None = None


@dataclass
class _GlobOutcome:
    matches: list[str] = field(default_factory=list)
    missing: bool = False
    wildcards: bool = False


def _has_brace(pattern: str) -> bool:
    i, n = 0, len(pattern)
    while i < n:
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern[i] == "{":
            return True
        i += 1
    return False


def _brace_expand(pattern: str) -> list[str]:
    """csh ``{a,b}`` expansion as glibc's GLOB_BRACE does it (unbalanced -> literal)."""
    i, n = 0, len(pattern)
    while i < n and pattern[i] != "{":
        i += 2 if pattern[i] == "\\" else 1
    if i >= n:
        return [pattern]
    depth, alts, start, j = 0, [], i + 1, i + 1
    while j < n:
        c = pattern[j]
        if c == "\\":
            j += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                alts.append(pattern[start:j])
                break
            depth -= 1
        elif c == "," and depth == 0:
            alts.append(pattern[start:j])
            start = j + 1
        j += 1
    else:
        return [pattern]
    head, tail = pattern[:i], pattern[j + 1:]
    out: list[str] = []
    for alt in alts:
        out.extend(_brace_expand(head + alt + tail))
    return out


def _glob(pattern: str, base_dir: str) -> _GlobOutcome:
    """glob(GLOB_MARK|GLOB_BRACE) relative to ``base_dir``, with keepalived's bookkeeping.

    ``missing``: a literal path (or the fixed directory of a wildcard pattern) does not
    exist (keepalived counts failed lstat/opendir calls); ``wildcards``: a directory was
    scanned.  Matches are joined to ``base_dir`` so they can be opened from here.
    """
    out = _GlobOutcome()
    if not pattern:
        return out
    prefix = glob.escape(base_dir) if base_dir and not pattern.startswith("/") else ""
    for alt in _brace_expand(pattern):
        full = os.path.join(prefix, alt) if prefix else alt
        if glob.has_magic(alt):
            out.wildcards = True
            parts = alt.split("/")
            fixed = "/".join(parts[: next(k for k, p in enumerate(parts) if glob.has_magic(p))])
            if alt.startswith("/"):
                fixed = fixed or "/"
            elif base_dir:
                fixed = os.path.join(base_dir, fixed)
            if not os.path.isdir(fixed or "."):
                out.missing = True
            found = sorted(glob.glob(full))
        else:
            found = [full] if os.path.lexists(full) else []
            if not found:
                out.missing = True
        for path in found:
            out.matches.append(path + "/" if os.path.isdir(path) and not path.endswith("/") else path)
    return out


def _read_text(path: str) -> str:
    """File contents, bytes kept exact (undecodable bytes map to surrogates)."""
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "surrogateescape")


def default_config_id() -> str:
    """keepalived's default config id: the host name up to its first dot."""
    return socket.gethostname().split(".")[0]


# --------------------------------------------------------------------------------------
# the reader


#: the parts of a block's opening brace and closing brace lines (:func:`.block_cache.block_key`)
_BRACE_PARTS = {"{": (_OPEN_TOKENS, "{"), "}": (_BRACE_TOKENS["}"], "}")}


def _cached_block(cache: BlockCache, texts: list[str], first: int, stop: int, file: str) -> tuple[int, Any] | None:
    """The block opening at line ``first`` (1-based) of a plain stretch ending at ``stop``: (its last line, its
    model) when ``cache`` holds it.  Only a block of the bulk path's shapes (keyword lines, lone braces, opening
    lines) within the stretch is looked up; its parts are those :func:`.block_cache.block_key` takes of the
    logical lines the bulk path would make of it."""
    head = texts[first - 1]
    parts: list[Any] = [head[:head.rindex("{")], _BRACE_PARTS["{"]]
    add = parts.append
    depth = 1
    for no in range(first + 1, stop + 1):
        line = texts[no - 1]
        if "{" not in line and "}" not in line:
            if not line or line.isspace():
                continue
            add(line)
            continue
        tokens = line.split()
        last = tokens[-1]
        if len(tokens) == 1 and len(last) == 1:
            add(_BRACE_PARTS[last])
            if last == "{":
                depth += 1
                continue
            depth -= 1
            if not depth:
                model = cache.take(digest(parts))
                return None if model is None else (no, model)
            continue
        if last == "{" and line.count("{") == 1 and "}" not in line:
            add(line[:line.rindex("{")])
            add(_BRACE_PARTS["{"])
            depth += 1
            continue
        return None  # another shape: the block is read line by line
    return None


def expand_block(where: tuple[list[str], int, int, str]) -> list[LogicalLine]:
    """The logical lines of a block the reader handed over whole (:class:`.block_cache.ReusedBlock`), for a
    parser that finds it where the block cannot be taken whole: lines ``first`` to ``end`` of ``texts``, read
    as the bulk path reads them."""
    texts, first, end, file = where
    reader = _Reader(Diagnostics(), None, 0, IncludeCheck.NONE, frozenset())
    reader._plain_stretch(texts, first - 1, end, _Ctx(file, "", ""))
    return list(reader.out)


class _Reader:
    def __init__(self, diags: Diagnostics, config_id: str | None, random_seed: int | None,
                 include_check: IncludeCheck, quoted_keywords: frozenset[str]) -> None:
        self.diags = diags
        self.config_id = default_config_id() if config_id is None else config_id
        self.rng = random.Random(time.time_ns() if random_seed is None else random_seed)
        self.include_check = include_check
        self.quoted_keywords = quoted_keywords
        self.out = ReadResult()
        self.work: list[_Line | _Gen] = []
        self.globs: list[_OpenGlob] = []
        self.defs: dict[str, _Def] = {}
        self.collecting: _Def | None = None
        self.generated = 0
        self.gen_capped = False
        #: the lines of the '{'s not closed yet
        self.open_braces: list[LogicalLine] = []
        self.blocks: list[str] = []
        self.last_keyword = ""
        self.budget = MAX_SUBSTITUTIONS
        #: the daemon's cache of the last load's blocks and the top-level keywords whose blocks it holds
        #: (:mod:`.block_cache`): the bulk path hands such a block over whole when the cache has it
        self.block_cache: BlockCache | None = None
        self.reusable: frozenset[str] = frozenset()
        self._std_definitions()

    # ---- diagnostics

    def _error(self, loc: Location | None, message: str, cls: ErrClass = ErrClass.GENERAL_ERROR) -> None:
        self.diags.add(loc, cls, message)

    def _file_error(self, loc: Location | None, error_type: IncludeCheck, message: str,
                    include_type: IncludeCheck) -> None:
        """keepalived's ``file_config_error``: an error only if the include checks say so."""
        if (self.include_check | include_type) & error_type:
            self.diags.add(loc, ErrClass.FILE_NOT_FOUND, message)
            self.out.file_error = True
        else:
            self.diags.add(loc, ErrClass.OK, message, info=True)

    # ---- standard definitions

    def _std_definitions(self) -> None:
        def pwd(_p: str | None, ctx: _Ctx, _loc: Location) -> str:
            return ctx.pwd

        def instance(_p: str | None, _ctx: _Ctx, _loc: Location) -> str:
            return self.config_id

        def rand(params: str | None, _ctx: _Ctx, loc: Location) -> str:
            lo, hi = 0, 32767
            if params:
                nums = [int(x) for x in params.split()]
                lo = nums[0]
                if len(nums) > 1:
                    hi = nums[1]
            if lo > hi:
                self._error(loc, f"${{_RANDOM}}: min {lo} exceeds max {hi}, using {lo}")
                hi = lo
            return str(self.rng.randint(lo, hi))

        def env(params: str | None, _ctx: _Ctx, _loc: Location) -> str:
            return os.environ.get(params or "", "")

        for d in (
            _Def("_PWD", fn=pwd),
            _Def("_INSTANCE", fn=instance),
            _Def("_RANDOM", fn=rand, max_params=2, numbers_only=True),
            _Def("_ENV", fn=env, min_params=1, max_params=1),
            _Def("_HASH", "#"),
            _Def("_BANG", "!"),
        ):
            self.defs[d.name] = d

    def finish(self) -> ReadResult:
        """The lines read; the reader lets go of everything (its standard definitions' functions refer back to
        it, a cycle that would keep the whole read, every line included, until a full garbage collection)."""
        out = self.out
        self.defs.clear()
        self.work.clear()
        self.globs.clear()
        return out

    def _set_definition(self, name: str, value: str) -> None:
        d = self.defs.get(name)
        if d is None:
            self.defs[name] = _Def(name, value)
        else:
            d.value = value
            d.fn = None  # a standard definition can be overridden

    # ---- top level

    def run(self) -> None:
        """keepalived's read loop, to the end of the input: every logical line ends up in ``out``."""
        for _ in self._steps(sys.maxsize):
            pass

    def stream(self) -> Iterator[list[LogicalLine]]:
        """The logical lines as they are read, a list of about ``STREAM_CHUNK`` at a time (each list is
        emptied once the next is asked for): a parser that takes them as they come holds only the lines its
        drafts keep, not the whole read."""
        out = self.out
        for _ in self._steps(STREAM_CHUNK):
            yield out
            out.clear()
        yield out

    def _steps(self, chunk: int) -> Iterator[None]:
        """keepalived's read loop: pending work first, then the innermost open file; yields whenever ``out``
        holds ``chunk`` lines or more."""
        work, globs, out = self.work, self.globs, self.out
        while True:
            if len(out) >= chunk:
                yield
            if work:
                item = work.pop()
                if isinstance(item, _Line):
                    self._process(item.text, item.cols, item.ctx, item.line, item.depth)
                else:
                    self._step_generator(item)
                continue
            if not globs:
                break
            top = globs[-1]
            assert top.lines is not None and top.ctx is not None
            if top.lines.clean and self.collecting is None:
                self._plain_run(top.lines, top.ctx, chunk)
            nxt = next(top.lines, None)
            if nxt is None:
                self._end_file(top)
                continue
            line_no, line, problem = nxt
            ctx = top.ctx
            if line is None:
                self._error(Location(ctx.file, line_no, 1), problem or "")
                self._end_collecting()
                continue
            if not line:
                self._end_collecting()
                continue
            if self.collecting is None and _NOT_PLAIN.search(line) is None:
                self._plain_line(line, ctx, line_no)
                continue
            text, cols, unterminated = decomment(line)
            if unterminated:
                self._error(Location(ctx.file, line_no, 1), f"Unterminated quote '{text}'")
            if text:
                self._process(text, cols, ctx, line_no, 0)
        self._end_collecting()
        if self.open_braces:
            n = len(self.open_braces)
            self.diags.add(self.open_braces[0].loc, ErrClass.MISSING_EOB,
                           f"There are {n} missing '}}'s or extra '{{'s",
                           hint="the first unclosed '{' is here")

    def _plain_run(self, lines: PhysicalLines, ctx: _Ctx, chunk: int) -> None:
        """Take the plain lines (see :meth:`_plain_line`) that come next in a clean file straight
        from its list, up to the first one that is not plain or ``chunk`` lines; the main loop does the
        rest."""
        if lines.blank_split:
            stop = min(lines.first_match(_NOT_PLAIN_NEEDLES), lines.pos + chunk)
            self._plain_stretch(lines.lines, lines.pos, stop, ctx)
            lines.pos = stop
            return
        texts, pos = lines.lines, lines.pos
        end = min(len(texts), pos + chunk)
        not_plain = _NOT_PLAIN.search
        plain_line = self._plain_line
        while pos < end:
            line = texts[pos]
            if line and not_plain(line) is not None:
                break
            pos += 1
            if line:
                plain_line(line, ctx, pos)
        lines.pos = pos

    def _plain_stretch(self, texts: list[str], start: int, stop: int, ctx: _Ctx) -> None:
        """Lines ``start`` to ``stop`` (0-based, ``stop`` excluded) of a file whose lines are all plain there
        and split by ``str.split()`` exactly as keepalived splits them (``PhysicalLines.blank_split``):
        what :meth:`_plain_line` does, in one loop for the shapes that make up nearly every configuration (a
        keyword and its values, a block's opening line, a lone brace); any other line goes through
        :meth:`_plain_line`.  The words' columns are found when something asks for them."""
        file = ctx.file
        append = self.out.append
        open_braces, blocks = self.open_braces, self.blocks
        last_keyword = self.last_keyword
        cache, reusable = self.block_cache, self.reusable
        if cache is not None and not cache.kept:  # nothing to find (a first load): the parser keeps the blocks
            cache = None
        numbers = iter(range(start + 1, stop + 1))
        for no in numbers:
            line = texts[no - 1]
            tokens = line.split()
            if not tokens:
                continue
            if "{" not in line and "}" not in line:  # a keyword and its values
                last_keyword = tokens[0]
                append(_new_line(LogicalLine, (tuple(tokens), None, file, no, 0, line)))  # (of_physical, inline)
                continue
            last = tokens[-1]
            if len(tokens) == 1 and len(last) == 1:  # a lone brace
                col = line.index(last) + 1
                brace = _new_line(LogicalLine, (_BRACE_TOKENS[last], last, file, no, col, col))
                if last == "{":
                    open_braces.append(brace)
                    blocks.append(last_keyword)
                elif open_braces:
                    open_braces.pop()
                    blocks.pop()
                else:
                    self.diags.add(brace.loc, ErrClass.UNEXPECTED_EOB, "Extra '}' found")
                last_keyword = ""
                append(brace)
                continue
            if last == "{" and line.count("{") == 1 and "}" not in line:  # a block's opening line
                del tokens[-1]
                cut = line.rindex("{")
                if cache is not None and not open_braces and tokens[0] in reusable:
                    taken = _cached_block(cache, texts, no, stop, file)
                    if taken is not None:  # the whole block, as the last load built it
                        end, model = taken
                        append(_new_line(ReusedBlock, (tuple(tokens), None, file, no, 0, line[:cut], model,
                                                       partial(expand_block, (texts, no, end, file)))))
                        next(islice(numbers, end - no - 1, None), None)  # on after its last line
                        last_keyword = ""
                        continue
                # the words are the physical line up to its brace (of_physical, inline)
                append(_new_line(LogicalLine, (tuple(tokens), None, file, no, 0, line[:cut])))
                brace = _new_line(LogicalLine, (_OPEN_TOKENS, "{", file, no, cut + 1, cut + 1))
                open_braces.append(brace)
                blocks.append(tokens[0])
                last_keyword = ""
                append(brace)
                continue
            self.last_keyword = last_keyword
            self._plain_line(line, ctx, no)
            last_keyword = self.last_keyword
        self.last_keyword = last_keyword

    def _plain_line(self, line: str, ctx: _Ctx, line_no: int) -> None:
        """The common case, a physical line without any character the pipeline treats specially
        (``_NOT_PLAIN``): what ``decomment`` + ``_process`` + ``_split_and_emit`` + ``_emit``
        do to it, in one pass.  Only blank stripping and brace splitting apply, the columns
        stay an ``int`` offset, and brace residue (plain too) is handled here instead of via
        the work stack, which is empty whenever a physical line is read.
        """
        text = line.lstrip(" \t")
        cols = len(line) - len(text)
        text = text.rstrip(" \t")
        if not text:
            return
        file = ctx.file
        if "{" not in text and "}" not in text:
            # the commonest line, a keyword and its values
            self._plain_words(text, cols, file, line_no)
            return
        if len(text) == 1:
            self._plain_brace(text, cols, file, line_no)
            return
        if text[-1] == "{" and text.count("{") == 1 and "}" not in text and text[-2] in " \t":
            # a block's opening line: its words, then the brace on a line of its own
            self._plain_words(text[:-1].rstrip(" \t"), cols, file, line_no)
            self._plain_brace("{", cols + len(text) - 1, file, line_no)
            return
        while True:
            first = text[0]
            if first == "{" or first == "}":
                self._plain_brace(first, cols, file, line_no)
                rest = _skip_blanks(text, 1)
                text = text[rest:]
                cols += rest
                if not text:
                    return
                continue
            m = _BRACE.search(text)
            if m is None:
                self._plain_words(text, cols, file, line_no)
                return
            idx = m.start()
            self._plain_words(text[:idx].rstrip(" \t"), cols, file, line_no)
            text = text[idx:]
            cols += idx

    def _plain_words(self, segment: str, cols: int, file: str, line_no: int) -> None:
        """A brace-free, blank-trimmed segment starting at 0-based column ``cols``: one logical line."""
        if not segment:
            return
        if "  " not in segment and segment.isprintable():
            # single spaces only (no tab, no other separator of _TOKEN): the tokens are the split on
            # " ", each one column past the end of the one before (the line works the columns out)
            tokens = tuple(map(sys.intern, segment.split(" ")))
            word_cols: tuple[int, ...] | int = cols + 1
            first_col = cols + 1
        else:
            found = list(_TOKEN.finditer(segment))
            if not found:
                return
            tokens = tuple([sys.intern(t.group()) for t in found])
            word_cols = tuple([cols + t.start() + 1 for t in found])
            first_col = word_cols[0]
        keyword = self.last_keyword = tokens[0]
        if keyword == "include_check" and self.blocks == ["global_defs"]:
            self._include_check_set(list(tokens[1:]))
        self.out.append(LogicalLine.plain(tokens, word_cols, segment, file, line_no, first_col))

    def _plain_brace(self, brace: str, cols: int, file: str, line_no: int) -> None:
        """A ``{`` or ``}`` at 0-based column ``cols``: the block bookkeeping and its own logical line."""
        line = LogicalLine.plain(_BRACE_TOKENS[brace], cols + 1, brace, file, line_no, cols + 1)
        if brace == "{":
            self.open_braces.append(line)
            self.blocks.append(self.last_keyword)
        elif self.open_braces:
            self.open_braces.pop()
            self.blocks.pop()
        else:
            self.diags.add(line.loc, ErrClass.UNEXPECTED_EOB, "Extra '}' found")
        self.last_keyword = ""
        self.out.append(line)

    def _end_collecting(self) -> None:
        d = self.collecting
        if d is not None:
            self.collecting = None
            if not d.value:
                d.multiline = False

    # ---- the pipeline (read_line after a line is obtained)

    def _process(self, text: str, cols: Cols, ctx: _Ctx, line: int, depth: int) -> None:
        if self.collecting is not None:
            self._collect(text)
            return
        self.budget = MAX_SUBSTITUTIONS
        while True:
            if text[:1] == "@":
                kept = self._conditional(text)
                if kept is None:
                    return
                cols = slice_cols(cols, len(text) - len(kept))
                text = kept
            if text[:1] == "$" and self._check_definition(text):
                return
            if text.startswith(("~SEQ", "~LST")):
                self._add_generator(text, cols, ctx, line, depth)
                return
            if text[:1] == "~" or "$" not in text:
                break
            changed, text, cols, conts = self._substitute(text, cols, ctx, line, MAXBUF)
            if conts:
                self._push_continuations(conts, cols, text, ctx, line, depth)
            if not changed:
                break
            text, cols, unterminated = decomment(text, cols)
            if unterminated:
                self._error(Location(ctx.file, line, 1), f"Unterminated quote '{text}'")
            if not (text[:1] == "@" or "$" in text) or self.budget <= 0:
                break
        if not text:
            return
        if text.startswith("include"):
            inc = self._include_type(text)
            if inc is not None:
                include_type, start = inc
                start = _skip_blanks(text, start)
                loc = Location(ctx.file, line, col_at(cols, 0))
                self._open_glob(text[start:], include_type, ctx.base_dir, loc)
                return
        self._split_and_emit(text, cols, ctx, line, depth)

    def _split_and_emit(self, text: str, cols: Cols, ctx: _Ctx, line: int, depth: int) -> None:
        idx = find_brace(text)
        if idx < 0:
            self._emit(text, cols, ctx, line)
            return
        if idx == 0:
            rest = _skip_blanks(text, 1)
            self._emit(text[0], cols, ctx, line)
            residue, rcols = text[rest:], slice_cols(cols, rest)
        else:
            self._emit(text[:idx], cols, ctx, line)
            residue, rcols = text[idx:], slice_cols(cols, idx)
        residue = residue.rstrip(" \t")
        if residue:
            if not isinstance(rcols, int):
                rcols = rcols[: len(residue)]
            self.work.append(_Line(residue, rcols, ctx, line, depth))

    def _emit(self, text: str, cols: Cols, ctx: _Ctx, line: int) -> None:
        text = text.rstrip(" \t")
        if not text:
            return
        words, unmatched = tokenize(text, cols, ctx.file, line)
        if text == "{":
            self.open_braces.append(LogicalLine(tuple(words), text, words[0].loc))
            self.blocks.append(self.last_keyword)
            self.last_keyword = ""
        elif text == "}":
            if self.open_braces:
                self.open_braces.pop()
                self.blocks.pop()
            else:
                self.diags.add(words[0].loc, ErrClass.UNEXPECTED_EOB, "Extra '}' found")
            self.last_keyword = ""
        elif words:
            self.last_keyword = words[0].text
        if unmatched and not (len(words) > 1 and words[0].text in self.quoted_keywords):
            loc = words[0].loc if words else Location(ctx.file, line, col_at(cols, 0))
            self.diags.add(loc, ErrClass.UNMATCHED_QUOTE, f"Unmatched quote: '{text}'")
        if not words:
            return
        if words[0].text == "include_check" and self.blocks == ["global_defs"]:
            self._include_check_set([w.text for w in words[1:]])
        self.out.append(LogicalLine(tuple(words), text, words[0].loc))

    # ---- @conditionals and $definitions

    def _conditional(self, text: str) -> str | None:
        """The rest of an ``@id``/``@^id`` line if it applies to this config id, else None."""
        rev = text[1:2] == "^"
        ofs = 2 if rev else 1
        sp = len(text)
        for sep in " \t":
            k = text.find(sep, ofs)
            if 0 <= k < sp:
                sp = k
        if sp == len(text):
            return None
        mismatch = text[ofs:sp] != self.config_id
        if mismatch != rev:
            return None
        return text[_skip_blanks(text, sp):]

    def _check_definition(self, text: str) -> bool:
        """``$NAME=VALUE`` (no blank before ``=``): define and consume the line."""
        if len(text) < 2 or text[1] not in _ALPHA:
            return False
        eq = text.find("=", 2)
        if eq < 0 or any(c not in _ALNUM for c in text[2:eq]):
            return False
        value = text[_skip_blanks(text, eq + 1):]
        multiline = value.endswith("\\")
        if multiline:
            n = len(value)
            while n >= 2 and value[n - 2] in " \t":
                n -= 1
            value = value[: n - 1] + "\n" if n >= 2 else ""
        name = text[1:eq]
        d = self.defs.get(name)
        if d is None:
            d = self.defs[name] = _Def(name)
        d.value, d.fn, d.multiline = value, None, multiline
        if multiline:
            self.collecting = d
        return True

    def _collect(self, text: str) -> None:
        """One more line of a multi-line definition (``\\`` at its end: more follow)."""
        d = self.collecting
        assert d is not None
        more = text.endswith("\\")
        if more:
            text = text[:-1].rstrip(" \t") + "\n"
        else:
            self.collecting = None
            if not d.value:
                d.multiline = False
        if len(text) >= 2 or (text and not more):
            d.value += text

    def _match_definition(self, text: str, i: int, ctx: _Ctx, line: int
                          ) -> tuple[_Def, int, str | None] | None:
        """The definition referenced at ``text[i] == '$'``: (def, end of reference, params)."""
        n = len(text)
        braces = text[i + 1] == "{"
        p = i + 2 if braces else i + 1
        if p >= n or text[p] not in _ALPHA:
            return None
        name_start = p
        p += 1
        while p < n and text[p] in _ALNUM:
            p += 1
        name = text[name_start:p]
        name_end = p
        params: str | None = None
        if braces:
            pstart = pend = -1
            nparams = 0
            digits_only = True
            in_param = False
            while p < n and (text[p] in " \t" or text[p] in _ALNUM):
                if text[p] in " \t":
                    in_param = False
                else:
                    if pstart < 0:
                        pstart = p
                    pend = p
                    if text[p] not in _DIGITS:
                        digits_only = False
                    if not in_param:
                        in_param = True
                        nparams += 1
                p += 1
            if pstart >= 0 and pend + 1 != p:
                return None
            if p >= n or text[p] != "}":
                return None
            at_end = name_end + 1 == n
        else:
            if p < n and text[p] not in _NAME_END:
                return None
            at_end = p == n
        d = self.defs.get(name)
        if d is None or (d.multiline and not at_end):
            return None
        if braces and pstart >= 0:
            if not d.max_params:
                return None
            loc = Location(ctx.file, line, 1)
            if d.numbers_only and not digits_only:
                self._error(loc, f"Definition {d.name} requires numeric parameters only.")
                return None
            if not d.min_params <= nparams <= d.max_params:
                self._error(loc, f"Definition {d.name} requires between {d.min_params} and "
                                 f"{d.max_params} parameters, {nparams} specified.")
                return None
            params = text[pstart:pend + 1]
            end = pend + 2
        else:
            # keepalived replaces '$' + name (+ the two braces' worth of characters)
            end = i + 1 + len(name) + (2 if braces else 0)
        return d, end, params

    def _substitute(self, text: str, cols: Cols, ctx: _Ctx, line: int, max_len: int
                    ) -> tuple[bool, str, Cols, list[str]]:
        """keepalived's ``replace_param``: (changed, text, cols, continuation lines).

        Replacement text is rescanned (definitions are dynamic and recursive); a multi-line
        definition contributes its first line here and its other lines as continuations.
        """
        pos = 0
        found = False
        conts: list[str] = []
        col_list: list[int] | None = None
        while True:
            if self.budget <= 0:
                self._error(Location(ctx.file, line, 1),
                            f"Parameter substitution on line '{text}' does not terminate - stopping")
                break
            i = text.find("$", pos)
            if i < 0 or i + 1 >= len(text):
                break
            m = self._match_definition(text, i, ctx, line)
            if m is None:
                pos = i + 1
                continue
            d, end, params = m
            found = True
            self.budget -= 1
            value = d.fn(params, ctx, Location(ctx.file, line, col_at(cols, i))) if d.fn else d.value
            if d.multiline:
                first, _, rest = value.partition("\n")
                conts[:0] = rest.split("\n")
                value = first
            if len(text) - (end - i) + len(value) >= max_len:
                self.diags.add(Location(ctx.file, line, 1), ErrClass.OK,
                               f"Parameter substitution on line '{text}' would exceed maximum line length",
                               info=True)
                return False, text, col_list if col_list is not None else cols, []
            if col_list is None:
                col_list = expand_cols(cols, len(text))
                if col_list is cols:
                    col_list = list(col_list)
            here = col_list[i] if i < len(col_list) else (col_list[-1] if col_list else 1)
            text = text[:i] + value + text[end:]
            col_list[i:end] = [here] * len(value)
            if value and value.lstrip(" \t")[:1] == "~":
                break
        return found, text, (col_list if col_list is not None else cols), conts

    def _push_continuations(self, conts: list[str], cols: Cols, text: str, ctx: _Ctx, line: int,
                            depth: int) -> None:
        if depth + 1 > MAX_NESTING:
            self._error(Location(ctx.file, line, 1),
                        f"Multi-line definition nested more than {MAX_NESTING} deep - ignoring its lines")
            return
        col = col_at(cols, 0)
        for cont in reversed(conts):
            if not self._count_generated(ctx, line):
                return
            self.work.append(_Line(cont, [col] * len(cont), ctx, line, depth + 1))

    def _count_generated(self, ctx: _Ctx, line: int) -> bool:
        self.generated += 1
        if self.generated <= MAX_GENERATED_LINES:
            return True
        if not self.gen_capped:
            self.gen_capped = True
            self._error(Location(ctx.file, line, 1),
                        f"more than {MAX_GENERATED_LINES} lines generated - ignoring the rest")
        return False

    # ---- ~SEQ / ~LST

    def _add_generator(self, text: str, cols: Cols, ctx: _Ctx, line: int, depth: int) -> None:
        loc = Location(ctx.file, line, col_at(cols, 0))
        kind = text[1:4]
        parsed = self._parse_seq(text, ctx, line, loc) if kind == "SEQ" else self._parse_lst(text, loc)
        if parsed is None:
            self._error(loc, f"Invalid ~{kind} specification '{text}'")
            return
        assignments, rest = parsed
        if depth + 1 > MAX_NESTING:
            self._error(loc, f"~{kind} nested more than {MAX_NESTING} deep - ignoring")
            return
        self._step_generator(_Gen(assignments, text[rest:], slice_cols(cols, rest), ctx, line, depth + 1))

    def _step_generator(self, gen: _Gen) -> None:
        step = next(gen.assignments, None)
        if step is None:
            return
        if not self._count_generated(gen.ctx, gen.line):
            return
        for name, value in step:
            self._set_definition(name, value)
        self.work.append(gen)
        if gen.text:
            self.work.append(_Line(gen.text, gen.cols, gen.ctx, gen.line, gen.depth))

    def _parse_seq(self, text: str, ctx: _Ctx, line: int, loc: Location
                   ) -> tuple[Iterator[list[tuple[str, str]]], int] | None:
        """``~SEQ[x](VAR, [start,] [step,] end) rest`` -> (assignments, index of rest)."""
        s = text + "\0"
        p = 4
        hexa = s[p] == "x"
        if hexa:
            p += 1
        p = _skip_blanks(s, p)
        if s[p] != "(":
            return None
        p = _skip_blanks(s, p + 1)
        var_start = p
        while s[p] not in " \t,)\0":
            p += 1
        var = s[var_start:p]
        p = _skip_blanks(s, p)
        if s[p] in "\0)" or p == var_start or s[var_start] == "{":
            self._error(loc, f"Invalid ~SEQ definition '{text}'")
            return None
        p = _skip_blanks(s, p + 1)
        end_seq = text.find(")", p)
        if end_seq < 0:
            self._error(loc, f"~SEQ missing terminating ')' '{text}'")
            return None
        if end_seq + 1 - p + 1 > _SEQ_BUF:
            self._error(loc, f"~SEQ parameter strings too long '{text}'")
            return None
        _, params, _, conts = self._substitute(text[p:end_seq + 1], 0, ctx, line, _SEQ_BUF)
        if conts:
            self._error(loc, f"~SEQ parameter is multiline definition '{text}'")
            return None
        nums: list[int] = []
        q = 0
        while True:
            value, q = _strtol(params, q)
            nums.append(value)
            q = _skip_blanks(params, q)
            c = params[q] if q < len(params) else ""
            if c == ")":
                break
            if c != "," or len(nums) == 3:
                self._error(loc, f"Invalid ~SEQ definition '{text}'")
                return None
            q += 1
        if len(nums) == 1:
            end = nums[0]
            step = -1 if end < 1 else 1
            start = -1 if end < 0 else 1
        elif len(nums) == 2:
            start, end = nums
            step = 1 if start <= end else -1
        else:
            start, step, end = nums
            if not step or (start < end and step < 0) or (start > end and step > 0):
                self._error(loc, f"Invalid ~SEQ values '{text}'")
                return None
        if hexa and (start < 0 or end < 0):
            self._error(loc, f"~SEQx is only valid for positive numbers '{text}'")
            return None

        def values() -> Iterator[list[tuple[str, str]]]:
            v = start
            while True:
                yield [(var, format(v, "x") if hexa else str(v))]
                v += step
                if (step > 0 and v > end) or (step < 0 and v < end):
                    return

        return values(), _skip_blanks(text, end_seq + 1)

    def _parse_lst(self, text: str, loc: Location
                   ) -> tuple[Iterator[list[tuple[str, str]]], int] | None:
        """``~LST(VAR, v...)`` / ``~LST({A,B}, {x,1}, ...)`` -> (assignments, index of rest)."""
        s = text + "\0"
        p = _skip_blanks(s, 4)
        if s[p] != "(":
            return None
        p = _skip_blanks(s, p + 1)
        end_char = ","
        if s[p] == "{":
            end_char = "}"
            p = _skip_blanks(s, p + 1)
        names: list[str] = []
        while True:
            start = p
            while s[p] not in " \t,}\0":
                p += 1
            names.append(s[start:p])
            p = _skip_blanks(s, p)
            if s[p] == end_char:
                break
            if s[p] != ",":
                return None
            p = _skip_blanks(s, p + 1)
        num_vars = len(names) - 1
        if s[p] == "}":
            p = _skip_blanks(s, p + 1)
        if s[p] != ",":
            return None
        p = _skip_blanks(s, p + 1)
        sets: list[list[str]] = []
        while True:
            end_char = ","
            if s[p] == "{":
                end_char = "}"
                p = _skip_blanks(s, p + 1)
            values: list[str] = []
            while True:
                start = p
                while s[p] not in " \t,})\0":
                    p += 1
                values.append(s[start:p])
                p = _skip_blanks(s, p)
                if s[p] == end_char or (s[p] == ")" and end_char == ","):
                    break
                if s[p] != ",":
                    return None
                p = _skip_blanks(s, p + 1)
                if len(values) > num_vars:
                    self._error(loc, f"~LST specification has too many values '{text}'")
                    return None
            values.extend([""] * (len(names) - len(values)))
            sets.append(values)
            if s[p] == "}" and end_char == "}":
                p = _skip_blanks(s, p + 1)
            if s[p] == ")":
                break
            if s[p] != ",":
                return None
            p = _skip_blanks(s, p + 1)
        rest = _skip_blanks(s, p + 1)
        return (list(zip(names, vs, strict=True)) for vs in sets), min(rest, len(text))

    # ---- include

    @staticmethod
    def _include_type(text: str) -> tuple[IncludeCheck, int] | None:
        """``include``/``includer|m|w|b|a`` followed by white space: (flags, pattern start)."""
        if len(text) < 8:
            return None
        if text[7] in _C_SPACE:
            return IncludeCheck.NONE, 8
        if text[7] in _INCLUDE_VARIANTS and len(text) > 8 and text[8] in _C_SPACE:
            return _INCLUDE_VARIANTS[text[7]], 9
        return None

    def _include_check_set(self, words: list[str]) -> None:
        """``global_defs { include_check ... }`` changes the checks for the rest of this file.

        Problems with the words are the parser's to report; the reader only applies them.
        """
        if not words:
            self.include_check = IncludeCheck.all()
            return
        for k, word in enumerate(words):
            sign = word[:1] if word[:1] in "+-" else ""
            flag = _INCLUDE_CHECK_WORDS.get(word[1:] if sign else word)
            if not sign and k == 0:
                self.include_check = IncludeCheck.NONE
            elif not sign:
                continue
            if flag is None:
                continue
            if not sign:
                self.include_check = IncludeCheck.READABLE | flag
            elif sign == "+":
                self.include_check |= flag
            else:
                self.include_check &= ~flag

    def _open_glob(self, pattern: str, include_type: IncludeCheck, base_dir: str,
                   loc: Location | None) -> bool:
        """keepalived's ``open_glob_file``: start reading the files matching ``pattern``."""
        outcome = _glob(pattern, base_dir)
        checks = self.include_check | include_type
        if not outcome.matches:
            if outcome.missing:
                etype = IncludeCheck.BRACE_MATCH if _has_brace(pattern) else IncludeCheck.MATCH
                self._file_error(loc, etype, f"Config files missing '{pattern}'.", include_type)
            elif outcome.wildcards and checks & IncludeCheck.WILDCARD_MATCH:
                self._file_error(loc, IncludeCheck.WILDCARD_MATCH,
                                 f"No config files matched '{pattern}'.", include_type)
            return False
        if outcome.missing:
            self._file_error(loc, IncludeCheck.BRACE_MATCH,
                             f'Some config files missing: "{pattern}".', include_type)
            if checks & IncludeCheck.BRACE_MATCH:
                return False
        g = _OpenGlob(pattern, include_type, self.include_check, base_dir, outcome.matches, loc)
        self.globs.append(g)
        if not self._open_next(g):
            self.globs.pop()
            return False
        return True

    def _open_next(self, g: _OpenGlob) -> bool:
        """Open the next usable match of ``g`` (keepalived's ``open_conf_file``)."""
        while g.index < len(g.matches):
            path = g.matches[g.index]
            g.index += 1
            if path.endswith("/"):
                self._file_error(g.loc, IncludeCheck.READABLE,
                                 f"Configuration file '{path}' is a directory - skipping", g.include_type)
                continue
            try:
                st = os.stat(path)
                usable = stat.S_ISREG(st.st_mode) and not st.st_mode & 0o111
            except OSError:
                usable = False
            if not usable:
                self._file_error(g.loc, IncludeCheck.READABLE,
                                 f"Configuration file '{path}' is not a regular non-executable file"
                                 " - skipping", g.include_type)
                continue
            ident = (st.st_dev, st.st_ino)
            if any(o.ident == ident for o in self.globs):
                self._error(g.loc, f"Configuration file '{path}' includes itself (include loop)"
                                   " - skipping")
                continue
            try:
                data = _read_text(path)
            except OSError as e:
                self._file_error(g.loc, IncludeCheck.READABLE,
                                 f"Configuration file '{path}' open problem ({e.strerror}) - skipping",
                                 g.include_type)
                continue
            base = os.path.dirname(path)
            g.ctx = _Ctx(path, base, os.path.realpath(base or "."))
            g.lines = PhysicalLines(data)
            g.ident = ident
            self.out.files.append(path)
            return True
        return False

    def _end_file(self, g: _OpenGlob) -> None:
        self.include_check = g.saved_check
        g.ident = None
        if not self._open_next(g):
            self.globs.pop()

    # ---- main file

    def start_main(self, path: str) -> None:
        """keepalived's ``check_conf_file`` then ``open_glob_file(..., R|M|W)``."""
        outcome = _glob(path, "")
        status = ErrClass.OK
        usable = 0
        failed = False
        if not outcome.matches:
            if outcome.missing or not outcome.wildcards:
                self.diags.add(None, ErrClass.FILE_NOT_FOUND, f"Config files missing '{path}'.")
            else:
                self.diags.add(None, ErrClass.FILE_NOT_FOUND, f"No config files matched '{path}'.")
            failed = True
        for m in outcome.matches:
            if m.endswith("/") or not os.path.isfile(m) or os.stat(m).st_mode & 0o111:
                what = "is a directory" if m.endswith("/") else "is not a regular non-executable file"
                self.diags.add(None, ErrClass.FILE_NOT_FOUND, f"Configuration file '{m}' {what} - skipping")
                failed = True
                continue
            if not os.access(m, os.R_OK):
                self.diags.add(None, ErrClass.FILE_NOT_FOUND, f"Unable to read configuration file {m}")
                status = ErrClass.FILE_NOT_FOUND
                failed = True
                break
            usable += 1
        if not failed:
            if usable > 1:
                self.diags.add(None, ErrClass.MULTIPLE_FILES,
                               f"WARNING, multiple configuration file matches of {path}, "
                               f"starting with {outcome.matches[0]}")
            elif usable == 0:
                self.diags.add(None, ErrClass.FILE_NOT_FOUND, f"Unable to find configuration file {path}")
                status = ErrClass.FILE_NOT_FOUND
                failed = True
        if failed:
            self.out.main_file_missing = True
            self.out.main_file_status = status
            return
        inc = IncludeCheck.READABLE | IncludeCheck.MATCH | IncludeCheck.WILDCARD_MATCH
        if not self._open_glob(path, inc, "", None):
            self.out.main_file_missing = True
            self.out.main_file_status = ErrClass.FILE_NOT_FOUND

    def start_text(self, text: str, name: str, base_dir: str) -> None:
        g = _OpenGlob(name, IncludeCheck.NONE, self.include_check, base_dir, [], None)
        g.ctx = _Ctx(name, base_dir, os.path.realpath(base_dir or "."))
        g.lines = PhysicalLines(text)
        self.globs.append(g)



def read_config(path: str | os.PathLike[str], diags: Diagnostics, *, config_id: str | None = None,
                random_seed: int | None = None, include_check: IncludeCheck = IncludeCheck.NONE,
                quoted_keywords: frozenset[str] = SCRIPT_KEYWORDS) -> ReadResult:
    """Read a keepalived config file (and its includes) into logical lines.

    ``config_id`` selects ``@id`` lines (default: host name up to the first dot);
    ``random_seed`` makes ``${_RANDOM}`` reproducible; ``include_check`` is ``-e``
    (``IncludeCheck.all()``).  Problems go to ``diags``; see the module docstring for how a
    missing main file is marked.
    """
    reader = _Reader(diags, config_id, random_seed, include_check, quoted_keywords)
    with gc_paused():
        reader.start_main(os.fspath(path))
        reader.run()
        return reader.finish()


@contextmanager
def streamed_config(path: str | os.PathLike[str], diags: Diagnostics, *, config_id: str | None = None,
                    include_check: IncludeCheck = IncludeCheck.NONE, block_cache: BlockCache | None = None,
                    reusable: frozenset[str] = frozenset()) -> Iterator[Iterator[LogicalLine]]:
    """``read_config`` as an iterator of the logical lines, read as they are taken: a parser that takes them
    as they come never holds the whole read (a large configuration's lines weigh more than what is parsed
    from them).  Problems go to ``diags`` as they are found, so a caller that wants the reader's problems
    before the parser's gives the reader its own ``diags``."""
    reader = _Reader(diags, config_id, None, include_check, SCRIPT_KEYWORDS)
    reader.block_cache, reader.reusable = block_cache, reusable
    with gc_paused():
        reader.start_main(os.fspath(path))
        try:
            yield chain.from_iterable(reader.stream())
        finally:
            reader.finish()


def read_config_text(text: str, diags: Diagnostics, *, name: str = "<string>", config_id: str | None = None,
                     base_dir: str | None = None, random_seed: int | None = None,
                     include_check: IncludeCheck = IncludeCheck.NONE,
                     quoted_keywords: frozenset[str] = SCRIPT_KEYWORDS, block_cache: BlockCache | None = None,
                     reusable: frozenset[str] = frozenset()) -> ReadResult:
    """Like ``read_config`` for text already in memory; includes resolve against ``base_dir``
    (default: the current directory) and ``name`` is the file name in locations."""
    reader = _Reader(diags, config_id, random_seed, include_check, quoted_keywords)
    reader.block_cache, reader.reusable = block_cache, reusable
    with gc_paused():
        reader.start_text(text, name, base_dir if base_dir is not None else os.getcwd())
        reader.run()
        return reader.finish()
